use super::*;
use crate::env::SeededRandom;
use crate::secret::Secret;
use crate::vec_map::VecMap;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: u64 = 1_700_000_000_000;

fn at(secs: u64) -> Now {
    Now::from_unix_ms(T0 + secs * 1000)
}

fn value(password: &str) -> SecretValue {
    SecretValue::new(VecMap::from_iter([(
        "password".to_string(),
        Secret::new(password),
    )]))
}

fn dynamic(password: &str, lease: &str, ttl_s: u64, renewable: bool) -> Fetched {
    Fetched::Dynamic(DynamicSecret {
        lease_id: Some(lease.into()),
        renewable,
        lease_duration_s: ttl_s,
        value: value(password),
        valid_for_s: None,
    })
}

/// An identity token: no lease, valid for `ttl_s` from the fetch.
fn identity_token(password: &str, ttl_s: u64) -> Fetched {
    Fetched::Dynamic(DynamicSecret {
        lease_id: None,
        renewable: false,
        lease_duration_s: 0,
        value: value(password),
        valid_for_s: Some(ttl_s),
    })
}

fn kv(password: &str, version: u64) -> Fetched {
    Fetched::Kv2(Kv2Secret {
        version,
        created_ms: None,
        value: value(password),
    })
}

fn password(s: &SecretState, now: Now) -> Result<String, &'static str> {
    s.current(now)
        .map(|v| v.field("password").unwrap().expose().to_string())
        .map_err(|u| u.code())
}

fn first_due(s: &SecretState, from: Now, until: Now, want: SecretAction) -> Option<Now> {
    let mut t = from;
    while t <= until {
        if s.due(t) == Some(want) {
            return Some(t);
        }
        t = t.plus_ms(1000);
    }
    None
}

const NO_TOKEN_LIMIT: (u64, Option<Now>) = (1, None);

#[test]
fn a_secret_is_fetched_at_start_and_unavailable_until_then() {
    let s = SecretState::new(60_000);
    assert_eq!(s.due(at(0)), Some(SecretAction::Fetch));
    assert_eq!(password(&s, at(0)), Err("secret_not_loaded"));
}

#[test]
fn dynamic_lease_is_renewed_within_jitter_bounds() {
    for seed in 0..50 {
        let mut rng = SeededRandom(seed);
        let mut s = SecretState::new(60_000);
        s.on_fetched(
            dynamic("p1", "db/creds/app/L1", 600, true),
            NO_TOKEN_LIMIT,
            at(0),
            at(1),
            &mut rng,
        );
        assert_eq!(password(&s, at(1)), Ok("p1".into()));
        assert_eq!(s.lease(), Some(("db/creds/app/L1", 600)));
        let renew = first_due(&s, at(1), at(600), SecretAction::Renew).unwrap();
        assert!(
            renew >= at(360) && renew <= at(451),
            "seed {seed}: {renew:?}"
        );
        assert_eq!(s.expires_in_s(at(100)), Some(500));
    }
}

#[test]
fn truncated_renewal_fetches_a_new_secret_before_the_old_lease_expires() {
    let mut rng = SeededRandom(1);
    let mut s = SecretState::new(60_000);
    s.on_fetched(
        dynamic("old", "L1", 600, true),
        NO_TOKEN_LIMIT,
        at(0),
        at(0),
        &mut rng,
    );
    // Vault caps the renewal at max_ttl: 100 s left.
    s.on_renewed(
        Renewal {
            lease_duration_s: 100,
            renewable: true,
            truncated: true,
        },
        at(400),
        at(400),
        &mut rng,
    );
    assert_eq!(
        first_due(&s, at(400), at(500), SecretAction::Renew),
        None,
        "no more renewals"
    );
    let replace = first_due(&s, at(400), at(500), SecretAction::Fetch).unwrap();
    assert!(replace >= at(480) && replace <= at(491), "{replace:?}");
    assert_eq!(
        password(&s, replace),
        Ok("old".into()),
        "old value serves meanwhile"
    );
    s.on_fetched(
        dynamic("new", "L2", 600, true),
        NO_TOKEN_LIMIT,
        replace,
        replace,
        &mut rng,
    );
    assert_eq!(password(&s, at(520)), Ok("new".into()));
    assert_eq!(s.lease(), Some(("L2", 600)));
}

