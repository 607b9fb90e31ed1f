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

/// A route that binds (`/api`, bind_subject) sharing the site-wide cookie
/// with unbound paths (the configuration of
/// `route_cookies_inherit_unset_fields_from_the_top_level`): once the user
/// has called `/api`, the cookie is bound. An anonymous page load on `/` (no
/// bearer token, so no verified subject) must keep the session: the top
/// level does not bind, so the binding is not its business.
#[test]
fn an_unbound_route_keeps_a_session_bound_on_another_route() {
    let p = policy(
        r#""cookie":{"name":"sticky"},"routes":[{"path_prefix":"/api","bind_subject":true}]"#,
    );
    // alice's first call is an API call: a bound cookie pinning UP1.
    let api = p.on_request(&RequestInput {
        cookie_headers: &[],
        path: "/api/orders",
        subject: &Subject::known(Some("alice")),
        now: at(T0),
    });
    let bound = cookie_pair(&respond(&p, &api, Some(UP1), Some("alice"), T0, 1));
    // Then her browser loads a page: same cookie, no Authorization header.
    let page = p.on_request(&RequestInput {
        cookie_headers: &[&bound],
        path: "/index.html",
        subject: &Subject::known(None),
        now: at(T0 + 1),
    });
    assert_eq!(page.cookie_status, CookieStatus::Valid);
    assert_eq!(page.pinned_endpoint(), Endpoint::parse(UP1));
    // Served by her endpoint: kept as it is, no re-issue.
    let kept = respond(&p, &page, Some(UP1), None, T0 + 1, 2);
    assert_eq!((kept.event, kept.set_cookie), (ResponseEvent::Kept, None));
    // Served elsewhere meanwhile (no pin): her session must not be replaced
    // by a fresh, unpinned one.
    let resp = respond(&p, &page, Some(UP2), None, T0 + 1, 2);
    assert_eq!(resp.event, ResponseEvent::Repinned);
    // The moved cookie keeps the session's start and alice's binding: still
    // hers on /api, nobody else's.
    let moved = cookie_pair(&resp);
    let on_api = |subject| {
        p.on_request(&RequestInput {
            cookie_headers: &[&moved],
            path: "/api/orders",
            subject: &Subject::known(subject),
            now: at(T0 + 2),
        })
    };
    let alice = on_api(Some("alice")).pin.unwrap();
    assert_eq!(alice.endpoint, Endpoint::parse(UP2).unwrap());
    assert_eq!(alice.issued_at, T0);
    assert!(alice.bound_to_subject);
    for other in [Some("bob"), None] {
        assert_eq!(
            on_api(other).cookie_status,
            CookieStatus::Rejected(CookieRejection::SubjectMismatch),
            "{other:?}"
        );
    }
}

