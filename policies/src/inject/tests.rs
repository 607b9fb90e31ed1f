use super::*;
use crate::env::{Now, SeededRandom};
use crate::identity::VerifiedIdentity;
use crate::secret::Secret;
use crate::vault::SecretValue;
use serde_json::json;
use std::collections::BTreeMap;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW_S: u64 = 1_800_000_000;
type CsrfCase<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

const KEY: &str = "vault-api-key-0123456789";

fn env(name: &str) -> Option<String> {
    match name {
        "STATIC_KEY" => Some("static-key-abcdefgh".into()),
        "BASIC_USER" => Some("svc".into()),
        "BASIC_PASS" => Some("p@ss word".into()),
        "CLIENT_ID" => Some("my client".into()),
        "CLIENT_SECRET" => Some("s3cr&t".into()),
        "VAULT_TOKEN" => Some("root".into()),
        _ => None,
    }
}

fn vault_section() -> serde_json::Value {
    json!({
        "connection": {"cluster": "vault", "authority": "127.0.0.1:8200"},
        "auth": {"token": {"token_env": "VAULT_TOKEN"}},
        "secrets": [
            {"name": "payments", "kind": {"kv2": {"path": "payments", "fields": ["api_key"]}}},
            {"name": "db", "kind": {"dynamic": {"path": "database/creds/app", "fields": ["username", "password"]}}}
        ]
    })
}

fn base_config() -> serde_json::Value {
    json!({
        "backends": [
            {
                "name": "payments",
                "routes": [
                    {"methods": ["GET"], "path": {"prefix": "/api/payments"}},
                    {"methods": ["POST"], "path": {"exact": "/api/payments/charge"},
                     "query": [{"name": "dry_run", "one_of": ["true", "false"]}]},
                    {"methods": ["DELETE"], "path": {"template": "/api/payments/{id}"},
                     "claims": {"claim": "roles", "contains": "admin"}}
                ],
                "credential": {"vault": {"secret": "payments", "field": "api_key"}},
                "injection": {"header": "authorization"},
                "path_prefix_rewrite": {"from": "/api/payments", "to": "/v2"},
                "max_body_bytes": 1000
            },
            {
                "name": "reports",
                "routes": [{"methods": ["GET"], "path": {"prefix": "/api/reports"}}],
                "credential": {"static": {"env": "STATIC_KEY"}},
                "injection": {"header": "x-api-key"},
                "require_user": false,
                "strip_cookies": false
            }
        ],
        "cors": {"allowed_origins": ["https://app.example.com"], "allow_credentials": true,
                 "max_age": "10m", "extra_allowed_headers": ["x-requested-with"]},
        "csrf": {"require_origin": true},
        "vault": vault_section()
    })
}

fn compile(v: serde_json::Value) -> Result<Injector, crate::config::ConfigError> {
    let raw = serde_json::to_vec(&v).unwrap();
    crate::config::parse_json::<InjectorConfigDto>(&raw)?.compile(&env)
}

fn injector() -> Injector {
    compile(base_config()).unwrap()
}

fn fields(pairs: &[(&str, &str)]) -> SecretValue {
    SecretValue::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect(),
    )
}

struct Source {
    vault: BTreeMap<String, Result<SecretValue, CredentialUnavailable>>,
    oauth2: Result<Secret, CredentialUnavailable>,
}

impl Source {
    fn ok() -> Self {
        let mut vault = BTreeMap::new();
        vault.insert("payments".to_string(), Ok(fields(&[("api_key", KEY)])));
        vault.insert(
            "db".to_string(),
            Ok(fields(&[
                ("username", "v-app-123"),
                ("password", "pw-secret-xyz"),
            ])),
        );
        Self {
            vault,
            oauth2: Ok(Secret::new("oauth-access-token-1")),
        }
    }
}

impl CredentialSource for Source {
    fn vault_secret(&self, name: &str, _now: Now) -> Result<SecretValue, CredentialUnavailable> {
        self.vault
            .get(name)
            .cloned()
            .unwrap_or(Err(CredentialUnavailable::new("secret_not_configured")))
    }
    fn oauth2_token(&self, _i: usize, _now: Now) -> Result<Secret, CredentialUnavailable> {
        self.oauth2.clone()
    }
}

fn identity(roles: &[&str], expires_at: u64) -> VerifiedIdentity {
    let mut claims = serde_json::Map::new();
    claims.insert("roles".into(), json!(roles));
    VerifiedIdentity {
        provider: "local".into(),
        issuer: "http://idp".into(),
        subject: "alice".into(),
        expires_at,
        claims,
    }
}

fn headers<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    pairs.to_vec()
}

fn decide_with(
    inj: &Injector,
    method: &str,
    target: &str,
    hs: &[(&str, &str)],
    id: Option<&VerifiedIdentity>,
    src: &Source,
) -> Decision {
    let (path, query) = crate::routes::split_path_and_query(target);
    let hs = headers(hs);
    inj.decide(
        &RequestInput {
            method,
            path,
            query,
            headers: &hs,
            identity: id,
            now: Now::from_unix_secs(NOW_S),
        },
        src,
    )
}

fn outcome(d: &Decision) -> String {
    match d {
        Decision::Allow(a) => format!("allow:{}", a.backend),
        Decision::Deny(d) => format!("{}:{}", d.status, d.code()),
        Decision::Preflight { .. } => "preflight".into(),
        Decision::FetchUserCredential(p) => format!("fetch:{}", p.allow.backend),
    }
}

fn allow(d: Decision) -> Allow {
    match d {
        Decision::Allow(a) => a,
        other => panic!("expected allow, got {}", outcome(&other)),
    }
}

