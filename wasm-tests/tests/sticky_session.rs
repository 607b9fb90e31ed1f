//! sticky-session end to end: the built `dist/sticky_session.wasm` in a real
//! Envoy 1.40 (the shipped `mesh-config/envoy/sticky-*.yaml`, ports swapped)
//! in front of three echo upstreams on loopback (shared harness `wasm_tests`).
//!
//! Needs `make build FILTERS=sticky-session` and `bash scripts/bootstrap.sh`.
//! Subject binding (`bind_subject`) is covered by the `policies::sticky` unit
//! tests plus `subject_bound_cookie_is_ignored_for_another_subject` below,
//! which publishes the identity through Envoy's set_filter_state filter
//! (test-only stand-in for oidc-auth).
// Test code: a failed assumption should stop the test (clippy.toml allows this
// in #[test] fns; the helpers here are test code too).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::time::Duration;
use wasm_tests::paths::repo_root;
use wasm_tests::{wait_until, Envoy, EnvoyOptions, Response, TempDir, Upstream};

/// 32 bytes 0..=31, standard base64: a fixed key so two Envoys agree.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const COOKIE: &str = "__Host-sticky";
const PIN_HEADER: &str = "x-sticky-endpoint";
/// The key variable the shipped configs name; only the test's value is passed.
const KEY_VAR: &str = "STICKY_KEY";
/// The cluster of the shipped configs.
const CLUSTER: &str = "app";

#[derive(Clone, Copy, Debug)]
enum Mode {
    StatefulSession,
    OverrideHost,
}

impl Mode {
    fn config_file(self) -> &'static str {
        match self {
            Mode::StatefulSession => "mesh-config/envoy/sticky-stateful-session.yaml",
            Mode::OverrideHost => "mesh-config/envoy/sticky-override-host.yaml",
        }
    }

    /// What a client would send to pick `address` itself.
    fn forged_pin(self, address: &str) -> String {
        match self {
            Mode::StatefulSession => base64_std(address.as_bytes()),
            Mode::OverrideHost => address.to_string(),
        }
    }
}

/// Three upstreams `a`, `b`, `c` and one Envoy running a shipped config.
struct Stack {
    upstreams: Vec<Upstream>,
    envoy: Envoy,
}

impl Stack {
    fn start(config_file: &str) -> Stack {
        Self::start_with(config_file, |c| c)
    }

    fn start_with(config_file: &str, edit: impl FnOnce(String) -> String) -> Stack {
        let upstreams = start_upstreams();
        let envoy = start_envoy(config_file, &upstreams, edit, &[]);
        Stack { upstreams, envoy }
    }

    fn upstream(&mut self, id: &str) -> &mut Upstream {
        self.upstreams.iter_mut().find(|u| u.id() == id).unwrap()
    }

    /// Waits until Envoy's health checks see every upstream healthy.
    fn wait_all_healthy(&self) {
        for u in &self.upstreams {
            wait_until(
                &format!("{} healthy", u.id()),
                Duration::from_secs(15),
                || self.envoy.host_healthy(CLUSTER, &u.addr()),
            )
            .unwrap();
        }
    }
}

fn start_upstreams() -> Vec<Upstream> {
    wasm_tests::paths::wasm("sticky_session.wasm").expect("make build FILTERS=sticky-session");
    ["a", "b", "c"]
        .iter()
        .map(|id| Upstream::start(id).unwrap())
        .collect()
}

