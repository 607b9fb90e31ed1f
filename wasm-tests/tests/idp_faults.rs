//! oidc-auth when the IdP fails, end to end: the built plugin in a real Envoy, the real oidc-provider
//! (its TEST-ONLY `/test/fault` breaks discovery and the JWKS on demand), a real upstream.
//!
//! For every fault: the documented answer (docs/oidc-auth.md, "When the IdP fails"), no request waits
//! longer than the documented bound, nothing passes unchecked (`oidc_auth.allowed` only counts the
//! requests we expected to pass), the fault is counted, and keys come back without restarting Envoy
//! once the fault ends. Timings are shortened in each plugin config so a test takes seconds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wasm_tests::{ports, Bootstrap, Envoy, EnvoyOptions, Idp, TempDir, TokenRequest, Upstream};

const AUD: &str = "https://api.mesh.local";
/// `fetch_timeout` in these tests.
const FETCH_TIMEOUT: Duration = Duration::from_secs(1);
/// Documented bound on how long a request may wait for keys: one discovery plus one JWKS callout.
const WAIT_BOUND: Duration = Duration::from_secs(2 * FETCH_TIMEOUT.as_secs());
/// Slack for a loaded 2-core machine (scheduling, Envoy's 0.5 s tick).
const SLACK: Duration = Duration::from_millis(700);

struct Stack {
    envoy: Envoy,
    _upstream: Upstream,
    issuer: String,
}

/// Envoy with oidc-auth for the IdP at `127.0.0.1:<idp_port>` (which may not be listening yet):
/// discovery, 1 s fetch timeout, retries capped at 2 s, plus `extra` provider fields.
fn start(idp_port: u16, extra: Value) -> Stack {
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let mut provider = json!({
        "name": "local", "issuer": issuer, "audiences": [AUD], "cluster": "idp",
        "algorithms": ["RS256", "ES256", "EdDSA"],
        "fetch_timeout": "1s", "fetch_backoff_max": "2s",
        "refresh_interval": "1s", "max_staleness": "60s", "unknown_kid_refetch_interval": "1s"
    });
    for (k, v) in extra.as_object().unwrap() {
        provider[k] = v.clone();
    }
    let upstream = Upstream::start("backend").unwrap();
    let config = json!({"providers": [provider], "default_action": "authenticated"});
    let b = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("idp", &[idp_port])
        .wasm_filter("oidc-auth", "oidc_auth.wasm", &config, &[]);
    let envoy = Envoy::start(&b.build(), EnvoyOptions::default().concurrency(2)).unwrap();
    Stack {
        envoy,
        _upstream: upstream,
        issuer,
    }
}

/// One answer: status, reason code, how long it took.
#[derive(Debug)]
struct Answer {
    status: u16,
    reason: String,
    took: Duration,
}

impl Stack {
    fn get(&self, token: &str) -> Answer {
        let t0 = Instant::now();
        let r = self
            .envoy
            .request("GET", "/api/x")
            .bearer(token)
            .timeout(Duration::from_secs(20))
            .send()
            .unwrap();
        let reason = r
            .json()
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        Answer {
            status: r.status,
            reason,
            took: t0.elapsed(),
        }
    }

    fn stat(&self, name: &str) -> u64 {
        self.envoy
            .stat(&format!("wasmcustom.oidc_auth.{name}"))
            .unwrap()
            .unwrap_or(0)
    }

