//! oidc-auth configuration: the raw JSON form (DTOs) and its compilation
//! into an [`OidcPolicy`], built once at configure time.

use super::discovery::{discovery_url, UrlParts};
use super::policy::{
    all_token_sources, claim_header_names, DefaultAction, JwksSource, OidcPolicy, Provider,
    Requirement, Rule,
};
use super::token_source::{TokenSource, TokenSourceConfig};
use crate::backoff::Backoff;
use crate::claims::{ArrayFormat, ClaimPathConfig, ConditionConfig, ExtractConfig};
use crate::config::{from_json, parse_duration_ms, Compile, ConfigError, MAX_CALLOUT_TIMEOUT_MS};
use crate::cors::CorsConfig;
use crate::jwt::{
    parse_alg_list, Algorithm, ClaimsPolicy, Jwk, JwksLimits, KeySet, LargeCurveKey, TokenPolicy,
    DEFAULT_MAX_TOKEN_BYTES,
};
use crate::refresh::RefreshPolicy;
use crate::routes::{RouteMatchConfig, RouteTable};

pub use crate::config::EnvResolver;

/// The whole plugin configuration.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub providers: Vec<ProviderConfig>,
    /// Ordered; the first rule whose match fits the request decides.
    pub rules: Vec<RuleConfig>,
    /// What happens when no rule matches: `deny` (default), `authenticated`
    /// (any valid token from any provider) or `allow`.
    pub default_action: DefaultAction,
    /// `realm` in `WWW-Authenticate` challenges.
    pub realm: String,
    /// Let CORS preflights (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) through without a token.
    pub allow_cors_preflight: bool,
    /// Origins whose browsers may read our 401/403 answers.
    pub cors: Option<CorsConfig>,
    /// Claims (top-level names) published with the verified identity for later plugins.
    pub publish_claims: Vec<String>,
    /// Verified tokens cached per VM (0 disables the cache).
    pub token_cache_entries: usize,
    /// Offload RS*/ES* signature checks to Envoy's native `verify_signature`
    /// when a start-up self-test shows the host does them right.
    pub host_signature_verification: bool,
}

from_json!(OidcConfig {
    providers,
    rules: default,
    default_action: default,
    realm: or_else(default_realm),
    allow_cors_preflight: or_else(yes),
    cors: optional,
    publish_claims: default,
    token_cache_entries: or_else(default_cache_entries),
    host_signature_verification: or_else(yes),
});

#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// A short name used in rules, metrics and the published identity.
    pub name: String,
    /// Compared exactly with the token's `iss` (and the discovery document's `issuer`).
    pub issuer: String,
    /// At least one must be in the token's `aud`. Empty: `aud` is not checked.
    pub audiences: Vec<String>,
    /// The Envoy cluster that reaches the IdP (discovery and JWKS).
    pub cluster: Option<String>,
    /// Explicit JWKS URL; without it (and without `inline_jwks`) the plugin uses OIDC discovery.
    pub jwks_uri: Option<String>,
    /// A JWKS document given in the configuration (no fetching).
    pub inline_jwks: Option<serde_json::Value>,
    /// Env var holding a shared secret for HS256/384/512 (never inline).
    pub hmac_secret_env: Option<String>,
    /// Accepted `alg`s; None: every asymmetric algorithm.
    pub algorithms: Option<Vec<String>>,
    pub clock_skew: String,
    pub max_token_age: Option<String>,
    pub require_exp: bool,
    pub max_token_bytes: Option<usize>,
    /// Keys tried for a token without `kid` (of the matching type only).
    pub max_untagged_keys: usize,
    /// Where tokens are read from; default `Authorization: Bearer`.
    pub token_sources: Vec<TokenSourceConfig>,
    /// Keep the token on the request sent upstream (default true).
    pub forward_token: bool,
    pub claims_to_headers: Vec<ClaimHeaderConfig>,
    pub refresh_interval: String,
    /// How long the last good key set serves while the IdP is unreachable.
    pub max_staleness: String,
    /// At most one JWKS refetch per this interval for tokens with an unknown `kid`.
    pub unknown_kid_refetch_interval: String,
    pub fetch_timeout: String,
    /// Longest delay between retries after failed key fetches (they back off from 1 s, doubling, with jitter).
    pub fetch_backoff_max: String,
    /// Largest JWKS document accepted; a larger one is refused (`jwks_too_large`) and the last good keys stay.
    pub max_jwks_bytes: usize,
}

