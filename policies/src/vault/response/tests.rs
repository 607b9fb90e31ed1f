use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const LOGIN: &str = r#"{"request_id":"6f3c1e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":null,"auth":{"client_token":"s.LoginTokenSecret123","accessor":"acc.xyz","policies":["default","app"],"token_policies":["default","app"],"metadata":{"role":"app","service_account_name":"web"},"lease_duration":3600,"renewable":true,"entity_id":"e-1","token_type":"service","orphan":true,"mfa_requirement":null,"num_uses":0}}"#;

const KV2: &str = r#"{"request_id":"a","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"api_key":"kv-secret-value","port":5432,"tls":true,"nested":{"a":1}},"metadata":{"created_time":"2026-11-02T10:00:00.000Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}},"wrap_info":null,"warnings":null,"auth":null}"#;

const DYNAMIC: &str = r#"{"request_id":"b","lease_id":"database/creds/app/AbCdEf123","renewable":true,"lease_duration":600,"data":{"password":"dyn-password-value","username":"v-approle-app-xyz"},"wrap_info":null,"warnings":null,"auth":null}"#;

const UNWRAP: &str = r#"{"request_id":"c","lease_id":"","renewable":false,"lease_duration":0,"data":{"secret_id":"unwrapped-secret-id-value","secret_id_accessor":"sa-1","secret_id_num_uses":0,"secret_id_ttl":0},"wrap_info":null,"warnings":null,"auth":null}"#;

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn login_answer_yields_token_ttl_and_policies() {
    let a = parse_login(200, LOGIN.as_bytes()).unwrap();
    assert_eq!(a.client_token.expose(), "s.LoginTokenSecret123");
    assert_eq!(a.accessor, "acc.xyz");
    assert_eq!(a.policies, ["default", "app"]);
    assert_eq!((a.lease_duration_s, a.renewable), (3600, true));
    assert_eq!(
        (a.entity_id.as_str(), a.token_type.as_str()),
        ("e-1", "service")
    );
}

#[test]
fn kv2_read_picks_fields_and_version_with_numbers_as_text() {
    let kv = parse_kv2(200, KV2.as_bytes(), &fields(&["api_key", "port", "tls"])).unwrap();
    assert_eq!(kv.version, 3);
    let get = |f: &str| kv.value.field(f).map(|s| s.expose().to_string());
    assert_eq!(get("api_key").as_deref(), Some("kv-secret-value"));
    assert_eq!(get("port").as_deref(), Some("5432"));
    assert_eq!(get("tls").as_deref(), Some("true"));
    assert_eq!(get("nested"), None, "only configured fields are kept");
}

#[test]
fn kv2_read_yields_the_versions_created_time_when_readable() {
    let kv = parse_kv2(200, KV2.as_bytes(), &fields(&["api_key"])).unwrap();
    // 2026-11-02T10:00:00Z
    assert_eq!(kv.created_ms, Some(1_793_613_600_000));
    // Absent or unreadable: the read still succeeds, ordered by version alone.
    for created in ["", r#""created_time":"yesterday","#, r#""created_time":7,"#] {
        let body = format!(
            r#"{{"data":{{"data":{{"api_key":"x"}},"metadata":{{{created}"version":2}}}}}}"#
        );
        let kv = parse_kv2(200, body.as_bytes(), &fields(&["api_key"])).unwrap();
        assert_eq!((kv.version, kv.created_ms), (2, None), "{body}");
    }
}

#[test]
fn dynamic_read_yields_lease_and_fields() {
    let d = parse_dynamic(200, DYNAMIC.as_bytes(), &fields(&["username", "password"])).unwrap();
    assert_eq!(d.lease_id.as_deref(), Some("database/creds/app/AbCdEf123"));
    assert_eq!((d.renewable, d.lease_duration_s), (true, 600));
    assert_eq!(
        d.value.field("password").unwrap().expose(),
        "dyn-password-value"
    );
}

/// As answered by OpenBao 2.7.2 for `GET identity/oidc/token/backend`.
const IDENTITY_TOKEN: &str = r#"{"request_id":"d","lease_id":"","renewable":false,"lease_duration":0,"data":{"client_id":"U3sYOHPKRehsUWVvbsdUDp3vn8","token":"eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJVM3MifQ.c2ln","ttl":30},"wrap_info":null,"warnings":null,"auth":null}"#;

