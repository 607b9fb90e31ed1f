//! Parsing Vault answers. Bodies come from the network (or from Envoy when
//! Vault is down): size-limited, never trusted, never a panic.

use super::config::IDENTITY_TOKEN_FIELDS;
use super::error::VaultError;
use super::rfc3339::parse_rfc3339;
use super::value::SecretValue;
use crate::json::{from_json, read_untrusted};
use crate::secret::Secret;
use serde_json::{Map, Value};

/// Larger bodies are refused before parsing. The host should also cap what it
/// reads from the callout (`get_http_call_response_body(0, MAX_RESPONSE_BYTES + 1)`).
pub const MAX_RESPONSE_BYTES: usize = 128 * 1024;
const MAX_MESSAGE_CHARS: usize = 200;

/// One Vault answer as the host received it.
#[derive(Clone, Copy, Debug)]
pub struct Reply<'a> {
    /// `:status`; Envoy synthesizes 503 (no endpoint) and 504 (timeout).
    pub status: u16,
    /// The raw `Retry-After` header, when present.
    pub retry_after: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// The common success envelope; unknown fields are ignored (Vault adds some).
#[derive(Default)]
struct Envelope {
    lease_id: Option<String>,
    renewable: Option<bool>,
    lease_duration: Option<u64>,
    data: Option<Value>,
    auth: Option<AuthBody>,
    warnings: Option<Vec<Value>>,
}

from_json!(
    #[ignore_unknown]
    Envelope {
        lease_id: optional,
        renewable: optional,
        lease_duration: optional,
        data: optional,
        auth: optional,
        warnings: optional,
    }
);

struct AuthBody {
    client_token: Option<String>,
    accessor: Option<String>,
    policies: Option<Vec<String>>,
    lease_duration: Option<u64>,
    renewable: Option<bool>,
    entity_id: Option<String>,
    token_type: Option<String>,
}

from_json!(
    #[ignore_unknown]
    AuthBody {
        client_token: optional,
        accessor: optional,
        policies: optional,
        lease_duration: optional,
        renewable: optional,
        entity_id: optional,
        token_type: optional,
    }
);

struct ErrorBody {
    errors: Vec<Value>,
}

from_json!(
    #[ignore_unknown]
    ErrorBody { errors }
);

/// A successful login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthInfo {
    pub client_token: Secret,
    pub accessor: String,
    pub policies: Vec<String>,
    /// Token TTL in seconds; 0 means the token never expires (root).
    pub lease_duration_s: u64,
    pub renewable: bool,
    pub entity_id: String,
    pub token_type: String,
}

/// A KV v2 read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kv2Secret {
    pub version: u64,
    /// `metadata.created_time` of this version, Unix ms; `None` when absent
    /// or unreadable. Orders a secret re-created after `kv metadata delete`
    /// (versions restart at 1) after the purged one.
    pub created_ms: Option<u64>,
    pub value: SecretValue,
}

/// A dynamic secret read (e.g. `database/creds/<role>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicSecret {
    /// `None` when Vault attached no lease.
    pub lease_id: Option<String>,
    pub renewable: bool,
    pub lease_duration_s: u64,
    pub value: SecretValue,
    /// How long the value itself is valid when it carries no lease (an
    /// identity token's `data.ttl`), seconds.
    pub valid_for_s: Option<u64>,
}

/// The answer to a lease or token renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renewal {
    /// TTL granted, in seconds.
    pub lease_duration_s: u64,
    pub renewable: bool,
    /// Vault capped the TTL (max_ttl reached): the next renewal will not help.
    pub truncated: bool,
}

/// `auth/token/lookup-self` data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// Remaining TTL in seconds; 0 means it never expires.
    pub ttl_s: u64,
    pub renewable: bool,
}

/// Status + body → the success envelope, or the classified error.
fn envelope(status: u16, body: &[u8]) -> Result<Envelope, VaultError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(VaultError::ResponseTooLarge(body.len()));
    }
    if (200..300).contains(&status) {
        if status == 204 || body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Envelope::default());
        }
        return read_untrusted(body).map_err(VaultError::Malformed);
    }
    let vault_errors = read_untrusted::<ErrorBody>(body)
        .ok()
        .map(|e| messages(&e.errors));
    let message = vault_errors.clone().unwrap_or_default();
    Err(match status {
        400 => VaultError::BadRequest(message),
        403 => VaultError::PermissionDenied(message),
        404 => VaultError::NotFound,
        429 => VaultError::RateLimited {
            retry_after_ms: None,
        },
        // Vault answers 503 with its JSON error body; Envoy's own 503 (no
        // healthy upstream, connect failure) is plain text.
        503 => match vault_errors {
            Some(m) => VaultError::Sealed(m),
            None => VaultError::Unreachable,
        },
        504 => VaultError::Timeout,
        500..=599 => VaultError::ServerError { status, message },
        other => VaultError::UnexpectedStatus(other),
    })
}

/// Vault's error strings, joined, stripped of control characters, truncated.
fn messages(errors: &[Value]) -> String {
    let joined = errors
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("; ");
    joined
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

fn malformed(what: &str) -> VaultError {
    VaultError::Malformed(format!("missing or invalid `{what}`"))
}

fn data_map(data: Option<Value>, what: &str) -> Result<Map<String, Value>, VaultError> {
    match data {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(malformed(what)),
    }
}

/// A login answer (`auth/<mount>/login`): requires `auth.client_token`.
pub fn parse_login(status: u16, body: &[u8]) -> Result<AuthInfo, VaultError> {
    let auth = envelope(status, body)?
        .auth
        .ok_or_else(|| malformed("auth"))?;
    let token = auth
        .client_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed("auth.client_token"))?;
    Ok(AuthInfo {
        client_token: Secret::new(token),
        accessor: auth.accessor.unwrap_or_default(),
        policies: auth.policies.unwrap_or_default(),
        lease_duration_s: auth.lease_duration.unwrap_or(0),
        renewable: auth.renewable.unwrap_or(false),
        entity_id: auth.entity_id.unwrap_or_default(),
        token_type: auth.token_type.unwrap_or_default(),
    })
}

