//! The client under server faults, on a fake clock: Retry-After, the
//! client-wide backoff (one probe at a time), a policy that refuses reads
//! even after a new login, and leases so short that every answer makes the
//! next call due at once.

use super::*;
use crate::config::parse_json;
use crate::env::SeededRandom;
use crate::vault::config::VaultConfigDto;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: u64 = 1_700_000_000_000;
const TICK_MS: u64 = 100;

fn at_ms(ms: u64) -> Now {
    Now::from_unix_ms(T0 + ms)
}

fn since(now: Now) -> u64 {
    now.unix_ms - T0
}

fn env(name: &str) -> Option<String> {
    (name == "ROLE_ID" || name == "SECRET_ID").then(|| format!("{name}-SECRET"))
}

/// AppRole, a dynamic `db` (index 0) and a KV `api` (index 1) re-read every
/// 2 s, with the given `retry` block.
fn client(retry: &str) -> VaultClient {
    let json = format!(
        r#"{{"connection": {{"cluster": "vault", "authority": "vault:8200", "timeout": "1s"}},
             "auth": {{"approle": {{"role_id_env": "ROLE_ID", "secret_id_env": "SECRET_ID"}}}},
             "kv_refresh_interval": "2s",
             "retry": {retry},
             "secrets": [
               {{"name": "db", "kind": {{"dynamic": {{"path": "database/creds/app", "fields": ["password"]}}}}}},
               {{"name": "api", "kind": {{"kv2": {{"path": "web", "fields": ["key"]}}}}}}
             ]}}"#
    );
    VaultClient::new(
        parse_json::<VaultConfigDto>(json.as_bytes())
            .unwrap()
            .compile(&env)
            .unwrap(),
    )
}

fn ok_body(a: Action, version: u64) -> String {
    match a {
        Action::Login => r#"{"auth":{"client_token":"s.t-SECRET","lease_duration":3600,"renewable":true}}"#.into(),
        Action::Fetch(0) => r#"{"lease_id":"database/creds/app/L1","renewable":true,"lease_duration":600,"data":{"password":"pw1"}}"#.into(),
        Action::RenewLease(_) => r#"{"lease_id":"database/creds/app/L1","renewable":true,"lease_duration":600}"#.into(),
        Action::RenewToken => r#"{"auth":{"lease_duration":3600,"renewable":true}}"#.into(),
        _ => format!(r#"{{"data":{{"data":{{"key":"k{version}"}},"metadata":{{"version":{version}}}}}}}"#),
    }
}

fn value(c: &VaultClient, name: &str, field: &str, now: Now) -> Result<String, &'static str> {
    c.secret(name, now)
        .map(|v| v.field(field).unwrap().expose().to_string())
        .map_err(|u| u.code())
}