#[test]
fn allowlist_allows_listed_routes_and_refuses_others_with_reasons() {
    let inj = injector();
    let admin = identity(&["admin"], NOW_S + 60);
    let user = identity(&["user"], NOW_S + 60);
    let cases: &[(&str, &str, &VerifiedIdentity, &str)] = &[
        ("GET", "/api/payments", &user, "allow:payments"),
        ("GET", "/api/payments/123", &user, "allow:payments"),
        ("GET", "/api/paymentsX", &user, "403:route_not_allowed"),
        ("PUT", "/api/payments/123", &user, "403:route_not_allowed"),
        (
            "POST",
            "/api/payments/charge?dry_run=true",
            &user,
            "allow:payments",
        ),
        (
            "POST",
            "/api/payments/charge?dry_run=maybe",
            &user,
            "403:route_not_allowed",
        ),
        (
            "POST",
            "/api/payments/charge",
            &user,
            "403:route_not_allowed",
        ),
        ("DELETE", "/api/payments/42", &admin, "allow:payments"),
        ("DELETE", "/api/payments/42", &user, "403:claim_mismatch"),
        (
            "GET",
            "/api/payments/../admin",
            &user,
            "403:suspicious_path",
        ),
        (
            "GET",
            "/api/payments/%2e%2e/admin",
            &user,
            "403:suspicious_path",
        ),
        ("GET", "/api//payments", &user, "403:suspicious_path"),
        ("GET", "/API/payments", &user, "403:route_not_allowed"),
        ("GET", "/api/reports/q1", &user, "allow:reports"),
        ("POST", "/api/reports/q1", &user, "403:route_not_allowed"),
        ("GET", "/admin", &user, "403:route_not_allowed"),
    ];
    for (method, target, id, want) in cases {
        let d = decide_with(&inj, method, target, &[], Some(id), &Source::ok());
        assert_eq!(outcome(&d), *want, "{method} {target}");
    }
}

#[test]
fn require_user_answers_401_without_or_with_an_expired_identity() {
    let inj = injector();
    let src = Source::ok();
    let none = decide_with(&inj, "GET", "/api/payments", &[], None, &src);
    assert_eq!(outcome(&none), "401:identity_required");
    let expired = identity(&[], NOW_S);
    let d = decide_with(&inj, "GET", "/api/payments", &[], Some(&expired), &src);
    assert_eq!(outcome(&d), "401:identity_expired");
    // `require_user: false` backends work without an identity.
    let d = decide_with(&inj, "GET", "/api/reports", &[], None, &src);
    assert_eq!(outcome(&d), "allow:reports");
}

#[test]
fn the_identity_is_read_only_when_a_backend_needs_a_user() {
    assert!(injector().reads_identity());
    let mut only_public = base_config();
    only_public["backends"] = json!([base_config()["backends"][1].clone()]);
    let inj = compile(only_public).unwrap();
    assert!(!inj.reads_identity());
    // Such a backend decides without one.
    let d = decide_with(&inj, "GET", "/api/reports", &[], None, &Source::ok());
    assert_eq!(outcome(&d), "allow:reports");
}

#[test]
fn allowed_request_gets_the_credential_and_loses_user_authorization_and_cookies() {
    let inj = injector();
    let id = identity(&[], NOW_S + 60);
    let a = allow(decide_with(
        &inj,
        "GET",
        "/api/payments/7?x=1",
        &[
            ("authorization", "Bearer user-token"),
            ("cookie", "session=abc"),
        ],
        Some(&id),
        &Source::ok(),
    ));
    assert_eq!(a.remove_headers, vec!["authorization", "cookie"]);
    assert_eq!(a.set_headers.len(), 1);
    let h = &a.set_headers[0];
    assert_eq!(
        (h.name.as_str(), h.mode),
        ("authorization", InjectMode::Overwrite)
    );
    assert_eq!(h.value.expose(), format!("Bearer {KEY}"));
    assert_eq!(a.path_rewrite.as_deref(), Some("/v2/7?x=1"));
    // strip_cookies: false keeps the cookie; x-api-key gets the raw value.
    let a = allow(decide_with(
        &inj,
        "GET",
        "/api/reports",
        &[],
        None,
        &Source::ok(),
    ));
    assert_eq!(a.remove_headers, vec!["authorization"]);
    assert_eq!(a.set_headers[0].name, "x-api-key");
    assert_eq!(a.set_headers[0].value.expose(), "static-key-abcdefgh");
    assert_eq!(a.path_rewrite, None);
}

#[test]
fn templates_render_bearer_basic_raw_and_custom() {
    let f = fields(&[
        ("secret", "tok"),
        ("username", "svc"),
        ("password", "p@ss word"),
    ]);
    let cases = [
        ("Bearer {secret}", "Bearer tok"),
        ("{secret}", "tok"),
        (
            "Basic {base64(username:password)}",
            "Basic c3ZjOnBAc3Mgd29yZA==",
        ),
        (
            "Token token={secret}, user={username}",
            "Token token=tok, user=svc",
        ),
        ("{base64(secret)}", "dG9r"),
    ];
    for (text, want) in cases {
        let t = Template::parse(text).unwrap();
        let got = t.render(&|n| f.field(n)).unwrap();
        assert_eq!(got.expose(), want, "{text}");
    }
}

#[test]
fn templates_reject_bad_syntax_and_values_that_would_split_headers() {
    for (text, want) in [
        ("Bearer {secret", TemplateError::Unbalanced),
        ("Bearer secret}", TemplateError::Unbalanced),
        ("Bearer {}", TemplateError::BadPlaceholder("{}".into())),
        (
            "{base64(a:)}",
            TemplateError::BadPlaceholder("{base64(a:)}".into()),
        ),
        (
            "{se cret}",
            TemplateError::BadPlaceholder("{se cret}".into()),
        ),
        ("constant", TemplateError::NoPlaceholder),
        ("Bearer\n{secret}", TemplateError::ControlChar),
        ("{secret} ", TemplateError::SurroundingWhitespace),
        ("\tBearer {secret}", TemplateError::ControlChar),
    ] {
        assert_eq!(Template::parse(text).unwrap_err(), want, "{text}");
    }
    // `{secret}` alone takes a shortcut (the field's value is shared): checked all the same.
    for text in ["Bearer {secret}", "{secret}"] {
        let t = Template::parse(text).unwrap();
        for bad in ["a\r\nx-injected: 1", "a\u{0}b", ""] {
            let f = fields(&[("secret", bad)]);
            assert_eq!(
                t.render(&|n| f.field(n)).unwrap_err(),
                TemplateError::InvalidValue,
                "{text}"
            );
        }
    }
    let t = Template::parse("Bearer {secret}").unwrap();
    let f = fields(&[]);
    assert_eq!(
        t.render(&|n| f.field(n)).unwrap_err(),
        TemplateError::FieldMissing("secret".into())
    );
}

