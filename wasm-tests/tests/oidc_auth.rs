//! oidc-auth end to end: the built plugin in a real Envoy, tokens from the
//! real oidc-provider, requests to a real upstream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant};
use wasm_tests::idp::decode_jwt;
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, Response, TokenRequest, Upstream};

const AUD: &str = "https://api.mesh.local";

fn provider(name: &str, idp: &Idp, cluster: &str, extra: Value) -> Value {
    let mut p = json!({
        "name": name,
        "issuer": idp.issuer(),
        "audiences": [AUD],
        "cluster": cluster,
        "algorithms": ["RS256", "ES256", "ES384", "ES512", "EdDSA"],
        "unknown_kid_refetch_interval": "1s",
        "claims_to_headers": [
            {"header": "x-user-sub", "claim": "sub"},
            {"header": "x-user-groups", "claim": "groups"}
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn rules() -> Value {
    json!([
        {"match": {"path": {"prefix": "/public"}}, "public": true},
        {"match": {"path": {"prefix": "/admin"}}, "claims": {"claim": "groups", "contains": "admins"}},
        {"match": {"path": {"prefix": "/write"}}, "claims": {"claim": "scope", "contains": "api:write"}},
        {"match": {"path": {"prefix": "/api"}}}
    ])
}

struct Stack {
    envoy: Envoy,
    _upstream: Upstream,
}

fn start(idps: &[(&str, &Idp, Value)]) -> Stack {
    start_with(idps, json!({}))
}

/// `top`: top-level configuration fields added to the providers and rules.
fn start_with(idps: &[(&str, &Idp, Value)], top: Value) -> Stack {
    let upstream = Upstream::start("backend").unwrap();
    let mut b = Bootstrap::new().backend(&[upstream.port()]);
    let mut providers = Vec::new();
    for (name, idp, extra) in idps {
        let cluster = format!("idp-{name}");
        b = b.cluster(&cluster, &[idp.port()]);
        providers.push(provider(name, idp, &cluster, extra.clone()));
    }
    let mut config =
        json!({"providers": providers, "rules": rules(), "publish_claims": ["groups"]});
    for (k, v) in top.as_object().unwrap() {
        config[k] = v.clone();
    }
    let b = b.wasm_filter("oidc-auth", "oidc_auth.wasm", &config, &[]);
    let envoy = Envoy::start(&b.build(), EnvoyOptions::default().concurrency(2)).unwrap();
    let stack = Stack {
        envoy,
        _upstream: upstream,
    };
    stack.wait_for_keys(1);
    stack
}

impl Stack {
    fn wait_for_keys(&self, at_least: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self
                .envoy
                .stat("wasmcustom.oidc_auth.jwks.fetch_ok")
                .unwrap()
                .unwrap_or(0)
                >= at_least
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("keys were not fetched:\n{}", self.envoy.log());
    }

    fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut r = self.envoy.request("GET", path);
        if let Some(t) = token {
            r = r.bearer(t);
        }
        r.send().unwrap()
    }
}

fn mint(idp: &Idp, alg: &str, extra: Value) -> String {
    idp.mint(&TokenRequest {
        alg: Some(alg.into()),
        sub: Some("alice".into()),
        aud: Some(json!(AUD)),
        scope: Some("openid api:read".into()),
        claims: Some(extra),
        ..Default::default()
    })
    .unwrap()
    .token
}

fn reason(r: &Response) -> String {
    r.json()
        .map(|v| v["error"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn upstream_headers(r: &Response) -> Value {
    r.json().unwrap()["headers"].clone()
}

#[test]
fn valid_tokens_of_every_idp_algorithm_reach_the_upstream_with_claim_headers() {
    let idp = Idp::start().unwrap();
    let stack = start(&[("local", &idp, json!({}))]);
    for alg in ["RS256", "ES256", "ES384", "ES512", "EdDSA"] {
        let token = mint(&idp, alg, json!({"groups": ["dev", "ops"]}));
        let r = stack
            .envoy
            .request("GET", "/api/items")
            .bearer(&token)
            .header("x-user-sub", "mallory")
            .send()
            .unwrap();
        assert_eq!(r.status, 200, "{alg}: {}", r.text());
        let h = upstream_headers(&r);
        assert_eq!(
            h["x-user-sub"], "alice",
            "{alg}: client-supplied claim header must be replaced"
        );
        assert_eq!(h["x-user-groups"], "dev,ops");
        assert_eq!(
            h["authorization"],
            format!("Bearer {token}"),
            "tokens are forwarded by default"
        );
    }
    // RS256 and ES256/384/512 are checked by Envoy's native verify_signature after its self-tests
    // passed (gauge 7: RSA, ECDSA P-256 and ECDSA P-384/P-521 on the host).
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.oidc_auth.host_signature_verification")
            .unwrap(),
        Some(7)
    );
    assert!(
        stack
            .envoy
            .stat("wasmcustom.oidc_auth.token_cache.miss")
            .unwrap()
            .unwrap_or(0)
            >= 5
    );
}

/// The default module has no in-VM P-384/P-521: Envoy verifies ES384/ES512. A tampered signature is
/// refused there, and with the host's verify_signature turned off such tokens get a 401 with their
/// own reason (never a pass), while the algorithms the VM verifies keep working.
#[test]
fn es384_and_es512_are_verified_by_envoy_and_refused_without_it() {
    let idp = Idp::start().unwrap();
    let stack = start(&[("local", &idp, json!({}))]);
    for alg in ["ES384", "ES512"] {
        let token = mint(&idp, alg, json!({}));
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut raw = B64.decode(sig).unwrap();
        raw[10] ^= 1;
        let r = stack.get("/api/items", Some(&format!("{input}.{}", B64.encode(&raw))));
        assert_eq!(
            (r.status, reason(&r)),
            (401, "bad_signature".into()),
            "{alg}"
        );
        assert_eq!(stack.get("/api/items", Some(&token)).status, 200, "{alg}");
    }

    // The default algorithm list: listing ES384/ES512 explicitly here is a configuration error.
    let stack = start_with(
        &[("local", &idp, json!({"algorithms": null}))],
        json!({"host_signature_verification": false}),
    );
    for alg in ["ES384", "ES512"] {
        let r = stack.get("/api/items", Some(&mint(&idp, alg, json!({}))));
        assert_eq!(
            (r.status, reason(&r)),
            (401, "alg_needs_host_crypto".into()),
            "{alg}"
        );
    }
    for alg in ["RS256", "ES256", "EdDSA"] {
        let r = stack.get("/api/items", Some(&mint(&idp, alg, json!({}))));
        assert_eq!(r.status, 200, "{alg} in the VM: {}", r.text());
    }
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.oidc_auth.denied.alg_needs_host_crypto")
            .unwrap(),
        Some(2)
    );
    assert!(
        stack
            .envoy
            .log()
            .contains("ES384/ES512 tokens will be refused"),
        "the configure-time warning is missing:\n{}",
        stack.envoy.log()
    );
}

#[test]
fn bad_tokens_are_rejected_with_401_and_the_right_reason() {
    let idp = Idp::start().unwrap();
    let stack = start(&[("local", &idp, json!({}))]);
    let good = mint(&idp, "RS256", json!({}));
    let (header, _) = decode_jwt(&good).unwrap();
    let parts: Vec<&str> = good.split('.').collect();

    // Tampered payload, original signature.
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    // alg none, in several casings, no signature.
    let none_tokens: Vec<String> = ["none", "None", "NONE", "nOnE"]
        .iter()
        .map(|alg| {
            format!(
                "{}.{}.",
                B64.encode(json!({"alg": alg, "typ": "JWT"}).to_string()),
                parts[1]
            )
        })
        .collect();
    // HS256 "signed" with the IdP's RSA public key (key confusion).
    let jwks = idp.jwks().unwrap();
    let rsa_jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .unwrap()
        .clone();
    let hs_header = B64.encode(json!({"alg": "HS256", "kid": rsa_jwk["kid"]}).to_string());
    let input = format!("{hs_header}.{}", parts[1]);
    let mut mac = Hmac::<Sha256>::new_from_slice(rsa_jwk.to_string().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let confused = format!("{input}.{}", B64.encode(mac.finalize().into_bytes()));
    // A kid the IdP never had.
    let unknown_kid = idp
        .mint(&TokenRequest {
            header: Some(json!({"kid": "not-a-key"})),
            aud: Some(json!(AUD)),
            ..Default::default()
        })
        .unwrap()
        .token;
    let oversized = mint(&idp, "ES256", json!({"pad": "x".repeat(10_000)}));

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            idp.mint(&TokenRequest {
                ttl: Some(-120),
                aud: Some(json!(AUD)),
                ..Default::default()
            })
            .unwrap()
            .token,
            "token_expired",
        ),
        (
            "wrong audience",
            idp.mint(&TokenRequest {
                aud: Some(json!("https://other")),
                ..Default::default()
            })
            .unwrap()
            .token,
            "bad_audience",
        ),
        (
            "unknown issuer",
            mint(&idp, "ES256", json!({"iss": "https://evil.example"})),
            "unknown_issuer",
        ),
        ("tampered", tampered, "bad_signature"),
        ("hs256 with rsa public key", confused, "alg_not_allowed"),
        ("unknown kid", unknown_kid, "unknown_kid"),
        ("oversized", oversized, "token_too_large"),
        ("malformed", "abc.def".into(), "malformed_token"),
        (
            "string exp",
            mint(&idp, "ES256", json!({"exp": "9999999999"})),
            "bad_claim_type",
        ),
        (
            "not yet valid",
            mint(&idp, "EdDSA", json!({"nbf": 4_000_000_000u64})),
            "token_not_yet_valid",
        ),
    ];
    for (name, token, want) in cases {
        let r = stack.get("/api/x", Some(&token));
        assert_eq!(r.status, 401, "{name}: {}", r.text());
        assert_eq!(reason(&r), want, "{name}");
        let challenge = r.header("www-authenticate").unwrap_or("");
        assert!(
            challenge.contains("error=\"invalid_token\"") || want == "unknown_issuer",
            "{name}: {challenge}"
        );
        assert!(
            !r.text().contains(&token[..20.min(token.len())]),
            "{name}: the token must not be echoed"
        );
    }
    for t in none_tokens {
        let r = stack.get("/api/x", Some(&t));
        assert_eq!(r.status, 401, "{}", r.text());
    }
    assert_eq!(header["alg"], "RS256");
    // Nothing rejected reached the upstream: only the 401s above were answered.
    assert_eq!(
        stack
            .envoy
            .stat("wasmcustom.oidc_auth.allowed")
            .unwrap()
            .unwrap_or(0),
        0
    );
}

#[test]
fn missing_ambiguous_and_insufficient_tokens_get_401_or_403() {
    let idp = Idp::start().unwrap();
    let stack = start(&[(
        "local",
        &idp,
        json!({"token_sources": [
        {"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}]}),
    )]);
    let r = stack.get("/api/x", None);
    assert_eq!((r.status, reason(&r).as_str()), (401, "missing_token"));
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"mesh\""));

    let token = mint(&idp, "ES256", json!({"groups": ["dev"]}));
    let r = stack.get(&format!("/api/x?access_token={token}"), Some(&token));
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (401, "ambiguous_token"),
        "token in header and query"
    );

    let r = stack.get("/admin/panel", Some(&token));
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (403, "insufficient_claims")
    );
    let r = stack.get("/write/x", Some(&token));
    assert_eq!(r.status, 403);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));

    let admin = mint(&idp, "ES256", json!({"groups": ["admins"]}));
    assert_eq!(stack.get("/admin/panel", Some(&admin)).status, 200);
    assert_eq!(stack.get("/public/info", None).status, 200);
    let r = stack.get("/elsewhere", Some(&admin));
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (403, "no_matching_rule"),
        "deny by default"
    );
}

