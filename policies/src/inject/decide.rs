//! The per-request decision: preflight, allowlist, identity, claims, CSRF,
//! body size, credential. Every denial maps to one HTTP answer here.

use super::config::{Backend, CredentialSpec, InjectMode, Injector, RouteRules};
use super::credential::{CredentialSource, CredentialUnavailable};
use super::per_user::{user_token, UserSecretRequest, UserVaultError};
use crate::claims::ClaimDenied;
use crate::cors::{is_preflight, CorsDenied, CsrfDenied};
use crate::env::Now;
use crate::identity::VerifiedIdentity;
use crate::oidc::token_source::{token_after_prefix, RequestTokens};
use crate::routes::{RouteRejection, RouteRequest, RouteVerdict};
use crate::secret::Secret;
use crate::vault::SecretValue;

/// What the filter read from the request, once.
#[derive(Clone, Copy, Debug)]
pub struct RequestInput<'a> {
    pub method: &'a str,
    /// The path without its query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Request headers with lower-case names, in order.
    pub headers: &'a [(&'a str, &'a str)],
    /// What oidc-auth published for this request, if anything.
    pub identity: Option<&'a VerifiedIdentity>,
    pub now: Now,
}

impl RequestInput<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| *n == name).count()
    }

    /// A header that must appear at most once; a repeated one reads as
    /// an unparseable value so that checks on it fail closed.
    fn single(&self, name: &str) -> Option<&str> {
        match self.count(name) {
            0 => None,
            1 => self.header(name),
            _ => Some("\u{0}repeated"),
        }
    }
}

/// A header to put on the upstream request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedHeader {
    /// Lower case.
    pub name: String,
    pub value: Secret,
    pub mode: InjectMode,
}

/// Forward the request, changed as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    /// Name of the backend whose route matched.
    pub backend: String,
    /// Request headers to remove first (lower case).
    pub remove_headers: Vec<String>,
    /// Then set these (the injected credential).
    pub set_headers: Vec<InjectedHeader>,
    /// New `:path` (with the query) when the backend rewrites its prefix.
    pub path_rewrite: Option<String>,
    /// Headers for the response (CORS for an allowed origin, `Vary`).
    pub cors_headers: Vec<(String, String)>,
    /// The request's `Origin` is not allowed (or no `cors` section allows
    /// any): remove the backend's own CORS grants from the response
    /// ([`crate::cors::cors_grant_headers`]), so only the allowlist decides
    /// who may read it.
    pub strip_backend_cors: bool,
    /// Body limit the filter enforces while streaming.
    pub max_body_bytes: Option<u64>,
    /// The credential's field values, to find echoes in response headers.
    pub echo_fields: Vec<Secret>,
}

/// Why a request is refused. Mapped to status and reason code in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The path failed hygiene, or the query is malformed.
    Rejected(RouteRejection),
    /// No backend route allows this method and path.
    RouteNotAllowed,
    /// The backend requires a verified user and oidc-auth published none.
    IdentityRequired,
    /// The published identity has expired.
    IdentityExpired,
    /// The route's claim conditions failed.
    Claims(ClaimDenied),
    /// A cookie-borne unsafe request from a foreign or unknown origin.
    Csrf(CsrfDenied),
    /// A cookie-borne unsafe request without the configured CSRF header.
    CsrfHeaderMissing,
    /// A preflight the CORS policy refuses.
    Cors(CorsDenied),
    /// `Content-Length` above the backend's `max_body_bytes`.
    BodyTooLarge,
    /// The credential cannot be had now (Vault down before the first fetch, ...).
    CredentialUnavailable(CredentialUnavailable),
    /// The credential exists but cannot be put in a header (missing field, CR/LF).
    CredentialInvalid,
    /// A per-user Vault credential failed (token, login, policy, Vault down).
    UserVault(UserVaultError),
}