#[test]
fn failed_renewal_switches_to_replacement_and_lost_lease_is_replaced_at_once() {
    // (error, earliest replacement, latest replacement) after a failure at 400 s of a 600 s lease.
    let cases = [
        (VaultError::Unreachable, 400 + 160, 400 + 181),
        (
            VaultError::ServerError {
                status: 500,
                message: String::new(),
            },
            400 + 160,
            400 + 181,
        ),
        (VaultError::BadRequest("lease not found".into()), 400, 402),
    ];
    for (err, lo, hi) in cases {
        let mut rng = SeededRandom(2);
        let mut s = SecretState::new(60_000);
        s.on_fetched(
            dynamic("old", "L1", 600, true),
            NO_TOKEN_LIMIT,
            at(0),
            at(0),
            &mut rng,
        );
        s.on_failed(SecretAction::Renew, &err, at(400), &mut rng);
        let fetch = first_due(&s, at(400), at(600), SecretAction::Fetch).unwrap();
        assert!(fetch >= at(lo) && fetch <= at(hi), "{err:?}: {fetch:?}");
        assert_eq!(first_due(&s, at(400), at(600), SecretAction::Renew), None);
        assert_eq!(password(&s, at(599)), Ok("old".into()), "{err:?}");
    }
}

#[test]
fn an_expired_value_is_never_served() {
    let mut rng = SeededRandom(3);
    let mut s = SecretState::new(60_000);
    s.on_fetched(
        dynamic("p", "L1", 600, false),
        NO_TOKEN_LIMIT,
        at(0),
        at(2),
        &mut rng,
    );
    assert_eq!(password(&s, at(599)), Ok("p".into()));
    // Lease counted from when the request was sent (0), not answered (2).
    assert_eq!(password(&s, at(600)), Err("secret_expired"));
    s.on_failed(
        SecretAction::Fetch,
        &VaultError::Sealed("Vault is sealed".into()),
        at(600),
        &mut rng,
    );
    let err = s.current(at(601)).unwrap_err();
    assert_eq!(
        (err.code(), err.last_error),
        ("secret_expired", Some("vault_sealed"))
    );
    assert_eq!(s.expires_in_s(at(610)), Some(-10));
}

#[test]
fn non_renewable_lease_is_replaced_at_80_to_90_percent() {
    let mut rng = SeededRandom(4);
    let mut s = SecretState::new(60_000);
    s.on_fetched(
        dynamic("p", "L1", 1000, false),
        NO_TOKEN_LIMIT,
        at(0),
        at(0),
        &mut rng,
    );
    let fetch = first_due(&s, at(0), at(1000), SecretAction::Fetch).unwrap();
    assert!(fetch >= at(800) && fetch <= at(901), "{fetch:?}");
}

#[test]
fn fetch_failures_back_off_exponentially_then_recover() {
    let mut rng = SeededRandom(5);
    let mut s = SecretState::new(60_000);
    let mut now = at(0);
    let mut gaps = vec![];
    for _ in 0..11 {
        s.on_failed(SecretAction::Fetch, &VaultError::Unreachable, now, &mut rng);
        assert_eq!(password(&s, now), Err("vault_unavailable"));
        let next = first_due(&s, now, now.plus_ms(400_000), SecretAction::Fetch).unwrap();
        gaps.push((next.unix_ms - now.unix_ms) / 1000);
        now = next;
    }
    assert_eq!(s.failures(), 11);
    for (i, g) in gaps.iter().enumerate() {
        let ceiling = RETRY_BACKOFF.ceiling_ms(i as u32 + 1) / 1000;
        assert!(
            *g >= ceiling / 2 && *g <= ceiling + 1,
            "failure {}: {g}s vs {ceiling}s",
            i + 1
        );
    }
    assert!(
        gaps.windows(2).take(7).all(|w| w[1] >= w[0]),
        "grows: {gaps:?}"
    );
    s.on_fetched(kv("p", 1), NO_TOKEN_LIMIT, now, now, &mut rng);
    assert_eq!(password(&s, now), Ok("p".into()));
    assert_eq!((s.failures(), s.last_error()), (0, None));
}

#[test]
fn kv_is_reread_every_interval_and_only_a_newer_version_replaces_it() {
    let mut rng = SeededRandom(6);
    let mut s = SecretState::new(60_000);
    s.on_fetched(kv("v3", 3), NO_TOKEN_LIMIT, at(0), at(0), &mut rng);
    assert_eq!(s.expires_in_s(at(0)), None, "KV values have no lease");
    let refresh = first_due(&s, at(0), at(120), SecretAction::Fetch).unwrap();
    assert!(refresh >= at(54) && refresh <= at(61), "{refresh:?}");
    // (version read, expected value)
    for (version, want) in [(2, "v3"), (3, "v3"), (4, "v4"), (4, "v4")] {
        s.on_fetched(
            kv(&format!("v{version}"), version),
            NO_TOKEN_LIMIT,
            refresh,
            refresh,
            &mut rng,
        );
        assert_eq!(
            password(&s, refresh),
            Ok(want.into()),
            "read version {version}"
        );
    }
    assert_eq!(s.version(), Some(4));
    assert_eq!(s.due(refresh), None, "rescheduled after each read");
    assert_eq!(
        password(&s, at(1_000_000)),
        Ok("v4".into()),
        "KV keeps serving while Vault is away"
    );
}