#[test]
fn cors_preflight_passes_without_a_token() {
    let idp = Idp::start().unwrap();
    let stack = start(&[("local", &idp, json!({}))]);
    let r = stack
        .envoy
        .request("OPTIONS", "/api/x")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().unwrap()["method"],
        "OPTIONS",
        "the preflight reached the upstream"
    );
    // A plain OPTIONS is not a preflight: it needs a token.
    assert_eq!(
        stack
            .envoy
            .request("OPTIONS", "/api/x")
            .send()
            .unwrap()
            .status,
        401
    );
}

#[test]
fn new_keys_after_an_idp_restart_are_fetched_on_the_first_unknown_kid() {
    let idp = Idp::start().unwrap();
    let stack = start(&[(
        "local",
        &idp,
        json!({"unknown_kid_refetch_interval": "30s"}),
    )]);
    let old = mint(&idp, "ES256", json!({}));
    for _ in 0..6 {
        // Verified, then cached (by both worker VMs, most likely).
        assert_eq!(stack.get("/api/x", Some(&old)).status, 200);
    }
    let idp = idp.restart(&[]).unwrap();
    let fresh = mint(&idp, "ES256", json!({}));
    let r = stack.get("/api/x", Some(&fresh));
    assert_eq!(
        r.status,
        200,
        "the request with a new kid waits for one refetch: {}",
        r.text()
    );
    assert!(
        stack
            .envoy
            .stat("wasmcustom.oidc_auth.jwks.refetch_unknown_kid")
            .unwrap()
            .unwrap_or(0)
            >= 1
    );
    // The restarted IdP no longer serves the old key: once every VM has the new key set (on its
    // next 500 ms tick), the old token is refused, cached or not (Envoy's jwt_authn cache would
    // keep accepting it until its exp).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut refused_in_a_row = 0;
    while refused_in_a_row < 6 {
        let r = stack.get("/api/x", Some(&old));
        match (r.status, reason(&r).as_str()) {
            (401, "unknown_kid") => refused_in_a_row += 1,
            (200, _) if Instant::now() < deadline => refused_in_a_row = 0,
            other => panic!("the old token after its key was withdrawn: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A flood of random kids does not hammer the IdP: at most one refetch per interval.
    let before = idp.jwks_requests().unwrap();
    for i in 0..20 {
        let t = idp
            .mint(&TokenRequest {
                header: Some(json!({"kid": format!("random-{i}")})),
                aud: Some(json!(AUD)),
                ..Default::default()
            })
            .unwrap()
            .token;
        assert_eq!(stack.get("/api/x", Some(&t)).status, 401);
    }
    let after = idp.jwks_requests().unwrap();
    assert!(
        after - before <= 2,
        "{} JWKS fetches for 20 unknown kids",
        after - before
    );
}

#[test]
fn cached_keys_serve_while_the_idp_is_down_until_max_staleness_then_503() {
    let idp = Idp::start().unwrap();
    let stack = start(&[(
        "local",
        &idp,
        json!({"refresh_interval": "1s", "max_staleness": "4s"}),
    )]);
    let token = mint(&idp, "EdDSA", json!({}));
    drop(idp);
    let start = Instant::now();
    assert_eq!(
        stack.get("/api/x", Some(&token)).status,
        200,
        "last good keys keep serving"
    );
    let mut last = 200;
    while start.elapsed() < Duration::from_secs(12) {
        last = stack.get("/api/x", Some(&token)).status;
        if last != 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let r = stack.get("/api/x", Some(&token));
    assert_eq!(
        (last, r.status, reason(&r).as_str()),
        (503, 503, "keys_too_stale")
    );
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "served stale keys for a while first"
    );
    assert!(
        stack
            .envoy
            .stat("wasmcustom.oidc_auth.jwks.stale_served")
            .unwrap()
            .unwrap_or(0)
            >= 1
    );
}

#[test]
fn two_issuers_are_told_apart_by_iss() {
    let a = Idp::start().unwrap();
    let b = Idp::start().unwrap();
    let stack = start(&[("a", &a, json!({})), ("b", &b, json!({}))]);
    stack.wait_for_keys(2);
    for idp in [&a, &b] {
        let r = stack.get("/api/x", Some(&mint(idp, "RS256", json!({}))));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // A token from b that claims to be from a: chosen by iss, fails a's keys.
    let forged = mint(&b, "RS256", json!({"iss": a.issuer()}));
    let r = stack.get("/api/x", Some(&forged));
    assert_eq!(r.status, 401);
    assert!(
        ["unknown_kid", "bad_signature"].contains(&reason(&r).as_str()),
        "{}",
        reason(&r)
    );
}

#[test]
fn a_header_that_is_not_utf8_is_denied_and_does_not_break_the_plugin() {
    use std::io::{Read, Write};
    let idp = Idp::start().unwrap();
    let stack = start(&[("local", &idp, json!({}))]);
    let mut conn = std::net::TcpStream::connect(stack.envoy.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"GET /api/x HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \xff\xfe\r\nx-odd: caf\xe9\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    let token = mint(&idp, "ES256", json!({}));
    assert_eq!(
        stack.get("/api/x", Some(&token)).status,
        200,
        "the VM still works"
    );
}

#[test]
fn one_jwks_fetch_per_refresh_whatever_the_number_of_worker_vms() {
    let idp = Idp::start().unwrap();
    let upstream = Upstream::start("backend").unwrap();
    let config = json!({
        "providers": [provider("local", &idp, "idp", json!({"refresh_interval": "1s"}))],
        "default_action": "authenticated"
    });
    let b = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("idp", &[idp.port()])
        .wasm_filter("oidc-auth", "oidc_auth.wasm", &config, &[]);
    // 4 workers + the main thread: 5 VMs tick every 0.5 s.
    let envoy = Envoy::start(&b.build(), EnvoyOptions::default().concurrency(4)).unwrap();
    let stack = Stack {
        envoy,
        _upstream: upstream,
    };
    stack.wait_for_keys(1);
    let before = idp.jwks_requests().unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let fetches = idp.jwks_requests().unwrap() - before;
    // One refresh per second: about 6 fetches, not 6 × 5 VMs.
    assert!(
        (3..=8).contains(&fetches),
        "{fetches} JWKS fetches in 6 s with a 1 s refresh interval"
    );
    let token = mint(&idp, "EdDSA", json!({}));
    for _ in 0..10 {
        assert_eq!(
            stack.get("/x", Some(&token)).status,
            200,
            "every worker has the keys"
        );
    }
}
