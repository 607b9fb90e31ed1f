//! credential-injector filter: a thin adapter around `policies::inject`.
//!
//! Root context: compiles the configuration once, runs the Vault driver and
//! the OAuth2 fetcher on a 1 s tick. HTTP context: reads the request headers
//! and oidc-auth's published identity once, asks [`Injector::decide`], and
//! applies the answer; in the response phase adds CORS headers and removes
//! headers that echo the credential. Never panics, never logs credentials.

mod oauth2;

use mesh_host::metrics::{Metric, ReasonCounters};
use mesh_host::reply::LocalReply;
use mesh_host::vault_driver::{shared_key, VaultDriver};
use mesh_host::{clock, plugin, properties};
use oauth2::OAuth2Fetcher;
use policies::config::parse_json;
use policies::env::Now;
use policies::identity::{VerifiedIdentity, IDENTITY_PROPERTY};
use policies::inject::{
    echoed_response_headers, CredentialSource, CredentialUnavailable, Decision, InjectMode,
    Injector, InjectorConfigDto, RequestInput, REASON_CODES,
};
use policies::routes::split_path_and_query;
use policies::secret::Secret;
use policies::vault::SecretValue;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const TICK: Duration = Duration::from_secs(1);
const PLUGIN: &str = "credential_injector";

