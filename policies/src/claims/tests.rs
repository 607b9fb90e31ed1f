use serde_json::{json, Map, Value};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::*;
use crate::config::{parse_json, Compile, ConfigError};

fn claims() -> Map<String, Value> {
    let v = json!({
        "sub": "user-1",
        "email": "a@example.com",
        "email_verified": true,
        "age": 42,
        "level": 1.0,
        "tenant": "1",
        "nothing": null,
        "scope": "openid profile orders:read",
        "roles_text": "admin user",
        "groups": ["dev", "ops", 7],
        "realm_access": {"roles": ["admin", "offline_access"]},
        "https://example.com/claims": {"tier": "gold"},
        "a": {"b": {"c": "deep"}},
        "a.b": {"c": "dotted-key"},
        "list": [{"x": 1}]
    });
    v.as_object().unwrap().clone()
}

fn condition(json: &str) -> Condition {
    parse_json::<ConditionConfig>(json.as_bytes())
        .unwrap()
        .compile()
        .unwrap()
}

fn config_error(json: &str) -> ConfigError {
    match parse_json::<ConditionConfig>(json.as_bytes()) {
        Ok(dto) => dto.compile().unwrap_err(),
        Err(e) => e,
    }
}

fn allows(json: &str) -> bool {
    condition(json).evaluate(&claims()).is_ok()
}

