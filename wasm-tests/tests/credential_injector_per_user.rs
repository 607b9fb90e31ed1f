//! Per-user Vault credentials end to end: oidc-auth verifies the user's token, the
//! credential-injector logs in to OpenBao's JWT auth with that same token, reads
//! `secret/users/<sub>` with the user's own Vault token and injects it. OpenBao's JWT auth
//! trusts the real oidc-provider IdP's JWKS; a templated ACL policy
//! (`{{identity.entity.aliases.<accessor>.name}}`) attached to the entities of alice and bob
//! lets each read only their own path, and carol (no entity policy) nothing.

// Test helpers, not library code: a failed step should stop the test loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, OpenBao, Response, Upstream};

const AUD: &str = "https://api.mesh.local";
const METRIC: &str = "credential_injector.vault_per_user";

/// OpenBao with JWT auth bound to the IdP, the templated policy, entities for alice and bob,
/// and a KV secret for alice, bob and carol.
fn openbao_for_users(idp: &Idp) -> OpenBao {
    let bao = OpenBao::start().unwrap();
    // Role `user`: any token of the IdP for AUD logs in, as entity alias `sub`; the role
    // itself grants only `default` (which cannot read secrets).
    bao.jwt_auth(&idp.jwks_url(), &idp.issuer(), "user", AUD, &["default"])
        .unwrap();
    let accessor = bao.api("GET", "sys/auth", None).unwrap()["data"]["jwt/"]["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    bao.write_policy(
        "per-user",
        &format!(
            "path \"secret/data/users/{{{{identity.entity.aliases.{accessor}.name}}}}\" {{\n  capabilities = [\"read\"]\n}}\n"
        ),
    )
    .unwrap();
    for user in ["alice", "bob"] {
        let entity = bao
            .api(
                "POST",
                "identity/entity",
                Some(&json!({"name": user, "policies": ["per-user"]})),
            )
            .unwrap();
        let id = entity["data"]["id"].as_str().unwrap();
        bao.api(
            "POST",
            "identity/entity-alias",
            Some(&json!({"name": user, "canonical_id": id, "mount_accessor": accessor})),
        )
        .unwrap();
    }
    for user in ["alice", "bob", "carol"] {
        bao.kv_put(
            &format!("users/{user}"),
            &json!({"api_key": format!("k-{user}-0123456789")}),
        )
        .unwrap();
    }
    bao
}

fn plugin_configs(idp: &Idp, bao: &OpenBao, cache_ttl: &str) -> (Value, Value) {
    let oidc = json!({
        "providers": [{"name": "local", "issuer": idp.issuer(), "audiences": [AUD], "cluster": "idp"}],
        "default_action": "authenticated"
    });
    let inject = json!({
        "backends": [{
            "name": "notes",
            "routes": [{"methods": ["GET", "POST"], "path": {"prefix": "/api/notes"}}],
            "credential": {"vault_per_user": {"path": "users/{sub}", "fields": ["api_key"],
                                              "field": "api_key", "cache_ttl": cache_ttl}},
            "injection": {"header": "x-api-key"}
        }],
        "csrf": {"require_origin": false},
        "vault": {
            "connection": {"cluster": "vault", "authority": bao.addr(), "timeout": "2s"},
            "per_user_jwt": {"role": "user", "max_users": 100}
        }
    });
    (oidc, inject)
}

fn start(idp: &Idp, bao: &OpenBao, upstream: &Upstream, cache_ttl: &str) -> Envoy {
    let (oidc, inject) = plugin_configs(idp, bao, cache_ttl);
    start_with(idp, bao, upstream, &oidc, &inject)
}

fn start_with(
    idp: &Idp,
    bao: &OpenBao,
    upstream: &Upstream,
    oidc: &Value,
    inject: &Value,
) -> Envoy {
    let b = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("idp", &[idp.port()])
        .cluster("vault", &[bao.port()])
        .wasm_filter("oidc-auth", "oidc_auth.wasm", oidc, &[])
        .wasm_filter(
            "credential-injector",
            "credential_injector.wasm",
            inject,
            &[],
        );
    Envoy::start(&b.build(), EnvoyOptions::default()).unwrap()
}

