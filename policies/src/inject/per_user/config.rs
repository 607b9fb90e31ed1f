//! `credential: {"vault_per_user": {...}}`: which KV v2 secret to read with
//! the user's Vault token, and how long to cache its value.

use super::path::SubjectPath;
use crate::config::{from_json, parse_duration_ms, ConfigError};
use crate::oidc::token_source::{TokenSource, TokenSourceConfig};

const DEFAULT_CACHE_TTL: &str = "30s";
/// Values are re-read at least this often: Vault's policies decide, and a
/// policy change must take effect soon.
const MAX_CACHE_TTL_MS: u64 = 3_600_000;

#[derive(Clone, Debug)]
pub struct VaultPerUserDto {
    /// KV v2 mount, default `secret`.
    pub mount: Option<String>,
    /// Path under the mount; `{sub}` is replaced by the user's subject.
    pub path: String,
    /// Fields to read; each becomes a template placeholder.
    pub fields: Vec<String>,
    /// The field that becomes `{secret}`.
    pub field: Option<String>,
    /// How long a user's value is served from memory, default `30s`; `0s`
    /// reads it on every request.
    pub cache_ttl: Option<String>,
    /// Where the user's JWT is (the one oidc-auth verified), same syntax as
    /// oidc-auth's `token_sources`; default `Authorization: Bearer`. A
    /// header or a cookie, never the query string.
    pub token_sources: Vec<TokenSourceConfig>,
}

from_json!(VaultPerUserDto {
    mount: optional,
    path,
    fields,
    field: optional,
    cache_ttl: optional,
    token_sources: default,
});

/// A compiled per-user KV v2 read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerUserSecret {
    pub mount: String,
    pub path: SubjectPath,
    pub fields: Vec<String>,
    pub field: Option<String>,
    pub cache_ttl_ms: u64,
    pub token_sources: Vec<TokenSource>,
}

impl VaultPerUserDto {
    /// Validates; field errors are relative (`path`, `fields[1]`).
    pub fn compile(self) -> Result<PerUserSecret, ConfigError> {
        let mount = self
            .mount
            .unwrap_or_else(|| "secret".into())
            .trim_end_matches('/')
            .to_string();
        crate::vault::validate_path("mount", &mount)?;
        let path = SubjectPath::parse("path", &self.path)?;
        if self.fields.is_empty() {
            return Err(ConfigError::new(
                "fields",
                "list at least one field to read",
            ));
        }
        for (i, f) in self.fields.iter().enumerate() {
            let at = format!("fields[{i}]");
            if !is_field_name(f) || f == "secret" {
                return Err(ConfigError::new(
                    at,
                    "must be a field name [A-Za-z0-9_.-] other than `secret`",
                ));
            }
            if self.fields.iter().take(i).any(|o| o == f) {
                return Err(ConfigError::new(at, format!("duplicate field `{f}`")));
            }
        }
        if let Some(f) = &self.field {
            if !self.fields.contains(f) {
                return Err(
                    ConfigError::new("field", format!("`{f}` is not one of `fields`"))
                        .with_hint(format!("fields: {}", self.fields.join(", "))),
                );
            }
        }
        let cache_ttl_ms = parse_duration_ms(
            "cache_ttl",
            self.cache_ttl.as_deref().unwrap_or(DEFAULT_CACHE_TTL),
        )?;
        if cache_ttl_ms > MAX_CACHE_TTL_MS {
            return Err(
                ConfigError::new("cache_ttl", "must be at most 1h").with_hint(
                    "Vault policy changes take effect only after the cached value expires",
                ),
            );
        }
        let token_sources = compile_token_sources(&self.token_sources)?;
        Ok(PerUserSecret {
            mount,
            path,
            fields: self.fields,
            field: self.field,
            cache_ttl_ms,
            token_sources,
        })
    }
}

fn compile_token_sources(raw: &[TokenSourceConfig]) -> Result<Vec<TokenSource>, ConfigError> {
    if raw.is_empty() {
        return Ok(vec![TokenSource::authorization_bearer()]);
    }
    raw.iter()
        .enumerate()
        .map(|(i, source)| {
            let at = format!("token_sources[{i}]");
            match TokenSource::compile(source, &at)? {
                // A token in the URL ends up in access logs and browser history.
                TokenSource::Query(_) => Err(ConfigError::new(
                    format!("{at}.query"),
                    "the user's token is read from a header or a cookie, not the query string",
                )),
                compiled => Ok(compiled),
            }
        })
        .collect()
}

impl PerUserSecret {
    /// Headers that carry the user's token other than `Authorization` and
    /// `Cookie` (which the backend's `strip_*` settings govern): they never
    /// reach the backend.
    pub fn token_headers(&self) -> impl Iterator<Item = &str> {
        self.token_sources.iter().filter_map(|s| match s {
            TokenSource::Header { name, .. } if name != "authorization" => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether the user's token may arrive in `Authorization`.
    pub fn reads_authorization(&self) -> bool {
        self.token_sources
            .iter()
            .any(|s| matches!(s, TokenSource::Header { name, .. } if name == "authorization"))
    }

    /// Whether the user's token may arrive in a cookie.
    pub fn reads_a_cookie(&self) -> bool {
        self.token_sources
            .iter()
            .any(|s| matches!(s, TokenSource::Cookie(_)))
    }

    /// Template placeholders this credential offers.
    pub fn available_fields(&self) -> Vec<String> {
        let mut out = self.fields.clone();
        if self.field.is_some() {
            out.push("secret".into());
        }
        out
    }
}

fn is_field_name(f: &str) -> bool {
    !f.is_empty()
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
