//! Vault configuration: DTO (`deny_unknown_fields`) → [`VaultConfig`].
//!
//! Credentials never appear in the configuration: it names environment
//! variables (`*_env`), resolved once at compile time through an
//! [`EnvResolver`]. Errors name the JSON field and the variable, never a value.

use crate::backoff::Backoff;
use crate::config::{
    check_callout_timeout, from_json, join_path, parse_duration_ms, read_fields, secret_from_env,
    ConfigError, FromJson, Node,
};
use crate::secret::Secret;

/// Looks up an environment variable by name (`std::env::var` in the host).
pub use crate::config::EnvResolver;

const DEFAULT_TIMEOUT: &str = "5s";
const DEFAULT_PREFIX: &str = "/v1";
const DEFAULT_KV_REFRESH: &str = "60s";
/// Shortest accepted first retry: below it, a fault turns into a call storm.
const MIN_RETRY_INITIAL_MS: u64 = 100;

#[derive(Clone, Debug)]
pub struct VaultConfigDto {
    pub connection: ConnectionDto,
    /// The plugin's own login; needed for `secrets`, optional with only `per_user_jwt`.
    pub auth: Option<AuthDto>,
    pub per_user_jwt: Option<PerUserJwtDto>,
    pub secrets: Vec<SecretDto>,
    /// How often KV v2 secrets are re-read, e.g. `"60s"`.
    pub kv_refresh_interval: Option<String>,
    /// Backoff after failed calls; default 1 s doubling up to 5 min.
    pub retry: Option<RetryDto>,
}

from_json!(VaultConfigDto {
    connection,
    auth: optional,
    per_user_jwt: optional,
    secrets: default,
    kv_refresh_interval: optional,
    retry: optional,
});

#[derive(Clone, Debug)]
pub struct RetryDto {
    /// First wait after a failure, e.g. `"1s"`; doubles with each failure.
    pub initial: Option<String>,
    /// Longest wait, e.g. `"5m"`; also bounds a server's `Retry-After`.
    pub max: Option<String>,
}

from_json!(RetryDto {
    initial: optional,
    max: optional,
});

#[derive(Clone, Debug)]
pub struct ConnectionDto {
    /// Envoy cluster name the callouts go to.
    pub cluster: String,
    /// `:authority` of the callouts, e.g. `vault.vault.svc:8200`.
    pub authority: String,
    pub namespace: Option<String>,
    pub timeout: Option<String>,
    pub path_prefix: Option<String>,
}

from_json!(ConnectionDto {
    cluster,
    authority,
    namespace: optional,
    timeout: optional,
    path_prefix: optional,
});

#[derive(Clone, Debug)]
pub enum AuthDto {
    Kubernetes {
        role: String,
        mount: Option<String>,
        jwt_env: String,
    },
    Approle {
        mount: Option<String>,
        role_id_env: String,
        secret_id_env: String,
        secret_id_wrapped: bool,
    },
    Jwt {
        mount: Option<String>,
        role: Option<String>,
        jwt_env: String,
    },
    /// A fixed token (development only).
    Token { token_env: String },
}