fn token(idp: &Idp, sub: &str, ttl: i64) -> String {
    idp.mint_token("RS256", sub, AUD, Value::Null, ttl).unwrap()
}

fn get(envoy: &Envoy, token: &str) -> Response {
    envoy
        .request("GET", "/api/notes/1")
        .bearer(token)
        .send()
        .unwrap()
}

/// The first request also waits for oidc-auth's first JWKS fetch.
fn first_ok(envoy: &Envoy, token: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = get(envoy, token);
        if r.status == 200 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn upstream_saw(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().unwrap()["headers"].clone()
}

fn reason(r: &Response) -> String {
    r.json()
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn stat(envoy: &Envoy, name: &str) -> u64 {
    envoy
        .stat(&format!("wasmcustom.{METRIC}.{name}"))
        .unwrap()
        .unwrap_or(0)
}

fn upstream_requests(envoy: &Envoy) -> u64 {
    envoy
        .stat("cluster.backend.upstream_rq_total")
        .unwrap()
        .unwrap_or(0)
}

/// Client tokens OpenBao issued on JWT logins (the harness audit log is raw).
fn issued_user_tokens(bao: &OpenBao) -> Vec<String> {
    bao.audit_log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "response")
        .filter(|e| e.pointer("/request/path").and_then(Value::as_str) == Some("auth/jwt/login"))
        .filter_map(|e| {
            e.pointer("/response/auth/client_token")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn each_user_gets_their_own_vault_secret_and_vault_policies_decide() {
    let idp = Idp::start().unwrap();
    let bao = openbao_for_users(&idp);
    let upstream = Upstream::start("notes").unwrap();
    let envoy = start(&idp, &bao, &upstream, "1s");
    let (alice, bob, carol) = (
        token(&idp, "alice", 300),
        token(&idp, "bob", 300),
        token(&idp, "carol", 300),
    );

    // The Vault setup itself: alice's own Vault token reads her path, not bob's.
    let alice_vault = bao
        .login("auth/jwt/login", &json!({"role": "user", "jwt": alice}))
        .unwrap();
    let own = bao
        .call("GET", "secret/data/users/alice", Some(&alice_vault), None)
        .unwrap();
    let other = bao
        .call("GET", "secret/data/users/bob", Some(&alice_vault), None)
        .unwrap();
    assert_eq!((own.status, other.status), (200, 403), "{}", other.text());
    let logins_before = bao.count_requests("auth/jwt/login");

    // alice: her key, and neither her bearer token nor a Vault token upstream.
    let started = Instant::now();
    let r = first_ok(&envoy, &alice);
    let first_took = started.elapsed();
    let seen = upstream_saw(&r);
    assert_eq!(seen["x-api-key"], "k-alice-0123456789", "{seen}");
    assert!(seen.get("authorization").is_none(), "{seen}");
    assert!(seen.get("x-vault-token").is_none(), "{seen}");

    // bob: his own key.
    let seen = upstream_saw(&get(&envoy, &bob));
    assert_eq!(seen["x-api-key"], "k-bob-0123456789", "{seen}");

    // carol: Vault lets her log in (role) but her token has no policy for her path.
    let before = upstream_requests(&envoy);
    let r = get(&envoy, &carol);
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (403, "vault_denied"),
        "{}",
        r.text()
    );
    assert_eq!(
        upstream_requests(&envoy),
        before,
        "carol's request reached the upstream"
    );
    assert_eq!(bao.count_requests("auth/jwt/login") - logins_before, 3);
    // Vault's refusal is remembered for cache_ttl: carol again costs no Vault call.
    let vault_calls =
        bao.count_requests("auth/jwt/login") + bao.count_requests("secret/data/users/");
    let r = get(&envoy, &carol);
    assert_eq!((r.status, reason(&r).as_str()), (403, "vault_denied"));
    assert_eq!(
        bao.count_requests("auth/jwt/login") + bao.count_requests("secret/data/users/"),
        vault_calls,
        "a denied user made Vault calls again within cache_ttl"
    );

    // alice again at once: value cache, no Vault call at all.
    let calls_before = bao.count_requests("secret/data/users/");
    let started = Instant::now();
    let seen = upstream_saw(&get(&envoy, &alice));
    let cached_took = started.elapsed();
    assert_eq!(seen["x-api-key"], "k-alice-0123456789");
    assert_eq!(bao.count_requests("secret/data/users/"), calls_before);
    // After cache_ttl (1 s) and a rotation: a read with her cached Vault token, no login.
    bao.kv_put("users/alice", &json!({"api_key": "k-alice-rotated-42"}))
        .unwrap();
    let calls_before = bao.count_requests("secret/data/users/");
    std::thread::sleep(Duration::from_millis(1_200));
    let seen = upstream_saw(&get(&envoy, &alice));
    assert_eq!(seen["x-api-key"], "k-alice-rotated-42");
    assert_eq!(
        bao.count_requests("auth/jwt/login") - logins_before,
        3,
        "a cached Vault token was not reused"
    );
    assert_eq!(bao.count_requests("secret/data/users/"), calls_before + 1);

    // Metrics agree: 3 logins (alice, bob, carol), 3 reads (alice twice, bob), 2 hits.
    assert_eq!(stat(&envoy, "logins"), 3);
    assert_eq!(stat(&envoy, "reads"), 3);
    assert!(
        stat(&envoy, "cache_hits") >= 2,
        "alice's value and carol's refusal"
    );
    assert!(stat(&envoy, "cache_misses") >= 4);
    assert_eq!(
        envoy
            .stat("wasmcustom.credential_injector.denied.vault_denied")
            .unwrap(),
        Some(2)
    );
    eprintln!("first request (JWKS + login + read) {first_took:?}, cached {cached_took:?}");

    // Nothing secret in the Envoy log (wasm at debug level).
    let log = envoy.log();
    let mut secrets = issued_user_tokens(&bao);
    assert!(secrets.len() >= 4, "{secrets:?}");
    secrets.extend([alice, bob, carol, alice_vault]);
    secrets.extend(
        [
            "k-alice-0123456789",
            "k-bob-0123456789",
            "k-alice-rotated-42",
        ]
        .map(String::from),
    );
    for s in &secrets {
        assert!(
            !log.contains(s.as_str()),
            "a token or secret value is in the Envoy log"
        );
    }
}

#[test]
fn a_browser_session_cookie_holding_the_token_logs_the_user_in_and_never_reaches_the_backend() {
    let idp = Idp::start().unwrap();
    let bao = openbao_for_users(&idp);
    let upstream = Upstream::start("notes").unwrap();
    // oidc-auth and the injector both read the token from the `at` cookie.
    let (mut oidc, mut inject) = plugin_configs(&idp, &bao, "30s");
    oidc["providers"][0]["token_sources"] = json!([{"cookie": "at"}]);
    inject["backends"][0]["credential"]["vault_per_user"]["token_sources"] =
        json!([{"cookie": "at"}]);
    let envoy = start_with(&idp, &bao, &upstream, &oidc, &inject);
    let alice = token(&idp, "alice", 300);
    let logins = bao.count_requests("auth/jwt/login");
    let with_cookie = |cookie: &str| {
        envoy
            .request("GET", "/api/notes/1")
            .header("cookie", cookie)
            .send()
            .unwrap()
    };
    let alice_cookie = format!("theme=dark; at={alice}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut r = with_cookie(&alice_cookie);
    while r.status != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        r = with_cookie(&alice_cookie);
    }
    let seen = upstream_saw(&r);
    assert_eq!(seen["x-api-key"], "k-alice-0123456789", "{seen}");
    assert!(
        seen.get("cookie").is_none(),
        "the session cookie reached the backend: {seen}"
    );
    assert!(seen.get("authorization").is_none(), "{seen}");
    assert_eq!(bao.count_requests("auth/jwt/login"), logins + 1);

    // bob's token in the cookie: his key; no cookie at all: oidc-auth's 401.
    let bob = token(&idp, "bob", 300);
    let seen = upstream_saw(&with_cookie(&format!("at={bob}")));
    assert_eq!(seen["x-api-key"], "k-bob-0123456789", "{seen}");
    let r = with_cookie("theme=dark");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(bao.count_requests("auth/jwt/login"), logins + 2);
}

#[test]
fn expired_or_foreign_tokens_never_reach_vault_and_an_outage_answers_503() {
    let idp = Idp::start().unwrap();
    let mut bao = openbao_for_users(&idp);
    let upstream = Upstream::start("notes").unwrap();
    let envoy = start(&idp, &bao, &upstream, "30s");
    let alice = token(&idp, "alice", 300);
    assert_eq!(first_ok(&envoy, &alice).status, 200);
    let logins = bao.count_requests("auth/jwt/login");
    let before = upstream_requests(&envoy);

    // Expired beyond oidc-auth's clock skew (60 s): oidc-auth answers 401. Expired within
    // it: the injector does (the identity's expiry). Neither calls Vault or the upstream.
    let r = get(&envoy, &token(&idp, "bob", -120));
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (401, "token_expired"),
        "{}",
        r.text()
    );
    let r = get(&envoy, &token(&idp, "bob", -10));
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (401, "identity_expired"),
        "{}",
        r.text()
    );

    // A verified identity (cookie-less bearer) whose token is not in `Authorization`
    // cannot happen through oidc-auth; a second, different bearer token is refused by it.
    let bob = token(&idp, "bob", 300);
    let r = envoy
        .request("GET", "/api/notes/1")
        .header("authorization", &format!("Bearer {alice}, Bearer {bob}"))
        .send()
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        bao.count_requests("auth/jwt/login"),
        logins,
        "Vault was called"
    );
    assert_eq!(upstream_requests(&envoy), before);

    // Vault down: a user without a cached token gets 503 at once, alice keeps her cached
    // value until cache_ttl ends.
    bao.stop();
    let started = Instant::now();
    let r = get(&envoy, &bob);
    let took = started.elapsed();
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (503, "credential_unavailable"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("vault_unreachable"), "{}", r.text());
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    assert_eq!(get(&envoy, &alice).status, 200);
    eprintln!("Vault down: 503 after {took:?}");
}