/// Drives the client as the host does, with a server that answers at once:
/// ticks every 100 ms from `from` to `until`, answers each call with `answer`
/// (status, Retry-After, body) and sends the follow-ups of each successful
/// answer right away. Returns every call made, with its time.
fn run(
    c: &mut VaultClient,
    from: Now,
    until: Now,
    rng: &mut SeededRandom,
    mut answer: impl FnMut(Action, Now) -> (u16, Option<&'static [u8]>, String),
) -> Vec<(Now, Action)> {
    let mut calls = Vec::new();
    let mut now = from;
    while now < until {
        let mut queue = c.next_actions(now, rng);
        while let Some(a) = queue.pop() {
            assert!(calls.len() < 10_000, "calls in a loop: {calls:?}");
            calls.push((now, a));
            let (status, retry_after, body) = answer(a, now);
            let reply = Reply {
                status,
                retry_after,
                body: body.as_bytes(),
            };
            if c.on_reply(a, &reply, now, rng).is_ok() {
                queue.extend(c.follow_up_actions(now, rng));
            }
        }
        now = now.plus_ms(TICK_MS);
    }
    calls
}

fn healthy(a: Action, _now: Now) -> (u16, Option<&'static [u8]>, String) {
    (200, None, ok_body(a, 1))
}

/// Healthy, but the database secret comes with a renewable 20 s lease.
fn short_lease(a: Action, _now: Now) -> (u16, Option<&'static [u8]>, String) {
    match a {
        Action::Fetch(0) => {
            let body = r#"{"lease_id":"database/creds/app/L1","renewable":true,"lease_duration":20,"data":{"password":"pw1"}}"#;
            (200, None, body.to_string())
        }
        _ => (200, None, ok_body(a, 1)),
    }
}

fn started(retry: &str, rng: &mut SeededRandom) -> VaultClient {
    let mut c = client(retry);
    let calls = run(&mut c, at_ms(0), at_ms(TICK_MS * 2), rng, healthy);
    assert_eq!(calls.len(), 3, "login, then both secrets: {calls:?}");
    assert_eq!(value(&c, "api", "key", at_ms(200)), Ok("k1".into()));
    c
}

#[test]
fn rate_limited_calls_wait_for_retry_after_then_one_probe_recovers() {
    let mut rng = SeededRandom(11);
    // A backoff starting at 200 ms would retry ~5 times within 7 s.
    let mut c = started(r#"{"initial": "200ms", "max": "30s"}"#, &mut rng);
    let limited_until = at_ms(20_000);
    let limited = |_: Action, _: Now| {
        let body = r#"{"errors":["rate limit quota exceeded"]}"#;
        (429, Some(&b"7"[..]), body.to_string())
    };
    let calls = run(&mut c, at_ms(200), limited_until, &mut rng, limited);
    let times: Vec<u64> = calls.iter().map(|(t, _)| since(*t)).collect();
    // The first KV re-read (~2 s) is refused; then one call per Retry-After.
    assert!(times.len() <= 3, "calls while limited at {times:?} ms");
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= 7_000, "a call before Retry-After: {times:?}");
    }
    // Served from cache all along.
    assert_eq!(value(&c, "api", "key", limited_until), Ok("k1".into()));
    // The quota is gone at 20 s: the next probe (≤ 7 s later) succeeds and
    // the KV value moves on.
    let calls = run(&mut c, limited_until, at_ms(30_000), &mut rng, |a, _| {
        (200, None, ok_body(a, 2))
    });
    let recovered = since(calls.first().unwrap().0);
    assert!(recovered <= 27_000, "recovered at {recovered} ms");
    assert_eq!(value(&c, "api", "key", at_ms(30_000)), Ok("k2".into()));
    assert!(c.server_gate().is_open(at_ms(30_000)));
    assert_eq!(c.server_gate().failures(), 0);
}

