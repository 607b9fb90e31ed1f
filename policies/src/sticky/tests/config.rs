use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn minimal_config_gets_safe_defaults() {
    let p = policy("");
    assert_eq!(p.mode(), PinMode::StatefulSession);
    assert_eq!(p.pin_header(), "x-sticky-endpoint");
    assert_eq!(p.cookie_name(), "__Host-sticky");
    assert_eq!(p.current_key_id(), "a");
    assert_eq!(p.hash_header(), None);
    assert_eq!(
        p.default.cookie.render("v", 3600),
        "__Host-sticky=v; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax"
    );
}

#[test]
fn config_errors_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        // (extra JSON, error path, message fragment)
        (r#""mdoe":1"#, "mdoe", "unknown field"),
        (r#""cookie":{"nmae":"x"}"#, "cookie.nmae", "unknown field"),
        (
            r#""pin_header":"x sticky""#,
            "pin_header",
            "not a header name",
        ),
        (r#""pin_header":"Cookie""#, "pin_header", "reserved"),
        (
            r#""cookie":{"name":"a b"}"#,
            "cookie.name",
            "not a valid cookie name",
        ),
        (
            r#""cookie":{"name":""}"#,
            "cookie.name",
            "not a valid cookie name",
        ),
        (
            r#""cookie":{"name":"s","path":"app"}"#,
            "cookie.path",
            "start with",
        ),
        (
            r#""cookie":{"name":"s","path":"/a;b"}"#,
            "cookie.path",
            "`;`",
        ),
        (
            r#""cookie":{"name":"s","domain":"a b"}"#,
            "cookie.domain",
            "not a host",
        ),
        (
            r#""cookie":{"max_age":"forever"}"#,
            "cookie.max_age",
            "not a duration",
        ),
        (r#""cookie":{"max_age":"0s"}"#, "cookie.max_age", "between"),
        (
            r#""cookie":{"max_age":"9601h"}"#,
            "cookie.max_age",
            "400 days",
        ),
        (
            r#""cookie":{"max_age":"1h","idle_timeout":"2h"}"#,
            "cookie.idle_timeout",
            "at most",
        ),
        (
            r#""cookie":{"idle_timeout":"1s"}"#,
            "cookie.idle_timeout",
            "at least 2s",
        ),
        (
            r#""cookie":{"same_site":"Loose"}"#,
            "cookie.same_site",
            "unknown variant",
        ),
        (
            r#""cookie":{"name":"s","secure":false,"same_site":"None"}"#,
            "cookie.same_site",
            "requires `secure: true`",
        ),
        (
            r#""hash_key":{"header":"x-sticky-endpoint"}"#,
            "hash_key.header",
            "differ",
        ),
        (
            r#""hash_key":{"identity":false}"#,
            "hash_key.identity",
            "session_cookie",
        ),
        (
            r#""hash_key":{"session_cookie":"a;b"}"#,
            "hash_key.session_cookie",
            "cookie name",
        ),
        (
            r#""routes":[{"path_prefix":"/a","enabled":true},{"path_prefix":"b","enabled":false}]"#,
            "routes[1].path_prefix",
            "start with",
        ),
        (
            r#""routes":[{"enabled":true}]"#,
            "routes[0]",
            "missing field `path_prefix`",
        ),
    ];
    for (extra, path, fragment) in cases {
        let err = try_policy(extra).unwrap_err();
        assert_eq!(&err.path, path, "{extra}: {err}");
        assert!(err.message.contains(fragment), "{extra}: {err}");
    }
}

#[test]
fn mode_is_required_and_spelled_in_kebab_case() {
    let err = load(br#"{"keys":[{"id":"a","env":"KEY_A"}]}"#, &env).unwrap_err();
    assert!(err.message.contains("missing field `mode`"), "{err}");
    let err = load(br#"{"mode":"override_host","keys":[]}"#, &env).unwrap_err();
    assert_eq!(err.path, "mode");
    let p = load(
        br#"{"mode":"override-host","keys":[{"id":"a","env":"KEY_A"}]}"#,
        &env,
    )
    .unwrap();
    assert_eq!(p.mode(), PinMode::OverrideHost);
}

#[test]
fn cookie_prefix_rules_are_enforced_at_compile_time() {
    let cases: &[(&str, Option<&str>)] = &[
        (r#"{"name":"__Host-s"}"#, None),
        (
            r#"{"name":"__Host-s","secure":false}"#,
            Some("cookie.secure"),
        ),
        (r#"{"name":"__Host-s","path":"/app"}"#, Some("cookie.path")),
        (
            r#"{"name":"__Host-s","domain":"example.com"}"#,
            Some("cookie.domain"),
        ),
        // Browsers match the prefixes case-insensitively.
        (
            r#"{"name":"__HOST-s","domain":"example.com"}"#,
            Some("cookie.domain"),
        ),
        (
            r#"{"name":"__Secure-s","path":"/app","domain":"example.com"}"#,
            None,
        ),
        (
            r#"{"name":"__Secure-s","secure":false}"#,
            Some("cookie.secure"),
        ),
        (
            r#"{"name":"__secure-s","secure":false}"#,
            Some("cookie.secure"),
        ),
        (
            r#"{"name":"plain","secure":false,"same_site":"Strict"}"#,
            None,
        ),
    ];
    for (cookie, want) in cases {
        let got = try_policy(&format!(r#""cookie":{cookie}"#));
        match (got, want) {
            (Ok(_), None) => {}
            (Err(e), Some(path)) => {
                assert_eq!(&e.path, path, "{cookie}: {e}");
                assert!(e.message.contains("prefix"), "{e}");
            }
            (got, want) => panic!("{cookie}: got {got:?}, want error at {want:?}"),
        }
    }
}

#[test]
fn key_errors_name_field_and_variable_but_never_the_value() {
    let cases = [
        (r#"[]"#, "keys", "1 to 8"),
        (
            r#"[{"id":"a","env":"KEY_A"},{"id":"a","env":"KEY_B"}]"#,
            "keys[1].id",
            "twice",
        ),
        (r#"[{"id":"","env":"KEY_A"}]"#, "keys[0].id", "not a key id"),
        (
            r#"[{"id":"a.b","env":"KEY_A"}]"#,
            "keys[0].id",
            "not a key id",
        ),
        (
            r#"[{"id":"abcdefghijklmnopq","env":"KEY_A"}]"#,
            "keys[0].id",
            "not a key id",
        ),
        (
            r#"[{"id":"a","env":"KEY_A"},{"id":"b","env":"NOPE"}]"#,
            "keys[1].env",
            "`NOPE` is not set",
        ),
        (
            r#"[{"id":"a","env":"KEY-A"}]"#,
            "keys[0].env",
            "environment variable name",
        ),
        (
            r#"[{"id":"a","env":"KEY_NOT_B64"}]"#,
            "keys[0].env",
            "`KEY_NOT_B64` is not base64",
        ),
        (
            r#"[{"id":"a","env":"KEY_SHORT"}]"#,
            "keys[0].env",
            "decodes to 16 bytes, expected 32",
        ),
        (
            r#"[{"id":"a","env":"KEY_ZERO"}]"#,
            "keys[0].env",
            "degenerate",
        ),
        (
            r#"[{"id":"a","env":"KEY_A","value":"x"}]"#,
            "keys[0].value",
            "unknown field",
        ),
    ];
    let secrets = [
        key_a(),
        key_b(),
        env("KEY_NOT_B64").unwrap(),
        env("KEY_SHORT").unwrap(),
    ];
    for (keys, path, fragment) in cases {
        let json = format!(r#"{{"mode":"stateful-session","keys":{keys}}}"#);
        let err = load(json.as_bytes(), &env).unwrap_err();
        assert_eq!(err.path, path, "{keys}: {err}");
        assert!(err.to_string().contains(fragment), "{keys}: {err}");
        for s in &secrets {
            assert!(!err.to_string().contains(s.as_str()), "{keys} leaks a key");
        }
    }
}

#[test]
fn keys_accept_url_safe_unpadded_base64_and_surrounding_whitespace() {
    let json = br#"{"mode":"stateful-session","keys":[{"id":"u","env":"KEY_URLSAFE_NOPAD"}]}"#;
    assert!(load(json, &env).is_ok());
    let with_newline = |name: &str| env(name).map(|v| format!("  {v}\n"));
    let json = br#"{"mode":"stateful-session","keys":[{"id":"a","env":"KEY_A"}]}"#;
    assert!(load(json, &with_newline).is_ok());
}

#[test]
fn debug_output_of_the_policy_shows_no_key_material() {
    let p = policy(r#""hash_key":{}"#);
    let shown = format!("{p:?}");
    assert!(shown.contains("CookieKey(a, [redacted])"), "{shown}");
    assert!(!shown.contains(&key_a()));
    // No byte arrays at all (derived keys would print as `[12, 34, ...]`).
    let byte_array = shown
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'[' && w[1].is_ascii_digit());
    assert!(!byte_array, "{shown}");
}
