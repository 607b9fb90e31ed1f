//! Bounded soak: all three plugins chained, moderate load for SOAK_SECONDS
//! (default 600) while user tokens expire and are replaced and Vault leases
//! renew and roll over. Run with `make soak` (not part of `make test`); the
//! figures go to bench/soak.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasm_tests::process::rss_kib;
use wasm_tests::report::{publish_soak, soak_seconds};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, OpenBao, Postgres, Request, Upstream};

const AUD: &str = "https://api.mesh.local";
const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
const STICKY_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn setup_database(bao: &OpenBao, pg: &Postgres) {
    bao.api(
        "POST",
        "sys/mounts/database",
        Some(&json!({"type": "database"})),
    )
    .unwrap();
    bao.api("POST", "database/config/app", Some(&json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": format!("postgresql://{{{{username}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port()),
        "username": "postgres", "allowed_roles": ["app"], "verify_connection": true
    }))).unwrap();
    bao.api("POST", "database/roles/app", Some(&json!({
        "db_name": "app",
        "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
        "default_ttl": "20s", "max_ttl": "90s"
    }))).unwrap();
}

#[test]
#[ignore = "long: run with `make soak`"]
fn soak_all_plugins_chained() {
    let seconds = soak_seconds();
    let idp = Idp::start().unwrap();
    let pg = Postgres::start().unwrap();
    let bao = OpenBao::start().unwrap();
    setup_database(&bao, &pg);
    let upstreams = Upstream::start_many("u", 3).unwrap();
    let ports: Vec<u16> = upstreams.iter().map(|u| u.port()).collect();

    let oidc = json!({
        "providers": [{"name": "local", "issuer": idp.issuer(), "audiences": [AUD], "cluster": "idp",
                       "refresh_interval": "30s"}],
        "default_action": "authenticated"
    });
    let inject = json!({
        "backends": [{"name": "db-api", "routes": [{"methods": ["GET"], "path": {"prefix": "/api"}}],
                      "credential": {"vault": {"secret": "db"}},
                      "injection": {"header": "x-db-credential", "template": "Basic {base64(username:password)}"},
                      "require_user": true}],
        "csrf": {"require_origin": false},
        "vault": {"connection": {"cluster": "vault", "authority": format!("127.0.0.1:{}", bao.port()), "timeout": "2s"},
                  "auth": {"token": {"token_env": "VAULT_TOKEN"}},
                  "secrets": [{"name": "db", "kind": {"dynamic": {"path": "database/creds/app", "fields": ["username", "password"]}}}]}
    });
    let sticky = json!({"mode": "stateful-session", "keys": [{"id": "k1", "env": "STICKY_KEY"}], "bind_subject": true});
    let b = Bootstrap::new()
        .backend(&ports)
        .cluster("idp", &[idp.port()])
        .cluster("vault", &[bao.port()])
        .plugin_chain(&oidc, &sticky, &inject, &["VAULT_TOKEN"])
        .stateful_session_header("x-sticky-endpoint");
    let mut envoy = Envoy::start(
        &b.build(),
        EnvoyOptions::default()
            .concurrency(2)
            .env("VAULT_TOKEN", wasm_tests::openbao::ROOT_TOKEN)
            .env("STICKY_KEY", STICKY_KEY),
    )
    .unwrap();
    let pid = envoy.process().pid();
    let addr = envoy.addr();

    // Each client is one user with its own sticky cookie; it re-mints its token (TTL 30 s) when it expires.
    let results: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let upstreams_seen: Arc<Mutex<BTreeMap<usize, BTreeSet<String>>>> = Arc::default();
    let issuer = idp.addr();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let warmup_until = Instant::now() + Duration::from_secs(20);
    let mut rss_after_warmup = 0;
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (results, seen, addr, issuer) = (results.clone(), upstreams_seen.clone(), addr.clone(), issuer.clone());
            std::thread::spawn(move || {
                let mint = || {
                    let r = Request::post(issuer.clone(), "/test/token")
                        .json(&json!({"alg": ALGS[n % 3], "sub": format!("user{n}"), "aud": AUD, "ttl": 30}))
                        .send()
                        .unwrap();
                    let v: Value = r.json().unwrap();
                    (v["access_token"].as_str().unwrap().to_string(), Instant::now() + Duration::from_secs(25))
                };
                let (mut token, mut renew_at) = mint();
                let mut cookie: Option<String> = None;
                while Instant::now() < deadline {
                    if Instant::now() >= renew_at {
                        (token, renew_at) = mint();
                    }
                    let mut req = Request::get(addr.clone(), "/api/items").bearer(&token);
                    if let Some(c) = &cookie {
                        req = req.header("cookie", c);
                    }
                    let key = match req.send() {
                        Ok(r) => {
                            if let Some(sc) = r.header("set-cookie") {
                                cookie = sc.split(';').next().map(str::to_string);
                            }
                            if r.status == 200 && Instant::now() > warmup_until {
                                let id = r.json().unwrap()["id"].as_str().unwrap_or("").to_string();
                                seen.lock().unwrap().entry(n).or_default().insert(id);
                            }
                            format!("{} {}", r.status, r.json().ok().and_then(|v| v["error"].as_str().map(str::to_string)).unwrap_or_default())
                        }
                        Err(e) => format!("transport {e}"),
                    };
                    // Before the first secret is loaded, 503 credential_unavailable is the
                    // documented answer: only count after the warm-up.
                    if Instant::now() > warmup_until {
                        *results.lock().unwrap().entry(key).or_default() += 1;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    while Instant::now() < warmup_until {
        std::thread::sleep(Duration::from_millis(200));
    }
    if rss_after_warmup == 0 {
        rss_after_warmup = rss_kib(pid);
    }
    let mut rss_max = rss_after_warmup;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(5));
        rss_max = rss_max.max(rss_kib(pid));
    }
    for c in clients {
        c.join().unwrap();
    }
    let rss_end = rss_kib(pid);
    let stat = |n: &str| envoy.stat(n).unwrap().unwrap_or(0);
    let renewals = stat("wasmcustom.credential_injector.vault.renewals");
    let fetches = stat("wasmcustom.credential_injector.vault.fetches");
    let results = results.lock().unwrap().clone();
    let total: u64 = results.values().sum();
    let ok = results.get("200 ").copied().unwrap_or(0);
    let seen = upstreams_seen.lock().unwrap().clone();
    let report = format!(
        "# Soak: all plugins chained\n\n{seconds} s, 4 clients (one user each, RS256/ES256/EdDSA tokens with a 30 s TTL, re-minted before expiry), \
         Envoy --concurrency 2, oidc-auth -> credential-injector (PostgreSQL dynamic credentials, default_ttl 20 s, max_ttl 90 s) -> sticky-session.\n\n\
         | figure | value |\n|---|---|\n| requests after the 20 s warm-up | {total} |\n| 200 | {ok} |\n| other answers | {:?} |\n| Vault lease renewals | {renewals} |\n\
         | Vault secret fetches (first + replacements at max_ttl) | {fetches} |\n| Envoy RSS after 20 s warm-up | {} MiB |\n| Envoy RSS max / end | {} / {} MiB |\n\
         | upstreams seen per user after warm-up | {:?} |\n",
        results.iter().filter(|(k, _)| k.as_str() != "200 ").collect::<Vec<_>>(),
        rss_after_warmup / 1024, rss_max / 1024, rss_end / 1024, seen.values().map(|s| s.len()).collect::<Vec<_>>()
    );
    publish_soak(&report).unwrap();
    assert_eq!(ok, total, "unexpected non-200 answers: {results:?}");
    assert!(
        renewals >= seconds / 20,
        "{renewals} renewals in {seconds} s with a 20 s lease TTL"
    );
    assert!(
        fetches > seconds / 100,
        "{fetches} fetches: leases were not replaced at max_ttl"
    );
    // Bound: RSS may not grow by more than 25 % (and 64 MiB) after warm-up.
    assert!(
        rss_max <= rss_after_warmup + (rss_after_warmup / 4).min(64 * 1024),
        "RSS {rss_after_warmup} -> {rss_max} KiB"
    );
    assert!(
        seen.values().all(|s| s.len() == 1),
        "a user's session moved between upstreams: {seen:?}"
    );
}
