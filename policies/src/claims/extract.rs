//! Rendering a claim as an HTTP header value (claim-to-header forwarding).

use crate::config::{from_json, Compile, ConfigError};
use crate::json::from_json_names;
use serde_json::{Map, Value};

use super::path::{ClaimPath, ClaimPathConfig};

/// Default cap on a rendered value; Envoy's default total header limit is 60 KiB.
pub const DEFAULT_MAX_LENGTH: usize = 4096;

/// How arrays are rendered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArrayFormat {
    /// Elements joined with `separator` (non-scalar elements as JSON).
    #[default]
    Joined,
    /// The array as compact JSON.
    Json,
}

from_json_names!(ArrayFormat { "joined" => Joined, "json" => Json });

/// `{"claim": "realm_access.roles", "array": "joined", "separator": ",", "max_length": 4096}`
#[derive(Clone, Debug)]
pub struct ExtractConfig {
    pub claim: ClaimPathConfig,
    pub array: ArrayFormat,
    pub separator: Option<String>,
    pub max_length: Option<usize>,
}

from_json!(ExtractConfig {
    claim,
    array: default,
    separator: optional,
    max_length: optional,
});

/// A compiled claim-to-header renderer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimExtractor {
    pub path: ClaimPath,
    pub array: ArrayFormat,
    pub separator: String,
    pub max_length: usize,
}

/// Why a claim was not forwarded; the header is then left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractSkipped {
    /// The claim is missing or `null`.
    #[error("the claim is missing")]
    MissingClaim,
    /// The rendered value has CR, LF, NUL or another control character
    /// (header injection); tab is allowed.
    #[error("the claim has characters not allowed in a header")]
    UnsafeCharacters,
    /// The rendered value is longer than the cap. It is skipped, not cut:
    /// a truncated role list would silently mean something else.
    #[error("the claim is too long for a header")]
    TooLong,
}

impl ExtractSkipped {
    /// `claim_missing`, `claim_unsafe_for_header` or `claim_too_long`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::MissingClaim => "claim_missing",
            Self::UnsafeCharacters => "claim_unsafe_for_header",
            Self::TooLong => "claim_too_long",
        }
    }
}

impl Compile for ExtractConfig {
    type Compiled = ClaimExtractor;

    fn compile(self) -> Result<ClaimExtractor, ConfigError> {
        let path = ClaimPath::compile("claim", self.claim)?;
        let separator = self.separator.unwrap_or_else(|| ",".to_string());
        if separator.is_empty() || !is_header_safe(&separator) {
            return Err(ConfigError::new(
                "separator",
                "the separator must be non-empty and have no control characters",
            ));
        }
        if self.array == ArrayFormat::Json && separator != "," {
            return Err(ConfigError::new(
                "separator",
                "a separator only applies to `\"array\": \"joined\"`",
            ));
        }
        let max_length = self.max_length.unwrap_or(DEFAULT_MAX_LENGTH);
        if max_length == 0 {
            return Err(ConfigError::new("max_length", "must be at least 1"));
        }
        Ok(ClaimExtractor {
            path,
            array: self.array,
            separator,
            max_length,
        })
    }
}

impl ClaimExtractor {
    /// Renders the claim: strings raw, numbers and booleans as text, arrays
    /// joined or as JSON, objects as JSON.
    pub fn render(&self, claims: &Map<String, Value>) -> Result<String, ExtractSkipped> {
        let value = self
            .path
            .lookup(claims)
            .filter(|v| !v.is_null())
            .ok_or(ExtractSkipped::MissingClaim)?;
        let text = match value {
            Value::Array(items) if self.array == ArrayFormat::Joined => items
                .iter()
                .map(scalar_text)
                .collect::<Vec<_>>()
                .join(&self.separator),
            other => scalar_text(other),
        };
        if !is_header_safe(&text) {
            return Err(ExtractSkipped::UnsafeCharacters);
        }
        if text.len() > self.max_length {
            return Err(ExtractSkipped::TooLong);
        }
        Ok(text)
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        // Numbers, booleans, null, arrays and objects: their JSON text.
        other => other.to_string(),
    }
}

/// No ASCII control characters except horizontal tab (RFC 9110 field-value).
fn is_header_safe(text: &str) -> bool {
    !text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Renders the claim `extractor` names; same as [`ClaimExtractor::render`].
pub fn extract(
    claims: &Map<String, Value>,
    extractor: &ClaimExtractor,
) -> Result<String, ExtractSkipped> {
    extractor.render(claims)
}
