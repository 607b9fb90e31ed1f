use super::*;
use crate::config::parse_json;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn env(name: &str) -> Option<String> {
    match name {
        "VAULT_JWT" => Some("eyJ.sa-jwt-value.sig".into()),
        "ROLE_ID" => Some("role-id-value".into()),
        "SECRET_ID" => Some("secret-id-value".into()),
        "DEV_TOKEN" => Some("s.dev-token-value".into()),
        "EMPTY" => Some("  ".into()),
        _ => None,
    }
}

fn compile(json: &str) -> Result<VaultConfig, ConfigError> {
    parse_json::<VaultConfigDto>(json.as_bytes())?.compile(&env)
}

const BASE: &str = r#"{
  "connection": {"cluster": "outbound|8200||vault", "authority": "vault:8200"},
  "auth": {"kubernetes": {"role": "app", "jwt_env": "VAULT_JWT"}},
  "secrets": [
    {"name": "db", "kind": {"dynamic": {"path": "database/creds/app", "fields": ["username", "password"]}}},
    {"name": "api", "kind": {"kv2": {"path": "apps/web", "fields": ["api_key"]}}}
  ]
}"#;

#[test]
fn minimal_config_gets_documented_defaults() {
    let c = compile(BASE).unwrap();
    assert_eq!(c.connection.path_prefix, "/v1");
    assert_eq!(c.connection.timeout_ms, 5_000);
    assert_eq!(c.connection.namespace, None);
    assert_eq!(c.kv_refresh_interval_ms, 60_000);
    assert_eq!(c.retry, crate::backoff::Backoff::new(1_000, 300_000));
    match c.auth.as_ref().unwrap() {
        AuthMethod::Kubernetes { mount, role, jwt } => {
            assert_eq!((mount.as_str(), role.as_str()), ("kubernetes", "app"));
            assert_eq!(jwt.expose(), "eyJ.sa-jwt-value.sig");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.secrets[1].kind,
        SecretKind::Kv2 {
            mount: "secret".into(),
            path: "apps/web".into(),
            version: None
        }
    );
    assert!(c.secrets[0].is_dynamic());
}

#[test]
fn every_auth_method_compiles_with_its_defaults() {
    let cases = [
        (
            r#"{"approle": {"role_id_env": "ROLE_ID", "secret_id_env": "SECRET_ID", "secret_id_wrapped": true}}"#,
            AuthMethod::AppRole {
                mount: "approle".into(),
                role_id: Secret::new("role-id-value"),
                secret_id: Secret::new("secret-id-value"),
                secret_id_wrapped: true,
            },
        ),
        (
            r#"{"jwt": {"jwt_env": "VAULT_JWT"}}"#,
            AuthMethod::Jwt {
                mount: "jwt".into(),
                role: None,
                jwt: Secret::new("eyJ.sa-jwt-value.sig"),
            },
        ),
        (
            r#"{"jwt": {"mount": "oidc/", "role": "r", "jwt_env": "VAULT_JWT"}}"#,
            AuthMethod::Jwt {
                mount: "oidc".into(),
                role: Some("r".into()),
                jwt: Secret::new("eyJ.sa-jwt-value.sig"),
            },
        ),
        (
            r#"{"token": {"token_env": "DEV_TOKEN"}}"#,
            AuthMethod::Token {
                token: Secret::new("s.dev-token-value"),
            },
        ),
    ];
    for (auth, want) in cases {
        let json = BASE.replace(
            r#"{"kubernetes": {"role": "app", "jwt_env": "VAULT_JWT"}}"#,
            auth,
        );
        assert_eq!(compile(&json).unwrap().auth, Some(want), "{auth}");
    }
}

#[test]
fn retry_backoff_is_configurable_and_defaults_fill_the_other_bound() {
    let cases = [
        (r#"{"initial": "200ms", "max": "8s"}"#, (200, 8_000)),
        (r#"{"initial": "2s"}"#, (2_000, 300_000)),
        (r#"{"initial": "10m"}"#, (600_000, 600_000)),
        (r#"{"max": "30s"}"#, (1_000, 30_000)),
        (r#"{}"#, (1_000, 300_000)),
    ];
    for (retry, (base, max)) in cases {
        let json = BASE.replace(r#""secrets""#, &format!(r#""retry": {retry}, "secrets""#));
        let c = compile(&json).unwrap();
        assert_eq!((c.retry.base_ms, c.retry.max_ms), (base, max), "{retry}");
    }
}

#[test]
fn optional_connection_and_refresh_settings_are_honoured() {
    let json = BASE
        .replace(
            r#""authority": "vault:8200"}"#,
            r#""authority": "vault:8200", "namespace": "team-a", "timeout": "2s", "path_prefix": "/vault/v1/"}"#,
        )
        .replace(r#""secrets""#, r#""kv_refresh_interval": "5m", "per_user_jwt": {"role": "user"}, "secrets""#);
    let c = compile(&json).unwrap();
    assert_eq!(c.connection.namespace.as_deref(), Some("team-a/"));
    assert_eq!(c.connection.timeout_ms, 2_000);
    assert_eq!(c.connection.path_prefix, "/vault/v1");
    assert_eq!(c.kv_refresh_interval_ms, 300_000);
    assert_eq!(
        c.per_user_jwt,
        Some(PerUserJwt {
            mount: "jwt".into(),
            role: Some("user".into()),
            max_users: 1000,
            max_waiting: 100
        })
    );
}

#[test]
fn invalid_configs_are_rejected_naming_the_field() {
    let k8s = r#"{"kubernetes": {"role": "app", "jwt_env": "VAULT_JWT"}}"#;
    let db_path = r#""path": "database/creds/app""#;
    let identity = |role: &str| {
        BASE.replace(
            r#"{"dynamic": {"path": "database/creds/app", "fields": ["username", "password"]}}"#,
            &format!(r#"{{"identity_token": {{"role": "{role}"}}}}"#),
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            BASE.replace(db_path, r#""path": "database/../sys/raw""#),
            "secrets[0].kind.dynamic.path",
            "..",
        ),
        (
            identity("a/b"),
            "secrets[0].kind.identity_token.role",
            "identity OIDC role",
        ),
        (
            identity(".."),
            "secrets[0].kind.identity_token.role",
            "identity OIDC role",
        ),
        (
            identity(""),
            "secrets[0].kind.identity_token.role",
            "identity OIDC role",
        ),
        (
            BASE.replace(db_path, r#""path": "/database/creds/app""#),
            "secrets[0].kind.dynamic.path",
            "start with",
        ),
        (
            BASE.replace(db_path, r#""path": "database/creds/app?x=1""#),
            "secrets[0].kind.dynamic.path",
            "?",
        ),
        (
            BASE.replace(db_path, r#""path": "database//app""#),
            "secrets[0].kind.dynamic.path",
            "empty",
        ),
        (
            BASE.replace(r#""path": "apps/web""#, r#""path": "apps/web#frag""#),
            "secrets[1].kind.kv2.path",
            "#",
        ),
        (
            BASE.replace(r#""fields": ["api_key"]"#, r#""fields": []"#),
            "secrets[1].kind.kv2.fields",
            "at least one",
        ),
        (
            BASE.replace(r#""fields": ["api_key"]"#, r#""fields": ["a", "a"]"#),
            "secrets[1].kind.kv2.fields[1]",
            "duplicate",
        ),
        (
            BASE.replace(
                r#""fields": ["api_key"]"#,
                r#""fields": ["a"], "version": 0"#,
            ),
            "secrets[1].kind.kv2.version",
            "start at 1",
        ),
        (
            BASE.replace(r#""name": "api""#, r#""name": "db""#),
            "secrets[1].name",
            "duplicate",
        ),
        (
            BASE.replace(r#""name": "api""#, r#""name": "a b""#),
            "secrets[1].name",
            "[A-Za-z0-9_.-]",
        ),
        (
            BASE.replace("VAULT_JWT", "MISSING_VAR"),
            "auth.kubernetes.jwt_env",
            "`MISSING_VAR` is not set",
        ),
        (
            BASE.replace("VAULT_JWT", "EMPTY"),
            "auth.kubernetes.jwt_env",
            "`EMPTY` is not set or empty",
        ),
        (
            BASE.replace("VAULT_JWT", "not a name"),
            "auth.kubernetes.jwt_env",
            "environment variable name",
        ),
        (
            BASE.replace(
                k8s,
                r#"{"approle": {"role_id_env": "ROLE_ID", "secret_id_env": "NOPE"}}"#,
            ),
            "auth.approle.secret_id_env",
            "`NOPE`",
        ),
        (
            BASE.replace(
                k8s,
                r#"{"kubernetes": {"role": "app", "mount": "../x", "jwt_env": "VAULT_JWT"}}"#,
            ),
            "auth.kubernetes.mount",
            "..",
        ),
        (
            BASE.replace(
                r#""authority": "vault:8200""#,
                r#""authority": "vault:8200", "timeout": "0s""#,
            ),
            "connection.timeout",
            "greater than 0",
        ),
        (
            BASE.replace(
                r#""authority": "vault:8200""#,
                r#""authority": "vault:8200", "timeout": "soon""#,
            ),
            "connection.timeout",
            "not a duration",
        ),
        (
            BASE.replace(
                r#""authority": "vault:8200""#,
                r#""authority": "vault:8200", "path_prefix": "v1""#,
            ),
            "connection.path_prefix",
            "start with `/`",
        ),
        (
            BASE.replace(
                r#""authority": "vault:8200""#,
                r#""authority": "vault:8200", "namespace": "a/../b""#,
            ),
            "connection.namespace",
            "..",
        ),
        (
            BASE.replace(r#""authority": "vault:8200""#, r#""authority": "vault/x""#),
            "connection.authority",
            "host[:port]",
        ),
        (
            BASE.replace(r#""cluster": "outbound|8200||vault""#, r#""cluster": " ""#),
            "connection.cluster",
            "non-empty",
        ),
        (
            BASE.replace(
                r#""secrets""#,
                r#""kv_refresh_interval": "10ms", "secrets""#,
            ),
            "kv_refresh_interval",
            "at least 1s",
        ),
        (
            BASE.replace(
                r#""secrets""#,
                r#""per_user_jwt": {"mount": "a?b"}, "secrets""#,
            ),
            "per_user_jwt.mount",
            "?",
        ),
        (
            BASE.replace(
                r#""secrets""#,
                r#""per_user_jwt": {"max_users": 0}, "secrets""#,
            ),
            "per_user_jwt.max_users",
            "at least 1",
        ),
        (
            BASE.replace(
                r#""secrets""#,
                r#""per_user_jwt": {"max_waiting": 0}, "secrets""#,
            ),
            "per_user_jwt.max_waiting",
            "at least 1",
        ),
        (
            BASE.replace(
                r#""auth": {"kubernetes": {"role": "app", "jwt_env": "VAULT_JWT"}},"#,
                r#""per_user_jwt": {},"#,
            ),
            "auth",
            "required to read `secrets`",
        ),
        (
            r#"{"connection": {"cluster": "vault", "authority": "vault:8200"}}"#.to_string(),
            "auth",
            "or `per_user_jwt`",
        ),
        (
            BASE.replace(r#""secrets""#, r#""retry": {"initial": "50ms"}, "secrets""#),
            "retry.initial",
            "at least 100ms",
        ),
        (
            BASE.replace(
                r#""secrets""#,
                r#""retry": {"initial": "10s", "max": "5s"}, "secrets""#,
            ),
            "retry.max",
            "shorter than `initial`",
        ),
        (
            BASE.replace(r#""secrets""#, r#""retry": {"max": "soon"}, "secrets""#),
            "retry.max",
            "not a duration",
        ),
    ];
    for (json, path, msg) in cases {
        let err = compile(&json).unwrap_err();
        assert_eq!(err.path, path, "{err}");
        assert!(err.to_string().contains(msg), "{err} should mention {msg}");
    }
}

#[test]
fn per_user_only_config_needs_no_plugin_login() {
    let c = compile(
        r#"{"connection": {"cluster": "vault", "authority": "vault:8200"},
            "per_user_jwt": {"role": "user", "max_users": 50}}"#,
    )
    .unwrap();
    assert_eq!(c.auth, None);
    assert!(c.secrets.is_empty());
    assert_eq!(
        c.per_user_jwt,
        Some(PerUserJwt {
            mount: "jwt".into(),
            role: Some("user".into()),
            max_users: 50,
            max_waiting: 100
        })
    );
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let cases = [
        (
            BASE.replace(r#""role": "app""#, r#""role": "app", "jwt": "inline""#),
            "auth.kubernetes.jwt",
        ),
        (
            BASE.replace(r#""cluster""#, r#""clustr": 1, "cluster""#),
            "connection.clustr",
        ),
        (
            BASE.replace(
                r#""path": "apps/web""#,
                r#""path": "apps/web", "field": "x""#,
            ),
            "secrets[1].kind.kv2.field",
        ),
    ];
    for (json, path) in cases {
        let err = compile(&json).unwrap_err();
        assert_eq!(err.path, path, "{err}");
    }
}

#[test]
fn env_errors_never_contain_the_variable_value() {
    let err = compile(&BASE.replace("VAULT_JWT", "EMPTY")).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("sa-jwt-value") && !text.contains("secret-id-value"));
    let c = compile(BASE).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("sa-jwt-value"), "{dbg}");
}

#[test]
fn identity_token_secret_reads_the_roles_token_endpoint_and_offers_token_and_client_id() {
    let json = BASE.replace(
        r#"{"dynamic": {"path": "database/creds/app", "fields": ["username", "password"]}}"#,
        r#"{"identity_token": {"role": "backend"}}"#,
    );
    let c = compile(&json).unwrap();
    assert_eq!(
        c.secrets[0].kind,
        SecretKind::IdentityToken {
            path: "identity/oidc/token/backend".into()
        }
    );
    assert_eq!(c.secrets[0].fields, ["token", "client_id"]);
    assert!(!c.secrets[0].is_dynamic(), "no lease to keep alive");
}

/// proxy-wasm passes a callout timeout to Envoy as `u32` milliseconds
/// (`Duration::as_millis() as u32` in the SDK's `dispatch_http_call`): a
/// longer timeout wraps around, to 0 ("no timeout at all", the value the
/// `timeout > 0` check exists to refuse) or to a few milliseconds.
#[test]
fn connection_timeouts_that_wrap_around_in_the_callout_are_refused() {
    let with_timeout = |t: &str| {
        BASE.replace(
            r#""authority": "vault:8200""#,
            &format!(r#""authority": "vault:8200", "timeout": "{t}""#),
        )
    };
    // Wrapping values, and the first one past the 60 s cap.
    for t in ["4294967296ms", "4294968s", "1194h", "60001ms", "2m"] {
        match compile(&with_timeout(t)) {
            Err(e) => {
                assert_eq!(e.path, "connection.timeout", "{t}: {e}");
                assert!(e.to_string().contains("at most 60s"), "{t}: {e}");
            }
            Ok(c) => panic!(
                "{t} accepted: {} ms reaches Envoy as {} ms",
                c.connection.timeout_ms, c.connection.timeout_ms as u32
            ),
        }
    }
    for (t, ms) in [("1ms", 1), ("60s", 60_000), ("1m", 60_000)] {
        let c = compile(&with_timeout(t)).unwrap();
        assert_eq!(c.connection.timeout_ms, ms, "{t}");
    }
}