#[test]
fn rate_limit_with_an_http_date_waits_until_that_date() {
    let mut rng = SeededRandom(12);
    let mut c = started(r#"{"initial": "200ms", "max": "30s"}"#, &mut rng);
    // A proxy in front of Vault answers with a date: T0 is
    // Tue, 14 Nov 2023 22:13:20 GMT, so this is T0 + 12 s.
    let until: &'static [u8] = b"Tue, 14 Nov 2023 22:13:32 GMT";
    let calls = run(&mut c, at_ms(200), at_ms(11_900), &mut rng, |_, _| {
        let body = r#"{"errors":["rate limit quota exceeded"]}"#;
        (429, Some(until), body.to_string())
    });
    let times: Vec<u64> = calls.iter().map(|(t, _)| since(*t)).collect();
    // The first KV re-read (~2 s) is refused; nothing else before the date.
    assert_eq!(times.len(), 1, "calls before the date at {times:?} ms");
    let calls = run(&mut c, at_ms(11_900), at_ms(20_000), &mut rng, |a, _| {
        (200, None, ok_body(a, 2))
    });
    let resumed = since(calls.first().unwrap().0);
    assert!(
        (12_000..=12_500).contains(&resumed),
        "resumed at {resumed} ms"
    );
    assert_eq!(value(&c, "api", "key", at_ms(20_000)), Ok("k2".into()));
}

#[test]
fn sealed_vault_is_probed_once_per_backoff_step_while_cached_values_serve() {
    let mut rng = SeededRandom(12);
    let mut c = client(r#"{"initial": "1s", "max": "8s"}"#);
    // A 20 s database lease: its renewal and replacement fall due while
    // sealed, next to the KV re-reads.
    run(&mut c, at_ms(0), at_ms(200), &mut rng, short_lease);
    assert_eq!(value(&c, "db", "password", at_ms(200)), Ok("pw1".into()));
    let sealed_until = at_ms(60_000);
    let sealed = |_: Action, _: Now| (503, None, r#"{"errors":["Vault is sealed"]}"#.to_string());
    let calls = run(&mut c, at_ms(200), sealed_until, &mut rng, sealed);
    let during: Vec<u64> = calls.iter().map(|(t, _)| since(*t)).collect();
    // Backoff 0.5-1, 1-2, 2-4, 4-8, then 4-8 s: at most ~16 probes in 60 s,
    // never two at once. Without the client-wide gate the database lease and
    // the KV secret would each retry on their own.
    assert!(
        during.len() <= 16,
        "{} calls while sealed: {during:?}",
        during.len()
    );
    for w in during.windows(2) {
        assert!(w[1] > w[0], "two calls at once while sealed: {during:?}");
    }
    let gaps: Vec<u64> = during.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().skip(5).all(|g| *g >= 4_000),
        "capped gaps: {gaps:?}"
    );
    assert!(
        calls.iter().any(|(_, a)| *a == Action::Fetch(0)),
        "db replacement tried"
    );
    // KV serves from cache; the lease ended at 20 s: fail closed, saying why.
    assert_eq!(value(&c, "api", "key", sealed_until), Ok("k1".into()));
    assert_eq!(value(&c, "db", "password", at_ms(19_900)), Ok("pw1".into()));
    let u = c.secret("db", at_ms(20_200)).unwrap_err();
    assert_eq!(
        (u.code(), u.last_error),
        ("secret_expired", Some("vault_sealed"))
    );
    // Unsealed at 60 s: the next probe (≤ 8 s later) succeeds, the rest follow.
    let calls = run(&mut c, sealed_until, at_ms(75_000), &mut rng, healthy);
    assert!(since(calls.first().unwrap().0) <= 68_000, "{calls:?}");
    assert_eq!(value(&c, "db", "password", at_ms(75_000)), Ok("pw1".into()));
    assert_eq!(c.server_gate().failures(), 0);
    assert_eq!(c.secret_state("api").unwrap().failures(), 0);
}

#[test]
fn slow_vault_timeouts_back_off_like_an_outage() {
    let mut rng = SeededRandom(13);
    let mut c = started(r#"{"initial": "1s", "max": "4s"}"#, &mut rng);
    // Envoy answers a callout past its timeout with a synthetic 504.
    let calls = run(&mut c, at_ms(200), at_ms(20_000), &mut rng, |_, _| {
        (504, None, "upstream request timeout".into())
    });
    assert!(calls.len() <= 8, "{} calls in 20 s: {calls:?}", calls.len());
    assert_eq!(c.server_gate().last_fault(), Some("vault_timeout"));
    assert_eq!(value(&c, "api", "key", at_ms(20_000)), Ok("k1".into()));
}

#[test]
fn denied_read_logs_in_again_once_then_backs_off_until_the_policy_is_restored() {
    let mut rng = SeededRandom(14);
    let mut c = client(r#"{"initial": "1s", "max": "4s"}"#);
    // A 20 s database lease: after the new login it belongs to the old token,
    // and its replacement is refused too, next to the KV re-reads.
    run(&mut c, at_ms(0), at_ms(200), &mut rng, short_lease);
    let restored_at = at_ms(30_000);
    let denied = |a: Action, _: Now| match a {
        Action::Fetch(_) | Action::RenewLease(_) => {
            (403, None, r#"{"errors":["permission denied"]}"#.to_string())
        }
        _ => (200, None, ok_body(a, 1)),
    };
    let calls = run(&mut c, at_ms(200), restored_at, &mut rng, denied);
    assert!(
        calls.iter().any(|(_, a)| *a == Action::Fetch(0)),
        "the lease's replacement was refused too: {calls:?}"
    );
    let logins: Vec<u64> = calls
        .iter()
        .filter(|(_, a)| *a == Action::Login)
        .map(|(t, _)| since(*t))
        .collect();
    // Per secret: the KV read refused at ~2 s asks for one; the lease's
    // replacement, first refused with the new token, asks for one more
    // (from outside, a revoked token looks the same). Each refused again
    // with a token obtained after its own refusal asks for no more.
    assert_eq!(
        logins.len(),
        2,
        "one new login per refused secret, not one per refusal: {logins:?}"
    );
    let denied: Vec<u64> = calls
        .iter()
        .filter(|(_, a)| *a == Action::Fetch(1))
        .map(|(t, _)| since(*t))
        .collect();
    // Refused at ~2 s, again right after the new login, then backing off
    // (0.5-1, 1-2, 2-4, then 2-4 s).
    assert!(
        denied.len() <= 14,
        "{} refused reads: {denied:?}",
        denied.len()
    );
    assert!(denied.len() >= 6, "kept retrying: {denied:?}");
    // The cached KV value serves meanwhile, with the refusal as last error;
    // the lease ran out at 20 s and says why.
    assert_eq!(value(&c, "api", "key", restored_at), Ok("k1".into()));
    let u = c.secret("db", restored_at).unwrap_err();
    assert_eq!(
        (u.code(), u.last_error),
        ("secret_expired", Some("vault_permission_denied"))
    );
    assert_eq!(
        c.secret_state("api").unwrap().last_error(),
        Some("vault_permission_denied")
    );
    // Restored: the next retry (≤ 4 s) reads the new version with the same token.
    let calls = run(&mut c, restored_at, at_ms(40_000), &mut rng, |a, _| {
        (200, None, ok_body(a, 2))
    });
    assert!(since(calls.first().unwrap().0) <= 34_000, "{calls:?}");
    assert_eq!(value(&c, "api", "key", at_ms(40_000)), Ok("k2".into()));
    assert_eq!(c.token_state().generation(), 3, "no login since {logins:?}");

    // Denied again later (e.g. the token revoked): a new login is tried again.
    let calls = run(
        &mut c,
        at_ms(40_000),
        at_ms(45_000),
        &mut rng,
        |a, _| match a {
            Action::Fetch(1) => (403, None, r#"{"errors":["permission denied"]}"#.into()),
            _ => (200, None, ok_body(a, 1)),
        },
    );
    assert!(calls.iter().any(|(_, a)| *a == Action::Login), "{calls:?}");
}

#[test]
fn a_secret_never_loaded_reports_the_server_fault() {
    let mut rng = SeededRandom(15);
    let mut c = client(r#"{"initial": "1s", "max": "4s"}"#);
    run(&mut c, at_ms(0), at_ms(5_000), &mut rng, |a, _| match a {
        Action::Login => (200, None, ok_body(a, 1)),
        _ => (503, None, r#"{"errors":["Vault is sealed"]}"#.into()),
    });
    let u = c.secret("api", at_ms(5_000)).unwrap_err();
    assert_eq!(
        (u.code(), u.last_error),
        ("vault_unavailable", Some("vault_sealed"))
    );
}

#[test]
fn other_vms_name_the_owners_last_error_in_their_refusals() {
    let mut rng = SeededRandom(16);
    let mut owner = client(r#"{"initial": "1s", "max": "4s"}"#);
    run(&mut owner, at_ms(0), at_ms(200), &mut rng, |_, _| {
        (503, None, r#"{"errors":["Vault is sealed"]}"#.into())
    });
    let failures = owner.failures(at_ms(200));
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures.iter().all(|f| f.last_error == "vault_sealed"));

    // A worker VM never calls Vault: without the owner's record it only knows "not loaded".
    let mut worker = client(r#"{"initial": "1s", "max": "4s"}"#);
    assert_eq!(
        value(&worker, "api", "key", at_ms(300)),
        Err("secret_not_loaded")
    );
    worker.adopt_failures(&failures);
    let u = worker.secret("api", at_ms(300)).unwrap_err();
    assert_eq!(
        (u.code(), u.last_error),
        ("vault_unavailable", Some("vault_sealed"))
    );
    // Unknown codes (another build) are ignored; an empty record clears the cause.
    worker.adopt_failures(&[SecretFailure {
        name: "api".into(),
        last_error: "made_up".into(),
    }]);
    assert_eq!(
        value(&worker, "api", "key", at_ms(300)),
        Err("secret_not_loaded")
    );

    // A value the owner still serves, while Vault is failing: shared as well,
    // so a worker whose copy expires first names the fault.
    let mut rng = SeededRandom(17);
    let mut serving = started(r#"{"initial": "1s", "max": "4s"}"#, &mut rng);
    run(&mut serving, at_ms(200), at_ms(3_000), &mut rng, |_, _| {
        (504, None, "upstream request timeout".into())
    });
    assert_eq!(
        value(&serving, "db", "password", at_ms(3_000)),
        Ok("pw1".into())
    );
    let shared = serving.failures(at_ms(3_000));
    assert!(
        shared
            .iter()
            .any(|f| f.name == "db" && f.last_error == "vault_timeout"),
        "{shared:?}"
    );

    // Unsealed: the owner serves both, and reports no failure any more.
    run(&mut owner, at_ms(5_000), at_ms(6_000), &mut rng, healthy);
    assert_eq!(value(&owner, "api", "key", at_ms(6_000)), Ok("k1".into()));
    assert_eq!(owner.failures(at_ms(6_000)), vec![]);
}

/// A role handing out leases shorter than the renewal margin (1 s here):
/// every answer makes its next call due at once. The host sends an answer's
/// follow-ups right away, so without a bound this would be a tight loop of
/// calls, as fast as Vault answers (creating a database user each time for
/// non-renewable leases). It repeats once per tick instead, and serves.
#[test]
fn leases_shorter_than_the_renewal_margin_repeat_once_per_tick_not_in_a_loop() {
    for renewable in [true, false] {
        let mut rng = SeededRandom(19);
        let one_second = move |a: Action, _: Now| {
            let body = format!(
                r#"{{"lease_id":"database/creds/app/L1","renewable":{renewable},"lease_duration":1,"data":{{"password":"pw1"}}}}"#
            );
            match a {
                Action::Fetch(0) => (200, None, body),
                Action::RenewLease(0) => {
                    (200, None, body.replace(r#","data":{"password":"pw1"}"#, ""))
                }
                _ => (200, None, ok_body(a, 1)),
            }
        };
        let mut c = client(r#"{"initial": "1s", "max": "4s"}"#);
        let calls = run(&mut c, at_ms(0), at_ms(2_000), &mut rng, one_second);
        let db_calls: Vec<u64> = calls
            .iter()
            .filter(|(_, a)| matches!(a, Action::Fetch(0) | Action::RenewLease(0)))
            .map(|(now, _)| since(*now))
            .collect();
        let ticks = 2_000 / TICK_MS;
        assert!(
            db_calls.len() as u64 <= ticks + 1,
            "renewable {renewable}: {} calls in {ticks} ticks",
            db_calls.len()
        );
        assert!(
            db_calls.windows(2).skip(1).all(|w| w[0] < w[1]),
            "renewable {renewable}: two calls in one tick after the first fetch's: {db_calls:?}"
        );
        assert_eq!(value(&c, "db", "password", at_ms(2_000)), Ok("pw1".into()));
    }
}

/// The follow-ups of a cold start: the unwrapped secret-id's login, then the
/// reads, all within the first tick.
#[test]
fn a_cold_start_unwraps_logs_in_and_reads_within_one_tick() {
    let mut rng = SeededRandom(20);
    let json = r#"{"connection": {"cluster": "vault", "authority": "vault:8200"},
         "auth": {"approle": {"role_id_env": "ROLE_ID", "secret_id_env": "SECRET_ID", "secret_id_wrapped": true}},
         "secrets": [{"name": "api", "kind": {"kv2": {"path": "web", "fields": ["key"]}}}]}"#;
    let mut c = VaultClient::new(
        parse_json::<VaultConfigDto>(json.as_bytes())
            .unwrap()
            .compile(&env)
            .unwrap(),
    );
    let calls = run(
        &mut c,
        at_ms(0),
        at_ms(TICK_MS),
        &mut rng,
        |a, now| match a {
            Action::Unwrap => (200, None, r#"{"data":{"secret_id":"sid-SECRET"}}"#.into()),
            Action::Fetch(0) => (200, None, ok_body(Action::Fetch(1), 1)),
            _ => healthy(a, now),
        },
    );
    let actions: Vec<Action> = calls.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        actions,
        vec![Action::Unwrap, Action::Login, Action::Fetch(0)]
    );
    assert_eq!(value(&c, "api", "key", at_ms(0)), Ok("k1".into()));
}

/// One secret whose policy is missing (refused with every token) must not
/// stop the client from logging in again when its token is later revoked:
/// the other secrets' refusals then mean "token gone", not "policy".
#[test]
fn a_permanently_denied_secret_does_not_block_relogin_after_the_token_is_revoked() {
    let mut rng = SeededRandom(21);
    let mut c = client(r#"{"initial": "1s", "max": "4s"}"#);
    let mut issued: u32 = 0;
    let mut revoked_upto: u32 = 0;
    let revoke_at = at_ms(10_000);
    let mut logins_after_revocation = Vec::new();
    let mut now = at_ms(0);
    while now < at_ms(60_000) {
        if now >= revoke_at && revoked_upto == 0 {
            // `vault token revoke`: every token issued so far is dead, and
            // with it the leases it created.
            assert_eq!(issued, 2, "first login, and one after the first refusal");
            assert!(value(&c, "db", "password", now).is_ok());
            revoked_upto = issued;
        }
        let mut queue = c.next_actions(now, &mut rng);
        while let Some(a) = queue.pop() {
            let token_ok = c
                .request_for(a, now)
                .and_then(|r| {
                    r.headers
                        .iter()
                        .find(|(k, _)| *k == "x-vault-token")
                        .map(|(_, v)| v.expose().to_string())
                })
                .and_then(|t| t.strip_prefix("tok-").map(str::to_string))
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n > revoked_upto);
            let denied = (403, r#"{"errors":["permission denied"]}"#.to_string());
            let (status, body) = match a {
                Action::Login => {
                    issued += 1;
                    if now >= revoke_at {
                        logins_after_revocation.push(since(now));
                    }
                    (
                        200,
                        format!(
                            r#"{{"auth":{{"client_token":"tok-{issued}","lease_duration":3600,"renewable":true}}}}"#
                        ),
                    )
                }
                // The KV secret's policy is missing: refused with any token.
                Action::Fetch(1) => denied,
                Action::Fetch(0) if token_ok => (
                    200,
                    format!(
                        r#"{{"lease_id":"database/creds/app/L{issued}","renewable":true,"lease_duration":20,"data":{{"password":"pw-{issued}"}}}}"#
                    ),
                ),
                _ if token_ok => (200, ok_body(a, 1)),
                _ => denied,
            };
            let reply = Reply {
                status,
                retry_after: None,
                body: body.as_bytes(),
            };
            if c.on_reply(a, &reply, now, &mut rng).is_ok() {
                queue.extend(c.follow_up_actions(now, &mut rng));
            }
        }
        now = now.plus_ms(TICK_MS);
    }
    assert!(
        !logins_after_revocation.is_empty(),
        "token revoked at 10 s: no new login in 50 s (the next renew-self is due at ~40 min)"
    );
    // The KV secret, refused with every token, never asks again.
    assert_eq!(
        logins_after_revocation.len(),
        1,
        "one login for the revoked token, not one per refusal: {logins_after_revocation:?}"
    );
    assert!(
        value(&c, "db", "password", at_ms(60_000)).is_ok(),
        "db: {:?}",
        value(&c, "db", "password", at_ms(60_000))
    );
}