#[test]
fn vault_secret_with_crlf_is_refused_with_credential_invalid() {
    let inj = injector();
    let mut src = Source::ok();
    src.vault.insert(
        "payments".into(),
        Ok(fields(&[("api_key", "k\r\nx-evil: 1")])),
    );
    let id = identity(&[], NOW_S + 60);
    let d = decide_with(&inj, "GET", "/api/payments", &[], Some(&id), &src);
    assert_eq!(outcome(&d), "503:credential_invalid");
}

#[test]
fn unavailable_credential_answers_503_with_the_reason_and_last_error() {
    let inj = injector();
    let mut src = Source::ok();
    src.vault.insert(
        "payments".into(),
        Err(CredentialUnavailable {
            reason: "vault_unavailable",
            last_error: Some("vault_unreachable"),
        }),
    );
    let id = identity(&[], NOW_S + 60);
    let d = decide_with(
        &inj,
        "GET",
        "/api/payments",
        &[("origin", "https://app.example.com")],
        Some(&id),
        &src,
    );
    let Decision::Deny(deny) = d else { panic!() };
    assert_eq!((deny.status, deny.code()), (503, "credential_unavailable"));
    let msg = deny.message();
    assert!(
        msg.contains("vault_unavailable") && msg.contains("vault_unreachable"),
        "{msg}"
    );
    // The app can read the error: CORS headers for the allowed origin.
    assert!(deny.cors_headers.contains(&(
        "access-control-allow-origin".into(),
        "https://app.example.com".into()
    )));
}

#[test]
fn cors_preflight_is_answered_locally_or_refused_without_cors_headers() {
    let inj = injector();
    let app = "https://app.example.com";
    let cases: &[(&str, &str, &str, Option<&str>, &str)] = &[
        (app, "/api/payments/1", "GET", None, "preflight"),
        (
            app,
            "/api/payments/charge?dry_run=true",
            "POST",
            Some("content-type, X-Requested-With"),
            "preflight",
        ),
        (
            app,
            "/api/payments/1",
            "PUT",
            None,
            "403:cors_method_not_allowed",
        ),
        (app, "/api/reports", "POST", None, "403:route_not_allowed"),
        (
            app,
            "/api/payments/1",
            "GET",
            Some("x-custom"),
            "403:cors_header_not_allowed",
        ),
        (
            "https://evil.example.net",
            "/api/payments/1",
            "GET",
            None,
            "403:cors_origin_not_allowed",
        ),
        (
            "null",
            "/api/payments/1",
            "GET",
            None,
            "403:cors_origin_not_allowed",
        ),
        (app, "/api/../admin", "GET", None, "403:suspicious_path"),
    ];
    for (origin, path, method, req_headers, want) in cases {
        let mut hs = vec![
            ("origin", *origin),
            ("access-control-request-method", *method),
        ];
        if let Some(h) = req_headers {
            hs.push(("access-control-request-headers", h));
        }
        // Preflights carry no credentials: no identity needed.
        let d = decide_with(&inj, "OPTIONS", path, &hs, None, &Source::ok());
        assert_eq!(outcome(&d), *want, "{origin} {method} {path}");
        match d {
            Decision::Preflight { headers } => {
                let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                assert_eq!(get("access-control-allow-origin").as_deref(), Some(app));
                assert_eq!(
                    get("access-control-allow-credentials").as_deref(),
                    Some("true")
                );
                assert_eq!(get("access-control-max-age").as_deref(), Some("600"));
                let methods = get("access-control-allow-methods").unwrap();
                assert!(
                    methods.contains("DELETE") && !methods.contains("PUT"),
                    "{methods}"
                );
                let allowed = get("access-control-allow-headers").unwrap();
                assert!(allowed.contains("content-type") && allowed.contains("x-requested-with"));
            }
            Decision::Deny(d) => assert!(d.cors_headers.is_empty()),
            Decision::Allow(_) | Decision::FetchUserCredential(_) => panic!("preflight forwarded"),
        }
    }
}

#[test]
fn actual_responses_get_cors_headers_only_for_allowed_origins() {
    let inj = injector();
    let id = identity(&[], NOW_S + 60);
    let a = allow(decide_with(
        &inj,
        "GET",
        "/api/payments",
        &[("origin", "https://app.example.com")],
        Some(&id),
        &Source::ok(),
    ));
    assert!(a.cors_headers.contains(&(
        "access-control-allow-origin".into(),
        "https://app.example.com".into()
    )));
    assert!(a.cors_headers.contains(&("vary".into(), "Origin".into())));
    let a = allow(decide_with(
        &inj,
        "GET",
        "/api/payments",
        &[("origin", "https://app.example.com.evil.net")],
        Some(&id),
        &Source::ok(),
    ));
    assert_eq!(
        a.cors_headers,
        vec![("vary".to_string(), "Origin".to_string())]
    );
}

