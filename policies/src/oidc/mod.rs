//! The oidc-auth decision: which provider, which rule, allow or deny.
//!
//! Raw config ([`config::OidcConfig`]) → compiled [`policy::OidcPolicy`] →
//! [`policy::OidcPolicy::decide`] per request. Keys arrive through
//! [`decide::KeyLookup`]; the filter fetches them following [`fetch_plan`].

pub mod answer;
pub mod config;
pub mod decide;
pub mod discovery;
pub mod fetch_plan;
pub mod policy;
pub mod token_cache;
pub mod token_source;

pub use config::{load, OidcConfig};
pub use decide::{Allowed, CacheUse, KeyLookup, KeyState, RequestFacts, Verdict};
pub use policy::OidcPolicy;

/// Every denial reason code and outcome the plugin counts, for metric definitions.
pub const REASONS: &[&str] = &[
    "missing_token",
    "ambiguous_token",
    "token_source_not_allowed",
    "unknown_issuer",
    "provider_not_allowed",
    "insufficient_claims",
    "no_matching_rule",
    "suspicious_path",
    "keys_not_loaded",
    "keys_too_stale",
    "malformed_token",
    "token_too_large",
    "unsupported_alg",
    "alg_not_allowed",
    "unknown_kid",
    "no_matching_key",
    "alg_needs_host_crypto",
    "bad_signature",
    "token_expired",
    "token_not_yet_valid",
    "token_too_old",
    "bad_issuer",
    "bad_audience",
    "bad_claim_type",
    "missing_claim",
    "unsupported_crit",
    "encrypted_token_unsupported",
];

#[cfg(test)]
mod tests;
