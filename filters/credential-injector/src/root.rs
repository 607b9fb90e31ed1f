//! The root context: configuration, background Vault/OAuth2 work, and what
//! HTTP contexts share.

use crate::http::{release, Parked, Request};
use crate::metrics::Metrics;
use crate::oauth2::OAuth2Fetcher;
use mesh_host::vault_driver::{shared_key, VaultDriver};
use mesh_host::{clock, plugin};
use policies::config::parse_json;
use policies::env::Now;
use policies::inject::per_user::UserVault;
use policies::inject::{CredentialSource, CredentialUnavailable, Injector, InjectorConfigDto};
use policies::secret::Secret;
use policies::vault::SecretValue;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const TICK: Duration = Duration::from_secs(1);
const PLUGIN: &str = "credential_injector";

/// What HTTP contexts share with the root context of their VM.
pub struct Shared {
    pub injector: Injector,
    vault: RefCell<Option<VaultDriver>>,
    oauth2: RefCell<OAuth2Fetcher>,
    /// Per-user Vault tokens and values (`vault.per_user_jwt`), per VM.
    pub users: RefCell<Option<UserVault>>,
    /// Requests waiting for another request's per-user Vault calls.
    pub parked: RefCell<Parked>,
    pub metrics: Metrics,
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

pub struct Root {
    context_id: u32,
    shared: Option<Rc<Shared>>,
}

impl Root {
    pub fn new(context_id: u32) -> Self {
        Self {
            context_id,
            shared: None,
        }
    }
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
        // The plugin's own login runs only with `vault.auth`; per-user
        // logins happen on requests.
        let vault = injector
            .vault
            .clone()
            .filter(|cfg| cfg.auth.is_some())
            .map(|cfg| VaultDriver::new(cfg, key.clone(), "credential_injector.vault"));
        let users = injector.vault.as_ref().and_then(|cfg| {
            cfg.per_user_jwt
                .as_ref()
                .map(|p| UserVault::new(&cfg.connection, p, cfg.retry))
        });
        let oauth2 = OAuth2Fetcher::new(injector.oauth2_clients.clone(), format!("{key}.oauth2"));
        // Per-user: the tick releases requests whose awaited call is overdue.
        let needs_tick = vault.is_some() || !oauth2.is_empty() || users.is_some();
        let shared = Rc::new(Shared {
            injector,
            vault: RefCell::new(vault),
            oauth2: RefCell::new(oauth2),
            users: RefCell::new(users),
            parked: RefCell::new(Parked::default()),
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
        let overdue = match shared.users.try_borrow_mut() {
            Ok(mut users) => users.as_mut().map(|u| u.expire_flights(now)),
            Err(_) => None,
        };
        if let Some(landed) = overdue.filter(|l| !l.waiters.is_empty()) {
            log::warn!(
                "{PLUGIN}: {} requests waited too long for another request's Vault call",
                landed.waiters.len()
            );
            release(shared, &landed.waiters, &landed.step, self.context_id);
        }
        if let Ok(mut vault) = shared.vault.try_borrow_mut() {
            if let Some(v) = vault.as_mut() {
                v.on_tick(now);
            }
        }
        if let Ok(mut f) = shared.oauth2.try_borrow_mut() {
            f.on_tick(now);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        mesh_host::plugin::sync_log_level();
        // Always a context: without a configuration it answers 503.
        Some(Box::new(Request::new(context_id, self.shared.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
