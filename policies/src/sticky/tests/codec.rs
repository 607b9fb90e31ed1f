use super::super::codec::{open as open_on, seal, seal_raw, Claims, Pin, RouteChecks};
use super::super::keys::{CookieKey, KeyRing};
use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NAME: &str = "__Host-sticky";

/// A route that binds and whose `max_age` never ends a session before its
/// sealed expiry.
const BINDS: RouteChecks = RouteChecks {
    bind_subject: true,
    max_age_secs: u64::MAX,
};

/// Opens `value` on a route that checks everything (`BINDS`).
fn open(
    ring: &KeyRing,
    name: &str,
    value: &str,
    subject: &Subject<'_>,
    now: u64,
) -> Result<Pin, CookieRejection> {
    open_on(ring, name, value, subject, BINDS, now)
}

fn master(byte: u8) -> [u8; 32] {
    std::array::from_fn(|i| byte.wrapping_add(i as u8))
}

fn ring(id: &str, byte: u8) -> KeyRing {
    KeyRing::new((id.to_string(), &master(byte)), vec![])
}

fn claims(endpoint: &str, subject: Option<[u8; 16]>) -> Claims {
    Claims {
        endpoint: Endpoint::parse(endpoint).unwrap(),
        issued_at: T0,
        expires_at: T0 + 3600,
        subject_hash: subject,
    }
}

fn sealed(ring: &KeyRing, endpoint: &str, subject: Option<&str>) -> String {
    let hash = subject.map(|s| ring.current.subject_hash(s));
    seal(&ring.current, NAME, &claims(endpoint, hash), [7u8; 12]).unwrap()
}

#[test]
fn sealed_cookies_open_to_the_same_pin() {
    let r = ring("k1", 1);
    for (endpoint, subject) in [
        ("10.0.0.7:8080", None),
        ("10.0.0.7:8080", Some("alice")),
        ("[fd00::7]:8443", None),
        ("[::1]:80", Some("bob@example.com")),
    ] {
        let value = sealed(&r, endpoint, subject);
        assert!(value.starts_with("v1.k1."), "{value}");
        assert!(value.len() <= MAX_COOKIE_VALUE_LEN);
        let pin = open(&r, NAME, &value, &Subject::known(subject), T0 + 10).unwrap();
        assert_eq!(pin.endpoint.to_string(), endpoint);
        assert_eq!((pin.issued_at, pin.expires_at), (T0, T0 + 3600));
        assert_eq!(pin.bound_to_subject, subject.is_some());
        assert!(pin.sealed_with_current_key);
    }
}

#[test]
fn cookie_never_reveals_endpoint_or_subject() {
    let r = ring("k1", 1);
    let value = sealed(&r, "10.0.0.7:8080", Some("alice"));
    let raw = URL_SAFE_NO_PAD
        .decode(value.rsplit('.').next().unwrap())
        .unwrap();
    let ip = [10u8, 0, 0, 7];
    assert!(!raw.windows(4).any(|w| w == ip));
    assert!(!value.contains("alice"));
}

#[test]
fn every_changed_character_is_rejected_without_panicking() {
    let r = ring("k1", 1);
    let value = sealed(&r, "10.0.0.7:8080", Some("alice"));
    for i in 0..value.len() {
        for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
            let mut bytes = value.clone().into_bytes();
            bytes[i] ^= mask;
            let tampered = String::from_utf8_lossy(&bytes);
            assert!(
                open(&r, NAME, &tampered, &Subject::known(Some("alice")), T0).is_err(),
                "byte {i} ^ {mask:#x} accepted"
            );
        }
    }
    // Truncations and extensions, too.
    for end in 0..value.len() {
        assert!(open(&r, NAME, &value[..end], &Subject::known(Some("alice")), T0).is_err());
    }
    assert!(open(
        &r,
        NAME,
        &format!("{value}A"),
        &Subject::known(Some("alice")),
        T0
    )
    .is_err());
}

