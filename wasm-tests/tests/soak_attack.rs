//! Bounded soak under attack: legitimate clients keep calling through oidc-auth while attackers
//! flood it with random-`kid` tokens (the unknown-kid JWKS refetch path), forged tokens (tampered,
//! alg `none`, HS256 keyed with the IdP's RSA key, expired, foreign issuer) and oversized headers.
//! A second soak runs all three plugins chained under attacks on each of them (forged tokens, client
//! pin headers, stolen and forged sticky cookies, requests outside the injector's allowlist, a
//! cross-site POST, a client-supplied credential header).
//! Run with `make soak` (not part of `make test`); SOAK_SECONDS (default 600) sets the duration and the
//! figures go to bench/soak.md.
//!
//! Asserts: every legitimate request 200; every attack request refused (4xx, or the connection closed
//! by Envoy for a header over its limit); `oidc_auth.allowed` equals the legitimate 200s, so no attack
//! request passed the plugin; JWKS fetches within the refresh + unknown-kid rate limits; Envoy RSS
//! growth within the soak bound.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::{STANDARD as B64_STD, URL_SAFE_NO_PAD as B64};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasm_tests::process::rss_kib;
use wasm_tests::report::{publish_soak, soak_seconds};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, Request, TokenRequest, Upstream};

const AUD: &str = "https://api.mesh.local";
const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
const REFRESH_SECS: u64 = 30;
const REFETCH_SECS: u64 = 5;
const WARMUP: Duration = Duration::from_secs(20);

fn mint(idp_addr: &str, body: Value) -> String {
    let r = Request::post(idp_addr.to_string(), "/test/token")
        .json(&body)
        .send()
        .unwrap();
    r.json().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Forged tokens, each of which must be refused (name, token).
fn forged_tokens(idp: &Idp) -> Vec<(&'static str, String)> {
    let good = idp
        .mint(&TokenRequest {
            aud: Some(json!(AUD)),
            ttl: Some(3600),
            ..Default::default()
        })
        .unwrap()
        .token;
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    let jwks = idp.jwks().unwrap();
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .unwrap()
        .clone();
    let hs_input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "HS256", "kid": rsa["kid"]}).to_string()),
        parts[1]
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(rsa.to_string().as_bytes()).unwrap();
    mac.update(hs_input.as_bytes());
    let confused = format!("{hs_input}.{}", B64.encode(mac.finalize().into_bytes()));
    let mut out = vec![
        ("tampered payload", tampered),
        ("hs256 with the rsa key", confused),
    ];
    for alg in ["none", "None", "NONE", "nOnE"] {
        out.push((
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(json!({"alg": alg}).to_string()),
                parts[1]
            ),
        ));
    }
    let expired = TokenRequest {
        aud: Some(json!(AUD)),
        ttl: Some(-120),
        ..Default::default()
    };
    out.push(("expired", idp.mint(&expired).unwrap().token));
    let foreign = TokenRequest {
        aud: Some(json!(AUD)),
        claims: Some(json!({"iss": "https://evil.example"})),
        ..Default::default()
    };
    out.push(("foreign issuer", idp.mint(&foreign).unwrap().token));
    out
}

/// One kind of attack: its i-th request (what it is, the request), and whether an answer means
/// the attack got through (`None`: Envoy closed the connection).
struct AttackKind {
    build: Box<dyn Fn(u64) -> (String, Request) + Send + Sync>,
    got_through: Box<Judge>,
}

/// Whether an answer (`None`: the connection was closed) means an attack got through.
type Judge = dyn Fn(Option<&wasm_tests::Response>) -> bool + Send + Sync;

impl AttackKind {
    /// The same request every time; `check` judges a response (a 5xx or a closed connection
    /// always counts as getting through: the attack broke something).
    fn fixed(
        name: &str,
        req: Request,
        check: impl Fn(&wasm_tests::Response) -> bool + Send + Sync + 'static,
    ) -> Self {
        let name = name.to_string();
        Self {
            build: Box::new(move |_| (name.clone(), req.clone())),
            got_through: Box::new(move |r| r.is_none_or(|r| r.status >= 500 || check(r))),
        }
    }
}

