//! The root context: configuration, and the key refresh every VM ticks
//! through (only the VM that holds a provider's lease fetches).

use crate::keys::{self, ProviderKeys};
use crate::metrics::Metrics;
use mesh_host::callout::{self, Callout, CalloutResponse};
use mesh_host::random::HostRandom;
use mesh_host::{clock, plugin, plugin_info, shared};
use policies::env::Random;
use policies::jwt::{HostCapabilities, LargeCurveKey};
use policies::oidc::fetch_plan::{self, FetchAnswer, FetchCall, FetchNext, FetchStep};
use policies::oidc::token_cache::TokenCache;
use policies::oidc::OidcPolicy;
use policies::vec_map::VecMap;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Everything a request needs, shared by the root and HTTP contexts of one VM.
pub struct Shared {
    pub policy: OidcPolicy,
    pub keys: RefCell<Vec<ProviderKeys>>,
    pub cache: RefCell<TokenCache>,
    pub metrics: Metrics,
    /// Identifies this VM in fetch leases.
    pub vm_owner: u64,
    /// Signature families the host verifies natively (self-tested at start).
    pub host_crypto: HostCapabilities,
}

pub struct Root {
    shared: Option<Rc<Shared>>,
    /// Callouts in flight: token → (provider, step). At most one per provider:
    /// a sorted vector, not a `HashMap` (whose hashing and table code cost ≈ 3 KB of module).
    pending: VecMap<u32, (usize, FetchStep)>,
    rng: HostRandom,
}

const TICK: Duration = Duration::from_millis(500);

impl Root {
    pub fn new() -> Self {
        Self {
            shared: None,
            pending: VecMap::new(),
            rng: HostRandom,
        }
    }

    fn refresh_keys(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = clock::now();
        let mut keys = shared.keys.borrow_mut();
        for (i, (provider, k)) in shared
            .policy
            .providers
            .iter()
            .zip(keys.iter_mut())
            .enumerate()
        {
            if !k.is_remote() {
                continue;
            }
            let _ = k.sync_from_shared(provider);
            if !k.due(now) || self.pending.values().any(|(p, _)| *p == i) {
                continue;
            }
            let lease_ms = provider.refresh.fetch_timeout_ms.saturating_add(1_000);
            if !shared::try_acquire_lease(k.lease_key(), shared.vm_owner, now.unix_ms, lease_ms) {
                continue;
            }
            let Some((step, call)) = fetch_plan::first_call(provider, k.jwks_url()) else {
                continue;
            };
            k.start_fetch(now);
            match dispatch(&call) {
                Some(token) => {
                    log::debug!(
                        "oidc-auth: fetching keys of provider {} ({}{})",
                        provider.name,
                        call.authority,
                        call.path
                    );
                    self.pending.insert(token, (i, step));
                }
                None => {
                    shared.metrics.jwks_fetch_failed.inc("dispatch_failed");
                    k.fail(now, &mut self.rng);
                    shared::release_lease(k.lease_key(), shared.vm_owner);
                }
            }
        }
    }
}

/// Dispatches a key-fetch callout; None when the host refuses (unknown cluster).
pub fn dispatch(call: &FetchCall) -> Option<u32> {
    let c = Callout {
        cluster: &call.cluster,
        method: "GET",
        authority: &call.authority,
        path: &call.path,
        headers: vec![("accept", "application/json")],
        body: None,
        timeout: Duration::from_millis(call.timeout_ms),
    };
    match callout::dispatch(&c) {
        Ok(token) => Some(token),
        Err(e) => {
            log::warn!(
                "oidc-auth: cannot reach cluster {} for keys: {e}",
                call.cluster
            );
            None
        }
    }
}

