//! Runs a [`VaultClient`] inside a plugin.
//!
//! Every VM (main thread and each worker) holds a client and ticks it, but
//! only the VM holding the owner lease in shared data calls Vault: it claims
//! the lease with a CAS write, dispatches what [`VaultClient::next_actions`]
//! asks for, applies the answers, and publishes snapshots of the loaded
//! secrets back to shared data (CAS, bounded retries). Every other VM adopts
//! those snapshots on its tick, so each refresh is one Vault call in total.
//!
//! Never logs secret values or tokens: only action kinds and reason codes.

use crate::callout::{dispatch, Callout, CalloutResponse, DispatchError};
use crate::metrics::{Metric, ReasonCounters};
use crate::random::{fill_secure, HostRandom};
use crate::raw::HostStatus;
use crate::shared;
use policies::env::{Now, Random};
use policies::vault::{
    Action, Connection, OwnerLease, Reply, SecretValue, SharedState, Unavailable,
    UnavailableReason, VaultClient, VaultConfig, VaultError, VaultRequest, FAILURE_REASONS,
    MAX_RESPONSE_BYTES,
};
use std::time::Duration;

/// The owner renews its lease every tick; a VM that stops ticking (reload,
/// crash) loses it after this long.
const OWNER_LEASE_MS: u64 = 10_000;
/// CAS retries when publishing snapshots.
const PUBLISH_RETRIES: usize = 5;

/// Sends one Vault API call over `conn`; the token identifies the answer in
/// `on_http_call_response`. `None` when Envoy refuses the call (unknown
/// cluster), logged here once for every caller (the plugin's own client and
/// per-user calls from requests).
pub fn send_vault_request(conn: &Connection, req: &VaultRequest) -> Option<u32> {
    let headers: Vec<(&str, &str)> = req.headers.iter().map(|(k, v)| (*k, v.expose())).collect();
    let body = req.body_bytes();
    let callout = Callout {
        cluster: &conn.cluster,
        method: req.method.as_str(),
        authority: &conn.authority,
        path: &req.path,
        headers,
        body: (!body.is_empty()).then_some(body),
        timeout: Duration::from_millis(conn.timeout_ms),
    };
    match dispatch(&callout) {
        Ok(token) => Some(token),
        Err(e) => {
            if e == DispatchError::BadArgument {
                log::error!(
                    "vault: cannot call cluster {} (unknown cluster?)",
                    conn.cluster
                );
            }
            None
        }
    }
}

/// Failures counted besides [`policies::vault::FAILURE_REASONS`]: the callout
/// could not be sent at all (unknown cluster, no token).
const DISPATCH_FAILED: &str = "dispatch_failed";

struct DriverMetrics {
    logins: Metric,
    fetches: Metric,
    renewals: Metric,
    revocations: Metric,
    failures: ReasonCounters,
    /// Seconds to expiry, per configured secret (0 once expired or unknown).
    expires_in: Vec<(String, Metric)>,
}

/// The Vault client of one plugin in one VM.
pub struct VaultDriver {
    client: VaultClient,
    key: String,
    me: String,
    rng: HostRandom,
    in_flight: Vec<(u32, Action)>,
    owner: bool,
    metrics: DriverMetrics,
}

/// The shared-data key for one plugin's Vault state: the plugin name plus a
/// hash of its configuration, so two plugins (or two configurations during an
/// update) never share a record.
pub fn shared_key(plugin: &str, raw_config: &[u8]) -> String {
    // FNV-1a 64: stable across builds and VMs, no dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in raw_config {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{plugin}.vault.{h:016x}")
}