/// `sys/wrapping/unwrap` of a wrapped AppRole secret-id: `data.secret_id`.
pub fn parse_unwrap_secret_id(status: u16, body: &[u8]) -> Result<Secret, VaultError> {
    let data = data_map(envelope(status, body)?.data, "data")?;
    match data.get("secret_id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(Secret::new(s.clone())),
        _ => Err(malformed("data.secret_id")),
    }
}

/// A KV v2 read: `data.data` (fields picked from it), `data.metadata.version`
/// and `data.metadata.created_time`.
pub fn parse_kv2(status: u16, body: &[u8], fields: &[String]) -> Result<Kv2Secret, VaultError> {
    let mut outer = data_map(envelope(status, body)?.data, "data")?;
    let metadata = outer.get("metadata");
    let version = metadata
        .and_then(|m| m.get("version"))
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("data.metadata.version"))?;
    // Only an ordering hint: without it the version alone orders reads (as
    // before), so an unreadable one does not fail the read.
    let created_ms = metadata
        .and_then(|m| m.get("created_time"))
        .and_then(Value::as_str)
        .and_then(|t| parse_rfc3339(t).ok());
    let inner = data_map(outer.remove("data"), "data.data")?;
    Ok(Kv2Secret {
        version,
        created_ms,
        value: SecretValue::select(&inner, fields)?,
    })
}

/// A dynamic secret: top-level lease fields and `data`.
pub fn parse_dynamic(
    status: u16,
    body: &[u8],
    fields: &[String],
) -> Result<DynamicSecret, VaultError> {
    let env = envelope(status, body)?;
    let data = data_map(env.data, "data")?;
    Ok(DynamicSecret {
        lease_id: env.lease_id.filter(|l| !l.is_empty()),
        renewable: env.renewable.unwrap_or(false),
        lease_duration_s: env.lease_duration.unwrap_or(0),
        value: SecretValue::select(&data, fields)?,
        valid_for_s: None,
    })
}

/// `identity/oidc/token/<role>`: `data{token, client_id, ttl}`, no lease.
/// The token is valid for `ttl` seconds from now.
pub fn parse_identity_token(status: u16, body: &[u8]) -> Result<DynamicSecret, VaultError> {
    let env = envelope(status, body)?;
    let data = data_map(env.data, "data")?;
    let ttl = data
        .get("ttl")
        .and_then(Value::as_u64)
        .filter(|ttl| *ttl > 0)
        .ok_or_else(|| malformed("data.ttl"))?;
    let fields = IDENTITY_TOKEN_FIELDS.map(str::to_string);
    Ok(DynamicSecret {
        lease_id: None,
        renewable: false,
        lease_duration_s: 0,
        value: SecretValue::select(&data, &fields)?,
        valid_for_s: Some(ttl),
    })
}

/// `sys/leases/renew`: top-level `lease_duration`; truncation detected from
/// `warnings` or from a grant shorter than `requested_s`.
pub fn parse_lease_renew(
    status: u16,
    body: &[u8],
    requested_s: u64,
) -> Result<Renewal, VaultError> {
    let env = envelope(status, body)?;
    let granted = env
        .lease_duration
        .ok_or_else(|| malformed("lease_duration"))?;
    Ok(Renewal {
        lease_duration_s: granted,
        renewable: env.renewable.unwrap_or(false),
        truncated: truncated(env.warnings.as_deref(), granted, requested_s),
    })
}

/// `auth/token/renew-self`: `auth.lease_duration`, `auth.renewable`.
pub fn parse_token_renew(
    status: u16,
    body: &[u8],
    requested_s: u64,
) -> Result<Renewal, VaultError> {
    let env = envelope(status, body)?;
    let auth = env.auth.ok_or_else(|| malformed("auth"))?;
    let granted = auth
        .lease_duration
        .ok_or_else(|| malformed("auth.lease_duration"))?;
    Ok(Renewal {
        lease_duration_s: granted,
        renewable: auth.renewable.unwrap_or(false),
        truncated: truncated(env.warnings.as_deref(), granted, requested_s),
    })
}

/// `auth/token/lookup-self`: `data.ttl`, `data.renewable`.
pub fn parse_lookup_self(status: u16, body: &[u8]) -> Result<TokenInfo, VaultError> {
    let data = data_map(envelope(status, body)?.data, "data")?;
    let ttl_s = data
        .get("ttl")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("data.ttl"))?;
    let renewable = data
        .get("renewable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(TokenInfo { ttl_s, renewable })
}

/// An empty-bodied success such as `sys/leases/revoke` (204).
pub fn parse_empty(status: u16, body: &[u8]) -> Result<(), VaultError> {
    envelope(status, body).map(|_| ())
}

fn truncated(warnings: Option<&[Value]>, granted_s: u64, requested_s: u64) -> bool {
    let warned = warnings
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .any(|w| {
            let w = w.to_ascii_lowercase();
            w.contains("capped") || w.contains("max_ttl") || w.contains("max ttl")
        });
    warned || (requested_s > 0 && granted_s < requested_s)
}

#[cfg(test)]
mod tests;
