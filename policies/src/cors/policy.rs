//! CORS decisions: preflight answers and headers for actual responses.

use super::origin::{Origin, OriginPattern};

/// A compiled CORS policy. Header names in answers are lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsPolicy {
    pub(crate) origins: Vec<OriginPattern>,
    /// Upper case.
    pub(crate) methods: Vec<String>,
    /// Lower case.
    pub(crate) allowed_headers: Vec<String>,
    /// Lower case.
    pub(crate) exposed_headers: Vec<String>,
    pub(crate) allow_credentials: bool,
    pub(crate) max_age_secs: Option<u64>,
}

/// Why a preflight was refused. The answer is then a plain 403 without CORS
/// headers, which the browser reports as a CORS failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorsDenied {
    /// The `Origin` is not in `allowed_origins` (or is malformed).
    #[error("the origin is not allowed")]
    OriginNotAllowed,
    /// `Access-Control-Request-Method` is not in `allowed_methods`.
    #[error("the requested method is not allowed")]
    MethodNotAllowed,
    /// A name in `Access-Control-Request-Headers` is not in `allowed_headers`.
    #[error("a requested header is not allowed")]
    HeaderNotAllowed,
}

impl CorsDenied {
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::OriginNotAllowed => "cors_origin_not_allowed",
            Self::MethodNotAllowed => "cors_method_not_allowed",
            Self::HeaderNotAllowed => "cors_header_not_allowed",
        }
    }
}

/// A CORS preflight: `OPTIONS` with both `Origin` and
/// `Access-Control-Request-Method`. Any other `OPTIONS` is a normal request.
pub fn is_preflight(
    method: &str,
    origin: Option<&str>,
    access_control_request_method: Option<&str>,
) -> bool {
    method == "OPTIONS" && origin.is_some() && access_control_request_method.is_some()
}

/// An RFC 9110 token (method and header names).
pub(crate) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Names (lower case, deduplicated) of the response headers with which a
/// server grants cross-origin access: `access-control-allow-*` and
/// `access-control-expose-headers`. A proxy that owns the CORS decision
/// removes them from a backend's response to an origin it does not allow:
/// a backend that reflects any `Origin` would otherwise make the answer
/// readable to that origin despite the allowlist.
pub fn cors_grant_headers(headers: &[(&str, &str)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, _) in headers {
        let lower = name.to_ascii_lowercase();
        let grants =
            lower.starts_with("access-control-allow-") || lower == "access-control-expose-headers";
        if grants && !out.contains(&lower) {
            out.push(lower);
        }
    }
    out
}

const VARY_PREFLIGHT: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

impl CorsPolicy {
    /// True when the `Origin` header value is allowed. `null` only when
    /// configured literally; malformed values never.
    pub fn is_origin_allowed(&self, origin: &str) -> bool {
        if origin == "null" {
            return self.origins.contains(&OriginPattern::Null);
        }
        match Origin::parse(origin) {
            Some(o) => self.origins.iter().any(|p| p.matches(&o)),
            None => false,
        }
    }

    /// The headers answering an allowed preflight; the caller replies 204
    /// (or 200) with them. The origin is echoed, never `*`.
    pub fn preflight_response(
        &self,
        origin: &str,
        requested_method: &str,
        requested_headers: Option<&str>,
    ) -> Result<Vec<(String, String)>, CorsDenied> {
        if !self.is_origin_allowed(origin) {
            return Err(CorsDenied::OriginNotAllowed);
        }
        let method = requested_method.trim();
        if !self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            return Err(CorsDenied::MethodNotAllowed);
        }
        for name in requested_headers
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let allowed = is_token(name)
                && self
                    .allowed_headers
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name));
            if !allowed {
                return Err(CorsDenied::HeaderNotAllowed);
            }
        }
        let mut headers = self.origin_headers(origin);
        headers.push((
            "access-control-allow-methods".into(),
            self.methods.join(", "),
        ));
        if !self.allowed_headers.is_empty() {
            headers.push((
                "access-control-allow-headers".into(),
                self.allowed_headers.join(", "),
            ));
        }
        if let Some(secs) = self.max_age_secs {
            headers.push(("access-control-max-age".into(), secs.to_string()));
        }
        headers.push(("vary".into(), VARY_PREFLIGHT.into()));
        Ok(headers)
    }

    /// Headers to add to an actual (non-preflight) response. Always
    /// `Vary: Origin` (the answer depends on it; callers append to an
    /// existing `Vary`), plus the CORS headers when the origin is allowed.
    pub fn actual_response_headers(&self, origin: Option<&str>) -> Vec<(String, String)> {
        let mut headers = match origin {
            Some(o) if self.is_origin_allowed(o) => {
                let mut h = self.origin_headers(o);
                if !self.exposed_headers.is_empty() {
                    h.push((
                        "access-control-expose-headers".into(),
                        self.exposed_headers.join(", "),
                    ));
                }
                h
            }
            _ => Vec::new(),
        };
        headers.push(("vary".into(), "Origin".into()));
        headers
    }

    /// `Access-Control-Allow-Origin` (the validated request origin, echoed
    /// byte for byte as browsers compare it exactly) and, if configured,
    /// `Access-Control-Allow-Credentials`.
    fn origin_headers(&self, origin: &str) -> Vec<(String, String)> {
        let mut headers = vec![("access-control-allow-origin".into(), origin.to_string())];
        if self.allow_credentials {
            headers.push(("access-control-allow-credentials".into(), "true".into()));
        }
        headers
    }

    pub(crate) fn origin_patterns(&self) -> &[OriginPattern] {
        &self.origins
    }
}
