//! The built `policy-check` binary, as an operator runs it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;

const OIDC_OK: &str = r#"{"providers":[{"name":"corp","issuer":"https://idp.example.com","audiences":["api"],
  "cluster":"outbound|443||idp.example.com"}],
  "rules":[{"match":{"path":{"prefix":"/healthz"}},"public":true},
           {"match":{"path":{"prefix":"/api"},"methods":["GET"]},"claims":{"claim":"scope","contains":"api:read"}}]}"#;
const OIDC_BAD_SKEW: &str = r#"{"providers":[{"name":"corp","issuer":"https://idp.example.com",
  "cluster":"c","clock_skew":"soon"}]}"#;
const OIDC_UNKNOWN_FIELD: &str = r#"{"providers":[{"name":"corp","issuer":"https://idp.example.com","cluster":"c","audience":"x"}]}"#;
const OIDC_HS512: &str = r#"{"providers":[{"name":"hs","issuer":"https://hs.example.com","hmac_secret_env":"HS_SECRET",
  "algorithms":["HS512"]}]}"#;
const STICKY_OK: &str = r#"{"mode":"stateful-session","keys":[{"id":"k1","env":"STICKY_KEY"}],
  "cookie":{"max_age":"8h"},"bind_subject":true}"#;
const STICKY_ROUTE_HASH: &str = r#"{"mode":"stateful-session","keys":[{"id":"k1","env":"STICKY_KEY"}],
  "hash_key":{"session_cookie":"sid"},
  "routes":[{"path_prefix":"/cart","hash_key":{"header":"X-Hash-Cart","identity":false}},
            {"path_prefix":"/static","hash_key":{"enabled":false}}]}"#;
const INJECTOR_OK: &str = r#"{"backends":[{"name":"payments",
  "routes":[{"methods":["GET"],"path":{"prefix":"/api/payments"}}],
  "credential":{"static":{"env":"PAYMENTS_KEY"}},"injection":{"header":"x-api-key"}}],
  "cors":{"allowed_origins":["https://app.example.com"]}}"#;
const INJECTOR_BAD_TEMPLATE: &str = r#"{"backends":[{"name":"payments",
  "routes":[{"path":{"prefix":"/api"}}],
  "credential":{"static":{"env":"PAYMENTS_KEY"}},"injection":{"header":"authorization","template":"Basic {password}"}}],
  "cors":{"allowed_origins":["https://app.example.com"]}}"#;
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXY=";

