//! The Envoy bootstraps under test. Every one routes `/` to the same fast upstream (a second Envoy
//! answering with `direct_response`) and differs only in its HTTP filters.

use serde_json::{json, Value};
use wasm_tests::Bootstrap;

use crate::tokens::{AUDIENCE, ISSUER};

/// The sticky-session key (32 bytes 0..=31, standard base64), passed as `STICKY_KEY`.
pub const STICKY_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const STICKY_COOKIE: &str = "__Host-sticky";
pub const NATIVE_COOKIE: &str = "bench-session";
/// What the injectors put into `x-api-key` (the KV value in OpenBao, the SDS secret natively).
pub const API_KEY: &str = "bench-api-key-1";
pub const PIN_HEADER: &str = "x-sticky-endpoint";

/// The upstream: an Envoy that answers every request itself.
pub fn upstream() -> String {
    let value = json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "__ADMIN__"}}},
        "static_resources": {"listeners": [{
            "name": "upstream",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": "__LISTENER__"}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "upstream",
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [{
                        "match": {"prefix": "/"},
                        "direct_response": {"status": 200, "body": {"inline_string": "ok"}}
                    }]}]},
                    "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
                }
            }]}]
        }]}
    });
    with_ports(&value)
}

/// JSON text with the `__ADMIN__`/`__LISTENER__` placeholders turned into the harness's template ports.
fn with_ports(value: &Value) -> String {
    value
        .to_string()
        .replace("\"__ADMIN__\"", "{{ADMIN_PORT}}")
        .replace("\"__LISTENER__\"", "{{LISTENER_PORT}}")
}

pub fn oidc_auth_config(jwks: &Value) -> Value {
    json!({
        "providers": [{
            "name": "bench",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "inline_jwks": jwks,
            "algorithms": ["RS256", "ES256", "EdDSA"]
        }],
        "rules": [{"match": {"path": {"prefix": "/"}}}]
    })
}

/// Envoy's `jwt_authn` with the same keys, the same checks and a verified-token cache of the same size
/// as oidc-auth's default (`token_cache_entries` 1024).
pub fn jwt_authn(jwks: &Value) -> Value {
    json!({
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"bench": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "local_jwks": {"inline_string": jwks.to_string()},
                "forward": true,
                "jwt_cache_config": {"jwt_cache_size": 1024}
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}]
        }
    })
}

pub fn sticky_config() -> Value {
    json!({
        "mode": "stateful-session",
        "pin_header": PIN_HEADER,
        // A sliding window renews a cookie once half of it is used up; at 2 h no bench run gets
        // there, so every request measures the steady state (cookie kept, none re-issued).
        "cookie": {"name": STICKY_COOKIE, "max_age": "8h", "idle_timeout": "2h"},
        "keys": [{"id": "k1", "env": "STICKY_KEY"}]
    })
}

/// The filter that turns sticky-session's pin header into an upstream choice (as shipped).
pub fn stateful_session_header() -> Value {
    json!({
        "name": "envoy.filters.http.stateful_session",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
            "session_state": {
                "name": "envoy.http.stateful_session.header",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.header.v3.HeaderBasedSessionState",
                    "name": PIN_HEADER
                }
            },
            "strict": false
        }
    })
}

/// Envoy's own cookie-based sticky sessions (the native comparison; its cookie is not encrypted).
pub fn stateful_session_cookie() -> Value {
    json!({
        "name": "envoy.filters.http.stateful_session",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession",
            "session_state": {
                "name": "envoy.http.stateful_session.cookie",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.stateful_session.cookie.v3.CookieBasedSessionState",
                    "cookie": {"name": NATIVE_COOKIE, "path": "/", "ttl": "28800s"}
                }
            },
            "strict": false
        }
    })
}

/// credential-injector: one backend on every GET, key from OpenBao KV v2, refreshed hourly (so the
/// measured windows are steady state: no Vault call).
pub fn injector_config(bao_port: u16) -> Value {
    json!({
        "backends": [{
            "name": "payments",
            "routes": [{"methods": ["GET"], "path": {"prefix": "/"}}],
            "credential": {"vault": {"secret": "payments", "field": "api_key"}},
            "injection": {"header": "x-api-key"},
            "require_user": false
        }],
        // The browser gate as deployed (CSRF origin checks need the app's origin); the bench's GETs
        // carry no Origin, as same-origin navigations.
        "cors": {"allowed_origins": ["https://app.bench.local"], "allow_credentials": true},
        "vault": {
            "connection": {"cluster": "vault", "authority": format!("127.0.0.1:{bao_port}"), "timeout": "2s"},
            "auth": {"token": {"token_env": "VAULT_TOKEN"}},
            "kv_refresh_interval": "1h",
            "secrets": [{"name": "payments", "kind": {"kv2": {"path": "payments", "fields": ["api_key"]}}}]
        }
    })
}

/// Envoy's `credential_injector` (generic) with the key as an SDS secret defined inline.
pub fn credential_injector() -> Value {
    json!({
        "name": "envoy.filters.http.credential_injector",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
            "overwrite": true,
            "credential": {
                "name": "envoy.http.injected_credentials.generic",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
                    "credential": {"name": "bench-api-key"},
                    "header": "x-api-key"
                }
            }
        }
    })
}

/// Adds the inline SDS secret `credential_injector` reads, to a finished bootstrap.
pub fn with_api_key_secret(bootstrap: &Bootstrap) -> String {
    let mut value = bootstrap.to_value();
    if let Some(resources) = value
        .get_mut("static_resources")
        .and_then(Value::as_object_mut)
    {
        resources.insert(
            "secrets".into(),
            json!([{"name": "bench-api-key", "generic_secret": {"secret": {"inline_string": API_KEY}}}]),
        );
    }
    // Same placeholders as `Bootstrap::build`.
    value
        .to_string()
        .replace("\"__PORT__ADMIN_PORT__\"", "{{ADMIN_PORT}}")
        .replace("\"__PORT__LISTENER_PORT__\"", "{{LISTENER_PORT}}")
}
