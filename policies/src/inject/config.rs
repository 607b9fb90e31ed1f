//! Credential-injector configuration: DTO (`deny_unknown_fields`) →
//! [`Injector`]. Credentials never appear in the configuration: static
//! values and OAuth2 client credentials name environment variables, Vault
//! secrets name an entry of the `vault` section.

use super::oauth2::{ClientAuth, OAuth2Client};
use super::per_user::{PerUserSecret, VaultPerUserDto};
use super::template::Template;
use crate::claims::{Condition, ConditionConfig};
use crate::config::{
    check_callout_timeout, from_json, join_path, parse_duration_ms, read_fields, secret_from_env,
    Compile, ConfigError, FromJson, Node,
};
use crate::cors::{check_header_names, CorsConfig, CorsPolicy};
use crate::routes::{check_path, PathConfig, QueryConfig, RouteMatchConfig, RouteTable};
use crate::vault::{EnvResolver, SecretValue, VaultConfig, VaultConfigDto};
use crate::vec_map::VecMap;

/// Methods allowed in CORS when a route accepts any method.
const ANY_METHOD_CORS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/// Request headers that must never be set from a template.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
];

#[derive(Clone, Debug)]
pub struct InjectorConfigDto {
    pub backends: Vec<BackendDto>,
    pub cors: Option<InjectCorsDto>,
    pub csrf: Option<CsrfDto>,
    /// Vault connection, login and the secrets backends refer to.
    pub vault: Option<VaultConfigDto>,
}

from_json!(InjectorConfigDto {
    backends,
    cors: optional,
    csrf: optional,
    vault: optional,
});

fn yes() -> bool {
    true
}

#[derive(Clone, Debug)]
pub struct BackendDto {
    pub name: String,
    /// The allowlist: a request must match one of these to get the credential.
    pub routes: Vec<RouteDto>,
    pub credential: CredentialDto,
    pub injection: InjectionDto,
    /// Remove the browser's `Authorization` header (default true).
    pub strip_user_authorization: bool,
    /// Remove the browser's `Cookie` header (default true): the backend gets
    /// the app's credential, never the user's session.
    pub strip_cookies: bool,
    pub path_prefix_rewrite: Option<PathRewriteDto>,
    /// Require a verified identity from oidc-auth (default true).
    pub require_user: bool,
    pub max_body_bytes: Option<u64>,
}

from_json!(BackendDto {
    name,
    routes,
    credential,
    injection,
    strip_user_authorization: or_else(yes),
    strip_cookies: or_else(yes),
    path_prefix_rewrite: optional,
    require_user: or_else(yes),
    max_body_bytes: optional,
});

/// One allowed route: the `policies::routes` matcher fields plus claims.
#[derive(Clone, Debug)]
pub struct RouteDto {
    pub methods: Option<Vec<String>>,
    pub path: PathConfig,
    pub query: Vec<QueryConfig>,
    pub case_insensitive: bool,
    /// Claim conditions the verified identity must satisfy.
    pub claims: Option<ConditionConfig>,
}

from_json!(RouteDto {
    methods: optional,
    path,
    query: default,
    case_insensitive: default,
    claims: optional,
});

#[derive(Clone, Debug)]
pub enum CredentialDto {
    /// Values from environment variables: `env` is the primary value
    /// (`{secret}`), `fields` maps more placeholder names to variables.
    Static {
        env: Option<String>,
        fields: VecMap<String, String>,
    },
    /// A secret of the `vault` section; `field` becomes `{secret}`, every
    /// configured field of the secret is available as `{field}`.
    Vault {
        secret: String,
        field: Option<String>,
    },
    /// OAuth2 client credentials grant; the access token is `{secret}`.
    Oauth2(Box<OAuth2ClientDto>),
    /// A KV v2 secret read with the user's own Vault token (login with the
    /// verified user JWT through `vault.per_user_jwt`): Vault's policies
    /// decide per user. Every field is a placeholder, `field` is `{secret}`.
    VaultPerUser(Box<VaultPerUserDto>),
}

