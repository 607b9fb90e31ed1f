//! The plugin's metrics (`/stats`: `wasmcustom.oidc_auth.*`), defined once per VM.

use mesh_host::metrics::{Metric, ReasonCounters};

pub struct Metrics {
    pub allowed: Metric,
    pub denied: ReasonCounters,
    pub cache_hit: Metric,
    pub cache_miss: Metric,
    pub jwks_fetch_ok: Metric,
    pub jwks_fetch_failed: ReasonCounters,
    pub jwks_stale_served: Metric,
    pub jwks_refetch_unknown_kid: Metric,
    /// 1 = RSA on the host, 2 = ECDSA on the host, 3 = both, 0 = all in the VM.
    pub host_crypto: Metric,
}

/// Reasons a JWKS fetch fails (see `policies::oidc::fetch_plan`).
pub const FETCH_FAILURES: &[&str] = &[
    "idp_unreachable",
    "idp_unavailable",
    "idp_timeout",
    "idp_error_status",
    "discovery_malformed",
    "discovery_issuer_mismatch",
    "discovery_bad_jwks_uri",
    "discovery_too_large",
    "jwks_no_usable_key",
    "jwks_too_large",
    "malformed_jwks",
    "dispatch_failed",
];

impl Metrics {
    pub fn define() -> Self {
        Self {
            allowed: Metric::counter("oidc_auth.allowed"),
            denied: ReasonCounters::define("oidc_auth.denied", policies::oidc::REASONS),
            cache_hit: Metric::counter("oidc_auth.token_cache.hit"),
            cache_miss: Metric::counter("oidc_auth.token_cache.miss"),
            jwks_fetch_ok: Metric::counter("oidc_auth.jwks.fetch_ok"),
            jwks_fetch_failed: ReasonCounters::define(
                "oidc_auth.jwks.fetch_failed",
                FETCH_FAILURES,
            ),
            jwks_stale_served: Metric::counter("oidc_auth.jwks.stale_served"),
            jwks_refetch_unknown_kid: Metric::counter("oidc_auth.jwks.refetch_unknown_kid"),
            host_crypto: Metric::gauge("oidc_auth.host_signature_verification"),
        }
    }
}
