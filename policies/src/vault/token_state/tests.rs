use super::*;
use crate::env::SeededRandom;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: u64 = 1_700_000_000_000;

fn at(secs: u64) -> Now {
    Now::from_unix_ms(T0 + secs * 1000)
}

fn auth(ttl_s: u64, renewable: bool) -> AuthInfo {
    AuthInfo {
        client_token: Secret::new("s.token-under-test"),
        accessor: "acc".into(),
        policies: vec!["default".into()],
        lease_duration_s: ttl_s,
        renewable,
        entity_id: String::new(),
        token_type: "service".into(),
    }
}

/// First instant (1 s resolution) at which `due` returns `want`.
fn first_due(s: &TokenState, from: Now, until: Now, want: TokenAction) -> Option<Now> {
    let mut t = from;
    while t <= until {
        if s.due(t) == Some(want) {
            return Some(t);
        }
        t = t.plus_ms(1000);
    }
    None
}

#[test]
fn renewable_token_is_renewed_within_jitter_bounds_of_its_ttl() {
    for seed in 0..50 {
        let mut rng = SeededRandom(seed);
        let mut s = TokenState::for_login();
        assert_eq!(s.due(at(0)), Some(TokenAction::Login));
        s.on_login(auth(3600, true), at(0), at(1), &mut rng);
        assert_eq!(
            s.token(at(1)).map(Secret::expose),
            Some("s.token-under-test")
        );
        let renew = first_due(&s, at(1), at(3600), TokenAction::Renew).unwrap();
        assert!(
            renew >= at(2160) && renew <= at(2700 + 1),
            "seed {seed}: {renew:?}"
        );
        assert_eq!(s.due(at(100)), None);
    }
}

#[test]
fn not_renewable_or_truncated_token_leads_to_relogin_before_expiry_old_token_still_serving() {
    let mut rng = SeededRandom(3);
    // Not renewable at login.
    let mut s = TokenState::for_login();
    s.on_login(auth(1000, false), at(0), at(0), &mut rng);
    let relogin = first_due(&s, at(0), at(1000), TokenAction::Login).unwrap();
    assert!(relogin >= at(800) && relogin <= at(901), "{relogin:?}");
    assert!(
        s.token(relogin).is_some(),
        "old token serves while logging in again"
    );

    // Renewal truncated by max_ttl.
    let mut s = TokenState::for_login();
    s.on_login(auth(1000, true), at(0), at(0), &mut rng);
    let r = Renewal {
        lease_duration_s: 200,
        renewable: true,
        truncated: true,
    };
    s.on_renewed(r, at(700), at(700), &mut rng);
    assert_eq!(s.expires_at(), Some(at(900)));
    let relogin = first_due(&s, at(700), at(900), TokenAction::Login).unwrap();
    assert!(
        relogin >= at(700 + 160) && relogin <= at(700 + 181),
        "{relogin:?}"
    );
    assert_eq!(first_due(&s, at(700), at(900), TokenAction::Renew), None);
}

#[test]
fn successful_renewal_extends_expiry_and_reschedules() {
    let mut rng = SeededRandom(4);
    let mut s = TokenState::for_login();
    s.on_login(auth(1000, true), at(0), at(0), &mut rng);
    s.on_renewed(
        Renewal {
            lease_duration_s: 1000,
            renewable: true,
            truncated: false,
        },
        at(700),
        at(701),
        &mut rng,
    );
    assert_eq!(s.expires_at(), Some(at(1700)));
    let next = first_due(&s, at(701), at(1700), TokenAction::Renew).unwrap();
    assert!(next >= at(1300) && next <= at(1451), "{next:?}");
    assert_eq!(s.generation(), 1, "renewal keeps the same token");
}

#[test]
fn renewal_denied_drops_the_token_and_logs_in_at_once() {
    let mut rng = SeededRandom(5);
    let mut s = TokenState::for_login();
    s.on_login(auth(1000, true), at(0), at(0), &mut rng);
    s.on_renew_failed(
        &VaultError::PermissionDenied("permission denied".into()),
        at(700),
        &mut rng,
    );
    assert!(s.token(at(700)).is_none());
    assert_eq!(s.due(at(700)), Some(TokenAction::Login));
    assert_eq!(s.last_error(), Some("vault_permission_denied"));
}

