//! OAuth2 client-credentials tokens for backends: the request to the token
//! endpoint, parsing its answer, and a cache that refreshes before expiry.
//!
//! One VM (the lease holder) fetches; the others adopt its snapshot from
//! shared data, exactly as for Vault secrets.

use super::credential::CredentialUnavailable;
use crate::backoff::Backoff;
use crate::env::{Now, Random};
use crate::json::{from_json, read_untrusted};
use crate::secret::Secret;
use base64::Engine;
use serde::Serialize;

/// Largest token endpoint answer read.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// Assumed lifetime when the endpoint omits `expires_in` (RFC 6749 §5.1: RECOMMENDED).
const DEFAULT_TTL_S: u64 = 300;
/// An in-flight fetch unanswered this long past its timeout is given up.
const LOST_CALL_GRACE_MS: u64 = 5_000;
const RETRY: Backoff = Backoff::new(1_000, 60_000);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlenc(id):urlenc(secret))` (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// A compiled OAuth2 client (credentials resolved from the environment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2Client {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub client_id: Secret,
    pub client_secret: Secret,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub client_auth: ClientAuth,
    pub timeout_ms: u64,
    pub refresh_before_ms: u64,
}

/// The token request as data; the host dispatches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2Request {
    pub path: String,
    /// Non-secret headers.
    pub headers: Vec<(&'static str, String)>,
    /// `Authorization` for `client_secret_basic`.
    pub authorization: Option<Secret>,
    /// The form body (carries the secret for `client_secret_post`).
    pub body: Secret,
}

impl OAuth2Client {
    pub fn request(&self) -> OAuth2Request {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        for (k, v) in [
            ("scope", &self.scope),
            ("audience", &self.audience),
            ("resource", &self.resource),
        ] {
            if let Some(v) = v {
                form.push((k, v.clone()));
            }
        }
        let authorization = match self.client_auth {
            ClientAuth::Basic => {
                let pair = format!(
                    "{}:{}",
                    form_encode(self.client_id.expose()),
                    form_encode(self.client_secret.expose())
                );
                Some(Secret::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )))
            }
            ClientAuth::Post => {
                form.push(("client_id", self.client_id.expose().to_string()));
                form.push(("client_secret", self.client_secret.expose().to_string()));
                None
            }
        };
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        OAuth2Request {
            path: self.path.clone(),
            headers: vec![
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("accept", "application/json".into()),
            ],
            authorization,
            body: Secret::new(body),
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A failed token fetch. Never carries the token or client secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuth2Error {
    /// 400/401 with an OAuth2 `error` code (e.g. `invalid_client`).
    #[error("the token endpoint refused: {0}")]
    Refused(String),
    /// Envoy's synthetic 503 or a dispatch failure.
    #[error("the token endpoint is unreachable")]
    Unreachable,
    /// Envoy's synthetic 504 or no answer in time.
    #[error("the token endpoint did not answer in time")]
    Timeout,
    /// Any other status.
    #[error("unexpected status {0} from the token endpoint")]
    UnexpectedStatus(u16),
    /// Larger than [`MAX_TOKEN_RESPONSE_BYTES`].
    #[error("the token response is too large")]
    TooLarge,
    /// Not the JSON of RFC 6749 §5.1.
    #[error("malformed token response: {0}")]
    Malformed(&'static str),
    /// `token_type` other than `Bearer` (e.g. DPoP): we only send bearer tokens.
    #[error("unsupported token type")]
    UnsupportedTokenType,
}

impl OAuth2Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Refused(_) => "oauth2_refused",
            Self::Unreachable => "oauth2_unreachable",
            Self::Timeout => "oauth2_timeout",
            Self::UnexpectedStatus(_) => "oauth2_unexpected_status",
            Self::TooLarge => "oauth2_response_too_large",
            Self::Malformed(_) => "oauth2_malformed_response",
            Self::UnsupportedTokenType => "oauth2_unsupported_token_type",
        }
    }
}

/// A token as answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2Token {
    pub access_token: Secret,
    pub expires_in_s: u64,
}

struct TokenBody {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

from_json!(
    #[ignore_unknown]
    TokenBody {
        access_token: optional,
        token_type: optional,
        expires_in: optional,
    }
);

struct ErrorBody {
    error: Option<String>,
}

from_json!(
    #[ignore_unknown]
    ErrorBody { error: optional }
);

/// Parses a token endpoint answer (`:status` and body).
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<OAuth2Token, OAuth2Error> {
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(OAuth2Error::TooLarge);
    }
    match status {
        200 => {}
        400 | 401 => {
            let code = read_untrusted::<ErrorBody>(body)
                .ok()
                .and_then(|e| e.error)
                .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or_else(|| "unknown".into());
            return Err(OAuth2Error::Refused(code));
        }
        503 => return Err(OAuth2Error::Unreachable),
        504 => return Err(OAuth2Error::Timeout),
        other => return Err(OAuth2Error::UnexpectedStatus(other)),
    }
    let parsed: TokenBody =
        read_untrusted(body).map_err(|_| OAuth2Error::Malformed("not a JSON object"))?;
    let token = parsed
        .access_token
        .filter(|t| !t.is_empty() && super::template::is_header_value(t))
        .ok_or(OAuth2Error::Malformed(
            "access_token missing or not a header value",
        ))?;
    match parsed.token_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("bearer") => {}
        None => return Err(OAuth2Error::Malformed("token_type missing")),
        Some(_) => return Err(OAuth2Error::UnsupportedTokenType),
    }
    // Some servers send `expires_in` as a string.
    let expires_in_s = match parsed.expires_in {
        None => DEFAULT_TTL_S,
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().ok_or(OAuth2Error::Malformed("expires_in"))?
        }
        Some(serde_json::Value::String(s)) => s
            .parse()
            .map_err(|_| OAuth2Error::Malformed("expires_in"))?,
        Some(_) => return Err(OAuth2Error::Malformed("expires_in")),
    };
    if expires_in_s == 0 {
        return Err(OAuth2Error::Malformed("expires_in is 0"));
    }
    Ok(OAuth2Token {
        access_token: Secret::new(token),
        expires_in_s,
    })
}

/// A token as shared between VMs. Serialized in clear for proxy shared data
/// only; `Debug` redacts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OAuth2Snapshot {
    #[serde(serialize_with = "exposed")]
    pub access_token: Secret,
    pub fetched_at_ms: u64,
    pub expires_at_ms: u64,
}

from_json!(
    #[ignore_unknown]
    OAuth2Snapshot {
        access_token,
        fetched_at_ms,
        expires_at_ms,
    }
);

impl OAuth2Snapshot {
    /// Reads a snapshot another VM wrote to shared data.
    pub fn from_bytes(raw: &[u8]) -> Option<Self> {
        read_untrusted(raw).ok()
    }
}

fn exposed<S: serde::Serializer>(v: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose())
}

/// `refresh_before` ahead of the expiry of a token valid from `start_ms`,
/// with the margin capped at a quarter of its lifetime: a token living no
/// longer than `refresh_before` (60 s by default) would otherwise be due the
/// moment it arrives and be fetched again on every tick.
fn refresh_at_ms(start_ms: u64, expires_at_ms: u64, client: &OAuth2Client) -> u64 {
    let lifetime_ms = expires_at_ms.saturating_sub(start_ms);
    expires_at_ms.saturating_sub(client.refresh_before_ms.min(lifetime_ms / 4))
}

/// Token cache for one client.
#[derive(Clone, Debug, Default)]
pub struct OAuth2TokenState {
    token: Option<OAuth2Snapshot>,
    refresh_at_ms: u64,
    in_flight_since: Option<Now>,
    failures: u32,
    retry_at_ms: u64,
    last_error: Option<&'static str>,
}

impl OAuth2TokenState {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when a fetch should be sent now (call [`Self::on_dispatched`] then).
    pub fn due(&mut self, client: &OAuth2Client, now: Now) -> bool {
        if let Some(since) = self.in_flight_since {
            let lost_after = client.timeout_ms.saturating_add(LOST_CALL_GRACE_MS);
            if now.unix_ms.saturating_sub(since.unix_ms) <= lost_after {
                return false;
            }
            self.in_flight_since = None;
            self.failures = self.failures.saturating_add(1);
            self.last_error = Some(OAuth2Error::Timeout.reason());
            self.retry_at_ms = now.unix_ms;
        }
        if now.unix_ms < self.retry_at_ms {
            return false;
        }
        self.token.is_none() || now.unix_ms >= self.refresh_at_ms
    }

    pub fn on_dispatched(&mut self, now: Now) {
        self.in_flight_since = Some(now);
    }

    /// Applies the endpoint's answer; `sent` is when the call was dispatched
    /// (the token's lifetime counts from then, conservatively).
    pub fn on_response(
        &mut self,
        client: &OAuth2Client,
        status: u16,
        body: &[u8],
        now: Now,
        rng: &mut dyn Random,
    ) -> Result<(), OAuth2Error> {
        let sent = self.in_flight_since.take().unwrap_or(now);
        match parse_token_response(status, body) {
            Ok(t) => {
                let ttl_ms = t.expires_in_s.saturating_mul(1000);
                let expires_at_ms = sent.unix_ms.saturating_add(ttl_ms);
                // Never later than 80-90 % of the TTL either.
                let by_fraction =
                    sent.unix_ms
                        .saturating_add(crate::vault::jittered(ttl_ms, (0.8, 0.9), rng));
                self.refresh_at_ms =
                    refresh_at_ms(sent.unix_ms, expires_at_ms, client).min(by_fraction);
                self.token = Some(OAuth2Snapshot {
                    access_token: t.access_token,
                    fetched_at_ms: now.unix_ms,
                    expires_at_ms,
                });
                self.failures = 0;
                self.retry_at_ms = 0;
                self.last_error = None;
                Ok(())
            }
            Err(e) => {
                self.on_failed(&e, now, rng);
                Err(e)
            }
        }
    }

    /// The call could not be sent or was lost.
    pub fn on_failed(&mut self, e: &OAuth2Error, now: Now, rng: &mut dyn Random) {
        self.in_flight_since = None;
        self.failures = self.failures.saturating_add(1);
        self.retry_at_ms = now
            .unix_ms
            .saturating_add(RETRY.delay_ms(self.failures, rng));
        self.last_error = Some(e.reason());
    }

    /// The token to inject, or why there is none.
    pub fn current(&self, now: Now) -> Result<&Secret, CredentialUnavailable> {
        match &self.token {
            Some(t) if now.unix_ms < t.expires_at_ms => Ok(&t.access_token),
            Some(_) => Err(CredentialUnavailable {
                reason: "token_expired",
                last_error: self.last_error,
            }),
            None if self.failures > 0 => Err(CredentialUnavailable {
                reason: "token_unavailable",
                last_error: self.last_error,
            }),
            None => Err(CredentialUnavailable::new("token_not_loaded")),
        }
    }

    pub fn snapshot(&self) -> Option<&OAuth2Snapshot> {
        self.token.as_ref()
    }

    /// Installs a newer token fetched by another VM.
    pub fn adopt(&mut self, snap: &OAuth2Snapshot, client: &OAuth2Client) {
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.fetched_at_ms >= snap.fetched_at_ms)
        {
            return;
        }
        self.refresh_at_ms = refresh_at_ms(snap.fetched_at_ms, snap.expires_at_ms, client);
        self.token = Some(snap.clone());
    }

    pub fn last_error(&self) -> Option<&'static str> {
        self.last_error
    }

    /// After a failure, when the next attempt may be made (unix ms): the
    /// fetching VM holds its lease until then, so the other VMs (which did
    /// not see the failure) do not call the failing endpoint in its backoff.
    pub fn backoff_until_ms(&self, now: Now) -> Option<u64> {
        (self.failures > 0 && self.retry_at_ms > now.unix_ms).then_some(self.retry_at_ms)
    }
}