#[test]
fn identity_token_yields_token_client_id_and_its_ttl() {
    let t = parse_identity_token(200, IDENTITY_TOKEN.as_bytes()).unwrap();
    assert_eq!((t.lease_id, t.valid_for_s), (None, Some(30)));
    assert_eq!(
        t.value.field("token").unwrap().expose(),
        "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJVM3MifQ.c2ln"
    );
    assert_eq!(
        t.value.field("client_id").unwrap().expose(),
        "U3sYOHPKRehsUWVvbsdUDp3vn8"
    );
    // Without a usable ttl the token's validity is unknown: refused, not served forever.
    for body in [
        r#"{"data":{"client_id":"c","token":"t"}}"#,
        r#"{"data":{"client_id":"c","token":"t","ttl":0}}"#,
        r#"{"data":{"client_id":"c","token":"t","ttl":"30"}}"#,
    ] {
        assert!(
            matches!(
                parse_identity_token(200, body.as_bytes()),
                Err(VaultError::Malformed(_))
            ),
            "{body}"
        );
    }
    assert_eq!(
        parse_identity_token(200, br#"{"data":{"client_id":"c","ttl":30}}"#).unwrap_err(),
        VaultError::FieldMissing("token".into())
    );
}

#[test]
fn unwrap_yields_the_secret_id() {
    assert_eq!(
        parse_unwrap_secret_id(200, UNWRAP.as_bytes())
            .unwrap()
            .expose(),
        "unwrapped-secret-id-value"
    );
}

#[test]
fn lookup_self_yields_ttl_and_renewability() {
    let body = r#"{"data":{"accessor":"x","creation_ttl":3600,"expire_time":"2026-11-02T11:00:00Z","id":"s.tok","policies":["default"],"renewable":true,"ttl":3599,"type":"service"}}"#;
    assert_eq!(
        parse_lookup_self(200, body.as_bytes()).unwrap(),
        TokenInfo {
            ttl_s: 3599,
            renewable: true
        }
    );
    let root = r#"{"data":{"ttl":0,"renewable":false,"policies":["root"]}}"#;
    assert_eq!(
        parse_lookup_self(200, root.as_bytes()).unwrap(),
        TokenInfo {
            ttl_s: 0,
            renewable: false
        }
    );
}

#[test]
fn renewals_detect_truncation_from_warnings_or_a_short_grant() {
    let capped_warning = r#"TTL of \"1h0m0s\" exceeded the effective max_ttl of \"10m0s\"; TTL value is capped accordingly"#;
    let lease = |dur: u64, warn: &str| {
        let w = if warn.is_empty() {
            "null".to_string()
        } else {
            format!("[\"{warn}\"]")
        };
        format!(
            r#"{{"request_id":"r","lease_id":"database/creds/app/AbCdEf123","renewable":true,"lease_duration":{dur},"data":null,"wrap_info":null,"warnings":{w},"auth":null}}"#
        )
    };
    let token = |dur: u64, warn: &str| {
        let w = if warn.is_empty() {
            "null".to_string()
        } else {
            format!("[\"{warn}\"]")
        };
        format!(
            r#"{{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":null,"warnings":{w},"auth":{{"client_token":"s.x","accessor":"a","policies":["default"],"lease_duration":{dur},"renewable":true}}}}"#
        )
    };
    // (body, requested, parse as token?, granted, truncated)
    let cases = [
        (lease(600, ""), 600, false, 600, false),
        (lease(600, capped_warning), 600, false, 600, true),
        (lease(120, ""), 600, false, 120, true),
        (lease(600, ""), 0, false, 600, false),
        (token(3600, ""), 3600, true, 3600, false),
        (token(3600, capped_warning), 3600, true, 3600, true),
        (token(900, ""), 3600, true, 900, true),
    ];
    for (body, requested, is_token, granted, truncated) in cases {
        let r = if is_token {
            parse_token_renew(200, body.as_bytes(), requested)
        } else {
            parse_lease_renew(200, body.as_bytes(), requested)
        }
        .unwrap();
        assert_eq!(
            (r.lease_duration_s, r.truncated),
            (granted, truncated),
            "{body}"
        );
        assert!(r.renewable);
    }
}

#[test]
fn revoke_accepts_204_and_empty_200() {
    assert_eq!(parse_empty(204, b""), Ok(()));
    assert_eq!(parse_empty(200, b""), Ok(()));
    assert_eq!(parse_empty(200, b"{}"), Ok(()));
}

#[test]
fn error_statuses_are_classified_with_reason_codes() {
    let e = |msgs: &str| format!(r#"{{"errors":[{msgs}]}}"#);
    let cases: Vec<(u16, String, VaultError, &str)> = vec![
        (403, e(r#""permission denied""#), VaultError::PermissionDenied("permission denied".into()), "vault_permission_denied"),
        (400, e(r#""invalid role or secret ID""#), VaultError::BadRequest("invalid role or secret ID".into()), "vault_bad_request"),
        (400, e(r#""lease not found""#), VaultError::BadRequest("lease not found".into()), "vault_bad_request"),
        (404, e(""), VaultError::NotFound, "vault_not_found"),
        (429, e(r#""request path \"x\": rate limit quota exceeded""#), VaultError::RateLimited { retry_after_ms: None }, "vault_rate_limited"),
        (500, e(r#""internal error""#), VaultError::ServerError { status: 500, message: "internal error".into() }, "vault_server_error"),
        (502, e(r#""upstream""#), VaultError::ServerError { status: 502, message: "upstream".into() }, "vault_server_error"),
        (503, e(r#""Vault is sealed""#), VaultError::Sealed("Vault is sealed".into()), "vault_sealed"),
        (503, "no healthy upstream".into(), VaultError::Unreachable, "vault_unreachable"),
        (503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure".into(), VaultError::Unreachable, "vault_unreachable"),
        (504, "upstream request timeout".into(), VaultError::Timeout, "vault_timeout"),
        (418, String::new(), VaultError::UnexpectedStatus(418), "vault_unexpected_status"),
        (302, String::new(), VaultError::UnexpectedStatus(302), "vault_unexpected_status"),
    ];
    for (status, body, want, reason) in cases {
        for got in [
            parse_login(status, body.as_bytes()).unwrap_err(),
            parse_kv2(status, body.as_bytes(), &fields(&["a"])).unwrap_err(),
            parse_lease_renew(status, body.as_bytes(), 60).unwrap_err(),
            parse_empty(status, body.as_bytes()).unwrap_err(),
        ] {
            assert_eq!(got, want, "{status} {body}");
            assert_eq!(got.reason(), reason);
        }
    }
    assert!(VaultError::PermissionDenied(String::new()).needs_relogin());
    assert!(!VaultError::BadRequest(String::new()).needs_relogin());
}

#[test]
fn malformed_or_incomplete_success_bodies_are_typed_errors() {
    let f = fields(&["api_key"]);
    let cases: Vec<(&str, VaultError)> = vec![
        ("not json", parse_login(200, b"not json").unwrap_err()),
        (
            "truncated",
            parse_kv2(200, &KV2.as_bytes()[..40], &f).unwrap_err(),
        ),
        (
            "login without auth",
            parse_login(200, KV2.as_bytes()).unwrap_err(),
        ),
        (
            "login with empty token",
            parse_login(200, br#"{"auth":{"client_token":""}}"#).unwrap_err(),
        ),
        ("login on 204", parse_login(204, b"").unwrap_err()),
        (
            "kv2 without metadata",
            parse_kv2(200, br#"{"data":{"data":{"api_key":"x"}}}"#, &f).unwrap_err(),
        ),
        (
            "kv2 deleted (data null)",
            parse_kv2(
                200,
                br#"{"data":{"data":null,"metadata":{"version":2}}}"#,
                &f,
            )
            .unwrap_err(),
        ),
        (
            "dynamic data is a list",
            parse_dynamic(200, br#"{"data":[1]}"#, &f).unwrap_err(),
        ),
        (
            "wrong type",
            parse_lease_renew(200, br#"{"lease_duration":"60"}"#, 60).unwrap_err(),
        ),
        (
            "renew without duration",
            parse_lease_renew(200, br#"{"lease_id":"x"}"#, 60).unwrap_err(),
        ),
        (
            "token renew without auth",
            parse_token_renew(200, DYNAMIC.as_bytes(), 60).unwrap_err(),
        ),
        (
            "unwrap without secret_id",
            parse_unwrap_secret_id(200, KV2.as_bytes()).unwrap_err(),
        ),
        (
            "lookup without ttl",
            parse_lookup_self(200, br#"{"data":{}}"#).unwrap_err(),
        ),
    ];
    for (what, err) in cases {
        assert_eq!(err.reason(), "vault_malformed_response", "{what}: {err:?}");
    }
}

#[test]
fn malformed_error_messages_do_not_echo_values() {
    let err = parse_lease_renew(200, br#"{"lease_duration":"s.leaked-token"}"#, 60).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("leaked"), "{err}");
}

#[test]
fn missing_or_structured_fields_are_named() {
    let f = fields(&["api_key", "missing_one"]);
    assert_eq!(
        parse_kv2(200, KV2.as_bytes(), &f).unwrap_err(),
        VaultError::FieldMissing("missing_one".into())
    );
    let f = fields(&["nested"]);
    let err = parse_kv2(200, KV2.as_bytes(), &f).unwrap_err();
    assert_eq!(err, VaultError::FieldNotText("nested".into()));
    assert_eq!(err.reason(), "secret_field_not_text");
    assert_eq!(
        parse_dynamic(200, DYNAMIC.as_bytes(), &fields(&["user"]))
            .unwrap_err()
            .reason(),
        "secret_field_missing"
    );
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let big = vec![b' '; MAX_RESPONSE_BYTES + 1];
    for status in [200, 403, 503] {
        assert_eq!(
            parse_login(status, &big).unwrap_err(),
            VaultError::ResponseTooLarge(MAX_RESPONSE_BYTES + 1)
        );
    }
}

#[test]
fn hostile_error_messages_are_truncated_and_stripped() {
    let long = "x".repeat(5_000);
    let body = format!(r#"{{"errors":["line1\nline2\u0007", "{long}", 42]}}"#);
    match parse_login(400, body.as_bytes()).unwrap_err() {
        VaultError::BadRequest(m) => {
            assert!(m.starts_with("line1line2; xxx"), "{m}");
            assert!(m.chars().count() <= 200);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = crate::env::SeededRandom(9);
    use crate::env::Random;
    for len in 0..300usize {
        let mut buf = vec![0u8; len];
        rng.fill(&mut buf);
        for status in [200, 204, 400, 403, 503] {
            let _ = parse_login(status, &buf);
            let _ = parse_kv2(status, &buf, &fields(&["a"]));
            let _ = parse_dynamic(status, &buf, &fields(&["a"]));
            let _ = parse_lease_renew(status, &buf, 60);
        }
    }
    // Prefixes of real answers exercise the JSON parser's truncation paths.
    for body in [LOGIN, KV2, DYNAMIC, UNWRAP] {
        for cut in 0..body.len() {
            let _ = parse_login(200, &body.as_bytes()[..cut]);
            let _ = parse_kv2(200, &body.as_bytes()[..cut], &fields(&["api_key"]));
        }
    }
}

#[test]
fn debug_of_parsed_answers_never_shows_secrets() {
    let login = parse_login(200, LOGIN.as_bytes()).unwrap();
    let kv = parse_kv2(200, KV2.as_bytes(), &fields(&["api_key"])).unwrap();
    let dy = parse_dynamic(200, DYNAMIC.as_bytes(), &fields(&["username", "password"])).unwrap();
    let sid = parse_unwrap_secret_id(200, UNWRAP.as_bytes()).unwrap();
    let dbg = format!("{login:?} {kv:?} {dy:?} {sid:?}");
    for secret in [
        "LoginTokenSecret123",
        "kv-secret-value",
        "dyn-password-value",
        "unwrapped-secret-id-value",
    ] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
    assert!(dbg.contains("[redacted]"));
}