impl DenyReason {
    pub fn status(&self) -> u16 {
        match self {
            Self::IdentityRequired | Self::IdentityExpired => 401,
            Self::BodyTooLarge => 413,
            Self::CredentialUnavailable(_) | Self::CredentialInvalid => 503,
            Self::UserVault(e) => e.status(),
            _ => 403,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Rejected(r) => r.reason_code(),
            Self::RouteNotAllowed => "route_not_allowed",
            Self::IdentityRequired => "identity_required",
            Self::IdentityExpired => "identity_expired",
            Self::Claims(c) => c.reason_code(),
            Self::Csrf(c) => c.reason_code(),
            Self::CsrfHeaderMissing => "csrf_header_missing",
            Self::Cors(c) => c.reason_code(),
            Self::BodyTooLarge => "body_too_large",
            Self::CredentialUnavailable(_) => "credential_unavailable",
            Self::CredentialInvalid => "credential_invalid",
            Self::UserVault(e) => e.code(),
        }
    }

    /// A sentence for the JSON body: names checks and claim paths, never values.
    pub fn message(&self) -> String {
        match self {
            Self::Rejected(r) => format!("the request was refused: {r}"),
            Self::RouteNotAllowed => "no backend allows this method and path".into(),
            Self::IdentityRequired => "sign in first".into(),
            Self::IdentityExpired => "the session has expired".into(),
            Self::Claims(c) => c.to_string(),
            Self::Csrf(c) => c.to_string(),
            Self::CsrfHeaderMissing => "the request lacks the required CSRF header".into(),
            Self::Cors(c) => c.to_string(),
            Self::BodyTooLarge => "the request body is too large".into(),
            Self::CredentialUnavailable(u) => match u.last_error {
                Some(e) => format!(
                    "the backend credential is not available ({}; last error {e})",
                    u.reason
                ),
                None => format!("the backend credential is not available ({})", u.reason),
            },
            Self::CredentialInvalid => "the backend credential cannot be used".into(),
            Self::UserVault(e) => e.to_string(),
        }
    }
}

/// Answer locally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deny {
    pub status: u16,
    pub reason: DenyReason,
    /// CORS headers so the app can read the error (empty for refused preflights).
    pub cors_headers: Vec<(String, String)>,
}

impl Deny {
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }

    pub fn message(&self) -> String {
        self.reason.message()
    }
}

/// A request that passed every check and waits for its per-user credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCredential {
    /// The answer without the credential (`set_headers`, `echo_fields` empty).
    pub allow: Allow,
    /// What to fetch; feed the outcome to [`Injector::complete`].
    pub user: UserSecretRequest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow(Allow),
    Deny(Deny),
    /// An allowed CORS preflight: answer 204 with these headers.
    Preflight {
        headers: Vec<(String, String)>,
    },
    /// Pause the request, get the user's credential from Vault
    /// (`per_user::UserVault`), then call [`Injector::complete`].
    FetchUserCredential(Box<PendingCredential>),
}

const SAFE_METHODS: &[&str] = &["GET", "HEAD", "OPTIONS", "TRACE"];

impl Injector {
    /// Whether any backend looks at the verified identity (decided when the
    /// configuration is compiled). When none does, the filter skips the
    /// property read that finds it.
    pub fn reads_identity(&self) -> bool {
        self.reads_identity
    }

