//! The oidc-auth security boundary, attacked end to end: forged and twisted
//! tokens signed by the real IdP or by an attacker, tokens smuggled in two
//! places, oversized headers, and path tricks against the rule table, all
//! through a real Envoy with the shipped HCM path normalization. Every
//! attack is refused with the right status and none reaches the upstream
//! (`cluster.backend.upstream_rq_total` stays put).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant};
use wasm_tests::{Bootstrap, Envoy, EnvoyOptions, Idp, Response, TokenRequest, Upstream};

const AUD: &str = "https://api.mesh.local";

struct Stack {
    envoy: Envoy,
    idp: Idp,
    _upstream: Upstream,
}

fn start(token_sources: Option<Value>) -> Stack {
    let idp = Idp::start().unwrap();
    let upstream = Upstream::start("backend").unwrap();
    let mut provider = json!({
        "name": "local", "issuer": idp.issuer(), "audiences": [AUD], "cluster": "idp",
        "algorithms": ["RS256", "ES256", "EdDSA"], "unknown_kid_refetch_interval": "30s"
    });
    if let Some(ts) = token_sources {
        provider["token_sources"] = ts;
    }
    let config = json!({
        "providers": [provider],
        "rules": [
            {"match": {"path": {"prefix": "/public"}}, "public": true},
            {"match": {"path": {"prefix": "/admin"}}, "claims": {"claim": "groups", "contains": "admins"}},
            {"match": {"path": {"prefix": "/api"}}}
        ]
    });
    let b = Bootstrap::new()
        .backend(&[upstream.port()])
        .cluster("idp", &[idp.port()])
        .wasm_filter("oidc-auth", "oidc_auth.wasm", &config, &[]);
    let envoy = Envoy::start(&b.build(), EnvoyOptions::default().concurrency(2)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while envoy
        .stat("wasmcustom.oidc_auth.jwks.fetch_ok")
        .unwrap()
        .unwrap_or(0)
        == 0
    {
        assert!(Instant::now() < deadline, "no keys:\n{}", envoy.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    Stack {
        envoy,
        idp,
        _upstream: upstream,
    }
}

impl Stack {
    fn upstream_requests(&self) -> u64 {
        self.envoy
            .stat("cluster.backend.upstream_rq_total")
            .unwrap()
            .unwrap_or(0)
    }

    fn mint(&self, alg: &str, claims: Value, header: Option<Value>) -> String {
        self.idp
            .mint(&TokenRequest {
                alg: Some(alg.into()),
                sub: Some("alice".into()),
                aud: Some(json!(AUD)),
                claims: Some(claims),
                header,
                ..Default::default()
            })
            .unwrap()
            .token
    }

    fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut r = self.envoy.request("GET", path);
        if let Some(t) = token {
            r = r.bearer(t);
        }
        r.send().unwrap()
    }
}

fn reason(r: &Response) -> String {
    r.json()
        .map(|v| v["error"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn b64json(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// `header.payload.signature` with `sign` over the signing input.
fn forge(header: &Value, payload: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{payload}", b64json(header));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

fn hs256(key: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |msg| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The attacker's own keys (fixed seeds: the tests are reproducible).
struct Attacker {
    ec: p256::ecdsa::SigningKey,
    ed: ed25519_compact::KeyPair,
}

impl Attacker {
    fn new() -> Self {
        Attacker {
            ec: p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap(),
            ed: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([9u8; 32])),
        }
    }

    fn ec_jwk(&self) -> Value {
        let point = self.ec.verifying_key().to_encoded_point(false);
        json!({"kty": "EC", "crv": "P-256", "x": B64.encode(point.x().unwrap()),
               "y": B64.encode(point.y().unwrap()), "kid": "attacker"})
    }

    fn ed_jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(self.ed.pk.as_ref()), "kid": "attacker"})
    }

    fn es256(&self) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
        move |msg| {
            let sig: p256::ecdsa::Signature = self.ec.sign(msg);
            sig.to_bytes().to_vec()
        }
    }

    fn eddsa(&self) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
        move |msg| self.ed.sk.sign(msg, None).as_ref().to_vec()
    }
}

/// The IdP's RSA public key in every form a confused verifier might use as an HMAC secret.
fn rsa_key_forms(jwk: &Value) -> Vec<(&'static str, Vec<u8>)> {
    let n = B64.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = B64.decode(jwk["e"].as_str().unwrap()).unwrap();
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .unwrap();
    vec![
        ("jwk json", jwk.to_string().into_bytes()),
        (
            "spki pem",
            key.to_public_key_pem(LineEnding::LF).unwrap().into_bytes(),
        ),
        (
            "pkcs1 pem",
            key.to_pkcs1_pem(LineEnding::LF).unwrap().into_bytes(),
        ),
        (
            "spki der",
            key.to_public_key_der().unwrap().as_bytes().to_vec(),
        ),
        ("pkcs1 der", key.to_pkcs1_der().unwrap().as_bytes().to_vec()),
        ("modulus", n),
    ]
}

#[test]
fn forged_and_twisted_tokens_get_401_and_never_reach_the_upstream() {
    let stack = start(None);
    let idp = &stack.idp;
    let good = stack.mint("ES256", json!({}), None);
    let payload = good.split('.').nth(1).unwrap().to_string();
    let jwks = idp.jwks().unwrap();
    let key_of = |kty: &str| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kty"] == kty)
            .unwrap()
            .clone()
    };
    let (rsa_jwk, ec_kid) = (key_of("RSA"), key_of("EC")["kid"].clone());
    let attacker = Attacker::new();
    let mut cases: Vec<(String, String, &[&str])> = Vec::new();
    let mut case = |name: &str, token: String, reasons: &'static [&'static str]| {
        cases.push((name.to_string(), token, reasons))
    };

    // alg none in every casing, with no signature and with a copied one.
    for alg in ["none", "None", "NONE", "nOnE", "NoNe", "none "] {
        let h = b64json(&json!({"alg": alg, "typ": "JWT"}));
        case(
            &format!("alg {alg:?}"),
            format!("{h}.{payload}."),
            &["unsupported_alg"],
        );
        let sig = good.rsplit('.').next().unwrap();
        case(
            &format!("alg {alg:?} + sig"),
            format!("{h}.{payload}.{sig}"),
            &["unsupported_alg"],
        );
    }
    // Key confusion: HS256 keyed with the IdP's RSA public key, every encoding, with and without its kid.
    for (form, secret) in rsa_key_forms(&rsa_jwk) {
        for header in [
            json!({"alg": "HS256", "kid": rsa_jwk["kid"]}),
            json!({"alg": "HS256"}),
        ] {
            let t = forge(&header, &payload, hs256(&secret));
            case(&format!("hs256 keyed with {form}"), t, &["alg_not_allowed"]);
        }
    }
    // ES256 psychic signature (CVE-2022-21449): r = s = 0, raw and DER.
    let psychic = json!({"alg": "ES256", "kid": ec_kid});
    case(
        "es256 r=s=0",
        forge(&psychic, &payload, |_| vec![0u8; 64]),
        &["bad_signature"],
    );
    case(
        "es256 r=s=0 der",
        forge(&psychic, &payload, |_| vec![0x30, 6, 2, 1, 0, 2, 1, 0]),
        &["bad_signature"],
    );
    case(
        "es256 r=s=n",
        forge(&psychic, &payload, |_| {
            let n = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
            let n: Vec<u8> = (0..32)
                .map(|i| u8::from_str_radix(&n[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            [n.clone(), n].concat()
        }),
        &["bad_signature"],
    );
    // Attacker keys announced in the header: jwk, jku, x5u, x5c.
    let ec_jwk = attacker.ec_jwk();
    let embedded: Vec<(&str, Value, &'static [&'static str])> = vec![
        (
            "jwk, no kid",
            json!({"alg": "ES256", "jwk": ec_jwk}),
            &["bad_signature", "no_matching_key"],
        ),
        (
            "jwk, attacker kid",
            json!({"alg": "ES256", "kid": "attacker", "jwk": ec_jwk}),
            &["unknown_kid"],
        ),
        (
            "jwk, idp kid",
            json!({"alg": "ES256", "kid": ec_kid, "jwk": ec_jwk}),
            &["bad_signature"],
        ),
        (
            "jku",
            json!({"alg": "ES256", "kid": "attacker", "jku": "http://127.0.0.1:1/jwks.json"}),
            &["unknown_kid"],
        ),
        (
            "x5u",
            json!({"alg": "ES256", "x5u": "http://127.0.0.1:1/cert.pem"}),
            &["bad_signature", "no_matching_key"],
        ),
        (
            "x5c",
            json!({"alg": "ES256", "kid": ec_kid, "x5c": [STANDARD.encode(b"attacker certificate")]}),
            &["bad_signature"],
        ),
    ];
    for (name, header, reasons) in embedded {
        case(
            &format!("es256 {name}"),
            forge(&header, &payload, attacker.es256()),
            reasons,
        );
    }
    case(
        "eddsa jwk, no kid",
        forge(
            &json!({"alg": "EdDSA", "jwk": attacker.ed_jwk()}),
            &payload,
            attacker.eddsa(),
        ),
        &["bad_signature", "no_matching_key"],
    );
    // Unknown crit, even on an otherwise well-formed header.
    case(
        "crit",
        forge(
            &json!({"alg": "ES256", "kid": ec_kid, "crit": ["exp"], "exp": 1}),
            &payload,
            attacker.es256(),
        ),
        &["unsupported_crit"],
    );
    // kid tricks, signed by the IdP's real key.
    for (name, kid) in [
        ("traversal", "../../../../etc/passwd".to_string()),
        ("absolute path", "/dev/null".to_string()),
        ("sql", "x' OR '1'='1".to_string()),
        ("unicode", "ключ\u{202e}\u{0}🔑".to_string()),
        ("huge", "k".repeat(4000)),
    ] {
        let t = stack.mint("ES256", json!({}), Some(json!({"kid": kid})));
        case(&format!("kid {name}"), t, &["unknown_kid"]);
    }
    let t = stack.mint("ES256", json!({}), Some(json!({"kid": "k".repeat(9000)})));
    case("kid beyond the size limit", t, &["token_too_large"]);
    // Time claims of the wrong type or out of range, signed by the IdP.
    for (name, claims, reasons) in [
        (
            "exp string",
            json!({"exp": "9999999999"}),
            &["bad_claim_type"][..],
        ),
        ("exp float past", json!({"exp": 1.5}), &["token_expired"]),
        ("exp negative", json!({"exp": -1}), &["bad_claim_type"]),
        // The IdP drops a null claim: the token then has no exp.
        (
            "exp null",
            json!({"exp": null}),
            &["bad_claim_type", "missing_claim"],
        ),
        ("nbf string", json!({"nbf": "0"}), &["bad_claim_type"]),
        (
            "nbf float future",
            json!({"nbf": 4_000_000_000.5}),
            &["token_not_yet_valid"],
        ),
        ("nbf negative", json!({"nbf": -5}), &["bad_claim_type"]),
        ("nbf huge", json!({"nbf": 1e300}), &["token_not_yet_valid"]),
        ("iat string", json!({"iat": "now"}), &["bad_claim_type"]),
        ("iat negative", json!({"iat": -1}), &["bad_claim_type"]),
        ("iat huge", json!({"iat": 1e300}), &["token_not_yet_valid"]),
        (
            "iat float future",
            json!({"iat": 4_000_000_000.25}),
            &["token_not_yet_valid"],
        ),
        // Audience tricks.
        (
            "aud wrong values",
            json!({"aud": ["https://other", "api.mesh.local"]}),
            &["bad_audience"],
        ),
        ("aud empty array", json!({"aud": []}), &["bad_audience"]),
        (
            "aud trailing slash",
            json!({"aud": format!("{AUD}/")}),
            &["bad_audience"],
        ),
        (
            "aud whitespace",
            json!({"aud": format!(" {AUD}")}),
            &["bad_audience"],
        ),
        ("aud number", json!({"aud": 42}), &["bad_claim_type"]),
        (
            "aud mixed types",
            json!({"aud": [AUD, 5]}),
            &["bad_claim_type"],
        ),
        // Issuer look-alikes.
        (
            "iss trailing slash",
            json!({"iss": format!("{}/", idp.issuer())}),
            &["unknown_issuer"],
        ),
        (
            "iss trailing space",
            json!({"iss": format!("{} ", idp.issuer())}),
            &["unknown_issuer"],
        ),
        (
            "iss leading space",
            json!({"iss": format!(" {}", idp.issuer())}),
            &["unknown_issuer"],
        ),
        (
            "iss upper case",
            json!({"iss": idp.issuer().to_uppercase()}),
            &["unknown_issuer"],
        ),
        (
            "iss array",
            json!({"iss": [idp.issuer()]}),
            &["unknown_issuer", "bad_claim_type", "malformed_token"],
        ),
    ] {
        case(name, stack.mint("RS256", claims, None), reasons);
    }
    // Encrypted (JWE, 5 segments) and nested tokens.
    let jwe_header = b64json(&json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": rsa_jwk["kid"]}));
    case(
        "jwe",
        format!("{jwe_header}.AAAA.AAAA.{payload}.AAAA"),
        &["encrypted_token_unsupported"],
    );
    case(
        "nested jws in jws",
        forge(
            &json!({"alg": "ES256", "cty": "JWT"}),
            &B64.encode(&good),
            attacker.es256(),
        ),
        &["malformed_token", "unknown_issuer"],
    );
    case(
        "six segments",
        format!("{good}.{payload}.x.y"),
        &["malformed_token"],
    );

    let before = stack.upstream_requests();
    let answers = par(&cases, |(_, token, _)| stack.get("/api/items", Some(token)));
    for ((name, token, reasons), r) in cases.iter().zip(answers) {
        assert_eq!(r.status, 401, "{name}: {}", r.text());
        assert!(
            reasons.contains(&reason(&r).as_str()),
            "{name}: got {}, want one of {reasons:?}",
            reason(&r)
        );
        let body = r.text();
        assert!(
            !body.contains(&token[token.len().saturating_sub(16)..]),
            "{name}: the token is echoed"
        );
    }
    assert_eq!(
        stack.upstream_requests(),
        before,
        "a forged token reached the upstream"
    );
    eprintln!("{} forged tokens refused", cases.len());
    // Control: the same stack lets a genuine token through.
    assert_eq!(stack.get("/api/items", Some(&good)).status, 200);
    assert_eq!(stack.upstream_requests(), before + 1);
}

#[test]
fn a_token_in_two_places_or_in_an_oversized_header_is_refused() {
    let stack = start(Some(
        json!([{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}]),
    ));
    let token = stack.mint("ES256", json!({}), None);
    let other = stack.mint("RS256", json!({"sub": "mallory"}), None);
    let auth = format!("Bearer {token}");
    type Send<'a> = (&'a str, String, Vec<(&'a str, String)>, u16, &'a [&'a str]);
    let cases: Vec<Send> = vec![
        (
            "header and query",
            format!("/api/x?access_token={token}"),
            vec![("authorization", auth.clone())],
            401,
            &["ambiguous_token"],
        ),
        (
            "two authorization headers, same token",
            "/api/x".into(),
            vec![
                ("authorization", auth.clone()),
                ("authorization", auth.clone()),
            ],
            401,
            // Envoy hands the plugin both values joined by `,`: never one token.
            &[
                "ambiguous_token",
                "malformed_token",
                "encrypted_token_unsupported",
            ],
        ),
        (
            "two authorization headers, two users",
            "/api/x".into(),
            vec![
                ("authorization", auth.clone()),
                ("authorization", format!("Bearer {other}")),
            ],
            401,
            &[
                "ambiguous_token",
                "malformed_token",
                "encrypted_token_unsupported",
            ],
        ),
        (
            "two query parameters",
            format!("/api/x?access_token={token}&access_token={other}"),
            vec![],
            401,
            &["ambiguous_token"],
        ),
        (
            "token beside the bearer token",
            "/api/x".into(),
            vec![("authorization", format!("Bearer {token} {other}"))],
            401,
            &[
                "malformed_token",
                "ambiguous_token",
                "encrypted_token_unsupported",
            ],
        ),
        (
            "oversized authorization header",
            "/api/x".into(),
            vec![("authorization", format!("Bearer {}", "A".repeat(70 * 1024)))],
            431,
            &[],
        ),
        (
            "oversized other header",
            "/api/x".into(),
            vec![
                ("authorization", auth.clone()),
                ("x-pad", "p".repeat(70 * 1024)),
            ],
            431,
            &[],
        ),
        (
            "token just over the plugin limit",
            "/api/x".into(),
            vec![("authorization", format!("Bearer {}", "A".repeat(9 * 1024)))],
            401,
            &["token_too_large"],
        ),
    ];
    let before = stack.upstream_requests();
    let answers = par(&cases, |(_, path, headers, _, _)| {
        let mut req = stack.envoy.request("GET", path);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send().unwrap()
    });
    for ((name, _, _, status, reasons), r) in cases.iter().zip(answers) {
        assert_eq!(r.status, *status, "{name}: {}", r.text());
        if !reasons.is_empty() {
            assert!(
                reasons.contains(&reason(&r).as_str()),
                "{name}: {}",
                reason(&r)
            );
        }
    }
    assert_eq!(
        stack.upstream_requests(),
        before,
        "a smuggled token reached the upstream"
    );
    assert_eq!(stack.get("/api/x", Some(&token)).status, 200, "control");
}

/// What Envoy (normalize_path, merge_slashes, escaped slashes rejected) and
/// the plugin make of a path trick aimed at `/admin`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    /// Envoy rewrote it to this path under `/admin`: admins only.
    Admin(&'static str),
    /// Envoy rewrote it to this path under `/public`, and that is what the
    /// upstream gets: served to anyone, and it is not `/admin`.
    Public(&'static str),
    /// Refused with 400 before any rule allowed it (Envoy or the plugin).
    Rejected,
    /// A path no rule matches: 403 `no_matching_rule` even for admins.
    Unmatched,
}

/// Sends every request at once (each local reply costs Envoy's 1 s delayed close).
fn par<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|i| s.spawn(|| f(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn path_tricks_never_reach_a_protected_route_without_the_right_claims() {
    use Fate::*;
    let stack = start(None);
    let user = stack.mint("ES256", json!({"groups": ["dev"]}), None);
    let admin = stack.mint("ES256", json!({"groups": ["admins"]}), None);
    let cases: &[(&str, Fate)] = &[
        ("/admin", Admin("/admin")),
        ("/api/../admin", Admin("/admin")),
        ("/public/../admin", Admin("/admin")),
        ("/public/./../admin/x", Admin("/admin/x")),
        ("//admin", Admin("/admin")),
        ("/public//../admin", Public("/public/admin")),
        ("/api/%2e%2e/admin", Admin("/admin")),
        ("/public/%2E%2E/admin", Admin("/admin")),
        ("/public/.%2e/admin", Admin("/admin")),
        ("/%61dmin", Admin("/admin")),
        ("/admin%2Fx", Rejected),
        ("/public%2F..%2Fadmin", Rejected),
        ("/public/..%2fadmin", Rejected),
        ("/public/%5c../admin", Rejected),
        ("/public/..%5cadmin", Rejected),
        ("/ADMIN", Unmatched),
        ("/Admin/panel", Unmatched),
        ("/admin/", Admin("/admin/")),
        ("/admin;x=1", Rejected),
        ("/public;/../admin", Admin("/admin")),
        ("/public/..;/admin", Admin("/admin")),
        ("/admin#fragment", Rejected),
        ("/public#/../admin", Rejected),
        ("http://evil.example/admin", Admin("/admin")),
        ("http://evil.example/public/../admin", Admin("/admin")),
        ("/public/%00/../admin", Rejected),
    ];
    let seen_path = |r: &Response| {
        r.json()
            .ok()
            .and_then(|v| v["path"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let before = stack.upstream_requests();
    let outcomes = par(cases, |(path, _)| {
        let [anon, as_user, as_admin] =
            [None, Some(user.as_str()), Some(admin.as_str())].map(|t| stack.get(path, t));
        (anon, as_user, as_admin)
    });
    let mut table = Vec::new();
    for ((path, _), (anon, as_user, as_admin)) in cases.iter().zip(&outcomes) {
        table.push(format!(
            "{path:38} anon {} user {} ({}) admin {} -> {:?}",
            anon.status,
            as_user.status,
            reason(as_user),
            as_admin.status,
            seen_path(as_admin)
        ));
    }
    eprintln!("{}", table.join("\n"));
    let mut reached = 0;
    for ((path, fate), (anon, as_user, as_admin)) in cases.iter().zip(&outcomes) {
        // Whatever happened, nobody without admin claims got an /admin path upstream.
        for r in [anon, as_user] {
            if r.status == 200 {
                assert!(
                    !seen_path(r).to_ascii_lowercase().starts_with("/admin"),
                    "{path}: {}",
                    r.text()
                );
            }
        }
        match fate {
            Admin(to) => {
                assert_eq!(
                    (anon.status, as_user.status),
                    (401, 403),
                    "{path}: {}",
                    as_user.text()
                );
                assert_eq!(reason(as_user), "insufficient_claims", "{path}");
                assert_eq!(as_admin.status, 200, "{path}: {}", as_admin.text());
                assert_eq!(seen_path(as_admin), *to, "{path}");
                reached += 1;
            }
            Public(to) => {
                for r in [anon, as_user, as_admin] {
                    assert_eq!((r.status, seen_path(r).as_str()), (200, *to), "{path}");
                }
                reached += 3;
            }
            Rejected => {
                for r in [anon, as_user, as_admin] {
                    assert_eq!(r.status, 400, "{path}: {}", r.text());
                }
            }
            Unmatched => {
                for r in [anon, as_user, as_admin] {
                    assert!([401, 403].contains(&r.status), "{path}: {}", r.status);
                }
                assert_eq!(reason(as_admin), "no_matching_rule", "{path}");
            }
        }
    }
    assert_eq!(
        stack.upstream_requests(),
        before + reached,
        "only the requests judged above reached the upstream"
    );
}
