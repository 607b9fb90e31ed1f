//! Per-route cookie settings: overrides inherit, validate with the route's
//! JSON path, and keep each route's session independent.

use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const UP1: &str = "127.0.0.1:8081";
const UP2: &str = "127.0.0.1:8082";

fn request_at(p: &StickyPolicy, path: &str, cookies: &[&str], now: u64) -> RequestDecision {
    p.on_request(&RequestInput {
        cookie_headers: cookies,
        path,
        subject: &Subject::known(Some("alice")),
        now: at(now),
    })
}

/// A new session on `path` served by `upstream`: the full Set-Cookie value.
fn set_cookie_at(p: &StickyPolicy, path: &str, upstream: &str, now: u64) -> String {
    let req = request_at(p, path, &[], now);
    let resp = respond(p, &req, Some(upstream), Some("alice"), now, now);
    assert_eq!(resp.event, ResponseEvent::NewSession, "{path}");
    resp.set_cookie.unwrap().expose().to_string()
}

fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[test]
fn route_cookies_inherit_unset_fields_from_the_top_level() {
    let p = policy(
        r#""cookie":{"name":"sticky","max_age":"8h","idle_timeout":"30m","domain":"example.com","same_site":"Strict"},
           "routes":[
             {"path_prefix":"/healthz","enabled":false},
             {"path_prefix":"/cart","cookie":{"name":"sticky-cart","path":"/cart","max_age":"10m","idle_timeout":null}},
             {"path_prefix":"/embed","cookie":{"name":"__Host-embed","domain":null,"same_site":"None","http_only":false}},
             {"path_prefix":"/api","bind_subject":true}
           ]"#,
    );
    assert_eq!(p.route_overrides(), 3);
    let cases = [
        // Top level: sliding window of 30 min first.
        (
            "/",
            "sticky=",
            "; Path=/; Domain=example.com; Max-Age=1800; Secure; HttpOnly; SameSite=Strict",
        ),
        // `idle_timeout: null` clears the inherited sliding window.
        (
            "/cart/items?x=1",
            "sticky-cart=",
            "; Path=/cart; Domain=example.com; Max-Age=600; Secure; HttpOnly; SameSite=Strict",
        ),
        // `domain: null` makes `__Host-` possible; the rest is inherited.
        (
            "/embed/x",
            "__Host-embed=",
            "; Path=/; Max-Age=1800; Secure; SameSite=None",
        ),
        // Only the binding changes: the top-level cookie.
        (
            "/api/orders",
            "sticky=",
            "; Path=/; Domain=example.com; Max-Age=1800; Secure; HttpOnly; SameSite=Strict",
        ),
    ];
    for (path, start, attrs) in cases {
        let header = set_cookie_at(&p, path, UP1, T0);
        assert!(header.starts_with(start), "{path}: {header}");
        assert!(header.ends_with(attrs), "{path}: {header}");
    }
    let disabled = request_at(&p, "/healthz", &[], T0);
    assert!(!disabled.route_enabled);
    assert_eq!(disabled.cookie_status, CookieStatus::Skipped);
}