    /// Sum of `jwks.fetch_failed.*`.
    fn fetch_failures(&self) -> u64 {
        self.envoy
            .stats()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("wasmcustom.oidc_auth.jwks.fetch_failed."))
            .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
            .sum()
    }

    /// Waits until `stat` exceeds `above`; returns how long that took.
    fn wait_stat_above(&self, name: &str, above: u64, timeout: Duration) -> Duration {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.stat(name) > above {
                return t0.elapsed();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{name} stayed at {} for {timeout:?}:\n{}",
            self.stat(name),
            self.envoy.log()
        );
    }

    /// Requests `token` until it gets `status`, asserting that every answer before it is in `allowed`.
    /// Returns (time to the wanted answer, longest single answer).
    fn until_status(
        &self,
        token: &str,
        status: u16,
        allowed: &[(u16, &str)],
        timeout: Duration,
    ) -> (Duration, Duration) {
        let t0 = Instant::now();
        let mut longest = Duration::ZERO;
        while t0.elapsed() < timeout {
            let a = self.get(token);
            longest = longest.max(a.took);
            if a.status == status {
                return (t0.elapsed(), longest);
            }
            assert!(
                allowed.contains(&(a.status, a.reason.as_str())),
                "unexpected answer {a:?} while waiting for {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no {status} within {timeout:?}:\n{}", self.envoy.log());
    }

    /// Sends `token` for `period`; every answer must be (status, reason). Returns the longest answer time.
    fn hold(&self, token: &str, period: Duration, want: (u16, &str)) -> Duration {
        let t0 = Instant::now();
        let mut longest = Duration::ZERO;
        let mut n = 0;
        while t0.elapsed() < period {
            let a = self.get(token);
            assert_eq!(
                (a.status, a.reason.as_str()),
                want,
                "answer {n} after {:?}",
                t0.elapsed()
            );
            longest = longest.max(a.took);
            n += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            n >= 3,
            "only {n} requests in {period:?}, longest {longest:?}"
        );
        longest
    }
}

/// A token for `issuer` signed with no key the IdP has: decided by the keys' state, never accepted.
fn unverifiable_token(issuer: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = B64.encode(json!({"alg": "RS256", "kid": "no-such-key"}).to_string());
    let claims = B64
        .encode(json!({"iss": issuer, "aud": AUD, "sub": "mallory", "exp": now + 300}).to_string());
    format!("{header}.{claims}.{}", B64.encode([7u8; 256]))
}

fn mint(idp: &Idp, alg: &str) -> String {
    idp.mint(&TokenRequest {
        alg: Some(alg.into()),
        aud: Some(json!(AUD)),
        ..Default::default()
    })
    .unwrap()
    .token
}

/// A token naming a kid the IdP never had, otherwise genuine.
fn unknown_kid_token(idp: &Idp) -> String {
    idp.mint(&TokenRequest {
        header: Some(json!({"kid": "rotated-away"})),
        aud: Some(json!(AUD)),
        ..Default::default()
    })
    .unwrap()
    .token
}

#[test]
fn idp_down_at_envoy_start_answers_503_fast_then_keys_load_without_restarting_envoy() {
    let port = ports::free_port().unwrap();
    let stack = start(port, json!({}));
    let probe = unverifiable_token(&stack.issuer);

    // Nothing listens: every request is refused at once with the reason, none waits, none passes.
    let longest = stack.hold(&probe, Duration::from_secs(6), (503, "keys_not_loaded"));
    let failures = stack.fetch_failures();
    eprintln!("IdP down at start: longest 503 took {longest:?}; {failures} failed fetches in 6 s");
    assert!(longest < WAIT_BOUND + SLACK, "a request waited {longest:?}");
    assert!(
        stack.stat("jwks.fetch_failed.idp_unavailable") >= 1,
        "{:?}",
        stack.envoy.stats().unwrap()
    );
    // Backoff (1 s doubling, capped at 2 s here): a handful of attempts, not one per tick or request.
    assert!(
        (2..=10).contains(&failures),
        "{failures} fetch attempts in 6 s"
    );
    assert_eq!(stack.stat("allowed"), 0);

    // The IdP comes up on the configured address: keys are fetched at the next retry.
    let idp = Idp::start_on_port(port, &[]).unwrap();
    let token = mint(&idp, "ES256");
    let (recovered, _) = stack.until_status(
        &token,
        200,
        &[(503, "keys_not_loaded")],
        Duration::from_secs(10),
    );
    eprintln!("IdP down at start: first 200 {recovered:?} after the IdP came up");
    assert!(
        recovered < Duration::from_secs(2) + SLACK + Duration::from_millis(500),
        "recovery took {recovered:?}"
    );
    assert!(stack.stat("jwks.fetch_ok") >= 1);
    assert_eq!(
        stack.get(&probe).reason,
        "unknown_kid",
        "keys are loaded now"
    );
}