from_json!(ProviderConfig {
    name,
    issuer,
    audiences: default,
    cluster: optional,
    jwks_uri: optional,
    inline_jwks: optional,
    hmac_secret_env: optional,
    algorithms: optional,
    clock_skew: or_else(default_skew),
    max_token_age: optional,
    require_exp: or_else(yes),
    max_token_bytes: optional,
    max_untagged_keys: or_else(default_untagged),
    token_sources: default,
    forward_token: or_else(yes),
    claims_to_headers: default,
    refresh_interval: or_else(default_refresh),
    max_staleness: or_else(default_staleness),
    unknown_kid_refetch_interval: or_else(default_refetch),
    fetch_timeout: or_else(default_fetch_timeout),
    fetch_backoff_max: or_else(default_fetch_backoff_max),
    max_jwks_bytes: or_else(default_max_jwks_bytes),
});

/// `{"header": "x-user-roles", "claim": "realm_access.roles", "array": "joined", "separator": ","}`
#[derive(Clone, Debug)]
pub struct ClaimHeaderConfig {
    pub header: String,
    pub claim: ClaimPathConfig,
    pub array: ArrayFormat,
    pub separator: Option<String>,
    pub max_length: Option<usize>,
}

from_json!(ClaimHeaderConfig {
    header,
    claim,
    array: default,
    separator: optional,
    max_length: optional,
});

#[derive(Clone, Debug)]
pub struct RuleConfig {
    pub matcher: RouteMatchConfig,
    /// No token needed (claim headers are still stripped).
    pub public: bool,
    /// Accept tokens only from these providers (default: all).
    pub providers: Option<Vec<String>>,
    /// Conditions on the verified claims.
    pub claims: Option<ConditionConfig>,
}

from_json!(RuleConfig {
    matcher as "match",
    public: default,
    providers: optional,
    claims: optional,
});

