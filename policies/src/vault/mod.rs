//! Vault (OpenBao) client core: configuration, request builders, response
//! parsing and the token/secret lifecycle state machines.
//!
//! Architecture invariant: nothing here performs I/O. The host asks
//! [`VaultClient::next_actions`] what to send, turns each [`Action`] into a
//! [`VaultRequest`] with [`VaultClient::request_for`], dispatches it, and feeds
//! the status and body back through [`VaultClient::on_response`]. Requests
//! read secrets through [`VaultClient::secret`], which fails closed with a
//! reason code when no valid value exists.

mod client;
mod config;
mod error;
mod request;
mod response;
mod retry;
mod rfc3339;
mod secret_state;
mod snapshot;
mod token_state;
mod user_cache;
mod value;

pub use client::{Action, VaultClient};
pub(crate) use config::validate_path;
pub use config::{
    AuthDto, AuthMethod, Connection, ConnectionDto, EnvResolver, PerUserJwt, PerUserJwtDto,
    RetryDto, SecretDto, SecretKind, SecretKindDto, SecretSpec, VaultConfig, VaultConfigDto,
    DEFAULT_MAX_USERS,
};
pub use error::{known_reason, Unavailable, UnavailableReason, VaultError, FAILURE_REASONS};
pub use request::{Endpoint, HeaderValue, Method, VaultRequest};
pub use response::{
    parse_dynamic, parse_empty, parse_identity_token, parse_kv2, parse_lease_renew, parse_login,
    parse_lookup_self, parse_token_renew, parse_unwrap_secret_id, AuthInfo, DynamicSecret,
    Kv2Secret, Renewal, Reply, TokenInfo, MAX_RESPONSE_BYTES,
};
pub use retry::{parse_retry_after, retry_delay_ms, ServerGate};
pub use secret_state::{Fetched, SecretAction, SecretState};
pub use snapshot::{OwnerLease, SecretFailure, SecretSnapshot, SharedState};
pub use token_state::{TokenAction, TokenState};
pub use user_cache::UserTokenCache;
pub use value::SecretValue;

/// Fraction of a TTL at which a renewal is scheduled: uniform in this range.
pub const RENEW_FRACTION: (f64, f64) = (0.6, 0.75);
/// Fraction of the remaining lifetime at which a replacement is fetched when a
/// lease cannot be renewed any further.
pub const REPLACE_FRACTION: (f64, f64) = (0.8, 0.9);
/// Default backoff for failed Vault calls: 1 s doubling up to 5 min, with
/// jitter (configurable as `retry`).
pub const RETRY_BACKOFF: crate::backoff::Backoff = crate::backoff::Backoff::new(1_000, 300_000);

/// Something that expires is renewed or replaced at least this long before
/// its end (at most half its life): the owner VM ticks once a second, the
/// other VMs adopt the result on their next tick, and the call takes time.
/// Only matters for short TTLs; with minutes the fractions decide.
pub const EXPIRY_MARGIN_MS: u64 = 3_000;

/// With this little left, act at once: a later tick may come too late.
pub const ACT_NOW_BELOW_MS: u64 = 2_000;

/// Like [`jittered`] for a point before an expiry `span_ms` away: never
/// later than [`EXPIRY_MARGIN_MS`] (or 3/4 of the span) before the end, and
/// at once when less than [`ACT_NOW_BELOW_MS`] is left.
pub(crate) fn before_expiry(
    span_ms: u64,
    range: (f64, f64),
    rng: &mut dyn crate::env::Random,
) -> u64 {
    if span_ms <= ACT_NOW_BELOW_MS {
        return 0;
    }
    let margin = EXPIRY_MARGIN_MS.min(span_ms / 4 * 3);
    jittered(span_ms, range, rng).min(span_ms.saturating_sub(margin))
}

/// A point `fraction` (drawn uniformly from `range`) of the way through `span_ms`.
pub(crate) fn jittered(span_ms: u64, range: (f64, f64), rng: &mut dyn crate::env::Random) -> u64 {
    let f = range.0 + (range.1 - range.0) * rng.unit();
    (span_ms as f64 * f) as u64
}
