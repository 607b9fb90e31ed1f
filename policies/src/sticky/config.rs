//! Sticky-session configuration: the JSON DTO and its compiled form.
//!
//! Keys are never in the JSON: `keys[i].env` names an environment variable
//! (Istio `vmConfig.env`) holding the standard base64 of 32 random bytes.
//! Errors name the field and the variable, never the value.

use super::endpoint::PinMode;
use super::keys::{CookieKey, KeyRing, KEY_LEN};
use super::opened::OpenedCookies;
use super::routes::{RouteRule, SessionSettings};
use super::set_cookie::{CookieAttributes, SameSite};
use crate::config::{from_json, join_path, parse_duration_ms, parse_json, ConfigError};
use crate::json::from_json_names;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use zeroize::Zeroizing;

/// Looks up an environment variable by name; the filter passes `std::env::var(..).ok()`.
pub use crate::config::EnvResolver;

/// Browsers cap cookie lifetimes at 400 days (RFC 6265bis).
const MAX_AGE_LIMIT_SECS: u64 = 400 * 24 * 3600;
const MAX_KEYS: usize = 8;
const MAX_ROUTES: usize = 256;

/// The `sticky` plugin configuration as written in JSON.
#[derive(Debug)]
pub struct StickyConfig {
    /// Which Envoy mechanism reads the pin header.
    pub mode: ModeDto,
    /// Request header that carries the pin to Envoy; client copies are always removed.
    pub pin_header: String,
    pub cookie: CookieDto,
    /// First = current (seals), the rest are still accepted (rotation).
    pub keys: Vec<KeyDto>,
    /// Store a keyed hash of the verified subject in the cookie and require it back.
    pub bind_subject: bool,
    /// Emit a hash header for Envoy's ring-hash policy when no cookie pins.
    pub hash_key: Option<HashKeyDto>,
    /// Per-route enable/disable and setting overrides, first matching
    /// prefix wins; unmatched paths use the top-level settings.
    pub routes: Vec<RouteDto>,
    /// Cookies opened once per VM and remembered until they expire (0: off).
    pub opened_cookie_cache_entries: usize,
}

from_json!(StickyConfig {
    mode,
    pin_header: or_else(default_pin_header),
    cookie: default,
    keys,
    bind_subject: default,
    hash_key: optional,
    routes: default,
    opened_cookie_cache_entries: or_else(default_opened_cookie_cache_entries),
});

/// Most memo entries per VM: ~350 bytes each (the cookie value, its pin, the pin header), so at most ~35 MB per VM.
pub const MAX_OPENED_COOKIE_CACHE_ENTRIES: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeDto {
    StatefulSession,
    OverrideHost,
}

from_json_names!(ModeDto { "stateful-session" => StatefulSession, "override-host" => OverrideHost });

#[derive(Clone, Debug)]
pub struct CookieDto {
    pub name: String,
    pub path: String,
    pub domain: Option<String>,
    /// Absolute session lifetime, e.g. `"1h"`.
    pub max_age: String,
    /// Sliding expiry: the cookie is valid this long after its last
    /// (re)issue and is re-issued once half of it has elapsed, up to `max_age`.
    pub idle_timeout: Option<String>,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
}

from_json!(CookieDto {
    name: or_else(default_cookie_name),
    path: or_else(default_cookie_path),
    domain: optional,
    max_age: or_else(default_max_age),
    idle_timeout: optional,
    secure: or_else(yes),
    http_only: or_else(yes),
    same_site: or_else(default_same_site),
});

impl Default for CookieDto {
    fn default() -> Self {
        Self {
            name: default_cookie_name(),
            path: default_cookie_path(),
            domain: None,
            max_age: default_max_age(),
            idle_timeout: None,
            secure: true,
            http_only: true,
            same_site: default_same_site(),
        }
    }
}