fn yes() -> bool {
    true
}
fn default_realm() -> String {
    "mesh".into()
}
fn default_cache_entries() -> usize {
    1024
}
fn default_algorithms() -> Vec<String> {
    [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
fn default_skew() -> String {
    "60s".into()
}
fn default_untagged() -> usize {
    2
}
fn default_refresh() -> String {
    "10m".into()
}
fn default_staleness() -> String {
    "24h".into()
}
fn default_refetch() -> String {
    "30s".into()
}
fn default_fetch_timeout() -> String {
    "5s".into()
}
fn default_fetch_backoff_max() -> String {
    "5m".into()
}
fn default_max_jwks_bytes() -> usize {
    DEFAULT_MAX_JWKS_BYTES
}

/// Default of `providers[].max_jwks_bytes` (64 KiB: room for the 32 keys kept, even RSA-4096).
pub const DEFAULT_MAX_JWKS_BYTES: usize = 64 * 1024;
/// Accepted range of `providers[].max_jwks_bytes`.
pub const JWKS_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=1024 * 1024;
/// Shortest accepted `providers[].fetch_backoff_max`: the first retry waits up to 1 s.
const MIN_BACKOFF_MAX_MS: u64 = 1_000;
/// Accepted range of `providers[].fetch_timeout`, in ms.
/// Its maximum is every callout's ([`MAX_CALLOUT_TIMEOUT_MS`]: proxy-wasm hands
/// Envoy 32-bit milliseconds).
const FETCH_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=MAX_CALLOUT_TIMEOUT_MS;
/// Accepted range of `providers[].max_untagged_keys`: each is one more
/// signature check for a token that names no key.
const UNTAGGED_KEYS_RANGE: std::ops::RangeInclusive<usize> = 1..=8;

/// Parses and compiles with the process environment (`std::env::var`), as the filter does.
pub fn load(raw: &[u8], env: EnvResolver<'_>) -> Result<OidcPolicy, ConfigError> {
    crate::config::parse_json::<OidcConfig>(raw)?.compile_with(env)
}

impl OidcConfig {
    pub fn compile_with(self, env: EnvResolver<'_>) -> Result<OidcPolicy, ConfigError> {
        if self.providers.is_empty() {
            return Err(ConfigError::new(
                "providers",
                "at least one provider is required",
            ));
        }
        let mut providers: Vec<Provider> = Vec::with_capacity(self.providers.len());
        for (i, p) in self.providers.into_iter().enumerate() {
            let path = format!("providers[{i}]");
            let compiled = p.compile(&path, env, self.host_signature_verification)?;
            if providers.iter().any(|q| q.name == compiled.name) {
                return Err(ConfigError::new(
                    format!("{path}.name"),
                    format!("duplicate provider name `{}`", compiled.name),
                ));
            }
            if providers.iter().any(|q| q.issuer == compiled.issuer) {
                return Err(ConfigError::new(
                    format!("{path}.issuer"),
                    "two providers have the same issuer",
                )
                .with_hint(
                    "the provider is chosen by the token's `iss`, so issuers must be unique",
                ));
            }
            providers.push(compiled);
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, r) in self.rules.into_iter().enumerate() {
            let path = format!("rules[{i}]");
            let matcher = r
                .matcher
                .compile()
                .map_err(|e| e.under(&format!("{path}.match")))?;
            let requirement =
                compile_requirement(&path, r.public, r.providers, r.claims, &providers)?;
            rules.push((
                matcher,
                Rule {
                    index: i,
                    requirement,
                },
            ));
        }
        if self.realm.contains(['"', '\\']) || self.realm.chars().any(|c| c.is_control()) {
            return Err(ConfigError::new(
                "realm",
                "must not contain quotes, backslashes or control characters",
            ));
        }
        let cors = match self.cors {
            Some(c) => Some(c.compile().map_err(|e| e.under("cors"))?),
            None => None,
        };
        for (i, claim) in self.publish_claims.iter().enumerate() {
            if claim.is_empty() {
                return Err(ConfigError::new(
                    format!("publish_claims[{i}]"),
                    "empty claim name",
                ));
            }
        }
        Ok(OidcPolicy {
            claim_header_names: claim_header_names(&providers),
            token_sources: all_token_sources(&providers),
            providers,
            rules: RouteTable::new(rules),
            default_action: self.default_action,
            realm: self.realm,
            allow_cors_preflight: self.allow_cors_preflight,
            cors,
            publish_claims: self.publish_claims,
            token_cache_entries: self.token_cache_entries,
            host_signature_verification: self.host_signature_verification,
        })
    }
}

fn compile_requirement(
    path: &str,
    public: bool,
    names: Option<Vec<String>>,
    claims: Option<ConditionConfig>,
    providers: &[Provider],
) -> Result<Requirement, ConfigError> {
    if public {
        if names.is_some() || claims.is_some() {
            return Err(ConfigError::new(
                format!("{path}.public"),
                "a public rule cannot also require providers or claims",
            ));
        }
        return Ok(Requirement::Public);
    }
    let allowed = match names {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(ConfigError::new(format!("{path}.providers"), "empty list")
                .with_hint("omit `providers` to accept every provider"))
        }
        Some(list) => {
            let mut idx = Vec::with_capacity(list.len());
            for (j, name) in list.iter().enumerate() {
                match providers.iter().position(|p| &p.name == name) {
                    Some(k) => idx.push(k),
                    None => {
                        return Err(ConfigError::new(
                            format!("{path}.providers[{j}]"),
                            format!("no provider is named `{name}`"),
                        ))
                    }
                }
            }
            Some(idx)
        }
    };
    let condition = match claims {
        Some(c) => Some(
            c.compile()
                .map_err(|e| e.under(&format!("{path}.claims")))?,
        ),
        None => None,
    };
    Ok(Requirement::Token {
        providers: allowed,
        claims: condition,
    })
}

impl ProviderConfig {
    /// `host_verifies`: the top-level `host_signature_verification`.
    fn compile(
        self,
        path: &str,
        env: EnvResolver<'_>,
        host_verifies: bool,
    ) -> Result<Provider, ConfigError> {
        let field = |f: &str| format!("{path}.{f}");
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::new(
                field("name"),
                "use letters, digits, `-` and `_`",
            ));
        }
        if self.issuer.is_empty() || self.issuer.trim() != self.issuer {
            return Err(ConfigError::new(
                field("issuer"),
                "must be non-empty without surrounding spaces",
            ));
        }
        let algorithms = parse_alg_list(&field("algorithms"), &self.algorithm_names())?;
        if algorithms.is_empty() {
            return Err(ConfigError::new(
                field("algorithms"),
                "at least one algorithm is required",
            ));
        }
        // Listed on purpose, but no verifier could ever accept them: refuse rather than answer
        // 401 to every such token. (The default list keeps them: those tokens get 401
        // `alg_needs_host_crypto`, and the start-up log says why.)
        if let (Some(_), false, false) = (&self.algorithms, host_verifies, LargeCurveKey::IN_VM) {
            if let Some(alg) = algorithms
                .iter()
                .find(|a| matches!(a, Algorithm::Es384 | Algorithm::Es512))
            {
                return Err(ConfigError::new(field("algorithms"), format!(
                    "{} is verified only by the proxy's verify_signature in this build, and \
                     host_signature_verification is false",
                    alg.name()
                ))
                .with_hint(
                    "turn host_signature_verification on, remove ES384/ES512, or build oidc-auth with \
                     the in-vm-p384-p521 feature",
                ));
            }
        }
        let wants_hmac = algorithms
            .iter()
            .any(|a| matches!(a, Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512));
        let keys = self.key_source(path, wants_hmac, env)?;
        let ms = |f: &str, v: &str| parse_duration_ms(&field(f), v);
        let skew_ms = ms("clock_skew", &self.clock_skew)?;
        let max_age_ms = self
            .max_token_age
            .as_deref()
            .map(|v| ms("max_token_age", v))
            .transpose()?;
        let refresh = RefreshPolicy {
            refresh_interval_ms: ms("refresh_interval", &self.refresh_interval)?.max(1_000),
            max_staleness_ms: ms("max_staleness", &self.max_staleness)?,
            min_forced_refetch_interval_ms: ms(
                "unknown_kid_refetch_interval",
                &self.unknown_kid_refetch_interval,
            )?,
            fetch_timeout_ms: ms("fetch_timeout", &self.fetch_timeout)?,
            backoff: Backoff::new(
                MIN_BACKOFF_MAX_MS,
                ms("fetch_backoff_max", &self.fetch_backoff_max)?,
            ),
        };
        if !FETCH_TIMEOUT_MS_RANGE.contains(&refresh.fetch_timeout_ms) {
            return Err(ConfigError::new(
                field("fetch_timeout"),
                "must be between 100ms and 60s",
            ));
        }
        if refresh.backoff.max_ms < MIN_BACKOFF_MAX_MS {
            return Err(
                ConfigError::new(field("fetch_backoff_max"), "must be at least 1s")
                    .with_hint("retries start 1 s after the first failure and double up to this"),
            );
        }
        if !JWKS_BYTES_RANGE.contains(&self.max_jwks_bytes) {
            return Err(ConfigError::new(
                field("max_jwks_bytes"),
                "must be between 1024 and 1048576",
            ));
        }
        if refresh.max_staleness_ms < refresh.refresh_interval_ms {
            return Err(ConfigError::new(
                field("max_staleness"),
                "must be at least `refresh_interval`",
            ));
        }
        let claims = ClaimsPolicy {
            issuer: Some(self.issuer.clone()),
            audiences: self.audiences.clone(),
            require_exp: self.require_exp,
            leeway_secs: skew_ms / 1000,
            max_age_secs: max_age_ms.map(|m| m / 1000),
        };
        let mut token = TokenPolicy::new(algorithms, claims);
        token.max_token_bytes = self.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if token.max_token_bytes < 256 || token.max_token_bytes > 64 * 1024 {
            return Err(ConfigError::new(
                field("max_token_bytes"),
                "must be between 256 and 65536",
            ));
        }
        if !UNTAGGED_KEYS_RANGE.contains(&self.max_untagged_keys) {
            return Err(ConfigError::new(
                field("max_untagged_keys"),
                "must be between 1 and 8",
            ));
        }
        token.max_untagged_keys = self.max_untagged_keys;
        let token_sources = if self.token_sources.is_empty() {
            vec![TokenSource::authorization_bearer()]
        } else {
            self.token_sources
                .iter()
                .enumerate()
                .map(|(i, s)| TokenSource::compile(s, &field(&format!("token_sources[{i}]"))))
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut claim_headers = Vec::with_capacity(self.claims_to_headers.len());
        for (i, h) in self.claims_to_headers.into_iter().enumerate() {
            let p = field(&format!("claims_to_headers[{i}]"));
            let name = h.header.to_ascii_lowercase();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || name.starts_with(':')
            {
                return Err(ConfigError::new(
                    format!("{p}.header"),
                    format!("`{}` is not a valid header name", h.header),
                ));
            }
            let extractor = ExtractConfig {
                claim: h.claim,
                array: h.array,
                separator: h.separator,
                max_length: h.max_length,
            }
            .compile()
            .map_err(|e| e.under(&p))?;
            claim_headers.push((name, extractor));
        }
        Ok(Provider {
            name: self.name,
            issuer: self.issuer,
            keys,
            token,
            token_sources,
            forward_token: self.forward_token,
            claim_headers,
            refresh,
        })
    }

    fn jwks_limits(&self) -> JwksLimits {
        JwksLimits {
            max_bytes: self.max_jwks_bytes,
            ..JwksLimits::default()
        }
    }

    fn algorithm_names(&self) -> Vec<String> {
        self.algorithms.clone().unwrap_or_else(default_algorithms)
    }

    fn hmac_algorithms(&self) -> Result<Vec<Algorithm>, ConfigError> {
        Ok(parse_alg_list("algorithms", &self.algorithm_names())?
            .into_iter()
            .filter(|a| matches!(a, Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512))
            .collect())
    }

    fn key_source(
        &self,
        path: &str,
        wants_hmac: bool,
        env: EnvResolver<'_>,
    ) -> Result<JwksSource, ConfigError> {
        let field = |f: &str| format!("{path}.{f}");
        let mut extra: Vec<Jwk> = Vec::new();
        if let Some(var) = &self.hmac_secret_env {
            let secret = env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    field("hmac_secret_env"),
                    format!("environment variable `{var}` is not set or empty"),
                )
            })?;
            for alg in self.hmac_algorithms()? {
                extra.push(
                    Jwk::hmac_secret(None, alg, secret.as_bytes()).map_err(|why| {
                        ConfigError::new(
                            field("hmac_secret_env"),
                            format!(
                                "the secret in `{var}` is not usable for {}: {why}",
                                alg.name()
                            ),
                        )
                    })?,
                );
            }
            if extra.is_empty() {
                return Err(ConfigError::new(
                    field("hmac_secret_env"),
                    "set, but `algorithms` lists no HS256/384/512",
                ));
            }
        } else if wants_hmac {
            return Err(ConfigError::new(
                field("algorithms"),
                "HS256/384/512 need `hmac_secret_env`",
            )
            .with_hint(
                "HMAC algorithms are only accepted with an explicitly configured shared secret",
            ));
        }
        if let Some(inline) = &self.inline_jwks {
            if self.jwks_uri.is_some() {
                return Err(ConfigError::new(
                    field("inline_jwks"),
                    "set either `inline_jwks` or `jwks_uri`, not both",
                ));
            }
            let text = serde_json::to_vec(inline).unwrap_or_default();
            let (set, skipped) = KeySet::from_jwks(&text, self.jwks_limits()).map_err(|e| {
                ConfigError::new(field("inline_jwks"), format!("not a usable JWKS: {e}"))
            })?;
            // Unlike a fetched JWKS (bad entries skipped, the good ones kept), a
            // configured key that cannot be used is a mistake to report now,
            // not a silent `unknown_kid` for its tokens later.
            if let Some(bad) = skipped.first() {
                return Err(ConfigError::new(
                    field(&format!("inline_jwks.keys[{}]", bad.index)),
                    format!(
                        "unusable key ({}): {}",
                        bad.reason.code(),
                        bad.reason.description()
                    ),
                ));
            }
            let mut keys: Vec<Jwk> = set.keys().to_vec();
            keys.extend(extra);
            if keys.is_empty() {
                return Err(ConfigError::new(field("inline_jwks"), "no usable key"));
            }
            let set = KeySet::from_keys(keys).map_err(|e| {
                ConfigError::new(field("inline_jwks"), format!("not a usable key set: {e}"))
            })?;
            return Ok(JwksSource::Inline(set));
        }
        if self.jwks_uri.is_none() && self.cluster.is_none() && !extra.is_empty() {
            let set = KeySet::from_keys(extra).map_err(|e| {
                ConfigError::new(field("hmac_secret_env"), format!("not a usable key: {e}"))
            })?;
            return Ok(JwksSource::Inline(set));
        }
        let cluster = self
            .cluster
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                ConfigError::new(field("cluster"), "required to fetch keys").with_hint(
                    "the Envoy cluster that reaches the IdP, e.g. `outbound|443||idp.example.com`",
                )
            })?;
        let (discovery, url_text) = match &self.jwks_uri {
            Some(u) => (false, u.clone()),
            None => (true, discovery_url(&self.issuer)),
        };
        let url = UrlParts::parse(&url_text).ok_or_else(|| {
            let f = if discovery { "issuer" } else { "jwks_uri" };
            ConfigError::new(field(f), format!("`{url_text}` is not an http(s) URL"))
        })?;
        Ok(JwksSource::Remote {
            cluster,
            discovery,
            url,
            extra_keys: extra,
            limits: self.jwks_limits(),
        })
    }
}
