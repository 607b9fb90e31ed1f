//! The whole check of one bearer token: parse → algorithm policy → key
//! selection → signature → claims.

use super::alg::Algorithm;
use super::claims::{self, ClaimsPolicy};
use super::error::JwtError;
use super::jwks::KeySet;
use super::signature::{verify_signature_with, SignatureBackend};
use super::token::{self, Header, UnverifiedJws, DEFAULT_MAX_TOKEN_BYTES};
use crate::env::Now;
use crate::json::parse_untrusted;
use serde_json::{Map, Value};

/// Per-provider token policy, compiled once from configuration.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// Algorithms this provider may use; anything else is `alg_not_allowed`.
    pub allowed_algs: Vec<Algorithm>,
    /// Largest token accepted, in bytes.
    pub max_token_bytes: usize,
    /// How many keys of the right type a token without `kid` may be tried against.
    pub max_untagged_keys: usize,
    pub claims: ClaimsPolicy,
}

impl TokenPolicy {
    pub fn new(allowed_algs: Vec<Algorithm>, claims: ClaimsPolicy) -> Self {
        Self {
            allowed_algs,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_untagged_keys: 2,
            claims,
        }
    }
}

/// A token whose signature verified, before claim checks.
#[derive(Clone, Debug)]
pub struct VerifiedJws {
    pub header: Header,
    pub payload: Vec<u8>,
}

/// A token that passed every check.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedToken {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub claims: Map<String, Value>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// `exp`, in whole seconds since the epoch.
    pub expires_at: Option<u64>,
    /// The longest a cache may reuse this verification (whole seconds,
    /// exclusive): `exp`, or sooner when the token becomes too old
    /// (`max_age_secs`); None without `exp`. See [`claims::RegisteredClaims`].
    pub valid_until: Option<u64>,
}

/// Parses the token and verifies its signature with the provider's keys.
pub fn verify_jws(
    token: &str,
    keys: &KeySet,
    policy: &TokenPolicy,
    backend: &dyn SignatureBackend,
) -> Result<VerifiedJws, JwtError> {
    let jws = token::parse(token, policy.max_token_bytes)?;
    verify_parsed_jws(jws, keys, policy, backend)
}

/// Verifies the signature of an already parsed token with the provider's keys.
fn verify_parsed_jws(
    jws: UnverifiedJws<'_>,
    keys: &KeySet,
    policy: &TokenPolicy,
    backend: &dyn SignatureBackend,
) -> Result<VerifiedJws, JwtError> {
    let alg = jws.header.alg;
    if !policy.allowed_algs.contains(&alg) {
        return Err(JwtError::AlgNotAllowed);
    }
    let kid = jws.header.kid.as_deref();
    let candidates = keys.candidates(kid, alg, policy.max_untagged_keys)?;
    let mut last = JwtError::BadSignature;
    for key in candidates {
        match verify_signature_with(
            backend,
            alg,
            key,
            jws.signing_input.as_bytes(),
            &jws.signature,
        ) {
            Ok(()) => {
                return Ok(VerifiedJws {
                    header: jws.header,
                    payload: jws.payload,
                })
            }
            Err(e) => last = e,
        }
    }
    // A kid no key carries, and no key without a kid verified it: the issuer
    // may have rotated its keys, so the caller may still refetch them.
    if kid.is_some_and(|kid| !keys.has_kid(kid)) {
        return Err(JwtError::UnknownKid);
    }
    Err(last)
}

/// The full check: signature, then the payload as a JSON object, then claims.
pub fn verify_token(
    token: &str,
    keys: &KeySet,
    policy: &TokenPolicy,
    now: Now,
    backend: &dyn SignatureBackend,
) -> Result<VerifiedToken, JwtError> {
    let jws = verify_jws(token, keys, policy, backend)?;
    // Read as oidc-auth reads it (`parse_for_provider`): a claim named twice
    // is refused here too. As a `Value` first: a typed `Map` would link
    // serde's float printer (≈ 15 KB) for an error message we do not show.
    let Ok(Value::Object(claims)) = parse_untrusted(&jws.payload) else {
        return Err(JwtError::MalformedToken("payload is not a JSON object"));
    };
    check_claims(jws.header, claims, policy, now)
}

/// The full check of a token the caller already parsed, with its payload
/// already read as `claims` (oidc-auth reads them first to choose the
/// provider by `iss`): size, signature, then claims.
pub fn verify_parsed_token(
    jws: UnverifiedJws<'_>,
    claims: Map<String, Value>,
    keys: &KeySet,
    policy: &TokenPolicy,
    now: Now,
    backend: &dyn SignatureBackend,
) -> Result<VerifiedToken, JwtError> {
    if jws.len > policy.max_token_bytes {
        return Err(JwtError::TokenTooLarge {
            limit: policy.max_token_bytes,
        });
    }
    let jws = verify_parsed_jws(jws, keys, policy, backend)?;
    check_claims(jws.header, claims, policy, now)
}

fn check_claims(
    header: Header,
    claims: Map<String, Value>,
    policy: &TokenPolicy,
    now: Now,
) -> Result<VerifiedToken, JwtError> {
    let registered = claims::validate(&claims, &policy.claims, now)?;
    Ok(VerifiedToken {
        alg: header.alg,
        kid: header.kid,
        typ: header.typ,
        claims,
        issuer: registered.issuer,
        subject: registered.subject,
        expires_at: registered.expires_at,
        valid_until: registered.valid_until,
    })
}
