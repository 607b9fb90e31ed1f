use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const UP1: &str = "127.0.0.1:8081";
const UP2: &str = "127.0.0.1:8082";

#[test]
fn first_response_sets_a_cookie_and_next_request_is_pinned() {
    for (mode, pin_value) in [
        ("stateful-session", "MTI3LjAuMC4xOjgwODE="),
        ("override-host", "127.0.0.1:8081"),
    ] {
        let json = format!(r#"{{"mode":"{mode}","keys":[{{"id":"a","env":"KEY_A"}}]}}"#);
        let p = load(json.as_bytes(), &env).unwrap();
        let first = request(&p, &[], None, T0);
        assert_eq!(first.cookie_status, CookieStatus::Absent);
        assert!(first.set_headers.is_empty());
        let cookie = issue(&p, UP1, None, T0);
        let second = request(&p, &[&cookie], None, T0 + 5);
        assert_eq!(second.cookie_status, CookieStatus::Valid);
        assert_eq!(second.pinned_endpoint(), Endpoint::parse(UP1));
        assert_eq!(
            second.set_headers,
            vec![("x-sticky-endpoint".to_string(), pin_value.to_string())],
            "{mode}"
        );
    }
}

#[test]
fn set_cookie_carries_configured_attributes() {
    let cases = [
        (
            "",
            "; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax",
            "__Host-sticky=v1.a.",
        ),
        (
            r#""cookie":{"name":"__Secure-s","path":"/app","domain":"example.com","max_age":"30m","same_site":"Strict","http_only":false}"#,
            "; Path=/app; Domain=example.com; Max-Age=1800; Secure; SameSite=Strict",
            "__Secure-s=v1.a.",
        ),
        (
            r#""cookie":{"name":"s","secure":false,"same_site":"Lax"}"#,
            "; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax",
            "s=v1.a.",
        ),
        (
            r#""cookie":{"name":"s","same_site":"None"}"#,
            "; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=None",
            "s=v1.a.",
        ),
    ];
    for (extra, attrs, start) in cases {
        let p = policy(extra);
        let req = request(&p, &[], None, T0);
        let resp = respond(&p, &req, Some(UP1), None, T0, 1);
        let header = resp.set_cookie.unwrap();
        let header = header.expose();
        assert!(header.starts_with(start), "{header}");
        assert!(header.ends_with(attrs), "{header}");
    }
}

#[test]
fn set_cookie_is_redacted_in_debug_output() {
    let p = policy("");
    let req = request(&p, &[], None, T0);
    let resp = respond(&p, &req, Some(UP1), None, T0, 1);
    assert!(!format!("{resp:?}").contains("v1.a."));
}

#[test]
fn client_supplied_pin_and_hash_headers_are_always_removed() {
    let p = policy(r#""hash_key":{},"routes":[{"path_prefix":"/static","enabled":false}]"#);
    let cookie = issue(&p, UP1, None, T0);
    let cases: [(&[&str], &str); 4] = [
        (&[], "/app"),
        (&[cookie.as_str()], "/app"),
        (&["__Host-sticky=forged"], "/app"),
        (&[cookie.as_str()], "/static/x.js"),
    ];
    for (cookies, path) in cases {
        let d = p.on_request(&RequestInput {
            cookie_headers: cookies,
            path,
            subject: &Subject::known(Some("alice")),
            now: at(T0),
        });
        assert_eq!(
            d.remove_headers,
            vec!["x-sticky-endpoint", "x-sticky-hash"],
            "{path}"
        );
    }
}

#[test]
fn disabled_routes_neither_read_nor_set_cookies() {
    let p = policy(r#""routes":[{"path_prefix":"/static","enabled":false}]"#);
    let cookie = issue(&p, UP1, None, T0);
    let d = p.on_request(&RequestInput {
        cookie_headers: &[&cookie],
        path: "/static/app.js?v=1",
        subject: &Subject::known(None),
        now: at(T0),
    });
    assert!(!d.route_enabled);
    assert_eq!(d.cookie_status, CookieStatus::Skipped);
    assert!(d.set_headers.is_empty() && d.pin.is_none());
    let resp = respond(&p, &d, Some(UP2), None, T0, 1);
    assert_eq!(
        resp,
        ResponseDecision {
            set_cookie: None,
            event: ResponseEvent::None
        }
    );
}

#[test]
fn response_events_follow_the_serving_endpoint() {
    let p = policy("");
    let cookie = issue(&p, UP1, None, T0);
    let pinned = request(&p, &[&cookie], None, T0 + 1);
    let unpinned = request(&p, &[], None, T0 + 1);
    let cases = [
        (&pinned, Some(UP1), ResponseEvent::Kept, None),
        (&pinned, Some(UP2), ResponseEvent::Repinned, Some(UP2)),
        (&unpinned, Some(UP2), ResponseEvent::NewSession, Some(UP2)),
        (
            &unpinned,
            Some("[::1]:8081"),
            ResponseEvent::NewSession,
            Some("[::1]:8081"),
        ),
        (&pinned, None, ResponseEvent::UpstreamUnusable, None),
        (&unpinned, None, ResponseEvent::UpstreamUnusable, None),
    ];
    for (req, upstream, event, pinned_to) in cases {
        let resp = respond(&p, req, upstream, None, T0 + 1, 9);
        assert_eq!(resp.event, event, "{upstream:?}");
        match pinned_to {
            None => assert!(resp.set_cookie.is_none()),
            Some(ep) => {
                let next = request(&p, &[&cookie_pair(&resp)], None, T0 + 2);
                assert_eq!(next.pinned_endpoint(), Endpoint::parse(ep), "{upstream:?}");
            }
        }
    }
}

#[test]
fn local_replies_never_pin_and_a_kept_session_does_not_ask() {
    let p = policy("");
    let cookie = issue(&p, UP1, None, T0);
    let pinned = request(&p, &[&cookie], None, T0 + 1);
    let unpinned = request(&p, &[], None, T0 + 1);
    let asked = std::cell::Cell::new(0);
    let local_reply = || {
        asked.set(asked.get() + 1);
        false
    };
    let respond_locally = |req, upstream| {
        p.on_response(ResponseInput {
            upstream_address: Some(upstream),
            served_by_upstream: &local_reply,
            request: req,
            subject: &Subject::known(None),
            now: at(T0 + 1),
            rng: &mut SeededRandom(3),
        })
    };
    // The pinned endpoint answered 503 itself (e.g. connect failure): the pin stands.
    let kept = respond_locally(&pinned, UP1);
    assert_eq!((kept.event, asked.get()), (ResponseEvent::Kept, 0));
    // A failover host or a new session that only produced a local reply: no cookie.
    for req in [&pinned, &unpinned] {
        let resp = respond_locally(req, UP2);
        assert_eq!(resp.event, ResponseEvent::UpstreamUnusable);
        assert!(resp.set_cookie.is_none());
    }
    assert_eq!(asked.get(), 2);
}

#[test]
fn repinning_keeps_the_session_start() {
    let p = policy("");
    let cookie = issue(&p, UP1, None, T0);
    let req = request(&p, &[&cookie], None, T0 + 600);
    let moved = respond(&p, &req, Some(UP2), None, T0 + 600, 2);
    assert!(moved
        .set_cookie
        .as_ref()
        .unwrap()
        .expose()
        .contains("Max-Age=3000;"));
    let next = request(&p, &[&cookie_pair(&moved)], None, T0 + 601);
    let pin = next.pin.unwrap();
    assert_eq!((pin.issued_at, pin.expires_at), (T0, T0 + 3600));
}

#[test]
fn garbage_upstream_addresses_are_ignored() {
    let p = policy("");
    let req = request(&p, &[], None, T0);
    for upstream in [
        "",
        "127.0.0.1",
        "0.0.0.0:80",
        "127.0.0.1:0",
        "/tmp/envoy.sock",
        "envoy://internal/",
        "127.0.0.1:8081,127.0.0.1:8082",
        "[::1]",
        "::1:80",
        "not an address at all",
    ] {
        let resp = respond(&p, &req, Some(upstream), None, T0, 1);
        assert_eq!(resp.event, ResponseEvent::UpstreamUnusable, "{upstream:?}");
        assert!(resp.set_cookie.is_none());
    }
}

#[test]
fn ipv6_endpoints_pin_in_both_modes() {
    for (mode, want) in [
        ("stateful-session", "W2ZkMDA6OjddOjg0NDM="),
        ("override-host", "[fd00::7]:8443"),
    ] {
        let json = format!(r#"{{"mode":"{mode}","keys":[{{"id":"a","env":"KEY_A"}}]}}"#);
        let p = load(json.as_bytes(), &env).unwrap();
        let cookie = issue(&p, "[fd00:0::7]:8443", None, T0);
        let d = request(&p, &[&cookie], None, T0);
        assert_eq!(d.set_headers[0].1, want, "{mode}");
    }
}

#[test]
fn rejected_cookies_are_reported_and_replaced() {
    let p = policy("");
    let cookie = issue(&p, UP1, None, T0);
    let cases = [
        (
            vec!["__Host-sticky=garbage".to_string()],
            CookieRejection::Malformed,
        ),
        (
            vec![cookie.replace("v1.a.", "v1.z.")],
            CookieRejection::UnknownKey,
        ),
        (vec![format!("{cookie}x")], CookieRejection::Malformed),
        (vec![cookie.clone()], CookieRejection::Expired),
    ];
    for (headers, reason) in cases {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let d = request(&p, &headers, None, T0 + 3600);
        assert_eq!(
            d.cookie_status,
            CookieStatus::Rejected(reason),
            "{reason:?}"
        );
        assert!(d.set_headers.is_empty());
        assert_eq!(
            metrics::request_counter(d.cookie_status),
            format!("sticky_cookie_rejected_{}", &reason.reason_code()[7..])
        );
        let resp = respond(&p, &d, Some(UP2), None, T0 + 3600, 4);
        assert_eq!(resp.event, ResponseEvent::NewSession);
    }
}

#[test]
fn first_valid_cookie_wins_among_duplicates() {
    let p = policy("");
    let one = issue(&p, UP1, None, T0);
    let two = issue(&p, UP2, None, T0);
    let cases: [(&[&str], Option<&str>, CookieStatus); 4] = [
        (&[&one, &two], Some(UP1), CookieStatus::Valid),
        (&["__Host-sticky=bad", &two], Some(UP2), CookieStatus::Valid),
        (
            &["__Host-sticky=bad; __Host-sticky=v1.q.AAAA"],
            None,
            CookieStatus::Rejected(CookieRejection::Malformed),
        ),
        (
            &["__Host-sticky=v1.q.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; __Host-sticky=bad"],
            None,
            CookieStatus::Rejected(CookieRejection::UnknownKey),
        ),
    ];
    for (headers, endpoint, status) in cases {
        let d = request(&p, headers, None, T0 + 1);
        assert_eq!(d.cookie_status, status, "{headers:?}");
        assert_eq!(d.pinned_endpoint(), endpoint.and_then(Endpoint::parse));
    }
}

#[test]
fn key_rotation_accepts_old_cookies_until_the_key_is_removed() {
    let old = policy("");
    let cookie = issue(&old, UP1, None, T0);
    let rotated = load(
        br#"{"mode":"stateful-session","keys":[{"id":"b","env":"KEY_B"},{"id":"a","env":"KEY_A"}]}"#,
        &env,
    )
    .unwrap();
    let d = request(&rotated, &[&cookie], None, T0 + 1);
    assert_eq!(d.cookie_status, CookieStatus::Valid);
    assert!(!d.pin.unwrap().sealed_with_current_key);
    // The response re-seals it with the current key, same endpoint.
    let resp = respond(&rotated, &d, Some(UP1), None, T0 + 1, 5);
    assert_eq!(resp.event, ResponseEvent::Renewed);
    let renewed = cookie_pair(&resp);
    assert!(renewed.starts_with("__Host-sticky=v1.b."), "{renewed}");
    let again = request(&rotated, &[&renewed], None, T0 + 2);
    assert!(again.pin.unwrap().sealed_with_current_key);
    assert_eq!(again.pin.unwrap().issued_at, T0);
    // New sessions use the current key.
    assert!(issue(&rotated, UP2, None, T0).starts_with("__Host-sticky=v1.b."));
    // Once the old key is removed, its cookies are refused.
    let only_new = load(
        br#"{"mode":"stateful-session","keys":[{"id":"b","env":"KEY_B"}]}"#,
        &env,
    )
    .unwrap();
    let d = request(&only_new, &[&cookie], None, T0 + 3);
    assert_eq!(
        d.cookie_status,
        CookieStatus::Rejected(CookieRejection::UnknownKey)
    );
    assert_eq!(
        request(&only_new, &[&renewed], None, T0 + 3).cookie_status,
        CookieStatus::Valid
    );
}

#[test]
fn sliding_expiry_renews_after_half_the_idle_timeout_up_to_max_age() {
    let p = policy(r#""cookie":{"max_age":"1h","idle_timeout":"10m"}"#);
    let cookie = issue(&p, UP1, None, T0);
    let first = request(&p, &[&cookie], None, T0).pin.unwrap();
    assert_eq!(first.expires_at, T0 + 600);
    // Before half of the window: kept. After: renewed for another 10 min.
    let kept = respond(
        &p,
        &request(&p, &[&cookie], None, T0 + 299),
        Some(UP1),
        None,
        T0 + 299,
        1,
    );
    assert_eq!(kept.event, ResponseEvent::Kept);
    let renewed = respond(
        &p,
        &request(&p, &[&cookie], None, T0 + 300),
        Some(UP1),
        None,
        T0 + 300,
        1,
    );
    assert_eq!(renewed.event, ResponseEvent::Renewed);
    assert!(renewed
        .set_cookie
        .as_ref()
        .unwrap()
        .expose()
        .contains("Max-Age=600;"));
    let pin = request(&p, &[&cookie_pair(&renewed)], None, T0 + 301)
        .pin
        .unwrap();
    assert_eq!((pin.issued_at, pin.expires_at), (T0, T0 + 900));
    // Idle longer than the window: the old cookie is expired.
    assert_eq!(
        request(&p, &[&cookie], None, T0 + 600).cookie_status,
        CookieStatus::Rejected(CookieRejection::Expired)
    );
    // Near the absolute cap, the renewal stops at max_age and then stops renewing.
    let mut current = cookie;
    let mut now = T0;
    let mut renewals = 0;
    loop {
        now += 299;
        let d = request(&p, &[&current], None, now);
        let Some(pin) = d.pin else { break };
        assert!(pin.expires_at <= T0 + 3600);
        let resp = respond(&p, &d, Some(UP1), None, now, now);
        if resp.event == ResponseEvent::Renewed {
            renewals += 1;
            current = cookie_pair(&resp);
        }
    }
    // Renewed every second step (598 s): at 598, 1196, ..., 2990, 3588.
    assert_eq!(renewals, 6);
    let last = request(&p, &[&current], None, T0 + 3599).pin.unwrap();
    assert_eq!(last.expires_at, T0 + 3600, "capped at max_age");
    assert!(now > T0 + 3600, "session ended early at {}", now - T0);
}

#[test]
fn subject_binding_stops_cookie_sharing_between_users() {
    let p = policy(r#""bind_subject":true"#);
    let alice = issue(&p, UP1, Some("alice"), T0);
    let cases = [
        (Some("alice"), CookieStatus::Valid),
        (
            Some("bob"),
            CookieStatus::Rejected(CookieRejection::SubjectMismatch),
        ),
        (
            None,
            CookieStatus::Rejected(CookieRejection::SubjectMismatch),
        ),
    ];
    for (subject, status) in cases {
        assert_eq!(
            request(&p, &[&alice], subject, T0 + 1).cookie_status,
            status,
            "{subject:?}"
        );
    }
    // An anonymous cookie is bound after login, keeping its endpoint.
    let anon = issue(&p, UP2, None, T0);
    let d = request(&p, &[&anon], Some("carol"), T0 + 1);
    assert_eq!(d.cookie_status, CookieStatus::Valid);
    let resp = respond(&p, &d, Some(UP2), Some("carol"), T0 + 1, 3);
    assert_eq!(resp.event, ResponseEvent::Renewed);
    let bound = cookie_pair(&resp);
    assert!(
        request(&p, &[&bound], Some("carol"), T0 + 2)
            .pin
            .unwrap()
            .bound_to_subject
    );
    assert_eq!(
        request(&p, &[&bound], Some("dave"), T0 + 2).cookie_status,
        CookieStatus::Rejected(CookieRejection::SubjectMismatch)
    );
    // Without bind_subject, cookies are not bound and Kept for anyone.
    let unbound_policy = policy("");
    let c = issue(&unbound_policy, UP1, Some("alice"), T0);
    let d = request(&unbound_policy, &[&c], Some("bob"), T0 + 1);
    assert!(!d.pin.unwrap().bound_to_subject);
    assert_eq!(
        respond(&unbound_policy, &d, Some(UP1), Some("bob"), T0 + 1, 1).event,
        ResponseEvent::Kept
    );
}

#[test]
fn hash_key_header_is_emitted_only_when_no_cookie_pins() {
    let p = policy(r#""hash_key":{"session_cookie":"JSESSIONID"}"#);
    let hash = |cookies: &[&str], subject: Option<&str>| {
        let d = request(&p, cookies, subject, T0);
        d.set_headers
            .iter()
            .find(|(n, _)| n == "x-sticky-hash")
            .map(|(_, v)| v.clone())
    };
    let alice = hash(&[], Some("alice")).unwrap();
    assert_eq!(alice.len(), 22, "16 bytes, base64url");
    assert_eq!(
        hash(&["JSESSIONID=s1"], Some("alice")),
        Some(alice.clone()),
        "subject first"
    );
    assert_ne!(hash(&[], Some("bob")), Some(alice.clone()));
    assert!(!alice.contains("alice"));
    let s1 = hash(&["JSESSIONID=s1"], None).unwrap();
    assert_eq!(hash(&["a=b; JSESSIONID=s1"], None), Some(s1.clone()));
    assert_ne!(hash(&["JSESSIONID=s2"], None), Some(s1.clone()));
    assert_ne!(
        hash(&["JSESSIONID=alice"], None),
        Some(alice),
        "domains separated"
    );
    assert_eq!(hash(&[], None), None);
    assert_eq!(hash(&["JSESSIONID="], None), None);
    // A pinned request carries the pin, not the hash.
    let cookie = issue(&p, UP1, Some("alice"), T0);
    assert_eq!(hash(&[&cookie], Some("alice")), None);
    // Stable across policy instances with the same current key (replicas).
    let replica = policy(r#""hash_key":{"session_cookie":"JSESSIONID"}"#);
    let d = request(&replica, &["JSESSIONID=s1"], None, T0 + 99);
    assert_eq!(d.set_headers, vec![("x-sticky-hash".to_string(), s1)]);
    // identity: false hashes only the session cookie.
    let anon_only = policy(r#""hash_key":{"identity":false,"session_cookie":"JSESSIONID"}"#);
    assert!(request(&anon_only, &[], Some("alice"), T0)
        .set_headers
        .is_empty());
}

#[test]
fn nonces_come_from_the_callers_randomness() {
    let p = policy("");
    let req = request(&p, &[], None, T0);
    let a = cookie_pair(&respond(&p, &req, Some(UP1), None, T0, 1));
    let b = cookie_pair(&respond(&p, &req, Some(UP1), None, T0, 2));
    let a_again = cookie_pair(&respond(&p, &req, Some(UP1), None, T0, 1));
    assert_ne!(a, b);
    assert_eq!(a, a_again);
}

/// `cookie.max_age` is the absolute session lifetime. An operator who
/// shortens it (8h -> 1h, same key) expects sessions older than 1h to end;
/// the cookie's sealed `issued_at` says how old the session is.
#[test]
fn a_shortened_max_age_ends_older_sessions() {
    let before = policy(r#""cookie":{"max_age":"8h"}"#);
    let cookie = issue(&before, UP1, None, T0);
    let after = policy(r#""cookie":{"max_age":"1h"}"#);
    assert_eq!(
        request(&after, &[&cookie], None, T0 + 2 * 3600).cookie_status,
        CookieStatus::Rejected(CookieRejection::Expired)
    );
    // Younger sessions go on until 1h after their start, also when the
    // memo remembers the cookie from an earlier request.
    assert_eq!(
        request(&after, &[&cookie], None, T0 + 3599).cookie_status,
        CookieStatus::Valid
    );
    assert_eq!(after.opened.len(), 1);
    let ended = request(&after, &[&cookie], None, T0 + 3600);
    assert_eq!(
        ended.cookie_status,
        CookieStatus::Rejected(CookieRejection::Expired)
    );
    assert_eq!(
        respond(&after, &ended, Some(UP1), None, T0 + 3600, 1).event,
        ResponseEvent::NewSession
    );
}

/// The last renewal time is not sealed, so a shortened `idle_timeout`
/// applies to cookies issued or renewed from then on; older ones keep their
/// sealed expiry (at most the old window).
#[test]
fn a_shortened_idle_timeout_applies_to_cookies_issued_from_then_on() {
    let before = policy(r#""cookie":{"max_age":"8h","idle_timeout":"30m"}"#);
    let cookie = issue(&before, UP1, None, T0);
    let after = policy(r#""cookie":{"max_age":"8h","idle_timeout":"10m"}"#);
    assert_eq!(
        request(&after, &[&cookie], None, T0 + 1200).cookie_status,
        CookieStatus::Valid
    );
    assert_eq!(
        request(&after, &[&cookie], None, T0 + 1800).cookie_status,
        CookieStatus::Rejected(CookieRejection::Expired)
    );
    let fresh = issue(&after, UP1, None, T0);
    assert_eq!(
        request(&after, &[&fresh], None, T0 + 600).cookie_status,
        CookieStatus::Rejected(CookieRejection::Expired)
    );
}

/// A nonce source that has no secure randomness (the host's `random_get`
/// failed).
struct NoRandomness;

impl NonceSource for NoRandomness {
    fn fill_nonce(&mut self, _: &mut [u8; NONCE_LEN]) -> Result<(), SealError> {
        Err(SealError)
    }
}

/// Without secure randomness no cookie is sealed (a guessable nonce would
/// break the AEAD): the response goes out without Set-Cookie and the
/// failure is counted; a kept session needs no nonce.
#[test]
fn a_failing_random_source_yields_no_cookie() {
    let p = policy(r#""cookie":{"idle_timeout":"10m"}"#);
    let cookie = issue(&p, UP1, None, T0);
    // (cookie, served by, at, what a working source would give)
    let cases: [(&[&str], _, _, _); 4] = [
        (&[], UP1, T0 + 1, ResponseEvent::NewSession),
        (&[&cookie], UP2, T0 + 1, ResponseEvent::Repinned),
        (&[&cookie], UP1, T0 + 300, ResponseEvent::Renewed),
        (&[&cookie], UP1, T0 + 1, ResponseEvent::Kept),
    ];
    for (cookies, upstream, now, working) in cases {
        let req = request(&p, cookies, None, now);
        assert_eq!(
            respond(&p, &req, Some(upstream), None, now, 1).event,
            working
        );
        let resp = p.on_response(ResponseInput {
            upstream_address: Some(upstream),
            served_by_upstream: &|| true,
            request: &req,
            subject: &Subject::known(None),
            now: at(now),
            rng: &mut NoRandomness,
        });
        let want = match working {
            ResponseEvent::Kept => ResponseEvent::Kept,
            _ => ResponseEvent::SealFailed,
        };
        assert_eq!(resp.event, want, "{working:?}");
        assert!(resp.set_cookie.is_none());
    }
    assert_eq!(
        metrics::response_counter(ResponseEvent::SealFailed),
        "sticky_response_seal_failed"
    );
}
