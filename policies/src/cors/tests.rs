use super::*;
use crate::config::{parse_json, Compile, ConfigError};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn policy(json: &str) -> CorsPolicy {
    parse_json::<CorsConfig>(json.as_bytes())
        .unwrap()
        .compile()
        .unwrap()
}

fn config_error(json: &str) -> ConfigError {
    match parse_json::<CorsConfig>(json.as_bytes()) {
        Ok(dto) => dto.compile().unwrap_err(),
        Err(e) => e,
    }
}

fn app() -> CorsPolicy {
    policy(
        r#"{"allowed_origins":["https://app.example.com","https://*.example.com","http://localhost:3000"],
            "allowed_methods":["GET","POST","DELETE"],
            "allowed_headers":["Authorization","Content-Type"],
            "exposed_headers":["X-Request-Id"],
            "allow_credentials":true,"max_age":"10m"}"#,
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn origins_match_exactly_or_by_subdomain_and_never_by_look_alike() {
    let p = app();
    for (origin, want) in [
        ("https://app.example.com", true),
        ("https://APP.Example.COM", true),
        ("HTTPS://app.example.com", true),
        ("https://app.example.com:443", true),
        ("https://a.example.com", true),
        ("https://a.b.example.com", true),
        ("http://localhost:3000", true),
        ("https://example.com", false),
        ("https://evil-example.com", false),
        ("https://evilexample.com", false),
        ("https://example.com.evil.net", false),
        ("https://app.example.com.evil.net", false),
        ("https://app.example.com.", false),
        ("https://.example.com", false),
        ("http://app.example.com", false),
        ("https://app.example.com:8443", false),
        ("http://localhost", false),
        ("http://localhost:3001", false),
        ("https://app.example.com/", false),
        ("https://app.example.com/path", false),
        ("https://user@app.example.com", false),
        ("https://evil.net@app.example.com", false),
        ("https://app.example.com https://evil.net", false),
        ("https://app.example.com:", false),
        ("https://app.example.com:99999", false),
        ("https://app.example.com:+443", false),
        ("app.example.com", false),
        ("null", false),
        ("", false),
        ("*", false),
    ] {
        assert_eq!(p.is_origin_allowed(origin), want, "{origin:?}");
    }
}

#[test]
fn null_origin_is_allowed_only_when_configured() {
    let p = policy(r#"{"allowed_origins":["null"]}"#);
    assert!(p.is_origin_allowed("null"));
    assert!(!p.is_origin_allowed("https://app.example.com"));
    assert!(!app().is_origin_allowed("null"));
}

#[test]
fn ipv6_origins_match_exactly() {
    let p = policy(r#"{"allowed_origins":["http://[::1]:8080"]}"#);
    assert!(p.is_origin_allowed("http://[::1]:8080"));
    assert!(!p.is_origin_allowed("http://[::2]:8080"));
    assert!(!p.is_origin_allowed("http://[::1]"));
}

#[test]
fn preflight_is_options_with_origin_and_request_method() {
    assert!(is_preflight("OPTIONS", Some("https://a"), Some("POST")));
    assert!(!is_preflight("OPTIONS", None, Some("POST")));
    assert!(!is_preflight("OPTIONS", Some("https://a"), None));
    assert!(!is_preflight("POST", Some("https://a"), Some("POST")));
}

#[test]
fn allowed_preflight_echoes_the_origin_and_lists_what_is_allowed() {
    let h = app()
        .preflight_response(
            "https://app.example.com",
            "DELETE",
            Some("content-type, AUTHORIZATION"),
        )
        .unwrap();
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&h, "access-control-allow-methods"),
        Some("GET, POST, DELETE")
    );
    assert_eq!(
        header(&h, "access-control-allow-headers"),
        Some("authorization, content-type")
    );
    assert_eq!(header(&h, "access-control-max-age"), Some("600"));
    assert!(header(&h, "vary").unwrap().starts_with("Origin"));
    assert!(h.iter().all(|(_, v)| v != "*"));
}

#[test]
fn preflight_denials_have_distinct_reasons() {
    let p = app();
    for (origin, method, headers, denied) in [
        (
            "https://evil.net",
            "GET",
            None,
            CorsDenied::OriginNotAllowed,
        ),
        ("null", "GET", None, CorsDenied::OriginNotAllowed),
        (
            "https://app.example.com",
            "PUT",
            None,
            CorsDenied::MethodNotAllowed,
        ),
        (
            "https://app.example.com",
            "GET",
            Some("x-admin"),
            CorsDenied::HeaderNotAllowed,
        ),
        (
            "https://app.example.com",
            "GET",
            Some("authorization, x-admin"),
            CorsDenied::HeaderNotAllowed,
        ),
        (
            "https://app.example.com",
            "GET",
            Some("bad header"),
            CorsDenied::HeaderNotAllowed,
        ),
    ] {
        assert_eq!(
            p.preflight_response(origin, method, headers),
            Err(denied),
            "{origin} {method}"
        );
    }
    assert_eq!(
        CorsDenied::OriginNotAllowed.reason_code(),
        "cors_origin_not_allowed"
    );
    // Lower-case method and an empty header list are fine.
    assert!(p
        .preflight_response("https://a.example.com", "post", Some(" , "))
        .is_ok());
}

#[test]
fn actual_response_gets_cors_headers_only_for_allowed_origins() {
    let p = app();
    let h = p.actual_response_headers(Some("https://a.example.com"));
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://a.example.com")
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&h, "access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(header(&h, "vary"), Some("Origin"));
    for origin in [Some("https://evil.net"), Some("null"), None] {
        let h = p.actual_response_headers(origin);
        assert_eq!(
            h,
            vec![("vary".to_string(), "Origin".to_string())],
            "{origin:?}"
        );
    }
}

#[test]
fn a_backends_own_cors_grants_are_found_whatever_their_case() {
    // What a backend reflecting `Origin` sends: removed for a foreign origin,
    // so the answer stays unreadable there.
    let response = [
        ("Access-Control-Allow-Origin", "https://evil.net"),
        ("access-control-allow-credentials", "true"),
        ("ACCESS-CONTROL-EXPOSE-HEADERS", "x-secret"),
        ("access-control-allow-private-network", "true"),
        ("access-control-allow-origin", "https://evil.net"),
        ("access-control-max-age", "600"),
        ("content-type", "application/json"),
        ("vary", "Origin"),
        ("x-access-control-allow-origin", "*"),
    ];
    assert_eq!(
        cors_grant_headers(&response),
        vec![
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-expose-headers",
            "access-control-allow-private-network",
        ]
    );
    assert!(cors_grant_headers(&[("content-type", "text/plain")]).is_empty());
}

#[test]
fn without_credentials_no_credentials_header_is_sent() {
    let p = policy(r#"{"allowed_origins":["https://app.example.com"]}"#);
    let h = p.actual_response_headers(Some("https://app.example.com"));
    assert_eq!(header(&h, "access-control-allow-credentials"), None);
    let pre = p
        .preflight_response("https://app.example.com", "HEAD", None)
        .unwrap();
    assert_eq!(
        header(&pre, "access-control-allow-methods"),
        Some("GET, HEAD, POST")
    );
    assert_eq!(header(&pre, "access-control-allow-headers"), None);
    assert_eq!(header(&pre, "access-control-max-age"), None);
}

#[test]
fn csrf_check_uses_origin_then_referer_and_fails_closed() {
    let p = app();
    for (origin, referer, want) in [
        (Some("https://app.example.com"), None, Ok(())),
        (
            Some("https://app.example.com"),
            Some("https://evil.net/"),
            Ok(()),
        ),
        (
            Some("https://evil.net"),
            Some("https://app.example.com/"),
            Err(CsrfDenied::OriginNotAllowed),
        ),
        (Some("null"), None, Err(CsrfDenied::OriginNotAllowed)),
        (None, Some("https://app.example.com/page?x=1#y"), Ok(())),
        (None, Some("https://app.example.com"), Ok(())),
        (None, Some("https://app.example.com?x"), Ok(())),
        (None, Some("https://a.example.com:443/x"), Ok(())),
        (None, Some("http://localhost:3000/"), Ok(())),
        (Some(""), Some("https://app.example.com/"), Ok(())),
        (
            None,
            Some("https://evil.net/https://app.example.com/"),
            Err(CsrfDenied::RefererNotAllowed),
        ),
        (
            None,
            Some("https://example.com.evil.net/"),
            Err(CsrfDenied::RefererNotAllowed),
        ),
        (
            None,
            Some("https://app.example.com@evil.net/"),
            Err(CsrfDenied::MalformedReferer),
        ),
        (
            None,
            Some("https://evil.net\\@app.example.com/"),
            Err(CsrfDenied::MalformedReferer),
        ),
        (
            None,
            Some("/relative/path"),
            Err(CsrfDenied::MalformedReferer),
        ),
        (None, Some("null"), Err(CsrfDenied::MalformedReferer)),
        (None, None, Err(CsrfDenied::MissingOriginAndReferer)),
        (
            Some("  "),
            Some(""),
            Err(CsrfDenied::MissingOriginAndReferer),
        ),
    ] {
        assert_eq!(
            p.check_origin_or_referer(origin, referer),
            want,
            "{origin:?} {referer:?}"
        );
    }
    assert_eq!(
        CsrfDenied::MissingOriginAndReferer.reason_code(),
        "csrf_missing_origin"
    );
}

#[test]
fn referer_origin_is_extracted_safely() {
    for (url, want) in [
        (
            "https://App.Example.com:443/a/b",
            Some("https://app.example.com"),
        ),
        ("http://h:8080?q", Some("http://h:8080")),
        ("https://h#frag", Some("https://h")),
        ("https://u:p@h/", None),
        ("https:///path", None),
        ("//h/path", None),
        ("https://h\r\n/", None),
    ] {
        assert_eq!(
            Origin::of_url(url).map(|o| o.to_string()).as_deref(),
            want,
            "{url}"
        );
    }
}

#[test]
fn config_errors_name_the_json_path() {
    for (json, path) in [
        (r#"{"allowed_origins":[]}"#, "allowed_origins"),
        (r#"{"allowed_origins":["*"]}"#, "allowed_origins[0]"),
        (
            r#"{"allowed_origins":["https://a.com","*.example.com"]}"#,
            "allowed_origins[1]",
        ),
        (
            r#"{"allowed_origins":["https://*.com"]}"#,
            "allowed_origins[0]",
        ),
        (
            r#"{"allowed_origins":["https://app.example.com/"]}"#,
            "allowed_origins[0]",
        ),
        (
            r#"{"allowed_origins":["https://a*.example.com"]}"#,
            "allowed_origins[0]",
        ),
        (
            r#"{"allowed_origins":["a"],"allowed_methods":[]}"#,
            "allowed_origins[0]",
        ),
        (
            r#"{"allowed_origins":["https://a"],"allowed_methods":[]}"#,
            "allowed_methods",
        ),
        (
            r#"{"allowed_origins":["https://a"],"allowed_methods":["GET","B D"]}"#,
            "allowed_methods[1]",
        ),
        (
            r#"{"allowed_origins":["https://a"],"allowed_headers":["*"]}"#,
            "allowed_headers[0]",
        ),
        (
            r#"{"allowed_origins":["https://a"],"exposed_headers":["x:y"]}"#,
            "exposed_headers[0]",
        ),
        (
            r#"{"allowed_origins":["https://a"],"max_age":"2d"}"#,
            "max_age",
        ),
        (
            r#"{"allowed_origins":["https://a"],"max_age":"25h"}"#,
            "max_age",
        ),
        (
            r#"{"allowed_origins":["https://a"],"allow_origin":["x"]}"#,
            "allow_origin",
        ),
    ] {
        assert_eq!(config_error(json).path, path, "{json}");
    }
    let hint = config_error(r#"{"allowed_origins":["*.example.com"]}"#)
        .hint
        .unwrap();
    assert!(hint.contains("https://*.example.com"), "{hint}");
}