/// Feeds a key-fetch answer; returns the next call's token, if any.
pub fn continue_fetch(
    shared: &Shared,
    provider_idx: usize,
    step: &FetchStep,
    body_size: usize,
    rng: &mut dyn Random,
) -> Option<(u32, FetchStep)> {
    let provider = shared.policy.providers.get(provider_idx)?;
    // An answer over the limit is refused unread (the body stays in Envoy).
    let response = CalloutResponse::read(body_size, fetch_plan::body_limit(provider, step));
    let answer = FetchAnswer {
        status: response.status,
        body_size,
        body: &response.body,
    };
    let now = clock::now();
    let mut keys = shared.keys.borrow_mut();
    let k = keys.get_mut(provider_idx)?;
    match k.on_fetch_response(provider, step, answer, now, rng) {
        FetchNext::Call(next_step, call) => {
            // Each step (discovery, then the JWKS) may take a whole
            // `fetch_timeout`: the lease and the shared "fetch in progress"
            // mark are renewed for the next one, or another VM would start a
            // second fetch from an IdP that is already slow.
            let lease_ms = provider.refresh.fetch_timeout_ms.saturating_add(1_000);
            let _ =
                shared::try_acquire_lease(k.lease_key(), shared.vm_owner, now.unix_ms, lease_ms);
            k.start_fetch(now);
            match dispatch(&call) {
                Some(token) => Some((token, next_step)),
                None => {
                    shared.metrics.jwks_fetch_failed.inc("dispatch_failed");
                    k.fail(now, rng);
                    shared::release_lease(k.lease_key(), shared.vm_owner);
                    None
                }
            }
        }
        FetchNext::Done {
            keys: set, skipped, ..
        } => {
            shared.metrics.jwks_fetch_ok.inc();
            log::info!(
                "oidc-auth: provider {} has {} keys ({} skipped)",
                provider.name,
                set.len(),
                skipped
            );
            // Nothing to clear: a cached token verified under other keys
            // is checked again on its next use (`KeySet::fingerprint`).
            shared::release_lease(k.lease_key(), shared.vm_owner);
            None
        }
        FetchNext::Failed(reason) => {
            shared.metrics.jwks_fetch_failed.inc(reason);
            let serving = if k.has_keys(now) {
                "the last good keys keep serving until max_staleness"
            } else {
                "no usable keys: its tokens get 503"
            };
            log::warn!(
                "oidc-auth: fetching keys of provider {} (issuer {}) failed: {reason}: {}; {serving}",
                provider.name,
                provider.issuer,
                fetch_plan::describe_failure(reason)
            );
            shared::release_lease(k.lease_key(), shared.vm_owner);
            None
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token_id: u32, _: usize, body_size: usize, _: usize) {
        let Some((provider, step)) = self.pending.remove(&token_id) else {
            return;
        };
        let Some(shared) = self.shared.clone() else {
            return;
        };
        if let Some((token, next)) =
            continue_fetch(&shared, provider, &step, body_size, &mut self.rng)
        {
            self.pending.insert(token, (provider, next));
        }
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _: usize) -> bool {
        plugin::log_start(&plugin_info!());
        true
    }

    fn on_configure(&mut self, _: usize) -> bool {
        let info = plugin_info!();
        let raw = self.get_plugin_configuration().unwrap_or_default();
        let policy = match policies::oidc::load(&raw, &|name| std::env::var(name).ok()) {
            Ok(p) => p,
            Err(e) => {
                plugin::log_config_error(&info, &e);
                return false;
            }
        };
        log::info!(
            "{}: configuration accepted ({} providers, {} rules)",
            info.name,
            policy.providers.len(),
            policy.rules.len()
        );
        let host_crypto = if policy.host_signature_verification {
            HostCapabilities::probe(&crate::host_crypto::call)
        } else {
            HostCapabilities::default()
        };
        let place = |on_host: bool| if on_host { "host" } else { "in-VM" };
        log::info!(
            "{}: native signature verification: RSA {}, ECDSA P-256 {}, ECDSA P-384/P-521 {}",
            info.name,
            place(host_crypto.rsa_pkcs1),
            place(host_crypto.ecdsa),
            place(host_crypto.ecdsa_large),
        );
        if !host_crypto.ecdsa_large && !LargeCurveKey::IN_VM {
            log::warn!(
                "{}: ES384/ES512 tokens will be refused (alg_needs_host_crypto): this module verifies them \
                 only through the host's verify_signature, which is {}; build with feature in-vm-p384-p521 \
                 to verify them in the VM",
                info.name,
                if policy.host_signature_verification {
                    "unavailable or failed its self-test"
                } else {
                    "turned off (host_signature_verification: false)"
                }
            );
        }
        let keys = keys::all_for(&policy);
        let cache = TokenCache::new(policy.token_cache_entries);
        self.shared = Some(Rc::new(Shared {
            policy,
            keys: RefCell::new(keys),
            cache: RefCell::new(cache),
            metrics: Metrics::define(),
            vm_owner: self.rng.next_u64(),
            host_crypto,
        }));
        if let Some(shared) = &self.shared {
            shared.metrics.host_crypto.record(host_crypto.gauge());
        }
        // The first fetch waits for the first tick: a callout dispatched
        // from on_configure during Envoy start-up never gets its answer.
        self.set_tick_period(TICK);
        true
    }

    fn on_tick(&mut self) {
        self.refresh_keys();
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        plugin::sync_log_level();
        // Returning None would make the SDK panic: an unconfigured VM answers 503.
        Some(Box::new(crate::http::Request::new(
            context_id,
            self.shared.clone(),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
