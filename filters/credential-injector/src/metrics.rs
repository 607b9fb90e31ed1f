//! The injector's request metrics (docs/metrics.md). Defined at configure
//! time whatever the configuration, so the set of names is fixed.

use mesh_host::metrics::{Metric, ReasonCounters};
use policies::inject::REASON_CODES;

pub struct Metrics {
    pub allowed: Metric,
    pub preflights: Metric,
    pub denied: ReasonCounters,
    pub echo_stripped: Metric,
    pub per_user: PerUserMetrics,
}

/// `credential_injector.vault_per_user.*`: per-user Vault work of this proxy.
pub struct PerUserMetrics {
    /// Successful JWT logins with a user's token.
    pub logins: Metric,
    /// Successful KV reads with a user's Vault token.
    pub reads: Metric,
    /// Requests served from the per-user value cache (no Vault call).
    pub cache_hits: Metric,
    /// Requests that needed Vault (login and/or read).
    pub cache_misses: Metric,
    /// Requests that waited for the same user's Vault call in flight
    /// instead of making their own.
    pub coalesced: Metric,
    /// Requests refused without a Vault call because Vault failed recently
    /// (the per-user fault gate is closed, or its one probe is out).
    pub gate_refusals: Metric,
}

impl Metrics {
    pub fn define() -> Self {
        let p = "credential_injector.vault_per_user";
        Self {
            allowed: Metric::counter("credential_injector.allowed"),
            preflights: Metric::counter("credential_injector.preflight"),
            denied: ReasonCounters::define("credential_injector.denied", REASON_CODES),
            echo_stripped: Metric::counter("credential_injector.echo_stripped"),
            per_user: PerUserMetrics {
                logins: Metric::counter(&format!("{p}.logins")),
                reads: Metric::counter(&format!("{p}.reads")),
                cache_hits: Metric::counter(&format!("{p}.cache_hits")),
                cache_misses: Metric::counter(&format!("{p}.cache_misses")),
                coalesced: Metric::counter(&format!("{p}.coalesced")),
                gate_refusals: Metric::counter(&format!("{p}.gate_refusals")),
            },
        }
    }
}
