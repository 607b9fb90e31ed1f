use super::*;
use crate::backoff::Backoff;
use crate::config::{parse_json, Compile, ConfigError};
use crate::env::{Now, SeededRandom};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const S: u64 = 1_000;
const T0: u64 = 1_700_000_000_000;

fn at(offset_ms: u64) -> Now {
    Now::from_unix_ms(T0 + offset_ms)
}

fn policy() -> RefreshPolicy {
    RefreshPolicy {
        refresh_interval_ms: 300 * S,
        max_staleness_ms: 3_600 * S,
        min_forced_refetch_interval_ms: 30 * S,
        fetch_timeout_ms: 10 * S,
        backoff: Backoff::new(S, 60 * S),
    }
}

#[test]
fn empty_resource_is_due_at_once_and_unavailable_as_not_loaded_yet() {
    let r: Refresher<&str> = Refresher::new(policy());
    assert!(r.due(at(0)));
    assert_eq!(r.phase(at(0)), Phase::Empty);
    assert_eq!(r.state(at(0)), RefreshState::Empty);
    let current = r.current(at(0));
    assert_eq!(current, Current::Unavailable(Unavailable::NotLoadedYet));
    if let Current::Unavailable(why) = current {
        assert_eq!(why.reason_code(), "not_loaded_yet");
    }
}

#[test]
fn value_goes_fresh_then_stale_then_expired() {
    let mut r = Refresher::new(policy());
    r.record_success("keys", at(0));
    for (offset, phase, current) in [
        (0, Phase::Fresh, Current::Usable(&"keys")),
        (300 * S - 1, Phase::Fresh, Current::Usable(&"keys")),
        (300 * S, Phase::Stale, Current::Stale(&"keys")),
        (3_600 * S - 1, Phase::Stale, Current::Stale(&"keys")),
        (
            3_600 * S,
            Phase::Expired,
            Current::Unavailable(Unavailable::TooStale),
        ),
    ] {
        assert_eq!(r.phase(at(offset)), phase, "{offset}");
        assert_eq!(r.current(at(offset)), current, "{offset}");
    }
    assert_eq!(
        r.state(at(10)),
        RefreshState::Fresh {
            value: &"keys",
            fetched_at: at(0)
        }
    );
    assert_eq!(
        r.state(at(3_600 * S)),
        RefreshState::Expired { fetched_at: at(0) }
    );
    assert_eq!(Unavailable::TooStale.reason_code(), "keys_too_stale");
}

#[test]
fn next_fetch_is_due_after_the_refresh_interval() {
    let mut r = Refresher::new(policy());
    r.record_success(1, at(0));
    assert!(!r.due(at(300 * S - 1)));
    assert!(r.due(at(300 * S)));
}

#[test]
fn in_flight_fetch_is_not_due_again_until_it_times_out() {
    let mut r: Refresher<u8> = Refresher::new(policy());
    r.start_fetch(at(0));
    assert!(!r.due(at(0)));
    assert!(!r.due(at(10 * S - 1)));
    assert!(r.due(at(10 * S)), "a lost fetch must not block forever");
    r.start_fetch(at(10 * S));
    r.record_success(7, at(11 * S));
    assert!(!r.schedule().in_flight(at(11 * S)));
}

#[test]
fn failures_back_off_with_jitter_and_keep_serving_the_stale_value() {
    let mut rng = SeededRandom(3);
    let mut r = Refresher::new(policy());
    r.record_success("v1", at(0));
    let mut now = 300 * S;
    for (failures, ceiling) in [(1, S), (2, 2 * S), (3, 4 * S), (7, 60 * S), (8, 60 * S)] {
        while r.schedule().consecutive_failures < failures {
            r.start_fetch(at(now));
            r.record_failure(at(now), &mut rng);
        }
        let next = r.schedule().next_fetch_at_ms - T0;
        assert!(
            next >= now + ceiling / 2 && next <= now + ceiling,
            "failures={failures}: next {next} not in backoff window after {now}"
        );
        assert!(!r.due(at(next - 1)));
        assert!(r.due(at(next)));
        assert_eq!(r.current(at(next)), Current::Stale(&"v1"));
        now = next;
    }
    r.record_success("v2", at(now));
    assert_eq!(r.schedule().consecutive_failures, 0);
    assert_eq!(r.current(at(now)), Current::Usable(&"v2"));
}

#[test]
fn failures_before_the_first_success_stay_not_loaded_yet() {
    let mut rng = SeededRandom(1);
    let mut r: Refresher<u8> = Refresher::new(policy());
    r.record_failure(at(0), &mut rng);
    assert!(!r.due(at(0)));
    assert_eq!(
        r.current(at(0)),
        Current::Unavailable(Unavailable::NotLoadedYet)
    );
}

#[test]
fn failures_past_max_staleness_fail_closed() {
    let mut rng = SeededRandom(9);
    let mut r = Refresher::new(policy());
    r.record_success("v1", at(0));
    r.record_failure(at(3_599 * S), &mut rng);
    assert_eq!(r.current(at(3_599 * S)), Current::Stale(&"v1"));
    assert_eq!(
        r.current(at(3_600 * S)),
        Current::Unavailable(Unavailable::TooStale)
    );
}

#[test]
fn forced_refetch_is_granted_at_most_once_per_min_interval() {
    let mut r = Refresher::new(policy());
    r.record_success("v1", at(0));
    assert!(r.request_forced_refetch(at(S)));
    assert!(r.due(at(S)));
    r.start_fetch(at(S));
    assert!(!r.request_forced_refetch(at(S)), "in flight");
    r.record_success("v2", at(2 * S));
    // A flood of unknown kids: all refused inside the window.
    for t in (2 * S..31 * S).step_by(100) {
        assert!(!r.request_forced_refetch(at(t)), "t={t}");
    }
    assert!(!r.due(at(31 * S - 1)));
    assert!(r.request_forced_refetch(at(31 * S)));
}

