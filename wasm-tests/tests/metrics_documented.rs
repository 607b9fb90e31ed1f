//! docs/metrics.md is the operator's list of metrics: Envoy running all three
//! plugins must report exactly those `wasmcustom.*` names in /stats, and their
//! Prometheus form (prefix dropped, `.` → `_`, same type) in /stats/prometheus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, OpenBao, Upstream};

const AUD: &str = "https://api.mesh.local";
const APP: &str = "https://app.example.com";
const STICKY_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const SECRET_NAME: &str = "backend";

/// (name, type) rows of every table in docs/metrics.md; `<secret>` is
/// replaced with the secret this test configures.
fn documented() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
        .unwrap();
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((
                name.replace("<secret>", SECRET_NAME),
                cells.get(2)?.to_string(),
            ))
        })
        .collect()
}

fn prometheus_form(name: &str) -> String {
    name.replace('.', "_")
}

fn start() -> (Idp, OpenBao, Vec<Upstream>, Envoy) {
    let idp = Idp::start().unwrap();
    let bao = OpenBao::start().unwrap();
    bao.kv_put(SECRET_NAME, &json!({"api_key": "k-1"})).unwrap();
    let upstreams = Upstream::start_many("m", 2).unwrap();
    let ports: Vec<u16> = upstreams.iter().map(|u| u.port()).collect();
    let oidc = json!({
        "providers": [{"name": "local", "issuer": idp.issuer(), "audiences": [AUD], "cluster": "idp"}],
        "rules": [{"match": {"path": {"prefix": "/public"}}, "public": true}],
        "default_action": "authenticated"
    });
    let inject = json!({
        "backends": [{"name": "api", "routes": [{"path": {"prefix": "/api"}}],
                      "credential": {"vault": {"secret": SECRET_NAME, "field": "api_key"}},
                      "injection": {"header": "x-api-key"}}],
        "cors": {"allowed_origins": [APP]},
        "vault": {"connection": {"cluster": "vault", "authority": format!("127.0.0.1:{}", bao.port()), "timeout": "2s"},
                  "auth": {"token": {"token_env": "VAULT_TOKEN"}},
                  "secrets": [{"name": SECRET_NAME, "kind": {"kv2": {"path": SECRET_NAME, "fields": ["api_key"]}}}]}
    });
    let sticky = json!({"mode": "stateful-session", "keys": [{"id": "k1", "env": "STICKY_KEY"}],
                        "cookie": {"name": "sticky", "secure": false}});
    let b = Bootstrap::new()
        .backend(&ports)
        .cluster("idp", &[idp.port()])
        .cluster("vault", &[bao.port()])
        .plugin_chain(&oidc, &sticky, &inject, &["VAULT_TOKEN"])
        .stateful_session_header("x-sticky-endpoint");
    let envoy = Envoy::start(
        &b.build(),
        EnvoyOptions::default()
            .env("VAULT_TOKEN", wasm_tests::openbao::ROOT_TOKEN)
            .env("STICKY_KEY", STICKY_KEY),
    )
    .unwrap();
    (idp, bao, upstreams, envoy)
}

/// Requests that touch each plugin: denials, allowed requests, a session and a preflight.
fn scripted_requests(idp: &Idp, envoy: &Envoy) {
    let token = idp
        .mint_token("RS256", "alice", AUD, serde_json::Value::Null, 300)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    // First authenticated request waits for JWKS and the Vault secret.
    let first = loop {
        let r = envoy
            .request("GET", "/api/items")
            .bearer(&token)
            .send()
            .unwrap();
        if r.status == 200 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(first.status, 200, "{}\n{}", first.text(), envoy.log());
    let cookie = first
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("sticky cookie")
        .to_string();
    let r = envoy
        .request("GET", "/api/items")
        .bearer(&token)
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(envoy.get("/api/items").unwrap().status, 401);
    assert_eq!(
        envoy
            .request("GET", "/api/items")
            .bearer("not.a.jwt")
            .send()
            .unwrap()
            .status,
        401
    );
    let preflight = envoy
        .request("OPTIONS", "/api/items")
        .header("origin", APP)
        .header("access-control-request-method", "GET")
        .send()
        .unwrap();
    assert_eq!(preflight.status, 204, "{}", preflight.text());
}

#[test]
fn envoy_reports_exactly_the_documented_metrics_in_stats_and_prometheus() {
    let (idp, _bao, _upstreams, envoy) = start();
    scripted_requests(&idp, &envoy);
    let doc = documented();
    assert!(doc.len() > 50, "docs/metrics.md tables not found: {doc:?}");

    // /stats: the set of names, and the script moved the counters it should.
    let stats = envoy.stats().unwrap();
    let reported: BTreeSet<String> = stats
        .keys()
        .filter_map(|k| k.strip_prefix("wasmcustom."))
        .map(str::to_string)
        .collect();
    let documented_names: BTreeSet<String> = doc.keys().cloned().collect();
    let undocumented: Vec<_> = reported.difference(&documented_names).collect();
    let missing: Vec<_> = documented_names.difference(&reported).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "emitted but not in docs/metrics.md: {undocumented:?}\ndocumented but not emitted: {missing:?}"
    );
    for name in [
        "oidc_auth.allowed",
        "oidc_auth.denied.missing_token",
        "oidc_auth.denied.malformed_token",
        "oidc_auth.jwks.fetch_ok",
        "sticky_session.response_new_session",
        "sticky_session.cookie_valid",
        "credential_injector.allowed",
        "credential_injector.preflight",
        "credential_injector.vault.fetches",
    ] {
        let v: u64 = stats[&format!("wasmcustom.{name}")].parse().unwrap();
        assert!(v >= 1, "{name} = {v} after the scripted requests");
    }

    // /stats/prometheus: same names without the prefix, `.` → `_`, same types.
    let prom = envoy.admin("/stats/prometheus").unwrap().text();
    let types: BTreeMap<&str, &str> = prom
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let ours = |n: &&&str| {
        ["oidc_auth_", "sticky_session_", "credential_injector_"]
            .iter()
            .any(|p| n.starts_with(p))
    };
    let prom_names: BTreeSet<String> = types.keys().filter(ours).map(|n| n.to_string()).collect();
    let expected: BTreeSet<String> = doc.keys().map(|n| prometheus_form(n)).collect();
    assert_eq!(
        prom_names, expected,
        "/stats/prometheus names differ from docs/metrics.md"
    );
    for (name, kind) in &doc {
        assert_eq!(
            types[prometheus_form(name).as_str()],
            kind,
            "type of {name}"
        );
    }
}