#[test]
fn csrf_checks_cookie_borne_unsafe_requests() {
    let inj = injector();
    let id = identity(&["admin"], NOW_S + 60);
    let post = "/api/payments/charge?dry_run=true";
    let cookie = ("cookie", "session=abc");
    let cases: &[CsrfCase] = &[
        (
            "POST",
            post,
            &[cookie, ("origin", "https://app.example.com")],
            "allow:payments",
        ),
        (
            "POST",
            post,
            &[cookie, ("origin", "null")],
            "403:csrf_origin_mismatch",
        ),
        (
            "POST",
            post,
            &[cookie, ("origin", "https://app.example.com.evil.net")],
            "403:csrf_origin_mismatch",
        ),
        (
            "POST",
            post,
            &[cookie, ("origin", "https://evil-app.example.com")],
            "403:csrf_origin_mismatch",
        ),
        (
            "POST",
            post,
            &[cookie, ("origin", "http://app.example.com")],
            "403:csrf_origin_mismatch",
        ),
        ("POST", post, &[cookie], "403:csrf_missing_origin"),
        (
            "POST",
            post,
            &[cookie, ("referer", "https://app.example.com/page")],
            "allow:payments",
        ),
        (
            "POST",
            post,
            &[cookie, ("referer", "https://app.example.com@evil.net/")],
            "403:csrf_malformed_referer",
        ),
        (
            "POST",
            post,
            &[
                cookie,
                ("origin", "https://app.example.com"),
                ("origin", "https://evil.net"),
            ],
            "403:csrf_origin_mismatch",
        ),
        (
            "DELETE",
            "/api/payments/1",
            &[cookie],
            "403:csrf_missing_origin",
        ),
        // A bearer token is not ambient: no CSRF check.
        (
            "POST",
            post,
            &[cookie, ("authorization", "Bearer t")],
            "allow:payments",
        ),
        ("POST", post, &[], "allow:payments"),
        // Safe methods are not checked.
        ("GET", "/api/payments", &[cookie], "allow:payments"),
    ];
    for (method, target, hs, want) in cases {
        let d = decide_with(&inj, method, target, hs, Some(&id), &Source::ok());
        assert_eq!(outcome(&d), *want, "{method} {hs:?}");
    }
}

#[test]
fn csrf_required_header_is_enforced_for_cookie_borne_unsafe_requests() {
    let mut cfg = base_config();
    cfg["csrf"] = json!({"require_origin": false, "required_header": "X-Requested-With"});
    let inj = compile(cfg).unwrap();
    let id = identity(&[], NOW_S + 60);
    let post = "/api/payments/charge?dry_run=false";
    for (hs, want) in [
        (vec![("cookie", "s=1")], "403:csrf_header_missing"),
        (
            vec![("cookie", "s=1"), ("x-requested-with", "fetch")],
            "allow:payments",
        ),
        (vec![("authorization", "Bearer t")], "allow:payments"),
    ] {
        let d = decide_with(&inj, "POST", post, &hs, Some(&id), &Source::ok());
        assert_eq!(outcome(&d), want, "{hs:?}");
    }
}

#[test]
fn declared_body_above_the_limit_is_refused_with_413() {
    let inj = injector();
    let id = identity(&[], NOW_S + 60);
    let post = "/api/payments/charge?dry_run=true";
    let d = decide_with(
        &inj,
        "POST",
        post,
        &[("content-length", "1001")],
        Some(&id),
        &Source::ok(),
    );
    assert_eq!(outcome(&d), "413:body_too_large");
    let a = allow(decide_with(
        &inj,
        "POST",
        post,
        &[("content-length", "1000")],
        Some(&id),
        &Source::ok(),
    ));
    assert_eq!(a.max_body_bytes, Some(1000));
}

#[test]
fn basic_auth_from_vault_dynamic_credentials_and_oauth2_tokens() {
    let cfg = json!({
        "backends": [
            {"name": "db-api", "routes": [{"path": {"prefix": "/db"}}],
             "credential": {"vault": {"secret": "db"}},
             "injection": {"header": "authorization", "template": "Basic {base64(username:password)}", "mode": "add"},
             "require_user": false},
            {"name": "partner", "routes": [{"path": {"prefix": "/partner"}}],
             "credential": {"oauth2": {"token_endpoint": {"cluster": "idp", "authority": "idp.local", "path": "/token"},
                                       "client_id_env": "CLIENT_ID", "client_secret_env": "CLIENT_SECRET", "scope": "read"}},
             "injection": {"header": "authorization"}, "require_user": false}
        ],
        "csrf": {"require_origin": false},
        "vault": vault_section()
    });
    let inj = compile(cfg).unwrap();
    let a = allow(decide_with(&inj, "GET", "/db/x", &[], None, &Source::ok()));
    let h = &a.set_headers[0];
    assert_eq!(h.mode, InjectMode::Add);
    assert_eq!(h.value.expose(), "Basic di1hcHAtMTIzOnB3LXNlY3JldC14eXo=");
    let a = allow(decide_with(
        &inj,
        "GET",
        "/partner",
        &[],
        None,
        &Source::ok(),
    ));
    assert_eq!(
        a.set_headers[0].value.expose(),
        "Bearer oauth-access-token-1"
    );
    assert_eq!(inj.oauth2_clients.len(), 1);
}

#[test]
fn response_headers_echoing_the_credential_are_found() {
    let injected = Secret::new(format!("Bearer {KEY}"));
    let fields = vec![Secret::new(KEY), Secret::new("svc")];
    let (bearer, echo) = (format!("Bearer {KEY}"), format!("key={KEY};"));
    let hs = headers(&[
        ("content-type", "application/json"),
        ("X-Debug-Auth", &bearer),
        ("x-echo", &echo),
        ("x-user", "svc"),
        ("x-Echo", "again"),
    ]);
    assert_eq!(
        echoed_response_headers(&hs, &injected, &fields),
        vec!["x-debug-auth", "x-echo"]
    );
    assert!(echoed_response_headers(&headers(&[("a", "b")]), &injected, &fields).is_empty());
}