impl FromJson for AuthDto {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        match node.tagged(&["kubernetes", "approle", "jwt", "token"])? {
            (0, data) => read_fields!(data => Self::Kubernetes { role, mount: optional, jwt_env }),
            (1, data) => read_fields!(data => Self::Approle {
                mount: optional,
                role_id_env,
                secret_id_env,
                secret_id_wrapped: default,
            }),
            (2, data) => {
                read_fields!(data => Self::Jwt { mount: optional, role: optional, jwt_env })
            }
            (_, data) => read_fields!(data => Self::Token { token_env }),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PerUserJwtDto {
    pub mount: Option<String>,
    pub role: Option<String>,
    /// Users whose Vault token (and secret values) are cached per VM; default 1000.
    pub max_users: Option<usize>,
    /// Requests of one user that may wait for that user's Vault call in
    /// flight (per VM); more get 503 `credential_busy`. Default 100.
    pub max_waiting: Option<usize>,
}

from_json!(PerUserJwtDto {
    mount: optional,
    role: optional,
    max_users: optional,
    max_waiting: optional,
});

#[derive(Clone, Debug)]
pub struct SecretDto {
    pub name: String,
    pub kind: SecretKindDto,
}

from_json!(SecretDto { name, kind });

#[derive(Clone, Debug)]
pub enum SecretKindDto {
    Kv2 {
        mount: Option<String>,
        path: String,
        version: Option<u64>,
        fields: Vec<String>,
    },
    Dynamic {
        path: String,
        fields: Vec<String>,
    },
    /// A token Vault issues and signs itself (`identity/oidc/token/<role>`):
    /// a short-lived JWT a backend verifies against Vault's OIDC JWKS.
    IdentityToken {
        role: String,
    },
}

impl FromJson for SecretKindDto {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        match node.tagged(&["kv2", "dynamic", "identity_token"])? {
            (0, data) => read_fields!(data => Self::Kv2 {
                mount: optional,
                path,
                version: optional,
                fields,
            }),
            (1, data) => read_fields!(data => Self::Dynamic { path, fields }),
            (_, data) => read_fields!(data => Self::IdentityToken { role }),
        }
    }
}

/// Compiled, validated Vault configuration.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    pub connection: Connection,
    /// `None` when the plugin only logs in per user (`per_user_jwt`, no `secrets`).
    pub auth: Option<AuthMethod>,
    pub per_user_jwt: Option<PerUserJwt>,
    pub secrets: Vec<SecretSpec>,
    pub kv_refresh_interval_ms: u64,
    /// Backoff for failed calls (jittered, see [`Backoff`]).
    pub retry: Backoff,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub cluster: String,
    pub authority: String,
    /// Sent as `X-Vault-Namespace` when set.
    pub namespace: Option<String>,
    /// Callout timeout, 1 ms to 60 s: never 0 (Envoy reads 0 as "no
    /// timeout"), never large enough to wrap around in proxy-wasm's `u32`.
    pub timeout_ms: u64,
    /// API prefix without a trailing `/`, e.g. `/v1`.
    pub path_prefix: String,
}

/// How the plugin logs in; credentials are already resolved from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Kubernetes {
        mount: String,
        role: String,
        jwt: Secret,
    },
    AppRole {
        mount: String,
        role_id: Secret,
        secret_id: Secret,
        secret_id_wrapped: bool,
    },
    Jwt {
        mount: String,
        role: Option<String>,
        jwt: Secret,
    },
    Token {
        token: Secret,
    },
}

/// Login with the request's verified user JWT (per-subject Vault tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerUserJwt {
    pub mount: String,
    pub role: Option<String>,
    /// Capacity of the per-VM user token and value caches.
    pub max_users: usize,
    /// Requests of one user that may wait for its call in flight (per VM).
    pub max_waiting: usize,
}

/// Default [`PerUserJwt::max_users`].
pub const DEFAULT_MAX_USERS: usize = 1000;
/// Default [`PerUserJwt::max_waiting`].
pub const DEFAULT_MAX_WAITING: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: String,
    pub kind: SecretKind,
    /// Fields picked from the secret's data map; each must be present.
    pub fields: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretKind {
    Kv2 {
        mount: String,
        path: String,
        version: Option<u64>,
    },
    Dynamic {
        path: String,
    },
    /// `identity/oidc/token/<role>`; valid for the `ttl` Vault answers with.
    IdentityToken {
        path: String,
    },
}

/// The fields an identity token offers: the signed JWT and its audience.
pub const IDENTITY_TOKEN_FIELDS: [&str; 2] = ["token", "client_id"];

impl SecretSpec {
    pub fn is_dynamic(&self) -> bool {
        matches!(self.kind, SecretKind::Dynamic { .. })
    }
}