#[test]
fn slow_idp_at_start_answers_503_within_the_bound_then_recovers() {
    let idp = Idp::start().unwrap();
    // Slower than fetch_timeout (1 s): every callout times out.
    idp.set_fault(&json!({"jwks": "slow", "delay_ms": 3000}))
        .unwrap();
    let stack = start(idp.port(), json!({}));
    let token = mint(&idp, "RS256");

    let longest = stack.hold(&token, Duration::from_secs(5), (503, "keys_not_loaded"));
    eprintln!("slow IdP at start: longest 503 took {longest:?}");
    assert!(longest < WAIT_BOUND + SLACK, "a request waited {longest:?}");
    assert!(stack.stat("jwks.fetch_failed.idp_timeout") >= 1);
    assert_eq!(stack.stat("allowed"), 0);

    idp.set_fault(&json!({"jwks": "ok"})).unwrap();
    let (recovered, _) = stack.until_status(
        &token,
        200,
        &[(503, "keys_not_loaded")],
        Duration::from_secs(10),
    );
    eprintln!("slow IdP at start: first 200 {recovered:?} after the IdP sped up");
    assert!(
        recovered < Duration::from_secs(4),
        "recovery took {recovered:?}"
    );
}

/// Discovery and the JWKS each answer within `fetch_timeout` but together take longer: the VM
/// fetching renews its lease and the shared "fetch in progress" mark for the second step, so no
/// other VM starts a second fetch from the slow IdP.
#[test]
fn a_slow_two_step_key_fetch_is_made_by_one_vm_only() {
    let idp = Idp::start().unwrap();
    idp.set_fault(&json!({"discovery": "slow", "jwks": "slow", "delay_ms": 1800}))
        .unwrap();
    // 2 s per step; the whole fetch takes ≈ 3.6 s, past the first step's lease (3 s).
    let stack = start(
        idp.port(),
        json!({"fetch_timeout": "2s", "refresh_interval": "60s"}),
    );
    let t0 = Instant::now();
    while stack.stat("jwks.fetch_ok") == 0 {
        assert!(t0.elapsed() < Duration::from_secs(15), "keys never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    let loaded = t0.elapsed();
    // Any second fetch started meanwhile would have called the IdP by now.
    std::thread::sleep(Duration::from_secs(3));
    let callouts = stack
        .envoy
        .stat("cluster.idp.upstream_rq_total")
        .unwrap()
        .unwrap_or(0);
    eprintln!("slow two-step fetch: keys after {loaded:?}, {callouts} callouts to the IdP");
    assert_eq!(callouts, 2, "one discovery and one JWKS request");
    assert_eq!(stack.fetch_failures(), 0);
}

#[test]
fn slow_idp_later_keeps_the_last_good_keys_and_nothing_waits_past_the_bound() {
    let idp = Idp::start().unwrap();
    let stack = start(idp.port(), json!({}));
    let token = mint(&idp, "EdDSA");
    let (_, _) = stack.until_status(
        &token,
        200,
        &[(503, "keys_not_loaded")],
        Duration::from_secs(10),
    );
    let unknown = unknown_kid_token(&idp);
    let allowed_before = stack.stat("allowed");

    idp.set_fault(&json!({"jwks": "slow", "delay_ms": 3000}))
        .unwrap();
    let t0 = Instant::now();
    let mut longest_known = Duration::ZERO;
    let mut longest_unknown = Duration::ZERO;
    let mut ok = 0;
    while t0.elapsed() < Duration::from_secs(6) {
        let a = stack.get(&token);
        assert_eq!(a.status, 200, "{a:?}");
        longest_known = longest_known.max(a.took);
        ok += 1;
        // An unknown kid may wait for one (rate-limited) refetch, which times out: 401 within the bound.
        let a = stack.get(&unknown);
        assert_eq!((a.status, a.reason.as_str()), (401, "unknown_kid"), "{a:?}");
        longest_unknown = longest_unknown.max(a.took);
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "slow IdP later: longest 200 {longest_known:?}, longest unknown-kid 401 {longest_unknown:?}"
    );
    assert!(
        longest_known < Duration::from_millis(500),
        "{longest_known:?}"
    );
    assert!(longest_unknown < WAIT_BOUND + SLACK, "{longest_unknown:?}");
    assert!(stack.stat("jwks.fetch_failed.idp_timeout") >= 1);
    assert!(stack.stat("jwks.stale_served") >= 1);
    assert_eq!(
        stack.stat("allowed"),
        allowed_before + ok,
        "only the good token passed"
    );

    let fetched = stack.stat("jwks.fetch_ok");
    idp.set_fault(&json!({"jwks": "ok"})).unwrap();
    let took = stack.wait_stat_above("jwks.fetch_ok", fetched, Duration::from_secs(6));
    eprintln!("slow IdP later: fresh keys {took:?} after the IdP sped up");
}

/// (fault sent to /test/fault, the `jwks.fetch_failed.<reason>` it must raise).
fn bad_jwks_faults() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"jwks": "garbage"}), "malformed_jwks"),
        (json!({"jwks": "wrong_shape"}), "malformed_jwks"),
        (json!({"jwks": "bad_keys"}), "jwks_no_usable_key"),
        (json!({"jwks": "empty"}), "jwks_no_usable_key"),
        // Valid keys, only too big: just over the 64 KiB default, then far over (never read).
        (
            json!({"jwks": "oversized", "size_bytes": 70 * 1024}),
            "jwks_too_large",
        ),
        (
            json!({"jwks": "oversized", "size_bytes": 4 * 1024 * 1024}),
            "jwks_too_large",
        ),
        (json!({"jwks": "500"}), "idp_error_status"),
    ]
}