#[test]
fn path_prefix_rewrite_is_segment_aware_and_keeps_the_query() {
    let r = PathRewrite {
        from: "/api/payments".into(),
        to: "/v2".into(),
    };
    assert_eq!(
        r.apply("/api/payments", None, false).as_deref(),
        Some("/v2")
    );
    assert_eq!(
        r.apply("/api/payments/1", Some("a=b"), false).as_deref(),
        Some("/v2/1?a=b")
    );
    assert_eq!(r.apply("/api/paymentsX", None, false), None);
    // Case only folds for routes that matched ignoring case; the rest keeps its case.
    assert_eq!(r.apply("/API/Payments/A", None, false), None);
    assert_eq!(
        r.apply("/API/Payments/A", None, true).as_deref(),
        Some("/v2/A")
    );
    assert_eq!(r.apply("/API/PaymentsX", None, true), None);
    // A multi-byte character across the prefix's end is no match, not a panic.
    assert_eq!(r.apply("/api/paymenté/x", None, true), None);
    assert_eq!(r.apply("/ap", None, true), None);
    let root = PathRewrite {
        from: "/api".into(),
        to: "/".into(),
    };
    assert_eq!(root.apply("/api", None, false).as_deref(), Some("/"));
    assert_eq!(root.apply("/api/x", None, false).as_deref(), Some("/x"));
}

#[test]
fn config_errors_name_the_json_path() {
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|c| c["backends"][0]["color"] = json!("red")),
            "backends[0].color",
        ),
        (Box::new(|c| c["backends"] = json!([])), "backends"),
        (
            Box::new(|c| c["backends"][0]["routes"] = json!([])),
            "backends[0].routes",
        ),
        (
            Box::new(|c| c["backends"][0]["routes"][1]["methods"] = json!(["P O"])),
            "backends[0].routes[1].methods[0]",
        ),
        (
            Box::new(|c| c["backends"][0]["routes"][0]["path"] = json!({"prefix": "/a/../b"})),
            "backends[0].routes[0].path.prefix",
        ),
        (
            Box::new(|c| c["backends"][0]["credential"] = json!({"vault": {"secret": "nope"}})),
            "backends[0].credential.vault.secret",
        ),
        (
            Box::new(|c| {
                c["backends"][0]["credential"] =
                    json!({"vault": {"secret": "payments", "field": "pw"}})
            }),
            "backends[0].credential.vault.field",
        ),
        (
            Box::new(|c| c["backends"][1]["credential"] = json!({"static": {"env": "UNSET_VAR"}})),
            "backends[1].credential.static.env",
        ),
        (
            Box::new(|c| c["backends"][0]["injection"]["header"] = json!("content-length")),
            "backends[0].injection.header",
        ),
        (
            Box::new(|c| c["backends"][0]["injection"]["header"] = json!("bad header")),
            "backends[0].injection.header",
        ),
        (
            Box::new(|c| c["backends"][0]["injection"]["template"] = json!("Bearer {password}")),
            "backends[0].injection.template",
        ),
        (
            Box::new(|c| c["backends"][0]["injection"]["mode"] = json!("append")),
            "backends[0].injection.mode",
        ),
        (
            Box::new(|c| c["backends"][1]["name"] = json!("payments")),
            "backends[1].name",
        ),
        (
            Box::new(|c| c["backends"][0]["max_body_bytes"] = json!(0)),
            "backends[0].max_body_bytes",
        ),
        (
            Box::new(|c| {
                c["backends"][0]["path_prefix_rewrite"] = json!({"from": "/", "to": "/x"})
            }),
            "backends[0].path_prefix_rewrite.from",
        ),
        (
            Box::new(|c| {
                c["backends"][1]["routes"][0]["claims"] = json!({"claim": "a", "present": true})
            }),
            "backends[1].routes[0].claims",
        ),
        (
            Box::new(|c| c["backends"][0]["routes"][2]["claims"] = json!({"claim": "roles"})),
            "backends[0].routes[2].claims",
        ),
        (
            Box::new(|c| c["cors"]["allowed_origins"] = json!(["*"])),
            "cors.allowed_origins[0]",
        ),
        (
            Box::new(|c| c["cors"]["extra_allowed_headers"] = json!(["*"])),
            "cors.extra_allowed_headers[0]",
        ),
        (
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("cors");
            }),
            "csrf.require_origin",
        ),
        (
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("vault");
            }),
            "backends[0].credential.vault",
        ),
        (
            Box::new(|c| c["vault"]["connection"]["timeout"] = json!("0s")),
            "vault.connection.timeout",
        ),
        (
            Box::new(
                |c| c["backends"][1]["credential"] = json!({"oauth2": {"token_endpoint": {"cluster": "idp", "authority": "idp", "path": "token"}, "client_id_env": "CLIENT_ID", "client_secret_env": "CLIENT_SECRET"}}),
            ),
            "backends[1].credential.oauth2.token_endpoint.path",
        ),
        (
            Box::new(
                |c| c["backends"][1]["credential"] = json!({"oauth2": {"token_endpoint": {"cluster": "idp", "authority": "idp", "path": "/t"}, "client_id_env": "CLIENT_ID", "client_secret_env": "NOPE"}}),
            ),
            "backends[1].credential.oauth2.client_secret_env",
        ),
        (
            // 2^32 ms: proxy-wasm would hand Envoy 0, i.e. no timeout at all.
            Box::new(
                |c| c["backends"][1]["credential"] = json!({"oauth2": {"token_endpoint": {"cluster": "idp", "authority": "idp", "path": "/t", "timeout": "4294967296ms"}, "client_id_env": "CLIENT_ID", "client_secret_env": "CLIENT_SECRET"}}),
            ),
            "backends[1].credential.oauth2.token_endpoint.timeout",
        ),
    ];
    for (mutate, path) in cases {
        let mut cfg = base_config();
        mutate(&mut cfg);
        let err = compile(cfg).expect_err(path);
        assert_eq!(err.path, path, "{err}");
    }
}