#[test]
fn kv_reads_are_ordered_by_created_time_then_version() {
    let kv_at = |version: u64, created: Option<u64>| {
        Fetched::Kv2(Kv2Secret {
            version,
            created_ms: created,
            value: value(&format!("v{version}@{created:?}")),
        })
    };
    // (held: version, created_time; read: version, created_time; replaces?)
    let cases = [
        // Lagging standby: an older version written earlier.
        ((5, Some(500)), (4, Some(400)), false),
        // Re-created after `kv metadata delete`: versions restart at 1, later.
        ((5, Some(500)), (1, Some(900)), true),
        // A lower version written at the same time or earlier is not.
        ((5, Some(500)), (1, Some(500)), false),
        ((5, Some(500)), (1, Some(100)), false),
        // A standby still serving the purged secret after its re-creation.
        ((1, Some(900)), (5, Some(500)), false),
        // Newer or the same version, newer or the same time.
        ((5, Some(500)), (6, Some(600)), true),
        ((5, Some(500)), (5, Some(500)), true),
        // No created_time on either side: the version alone decides.
        ((5, None), (1, Some(900)), false),
        ((5, Some(500)), (1, None), false),
        ((5, None), (6, None), true),
    ];
    let mut rng = SeededRandom(16);
    for ((held_v, held_c), (read_v, read_c), replaces) in cases {
        let mut s = SecretState::new(60_000);
        s.on_fetched(
            kv_at(held_v, held_c),
            NO_TOKEN_LIMIT,
            at(0),
            at(0),
            &mut rng,
        );
        s.on_fetched(
            kv_at(read_v, read_c),
            NO_TOKEN_LIMIT,
            at(1),
            at(1),
            &mut rng,
        );
        let want = if replaces { read_v } else { held_v };
        assert_eq!(
            s.version(),
            Some(want),
            "held v{held_v}@{held_c:?}, read v{read_v}@{read_c:?}"
        );
        assert_eq!(s.due(at(1)), None, "rescheduled either way");
    }
}

#[test]
fn a_refused_secret_asks_for_one_login_until_it_succeeds_again() {
    let mut rng = SeededRandom(17);
    let mut s = SecretState::new(60_000);
    let denied = VaultError::PermissionDenied("permission denied".into());
    // Refused with token 1: log in; refused twice with token 1: same login.
    assert!(s.wants_relogin(1));
    assert!(s.wants_relogin(1));
    // Refused again with the token that login brought: the policy, not the token.
    assert!(!s.wants_relogin(2));
    assert!(!s.wants_relogin(3));
    // Other failures do not end the streak...
    s.on_failed(SecretAction::Fetch, &VaultError::Timeout, at(1), &mut rng);
    assert!(!s.wants_relogin(3));
    s.on_failed(SecretAction::Fetch, &denied, at(2), &mut rng);
    // ...a success does: refused later (token revoked), it asks again.
    s.on_fetched(kv("v1", 1), NO_TOKEN_LIMIT, at(3), at(3), &mut rng);
    assert!(s.wants_relogin(3));
}

#[test]
fn a_renewal_of_a_lease_whose_token_was_replaced_keeps_the_replacement() {
    let mut rng = SeededRandom(18);
    let mut s = SecretState::new(60_000);
    s.on_fetched(
        dynamic("p", "L1", 600, true),
        (1, Some(at(300))),
        at(0),
        at(0),
        &mut rng,
    );
    // A new login while the renewal is in flight: L1 ends with token 1 at 300 s.
    s.sync_token(2, Some(at(4000)), at(100), &mut rng);
    let replace = first_due(&s, at(100), at(300), SecretAction::Fetch).unwrap();
    s.on_renewed(
        Renewal {
            lease_duration_s: 600,
            renewable: true,
            truncated: false,
        },
        at(99),
        at(101),
        &mut rng,
    );
    assert_eq!(
        first_due(&s, at(101), at(300), SecretAction::Fetch),
        Some(replace),
        "the renewal answered late must not cancel the replacement"
    );
    assert_eq!(first_due(&s, at(101), at(300), SecretAction::Renew), None);
    assert_eq!(s.expires_in_s(at(101)), Some(199), "ends with token 1");
}

