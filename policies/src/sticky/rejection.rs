//! Why a sticky cookie was not honoured. A rejected cookie is not an error
//! for the request: it is ignored and replaced on the response.

use thiserror::Error;

/// Why a presented sticky cookie did not pin the request.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CookieRejection {
    /// The value is not `v1.<kid>.<base64url>`, is too long, or its sealed
    /// payload does not have the expected layout.
    #[error("the sticky cookie is malformed")]
    Malformed,
    /// The key id is not (or no longer) configured.
    #[error("the sticky cookie was sealed with an unknown key")]
    UnknownKey,
    /// Authentication failed: tampered, forged, or sealed for another cookie name.
    #[error("the sticky cookie does not decrypt")]
    Undecryptable,
    /// Its `expires_at` (wall clock) has passed.
    #[error("the sticky cookie has expired")]
    Expired,
    /// It is bound to another subject, or to a subject while none is verified.
    #[error("the sticky cookie belongs to another subject")]
    SubjectMismatch,
    /// It decrypted but names no routable `ip:port`.
    #[error("the sticky cookie names an unusable endpoint")]
    BadEndpoint,
}

impl CookieRejection {
    /// Short snake_case reason code for logs and HTTP answers.
    pub fn reason_code(self) -> &'static str {
        match self {
            Self::Malformed => "cookie_malformed",
            Self::UnknownKey => "cookie_unknown_key",
            Self::Undecryptable => "cookie_undecryptable",
            Self::Expired => "cookie_expired",
            Self::SubjectMismatch => "cookie_subject_mismatch",
            Self::BadEndpoint => "cookie_bad_endpoint",
        }
    }

    /// Every variant, for metric registration and tests.
    pub const ALL: [CookieRejection; 6] = [
        Self::Malformed,
        Self::UnknownKey,
        Self::Undecryptable,
        Self::Expired,
        Self::SubjectMismatch,
        Self::BadEndpoint,
    ];
}
