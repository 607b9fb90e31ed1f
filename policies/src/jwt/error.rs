//! The one error type of the JWT core, mapped to short reason codes.

/// Why a token (or a JWKS document, or a configured key) was rejected.
///
/// Messages are fixed strings: no variant ever carries token text, claim
/// values or key material, so errors are safe to log and to return.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is not a well-formed compact JWS (segments, base64url, JSON).
    #[error("malformed token: {0}")]
    MalformedToken(&'static str),
    /// The token is longer than the configured limit.
    #[error("token larger than {limit} bytes")]
    TokenTooLarge { limit: usize },
    /// The token is a JWE (five segments); only signed tokens are accepted.
    #[error("encrypted tokens (JWE) are not supported")]
    EncryptedTokenUnsupported,
    /// The header `alg` is missing, unknown, or `none` (in any casing).
    #[error("unsupported signature algorithm")]
    UnsupportedAlg,
    /// The header `alg` is known but not in the provider's allowed list.
    #[error("signature algorithm not allowed for this provider")]
    AlgNotAllowed,
    /// The header has a `crit` parameter; we understand no extension.
    #[error("unsupported critical header parameter")]
    UnsupportedCrit,
    /// No key in the key set has the token's `kid` (the JWKS may need a refetch).
    #[error("no key with the token's kid")]
    UnknownKid,
    /// Keys exist, but none fits the token's algorithm (type, curve or JWK `alg`).
    #[error("no key matches the token's algorithm")]
    NoMatchingKey,
    /// ES384/ES512 in a build without in-VM P-384/P-521, and the host's
    /// `verify_signature` is off or failed its self-test.
    #[error("ES384/ES512 need the proxy's verify_signature in this build")]
    AlgNeedsHostCrypto,
    /// The signature does not verify with any candidate key.
    #[error("signature verification failed")]
    BadSignature,
    /// `exp` is in the past (beyond the allowed clock skew).
    #[error("token expired")]
    TokenExpired,
    /// `nbf` or `iat` is in the future (beyond the allowed clock skew).
    #[error("token not yet valid")]
    TokenNotYetValid,
    /// `iat` is older than the configured maximum age.
    #[error("token too old")]
    TokenTooOld,
    /// `iss` is missing or differs from the configured issuer.
    #[error("issuer mismatch")]
    BadIssuer,
    /// `aud` is missing, empty, or names none of the configured audiences.
    #[error("audience mismatch")]
    BadAudience,
    /// A registered claim has the wrong JSON type (e.g. a string `exp`).
    #[error("claim `{0}` has the wrong type")]
    BadClaimType(&'static str),
    /// A claim the policy requires (e.g. `exp`) is absent.
    #[error("required claim `{0}` is missing")]
    MissingClaim(&'static str),
    /// A configured key cannot be used (e.g. an HMAC secret shorter than the hash).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The JWKS document is not a JSON object with a `keys` array.
    #[error("malformed JWKS: {0}")]
    MalformedJwks(&'static str),
    /// The JWKS document is larger than the configured limit.
    #[error("JWKS larger than {limit} bytes")]
    JwksTooLarge { limit: usize },
}

impl JwtError {
    /// Short snake_case code for metrics, logs and HTTP answers.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MalformedToken(_) => "malformed_token",
            Self::TokenTooLarge { .. } => "token_too_large",
            Self::EncryptedTokenUnsupported => "encrypted_token_unsupported",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::UnsupportedCrit => "unsupported_crit",
            Self::UnknownKid => "unknown_kid",
            Self::NoMatchingKey => "no_matching_key",
            Self::AlgNeedsHostCrypto => "alg_needs_host_crypto",
            Self::BadSignature => "bad_signature",
            Self::TokenExpired => "token_expired",
            Self::TokenNotYetValid => "token_not_yet_valid",
            Self::TokenTooOld => "token_too_old",
            Self::BadIssuer => "bad_issuer",
            Self::BadAudience => "bad_audience",
            Self::BadClaimType(_) => "bad_claim_type",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidKey(_) => "invalid_key",
            Self::MalformedJwks(_) => "malformed_jwks",
            Self::JwksTooLarge { .. } => "jwks_too_large",
        }
    }
}