#[test]
fn garbage_and_oversized_jwks_at_start_are_refused_counted_and_answered_503() {
    let idp = Idp::start().unwrap();
    let (first, _) = bad_jwks_faults()[0].clone();
    idp.set_fault(&first).unwrap();
    let stack = start(idp.port(), json!({}));
    let token = mint(&idp, "ES256");
    for (fault, reason) in bad_jwks_faults() {
        idp.set_fault(&fault).unwrap();
        let metric = format!("jwks.fetch_failed.{reason}");
        let before = stack.stat(&metric);
        stack.wait_stat_above(&metric, before, Duration::from_secs(6));
        let longest = stack.hold(&token, Duration::from_millis(500), (503, "keys_not_loaded"));
        assert!(longest < WAIT_BOUND + SLACK, "{fault}: {longest:?}");
    }
    assert_eq!(stack.stat("allowed"), 0);
    assert!(
        stack
            .envoy
            .log()
            .contains("no usable keys: its tokens get 503"),
        "the log says what happens"
    );
    idp.set_fault(&json!({"jwks": "ok", "size_bytes": 131072}))
        .unwrap();
    let (recovered, _) = stack.until_status(
        &token,
        200,
        &[(503, "keys_not_loaded")],
        Duration::from_secs(10),
    );
    eprintln!("bad JWKS at start: first 200 {recovered:?} after the fault ended");
}

#[test]
fn garbage_and_oversized_jwks_on_refresh_keep_the_last_good_keys_serving() {
    let idp = Idp::start().unwrap();
    let stack = start(idp.port(), json!({}));
    let token = mint(&idp, "RS256");
    stack.until_status(
        &token,
        200,
        &[(503, "keys_not_loaded")],
        Duration::from_secs(10),
    );
    let unknown = unknown_kid_token(&idp);
    for (fault, reason) in bad_jwks_faults() {
        idp.set_fault(&fault).unwrap();
        let metric = format!("jwks.fetch_failed.{reason}");
        let before = stack.stat(&metric);
        stack.wait_stat_above(&metric, before, Duration::from_secs(6));
        // The refused document changed nothing: the good token passes, an unknown kid does not.
        stack.hold(&token, Duration::from_millis(300), (200, ""));
        let a = stack.get(&unknown);
        assert_eq!(
            (a.status, a.reason.as_str()),
            (401, "unknown_kid"),
            "{fault}"
        );
    }
    assert!(stack.stat("jwks.stale_served") >= 1);
    assert!(stack
        .envoy
        .log()
        .contains("the last good keys keep serving until max_staleness"));
    let fetched = stack.stat("jwks.fetch_ok");
    idp.set_fault(&json!({"jwks": "ok"})).unwrap();
    stack.wait_stat_above("jwks.fetch_ok", fetched, Duration::from_secs(6));
    assert_eq!(stack.get(&token).status, 200);
}