#[test]
fn leaf_operators_behave_as_documented() {
    for (json, want) in [
        (r#"{"claim":"sub","equals":"user-1"}"#, true),
        (r#"{"claim":"sub","equals":"user-2"}"#, false),
        (r#"{"claim":"email_verified","equals":true}"#, true),
        (r#"{"claim":"email_verified","equals":"true"}"#, false),
        (r#"{"claim":"age","equals":42}"#, true),
        (r#"{"claim":"age","equals":42.0}"#, true),
        (r#"{"claim":"level","equals":1}"#, true),
        (r#"{"claim":"sub","one_of":["x","user-1"]}"#, true),
        (r#"{"claim":"sub","one_of":["x","y"]}"#, false),
        (r#"{"claim":"realm_access.roles","contains":"admin"}"#, true),
        (r#"{"claim":"realm_access.roles","contains":"root"}"#, false),
        (r#"{"claim":"groups","contains":7}"#, true),
        (r#"{"claim":"groups","contains":"7"}"#, false),
        (r#"{"claim":"groups","contains_any":["x","ops"]}"#, true),
        (r#"{"claim":"groups","contains_any":["x","y"]}"#, false),
        (r#"{"claim":"groups","contains_all":["dev","ops"]}"#, true),
        (r#"{"claim":"groups","contains_all":["dev","x"]}"#, false),
        (r#"{"claim":"email","regex":"[^@]+@example\\.com"}"#, true),
        (r#"{"claim":"email","regex":"example\\.com"}"#, false),
        (r#"{"claim":"age","regex":"42"}"#, false),
        (r#"{"claim":"email","present":true}"#, true),
        (r#"{"claim":"missing","present":true}"#, false),
        (r#"{"claim":"nothing","present":true}"#, false),
        (r#"{"claim":"missing","absent":true}"#, true),
        (r#"{"claim":"nothing","absent":true}"#, true),
        (r#"{"claim":"email","absent":true}"#, false),
    ] {
        assert_eq!(allows(json), want, "{json}");
    }
}

#[test]
fn string_one_never_equals_number_one() {
    assert!(!allows(r#"{"claim":"tenant","equals":1}"#));
    assert!(allows(r#"{"claim":"tenant","equals":"1"}"#));
    assert!(!allows(r#"{"claim":"age","equals":"42"}"#));
    assert!(!allows(r#"{"claim":"tenant","one_of":[1,2]}"#));
}

#[test]
fn type_mismatches_fail_without_panicking() {
    for json in [
        r#"{"claim":"realm_access","equals":"admin"}"#,
        r#"{"claim":"groups","equals":"dev"}"#,
        r#"{"claim":"sub","contains":"user"}"#,
        r#"{"claim":"age","contains":4}"#,
        r#"{"claim":"realm_access","contains_all":["roles"]}"#,
        r#"{"claim":"groups","regex":"dev"}"#,
        r#"{"claim":"sub.deeper","present":true}"#,
        r#"{"claim":"list.x","equals":1}"#,
    ] {
        assert!(!allows(json), "{json}");
    }
}

#[test]
fn scope_is_read_as_a_space_separated_set() {
    assert!(allows(r#"{"claim":"scope","contains":"profile"}"#));
    assert!(allows(
        r#"{"claim":"scope","contains_all":["openid","orders:read"]}"#
    ));
    assert!(!allows(r#"{"claim":"scope","contains":"orders"}"#));
    assert!(!allows(r#"{"claim":"scope","contains":"openid profile"}"#));
    // Other string claims are not split unless declared.
    assert!(!allows(r#"{"claim":"roles_text","contains":"admin"}"#));
    assert!(allows(
        r#"{"claim":"roles_text","contains":"admin","space_separated":true}"#
    ));
    assert!(!allows(
        r#"{"claim":"scope","contains":"profile","space_separated":false}"#
    ));
}

#[test]
fn claim_paths_address_nested_and_dotted_keys() {
    assert!(allows(r#"{"claim":"a.b.c","equals":"deep"}"#));
    assert!(allows(r#"{"claim":["a.b","c"],"equals":"dotted-key"}"#));
    assert!(allows(
        r#"{"claim":["https://example.com/claims","tier"],"equals":"gold"}"#
    ));
    assert!(!allows(
        r#"{"claim":"https://example.com/claims.tier","equals":"gold"}"#
    ));
}

#[test]
fn combinators_nest() {
    for (json, want) in [
        (
            r#"{"all":[{"claim":"sub","present":true},{"claim":"realm_access.roles","contains":"admin"}]}"#,
            true,
        ),
        (
            r#"{"all":[{"claim":"sub","present":true},{"claim":"realm_access.roles","contains":"root"}]}"#,
            false,
        ),
        (
            r#"{"any":[{"claim":"groups","contains":"x"},{"claim":"scope","contains":"openid"}]}"#,
            true,
        ),
        (
            r#"{"any":[{"claim":"groups","contains":"x"},{"claim":"scope","contains":"y"}]}"#,
            false,
        ),
        (r#"{"not":{"claim":"email_verified","equals":false}}"#, true),
        (r#"{"not":{"claim":"email_verified","equals":true}}"#, false),
        (
            r#"{"all":[{"any":[{"not":{"claim":"groups","contains":"banned"}}]},{"claim":"age","one_of":[41,42]}]}"#,
            true,
        ),
    ] {
        assert_eq!(allows(json), want, "{json}");
    }
}

#[test]
fn denials_name_the_claim_path_but_never_its_value() {
    let c = claims();
    for (json, expected, code) in [
        (
            r#"{"claim":"realm_access.roles","contains":"root"}"#,
            ClaimDenied::FailedCheck {
                claim: "realm_access.roles".into(),
                check: "contains",
            },
            "claim_mismatch",
        ),
        (
            r#"{"all":[{"claim":"sub","present":true},{"claim":"missing.x","equals":"v"}]}"#,
            ClaimDenied::MissingClaim {
                claim: "missing.x".into(),
            },
            "claim_missing",
        ),
        (
            r#"{"any":[{"claim":"email","equals":"x"},{"claim":"groups","contains":"y"}]}"#,
            ClaimDenied::NoAlternative {
                claims: "email | groups".into(),
            },
            "claim_mismatch",
        ),
        (
            r#"{"not":{"all":[{"claim":"sub","present":true},{"claim":["a.b","c"],"present":true}]}}"#,
            ClaimDenied::ForbiddenMatch {
                claims: "sub, [a.b].c".into(),
            },
            "claim_mismatch",
        ),
    ] {
        let denied = condition(json).evaluate(&c).unwrap_err();
        assert_eq!(denied, expected, "{json}");
        assert_eq!(denied.reason_code(), code);
        let text = denied.to_string();
        for secret in ["user-1", "a@example.com", "admin", "offline_access"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[test]
fn config_errors_name_the_json_path() {
    for (json, path) in [
        (r#"{}"#, "."),
        (r#"{"claim":"sub"}"#, "."),
        (r#"{"claim":"sub","equals":"a","one_of":["b"]}"#, "."),
        (r#"{"equals":"a"}"#, "."),
        (r#"{"all":[{"claim":"x","present":true}],"claim":"x"}"#, "."),
        (
            r#"{"all":[{"claim":"x","present":true}],"any":[{"claim":"x","present":true}]}"#,
            ".",
        ),
        (r#"{"all":[]}"#, "all"),
        (
            r#"{"any":[{"claim":"x","present":true},{"claim":"","present":true}]}"#,
            "any[1].claim",
        ),
        (
            r#"{"all":[{"not":{"claim":"a..b","present":true}}]}"#,
            "all[0].not.claim",
        ),
        (r#"{"claim":[],"present":true}"#, "claim"),
        (r#"{"claim":"x","equals":{"a":1}}"#, "equals"),
        (r#"{"claim":"x","one_of":["a",[1]]}"#, "one_of[1]"),
        (r#"{"claim":"x","contains_any":[]}"#, "contains_any"),
        (r#"{"claim":"x","regex":"("}"#, "regex"),
        (r#"{"claim":"x","present":false}"#, "present"),
        (r#"{"claim":"x","absent":false}"#, "absent"),
        (r#"{"claim":"x","contain":"a"}"#, "contain"),
        (
            r#"{"all":[{"claim":"x","present":true,"foo":1}]}"#,
            "all[0].foo",
        ),
    ] {
        assert_eq!(config_error(json).path, path, "{json}");
    }
}

#[test]
fn nesting_deeper_than_the_limit_is_a_config_error() {
    let mut json = r#"{"claim":"x","present":true}"#.to_string();
    for _ in 0..=MAX_NESTING {
        json = format!(r#"{{"not":{json}}}"#);
    }
    let err = config_error(&json);
    assert!(err.message.contains("nested deeper"), "{err}");
    assert!(err.path.starts_with("not.not."), "{}", err.path);
}

fn extractor(json: &str) -> ClaimExtractor {
    parse_json::<ExtractConfig>(json.as_bytes())
        .unwrap()
        .compile()
        .unwrap()
}

#[test]
fn extract_renders_each_json_type_for_a_header() {
    let mut c = claims();
    c.insert("neg".into(), json!(-3.5));
    for (json, want) in [
        (r#"{"claim":"sub"}"#, "user-1"),
        (r#"{"claim":"age"}"#, "42"),
        (r#"{"claim":"neg"}"#, "-3.5"),
        (r#"{"claim":"email_verified"}"#, "true"),
        (r#"{"claim":"realm_access.roles"}"#, "admin,offline_access"),
        (r#"{"claim":"groups","separator":" "}"#, "dev ops 7"),
        (r#"{"claim":"groups","array":"json"}"#, r#"["dev","ops",7]"#),
        (
            r#"{"claim":"realm_access"}"#,
            r#"{"roles":["admin","offline_access"]}"#,
        ),
        (r#"{"claim":"list"}"#, r#"{"x":1}"#),
    ] {
        assert_eq!(extract(&c, &extractor(json)).as_deref(), Ok(want), "{json}");
    }
}

#[test]
fn extract_skips_missing_unsafe_and_oversized_values() {
    let mut c = claims();
    c.insert("crlf".into(), json!("x\r\nSet-Cookie: a=b"));
    c.insert("nul".into(), json!("a\u{0}b"));
    c.insert("arr".into(), json!(["ok", "bad\nvalue"]));
    c.insert("tab".into(), json!("a\tb"));
    c.insert("long".into(), json!("x".repeat(DEFAULT_MAX_LENGTH + 1)));
    for (json, want) in [
        (r#"{"claim":"missing"}"#, Err(ExtractSkipped::MissingClaim)),
        (r#"{"claim":"nothing"}"#, Err(ExtractSkipped::MissingClaim)),
        (r#"{"claim":"crlf"}"#, Err(ExtractSkipped::UnsafeCharacters)),
        (r#"{"claim":"nul"}"#, Err(ExtractSkipped::UnsafeCharacters)),
        (r#"{"claim":"arr"}"#, Err(ExtractSkipped::UnsafeCharacters)),
        (r#"{"claim":"tab"}"#, Ok("a\tb".to_string())),
        (r#"{"claim":"long"}"#, Err(ExtractSkipped::TooLong)),
        (
            r#"{"claim":"sub","max_length":3}"#,
            Err(ExtractSkipped::TooLong),
        ),
        (
            r#"{"claim":"sub","max_length":6}"#,
            Ok("user-1".to_string()),
        ),
    ] {
        assert_eq!(extractor(json).render(&c), want, "{json}");
    }
    // JSON rendering escapes control characters, so it is header-safe.
    assert_eq!(
        extractor(r#"{"claim":"arr","array":"json"}"#)
            .render(&c)
            .as_deref(),
        Ok(r#"["ok","bad\nvalue"]"#)
    );
    assert_eq!(
        ExtractSkipped::UnsafeCharacters.reason_code(),
        "claim_unsafe_for_header"
    );
}

#[test]
fn extract_config_errors_name_the_json_path() {
    for (json, path) in [
        (r#"{"claim":"a","separator":""}"#, "separator"),
        (r#"{"claim":"a","separator":"\n"}"#, "separator"),
        (
            r#"{"claim":"a","array":"json","separator":";"}"#,
            "separator",
        ),
        (r#"{"claim":"a","max_length":0}"#, "max_length"),
        (r#"{"claim":"a..b"}"#, "claim"),
        (r#"{"claim":"a","array":"csv"}"#, "array"),
        (r#"{"claim":"a","header":"x"}"#, "header"),
    ] {
        let err = match parse_json::<ExtractConfig>(json.as_bytes()) {
            Ok(dto) => dto.compile().unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(err.path, path, "{json}");
    }
}

/// Regression: RFC 7519 §4.1.3 makes a single-string `aud` the same as a
/// one-element array, and IdPs (Keycloak, Auth0) send a string when there is
/// one audience and an array otherwise. A rule `aud contains X` allowed a
/// token for [X, Y] but refused a token for X alone.
#[test]
fn aud_as_a_string_satisfies_contains_like_a_one_element_array() {
    let rule = condition(r#"{"claim":"aud","contains":"orders"}"#);
    let as_array = json!({"aud": ["orders", "billing"]});
    let as_string = json!({"aud": "orders"});
    assert!(rule.evaluate(as_array.as_object().unwrap()).is_ok());
    assert!(
        rule.evaluate(as_string.as_object().unwrap()).is_ok(),
        "aud: \"orders\" fails `contains: orders`"
    );
    // A set of one: the whole string, never its words or a part of it.
    for (rule, aud, holds) in [
        (
            r#"{"claim":"aud","contains":"orders"}"#,
            json!("orders billing"),
            false,
        ),
        (
            r#"{"claim":"aud","contains":"order"}"#,
            json!("orders"),
            false,
        ),
        (
            r#"{"claim":"aud","contains_any":["x","orders"]}"#,
            json!("orders"),
            true,
        ),
        (
            r#"{"claim":"aud","contains_all":["orders","billing"]}"#,
            json!("orders"),
            false,
        ),
        (
            r#"{"claim":"aud","contains":"orders","space_separated":false}"#,
            json!("orders"),
            true,
        ),
        (
            r#"{"claim":"aud","contains":"b","space_separated":true}"#,
            json!("a b"),
            true,
        ),
        (r#"{"claim":"aud","contains":1}"#, json!("1"), false),
        // Only the registered top-level `aud`, not any claim of that name.
        (
            r#"{"claim":"x.aud","contains":"orders"}"#,
            json!(null),
            false,
        ),
    ] {
        let claims = json!({"aud": aud, "x": {"aud": "orders"}});
        assert_eq!(
            condition(rule)
                .evaluate(claims.as_object().unwrap())
                .is_ok(),
            holds,
            "{rule} on {aud}"
        );
    }
}