    /// Decides one request. `source` provides Vault and OAuth2 credentials.
    pub fn decide(&self, req: &RequestInput<'_>, source: &dyn CredentialSource) -> Decision {
        let origin = req.single("origin");
        if let Some(cors) = &self.cors {
            let acrm = req.header("access-control-request-method");
            if let (true, Some(o), Some(m)) = (is_preflight(req.method, origin, acrm), origin, acrm)
            {
                let deny = |reason| {
                    Decision::Deny(Deny {
                        status: 403,
                        reason,
                        cors_headers: Vec::new(),
                    })
                };
                let headers = match cors.preflight_response(
                    o,
                    m,
                    req.header("access-control-request-headers"),
                ) {
                    Ok(h) => h,
                    Err(e) => return deny(DenyReason::Cors(e)),
                };
                let target = RouteRequest {
                    method: m.trim(),
                    path: req.path,
                    query: req.query,
                };
                return match self.routes.find(&target) {
                    RouteVerdict::Matched { .. } => Decision::Preflight { headers },
                    RouteVerdict::NoMatch => deny(DenyReason::RouteNotAllowed),
                    RouteVerdict::Rejected(r) => deny(DenyReason::Rejected(r)),
                };
            }
        }
        let cors_headers = self
            .cors
            .as_ref()
            .map(|c| c.actual_response_headers(origin))
            .unwrap_or_default();
        let deny = |reason: DenyReason| {
            Decision::Deny(Deny {
                status: reason.status(),
                reason,
                cors_headers: cors_headers.clone(),
            })
        };
        let (b, backend, route) = match self.admit(req, origin) {
            Ok(found) => found,
            Err(reason) => return deny(reason),
        };
        let mut allow = skeleton(backend, route, req);
        allow.cors_headers = cors_headers.clone();
        // Safe methods and non-cookie requests from any origin reach the
        // backend (CSRF checks only cookie-borne unsafe ones).
        allow.strip_backend_cors =
            origin.is_some_and(|o| !self.cors.as_ref().is_some_and(|c| c.is_origin_allowed(o)));
        if let CredentialSpec::VaultPerUser(spec) = &backend.credential {
            let pending = req
                .identity
                .ok_or(UserVaultError::TokenMissing)
                .and_then(|id| {
                    let request = RequestTokens {
                        headers: req.headers,
                        query: req.query,
                    };
                    let jwt = user_token(&spec.token_sources, &request, id)?;
                    UserSecretRequest::new(
                        b,
                        spec,
                        &id.issuer,
                        &id.subject,
                        jwt,
                        Now::from_unix_secs(id.expires_at),
                    )
                });
            allow
                .remove_headers
                .extend(spec.token_headers().map(str::to_string));
            return match pending {
                Ok(user) => {
                    Decision::FetchUserCredential(Box::new(PendingCredential { allow, user }))
                }
                Err(e) => deny(DenyReason::UserVault(e)),
            };
        }
        let fields = match source.current(&backend.credential, req.now) {
            Ok(f) => f,
            Err(u) => return deny(DenyReason::CredentialUnavailable(u)),
        };
        match with_credential(backend, allow, &fields) {
            Ok(a) => Decision::Allow(a),
            Err(reason) => deny(reason),
        }
    }

    /// Finishes a [`Decision::FetchUserCredential`] with what Vault gave.
    pub fn complete(
        &self,
        pending: PendingCredential,
        fetched: Result<SecretValue, UserVaultError>,
    ) -> Decision {
        let PendingCredential { allow, user } = pending;
        let deny = |reason: DenyReason| {
            Decision::Deny(Deny {
                status: reason.status(),
                reason,
                cors_headers: allow.cors_headers.clone(),
            })
        };
        let Some(backend) = self.backends.get(user.backend) else {
            return deny(DenyReason::RouteNotAllowed);
        };
        let spec = match &backend.credential {
            CredentialSpec::VaultPerUser(spec) => spec,
            _ => return deny(DenyReason::RouteNotAllowed),
        };
        let value = match fetched {
            Ok(v) => v,
            Err(e) => return deny(DenyReason::UserVault(e)),
        };
        let value = match &spec.field {
            Some(f) => match value.with_primary(f) {
                Some(v) => v,
                None => return deny(DenyReason::CredentialInvalid),
            },
            None => value,
        };
        match with_credential(backend, allow.clone(), &value) {
            Ok(a) => Decision::Allow(a),
            Err(reason) => deny(reason),
        }
    }