#[derive(Debug)]
pub struct KeyDto {
    /// Key id written into cookies: 1..16 of `[A-Za-z0-9_-]`.
    pub id: String,
    /// Name of the environment variable holding the base64 32-byte key.
    pub env: String,
}

from_json!(KeyDto { id, env });

#[derive(Clone, Debug)]
pub struct HashKeyDto {
    pub header: String,
    /// Hash the verified subject (logged-in users hash consistently).
    pub identity: bool,
    /// For anonymous requests: hash this application session cookie's value.
    pub session_cookie: Option<String>,
}

from_json!(HashKeyDto {
    header: or_else(default_hash_header),
    identity: or_else(yes),
    session_cookie: optional,
});

impl Default for HashKeyDto {
    fn default() -> Self {
        Self {
            header: default_hash_header(),
            identity: true,
            session_cookie: None,
        }
    }
}

/// A route's `hash_key`. Absent fields inherit the top-level `hash_key` (or
/// the defaults when there is none); `null` clears an inherited
/// `session_cookie`; `{"enabled": false}` turns the hash header off here.
#[derive(Debug)]
pub struct HashKeyOverrideDto {
    pub enabled: bool,
    pub header: Option<String>,
    pub identity: Option<bool>,
    pub session_cookie: Option<Option<String>>,
}

from_json!(HashKeyOverrideDto {
    enabled: or_else(yes),
    header: optional,
    identity: optional,
    session_cookie: present,
});

impl HashKeyOverrideDto {
    /// The route's hash key: `base` (the top-level one, else the defaults)
    /// with these overrides applied; `None` when turned off.
    pub fn resolve(&self, base: Option<&HashKeyDto>) -> Option<HashKeyDto> {
        if !self.enabled {
            return None;
        }
        let base = base.cloned().unwrap_or_default();
        Some(HashKeyDto {
            header: self.header.clone().unwrap_or(base.header),
            identity: self.identity.unwrap_or(base.identity),
            session_cookie: self.session_cookie.clone().unwrap_or(base.session_cookie),
        })
    }
}

#[derive(Debug)]
pub struct RouteDto {
    pub path_prefix: String,
    pub enabled: bool,
    /// Cookie attributes for this route; unset fields inherit the top-level `cookie`.
    pub cookie: Option<CookieOverrideDto>,
    pub bind_subject: Option<bool>,
    /// For a route whose cluster uses the other Envoy mechanism.
    pub mode: Option<ModeDto>,
    /// This route's ring-hash header; absent: the top-level `hash_key`.
    /// Present as `null` → `Some(None)`, refused when compiled: it could mean
    /// "inherit" or "off", and both have an explicit form.
    pub hash_key: Option<Option<HashKeyOverrideDto>>,
}

from_json!(RouteDto {
    path_prefix,
    enabled: or_else(yes),
    cookie: optional,
    bind_subject: optional,
    mode: optional,
    hash_key: present,
});

/// A route's cookie overrides. Absent fields inherit the top-level value;
/// `null` clears an inherited `domain` or `idle_timeout`.
#[derive(Debug, Default)]
pub struct CookieOverrideDto {
    pub name: Option<String>,
    pub path: Option<String>,
    pub domain: Option<Option<String>>,
    pub max_age: Option<String>,
    pub idle_timeout: Option<Option<String>>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    pub same_site: Option<SameSite>,
}

from_json!(CookieOverrideDto {
    name: optional,
    path: optional,
    domain: present,
    max_age: optional,
    idle_timeout: present,
    secure: optional,
    http_only: optional,
    same_site: optional,
});

/// Present (even as `null`) → `Some(..)`; absent → `None` via `default`.
impl CookieOverrideDto {
    /// The top-level cookie with these overrides applied.
    fn apply_to(self, base: &CookieDto) -> CookieDto {
        CookieDto {
            name: self.name.unwrap_or_else(|| base.name.clone()),
            path: self.path.unwrap_or_else(|| base.path.clone()),
            domain: self.domain.unwrap_or_else(|| base.domain.clone()),
            max_age: self.max_age.unwrap_or_else(|| base.max_age.clone()),
            idle_timeout: self
                .idle_timeout
                .unwrap_or_else(|| base.idle_timeout.clone()),
            secure: self.secure.unwrap_or(base.secure),
            http_only: self.http_only.unwrap_or(base.http_only),
            same_site: self.same_site.unwrap_or(base.same_site),
        }
    }
}

