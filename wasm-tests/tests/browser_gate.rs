//! The browser-app gate end to end: Envoy with oidc-auth (tokens from the real IdP) THEN
//! credential-injector (backend allowlist, identity + claims, credential from OpenBao KV v2 or an
//! OAuth2 client-credentials token, CORS, CSRF) in front of an echo upstream.
//!
//! What a single-page app may see is checked on every answer: the backend credential never comes
//! back in a response header or body. The echo upstream's `quiet` routes answer with a SHA-256 of
//! each received header instead of the value, so the tests can tell WHICH key arrived.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wasm_tests::idp::decode_jwt;
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, OpenBao, Response, TokenRequest, Upstream};

const APP: &str = "http://127.0.0.1:5173";
const AUD: &str = "https://api.mesh.local";
const KEY_V1: &str = "vault-held-key-v1-7f3a9c";
const KEY_V2: &str = "vault-held-key-v2-b81d44";

struct Gate {
    envoy: Envoy,
    idp: Idp,
    bao: OpenBao,
    _upstream: Upstream,
}

fn oidc_config(idp: &Idp) -> Value {
    json!({
        "providers": [{
            "name": "local",
            "issuer": idp.issuer(),
            "audiences": [AUD],
            "cluster": "idp",
            "algorithms": ["RS256", "ES256", "EdDSA"],
            "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"cookie": "at"}]
        }],
        // The injector holds the allowlist; oidc-auth only proves who the user is.
        "default_action": "authenticated",
        "cors": {"allowed_origins": [APP], "max_age": "10m"},
        "publish_claims": ["roles", "scope"]
    })
}

fn injector_config(bao: &OpenBao, idp: &Idp) -> Value {
    json!({
        "backends": [
            {
                "name": "payments",
                "routes": [
                    {"methods": ["GET"], "path": {"prefix": "/api/payments"}},
                    {"methods": ["POST"], "path": {"exact": "/api/payments/quiet/charges"},
                     "claims": {"claim": "roles", "contains": "payments:write"}}
                ],
                "credential": {"vault": {"secret": "payments", "field": "api_key"}},
                "injection": {"header": "x-api-key"},
                "path_prefix_rewrite": {"from": "/api/payments", "to": "/v1"},
                "require_user": true
            },
            {
                "name": "partner",
                "routes": [{"methods": ["GET"], "path": {"prefix": "/api/partner"}}],
                "credential": {"oauth2": {
                    "token_endpoint": {"cluster": "idp", "authority": idp.addr(), "path": "/token"},
                    "client_id_env": "PARTNER_CLIENT_ID",
                    "client_secret_env": "PARTNER_CLIENT_SECRET",
                    "scope": "api:read",
                    "resource": AUD
                }},
                "injection": {"header": "authorization"},
                "path_prefix_rewrite": {"from": "/api/partner", "to": "/partner"},
                "require_user": true
            }
        ],
        "cors": {"allowed_origins": [APP], "max_age": "10m",
                 "extra_allowed_headers": ["authorization", "x-echo-header"]},
        "csrf": {"require_origin": true, "required_header": "x-requested-with"},
        "vault": {
            "connection": {"cluster": "vault", "authority": bao.addr(), "timeout": "2s"},
            "auth": {"token": {"token_env": "VAULT_TOKEN"}},
            "kv_refresh_interval": "2s",
            "secrets": [{"name": "payments", "kind": {"kv2": {"path": "payments", "fields": ["api_key"]}}}]
        }
    })
}

