//! Vault in the proxy, end to end: credential-injector in a real Envoy 1.40 logs in to a real
//! OpenBao (AppRole, JWT), reads KV v2 and dynamic PostgreSQL credentials that really log in to a
//! real PostgreSQL, renews and replaces leases, survives an OpenBao outage and a revoked token, and
//! calls Vault once per refresh whatever the worker count. Secrets never reach the Envoy log.
//!
//! Timings are measured and printed (`--nocapture`); every wait polls with a deadline.

// Test helpers, not library code: a failed step should stop the test loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, OpenBao, Postgres, Response, Upstream};

const APP: &str = "http://127.0.0.1:3000";
const METRICS: &str = "wasmcustom.credential_injector.vault.";

/// What the plugin's role may do.
const POLICY: &str = wasm_tests::openbao::PLUGIN_POLICY;

// ---------------------------------------------------------------- setup

/// Policy, AppRole `gateway` (with the given ids, e.g. after a restart, else generated) and the
/// KV secret. Returns (role_id, secret_id).
fn seed(bao: &OpenBao, ids: Option<(&str, &str)>) -> (String, String) {
    bao.write_policy("app", POLICY).unwrap();
    let (mut role_id, mut secret_id) = bao.approle("gateway", &["app"], "1h").unwrap();
    if let Some((r, s)) = ids {
        bao.api(
            "POST",
            "auth/approle/role/gateway/role-id",
            Some(&json!({"role_id": r})),
        )
        .unwrap();
        bao.api(
            "POST",
            "auth/approle/role/gateway/custom-secret-id",
            Some(&json!({"secret_id": s})),
        )
        .unwrap();
        (role_id, secret_id) = (r.to_string(), s.to_string());
    }
    bao.kv_put("payments", &json!({"api_key": "pay-key-SECRET-1"}))
        .unwrap();
    (role_id, secret_id)
}

fn approle_auth() -> Value {
    json!({"approle": {"role_id_env": "VAULT_ROLE_ID", "secret_id_env": "VAULT_SECRET_ID"}})
}

fn kv_secret() -> Value {
    json!({"name": "payments", "kind": {"kv2": {"path": "payments", "fields": ["api_key"]}}})
}

fn db_secret() -> Value {
    json!({"name": "db", "kind": {"dynamic": {"path": "database/creds/app", "fields": ["username", "password"]}}})
}

/// One backend per secret: `/kv/...` gets `x-api-key`, `/db/...` gets HTTP Basic from the DB creds.
fn plugin_config(bao_port: u16, auth: Value, refresh: &str, secrets: &[Value]) -> Value {
    let mut backends = Vec::new();
    for s in secrets {
        let (name, credential, injection) = match s["name"].as_str().unwrap() {
            "payments" => (
                "kv",
                json!({"vault": {"secret": "payments", "field": "api_key"}}),
                json!({"header": "x-api-key"}),
            ),
            _ => (
                "db",
                json!({"vault": {"secret": "db"}}),
                json!({"header": "authorization", "template": "Basic {base64(username:password)}"}),
            ),
        };
        backends.push(json!({
            "name": name,
            "routes": [{"methods": ["GET"], "path": {"prefix": format!("/{name}")}}],
            "credential": credential,
            "injection": injection,
            "require_user": false
        }));
    }
    json!({
        "backends": backends,
        "cors": {"allowed_origins": [APP], "allow_credentials": true, "max_age": "10m"},
        "csrf": {"require_origin": true},
        "vault": {
            "connection": {"cluster": "vault", "authority": format!("127.0.0.1:{bao_port}"), "timeout": "2s"},
            "auth": auth,
            "kv_refresh_interval": refresh,
            "secrets": secrets
        }
    })
}

fn start_envoy(
    bao_port: u16,
    upstream: &Upstream,
    cfg: &Value,
    env: &[(&str, &str)],
    concurrency: u32,
) -> Envoy {
    let keys: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
    let bootstrap = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("vault", &[bao_port])
        .wasm_filter(
            "credential-injector",
            "credential_injector.wasm",
            cfg,
            &keys,
        );
    let mut opts = EnvoyOptions::default().concurrency(concurrency);
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    Envoy::start(&bootstrap.build(), opts).unwrap()
}