fn default_opened_cookie_cache_entries() -> usize {
    1024
}
fn default_pin_header() -> String {
    "x-sticky-endpoint".into()
}
fn default_hash_header() -> String {
    "x-sticky-hash".into()
}
fn default_cookie_name() -> String {
    "__Host-sticky".into()
}
fn default_cookie_path() -> String {
    "/".into()
}
fn default_max_age() -> String {
    "1h".into()
}
fn default_same_site() -> SameSite {
    SameSite::Lax
}
fn yes() -> bool {
    true
}

/// Where the ring-hash header value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HashKeyPolicy {
    pub(crate) header: String,
    pub(crate) identity: bool,
    pub(crate) session_cookie: Option<String>,
}

/// The compiled, validated sticky-session policy; built once per configure.
#[derive(Debug)]
pub struct StickyPolicy {
    pub(crate) pin_header: String,
    /// Settings for paths no route overrides.
    pub(crate) default: SessionSettings,
    pub(crate) keys: KeyRing,
    /// The top-level hash key; routes may override it (`RouteRule::hash_key`).
    pub(crate) hash_key: Option<HashKeyPolicy>,
    /// Every configured hash header name (top level and routes), once each:
    /// client copies of all of them are stripped on every request.
    pub(crate) hash_headers: Vec<String>,
    pub(crate) routes: Vec<RouteRule>,
    /// Cookies already opened in this VM (a memo: see `opened.rs`).
    pub(crate) opened: OpenedCookies,
}

impl StickyPolicy {
    /// The top-level mode (routes may override it).
    pub fn mode(&self) -> PinMode {
        self.default.mode
    }
    /// Lower-case name of the pin header.
    pub fn pin_header(&self) -> &str {
        &self.pin_header
    }
    /// Lower-case name of the top-level ring-hash header, when configured.
    pub fn hash_header(&self) -> Option<&str> {
        self.hash_key.as_ref().map(|h| h.header.as_str())
    }
    /// Lower-case names of every ring-hash header (top level and routes).
    pub fn hash_headers(&self) -> &[String] {
        &self.hash_headers
    }
    /// The top-level cookie name (routes may override it).
    pub fn cookie_name(&self) -> &str {
        &self.default.cookie.name
    }
    /// How many routes have their own cookie settings.
    pub fn route_overrides(&self) -> usize {
        self.routes.iter().filter(|r| r.session.is_some()).count()
    }
    /// Id of the key that seals new cookies.
    pub fn current_key_id(&self) -> &str {
        &self.keys.current.id
    }
}

/// Parses and compiles the plugin configuration bytes.
pub fn load(raw: &[u8], env: EnvResolver<'_>) -> Result<StickyPolicy, ConfigError> {
    parse_json::<StickyConfig>(raw)?.compile(env)
}

