//! `policy-check explain`: the compiled policy in human terms. Called only
//! after the configuration loaded, so it describes what the plugin enforces.
//! Secret values are never printed: only where they come from.

use crate::env::EnvStatus;
use crate::plugin::Compiled;
use policies::config::parse_json;
use policies::inject::{CredentialSpec, InjectMode, Injector};
use policies::oidc::policy::{JwksSource, OidcPolicy};
use policies::oidc::token_source::TokenSource;
use policies::sticky::{HashKeyDto, ModeDto, StickyConfig};
use policies::vault::{AuthMethod, SecretKind, VaultConfig};
use serde_json::Value;
use std::fmt::Write as _;

/// Renders the explanation; `raw` is the same configuration `compiled` came from.
pub fn explain(compiled: &Compiled, raw: &[u8], env: &[(String, EnvStatus)]) -> String {
    let value: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    let mut out = match compiled {
        Compiled::Oidc(p) => oidc(p, &value),
        Compiled::Sticky(_) => sticky(raw),
        Compiled::Injector(i) => injector(i, &value),
    };
    if !env.is_empty() {
        out.push_str("environment variables:\n");
        for (name, status) in env {
            let how = match status {
                EnvStatus::Known => "given, value checked",
                EnvStatus::Unknown => "not given, value not checked",
                EnvStatus::Missing => "missing",
            };
            let _ = writeln!(out, "  {name}: {how}");
        }
    }
    out
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn oidc(p: &OidcPolicy, raw: &Value) -> String {
    let mut out = String::from("oidc-auth\n");
    let _ = writeln!(out, "providers:");
    for pr in &p.providers {
        let _ = writeln!(out, "  {} (issuer {})", pr.name, pr.issuer);
        let keys = match &pr.keys {
            JwksSource::Inline(set) => format!("inline, {} key(s), never fetched", set.len()),
            JwksSource::Remote {
                cluster,
                discovery,
                url,
                extra_keys,
                ..
            } => {
                let what = if *discovery {
                    "OIDC discovery at"
                } else {
                    "JWKS at"
                };
                let hmac = if extra_keys.is_empty() {
                    String::new()
                } else {
                    format!(" + {} HMAC key(s) from the environment", extra_keys.len())
                };
                format!(
                    "{what} {}://{}{} through Envoy cluster `{cluster}`{hmac}",
                    url.scheme, url.authority, url.path
                )
            }
        };
        let _ = writeln!(out, "    keys: {keys}");
        let sources: Vec<String> = pr
            .token_sources
            .iter()
            .map(|s| match s {
                // Prefixes are compiled lower case, without the space after a scheme.
                TokenSource::Header { name, prefix } if prefix.is_empty() => {
                    format!("header `{name}` (the whole value)")
                }
                TokenSource::Header { name, prefix } => format!("header `{name}` `{prefix} …`"),
                TokenSource::Cookie(c) => format!("cookie `{c}`"),
                TokenSource::Query(q) => format!("query `{q}`"),
            })
            .collect();
        let _ = writeln!(out, "    token from: {}", sources.join(", "));
        let _ = writeln!(
            out,
            "    token forwarded upstream: {}",
            if pr.forward_token {
                "yes"
            } else {
                "no (stripped)"
            }
        );
        let headers: Vec<&str> = pr.claim_headers.iter().map(|(h, _)| h.as_str()).collect();
        if !headers.is_empty() {
            let _ = writeln!(out, "    claims → headers: {}", headers.join(", "));
        }
    }
    let _ = writeln!(out, "rules (first match decides):");
    let rules = raw.get("rules").and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let m = rule.get("match").map(describe_match).unwrap_or_default();
        let need = if rule.get("public").and_then(Value::as_bool) == Some(true) {
            "public: no token needed".to_string()
        } else {
            let providers = rule
                .get("providers")
                .map(compact)
                .unwrap_or_else(|| "any provider".into());
            match rule.get("claims") {
                Some(c) => format!("a valid token from {providers} with claims {}", compact(c)),
                None => format!("a valid token from {providers}"),
            }
        };
        let _ = writeln!(out, "  [{i}] {m} → {need}");
    }
    let default = match p.default_action {
        policies::oidc::policy::DefaultAction::Deny => "deny (403 no_matching_rule)",
        policies::oidc::policy::DefaultAction::Authenticated => "any valid token",
        policies::oidc::policy::DefaultAction::Allow => "allow without a token",
    };
    let _ = writeln!(out, "  otherwise → {default}");
    if !p.publish_claims.is_empty() {
        let _ = writeln!(
            out,
            "published identity claims: {}",
            p.publish_claims.join(", ")
        );
    }
    out
}