fn write(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policy-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Runs the binary with a clean environment; returns (exit code, stdout).
fn run(args: &[&str], config: &str) -> (i32, String) {
    let file = write(
        &format!("{}.json", args.join("_").replace(['/', '='], "_")),
        config,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_policy-check"))
        .args(args)
        .arg(&file)
        .arg("--no-process-env")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn validate_exits_zero_with_ok_or_one_with_the_json_path() {
    let cases: &[(&[&str], &str, i32, &str)] = &[
        (&["validate", "oidc-auth"], OIDC_OK, 0, "ok"),
        (&["validate", "oidc-auth"], OIDC_BAD_SKEW,  1,
            "providers[0].clock_skew: `soon` is not a duration (hint: write e.g."),
        (&["validate", "oidc-auth"], OIDC_UNKNOWN_FIELD, 1, "providers[0].audience: unknown field `audience`"),
        (&["validate", "oidc-auth"], "", 1, ".: the plugin configuration is empty"),
        // A key written twice would otherwise keep whichever came last.
        (&["validate", "oidc-auth"], "{\"providers\":[{\"name\":\"a\",\"issuer\":\"https://a\",\n  \"issuer\":\"https://b\"}]}", 1,
            "providers[0].issuer: duplicate key `issuer` at line 2 column 10"),
        (&["validate", "sticky-session"], STICKY_OK, 0, "ok"),
        (&["validate", "sticky-session"], r#"{"mode":"sideways","keys":[]}"#, 1, "mode: unknown variant `sideways`"),
        (&["validate", "credential-injector"], INJECTOR_OK, 0, "ok"),
        (&["validate", "credential-injector"], INJECTOR_BAD_TEMPLATE, 1,
            "backends[0].injection.template: placeholder `{password}` is not a field of the credential (hint: available: secret)"),
        // The same file checked by another plugin's loader is refused (members
        // are checked in key order, so the first unknown one is `bind_subject`).
        (&["validate", "credential-injector"], STICKY_OK, 1, "bind_subject: unknown field `bind_subject`"),
    ];
    for (args, config, code, expect) in cases {
        let (got_code, out) = run(args, config);
        assert_eq!(got_code, *code, "{args:?} {config}: {out}");
        assert!(
            out.contains(expect),
            "{args:?}: expected `{expect}` in:\n{out}"
        );
    }
}

#[test]
fn unknown_env_vars_are_listed_as_unchecked_and_pass_format_checks() {
    // A sticky key must be base64 of 32 bytes, an HS512 secret 64+ bytes:
    // the placeholder must satisfy both, or offline checks would be useless.
    for (plugin, config, var) in [
        ("sticky-session", STICKY_OK, "STICKY_KEY"),
        ("oidc-auth", OIDC_HS512, "HS_SECRET"),
        ("credential-injector", INJECTOR_OK, "PAYMENTS_KEY"),
    ] {
        let (code, out) = run(&["validate", plugin], config);
        assert_eq!(code, 0, "{plugin}: {out}");
        assert!(
            out.contains(&format!("environment variable {var} is read")),
            "{out}"
        );
        assert!(out.trim_end().ends_with("ok"), "{out}");
    }
}

#[test]
fn require_env_reports_a_missing_variable_by_name_with_a_hint() {
    let cases = [
        ("sticky-session", STICKY_OK, "keys[0].env: environment variable `STICKY_KEY` is not set (hint: set it to the base64 of 32 random bytes"),
        ("credential-injector", INJECTOR_OK, "environment variable `PAYMENTS_KEY` is not set or empty (hint:"),
        ("oidc-auth", OIDC_HS512, "providers[0].hmac_secret_env: environment variable `HS_SECRET` is not set or empty (hint: pass --env HS_SECRET=VALUE"),
    ];
    for (plugin, config, expect) in cases {
        let (code, out) = run(&["validate", plugin, "--require-env"], config);
        assert_eq!(code, 1, "{plugin}: {out}");
        assert!(
            out.contains(expect),
            "{plugin}: expected `{expect}` in:\n{out}"
        );
    }
}

#[test]
fn given_env_values_are_checked_like_envoy_would() {
    let (code, out) = run(
        &["validate", "sticky-session", "--env", "STICKY_KEY=c2hvcnQ="],
        STICKY_OK,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`STICKY_KEY` decodes to 5 bytes, expected 32"),
        "{out}"
    );
    let key_arg = format!("STICKY_KEY={KEY}");
    let (code, out) = run(
        &["validate", "sticky-session", "--env", &key_arg],
        STICKY_OK,
    );
    assert_eq!((code, out.trim()), (0, "ok"));
}

#[test]
fn explain_describes_rules_keys_and_credential_sources_without_values() {
    let secret = "s3cr3t-value-never-printed";
    let env_arg = format!("PAYMENTS_KEY={secret}");
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["explain", "oidc-auth"], OIDC_OK, &[
            "corp (issuer https://idp.example.com)",
            "OIDC discovery at https://idp.example.com/.well-known/openid-configuration through Envoy cluster `outbound|443||idp.example.com`",
            "[0] any method path prefix /healthz → public: no token needed",
            r#"[1] GET path prefix /api → a valid token from any provider with claims {"claim":"scope","contains":"api:read"}"#,
            "otherwise → deny (403 no_matching_rule)",
        ]),
        (&["explain", "sticky-session"], STICKY_OK, &[
            "mode: stateful-session", "cookie: __Host-sticky Path=/ Max-Age=8h", "k1 from env STICKY_KEY",
            "bound to the verified subject: yes", "STICKY_KEY: not given, value not checked",
            "opened cookies remembered per VM: up to 1024, each until it expires",
        ]),
        (&["explain", "sticky-session"], STICKY_ROUTE_HASH, &[
            "ring-hash header: x-sticky-hash (from identity: true, session cookie: sid)",
            "route prefix /cart: sticky, own ring-hash header: x-hash-cart (from identity: false, session cookie: sid)",
            "route prefix /static: sticky, ring-hash header: off",
            "client copies removed on every request: x-sticky-hash, x-hash-cart",
        ]),
        (&["explain", "credential-injector", "--env", &env_arg], INJECTOR_OK, &[
            "payments", "GET path prefix /api/payments", "credential: static, from environment variables",
            "injected as: header `x-api-key` (overwrite)", "PAYMENTS_KEY: given, value checked",
        ]),
    ];
    for (args, config, expects) in cases {
        let (code, out) = run(args, config);
        assert_eq!(code, 0, "{out}");
        for e in *expects {
            assert!(out.contains(e), "{args:?}: expected `{e}` in:\n{out}");
        }
        assert!(
            !out.contains(secret),
            "explain printed a secret value:\n{out}"
        );
    }
}

#[test]
fn render_wasmplugin_lists_exactly_the_env_vars_the_config_reads() {
    let (code, out) = run(
        &[
            "render-wasmplugin",
            "sticky-session",
            "--url",
            "oci://registry.example.com/mesh/sticky-session:0.1.0",
        ],
        STICKY_OK,
    );
    assert_eq!(code, 0, "{out}");
    for e in [
        "kind: WasmPlugin",
        "phase: AUTHZ\n  priority: 20",
        "failStrategy: FAIL_RELOAD",
        "- name: STICKY_KEY\n      valueFrom: HOST",
    ] {
        assert!(out.contains(e), "expected `{e}` in:\n{out}");
    }
}

#[test]
fn render_wasmplugin_takes_the_digest_make_oci_prints_and_refuses_any_other() {
    let hex = "ab".repeat(32);
    let url = "oci://registry.example.com/mesh/sticky-session:0.1.0";
    for digest in [format!("sha256:{hex}"), hex.clone()] {
        let (code, out) = run(
            &[
                "render-wasmplugin",
                "sticky-session",
                "--url",
                url,
                "--sha256",
                &digest,
            ],
            STICKY_OK,
        );
        assert_eq!(code, 0, "{out}");
        // The WasmPlugin CRD's pattern is ^[a-f0-9]{64}$: no prefix.
        assert!(out.contains(&format!("  sha256: {hex}\n")), "{out}");
        // Attached to the Gateway API gateway's pods unless --selector says otherwise.
        assert!(
            out.contains("gateway.networking.k8s.io/gateway-name: public"),
            "{out}"
        );
    }
    for bad in ["sha256:xyz", "AB".repeat(32).as_str(), "sha512:00"] {
        let (code, _) = run(
            &[
                "render-wasmplugin",
                "sticky-session",
                "--url",
                url,
                "--sha256",
                bad,
            ],
            STICKY_OK,
        );
        assert_eq!(code, 2, "{bad}");
    }
}

#[test]
fn usage_errors_exit_two() {
    for args in [
        &["validate", "nginx-auth"][..],
        &["frobnicate", "oidc-auth"][..],
        &["validate", "oidc-auth", "--bogus"][..],
    ] {
        let (code, _) = run(args, OIDC_OK);
        assert_eq!(code, 2, "{args:?}");
    }
}