fn start_gate() -> Gate {
    let idp = Idp::start().unwrap();
    let bao = OpenBao::start().unwrap();
    bao.kv_put("payments", &json!({"api_key": KEY_V1})).unwrap();
    let upstream = Upstream::start("payments").unwrap();
    let b = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("idp", &[idp.port()])
        .cluster("vault", &[bao.port()])
        .wasm_filter("oidc-auth", "oidc_auth.wasm", &oidc_config(&idp), &[])
        .wasm_filter(
            "credential-injector",
            "credential_injector.wasm",
            &injector_config(&bao, &idp),
            &["VAULT_TOKEN", "PARTNER_CLIENT_ID", "PARTNER_CLIENT_SECRET"],
        );
    let envoy = Envoy::start(
        &b.build(),
        EnvoyOptions::default()
            .env("VAULT_TOKEN", wasm_tests::openbao::ROOT_TOKEN)
            .env("PARTNER_CLIENT_ID", "backend-client")
            .env("PARTNER_CLIENT_SECRET", "backend-secret"),
    )
    .unwrap();
    let gate = Gate {
        envoy,
        idp,
        bao,
        _upstream: upstream,
    };
    gate.wait_until("the first Vault key is injected", |g| {
        g.received_key_hash("/api/payments/quiet/status") == Some(sha256_hex(KEY_V1))
    });
    gate
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn reason(r: &Response) -> String {
    r.json()
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Gate {
    fn token(&self, roles: &[&str]) -> String {
        self.idp
            .mint(&TokenRequest {
                sub: Some("alice".into()),
                aud: Some(json!(AUD)),
                claims: Some(json!({"roles": roles})),
                ..Default::default()
            })
            .unwrap()
            .token
    }

    /// A browser-like request: the app's origin and the user's bearer token.
    fn call(&self, method: &str, path: &str, token: &str) -> wasm_tests::Request {
        self.envoy
            .request(method, path)
            .header("origin", APP)
            .bearer(token)
    }

    /// SHA-256 of the `x-api-key` the backend received on a quiet route, if the call went through.
    fn received_key_hash(&self, path: &str) -> Option<String> {
        let r = self.call("GET", path, &self.token(&[])).send().ok()?;
        (r.status == 200).then_some(())?;
        r.json().ok()?["received"]["x-api-key"]["sha256"]
            .as_str()
            .map(str::to_string)
    }

    fn upstream_requests(&self) -> u64 {
        self.envoy
            .stat("cluster.backend.upstream_rq_total")
            .unwrap()
            .unwrap_or(0)
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut(&Gate) -> bool) -> Duration {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if done(self) {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}: not within 15 s\n{}", self.envoy.log());
    }
}

/// Nothing the browser can read carries a credential.
fn assert_no_leak(r: &Response, secrets: &[&str], what: &str) {
    for s in secrets {
        assert!(!r.text().contains(s), "{what}: body leaks a credential");
        for (k, v) in &r.headers {
            assert!(
                !v.contains(s),
                "{what}: response header {k} leaks a credential"
            );
        }
    }
}

#[test]
fn allowed_calls_get_the_vault_key_and_everything_else_is_refused_before_the_backend() {
    let g = start_gate();
    let user = g.token(&["payments:read"]);
    let writer = g.token(&["payments:write"]);

    // Allowed: the Vault key arrives (checked by hash on a quiet route), the user's
    // Authorization and cookies do not, and the app may read the answer.
    let r = g
        .call("GET", "/api/payments/quiet/invoices?page=2", &user)
        .header("cookie", "session=browser-session; theme=dark")
        .send()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = r.json().unwrap();
    assert_eq!(seen["path"], "/v1/quiet/invoices?page=2");
    assert_eq!(seen["received"]["x-api-key"]["sha256"], sha256_hex(KEY_V1));
    assert!(seen["received"].get("authorization").is_none(), "{seen}");
    assert!(seen["received"].get("cookie").is_none(), "{seen}");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert!(r.header_all("vary").iter().any(|v| v.contains("Origin")));
    assert_no_leak(&r, &[KEY_V1], "quiet route");

    // A backend that reflects the key in a response header: the proxy removes that header.
    let r = g
        .call("GET", "/api/payments/quiet/debug", &user)
        .header("x-echo-header", "x-api-key")
        .send()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("x-echoed").is_none(),
        "the echoed key must be stripped"
    );
    assert_no_leak(&r, &[KEY_V1], "header echo");
    // The control: a reflected header without the key survives.
    let r = g
        .call("GET", "/api/payments/quiet/debug", &user)
        .header("x-echo-header", "origin")
        .send()
        .unwrap();
    assert_eq!(r.header("x-echoed"), Some(APP));
    assert_eq!(
        g.envoy
            .stat("wasmcustom.credential_injector.echo_stripped")
            .unwrap(),
        Some(1)
    );

    // The claim-guarded route: a writer passes, a reader is refused with the reason.
    let r = g
        .call("POST", "/api/payments/quiet/charges", &writer)
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["method"], "POST");

    // Refusals: none of them reaches the backend; each carries its reason and, for the app's
    // origin, the CORS headers that let the app read it.
    let before = g.upstream_requests();
    let expired = g
        .idp
        .mint(&TokenRequest {
            ttl: Some(-120),
            aud: Some(json!(AUD)),
            ..Default::default()
        })
        .unwrap()
        .token;
    // No `roles` claim at all (the token of a user without any role assignment).
    let no_roles = g
        .idp
        .mint(&TokenRequest {
            aud: Some(json!(AUD)),
            ..Default::default()
        })
        .unwrap()
        .token;
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        (
            "DELETE",
            "/api/payments/1",
            Some(user.as_str()),
            403,
            "route_not_allowed",
        ),
        (
            "GET",
            "/api/admin/users",
            Some(user.as_str()),
            403,
            "route_not_allowed",
        ),
        (
            "POST",
            "/api/payments/quiet/charges",
            Some(user.as_str()),
            403,
            "claim_mismatch",
        ),
        (
            "POST",
            "/api/payments/quiet/charges",
            Some(no_roles.as_str()),
            403,
            "claim_missing",
        ),
        ("GET", "/api/payments/quiet/x", None, 401, "missing_token"),
        (
            "GET",
            "/api/payments/quiet/x",
            Some(expired.as_str()),
            401,
            "token_expired",
        ),
    ];
    for (method, path, token, status, want) in &cases {
        let mut req = g.envoy.request(method, path).header("origin", APP);
        if let Some(t) = token {
            req = req.bearer(t);
        }
        // No body: Envoy answers a refused request before reading it and closes the
        // connection, which the client may see as a reset while it is still sending.
        let r = req.send().unwrap();
        assert_eq!(r.status, *status, "{method} {path}: {}", r.text());
        assert_eq!(reason(&r), *want, "{method} {path}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(APP),
            "{method} {path}: the app must be able to read the refusal"
        );
        assert_eq!(
            r.header("cache-control"),
            Some("no-store"),
            "{method} {path}"
        );
        assert_no_leak(&r, &[KEY_V1], path);
    }

    // Cookie-borne state-changing calls (token in the `at` cookie): CSRF checks apply.
    let cookie = format!("at={writer}");
    let csrf: &[(&[(&str, &str)], &str)] = &[
        (&[("origin", "null")], "csrf_origin_mismatch"),
        (
            &[("origin", "http://127.0.0.1:5173.evil.example")],
            "csrf_origin_mismatch",
        ),
        (
            &[("origin", "http://127.0.0.1:5174")],
            "csrf_origin_mismatch",
        ),
        (&[], "csrf_missing_origin"),
        (&[("origin", APP)], "csrf_header_missing"),
    ];
    for (headers, want) in csrf {
        let mut req = g
            .envoy
            .request("POST", "/api/payments/quiet/charges")
            .header("cookie", &cookie);
        for (k, v) in *headers {
            req = req.header(k, v);
        }
        let r = req.send().unwrap();
        assert_eq!((r.status, reason(&r).as_str()), (403, *want), "{headers:?}");
        // Only the allowed origin may read it.
        let allowed = headers.iter().any(|(_, v)| *v == APP);
        assert_eq!(
            r.header("access-control-allow-origin").is_some(),
            allowed,
            "{headers:?}"
        );
    }
    assert_eq!(
        g.upstream_requests(),
        before,
        "a refused request reached the backend"
    );
    // With the origin AND the custom header, the cookie-borne write passes.
    let r = g
        .envoy
        .request("POST", "/api/payments/quiet/charges")
        .header("cookie", &cookie)
        .header("origin", APP)
        .header("x-requested-with", "spa")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().unwrap()["received"].get("cookie").is_none());

    // CORS preflight: passed by oidc-auth without a token, answered by the injector; the
    // backend never sees it.
    let before = g.upstream_requests();
    let preflight = |origin: &str, method: &str, path: &str| {
        g.envoy
            .request("OPTIONS", path)
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .unwrap()
    };
    let r = preflight(APP, "POST", "/api/payments/quiet/charges");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    let methods = r.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert!(r.header("access-control-allow-credentials").is_none());
    for (origin, method, path) in [
        ("null", "GET", "/api/payments/x"),
        (
            "http://127.0.0.1:5173.evil.example",
            "GET",
            "/api/payments/x",
        ),
        ("https://127.0.0.1:5173", "GET", "/api/payments/x"),
        (APP, "DELETE", "/api/payments/x"),
        (APP, "GET", "/api/admin/users"),
    ] {
        let r = preflight(origin, method, path);
        assert_eq!(r.status, 403, "{origin} {method} {path}");
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{origin} {method} {path}"
        );
    }
    // An actual request from a foreign origin with a stolen token: no CORS headers, so a
    // browser on that origin cannot read the answer.
    let r = g
        .envoy
        .request("GET", "/api/payments/quiet/x")
        .header("origin", "null")
        .bearer(&user)
        .send()
        .unwrap();
    assert!(r.header("access-control-allow-origin").is_none());
    assert_eq!(
        g.upstream_requests(),
        before + 1,
        "only the last (bearer) call reached the backend, no preflight did"
    );
    assert!(
        g.envoy
            .stat("wasmcustom.credential_injector.preflight")
            .unwrap()
            .unwrap_or(0)
            >= 1
    );
}

