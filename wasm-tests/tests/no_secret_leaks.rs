//! Secrets never leak: a scripted scenario through all three plugins
//! (oidc-auth → sticky-session → credential-injector with an OpenBao KV
//! secret) at wasm debug log level, then a search for every token, cookie
//! value, Vault token, sticky key and injected credential of the run in the
//! Envoy log, in every `/stats` metric name and value, in the admin config
//! dump, and in every error answer (body and headers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, OpenBao, Response, TokenRequest, Upstream};

const AUD: &str = "https://api.mesh.local";
const STICKY_KEY: &str = "c3RpY2t5LWtleS1jYW5hcnktMDEyMzQ1Njc4OWFiY2Q=";
const API_KEY: &str = "api-key-canary-7f3a9c1e5b";
const VAULT_TOKEN: &str = "vaulttokencanary4d2e8b";
const COOKIE: &str = "__Host-sticky";

fn set_cookie_value(r: &Response) -> Option<String> {
    r.header_all("set-cookie")
        .into_iter()
        .find_map(|c| c.strip_prefix(&format!("{COOKIE}=")))
        .map(|c| c.split(';').next().unwrap_or("").to_string())
}

#[test]
fn no_token_cookie_vault_token_or_credential_appears_in_logs_stats_or_error_answers() {
    let idp = Idp::start().unwrap();
    let bao = OpenBao::start().unwrap();
    bao.kv_put("payments", &json!({"api_key": API_KEY}))
        .unwrap();
    bao.write_policy(
        "payments-read",
        r#"path "secret/data/payments" { capabilities = ["read"] }"#,
    )
    .unwrap();
    // A Vault token with a recognisable id, so it can be searched for.
    bao.api(
        "POST",
        "auth/token/create",
        Some(&json!({"id": VAULT_TOKEN, "policies": ["payments-read"], "ttl": "1h"})),
    )
    .unwrap();
    let upstream = Upstream::start("backend").unwrap();

    let oidc = json!({
        "providers": [{"name": "local", "issuer": idp.issuer(), "audiences": [AUD], "cluster": "idp"}],
        "rules": [{"match": {"path": {"prefix": "/api"}}}]
    });
    let sticky = json!({"mode": "stateful-session", "keys": [{"id": "k1", "env": "STICKY_KEY"}],
                        "bind_subject": true});
    let inject = json!({
        "backends": [{"name": "payments", "routes": [{"methods": ["GET"], "path": {"prefix": "/api"}}],
                      "credential": {"vault": {"secret": "payments", "field": "api_key"}},
                      "injection": {"header": "x-api-key"}, "require_user": true}],
        "csrf": {"require_origin": false},
        "vault": {"connection": {"cluster": "vault", "authority": format!("127.0.0.1:{}", bao.port()), "timeout": "2s"},
                  "auth": {"token": {"token_env": "VAULT_TOKEN"}},
                  "kv_refresh_interval": "2s",
                  "secrets": [{"name": "payments", "kind": {"kv2": {"path": "payments", "fields": ["api_key"]}}}]}
    });
    let b = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("idp", &[idp.port()])
        .cluster("vault", &[bao.port()])
        .plugin_chain(&oidc, &sticky, &inject, &["VAULT_TOKEN"]);
    let envoy = Envoy::start(
        &b.build(),
        EnvoyOptions::default()
            .concurrency(2)
            .env("VAULT_TOKEN", VAULT_TOKEN)
            .env("STICKY_KEY", STICKY_KEY),
    )
    .unwrap();

    let mint = |sub: &str, ttl: i64| {
        idp.mint(&TokenRequest {
            alg: Some("ES256".into()),
            sub: Some(sub.into()),
            aud: Some(json!(AUD)),
            ttl: Some(ttl),
            ..Default::default()
        })
        .unwrap()
        .token
    };
    let alice = mint("alice", 300);
    let bob = mint("bob", 300);
    let expired = mint("alice", -120);
    let mut tampered = alice.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    let get = |token: Option<&str>, cookie: Option<&str>| {
        let mut r = envoy.request("GET", "/api/items");
        if let Some(t) = token {
            r = r.bearer(t);
        }
        if let Some(c) = cookie {
            r = r.header("cookie", &format!("{COOKIE}={c}"));
        }
        r.send().unwrap()
    };

    // 1. Wait until the Vault secret is injected for alice.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let r = get(Some(&alice), None);
        if r.status == 200 && r.json().unwrap()["headers"]["x-api-key"] == API_KEY {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no credential: {} {}\n{}",
            r.status,
            r.text(),
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut cookies = vec![set_cookie_value(&first).expect("a sticky cookie")];
    let mut errors: Vec<Response> = Vec::new();

    // 2. The scripted run: pinned, replayed by another user, tampered, expired, missing.
    let pinned = get(Some(&alice), Some(&cookies[0]));
    assert_eq!(pinned.status, 200);
    let replayed = get(Some(&bob), Some(&cookies[0]));
    assert_eq!(replayed.status, 200);
    cookies.extend(set_cookie_value(&replayed));
    let forged_cookie = format!("{}x", cookies[0]);
    let r = get(Some(&alice), Some(&forged_cookie));
    assert_eq!(r.status, 200);
    cookies.extend(set_cookie_value(&r));
    for (token, status) in [
        (Some(tampered.as_str()), 401),
        (Some(expired.as_str()), 401),
        (None, 401),
        (Some("not-a-jwt"), 401),
    ] {
        let r = get(token, Some(&cookies[0]));
        assert_eq!(r.status, status, "{}", r.text());
        errors.push(r);
    }
    // Denied by the injector's allowlist (method) after oidc-auth allowed the user.
    let r = envoy
        .request("DELETE", "/api/items")
        .bearer(&alice)
        .send()
        .unwrap();
    assert!(r.status >= 400, "{}", r.text());
    errors.push(r);
    // Let a KV refresh or two run at debug level.
    std::thread::sleep(Duration::from_secs(3));

    // 3. Search.
    let mut secrets: Vec<(String, String)> = vec![
        ("api key".into(), API_KEY.into()),
        ("vault token".into(), VAULT_TOKEN.into()),
        ("sticky key".into(), STICKY_KEY.into()),
    ];
    for (name, token) in [
        ("alice", &alice),
        ("bob", &bob),
        ("expired", &expired),
        ("tampered", &tampered),
    ] {
        secrets.push((format!("{name} token"), token.clone()));
        let sig = token.rsplit('.').next().unwrap().to_string();
        secrets.push((format!("{name} token signature"), sig));
    }
    for (i, c) in cookies.iter().chain([&forged_cookie]).enumerate() {
        // Any 24-character piece of a cookie value would identify it.
        secrets.push((format!("cookie {i}"), c.clone()));
        secrets.push((format!("cookie {i} tail"), c[c.len() - 24..].to_string()));
    }
    let stats = envoy.stats().unwrap();
    let stats_text: String = stats.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    let config_dump = envoy.admin("/config_dump").unwrap().text();
    let error_text: String = errors
        .iter()
        .map(|r| format!("{:?}\n{}\n", r.headers, r.text()))
        .collect();
    let log = envoy.log();
    assert!(
        log.contains("oidc-auth") && log.contains("debug"),
        "the scenario ran at wasm debug level"
    );
    let places = [
        ("envoy log", &log),
        ("stats", &stats_text),
        ("config dump", &config_dump),
        ("error answers", &error_text),
    ];
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        for (place, text) in &places {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{what} in {place}"));
            }
        }
    }
    assert!(leaks.is_empty(), "leaks: {leaks:?}");
    eprintln!(
        "searched {} secrets in {} log bytes, {} stats, {} error answers",
        secrets.len(),
        log.len(),
        stats.len(),
        errors.len()
    );
    // The values the upstream saw prove the secrets were really in play.
    let seen: Value = pinned.json().unwrap();
    assert_eq!(seen["headers"]["x-api-key"], API_KEY);
}
