//! Key fetch steps: what an IdP answer leads to, for good and faulty answers.

use super::*;
use crate::oidc::{load, OidcPolicy};
use serde_json::{json, Value};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

const ISSUER: &str = "http://127.0.0.1:9000";
/// A real Ed25519 public key (RFC 8037 A.2).
const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn policy(extra: Value) -> OidcPolicy {
    let mut p = json!({"name": "idp", "issuer": ISSUER, "cluster": "idp"});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    load(json!({"providers": [p]}).to_string().as_bytes(), &|_| None).unwrap()
}

fn jwks_step() -> FetchStep {
    FetchStep::Jwks {
        url: UrlParts::parse(&format!("{ISSUER}/jwks")).unwrap(),
    }
}

fn good_jwks() -> String {
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "ed", "alg": "EdDSA"}]})
        .to_string()
}

fn outcome(
    p: &OidcPolicy,
    step: &FetchStep,
    status: u16,
    body: &[u8],
) -> Result<usize, &'static str> {
    let provider = &p.providers[0];
    let answer = FetchAnswer {
        status,
        body_size: body.len(),
        body,
    };
    match on_response(provider, step, answer) {
        FetchNext::Done { keys, .. } => Ok(keys.len()),
        FetchNext::Call(FetchStep::Jwks { url }, call) => {
            assert_eq!((call.cluster.as_str(), url.path.as_str()), ("idp", "/jwks"));
            Ok(0)
        }
        FetchNext::Call(FetchStep::Discovery, _) => Err("discovery again"),
        FetchNext::Failed(reason) => Err(reason),
    }
}

#[test]
fn faulty_jwks_answers_are_refused_with_a_reason() {
    let p = policy(json!({"max_jwks_bytes": 2048}));
    let padded = |n: usize| {
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "ed"}], "pad": "x".repeat(n)}).to_string()
    };
    let cases: Vec<(&str, u16, String, Result<usize, &str>)> = vec![
        ("good", 200, good_jwks(), Ok(1)),
        ("just under the limit", 200, padded(1900), Ok(1)),
        (
            "over max_jwks_bytes",
            200,
            padded(2100),
            Err("jwks_too_large"),
        ),
        (
            "not json",
            200,
            "{\"keys\": [ not json".into(),
            Err("malformed_jwks"),
        ),
        (
            "html",
            200,
            "<html>oops</html>".into(),
            Err("malformed_jwks"),
        ),
        (
            "keys not an array",
            200,
            r#"{"keys": {"kty": "OKP"}}"#.into(),
            Err("malformed_jwks"),
        ),
        ("array at top", 200, "[]".into(), Err("malformed_jwks")),
        (
            "empty keys",
            200,
            r#"{"keys": []}"#.into(),
            Err("jwks_no_usable_key"),
        ),
        (
            "only bad keys",
            200,
            json!({"keys": [
                {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "tiny"},
                {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "off-curve"},
                {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "short"},
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                {"kty": "XYZ", "kid": "unknown"}
            ]})
            .to_string(),
            Err("jwks_no_usable_key"),
        ),
        ("idp 500", 500, "injected".into(), Err("idp_error_status")),
        ("no endpoint", 503, String::new(), Err("idp_unavailable")),
        ("callout timeout", 504, String::new(), Err("idp_timeout")),
        ("no answer", 0, String::new(), Err("idp_unreachable")),
    ];
    for (name, status, body, want) in cases {
        assert_eq!(
            outcome(&p, &jwks_step(), status, body.as_bytes()),
            want,
            "{name}"
        );
    }
}

#[test]
fn an_oversized_answer_is_refused_from_its_size_alone() {
    // The host does not read a body over the limit: it hands an empty body and the size.
    let p = policy(json!({}));
    let answer = FetchAnswer {
        status: 200,
        body_size: 5 * 1024 * 1024,
        body: b"",
    };
    assert!(matches!(
        on_response(&p.providers[0], &jwks_step(), answer),
        FetchNext::Failed("jwks_too_large")
    ));
    assert!(matches!(
        on_response(&p.providers[0], &FetchStep::Discovery, answer),
        FetchNext::Failed("discovery_too_large")
    ));
    assert_eq!(body_limit(&p.providers[0], &jwks_step()), 64 * 1024);
    assert_eq!(
        body_limit(&p.providers[0], &FetchStep::Discovery),
        256 * 1024
    );
}

#[test]
fn discovery_for_another_issuer_is_refused() {
    let p = policy(json!({}));
    let doc = |iss: &str| json!({"issuer": iss, "jwks_uri": format!("{ISSUER}/jwks")}).to_string();
    let cases = [
        (doc(ISSUER), Ok(0)),
        (doc("http://evil.example"), Err("discovery_issuer_mismatch")),
        (doc(&format!("{ISSUER}/")), Err("discovery_issuer_mismatch")),
        ("not json".to_string(), Err("discovery_malformed")),
    ];
    for (body, want) in cases {
        assert_eq!(
            outcome(&p, &FetchStep::Discovery, 200, body.as_bytes()),
            want,
            "{body}"
        );
    }
    assert!(describe_failure("discovery_issuer_mismatch").contains("another issuer"));
}

#[test]
fn a_shared_document_is_compiled_within_the_same_limits() {
    let p = policy(json!({"max_jwks_bytes": 1024}));
    assert_eq!(
        keys_from_document(&p.providers[0], good_jwks().as_bytes()).map(|(k, _)| k.len()),
        Ok(1)
    );
    let big = json!({"keys": [], "pad": "x".repeat(2000)}).to_string();
    assert_eq!(
        keys_from_document(&p.providers[0], big.as_bytes()).map(|(k, _)| k.len()),
        Err("jwks_too_large")
    );
}

#[test]
fn fetch_backoff_max_caps_the_retry_delay() {
    let p = policy(json!({"fetch_backoff_max": "2s"}));
    let backoff = p.providers[0].refresh.backoff;
    assert_eq!(
        (backoff.ceiling_ms(1), backoff.ceiling_ms(10)),
        (1_000, 2_000)
    );
    let default = policy(json!({}));
    assert_eq!(default.providers[0].refresh.backoff.ceiling_ms(30), 300_000);
}