#[test]
fn lease_dies_with_its_token_and_is_replaced_after_a_new_login() {
    let mut rng = SeededRandom(7);
    let mut s = SecretState::new(60_000);
    // Token generation 1 expires at 300 s; the lease would live 600 s.
    s.on_fetched(
        dynamic("p", "L1", 600, true),
        (1, Some(at(300))),
        at(0),
        at(0),
        &mut rng,
    );
    assert_eq!(s.expires_in_s(at(0)), Some(300));
    // The same token renewed to 900 s: the lease may live its full 600 s.
    s.sync_token(1, Some(at(900)), at(200), &mut rng);
    assert_eq!(s.expires_in_s(at(200)), Some(400));
    // A new login (generation 2): the lease ends with token 1 at 900 s.
    s.sync_token(2, Some(at(2000)), at(500), &mut rng);
    assert_eq!(s.expires_in_s(at(500)), Some(100));
    let fetch = first_due(&s, at(500), at(600), SecretAction::Fetch).unwrap();
    assert!(fetch >= at(580) && fetch <= at(591), "{fetch:?}");
    assert_eq!(first_due(&s, at(500), at(600), SecretAction::Renew), None);
    // Repeated syncs do not keep pulling the replacement earlier.
    s.sync_token(2, Some(at(2000)), at(501), &mut rng);
    assert_eq!(
        first_due(&s, at(500), at(600), SecretAction::Fetch),
        Some(fetch)
    );
}

#[test]
fn debug_never_shows_secret_values() {
    let mut rng = SeededRandom(8);
    let mut s = SecretState::new(60_000);
    s.on_fetched(
        dynamic("hunter2-db-password", "L1", 600, true),
        NO_TOKEN_LIMIT,
        at(0),
        at(0),
        &mut rng,
    );
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
}

#[test]
fn short_leases_are_renewed_or_replaced_with_a_margin_for_ticks_and_adoption() {
    // ttl s, renewable, action, latest second it may be due (after the fetch at 0).
    let cases = [
        (4, true, SecretAction::Renew, 1),   // margin capped at 3/4 of 4 s
        (3, false, SecretAction::Fetch, 1),  // 0.75 s: before the end, yet not at once
        (10, true, SecretAction::Renew, 7),  // 60-75 % would be 6-7.5 s; 3 s margin: <= 7 s
        (10, false, SecretAction::Fetch, 7), // 80-90 % would be 8-9 s
        (600, false, SecretAction::Fetch, 540), // long TTLs: the fractions decide
    ];
    for (ttl, renewable, want, latest) in cases {
        for seed in 0..20 {
            let mut rng = SeededRandom(seed);
            let mut s = SecretState::new(60_000);
            s.on_fetched(
                dynamic("p1", "db/creds/app/L1", ttl, renewable),
                NO_TOKEN_LIMIT,
                at(0),
                at(0),
                &mut rng,
            );
            let due = first_due(&s, at(0), at(ttl), want).unwrap();
            assert!(due <= at(latest), "ttl {ttl} seed {seed}: {due:?}");
            assert!(due > at(0), "ttl {ttl} seed {seed}: due at once");
        }
    }
    // Two seconds or less: at once, the next tick could come too late.
    let mut s = SecretState::new(60_000);
    s.on_fetched(
        dynamic("p1", "db/creds/app/L1", 2, false),
        NO_TOKEN_LIMIT,
        at(0),
        at(0),
        &mut SeededRandom(1),
    );
    assert_eq!(s.due(at(0)), Some(SecretAction::Fetch));
}

#[test]
fn identity_token_is_reissued_before_its_ttl_and_never_served_past_it() {
    let mut rng = SeededRandom(5);
    // The KV refresh interval (60 s) must not apply: the token's own ttl (30 s) does.
    let mut s = SecretState::new(60_000);
    s.on_fetched(
        identity_token("jwt-1", 30),
        NO_TOKEN_LIMIT,
        at(0),
        at(0),
        &mut rng,
    );
    assert_eq!(password(&s, at(1)), Ok("jwt-1".into()));
    // Re-issued at 60-75 % of the ttl (18-22.5 s), like a lease renewal, as a new fetch.
    let due = first_due(&s, at(1), at(30), SecretAction::Fetch).unwrap();
    assert!((at(18)..=at(23)).contains(&due), "re-issue at {due:?}");
    assert_eq!(s.due(at(1)), None);
    // Vault down: the token serves until its ttl ends, then the secret is expired.
    assert_eq!(password(&s, at(29)), Ok("jwt-1".into()));
    assert_eq!(password(&s, at(30)), Err("secret_expired"));
    // A fresh token replaces it and moves the deadline.
    s.on_fetched(
        identity_token("jwt-2", 30),
        NO_TOKEN_LIMIT,
        at(31),
        at(31),
        &mut rng,
    );
    assert_eq!(password(&s, at(60)), Ok("jwt-2".into()));
    assert_eq!(password(&s, at(61)), Err("secret_expired"));
}
