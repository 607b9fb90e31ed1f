//! CORS configuration (the DTO) and its compilation.
//!
//! ```json
//! {"allowed_origins": ["https://app.example.com", "https://*.example.com"],
//!  "allowed_methods": ["GET", "POST"], "allowed_headers": ["authorization", "content-type"],
//!  "exposed_headers": ["x-request-id"], "allow_credentials": true, "max_age": "10m"}
//! ```

use crate::config::{from_json, parse_duration_ms, Compile, ConfigError};

use super::origin::OriginPattern;
use super::policy::CorsPolicy;

#[derive(Clone, Debug)]
pub struct CorsConfig {
    /// Exact origins, `scheme://*.domain` patterns, or the literal `"null"`.
    pub allowed_origins: Vec<String>,
    /// Defaults to GET, HEAD, POST.
    pub allowed_methods: Option<Vec<String>>,
    /// Request headers a preflight may ask for (case-insensitive).
    pub allowed_headers: Vec<String>,
    /// Response headers scripts may read.
    pub exposed_headers: Vec<String>,
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight, e.g. `"10m"`. Absent: browser default.
    pub max_age: Option<String>,
}

from_json!(CorsConfig {
    allowed_origins,
    allowed_methods: optional,
    allowed_headers: default,
    exposed_headers: default,
    allow_credentials: default,
    max_age: optional,
});

/// Browsers cap the preflight cache (Firefox 24 h, Chrome 2 h); more is a mistake.
const MAX_AGE_LIMIT_SECS: u64 = 86_400;

impl Compile for CorsConfig {
    type Compiled = CorsPolicy;

    fn compile(self) -> Result<CorsPolicy, ConfigError> {
        if self.allowed_origins.is_empty() {
            return Err(ConfigError::new("allowed_origins", "the list is empty"));
        }
        let origins = self
            .allowed_origins
            .iter()
            .enumerate()
            .map(|(i, o)| {
                OriginPattern::parse(o).map_err(|(message, hint)| {
                    ConfigError::new(format!("allowed_origins[{i}]"), message).with_hint(hint)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let methods = match self.allowed_methods {
            None => vec!["GET".into(), "HEAD".into(), "POST".into()],
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new("allowed_methods", "the list is empty"))
            }
            Some(list) => {
                tokens("allowed_methods", &list)?;
                list.into_iter().map(|m| m.to_ascii_uppercase()).collect()
            }
        };
        tokens("allowed_headers", &self.allowed_headers)?;
        tokens("exposed_headers", &self.exposed_headers)?;
        let lower = |v: Vec<String>| v.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        let allowed_headers = lower(self.allowed_headers);
        let exposed_headers = lower(self.exposed_headers);
        let max_age_secs = match self.max_age {
            None => None,
            Some(text) => {
                let secs = parse_duration_ms("max_age", &text)? / 1000;
                if secs > MAX_AGE_LIMIT_SECS {
                    return Err(ConfigError::new("max_age", "must be at most 24h")
                        .with_hint("browsers ignore longer values"));
                }
                Some(secs)
            }
        };
        Ok(CorsPolicy {
            origins,
            methods,
            allowed_headers,
            exposed_headers,
            allow_credentials: self.allow_credentials,
            max_age_secs,
        })
    }
}

/// Validates header names for `allowed_headers`/`exposed_headers` by the
/// same rules, for callers that derive those lists from their own fields
/// and want errors to name their own indices (`field[i]`).
pub fn check_header_names(field: &str, list: &[String]) -> Result<(), ConfigError> {
    tokens(field, list)
}

/// Validates HTTP tokens (method or header names); `*` is refused because
/// with credentials browsers read it literally, and without them it is too broad.
fn tokens(field: &str, list: &[String]) -> Result<(), ConfigError> {
    for (i, item) in list.iter().enumerate() {
        if item == "*" {
            return Err(
                ConfigError::new(format!("{field}[{i}]"), "`*` is not allowed")
                    .with_hint("list the names explicitly"),
            );
        }
        if !super::policy::is_token(item) {
            return Err(ConfigError::new(
                format!("{field}[{i}]"),
                format!("`{item}` is not a valid name"),
            ));
        }
    }
    Ok(())
}