impl StickyConfig {
    /// Validates every field and resolves the keys through `env`.
    pub fn compile(self, env: EnvResolver<'_>) -> Result<StickyPolicy, ConfigError> {
        let pin_header = header_name("pin_header", &self.pin_header)?;
        if self.opened_cookie_cache_entries > MAX_OPENED_COOKIE_CACHE_ENTRIES {
            return Err(ConfigError::new(
                "opened_cookie_cache_entries",
                format!("must be at most {MAX_OPENED_COOKIE_CACHE_ENTRIES}"),
            )
            .with_hint(
                "each entry holds one cookie (~350 bytes) in every VM; 0 turns the memo off",
            ));
        }
        let default = compile_session("cookie", self.cookie.clone(), self.mode, self.bind_subject)?;
        let keys = compile_keys(self.keys, env)?;
        let hash_key = self
            .hash_key
            .clone()
            .map(|h| compile_hash_key("hash_key", h, &pin_header))
            .transpose()?;
        let base = Base {
            cookie: &self.cookie,
            mode: self.mode,
            bind_subject: self.bind_subject,
            hash_key: self.hash_key.as_ref(),
            pin_header: &pin_header,
        };
        let routes = compile_routes(self.routes, &base)?;
        let mut hash_headers: Vec<String> = Vec::new();
        let route_keys = routes.iter().filter_map(|r| r.hash_key.as_ref());
        for h in hash_key.iter().chain(route_keys) {
            if !hash_headers.contains(&h.header) {
                hash_headers.push(h.header.clone());
            }
        }
        Ok(StickyPolicy {
            pin_header,
            default,
            keys,
            hash_key,
            hash_headers,
            routes,
            opened: OpenedCookies::new(self.opened_cookie_cache_entries),
        })
    }
}

fn mode_of(mode: ModeDto) -> PinMode {
    match mode {
        ModeDto::StatefulSession => PinMode::StatefulSession,
        ModeDto::OverrideHost => PinMode::OverrideHost,
    }
}

/// Validates one cookie (top level or a route's, `at` = its JSON path).
fn compile_session(
    at: &str,
    cookie: CookieDto,
    mode: ModeDto,
    bind_subject: bool,
) -> Result<SessionSettings, ConfigError> {
    let (cookie, max_age_secs, idle_timeout_secs) = compile_cookie(at, cookie)?;
    Ok(SessionSettings {
        mode: mode_of(mode),
        cookie,
        max_age_secs,
        idle_timeout_secs,
        bind_subject,
    })
}

fn compile_cookie(
    at: &str,
    c: CookieDto,
) -> Result<(CookieAttributes, u64, Option<u64>), ConfigError> {
    let field = |name: &str| join_path(at, name);
    if !is_token(&c.name) || c.name.len() > 64 {
        return Err(ConfigError::new(
            field("name"),
            format!("`{}` is not a valid cookie name", c.name),
        )
        .with_hint("use 1..64 letters, digits or `-_.`, e.g. `__Host-sticky`"));
    }
    if !c.path.starts_with('/')
        || c.path.len() > 256
        || !c
            .path
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b';')
    {
        return Err(ConfigError::new(
            field("path"),
            "must start with `/` and contain no spaces, `;` or control characters",
        ));
    }
    if let Some(d) = &c.domain {
        let host = d.strip_prefix('.').unwrap_or(d);
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return Err(ConfigError::new(
                field("domain"),
                format!("`{d}` is not a host name"),
            ));
        }
    }
    let lower = c.name.to_ascii_lowercase();
    if lower.starts_with("__host-") {
        if !c.secure {
            return Err(prefix_error(
                &field("secure"),
                &c.name,
                "requires `secure: true`",
            ));
        }
        if c.path != "/" {
            return Err(prefix_error(
                &field("path"),
                &c.name,
                "requires `path: \"/\"`",
            ));
        }
        if c.domain.is_some() {
            return Err(prefix_error(&field("domain"), &c.name, "forbids `domain`"));
        }
    } else if lower.starts_with("__secure-") && !c.secure {
        return Err(prefix_error(
            &field("secure"),
            &c.name,
            "requires `secure: true`",
        ));
    }
    if c.same_site == SameSite::None && !c.secure {
        return Err(
            ConfigError::new(field("same_site"), "`None` requires `secure: true`")
                .with_hint("browsers drop SameSite=None cookies that are not Secure"),
        );
    }
    let max_age_secs = parse_duration_ms(&field("max_age"), &c.max_age)? / 1000;
    if !(1..=MAX_AGE_LIMIT_SECS).contains(&max_age_secs) {
        return Err(ConfigError::new(
            field("max_age"),
            "must be between 1s and 400 days (9600h)",
        ));
    }
    let idle_timeout_secs = match &c.idle_timeout {
        None => None,
        Some(text) => {
            let secs = parse_duration_ms(&field("idle_timeout"), text)? / 1000;
            if secs < 2 || secs > max_age_secs {
                return Err(ConfigError::new(
                    field("idle_timeout"),
                    "must be at least 2s and at most `max_age`",
                ));
            }
            Some(secs)
        }
    };
    let attrs = CookieAttributes {
        name: c.name,
        path: c.path,
        domain: c.domain,
        secure: c.secure,
        http_only: c.http_only,
        same_site: c.same_site,
    };
    Ok((attrs, max_age_secs, idle_timeout_secs))
}