/// A shipped config as a harness template: its example ports (admin 9901,
/// listener 10000, upstreams 8081..8083) become placeholders.
fn shipped_template(config_file: &str) -> String {
    let shipped = std::fs::read_to_string(repo_root().join(config_file)).unwrap();
    let mut out = shipped
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

/// Envoy on a shipped config (edited by `edit`), its upstreams in order.
fn start_envoy(
    config_file: &str,
    upstreams: &[Upstream],
    edit: impl FnOnce(String) -> String,
    vars: &[(&str, &str)],
) -> Envoy {
    let mut opts = EnvoyOptions::default().env(KEY_VAR, KEY);
    for (i, u) in upstreams.iter().enumerate() {
        opts = opts.var(&format!("UPSTREAM_{i}"), u.port());
    }
    for (k, v) in vars {
        opts = opts.var(k, v);
    }
    Envoy::start(&edit(shipped_template(config_file)), opts).unwrap()
}

/// `GET path` through Envoy with the given headers.
fn get(envoy: &Envoy, path: &str, headers: &[(&str, &str)]) -> Response {
    headers
        .iter()
        .fold(envoy.request("GET", path), |r, (k, v)| r.header(k, v))
        .send()
        .unwrap()
}

/// A counter from `/stats`, 0 when absent.
fn counter(envoy: &Envoy, name: &str) -> u64 {
    envoy.stat(name).unwrap().unwrap_or(0)
}

/// `__Host-sticky=<value>` from the response's Set-Cookie, if it set one.
fn sticky_cookie(r: &Response) -> Option<String> {
    named_cookie(r, COOKIE)
}

/// `<name>=<value>` from the response's Set-Cookie for cookie `name`.
fn named_cookie(r: &Response, name: &str) -> Option<String> {
    r.header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

fn served_by(r: &Response) -> String {
    assert_eq!(r.status, 200, "{r:?}");
    r.header("x-upstream-id").unwrap_or_default().to_string()
}

/// What the upstream received as the pin header (the echo's JSON).
fn upstream_saw_pin(r: &Response) -> Option<String> {
    r.json().unwrap_or_default()["headers"][PIN_HEADER]
        .as_str()
        .map(str::to_string)
}

fn base64_std(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Starts a session: the first response must set the cookie.
fn new_session(envoy: &Envoy) -> (String, String) {
    let r = get(envoy, "/app", &[]);
    let cookie = sticky_cookie(&r).expect("first response sets the sticky cookie");
    (cookie, served_by(&r))
}

fn pins_and_resists_forgery(mode: Mode) {
    let stack = Stack::start(mode.config_file());
    // stateful_session honours a pin only for a host that passed its first
    // health check (override_host does not look at health).
    stack.wait_all_healthy();
    let envoy = &stack.envoy;

    // First request: a cookie with safe attributes; the endpoint never leaks.
    let first = get(envoy, "/app", &[]);
    let set_cookie = first
        .header_all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(COOKIE))
        .expect("first response sets the sticky cookie")
        .to_string();
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{attr} missing in {set_cookie}");
    }
    assert!(
        first.header(PIN_HEADER).is_none(),
        "endpoint leaked: {first:?}"
    );
    assert!(!set_cookie.contains("127.0.0.1"));
    let cookie = sticky_cookie(&first).unwrap();
    let pinned = served_by(&first);

    // 50 follow-ups with the cookie: same upstream, no new cookie.
    for i in 0..50 {
        let r = get(envoy, "/app", &[("cookie", &format!("other=1; {cookie}"))]);
        assert_eq!(served_by(&r), pinned, "follow-up {i}: {}", r.text());
        assert_eq!(
            sticky_cookie(&r),
            None,
            "a valid pin is kept, not re-issued"
        );
        assert!(r.header(PIN_HEADER).is_none());
    }

    // Without cookies the load balancer spreads requests.
    let spread: BTreeSet<String> = (0..12)
        .map(|_| served_by(&get(envoy, "/app", &[])))
        .collect();
    assert!(spread.len() >= 2, "no spread without cookies: {spread:?}");

    // A client-chosen pin header is stripped: it reaches neither Envoy's
    // pinning nor the upstream, and the client gets a fresh cookie.
    let target = stack.upstreams.iter().find(|u| u.id() != pinned).unwrap();
    let forged = mode.forged_pin(&target.addr());
    let mut hit: BTreeSet<String> = BTreeSet::new();
    for _ in 0..12 {
        let r = get(envoy, "/app", &[(PIN_HEADER, &forged)]);
        hit.insert(served_by(&r));
        assert_eq!(
            upstream_saw_pin(&r),
            None,
            "client pin header reached upstream"
        );
        assert!(
            sticky_cookie(&r).is_some(),
            "unpinned request gets a cookie"
        );
    }
    assert!(
        hit.len() >= 2,
        "client pin header chose the endpoint: {hit:?}"
    );

    // A valid cookie wins over a client pin header pointing elsewhere.
    for _ in 0..5 {
        let r = get(envoy, "/app", &[("cookie", &cookie), (PIN_HEADER, &forged)]);
        assert_eq!(served_by(&r), pinned);
    }

    // Forged and tampered cookies pin nothing and are replaced.
    let value = cookie.split_once('=').unwrap().1.to_string();
    let mut tampered = value.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{COOKIE}={}", String::from_utf8(tampered).unwrap());
    let forged_cookie = format!("{COOKIE}=v1.k1.{}", base64_std(b"127.0.0.1:1 pls pin me"));
    for bad in [tampered, forged_cookie, format!("{COOKIE}=garbage")] {
        let mut hit = BTreeSet::new();
        for _ in 0..9 {
            let r = get(envoy, "/app", &[("cookie", &bad)]);
            hit.insert(served_by(&r));
            let fresh = sticky_cookie(&r).expect("a rejected cookie is replaced");
            assert_ne!(fresh, bad);
        }
        assert!(hit.len() >= 2, "bad cookie {bad} still pinned: {hit:?}");
    }

    // Health-check path is excluded by the shipped `routes` rule: no cookie.
    assert_eq!(sticky_cookie(&get(envoy, "/healthz", &[])), None);

    // Counters are defined and counted.
    assert!(counter(envoy, "wasmcustom.sticky_session.cookie_valid") >= 55);
    assert!(counter(envoy, "wasmcustom.sticky_session.response_new_session") >= 20);
    let rejected: u64 = [
        "malformed",
        "unknown_key",
        "undecryptable",
        "expired",
        "bad_endpoint",
    ]
    .iter()
    .map(|r| {
        counter(
            envoy,
            &format!("wasmcustom.sticky_session.cookie_rejected_{r}"),
        )
    })
    .sum();
    assert!(rejected >= 27, "rejected counters: {rejected}");
    assert!(!envoy.log().contains(&value), "cookie value logged");
}

fn fails_over_and_new_pin_sticks(mode: Mode) {
    let mut stack = Stack::start(mode.config_file());
    stack.wait_all_healthy();
    let (cookie, pinned) = new_session(&stack.envoy);
    let pinned_address = stack.upstream(&pinned).addr();

    // The pinned upstream goes away: requests keep succeeding elsewhere and
    // the cookie moves to the endpoint that served.
    stack.upstream(&pinned).stop();
    let moved = get(&stack.envoy, "/app", &[("cookie", &cookie)]);
    let new_home = served_by(&moved);
    assert_ne!(new_home, pinned);
    let moved_cookie = sticky_cookie(&moved).expect("failover re-pins the cookie");
    assert_ne!(moved_cookie, cookie);
    for _ in 0..20 {
        let r = get(&stack.envoy, "/app", &[("cookie", &moved_cookie)]);
        assert_eq!(served_by(&r), new_home, "moved pin must stick");
        assert_eq!(sticky_cookie(&r), None);
    }
    // Sessions still carrying the old cookie are served too (and moved).
    for _ in 0..5 {
        let r = get(&stack.envoy, "/app", &[("cookie", &cookie)]);
        assert_ne!(served_by(&r), pinned);
        assert!(sticky_cookie(&r).is_some());
    }
    assert!(counter(&stack.envoy, "wasmcustom.sticky_session.response_repinned") >= 1);

    // The upstream comes back: moved pins stay, new sessions reach it again.
    let port = stack.upstream(&pinned).port();
    let id = pinned.clone();
    *stack.upstream(&pinned) = Upstream::start_on(&id, port).unwrap();
    wait_until(
        "restarted upstream healthy",
        Duration::from_secs(20),
        || stack.envoy.host_healthy(CLUSTER, &pinned_address),
    )
    .unwrap();
    eprintln!("after restart:\n{}", stack.envoy.clusters_summary());
    for _ in 0..20 {
        let r = get(&stack.envoy, "/app", &[("cookie", &moved_cookie)]);
        assert_eq!(served_by(&r), new_home, "pin moved back after restart");
    }
    // New sessions reach it again once every worker sees it healthy.
    let started = std::time::Instant::now();
    wait_until(
        "new sessions on the restarted upstream",
        Duration::from_secs(15),
        || new_session(&stack.envoy).1 == pinned,
    )
    .unwrap();
    eprintln!(
        "restarted upstream took new sessions after {:?}",
        started.elapsed()
    );
}

#[test]
fn stateful_session_pins_and_resists_forged_pins() {
    pins_and_resists_forgery(Mode::StatefulSession);
}

#[test]
fn override_host_pins_and_resists_forged_pins() {
    pins_and_resists_forgery(Mode::OverrideHost);
}

#[test]
fn stateful_session_fails_over_and_the_new_pin_sticks() {
    fails_over_and_new_pin_sticks(Mode::StatefulSession);
}

#[test]
fn override_host_fails_over_and_the_new_pin_sticks() {
    fails_over_and_new_pin_sticks(Mode::OverrideHost);
}

#[test]
fn ring_hash_sends_one_app_session_to_one_endpoint_across_proxies() {
    let upstreams = start_upstreams();
    let file = "mesh-config/envoy/sticky-ring-hash.yaml";
    let first = start_envoy(file, &upstreams, |c| c, &[]);
    let second = start_envoy(file, &upstreams, |c| c, &[]);
    let mut endpoints = BTreeSet::new();
    for n in 0..12 {
        let session = format!("app_session=session-{n}");
        let on_first = served_by(&get(&first, "/app", &[("cookie", &session)]));
        // A client-supplied hash header is replaced, so it cannot steer.
        let steer = [("cookie", session.as_str()), ("x-sticky-hash", "steer")];
        for envoy in [&first, &second, &first, &second] {
            assert_eq!(
                served_by(&get(envoy, "/app", &steer)),
                on_first,
                "session-{n}"
            );
        }
        endpoints.insert(on_first);
    }
    assert!(endpoints.len() >= 2, "hash header ignored: {endpoints:?}");
}

#[test]
fn subject_bound_cookie_is_ignored_for_another_subject() {
    // Test-only stand-in for oidc-auth: Envoy's set_filter_state filter
    // publishes `wasm.oidc_identity` from a request header. Never ship this.
    let publish = r#"          - name: envoy.filters.http.set_filter_state
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config
              on_request_headers:
              - object_key: wasm.oidc_identity
                factory_key: envoy.string
                format_string:
                  text_format_source: { inline_string: "%REQ(x-test-identity)%" }
"#;
    let stack = Stack::start_with(Mode::StatefulSession.config_file(), |c| {
        let c = c.replace(
            r#""routes": [{"path_prefix": "/healthz", "enabled": false}]"#,
            r#""bind_subject": true, "routes": [{"path_prefix": "/healthz", "enabled": false}]"#,
        );
        c.replacen(
            "          - name: envoy.filters.http.wasm\n",
            &format!("{publish}          - name: envoy.filters.http.wasm\n"),
            1,
        )
    });
    stack.wait_all_healthy();
    let identity = |sub: &str| {
        serde_json::json!({"provider": "test", "issuer": "http://idp", "subject": sub, "expires_at": 4_000_000_000u64})
            .to_string()
    };
    let (alice, bob) = (identity("alice"), identity("bob"));
    let r = get(&stack.envoy, "/app", &[("x-test-identity", &alice)]);
    let cookie = sticky_cookie(&r).expect("alice gets a cookie");
    let home = served_by(&r);
    for _ in 0..10 {
        let r = get(
            &stack.envoy,
            "/app",
            &[("x-test-identity", &alice), ("cookie", &cookie)],
        );
        assert_eq!(served_by(&r), home);
        assert_eq!(sticky_cookie(&r), None);
    }
    // Bob replaying alice's cookie: not honoured, fresh cookie, rejection counted.
    let mut hit = BTreeSet::new();
    for _ in 0..9 {
        let r = get(
            &stack.envoy,
            "/app",
            &[("x-test-identity", &bob), ("cookie", &cookie)],
        );
        hit.insert(served_by(&r));
        assert!(sticky_cookie(&r).is_some());
    }
    assert!(hit.len() >= 2, "alice's cookie pinned bob: {hit:?}");
    assert!(
        counter(
            &stack.envoy,
            "wasmcustom.sticky_session.cookie_rejected_subject_mismatch"
        ) >= 9
    );
    // Anonymous replay of a bound cookie is rejected too.
    let r = get(&stack.envoy, "/app", &[("cookie", &cookie)]);
    assert!(sticky_cookie(&r).is_some());
}

#[test]
fn shipped_configs_validate_and_need_the_key() {
    wasm_tests::paths::wasm("sticky_session.wasm").expect("make build FILTERS=sticky-session");
    for file in [
        "mesh-config/envoy/sticky-stateful-session.yaml",
        "mesh-config/envoy/sticky-override-host.yaml",
        "mesh-config/envoy/sticky-ring-hash.yaml",
    ] {
        let path = repo_root().join(file);
        let v = Envoy::validate_with_env(&path, &[(KEY_VAR, KEY)], &[]).unwrap();
        assert!(v.ok, "{file} does not validate:\n{}", v.output);
        let v = Envoy::validate_with_env(&path, &[], &[KEY_VAR]).unwrap();
        assert!(!v.ok, "{file} validated without its key");
        assert!(
            v.output.contains("keys[0].env"),
            "error names the field:\n{}",
            v.output
        );
    }
}

#[test]
fn local_replies_get_no_cookie_and_leak_no_endpoint() {
    let mut stack = Stack::start(Mode::StatefulSession.config_file());
    stack.wait_all_healthy();
    let (cookie, _) = new_session(&stack.envoy);
    for u in &mut stack.upstreams {
        u.stop();
    }
    for headers in [vec![], vec![("cookie", cookie.as_str())]] {
        let r = get(&stack.envoy, "/app", &headers);
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(
            sticky_cookie(&r),
            None,
            "pinned to a host that did not answer"
        );
        assert!(r.header(PIN_HEADER).is_none(), "endpoint leaked: {r:?}");
    }
    assert!(
        counter(
            &stack.envoy,
            "wasmcustom.sticky_session.response_upstream_unusable"
        ) >= 2
    );
}

/// EDS from a watched file: the way to change an endpoint's health status
/// (DRAINING) in a running Envoy without a control plane.
struct EdsFile {
    dir: TempDir,
    version: u32,
}

impl EdsFile {
    fn new(upstreams: &[Upstream]) -> EdsFile {
        let mut eds = EdsFile {
            dir: TempDir::new("eds").unwrap(),
            version: 0,
        };
        eds.publish(upstreams, None);
        eds
    }

    fn path(&self) -> String {
        self.dir.join("eds.json").display().to_string()
    }

    /// Writes every upstream as an endpoint, `draining` with
    /// `health_status: DRAINING`; a rename, so Envoy sees one complete file.
    fn publish(&mut self, upstreams: &[Upstream], draining: Option<&str>) {
        self.version += 1;
        let endpoints: Vec<serde_json::Value> = upstreams
            .iter()
            .map(|u| {
                let status = if Some(u.id()) == draining { "DRAINING" } else { "HEALTHY" };
                serde_json::json!({
                    "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": u.port()}}},
                    "health_status": status
                })
            })
            .collect();
        let doc = serde_json::json!({
            "version_info": self.version.to_string(),
            "resources": [{
                "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                "cluster_name": CLUSTER,
                "endpoints": [{"lb_endpoints": endpoints}]
            }]
        });
        let tmp = self.dir.join(&format!("eds.{}.tmp", self.version));
        std::fs::write(&tmp, doc.to_string()).unwrap();
        std::fs::rename(&tmp, self.path()).unwrap();
    }
}

