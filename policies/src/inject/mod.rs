//! The credential-injector decision: a browser app calls backends through
//! the proxy, and the proxy (not the browser) adds the backend credential.
//!
//! Per request the filter reads its inputs once and calls [`Injector::decide`]:
//! an allowlist of routes per backend (method, path, query, optional claim
//! conditions), the verified identity oidc-auth published, CORS and a CSRF
//! check for cookie-borne sessions, then the credential from a
//! [`CredentialSource`] (Vault, static env, OAuth2 client credentials)
//! rendered through a header template. On the way back
//! [`echoed_response_headers`] finds response headers that echo the credential.
//!
//! Nothing here performs I/O. Credentials are [`crate::secret::Secret`]s end to end.

mod config;
mod credential;
mod decide;
mod oauth2;
pub mod per_user;
mod response;
mod template;

pub use config::{
    Backend, BackendDto, CredentialDto, CredentialSpec, CsrfDto, CsrfPolicy, InjectCorsDto,
    InjectMode, Injection, InjectionDto, Injector, InjectorConfig, InjectorConfigDto,
    OAuth2ClientDto, PathRewrite, PathRewriteDto, RouteDto, TokenEndpointDto,
};
pub use credential::{CredentialSource, CredentialUnavailable};
pub use decide::{
    Allow, Decision, Deny, DenyReason, InjectedHeader, PendingCredential, RequestInput,
};
pub use oauth2::{
    parse_token_response, ClientAuth, OAuth2Client, OAuth2Error, OAuth2Request, OAuth2Snapshot,
    OAuth2Token, OAuth2TokenState, MAX_TOKEN_RESPONSE_BYTES,
};
pub use response::echoed_response_headers;
pub use template::{Template, TemplateError};

/// Every reason code the decision can produce, for metrics defined up front.
pub const REASON_CODES: &[&str] = &[
    "suspicious_path",
    "malformed_query",
    "route_not_allowed",
    "identity_required",
    "identity_expired",
    "claim_missing",
    "claim_mismatch",
    "csrf_origin_mismatch",
    "csrf_referer_mismatch",
    "csrf_malformed_referer",
    "csrf_missing_origin",
    "csrf_header_missing",
    "cors_origin_not_allowed",
    "cors_method_not_allowed",
    "cors_header_not_allowed",
    "body_too_large",
    "credential_unavailable",
    "credential_invalid",
    "user_token_missing",
    "user_token_mismatch",
    "subject_not_usable",
    "vault_login_rejected",
    "vault_denied",
    "user_secret_missing",
    "credential_busy",
];

#[cfg(test)]
mod tests;
