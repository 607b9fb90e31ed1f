//! Why a per-user credential cannot be had, mapped to one HTTP answer.

/// A per-user credential failure. Carries reason codes only, never a token,
/// a subject or a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserVaultError {
    /// No JWT to log in with in the credential's `token_sources` (default
    /// `Authorization: Bearer`), or two of them.
    #[error("the request carries no bearer token to log in to Vault with")]
    TokenMissing,
    /// The bearer token is not the one oidc-auth verified (other issuer,
    /// subject or expiry).
    #[error("the bearer token does not belong to the verified identity")]
    TokenMismatch,
    /// The subject cannot be put in a Vault path (`/`, `..`, control characters).
    #[error("the user's subject cannot be used in a Vault path")]
    SubjectNotUsable,
    /// Vault's JWT login refused the user's token (400: invalid, expired,
    /// claims not bound to the role).
    #[error("Vault refused to log the user in")]
    LoginRejected,
    /// Vault answered 403: its policies do not let this user log in or read.
    #[error("Vault denies this user access to the credential")]
    Denied,
    /// Vault answered 404: the user may read the path but nothing is there.
    #[error("the user has no credential in Vault")]
    SecretMissing,
    /// Vault cannot be reached or answered with an error (the Vault reason code).
    #[error("Vault is unavailable ({0})")]
    Unavailable(&'static str),
    /// Vault failed recently (the reason code of its last fault): no call
    /// goes out until the backoff has passed.
    #[error("Vault is unavailable ({0}); not asked again before the backoff ends")]
    BackingOff(&'static str),
    /// Too many requests of this user already wait for its credential.
    #[error("too many requests wait for this user's credential")]
    Busy,
    /// The secret exists but lacks a configured field or has a non-text one.
    #[error("the user's credential is unusable ({0})")]
    Invalid(&'static str),
}

impl UserVaultError {
    pub fn status(&self) -> u16 {
        match self {
            Self::TokenMissing | Self::TokenMismatch | Self::LoginRejected => 401,
            Self::SubjectNotUsable | Self::Denied | Self::SecretMissing => 403,
            Self::Unavailable(_) | Self::BackingOff(_) | Self::Busy | Self::Invalid(_) => 503,
        }
    }

    /// The reason code of the answer (`credential_injector.denied.<code>`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TokenMissing => "user_token_missing",
            Self::TokenMismatch => "user_token_mismatch",
            Self::SubjectNotUsable => "subject_not_usable",
            Self::LoginRejected => "vault_login_rejected",
            Self::Denied => "vault_denied",
            Self::SecretMissing => "user_secret_missing",
            Self::Unavailable(_) | Self::BackingOff(_) => "credential_unavailable",
            Self::Busy => "credential_busy",
            Self::Invalid(_) => "credential_invalid",
        }
    }

    /// The reason codes [`Self::code`] can return that are new to the injector.
    pub const CODES: &'static [&'static str] = &[
        "user_token_missing",
        "user_token_mismatch",
        "subject_not_usable",
        "vault_login_rejected",
        "vault_denied",
        "user_secret_missing",
        "credential_busy",
    ];
}