/// Envoy with both plugins whose "Vault" accepts connections and never answers.
struct SilentVault {
    // Declared first: dropped first.
    envoy: Envoy,
    idp: Idp,
    _bao: OpenBao,
    _upstream: Upstream,
}

impl SilentVault {
    fn start(callout_timeout: &str) -> SilentVault {
        let idp = Idp::start().unwrap();
        let bao = openbao_for_users(&idp);
        let upstream = Upstream::start("notes").unwrap();
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_port = silent.local_addr().unwrap().port();
        // Holds the accepted connections open (and unanswered) until the process exits.
        std::thread::spawn(move || {
            let conns: Vec<_> = silent.incoming().take(4).flatten().collect();
            std::thread::sleep(Duration::from_secs(60));
            drop(conns);
        });
        let (oidc, mut inject) = plugin_configs(&idp, &bao, "30s");
        inject["vault"]["connection"]["timeout"] = json!(callout_timeout);
        let b = Bootstrap::new()
            .backend(&[upstream.port()])
            .cluster("idp", &[idp.port()])
            .cluster("vault", &[silent_port])
            .wasm_filter("oidc-auth", "oidc_auth.wasm", &oidc, &[])
            .wasm_filter(
                "credential-injector",
                "credential_injector.wasm",
                &inject,
                &[],
            );
        let envoy = Envoy::start(&b.build(), EnvoyOptions::default()).unwrap();
        SilentVault {
            envoy,
            idp,
            _bao: bao,
            _upstream: upstream,
        }
    }
}