/// The shipped cluster, fed by EDS from `{{EDS_PATH}}` instead of its static endpoints.
fn with_file_eds(config: String) -> String {
    let start = config.find("    load_assignment:\n").unwrap();
    let end = config.find("    health_checks:\n").unwrap();
    assert!(start < end, "load_assignment must precede health_checks");
    let mut out = config;
    out.replace_range(start..end, "");
    // File subscriptions need a node identity.
    let out = out.replacen(
        "admin:\n",
        "node: { id: sticky-e2e, cluster: sticky-e2e }\nadmin:\n",
        1,
    );
    out.replacen(
        "    type: STATIC\n",
        "    type: EDS\n    eds_cluster_config:\n      eds_config:\n        resource_api_version: V3\n        path_config_source:\n          path: {{EDS_PATH}}\n          watched_directory: { path: {{EDS_DIR}} }\n",
        1,
    )
}

/// What a session pinned to an endpoint that turns DRAINING experiences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WhenDraining {
    /// Still served by the draining endpoint, cookie kept.
    StaysPinned,
    /// Moved at once to a healthy endpoint, cookie re-pinned.
    Moves,
}

fn draining_endpoint(mode: Mode, edit: impl FnOnce(String) -> String, expect: WhenDraining) {
    let mut upstreams = start_upstreams();
    let mut eds = EdsFile::new(&upstreams);
    let (path, dir) = (eds.path(), eds.dir.path().display().to_string());
    let envoy = start_envoy(
        mode.config_file(),
        &upstreams,
        |c| edit(with_file_eds(c)),
        &[("EDS_PATH", &path), ("EDS_DIR", &dir)],
    );
    for u in &upstreams {
        wait_until(
            &format!("{} healthy", u.id()),
            Duration::from_secs(15),
            || envoy.host_healthy(CLUSTER, &u.addr()),
        )
        .unwrap();
    }
    let (cookie, pinned) = new_session(&envoy);
    let pinned_addr = upstreams.iter().find(|u| u.id() == pinned).unwrap().addr();

    eds.publish(&upstreams, Some(&pinned));
    wait_until(
        "EDS marks the pinned host draining",
        Duration::from_secs(10),
        || {
            envoy
                .host_health(CLUSTER, &pinned_addr)
                .unwrap()
                .is_some_and(|f| f.contains("draining"))
        },
    )
    .unwrap();
    eprintln!("{mode:?} after DRAINING:\n{}", envoy.clusters_summary());

    // New sessions never start on the draining endpoint.
    for _ in 0..15 {
        let (_, home) = new_session(&envoy);
        assert_ne!(home, pinned, "new session on a draining endpoint");
    }
    // Existing sessions: kept or moved, as documented for this mode.
    let mut moved_cookie = None;
    for i in 0..20 {
        let r = get(&envoy, "/app", &[("cookie", &cookie)]);
        match expect {
            WhenDraining::StaysPinned => {
                assert_eq!(served_by(&r), pinned, "request {i} left the draining pin");
                assert_eq!(sticky_cookie(&r), None, "a kept pin is not re-issued");
            }
            WhenDraining::Moves => {
                assert_ne!(
                    served_by(&r),
                    pinned,
                    "request {i} still on the draining pin"
                );
                moved_cookie = sticky_cookie(&r);
                assert!(moved_cookie.is_some(), "the cookie moves with the session");
            }
        }
    }
    if expect == WhenDraining::StaysPinned {
        // Drain done: the endpoint goes away, its sessions move and stay moved.
        upstreams
            .iter_mut()
            .find(|u| u.id() == pinned)
            .unwrap()
            .stop();
        let r = get(&envoy, "/app", &[("cookie", &cookie)]);
        assert_ne!(served_by(&r), pinned);
        moved_cookie = Some(sticky_cookie(&r).expect("failover re-pins the cookie"));
    }
    let moved_cookie = moved_cookie.unwrap();
    let home = served_by(&get(&envoy, "/app", &[("cookie", &moved_cookie)]));
    for _ in 0..10 {
        let r = get(&envoy, "/app", &[("cookie", &moved_cookie)]);
        assert_eq!(served_by(&r), home, "the moved pin sticks");
    }
}

