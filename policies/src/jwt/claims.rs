//! Registered claims (RFC 7519 §4.1) checked against a policy and a clock.

use super::error::JwtError;
use crate::env::Now;
use serde_json::{Map, Value};

/// What the claims of a verified token must satisfy.
#[derive(Clone, Debug)]
pub struct ClaimsPolicy {
    /// Expected `iss`, compared exactly. `None` skips the check.
    pub issuer: Option<String>,
    /// At least one must appear in `aud`. Empty skips the check.
    pub audiences: Vec<String>,
    /// Reject tokens without `exp` (default true).
    pub require_exp: bool,
    /// Allowed clock skew for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// Reject tokens whose `iat` is older than this (requires `iat`).
    pub max_age_secs: Option<u64>,
}

impl Default for ClaimsPolicy {
    fn default() -> Self {
        Self {
            issuer: None,
            audiences: Vec::new(),
            require_exp: true,
            leeway_secs: 60,
            max_age_secs: None,
        }
    }
}

/// The validated registered claims we hand back.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisteredClaims {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// `exp` in whole seconds since the epoch (fractions truncated).
    pub expires_at: Option<u64>,
    /// Until when (whole seconds, exclusive) these checks may be taken as
    /// passed: `expires_at`, or sooner when `max_age_secs` (plus the leeway)
    /// refuses the token first. None without `exp`.
    pub valid_until: Option<u64>,
}

// Far beyond any real date; keeps the ms arithmetic below in range.
const MAX_DATE_SECS: f64 = 1e13;

/// Reads a NumericDate (RFC 7519 §2): a JSON number, possibly fractional,
/// never negative. Anything else is `bad_claim_type`, so a string `exp` can
/// never skip the check. Returns milliseconds, saturating far in the future.
fn numeric_date_ms(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, JwtError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let secs = value.as_f64().ok_or(JwtError::BadClaimType(name))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(JwtError::BadClaimType(name));
    }
    // `as` saturates for floats; the clamp keeps the product exact enough.
    Ok(Some((secs.min(MAX_DATE_SECS) * 1000.0) as u64))
}

fn optional_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwtError::BadClaimType(name)),
    }
}

/// Checks the time claims, issuer and audience. Type errors are reported
/// before policy failures so that malformed claims are never mistaken for
/// absent ones.
pub fn validate(
    claims: &Map<String, Value>,
    policy: &ClaimsPolicy,
    now: Now,
) -> Result<RegisteredClaims, JwtError> {
    let exp = numeric_date_ms(claims, "exp")?;
    let nbf = numeric_date_ms(claims, "nbf")?;
    let iat = numeric_date_ms(claims, "iat")?;
    let issuer = optional_string(claims, "iss")?;
    let subject = optional_string(claims, "sub")?;
    let audiences = audiences(claims)?;

    let leeway = policy.leeway_secs.saturating_mul(1000);
    let now_ms = now.unix_ms;
    match exp {
        // RFC 7519 §4.1.4: reject "on or after" exp.
        Some(exp) if now_ms >= exp.saturating_add(leeway) => return Err(JwtError::TokenExpired),
        None if policy.require_exp => return Err(JwtError::MissingClaim("exp")),
        _ => {}
    }
    if nbf.is_some_and(|nbf| now_ms.saturating_add(leeway) < nbf) {
        return Err(JwtError::TokenNotYetValid);
    }
    if iat.is_some_and(|iat| now_ms.saturating_add(leeway) < iat) {
        return Err(JwtError::TokenNotYetValid);
    }
    // The last millisecond `max_age_secs` accepts the token.
    let mut too_old_after_ms = None;
    if let Some(max_age) = policy.max_age_secs {
        let iat = iat.ok_or(JwtError::MissingClaim("iat"))?;
        let limit = iat.saturating_add(max_age.saturating_mul(1000).saturating_add(leeway));
        if now_ms > limit {
            return Err(JwtError::TokenTooOld);
        }
        too_old_after_ms = Some(limit);
    }
    if let Some(expected) = &policy.issuer {
        if issuer.as_deref() != Some(expected.as_str()) {
            return Err(JwtError::BadIssuer);
        }
    }
    if !policy.audiences.is_empty()
        && !audiences
            .iter()
            .any(|a| policy.audiences.iter().any(|p| p == a))
    {
        return Err(JwtError::BadAudience);
    }
    let expires_at = exp.map(|ms| ms / 1000);
    // Whole seconds, rounded down: a second that ends after the limit is not
    // part of it (a cache checks `now_secs < valid_until`).
    let valid_until = match (expires_at, too_old_after_ms) {
        (Some(exp), Some(limit)) => Some(exp.min(limit / 1000)),
        (exp, _) => exp,
    };
    Ok(RegisteredClaims {
        issuer,
        subject,
        expires_at,
        valid_until,
    })
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, JwtError> {
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or(JwtError::BadClaimType("aud")))
            .collect(),
        Some(_) => Err(JwtError::BadClaimType("aud")),
    }
}