// ---------------------------------------------------------------- observing

fn metric(envoy: &Envoy, name: &str) -> u64 {
    envoy
        .stat(&format!("{METRICS}{name}"))
        .unwrap()
        .unwrap_or(0)
}

/// The header the upstream received, for a 200; `Err((status, body))` otherwise.
fn injected(r: &Response, header: &str) -> Result<String, (u16, String)> {
    if r.status != 200 {
        return Err((r.status, r.text()));
    }
    Ok(r.json().unwrap()["headers"][header]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Polls `GET path` every 100 ms until the injected `header` satisfies `ok`; returns it and the wait.
fn wait_for(
    envoy: &Envoy,
    path: &str,
    header: &str,
    within: Duration,
    ok: impl Fn(&str) -> bool,
) -> (String, Duration) {
    let start = Instant::now();
    loop {
        let r = envoy.get(path).unwrap();
        match injected(&r, header) {
            Ok(v) if ok(&v) => return (v, start.elapsed()),
            last => assert!(
                start.elapsed() < within,
                "nothing acceptable at {path} after {within:?}; last {last:?}\n{}",
                envoy.log()
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Milliseconds since midnight of the first Envoy log line containing `needle`
/// (`[2026-11-24 15:08:30.032][…`).
fn logged_at_ms(log: &str, needle: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains(needle))?;
    let clock = line.get(12..24)?; // HH:MM:SS.mmm
    let parts: Vec<u64> = clock
        .split([':', '.'])
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts[..] {
        [h, m, s, ms] => Some(((h * 60 + m) * 60 + s) * 1000 + ms),
        _ => None,
    }
}

/// (username, password) from `Basic base64(user:pass)`.
fn basic_credentials(header: &str) -> (String, String) {
    let b64 = header.strip_prefix("Basic ").unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (u, p) = text.split_once(':').unwrap();
    (u.to_string(), p.to_string())
}

/// Client tokens OpenBao issued at `login_path` (the audit log is raw in the harness).
fn issued_tokens(bao: &OpenBao, login_path: &str) -> Vec<String> {
    bao.audit_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "response")
        .filter(|e| {
            e.pointer("/request/path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.contains(login_path))
        })
        .filter_map(|e| {
            e.pointer("/response/auth/client_token")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// The Envoy log (wasm at debug level) must not contain any of these values.
fn assert_not_logged(envoy: &Envoy, secrets: &[(&str, &str)]) {
    let log = envoy.log();
    assert!(
        log.contains("vault: secret fetch succeeded"),
        "the plugin's debug log is missing: is wasm:debug on?"
    );
    for (what, value) in secrets {
        assert!(
            value.len() >= 8,
            "{what} too short to search for: {value:?}"
        );
        assert!(!log.contains(value), "{what} appears in the Envoy log");
    }
}

// ---------------------------------------------------------------- (a) logins

#[test]
fn approle_login_gets_the_kv_secret_to_the_backend_and_nothing_secret_is_logged() {
    let bao = OpenBao::start().unwrap();
    let (role_id, secret_id) = seed(&bao, None);
    let upstream = Upstream::start("kv").unwrap();
    let cfg = plugin_config(bao.port(), approle_auth(), "60s", &[kv_secret()]);
    let envoy = start_envoy(
        bao.port(),
        &upstream,
        &cfg,
        &[("VAULT_ROLE_ID", &role_id), ("VAULT_SECRET_ID", &secret_id)],
        1,
    );
    let (_, took) = wait_for(
        &envoy,
        "/kv/status",
        "x-api-key",
        Duration::from_secs(10),
        |v| v == "pay-key-SECRET-1",
    );
    eprintln!("AppRole: KV secret at the backend {took:?} after Envoy was ready");
    // The read goes out as soon as the login answers, not on the next 1 s tick: a cold start
    // serves its first credential one tick after start, not two.
    let log = envoy.log();
    let (login, read) = (
        logged_at_ms(&log, "vault: login succeeded"),
        logged_at_ms(&log, "vault: secret fetch succeeded"),
    );
    assert!(
        read.zip(login).is_some_and(|(r, l)| r >= l && r - l < 500),
        "login logged at {login:?} ms, first read at {read:?} ms: the read waited for a tick\n{log}"
    );
    assert_eq!(bao.count_requests("auth/approle/login"), 1);
    assert_eq!(metric(&envoy, "logins"), 1);
    assert!(metric(&envoy, "fetches") >= 1);
    let tokens = issued_tokens(&bao, "auth/approle/login");
    assert_eq!(tokens.len(), 1);
    assert_not_logged(
        &envoy,
        &[
            ("vault token", &tokens[0]),
            ("secret_id", &secret_id),
            ("KV value", "pay-key-SECRET-1"),
        ],
    );
}

#[test]
fn jwt_login_gets_the_kv_secret_to_the_backend_and_nothing_secret_is_logged() {
    let idp = Idp::start().unwrap();
    let bao = OpenBao::start().unwrap();
    seed(&bao, None);
    bao.jwt_auth(&idp.jwks_url(), &idp.issuer(), "gateway", "vault", &["app"])
        .unwrap();
    let jwt = idp
        .mint_token("RS256", "web-gateway", "vault", Value::Null, 600)
        .unwrap();
    let upstream = Upstream::start("kv").unwrap();
    let auth = json!({"jwt": {"role": "gateway", "jwt_env": "VAULT_JWT"}});
    let cfg = plugin_config(bao.port(), auth, "60s", &[kv_secret()]);
    let envoy = start_envoy(bao.port(), &upstream, &cfg, &[("VAULT_JWT", &jwt)], 1);
    let (_, took) = wait_for(
        &envoy,
        "/kv/status",
        "x-api-key",
        Duration::from_secs(10),
        |v| v == "pay-key-SECRET-1",
    );
    eprintln!("JWT: KV secret at the backend {took:?} after Envoy was ready");
    assert_eq!(bao.count_requests("auth/jwt/login"), 1);
    assert_eq!(metric(&envoy, "logins"), 1);
    let tokens = issued_tokens(&bao, "auth/jwt/login");
    assert_eq!(tokens.len(), 1);
    assert_not_logged(
        &envoy,
        &[
            ("vault token", &tokens[0]),
            ("login JWT", &jwt),
            ("KV value", "pay-key-SECRET-1"),
        ],
    );
}

// ---------------------------------------------------------------- (b) (c) dynamic credentials

struct DbStack {
    /// The first injected `authorization` header, and how long after Envoy's start it came.
    first: (String, Duration),
    pg: Postgres,
    bao: OpenBao,
    envoy: Envoy,
    role_id: String,
    secret_id: String,
    _upstream: Upstream,
}

/// PostgreSQL, OpenBao with its database engine (`app` role), and Envoy serving its first
/// database credential.
fn db_stack(default_ttl: &str, max_ttl: &str, concurrency: u32) -> DbStack {
    let pg = Postgres::start().unwrap();
    pg.require_passwords().unwrap();
    let bao = OpenBao::start().unwrap();
    let (role_id, secret_id) = seed(&bao, None);
    bao.database_secrets(&pg, "app", default_ttl, max_ttl)
        .unwrap();
    let upstream = Upstream::start("db").unwrap();
    let cfg = plugin_config(
        bao.port(),
        approle_auth(),
        "2s",
        &[kv_secret(), db_secret()],
    );
    let envoy = start_envoy(
        bao.port(),
        &upstream,
        &cfg,
        &[("VAULT_ROLE_ID", &role_id), ("VAULT_SECRET_ID", &secret_id)],
        concurrency,
    );
    let first = wait_for(
        &envoy,
        "/db/q",
        "authorization",
        Duration::from_secs(10),
        |_| true,
    );
    DbStack {
        first,
        pg,
        bao,
        envoy,
        role_id,
        secret_id,
        _upstream: upstream,
    }
}

/// Requests `/db/q` every 100 ms for `span`; every answer must be 200. Returns the distinct
/// credentials seen in order, each with the time it was first seen.
fn serve_without_failure(envoy: &Envoy, span: Duration) -> Vec<((String, String), Duration)> {
    let start = Instant::now();
    let mut seen: Vec<((String, String), Duration)> = Vec::new();
    let mut requests = 0;
    while start.elapsed() < span {
        let r = envoy.get("/db/q").unwrap();
        let header = injected(&r, "authorization").unwrap_or_else(|e| {
            panic!(
                "request {requests} failed at {:?}: {e:?}\n{}",
                start.elapsed(),
                envoy.log()
            )
        });
        let creds = basic_credentials(&header);
        if seen.last().is_none_or(|(c, _)| *c != creds) {
            seen.push((creds, start.elapsed()));
        }
        requests += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{requests} requests in {span:?}, all 200; credentials first seen at {:?}",
        seen.iter().map(|(_, t)| *t).collect::<Vec<_>>()
    );
    seen
}

#[test]
fn dynamic_postgres_credentials_log_in_and_are_renewed_across_short_ttls() {
    let s = db_stack("4s", "1h", 1);
    let (first, took) = s.first.clone();
    eprintln!("first DB credential after {took:?}");
    let renewals_before = metric(&s.envoy, "renewals");
    let seen = serve_without_failure(&s.envoy, Duration::from_secs(13));
    assert_eq!(seen.len(), 1, "renewed, never replaced: {seen:?}");
    let (user, password) = basic_credentials(&first);
    assert_eq!(seen[0].0, (user.clone(), password.clone()));
    // The injected credential logs in to PostgreSQL, after three TTLs; a wrong password does not.
    assert_eq!(
        s.pg.psql_as(&user, &password, "select current_user")
            .unwrap(),
        user
    );
    assert!(s.pg.psql_as(&user, "not-the-password", "select 1").is_err());
    let renewals = metric(&s.envoy, "renewals") - renewals_before;
    let lease_renewals = s.bao.count_requests("sys/leases/renew");
    eprintln!("{renewals} renewals in 13 s (TTL 4 s), {lease_renewals} lease renewals audited");
    assert!(lease_renewals >= 4, "{lease_renewals}");
    assert_eq!(s.bao.count_requests("database/creds/app"), 1);
    let gauge = metric(&s.envoy, "expires_in_s.db");
    assert!((1..=4).contains(&gauge), "expires_in_s.db = {gauge}");
    assert_eq!(metric(&s.envoy, "failures.vault_unreachable"), 0);
    let tokens = issued_tokens(&s.bao, "auth/approle/login");
    assert_not_logged(
        &s.envoy,
        &[("vault token", &tokens[0]), ("DB password", &password)],
    );
}

/// A 2 s TTL is below the renewal margin: every renewal's answer makes the next one due at once.
/// The plugin sends an answer's follow-ups right away (a login's reads), so without a bound this
/// would renew in a tight loop, as fast as OpenBao answers. It renews once per 1 s tick instead.
#[test]
fn a_lease_shorter_than_the_renewal_margin_is_renewed_once_a_tick_not_in_a_loop() {
    let s = db_stack("2s", "1h", 1);
    let before = s.bao.count_requests("sys/leases/renew");
    let seen = serve_without_failure(&s.envoy, Duration::from_secs(6));
    let renewals = s.bao.count_requests("sys/leases/renew") - before;
    eprintln!("{renewals} lease renewals audited in 6 s (TTL 2 s, 1 s tick)");
    assert!(
        (3..=8).contains(&renewals),
        "{renewals} renewals in 6 s: one per tick expected"
    );
    assert_eq!(seen.len(), 1, "renewed, never replaced: {seen:?}");
    assert_eq!(s.bao.count_requests("database/creds/app"), 1);
}

#[test]
fn lease_at_max_ttl_is_replaced_before_expiry_and_the_old_lease_is_revoked() {
    // TTL 10 s, max_ttl 14 s: the first renewal (at 6-8 s, 60-75 % of the TTL on 1 s ticks)
    // is always the one max_ttl truncates, with 6-8 s left; the replacement then comes 3 s
    // (EXPIRY_MARGIN_MS) before the end, so the old lease is still worth revoking. (With a 6 s
    // TTL and 12 s max_ttl the truncation could leave 0-6 s, and with under ~2 s the old lease
    // rightly expired on its own before its revocation was due: a flaky assertion.)
    let s = db_stack("10s", "14s", 1);
    let seen = serve_without_failure(&s.envoy, Duration::from_secs(14));
    let users: BTreeSet<&str> = seen.iter().map(|((u, _), _)| u.as_str()).collect();
    assert!(
        users.len() >= 2,
        "max_ttl 14 s: a new user within 14 s: {users:?}"
    );
    let gaps: Vec<f64> = seen
        .windows(2)
        .map(|w| (w[1].1 - w[0].1).as_secs_f64())
        .collect();
    eprintln!(
        "{} users in 14 s; replaced after {gaps:?} s (max_ttl 14 s)",
        users.len()
    );
    // The newest credential works in PostgreSQL.
    let ((user, password), _) = seen.last().unwrap();
    assert_eq!(
        s.pg.psql_as(user, password, "select current_user").unwrap(),
        *user
    );
    assert!(metric(&s.envoy, "fetches") >= 3, "KV reads + DB fetches");
    // The replaced lease is revoked once the other VMs moved on (a third of its remaining life
    // at most), and its credential stops working in PostgreSQL.
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&s.envoy, "revocations") == 0 {
        assert!(
            Instant::now() < deadline,
            "no revocation\n{}",
            s.envoy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let revocations = metric(&s.envoy, "revocations");
    assert_eq!(
        revocations as usize,
        s.bao
            .count_requests("sys/leases/revoke/database/creds/app/"),
        "metric and audit log agree"
    );
    let ((old_user, old_password), _) = &seen[0];
    let deadline = Instant::now() + Duration::from_secs(3);
    while s.pg.psql_as(old_user, old_password, "select 1").is_ok() {
        assert!(
            Instant::now() < deadline,
            "the replaced credential still logs in"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("replaced leases revoked by the plugin: {revocations}");
    assert_eq!(metric(&s.envoy, "failures.vault_permission_denied"), 0);
}

// ---------------------------------------------------------------- (d) outage

#[test]
fn openbao_outage_serves_the_cached_lease_until_expiry_then_503_then_recovers() {
    let mut s = db_stack("5s", "1h", 1);
    serve_without_failure(&s.envoy, Duration::from_secs(2));
    let port = s.bao.port();
    s.bao.stop();
    let down = Instant::now();
    // Cached until the lease (TTL 5 s, renewed ahead) expires, then fail closed.
    let mut served_while_down = 0;
    let expired_after = loop {
        let r = s.envoy.get("/db/q").unwrap();
        if r.status == 200 {
            served_while_down += 1;
        } else {
            assert_eq!(r.status, 503, "{}", r.text());
            let body = r.json().unwrap();
            assert_eq!(body["error"], "credential_unavailable");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains("secret_expired"), "{message}");
            break down.elapsed();
        }
        assert!(
            down.elapsed() < Duration::from_secs(8),
            "still served 8 s into the outage (TTL 5 s)"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "OpenBao down: cached credential served {served_while_down} times, \
         503 secret_expired after {expired_after:?}"
    );
    assert!(served_while_down > 0);
    assert!(metric(&s.envoy, "failures.vault_unreachable") >= 1);
    // KV values have no lease: they keep serving.
    assert_eq!(
        injected(&s.envoy.get("/kv/a").unwrap(), "x-api-key").unwrap(),
        "pay-key-SECRET-1"
    );

    // Back on the same port, empty (dev mode): seeded again with the same AppRole ids. The
    // plugin's token is unknown there: 403, new login, new credentials.
    let logins = metric(&s.envoy, "logins");
    s.bao = OpenBao::start_on(port).unwrap();
    seed(&s.bao, Some((&s.role_id, &s.secret_id)));
    s.bao.database_secrets(&s.pg, "app", "5s", "1h").unwrap();
    let (header, took) = wait_for(
        &s.envoy,
        "/db/q",
        "authorization",
        Duration::from_secs(20),
        |_| true,
    );
    eprintln!(
        "OpenBao back: served again after {took:?} (outage lasted {expired_after:?} + restart)"
    );
    assert!(metric(&s.envoy, "logins") > logins);
    let (user, password) = basic_credentials(&header);
    assert_eq!(
        s.pg.psql_as(&user, &password, "select current_user")
            .unwrap(),
        user
    );
    serve_without_failure(&s.envoy, Duration::from_secs(2));
}

// ---------------------------------------------------------------- (e) revoked token

#[test]
fn revoked_vault_token_leads_to_a_new_login_and_serving_continues() {
    let bao = OpenBao::start().unwrap();
    let (role_id, secret_id) = seed(&bao, None);
    let upstream = Upstream::start("kv").unwrap();
    let cfg = plugin_config(bao.port(), approle_auth(), "1s", &[kv_secret()]);
    let envoy = start_envoy(
        bao.port(),
        &upstream,
        &cfg,
        &[("VAULT_ROLE_ID", &role_id), ("VAULT_SECRET_ID", &secret_id)],
        1,
    );
    wait_for(&envoy, "/kv/a", "x-api-key", Duration::from_secs(10), |v| {
        v == "pay-key-SECRET-1"
    });
    // One token for the whole proxy: the main thread's VM and the worker's VM both tick at start,
    // and exactly one of them may log in (a second login would also leave a token nobody revokes).
    assert_eq!(bao.count_requests("auth/approle/login"), 1);
    // An operator revokes the plugin's token (by accessor, as one would in production).
    let accessor = bao
        .audit_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|e| {
            (e["type"] == "response"
                && e.pointer("/request/path").and_then(Value::as_str) == Some("auth/approle/login"))
            .then(|| {
                e.pointer("/response/auth/accessor")?
                    .as_str()
                    .map(str::to_string)
            })
            .flatten()
        })
        .unwrap();
    bao.api(
        "POST",
        "auth/token/revoke-accessor",
        Some(&json!({"accessor": accessor})),
    )
    .unwrap();
    let revoked = Instant::now();
    bao.kv_put("payments", &json!({"api_key": "pay-key-SECRET-2"}))
        .unwrap();
    // Every request keeps getting a key; the new version arrives through a new login.
    loop {
        let key = injected(&envoy.get("/kv/a").unwrap(), "x-api-key").unwrap();
        if key == "pay-key-SECRET-2" {
            break;
        }
        assert_eq!(key, "pay-key-SECRET-1");
        assert!(
            revoked.elapsed() < Duration::from_secs(10),
            "{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "token revoked: new login and new KV version after {:?}",
        revoked.elapsed()
    );
    assert_eq!(bao.count_requests("auth/approle/login"), 2);
    assert_eq!(metric(&envoy, "logins"), 2);
    assert!(metric(&envoy, "failures.vault_permission_denied") >= 1);
}

// ---------------------------------------------------------------- (f) one caller per proxy

#[test]
fn one_login_and_one_call_per_refresh_with_three_workers() {
    let s = db_stack("5s", "1h", 3);
    let (kv0, renew0) = (
        s.bao.count_requests("secret/data/payments"),
        s.bao.count_requests("sys/leases/renew"),
    );
    let start = Instant::now();
    // Requests spread over the workers; each serves the same credential.
    let seen = serve_without_failure(&s.envoy, Duration::from_secs(10));
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let kv = s.bao.count_requests("secret/data/payments") - kv0;
    let renewals = s.bao.count_requests("sys/leases/renew") - renew0;
    eprintln!(
        "--concurrency 3 (4 ticking VMs), {secs:.1} s: 1 login, 1 DB fetch, {kv} KV reads \
         (refresh 2 s), {renewals} lease renewals (TTL 5 s)"
    );
    assert_eq!(s.bao.count_requests("auth/approle/login"), 1);
    assert_eq!(s.bao.count_requests("database/creds/app"), 1);
    // KV re-reads at 90-100 % of 2 s; lease renewals every 2-3 s (3 s margin on a 5 s TTL).
    // Four VMs each calling would make it four times as many.
    assert!(kv as f64 <= secs / 1.8 + 1.0, "{kv} KV reads");
    assert!(renewals as f64 <= secs / 2.0 + 1.0, "{renewals} renewals");
    assert!(renewals >= 3, "{renewals} renewals");
    assert_eq!(metric(&s.envoy, "logins"), 1);
}

// ---------------------------------------------------------------- (e) Vault-issued tokens

/// The claims of a compact JWS, unverified (the issuer's introspection verifies).
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn vault_issued_identity_token_reaches_the_backend_and_is_reissued_before_its_ttl() {
    const TTL_S: u64 = 6;
    let bao = OpenBao::start().unwrap();
    // An OIDC identity role whose tokens live 6 s, and an AppRole allowed to ask for them
    // (identity tokens need an entity: AppRole logins have one, the root token has not).
    bao.api(
        "POST",
        "identity/oidc/key/backend",
        Some(&json!({"allowed_client_ids": "*", "rotation_period": "24h", "verification_ttl": "24h"})),
    )
    .unwrap();
    bao.api(
        "POST",
        "identity/oidc/role/backend",
        Some(&json!({"key": "backend", "ttl": format!("{TTL_S}s")})),
    )
    .unwrap();
    bao.write_policy(
        "idtoken",
        r#"path "identity/oidc/token/backend" { capabilities = ["read"] }"#,
    )
    .unwrap();
    let (role_id, secret_id) = bao.approle("gateway", &["idtoken"], "1h").unwrap();
    let client_id = bao.api("GET", "identity/oidc/role/backend", None).unwrap()["data"]
        ["client_id"]
        .as_str()
        .unwrap()
        .to_string();

    let upstream = Upstream::start("api").unwrap();
    let cfg = json!({
        "backends": [{"name": "api", "routes": [{"methods": ["GET"], "path": {"prefix": "/api"}}],
                      "credential": {"vault": {"secret": "backend-id", "field": "token"}},
                      "injection": {"header": "authorization", "template": "Bearer {secret}"},
                      "require_user": false}],
        "csrf": {"require_origin": false},
        "vault": {"connection": {"cluster": "vault", "authority": bao.addr(), "timeout": "2s"},
                  "auth": approle_auth(),
                  "secrets": [{"name": "backend-id", "kind": {"identity_token": {"role": "backend"}}}]}
    });
    let envoy = start_envoy(
        bao.port(),
        &upstream,
        &cfg,
        &[("VAULT_ROLE_ID", &role_id), ("VAULT_SECRET_ID", &secret_id)],
        2,
    );
    let (first, _) = wait_for(
        &envoy,
        "/api/x",
        "authorization",
        Duration::from_secs(10),
        |v| v.starts_with("Bearer "),
    );
    let issuer = format!("{}/v1/identity/oidc", bao.url());

    // 15 s of requests, over two TTLs: every one succeeds with a token that is valid at the
    // time of use, and the token is re-issued before it ends.
    let mut tokens = BTreeSet::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let r = envoy.get("/api/x").unwrap();
        let header = injected(&r, "authorization").unwrap_or_else(|e| panic!("{e:?}"));
        let token = header.strip_prefix("Bearer ").unwrap().to_string();
        let claims = jwt_claims(&token);
        assert_eq!(claims["iss"], json!(issuer), "{claims}");
        assert_eq!(claims["aud"], json!(client_id), "{claims}");
        let exp = claims["exp"].as_u64().unwrap();
        assert_eq!(exp - claims["iat"].as_u64().unwrap(), TTL_S);
        assert!(exp > unix_now(), "an expired token was injected: {claims}");
        if tokens.insert(token.clone()) {
            // Verified by its issuer: signature, expiry, audience.
            let active = bao
                .api(
                    "POST",
                    "identity/oidc/introspect",
                    Some(&json!({"token": token, "client_id": client_id})),
                )
                .unwrap();
            assert_eq!(active["active"], json!(true), "{active}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let issued = bao.count_requests("identity/oidc/token/backend");
    eprintln!(
        "identity token: {} distinct tokens injected in 15 s, {issued} token calls at OpenBao (first {}…)",
        tokens.len(),
        &first[..20]
    );
    // Re-issued at 60-75 % of 6 s: about every 4 s, by one VM for both workers.
    assert!(tokens.len() >= 3, "only {} tokens in 15 s", tokens.len());
    assert!(
        (3..=8).contains(&issued),
        "{issued} token calls in ~17 s with a 6 s ttl"
    );
    assert_not_logged(&envoy, &[("identity token", tokens.iter().next().unwrap())]);
}
