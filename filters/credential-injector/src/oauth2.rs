//! Background OAuth2 client-credentials fetches: one VM per refresh holds a
//! CAS lease, fetches, and publishes the token in shared data; every VM
//! adopts it on its tick.

use mesh_host::callout::{dispatch, Callout, CalloutResponse};
use mesh_host::metrics::{Metric, ReasonCounters};
use mesh_host::random::{fill_secure, HostRandom};
use mesh_host::shared;
use policies::env::{Now, Random};
use policies::inject::{
    CredentialUnavailable, OAuth2Client, OAuth2Error, OAuth2Snapshot, OAuth2TokenState,
    MAX_TOKEN_RESPONSE_BYTES,
};
use policies::secret::Secret;
use std::time::Duration;

const REASONS: &[&str] = &[
    "oauth2_refused",
    "oauth2_unreachable",
    "oauth2_timeout",
    "oauth2_unexpected_status",
    "oauth2_response_too_large",
    "oauth2_malformed_response",
    "oauth2_unsupported_token_type",
];

pub struct OAuth2Fetcher {
    clients: Vec<(OAuth2Client, OAuth2TokenState)>,
    key: String,
    me: u64,
    rng: HostRandom,
    in_flight: Vec<(u32, usize)>,
    fetches: Metric,
    failures: ReasonCounters,
}

impl OAuth2Fetcher {
    pub fn new(clients: Vec<OAuth2Client>, key: String) -> Self {
        let mut id = [0u8; 8];
        if !fill_secure(&mut id) {
            HostRandom.fill(&mut id);
        }
        Self {
            clients: clients
                .into_iter()
                .map(|c| (c, OAuth2TokenState::new()))
                .collect(),
            key,
            // 0 means "free" in the lease encoding.
            me: u64::from_le_bytes(id).max(1),
            rng: HostRandom,
            in_flight: Vec::new(),
            fetches: Metric::counter("credential_injector.oauth2.fetches"),
            failures: ReasonCounters::define("credential_injector.oauth2.failures", REASONS),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn current(&self, index: usize, now: Now) -> Result<Secret, CredentialUnavailable> {
        self.clients
            .get(index)
            .ok_or(CredentialUnavailable::new("token_not_configured"))
            .and_then(|(_, s)| s.current(now).cloned())
    }

    pub fn on_tick(&mut self, now: Now) {
        for i in 0..self.clients.len() {
            let token_key = format!("{}.{i}.token", self.key);
            let lease_key = format!("{}.{i}.lease", self.key);
            let snap = shared::read(&token_key)
                .ok()
                .and_then(|e| e.bytes)
                .and_then(|b| OAuth2Snapshot::from_bytes(&b));
            let Some((client, state)) = self.clients.get_mut(i) else {
                continue;
            };
            if let Some(s) = snap {
                state.adopt(&s, client);
            }
            if !state.due(client, now) {
                continue;
            }
            let lease_ms = client.timeout_ms.saturating_add(5_000);
            if !shared::try_acquire_lease(&lease_key, self.me, now.unix_ms, lease_ms) {
                continue;
            }
            let req = client.request();
            let mut headers: Vec<(&str, &str)> =
                req.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(a) = &req.authorization {
                headers.push(("authorization", a.expose()));
            }
            let callout = Callout {
                cluster: &client.cluster,
                method: "POST",
                authority: &client.authority,
                path: &req.path,
                headers,
                body: Some(req.body.expose().as_bytes()),
                timeout: Duration::from_millis(client.timeout_ms),
            };
            match dispatch(&callout) {
                Ok(token) => {
                    state.on_dispatched(now);
                    self.in_flight.push((token, i));
                }
                Err(_) => {
                    state.on_failed(&OAuth2Error::Unreachable, now, &mut self.rng);
                    self.failures.inc(OAuth2Error::Unreachable.reason());
                    end_lease(&lease_key, self.me, state, now);
                }
            }
        }
    }

    /// False when `token` is not one of this fetcher's calls.
    pub fn on_http_call_response(&mut self, token: u32, body_size: usize, now: Now) -> bool {
        let Some(pos) = self.in_flight.iter().position(|(t, _)| *t == token) else {
            return false;
        };
        let (_, i) = self.in_flight.swap_remove(pos);
        let resp = CalloutResponse::read(body_size, MAX_TOKEN_RESPONSE_BYTES + 1);
        let Some((client, state)) = self.clients.get_mut(i) else {
            return true;
        };
        let result = if body_size > MAX_TOKEN_RESPONSE_BYTES {
            state.on_failed(&OAuth2Error::TooLarge, now, &mut self.rng);
            Err(OAuth2Error::TooLarge)
        } else {
            state.on_response(client, resp.status, &resp.body, now, &mut self.rng)
        };
        match result {
            Ok(()) => {
                self.fetches.inc();
                if let Some(snap) = state.snapshot() {
                    if let Ok(bytes) = serde_json::to_vec(snap) {
                        let _ = shared::write(&format!("{}.{i}.token", self.key), &bytes);
                    }
                }
            }
            Err(e) => {
                log::warn!("oauth2: token fetch for client {i} failed: {}", e.reason());
                self.failures.inc(e.reason());
            }
        }
        end_lease(&format!("{}.{i}.lease", self.key), self.me, state, now);
        true
    }
}

/// Ends a fetch's lease: given up after a success; after a failure held
/// until the backoff ends, so the failing endpoint gets one attempt per
/// backoff step across all VMs, not one per VM (the failure itself is not
/// shared, only tokens are).
fn end_lease(lease_key: &str, me: u64, state: &OAuth2TokenState, now: Now) {
    match state.backoff_until_ms(now) {
        Some(until) => {
            let _ = shared::try_acquire_lease(
                lease_key,
                me,
                now.unix_ms,
                until.saturating_sub(now.unix_ms),
            );
        }
        None => shared::release_lease(lease_key, me),
    }
}