/// Re-issuing on a route that does not bind keeps a binding made on a
/// route that does: a sliding renewal by an anonymous request keeps it as
/// sealed; after a key rotation it is re-keyed for its own subject only,
/// and an anonymous request keeps the old cookie (renewed on `/api` later)
/// rather than drop the binding; a move then drops it (documented).
#[test]
fn an_unbound_route_renews_a_bound_cookie_without_dropping_its_binding() {
    let config = |keys: &str| {
        let json = format!(
            r#"{{"mode":"stateful-session","keys":{keys},
                "cookie":{{"name":"sticky","max_age":"8h","idle_timeout":"10m"}},
                "routes":[{{"path_prefix":"/api","bind_subject":true}}]}}"#
        );
        load(json.as_bytes(), &env).unwrap()
    };
    let old = config(r#"[{"id":"a","env":"KEY_A"}]"#);
    let run = |p: &StickyPolicy, cookie: &str, path, subject, upstream, now| {
        let req = p.on_request(&RequestInput {
            cookie_headers: &[cookie],
            path,
            subject: &Subject::known(subject),
            now: at(now),
        });
        let resp = respond(p, &req, Some(upstream), subject, now, now);
        (req.cookie_status, resp)
    };
    let owner =
        |p: &StickyPolicy, cookie: &str, subject, now| run(p, cookie, "/api", subject, UP1, now).0;
    let api = old.on_request(&RequestInput {
        cookie_headers: &[],
        path: "/api",
        subject: &Subject::known(Some("alice")),
        now: at(T0),
    });
    let bound = cookie_pair(&respond(&old, &api, Some(UP1), Some("alice"), T0, 1));
    // Same key, anonymous page load after half the idle window: renewed, still alice's.
    let (status, renewed) = run(&old, &bound, "/", None, UP1, T0 + 300);
    assert_eq!(
        (status, renewed.event),
        (CookieStatus::Valid, ResponseEvent::Renewed)
    );
    let renewed = cookie_pair(&renewed);
    assert_eq!(
        owner(&old, &renewed, Some("alice"), T0 + 301),
        CookieStatus::Valid
    );
    assert_eq!(
        owner(&old, &renewed, Some("bob"), T0 + 301),
        CookieStatus::Rejected(CookieRejection::SubjectMismatch)
    );
    // Rotation: the old key's binding cannot be carried as sealed.
    let rotated = config(r#"[{"id":"b","env":"KEY_B"},{"id":"a","env":"KEY_A"}]"#);
    for subject in [None, Some("bob")] {
        let (_, kept) = run(&rotated, &bound, "/", subject, UP1, T0 + 1);
        assert_eq!(
            (kept.event, kept.set_cookie),
            (ResponseEvent::Kept, None),
            "{subject:?}"
        );
    }
    let (_, alice) = run(&rotated, &bound, "/", Some("alice"), UP1, T0 + 1);
    assert_eq!(alice.event, ResponseEvent::Renewed);
    let rekeyed = cookie_pair(&alice);
    assert!(rekeyed.starts_with("sticky=v1.b."), "{rekeyed}");
    assert_eq!(
        owner(&rotated, &rekeyed, Some("alice"), T0 + 2),
        CookieStatus::Valid
    );
    assert_eq!(
        owner(&rotated, &rekeyed, Some("bob"), T0 + 2),
        CookieStatus::Rejected(CookieRejection::SubjectMismatch)
    );
    // A move by an anonymous request must issue a cookie: the binding goes.
    let (_, moved) = run(&rotated, &bound, "/", None, UP2, T0 + 1);
    assert_eq!(moved.event, ResponseEvent::Repinned);
    let moved = cookie_pair(&moved);
    assert_eq!(
        owner(&rotated, &moved, Some("carol"), T0 + 2),
        CookieStatus::Valid
    );
}

/// Route rules that can never work are refused at configure time, naming
/// the field: a cookie whose Path does not cover the route (a browser never
/// sends it back there: a new session on every response, never a pin), and
/// a prefix with `?`/`#` (matched against the path without its query, so
/// it never matches).
#[test]
fn dead_route_rules_are_refused_naming_the_field() {
    let cases = [
        (
            r#"[{"path_prefix":"/shop","cookie":{"name":"s","path":"/cart"}}]"#,
            "routes[0].cookie.path",
        ),
        (
            r#"[{"path_prefix":"/a?b=1","enabled":false}]"#,
            "routes[0].path_prefix",
        ),
    ];
    for (routes, path) in cases {
        let got = try_policy(&format!(r#""routes":{routes}"#));
        assert_eq!(
            got.err().map(|e| e.path),
            Some(path.to_string()),
            "{routes}"
        );
    }
    // A Path covers the prefix as browsers match it (RFC 6265 §5.1.4):
    // equal, or a parent ending at a `/`. Only the route's effective cookie
    // counts, inherited Path included.
    let covering = [
        ("/shop", "/shop"),
        ("/shop/", "/shop"),
        ("/shop/", "/shop/"),
        ("/shop/item", "/shop/"),
        ("/shop", "/"),
    ];
    let not_covering = [
        ("/shop", "/shop/"),
        ("/shopping", "/shop"),
        ("/Shop", "/shop"),
        ("/sho", "/shop"),
    ];
    let route = |prefix: &str, path: &str| {
        try_policy(&format!(
            r#""routes":[{{"path_prefix":"{prefix}","cookie":{{"name":"s","path":"{path}"}}}}]"#
        ))
    };
    for (prefix, path) in covering {
        assert!(route(prefix, path).is_ok(), "{prefix} under {path}");
    }
    for (prefix, path) in not_covering {
        let err = route(prefix, path).unwrap_err();
        assert_eq!(err.path, "routes[0].cookie.path", "{prefix} under {path}");
        assert!(err.message.contains("does not cover"), "{err}");
        assert!(err.hint.is_some(), "{err}");
    }
    // Inherited: a top-level Path of /app does not reach a binding /api route.
    let err = try_policy(
        r#""cookie":{"name":"s","path":"/app"},"routes":[{"path_prefix":"/api","bind_subject":true}]"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "routes[0].cookie.path");
    // `#` is refused like `?`, also where the route has settings of its own.
    let err = try_policy(r#""routes":[{"path_prefix":"/a#x","bind_subject":true}]"#).unwrap_err();
    assert_eq!(err.path, "routes[0].path_prefix");
}
