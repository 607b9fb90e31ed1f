//! CSRF defence for state-changing requests: the request must come from an
//! allowed origin, judged by `Origin`, or by `Referer` when a browser sent
//! no `Origin`. Neither header: refused (fail closed).
//!
//! The allowed set is the CORS policy's `allowed_origins`, so a
//! same-origin app must list its own origin there. Callers apply the check
//! to unsafe methods (POST, PUT, PATCH, DELETE) only.

use super::origin::{Origin, OriginPattern};
use super::policy::CorsPolicy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfDenied {
    /// The `Origin` header names an origin that is not allowed (or is malformed).
    #[error("the request origin is not allowed")]
    OriginNotAllowed,
    /// The `Referer`'s origin is not allowed.
    #[error("the referer origin is not allowed")]
    RefererNotAllowed,
    /// The `Referer` is not an absolute URL with a clean authority
    /// (e.g. it has userinfo: `https://app.example.com@evil.net/`).
    #[error("the referer is malformed")]
    MalformedReferer,
    /// Neither `Origin` nor `Referer` was sent.
    #[error("the request has neither Origin nor Referer")]
    MissingOriginAndReferer,
}

impl CsrfDenied {
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::OriginNotAllowed => "csrf_origin_mismatch",
            Self::RefererNotAllowed => "csrf_referer_mismatch",
            Self::MalformedReferer => "csrf_malformed_referer",
            Self::MissingOriginAndReferer => "csrf_missing_origin",
        }
    }
}

impl CorsPolicy {
    /// Checks `Origin`, falling back to `Referer` only when `Origin` is
    /// absent. An empty header counts as absent.
    pub fn check_origin_or_referer(
        &self,
        origin: Option<&str>,
        referer: Option<&str>,
    ) -> Result<(), CsrfDenied> {
        if let Some(origin) = present(origin) {
            return if self.is_origin_allowed(origin) {
                Ok(())
            } else {
                Err(CsrfDenied::OriginNotAllowed)
            };
        }
        let Some(referer) = present(referer) else {
            return Err(CsrfDenied::MissingOriginAndReferer);
        };
        let Some(from) = Origin::of_url(referer) else {
            return Err(CsrfDenied::MalformedReferer);
        };
        let allowed = self
            .origin_patterns()
            .iter()
            .filter(|p| **p != OriginPattern::Null)
            .any(|p| p.matches(&from));
        if allowed {
            Ok(())
        } else {
            Err(CsrfDenied::RefererNotAllowed)
        }
    }
}

fn present(header: Option<&str>) -> Option<&str> {
    header.map(str::trim).filter(|v| !v.is_empty())
}
