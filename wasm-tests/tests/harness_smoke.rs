//! The harness itself works: each real component starts, answers, and is cleaned up.

// Test helpers, not library code: a failed step should stop the test loudly (clippy.toml only
// relaxes these lints inside #[test] functions, not in their helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use wasm_tests::idp::decode_jwt;
use wasm_tests::upstream::ports_of;
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, OpenBao, Postgres, TokenRequest, Upstream};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jwks_kids(idp: &Idp) -> BTreeSet<String> {
    idp.jwks().unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn idp_mints_jwts_for_each_alg_signed_by_a_key_in_its_jwks() {
    let idp = Idp::start().unwrap();
    let kids = jwks_kids(&idp);
    for alg in ["RS256", "ES256", "ES384", "ES512", "EdDSA"] {
        let token = idp
            .mint_token(
                alg,
                "alice",
                "https://api.example",
                json!({"groups": ["dev"]}),
                120,
            )
            .unwrap();
        let (header, claims) = decode_jwt(&token).unwrap();
        assert_eq!(header["alg"], alg);
        assert!(
            kids.contains(header["kid"].as_str().unwrap()),
            "{alg}: kid {} not in {kids:?}",
            header["kid"]
        );
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "https://api.example");
        assert_eq!(claims["iss"], idp.issuer());
        assert_eq!(claims["groups"], json!(["dev"]));
        let exp = claims["exp"].as_i64().unwrap();
        assert!(
            (now() + 100..=now() + 130).contains(&exp),
            "{alg}: exp {exp}"
        );
    }
}

#[test]
fn idp_mints_expired_tokens_and_claim_and_header_overrides() {
    let idp = Idp::start().unwrap();
    let expired = idp
        .mint(&TokenRequest {
            ttl: Some(-30),
            aud: Some(json!(["a", "b"])),
            claims: Some(json!({"nbf": now() - 100, "scope": null})),
            header: Some(json!({"kid": "unknown-kid"})),
            ..TokenRequest::default()
        })
        .unwrap();
    let (header, claims) = decode_jwt(&expired.token).unwrap();
    assert!(claims["exp"].as_i64().unwrap() < now(), "{claims}");
    assert_eq!(claims["aud"], json!(["a", "b"]));
    assert!(claims.get("scope").is_none(), "{claims}");
    assert_eq!(header["kid"], "unknown-kid");

    let cc = idp.client_credentials_token("api:read").unwrap();
    let (header, claims) = decode_jwt(&cc).unwrap();
    assert_eq!(
        (header["typ"].as_str(), claims["sub"].as_str()),
        (Some("at+jwt"), Some("backend-client"))
    );
}

#[test]
fn idp_restart_rotates_keys_and_jwks_faults_can_be_injected() {
    let idp = Idp::start().unwrap();
    let before = jwks_kids(&idp);
    idp.set_jwks_fault("500", 0).unwrap();
    assert_eq!(
        wasm_tests::http::get(&idp.addr(), "/jwks").unwrap().status,
        500
    );
    idp.set_jwks_fault("garbage", 0).unwrap();
    assert!(wasm_tests::http::get(&idp.addr(), "/jwks")
        .unwrap()
        .json()
        .is_err());
    idp.set_jwks_fault("ok", 0).unwrap();
    assert_eq!(idp.jwks_requests().unwrap(), 3);

    let idp = idp.restart(&[]).unwrap();
    let after = jwks_kids(&idp);
    assert_eq!(after.len(), 5);
    assert!(
        before.is_disjoint(&after),
        "keys survived a restart: {before:?} {after:?}"
    );
}

#[test]
fn openbao_serves_kv_to_approle_and_jwt_logins() {
    let idp = Idp::start().unwrap();
    let bao = OpenBao::start().unwrap();
    assert_eq!(
        bao.kv_put("backend", &json!({"api_key": "k-123"})).unwrap(),
        1
    );
    assert_eq!(bao.kv_get("backend").unwrap(), json!({"api_key": "k-123"}));
    bao.write_policy(
        "backend-read",
        r#"path "secret/data/backend" { capabilities = ["read"] }"#,
    )
    .unwrap();

    let (role_id, secret_id) = bao.approle("proxy", &["backend-read"], "5m").unwrap();
    let token = bao
        .login(
            "auth/approle/login",
            &json!({"role_id": role_id, "secret_id": secret_id}),
        )
        .unwrap();
    let r = bao
        .call("GET", "secret/data/backend", Some(&token), None)
        .unwrap();
    assert_eq!(r.json().unwrap()["data"]["data"]["api_key"], "k-123");
    assert_eq!(
        bao.call("GET", "secret/data/other", Some(&token), None)
            .unwrap()
            .status,
        403
    );

    bao.jwt_auth(
        &idp.jwks_url(),
        &idp.issuer(),
        "mesh",
        "https://api.mesh.local",
        &["backend-read"],
    )
    .unwrap();
    for alg in ["RS256", "ES256", "EdDSA"] {
        let jwt = idp
            .mint_token(alg, "svc", "https://api.mesh.local", Value::Null, 60)
            .unwrap();
        let token = bao
            .login("auth/jwt/login", &json!({"role": "mesh", "jwt": jwt}))
            .unwrap();
        assert_eq!(
            bao.call("GET", "secret/data/backend", Some(&token), None)
                .unwrap()
                .status,
            200,
            "{alg}"
        );
    }
    assert_eq!(
        bao.count_requests("auth/approle/login"),
        1,
        "{}",
        bao.audit_log()
    );
    assert_eq!(bao.count_requests("auth/jwt/login"), 3);
}

#[test]
fn envoy_routes_to_all_upstreams_and_normalizes_paths() {
    let upstreams = Upstream::start_many("up", 3).unwrap();
    let config = Bootstrap::new().backend(&ports_of(&upstreams)).build();
    let envoy = Envoy::start(&config, EnvoyOptions::default()).unwrap();

    let mut seen = BTreeSet::new();
    for _ in 0..9 {
        let r = envoy.get("/hello").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json().unwrap()["path"], "/hello");
        seen.insert(r.header("x-upstream-id").unwrap().to_string());
    }
    assert_eq!(
        seen,
        ["up-0", "up-1", "up-2"]
            .map(String::from)
            .into_iter()
            .collect()
    );

    let r = envoy.get("//a/./b/../c").unwrap();
    assert_eq!(r.json().unwrap()["path"], "/a/c");
    assert_eq!(
        envoy.get("/a%2Fb").unwrap().status,
        400,
        "escaped slashes are rejected"
    );
    assert_eq!(
        envoy.stat("cluster.backend.upstream_rq_200").unwrap(),
        Some(10)
    );
    assert!(
        envoy.log().contains("starting main dispatch loop"),
        "{}",
        envoy.log()
    );
}

#[test]
fn process_guard_kills_the_component_on_drop() {
    let upstream = Upstream::start("short-lived").unwrap();
    let addr = upstream.addr();
    assert!(wasm_tests::http::get(&addr, "/healthz").is_ok());
    drop(upstream);
    assert!(
        wasm_tests::http::get(&addr, "/healthz").is_err(),
        "upstream still answers after drop"
    );
}

#[test]
fn postgres_starts_and_accepts_connections() {
    let pg = Postgres::start().unwrap();
    assert_eq!(pg.psql("select 1").unwrap(), "1");
    assert!(pg.psql("select current_user").unwrap() == "postgres");
}