/// `workers` threads send the kinds in turn until `deadline`, one request per 5 ms each, and
/// tally the answers while `counting` is set.
fn spawn_attackers(
    kinds: Vec<AttackKind>,
    workers: usize,
    deadline: Instant,
    tally: &Arc<Mutex<Tally>>,
    counting: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let kinds = Arc::new(kinds);
    (0..workers)
        .map(|worker| {
            let (kinds, tally, counting) = (kinds.clone(), tally.clone(), counting.clone());
            std::thread::spawn(move || {
                let mut i = worker;
                while Instant::now() < deadline {
                    let kind = &kinds[i % kinds.len()];
                    let (name, req) = (kind.build)((i / kinds.len()) as u64);
                    i += workers;
                    let answer = req.send();
                    let key = match &answer {
                        Ok(r) => format!("{name}: {} {}", r.status, reason(r)),
                        // Envoy closes the connection on a header over its limit.
                        Err(_) => format!("{name}: connection closed by envoy"),
                    };
                    let through = (kind.got_through)(answer.as_ref().ok());
                    if counting.load(Ordering::Relaxed) {
                        let mut t = tally.lock().unwrap();
                        if through {
                            t.attack_passed.push(key.clone());
                        }
                        *t.attack.entry(key).or_default() += 1;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect()
}

/// Samples Envoy's RSS every 2 s until `deadline`; the highest value (KiB), at least `from`.
fn max_rss_until(pid: u32, deadline: Instant, from: u64) -> u64 {
    let mut max = from;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        max = max.max(rss_kib(pid));
    }
    max
}

fn is_2xx(r: Option<&wasm_tests::Response>) -> bool {
    r.is_some_and(|r| (200..300).contains(&r.status))
}

#[derive(Default)]
struct Tally {
    legit: BTreeMap<String, u64>,
    attack: BTreeMap<String, u64>,
    /// Attack answers that were 2xx (must stay empty).
    attack_passed: Vec<String>,
}

impl Tally {
    /// (legitimate requests, legitimate `200 `, attack requests).
    fn totals(&self) -> (u64, u64, u64) {
        (
            self.legit.values().sum(),
            self.legit.get("200 ").copied().unwrap_or(0),
            self.attack.values().sum(),
        )
    }
}

/// The measured part of a soak: Envoy's RSS after the warm-up, its maximum and at the end (KiB),
/// and how many seconds were measured.
struct Window {
    rss_start: u64,
    rss_max: u64,
    rss_end: u64,
    measured: u64,
}

/// Waits out the warm-up, then counts answers until `deadline` while sampling RSS, and joins the
/// clients and attackers. `at_start` runs when the warm-up is over, before counting starts (to
/// read counters the figures are taken against).
fn measure<T>(
    pid: u32,
    seconds: u64,
    deadline: Instant,
    counting: &AtomicBool,
    threads: Vec<std::thread::JoinHandle<()>>,
    at_start: impl FnOnce() -> T,
) -> (Window, T) {
    std::thread::sleep(WARMUP.min(Duration::from_secs(seconds / 3)));
    let before = at_start();
    let rss_start = rss_kib(pid);
    counting.store(true, Ordering::Relaxed);
    let measured_from = Instant::now();
    let rss_max = max_rss_until(pid, deadline, rss_start);
    for t in threads {
        t.join().unwrap();
    }
    counting.store(false, Ordering::Relaxed);
    let window = Window {
        rss_start,
        rss_max,
        rss_end: rss_kib(pid),
        measured: measured_from.elapsed().as_secs().max(1),
    };
    (window, before)
}

#[test]
#[ignore = "long: run with `make soak`"]
fn soak_oidc_auth_under_attack() {
    let seconds = soak_seconds();
    let idp = Idp::start().unwrap();
    let upstream = Upstream::start("backend").unwrap();
    let config = json!({
        "providers": [{"name": "local", "issuer": idp.issuer(), "audiences": [AUD], "cluster": "idp",
                       "refresh_interval": format!("{REFRESH_SECS}s"),
                       "unknown_kid_refetch_interval": format!("{REFETCH_SECS}s")}],
        "default_action": "authenticated"
    });
    let b = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("idp", &[idp.port()])
        .wasm_filter("oidc-auth", "oidc_auth.wasm", &config, &[]);
    let mut envoy = Envoy::start(&b.build(), EnvoyOptions::default().concurrency(2)).unwrap();
    let pid = envoy.process().pid();
    let addr = envoy.addr();
    let idp_addr = idp.addr();
    let forged = Arc::new(forged_tokens(&idp));
    let template = idp
        .mint(&TokenRequest {
            aud: Some(json!(AUD)),
            ttl: Some(3600),
            ..Default::default()
        })
        .unwrap()
        .token;

    let tally: Arc<Mutex<Tally>> = Arc::default();
    let counting = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut threads = Vec::new();

    // Legitimate clients: one user each, 30 s tokens re-minted before expiry.
    for (n, alg) in ALGS.into_iter().enumerate() {
        let (tally, counting, addr, idp_addr) = (
            tally.clone(),
            counting.clone(),
            addr.clone(),
            idp_addr.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let body = json!({"alg": alg, "sub": format!("user{n}"), "aud": AUD, "ttl": 30});
            let mut token = mint(&idp_addr, body.clone());
            let mut renew_at = Instant::now() + Duration::from_secs(25);
            while Instant::now() < deadline {
                if Instant::now() >= renew_at {
                    token = mint(&idp_addr, body.clone());
                    renew_at = Instant::now() + Duration::from_secs(25);
                }
                let key = match Request::get(addr.clone(), "/api/items")
                    .bearer(&token)
                    .send()
                {
                    Ok(r) => format!("{} {}", r.status, reason(&r)),
                    Err(e) => format!("transport {e}"),
                };
                if counting.load(Ordering::Relaxed) {
                    *tally.lock().unwrap().legit.entry(key).or_default() += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }

    // Attackers: random kids, forged tokens, oversized headers, as fast as they are answered.
    let attackers = vec![
        AttackKind {
            build: Box::new({
                let (addr, template) = (addr.clone(), template.clone());
                move |i| {
                    let parts: Vec<&str> = template.split('.').collect();
                    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("random-{i:x}-{}", nanos())});
                    let token = format!(
                        "{}.{}.{}",
                        B64.encode(header.to_string()),
                        parts[1],
                        parts[2]
                    );
                    (
                        "random kid".into(),
                        Request::get(addr.clone(), "/api/items").bearer(&token),
                    )
                }
            }),
            got_through: Box::new(is_2xx),
        },
        AttackKind {
            build: Box::new({
                let (addr, forged) = (addr.clone(), forged.clone());
                move |i| {
                    let (name, token) = &forged[i as usize % forged.len()];
                    (
                        name.to_string(),
                        Request::get(addr.clone(), "/api/items").bearer(token),
                    )
                }
            }),
            got_through: Box::new(is_2xx),
        },
        AttackKind {
            build: Box::new({
                let addr = addr.clone();
                move |i| {
                    // 20 KB: over max_token_bytes (8 KiB); 100 KB: over Envoy's 60 KiB header limit.
                    let (name, size) = if i % 2 == 0 {
                        ("token_too_large", 20_000)
                    } else {
                        ("header over envoy limit", 100_000)
                    };
                    let token = format!("eyJhbGciOiJSUzI1NiJ9.{}.sig", "A".repeat(size));
                    (
                        name.into(),
                        Request::get(addr.clone(), "/api/items").bearer(&token),
                    )
                }
            }),
            // Envoy closing the connection on an oversized header is a refusal.
            got_through: Box::new(is_2xx),
        },
    ];
    threads.extend(spawn_attackers(attackers, 3, deadline, &tally, &counting));

    let stat = |n: &str| {
        envoy
            .stat(&format!("wasmcustom.oidc_auth.{n}"))
            .unwrap()
            .unwrap_or(0)
    };
    let (window, (allowed_before, jwks_before)) =
        measure(pid, seconds, deadline, &counting, threads, || {
            (stat("allowed"), idp.jwks_requests().unwrap())
        });
    let Window {
        rss_start,
        rss_max,
        rss_end,
        measured,
    } = window;
    let allowed = stat("allowed") - allowed_before;
    let jwks_fetches = idp.jwks_requests().unwrap() - jwks_before;
    let refetches = stat("jwks.refetch_unknown_kid");
    let t = std::mem::take(&mut *tally.lock().unwrap());
    let (legit_total, legit_ok, attack_total) = t.totals();
    // One refresh per REFRESH_SECS plus one unknown-kid refetch per REFETCH_SECS, with a margin of 2.
    let jwks_bound = measured / REFRESH_SECS + measured / REFETCH_SECS + 2;

    let report = format!(
        "# Soak under attack: oidc-auth\n\n{seconds} s run (figures over the last {measured} s, after the warm-up), Envoy --concurrency 2, \
         refresh_interval {REFRESH_SECS} s, unknown_kid_refetch_interval {REFETCH_SECS} s. 3 legitimate clients (RS256/ES256/EdDSA, 30 s tokens \
         re-minted, one request per 20 ms) and 3 attackers (random-`kid` tokens; tampered / alg `none` / HS256-with-RSA-key / expired / \
         foreign-issuer tokens; 20 KB and 100 KB `Authorization` headers), one request per 5 ms each.\n\n\
         | figure | value |\n|---|---|\n\
         | legitimate requests | {legit_total} |\n| legitimate 200 | {legit_ok} |\n| legitimate other answers | {:?} |\n\
         | attack requests | {attack_total} |\n| attack requests that passed | {} |\n| attack answers | {:?} |\n\
         | `oidc_auth.allowed` (= legitimate 200 when nothing else passed) | {allowed} |\n\
         | JWKS fetches at the IdP (bound {jwks_bound}) | {jwks_fetches} |\n| unknown-kid refetches granted (whole run) | {refetches} |\n\
         | Envoy RSS after warm-up / max / end | {} / {} / {} MiB |\n",
        t.legit.iter().filter(|(k, _)| k.as_str() != "200 ").collect::<Vec<_>>(),
        t.attack_passed.len(),
        t.attack,
        rss_start / 1024,
        rss_max / 1024,
        rss_end / 1024,
    );
    publish_soak(&report).unwrap();
    assert!(legit_total > 0 && attack_total > 0);
    assert_eq!(
        legit_ok, legit_total,
        "legitimate requests failed: {:?}",
        t.legit
    );
    assert!(
        t.attack_passed.is_empty(),
        "attacks passed: {:?}",
        t.attack_passed
    );
    assert_eq!(
        allowed, legit_ok,
        "the plugin let through something other than the legitimate requests"
    );
    assert!(
        jwks_fetches <= jwks_bound,
        "{jwks_fetches} JWKS fetches in {measured} s (bound {jwks_bound})"
    );
    // Bound: RSS may not grow by more than 25 % (and 64 MiB) after warm-up, as in the chained soak.
    assert!(
        rss_max <= rss_start + (rss_start / 4).min(64 * 1024),
        "RSS {rss_start} -> {rss_max} KiB"
    );
}

fn reason(r: &wasm_tests::Response) -> String {
    r.json()
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

const STICKY_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const API_KEY: &str = "backend-key-0123456789";
const APP_ORIGIN: &str = "https://app.mesh.local";

/// The first `name=value` of a response's `set-cookie`, if any.
fn set_cookie(r: &wasm_tests::Response) -> Option<String> {
    r.header("set-cookie")
        .and_then(|sc| sc.split(';').next())
        .map(str::to_string)
}

/// The upstream that served a 200 (`x-upstream-id`).
fn served_by(r: &wasm_tests::Response) -> String {
    r.header("x-upstream-id").unwrap_or("").to_string()
}

/// Sends `req` with the sticky cookie of a user; returns the answer and the pin it got.
fn pin_of(addr: &str, token: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = Request::get(addr.to_string(), "/api/items")
            .bearer(token)
            .send()
            .unwrap();
        if let (200, Some(cookie)) = (r.status, set_cookie(&r)) {
            return (cookie, served_by(&r));
        }
        assert!(
            Instant::now() < deadline,
            "no pin: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "long: run with `make soak`"]
fn soak_all_plugins_chained_under_attack() {
    let seconds = soak_seconds();
    let idp = Idp::start().unwrap();
    let upstreams = Upstream::start_many("u", 3).unwrap();
    let ports: Vec<u16> = upstreams.iter().map(|u| u.port()).collect();
    let oidc = json!({
        "providers": [{"name": "local", "issuer": idp.issuer(), "audiences": [AUD], "cluster": "idp",
                       "refresh_interval": format!("{REFRESH_SECS}s"),
                       "unknown_kid_refetch_interval": format!("{REFETCH_SECS}s"),
                       // A browser app may also send its token in the `at` cookie: what makes a
                       // cross-site POST possible, and what the injector's CSRF check is for.
                       "token_sources": [{"header": "authorization", "prefix": "Bearer "}, {"cookie": "at"}]}],
        "default_action": "authenticated"
    });
    let sticky = json!({"mode": "stateful-session", "keys": [{"id": "k1", "env": "STICKY_KEY"}],
                        "bind_subject": true});
    let inject = json!({
        "backends": [{"name": "items", "routes": [{"methods": ["GET", "POST"], "path": {"prefix": "/api/items"}}],
                      "credential": {"static": {"env": "API_KEY"}},
                      "injection": {"header": "x-api-key"}}],
        "cors": {"allowed_origins": [APP_ORIGIN]},
        "csrf": {"require_origin": true}
    });
    let b = Bootstrap::new()
        .backend(&ports)
        .cluster("idp", &[idp.port()])
        .plugin_chain(&oidc, &sticky, &inject, &["API_KEY"])
        .stateful_session_header("x-sticky-endpoint");
    let mut envoy = Envoy::start(
        &b.build(),
        EnvoyOptions::default()
            .concurrency(2)
            .env("STICKY_KEY", STICKY_KEY)
            .env("API_KEY", API_KEY),
    )
    .unwrap();
    let pid = envoy.process().pid();
    let addr = envoy.addr();
    let idp_addr = idp.addr();
    let forged = Arc::new(forged_tokens(&idp));
    // mallory: a real account, attacking with her own valid token; alice: a victim whose
    // sticky cookie mallory stole.
    let mint_user = |sub: &str| {
        mint(
            &idp_addr,
            json!({"alg": "RS256", "sub": sub, "aud": AUD, "ttl": 3600}),
        )
    };
    let mallory = mint_user("mallory");
    let (mallory_cookie, mallory_pin) = pin_of(&addr, &mallory);
    let (alice_cookie, _) = pin_of(&addr, &mint_user("alice"));
    let elsewhere: Vec<String> = ports
        .iter()
        .zip(&upstreams)
        .filter(|(_, u)| u.id() != mallory_pin)
        .map(|(p, _)| B64_STD.encode(format!("127.0.0.1:{p}")))
        .collect();

    let tally: Arc<Mutex<Tally>> = Arc::default();
    let counting = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut threads = Vec::new();

    // Legitimate users: each keeps its sticky cookie; must stay on one upstream and always
    // reach it with the backend key, never with a client-supplied one.
    let pins: Arc<Mutex<BTreeMap<usize, std::collections::BTreeSet<String>>>> = Arc::default();
    for (n, alg) in ALGS.into_iter().enumerate() {
        let (tally, counting, addr, idp_addr, pins) = (
            tally.clone(),
            counting.clone(),
            addr.clone(),
            idp_addr.clone(),
            pins.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let body = json!({"alg": alg, "sub": format!("user{n}"), "aud": AUD, "ttl": 30});
            let mut token = mint(&idp_addr, body.clone());
            let mut renew_at = Instant::now() + Duration::from_secs(25);
            let mut cookie: Option<String> = None;
            while Instant::now() < deadline {
                if Instant::now() >= renew_at {
                    token = mint(&idp_addr, body.clone());
                    renew_at = Instant::now() + Duration::from_secs(25);
                }
                let mut req = Request::get(addr.clone(), "/api/items").bearer(&token);
                if let Some(c) = &cookie {
                    req = req.header("cookie", c);
                }
                let key = match req.send() {
                    Ok(r) => {
                        if let Some(c) = set_cookie(&r) {
                            cookie = Some(c);
                        }
                        let key_seen = r.json().ok().map(|v| v["headers"]["x-api-key"].clone());
                        if r.status == 200 && counting.load(Ordering::Relaxed) {
                            pins.lock()
                                .unwrap()
                                .entry(n)
                                .or_default()
                                .insert(served_by(&r));
                        }
                        match (r.status, key_seen) {
                            (200, Some(k)) if k != json!(API_KEY) => {
                                format!("200 with backend key {k}")
                            }
                            (status, _) => format!("{status} {}", reason(&r)),
                        }
                    }
                    Err(e) => format!("transport {e}"),
                };
                if counting.load(Ordering::Relaxed) {
                    *tally.lock().unwrap().legit.entry(key).or_default() += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }

    // Attackers, each request judged by what getting through would look like.
    let get = |path: &str| Request::get(addr.clone(), path);
    let refused = |r: &wasm_tests::Response| (200..300).contains(&r.status);
    let mut attacks = Vec::new();
    for (name, token) in forged.iter() {
        attacks.push(AttackKind::fixed(
            &format!("oidc: {name}"),
            get("/api/items").bearer(token),
            refused,
        ));
    }
    // sticky: a pin header pointing elsewhere, next to mallory's own cookie.
    for target in &elsewhere {
        let pin = mallory_pin.clone();
        attacks.push(AttackKind::fixed(
            "sticky: client pin header",
            get("/api/items")
                .bearer(&mallory)
                .header("cookie", &mallory_cookie)
                .header("x-sticky-endpoint", target),
            move |r| r.status != 200 || served_by(r) != pin,
        ));
    }
    // sticky: alice's cookie with mallory's token (bound to alice's subject), and forged
    // cookies, must not be accepted: the answer pins mallory afresh (a new cookie).
    let accepted = |r: &wasm_tests::Response| r.status != 200 || set_cookie(r).is_none();
    attacks.push(AttackKind::fixed(
        "sticky: stolen cookie",
        get("/api/items")
            .bearer(&mallory)
            .header("cookie", &alice_cookie),
        accepted,
    ));
    let name = mallory_cookie.split('=').next().unwrap_or("").to_string();
    for value in ["AAAA", "k1.garbage", &"A".repeat(4000), "k9.Zm9v.YmFy"] {
        attacks.push(AttackKind::fixed(
            "sticky: forged cookie",
            get("/api/items")
                .bearer(&mallory)
                .header("cookie", &format!("{name}={value}")),
            accepted,
        ));
    }
    // injector: routes and methods outside the allowlist, a cross-site POST (a page on another
    // site makes mallory's browser POST with her cookies), a client-supplied credential header.
    attacks.push(AttackKind::fixed(
        "injector: route not allowed",
        get("/admin").bearer(&mallory),
        refused,
    ));
    attacks.push(AttackKind::fixed(
        "injector: method not allowed",
        Request::new("DELETE", addr.clone(), "/api/items/1").bearer(&mallory),
        refused,
    ));
    attacks.push(AttackKind::fixed(
        "injector: cross-site POST",
        Request::post(addr.clone(), "/api/items")
            .header("origin", "https://evil.example")
            .header("cookie", &format!("at={mallory}; {mallory_cookie}"))
            .json(&json!({"x": 1})),
        refused,
    ));
    attacks.push(AttackKind::fixed(
        "injector: client-supplied x-api-key",
        get("/api/items")
            .bearer(&mallory)
            .header("x-api-key", "attacker-chosen"),
        |r| {
            r.status == 200
                && r.json()
                    .ok()
                    .is_some_and(|v| v["headers"]["x-api-key"] != json!(API_KEY))
        },
    ));
    threads.extend(spawn_attackers(attacks, 3, deadline, &tally, &counting));

    let (window, jwks_before) = measure(pid, seconds, deadline, &counting, threads, || {
        idp.jwks_requests().unwrap()
    });
    let Window {
        rss_start,
        rss_max,
        rss_end,
        measured,
    } = window;
    let jwks_fetches = idp.jwks_requests().unwrap() - jwks_before;
    let stat = |n: &str| envoy.stat(&format!("wasmcustom.{n}")).unwrap().unwrap_or(0);
    let t = std::mem::take(&mut *tally.lock().unwrap());
    let pins = pins.lock().unwrap().clone();
    let (legit_total, legit_ok, attack_total) = t.totals();
    let jwks_bound = measured / REFRESH_SECS + measured / REFETCH_SECS + 2;
    let report = format!(
        "# Soak under attack: all plugins chained\n\n{seconds} s run (figures over the last {measured} s), Envoy --concurrency 2, \
         oidc-auth -> sticky-session (stateful-session, bind_subject) -> credential-injector (static key, allowlist GET/POST /api/items, \
         CSRF origin check) -> 3 upstreams. 3 legitimate users (RS256/ES256/EdDSA, 30 s tokens, own sticky cookie, one request per 20 ms); \
         3 attackers cycling through forged tokens, a client pin header pointing at another upstream, a stolen cookie bound to another \
         user, forged cookies (4 KB included), routes/methods outside the allowlist, a cross-site POST and a client-supplied credential \
         header, one request per 5 ms each.\n\n\
         | figure | value |\n|---|---|\n\
         | legitimate requests | {legit_total} |\n| legitimate 200 with the backend key | {legit_ok} |\n| legitimate other answers | {:?} |\n\
         | upstreams seen per legitimate user | {:?} |\n\
         | attack requests | {attack_total} |\n| attack requests that got through (or caused a 5xx) | {} |\n| attack answers | {:?} |\n\
         | sticky cookies refused as forged / bound to another subject (whole run, both VMs) | {} / {} |\n\
         | JWKS fetches at the IdP (bound {jwks_bound}) | {jwks_fetches} |\n\
         | Envoy RSS after warm-up / max / end | {} / {} / {} MiB |\n",
        t.legit.iter().filter(|(k, _)| k.as_str() != "200 ").collect::<Vec<_>>(),
        pins.values().map(|s| s.len()).collect::<Vec<_>>(),
        t.attack_passed.len(),
        t.attack,
        stat("sticky_session.cookie_rejected_malformed")
            + stat("sticky_session.cookie_rejected_unknown_key")
            + stat("sticky_session.cookie_rejected_undecryptable"),
        stat("sticky_session.cookie_rejected_subject_mismatch"),
        rss_start / 1024,
        rss_max / 1024,
        rss_end / 1024,
    );
    publish_soak(&report).unwrap();
    assert!(legit_total > 0 && attack_total > 0);
    assert_eq!(
        legit_ok, legit_total,
        "legitimate requests failed: {:?}",
        t.legit
    );
    assert!(
        pins.len() == ALGS.len() && pins.values().all(|s| s.len() == 1),
        "a session moved: {pins:?}"
    );
    assert!(
        t.attack_passed.is_empty(),
        "attacks got through: {:?}",
        t.attack_passed
    );
    assert!(
        jwks_fetches <= jwks_bound,
        "{jwks_fetches} JWKS fetches in {measured} s (bound {jwks_bound})"
    );
    assert!(
        rss_max <= rss_start + (rss_start / 4).min(64 * 1024),
        "RSS {rss_start} -> {rss_max} KiB"
    );
}
