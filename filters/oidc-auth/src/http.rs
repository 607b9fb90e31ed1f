//! One request: read it once, decide, apply. When the token's provider has
//! no usable keys or the token names an unknown `kid`, the request waits
//! for one (rate-limited) key fetch, then is decided again.

use crate::root::{self, Shared};
use mesh_host::header_map::HeaderMap;
use mesh_host::random::HostRandom;
use mesh_host::reply::LocalReply;
use mesh_host::{clock, headers, properties};
use policies::identity::IDENTITY_PROPERTY;
use policies::jwt::{HostVerifier, InVm, SignatureBackend};
use policies::oidc::decide::{CacheUse, RequestFacts, Verdict};
use policies::oidc::fetch_plan::{self, FetchStep};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::Cell;
use std::rc::Rc;

pub struct Request {
    context_id: u32,
    shared: Option<Rc<Shared>>,
    /// Read once in `on_http_request_headers`; kept for the re-decision after a key fetch.
    headers: HeaderMap,
    /// A key fetch this request waits for: (token, provider, step).
    waiting: Option<(u32, usize, FetchStep)>,
    /// Keys were already re-read from shared data for this request.
    synced: bool,
    rng: HostRandom,
}

impl Request {
    pub fn new(context_id: u32, shared: Option<Rc<Shared>>) -> Self {
        Self {
            context_id,
            shared,
            headers: HeaderMap::default(),
            waiting: None,
            synced: false,
            rng: HostRandom,
        }
    }

    /// Decides and applies; returns the filter action.
    fn decide_and_apply(&mut self, may_fetch: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            LocalReply::new(
                503,
                "not_configured",
                "the authentication plugin has no valid configuration",
            )
            .send();
            return Action::Pause;
        };
        let now = clock::now();
        let verdict = {
            let keys = shared.keys.borrow();
            let lookup = crate::keys::KeysAt {
                keys: &keys,
                now,
                stale_used: Cell::new(false),
            };
            let pairs = self.headers.pairs();
            let facts = RequestFacts {
                method: self.headers.first(":method"),
                path: self.headers.first(":path"),
                headers: &pairs,
            };
            let mut cache = shared.cache.borrow_mut();
            let host = HostVerifier {
                call: &crate::host_crypto::call,
                caps: shared.host_crypto,
            };
            let backend: &dyn SignatureBackend = if shared.host_crypto.any() {
                &host
            } else {
                &InVm
            };
            let v = shared
                .policy
                .decide(&facts, &lookup, &mut cache, backend, now, may_fetch);
            if lookup.stale_used.get() {
                shared.metrics.jwks_stale_served.inc();
            }
            v
        };
        match verdict {
            Verdict::Allow(allowed) => {
                headers::remove_request_headers_present(&self.headers, &allowed.remove_headers);
                for (name, value) in &allowed.set_headers {
                    headers::set_request_header(name, value);
                }
                if let Some(path) = &allowed.new_path {
                    headers::set_request_header(":path", path);
                }
                match &allowed.new_cookie {
                    Some(Some(cookie)) => {
                        headers::set_request_header("cookie", cookie);
                    }
                    Some(None) => {
                        headers::remove_request_header("cookie");
                    }
                    None => {}
                }
                if let Some(identity) = &allowed.identity {
                    if !properties::publish(IDENTITY_PROPERTY, identity) {
                        log::warn!(
                            "oidc-auth[{}]: could not publish the verified identity",
                            self.context_id
                        );
                    }
                }
                match allowed.cache {
                    CacheUse::Hit => shared.metrics.cache_hit.inc(),
                    CacheUse::Miss => shared.metrics.cache_miss.inc(),
                    CacheUse::NotNeeded => {}
                }
                shared.metrics.allowed.inc();
                Action::Continue
            }
            Verdict::Deny { denial, headers } => {
                shared.metrics.denied.inc(denial.reason());
                log::debug!(
                    "oidc-auth[{}]: denied {} {}: {}",
                    self.context_id,
                    self.headers.first(":method"),
                    path_only(self.headers.first(":path")),
                    denial.reason()
                );
                let mut reply = LocalReply::new(denial.status(), denial.reason(), denial.message());
                for (n, v) in headers {
                    reply = reply.with_header(n, v);
                }
                reply.send();
                Action::Pause
            }
            Verdict::FetchKeys { provider, reason } => self.fetch_keys(&shared, provider, reason),
        }
    }

    /// Starts a rate-limited key fetch and pauses, or decides without one.
    fn fetch_keys(
        &mut self,
        shared: &Rc<Shared>,
        provider_idx: usize,
        reason: &'static str,
    ) -> Action {
        let now = clock::now();
        // Another VM may already have the keys (it fetched them since our
        // last tick): take those before spending a rate-limited refetch.
        if !self.synced {
            self.synced = true;
            let changed = {
                let mut keys = shared.keys.borrow_mut();
                match (
                    shared.policy.providers.get(provider_idx),
                    keys.get_mut(provider_idx),
                ) {
                    (Some(provider), Some(k)) => k.sync_from_shared(provider),
                    _ => false,
                }
            };
            if changed {
                return self.decide_and_apply(true);
            }
        }
        let call = {
            let mut keys = shared.keys.borrow_mut();
            match (
                shared.policy.providers.get(provider_idx),
                keys.get_mut(provider_idx),
            ) {
                (Some(provider), Some(k)) => {
                    if k.grant_forced_refetch(now) {
                        fetch_plan::first_call(provider, k.jwks_url())
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        let Some((step, call)) = call else {
            return self.decide_and_apply(false);
        };
        if reason == "unknown_kid" {
            shared.metrics.jwks_refetch_unknown_kid.inc();
        }
        match root::dispatch(&call) {
            Some(token) => {
                self.waiting = Some((token, provider_idx, step));
                Action::Pause
            }
            None => self.decide_and_apply(false),
        }
    }
}

/// The path without its query string (queries may carry tokens).
fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or("")
}

impl Context for Request {
    fn on_http_call_response(&mut self, token_id: u32, _: usize, body_size: usize, _: usize) {
        let Some((token, provider, step)) = self.waiting.take() else {
            return;
        };
        if token != token_id {
            return;
        }
        let Some(shared) = self.shared.clone() else {
            return;
        };
        if let Some((next, next_step)) =
            root::continue_fetch(&shared, provider, &step, body_size, &mut self.rng)
        {
            self.waiting = Some((next, provider, next_step));
            return;
        }
        if let Action::Continue = self.decide_and_apply(false) {
            self.resume_http_request();
        }
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        // Read as bytes: the SDK's text getter traps on a non-UTF-8 value a client can send.
        self.headers = HeaderMap::request();
        self.decide_and_apply(true)
    }
}
