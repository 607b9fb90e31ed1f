use super::*;
use crate::config::parse_json;
use crate::env::SeededRandom;
use crate::vault::config::VaultConfigDto;
use crate::vault::secret_state::REVOKE_GRACE_MS;
use crate::vault::snapshot::{OwnerLease, SharedState};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: u64 = 1_700_000_000_000;

fn at(secs: u64) -> Now {
    Now::from_unix_ms(T0 + secs * 1000)
}

fn env(name: &str) -> Option<String> {
    match name {
        "SA_JWT" => Some("eyJ.sa-jwt-SECRET.sig".into()),
        "ROLE_ID" => Some("role-id-SECRET".into()),
        "WRAPPED" => Some("s.wrapping-SECRET".into()),
        _ => None,
    }
}

fn client(auth: &str) -> VaultClient {
    let json = format!(
        r#"{{"connection": {{"cluster": "vault", "authority": "vault:8200", "namespace": "ns1"}},
             "auth": {auth},
             "secrets": [
               {{"name": "db", "kind": {{"dynamic": {{"path": "database/creds/app", "fields": ["username", "password"]}}}}}},
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

fn k8s() -> VaultClient {
    client(r#"{"kubernetes": {"role": "app", "jwt_env": "SA_JWT"}}"#)
}

fn login_body(ttl: u64, renewable: bool) -> String {
    format!(
        r#"{{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":null,"warnings":null,"auth":{{"client_token":"s.client-SECRET","accessor":"a","policies":["default","app"],"lease_duration":{ttl},"renewable":{renewable},"token_type":"service"}}}}"#
    )
}

fn db_body(password: &str, lease: &str, ttl: u64) -> String {
    format!(
        r#"{{"request_id":"r","lease_id":"{lease}","renewable":true,"lease_duration":{ttl},"data":{{"username":"v-app","password":"{password}"}},"warnings":null,"auth":null}}"#
    )
}

fn kv_body(key: &str, version: u64) -> String {
    format!(
        r#"{{"data":{{"data":{{"key":"{key}"}},"metadata":{{"created_time":"2026-11-02T10:00:00Z","deletion_time":"","destroyed":false,"version":{version}}}}}}}"#
    )
}

fn field(c: &VaultClient, name: &str, f: &str, now: Now) -> Result<String, &'static str> {
    c.secret(name, now)
        .map(|v| v.field(f).unwrap().expose().to_string())
        .map_err(|u| u.code())
}

/// Logs in and loads both secrets at t=0.
fn started(rng: &mut SeededRandom) -> VaultClient {
    let mut c = k8s();
    assert_eq!(c.next_actions(at(0), rng), vec![Action::Login]);
    c.on_response(
        Action::Login,
        200,
        login_body(3600, true).as_bytes(),
        at(0),
        rng,
    )
    .unwrap();
    assert_eq!(
        c.next_actions(at(0), rng),
        vec![Action::Fetch(0), Action::Fetch(1)]
    );
    c.on_response(
        Action::Fetch(0),
        200,
        db_body("pw1", "database/creds/app/L1", 600).as_bytes(),
        at(0),
        rng,
    )
    .unwrap();
    c.on_response(
        Action::Fetch(1),
        200,
        kv_body("k1", 1).as_bytes(),
        at(0),
        rng,
    )
    .unwrap();
    c
}

#[test]
fn startup_logs_in_then_fetches_and_serves_every_secret() {
    let mut rng = SeededRandom(1);
    let mut c = k8s();
    assert_eq!(field(&c, "db", "password", at(0)), Err("secret_not_loaded"));
    assert_eq!(c.next_actions(at(0), &mut rng), vec![Action::Login]);
    assert_eq!(
        c.next_actions(at(0), &mut rng),
        vec![],
        "in flight: not issued twice"
    );
    let login = c.request_for(Action::Login, at(0)).unwrap();
    assert_eq!(login.path, "/v1/auth/kubernetes/login");
    c.on_response(
        Action::Login,
        200,
        login_body(3600, true).as_bytes(),
        at(0),
        &mut rng,
    )
    .unwrap();
    let fetch = c.request_for(Action::Fetch(1), at(0)).unwrap();
    assert_eq!(fetch.path, "/v1/secret/data/web");
    assert!(fetch
        .wire_headers("vault:8200")
        .contains(&("x-vault-token", "s.client-SECRET")));
    assert!(fetch
        .wire_headers("vault:8200")
        .contains(&("x-vault-namespace", "ns1/")));

    let c = started(&mut rng);
    assert_eq!(field(&c, "db", "password", at(1)), Ok("pw1".into()));
    assert_eq!(field(&c, "api", "key", at(1)), Ok("k1".into()));
    assert_eq!(c.expires_in_s("db", at(100)), Some(500));
    assert_eq!(c.expires_in_s("api", at(100)), None);
    assert_eq!(field(&c, "nope", "x", at(1)), Err("secret_not_configured"));
}

#[test]
fn lease_renewal_then_truncation_replaces_the_secret_before_expiry() {
    let mut rng = SeededRandom(2);
    let mut c = started(&mut rng);
    let mut now = at(0);
    // Find the renewal point.
    let renew = loop {
        now = now.plus_ms(1000);
        let a = c.next_actions(now, &mut rng);
        if a.contains(&Action::RenewLease(0)) {
            break now;
        }
        for other in a {
            // KV re-reads: answer with the same version.
            c.on_response(other, 200, kv_body("k1", 1).as_bytes(), now, &mut rng)
                .unwrap();
        }
    };
    assert!(renew >= at(360) && renew <= at(451), "{renew:?}");
    let req = c.request_for(Action::RenewLease(0), renew).unwrap();
    assert_eq!(req.path, "/v1/sys/leases/renew");
    let capped = r#"{"lease_id":"database/creds/app/L1","renewable":true,"lease_duration":100,"warnings":["TTL of \"10m\" exceeded the effective max_ttl of \"1m40s\"; TTL value is capped accordingly"]}"#;
    c.on_response(
        Action::RenewLease(0),
        200,
        capped.as_bytes(),
        renew,
        &mut rng,
    )
    .unwrap();
    let expiry = renew.plus_ms(100_000);
    let mut now = renew;
    let replace = loop {
        now = now.plus_ms(1000);
        assert!(
            now < expiry,
            "replacement must start before the old lease expires"
        );
        let a = c.next_actions(now, &mut rng);
        assert!(!a.contains(&Action::RenewLease(0)));
        if a.contains(&Action::Fetch(0)) {
            break now;
        }
        for other in a {
            c.on_response(other, 200, kv_body("k1", 1).as_bytes(), now, &mut rng)
                .unwrap();
        }
    };
    assert_eq!(field(&c, "db", "password", replace), Ok("pw1".into()));
    c.on_response(
        Action::Fetch(0),
        200,
        db_body("pw2", "database/creds/app/L2", 600).as_bytes(),
        replace,
        &mut rng,
    )
    .unwrap();
    assert_eq!(field(&c, "db", "password", expiry), Ok("pw2".into()));
}

#[test]
fn outage_serves_cached_value_until_its_expiry_then_fails_closed() {
    let mut rng = SeededRandom(3);
    let mut c = started(&mut rng);
    let mut now = at(0);
    let mut failures = 0;
    while now < at(700) {
        now = now.plus_ms(1000);
        for a in c.next_actions(now, &mut rng) {
            let err = c
                .on_response(a, 503, b"no healthy upstream", now, &mut rng)
                .unwrap_err();
            assert_eq!(err.reason(), "vault_unreachable");
            failures += 1;
        }
        let want = if now < at(600) {
            Ok("pw1".to_string())
        } else {
            Err("secret_expired")
        };
        assert_eq!(
            field(&c, "db", "password", now),
            want,
            "at {}",
            (now.unix_ms - T0) / 1000
        );
    }
    assert!(
        failures < 40,
        "backoff keeps the call count low: {failures}"
    );
    assert_eq!(field(&c, "api", "key", now), Ok("k1".into()));
    let u = c.secret("db", now).unwrap_err();
    assert_eq!(u.last_error, Some("vault_unreachable"));
    // Recovery: the next due fetch succeeds and serves again.
    let mut recovered = false;
    while !recovered && now < at(1100) {
        now = now.plus_ms(1000);
        for a in c.next_actions(now, &mut rng) {
            let body = match a {
                Action::Fetch(0) => db_body("pw3", "database/creds/app/L3", 600),
                Action::Fetch(1) => kv_body("k1", 1),
                _ => login_body(3600, true),
            };
            c.on_response(a, 200, body.as_bytes(), now, &mut rng)
                .unwrap();
            recovered |= a == Action::Fetch(0);
        }
    }
    assert!(recovered);
    assert_eq!(field(&c, "db", "password", now), Ok("pw3".into()));
}

#[test]
fn login_failure_is_reported_as_vault_unavailable() {
    let mut rng = SeededRandom(4);
    let mut c = k8s();
    c.next_actions(at(0), &mut rng);
    let err = c
        .on_response(
            Action::Login,
            400,
            br#"{"errors":["invalid role name \"app\""]}"#,
            at(0),
            &mut rng,
        )
        .unwrap_err();
    assert_eq!(err.reason(), "vault_bad_request");
    let u = c.secret("db", at(0)).unwrap_err();
    assert_eq!(
        (u.code(), u.last_error),
        ("vault_unavailable", Some("vault_bad_request"))
    );
    assert_eq!(c.next_actions(at(0), &mut rng), vec![], "backing off");
}

#[test]
fn permission_denied_on_a_read_triggers_a_new_login_and_replacement() {
    let mut rng = SeededRandom(5);
    let mut c = started(&mut rng);
    let mut now = at(50);
    // KV re-read denied (policy changed or token revoked).
    let a = loop {
        let a = c.next_actions(now, &mut rng);
        if !a.is_empty() {
            break a;
        }
        now = now.plus_ms(1000);
    };
    assert_eq!(a, vec![Action::Fetch(1)]);
    c.on_response(
        Action::Fetch(1),
        403,
        br#"{"errors":["permission denied"]}"#,
        now,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(c.next_actions(now, &mut rng), vec![Action::Login]);
    c.on_response(
        Action::Login,
        200,
        login_body(3600, true).as_bytes(),
        now,
        &mut rng,
    )
    .unwrap();
    assert_eq!(c.token_state().generation(), 2);
    // The db lease belongs to the old token: a replacement is due before
    // that token would have expired, even though the lease itself is fine.
    let mut t = now;
    let mut saw_fetch = false;
    while t < at(3600) && !saw_fetch {
        t = t.plus_ms(10_000);
        for a in c.next_actions(t, &mut rng) {
            assert_ne!(
                a,
                Action::RenewLease(0),
                "a lease of the old token is not renewed"
            );
            saw_fetch |= a == Action::Fetch(0);
            let body = if a == Action::Fetch(0) {
                db_body("pw2", "L2", 600)
            } else {
                kv_body("k1", 1)
            };
            c.on_response(a, 200, body.as_bytes(), t, &mut rng).unwrap();
        }
    }
    assert!(saw_fetch);
}

#[test]
fn wrapped_approle_secret_id_is_unwrapped_once_then_used_to_log_in() {
    let mut rng = SeededRandom(6);
    let mut c = client(
        r#"{"approle": {"role_id_env": "ROLE_ID", "secret_id_env": "WRAPPED", "secret_id_wrapped": true}}"#,
    );
    assert_eq!(c.next_actions(at(0), &mut rng), vec![Action::Unwrap]);
    let unwrap = c.request_for(Action::Unwrap, at(0)).unwrap();
    assert_eq!(unwrap.path, "/v1/sys/wrapping/unwrap");
    assert!(unwrap
        .wire_headers("v")
        .contains(&("x-vault-token", "s.wrapping-SECRET")));
    let body = r#"{"data":{"secret_id":"real-secret-id-SECRET","secret_id_accessor":"x"}}"#;
    c.on_response(Action::Unwrap, 200, body.as_bytes(), at(0), &mut rng)
        .unwrap();
    assert_eq!(c.next_actions(at(0), &mut rng), vec![Action::Login]);
    let login = c.request_for(Action::Login, at(0)).unwrap();
    let sent: serde_json::Value = serde_json::from_slice(login.body_bytes()).unwrap();
    assert_eq!(sent["secret_id"], "real-secret-id-SECRET");
    assert_eq!(sent["role_id"], "role-id-SECRET");
    assert!(!format!("{c:?} {login:?}").contains("SECRET"));
}

#[test]
fn lost_calls_time_out_and_late_answers_are_ignored() {
    let mut rng = SeededRandom(7);
    let mut c = k8s();
    assert_eq!(c.next_actions(at(0), &mut rng), vec![Action::Login]);
    // No answer within timeout (5 s) + grace (5 s): failed as a timeout.
    assert_eq!(c.next_actions(at(11), &mut rng), vec![]);
    assert_eq!(
        c.secret("db", at(11)).unwrap_err().last_error,
        Some("vault_timeout")
    );
    // The late answer does nothing.
    assert_eq!(
        c.on_response(
            Action::Login,
            200,
            login_body(3600, true).as_bytes(),
            at(12),
            &mut rng
        ),
        Ok(())
    );
    assert!(c.token_state().token(at(12)).is_none());
    // Dispatch failures are failures too.
    let a = c.next_actions(at(20), &mut rng);
    assert_eq!(a, vec![Action::Login]);
    c.on_dispatch_failed(Action::Login, &VaultError::Unreachable, at(20), &mut rng);
    assert_eq!(c.token_state().last_error(), Some("vault_unreachable"));
}

#[test]
fn snapshots_let_other_vms_serve_the_same_values_until_expiry() {
    let mut rng = SeededRandom(8);
    let owner = started(&mut rng);
    let shared = SharedState {
        owner: Some(OwnerLease::claim("vm-1", at(0), 30_000)),
        secrets: owner.snapshots(),
        failures: Vec::new(),
    };
    let bytes = shared.to_bytes().unwrap();
    assert!(
        !format!("{shared:?}").contains("pw1"),
        "Debug stays redacted"
    );
    let read = SharedState::from_bytes(&bytes).unwrap();
    assert_eq!(read, shared);
    assert!(read.owner.as_ref().unwrap().may_fetch("vm-1", at(1)));
    assert!(!read.owner.as_ref().unwrap().may_fetch("vm-2", at(1)));
    assert!(read.owner.as_ref().unwrap().may_fetch("vm-2", at(30)));

    let mut worker = k8s();
    worker.adopt(&read.secrets, at(1), &mut rng);
    assert_eq!(field(&worker, "db", "password", at(1)), Ok("pw1".into()));
    assert_eq!(field(&worker, "api", "key", at(1)), Ok("k1".into()));
    assert_eq!(
        field(&worker, "db", "password", at(600)),
        Err("secret_expired")
    );
    // An older snapshot does not roll back a newer value.
    let mut older = read.secrets.clone();
    older[1].fetched_at_ms -= 1;
    older[1].values = SecretValue::default();
    worker.adopt(&older, at(2), &mut rng);
    assert_eq!(field(&worker, "api", "key", at(2)), Ok("k1".into()));
    assert!(SharedState::from_bytes(b"{garbage").is_err());
}

#[test]
fn debug_of_client_never_shows_tokens_or_values() {
    let mut rng = SeededRandom(9);
    let c = started(&mut rng);
    let dbg = format!("{c:?}");
    for s in ["SECRET", "pw1", "k1\""] {
        assert!(!dbg.contains(s), "{s} in {dbg}");
    }
}

#[test]
fn per_user_login_uses_the_configured_mount_and_role() {
    assert!(
        k8s().per_user_login(&Secret::new("eyJ.user")).is_none(),
        "not configured"
    );
    let json = r#"{"connection": {"cluster": "vault", "authority": "vault:8200"},
        "auth": {"kubernetes": {"role": "app", "jwt_env": "SA_JWT"}},
        "per_user_jwt": {"mount": "oidc", "role": "user"}}"#;
    let c = VaultClient::new(
        parse_json::<VaultConfigDto>(json.as_bytes())
            .unwrap()
            .compile(&env)
            .unwrap(),
    );
    let r = c.per_user_login(&Secret::new("eyJ.user-SECRET")).unwrap();
    assert_eq!(r.path, "/v1/auth/oidc/login");
    let sent: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    assert_eq!(
        (sent["role"].as_str(), sent["jwt"].as_str()),
        (Some("user"), Some("eyJ.user-SECRET"))
    );
}

/// Steps `c` second by second from `from` until `want` is due, answering
/// any other call (KV re-reads) with the same KV version.
fn run_until(c: &mut VaultClient, from: Now, want: Action, rng: &mut SeededRandom) -> Now {
    let mut now = from;
    for _ in 0..2000 {
        now = now.plus_ms(1000);
        let due = c.next_actions(now, rng);
        if due.contains(&want) {
            return now;
        }
        for other in due {
            c.on_response(other, 200, kv_body("k1", 1).as_bytes(), now, rng)
                .unwrap();
        }
    }
    panic!("{want:?} never became due");
}

#[test]
fn renewed_lease_is_adopted_by_other_vms_so_they_serve_past_the_first_expiry() {
    let mut rng = SeededRandom(10);
    let mut owner = started(&mut rng);
    let mut worker = k8s();
    worker.adopt(&owner.snapshots(), at(1), &mut rng);
    let first = owner.snapshots();
    let renew = run_until(&mut owner, at(0), Action::RenewLease(0), &mut rng);
    let renewed = r#"{"lease_id":"database/creds/app/L1","renewable":true,"lease_duration":600}"#;
    owner
        .on_response(
            Action::RenewLease(0),
            200,
            renewed.as_bytes(),
            renew,
            &mut rng,
        )
        .unwrap();
    let snaps = owner.snapshots();
    assert_eq!(
        snaps[0].fetched_at_ms, first[0].fetched_at_ms,
        "a renewal is the same fetch"
    );
    assert!(snaps[0].expires_at_ms > first[0].expires_at_ms);
    worker.adopt(&snaps, renew, &mut rng);
    // The original lease would have expired at 600 s.
    assert_eq!(field(&worker, "db", "password", at(600)), Ok("pw1".into()));
    // A stale copy (same fetch, earlier expiry) does not shorten it again.
    worker.adopt(&first, at(601), &mut rng);
    assert_eq!(field(&worker, "db", "password", at(602)), Ok("pw1".into()));
}

/// Truncated renewal, then a replacement lease L2: returns when L2 arrived.
fn replace_db_lease(c: &mut VaultClient, rng: &mut SeededRandom) -> Now {
    let renew = run_until(c, at(0), Action::RenewLease(0), rng);
    let capped = r#"{"lease_id":"database/creds/app/L1","renewable":true,"lease_duration":100,"warnings":["TTL of \"10m\" exceeded the effective max_ttl of \"1m40s\"; TTL value is capped accordingly"]}"#;
    c.on_response(Action::RenewLease(0), 200, capped.as_bytes(), renew, rng)
        .unwrap();
    let replace = run_until(c, renew, Action::Fetch(0), rng);
    c.on_response(
        Action::Fetch(0),
        200,
        db_body("pw2", "database/creds/app/L2", 600).as_bytes(),
        replace,
        rng,
    )
    .unwrap();
    replace
}

#[test]
fn replaced_lease_is_revoked_once_after_a_grace_period() {
    let mut rng = SeededRandom(11);
    let mut c = started(&mut rng);
    let replaced = replace_db_lease(&mut c, &mut rng);
    assert_eq!(
        c.secret_state("db").unwrap().pending_revocations(),
        1,
        "old lease queued"
    );
    // Other VMs may still use the old credential for a moment.
    let early = c.next_actions(replaced.plus_ms(1000), &mut rng);
    assert!(!early.contains(&Action::RevokeLease(0)), "{early:?}");
    let due = replaced.plus_ms(REVOKE_GRACE_MS);
    assert_eq!(c.next_actions(due, &mut rng), vec![Action::RevokeLease(0)]);
    let req = c.request_for(Action::RevokeLease(0), due).unwrap();
    assert_eq!(req.path, "/v1/sys/leases/revoke/database/creds/app/L1");
    assert_eq!(req.body_bytes(), b"");
    c.on_response(Action::RevokeLease(0), 204, b"", due, &mut rng)
        .unwrap();
    // Once only, and the new lease keeps serving.
    let later = c.next_actions(due.plus_ms(1000), &mut rng);
    assert!(!later.contains(&Action::RevokeLease(0)), "{later:?}");
    assert_eq!(field(&c, "db", "password", due), Ok("pw2".into()));
}

#[test]
fn failed_revocation_is_not_retried_and_neither_backs_off_nor_logs_in_again() {
    // status, body: each answer leaves the client as before.
    let cases: &[(u16, &[u8])] = &[
        (403, br#"{"errors":["permission denied"]}"#),
        (503, b"no healthy upstream"),
        (400, br#"{"errors":["lease not found"]}"#),
    ];
    for (status, body) in cases {
        let mut rng = SeededRandom(12);
        let mut c = started(&mut rng);
        let replaced = replace_db_lease(&mut c, &mut rng);
        let due = replaced.plus_ms(REVOKE_GRACE_MS);
        assert_eq!(c.next_actions(due, &mut rng), vec![Action::RevokeLease(0)]);
        assert!(c
            .on_response(Action::RevokeLease(0), *status, body, due, &mut rng)
            .is_err());
        let next = c.next_actions(due.plus_ms(1000), &mut rng);
        assert!(
            !next.contains(&Action::Login) && !next.contains(&Action::RevokeLease(0)),
            "{status}: {next:?}"
        );
        assert_eq!(c.secret_state("db").unwrap().failures(), 0, "{status}");
        assert_eq!(field(&c, "db", "password", due), Ok("pw2".into()));
    }
}

#[test]
fn lease_that_expired_before_its_revocation_is_not_revoked() {
    let mut rng = SeededRandom(13);
    let mut c = started(&mut rng);
    let replaced = replace_db_lease(&mut c, &mut rng);
    // No tick until well after the old lease (100 s from its renewal) is gone.
    let late = replaced.plus_ms(200_000);
    let due = c.next_actions(late, &mut rng);
    assert!(!due.contains(&Action::RevokeLease(0)), "{due:?}");
    assert_eq!(c.secret_state("db").unwrap().pending_revocations(), 0);
}

#[test]
fn a_new_login_after_a_denied_read_retries_the_secret_without_waiting_out_its_backoff() {
    let mut rng = SeededRandom(14);
    let mut c = started(&mut rng);
    // Outage: the KV re-read fails a few times, backing off further each time.
    let mut now = run_until(&mut c, at(0), Action::Fetch(1), &mut rng);
    for _ in 0..4 {
        c.on_response(Action::Fetch(1), 503, b"no healthy upstream", now, &mut rng)
            .unwrap_err();
        now = run_until(&mut c, now, Action::Fetch(1), &mut rng);
    }
    // Vault is back but lost our token: 403, new login, and the read goes out at once.
    c.on_response(
        Action::Fetch(1),
        403,
        br#"{"errors":["permission denied"]}"#,
        now,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(c.next_actions(now, &mut rng), vec![Action::Login]);
    c.on_response(
        Action::Login,
        200,
        login_body(3600, true).as_bytes(),
        now,
        &mut rng,
    )
    .unwrap();
    assert!(c.next_actions(now, &mut rng).contains(&Action::Fetch(1)));
}

#[test]
fn no_secret_call_goes_out_with_the_old_token_while_a_relogin_is_under_way() {
    let mut rng = SeededRandom(15);
    let mut c = started(&mut rng);
    let now = run_until(&mut c, at(0), Action::Fetch(1), &mut rng);
    c.on_response(
        Action::Fetch(1),
        403,
        br#"{"errors":["permission denied"]}"#,
        now,
        &mut rng,
    )
    .unwrap_err();
    // The re-read's backoff ends while the login is still unanswered.
    let later = now.plus_ms(3000);
    assert_eq!(c.next_actions(now, &mut rng), vec![Action::Login]);
    assert_eq!(c.next_actions(later, &mut rng), vec![]);
    c.on_response(
        Action::Login,
        200,
        login_body(3600, true).as_bytes(),
        later,
        &mut rng,
    )
    .unwrap();
    assert_eq!(c.next_actions(later, &mut rng), vec![Action::Fetch(1)]);
}

/// `vault kv metadata delete` + `vault kv put` (all versions purged, e.g.
/// after a leak; or the secret re-created on a migrated/restored cluster):
/// KV v2 numbers the new secret's versions from 1 again. The new value,
/// written later (`created_time`), must replace the old one; it is not a
/// lagging standby's older version.
#[test]
fn kv_secret_recreated_after_metadata_delete_replaces_the_purged_value() {
    let mut rng = SeededRandom(21);
    let mut c = started(&mut rng);
    let v5 = r#"{"data":{"data":{"key":"leaked"},"metadata":{"created_time":"2026-11-02T10:00:00Z","deletion_time":"","destroyed":false,"version":5}}}"#;
    let refresh = run_until(&mut c, at(0), Action::Fetch(1), &mut rng);
    c.on_response(Action::Fetch(1), 200, v5.as_bytes(), refresh, &mut rng)
        .unwrap();
    assert_eq!(field(&c, "api", "key", refresh), Ok("leaked".into()));
    // Purged and written again an hour later: version 1.
    let recreated = r#"{"data":{"data":{"key":"rotated"},"metadata":{"created_time":"2026-11-02T11:00:00Z","deletion_time":"","destroyed":false,"version":1}}}"#;
    let mut now = refresh;
    for _ in 0..3 {
        let next = now.plus_ms(1000);
        now = run_until(&mut c, next, Action::Fetch(1), &mut rng);
        assert_eq!(
            c.on_response(Action::Fetch(1), 200, recreated.as_bytes(), now, &mut rng),
            Ok(()),
            "counted as a successful fetch"
        );
    }
    assert_eq!(
        field(&c, "api", "key", now),
        Ok("rotated".into()),
        "three successful reads of the re-created secret, still serving the purged value"
    );
}

/// A lease renewal still in flight when a new login goes out (a slow
/// database plugin renewing the user; the login is quick). The lease belongs
/// to the old token and dies with it, so it must still be replaced before
/// that token expires, whatever the late renewal answer says.
#[test]
fn a_late_lease_renewal_answer_does_not_cancel_the_replacement_scheduled_by_a_new_login() {
    let mut rng = SeededRandom(22);
    let mut c = started(&mut rng);
    let renew = run_until(&mut c, at(0), Action::RenewLease(0), &mut rng);
    // Another secret's read was refused (or the token is due for a new
    // login): the next tick logs in while the renewal is still in flight.
    c.token.request_relogin(renew);
    let next = renew.plus_ms(1000);
    assert!(c.next_actions(next, &mut rng).contains(&Action::Login));
    let new_token =
        r#"{"auth":{"client_token":"s.second-SECRET","lease_duration":3600,"renewable":true}}"#;
    c.on_response(Action::Login, 200, new_token.as_bytes(), next, &mut rng)
        .unwrap();
    let renewed = r#"{"lease_id":"database/creds/app/L1","renewable":true,"lease_duration":600}"#;
    c.on_response(
        Action::RenewLease(0),
        200,
        renewed.as_bytes(),
        next,
        &mut rng,
    )
    .unwrap();
    // The first token was logged in at 0 with a 3600 s TTL: lease L1 ends
    // with it. Drive the client (healthy Vault) past that point.
    let mut now = next;
    let mut replaced_at = None;
    while now < at(3_700) {
        now = now.plus_ms(1000);
        for a in c.next_actions(now, &mut rng) {
            let body = match a {
                Action::Fetch(0) => {
                    replaced_at.get_or_insert(now);
                    db_body("pw2", "database/creds/app/L2", 600)
                }
                Action::Fetch(1) => kv_body("k1", 1),
                Action::RenewLease(_) => renewed.to_string(),
                Action::RenewToken => {
                    r#"{"auth":{"lease_duration":3600,"renewable":true}}"#.to_string()
                }
                Action::RevokeLease(_) => String::new(),
                other => panic!("unexpected {other:?}"),
            };
            c.on_response(a, 200, body.as_bytes(), now, &mut rng)
                .unwrap();
        }
        assert!(
            field(&c, "db", "password", now).is_ok(),
            "db unavailable at {}s (replacement fetched at {:?})",
            (now.unix_ms - at(0).unix_ms) / 1000,
            replaced_at.map(|t| (t.unix_ms - at(0).unix_ms) / 1000)
        );
    }
    let replaced_at = replaced_at.expect("a replacement was fetched");
    assert!(
        replaced_at.plus_ms(3_000) <= at(3_600),
        "replaced only at {}s, when the old token (and its lease) ended",
        (replaced_at.unix_ms - at(0).unix_ms) / 1000
    );
}

/// A dynamic read sent with the first token is answered after a new login
/// (slow database plugin creating the user; the login is quick). Vault ties
/// the lease to the token that read it: it is revoked when that first token
/// ends. The plugin must not serve it past then as if it belonged to the
/// new token.
#[test]
fn a_lease_read_with_the_old_token_but_answered_after_a_new_login_dies_with_the_old_token() {
    let mut rng = SeededRandom(23);
    let mut c = k8s();
    assert_eq!(c.next_actions(at(0), &mut rng), vec![Action::Login]);
    c.on_response(
        Action::Login,
        200,
        login_body(3600, true).as_bytes(),
        at(0),
        &mut rng,
    )
    .unwrap();
    // The reads go out with the first token (it ends at 3600 s)...
    assert_eq!(
        c.next_actions(at(0), &mut rng),
        vec![Action::Fetch(0), Action::Fetch(1)]
    );
    let sent_with = c.request_for(Action::Fetch(0), at(0)).unwrap();
    assert!(sent_with
        .wire_headers("vault:8200")
        .contains(&("x-vault-token", "s.client-SECRET")));
    // ...a new login (e.g. after a refusal elsewhere) is answered first...
    c.token.request_relogin(at(1));
    assert!(c.next_actions(at(1), &mut rng).contains(&Action::Login));
    let second =
        r#"{"auth":{"client_token":"s.second-SECRET","lease_duration":3600,"renewable":true}}"#;
    c.on_response(Action::Login, 200, second.as_bytes(), at(1), &mut rng)
        .unwrap();
    // ...then the database answers the read made with the first token.
    c.on_response(
        Action::Fetch(0),
        200,
        db_body("pw1", "database/creds/app/L1", 600).as_bytes(),
        at(2),
        &mut rng,
    )
    .unwrap();
    c.on_response(
        Action::Fetch(1),
        200,
        kv_body("k1", 1).as_bytes(),
        at(2),
        &mut rng,
    )
    .unwrap();
    // Vault: L1 lives while the first token does (renewals work until
    // 3600 s), then it is revoked with that token.
    let mut now = at(2);
    while now < at(3_700) {
        now = now.plus_ms(1000);
        for a in c.next_actions(now, &mut rng) {
            let (status, body) = match a {
                Action::Fetch(0) => (200, db_body("pw2", "database/creds/app/L2", 600)),
                Action::Fetch(1) => (200, kv_body("k1", 1)),
                Action::RenewLease(0)
                    if c.secrets[0].lease().map(|(id, _)| id) == Some("database/creds/app/L1")
                        && now >= at(3_600) =>
                {
                    (400, r#"{"errors":["lease not found"]}"#.to_string())
                }
                Action::RenewLease(0) => {
                    let id = c.secrets[0].lease().unwrap().0.to_string();
                    (
                        200,
                        format!(r#"{{"lease_id":"{id}","renewable":true,"lease_duration":600}}"#),
                    )
                }
                Action::RenewToken => (
                    200,
                    r#"{"auth":{"lease_duration":3600,"renewable":true}}"#.to_string(),
                ),
                _ => (204, String::new()),
            };
            let _ = c.on_response(a, status, body.as_bytes(), now, &mut rng);
        }
        if now >= at(3_600) {
            assert_ne!(
                field(&c, "db", "password", now),
                Ok("pw1".into()),
                "at {}s: serving the lease Vault revoked with the first token at 3600s",
                (now.unix_ms - at(0).unix_ms) / 1000
            );
        }
    }
}

/// A read refused (403) after a login replaced the token it carried says
/// nothing about the new token: it is retried with the new token at once
/// and asks for no further login.
#[test]
fn a_refusal_of_a_read_sent_with_a_replaced_token_retries_with_the_new_one() {
    let mut rng = SeededRandom(24);
    let mut c = started(&mut rng);
    let refresh = run_until(&mut c, at(0), Action::Fetch(1), &mut rng);
    c.token.request_relogin(refresh);
    assert!(c.next_actions(refresh, &mut rng).contains(&Action::Login));
    let second =
        r#"{"auth":{"client_token":"s.second-SECRET","lease_duration":3600,"renewable":true}}"#;
    c.on_response(Action::Login, 200, second.as_bytes(), refresh, &mut rng)
        .unwrap();
    let denied = br#"{"errors":["permission denied"]}"#;
    assert!(c
        .on_response(Action::Fetch(1), 403, denied, refresh, &mut rng)
        .is_err());
    assert_eq!(c.token.generation(), 2);
    assert_eq!(
        c.token.due(refresh.plus_ms(1000)),
        None,
        "no login for a refusal of the replaced token"
    );
    let next = refresh.plus_ms(1000);
    assert_eq!(c.next_actions(next, &mut rng), vec![Action::Fetch(1)]);
    let retry = c.request_for(Action::Fetch(1), next).unwrap();
    assert!(retry
        .wire_headers("vault:8200")
        .contains(&("x-vault-token", "s.second-SECRET")));
}

/// The owner's KV `created_time` travels in the shared record, so a VM that
/// takes over as owner still orders a re-created secret after the purged
/// one; records of older builds (without it) are still read.
#[test]
fn snapshots_carry_the_kv_created_time_and_older_records_still_read() {
    let mut rng = SeededRandom(25);
    let owner = started(&mut rng);
    let snaps = owner.snapshots();
    // kv_body's 2026-11-02T10:00:00Z.
    assert_eq!(snaps[1].created_ms, Some(1_793_613_600_000));
    assert_eq!(snaps[0].created_ms, None, "dynamic secrets have none");
    let old = br#"{"owner":null,"secrets":[{"name":"api","version":5,"fetched_at_ms":1,"values":{"key":"k5"}}]}"#;
    let read = SharedState::from_bytes(old).unwrap();
    assert_eq!(
        (read.secrets[0].version, read.secrets[0].created_ms),
        (Some(5), None)
    );
}
