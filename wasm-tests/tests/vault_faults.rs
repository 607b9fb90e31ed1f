//! Vault faults, end to end: credential-injector in a real Envoy 1.40 against a real OpenBao 2.7.2
//! that is sealed, rate-limited (a real quota: 429 + Retry-After), slow (Envoy's fault filter delays
//! every call past the plugin's timeout), or refuses reads (policy deleted); and the real
//! `auth/kubernetes` method against a TokenReview stand-in (no kube-apiserver here).
//!
//! Each test checks the documented behaviour (docs/vault.md, "Outages and faults"): cached values
//! keep serving until their own expiry, requests that need a missing or expired secret get a prompt
//! 503 naming the reason, no request reaches the backend without its credential, Vault calls back
//! off (counted from Envoy's own `cluster.vault.*` stats), and serving recovers without a restart
//! when the fault ends. Every wait polls with a deadline; numbers are printed (`--nocapture`).

// Test helpers, not library code: a failed step should stop the test loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use wasm_tests::{
    Bootstrap, Envoy, EnvoyOptions, FaultProxy, KubeTokenReview, OpenBao, Postgres, Upstream,
};

const METRICS: &str = "wasmcustom.credential_injector.vault.";
const KV_VALUE: &str = "pay-key-SECRET-1";

/// What the plugin's role may do.
const POLICY: &str = wasm_tests::openbao::PLUGIN_POLICY;

// ---------------------------------------------------------------- setup

/// Policy `app`, AppRole `gateway` and the KV secret; returns (role_id, secret_id).
fn seed(bao: &OpenBao) -> (String, String) {
    bao.write_policy("app", POLICY).unwrap();
    let ids = bao.approle("gateway", &["app"], "1h").unwrap();
    bao.kv_put("payments", &json!({"api_key": KV_VALUE}))
        .unwrap();
    ids
}

fn kv_secret() -> Value {
    json!({"name": "payments", "kind": {"kv2": {"path": "payments", "fields": ["api_key"]}}})
}

fn db_secret() -> Value {
    json!({"name": "db", "kind": {"dynamic": {"path": "database/creds/app", "fields": ["username", "password"]}}})
}

/// `/kv/...` gets `x-api-key` from `payments`, `/db/...` HTTP Basic from `db` (when configured).
/// KV re-read every second; retries back off from `retry.0` up to `retry.1`.
fn plugin_config(
    vault_authority_port: u16,
    auth: Value,
    secrets: &[Value],
    timeout: &str,
    retry: (&str, &str),
) -> Value {
    let mut backends = vec![json!({
        "name": "kv",
        "routes": [{"methods": ["GET"], "path": {"prefix": "/kv"}}],
        "credential": {"vault": {"secret": "payments", "field": "api_key"}},
        "injection": {"header": "x-api-key"},
        "require_user": false
    })];
    if secrets.iter().any(|s| s["name"] == "db") {
        backends.push(json!({
            "name": "db",
            "routes": [{"methods": ["GET"], "path": {"prefix": "/db"}}],
            "credential": {"vault": {"secret": "db"}},
            "injection": {"header": "authorization", "template": "Basic {base64(username:password)}"},
            "require_user": false
        }));
    }
    json!({
        "backends": backends,
        "cors": {"allowed_origins": ["http://127.0.0.1:3000"]},
        "vault": {
            "connection": {"cluster": "vault", "authority": format!("127.0.0.1:{vault_authority_port}"), "timeout": timeout},
            "auth": auth,
            "kv_refresh_interval": "1s",
            "retry": {"initial": retry.0, "max": retry.1},
            "secrets": secrets
        }
    })
}

fn approle_auth() -> Value {
    json!({"approle": {"role_id_env": "VAULT_ROLE_ID", "secret_id_env": "VAULT_SECRET_ID"}})
}

/// Envoy with the injector; its `vault` cluster goes to `vault_port` (OpenBao or a proxy to it).
fn start_envoy(vault_port: u16, upstream: &Upstream, cfg: &Value, env: &[(&str, &str)]) -> Envoy {
    let keys: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
    let bootstrap = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("vault", &[vault_port])
        .wasm_filter(
            "credential-injector",
            "credential_injector.wasm",
            cfg,
            &keys,
        );
    let mut opts = EnvoyOptions::default();
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    Envoy::start(&bootstrap.build(), opts).unwrap()
}