#[test]
fn a_key_rotated_in_openbao_is_injected_without_a_restart() {
    let g = start_gate();
    assert_eq!(
        g.bao
            .kv_put("payments", &json!({"api_key": KEY_V2}))
            .unwrap(),
        2
    );
    let took = g.wait_until("the rotated key is injected", |g| {
        g.received_key_hash("/api/payments/quiet/a") == Some(sha256_hex(KEY_V2))
    });
    eprintln!("KV v2 rotation injected after {took:?} (kv_refresh_interval 2s)");
    // And it stays the new one.
    for _ in 0..5 {
        assert_eq!(
            g.received_key_hash("/api/payments/quiet/a"),
            Some(sha256_hex(KEY_V2))
        );
    }
}

#[test]
fn oauth2_client_credentials_token_from_the_idp_replaces_the_users_token() {
    let g = start_gate();
    let user = g.token(&[]);
    let mut answer = None;
    g.wait_until("the client-credentials token is injected", |g| {
        let r = g.call("GET", "/api/partner/orders", &user).send().unwrap();
        let ok = r.status == 200;
        answer = ok.then_some(r);
        ok
    });
    let r = answer.unwrap();
    // A non-quiet route: the echo shows the injected Authorization, which is what the
    // test needs; a real backend must not echo it (see docs/credential-injector.md).
    let seen = r.json().unwrap();
    assert_eq!(seen["path"], "/partner/orders");
    let auth = seen["headers"]["authorization"].as_str().unwrap();
    let jwt = auth.strip_prefix("Bearer ").expect("a bearer token");
    assert_ne!(jwt, user, "the user's token must not be forwarded");
    let (header, claims) = decode_jwt(jwt).unwrap();
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(claims["client_id"], "backend-client", "{claims}");
    assert_eq!(claims["aud"], AUD, "{claims}");
    assert_eq!(claims["iss"], g.idp.issuer());
    assert!(claims["scope"].as_str().unwrap().contains("api:read"));
    // The token is cached: a second call does not fetch again.
    let fetches = g
        .envoy
        .stat("wasmcustom.credential_injector.oauth2.fetches")
        .unwrap()
        .unwrap_or(0);
    let r = g.call("GET", "/api/partner/orders", &user).send().unwrap();
    assert_eq!(r.json().unwrap()["headers"]["authorization"], auth);
    assert_eq!(
        g.envoy
            .stat("wasmcustom.credential_injector.oauth2.fetches")
            .unwrap()
            .unwrap_or(0),
        fetches
    );
    assert!(fetches >= 1);
}
