use super::*;
use crate::config::{parse_json, Compile};

fn matcher(json: &str) -> RouteMatcher {
    parse_json::<RouteMatchConfig>(json.as_bytes())
        .unwrap()
        .compile()
        .unwrap()
}

fn config_error(json: &str) -> crate::config::ConfigError {
    match parse_json::<RouteMatchConfig>(json.as_bytes()) {
        Ok(dto) => dto.compile().unwrap_err(),
        Err(e) => e,
    }
}

fn check(m: &RouteMatcher, method: &str, target: &str) -> Result<bool, RouteRejection> {
    m.matches(&RouteRequest::from_target(method, target))
}

#[test]
fn prefix_is_segment_aware() {
    let m = matcher(r#"{"path":{"prefix":"/api"}}"#);
    for (target, want) in [
        ("/api", true),
        ("/api/", true),
        ("/api/x", true),
        ("/api/x/y?z=1", true),
        ("/apix", false),
        ("/ap", false),
        ("/", false),
        ("/v1/api", false),
    ] {
        assert_eq!(check(&m, "GET", target), Ok(want), "{target}");
    }
}

#[test]
fn prefix_with_trailing_slash_behaves_like_without() {
    let m = matcher(r#"{"path":{"prefix":"/api/"}}"#);
    assert_eq!(check(&m, "GET", "/api"), Ok(true));
    assert_eq!(check(&m, "GET", "/api/x"), Ok(true));
    assert_eq!(check(&m, "GET", "/apix"), Ok(false));
    let root = matcher(r#"{"path":{"prefix":"/"}}"#);
    assert_eq!(check(&root, "GET", "/anything/at/all"), Ok(true));
}

#[test]
fn exact_matches_only_the_same_path() {
    let m = matcher(r#"{"path":{"exact":"/health"}}"#);
    for (target, want) in [
        ("/health", true),
        ("/health?x=1", true),
        ("/health/", false),
        ("/healthz", false),
        ("/Health", false),
    ] {
        assert_eq!(check(&m, "GET", target), Ok(want), "{target}");
    }
}

#[test]
fn template_variables_match_one_non_empty_segment_and_rest_matches_the_tail() {
    let m = matcher(r#"{"path":{"template":"/users/{id}/orders/{order}"}}"#);
    for (target, want) in [
        ("/users/42/orders/7", true),
        ("/users/42/orders/7/items", false),
        ("/users/42/orders", false),
        ("/users/42/orders/", false),
        ("/users/42/invoices/7", false),
    ] {
        assert_eq!(check(&m, "GET", target), Ok(want), "{target}");
    }
    let rest = matcher(r#"{"path":{"template":"/files/{rest=**}"}}"#);
    for (target, want) in [
        ("/files", true),
        ("/files/", true),
        ("/files/a", true),
        ("/files/a/b/c.txt", true),
        ("/filesx", false),
        ("/other/a", false),
    ] {
        assert_eq!(check(&rest, "GET", target), Ok(want), "{target}");
    }
    let star = matcher(r#"{"path":{"template":"/v1/*/status"}}"#);
    assert_eq!(check(&star, "GET", "/v1/abc/status"), Ok(true));
    assert_eq!(check(&star, "GET", "/v1/a/b/status"), Ok(false));
}

#[test]
fn regex_is_a_full_match() {
    let m = matcher(r#"{"path":{"regex":"/items/[0-9]+"}}"#);
    assert_eq!(check(&m, "GET", "/items/123"), Ok(true));
    assert_eq!(check(&m, "GET", "/items/123/delete"), Ok(false));
    assert_eq!(check(&m, "GET", "/x/items/123"), Ok(false));
}

#[test]
fn methods_compare_in_upper_case_and_default_to_any() {
    let m = matcher(r#"{"methods":["get","Post"],"path":{"prefix":"/"}}"#);
    assert_eq!(check(&m, "GET", "/"), Ok(true));
    assert_eq!(check(&m, "post", "/"), Ok(true));
    assert_eq!(check(&m, "DELETE", "/"), Ok(false));
    let any = matcher(r#"{"path":{"prefix":"/"}}"#);
    assert_eq!(check(&any, "PURGE", "/"), Ok(true));
}

#[test]
fn literal_matching_is_case_sensitive_unless_configured() {
    for kind in ["exact", "prefix", "template", "regex"] {
        let pattern = "/api/x";
        let sensitive = matcher(&format!(r#"{{"path":{{"{kind}":"{pattern}"}}}}"#));
        assert_eq!(check(&sensitive, "GET", "/API/x"), Ok(false), "{kind}");
        assert_eq!(check(&sensitive, "GET", "/api/x"), Ok(true), "{kind}");
        let insensitive = matcher(&format!(
            r#"{{"path":{{"{kind}":"{pattern}"}},"case_insensitive":true}}"#
        ));
        assert_eq!(check(&insensitive, "GET", "/API/X"), Ok(true), "{kind}");
    }
}

#[test]
fn allowlist_bypass_attempts_are_rejected_as_suspicious_path() {
    let m = matcher(r#"{"path":{"prefix":"/api"}}"#);
    for (target, why) in [
        ("/api/../admin", PathRejection::DotSegment),
        ("/api/./x", PathRejection::DotSegment),
        ("/api/..", PathRejection::DotSegment),
        ("//admin", PathRejection::EmptySegment),
        ("/api//x", PathRejection::EmptySegment),
        ("/api/%2e%2e/admin", PathRejection::EncodedSeparator),
        ("/api/%2E%2E/admin", PathRejection::EncodedSeparator),
        ("/api/.%2e/admin", PathRejection::EncodedSeparator),
        ("/api%2fx", PathRejection::EncodedSeparator),
        ("/api%2F..%2Fadmin", PathRejection::EncodedSeparator),
        ("/api/%5c../admin", PathRejection::EncodedSeparator),
        ("/api/%5C", PathRejection::EncodedSeparator),
        ("/api/%252e%252e/admin", PathRejection::DoubleEncoding),
        ("/%61pi/x", PathRejection::EncodedUnreserved),
        ("/api/%00", PathRejection::EncodedControl),
        ("/api/%zz", PathRejection::MalformedEncoding),
        ("/api/%2", PathRejection::MalformedEncoding),
        ("/api\\..\\admin", PathRejection::Backslash),
        ("/api/..;/admin", PathRejection::PathParameter),
        ("/api;jsessionid=1", PathRejection::PathParameter),
        ("/api/x#frag", PathRejection::Fragment),
        ("/api/é", PathRejection::NonAscii),
        ("/api/\u{0}", PathRejection::ControlChar),
        ("/api/x\r\nHost: evil", PathRejection::ControlChar),
        ("/api/a b", PathRejection::ControlChar),
        ("http://evil.example/api", PathRejection::AbsoluteForm),
        ("https://evil.example/api", PathRejection::AbsoluteForm),
        ("*", PathRejection::NotOriginForm),
        ("", PathRejection::NotOriginForm),
        ("api/x", PathRejection::NotOriginForm),
    ] {
        let got = check(&m, "GET", target);
        assert_eq!(got, Err(RouteRejection::SuspiciousPath(why)), "{target:?}");
        assert_eq!(got.unwrap_err().reason_code(), "suspicious_path");
    }
    let long = format!("/api/{}", "a".repeat(MAX_PATH_LEN));
    assert_eq!(
        check(&m, "GET", &long),
        Err(RouteRejection::SuspiciousPath(PathRejection::TooLong))
    );
}

#[test]
fn clean_but_unusual_paths_are_accepted() {
    for path in [
        "/",
        "/api/",
        "/files/caf%C3%A9",
        "/a/b%20c",
        "/v1/...",
        "/v1/.well-known/x",
        "/a:b@c,d!$&'()*+=",
    ] {
        assert_eq!(check_path(path), Ok(()), "{path}");
    }
}

#[test]
fn query_constraints_present_equals_one_of() {
    let m = matcher(
        r#"{"path":{"prefix":"/"},"query":[
            {"name":"format","one_of":["json","csv"]},
            {"name":"debug","present":false},
            {"name":"v","equals":"a b/c"}]}"#,
    );
    for (target, want) in [
        ("/x?format=json&v=a+b%2Fc", true),
        ("/x?v=a%20b/c&format=csv", true),
        ("/x?format=xml&v=a+b%2Fc", false),
        ("/x?format=json&v=a+b%2Fc&debug", false),
        ("/x?format=json&v=a+b%2Fc&debug=0", false),
        ("/x?format=json", false),
        ("/x", false),
        ("/x?format=json&format=xml&v=a+b%2Fc", false),
        ("/x?format=json&format=csv&v=a+b%2Fc", true),
    ] {
        assert_eq!(check(&m, "GET", target), Ok(want), "{target}");
    }
    let present = matcher(r#"{"path":{"prefix":"/"},"query":[{"name":"c","present":true}]}"#);
    assert_eq!(check(&present, "GET", "/?a=b&c"), Ok(true));
    assert_eq!(check(&present, "GET", "/?a=b&cc=1"), Ok(false));
}

#[test]
fn malformed_query_is_rejected_only_when_a_route_reads_the_query() {
    let with_query = matcher(r#"{"path":{"prefix":"/"},"query":[{"name":"a","present":true}]}"#);
    for (target, why) in [
        ("/?a=%zz", QueryError::MalformedEncoding),
        ("/?a=%ff", QueryError::InvalidUtf8),
    ] {
        let got = check(&with_query, "GET", target);
        assert_eq!(got, Err(RouteRejection::MalformedQuery(why)), "{target}");
        assert_eq!(got.unwrap_err().reason_code(), "malformed_query");
    }
    let many = format!("/?{}", "a=1&".repeat(MAX_QUERY_PARAMS + 1));
    assert_eq!(
        check(&with_query, "GET", &many),
        Err(RouteRejection::MalformedQuery(QueryError::TooManyParams))
    );
    let without = matcher(r#"{"path":{"prefix":"/"}}"#);
    assert_eq!(check(&without, "GET", "/?a=%zz"), Ok(true));
}

#[test]
fn query_values_are_percent_decoded() {
    let q = ParsedQuery::parse("a=b&c&d=%41%2b+x&=e&&").unwrap();
    assert_eq!(
        q.pairs(),
        &[
            ("a".into(), "b".into()),
            ("c".into(), "".into()),
            ("d".into(), "A+ x".into()),
            ("".into(), "e".into()),
        ]
    );
}

#[test]
fn table_returns_the_first_matching_entry() {
    let table = RouteTable::new(vec![
        (
            matcher(r#"{"methods":["POST"],"path":{"prefix":"/api/admin"}}"#),
            "admin-write",
        ),
        (matcher(r#"{"path":{"prefix":"/api"}}"#), "api"),
        (matcher(r#"{"path":{"exact":"/api/x"}}"#), "never reached"),
    ]);
    let find = |m, t| table.find(&RouteRequest::from_target(m, t));
    assert_eq!(
        find("POST", "/api/admin/users"),
        RouteVerdict::Matched {
            index: 0,
            value: &"admin-write"
        }
    );
    assert_eq!(
        find("GET", "/api/admin/users"),
        RouteVerdict::Matched {
            index: 1,
            value: &"api"
        }
    );
    assert_eq!(
        find("GET", "/api/x"),
        RouteVerdict::Matched {
            index: 1,
            value: &"api"
        }
    );
    assert_eq!(find("GET", "/other"), RouteVerdict::NoMatch);
    assert_eq!(find("GET", "/other").reason_code(), "no_route");
    let rejected = find("GET", "/api/../admin");
    assert_eq!(
        rejected,
        RouteVerdict::Rejected(RouteRejection::SuspiciousPath(PathRejection::DotSegment))
    );
    assert_eq!(rejected.reason_code(), "suspicious_path");
}

#[test]
fn empty_table_matches_nothing_but_still_rejects_suspicious_paths() {
    let table: RouteTable<()> = RouteTable::default();
    assert!(table.is_empty());
    assert_eq!(
        table.find(&RouteRequest::from_target("GET", "/x")),
        RouteVerdict::NoMatch
    );
    assert!(matches!(
        table.find(&RouteRequest::from_target("GET", "//x")),
        RouteVerdict::Rejected(_)
    ));
}

#[test]
fn config_errors_name_the_json_path() {
    for (json, path) in [
        (r#"{"path":{"prefix":"/a"},"methods":[]}"#, "methods"),
        (
            r#"{"path":{"prefix":"/a"},"methods":["GET","BAD METHOD"]}"#,
            "methods[1]",
        ),
        (r#"{"path":{"prefix":"/a"},"methods":["*"]}"#, "methods[0]"),
        (r#"{"path":{"exact":"api"}}"#, "path.exact"),
        (r#"{"path":{"prefix":"/a/../b"}}"#, "path.prefix"),
        (r#"{"path":{"template":"/a/{id}.json"}}"#, "path.template"),
        (r#"{"path":{"template":"/a/{rest=**}/b"}}"#, "path.template"),
        (r#"{"path":{"template":"/a/{id}/{id}"}}"#, "path.template"),
        (r#"{"path":{"template":"/a//{id}"}}"#, "path.template"),
        (r#"{"path":{"template":"/a/{1x}"}}"#, "path.template"),
        (r#"{"path":{"template":"/a/{x=y}"}}"#, "path.template"),
        (r#"{"path":{"regex":"("}}"#, "path.regex"),
        (
            r#"{"path":{"prefix":"/"},"query":[{"name":"a"}]}"#,
            "query[0]",
        ),
        (
            r#"{"path":{"prefix":"/"},"query":[{"name":"a","present":true,"equals":"b"}]}"#,
            "query[0]",
        ),
        (
            r#"{"path":{"prefix":"/"},"query":[{"name":"a","present":true},{"name":"","equals":"x"}]}"#,
            "query[1].name",
        ),
        (
            r#"{"path":{"prefix":"/"},"query":[{"name":"a","one_of":[]}]}"#,
            "query[0].one_of",
        ),
        (r#"{"path":{"prefix":"/","exact":"/"}}"#, "path"),
        (r#"{"path":{"glob":"/a"}}"#, "path"),
        (r#"{"path":{"prefix":"/a"},"method":["GET"]}"#, "method"),
    ] {
        assert_eq!(config_error(json).path, path, "{json}");
    }
}