#[test]
fn every_flipped_bit_of_the_sealed_bytes_fails_authentication() {
    let r = ring("k1", 1);
    let value = sealed(&r, "[fd00::7]:8443", None);
    let body = value.rsplit('.').next().unwrap();
    let raw = URL_SAFE_NO_PAD.decode(body).unwrap();
    for i in 0..raw.len() {
        for bit in 0..8 {
            let mut t = raw.clone();
            t[i] ^= 1 << bit;
            let tampered = format!("v1.k1.{}", URL_SAFE_NO_PAD.encode(&t));
            assert_eq!(
                open(&r, NAME, &tampered, &Subject::known(None), T0),
                Err(CookieRejection::Undecryptable),
                "byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn cookies_open_only_with_their_key_and_cookie_name() {
    let r1 = ring("k1", 1);
    let value = sealed(&r1, "10.0.0.7:8080", None);
    let cases = [
        (ring("k1", 2), NAME, CookieRejection::Undecryptable),
        (ring("k2", 1), NAME, CookieRejection::UnknownKey),
        (
            ring("k1", 1),
            "__Host-other",
            CookieRejection::Undecryptable,
        ),
    ];
    for (r, name, want) in cases {
        assert_eq!(
            open(&r, name, &value, &Subject::known(None), T0),
            Err(want),
            "{name}"
        );
    }
    // The key id is authenticated: relabelling the cookie fails too.
    let two = KeyRing::new(
        ("k2".into(), &master(50)),
        vec![CookieKey::new("k1".into(), &master(1))],
    );
    assert!(open(&two, NAME, &value, &Subject::known(None), T0).is_ok());
    let relabelled = value.replacen("v1.k1.", "v1.k2.", 1);
    assert_eq!(
        open(&two, NAME, &relabelled, &Subject::known(None), T0),
        Err(CookieRejection::Undecryptable)
    );
}

#[test]
fn expiry_follows_the_wall_clock() {
    let r = ring("k1", 1);
    let value = sealed(&r, "10.0.0.7:8080", None);
    for (now, ok) in [
        (0, true),
        (T0 - 100, true),
        (T0, true),
        (T0 + 3599, true),
        (T0 + 3600, false),
        (T0 + 10_000_000, false),
        (u64::MAX, false),
    ] {
        let got = open(&r, NAME, &value, &Subject::known(None), now);
        if ok {
            assert!(got.is_ok(), "{now}");
        } else {
            assert_eq!(got, Err(CookieRejection::Expired), "{now}");
        }
    }
}

#[test]
fn bound_cookies_require_the_same_subject() {
    let r = ring("k1", 1);
    let cases = [
        (Some("alice"), Some("alice"), None),
        (
            Some("alice"),
            Some("bob"),
            Some(CookieRejection::SubjectMismatch),
        ),
        (
            Some("alice"),
            Some("Alice"),
            Some(CookieRejection::SubjectMismatch),
        ),
        (Some("alice"), None, Some(CookieRejection::SubjectMismatch)),
        (Some(""), Some(""), None),
        // An unbound cookie (issued before login) is accepted for anyone.
        (None, Some("alice"), None),
        (None, None, None),
    ];
    for (bound, presented, want) in cases {
        let value = sealed(&r, "10.0.0.7:8080", bound);
        let got = open(&r, NAME, &value, &Subject::known(presented), T0).err();
        assert_eq!(got, want, "bound {bound:?}, presented {presented:?}");
    }
}

/// `max_age` is the absolute session lifetime: a route whose `max_age` is
/// shorter than the one the cookie was sealed under ends the session
/// `max_age` after its start; a longer one never extends the sealed expiry.
#[test]
fn the_routes_max_age_caps_the_sealed_expiry() {
    let r = ring("k1", 1);
    let value = sealed(&r, "10.0.0.7:8080", None); // T0 .. T0 + 3600
    for (max_age_secs, now, ok) in [
        (600, T0 + 599, true),
        (600, T0 + 600, false),
        (3600, T0 + 3599, true),
        (3600, T0 + 3600, false),
        (8 * 3600, T0 + 3599, true),
        (8 * 3600, T0 + 3600, false),
    ] {
        let route = RouteChecks {
            bind_subject: false,
            max_age_secs,
        };
        let got = open_on(&r, NAME, &value, &Subject::known(None), route, now);
        if ok {
            assert!(got.is_ok(), "{max_age_secs} at T0+{}", now - T0);
        } else {
            assert_eq!(
                got,
                Err(CookieRejection::Expired),
                "{max_age_secs} at T0+{}",
                now - T0
            );
        }
    }
}

/// On a route that does not bind, a bound cookie opens for anyone and the
/// subject is not read: the binding is checked where a route binds. It is
/// still reported, with the sealed binding to carry on re-issue.
#[test]
fn a_route_that_does_not_bind_opens_a_bound_cookie_without_reading_the_subject() {
    let r = ring("k1", 1);
    let value = sealed(&r, "10.0.0.7:8080", Some("alice"));
    let unbound = RouteChecks {
        bind_subject: false,
        max_age_secs: u64::MAX,
    };
    let asked = std::cell::Cell::new(0);
    let read = || {
        asked.set(asked.get() + 1);
        Some("bob".to_string())
    };
    let pin = open_on(&r, NAME, &value, &Subject::read_with(&read), unbound, T0).unwrap();
    assert!(pin.bound_to_subject);
    assert_eq!(
        pin.binding.map(|b| b.hash),
        Some(r.current.subject_hash("alice"))
    );
    assert_eq!(asked.get(), 0);
    assert!(!format!("{pin:?}").contains(&format!("{:?}", r.current.subject_hash("alice"))));
    // Expiry is still checked there.
    assert_eq!(
        open_on(&r, NAME, &value, &Subject::known(None), unbound, T0 + 3600),
        Err(CookieRejection::Expired)
    );
}

#[test]
fn garbage_values_are_malformed() {
    let r = ring("k1", 1);
    let huge = format!("v1.k1.{}", "A".repeat(10_000));
    let short_body = format!("v1.k1.{}", URL_SAFE_NO_PAD.encode([0u8; 27]));
    let cases = [
        "",
        ".",
        "..",
        "v1",
        "v1.k1",
        "v1.k1.",
        "v2.k1.AAAA",
        "V1.k1.AAAA",
        "v1.k1.AAAA.x",
        "v1.k 1.AAAA",
        "v1..AAAA",
        "v1.k1.AAA=",
        "v1.k1.!!!!",
        "v1.k1.AAAAB",
        "v1.abcdefghijklmnopq.AAAA",
        huge.as_str(),
        short_body.as_str(),
        "\u{0}\u{0}\u{0}",
        "v1.k1.\u{fffd}\u{fffd}",
    ];
    for value in cases {
        assert_eq!(
            open(&r, NAME, value, &Subject::known(None), T0),
            Err(CookieRejection::Malformed),
            "{value:?}"
        );
    }
}

#[test]
fn authentic_but_broken_payloads_are_rejected_without_panicking() {
    let r = ring("k1", 1);
    let time = |i: u64, e: u64| [i.to_be_bytes(), e.to_be_bytes()].concat();
    let v4 = [4u8, 10, 0, 0, 7, 0x1f, 0x90];
    let cases: Vec<(Vec<u8>, CookieRejection)> = vec![
        (vec![], CookieRejection::Malformed),
        (vec![0], CookieRejection::BadEndpoint),
        (
            [&[0u8, 5, 1, 2, 3, 4, 0, 80][..], &time(T0, T0 + 9)].concat(),
            CookieRejection::BadEndpoint,
        ),
        (
            [&[0u8, 4, 0, 0, 0, 0, 0, 80][..], &time(T0, T0 + 9)].concat(),
            CookieRejection::BadEndpoint,
        ),
        (
            [&[0u8, 4, 10, 0, 0, 7, 0, 0][..], &time(T0, T0 + 9)].concat(),
            CookieRejection::BadEndpoint,
        ),
        (
            [&[0u8][..], &v4, &time(T0, T0 + 9)[..15]].concat(),
            CookieRejection::Malformed,
        ),
        (
            [&[0u8][..], &v4, &time(T0, T0 + 9), &[0]].concat(),
            CookieRejection::Malformed,
        ),
        (
            [&[0u8][..], &v4, &time(T0 + 9, T0)].concat(),
            CookieRejection::Malformed,
        ),
        (
            [&[1u8][..], &v4, &time(T0, T0 + 9), &[0; 15]].concat(),
            CookieRejection::Malformed,
        ),
        (
            [&[2u8][..], &v4, &time(T0, T0 + 9)].concat(),
            CookieRejection::Malformed,
        ),
    ];
    for (plain, want) in cases {
        let value = seal_raw(&r.current, NAME, &plain, [3u8; 12]);
        assert_eq!(
            open(&r, NAME, &value, &Subject::known(Some("a")), T0),
            Err(want),
            "{plain:?}"
        );
    }
    // The layout itself is what seal() writes: the well-formed case opens.
    let good = seal_raw(
        &r.current,
        NAME,
        &[&[0u8][..], &v4, &time(T0, T0 + 9)].concat(),
        [3; 12],
    );
    assert_eq!(
        open(&r, NAME, &good, &Subject::known(None), T0)
            .unwrap()
            .endpoint
            .to_string(),
        "10.0.0.7:8080"
    );
}