impl VaultDriver {
    /// `metric_prefix` e.g. `credential_injector.vault`.
    pub fn new(config: VaultConfig, key: String, metric_prefix: &str) -> Self {
        let mut id = [0u8; 8];
        if !fill_secure(&mut id) {
            HostRandom.fill(&mut id);
        }
        let expires_in = config
            .secrets
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    Metric::gauge(&format!("{metric_prefix}.expires_in_s.{}", s.name)),
                )
            })
            .collect();
        let metrics = DriverMetrics {
            logins: Metric::counter(&format!("{metric_prefix}.logins")),
            fetches: Metric::counter(&format!("{metric_prefix}.fetches")),
            renewals: Metric::counter(&format!("{metric_prefix}.renewals")),
            revocations: Metric::counter(&format!("{metric_prefix}.revocations")),
            failures: ReasonCounters::define(
                &format!("{metric_prefix}.failures"),
                &[FAILURE_REASONS, &[DISPATCH_FAILED]].concat(),
            ),
            expires_in,
        };
        Self {
            client: VaultClient::new(config),
            key,
            me: format!("{:016x}", u64::from_le_bytes(id)),
            rng: HostRandom,
            in_flight: Vec::new(),
            owner: false,
            metrics,
        }
    }

    /// The current value of secret `name`, or why there is none. A VM that
    /// is not the owner and has nothing valid (not adopted yet, or its copy
    /// just expired) first looks at shared data: the owner may have
    /// published a renewal or replacement since this VM's last tick.
    pub fn current(&mut self, name: &str, now: Now) -> Result<&SecretValue, Unavailable> {
        let stale = !self.owner
            && self.client.secret(name, now).is_err_and(|u| {
                matches!(
                    u.reason,
                    UnavailableReason::Expired | UnavailableReason::NotLoaded
                )
            });
        if stale {
            if let Some(state) = self.read_shared() {
                self.client.adopt(&state.secrets, now, &mut self.rng);
                self.client.adopt_failures(&state.failures);
            }
        }
        self.client.secret(name, now)
    }

    fn read_shared(&self) -> Option<SharedState> {
        let entry = shared::read(&self.key).ok()?;
        SharedState::from_bytes(entry.bytes.as_deref()?).ok()
    }

    /// Whether this VM held the owner lease at its last tick.
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Call from `on_tick`: adopt shared snapshots, claim or renew the lease,
    /// and (as owner) dispatch due calls.
    pub fn on_tick(&mut self, now: Now) {
        let entry = match shared::read(&self.key) {
            Ok(e) => e,
            Err(status) => {
                log::warn!("vault: cannot read shared data: {status:?}");
                return;
            }
        };
        let state = entry
            .bytes
            .as_deref()
            .and_then(|b| SharedState::from_bytes(b).ok())
            .unwrap_or(SharedState {
                owner: None,
                secrets: Vec::new(),
                failures: Vec::new(),
            });
        // The owner's own state is the truth (it holds the leases); adopting
        // its published copy back would drop them.
        let secrets = state.secrets.clone();
        let failures = state.failures.clone();
        self.owner = self.claim(entry.bytes.is_some(), entry.cas, state, now);
        if self.owner {
            self.client.adopt_failures(&[]);
        } else {
            self.client.adopt(&secrets, now, &mut self.rng);
            self.client.adopt_failures(&failures);
        }
        self.record_gauges(now);
        if self.owner {
            let due = self.client.next_actions(now, &mut self.rng);
            self.send_all(due, now);
        }
    }

    /// Call from `on_http_call_response`. Returns false when `token` is not
    /// one of this driver's calls.
    pub fn on_http_call_response(&mut self, token: u32, body_size: usize, now: Now) -> bool {
        let Some(pos) = self.in_flight.iter().position(|(t, _)| *t == token) else {
            return false;
        };
        let (_, action) = self.in_flight.swap_remove(pos);
        let result = if body_size > MAX_RESPONSE_BYTES {
            let e = VaultError::ResponseTooLarge(body_size);
            self.client
                .on_dispatch_failed(action, &e, now, &mut self.rng);
            Err(e)
        } else {
            let resp = CalloutResponse::read(body_size, MAX_RESPONSE_BYTES + 1);
            let reply = Reply {
                status: resp.status,
                retry_after: resp.retry_after.as_deref(),
                body: &resp.body,
            };
            self.client.on_reply(action, &reply, now, &mut self.rng)
        };
        let succeeded = result.is_ok();
        match result {
            Ok(()) => {
                log::debug!("vault: {} succeeded", action_name(action));
                self.count_success(action);
            }
            Err(e) => {
                self.log_failure(action, &e, now);
                self.metrics.failures.inc(e.reason());
            }
        }
        // An answer can make the next call due at once (a login makes the
        // secret reads due): send it now, not a tick later, so a cold start
        // serves its first credential one tick after start instead of two.
        // After a failure the client's backoff decides, on the next tick.
        if succeeded && self.owner {
            let follow_ups = self.client.follow_up_actions(now, &mut self.rng);
            self.send_all(follow_ups, now);
        }
        self.publish(now);
        self.record_gauges(now);
        true
    }

    fn send_all(&mut self, actions: Vec<Action>, now: Now) {
        for action in actions {
            self.send(action, now);
        }
    }

    fn send(&mut self, action: Action, now: Now) {
        let Some(req) = self.client.request_for(action, now) else {
            self.client
                .on_dispatch_failed(action, &VaultError::Unreachable, now, &mut self.rng);
            self.metrics.failures.inc(DISPATCH_FAILED);
            return;
        };
        match send_vault_request(&self.client.config().connection, &req) {
            Some(token) => self.in_flight.push((token, action)),
            None => {
                self.client.on_dispatch_failed(
                    action,
                    &VaultError::Unreachable,
                    now,
                    &mut self.rng,
                );
                self.metrics.failures.inc(DISPATCH_FAILED);
            }
        }
    }

    /// Claims or renews the owner lease atomically: a CAS write, or, for the
    /// first claim, a create-if-absent, so exactly one VM wins even when all
    /// of them tick for the first time in the same instant (before, two could
    /// both log in at start).
    fn claim(&self, exists: bool, cas: u32, state: SharedState, now: Now) -> bool {
        let may = state
            .owner
            .as_ref()
            .is_none_or(|o| o.may_fetch(&self.me, now));
        if !may {
            return false;
        }
        let claimed = SharedState {
            owner: Some(OwnerLease::claim(&self.me, now, OWNER_LEASE_MS)),
            secrets: state.secrets,
            failures: state.failures,
        };
        let Ok(bytes) = claimed.to_bytes() else {
            return false;
        };
        if exists {
            shared::write_if_unchanged(&self.key, &bytes, cas).is_ok()
        } else {
            shared::create_if_absent(&self.key, &bytes).is_ok()
        }
    }

    /// Writes this VM's snapshots and failures, keeping the owner field as found.
    fn publish(&self, now: Now) {
        // A renewal keeps `fetched_at` and moves the expiry: other VMs adopt it
        // as newer (`VaultClient::adopt`).
        let secrets = self.client.snapshots();
        let failures = self.client.failures(now);
        for _ in 0..PUBLISH_RETRIES {
            let Ok(entry) = shared::read(&self.key) else {
                return;
            };
            let owner = entry
                .bytes
                .as_deref()
                .and_then(|b| SharedState::from_bytes(b).ok())
                .and_then(|s| s.owner);
            let Ok(bytes) = (SharedState {
                owner,
                secrets: secrets.clone(),
                failures: failures.clone(),
            })
            .to_bytes() else {
                return;
            };
            let written = if entry.bytes.is_some() {
                shared::write_if_unchanged(&self.key, &bytes, entry.cas)
            } else {
                shared::create_if_absent(&self.key, &bytes)
            };
            match written {
                Ok(()) => return,
                Err(HostStatus::CasMismatch) => continue,
                Err(status) => {
                    log::warn!("vault: cannot publish secrets: {status:?}");
                    return;
                }
            }
        }
        log::warn!("vault: gave up publishing secrets after {PUBLISH_RETRIES} CAS conflicts");
    }

    /// One line per failed call: the action, the reason code and, when the
    /// whole client backs off (server fault), for how long.
    fn log_failure(&self, action: Action, e: &VaultError, now: Now) {
        let gate = self.client.server_gate();
        let name = action_name(action);
        if e.is_server_fault() {
            let wait_ms = gate.open_at().unix_ms.saturating_sub(now.unix_ms);
            let hint = if e.retry_after_ms().is_some() {
                " (Retry-After)"
            } else {
                ""
            };
            log::warn!(
                "vault: {name} failed: {}; no calls for {wait_ms} ms{hint} (fault {} in a row)",
                e.reason(),
                gate.failures()
            );
        } else {
            log::warn!("vault: {name} failed: {}", e.reason());
        }
    }

    fn count_success(&self, action: Action) {
        match action {
            Action::Login => self.metrics.logins.inc(),
            Action::Fetch(_) => self.metrics.fetches.inc(),
            Action::RenewLease(_) | Action::RenewToken => self.metrics.renewals.inc(),
            Action::RevokeLease(_) => self.metrics.revocations.inc(),
            Action::Unwrap | Action::LookupToken => {}
        }
    }

    fn record_gauges(&self, now: Now) {
        for (name, gauge) in &self.metrics.expires_in {
            let secs = self.client.expires_in_s(name, now).unwrap_or(0).max(0);
            gauge.record(secs as u64);
        }
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Unwrap => "unwrap",
        Action::Login => "login",
        Action::RenewToken => "token renewal",
        Action::LookupToken => "token lookup",
        Action::Fetch(_) => "secret fetch",
        Action::RenewLease(_) => "lease renewal",
        Action::RevokeLease(_) => "revocation of a replaced lease",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_key_depends_on_plugin_and_configuration() {
        let a = shared_key("credential_injector", b"{\"a\":1}");
        assert_eq!(a, shared_key("credential_injector", b"{\"a\":1}"));
        assert_ne!(a, shared_key("credential_injector", b"{\"a\":2}"));
        assert_ne!(a, shared_key("other", b"{\"a\":1}"));
        assert!(a.starts_with("credential_injector.vault."));
    }
}
