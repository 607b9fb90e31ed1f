use super::*;
use crate::env::SeededRandom;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: u64 = 1_700_000_000_000;

fn at_ms(ms: u64) -> Now {
    Now::from_unix_ms(T0 + ms)
}

fn limited(retry_after_ms: Option<u64>) -> VaultError {
    VaultError::RateLimited { retry_after_ms }
}

#[test]
fn retry_after_is_read_as_delta_seconds_or_an_http_date_and_anything_else_is_ignored() {
    // T0 is Tue, 14 Nov 2023 22:13:20 GMT.
    let cases: &[(&[u8], Option<u64>)] = &[
        (b"4", Some(4_000)),
        (b" 12 ", Some(12_000)),
        (b"0", Some(0)),
        (b"3600", Some(3_600_000)),
        (b"9999999999", Some(9_999_999_999_000)),
        (b"", None),
        (b"  ", None),
        (b"-1", None),
        (b"+5", None),
        (b"1.5", None),
        (b"5s", None),
        (b"99999999999", None),
        // An HTTP-date: the time left until then; one already past is "now".
        (b"Tue, 14 Nov 2023 22:13:50 GMT", Some(30_000)),
        (b"Tuesday, 14-Nov-23 22:14:20 GMT", Some(60_000)),
        (b"Tue Nov 14 22:13:25 2023", Some(5_000)),
        (b"Wed, 21 Oct 2015 07:28:00 GMT", Some(0)),
        (b"Tue, 14 Nov 2023 22:13:50 UTC", None),
        (b"\xff\xfe", None),
        (b"4\r\nx-injected: 1", None),
    ];
    for (raw, want) in cases {
        assert_eq!(
            parse_retry_after(raw, Now::from_unix_ms(T0)),
            *want,
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn retry_after_delays_the_retry_but_never_beyond_the_backoff_maximum() {
    let backoff = Backoff::new(200, 8_000);
    let mut rng = SeededRandom(1);
    // (failures, error, lowest allowed delay, highest allowed delay)
    let cases = [
        // The first backoff step is 100-200 ms; the server asked for 5 s.
        (1, limited(Some(5_000)), 5_000, 5_000),
        // A Retry-After of an hour is bounded by the 8 s maximum.
        (1, limited(Some(3_600_000)), 8_000, 8_000),
        // Retry-After 0 or shorter than the backoff: the backoff decides.
        (1, limited(Some(0)), 100, 200),
        (5, limited(Some(1_000)), 1_600, 3_200),
        // No header: the plain backoff.
        (1, limited(None), 100, 200),
        (3, VaultError::Sealed("Vault is sealed".into()), 400, 800),
    ];
    for (failures, err, low, high) in cases {
        for _ in 0..50 {
            let d = retry_delay_ms(&backoff, failures, &err, &mut rng);
            assert!(
                (low..=high).contains(&d),
                "{err:?} after {failures} failures: {d} ms not in [{low}, {high}]"
            );
        }
    }
}

#[test]
fn gate_closes_on_server_faults_honours_retry_after_and_reopens_on_a_good_answer() {
    let mut rng = SeededRandom(2);
    let mut g = ServerGate::new(Backoff::new(1_000, 30_000));
    assert!(g.is_open(at_ms(0)) && !g.probing());

    // 429 with Retry-After: 7 s: closed exactly until then.
    g.on_outcome(Some(&limited(Some(7_000))), at_ms(0), &mut rng);
    assert!(!g.is_open(at_ms(6_999)));
    assert!(g.is_open(at_ms(7_000)));
    assert!(g.probing());
    assert_eq!(g.last_fault(), Some("vault_rate_limited"));

    // Two calls that were in flight fail together: one backoff step.
    g.on_outcome(Some(&VaultError::Timeout), at_ms(7_000), &mut rng);
    g.on_outcome(Some(&VaultError::Timeout), at_ms(7_001), &mut rng);
    assert_eq!(g.failures(), 2);
    let reopen = g.open_at().unix_ms - T0;
    assert!((8_000..=9_000).contains(&reopen), "{reopen}");

    // Faults of the call itself (403, 404, malformed) show a working server.
    g.on_outcome(
        Some(&VaultError::PermissionDenied("permission denied".into())),
        at_ms(9_000),
        &mut rng,
    );
    assert!(g.is_open(at_ms(9_000)) && !g.probing());
    assert_eq!(g.last_fault(), None);

    // A success after a streak of faults reopens at once, even early.
    for i in 0..6 {
        let now = g.open_at().max(at_ms(10_000 + i));
        g.on_outcome(Some(&VaultError::Unreachable), now, &mut rng);
    }
    assert_eq!(g.failures(), 6);
    let closed_at = g.open_at();
    assert!(closed_at.unix_ms - T0 > 16_000);
    g.on_outcome(None, at_ms(16_000), &mut rng);
    assert!(g.is_open(at_ms(16_000)) && !g.probing());
}

#[test]
fn only_server_faults_close_the_gate() {
    let server = [
        VaultError::Sealed(String::new()),
        limited(None),
        VaultError::Unreachable,
        VaultError::Timeout,
        VaultError::ServerError {
            status: 500,
            message: String::new(),
        },
    ];
    let call = [
        VaultError::PermissionDenied(String::new()),
        VaultError::BadRequest(String::new()),
        VaultError::NotFound,
        VaultError::Malformed(String::new()),
        VaultError::FieldMissing("x".into()),
        VaultError::UnexpectedStatus(418),
        VaultError::ResponseTooLarge(1 << 20),
    ];
    for e in &server {
        assert!(e.is_server_fault(), "{e:?}");
    }
    for e in &call {
        assert!(!e.is_server_fault(), "{e:?}");
        assert_eq!(
            e.clone().with_retry_after(Some(5_000)).retry_after_ms(),
            None
        );
    }
    assert_eq!(
        limited(None).with_retry_after(Some(5_000)),
        limited(Some(5_000))
    );
}