fn describe_match(m: &Value) -> String {
    let methods = m
        .get("methods")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("|")
        })
        .unwrap_or_else(|| "any method".into());
    let path = m
        .get("path")
        .and_then(Value::as_object)
        .and_then(|o| o.iter().next())
        .map(|(kind, v)| format!("path {kind} {}", v.as_str().unwrap_or_default()))
        .unwrap_or_else(|| "any path".into());
    let query = m
        .get("query")
        .map(|q| format!(" query {}", compact(q)))
        .unwrap_or_default();
    format!("{methods} {path}{query}")
}

fn sticky(raw: &[u8]) -> String {
    let mut out = String::from("sticky-session\n");
    // The DTO with serde defaults applied: the compiled policy keeps these private.
    let Ok(c) = parse_json::<StickyConfig>(raw) else {
        return out;
    };
    let mode = match c.mode {
        ModeDto::StatefulSession => {
            "stateful-session (Envoy stateful_session filter, header state, base64 ip:port)"
        }
        ModeDto::OverrideHost => "override-host (override_host LB policy, ip:port)",
    };
    let _ = writeln!(out, "mode: {mode}");
    let _ = writeln!(out, "pin header: {}", c.pin_header.to_ascii_lowercase());
    let k = &c.cookie;
    let _ = writeln!(
        out,
        "cookie: {} Path={}{} Max-Age={}{} Secure={} HttpOnly={} SameSite={:?}",
        k.name,
        k.path,
        k.domain
            .as_deref()
            .map(|d| format!(" Domain={d}"))
            .unwrap_or_default(),
        k.max_age,
        k.idle_timeout
            .as_deref()
            .map(|t| format!(" idle-timeout={t}"))
            .unwrap_or_default(),
        k.secure,
        k.http_only,
        k.same_site
    );
    let _ = writeln!(out, "keys (first seals new cookies):");
    for key in &c.keys {
        let _ = writeln!(out, "  {} from env {}", key.id, key.env);
    }
    let _ = writeln!(
        out,
        "bound to the verified subject: {}",
        if c.bind_subject { "yes" } else { "no" }
    );
    let _ = writeln!(
        out,
        "opened cookies remembered per VM: {}",
        match c.opened_cookie_cache_entries {
            0 => "none (every cookie is opened on every request)".to_string(),
            n => format!("up to {n}, each until it expires"),
        }
    );
    if let Some(h) = &c.hash_key {
        let _ = writeln!(out, "ring-hash header: {}", hash_key(h));
    }
    let hash_headers: Vec<String> = c
        .hash_key
        .iter()
        .map(|h| h.header.to_ascii_lowercase())
        .chain(c.routes.iter().filter_map(|r| {
            r.hash_key
                .as_ref()?
                .as_ref()?
                .resolve(c.hash_key.as_ref())
                .map(|h| h.header.to_ascii_lowercase())
        }))
        .fold(Vec::new(), |mut all, h| {
            if !all.contains(&h) {
                all.push(h);
            }
            all
        });
    if !hash_headers.is_empty() {
        let _ = writeln!(
            out,
            "client copies removed on every request: {}",
            hash_headers.join(", ")
        );
    }
    for r in &c.routes {
        let mut what = String::from(if r.enabled { "sticky" } else { "not sticky" });
        if let Some(k) = &r.cookie {
            let set = [
                k.name.as_deref().map(|v| format!("name {v}")),
                k.path.as_deref().map(|v| format!("Path={v}")),
                k.max_age.as_deref().map(|v| format!("Max-Age={v}")),
                k.idle_timeout
                    .as_ref()
                    .map(|v| format!("idle-timeout={}", v.as_deref().unwrap_or("none"))),
            ];
            let set: Vec<String> = set.into_iter().flatten().collect();
            let _ = write!(what, ", own cookie ({})", set.join(" "));
        }
        if let Some(b) = r.bind_subject {
            let _ = write!(what, ", bound to subject: {}", if b { "yes" } else { "no" });
        }
        if let Some(m) = r.mode {
            let _ = write!(what, ", mode {m:?}");
        }
        if let Some(Some(o)) = &r.hash_key {
            match o.resolve(c.hash_key.as_ref()) {
                Some(h) => {
                    let _ = write!(what, ", own ring-hash header: {}", hash_key(&h));
                }
                None => what.push_str(", ring-hash header: off"),
            }
        }
        let _ = writeln!(out, "route prefix {}: {what}", r.path_prefix);
    }
    out
}

