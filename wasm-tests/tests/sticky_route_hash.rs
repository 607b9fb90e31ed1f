//! sticky-session per-route `hash_key`, end to end: the built
//! `dist/sticky_session.wasm` in a real Envoy 1.40 running the shipped
//! `mesh-config/envoy/sticky-ring-hash.yaml` (ports swapped), with two extra
//! Envoy routes whose `hash_policy` reads their own header, in front of three
//! echo upstreams on loopback (shared harness `wasm_tests`).
//!
//! Shows that each route gets its own hash header (else its `hash_policy`
//! hashes nothing and Envoy picks a random host), that one app session lands
//! on one endpoint per route, that client-supplied copies of every hash
//! header are stripped on every route, and that a route can turn it off.
//!
//! Needs `make build FILTERS=sticky-session`.
// Test code: a failed assumption should stop the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::time::Duration;
use wasm_tests::paths::repo_root;
use wasm_tests::{wait_until, Envoy, EnvoyOptions, Response, Upstream};

/// 32 bytes 0..=31, standard base64 (the value of the shipped `STICKY_KEY`).
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const CONFIG: &str = "mesh-config/envoy/sticky-ring-hash.yaml";
/// Every hash header any route configures.
const HASH_HEADERS: [&str; 3] = ["x-sticky-hash", "x-hash-a", "x-hash-b"];

/// Envoy routes `/a/` and `/b/` hash on their own header; `/` (the shipped
/// route, `/off` included) on `x-sticky-hash`.
const ENVOY_ROUTES: &str = r#"              - match: { prefix: "/a/" }
                route: { cluster: app, timeout: 5s, hash_policy: [{ header: { header_name: x-hash-a } }] }
              - match: { prefix: "/b/" }
                route: { cluster: app, timeout: 5s, hash_policy: [{ header: { header_name: x-hash-b } }] }
              - match: { prefix: "/" }
"#;

/// Plugin routes: `/a/` its own header (source inherited: the subject or
/// `app_session`), `/b/` its own header and only the `cart_session` cookie,
/// `/off` no hash header at all.
const PLUGIN_ROUTES: &str = r#""routes": [{"path_prefix": "/healthz", "enabled": false},
                          {"path_prefix": "/a/", "hash_key": {"header": "X-Hash-A"}},
                          {"path_prefix": "/b/", "hash_key": {"header": "x-hash-b", "identity": false, "session_cookie": "cart_session"}},
                          {"path_prefix": "/off", "hash_key": {"enabled": false}}]"#;

/// The shipped ring-hash config with the routes above; example ports
/// (admin 9901, listener 10000, upstreams 8081..8083) become placeholders.
fn config() -> String {
    let shipped = std::fs::read_to_string(repo_root().join(CONFIG)).unwrap();
    let shipped_route = "              - match: { prefix: \"/\" }\n";
    let shipped_plugin_routes = r#""routes": [{"path_prefix": "/healthz", "enabled": false}]"#;
    assert!(shipped.contains(shipped_route) && shipped.contains(shipped_plugin_routes));
    let mut out = shipped
        .replace(shipped_route, ENVOY_ROUTES)
        .replace(shipped_plugin_routes, PLUGIN_ROUTES)
        .replace("port_value: 9901", "port_value: {{ADMIN_PORT}}")
        .replace("port_value: 10000", "port_value: {{LISTENER_PORT}}");
    for (i, example) in [8081, 8082, 8083].iter().enumerate() {
        out = out.replace(
            &format!("port_value: {example}"),
            &format!("port_value: {{{{UPSTREAM_{i}}}}}"),
        );
    }
    out
}

/// `GET path` with `cookie` and a client copy of every hash header.
fn get_steering(envoy: &Envoy, path: &str, cookie: &str) -> Response {
    HASH_HEADERS
        .iter()
        .fold(
            envoy.request("GET", path).header("cookie", cookie),
            |r, h| r.header(h, "steer"),
        )
        .send()
        .unwrap()
}

/// The serving upstream and the hash headers it received.
fn served(r: &Response) -> (String, Vec<(String, String)>) {
    assert_eq!(r.status, 200, "{r:?}");
    let seen = r.json().unwrap()["headers"].clone();
    let hashes = HASH_HEADERS
        .iter()
        .filter_map(|h| Some((h.to_string(), seen[*h].as_str()?.to_string())))
        .collect();
    (r.header("x-upstream-id").unwrap().to_string(), hashes)
}

#[test]
fn each_route_hashes_on_its_own_header_and_client_copies_never_steer() {
    wasm_tests::paths::wasm("sticky_session.wasm").expect("make build FILTERS=sticky-session");
    let upstreams: Vec<Upstream> = ["a", "b", "c"]
        .iter()
        .map(|id| Upstream::start(id).unwrap())
        .collect();
    let mut opts = EnvoyOptions::default().env("STICKY_KEY", KEY);
    for (i, u) in upstreams.iter().enumerate() {
        opts = opts.var(&format!("UPSTREAM_{i}"), u.port());
    }
    let envoy = Envoy::start(&config(), opts).unwrap();
    // A host turning healthy mid-test would rebuild the ring.
    for u in &upstreams {
        wait_until("upstream healthy", Duration::from_secs(15), || {
            envoy.host_healthy("app", &u.addr())
        })
        .unwrap();
    }

    // (path, the one hash header its upstream must see)
    let routes = [
        ("/app", "x-sticky-hash"),
        ("/a/items", "x-hash-a"),
        ("/b/cart", "x-hash-b"),
    ];
    let mut spread: Vec<BTreeSet<String>> = vec![BTreeSet::new(); routes.len()];
    for n in 0..10 {
        let cookie = format!("app_session=s{n}; cart_session=c{n}");
        for ((path, header), spread) in routes.iter().zip(&mut spread) {
            let (home, hashes) = served(&get_steering(&envoy, path, &cookie));
            assert_eq!(hashes.len(), 1, "{path}: {hashes:?}");
            assert_eq!(hashes[0].0, *header, "{path}: {hashes:?}");
            assert_ne!(hashes[0].1, "steer", "{path}: client copy kept");
            // Same session, same endpoint, whatever the client sends.
            for _ in 0..3 {
                let (again, _) = served(&get_steering(&envoy, path, &cookie));
                assert_eq!(again, home, "{path} session {n}");
            }
            spread.insert(home);
        }
    }
    // The hash really decides: different sessions reach different endpoints
    // on every route (a wrong header name would leave Envoy no hash, and the
    // same session would not stick above).
    for ((path, _), spread) in routes.iter().zip(&spread) {
        assert!(spread.len() >= 2, "{path}: {spread:?}");
    }

    // `/b` hashes only `cart_session`: without it, no hash header.
    let (_, hashes) = served(&get_steering(&envoy, "/b/cart", "app_session=s1"));
    assert!(hashes.is_empty(), "{hashes:?}");

    // `/off`: no hash header and the client's copies are stripped, so a
    // fixed session and fixed "steer" headers spread over the endpoints.
    let mut off = BTreeSet::new();
    for _ in 0..15 {
        let (home, hashes) = served(&get_steering(&envoy, "/off", "app_session=s1"));
        assert!(hashes.is_empty(), "/off: {hashes:?}");
        off.insert(home);
    }
    assert!(off.len() >= 2, "/off was steered: {off:?}");
}
