use super::*;
use crate::config::{parse_json, ConfigError};
use crate::env::{Now, SeededRandom};
use crate::identity::VerifiedIdentity;
use crate::inject::{
    CredentialSource, CredentialUnavailable, Decision, Injector, InjectorConfigDto,
    PendingCredential, RequestInput,
};
use crate::oidc::token_source::{RequestTokens, TokenSource};
use crate::secret::Secret;
use crate::vault::SecretValue;
use base64::Engine;
use serde_json::json;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW_S: u64 = 1_800_000_000;
const EXP: u64 = NOW_S + 300;
const ISS: &str = "http://idp";

fn now() -> Now {
    Now::from_unix_secs(NOW_S)
}

fn config(credential: serde_json::Value, vault_extra: serde_json::Value) -> serde_json::Value {
    let mut vault = json!({"connection": {"cluster": "vault", "authority": "vault:8200", "timeout": "2s"},
                           "per_user_jwt": {"role": "user", "max_users": 2}});
    if let (Some(v), Some(extra)) = (vault.as_object_mut(), vault_extra.as_object()) {
        for (k, x) in extra {
            v.insert(k.clone(), x.clone());
        }
    }
    json!({
        "backends": [{
            "name": "notes",
            "routes": [{"path": {"prefix": "/api/notes"}}],
            "credential": credential,
            "injection": {"header": "x-api-key"}
        }],
        "csrf": {"require_origin": false},
        "vault": vault
    })
}

fn per_user() -> serde_json::Value {
    json!({"vault_per_user": {"path": "users/{sub}", "fields": ["api_key", "owner"], "field": "api_key"}})
}

fn compile(v: serde_json::Value) -> Result<Injector, ConfigError> {
    let raw = serde_json::to_vec(&v).unwrap();
    parse_json::<InjectorConfigDto>(&raw)?.compile(&|n| (n == "T").then(|| "root".into()))
}

fn injector() -> Injector {
    compile(config(per_user(), json!({}))).unwrap()
}

fn user_vault(inj: &Injector) -> UserVault {
    let v = inj.vault.as_ref().unwrap();
    UserVault::new(&v.connection, v.per_user_jwt.as_ref().unwrap(), v.retry)
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// An RS256-shaped JWT (signature not checked here: oidc-auth and Vault do).
fn jwt(claims: serde_json::Value) -> String {
    format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "RS256", "kid": "k1"})),
        b64(&claims)
    )
}

fn alice_jwt() -> String {
    jwt(json!({"iss": ISS, "sub": "alice", "exp": EXP, "aud": "api"}))
}

fn identity(sub: &str) -> VerifiedIdentity {
    VerifiedIdentity {
        provider: "local".into(),
        issuer: ISS.into(),
        subject: sub.into(),
        expires_at: EXP,
        claims: serde_json::Map::new(),
    }
}

fn hs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    pairs.to_vec()
}

struct NoSource;
impl CredentialSource for NoSource {
    fn vault_secret(&self, _: &str, _: Now) -> Result<SecretValue, CredentialUnavailable> {
        Err(CredentialUnavailable::new("secret_not_configured"))
    }
    fn oauth2_token(&self, _: usize, _: Now) -> Result<Secret, CredentialUnavailable> {
        Err(CredentialUnavailable::new("token_not_configured"))
    }
}

fn decide(inj: &Injector, headers: &[(&str, &str)], id: Option<&VerifiedIdentity>) -> Decision {
    let headers = hs(headers);
    inj.decide(
        &RequestInput {
            method: "GET",
            path: "/api/notes",
            query: None,
            headers: &headers,
            identity: id,
            now: now(),
        },
        &NoSource,
    )
}

fn pending(d: Decision) -> PendingCredential {
    match d {
        Decision::FetchUserCredential(p) => *p,
        other => panic!("expected a fetch, got {other:?}"),
    }
}

fn deny_code(d: &Decision) -> (u16, &'static str) {
    match d {
        Decision::Deny(d) => (d.status, d.code()),
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn login_ok(token: &str, ttl_s: u64) -> Vec<u8> {
    json!({"auth": {"client_token": token, "accessor": "a", "policies": ["user"],
                    "lease_duration": ttl_s, "renewable": true}})
    .to_string()
    .into_bytes()
}

fn kv_ok(api_key: &str) -> Vec<u8> {
    json!({"data": {"data": {"api_key": api_key, "owner": "alice"}, "metadata": {"version": 3}}})
        .to_string()
        .into_bytes()
}

/// The request id the single-request tests use.
const ID: RequestId = 1;

/// Feeds Vault's answer to request [`ID`]'s call and returns its next step.
fn answer(
    uv: &mut UserVault,
    req: &UserSecretRequest,
    stage: UserStage,
    status: u16,
    body: &[u8],
    now: Now,
) -> UserStep {
    let answer = UserAnswer {
        status,
        body,
        retry_after_ms: None,
    };
    uv.on_answer(req, ID, stage, answer, now, &mut SeededRandom(7))
        .step
}

fn call(step: UserStep) -> UserCall {
    match step {
        UserStep::Call(c) => c,
        other => panic!("expected a call, got {other:?}"),
    }
}

fn header<'a>(c: &'a UserCall, name: &str) -> Option<&'a str> {
    c.request
        .headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.expose())
}

fn alice_request(inj: &Injector) -> UserSecretRequest {
    let jwt = alice_jwt();
    let auth = format!("Bearer {jwt}");
    pending(decide(
        inj,
        &[("authorization", &auth)],
        Some(&identity("alice")),
    ))
    .user
}

// ---- configuration -------------------------------------------------------