fn prefix_error(path: &str, name: &str, what: &str) -> ConfigError {
    ConfigError::new(path, format!("the cookie name prefix of `{name}` {what}"))
        .with_hint("browsers silently drop prefixed cookies that break these rules")
}

/// Standard or URL-safe base64, padded or not: whatever `openssl rand -base64 32`
/// or a Kubernetes Secret template produces.
const KEY_ENGINES: [GeneralPurpose; 2] = [
    GeneralPurpose::new(&alphabet::STANDARD, LENIENT_PADDING),
    GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT_PADDING),
];
const LENIENT_PADDING: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);

fn compile_keys(keys: Vec<KeyDto>, env: EnvResolver<'_>) -> Result<KeyRing, ConfigError> {
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(ConfigError::new(
            "keys",
            format!("list 1 to {MAX_KEYS} keys; the first seals new cookies"),
        ));
    }
    let mut current = None;
    let mut previous = Vec::with_capacity(keys.len().saturating_sub(1));
    let mut seen: Vec<String> = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        if !is_valid_key_id(&k.id) {
            return Err(ConfigError::new(
                format!("keys[{i}].id"),
                format!("`{}` is not a key id: use 1..16 of [A-Za-z0-9_-]", k.id),
            ));
        }
        if seen.contains(&k.id) {
            return Err(ConfigError::new(
                format!("keys[{i}].id"),
                format!("key id `{}` is listed twice", k.id),
            ));
        }
        let master = resolve_key(&format!("keys[{i}].env"), &k.env, env)?;
        seen.push(k.id.clone());
        if current.is_none() {
            current = Some((k.id, master));
        } else {
            previous.push(CookieKey::new(k.id, &master));
        }
    }
    let (id, master) = current.ok_or_else(|| ConfigError::new("keys", "no key is listed"))?;
    Ok(KeyRing::new((id, &master), previous))
}

fn resolve_key(
    path: &str,
    var: &str,
    env: EnvResolver<'_>,
) -> Result<Zeroizing<[u8; KEY_LEN]>, ConfigError> {
    if var.is_empty()
        || var.len() > 128
        || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ConfigError::new(
            path,
            "must be an environment variable name ([A-Za-z0-9_])",
        ));
    }
    let hint = "set it to the base64 of 32 random bytes, e.g. `openssl rand -base64 32`";
    let text = Zeroizing::new(env(var).ok_or_else(|| {
        ConfigError::new(path, format!("environment variable `{var}` is not set")).with_hint(hint)
    })?);
    let decoded = KEY_ENGINES
        .iter()
        .find_map(|e| e.decode(text.trim()).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| {
            ConfigError::new(path, format!("environment variable `{var}` is not base64"))
                .with_hint(hint)
        })?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if decoded.len() != KEY_LEN {
        return Err(ConfigError::new(
            path,
            format!(
                "environment variable `{var}` decodes to {} bytes, expected {KEY_LEN}",
                decoded.len()
            ),
        )
        .with_hint(hint));
    }
    key.iter_mut()
        .zip(decoded.iter())
        .for_each(|(k, d)| *k = *d);
    if key.iter().all(|b| Some(b) == key.first()) {
        return Err(ConfigError::new(
            path,
            format!("environment variable `{var}` holds a degenerate key (all bytes equal)"),
        )
        .with_hint(hint));
    }
    Ok(key)
}