impl VaultConfigDto {
    /// Validates the DTO and resolves credentials through `env`.
    pub fn compile(self, env: EnvResolver<'_>) -> Result<VaultConfig, ConfigError> {
        let connection = self
            .connection
            .compile()
            .map_err(|e| e.under("connection"))?;
        let auth = self
            .auth
            .map(|a| a.compile(env))
            .transpose()
            .map_err(|e| e.under("auth"))?;
        let per_user_jwt = self
            .per_user_jwt
            .map(|p| -> Result<PerUserJwt, ConfigError> {
                let max_users = p.max_users.unwrap_or(DEFAULT_MAX_USERS);
                if max_users == 0 {
                    return Err(ConfigError::new("max_users", "must be at least 1"));
                }
                let max_waiting = p.max_waiting.unwrap_or(DEFAULT_MAX_WAITING);
                if max_waiting == 0 {
                    return Err(ConfigError::new("max_waiting", "must be at least 1"));
                }
                Ok(PerUserJwt {
                    mount: mount_or(p.mount, "jwt", "mount")?,
                    role: p.role.map(|r| name_like("role", r)).transpose()?,
                    max_users,
                    max_waiting,
                })
            })
            .transpose()
            .map_err(|e| e.under("per_user_jwt"))?;
        if auth.is_none() {
            if !self.secrets.is_empty() {
                return Err(ConfigError::new("auth", "is required to read `secrets`")
                    .with_hint("add e.g. {\"kubernetes\": {\"role\": ..., \"jwt_env\": ...}}"));
            }
            if per_user_jwt.is_none() {
                return Err(ConfigError::new(
                    "auth",
                    "set `auth` (the plugin's own login) or `per_user_jwt`",
                ));
            }
        }
        let mut secrets: Vec<SecretSpec> = Vec::with_capacity(self.secrets.len());
        for (i, s) in self.secrets.into_iter().enumerate() {
            let at = format!("secrets[{i}]");
            let spec = s.compile().map_err(|e| e.under(&at))?;
            if secrets.iter().any(|o| o.name == spec.name) {
                return Err(ConfigError::new(
                    join_path(&at, "name"),
                    format!("duplicate secret name `{}`", spec.name),
                ));
            }
            secrets.push(spec);
        }
        let refresh = self
            .kv_refresh_interval
            .as_deref()
            .unwrap_or(DEFAULT_KV_REFRESH);
        let kv_refresh_interval_ms = parse_duration_ms("kv_refresh_interval", refresh)?;
        if kv_refresh_interval_ms < 1_000 {
            return Err(ConfigError::new(
                "kv_refresh_interval",
                "must be at least 1s",
            ));
        }
        let retry = match self.retry {
            None => super::RETRY_BACKOFF,
            Some(r) => r.compile().map_err(|e| e.under("retry"))?,
        };
        Ok(VaultConfig {
            connection,
            auth,
            per_user_jwt,
            secrets,
            kv_refresh_interval_ms,
            retry,
        })
    }
}

impl RetryDto {
    fn compile(self) -> Result<Backoff, ConfigError> {
        let default = super::RETRY_BACKOFF;
        let initial = match self.initial.as_deref() {
            Some(t) => parse_duration_ms("initial", t)?,
            None => default.base_ms,
        };
        let max = match self.max.as_deref() {
            Some(t) => parse_duration_ms("max", t)?,
            None => default.max_ms.max(initial),
        };
        if initial < MIN_RETRY_INITIAL_MS {
            return Err(ConfigError::new("initial", "must be at least 100ms"));
        }
        if max < initial {
            return Err(ConfigError::new(
                "max",
                "must not be shorter than `initial`",
            ));
        }
        Ok(Backoff::new(initial, max))
    }
}

impl ConnectionDto {
    fn compile(self) -> Result<Connection, ConfigError> {
        crate::config::check_cluster("cluster", &self.cluster)?;
        crate::config::check_authority("authority", &self.authority)?;
        let namespace = match self.namespace {
            None => None,
            Some(ns) => {
                let trimmed = ns.trim_end_matches('/');
                validate_path("namespace", trimmed)?;
                Some(format!("{trimmed}/"))
            }
        };
        let timeout_ms = parse_duration_ms(
            "timeout",
            self.timeout.as_deref().unwrap_or(DEFAULT_TIMEOUT),
        )?;
        check_callout_timeout("timeout", timeout_ms)?;
        let prefix = self
            .path_prefix
            .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        let inner = prefix
            .strip_prefix('/')
            .ok_or_else(|| ConfigError::new("path_prefix", "must start with `/`, e.g. \"/v1\""))?;
        let inner = inner.trim_end_matches('/');
        validate_path("path_prefix", inner)?;
        Ok(Connection {
            cluster: self.cluster,
            authority: self.authority,
            namespace,
            timeout_ms,
            path_prefix: format!("/{inner}"),
        })
    }
}