#[test]
fn debug_output_never_shows_credentials() {
    let inj = injector();
    let id = identity(&[], NOW_S + 60);
    let d = decide_with(&inj, "GET", "/api/payments", &[], Some(&id), &Source::ok());
    let a = allow(d.clone());
    assert_eq!(a.set_headers[0].value.expose(), format!("Bearer {KEY}"));
    let shown = format!("{d:?} {inj:?}");
    for secret in [KEY, "static-key-abcdefgh", "root"] {
        assert!(!shown.contains(secret), "{secret} leaked");
    }
    let client = compile(json!({
        "backends": [{"name": "p", "routes": [{"path": {"prefix": "/p"}}], "require_user": false,
            "credential": {"oauth2": {"token_endpoint": {"cluster": "idp", "authority": "idp", "path": "/t"},
                           "client_id_env": "CLIENT_ID", "client_secret_env": "CLIENT_SECRET"}},
            "injection": {"header": "authorization"}}],
        "csrf": {"require_origin": false}
    }))
    .unwrap();
    let req = client.oauth2_clients[0].request();
    let shown = format!("{client:?} {req:?}");
    assert!(!shown.contains("s3cr"), "{shown}");
}

fn oauth_client(auth: ClientAuth) -> OAuth2Client {
    OAuth2Client {
        cluster: "idp".into(),
        authority: "idp.local".into(),
        path: "/token".into(),
        client_id: Secret::new("my client"),
        client_secret: Secret::new("s3cr&t"),
        scope: Some("read write".into()),
        audience: Some("https://api".into()),
        resource: None,
        client_auth: auth,
        timeout_ms: 5_000,
        refresh_before_ms: 60_000,
    }
}

#[test]
fn oauth2_request_uses_basic_or_post_client_authentication() {
    let r = oauth_client(ClientAuth::Basic).request();
    assert_eq!(r.path, "/token");
    assert_eq!(
        r.body.expose(),
        "grant_type=client_credentials&scope=read+write&audience=https%3A%2F%2Fapi"
    );
    // base64("my+client:s3cr%26t")
    assert_eq!(
        r.authorization.unwrap().expose(),
        "Basic bXkrY2xpZW50OnMzY3IlMjZ0"
    );
    let r = oauth_client(ClientAuth::Post).request();
    assert!(r.authorization.is_none());
    assert!(r
        .body
        .expose()
        .ends_with("&client_id=my+client&client_secret=s3cr%26t"));
}