#[test]
fn per_user_credential_config_errors_name_the_json_path() {
    let cred = |c: serde_json::Value| json!({ "vault_per_user": c });
    let cases: Vec<(serde_json::Value, &str, &str)> = vec![
        (
            config(
                cred(json!({"path": "users/{user}", "fields": ["k"]})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.path",
            "only placeholder is {sub}",
        ),
        (
            config(
                cred(json!({"path": "users/../{sub}", "fields": ["k"]})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.path",
            "`..`",
        ),
        (
            config(
                cred(json!({"path": "/users/{sub}", "fields": ["k"]})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.path",
            "start with `/`",
        ),
        (
            config(
                cred(json!({"path": "users/{sub}?x=1", "fields": ["k"]})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.path",
            "`?`",
        ),
        (
            config(
                cred(json!({"path": "users/{sub}", "fields": []})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.fields",
            "at least one",
        ),
        (
            config(
                cred(json!({"path": "u/{sub}", "fields": ["k", "k"]})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.fields[1]",
            "duplicate",
        ),
        (
            config(
                cred(json!({"path": "u/{sub}", "fields": ["secret"]})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.fields[0]",
            "other than `secret`",
        ),
        (
            config(
                cred(json!({"path": "u/{sub}", "fields": ["k"], "field": "x"})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.field",
            "not one of `fields`",
        ),
        (
            config(
                cred(json!({"path": "u/{sub}", "fields": ["k"], "cache_ttl": "2h"})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.cache_ttl",
            "at most 1h",
        ),
        (
            config(
                cred(json!({"path": "u/{sub}", "fields": ["k"], "mount": "a b"})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.mount",
            "spaces",
        ),
        (
            config(
                cred(json!({"path": "u/{sub}", "fields": ["k"], "ttl": "1s"})),
                json!({}),
            ),
            "backends[0].credential.vault_per_user.ttl",
            "unknown field",
        ),
    ];
    for (i, (cfg, path, msg)) in cases.into_iter().enumerate() {
        let Err(err) = compile(cfg) else {
            panic!("case {i} compiled");
        };
        assert_eq!(err.path, path, "case {i}: {err}");
        assert!(
            err.to_string().contains(msg),
            "case {i}: {err} should mention {msg}"
        );
    }
}

#[test]
fn per_user_credential_needs_per_user_jwt_and_a_required_user() {
    let mut plugin_login_only = config(per_user(), json!({}));
    plugin_login_only["vault"] = json!({"connection": {"cluster": "vault", "authority": "vault:8200"},
                                        "auth": {"token": {"token_env": "T"}}});
    let err = compile(plugin_login_only).unwrap_err();
    assert_eq!(err.path, "backends[0].credential.vault_per_user", "{err}");
    assert!(err.to_string().contains("per_user_jwt"), "{err}");
    let mut without = config(per_user(), json!({}));
    without.as_object_mut().unwrap().remove("vault");
    let err = compile(without).unwrap_err();
    assert_eq!(err.path, "backends[0].credential.vault_per_user");
    assert!(err.to_string().contains("per_user_jwt"), "{err}");

    let mut anonymous = config(per_user(), json!({}));
    anonymous["backends"][0]["require_user"] = json!(false);
    let err = compile(anonymous).unwrap_err();
    assert_eq!(err.path, "backends[0].credential.vault_per_user");
    assert!(err.to_string().contains("require_user"), "{err}");
}

#[test]
fn injection_template_may_use_the_per_user_fields_only() {
    let mut ok = config(per_user(), json!({}));
    ok["backends"][0]["injection"]["template"] = json!("Key {secret} for {owner}");
    assert!(compile(ok).is_ok());
    let mut bad = config(per_user(), json!({}));
    bad["backends"][0]["injection"]["template"] = json!("{password}");
    let err = compile(bad).unwrap_err();
    assert_eq!(err.path, "backends[0].injection.template");
}

// ---- subject paths -------------------------------------------------------

#[test]
fn subjects_are_percent_encoded_or_refused_when_they_would_change_the_path() {
    let cases: &[(&str, Option<&str>)] = &[
        ("alice", Some("alice")),
        ("alice@example.com", Some("alice@example.com")),
        ("4f1c-a9_b.~", Some("4f1c-a9_b.~")),
        ("auth0|123", Some("auth0%7C123")),
        ("a b?c#d%e", Some("a%20b%3Fc%23d%25e")),
        ("jürgen", Some("j%C3%BCrgen")),
        ("..x", Some("..x")),
        ("", None),
        (".", None),
        ("..", None),
        ("../bob", None),
        ("alice/../bob", None),
        ("a\\b", None),
        ("a\nb", None),
        ("a\u{0}b", None),
    ];
    for (sub, want) in cases {
        assert_eq!(encode_subject(sub).as_deref(), *want, "{sub:?}");
    }
    assert_eq!(encode_subject(&"a".repeat(257)), None, "over-long");
}

#[test]
fn subject_path_templates_render_every_placeholder() {
    let p = SubjectPath::parse("path", "users/{sub}/apps/{sub}-key").unwrap();
    assert!(p.is_templated());
    assert_eq!(
        p.render("auth0|7").as_deref(),
        Some("users/auth0%7C7/apps/auth0%7C7-key")
    );
    assert_eq!(p.render(".."), None);
    let fixed = SubjectPath::parse("path", "shared/team").unwrap();
    assert!(!fixed.is_templated());
    assert_eq!(fixed.render("../anything").as_deref(), Some("shared/team"));
    for bad in [
        "users/{sub",
        "users/{}",
        "users/{SUB}",
        "users//{sub}",
        "{sub}/.",
    ] {
        assert!(SubjectPath::parse("path", bad).is_err(), "{bad}");
    }
}

// ---- the user's token ----------------------------------------------------

#[test]
fn only_the_verified_users_bearer_token_is_used_to_log_in() {
    let id = identity("alice");
    let good = alice_jwt();
    let bob = jwt(json!({"iss": ISS, "sub": "bob", "exp": EXP}));
    let other_iss = jwt(json!({"iss": "http://evil", "sub": "alice", "exp": EXP}));
    let other_exp = jwt(json!({"iss": ISS, "sub": "alice", "exp": EXP + 1}));
    let bearer = |t: &str| format!("Bearer {t}");
    type Case<'a> = (Vec<(&'a str, String)>, Result<&'a str, UserVaultError>);
    let cases: Vec<Case> = vec![
        (vec![("authorization", bearer(&good))], Ok(good.as_str())),
        (
            vec![("authorization", format!("bearer  {good} "))],
            Ok(good.as_str()),
        ),
        (vec![], Err(UserVaultError::TokenMissing)),
        (
            vec![("authorization", "Basic YTpi".into())],
            Err(UserVaultError::TokenMissing),
        ),
        (
            vec![("authorization", bearer("opaque-token"))],
            Err(UserVaultError::TokenMissing),
        ),
        (
            vec![("authorization", format!("Bearer {good}, Bearer {bob}"))],
            Err(UserVaultError::TokenMissing),
        ),
        (
            vec![
                ("authorization", bearer(&good)),
                ("authorization", bearer(&good)),
            ],
            Err(UserVaultError::TokenMissing),
        ),
        (
            vec![("authorization", bearer(&bob))],
            Err(UserVaultError::TokenMismatch),
        ),
        (
            vec![("authorization", bearer(&other_iss))],
            Err(UserVaultError::TokenMismatch),
        ),
        (
            vec![("authorization", bearer(&other_exp))],
            Err(UserVaultError::TokenMismatch),
        ),
    ];
    for (i, (headers, want)) in cases.into_iter().enumerate() {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let request = RequestTokens {
            headers: &headers,
            query: None,
        };
        let got = user_token(&[TokenSource::authorization_bearer()], &request, &id);
        assert_eq!(
            got.as_ref().map(Secret::expose).map_err(|e| *e),
            want,
            "case {i}"
        );
    }
}

#[test]
fn decide_hands_out_a_fetch_only_for_a_usable_user_and_token() {
    let inj = injector();
    let user = alice_request(&inj);
    assert_eq!(user.path, "users/alice");
    assert_eq!(user.mount, "secret");
    assert_eq!(user.user_jwt.expose(), alice_jwt());
    assert_eq!(user.not_after, Now::from_unix_secs(EXP));

    assert_eq!(
        deny_code(&decide(&inj, &[], None)),
        (401, "identity_required")
    );
    assert_eq!(
        deny_code(&decide(&inj, &[], Some(&identity("alice")))),
        (401, "user_token_missing")
    );
    let dotdot = jwt(json!({"iss": ISS, "sub": "..", "exp": EXP}));
    let auth = format!("Bearer {dotdot}");
    assert_eq!(
        deny_code(&decide(
            &inj,
            &[("authorization", &auth)],
            Some(&identity(".."))
        )),
        (403, "subject_not_usable")
    );
    let auth = format!("Bearer {}", alice_jwt());
    assert_eq!(
        deny_code(&decide(
            &inj,
            &[("authorization", &auth)],
            Some(&identity("bob"))
        )),
        (401, "user_token_mismatch")
    );
}

#[test]
fn the_users_token_can_come_from_a_cookie_or_a_header_as_configured() {
    let with_sources = |sources: serde_json::Value| {
        compile(config(
            json!({"vault_per_user": {"path": "users/{sub}", "fields": ["api_key"], "field": "api_key",
                                      "token_sources": sources}}),
            json!({}),
        ))
        .unwrap()
    };
    let alice = alice_jwt();
    let id = identity("alice");

    // A browser app whose session cookie `at` holds the token oidc-auth verified.
    let inj = with_sources(json!([{"cookie": "at"}]));
    let cookie = format!("theme=dark; at={alice}");
    let p = pending(decide(&inj, &[("cookie", &cookie)], Some(&id)));
    assert_eq!(p.user.user_jwt.expose(), alice);
    // The backend's `strip_cookies` (default true) keeps the cookie from it.
    assert!(p.allow.remove_headers.contains(&"cookie".to_string()));
    // Authorization is not a source any more; a cookie of another user is refused.
    let bearer = format!("Bearer {alice}");
    assert_eq!(
        deny_code(&decide(&inj, &[("authorization", &bearer)], Some(&id))),
        (401, "user_token_missing")
    );
    let bob = format!("at={}", jwt(json!({"iss": ISS, "sub": "bob", "exp": EXP})));
    assert_eq!(
        deny_code(&decide(&inj, &[("cookie", &bob)], Some(&id))),
        (401, "user_token_mismatch")
    );

    // Two sources: exactly one token in one place, as oidc-auth requires.
    let inj = with_sources(json!([{"header": "authorization", "prefix": "Bearer "},
                                  {"cookie": "at"}]));
    let at = format!("at={alice}");
    assert_eq!(
        deny_code(&decide(
            &inj,
            &[("authorization", &bearer), ("cookie", &at)],
            Some(&id)
        )),
        (401, "user_token_missing")
    );
    assert_eq!(
        pending(decide(&inj, &[("cookie", &at)], Some(&id)))
            .user
            .user_jwt
            .expose(),
        alice
    );

    // A custom header is removed before the backend, whatever the strip settings.
    let inj = with_sources(json!([{"header": "x-user-token"}]));
    let p = pending(decide(&inj, &[("x-user-token", &alice)], Some(&id)));
    assert_eq!(p.user.user_jwt.expose(), alice);
    assert!(p.allow.remove_headers.contains(&"x-user-token".to_string()));
}

#[test]
fn token_sources_that_would_leak_the_users_token_are_refused_at_configure_time() {
    let per_user = |sources: serde_json::Value| {
        json!({"vault_per_user": {"path": "users/{sub}", "fields": ["api_key"], "field": "api_key",
                                  "token_sources": sources}})
    };
    let err = compile(config(
        per_user(json!([{"query": "access_token"}])),
        json!({}),
    ))
    .unwrap_err();
    assert_eq!(
        err.path,
        "backends[0].credential.vault_per_user.token_sources[0].query"
    );
    let err = compile(config(
        per_user(json!([{"cookie": "a", "header": "b"}])),
        json!({}),
    ))
    .unwrap_err();
    assert_eq!(
        err.path,
        "backends[0].credential.vault_per_user.token_sources[0]"
    );
    let mut cfg = config(per_user(json!([{"cookie": "at"}])), json!({}));
    cfg["backends"][0]["strip_cookies"] = json!(false);
    let err = compile(cfg).unwrap_err();
    assert_eq!(err.path, "backends[0].strip_cookies", "{err}");
}

// ---- the state machine ---------------------------------------------------

#[test]
fn first_request_logs_in_reads_and_later_requests_use_the_caches() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let req = alice_request(&inj);
    let t0 = now();

    let login = call(uv.start(&req, ID, t0));
    assert!(matches!(login.stage, UserStage::Login { .. }));
    assert_eq!(login.request.path, "/v1/auth/jwt/login");
    let body: serde_json::Value = serde_json::from_slice(login.request.body_bytes()).unwrap();
    assert_eq!(body, json!({"role": "user", "jwt": alice_jwt()}));
    assert_eq!(header(&login, "x-vault-token"), None);

    let read = call(answer(
        &mut uv,
        &req,
        login.stage,
        200,
        &login_ok("s.alice", 600),
        t0,
    ));
    assert_eq!(read.stage, UserStage::Read { fresh: true });
    assert_eq!(read.request.path, "/v1/secret/data/users/alice");
    assert_eq!(header(&read, "x-vault-token"), Some("s.alice"));

    let UserStep::Ready(v) = answer(&mut uv, &req, read.stage, 200, &kv_ok("k-alice"), t0) else {
        panic!("value expected");
    };
    assert_eq!(v.field("api_key").map(Secret::expose), Some("k-alice"));

    // Within cache_ttl (30 s): no call at all.
    assert!(matches!(
        uv.start(&req, ID, t0.plus_ms(29_000)),
        UserStep::Ready(_)
    ));
    // After it: a read with the cached token, no new login.
    let again = call(uv.start(&req, ID, t0.plus_ms(31_000)));
    assert_eq!(again.stage, UserStage::Read { fresh: false });
    assert_eq!(header(&again, "x-vault-token"), Some("s.alice"));
}

#[test]
fn vault_answers_map_to_the_documented_failures() {
    let inj = injector();
    let req = alice_request(&inj);
    let t0 = now();
    let login = UserStage::Login { started: t0 };
    let fresh = UserStage::Read { fresh: true };
    let err = |e: &str| json!({"errors": [e]}).to_string().into_bytes();
    let cases: Vec<(UserStage, u16, Vec<u8>, UserVaultError)> = vec![
        (
            login,
            400,
            err("error validating token: token is expired"),
            UserVaultError::LoginRejected,
        ),
        (login, 403, err("permission denied"), UserVaultError::Denied),
        (
            login,
            503,
            b"no healthy upstream".to_vec(),
            UserVaultError::Unavailable("vault_unreachable"),
        ),
        (
            login,
            504,
            b"upstream request timeout".to_vec(),
            UserVaultError::Unavailable("vault_timeout"),
        ),
        (
            login,
            200,
            b"{}".to_vec(),
            UserVaultError::Unavailable("vault_malformed_response"),
        ),
        (fresh, 403, err("permission denied"), UserVaultError::Denied),
        (fresh, 404, err(""), UserVaultError::SecretMissing),
        (
            fresh,
            503,
            err("Vault is sealed"),
            UserVaultError::Unavailable("vault_sealed"),
        ),
        (
            fresh,
            200,
            json!({"data": {"data": {"owner": "x"}, "metadata": {"version": 1}}})
                .to_string()
                .into_bytes(),
            UserVaultError::Invalid("secret_field_missing"),
        ),
    ];
    for (i, (stage, status, body, want)) in cases.into_iter().enumerate() {
        let mut uv = user_vault(&inj);
        match answer(&mut uv, &req, stage, status, &body, t0) {
            UserStep::Fail(e) => assert_eq!(e, want, "case {i}"),
            other => panic!("case {i}: {other:?}"),
        }
    }
    assert_eq!(UserVaultError::LoginRejected.status(), 401);
    assert_eq!(UserVaultError::Denied.status(), 403);
    assert_eq!(UserVaultError::Unavailable("vault_timeout").status(), 503);
    assert_eq!(
        UserVaultError::Unavailable("vault_timeout").code(),
        "credential_unavailable"
    );
}

#[test]
fn a_refused_cached_token_gets_one_fresh_login_then_vault_decides() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let req = alice_request(&inj);
    let t0 = now();
    let denied = json!({"errors": ["permission denied"]})
        .to_string()
        .into_bytes();
    let login = call(uv.start(&req, ID, t0));
    let read = call(answer(
        &mut uv,
        &req,
        login.stage,
        200,
        &login_ok("s.old", 600),
        t0,
    ));
    // The value was not cached (read failed), the token was.
    let t1 = t0.plus_ms(1_000);
    let _ = answer(&mut uv, &req, read.stage, 503, b"", t1);
    // After the gate's first backoff (≤ 1 s by default).
    let t1 = t1.plus_ms(1_000);
    let cached = call(uv.start(&req, ID, t1));
    assert_eq!(cached.stage, UserStage::Read { fresh: false });
    // Revoked token: log in again instead of failing.
    let relogin = call(answer(&mut uv, &req, cached.stage, 403, &denied, t1));
    assert!(matches!(relogin.stage, UserStage::Login { .. }));
    assert_eq!(uv.cached_tokens(), 0, "the refused token is dropped");
    let read2 = call(answer(
        &mut uv,
        &req,
        relogin.stage,
        200,
        &login_ok("s.new", 600),
        t1,
    ));
    assert_eq!(header(&read2, "x-vault-token"), Some("s.new"));
    match answer(&mut uv, &req, read2.stage, 403, &denied, t1) {
        UserStep::Fail(e) => assert_eq!(e, UserVaultError::Denied),
        other => panic!("{other:?}"),
    }
}

#[test]
fn caches_are_bounded_and_never_outlive_the_user_jwt() {
    let inj = injector(); // max_users 2
    let mut uv = user_vault(&inj);
    let t0 = now();
    let mut reqs = Vec::new();
    for sub in ["u1", "u2", "u3"] {
        let mut r = alice_request(&inj);
        r.user = format!("{ISS}\u{0}{sub}");
        let login = call(uv.start(&r, ID, t0));
        let read = call(answer(
            &mut uv,
            &r,
            login.stage,
            200,
            &login_ok(&format!("s.{sub}"), 600),
            t0,
        ));
        assert!(matches!(
            answer(&mut uv, &r, read.stage, 200, &kv_ok(sub), t0),
            UserStep::Ready(_)
        ));
        reqs.push(r);
    }
    assert_eq!(uv.cached_tokens(), 2);
    let served_from_cache = reqs
        .iter()
        .filter(|r| matches!(uv.start(r, ID, t0), UserStep::Ready(_)))
        .count();
    assert_eq!(served_from_cache, 2, "one user was evicted");

    // A JWT expiring in 10 s: neither token nor value survive it.
    let mut short = alice_request(&inj);
    short.user = format!("{ISS}\u{0}short");
    short.not_after = t0.plus_ms(10_000);
    let login = call(uv.start(&short, ID, t0));
    let read = call(answer(
        &mut uv,
        &short,
        login.stage,
        200,
        &login_ok("s.short", 600),
        t0,
    ));
    let _ = answer(&mut uv, &short, read.stage, 200, &kv_ok("k"), t0);
    assert!(matches!(
        uv.start(&short, ID, t0.plus_ms(9_000)),
        UserStep::Ready(_)
    ));
    assert!(matches!(
        call(uv.start(&short, ID, t0.plus_ms(10_000))).stage,
        UserStage::Login { .. }
    ));
}

#[test]
fn completion_injects_the_users_value_or_answers_with_the_reason() {
    let inj = injector();
    let jwt = alice_jwt();
    let auth = format!("Bearer {jwt}");
    let p = pending(decide(
        &inj,
        &[("authorization", &auth)],
        Some(&identity("alice")),
    ));
    let value = SecretValue::new(
        [("api_key", "k-alice-123456"), ("owner", "alice")]
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect(),
    );
    match inj.complete(p.clone(), Ok(value)) {
        Decision::Allow(a) => {
            assert_eq!(a.set_headers.len(), 1);
            assert_eq!(a.set_headers[0].name, "x-api-key");
            assert_eq!(a.set_headers[0].value.expose(), "k-alice-123456");
            assert!(a.remove_headers.contains(&"authorization".to_string()));
            assert!(a.echo_fields.iter().any(|f| f.expose() == "k-alice-123456"));
        }
        other => panic!("{other:?}"),
    }
    for (e, want) in [
        (UserVaultError::Denied, (403, "vault_denied")),
        (UserVaultError::LoginRejected, (401, "vault_login_rejected")),
        (UserVaultError::SecretMissing, (403, "user_secret_missing")),
        (
            UserVaultError::Unavailable("vault_timeout"),
            (503, "credential_unavailable"),
        ),
    ] {
        assert_eq!(deny_code(&inj.complete(p.clone(), Err(e))), want);
    }
    let missing_primary = SecretValue::new(
        [("owner".to_string(), Secret::new("alice"))]
            .into_iter()
            .collect(),
    );
    assert_eq!(
        deny_code(&inj.complete(p, Ok(missing_primary))),
        (503, "credential_invalid")
    );
}

#[test]
fn nothing_secret_appears_in_debug_output_or_error_messages() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let req = alice_request(&inj);
    let login = call(uv.start(&req, ID, now()));
    let read = call(answer(
        &mut uv,
        &req,
        login.stage,
        200,
        &login_ok("s.VAULT-SECRET", 600),
        now(),
    ));
    let _ = answer(
        &mut uv,
        &req,
        read.stage,
        200,
        &kv_ok("VALUE-SECRET"),
        now(),
    );
    let jwt = alice_jwt();
    let dbg = format!("{uv:?} {req:?} {login:?} {read:?}");
    for s in ["VAULT-SECRET", "VALUE-SECRET", jwt.as_str()] {
        assert!(!dbg.contains(s), "{s} in {dbg}");
    }
    for e in [
        UserVaultError::TokenMissing,
        UserVaultError::TokenMismatch,
        UserVaultError::SubjectNotUsable,
        UserVaultError::LoginRejected,
        UserVaultError::Denied,
        UserVaultError::SecretMissing,
        UserVaultError::Unavailable("vault_timeout"),
        UserVaultError::BackingOff("vault_unreachable"),
        UserVaultError::Busy,
        UserVaultError::Invalid("secret_field_missing"),
    ] {
        assert!(!e.to_string().is_empty());
        assert!(
            crate::inject::REASON_CODES.contains(&e.code()),
            "{}",
            e.code()
        );
    }
    assert!(UserVaultError::CODES
        .iter()
        .all(|c| crate::inject::REASON_CODES.contains(c)));
}

#[test]
fn vaults_refusal_is_remembered_for_cache_ttl_but_an_outage_is_not() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let req = alice_request(&inj);
    let denied = br#"{"errors":["permission denied"]}"#;
    let t0 = now();
    let login = call(uv.start(&req, ID, t0));
    assert!(matches!(
        answer(&mut uv, &req, login.stage, 403, denied, t0),
        UserStep::Fail(UserVaultError::Denied)
    ));
    // A denied user does not cost a login and a read on every request...
    let within = t0.plus_ms(req.cache_ttl_ms - 1);
    assert!(matches!(
        uv.start(&req, ID, within),
        UserStep::Fail(UserVaultError::Denied)
    ));
    // ...and Vault is asked again once `cache_ttl` has passed.
    let after = t0.plus_ms(req.cache_ttl_ms);
    let again = call(uv.start(&req, ID, after));
    // An outage is never remembered: the next request tries again.
    assert!(matches!(
        answer(
            &mut uv,
            &req,
            again.stage,
            503,
            b"no healthy upstream",
            after
        ),
        UserStep::Fail(UserVaultError::Unavailable("vault_unreachable"))
    ));
    let backoff_over = after.plus_ms(1_000);
    assert!(matches!(
        uv.start(&req, ID, backoff_over),
        UserStep::Call(_)
    ));
}

// ---- single flight per user, fault gate ----------------------------------

/// A request of `sub` (same JWT shape as alice's; only the user key differs).
fn request_of(inj: &Injector, sub: &str) -> UserSecretRequest {
    let mut r = alice_request(inj);
    r.user = format!("{ISS}\u{0}{sub}");
    r
}

/// Feeds an answer to request `id`'s call and returns the whole outcome.
fn land(
    uv: &mut UserVault,
    req: &UserSecretRequest,
    id: RequestId,
    stage: UserStage,
    status: u16,
    body: &[u8],
    now: Now,
) -> Landed {
    let answer = UserAnswer {
        status,
        body,
        retry_after_ms: None,
    };
    uv.on_answer(req, id, stage, answer, now, &mut SeededRandom(7))
}

#[test]
fn concurrent_requests_of_one_user_wait_for_the_first_and_get_its_outcome() {
    let inj = injector();
    let t0 = now();
    let denied = br#"{"errors":["permission denied"]}"#.to_vec();
    // How the leader's login ends → what every waiter gets.
    type Case = (
        &'static str,
        u16,
        Vec<u8>,
        Result<&'static str, UserVaultError>,
    );
    let cases: Vec<Case> = vec![
        ("value", 200, login_ok("s.alice", 600), Ok("k-alice")),
        ("denied", 403, denied, Err(UserVaultError::Denied)),
        (
            "timeout",
            504,
            b"upstream request timeout".to_vec(),
            Err(UserVaultError::Unavailable("vault_timeout")),
        ),
    ];
    for (name, status, body, want) in cases {
        let mut uv = user_vault(&inj);
        let req = alice_request(&inj);
        let login = call(uv.start(&req, 1, t0));
        // Requests 2 and 3 arrive while the login is in flight: no call.
        assert!(matches!(uv.start(&req, 2, t0), UserStep::Wait), "{name}");
        assert!(matches!(uv.start(&req, 3, t0), UserStep::Wait), "{name}");
        let mut landed = land(&mut uv, &req, 1, login.stage, status, &body, t0);
        if let UserStep::Call(read) = &landed.step {
            assert!(
                landed.waiters.is_empty(),
                "{name}: waiters wait for the read"
            );
            assert!(matches!(uv.start(&req, 4, t0), UserStep::Wait), "{name}");
            landed = land(&mut uv, &req, 1, read.stage, 200, &kv_ok("k-alice"), t0);
            assert_eq!(landed.waiters, vec![2, 3, 4], "{name}");
        } else {
            assert_eq!(landed.waiters, vec![2, 3], "{name}");
        }
        match (&landed.step, want) {
            (UserStep::Ready(v), Ok(key)) => {
                assert_eq!(v.field("api_key").map(Secret::expose), Some(key), "{name}")
            }
            (UserStep::Fail(e), Err(w)) => assert_eq!(*e, w, "{name}"),
            (other, w) => panic!("{name}: {other:?}, wanted {w:?}"),
        }
        // The flight has landed: the next request does not wait.
        assert!(!matches!(uv.start(&req, 5, t0), UserStep::Wait), "{name}");
    }
}

#[test]
fn other_users_and_other_backends_do_not_wait_for_a_users_call() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let t0 = now();
    let alice = alice_request(&inj);
    let _ = call(uv.start(&alice, 1, t0));
    let bob = request_of(&inj, "bob");
    assert!(matches!(uv.start(&bob, 2, t0), UserStep::Call(_)));
    let mut other_backend = alice_request(&inj);
    other_backend.backend = 7;
    assert!(matches!(uv.start(&other_backend, 3, t0), UserStep::Call(_)));
}

#[test]
fn waiters_beyond_max_waiting_are_refused_with_credential_busy() {
    let inj = compile(config(
        per_user(),
        json!({"per_user_jwt": {"role": "user", "max_waiting": 2}}),
    ))
    .unwrap();
    let mut uv = user_vault(&inj);
    let req = alice_request(&inj);
    let t0 = now();
    let login = call(uv.start(&req, 1, t0));
    assert!(matches!(uv.start(&req, 2, t0), UserStep::Wait));
    assert!(matches!(uv.start(&req, 3, t0), UserStep::Wait));
    let UserStep::Fail(busy) = uv.start(&req, 4, t0) else {
        panic!("the third waiter must be refused");
    };
    assert_eq!((busy.status(), busy.code()), (503, "credential_busy"));
    let landed = land(&mut uv, &req, 1, login.stage, 403, b"{}", t0);
    assert_eq!(landed.waiters, vec![2, 3]);
}

#[test]
fn waiters_never_hang_when_the_leader_goes_away_or_its_answer_is_overdue() {
    let inj = injector(); // timeout 2 s: a flight is overdue after 3 × 2 s + 1 s
    let t0 = now();
    let req = alice_request(&inj);

    // The leader's client disconnects: its waiters fail at once.
    let mut uv = user_vault(&inj);
    let _ = call(uv.start(&req, 1, t0));
    assert!(matches!(uv.start(&req, 2, t0), UserStep::Wait));
    assert!(matches!(uv.start(&req, 3, t0), UserStep::Wait));
    assert!(
        uv.leave(3).waiters.is_empty(),
        "a waiter leaving releases no one"
    );
    let gone = uv.leave(1);
    assert_eq!(gone.waiters, vec![2]);
    assert!(matches!(
        gone.step,
        UserStep::Fail(UserVaultError::Unavailable("vault_call_abandoned"))
    ));
    assert!(
        matches!(uv.start(&req, 4, t0), UserStep::Call(_)),
        "no flight left"
    );

    // The leader never hears back: the sweep releases its waiters.
    let mut uv = user_vault(&inj);
    let _ = call(uv.start(&req, 1, t0));
    assert!(matches!(uv.start(&req, 2, t0), UserStep::Wait));
    assert!(uv.expire_flights(t0.plus_ms(6_999)).waiters.is_empty());
    let overdue = uv.expire_flights(t0.plus_ms(7_000));
    assert_eq!(overdue.waiters, vec![2]);
    assert!(matches!(
        overdue.step,
        UserStep::Fail(UserVaultError::Unavailable("vault_timeout"))
    ));

    // Before the sweep, a new request takes over an overdue flight and
    // its waiters get the new leader's outcome; the old leader's late
    // answer releases nobody.
    let mut uv = user_vault(&inj);
    let old = call(uv.start(&req, 1, t0));
    assert!(matches!(uv.start(&req, 2, t0), UserStep::Wait));
    let t1 = t0.plus_ms(7_000);
    let new = call(uv.start(&req, 3, t1));
    let late = land(&mut uv, &req, 1, old.stage, 403, b"{}", t1);
    assert!(late.waiters.is_empty());
    let landed = land(&mut uv, &req, 3, new.stage, 403, b"{}", t1);
    assert_eq!(landed.waiters, vec![2]);
}

#[test]
fn a_call_that_cannot_be_sent_fails_its_waiters_too() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let req = alice_request(&inj);
    let t0 = now();
    let _ = call(uv.start(&req, 1, t0));
    assert!(matches!(uv.start(&req, 2, t0), UserStep::Wait));
    let landed = uv.on_failed(
        &req,
        1,
        &crate::vault::VaultError::Unreachable,
        t0,
        &mut SeededRandom(7),
    );
    assert_eq!(landed.waiters, vec![2]);
    assert!(matches!(
        landed.step,
        UserStep::Fail(UserVaultError::Unavailable("vault_unreachable"))
    ));
}

#[test]
fn after_a_server_fault_new_users_are_refused_until_the_backoff_then_one_probe() {
    let inj = injector(); // vault.retry default: 1 s, doubling
    let sealed = br#"{"errors":["Vault is sealed"]}"#.to_vec();
    let cases: Vec<(u16, Vec<u8>, &str)> = vec![
        (503, b"no healthy upstream".to_vec(), "vault_unreachable"),
        (504, b"upstream request timeout".to_vec(), "vault_timeout"),
        (503, sealed, "vault_sealed"),
        (
            500,
            br#"{"errors":["internal error"]}"#.to_vec(),
            "vault_server_error",
        ),
        (
            429,
            br#"{"errors":["rate limited"]}"#.to_vec(),
            "vault_rate_limited",
        ),
    ];
    for (status, body, reason) in cases {
        let mut uv = user_vault(&inj);
        let t0 = now();
        // Alice's value is cached before the outage.
        let alice = alice_request(&inj);
        let login = call(uv.start(&alice, 1, t0));
        let read = call(answer(
            &mut uv,
            &alice,
            login.stage,
            200,
            &login_ok("s.a", 600),
            t0,
        ));
        let _ = answer(&mut uv, &alice, read.stage, 200, &kv_ok("k-alice"), t0);

        let bob = request_of(&inj, "bob");
        let login = call(uv.start(&bob, 2, t0));
        let failed = land(&mut uv, &bob, 2, login.stage, status, &body, t0);
        assert!(
            matches!(failed.step, UserStep::Fail(UserVaultError::Unavailable(r)) if r == reason)
        );

        // Closed: new users are refused at once with the fault's reason.
        for (i, sub) in ["carol", "dave", "bob"].into_iter().enumerate() {
            match uv.start(&request_of(&inj, sub), 10 + i as u32, t0.plus_ms(400)) {
                UserStep::Fail(e) => {
                    assert_eq!(e, UserVaultError::BackingOff(reason), "{reason}");
                    assert_eq!((e.status(), e.code()), (503, "credential_unavailable"));
                }
                other => panic!("{reason}: {sub} got {other:?}"),
            }
        }
        // Cached users are still served.
        assert!(matches!(
            uv.start(&alice, 20, t0.plus_ms(400)),
            UserStep::Ready(_)
        ));

        // After the backoff (≤ 1 s): one probe, the others still refused.
        let t1 = t0.plus_ms(1_000);
        let carol = request_of(&inj, "carol");
        let probe = call(uv.start(&carol, 30, t1));
        assert!(matches!(
            uv.start(&request_of(&inj, "dave"), 31, t1),
            UserStep::Fail(UserVaultError::BackingOff(_))
        ));
        // Carol's other requests wait for the probe rather than fail.
        assert!(matches!(uv.start(&carol, 32, t1), UserStep::Wait));
        // The probe succeeds: Vault is back for everyone.
        let _ = land(
            &mut uv,
            &carol,
            30,
            probe.stage,
            200,
            &login_ok("s.c", 600),
            t1,
        );
        assert!(matches!(
            uv.start(&request_of(&inj, "dave"), 33, t1),
            UserStep::Call(_)
        ));
        assert_eq!(uv.gate().failures(), 0, "{reason}");
    }
}

#[test]
fn a_failed_probe_closes_the_gate_for_longer() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let t0 = now();
    let down = b"no healthy upstream";
    let bob = request_of(&inj, "bob");
    let c = call(uv.start(&bob, 1, t0));
    let _ = land(&mut uv, &bob, 1, c.stage, 503, down, t0);
    let t1 = t0.plus_ms(1_000);
    let c = call(uv.start(&bob, 2, t1));
    let _ = land(&mut uv, &bob, 2, c.stage, 503, down, t1);
    // Second step: between 1 s and 2 s (jittered); never sooner than 1 s.
    assert!(matches!(
        uv.start(&bob, 3, t1.plus_ms(999)),
        UserStep::Fail(UserVaultError::BackingOff("vault_unreachable"))
    ));
    assert!(matches!(
        uv.start(&bob, 4, t1.plus_ms(2_000)),
        UserStep::Call(_)
    ));
}

#[test]
fn vault_refusing_a_user_does_not_close_the_gate_for_others() {
    let inj = injector();
    let t0 = now();
    for (status, body) in [
        (400, br#"{"errors":["invalid jwt"]}"#.to_vec()),
        (403, br#"{"errors":["permission denied"]}"#.to_vec()),
    ] {
        let mut uv = user_vault(&inj);
        let bob = request_of(&inj, "bob");
        let c = call(uv.start(&bob, 1, t0));
        let _ = land(&mut uv, &bob, 1, c.stage, status, &body, t0);
        assert!(
            matches!(
                uv.start(&request_of(&inj, "carol"), 2, t0),
                UserStep::Call(_)
            ),
            "{status}"
        );
    }
}

#[test]
fn a_rate_limit_keeps_the_gate_closed_for_retry_after() {
    let inj = injector();
    let mut uv = user_vault(&inj);
    let t0 = now();
    let bob = request_of(&inj, "bob");
    let c = call(uv.start(&bob, 1, t0));
    let answer = UserAnswer {
        status: 429,
        body: br#"{"errors":["rate limited"]}"#,
        retry_after_ms: Some(30_000),
    };
    let _ = uv.on_answer(&bob, 1, c.stage, answer, t0, &mut SeededRandom(7));
    assert!(matches!(
        uv.start(&bob, 2, t0.plus_ms(29_999)),
        UserStep::Fail(UserVaultError::BackingOff("vault_rate_limited"))
    ));
    assert!(matches!(
        uv.start(&bob, 3, t0.plus_ms(30_000)),
        UserStep::Call(_)
    ));
}

#[test]
fn authorization_token_source_with_strip_user_authorization_false_is_refused() {
    // The default source is `Authorization: Bearer <user JWT>`. With
    // `strip_user_authorization: false` (and the credential injected into
    // another header) the user's JWT would reach the backend, exactly what
    // the cookie rule (`strip_cookies` must stay true) refuses.
    let mut cfg = config(per_user(), json!({}));
    cfg["backends"][0]["strip_user_authorization"] = json!(false);
    match compile(cfg) {
        Err(err) => assert_eq!(err.path, "backends[0].strip_user_authorization", "{err}"),
        Ok(inj) => {
            let bearer = format!("Bearer {}", alice_jwt());
            let p = pending(decide(
                &inj,
                &[("authorization", &bearer)],
                Some(&identity("alice")),
            ));
            panic!(
                "accepted; the user's JWT is forwarded (removed headers: {:?})",
                p.allow.remove_headers
            );
        }
    }
    // Also with the credential added next to the user's `authorization`.
    let mut cfg = config(per_user(), json!({}));
    cfg["backends"][0]["strip_user_authorization"] = json!(false);
    cfg["backends"][0]["injection"] = json!({"header": "authorization", "mode": "add"});
    let err = compile(cfg).unwrap_err();
    assert_eq!(err.path, "backends[0].strip_user_authorization", "{err}");
    // Overwriting `authorization` replaces the user's token: accepted.
    let mut cfg = config(per_user(), json!({}));
    cfg["backends"][0]["strip_user_authorization"] = json!(false);
    cfg["backends"][0]["injection"] = json!({"header": "Authorization"});
    let inj = compile(cfg).unwrap();
    let bearer = format!("Bearer {}", alice_jwt());
    let p = pending(decide(
        &inj,
        &[("authorization", &bearer)],
        Some(&identity("alice")),
    ));
    assert!(!p
        .allow
        .remove_headers
        .contains(&"authorization".to_string()));
    // A source that is not `Authorization`: the setting is the operator's.
    let mut cfg = config(
        json!({"vault_per_user": {"path": "users/{sub}", "fields": ["api_key"], "field": "api_key",
                                  "token_sources": [{"header": "x-user-token"}]}}),
        json!({}),
    );
    cfg["backends"][0]["strip_user_authorization"] = json!(false);
    compile(cfg).unwrap();
}

#[test]
fn a_paused_request_from_a_foreign_origin_still_loses_the_backends_cors_grants() {
    let inj = compile({
        let mut c = config(per_user(), json!({}));
        c["cors"] = json!({"allowed_origins": ["https://app.example.com"]});
        c
    })
    .unwrap();
    let bearer = format!("Bearer {}", alice_jwt());
    let id = identity("alice");
    let p = pending(decide(
        &inj,
        &[("authorization", &bearer), ("origin", "https://evil.net")],
        Some(&id),
    ));
    assert!(p.allow.strip_backend_cors);
    let p = pending(decide(
        &inj,
        &[
            ("authorization", &bearer),
            ("origin", "https://app.example.com"),
        ],
        Some(&id),
    ));
    assert!(!p.allow.strip_backend_cors);
}