#[test]
fn stateful_session_keeps_sessions_on_a_draining_endpoint() {
    draining_endpoint(Mode::StatefulSession, |c| c, WhenDraining::StaysPinned);
}

#[test]
fn stateful_session_without_draining_override_status_moves_sessions_at_once() {
    // Envoy's default override_host_status leaves DRAINING out.
    let without = |c: String| {
        let start = c.find("    common_lb_config:\n").unwrap();
        let end = c.find("DRAINING]\n").unwrap() + "DRAINING]\n".len();
        let mut c = c;
        c.replace_range(start..end, "");
        c
    };
    draining_endpoint(Mode::StatefulSession, without, WhenDraining::Moves);
}

#[test]
fn override_host_keeps_sessions_on_a_draining_endpoint() {
    draining_endpoint(Mode::OverrideHost, |c| c, WhenDraining::StaysPinned);
}

#[test]
fn routes_with_their_own_cookie_settings_pin_independently() {
    let stack = Stack::start_with(Mode::StatefulSession.config_file(), |c| {
        c.replace(
            r#""routes": [{"path_prefix": "/healthz", "enabled": false}]"#,
            r#""routes": [{"path_prefix": "/healthz", "enabled": false},
                          {"path_prefix": "/cart", "cookie": {"name": "sticky-cart", "path": "/cart", "max_age": "3s", "idle_timeout": null}}]"#,
        )
    });
    stack.wait_all_healthy();
    let envoy = &stack.envoy;
    let set_cookie = |r: &Response, name: &str| {
        r.header_all("set-cookie")
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_string)
    };

    // The site-wide session: the shipped cookie (sliding 30 min window).
    let site = get(envoy, "/app", &[]);
    let site_home = served_by(&site);
    let site_set = set_cookie(&site, COOKIE).expect("site cookie");
    assert!(
        site_set.contains("; Path=/;") && site_set.contains("Max-Age=1800"),
        "{site_set}"
    );
    let site_cookie = sticky_cookie(&site).unwrap();

    // A cart session on another endpoint: its own name, Path and lifetime,
    // and no site cookie.
    let (cart, cart_home) = (0..20)
        .map(|_| get(envoy, "/cart/items", &[]))
        .map(|r| {
            let home = served_by(&r);
            (r, home)
        })
        .find(|(_, home)| *home != site_home)
        .expect("round robin reaches another endpoint");
    let cart_set = set_cookie(&cart, "sticky-cart").expect("cart cookie");
    assert!(
        cart_set.contains("; Path=/cart;") && cart_set.contains("Max-Age=3;"),
        "{cart_set}"
    );
    assert_eq!(
        sticky_cookie(&cart),
        None,
        "the cart route sets only its cookie"
    );
    let cart_cookie = named_cookie(&cart, "sticky-cart").unwrap();

    // A browser sends both cookies under /cart (most specific first), only
    // the site one elsewhere. Each route follows its own cookie.
    let both = format!("{cart_cookie}; {site_cookie}");
    for _ in 0..10 {
        let r = get(envoy, "/cart/checkout", &[("cookie", &both)]);
        assert_eq!(served_by(&r), cart_home);
        assert!(r.header_all("set-cookie").is_empty(), "{r:?}");
        let r = get(envoy, "/app", &[("cookie", &both)]);
        assert_eq!(served_by(&r), site_home);
        assert!(r.header_all("set-cookie").is_empty(), "{r:?}");
    }
    // The cart cookie means nothing outside /cart: a new site session starts.
    let r = get(envoy, "/app", &[("cookie", &cart_cookie)]);
    assert!(
        sticky_cookie(&r).is_some(),
        "cart cookie pinned a site request"
    );

    // Separate lifetimes: after 3 s the cart session is over and restarts,
    // the site session goes on.
    std::thread::sleep(Duration::from_millis(3200));
    let r = get(envoy, "/cart/checkout", &[("cookie", &both)]);
    assert!(
        named_cookie(&r, "sticky-cart").is_some(),
        "expired cart pin renewed"
    );
    assert!(counter(envoy, "wasmcustom.sticky_session.cookie_rejected_expired") >= 1);
    let r = get(envoy, "/app", &[("cookie", &both)]);
    assert_eq!(served_by(&r), site_home);
    assert!(r.header_all("set-cookie").is_empty(), "{r:?}");
}
