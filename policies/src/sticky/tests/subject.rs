//! The verified subject is read from the host only when a decision needs it,
//! and at most once per request.

use super::*;
use std::cell::Cell;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const UP: &str = "127.0.0.1:8081";

/// One request and its response with a subject read through a counting
/// host read; returns the response event and how often the host was asked.
fn round_trip(
    p: &StickyPolicy,
    cookies: &[&str],
    subject: Option<&str>,
) -> (CookieStatus, ResponseDecision, u32) {
    let asked = Cell::new(0);
    let read = || {
        asked.set(asked.get() + 1);
        subject.map(str::to_string)
    };
    let lazy = Subject::read_with(&read);
    let req = p.on_request(&RequestInput {
        cookie_headers: cookies,
        path: "/app",
        subject: &lazy,
        now: at(T0 + 60),
    });
    let resp = p.on_response(ResponseInput {
        upstream_address: Some(UP),
        served_by_upstream: &|| true,
        request: &req,
        subject: &lazy,
        now: at(T0 + 60),
        rng: &mut SeededRandom(5),
    });
    (req.cookie_status, resp, asked.get())
}

#[test]
fn a_kept_unbound_session_never_reads_the_subject() {
    let p = policy("");
    let cookie = issue(&p, UP, Some("alice"), T0);
    let (status, resp, asked) = round_trip(&p, &[&cookie], Some("alice"));
    assert_eq!(
        (status, resp.event, asked),
        (CookieStatus::Valid, ResponseEvent::Kept, 0)
    );
    // Nor does a new session that binds nothing.
    let (status, resp, asked) = round_trip(&p, &[], Some("alice"));
    assert_eq!(
        (status, resp.event, asked),
        (CookieStatus::Absent, ResponseEvent::NewSession, 0)
    );
}

#[test]
fn a_bound_cookie_reads_the_subject_once_and_refuses_another() {
    let p = policy(r#""bind_subject":true"#);
    let cookie = issue(&p, UP, Some("alice"), T0);
    let (status, resp, asked) = round_trip(&p, &[&cookie], Some("alice"));
    assert_eq!(
        (status, resp.event, asked),
        (CookieStatus::Valid, ResponseEvent::Kept, 1)
    );
    // The memo holds it now: a hit still checks the subject, still once.
    let (status, _, asked) = round_trip(&p, &[&cookie], Some("bob"));
    assert_eq!(
        (status, asked),
        (CookieStatus::Rejected(CookieRejection::SubjectMismatch), 1)
    );
    let (status, _, asked) = round_trip(&p, &[&cookie], None);
    assert_eq!(
        (status, asked),
        (CookieStatus::Rejected(CookieRejection::SubjectMismatch), 1)
    );
}

#[test]
fn a_bound_cookie_on_a_route_that_does_not_bind_never_reads_the_subject() {
    // `/app` (the top level) does not bind; `/api` does.
    let p = policy(r#""routes":[{"path_prefix":"/api","bind_subject":true}]"#);
    let api = p.on_request(&RequestInput {
        cookie_headers: &[],
        path: "/api",
        subject: &Subject::known(Some("alice")),
        now: at(T0),
    });
    let cookie = cookie_pair(&respond(&p, &api, Some(UP), Some("alice"), T0, 1));
    // Opened in full, then from the memo.
    for _ in 0..2 {
        let (status, resp, asked) = round_trip(&p, &[&cookie], Some("bob"));
        assert_eq!(
            (status, resp.event, asked),
            (CookieStatus::Valid, ResponseEvent::Kept, 0)
        );
    }
}

#[test]
fn a_new_session_read_at_response_time_is_bound_to_the_subject() {
    let p = policy(r#""bind_subject":true"#);
    let (status, resp, asked) = round_trip(&p, &[], Some("alice"));
    assert_eq!(
        (status, resp.event, asked),
        (CookieStatus::Absent, ResponseEvent::NewSession, 1)
    );
    let cookie = cookie_pair(&resp);
    assert_eq!(
        request(&p, &[&cookie], Some("bob"), T0 + 61).cookie_status,
        CookieStatus::Rejected(CookieRejection::SubjectMismatch)
    );
    assert_eq!(
        request(&p, &[&cookie], Some("alice"), T0 + 61).cookie_status,
        CookieStatus::Valid
    );
}

#[test]
fn an_unbound_cookie_is_renewed_with_the_binding_once_binding_is_on() {
    let before = policy("");
    let cookie = issue(&before, UP, None, T0);
    let after = policy(r#""bind_subject":true"#);
    let (status, resp, asked) = round_trip(&after, &[&cookie], Some("alice"));
    assert_eq!(
        (status, resp.event, asked),
        (CookieStatus::Valid, ResponseEvent::Renewed, 1)
    );
}

#[test]
fn an_identity_hash_key_reads_the_subject_only_for_an_unpinned_request() {
    let p = policy(r#""hash_key":{"header":"x-sticky-hash","identity":true}"#);
    let (_, resp, asked) = round_trip(&p, &[], Some("alice"));
    assert_eq!(asked, 1, "the hash header needs it");
    let cookie = cookie_pair(&resp);
    let (status, _, asked) = round_trip(&p, &[&cookie], Some("alice"));
    assert_eq!(
        (status, asked),
        (CookieStatus::Valid, 0),
        "a pin needs no hash"
    );
}
