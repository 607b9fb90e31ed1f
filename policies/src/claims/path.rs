//! Addressing a claim inside the token payload.

use crate::config::{ConfigError, FromJson, Node};
use serde_json::{Map, Value};
use std::fmt;

/// A claim path as written in config: `"realm_access.roles"` (split on dots)
/// or `["https://example.com/claims", "roles"]` for keys that contain dots.
#[derive(Clone, Debug)]
pub enum ClaimPathConfig {
    Dotted(String),
    Segments(Vec<String>),
}

impl FromJson for ClaimPathConfig {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        match node.value() {
            Value::String(dotted) => Ok(Self::Dotted(dotted.clone())),
            Value::Array(_) => Vec::read(node).map(Self::Segments),
            _ => Err(node.invalid_type("a claim path: \"a.b\" or [\"a\", \"b\"]")),
        }
    }
}

/// A compiled claim path: object keys from the payload root. Arrays are not
/// indexed; a path through a non-object finds nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath {
    segments: Vec<String>,
}

const MAX_DEPTH: usize = 16;

impl ClaimPath {
    pub fn compile(path: &str, config: ClaimPathConfig) -> Result<Self, ConfigError> {
        let segments: Vec<String> = match config {
            ClaimPathConfig::Dotted(s) => s.split('.').map(str::to_string).collect(),
            ClaimPathConfig::Segments(v) => v,
        };
        if segments.is_empty() || segments.iter().any(String::is_empty) {
            return Err(ConfigError::new(path, "the claim path has an empty segment")
                .with_hint("write e.g. \"realm_access.roles\" or [\"https://x.example/claims\", \"roles\"] for keys with dots"));
        }
        if segments.len() > MAX_DEPTH {
            return Err(ConfigError::new(
                path,
                format!("the claim path is deeper than {MAX_DEPTH}"),
            ));
        }
        Ok(Self { segments })
    }

    /// The value at this path, if every step is an object holding the key.
    pub fn lookup<'c>(&self, claims: &'c Map<String, Value>) -> Option<&'c Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut value = claims.get(first)?;
        for key in rest {
            value = value.as_object()?.get(key)?;
        }
        Some(value)
    }

    /// True for a top-level claim with this name.
    pub fn is_top_level(&self, name: &str) -> bool {
        matches!(self.segments.as_slice(), [only] if only == name)
    }
}

impl fmt::Display for ClaimPath {
    /// Dotted form; segments containing a dot are shown in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            if segment.contains('.') {
                write!(f, "[{segment}]")?;
            } else {
                f.write_str(segment)?;
            }
        }
        Ok(())
    }
}