impl AuthDto {
    fn compile(self, env: EnvResolver<'_>) -> Result<AuthMethod, ConfigError> {
        Ok(match self {
            AuthDto::Kubernetes {
                role,
                mount,
                jwt_env,
            } => AuthMethod::Kubernetes {
                mount: mount_or(mount, "kubernetes", "kubernetes.mount")?,
                role: name_like("kubernetes.role", role)?,
                jwt: secret_from_env(env, "kubernetes.jwt_env", &jwt_env)?,
            },
            AuthDto::Approle {
                mount,
                role_id_env,
                secret_id_env,
                secret_id_wrapped,
            } => AuthMethod::AppRole {
                mount: mount_or(mount, "approle", "approle.mount")?,
                role_id: secret_from_env(env, "approle.role_id_env", &role_id_env)?,
                secret_id: secret_from_env(env, "approle.secret_id_env", &secret_id_env)?,
                secret_id_wrapped,
            },
            AuthDto::Jwt {
                mount,
                role,
                jwt_env,
            } => AuthMethod::Jwt {
                mount: mount_or(mount, "jwt", "jwt.mount")?,
                role: role.map(|r| name_like("jwt.role", r)).transpose()?,
                jwt: secret_from_env(env, "jwt.jwt_env", &jwt_env)?,
            },
            AuthDto::Token { token_env } => AuthMethod::Token {
                token: secret_from_env(env, "token.token_env", &token_env)?,
            },
        })
    }
}

impl SecretDto {
    fn compile(self) -> Result<SecretSpec, ConfigError> {
        let name = self.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(ConfigError::new("name", "must be non-empty [A-Za-z0-9_.-]"));
        }
        let (kind, fields) = match self.kind {
            SecretKindDto::Kv2 {
                mount,
                path,
                version,
                fields,
            } => {
                validate_path("kind.kv2.path", &path)?;
                if version == Some(0) {
                    return Err(ConfigError::new("kind.kv2.version", "versions start at 1"));
                }
                let mount = mount_or(mount, "secret", "kind.kv2.mount")?;
                let fields = validate_fields("kind.kv2.fields", fields)?;
                (
                    SecretKind::Kv2 {
                        mount,
                        path,
                        version,
                    },
                    fields,
                )
            }
            SecretKindDto::Dynamic { path, fields } => {
                validate_path("kind.dynamic.path", &path)?;
                let fields = validate_fields("kind.dynamic.fields", fields)?;
                (SecretKind::Dynamic { path }, fields)
            }
            SecretKindDto::IdentityToken { role } => {
                let valid = !role.is_empty()
                    && role
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    && role != "."
                    && role != "..";
                if !valid {
                    return Err(ConfigError::new(
                        "kind.identity_token.role",
                        "must be the name of a Vault identity OIDC role, [A-Za-z0-9_.-]",
                    ));
                }
                (
                    SecretKind::IdentityToken {
                        path: format!("identity/oidc/token/{role}"),
                    },
                    IDENTITY_TOKEN_FIELDS.map(str::to_string).to_vec(),
                )
            }
        };
        Ok(SecretSpec { name, kind, fields })
    }
}

fn validate_fields(at: &str, fields: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if fields.is_empty() {
        return Err(ConfigError::new(at, "list at least one field to read"));
    }
    for (i, f) in fields.iter().enumerate() {
        if f.is_empty() || f.chars().any(char::is_control) {
            return Err(ConfigError::new(
                format!("{at}[{i}]"),
                "must be a non-empty field name",
            ));
        }
        if fields.iter().take(i).any(|o| o == f) {
            return Err(ConfigError::new(
                format!("{at}[{i}]"),
                format!("duplicate field `{f}`"),
            ));
        }
    }
    Ok(fields)
}

fn mount_or(mount: Option<String>, default: &str, at: &str) -> Result<String, ConfigError> {
    let m = mount.unwrap_or_else(|| default.to_string());
    let m = m.trim_end_matches('/').to_string();
    validate_path(at, &m)?;
    Ok(m)
}

/// A role name goes into a JSON body, not a path; still refuse control characters.
fn name_like(at: &str, value: String) -> Result<String, ConfigError> {
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(ConfigError::new(at, "must be a non-empty name"));
    }
    Ok(value)
}

/// A relative Vault API path: segments of safe characters, no `..`, no leading
/// `/`, no query or fragment characters (they would change the request).
pub(crate) fn validate_path(at: &str, path: &str) -> Result<(), ConfigError> {
    let bad = |msg: &str| Err(ConfigError::new(at, msg.to_string()));
    if path.is_empty() {
        return bad("must not be empty");
    }
    if path.starts_with('/') {
        return bad("must not start with `/` (it is relative to the API prefix)");
    }
    if path
        .chars()
        .any(|c| matches!(c, '?' | '#' | '%' | '&' | '\\') || c.is_whitespace() || c.is_control())
    {
        return bad("must not contain `?`, `#`, `%`, `&`, `\\`, spaces or control characters");
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return bad("must not contain empty, `.` or `..` segments");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
