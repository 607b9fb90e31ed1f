//! Errors from Vault calls, and why a secret cannot be served.

use thiserror::Error;

/// A failed Vault call, classified from the HTTP status and body. Messages
/// carry Vault's own error text (truncated), never a token or secret value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VaultError {
    /// 403: the token is invalid, expired or lacks a policy; log in again.
    #[error("vault denied permission: {0}")]
    PermissionDenied(String),
    /// 400: bad request, e.g. invalid login credentials or an unknown lease.
    #[error("vault rejected the request: {0}")]
    BadRequest(String),
    /// 404: the path does not exist (missing secret, wrong mount).
    #[error("vault path not found")]
    NotFound,
    /// 429: Vault rate-limited the call; `retry_after_ms` from its
    /// `Retry-After` header (delta-seconds), when present.
    #[error("vault rate limited the request")]
    RateLimited { retry_after_ms: Option<u64> },
    /// 503 with a Vault error body: sealed or in standby.
    #[error("vault is sealed or unavailable: {0}")]
    Sealed(String),
    /// 500/502 or another 5xx from Vault.
    #[error("vault server error (status {status}): {message}")]
    ServerError { status: u16, message: String },
    /// Synthetic 503 from Envoy (no healthy upstream, connect failure) or a
    /// dispatch that could not be sent.
    #[error("vault is unreachable")]
    Unreachable,
    /// Synthetic 504 from Envoy, or no answer within the callout timeout.
    #[error("vault did not answer in time")]
    Timeout,
    /// Any other status.
    #[error("unexpected status {0} from vault")]
    UnexpectedStatus(u16),
    /// The body exceeds [`super::MAX_RESPONSE_BYTES`].
    #[error("vault response of {0} bytes is too large")]
    ResponseTooLarge(usize),
    /// The body is not the JSON shape the endpoint documents.
    #[error("malformed vault response: {0}")]
    Malformed(String),
    /// A configured field is absent from the secret's data.
    #[error("secret field `{0}` is missing")]
    FieldMissing(String),
    /// A configured field is an object, array or null, not text.
    #[error("secret field `{0}` is not a string or number")]
    FieldNotText(String),
    /// The login method cannot log in again (a fixed dev token was rejected).
    #[error("the configured token cannot be renewed by logging in again")]
    CannotRelogin,
}

/// Every code [`VaultError::reason`] returns.
pub const FAILURE_REASONS: &[&str] = &[
    "vault_permission_denied",
    "vault_bad_request",
    "vault_not_found",
    "vault_rate_limited",
    "vault_sealed",
    "vault_server_error",
    "vault_unreachable",
    "vault_timeout",
    "vault_unexpected_status",
    "vault_response_too_large",
    "vault_malformed_response",
    "secret_field_missing",
    "secret_field_not_text",
    "vault_token_rejected",
];

/// The static reason code equal to `code`, if it is one of [`FAILURE_REASONS`]
/// (codes read back from shared data).
pub fn known_reason(code: &str) -> Option<&'static str> {
    FAILURE_REASONS.iter().find(|r| **r == code).copied()
}

impl VaultError {
    /// A short snake_case code for logs, metrics and HTTP answers.
    pub fn reason(&self) -> &'static str {
        match self {
            VaultError::PermissionDenied(_) => "vault_permission_denied",
            VaultError::BadRequest(_) => "vault_bad_request",
            VaultError::NotFound => "vault_not_found",
            VaultError::RateLimited { .. } => "vault_rate_limited",
            VaultError::Sealed(_) => "vault_sealed",
            VaultError::ServerError { .. } => "vault_server_error",
            VaultError::Unreachable => "vault_unreachable",
            VaultError::Timeout => "vault_timeout",
            VaultError::UnexpectedStatus(_) => "vault_unexpected_status",
            VaultError::ResponseTooLarge(_) => "vault_response_too_large",
            VaultError::Malformed(_) => "vault_malformed_response",
            VaultError::FieldMissing(_) => "secret_field_missing",
            VaultError::FieldNotText(_) => "secret_field_not_text",
            VaultError::CannotRelogin => "vault_token_rejected",
        }
    }

    /// The token is no longer accepted: drop it and log in again.
    pub fn needs_relogin(&self) -> bool {
        matches!(self, VaultError::PermissionDenied(_))
    }

    /// The server as a whole is in trouble (sealed, rate limiting, down,
    /// slow, failing): every call would fail the same way, so the client
    /// backs off as a whole (see [`super::retry::ServerGate`]).
    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            VaultError::Sealed(_)
                | VaultError::RateLimited { .. }
                | VaultError::Unreachable
                | VaultError::Timeout
                | VaultError::ServerError { .. }
        )
    }

    /// How long the server asked us to wait (`Retry-After`), if it did.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            VaultError::RateLimited { retry_after_ms } => *retry_after_ms,
            _ => None,
        }
    }

    /// Attaches a parsed `Retry-After` to a rate-limit error; other errors
    /// are returned unchanged.
    pub fn with_retry_after(self, retry_after_ms: Option<u64>) -> Self {
        match self {
            VaultError::RateLimited { .. } if retry_after_ms.is_some() => {
                VaultError::RateLimited { retry_after_ms }
            }
            other => other,
        }
    }
}

/// Why a secret cannot be served right now (the request fails closed with 503).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnavailableReason {
    /// No secret of that name is configured.
    NotConfigured,
    /// Not fetched yet and no failure so far (start-up).
    NotLoaded,
    /// Fetching failed and no value was ever loaded.
    VaultUnavailable,
    /// The last value's lease (or its token) expired and no replacement arrived.
    Expired,
}

impl UnavailableReason {
    pub fn code(self) -> &'static str {
        match self {
            UnavailableReason::NotConfigured => "secret_not_configured",
            UnavailableReason::NotLoaded => "secret_not_loaded",
            UnavailableReason::VaultUnavailable => "vault_unavailable",
            UnavailableReason::Expired => "secret_expired",
        }
    }
}

/// The answer to "current value of secret X, or why not".
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("secret unavailable: {}", reason.code())]
pub struct Unavailable {
    pub reason: UnavailableReason,
    /// The reason code of the last Vault error, when one explains the gap.
    pub last_error: Option<&'static str>,
}

impl Unavailable {
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }
}