impl FromJson for CredentialDto {
    fn read(node: Node<'_, '_>) -> Result<Self, ConfigError> {
        match node.tagged(&["static", "vault", "oauth2", "vault_per_user"])? {
            (0, data) => read_fields!(data => Self::Static { env: optional, fields: default }),
            (1, data) => read_fields!(data => Self::Vault { secret, field: optional }),
            (2, data) => FromJson::read(data).map(Self::Oauth2),
            (_, data) => FromJson::read(data).map(Self::VaultPerUser),
        }
    }
}

#[derive(Clone, Debug)]
pub struct OAuth2ClientDto {
    pub token_endpoint: TokenEndpointDto,
    pub client_id_env: String,
    pub client_secret_env: String,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    /// `basic` (HTTP Basic, default) or `post` (credentials in the form body).
    pub client_auth: Option<String>,
    /// Callout timeout, default `5s`.
    pub timeout: Option<String>,
    /// Fetch a new token this long before expiry, default `60s`.
    pub refresh_before: Option<String>,
}

from_json!(OAuth2ClientDto {
    token_endpoint,
    client_id_env,
    client_secret_env,
    scope: optional,
    audience: optional,
    resource: optional,
    client_auth: optional,
    timeout: optional,
    refresh_before: optional,
});

#[derive(Clone, Debug)]
pub struct TokenEndpointDto {
    pub cluster: String,
    pub authority: String,
    pub path: String,
}

from_json!(TokenEndpointDto {
    cluster,
    authority,
    path,
});

#[derive(Clone, Debug)]
pub struct InjectionDto {
    /// Request header to set, e.g. `authorization` or `x-api-key`.
    pub header: String,
    /// Default `Bearer {secret}` for `authorization`, `{secret}` otherwise.
    pub template: Option<String>,
    /// `overwrite` (default) or `add`.
    pub mode: Option<String>,
}

from_json!(InjectionDto {
    header,
    template: optional,
    mode: optional,
});

#[derive(Clone, Debug)]
pub struct PathRewriteDto {
    /// Segment-aware prefix to replace, e.g. `/api/payments`.
    pub from: String,
    /// Replacement, e.g. `/v2`.
    pub to: String,
}

from_json!(PathRewriteDto { from, to });

#[derive(Clone, Debug)]
pub struct InjectCorsDto {
    pub allowed_origins: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<String>,
    /// Request headers beyond `content-type` and the CSRF header.
    pub extra_allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
}

from_json!(InjectCorsDto {
    allowed_origins,
    allow_credentials: default,
    max_age: optional,
    extra_allowed_headers: default,
    exposed_headers: default,
});

#[derive(Clone, Debug, Default)]
pub struct CsrfDto {
    /// Cookie-borne requests with unsafe methods need an allowed Origin
    /// (or Referer). Default true.
    pub require_origin: Option<bool>,
    /// Cookie-borne requests with unsafe methods must carry this header.
    pub required_header: Option<String>,
}

from_json!(CsrfDto {
    require_origin: optional,
    required_header: optional,
});

