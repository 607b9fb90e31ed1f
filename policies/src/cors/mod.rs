//! CORS decisions for browser apps, and an Origin/Referer CSRF check.
//!
//! Origins are matched exactly or by `scheme://*.domain` patterns (any
//! subdomain, never the domain itself, never look-alikes such as
//! `evil-example.com` or `example.com.evil.net`). `Origin: null` is refused
//! unless `"null"` is configured. The allowed origin is echoed, never `*`.

mod config;
mod csrf;
mod origin;
mod policy;

pub use config::{check_header_names, CorsConfig};
pub use csrf::CsrfDenied;
pub use origin::{Origin, OriginPattern};
pub use policy::{cors_grant_headers, is_preflight, CorsDenied, CorsPolicy};

#[cfg(test)]
mod tests;
