//! JWT verification core (RFC 7515/7517/7518/7519, RFC 8725 best practices).
//!
//! Flow: [`KeySet::from_jwks`] compiles a provider's JWKS once per fetch;
//! [`verify_token`] checks one bearer token against it: strict compact-JWS
//! parsing ([`token`]), the provider's algorithm allow-list, key selection by
//! `kid` (an unknown kid is reported as [`JwtError::UnknownKid`] so the caller
//! can refetch the JWKS, rate-limited), signature verification
//! ([`verify_signature_with`], optionally offloaded to the host through a
//! [`SignatureBackend`]) and claim checks ([`ClaimsPolicy`]).
//!
//! Keys named inside the token (`jwk`, `jku`, `x5u`, `x5c`) are never used.
//! Symmetric (`oct`) keys come only from configuration ([`Jwk::hmac_secret`]).

pub mod alg;
pub mod b64;
pub mod claims;
pub mod der;
pub mod error;
pub mod host_verify;
pub mod jwks;
pub mod key;
pub mod large_curve;
mod roca;
pub mod signature;
pub mod token;
pub mod verifier;

pub use alg::{parse_alg_list, Algorithm, Hash, KeyKind};
pub use claims::{ClaimsPolicy, RegisteredClaims};
pub use der::ecdsa_raw_to_der;
pub use error::JwtError;
pub use host_verify::{HostCapabilities, HostVerifier};
pub use jwks::{JwksLimits, KeySet, SkippedKey};
pub use key::{Jwk, KeyMaterial, SkipReason};
pub use large_curve::{LargeCurve, LargeCurveKey};
pub use signature::{verify_signature, verify_signature_with, InVm, SignatureBackend};
pub use token::{Header, UnverifiedJws, DEFAULT_MAX_TOKEN_BYTES};
pub use verifier::{
    verify_jws, verify_parsed_token, verify_token, TokenPolicy, VerifiedJws, VerifiedToken,
};

#[cfg(test)]
mod tests;

/// A stand-in for the host's `verify_signature`, shared with `tests/wycheproof.rs`.
#[cfg(test)]
#[path = "../../tests/support/reference_host.rs"]
mod reference_host;