#[test]
fn route_cookie_errors_name_the_route_field() {
    let cases: &[(&str, &str, &str)] = &[
        // (routes JSON, error path, message fragment)
        (
            r#"[{"path_prefix":"/a"},{"path_prefix":"/b"},{"path_prefix":"/c","cookie":{"name":"c","max_age":"soon"}}]"#,
            "routes[2].cookie.max_age",
            "not a duration",
        ),
        (
            r#"[{"path_prefix":"/c","cookie":{"name":"c","max_age":"9601h"}}]"#,
            "routes[0].cookie.max_age",
            "400 days",
        ),
        (
            r#"[{"path_prefix":"/c","cookie":{"name":"c","max_age":"5m","idle_timeout":"10m"}}]"#,
            "routes[0].cookie.idle_timeout",
            "at most",
        ),
        // The inherited `__Host-sticky` name forbids a route Path.
        (
            r#"[{"path_prefix":"/c","cookie":{"path":"/c"}}]"#,
            "routes[0].cookie.path",
            "prefix of `__Host-sticky`",
        ),
        (
            r#"[{"path_prefix":"/c","cookie":{"name":"__Host-c","secure":false}}]"#,
            "routes[0].cookie.secure",
            "prefix",
        ),
        (
            r#"[{"path_prefix":"/c","cookie":{"domain":"example.com"}}]"#,
            "routes[0].cookie.domain",
            "forbids `domain`",
        ),
        (
            r#"[{"path_prefix":"/c","cookie":{"name":"c","secure":false,"same_site":"None"}}]"#,
            "routes[0].cookie.same_site",
            "requires `secure: true`",
        ),
        (
            r#"[{"path_prefix":"/c","cookie":{"name":"a b"}}]"#,
            "routes[0].cookie.name",
            "not a valid cookie name",
        ),
        (
            r#"[{"path_prefix":"/c","cookie":{"nmae":"c"}}]"#,
            "routes[0].cookie.nmae",
            "unknown field",
        ),
        (
            r#"[{"path_prefix":"/c","mode":"sticky"}]"#,
            "routes[0].mode",
            "unknown variant",
        ),
        (
            r#"[{"path_prefix":"/c","enabled":false,"cookie":{"name":"c"}}]"#,
            "routes[0]",
            "`enabled: false` takes no `cookie`",
        ),
        // Same name, other scope: a browser would send both cookies to /c.
        (
            r#"[{"path_prefix":"/c","cookie":{"name":"__Host-sticky","max_age":"5m","secure":true,"path":"/","domain":null}},
                {"path_prefix":"/d","cookie":{"name":"d","path":"/d"}},
                {"path_prefix":"/e","cookie":{"name":"d","path":"/e"}}]"#,
            "routes[2].cookie.name",
            "also the name of `routes[1].cookie`",
        ),
    ];
    for (routes, path, fragment) in cases {
        let err = try_policy(&format!(r#""routes":{routes}"#)).unwrap_err();
        assert_eq!(&err.path, path, "{routes}: {err}");
        assert!(err.message.contains(fragment), "{routes}: {err}");
    }
    // The same name with the same scope is one shared cookie: allowed.
    let shared = r#""routes":[{"path_prefix":"/c","cookie":{"max_age":"5m"}}]"#;
    assert!(try_policy(shared).is_ok());
}

#[test]
fn routes_with_their_own_cookie_keep_independent_sessions() {
    let p = policy(
        r#""cookie":{"max_age":"1h"},
           "routes":[{"path_prefix":"/cart","cookie":{"name":"sticky-cart","path":"/cart","secure":true,"max_age":"10m"}}]"#,
    );
    // The cart cookie pins UP1, the site-wide one UP2.
    let cart = pair(&set_cookie_at(&p, "/cart", UP1, T0));
    let site = pair(&set_cookie_at(&p, "/", UP2, T0));
    assert!(cart.starts_with("sticky-cart="), "{cart}");
    // A browser sends both on /cart (most specific path first) and only the
    // site-wide one elsewhere; each route reads only its own cookie.
    let on_cart = request_at(&p, "/cart/add", &[&format!("{cart}; {site}")], T0 + 1);
    assert_eq!(on_cart.pinned_endpoint(), Endpoint::parse(UP1));
    let on_site = request_at(&p, "/home", &[&format!("{cart}; {site}")], T0 + 1);
    assert_eq!(on_site.pinned_endpoint(), Endpoint::parse(UP2));
    // The cart cookie's value renamed to the site cookie does not open: the
    // cookie name is authenticated.
    let renamed = format!("__Host-sticky={}", cart.split_once('=').unwrap().1);
    let forged = request_at(&p, "/home", &[&renamed], T0 + 1);
    assert_eq!(
        forged.cookie_status,
        CookieStatus::Rejected(CookieRejection::Undecryptable)
    );
    // Each keeps its own lifetime: after 10 min the cart session is over,
    // the site session is not.
    let later = T0 + 600;
    let on_cart = request_at(&p, "/cart", &[&format!("{cart}; {site}")], later);
    assert_eq!(
        on_cart.cookie_status,
        CookieStatus::Rejected(CookieRejection::Expired)
    );
    let resp = respond(&p, &on_cart, Some(UP2), Some("alice"), later, 9);
    assert_eq!(resp.event, ResponseEvent::NewSession);
    assert!(resp
        .set_cookie
        .unwrap()
        .expose()
        .starts_with("sticky-cart="));
    let on_site = request_at(&p, "/", &[&site], later);
    assert_eq!(on_site.pinned_endpoint(), Endpoint::parse(UP2));
}

#[test]
fn routes_override_mode_and_subject_binding() {
    let p = policy(
        r#""bind_subject":true,
           "routes":[{"path_prefix":"/direct","mode":"override-host","bind_subject":false,
                      "cookie":{"name":"sticky-direct","path":"/direct","secure":true}}]"#,
    );
    let top = pair(&set_cookie_at(&p, "/", UP1, T0));
    let direct = pair(&set_cookie_at(&p, "/direct", UP1, T0));
    // Pin header encodings follow each route's mode.
    let pin = |path: &str, cookie: &str, subject: Option<&str>| {
        p.on_request(&RequestInput {
            cookie_headers: &[cookie],
            path,
            subject: &Subject::known(subject),
            now: at(T0 + 1),
        })
    };
    let r = pin("/", &top, Some("alice"));
    assert_eq!(r.set_headers[0].1, "MTI3LjAuMC4xOjgwODE=");
    let r = pin("/direct/x", &direct, Some("alice"));
    assert_eq!(r.set_headers[0].1, "127.0.0.1:8081");
    // Binding: the top-level cookie is alice's only; the /direct one is not bound.
    assert_eq!(
        pin("/", &top, Some("bob")).cookie_status,
        CookieStatus::Rejected(CookieRejection::SubjectMismatch)
    );
    assert_eq!(
        pin("/direct", &direct, Some("bob")).cookie_status,
        CookieStatus::Valid
    );
}