#[test]
fn oauth2_token_responses_are_parsed_strictly() {
    let ok = |b: &str| parse_token_response(200, b.as_bytes());
    let t = ok(r#"{"access_token":"abc","token_type":"Bearer","expires_in":120}"#).unwrap();
    assert_eq!((t.access_token.expose(), t.expires_in_s), ("abc", 120));
    assert_eq!(
        ok(r#"{"access_token":"a","token_type":"bearer","expires_in":"60"}"#)
            .unwrap()
            .expires_in_s,
        60
    );
    assert_eq!(
        ok(r#"{"access_token":"a","token_type":"Bearer"}"#)
            .unwrap()
            .expires_in_s,
        300
    );
    let cases: &[(u16, &str, &str)] = &[
        (
            200,
            r#"{"access_token":"a","token_type":"DPoP","expires_in":60}"#,
            "oauth2_unsupported_token_type",
        ),
        (
            200,
            r#"{"token_type":"Bearer"}"#,
            "oauth2_malformed_response",
        ),
        (
            200,
            r#"{"access_token":"a\r\nb","token_type":"Bearer"}"#,
            "oauth2_malformed_response",
        ),
        (
            200,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":0}"#,
            "oauth2_malformed_response",
        ),
        (200, "not json", "oauth2_malformed_response"),
        (401, r#"{"error":"invalid_client"}"#, "oauth2_refused"),
        (503, "", "oauth2_unreachable"),
        (504, "", "oauth2_timeout"),
        (500, "", "oauth2_unexpected_status"),
    ];
    for (status, body, want) in cases {
        assert_eq!(
            parse_token_response(*status, body.as_bytes())
                .unwrap_err()
                .reason(),
            *want,
            "{body}"
        );
    }
    let big = vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1];
    assert_eq!(
        parse_token_response(200, &big).unwrap_err(),
        OAuth2Error::TooLarge
    );
}

#[test]
fn oauth2_token_is_refreshed_before_expiry_and_retried_with_backoff() {
    let client = oauth_client(ClientAuth::Basic);
    let mut rng = SeededRandom(3);
    let mut s = OAuth2TokenState::new();
    let t0 = Now::from_unix_secs(NOW_S);
    assert_eq!(s.current(t0).unwrap_err().reason, "token_not_loaded");
    assert!(s.due(&client, t0));
    s.on_dispatched(t0);
    assert!(
        !s.due(&client, t0.plus_ms(1_000)),
        "one fetch in flight at a time"
    );
    let body = br#"{"access_token":"tok1","token_type":"Bearer","expires_in":600}"#;
    s.on_response(&client, 200, body, t0.plus_ms(200), &mut rng)
        .unwrap();
    assert_eq!(s.current(t0.plus_ms(300)).unwrap().expose(), "tok1");
    // Due 60 s before expiry at the latest (600 s TTL → ~480-540 s).
    assert!(!s.due(&client, t0.plus_ms(470_000)));
    assert!(s.due(&client, t0.plus_ms(540_000)));
    // A failed refresh keeps serving the old token until it expires, then backs off.
    s.on_dispatched(t0.plus_ms(540_000));
    let err = s
        .on_response(&client, 503, b"", t0.plus_ms(540_100), &mut rng)
        .unwrap_err();
    assert_eq!(err.reason(), "oauth2_unreachable");
    assert_eq!(s.current(t0.plus_ms(590_000)).unwrap().expose(), "tok1");
    assert!(
        !s.due(&client, t0.plus_ms(540_100)),
        "backoff after a failure"
    );
    let gone = s.current(t0.plus_ms(600_000)).unwrap_err();
    assert_eq!(
        (gone.reason, gone.last_error),
        ("token_expired", Some("oauth2_unreachable"))
    );
    // A lost call (no answer past the timeout) is given up and retried.
    let mut s = OAuth2TokenState::new();
    s.on_dispatched(t0);
    assert!(!s.due(&client, t0.plus_ms(9_000)));
    assert!(s.due(&client, t0.plus_ms(11_000)));
}

#[test]
fn a_failed_oauth2_fetch_reports_its_backoff_so_the_lease_covers_it() {
    let client = oauth_client(ClientAuth::Basic);
    let mut rng = SeededRandom(5);
    let mut s = OAuth2TokenState::new();
    let t0 = Now::from_unix_secs(NOW_S);
    assert_eq!(s.backoff_until_ms(t0), None, "nothing failed yet");
    s.on_dispatched(t0);
    s.on_response(
        &client,
        401,
        br#"{"error":"invalid_client"}"#,
        t0.plus_ms(100),
        &mut rng,
    )
    .unwrap_err();
    let until = s.backoff_until_ms(t0.plus_ms(100)).expect("in backoff");
    assert!(until > t0.plus_ms(100).unix_ms, "{until}");
    // The host holds the fetch lease until then; the state agrees that no
    // attempt is due before it, and one is due from it on.
    assert!(!s.due(&client, Now::from_unix_ms(until - 1)));
    assert_eq!(s.backoff_until_ms(Now::from_unix_ms(until)), None);
    assert!(s.due(&client, Now::from_unix_ms(until)));
    // A success ends the backoff.
    s.on_dispatched(Now::from_unix_ms(until));
    let body = br#"{"access_token":"tok1","token_type":"Bearer","expires_in":600}"#;
    s.on_response(&client, 200, body, Now::from_unix_ms(until + 50), &mut rng)
        .unwrap();
    assert_eq!(s.backoff_until_ms(Now::from_unix_ms(until + 50)), None);
}

#[test]
fn oauth2_snapshots_are_adopted_only_when_newer() {
    let client = oauth_client(ClientAuth::Basic);
    let mut s = OAuth2TokenState::new();
    let snap = |tok: &str, at: u64| OAuth2Snapshot {
        access_token: Secret::new(tok),
        fetched_at_ms: at,
        expires_at_ms: at + 600_000,
    };
    s.adopt(&snap("new", 2_000), &client);
    s.adopt(&snap("old", 1_000), &client);
    assert_eq!(s.current(Now::from_unix_ms(3_000)).unwrap().expose(), "new");
    assert!(!s.due(&client, Now::from_unix_ms(3_000)));
    let json = serde_json::to_string(&snap("t", 1)).unwrap();
    assert_eq!(
        OAuth2Snapshot::from_bytes(json.as_bytes()).unwrap(),
        snap("t", 1)
    );
    assert!(!format!("{:?}", snap("visible?", 1)).contains("visible?"));
}

#[test]
fn cors_extra_allowed_headers_errors_name_the_configured_index() {
    // The list has one entry; the error must point at it, not at its
    // position in the derived list (after `content-type`).
    let mut cfg = base_config();
    cfg["cors"]["extra_allowed_headers"] = json!(["*"]);
    let err = compile(cfg).unwrap_err();
    assert_eq!(err.path, "cors.extra_allowed_headers[0]", "{err}");
    // With a CSRF header the shift is 2.
    let mut cfg = base_config();
    cfg["csrf"]["required_header"] = json!("x-csrf");
    cfg["cors"]["extra_allowed_headers"] = json!(["x-ok", "bad header"]);
    let err = compile(cfg).unwrap_err();
    assert_eq!(err.path, "cors.extra_allowed_headers[1]", "{err}");
    // The CSRF header is in the derived list too: its errors name it.
    let mut cfg = base_config();
    cfg["csrf"]["required_header"] = json!("*");
    let err = compile(cfg).unwrap_err();
    assert_eq!(err.path, "csrf.required_header", "{err}");
}

#[test]
fn oauth2_token_living_less_than_refresh_before_is_not_refetched_on_every_tick() {
    // A 60 s token with the default `refresh_before: 60s` was due at once
    // (the margin covered its whole life), so every 1 s tick fetched again.
    // The margin is now at most a quarter of the lifetime.
    let client = oauth_client(ClientAuth::Basic);
    let mut rng = SeededRandom(3);
    let t0 = Now::from_unix_secs(NOW_S);
    for (ttl_s, refresh_ms) in [(60, 45_000), (30, 22_500)] {
        let mut s = OAuth2TokenState::new();
        assert!(s.due(&client, t0));
        s.on_dispatched(t0);
        let body =
            format!(r#"{{"access_token":"tok1","token_type":"Bearer","expires_in":{ttl_s}}}"#);
        s.on_response(&client, 200, body.as_bytes(), t0.plus_ms(100), &mut rng)
            .unwrap();
        assert!(
            !s.due(&client, t0.plus_ms(1_000)),
            "a fresh {ttl_s} s token is fetched again on the next tick"
        );
        assert!(!s.due(&client, t0.plus_ms(refresh_ms - 1)), "{ttl_s} s");
        assert!(
            s.due(&client, t0.plus_ms(refresh_ms)),
            "{ttl_s} s: refreshed before it expires"
        );
    }
    // A VM adopting such a token from shared data: same margin.
    let mut s = OAuth2TokenState::new();
    s.adopt(
        &OAuth2Snapshot {
            access_token: Secret::new("tok1"),
            fetched_at_ms: t0.unix_ms,
            expires_at_ms: t0.unix_ms + 60_000,
        },
        &client,
    );
    assert!(
        !s.due(&client, t0.plus_ms(1_000)),
        "adopted token due at once"
    );
    assert!(!s.due(&client, t0.plus_ms(44_999)));
    assert!(s.due(&client, t0.plus_ms(45_000)));
}

#[test]
fn case_insensitive_route_match_gets_its_path_prefix_rewritten() {
    let mut cfg = base_config();
    cfg["backends"][0]["routes"][0]["case_insensitive"] = json!(true);
    let inj = compile(cfg).unwrap();
    let id = identity(&[], NOW_S + 60);
    let a = allow(decide_with(
        &inj,
        "GET",
        "/API/Payments/1",
        &[],
        Some(&id),
        &Source::ok(),
    ));
    // The route matched (the credential is injected), so the backend's
    // prefix is rewritten too, as the route compared it; otherwise the
    // request would reach the backend under the public path.
    assert_eq!(a.set_headers.len(), 1);
    assert_eq!(a.path_rewrite.as_deref(), Some("/v2/1"));
    // A case-sensitive route does not match that path at all.
    let d = decide_with(
        &injector(),
        "GET",
        "/API/Payments/1",
        &[],
        Some(&id),
        &Source::ok(),
    );
    assert_eq!(outcome(&d), "403:route_not_allowed");
}

#[test]
fn template_with_surrounding_whitespace_is_refused_at_configure_time() {
    // Renders to a value with surrounding whitespace, which `render` refuses
    // on every request (503 credential_invalid): refused at configure time.
    for text in ["{secret} ", " {secret}", "Bearer {secret}\u{a0}"] {
        let mut cfg = base_config();
        cfg["backends"][1]["injection"]["template"] = json!(text);
        match compile(cfg) {
            Err(err) => assert_eq!(err.path, "backends[1].injection.template", "{text:?}"),
            Ok(inj) => {
                let d = decide_with(&inj, "GET", "/api/reports", &[], None, &Source::ok());
                panic!("{text:?} accepted; a request gets {}", outcome(&d));
            }
        }
    }
    // Whitespace inside stays allowed.
    let mut cfg = base_config();
    cfg["backends"][1]["injection"]["template"] = json!("Key  {secret}");
    let inj = compile(cfg).unwrap();
    let d = decide_with(&inj, "GET", "/api/reports", &[], None, &Source::ok());
    assert_eq!(outcome(&d), "allow:reports");
}

#[test]
fn csrf_applies_to_cookie_requests_with_ambient_basic_digest_negotiate_or_ntlm_authorization() {
    // Browsers attach cached HTTP authentication (Basic, Digest, Negotiate,
    // NTLM) to cross-site requests on their own, like cookies; only a
    // Bearer token proves the request was made by script with a token.
    let inj = injector();
    let id = identity(&["admin"], NOW_S + 60);
    let post = "/api/payments/charge?dry_run=true";
    let cookie = ("cookie", "session=abc");
    let evil = ("origin", "https://evil.net");
    let cases: &[CsrfCase] = &[
        (
            "POST",
            post,
            &[cookie, ("authorization", "Basic dXNlcjpwYXNz"), evil],
            "403:csrf_origin_mismatch",
        ),
        (
            "POST",
            post,
            &[cookie, ("authorization", "Digest username=\"u\""), evil],
            "403:csrf_origin_mismatch",
        ),
        (
            "POST",
            post,
            &[cookie, ("authorization", "Negotiate YIIB"), evil],
            "403:csrf_origin_mismatch",
        ),
        (
            "POST",
            post,
            &[cookie, ("authorization", "NTLM TlRMTVNTUAAB"), evil],
            "403:csrf_origin_mismatch",
        ),
        // Not a bearer token: a scheme alone, or a look-alike scheme.
        (
            "POST",
            post,
            &[cookie, ("authorization", "Bearer"), evil],
            "403:csrf_origin_mismatch",
        ),
        (
            "POST",
            post,
            &[cookie, ("authorization", "Bearerx t"), evil],
            "403:csrf_origin_mismatch",
        ),
        // Two Authorization headers: fail closed.
        (
            "POST",
            post,
            &[
                cookie,
                ("authorization", "Bearer t"),
                ("authorization", "Basic dTpw"),
                evil,
            ],
            "403:csrf_origin_mismatch",
        ),
        // A bearer token (scheme in any case) is set by script only: no CSRF check.
        (
            "POST",
            post,
            &[cookie, ("authorization", "Bearer t"), evil],
            "allow:payments",
        ),
        (
            "POST",
            post,
            &[cookie, ("authorization", "bEARER t"), evil],
            "allow:payments",
        ),
    ];
    for (method, target, hs, want) in cases {
        let d = decide_with(&inj, method, target, hs, Some(&id), &Source::ok());
        assert_eq!(outcome(&d), *want, "{hs:?}");
    }
}

#[test]
fn backend_cors_grants_are_stripped_for_origins_the_policy_does_not_allow() {
    // A safe method is not CSRF-checked, so a foreign origin's GET reaches
    // the backend; a backend reflecting `Origin` must not make the answer
    // readable there.
    let id = identity(&[], NOW_S + 60);
    let strip = |inj: &Injector, hs: &[(&str, &str)]| {
        allow(decide_with(
            inj,
            "GET",
            "/api/payments/1",
            hs,
            Some(&id),
            &Source::ok(),
        ))
        .strip_backend_cors
    };
    let inj = injector();
    for (origin, want) in [
        ("https://evil.net", true),
        ("null", true),
        ("https://app.example.com.evil.net", true),
        ("https://app.example.com", false),
    ] {
        assert_eq!(
            strip(&inj, &[("cookie", "s=1"), ("origin", origin)]),
            want,
            "{origin}"
        );
    }
    assert!(
        !strip(&inj, &[("cookie", "s=1")]),
        "no Origin: not a CORS request"
    );
    assert!(
        strip(
            &inj,
            &[
                ("origin", "https://app.example.com"),
                ("origin", "https://evil.net")
            ]
        ),
        "repeated Origin"
    );
    // Without a `cors` section no origin is allowed.
    let mut cfg = base_config();
    cfg.as_object_mut().unwrap().remove("cors");
    cfg["csrf"]["require_origin"] = json!(false);
    let inj = compile(cfg).unwrap();
    assert!(strip(&inj, &[("origin", "https://app.example.com")]));
    assert!(!strip(&inj, &[]));
    // Unsafe requests without a cookie are not CSRF-checked either.
    let a = allow(decide_with(
        &injector(),
        "POST",
        "/api/payments/charge?dry_run=true",
        &[("origin", "https://evil.net")],
        Some(&id),
        &Source::ok(),
    ));
    assert!(a.strip_backend_cors);
}