/// Validates a hash key (top level or a route's, `at` = its JSON path).
fn compile_hash_key(
    at: &str,
    h: HashKeyDto,
    pin_header: &str,
) -> Result<HashKeyPolicy, ConfigError> {
    let field = |name: &str| join_path(at, name);
    let header = header_name(&field("header"), &h.header)?;
    if header == pin_header {
        return Err(ConfigError::new(
            field("header"),
            "must differ from `pin_header`",
        ));
    }
    if let Some(name) = &h.session_cookie {
        if !is_token(name) {
            return Err(ConfigError::new(
                field("session_cookie"),
                format!("`{name}` is not a valid cookie name"),
            ));
        }
    }
    if !h.identity && h.session_cookie.is_none() {
        let off = if at == "hash_key" {
            "drop `hash_key`"
        } else {
            "turn it off with `{\"enabled\": false}`"
        };
        return Err(ConfigError::new(
            field("identity"),
            format!("with `identity: false`, set `session_cookie`, or {off}"),
        ));
    }
    Ok(HashKeyPolicy {
        header,
        identity: h.identity,
        session_cookie: h.session_cookie,
    })
}

/// The top-level settings routes inherit from.
struct Base<'a> {
    cookie: &'a CookieDto,
    mode: ModeDto,
    bind_subject: bool,
    hash_key: Option<&'a HashKeyDto>,
    pin_header: &'a str,
}

fn compile_routes(routes: Vec<RouteDto>, base: &Base<'_>) -> Result<Vec<RouteRule>, ConfigError> {
    if routes.len() > MAX_ROUTES {
        return Err(ConfigError::new(
            "routes",
            format!("at most {MAX_ROUTES} rules"),
        ));
    }
    let mut rules: Vec<RouteRule> = Vec::with_capacity(routes.len());
    for (i, r) in routes.into_iter().enumerate() {
        let at = format!("routes[{i}]");
        if !r.path_prefix.starts_with('/') {
            return Err(ConfigError::new(
                join_path(&at, "path_prefix"),
                "must start with `/`",
            ));
        }
        // Rules match the path without its query or fragment: such a rule never matches.
        if r.path_prefix.contains(['?', '#']) {
            return Err(ConfigError::new(
                join_path(&at, "path_prefix"),
                "must not contain `?` or `#`: rules match the path without its query",
            ));
        }
        let overrides = r.cookie.is_some() || r.bind_subject.is_some() || r.mode.is_some();
        if !r.enabled && (overrides || r.hash_key.is_some()) {
            return Err(ConfigError::new(
                at,
                "a route with `enabled: false` takes no `cookie`, `bind_subject`, `mode` or `hash_key`",
            ));
        }
        let session = if overrides {
            let cookie = r.cookie.unwrap_or_default().apply_to(base.cookie);
            let settings = compile_session(
                &join_path(&at, "cookie"),
                cookie,
                r.mode.unwrap_or(base.mode),
                r.bind_subject.unwrap_or(base.bind_subject),
            )?;
            check_cookie_path_covers(&at, &settings.cookie.path, &r.path_prefix)?;
            Some(settings)
        } else {
            None
        };
        let hash_key = compile_route_hash_key(&at, r.hash_key, base)?;
        rules.push(RouteRule {
            path_prefix: r.path_prefix,
            enabled: r.enabled,
            session,
            hash_key,
        });
        check_cookie_scopes(&rules, base.cookie, &at)?;
    }
    Ok(rules)
}