fn hash_key(h: &HashKeyDto) -> String {
    format!(
        "{} (from identity: {}, session cookie: {})",
        h.header.to_ascii_lowercase(),
        h.identity,
        h.session_cookie.as_deref().unwrap_or("none")
    )
}

fn injector(i: &Injector, raw: &Value) -> String {
    let mut out = String::from("credential-injector\nbackends:\n");
    let raw_backends = raw.get("backends").and_then(Value::as_array);
    for (n, b) in i.backends.iter().enumerate() {
        let _ = writeln!(out, "  {}", b.name);
        let routes = raw_backends
            .and_then(|a| a.get(n))
            .and_then(|rb| rb.get("routes"))
            .and_then(Value::as_array);
        let _ = writeln!(out, "    allowlist:");
        for r in routes.into_iter().flatten() {
            let claims = r
                .get("claims")
                .map(|c| format!(" with claims {}", compact(c)))
                .unwrap_or_default();
            let _ = writeln!(out, "      {}{claims}", describe_match(r));
        }
        let source = match &b.credential {
            CredentialSpec::Static(_) => "static, from environment variables".to_string(),
            CredentialSpec::Vault { secret, field } => match field {
                Some(f) => format!("Vault secret `{secret}`, field `{f}`"),
                None => format!("Vault secret `{secret}` (all fields)"),
            },
            CredentialSpec::OAuth2 { index } => match i.oauth2_clients.get(*index) {
                Some(c) => format!(
                    "OAuth2 client credentials from {}{} via cluster `{}`",
                    c.authority, c.path, c.cluster
                ),
                None => "OAuth2 client credentials".to_string(),
            },
            CredentialSpec::VaultPerUser(p) => format!(
                "Vault KV {}/{} read with each user's own Vault token (per-user JWT login)",
                p.mount,
                p.path.as_str()
            ),
        };
        let _ = writeln!(out, "    credential: {source}");
        let mode = match b.injection.mode {
            InjectMode::Overwrite => "overwrite",
            InjectMode::Add => "add",
        };
        let _ = writeln!(
            out,
            "    injected as: header `{}` ({mode})",
            b.injection.header
        );
        let _ = writeln!(
            out,
            "    user identity required: {}; strips Authorization: {}; strips Cookie: {}",
            b.require_user, b.strip_user_authorization, b.strip_cookies
        );
        if let Some(rw) = &b.path_rewrite {
            let _ = writeln!(out, "    path rewrite: {} → {}", rw.from, rw.to);
        }
        if let Some(max) = b.max_body_bytes {
            let _ = writeln!(out, "    max body: {max} bytes");
        }
    }
    if let Some(cors) = raw.get("cors") {
        let _ = writeln!(out, "cors: {}", compact(cors));
    }
    let _ = writeln!(
        out,
        "csrf: origin check {}{}",
        if i.csrf.require_origin { "on" } else { "off" },
        i.csrf
            .required_header
            .as_deref()
            .map(|h| format!(", required header `{h}`"))
            .unwrap_or_default()
    );
    if let Some(v) = &i.vault {
        vault(&mut out, v);
    }
    out
}

fn vault(out: &mut String, v: &VaultConfig) {
    let auth = match &v.auth {
        None => "none (per-user logins only)".to_string(),
        Some(AuthMethod::Kubernetes { mount, role, .. }) => {
            format!("kubernetes (mount {mount}, role {role})")
        }
        Some(AuthMethod::AppRole { mount, .. }) => format!("approle (mount {mount})"),
        Some(AuthMethod::Jwt { mount, role, .. }) => {
            format!(
                "jwt (mount {mount}, role {})",
                role.as_deref().unwrap_or("default")
            )
        }
        Some(AuthMethod::Token { .. }) => "fixed token (development only)".to_string(),
    };
    let _ = writeln!(
        out,
        "vault: cluster `{}`, authority {}, login {auth}",
        v.connection.cluster, v.connection.authority
    );
    for s in &v.secrets {
        let kind = match &s.kind {
            SecretKind::Kv2 { mount, path, .. } => format!("KV v2 {mount}/{path}"),
            SecretKind::Dynamic { path } => format!("dynamic {path} (lease renewed)"),
            SecretKind::IdentityToken { path } => {
                format!("identity token {path} (signed by Vault, re-issued before its ttl ends)")
            }
        };
        let _ = writeln!(
            out,
            "  secret `{}`: {kind}, fields {}",
            s.name,
            s.fields.join(", ")
        );
    }
}