#[test]
fn discovery_naming_another_issuer_is_refused_with_a_log_line_and_a_metric() {
    let idp = Idp::start().unwrap();
    idp.set_fault(&json!({"discovery": "wrong_issuer"}))
        .unwrap();
    let stack = start(idp.port(), json!({}));
    let token = mint(&idp, "ES256");
    stack.wait_stat_above(
        "jwks.fetch_failed.discovery_issuer_mismatch",
        0,
        Duration::from_secs(6),
    );
    let longest = stack.hold(&token, Duration::from_secs(2), (503, "keys_not_loaded"));
    assert!(longest < WAIT_BOUND + SLACK, "{longest:?}");
    let log = stack.envoy.log();
    let line = log
        .lines()
        .find(|l| l.contains("discovery_issuer_mismatch"))
        .unwrap_or_else(|| panic!("no log line:\n{log}"));
    assert!(
        line.contains(&format!("issuer {}", stack.issuer)) && line.contains("another issuer"),
        "{line}"
    );
    assert_eq!(
        idp.jwks_requests().unwrap(),
        0,
        "the keys it points at were never fetched"
    );

    // Fixed: keys load. Later the JWKS fails, rediscovery names another issuer again: old keys stay.
    idp.set_fault(&json!({"discovery": "ok"})).unwrap();
    stack.until_status(
        &token,
        200,
        &[(503, "keys_not_loaded")],
        Duration::from_secs(10),
    );
    let mismatches = stack.stat("jwks.fetch_failed.discovery_issuer_mismatch");
    idp.set_fault(&json!({"discovery": "wrong_issuer", "jwks": "500"}))
        .unwrap();
    stack.wait_stat_above(
        "jwks.fetch_failed.discovery_issuer_mismatch",
        mismatches,
        Duration::from_secs(8),
    );
    stack.hold(&token, Duration::from_millis(500), (200, ""));
    idp.set_fault(&json!({"discovery": "ok", "jwks": "ok"}))
        .unwrap();
    let fetched = stack.stat("jwks.fetch_ok");
    stack.wait_stat_above("jwks.fetch_ok", fetched, Duration::from_secs(6));
}

#[test]
fn idp_down_longer_than_max_staleness_fails_closed_with_503_then_recovers() {
    // Keys survive the IdP restart (same file), so the same token is good before and after.
    let dir = TempDir::new("idp-keys").unwrap();
    let keys_file = dir.join("keys.json").display().to_string();
    let env = [("IDP_KEYS_FILE", keys_file.as_str())];
    let idp = Idp::start_with(&env).unwrap();
    let port = idp.port();
    let stack = start(port, json!({"max_staleness": "4s"}));
    let token = mint(&idp, "RS256");
    stack.until_status(
        &token,
        200,
        &[(503, "keys_not_loaded")],
        Duration::from_secs(10),
    );
    let fresh_kid_after = unknown_kid_token(&idp);
    drop(idp);
    let down = Instant::now();

    // Last good keys serve, then fail closed at max_staleness (4 s after the last good fetch).
    let (closed_after, longest) =
        stack.until_status(&token, 503, &[(200, "")], Duration::from_secs(12));
    let a = stack.get(&token);
    assert_eq!((a.status, a.reason.as_str()), (503, "keys_too_stale"));
    eprintln!("IdP down: stale keys served {closed_after:?}, then 503 keys_too_stale");
    assert!(
        closed_after >= Duration::from_secs(2) && closed_after <= Duration::from_secs(5) + SLACK,
        "{closed_after:?}"
    );
    assert!(longest < WAIT_BOUND + SLACK, "{longest:?}");
    assert!(stack.stat("jwks.stale_served") >= 1);
    let longest = stack.hold(&token, Duration::from_secs(2), (503, "keys_too_stale"));
    assert!(longest < WAIT_BOUND + SLACK, "a 503 took {longest:?}");
    let a = stack.get(&fresh_kid_after);
    assert_eq!(
        (a.status, a.reason.as_str()),
        (503, "keys_too_stale"),
        "every token of the provider"
    );
    let allowed = stack.stat("allowed");

    // Back on the same address: the next retry (≤ 2 s) loads the keys, the same token passes again.
    let idp = Idp::start_on_port(port, &env).unwrap();
    let (recovered, _) = stack.until_status(
        &token,
        200,
        &[(503, "keys_too_stale")],
        Duration::from_secs(10),
    );
    eprintln!(
        "IdP down {:?}: first 200 {recovered:?} after it came back",
        down.elapsed() - recovered
    );
    assert!(recovered < Duration::from_secs(3) + SLACK, "{recovered:?}");
    assert_eq!(stack.stat("allowed"), allowed + 1);
    assert!(idp.jwks_requests().unwrap() >= 1);
}