/// A route's effective hash key: its override applied to the top-level one,
/// the top-level one when absent, none when turned off.
fn compile_route_hash_key(
    at: &str,
    dto: Option<Option<HashKeyOverrideDto>>,
    base: &Base<'_>,
) -> Result<Option<HashKeyPolicy>, ConfigError> {
    let at = join_path(at, "hash_key");
    let dto = match dto {
        None => None,
        Some(Some(o)) => Some(o),
        Some(None) => {
            return Err(ConfigError::new(at, "`null` is ambiguous here")
                .with_hint("omit `hash_key` to inherit the top-level one, or write `{\"enabled\": false}` to turn it off for this route"))
        }
    };
    let resolved = match dto {
        None => base.hash_key.cloned(),
        Some(o) if !o.enabled => {
            if o.header.is_some() || o.identity.is_some() || o.session_cookie.is_some() {
                return Err(ConfigError::new(
                    at,
                    "`enabled: false` takes no `header`, `identity` or `session_cookie`",
                ));
            }
            None
        }
        Some(o) => o.resolve(base.hash_key),
    };
    resolved
        .map(|h| compile_hash_key(&at, h, base.pin_header))
        .transpose()
}

/// A route's cookie must come back on the route: a browser sends it only to
/// paths its `Path` matches (RFC 6265 §5.1.4: equal, or a prefix ending at a
/// `/`). Otherwise every response there would start a new session and none
/// would ever be pinned.
fn check_cookie_path_covers(at: &str, path: &str, prefix: &str) -> Result<(), ConfigError> {
    let covers = prefix
        .strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || path.ends_with('/') || rest.starts_with('/'));
    if covers {
        return Ok(());
    }
    let message = format!(
        "`{path}` does not cover `path_prefix` `{prefix}`: browsers would not send the cookie there"
    );
    let hint = format!("set `path` to `{prefix}` or a parent path of it, e.g. `/`");
    Err(ConfigError::new(join_path(at, "cookie.path"), message).with_hint(hint))
}

/// Two settings may share a cookie name only with the same Path and Domain:
/// otherwise a browser keeps both cookies and sends them to each other's
/// routes, and the first valid one would pin a request of the other route.
fn check_cookie_scopes(rules: &[RouteRule], base: &CookieDto, at: &str) -> Result<(), ConfigError> {
    let Some((last, earlier)) = rules.split_last() else {
        return Ok(());
    };
    let Some(new) = &last.session else {
        return Ok(());
    };
    let c = &new.cookie;
    let clashes = |name: &str, path: &str, domain: &Option<String>| {
        name == c.name && (path != c.path || domain != &c.domain)
    };
    let clash = if clashes(&base.name, &base.path, &base.domain) {
        Some("`cookie`".to_string())
    } else {
        earlier.iter().enumerate().find_map(|(j, r)| {
            r.session
                .as_ref()
                .filter(|s| clashes(&s.cookie.name, &s.cookie.path, &s.cookie.domain))
                .map(|_| format!("`routes[{j}].cookie`"))
        })
    };
    match clash {
        Some(other) => Err(ConfigError::new(
            join_path(at, "cookie.name"),
            format!(
                "`{}` is also the name of {other} with another path or domain",
                c.name
            ),
        )
        .with_hint("give each cookie scope its own name, e.g. `sticky-cart` for `/cart`")),
        None => Ok(()),
    }
}

/// Headers the filter must never overwrite or strip on a client's behalf.
const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "x-forwarded-for",
];

/// A lower-cased header name of `[a-z0-9-_]`, not reserved.
fn header_name(path: &str, name: &str) -> Result<String, ConfigError> {
    let lower = name.to_ascii_lowercase();
    let valid = !lower.is_empty()
        && lower.len() <= 64
        && lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        return Err(ConfigError::new(
            path,
            format!("`{name}` is not a header name: use 1..64 of [a-z0-9-_]"),
        ));
    }
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(ConfigError::new(
            path,
            format!("`{name}` is a reserved header"),
        ));
    }
    Ok(lower)
}

/// RFC 7230 `token`: what a cookie name may contain.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Key ids travel in the cookie: 1..16 of `[A-Za-z0-9_-]`.
pub(crate) fn is_valid_key_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