#[test]
fn forced_refetch_is_refused_while_already_due_or_backing_off() {
    let mut rng = SeededRandom(5);
    let mut empty: Refresher<u8> = Refresher::new(policy());
    assert!(!empty.request_forced_refetch(at(0)), "already due");
    assert_eq!(empty.schedule().last_forced_at_ms, None, "no slot consumed");

    let mut r = Refresher::new(policy());
    r.record_success(1, at(0));
    r.record_failure(at(S), &mut rng);
    assert!(!r.request_forced_refetch(at(S)), "backing off");
    let next = r.schedule().next_fetch_at_ms - T0;
    assert!(!r.request_forced_refetch(at(next)), "due anyway");
}

#[test]
fn value_with_its_own_expiry_refreshes_early_and_is_never_served_expired() {
    let mut r = Refresher::new(policy());
    // A token valid for 120 s: refresh after 90 s, unusable from 120 s.
    r.record_success_until("token", at(0), at(120 * S));
    assert!(!r.due(at(90 * S - 1)));
    assert!(r.due(at(90 * S)));
    assert_eq!(r.current(at(119 * S)), Current::Stale(&"token"));
    assert_eq!(
        r.current(at(120 * S)),
        Current::Unavailable(Unavailable::TooStale)
    );
    // A long-lived one is still bounded by the policy.
    r.record_success_until("token2", at(0), at(100_000 * S));
    assert!(r.due(at(300 * S)));
    assert_eq!(
        r.current(at(3_600 * S)),
        Current::Unavailable(Unavailable::TooStale)
    );
}

#[test]
fn clock_going_backwards_does_not_panic_or_expire() {
    let mut r = Refresher::new(policy());
    r.record_success(1, at(100 * S));
    assert_eq!(r.current(at(0)), Current::Usable(&1));
    assert!(!r.due(at(0)));
}

#[test]
fn schedule_round_trips_through_shared_data_and_is_adopted_by_another_vm() {
    let mut rng = SeededRandom(2);
    let mut a = Refresher::new(policy());
    a.record_success("v1", at(0));
    a.record_failure(at(300 * S), &mut rng);
    let bytes = a.schedule().to_json().unwrap();
    let decoded = Schedule::from_json(&bytes).unwrap();
    assert_eq!(&decoded, a.schedule());

    let mut b = Refresher::new(policy());
    b.adopt(decoded.clone(), Some("v1"));
    assert_eq!(b.current(at(301 * S)), Current::Stale(&"v1"));
    assert_eq!(b.due(at(301 * S)), a.due(at(301 * S)));

    let mut c: Refresher<&str> = Refresher::new(policy());
    c.adopt(decoded, None);
    assert_eq!(
        c.current(at(301 * S)),
        Current::Unavailable(Unavailable::NotLoadedYet)
    );
    assert_eq!(Schedule::from_json(b"garbage"), Err(SnapshotError::Decode));
}

#[test]
fn lease_lets_exactly_one_vm_fetch_until_it_expires() {
    let lease = claim_fetch(None, at(0), "vm-a", 15 * S).unwrap();
    assert_eq!(
        lease,
        Lease {
            owner: "vm-a".into(),
            until_ms: T0 + 15 * S
        }
    );
    assert!(lease.is_held_by("vm-a", at(0)));
    for (vm, t, granted) in [
        ("vm-b", 0, false),
        ("vm-b", 15 * S - 1, false),
        ("vm-a", 5 * S, true),
        ("vm-b", 15 * S, true),
    ] {
        assert_eq!(
            claim_fetch(Some(&lease), at(t), vm, 15 * S).is_some(),
            granted,
            "{vm} at {t}"
        );
    }
    let released = lease.released_by("vm-a").unwrap();
    assert!(claim_fetch(Some(&released), at(1), "vm-b", 15 * S).is_some());
    assert_eq!(lease.released_by("vm-b"), None);
    let bytes = lease.to_json().unwrap();
    assert_eq!(Lease::from_json(&bytes).unwrap(), lease);
}

#[test]
fn config_defaults_and_errors() {
    let p = parse_json::<RefreshConfig>(b"{}")
        .unwrap()
        .compile()
        .unwrap();
    assert_eq!(p, RefreshPolicy::default());
    let p = parse_json::<RefreshConfig>(
        br#"{"refresh_interval":"1m","max_staleness":"2h","backoff_base":"500ms","backoff_max":"1m"}"#,
    )
    .unwrap()
    .compile()
    .unwrap();
    assert_eq!(p.refresh_interval_ms, 60 * S);
    assert_eq!(p.max_staleness_ms, 7_200 * S);
    assert_eq!(p.backoff, Backoff::new(500, 60 * S));
    for (json, path) in [
        (r#"{"refresh_interval":"0s"}"#, "refresh_interval"),
        (r#"{"refresh_interval":"soon"}"#, "refresh_interval"),
        (
            r#"{"refresh_interval":"2h","max_staleness":"1h"}"#,
            "max_staleness",
        ),
        (
            r#"{"backoff_base":"10s","backoff_max":"1s"}"#,
            "backoff_max",
        ),
        (r#"{"fetch_timeout":"0ms"}"#, "fetch_timeout"),
        (r#"{"refresh":"1m"}"#, "refresh"),
    ] {
        let err: ConfigError = match parse_json::<RefreshConfig>(json.as_bytes()) {
            Ok(dto) => dto.compile().unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(err.path, path, "{json}");
    }
}
