//! The memo of opened cookies: a returning cookie is not opened again, and
//! every answer is the one the full check gives.

use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const UP: &str = "127.0.0.1:8081";

fn status(
    p: &StickyPolicy,
    path: &str,
    cookie: &str,
    subject: Option<&str>,
    now: u64,
) -> RequestDecision {
    p.on_request(&RequestInput {
        cookie_headers: &[cookie],
        path,
        subject: &Subject::known(subject),
        now: at(now),
    })
}

#[test]
fn a_returning_cookie_is_opened_once_and_decided_as_without_the_memo() {
    let with_memo = policy(r#""cookie":{"idle_timeout":"30m"}"#);
    let without = policy(r#""cookie":{"idle_timeout":"30m"},"opened_cookie_cache_entries":0"#);
    let cookie = issue(&with_memo, UP, None, T0);
    // Within its life, up to one second before it expires, then after.
    for now in [T0 + 1, T0 + 2, T0 + 1799, T0 + 1800, T0 + 5000] {
        let a = status(&with_memo, "/app", &cookie, None, now);
        let b = status(&without, "/app", &cookie, None, now);
        assert_eq!(a, b, "at T0+{}", now - T0);
    }
    assert_eq!(with_memo.opened.len(), 1);
    assert_eq!(without.opened.len(), 0);
    // The expired cookie is refused although the memo had it.
    assert_eq!(
        status(&with_memo, "/app", &cookie, None, T0 + 1800).cookie_status,
        CookieStatus::Rejected(CookieRejection::Expired)
    );
}

/// One cookie, shared by routes that differ in binding and `max_age`, sent
/// in turn by its owner, another user and anonymous requests: every
/// decision, and every read of the subject, is the one the full check gives.
#[test]
fn the_memo_decides_as_without_it_across_binding_and_max_age_of_routes() {
    let config = r#""cookie":{"name":"sticky","max_age":"8h"},
        "routes":[{"path_prefix":"/api","bind_subject":true},
                  {"path_prefix":"/short","cookie":{"max_age":"1h"}},
                  {"path_prefix":"/direct","mode":"override-host"}]"#;
    let with_memo = policy(config);
    let without = policy(&format!(r#"{config},"opened_cookie_cache_entries":0"#));
    let api = with_memo.on_request(&RequestInput {
        cookie_headers: &[],
        path: "/api",
        subject: &Subject::known(Some("alice")),
        now: at(T0),
    });
    let bound = cookie_pair(&respond(&with_memo, &api, Some(UP), Some("alice"), T0, 1));
    let unbound = issue(&with_memo, UP, None, T0);
    let steps = [
        ("/", None, T0 + 1),
        ("/api", Some("alice"), T0 + 2),
        ("/api", None, T0 + 3),
        ("/api", Some("bob"), T0 + 4),
        ("/", Some("bob"), T0 + 5),
        ("/direct", None, T0 + 6),
        ("/api", Some("alice"), T0 + 7),
        ("/short", None, T0 + 8),
        ("/short", None, T0 + 3600),
        ("/", None, T0 + 3601),
        ("/api", Some("alice"), T0 + 3602),
        ("/api", Some("bob"), T0 + 3603),
        ("/short", Some("alice"), T0 + 4000),
        ("/", None, T0 + 8 * 3600),
    ];
    for cookie in [&bound, &unbound] {
        for (path, subject, now) in steps {
            let run = |p: &StickyPolicy| {
                let asked = std::cell::Cell::new(0);
                let read = || {
                    asked.set(asked.get() + 1);
                    subject.map(str::to_string)
                };
                let d = p.on_request(&RequestInput {
                    cookie_headers: &[cookie],
                    path,
                    subject: &Subject::read_with(&read),
                    now: at(now),
                });
                (d, asked.get())
            };
            let at_step = format!("{path} {subject:?} T0+{}", now - T0);
            assert_eq!(run(&with_memo), run(&without), "{at_step}");
        }
    }
    assert_eq!(without.opened.len(), 0);
    // And the answers are the intended ones: bound only on /api, 1h on /short.
    let status = |path, subject, now| status(&with_memo, path, &bound, subject, now).cookie_status;
    assert_eq!(status("/", Some("bob"), T0 + 9), CookieStatus::Valid);
    assert_eq!(
        status("/api", Some("bob"), T0 + 9),
        CookieStatus::Rejected(CookieRejection::SubjectMismatch)
    );
    assert_eq!(
        status("/short", None, T0 + 3600),
        CookieStatus::Rejected(CookieRejection::Expired)
    );
    assert_eq!(status("/", None, T0 + 3600), CookieStatus::Valid);
}

#[test]
fn a_bound_cookie_remembered_for_its_subject_serves_no_other() {
    let p = policy(r#""bind_subject":true"#);
    let cookie = issue(&p, UP, Some("alice"), T0);
    assert_eq!(
        status(&p, "/app", &cookie, Some("alice"), T0 + 1).cookie_status,
        CookieStatus::Valid
    );
    for other in [Some("bob"), Some("alice "), None] {
        assert_eq!(
            status(&p, "/app", &cookie, other, T0 + 2).cookie_status,
            CookieStatus::Rejected(CookieRejection::SubjectMismatch),
            "{other:?}"
        );
    }
    assert_eq!(
        status(&p, "/app", &cookie, Some("alice"), T0 + 3).cookie_status,
        CookieStatus::Valid
    );
}

#[test]
fn a_remembered_value_under_another_cookie_name_is_opened_in_full() {
    let p = policy(
        r#""routes":[{"path_prefix":"/cart","cookie":{"name":"sticky-cart","path":"/cart","secure":true}}]"#,
    );
    let cookie = issue(&p, UP, None, T0);
    assert_eq!(
        status(&p, "/app", &cookie, None, T0 + 1).cookie_status,
        CookieStatus::Valid
    );
    let value = cookie.split_once('=').unwrap().1;
    // The AAD holds the cookie name: the same bytes are no cart session.
    assert_eq!(
        status(&p, "/cart", &format!("sticky-cart={value}"), None, T0 + 2).cookie_status,
        CookieStatus::Rejected(CookieRejection::Undecryptable)
    );
}

#[test]
fn a_remembered_cookie_on_a_route_of_another_mode_gets_that_modes_pin_header() {
    let p = policy(r#""routes":[{"path_prefix":"/direct","mode":"override-host"}]"#);
    let cookie = issue(&p, UP, None, T0);
    let pin = |path| {
        status(&p, path, &cookie, None, T0 + 1).set_headers[0]
            .1
            .clone()
    };
    assert_eq!(pin("/app"), "MTI3LjAuMC4xOjgwODE=");
    assert_eq!(pin("/direct"), UP);
    assert_eq!(pin("/app"), "MTI3LjAuMC4xOjgwODE=");
}

#[test]
fn only_cookies_that_open_are_remembered_and_the_memo_is_bounded() {
    let p = policy(r#""opened_cookie_cache_entries":2"#);
    let cookie = issue(&p, UP, None, T0);
    let tampered = format!("{}A", &cookie[..cookie.len() - 1]);
    assert!(matches!(
        status(&p, "/app", &tampered, None, T0 + 1).cookie_status,
        CookieStatus::Rejected(_)
    ));
    assert_eq!(p.opened.len(), 0);
    for i in 0..5 {
        let c = issue(&p, UP, None, T0 + i);
        assert_eq!(
            status(&p, "/app", &c, None, T0 + i).cookie_status,
            CookieStatus::Valid
        );
        assert!(p.opened.len() <= 2);
    }
}

#[test]
fn an_oversized_memo_is_refused_naming_the_field() {
    let err = try_policy(r#""opened_cookie_cache_entries":100001"#).unwrap_err();
    assert_eq!(err.path, "opened_cookie_cache_entries");
    assert!(err.message.contains("at most 100000"), "{err}");
    assert!(try_policy(r#""opened_cookie_cache_entries":100000"#).is_ok());
}