proxy_wasm::main! {{
    plugin::init_logging();
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

struct Metrics {
    allowed: Metric,
    preflights: Metric,
    denied: ReasonCounters,
    echo_stripped: Metric,
}

impl Metrics {
    fn define() -> Self {
        Self {
            allowed: Metric::counter("credential_injector.allowed"),
            preflights: Metric::counter("credential_injector.preflight"),
            denied: ReasonCounters::define("credential_injector.denied", REASON_CODES),
            echo_stripped: Metric::counter("credential_injector.echo_stripped"),
        }
    }
}

/// What HTTP contexts share with the root context of their VM.
struct Shared {
    injector: Injector,
    vault: RefCell<Option<VaultDriver>>,
    oauth2: RefCell<OAuth2Fetcher>,
    metrics: Metrics,
}

impl CredentialSource for Shared {
    fn vault_secret(&self, name: &str, now: Now) -> Result<SecretValue, CredentialUnavailable> {
        let Ok(mut vault) = self.vault.try_borrow_mut() else {
            return Err(CredentialUnavailable::new("secret_not_loaded"));
        };
        match vault.as_mut() {
            Some(v) => v.current(name, now).cloned().map_err(Into::into),
            None => Err(CredentialUnavailable::new("secret_not_configured")),
        }
    }

    fn oauth2_token(&self, index: usize, now: Now) -> Result<Secret, CredentialUnavailable> {
        match self.oauth2.try_borrow() {
            Ok(f) => f.current(index, now),
            Err(_) => Err(CredentialUnavailable::new("token_not_loaded")),
        }
    }
}

#[derive(Default)]
struct Root {
    shared: Option<Rc<Shared>>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(shared) = &self.shared else {
            return;
        };
        let now = clock::now();
        if let Ok(mut vault) = shared.vault.try_borrow_mut() {
            if let Some(v) = vault.as_mut() {
                if v.on_http_call_response(token_id, body_size, now) {
                    return;
                }
            }
        }
        if let Ok(mut f) = shared.oauth2.try_borrow_mut() {
            f.on_http_call_response(token_id, body_size, now);
        }
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        plugin::log_start(&mesh_host::plugin_info!());
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let info = mesh_host::plugin_info!();
        let raw = hostcalls::get_buffer(
            proxy_wasm::types::BufferType::PluginConfiguration,
            0,
            usize::MAX,
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        let compiled = parse_json::<InjectorConfigDto>(&raw).and_then(|dto| dto.compile(&env));
        let injector = match compiled {
            Ok(i) => i,
            Err(e) => {
                plugin::log_config_error(&info, &e);
                return false;
            }
        };
        log::info!(
            "{}: configuration accepted ({} backends)",
            info.name,
            injector.backends.len()
        );
        let key = shared_key(PLUGIN, &raw);
        let vault = injector
            .vault
            .clone()
            .map(|cfg| VaultDriver::new(cfg, key.clone(), "credential_injector.vault"));
        let oauth2 = OAuth2Fetcher::new(injector.oauth2_clients.clone(), format!("{key}.oauth2"));
        let needs_tick = vault.is_some() || !oauth2.is_empty();
        let shared = Rc::new(Shared {
            injector,
            vault: RefCell::new(vault),
            oauth2: RefCell::new(oauth2),
            metrics: Metrics::define(),
        });
        self.shared = Some(shared);
        if needs_tick {
            if let Err(status) = hostcalls::set_tick_period(TICK) {
                log::error!("{}: cannot start the tick: {status:?}", info.name);
                return false;
            }
        }
        true
    }

    fn on_tick(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let now = clock::now();
        if let Ok(mut vault) = shared.vault.try_borrow_mut() {
            if let Some(v) = vault.as_mut() {
                v.on_tick(now);
            }
        }
        if let Ok(mut f) = shared.oauth2.try_borrow_mut() {
            f.on_tick(now);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        plugin::sync_log_level();
        Some(Box::new(Request {
            shared: self.shared.clone(),
            state: State::Pending,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

enum State {
    Pending,
    /// Answered locally (denial, preflight): response hooks leave it alone.
    Answered,
    Forwarded {
        cors_headers: Vec<(String, String)>,
        injected: Secret,
        echo_fields: Vec<Secret>,
        max_body_bytes: Option<u64>,
        body_seen: u64,
    },
}

struct Request {
    shared: Option<Rc<Shared>>,
    state: State,
}

impl Context for Request {}

fn deny(status: u32, reason: &'static str, message: String, headers: &[(String, String)]) {
    let mut reply = LocalReply::new(status, reason, message);
    for (k, v) in headers {
        reply = reply.with_header(k.clone(), v.clone());
    }
    if status == 401 {
        reply = reply.with_header("www-authenticate", "Bearer");
    }
    reply.send();
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            self.state = State::Answered;
            LocalReply::new(503, "not_configured", "the plugin is not configured").send();
            return Action::Pause;
        };
        let headers = hostcalls::get_map(MapType::HttpRequestHeaders).unwrap_or_default();
        let find = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        let method = find(":method");
        let (path, query) = split_path_and_query(find(":path"));
        let identity =
            properties::published(IDENTITY_PROPERTY).and_then(|b| VerifiedIdentity::from_bytes(&b));
        // Pseudo-headers are not request headers for the policy.
        let plain: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let input = RequestInput {
            method,
            path,
            query,
            headers: &plain,
            identity: identity.as_ref(),
            now: clock::now(),
        };
        match shared.injector.decide(&input, shared.as_ref()) {
            Decision::Preflight { headers } => {
                shared.metrics.preflights.inc();
                self.state = State::Answered;
                let hs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if let Err(s) = hostcalls::send_http_response(204, hs, None) {
                    log::error!("credential_injector: cannot answer a preflight: {s:?}");
                }
                Action::Pause
            }
            Decision::Deny(d) => {
                shared.metrics.denied.inc(d.code());
                log::debug!(
                    "credential_injector: denied {} {}: {}",
                    method,
                    path,
                    d.code()
                );
                self.state = State::Answered;
                deny(u32::from(d.status), d.code(), d.message(), &d.cors_headers);
                Action::Pause
            }
            Decision::Allow(a) => {
                for h in &a.remove_headers {
                    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, h, None);
                }
                let mut injected = Secret::default();
                for h in &a.set_headers {
                    let r = match h.mode {
                        InjectMode::Overwrite => hostcalls::set_map_value(
                            MapType::HttpRequestHeaders,
                            &h.name,
                            Some(h.value.expose()),
                        ),
                        InjectMode::Add => hostcalls::add_map_value(
                            MapType::HttpRequestHeaders,
                            &h.name,
                            h.value.expose(),
                        ),
                    };
                    if r.is_err() {
                        self.state = State::Answered;
                        shared.metrics.denied.inc("credential_invalid");
                        deny(
                            503,
                            "credential_invalid",
                            "the backend credential cannot be used".into(),
                            &a.cors_headers,
                        );
                        return Action::Pause;
                    }
                    injected = h.value.clone();
                }
                if let Some(p) = &a.path_rewrite {
                    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, ":path", Some(p));
                }
                shared.metrics.allowed.inc();
                self.state = State::Forwarded {
                    cors_headers: a.cors_headers,
                    injected,
                    echo_fields: a.echo_fields,
                    max_body_bytes: a.max_body_bytes,
                    body_seen: 0,
                };
                Action::Continue
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, _end_of_stream: bool) -> Action {
        if let State::Forwarded {
            max_body_bytes: Some(max),
            body_seen,
            cors_headers,
            ..
        } = &mut self.state
        {
            *body_seen = body_seen.saturating_add(body_size as u64);
            if *body_seen > *max {
                let hs = std::mem::take(cors_headers);
                if let Some(s) = &self.shared {
                    s.metrics.denied.inc("body_too_large");
                }
                self.state = State::Answered;
                deny(
                    413,
                    "body_too_large",
                    "the request body is too large".into(),
                    &hs,
                );
                return Action::Pause;
            }
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let State::Forwarded {
            cors_headers,
            injected,
            echo_fields,
            ..
        } = &self.state
        else {
            return Action::Continue;
        };
        let headers = hostcalls::get_map(MapType::HttpResponseHeaders).unwrap_or_default();
        let echoed = echoed_response_headers(&headers, injected, echo_fields);
        if !echoed.is_empty() {
            if let Some(s) = &self.shared {
                s.metrics.echo_stripped.inc();
            }
            for name in &echoed {
                let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, None);
            }
        }
        for (k, v) in cors_headers {
            let r = if k == "vary" {
                hostcalls::add_map_value(MapType::HttpResponseHeaders, k, v)
            } else {
                hostcalls::set_map_value(MapType::HttpResponseHeaders, k, Some(v))
            };
            let _ = r;
        }
        Action::Continue
    }
}
