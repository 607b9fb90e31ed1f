//! Per-route `hash_key`: a route's own header and source, inherited or off;
//! client copies of every configured hash header are always stripped; errors
//! name the route's field.

use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const UP1: &str = "127.0.0.1:8081";

/// A hash header as `(name, value)`.
type Header = Option<(String, String)>;

/// The `(name, value)` hash header the request gets, if any.
fn hash_header(p: &StickyPolicy, path: &str, cookies: &[&str], subject: Option<&str>) -> Header {
    let d = p.on_request(&RequestInput {
        cookie_headers: cookies,
        path,
        subject: &Subject::known(subject),
        now: at(T0),
    });
    assert!(d.set_headers.len() <= 1, "{path}: {:?}", d.set_headers);
    d.set_headers.into_iter().next()
}

#[test]
fn each_route_uses_its_own_hash_key_or_inherits_the_top_level_one() {
    let p = policy(
        r#""hash_key":{"header":"x-sticky-hash","session_cookie":"JSESSIONID"},
           "routes":[
             {"path_prefix":"/a","hash_key":{"header":"x-hash-a"}},
             {"path_prefix":"/b","hash_key":{"header":"X-Hash-B","identity":false}},
             {"path_prefix":"/off","hash_key":{"enabled":false}},
             {"path_prefix":"/plain"},
             {"path_prefix":"/no-session","hash_key":{"session_cookie":null}}
           ]"#,
    );
    let alice = hash_header(&p, "/", &[], Some("alice")).unwrap().1;
    let s1 = hash_header(&p, "/", &["JSESSIONID=s1"], None).unwrap().1;
    assert_ne!(alice, s1);
    let named = |name: &str, value: &str| Some((name.to_string(), value.to_string()));
    let cases: [(&str, &[&str], Option<&str>, Header); 9] = [
        ("/", &[], Some("alice"), named("x-sticky-hash", &alice)),
        // Own header name; the source fields are inherited.
        ("/a/x", &[], Some("alice"), named("x-hash-a", &alice)),
        ("/a/x", &["JSESSIONID=s1"], None, named("x-hash-a", &s1)),
        // `identity: false`: the session cookie even for a known subject.
        (
            "/b",
            &["JSESSIONID=s1"],
            Some("alice"),
            named("x-hash-b", &s1),
        ),
        ("/b", &[], Some("alice"), None),
        // Turned off: no hash header at all.
        ("/off/x", &["JSESSIONID=s1"], Some("alice"), None),
        // No override: the top-level hash key.
        (
            "/plain",
            &["JSESSIONID=s1"],
            None,
            named("x-sticky-hash", &s1),
        ),
        // `session_cookie: null` clears the inherited source.
        ("/no-session", &["JSESSIONID=s1"], None, None),
        (
            "/no-session",
            &[],
            Some("alice"),
            named("x-sticky-hash", &alice),
        ),
    ];
    for (path, cookies, subject, want) in cases {
        assert_eq!(
            hash_header(&p, path, cookies, subject),
            want,
            "{path} {cookies:?} {subject:?}"
        );
    }
}

#[test]
fn a_route_hash_key_works_without_a_top_level_one() {
    let p = policy(
        r#""routes":[{"path_prefix":"/a","hash_key":{}},
                     {"path_prefix":"/b","hash_key":{"identity":false,"session_cookie":"sid"}}]"#,
    );
    assert_eq!(p.hash_header(), None);
    assert_eq!(hash_header(&p, "/", &["sid=1"], Some("alice")), None);
    let a = hash_header(&p, "/a", &[], Some("alice")).unwrap();
    assert_eq!(a.0, "x-sticky-hash");
    let b = hash_header(&p, "/b", &["sid=1"], Some("alice")).unwrap();
    assert_eq!(b.0, "x-sticky-hash");
    assert_ne!(a.1, b.1, "/b hashes the session cookie, not the subject");
}

#[test]
fn client_copies_of_every_configured_hash_header_are_removed_on_every_route() {
    let p = policy(
        r#""hash_key":{},
           "routes":[
             {"path_prefix":"/a","hash_key":{"header":"x-hash-a"}},
             {"path_prefix":"/b","hash_key":{"header":"x-hash-b"}},
             {"path_prefix":"/a2","hash_key":{"header":"X-HASH-A"}},
             {"path_prefix":"/off","hash_key":{"enabled":false}},
             {"path_prefix":"/static","enabled":false}
           ]"#,
    );
    let all = ["x-sticky-endpoint", "x-sticky-hash", "x-hash-a", "x-hash-b"];
    assert_eq!(p.hash_headers(), &all[1..]);
    let cookie = issue(&p, UP1, None, T0);
    for path in ["/", "/a", "/b", "/off", "/static/app.js"] {
        for cookies in [
            &[][..],
            &[cookie.as_str()][..],
            &["__Host-sticky=forged"][..],
        ] {
            let d = p.on_request(&RequestInput {
                cookie_headers: cookies,
                path,
                subject: &Subject::known(Some("alice")),
                now: at(T0),
            });
            assert_eq!(d.remove_headers, all, "{path} {cookies:?}");
        }
    }
    // Without any hash key only the pin header is stripped.
    let p = policy("");
    let d = request(&p, &[], Some("alice"), T0);
    assert_eq!(d.remove_headers, ["x-sticky-endpoint"]);
}

#[test]
fn route_hash_key_errors_name_the_route_field() {
    let cases: &[(&str, &str, &str)] = &[
        // (extra JSON, error path, message fragment)
        (
            r#""routes":[{"path_prefix":"/a"},{"path_prefix":"/b","hash_key":{"header":"X-Sticky-Endpoint"}}]"#,
            "routes[1].hash_key.header",
            "differ from `pin_header`",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":{"header":"x hash"}}]"#,
            "routes[0].hash_key.header",
            "not a header name",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":{"header":"Cookie"}}]"#,
            "routes[0].hash_key.header",
            "reserved",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":{"session_cookie":"a;b"}}]"#,
            "routes[0].hash_key.session_cookie",
            "not a valid cookie name",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":{"identity":false}}]"#,
            "routes[0].hash_key.identity",
            "`{\"enabled\": false}`",
        ),
        // Clearing the inherited session cookie leaves nothing to hash.
        (
            r#""hash_key":{"identity":false,"session_cookie":"sid"},
               "routes":[{"path_prefix":"/a","hash_key":{"session_cookie":null}}]"#,
            "routes[0].hash_key.identity",
            "set `session_cookie`",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":{"enabled":false,"header":"x-h"}}]"#,
            "routes[0].hash_key",
            "`enabled: false` takes no `header`",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":null}]"#,
            "routes[0].hash_key",
            "ambiguous",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":false}]"#,
            "routes[0].hash_key",
            "",
        ),
        (
            r#""routes":[{"path_prefix":"/a","hash_key":{"headr":"x-h"}}]"#,
            "routes[0].hash_key.headr",
            "unknown field",
        ),
        (
            r#""routes":[{"path_prefix":"/a","enabled":false,"hash_key":{"header":"x-h"}}]"#,
            "routes[0]",
            "`hash_key`",
        ),
    ];
    for (extra, path, fragment) in cases {
        let err = try_policy(extra).unwrap_err();
        assert_eq!(&err.path, path, "{extra}: {err}");
        assert!(err.message.contains(fragment), "{extra}: {err}");
    }
    // `identity: false` with an inherited session cookie is complete.
    let inherits = r#""hash_key":{"session_cookie":"sid"},"routes":[{"path_prefix":"/a","hash_key":{"identity":false}}]"#;
    assert!(try_policy(inherits).is_ok());
}
