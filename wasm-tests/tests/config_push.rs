//! Plugin configuration pushed at run time through LDS (as istiod does):
//! an invalid one is rejected and the old one keeps serving; a valid one is
//! applied without dropping requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_tests::ports::free_port;
use wasm_tests::{Envoy, EnvoyOptions, Idp, Request, TempDir, TokenRequest, Upstream};

fn listener(port: u16, dist: &str, plugin: &Value) -> String {
    let filter = json!({
        "name": "oidc-auth",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "oidc-auth", "root_id": "oidc-auth", "failure_policy": "FAIL_RELOAD",
                "vm_config": {"vm_id": "oidc-auth", "runtime": "envoy.wasm.runtime.v8",
                              "code": {"local": {"filename": format!("{dist}/oidc_auth.wasm")}}},
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": plugin.to_string()}
            }
        }
    });
    let resource = json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": "main",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "main", "normalize_path": true, "merge_slashes": true,
                "path_with_escaped_slashes_action": "REJECT_REQUEST",
                "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]}]},
                "http_filters": [filter, {"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
            }
        }]}]
    });
    json!({"resources": [resource]}).to_string()
}

fn plugin(idp: &Idp, admin_rule_scope: &str) -> Value {
    json!({
        "providers": [{"name": "local", "issuer": idp.issuer(), "audiences": ["https://api.mesh.local"], "cluster": "idp"}],
        "rules": [
            {"match": {"path": {"prefix": "/admin"}}, "claims": {"claim": "scope", "contains": admin_rule_scope}},
            {"match": {"path": {"prefix": "/"}}}
        ]
    })
}

/// Writes the LDS file the way config management should: a new file moved into place.
fn push(dir: &TempDir, text: &str) {
    let tmp = dir.join("lds.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("lds.yaml")).unwrap();
}

#[test]
fn invalid_config_push_is_rejected_and_a_valid_one_applies_without_dropping_requests() {
    let idp = Idp::start().unwrap();
    let upstream = Upstream::start("backend").unwrap();
    let dir = TempDir::new("lds").unwrap();
    let port = free_port().unwrap();
    let dist = wasm_tests::paths::dist_dir().display().to_string();
    push(&dir, &listener(port, &dist, &plugin(&idp, "admin")));
    let bootstrap = json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{{ADMIN_PORT}}"}}},
        "node": {"id": "push-test", "cluster": "push-test"},
        "dynamic_resources": {"lds_config": {"resource_api_version": "V3", "path_config_source": {
            "path": dir.join("lds.yaml").display().to_string(),
            "watched_directory": {"path": dir.path().display().to_string()}}}},
        "static_resources": {"clusters": [
            {"name": "backend", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {"cluster_name": "backend",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": upstream.port()}}}}]}]}},
            {"name": "idp", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {"cluster_name": "idp",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": idp.port()}}}}]}]}}
        ]}
    })
    .to_string()
    .replace("\"{{ADMIN_PORT}}\"", "{{ADMIN_PORT}}");
    let envoy = Envoy::start(&bootstrap, EnvoyOptions::default()).unwrap();
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !wasm_tests::http::tcp_accepts(port) {
        assert!(
            Instant::now() < deadline,
            "listener from LDS never came up:\n{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = idp
        .mint(&TokenRequest {
            scope: Some("openid ops".into()),
            aud: Some(json!("https://api.mesh.local")),
            ..Default::default()
        })
        .unwrap()
        .token;
    let get = |path: &str| {
        Request::get(addr.clone(), path)
            .bearer(&token)
            .send()
            .map(|r| r.status)
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while get("/x") != 200 {
        assert!(
            Instant::now() < deadline,
            "keys never loaded:\n{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get("/admin"), 403, "scope `admin` required at first");

    // Background traffic during both pushes: every answer must be a 200.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let traffic = {
        let (stop, ok, bad, addr, token) = (
            stop.clone(),
            ok.clone(),
            bad.clone(),
            addr.clone(),
            token.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match Request::get(addr.clone(), "/x").bearer(&token).send() {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => bad.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };

    let rejected_before = envoy
        .stat("listener_manager.lds.update_rejected")
        .unwrap()
        .unwrap_or(0);
    let mut broken = plugin(&idp, "admin");
    broken["providers"][0]["clock_skew"] = json!("soon");
    push(&dir, &listener(port, &dist, &broken));
    let deadline = Instant::now() + Duration::from_secs(15);
    while envoy
        .stat("listener_manager.lds.update_rejected")
        .unwrap()
        .unwrap_or(0)
        == rejected_before
    {
        assert!(
            Instant::now() < deadline,
            "the invalid push was not rejected:\n{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        envoy.log().contains("providers[0].clock_skew"),
        "the rejection names the field"
    );
    assert_eq!(get("/admin"), 403, "the old configuration keeps serving");

    push(&dir, &listener(port, &dist, &plugin(&idp, "ops")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while get("/admin") != 200 {
        assert!(
            Instant::now() < deadline,
            "the valid push was not applied:\n{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    let (ok, bad) = (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
    assert!(ok > 20, "too little traffic to judge: {ok}");
    assert_eq!(
        bad,
        0,
        "{bad} of {} requests failed during the pushes",
        ok + bad
    );
}