/// Where a backend's credential comes from (compiled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSpec {
    /// Resolved from the environment at configure time.
    Static(SecretValue),
    Vault {
        secret: String,
        field: Option<String>,
    },
    /// Index into [`Injector::oauth2_clients`].
    OAuth2 { index: usize },
    /// Read per request with the user's Vault token (see `inject::per_user`).
    VaultPerUser(Box<PerUserSecret>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectMode {
    /// Replace any value the client sent.
    Overwrite,
    /// Add another value, keeping the client's.
    Add,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injection {
    /// Lower case.
    pub header: String,
    pub template: Template,
    pub mode: InjectMode,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRewrite {
    /// Without trailing `/`.
    pub from: String,
    pub to: String,
}

impl PathRewrite {
    /// The rewritten path (query kept) when `path` is under `from`.
    /// `case_insensitive`: compare `from` as the matched route compared its
    /// path (ASCII case folded); otherwise a request the route allowed as
    /// `/API/...` would reach the backend under its public path.
    pub fn apply(&self, path: &str, query: Option<&str>, case_insensitive: bool) -> Option<String> {
        let head = path.get(..self.from.len())?;
        let same = if case_insensitive {
            head.eq_ignore_ascii_case(&self.from)
        } else {
            head == self.from
        };
        let rest = path.get(self.from.len()..)?;
        if !same || !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let base = self.to.trim_end_matches('/');
        let mut out = match (base.is_empty(), rest.is_empty()) {
            (true, true) => "/".to_string(),
            _ => format!("{base}{rest}"),
        };
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        Some(out)
    }
}

/// What a backend's route decides once it matched.
#[derive(Clone, Debug)]
pub(crate) struct RouteRules {
    /// Claim conditions the verified identity must satisfy.
    pub(crate) claims: Option<Condition>,
    /// The route matched the path ignoring ASCII case; the path rewrite
    /// compares the same way.
    pub(crate) case_insensitive: bool,
}

#[derive(Clone, Debug)]
pub struct Backend {
    pub name: String,
    /// Per route, in configuration order.
    pub(crate) routes: Vec<RouteRules>,
    pub credential: CredentialSpec,
    pub injection: Injection,
    pub strip_user_authorization: bool,
    pub strip_cookies: bool,
    pub path_rewrite: Option<PathRewrite>,
    pub require_user: bool,
    pub max_body_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrfPolicy {
    pub require_origin: bool,
    /// Lower case.
    pub required_header: Option<String>,
}

/// The compiled credential-injector policy, built once per configuration.
#[derive(Clone, Debug)]
pub struct Injector {
    pub backends: Vec<Backend>,
    /// (backend index, route index) per route, in configuration order.
    pub(crate) routes: RouteTable<(usize, usize)>,
    pub cors: Option<CorsPolicy>,
    pub csrf: CsrfPolicy,
    pub vault: Option<VaultConfig>,
    pub oauth2_clients: Vec<OAuth2Client>,
    /// Whether any backend looks at the verified identity.
    pub(crate) reads_identity: bool,
}

/// Alias kept for symmetry with the other plugins' `*Config` names.
pub type InjectorConfig = Injector;

impl InjectorConfigDto {
    /// Validates and compiles; `env` resolves the `*_env` variables.
    pub fn compile(self, env: EnvResolver<'_>) -> Result<Injector, ConfigError> {
        let vault = self
            .vault
            .map(|v| v.compile(env))
            .transpose()
            .map_err(|e| e.under("vault"))?;
        if self.backends.is_empty() {
            return Err(ConfigError::new("backends", "list at least one backend"));
        }
        let mut backends: Vec<Backend> = Vec::new();
        let mut table = RouteTable::default();
        let mut oauth2_clients = Vec::new();
        let mut methods: Vec<String> = Vec::new();
        let mut any_method = false;
        for (b, dto) in self.backends.into_iter().enumerate() {
            let at = format!("backends[{b}]");
            for r in &dto.routes {
                match &r.methods {
                    None => any_method = true,
                    Some(ms) => methods.extend(ms.iter().map(|m| m.to_ascii_uppercase())),
                }
            }
            let (backend, matchers, client) = dto
                .compile(env, vault.as_ref(), oauth2_clients.len())
                .map_err(|e| e.under(&at))?;
            if backends.iter().any(|o| o.name == backend.name) {
                return Err(ConfigError::new(
                    join_path(&at, "name"),
                    format!("duplicate backend name `{}`", backend.name),
                ));
            }
            for (r, m) in matchers.into_iter().enumerate() {
                table.push(m, (b, r));
            }
            oauth2_clients.extend(client);
            backends.push(backend);
        }
        let csrf_dto = self.csrf.unwrap_or_default();
        let required_header = csrf_dto
            .required_header
            .map(|h| header_name("csrf.required_header", &h))
            .transpose()?;
        let cors = match self.cors {
            None => None,
            Some(c) => {
                if any_method {
                    methods.extend(ANY_METHOD_CORS.iter().map(|m| m.to_string()));
                }
                let mut uniq: Vec<String> = Vec::new();
                for m in methods {
                    if !uniq.contains(&m) {
                        uniq.push(m);
                    }
                }
                // Checked on its own first: in the derived list below its
                // entries sit after `content-type` and the CSRF header.
                check_header_names("extra_allowed_headers", &c.extra_allowed_headers)
                    .map_err(|e| e.under("cors"))?;
                let mut headers = vec!["content-type".to_string()];
                headers.extend(required_header.clone());
                for h in c.extra_allowed_headers {
                    let h = h.to_ascii_lowercase();
                    if !headers.contains(&h) {
                        headers.push(h);
                    }
                }
                let cfg = CorsConfig {
                    allowed_origins: c.allowed_origins,
                    allowed_methods: Some(uniq),
                    allowed_headers: headers,
                    exposed_headers: c.exposed_headers,
                    allow_credentials: c.allow_credentials,
                    max_age: c.max_age,
                };
                // With the extra headers checked, only the CSRF header can
                // fail in the derived list (e.g. `*`): name that field.
                Some(cfg.compile().map_err(|e| {
                    if e.path.starts_with("allowed_headers") {
                        ConfigError {
                            path: "csrf.required_header".into(),
                            ..e
                        }
                    } else {
                        e.under("cors")
                    }
                })?)
            }
        };
        let require_origin = csrf_dto.require_origin.unwrap_or(true);
        if require_origin && cors.is_none() {
            return Err(ConfigError::new(
                "csrf.require_origin",
                "needs `cors.allowed_origins` to know which origins are allowed",
            )
            .with_hint("list the app's own origin in cors.allowed_origins, or set csrf.require_origin to false"));
        }
        // Claim rules and per-user Vault need `require_user` (checked above);
        // the per-user clause keeps this true should that rule ever loosen.
        let reads_identity = backends
            .iter()
            .any(|b| b.require_user || matches!(b.credential, CredentialSpec::VaultPerUser(_)));
        Ok(Injector {
            reads_identity,
            backends,
            routes: table,
            cors,
            csrf: CsrfPolicy {
                require_origin,
                required_header,
            },
            vault,
            oauth2_clients,
        })
    }
}

impl BackendDto {
    fn compile(
        self,
        env: EnvResolver<'_>,
        vault: Option<&VaultConfig>,
        next_oauth2: usize,
    ) -> Result<
        (
            Backend,
            Vec<crate::routes::RouteMatcher>,
            Option<OAuth2Client>,
        ),
        ConfigError,
    > {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(ConfigError::new("name", "must be non-empty [A-Za-z0-9_.-]"));
        }
        if self.routes.is_empty() {
            return Err(
                ConfigError::new("routes", "list at least one allowed route")
                    .with_hint("a backend without routes never receives its credential"),
            );
        }
        let mut matchers = Vec::with_capacity(self.routes.len());
        let mut routes = Vec::with_capacity(self.routes.len());
        for (i, r) in self.routes.into_iter().enumerate() {
            let at = format!("routes[{i}]");
            let case_insensitive = r.case_insensitive;
            let matcher = RouteMatchConfig {
                methods: r.methods,
                path: r.path,
                query: r.query,
                case_insensitive: r.case_insensitive,
            }
            .compile()
            .map_err(|e| e.under(&at))?;
            let claims = r
                .claims
                .map(|c| c.compile().map_err(|e| e.under(&join_path(&at, "claims"))))
                .transpose()?;
            if claims.is_some() && !self.require_user {
                return Err(ConfigError::new(
                    join_path(&at, "claims"),
                    "claim conditions need `require_user: true`",
                ));
            }
            matchers.push(matcher);
            routes.push(RouteRules {
                claims,
                case_insensitive,
            });
        }
        let (credential, available, client) = match self.credential {
            CredentialDto::Static { env: var, fields } => {
                let mut values = VecMap::new();
                if let Some(var) = var {
                    values.insert(
                        "secret".to_string(),
                        secret_from_env(env, "credential.static.env", &var)?,
                    );
                }
                for (name, var) in fields {
                    let at = format!("credential.static.fields.{name}");
                    if !is_field_name(&name) || name == "secret" {
                        return Err(ConfigError::new(
                            at,
                            "must be a field name [A-Za-z0-9_.-] other than `secret`",
                        ));
                    }
                    values.insert(name, secret_from_env(env, &at, &var)?);
                }
                if values.is_empty() {
                    return Err(ConfigError::new(
                        "credential.static",
                        "set `env` or `fields`",
                    ));
                }
                let available: Vec<String> = values.keys().cloned().collect();
                (
                    CredentialSpec::Static(SecretValue::new(values)),
                    available,
                    None,
                )
            }
            CredentialDto::Vault { secret, field } => {
                let Some(vault) = vault else {
                    return Err(ConfigError::new(
                        "credential.vault",
                        "no `vault` section is configured",
                    )
                    .with_hint("add a top-level `vault` section with this secret"));
                };
                let Some(spec) = vault.secrets.iter().find(|s| s.name == secret) else {
                    return Err(ConfigError::new(
                        "credential.vault.secret",
                        format!("`{secret}` is not in vault.secrets"),
                    ));
                };
                let mut available = spec.fields.clone();
                if let Some(f) = &field {
                    if !spec.fields.contains(f) {
                        return Err(ConfigError::new(
                            "credential.vault.field",
                            format!("`{f}` is not a field of vault secret `{secret}`"),
                        )
                        .with_hint(format!("its fields are: {}", spec.fields.join(", "))));
                    }
                    available.push("secret".into());
                }
                (CredentialSpec::Vault { secret, field }, available, None)
            }
            CredentialDto::VaultPerUser(dto) => {
                let at = "credential.vault_per_user";
                if vault.is_none_or(|v| v.per_user_jwt.is_none()) {
                    return Err(ConfigError::new(at, "needs `vault.per_user_jwt`")
                        .with_hint("add {\"per_user_jwt\": {\"role\": \"<jwt role>\"}} to the top-level `vault` section"));
                }
                if !self.require_user {
                    return Err(ConfigError::new(
                        at,
                        "needs `require_user: true`: the user's own token logs in to Vault",
                    ));
                }
                let spec = dto.compile().map_err(|e| e.under(at))?;
                if spec.reads_a_cookie() && !self.strip_cookies {
                    return Err(ConfigError::new(
                        "strip_cookies",
                        "must stay true when `credential.vault_per_user.token_sources` reads a cookie: the user's token would reach the backend",
                    ));
                }
                let available = spec.available_fields();
                (
                    CredentialSpec::VaultPerUser(Box::new(spec)),
                    available,
                    None,
                )
            }
            CredentialDto::Oauth2(dto) => {
                let client = dto.compile(env).map_err(|e| e.under("credential.oauth2"))?;
                (
                    CredentialSpec::OAuth2 { index: next_oauth2 },
                    vec!["secret".into(), "access_token".into()],
                    Some(client),
                )
            }
        };
        let injection = self
            .injection
            .compile(&available)
            .map_err(|e| e.under("injection"))?;
        if let CredentialSpec::VaultPerUser(spec) = &credential {
            // Overwriting `authorization` with the credential replaces the
            // user's token anyway; anything else would forward it.
            let replaced =
                injection.header == "authorization" && injection.mode == InjectMode::Overwrite;
            if spec.reads_authorization() && !self.strip_user_authorization && !replaced {
                return Err(ConfigError::new(
                    "strip_user_authorization",
                    "must stay true when `credential.vault_per_user.token_sources` reads `Authorization` (the default): the user's token would reach the backend",
                )
                .with_hint("or inject the credential into `authorization` in `overwrite` mode, which replaces the user's token"));
            }
        }
        let path_rewrite = self
            .path_prefix_rewrite
            .map(|r| {
                let clean = |at: &str, p: &str| {
                    check_path(p).map_err(|why| ConfigError::new(at, format!("`{p}`: {why}")))
                };
                clean("from", &r.from)?;
                clean("to", &r.to)?;
                let from = r.from.trim_end_matches('/').to_string();
                if from.is_empty() {
                    return Err(ConfigError::new("from", "must not be `/`")
                        .with_hint("rewrite a real prefix such as /api"));
                }
                Ok(PathRewrite { from, to: r.to })
            })
            .transpose()
            .map_err(|e| e.under("path_prefix_rewrite"))?;
        if self.max_body_bytes == Some(0) {
            return Err(ConfigError::new("max_body_bytes", "must be greater than 0"));
        }
        Ok((
            Backend {
                name: self.name,
                routes,
                credential,
                injection,
                strip_user_authorization: self.strip_user_authorization,
                strip_cookies: self.strip_cookies,
                path_rewrite,
                require_user: self.require_user,
                max_body_bytes: self.max_body_bytes,
            },
            matchers,
            client,
        ))
    }
}

impl InjectionDto {
    fn compile(self, available: &[String]) -> Result<Injection, ConfigError> {
        let header = header_name("header", &self.header)?;
        if header.starts_with(':') || FORBIDDEN_HEADERS.contains(&header.as_str()) {
            return Err(ConfigError::new(
                "header",
                format!("`{header}` cannot carry a credential"),
            ));
        }
        let text = self.template.unwrap_or_else(|| {
            if header == "authorization" {
                "Bearer {secret}".into()
            } else {
                "{secret}".into()
            }
        });
        let template =
            Template::parse(&text).map_err(|e| ConfigError::new("template", e.to_string()))?;
        for f in template.fields() {
            if !available.iter().any(|a| a == f) {
                return Err(ConfigError::new(
                    "template",
                    format!("placeholder `{{{f}}}` is not a field of the credential"),
                )
                .with_hint(format!("available: {}", available.join(", "))));
            }
        }
        let mode = match self.mode.as_deref() {
            None | Some("overwrite") => InjectMode::Overwrite,
            Some("add") => InjectMode::Add,
            Some(other) => {
                return Err(ConfigError::new(
                    "mode",
                    format!("`{other}` is not `overwrite` or `add`"),
                ))
            }
        };
        Ok(Injection {
            header,
            template,
            mode,
        })
    }
}

impl OAuth2ClientDto {
    fn compile(self, env: EnvResolver<'_>) -> Result<OAuth2Client, ConfigError> {
        let ep = self.token_endpoint;
        crate::config::check_cluster("token_endpoint.cluster", &ep.cluster)?;
        crate::config::check_authority("token_endpoint.authority", &ep.authority)?;
        check_path(&ep.path).map_err(|why| {
            ConfigError::new("token_endpoint.path", format!("`{}`: {why}", ep.path))
        })?;
        let text = |at: &str, v: Option<String>| -> Result<Option<String>, ConfigError> {
            match v {
                Some(s) if s.is_empty() || s.chars().any(char::is_control) => Err(
                    ConfigError::new(at, "must be non-empty text without control characters"),
                ),
                other => Ok(other),
            }
        };
        let client_auth = match self.client_auth.as_deref() {
            None | Some("basic") => ClientAuth::Basic,
            Some("post") => ClientAuth::Post,
            Some(other) => {
                return Err(ConfigError::new(
                    "client_auth",
                    format!("`{other}` is not `basic` or `post`"),
                ))
            }
        };
        let timeout_ms = parse_duration_ms("timeout", self.timeout.as_deref().unwrap_or("5s"))?;
        check_callout_timeout("timeout", timeout_ms)?;
        let refresh_before_ms = parse_duration_ms(
            "refresh_before",
            self.refresh_before.as_deref().unwrap_or("60s"),
        )?;
        Ok(OAuth2Client {
            cluster: ep.cluster,
            authority: ep.authority,
            path: ep.path,
            client_id: secret_from_env(env, "client_id_env", &self.client_id_env)?,
            client_secret: secret_from_env(env, "client_secret_env", &self.client_secret_env)?,
            scope: text("scope", self.scope)?,
            audience: text("audience", self.audience)?,
            resource: text("resource", self.resource)?,
            client_auth,
            timeout_ms,
            refresh_before_ms,
        })
    }
}

fn header_name(at: &str, name: &str) -> Result<String, ConfigError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(ConfigError::new(
            at,
            format!("`{name}` is not a header name"),
        ))
    }
}

fn is_field_name(f: &str) -> bool {
    !f.is_empty()
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