/// PostgreSQL, OpenBao (AppRole, KV, database role `app` with a 5 s lease) and Envoy.
struct Stack {
    pg: Postgres,
    bao: OpenBao,
    envoy: Envoy,
    approle_env: [(&'static str, String); 2],
    _upstream: Upstream,
}

/// The stack; `via` turns OpenBao's port into the one Envoy's `vault` cluster uses (a proxy).
fn db_stack(timeout: &str, retry: (&str, &str), via: impl FnOnce(&OpenBao) -> u16) -> Stack {
    let pg = Postgres::start().unwrap();
    pg.require_passwords().unwrap();
    let bao = OpenBao::start().unwrap();
    let (role_id, secret_id) = seed(&bao);
    bao.database_secrets(&pg, "app", "5s", "1h").unwrap();
    let upstream = Upstream::start("backend").unwrap();
    let vault_port = via(&bao);
    let cfg = plugin_config(
        bao.port(),
        approle_auth(),
        &[kv_secret(), db_secret()],
        timeout,
        retry,
    );
    let envoy = start_envoy(
        vault_port,
        &upstream,
        &cfg,
        &[("VAULT_ROLE_ID", &role_id), ("VAULT_SECRET_ID", &secret_id)],
    );
    wait_served(&envoy, "/kv/a", Duration::from_secs(10));
    wait_served(&envoy, "/db/a", Duration::from_secs(10));
    Stack {
        pg,
        bao,
        envoy,
        approle_env: [("VAULT_ROLE_ID", role_id), ("VAULT_SECRET_ID", secret_id)],
        _upstream: upstream,
    }
}

// ---------------------------------------------------------------- observing

/// One request's outcome. A 200 must carry the credential; anything else must be the plugin's
/// 503 `credential_unavailable` (never the backend without its credential).
#[derive(Debug)]
enum Outcome {
    Served(String),
    Refused(String),
}

/// `GET path`, classified, with how long the proxy took to answer.
fn probe(envoy: &Envoy, path: &str) -> (Outcome, Duration) {
    let header = if path.starts_with("/db") {
        "authorization"
    } else {
        "x-api-key"
    };
    let start = Instant::now();
    let r = envoy.get(path).unwrap();
    let took = start.elapsed();
    if r.status == 200 {
        let value = r.json().unwrap()["headers"][header]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            !value.is_empty(),
            "{path}: the backend was reached without a credential"
        );
        return (Outcome::Served(value), took);
    }
    assert_eq!(r.status, 503, "{path}: {}", r.text());
    let body = r.json().unwrap();
    assert_eq!(body["error"], "credential_unavailable", "{body}");
    (
        Outcome::Refused(body["message"].as_str().unwrap().to_string()),
        took,
    )
}

/// Polls `path` until it is served (200 with the credential).
fn wait_served(envoy: &Envoy, path: &str, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        match probe(envoy, path).0 {
            Outcome::Served(v) => return (v, start.elapsed()),
            Outcome::Refused(m) => assert!(
                start.elapsed() < within,
                "{path} not served after {within:?}: {m}\n{}",
                envoy.log()
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `path` until it is refused; returns the 503 message.
fn wait_refused(envoy: &Envoy, path: &str, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    loop {
        if let Outcome::Refused(m) = probe(envoy, path).0 {
            return (m, start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "{path} still served after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What happened to `/kv` and `/db` while a fault lasted `span`.
struct During {
    kv_served: usize,
    kv_refused: Vec<String>,
    db_served: usize,
    /// When `/db` was first refused (since the start), and with what message.
    db_refused: Option<(Duration, String)>,
    /// A `/db` request served after one was refused (must not happen while the fault lasts).
    db_served_after_refusal: bool,
    slowest: Duration,
}

/// Requests `/kv` and `/db` every 100 ms for `span`.
fn observe(envoy: &Envoy, span: Duration, with_db: bool) -> During {
    let start = Instant::now();
    let mut d = During {
        kv_served: 0,
        kv_refused: Vec::new(),
        db_served: 0,
        db_refused: None,
        db_served_after_refusal: false,
        slowest: Duration::ZERO,
    };
    while start.elapsed() < span {
        let (kv, took) = probe(envoy, "/kv/a");
        d.slowest = d.slowest.max(took);
        match kv {
            Outcome::Served(v) => {
                assert_eq!(v, KV_VALUE);
                d.kv_served += 1;
            }
            Outcome::Refused(m) => d.kv_refused.push(m),
        }
        if with_db {
            let (db, took) = probe(envoy, "/db/a");
            d.slowest = d.slowest.max(took);
            match db {
                Outcome::Served(_) if d.db_refused.is_some() => d.db_served_after_refusal = true,
                Outcome::Served(_) => d.db_served += 1,
                Outcome::Refused(m) => {
                    d.db_refused.get_or_insert((start.elapsed(), m));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    d
}

fn metric(envoy: &Envoy, name: &str) -> u64 {
    envoy
        .stat(&format!("{METRICS}{name}"))
        .unwrap()
        .unwrap_or(0)
}

/// Envoy's own count of calls to the `vault` cluster (the plugin's callouts), e.g. `upstream_rq_total`.
fn vault_calls(envoy: &Envoy, stat: &str) -> u64 {
    envoy
        .stat(&format!("cluster.vault.{stat}"))
        .unwrap()
        .unwrap_or(0)
}

/// (username, password) from `Basic base64(user:pass)`.
fn basic_credentials(header: &str) -> (String, String) {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(header.strip_prefix("Basic ").unwrap())
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (u, p) = text.split_once(':').unwrap();
    (u.to_string(), p.to_string())
}

/// The recovered `/db` credential really logs in to PostgreSQL.
fn assert_db_credential_works(pg: &Postgres, header: &str) {
    let (user, password) = basic_credentials(header);
    assert_eq!(
        pg.psql_as(&user, &password, "select current_user").unwrap(),
        user
    );
}

// ---------------------------------------------------------------- sealed

#[test]
fn sealed_openbao_serves_cached_secrets_until_they_expire_backs_off_and_recovers_on_unseal() {
    let s = db_stack("2s", ("500ms", "2s"), |bao| bao.port());
    let (_, before) = wait_served(&s.envoy, "/db/a", Duration::from_secs(1));
    let calls_before = vault_calls(&s.envoy, "upstream_rq_total");

    s.bao.seal().unwrap();
    let sealed = Instant::now();
    let d = observe(&s.envoy, Duration::from_secs(10), true);
    let calls = vault_calls(&s.envoy, "upstream_rq_total") - calls_before;
    let sealed_503 = vault_calls(&s.envoy, "upstream_rq_503");
    let (db_gone, message) = d
        .db_refused
        .clone()
        .expect("the 5 s lease ran out while sealed");
    eprintln!(
        "sealed 10 s: KV served {} times; DB served {} times, then 503 after {db_gone:?} ({message}); \
         {calls} Vault calls ({sealed_503} answered 503 sealed), slowest answer {:?}",
        d.kv_served, d.db_served, d.slowest
    );
    assert!(
        d.kv_refused.is_empty(),
        "KV has no expiry: {:?}",
        d.kv_refused
    );
    assert!(d.db_served > 0 && !d.db_served_after_refusal);
    assert!(
        db_gone <= Duration::from_secs(6),
        "lease of 5 s served {db_gone:?}"
    );
    assert!(
        message.contains("secret_expired") && message.contains("vault_sealed"),
        "{message}"
    );
    assert!(d.slowest < Duration::from_millis(500), "{:?}", d.slowest);
    // Backoff 0.25-0.5, 0.5-1, then 1-2 s, one probe at a time: ≤ ~11 calls in 10 s. The KV
    // re-reads (1 s) and the lease renewal/replacement retrying on their own would make ~25.
    assert!(calls <= 12, "{calls} Vault calls in 10 s sealed");
    assert!(metric(&s.envoy, "failures.vault_sealed") >= 3);

    // A proxy that starts while OpenBao is sealed has nothing cached: 503 with the reason.
    let upstream = Upstream::start("second").unwrap();
    let cfg = plugin_config(
        s.bao.port(),
        approle_auth(),
        &[kv_secret()],
        "2s",
        ("500ms", "2s"),
    );
    let env: Vec<(&str, &str)> = s
        .approle_env
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let fresh = start_envoy(s.bao.port(), &upstream, &cfg, &env);
    let start = Instant::now();
    while metric(&fresh, "failures.vault_sealed") == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", fresh.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (message, _) = wait_refused(&fresh, "/kv/a", Duration::from_secs(1));
    eprintln!("proxy started while sealed: 503 {message}");
    assert!(
        message.contains("vault_unavailable") && message.contains("vault_sealed"),
        "{message}"
    );

    s.bao.unseal().unwrap();
    let unsealed = Instant::now();
    let (header, took) = wait_served(&s.envoy, "/db/a", Duration::from_secs(10));
    let (_, took_fresh) = wait_served(&fresh, "/kv/a", Duration::from_secs(10));
    eprintln!(
        "unsealed after {:?}: DB served again {took:?} later (new lease), the fresh proxy {took_fresh:?} \
         later; before the seal the first DB credential took {before:?}",
        unsealed - sealed
    );
    assert_ne!(header, "", "new credential");
    assert_db_credential_works(&s.pg, &header);
    let after = observe(&s.envoy, Duration::from_secs(2), true);
    assert!(after.kv_refused.is_empty() && after.db_refused.is_none());
}

// ---------------------------------------------------------------- rate limited

#[test]
fn rate_limited_openbao_is_retried_after_retry_after_without_hammering_and_recovers() {
    let bao = OpenBao::start().unwrap();
    let (role_id, secret_id) = seed(&bao);
    let upstream = Upstream::start("backend").unwrap();
    // A backoff starting at 200 ms: without Retry-After the plugin would retry ~5 times a window.
    let cfg = plugin_config(
        bao.port(),
        approle_auth(),
        &[kv_secret()],
        "2s",
        ("200ms", "10s"),
    );
    let envoy = start_envoy(
        bao.port(),
        &upstream,
        &cfg,
        &[("VAULT_ROLE_ID", &role_id), ("VAULT_SECRET_ID", &secret_id)],
    );
    wait_served(&envoy, "/kv/a", Duration::from_secs(10));

    // One read per 6 s per client on secret/: the 1 s re-reads get 429 with Retry-After.
    bao.set_rate_limit("proxy", "secret/", 1, "6s").unwrap();
    let (calls0, limited0) = (
        vault_calls(&envoy, "upstream_rq_total"),
        vault_calls(&envoy, "upstream_rq_429"),
    );
    let span = Duration::from_secs(14);
    let d = observe(&envoy, span, false);
    let calls = vault_calls(&envoy, "upstream_rq_total") - calls0;
    let limited = vault_calls(&envoy, "upstream_rq_429") - limited0;
    eprintln!(
        "quota 1 read / 6 s for {span:?}: {calls} Vault calls, {limited} answered 429; KV served {} \
         times, slowest answer {:?}",
        d.kv_served, d.slowest
    );
    assert!(
        d.kv_refused.is_empty(),
        "cached KV keeps serving: {:?}",
        d.kv_refused
    );
    assert!(d.slowest < Duration::from_millis(500));
    assert!(limited >= 1, "the quota never applied");
    // Honouring Retry-After: 1-2 refused calls per 6 s window (Retry-After is whole seconds,
    // rounded down, so a retry can land just before the window resets): ≤ 7 in 14 s. A 200 ms
    // backoff alone would make ~13 (5-6 per window).
    assert!(limited <= 7, "{limited} calls answered 429 in {span:?}");
    assert!(metric(&envoy, "failures.vault_rate_limited") >= limited.saturating_sub(1));
    assert!(
        envoy.log().contains("vault_rate_limited; no calls for")
            && envoy.log().contains("(Retry-After)"),
        "the wait is logged with its cause"
    );

    bao.remove_rate_limit("proxy").unwrap();
    let removed = Instant::now();
    bao.kv_put("payments", &json!({"api_key": "pay-key-SECRET-2"}))
        .unwrap();
    loop {
        match probe(&envoy, "/kv/a").0 {
            Outcome::Served(v) if v == "pay-key-SECRET-2" => break,
            Outcome::Served(v) => assert_eq!(v, KV_VALUE),
            Outcome::Refused(m) => panic!("refused after the quota was removed: {m}"),
        }
        assert!(
            removed.elapsed() < Duration::from_secs(10),
            "{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "quota removed: new KV version served {:?} later",
        removed.elapsed()
    );
}

// ---------------------------------------------------------------- slow

#[test]
fn slow_openbao_times_out_backs_off_and_no_request_waits_for_it() {
    let mut proxy = None;
    let s = db_stack("1s", ("500ms", "2s"), |bao| {
        let p = FaultProxy::start(bao.port()).unwrap();
        let port = p.port();
        proxy = Some(p);
        port
    });
    let proxy = proxy.unwrap();
    let calls_before = vault_calls(&s.envoy, "upstream_rq_total");

    // Every call to OpenBao now waits 3 s in Envoy's fault filter; the plugin's timeout is 1 s.
    proxy.set_delay(Duration::from_secs(3)).unwrap();
    let d = observe(&s.envoy, Duration::from_secs(10), true);
    let calls = vault_calls(&s.envoy, "upstream_rq_total") - calls_before;
    let timeouts = metric(&s.envoy, "failures.vault_timeout");
    let (_, delayed) = proxy.counts().unwrap();
    let (db_gone, message) = d.db_refused.clone().expect("the 5 s lease ran out");
    eprintln!(
        "OpenBao 3 s slow for 10 s (timeout 1 s): {calls} Vault calls, {timeouts} timeouts, {delayed} \
         delayed by the fault filter; DB 503 after {db_gone:?} ({message}); slowest answer to a \
         client {:?}",
        d.slowest
    );
    assert!(d.kv_refused.is_empty(), "{:?}", d.kv_refused);
    assert!(!d.db_served_after_refusal);
    assert!(
        message.contains("secret_expired") && message.contains("vault_timeout"),
        "{message}"
    );
    assert!(db_gone <= Duration::from_secs(6), "{db_gone:?}");
    // Requests are answered from memory: never held while Vault is slow.
    assert!(d.slowest < Duration::from_millis(500), "{:?}", d.slowest);
    assert!(timeouts >= 2, "{timeouts}");
    // Each call takes 1 s to fail, then 0.25 s .. 2 s of backoff, one at a time.
    assert!(calls <= 8, "{calls} calls in 10 s");

    proxy.set_delay(Duration::ZERO).unwrap();
    let fast_again = Instant::now();
    let (header, took) = wait_served(&s.envoy, "/db/a", Duration::from_secs(10));
    eprintln!("delay removed: DB served again {took:?} later");
    assert!(fast_again.elapsed() < Duration::from_secs(10));
    assert_db_credential_works(&s.pg, &header);
}

// ---------------------------------------------------------------- 403

#[test]
fn denied_reads_log_in_again_once_per_secret_then_back_off_until_the_policy_is_restored() {
    let s = db_stack("2s", ("500ms", "2s"), |bao| bao.port());
    let logins0 = s.bao.count_requests("auth/approle/login");
    assert_eq!(logins0, 1);
    let denied0 = vault_calls(&s.envoy, "upstream_rq_403");

    // The operator deletes the proxy's policy: its token stays valid, its reads are refused.
    s.bao.api("DELETE", "sys/policies/acl/app", None).unwrap();
    let d = observe(&s.envoy, Duration::from_secs(10), true);
    let logins = s.bao.count_requests("auth/approle/login") - logins0;
    let denied = vault_calls(&s.envoy, "upstream_rq_403") - denied0;
    let (db_gone, message) = d.db_refused.clone().expect("the 5 s lease ran out");
    eprintln!(
        "policy deleted for 10 s: {logins} new login(s), {denied} calls answered 403; KV served {} \
         times; DB 503 after {db_gone:?} ({message})",
        d.kv_served
    );
    // Two secrets are refused (KV, database): each asks for at most one login until it is served again
    // (one when both refusals carried the same token), never one per refusal.
    assert!(
        (1..=2).contains(&logins),
        "{logins} logins: at most one per refused secret"
    );
    assert!(
        d.kv_refused.is_empty(),
        "cached KV keeps serving: {:?}",
        d.kv_refused
    );
    assert!(!d.db_served_after_refusal);
    assert!(
        message.contains("secret_expired") && message.contains("vault_permission_denied"),
        "{message}"
    );
    // KV re-reads and the lease's renewal/replacement, each backing off 0.25 s .. 2 s.
    assert!(denied <= 20, "{denied} refused calls in 10 s");
    assert!(metric(&s.envoy, "failures.vault_permission_denied") >= 2);

    s.bao.write_policy("app", POLICY).unwrap();
    let restored = Instant::now();
    let (header, took) = wait_served(&s.envoy, "/db/a", Duration::from_secs(10));
    eprintln!("policy restored: DB served again {took:?} later");
    assert!(restored.elapsed() < Duration::from_secs(10));
    assert_db_credential_works(&s.pg, &header);
    assert_eq!(
        s.bao.count_requests("auth/approle/login") - logins0,
        logins,
        "recovered with the same token"
    );
}

// ---------------------------------------------------------------- Kubernetes auth

#[test]
fn kubernetes_login_with_a_service_account_jwt_reads_the_secret_and_wrong_tokens_are_refused() {
    let review = KubeTokenReview::start(&[("web", "web-gateway"), ("web", "other-app")]).unwrap();
    let bao = OpenBao::start().unwrap();
    seed(&bao);
    bao.kubernetes_auth(&review, "web-gateway", ("web", "web-gateway"), &["app"])
        .unwrap();
    let upstream = Upstream::start("backend").unwrap();
    let auth = json!({"kubernetes": {"role": "web-gateway", "jwt_env": "VAULT_K8S_JWT"}});
    let cfg = plugin_config(bao.port(), auth, &[kv_secret()], "2s", ("500ms", "2s"));

    // The pod's own service-account JWT: logged in, secret served.
    let sa_jwt = review.service_account_jwt("web", "web-gateway").unwrap();
    let envoy = start_envoy(bao.port(), &upstream, &cfg, &[("VAULT_K8S_JWT", &sa_jwt)]);
    let (value, took) = wait_served(&envoy, "/kv/a", Duration::from_secs(10));
    assert_eq!(value, KV_VALUE);
    assert_eq!(bao.count_requests("auth/kubernetes/login"), 1);
    assert_eq!(metric(&envoy, "logins"), 1);
    let (authenticated, _) = review.reviews();
    assert!(authenticated >= 1, "OpenBao asked the TokenReview stand-in");
    assert!(!envoy.log().contains(&sa_jwt), "the JWT is not logged");
    eprintln!("kubernetes login: KV served {took:?} after Envoy was ready");
    drop(envoy);

    // Wrong tokens: a real service account the role is not bound to, and a forged token (signed
    // with another key; the TokenReview refuses it). Both 403: no secret, a clear 503.
    let other = review.service_account_jwt("web", "other-app").unwrap();
    let (head, _) = sa_jwt.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", "A".repeat(342));
    for (what, jwt) in [("unbound service account", other), ("forged token", forged)] {
        let logins = bao.count_requests("auth/kubernetes/login");
        let envoy = start_envoy(bao.port(), &upstream, &cfg, &[("VAULT_K8S_JWT", &jwt)]);
        // Wait until the login was tried and refused.
        let start = Instant::now();
        while metric(&envoy, "failures.vault_permission_denied") == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{what}: no refusal\n{}",
                envoy.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (message, _) = wait_refused(&envoy, "/kv/a", Duration::from_secs(1));
        eprintln!("{what}: 503 {message}");
        assert!(
            message.contains("vault_unavailable") && message.contains("vault_permission_denied"),
            "{what}: {message}"
        );
        assert_eq!(metric(&envoy, "logins"), 0);
        assert!(bao.count_requests("auth/kubernetes/login") > logins);
        // Still refused a little later: backing off, never served.
        let d = observe(&envoy, Duration::from_secs(2), false);
        assert_eq!(d.kv_served, 0, "{what}");
    }
    let (_, refused) = review.reviews();
    assert!(
        refused >= 1,
        "the forged token was refused by the TokenReview"
    );
}