    /// Every check before the credential: allowlist, identity, claims,
    /// CSRF, declared body size. Returns the backend that allows the
    /// request and the route of it that matched.
    fn admit(
        &self,
        req: &RequestInput<'_>,
        origin: Option<&str>,
    ) -> Result<(usize, &Backend, &RouteRules), DenyReason> {
        let target = RouteRequest {
            method: req.method,
            path: req.path,
            query: req.query,
        };
        let (b, r) = match self.routes.find(&target) {
            RouteVerdict::Matched { value, .. } => *value,
            RouteVerdict::NoMatch => return Err(DenyReason::RouteNotAllowed),
            RouteVerdict::Rejected(why) => return Err(DenyReason::Rejected(why)),
        };
        let backend = self.backends.get(b).ok_or(DenyReason::RouteNotAllowed)?;
        let route = backend.routes.get(r).ok_or(DenyReason::RouteNotAllowed)?;

        if backend.require_user {
            let id = req.identity.ok_or(DenyReason::IdentityRequired)?;
            if id.expires_at <= req.now.unix_secs() {
                return Err(DenyReason::IdentityExpired);
            }
            if let Some(cond) = &route.claims {
                cond.evaluate(&id.claims).map_err(DenyReason::Claims)?;
            }
        }

        // Cookies travel with cross-site requests, and so do Basic, Digest,
        // Negotiate and NTLM credentials the browser cached. A bearer token
        // does not: only a script sets it, and cross-site that takes a
        // preflight. Only cookie-borne unsafe requests need the CSRF checks.
        let cookie_borne = req.header("cookie").is_some_and(|c| !c.trim().is_empty())
            && !req.single("authorization").is_some_and(is_bearer);
        let unsafe_method = !SAFE_METHODS
            .iter()
            .any(|m| m.eq_ignore_ascii_case(req.method));
        if cookie_borne && unsafe_method {
            if self.csrf.require_origin {
                if let Some(cors) = &self.cors {
                    cors.check_origin_or_referer(origin, req.single("referer"))
                        .map_err(DenyReason::Csrf)?;
                }
            }
            if let Some(h) = &self.csrf.required_header {
                if req.header(h).is_none_or(|v| v.trim().is_empty()) {
                    return Err(DenyReason::CsrfHeaderMissing);
                }
            }
        }

        if let Some(max) = backend.max_body_bytes {
            let declared = req
                .header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > max) {
                return Err(DenyReason::BodyTooLarge);
            }
        }

        Ok((b, backend, route))
    }
}

/// `Authorization: Bearer <token>`, read as oidc-auth reads it (the scheme
/// compared case-insensitively, RFC 9110 §11.1).
fn is_bearer(authorization: &str) -> bool {
    token_after_prefix(authorization, "bearer").is_some()
}

/// The answer for `backend` (its `route` matched) without its credential.
fn skeleton(backend: &Backend, route: &RouteRules, req: &RequestInput<'_>) -> Allow {
    let mut remove_headers = Vec::new();
    if backend.strip_user_authorization {
        remove_headers.push("authorization".to_string());
    }
    if backend.strip_cookies {
        remove_headers.push("cookie".to_string());
    }
    Allow {
        backend: backend.name.clone(),
        remove_headers,
        set_headers: Vec::new(),
        path_rewrite: backend
            .path_rewrite
            .as_ref()
            .and_then(|pr| pr.apply(req.path, req.query, route.case_insensitive)),
        cors_headers: Vec::new(),
        strip_backend_cors: false,
        max_body_bytes: backend.max_body_bytes,
        echo_fields: Vec::new(),
    }
}

/// Renders the injection header from the credential's fields.
fn with_credential(
    backend: &Backend,
    mut allow: Allow,
    fields: &SecretValue,
) -> Result<Allow, DenyReason> {
    let value = backend
        .injection
        .template
        .render(&|name| fields.field(name))
        .map_err(|_| DenyReason::CredentialInvalid)?;
    allow.set_headers = vec![InjectedHeader {
        name: backend.injection.header.clone(),
        value,
        mode: backend.injection.mode,
    }];
    allow.echo_fields = fields.fields().map(|(_, v)| v.clone()).collect();
    Ok(allow)
}