#[test]
fn a_vault_that_never_answers_gets_503_after_the_callout_timeout() {
    let stack = SilentVault::start("1s");
    let (idp, envoy) = (&stack.idp, &stack.envoy);
    let alice = token(idp, "alice", 300);
    // Warm oidc-auth's keys (the first answer may be keys_not_loaded).
    let deadline = Instant::now() + Duration::from_secs(15);
    let r = loop {
        let started = Instant::now();
        let r = get(envoy, &alice);
        if reason(&r) != "keys_not_loaded" || Instant::now() > deadline {
            break (r, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (r, took) = r;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (503, "credential_unavailable"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("vault_timeout"), "{}", r.text());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "answered after {took:?}"
    );
    assert_eq!(upstream_requests(envoy), 0);
    eprintln!("silent Vault: 503 vault_timeout after {took:?}");
}

#[test]
fn waiters_are_answered_at_once_when_the_request_leading_the_vault_call_goes_away() {
    // Only the leader's departure can end its waiters' wait before the callout timeout.
    let stack = SilentVault::start("8s");
    let (idp, envoy) = (&stack.idp, &stack.envoy);
    let alice = token(idp, "alice", 300);
    // Warm oidc-auth's keys on a route the injector refuses (no Vault call).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = envoy
            .request("GET", "/other")
            .bearer(&alice)
            .send()
            .unwrap();
        if r.status == 403 || Instant::now() > deadline {
            assert_eq!(r.status, 403, "{}", r.text());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let wait_for = |name: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while stat(envoy, name) == 0 {
            assert!(Instant::now() < deadline, "no {name} within 5 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // The leader: a raw connection, so the test can walk away from it mid-call.
    use std::io::Write as _;
    let mut leader = std::net::TcpStream::connect(envoy.addr()).unwrap();
    write!(
        leader,
        "GET /api/notes/1 HTTP/1.1\r\nhost: mesh.local\r\nauthorization: Bearer {alice}\r\n\r\n"
    )
    .unwrap();
    wait_for("cache_misses");
    let waiter = std::thread::scope(|s| {
        let w = s.spawn(|| get(envoy, &alice));
        wait_for("coalesced");
        let left = Instant::now();
        drop(leader);
        let r = w.join().unwrap();
        (r, left.elapsed())
    });
    let (r, took) = waiter;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (503, "credential_unavailable"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("vault_call_abandoned"), "{}", r.text());
    assert!(
        took < Duration::from_secs(3),
        "the waiter was answered {took:?} after its leader left (callout timeout 8 s)"
    );
    assert_eq!(upstream_requests(envoy), 0);
    eprintln!("leader gone: its waiter got 503 vault_call_abandoned {took:?} later");
}

fn vault_calls(envoy: &Envoy, stat: &str) -> u64 {
    envoy
        .stat(&format!("cluster.vault.{stat}"))
        .unwrap()
        .unwrap_or(0)
}

/// Sends one GET per token at the same moment (one thread each).
fn burst(envoy: &Envoy, tokens: &[String]) -> Vec<Response> {
    let barrier = std::sync::Barrier::new(tokens.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = tokens
            .iter()
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    get(envoy, t)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn concurrent_first_requests_of_one_user_share_one_vault_login_and_read() {
    let idp = Idp::start().unwrap();
    let bao = openbao_for_users(&idp);
    let upstream = Upstream::start("notes").unwrap();
    // EnvoyOptions::default(): one worker, so one VM serves every request (the single
    // flight is per VM; with N workers a user costs at most N logins).
    let envoy = start(&idp, &bao, &upstream, "30s");
    // Warm oidc-auth's keys with another user.
    assert_eq!(first_ok(&envoy, &token(&idp, "bob", 300)).status, 200);
    let (logins0, reads0) = (
        bao.count_requests("auth/jwt/login"),
        bao.count_requests("secret/data/users/alice"),
    );

    const N: usize = 12;
    let alice = token(&idp, "alice", 300);
    let started = Instant::now();
    let answers = burst(&envoy, &vec![alice; N]);
    let took = started.elapsed();
    for r in &answers {
        assert_eq!(
            upstream_saw(r)["x-api-key"],
            "k-alice-0123456789",
            "{}",
            r.text()
        );
    }
    let logins = bao.count_requests("auth/jwt/login") - logins0;
    let reads = bao.count_requests("secret/data/users/alice") - reads0;
    let coalesced = stat(&envoy, "coalesced");
    eprintln!(
        "{N} concurrent first requests of alice: {logins} login, {reads} read, \
         {coalesced} waited for the first, all 200 in {took:?}"
    );
    assert_eq!(
        (logins, reads),
        (1, 1),
        "one login and one read for {N} requests"
    );
    // The requests really overlapped (the others may have hit the value cache).
    assert!(coalesced >= 1, "no request waited: the test proves nothing");
    // Only alice's first request and bob's needed Vault; every other one
    // waited for alice's first or, arriving after it, hit the value cache.
    assert_eq!(stat(&envoy, "cache_misses"), 2);
    assert_eq!(coalesced + stat(&envoy, "cache_hits"), N as u64 - 1);
}

#[test]
fn during_a_vault_outage_new_users_get_503_without_a_vault_call_until_the_backoff_passes() {
    let idp = Idp::start().unwrap();
    let mut bao = openbao_for_users(&idp);
    let upstream = Upstream::start("notes").unwrap();
    let (oidc, mut inject) = plugin_configs(&idp, &bao, "60s");
    inject["vault"]["retry"] = json!({"initial": "2s", "max": "4s"});
    let envoy = start_with(&idp, &bao, &upstream, &oidc, &inject);
    let alice = token(&idp, "alice", 300);
    assert_eq!(first_ok(&envoy, &alice).status, 200);
    const K: usize = 20;
    let users: Vec<String> = (0..K)
        .map(|i| token(&idp, &format!("new-user-{i}"), 300))
        .collect();
    let more: Vec<String> = (0..K)
        .map(|i| token(&idp, &format!("later-user-{i}"), 300))
        .collect();

    bao.stop();
    let attempts = |envoy: &Envoy| {
        (
            vault_calls(envoy, "upstream_rq_total"),
            vault_calls(envoy, "upstream_cx_connect_fail"),
        )
    };
    let (rq0, cx0) = attempts(&envoy);
    let check_all_503 = |answers: &[Response]| {
        for r in answers {
            assert_eq!(
                (r.status, reason(r).as_str()),
                (503, "credential_unavailable"),
                "{}",
                r.text()
            );
            assert!(r.text().contains("vault_unreachable"), "{}", r.text());
        }
    };

    // The first new user finds Vault down. (Requests already calling Vault when it fails
    // fail together: a burst arriving within the same millisecond as the outage's first
    // answer still makes one attempt per user.)
    let r = get(&envoy, &token(&idp, "first-user", 300));
    check_all_503(&[r]);
    let (rq1, cx1) = attempts(&envoy);
    // Within the backoff (≥ 1 s): two bursts of new users, refused at once.
    let started = Instant::now();
    let answers = burst(&envoy, &users);
    let took = started.elapsed();
    check_all_503(&answers);
    let answers = burst(&envoy, &more);
    check_all_503(&answers);
    let (rq2, cx2) = attempts(&envoy);
    let refused = stat(&envoy, "gate_refusals");
    eprintln!(
        "Vault down, 1 + {} new users within the backoff: {} Vault attempts ({} connect \
         failures), {refused} refused at once; a burst of {K} answered in {took:?}",
        2 * K,
        rq2 - rq0,
        cx2 - cx0
    );
    assert!(rq1 - rq0 <= 1 && cx1 - cx0 <= 1, "first user: {rq1} {cx1}");
    assert_eq!((rq2, cx2), (rq1, cx1), "a call went out during the backoff");
    assert_eq!(refused, 2 * K as u64, "gate refusals");
    // Users with a cached value are still served.
    assert_eq!(get(&envoy, &alice).status, 200);

    // After the backoff (≤ 2 s): one probe for the next burst, again only one.
    std::thread::sleep(Duration::from_millis(2_100));
    let answers = burst(&envoy, &users);
    check_all_503(&answers);
    let (rq3, cx3) = attempts(&envoy);
    eprintln!(
        "after the backoff: {} attempt(s) for {K} new users",
        cx3 - cx2
    );
    assert!(
        rq3 - rq2 <= 1 && cx3 - cx2 <= 1,
        "one probe per backoff step: {} {}",
        rq3 - rq2,
        cx3 - cx2
    );
    assert!(
        cx3 - cx0 >= 1,
        "Vault was never tried: the test proves nothing"
    );
}