#[test]
fn transient_renewal_failures_retry_with_backoff_then_relogin_near_expiry() {
    let mut rng = SeededRandom(6);
    let mut s = TokenState::for_login();
    s.on_login(auth(100, true), at(0), at(0), &mut rng);
    s.on_renew_failed(&VaultError::Unreachable, at(70), &mut rng);
    assert_eq!(s.due(at(70)), None, "backoff before the retry");
    let retry = first_due(&s, at(70), at(100), TokenAction::Renew).unwrap();
    assert!(retry <= at(72), "first retry within ~1 s: {retry:?}");
    // Near expiry a retry would land past 90 % of the TTL: log in instead.
    s.on_renew_failed(&VaultError::Unreachable, at(89), &mut rng);
    assert_eq!(s.due(at(89)), Some(TokenAction::Login));
    assert!(s.token(at(89)).is_some());
    assert_eq!(s.token(at(100)), None, "never past expiry");
}

#[test]
fn login_failures_back_off_exponentially() {
    let mut rng = SeededRandom(7);
    let mut s = TokenState::for_login();
    let mut now = at(0);
    let mut gaps = vec![];
    for _ in 0..12 {
        s.on_login_failed(&VaultError::Sealed("Vault is sealed".into()), now, &mut rng);
        let next = first_due(&s, now, now.plus_ms(400_000), TokenAction::Login).unwrap();
        gaps.push((next.unix_ms - now.unix_ms) / 1000);
        now = next;
    }
    for (i, g) in gaps.iter().enumerate() {
        let ceiling = RETRY_BACKOFF.ceiling_ms(i as u32 + 1) / 1000;
        assert!(
            *g >= ceiling / 2 && *g <= ceiling + 1,
            "failure {}: gap {g}s, ceiling {ceiling}s",
            i + 1
        );
    }
    assert!(*gaps.last().unwrap() <= 301, "capped at 5 min");
    // Recovery resets the backoff.
    s.on_login(auth(600, true), now, now, &mut rng);
    let expired = now.plus_ms(600_000);
    s.on_login_failed(&VaultError::Unreachable, expired, &mut rng);
    assert!(first_due(&s, expired, expired.plus_ms(1_000), TokenAction::Login).is_some());
}

#[test]
fn static_token_is_looked_up_then_renewed_and_cannot_relogin() {
    let mut rng = SeededRandom(8);
    let mut s = TokenState::with_static_token(Secret::new("s.dev"));
    assert!(s.token(at(0)).is_some(), "usable before the lookup");
    assert_eq!(s.due(at(0)), Some(TokenAction::Lookup));
    s.on_lookup(
        TokenInfo {
            ttl_s: 1000,
            renewable: true,
        },
        at(0),
        at(0),
        &mut rng,
    );
    assert_eq!(s.renew_increment_s(), 1000);
    assert!(first_due(&s, at(0), at(1000), TokenAction::Renew).is_some());
    s.on_renew_failed(
        &VaultError::PermissionDenied(String::new()),
        at(700),
        &mut rng,
    );
    assert_eq!(s.due(at(700)), None);
    assert_eq!(s.last_error(), Some("vault_token_rejected"));

    let mut root = TokenState::with_static_token(Secret::new("root"));
    root.on_lookup(
        TokenInfo {
            ttl_s: 0,
            renewable: false,
        },
        at(0),
        at(0),
        &mut rng,
    );
    assert_eq!(root.due(at(10_000_000)), None, "a root token never expires");
    assert!(root.token(at(10_000_000)).is_some());
}

#[test]
fn debug_never_shows_the_token() {
    let mut rng = SeededRandom(9);
    let mut s = TokenState::for_login();
    s.on_login(auth(100, true), at(0), at(0), &mut rng);
    assert!(!format!("{s:?}").contains("token-under-test"));
}
