//! Table-driven tests: tokens are signed here with fixed test keys.

use super::*;
use crate::env::Now;
use p256::ecdsa::signature::Signer;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use super::reference_host;

mod large_curve;

const NOW: u64 = 1_700_000_000;

fn now() -> Now {
    Now::from_unix_secs(NOW)
}

/// Deterministic RNG for PSS salts (tests only; the verifier needs none).
struct TestRng(u64);
impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 33) as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for TestRng {}

fn rsa2048() -> RsaPrivateKey {
    static KEY: std::sync::OnceLock<RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::from_pkcs8_pem(include_str!("../../tests/data/rsa2048.pem")).unwrap()
    })
    .clone()
}
fn rsa1024() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(include_str!("../../tests/data/rsa1024.pem")).unwrap()
}
fn p256_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap()
}
fn p384_key() -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap()
}
fn p521_key() -> p521::ecdsa::SigningKey {
    let mut d = [0x33u8; 66];
    d[0] = 0x01;
    p521::ecdsa::SigningKey::from_slice(&d).unwrap()
}
fn ed_key() -> ed25519_compact::KeyPair {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]))
}
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn rsa_jwk(key: &RsaPrivateKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "use": "sig",
        "n": b64::encode(&key.n().to_bytes_be()), "e": b64::encode(&key.e().to_bytes_be())})
}
fn ec_jwk(crv: &str, point: &[u8], kid: &str) -> Value {
    let size = (point.len() - 1) / 2;
    json!({"kty": "EC", "crv": crv, "kid": kid,
        "x": b64::encode(&point[1..1 + size]), "y": b64::encode(&point[1 + size..])})
}
fn ed_jwk(kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64::encode(ed_key().pk.as_ref())})
}

/// One JWKS with a key per asymmetric family, kids named after the algorithm family.
fn jwks_doc() -> Value {
    json!({"keys": [
        rsa_jwk(&rsa2048(), "rsa"),
        ec_jwk("P-256", p256_key().verifying_key().to_encoded_point(false).as_bytes(), "p256"),
        ec_jwk("P-384", p384_key().verifying_key().to_encoded_point(false).as_bytes(), "p384"),
        ec_jwk("P-521", p521::ecdsa::VerifyingKey::from(&p521_key()).to_encoded_point(false).as_bytes(), "p521"),
        ed_jwk("ed"),
    ]})
}

fn keyset() -> KeySet {
    static SET: std::sync::OnceLock<KeySet> = std::sync::OnceLock::new();
    SET.get_or_init(build_keyset).clone()
}

fn build_keyset() -> KeySet {
    let (mut set, skipped) =
        KeySet::from_jwks(jwks_doc().to_string().as_bytes(), JwksLimits::default()).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let mut keys = set.keys().to_vec();
    keys.push(Jwk::hmac_secret(Some("hs".into()), Algorithm::Hs256, HS_SECRET).unwrap());
    keys.push(Jwk::hmac_secret(Some("hs384".into()), Algorithm::Hs384, HS_SECRET).unwrap());
    keys.push(Jwk::hmac_secret(Some("hs512".into()), Algorithm::Hs512, HS_SECRET).unwrap());
    set = KeySet::from_keys(keys).unwrap();
    set
}

fn kid_for(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Rs256 | Algorithm::Rs384 | Algorithm::Rs512 => "rsa",
        Algorithm::Ps256 | Algorithm::Ps384 | Algorithm::Ps512 => "rsa",
        Algorithm::Es256 => "p256",
        Algorithm::Es384 => "p384",
        Algorithm::Es512 => "p521",
        Algorithm::EdDsa => "ed",
        Algorithm::Hs256 => "hs",
        Algorithm::Hs384 => "hs384",
        Algorithm::Hs512 => "hs512",
    }
}

fn sign_raw(alg: Algorithm, input: &[u8]) -> Vec<u8> {
    let rsa = rsa2048();
    let mut rng = TestRng(42);
    match alg {
        Algorithm::Rs256 => rsa
            .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input))
            .unwrap(),
        Algorithm::Rs384 => rsa
            .sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(input))
            .unwrap(),
        Algorithm::Rs512 => rsa
            .sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(input))
            .unwrap(),
        Algorithm::Ps256 => rsa
            .sign_with_rng(&mut rng, Pss::new::<Sha256>(), &Sha256::digest(input))
            .unwrap(),
        Algorithm::Ps384 => rsa
            .sign_with_rng(&mut rng, Pss::new::<Sha384>(), &Sha384::digest(input))
            .unwrap(),
        Algorithm::Ps512 => rsa
            .sign_with_rng(&mut rng, Pss::new::<Sha512>(), &Sha512::digest(input))
            .unwrap(),
        Algorithm::Es256 => {
            let s: p256::ecdsa::Signature = p256_key().sign(input);
            s.to_bytes().to_vec()
        }
        Algorithm::Es384 => {
            let s: p384::ecdsa::Signature = p384_key().sign(input);
            s.to_bytes().to_vec()
        }
        Algorithm::Es512 => {
            use p521::ecdsa::signature::RandomizedSigner;
            let s: p521::ecdsa::Signature = p521_key().sign_with_rng(&mut rng, input);
            s.to_bytes().to_vec()
        }
        Algorithm::EdDsa => ed_key().sk.sign(input, None).to_vec(),
        Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => hmac_tag(alg, HS_SECRET, input),
    }
}

fn hmac_tag(alg: Algorithm, key: &[u8], input: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    match alg {
        Algorithm::Hs256 => Hmac::<Sha256>::new_from_slice(key)
            .unwrap()
            .chain_update(input)
            .finalize()
            .into_bytes()
            .to_vec(),
        Algorithm::Hs384 => Hmac::<Sha384>::new_from_slice(key)
            .unwrap()
            .chain_update(input)
            .finalize()
            .into_bytes()
            .to_vec(),
        _ => Hmac::<Sha512>::new_from_slice(key)
            .unwrap()
            .chain_update(input)
            .finalize()
            .into_bytes()
            .to_vec(),
    }
}

/// Signs `header` + `claims` as `alg` (the header is used verbatim).
fn token_with(alg: Algorithm, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(claims.to_string().as_bytes())
    );
    let sig = sign_raw(alg, input.as_bytes());
    format!("{input}.{}", b64::encode(&sig))
}

fn good_claims() -> Value {
    json!({"iss": "https://idp.example", "sub": "alice", "aud": ["api", "other"],
           "exp": NOW + 300, "iat": NOW - 10, "nbf": NOW - 10, "scope": "read"})
}

fn token(alg: Algorithm, claims: &Value) -> String {
    token_with(
        alg,
        &json!({"alg": alg.name(), "kid": kid_for(alg), "typ": "JWT"}),
        claims,
    )
}

fn policy() -> TokenPolicy {
    TokenPolicy::new(
        Algorithm::ALL.to_vec(),
        ClaimsPolicy {
            issuer: Some("https://idp.example".into()),
            audiences: vec!["api".into()],
            ..ClaimsPolicy::default()
        },
    )
}

fn check(token: &str) -> Result<VerifiedToken, JwtError> {
    verify_token(token, &keyset(), &policy(), now(), &AsDeployed)
}

/// The backend a default build has in Envoy for ES384/ES512: the host's
/// `verify_signature` (here the reference host). Everything else, and every
/// algorithm in an `in-vm-p384-p521` build, is verified in the VM.
struct AsDeployed;

impl SignatureBackend for AsDeployed {
    fn verify(&self, alg: Algorithm, key: &Jwk, input: &[u8], sig: &[u8]) -> Option<bool> {
        if LargeCurveKey::IN_VM || !matches!(alg, Algorithm::Es384 | Algorithm::Es512) {
            return None;
        }
        reference_host::ecdsa_verifier().verify(alg, key, input, sig)
    }
}

fn reason(r: Result<VerifiedToken, JwtError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

#[test]
fn every_algorithm_verifies_a_correctly_signed_token() {
    for alg in Algorithm::ALL {
        let t = token(alg, &good_claims());
        let v = check(&t).unwrap_or_else(|e| panic!("{}: {e}", alg.name()));
        assert_eq!(v.alg, alg);
        assert_eq!(v.kid.as_deref(), Some(kid_for(alg)));
        assert_eq!(v.typ.as_deref(), Some("JWT"));
        assert_eq!(v.subject.as_deref(), Some("alice"));
        assert_eq!(v.issuer.as_deref(), Some("https://idp.example"));
        assert_eq!(v.expires_at, Some(NOW + 300));
        assert_eq!(v.claims.get("scope"), Some(&json!("read")));
    }
}

#[test]
fn every_algorithm_rejects_a_tampered_payload_or_signature() {
    for alg in Algorithm::ALL {
        let t = token(alg, &good_claims());
        let (input, sig) = t.rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let other = b64::encode(json!({"sub": "mallory"}).to_string().as_bytes());
        assert_eq!(
            reason(check(&format!("{header}.{other}.{sig}"))),
            "bad_signature",
            "{alg:?}"
        );
        let mut raw = b64::decode(sig).unwrap();
        raw[5] ^= 1;
        assert_eq!(
            reason(check(&format!("{input}.{}", b64::encode(&raw)))),
            "bad_signature",
            "{alg:?}"
        );
        let short = &raw[..raw.len() - 1];
        assert_eq!(
            reason(check(&format!("{input}.{}", b64::encode(short)))),
            "bad_signature",
            "{alg:?}"
        );
    }
}

#[test]
fn structural_problems_are_malformed_or_specific() {
    let good = token(Algorithm::Es256, &good_claims());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let hdr = |h: &str| {
        format!(
            "{}.{}",
            b64::encode(h.as_bytes()),
            input.split_once('.').unwrap().1
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "malformed_token"),
        ("a.b".into(), "malformed_token"),
        (format!("{good}.x"), "malformed_token"),
        ("a.b.c.d.e".into(), "encrypted_token_unsupported"),
        (format!("{input}.{sig}="), "malformed_token"),
        (format!("{input}=.{sig}"), "malformed_token"),
        (format!("{input}.{} ", sig), "malformed_token"),
        (
            format!("{input}.{}", sig.replace('-', "+").replace('_', "/") + "+"),
            "malformed_token",
        ),
        (format!("{}.{sig}", hdr("[\"ES256\"]")), "malformed_token"),
        (format!("{}.{sig}", hdr("\"ES256\"")), "malformed_token"),
        (
            format!("{}.{sig}", hdr("{\"kid\":\"p256\"}")),
            "malformed_token",
        ),
        (format!("{}.{sig}", hdr("{\"alg\":256}")), "malformed_token"),
        (
            format!("{}.{sig}", hdr("{\"alg\":\"ES256\",\"alg\":\"HS256\"}")),
            "malformed_token",
        ),
        (
            format!("{}.{sig}", hdr("{\"alg\":\"ES256\"")),
            "malformed_token",
        ),
        (
            format!(".{}.{sig}", input.split_once('.').unwrap().1),
            "malformed_token",
        ),
        ("x".repeat(DEFAULT_MAX_TOKEN_BYTES + 1), "token_too_large"),
    ];
    for (t, want) in cases {
        assert_eq!(
            reason(check(&t)),
            want,
            "{}",
            t.chars().take(80).collect::<String>()
        );
    }
}

#[test]
fn alg_none_is_rejected_in_every_casing() {
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = b64::encode(json!({"alg": none, "kid": "p256"}).to_string().as_bytes());
        let p = b64::encode(good_claims().to_string().as_bytes());
        for sig in ["", "AAAA"] {
            assert_eq!(
                reason(check(&format!("{h}.{p}.{sig}"))),
                "unsupported_alg",
                "{none}"
            );
        }
    }
}

#[test]
fn unknown_and_lowercase_algorithms_are_unsupported() {
    for alg in ["rs256", "ES256K", "RSA-OAEP", "PS1", ""] {
        let h = b64::encode(json!({"alg": alg}).to_string().as_bytes());
        assert_eq!(
            reason(check(&format!("{h}.e30.AAAA"))),
            "unsupported_alg",
            "{alg}"
        );
    }
}

#[test]
fn algorithm_outside_the_allowed_list_is_rejected() {
    let mut p = policy();
    p.allowed_algs = vec![Algorithm::Rs256];
    let t = token(Algorithm::Es256, &good_claims());
    let r = verify_token(&t, &keyset(), &p, now(), &InVm);
    assert_eq!(r.unwrap_err(), JwtError::AlgNotAllowed);
}

#[test]
fn any_crit_header_is_rejected() {
    for crit in [json!(["exp"]), json!(["b64"]), json!([]), json!("x")] {
        let h = json!({"alg": "ES256", "kid": "p256", "crit": crit, "exp": 1});
        let t = token_with(Algorithm::Es256, &h, &good_claims());
        assert_eq!(reason(check(&t)), "unsupported_crit", "{crit}");
    }
}

#[test]
fn a_header_with_a_member_twice_is_malformed() {
    // Which `alg`/`kid` counts would depend on the parser: refuse the token,
    // even when it is validly signed over those bytes.
    for header in [
        r#"{"alg":"HS256","alg":"ES256","kid":"p256"}"#,
        r#"{"alg":"ES256","kid":"other","kid":"p256"}"#,
    ] {
        let input = format!(
            "{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(good_claims().to_string().as_bytes())
        );
        let sig = sign_raw(Algorithm::Es256, input.as_bytes());
        let t = format!("{input}.{}", b64::encode(&sig));
        assert_eq!(reason(check(&t)), "malformed_token", "{header}");
    }
    let t = token(Algorithm::Es256, &good_claims());
    assert!(check(&t).is_ok());
}

#[test]
fn a_validly_signed_payload_with_a_claim_twice_is_malformed() {
    // Which `sub` counts would depend on the parser (oidc-auth refuses it the same way).
    let signed = |payload: &str| {
        let header = br#"{"alg":"ES256","kid":"p256"}"#;
        let input = format!(
            "{}.{}",
            b64::encode(header),
            b64::encode(payload.as_bytes())
        );
        let sig = sign_raw(Algorithm::Es256, input.as_bytes());
        format!("{input}.{}", b64::encode(&sig))
    };
    let claims = good_claims().to_string();
    let twice = claims.replacen('{', r#"{"sub":"mallory","#, 1);
    assert_eq!(reason(check(&signed(&twice))), "malformed_token");
    assert!(check(&signed(&claims)).is_ok());
}

#[test]
fn embedded_jwk_and_key_urls_are_ignored_for_key_choice() {
    // Signed with our P-256 key, but the header offers an attacker key and URL:
    // verification still uses the key set, so the token is valid...
    let attacker = p384_key();
    let jwk = ec_jwk(
        "P-384",
        attacker.verifying_key().to_encoded_point(false).as_bytes(),
        "p256",
    );
    let h = json!({"alg": "ES256", "kid": "p256", "jwk": jwk, "jku": "https://evil.example/jwks",
                   "x5u": "https://evil.example/x", "x5c": ["MIIB"]});
    assert_eq!(
        reason(check(&token_with(Algorithm::Es256, &h, &good_claims()))),
        "ok"
    );
    // ...and a token signed by the attacker key is rejected despite its embedded jwk.
    let h = json!({"alg": "ES384", "kid": "attacker", "jwk": jwk});
    assert_eq!(
        reason(check(&token_with(Algorithm::Es384, &h, &good_claims()))),
        "unknown_kid"
    );
}

#[test]
fn rsa_public_key_cannot_be_used_as_an_hmac_secret() {
    // The classic confusion: HS256 with the RSA key's public bytes as secret.
    let rsa = rsa2048();
    let secret = rsa_jwk(&rsa, "rsa").to_string();
    let h = json!({"alg": "HS256", "kid": "rsa"});
    let input = format!(
        "{}.{}",
        b64::encode(h.to_string().as_bytes()),
        b64::encode(good_claims().to_string().as_bytes())
    );
    let tag = hmac_tag(Algorithm::Hs256, secret.as_bytes(), input.as_bytes());
    let t = format!("{input}.{}", b64::encode(&tag));
    assert_eq!(reason(check(&t)), "no_matching_key");
    // Directly, too: the key refuses any algorithm of another family.
    let key = keyset()
        .keys()
        .iter()
        .find(|k| k.kid() == Some("rsa"))
        .unwrap()
        .clone();
    for alg in [Algorithm::Hs256, Algorithm::Es256, Algorithm::EdDsa] {
        assert_eq!(
            verify_signature(alg, &key, b"x", &[0; 32]),
            Err(JwtError::NoMatchingKey)
        );
    }
}

#[test]
fn jwk_alg_pins_the_algorithm() {
    let mut jwk = rsa_jwk(&rsa2048(), "rsa");
    jwk["alg"] = json!("PS256");
    let (set, _) = KeySet::from_jwks(
        json!({"keys": [jwk]}).to_string().as_bytes(),
        JwksLimits::default(),
    )
    .unwrap();
    let rs = token(Algorithm::Rs256, &good_claims());
    let ps = token(Algorithm::Ps256, &good_claims());
    assert_eq!(
        verify_token(&rs, &set, &policy(), now(), &InVm).unwrap_err(),
        JwtError::NoMatchingKey
    );
    assert!(verify_token(&ps, &set, &policy(), now(), &InVm).is_ok());
}

#[test]
fn es_signatures_with_zero_r_or_s_are_rejected_before_any_math() {
    // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
    let t = token(Algorithm::Es256, &good_claims());
    let (input, _) = t.rsplit_once('.').unwrap();
    let mut sig = sign_raw(Algorithm::Es256, input.as_bytes());
    let zero = [0u8; 64];
    let mut zero_r = sig.clone();
    zero_r[..32].fill(0);
    sig[32..].fill(0);
    for bad in [&zero[..], &zero_r[..], &sig[..]] {
        assert_eq!(
            reason(check(&format!("{input}.{}", b64::encode(bad)))),
            "bad_signature"
        );
    }
    // DER-encoded signatures are not JWS signatures.
    let good = sign_raw(Algorithm::Es256, input.as_bytes());
    let der = ecdsa_raw_to_der(&good).unwrap();
    assert_eq!(
        reason(check(&format!("{input}.{}", b64::encode(&der)))),
        "bad_signature"
    );
}

/// A backend that records what it saw and answers a fixed verdict.
struct FixedBackend(Option<bool>, std::cell::Cell<usize>);
impl SignatureBackend for FixedBackend {
    fn verify(&self, _: Algorithm, _: &Jwk, _: &[u8], _: &[u8]) -> Option<bool> {
        self.1.set(self.1.get() + 1);
        self.0
    }
}

#[test]
fn host_backend_decides_when_it_handles_the_algorithm() {
    let t = token(Algorithm::Rs256, &good_claims());
    let (input, _) = t.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", b64::encode(&[1u8; 256]));
    let yes = FixedBackend(Some(true), 0.into());
    let no = FixedBackend(Some(false), 0.into());
    let pass = FixedBackend(None, 0.into());
    assert!(verify_token(&forged, &keyset(), &policy(), now(), &yes).is_ok());
    assert_eq!(
        verify_token(&t, &keyset(), &policy(), now(), &no).unwrap_err(),
        JwtError::BadSignature
    );
    // `None` falls back to the in-VM verifier.
    assert!(verify_token(&t, &keyset(), &policy(), now(), &pass).is_ok());
    assert_eq!(
        verify_token(&forged, &keyset(), &policy(), now(), &pass).unwrap_err(),
        JwtError::BadSignature
    );
    // Shape checks run before the backend: a wrong-length signature never reaches it.
    let short = format!("{input}.{}", b64::encode(&[1u8; 255]));
    let seen = FixedBackend(Some(true), 0.into());
    assert!(verify_token(&short, &keyset(), &policy(), now(), &seen).is_err());
    assert_eq!(seen.1.get(), 0);
}

#[test]
fn host_key_material_round_trips_through_der() {
    use p256::pkcs8::DecodePublicKey as _;
    let set = keyset();
    let key = |kid: &str| set.keys().iter().find(|k| k.kid() == Some(kid)).unwrap();
    let der = key("rsa").spki_der().unwrap();
    let parsed =
        <rsa::RsaPublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(&der).unwrap();
    assert_eq!(&parsed, rsa2048().as_ref());
    let der = key("p256").spki_der().unwrap();
    let parsed = p256::PublicKey::from_public_key_der(&der).unwrap();
    assert_eq!(parsed, p256::PublicKey::from(p256_key().verifying_key()));
    assert!(key("hs").spki_der().is_none());
    // ES raw r||s → DER parses back to the same signature.
    let raw = sign_raw(Algorithm::Es256, b"msg");
    let der = ecdsa_raw_to_der(&raw).unwrap();
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    assert_eq!(sig.to_bytes().to_vec(), raw);
    assert_eq!(Algorithm::Es384.hash().unwrap().host_name(), "sha384");
}

#[test]
fn kid_selection_reports_unknown_kid_distinctly() {
    let set = keyset();
    let cases: Vec<(Option<&str>, Algorithm, Result<usize, JwtError>)> = vec![
        (Some("p256"), Algorithm::Es256, Ok(1)),
        (Some("nope"), Algorithm::Es256, Err(JwtError::UnknownKid)),
        (Some("p256"), Algorithm::Es384, Err(JwtError::NoMatchingKey)),
        (Some("rsa"), Algorithm::Hs256, Err(JwtError::NoMatchingKey)),
        (None, Algorithm::Rs256, Ok(1)),
        (None, Algorithm::Ps512, Ok(1)),
        (None, Algorithm::EdDsa, Ok(1)),
    ];
    for (kid, alg, want) in cases {
        assert_eq!(
            set.candidates(kid, alg, 5).map(|v| v.len()),
            want,
            "{kid:?} {alg:?}"
        );
    }
    // Without a kid, at most N keys of the matching type are tried.
    let many: Vec<Jwk> = (0..5)
        .map(|i| Jwk::from_json(&ed_jwk(&format!("ed{i}"))).unwrap())
        .collect();
    let set = KeySet::from_keys(many).unwrap();
    assert_eq!(set.candidates(None, Algorithm::EdDsa, 3).unwrap().len(), 3);
    assert_eq!(
        set.candidates(None, Algorithm::Es256, 3).unwrap_err(),
        JwtError::NoMatchingKey
    );
}

/// As in Envoy's `jwt_authn`: a key without a kid (a configured HMAC secret,
/// a JWKS entry without one) is a candidate for a token naming any kid, after
/// the key with that kid and at most `max_untagged` of them.
#[test]
fn keys_without_a_kid_are_candidates_for_any_kid() {
    let untagged = |i: u8| Jwk::hmac_secret(None, Algorithm::Hs256, &[i; 32]).unwrap();
    let tagged = Jwk::hmac_secret(Some("k1".into()), Algorithm::Hs256, &[9; 32]).unwrap();
    let rsa = Jwk::from_json(&rsa_jwk(&rsa2048(), "rsa")).unwrap();
    let set = KeySet::from_keys(vec![untagged(1), untagged(2), untagged(3), tagged, rsa]).unwrap();
    let count = |kid, alg, max| set.candidates(kid, alg, max).map(|v| v.len());
    assert_eq!(
        count(Some("k1"), Algorithm::Hs256, 2),
        Ok(3),
        "k1 first, then 2 untagged"
    );
    assert_eq!(count(Some("other"), Algorithm::Hs256, 2), Ok(2));
    assert_eq!(count(Some("other"), Algorithm::Hs256, 1), Ok(1));
    assert_eq!(
        set.candidates(Some("k1"), Algorithm::Hs256, 2).unwrap()[0].kid(),
        Some("k1")
    );
    // No key of the type: an unknown kid stays unknown (the JWKS may be refetched).
    assert_eq!(
        count(Some("other"), Algorithm::Es256, 2),
        Err(JwtError::UnknownKid)
    );
    assert_eq!(
        count(Some("rsa"), Algorithm::Es256, 2),
        Err(JwtError::NoMatchingKey)
    );

    // Verification: an untagged key that verifies wins; one that does not
    // leaves an unknown kid unknown (not `bad_signature`), so that a rotated
    // key can still be fetched.
    let set = KeySet::from_keys(vec![
        Jwk::hmac_secret(None, Algorithm::Hs256, HS_SECRET).unwrap(),
        Jwk::from_json(&ed_jwk("ed")).unwrap(),
    ])
    .unwrap();
    let hs = token_with(
        Algorithm::Hs256,
        &json!({"alg": "HS256", "kid": "any"}),
        &good_claims(),
    );
    assert_eq!(
        reason(verify_token(&hs, &set, &policy(), now(), &InVm)),
        "ok"
    );
    let mut other = HS_SECRET.to_vec();
    other[0] ^= 1;
    let wrong = KeySet::from_keys(vec![
        Jwk::hmac_secret(None, Algorithm::Hs256, &other).unwrap()
    ])
    .unwrap();
    assert_eq!(
        reason(verify_token(&hs, &wrong, &policy(), now(), &InVm)),
        "unknown_kid"
    );
    // A known kid whose key does not verify stays a bad signature.
    let mut claims = good_claims();
    claims["sub"] = json!("mallory");
    let forged = token_with(
        Algorithm::EdDsa,
        &json!({"alg": "EdDSA", "kid": "ed"}),
        &good_claims(),
    );
    let (input, sig) = forged.rsplit_once('.').unwrap();
    let (head, _) = input.split_once('.').unwrap();
    let tampered = format!(
        "{head}.{}.{sig}",
        b64::encode(claims.to_string().as_bytes())
    );
    assert_eq!(
        reason(verify_token(&tampered, &set, &policy(), now(), &InVm)),
        "bad_signature"
    );
}

#[test]
fn token_without_kid_verifies_against_matching_keys() {
    let t = token_with(Algorithm::EdDsa, &json!({"alg": "EdDSA"}), &good_claims());
    assert_eq!(reason(check(&t)), "ok");
    let t = token_with(Algorithm::Es384, &json!({"alg": "ES384"}), &good_claims());
    assert_eq!(reason(check(&t)), "ok");
}

#[test]
fn jwks_entries_are_compiled_or_skipped_with_a_reason() {
    let rsa = rsa_jwk(&rsa2048(), "ok");
    let p256_point = p256_key().verifying_key().to_encoded_point(false);
    let ec = ec_jwk("P-256", p256_point.as_bytes(), "ec");
    let with = |base: &Value, k: &str, v: Value| {
        let mut x = base.clone();
        x[k] = v;
        x
    };
    let mut off_curve = ec.clone();
    let mut y = b64::decode(ec["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    off_curve["y"] = json!(b64::encode(&y));
    let cases: Vec<(Value, Option<SkipReason>)> = vec![
        (rsa.clone(), None),
        (ec.clone(), None),
        (ed_jwk("ed"), None),
        (json!("not an object"), Some(SkipReason::NotAnObject)),
        (
            with(&rsa, "kty", json!("RSA2")),
            Some(SkipReason::UnsupportedKty),
        ),
        (
            json!({"kty": "oct", "k": b64::encode(HS_SECRET)}),
            Some(SkipReason::SymmetricKeyInJwks),
        ),
        (
            with(&rsa, "use", json!("enc")),
            Some(SkipReason::NotForSignatures),
        ),
        (
            with(&rsa, "key_ops", json!(["encrypt", "decrypt"])),
            Some(SkipReason::NotForSignatures),
        ),
        (with(&rsa, "key_ops", json!(["verify"])), None),
        (
            with(&rsa, "alg", json!("RSA-OAEP")),
            Some(SkipReason::UnsupportedAlg),
        ),
        (
            with(&rsa, "alg", json!("ES256")),
            Some(SkipReason::AlgKeyMismatch),
        ),
        (
            with(&ec, "alg", json!("ES384")),
            Some(SkipReason::AlgKeyMismatch),
        ),
        (
            with(&rsa, "n", json!("not base64!")),
            Some(SkipReason::BadKeyMaterial),
        ),
        (
            with(&rsa, "e", json!(b64::encode(&[1]))),
            Some(SkipReason::BadKeyMaterial),
        ),
        (rsa_jwk(&rsa1024(), "weak"), Some(SkipReason::WeakRsaKey)),
        (
            with(&rsa, "n", json!(b64::encode(&[0xff; 513]))),
            Some(SkipReason::RsaKeyTooLarge),
        ),
        (
            with(&ec, "crv", json!("secp256k1")),
            Some(SkipReason::UnsupportedCurve),
        ),
        (
            with(&ec, "crv", json!("P-384")),
            Some(SkipReason::BadKeyMaterial),
        ),
        (off_curve, Some(SkipReason::PointNotOnCurve)),
        (
            with(&ed_jwk("x"), "crv", json!("X25519")),
            Some(SkipReason::UnsupportedCurve),
        ),
    ];
    for (jwk, want) in cases {
        let doc = json!({"keys": [jwk.clone()]}).to_string();
        let (set, skipped) = KeySet::from_jwks(doc.as_bytes(), JwksLimits::default()).unwrap();
        match want {
            None => assert_eq!((set.len(), skipped.len()), (1, 0), "{jwk}"),
            Some(reason) => {
                assert_eq!(set.len(), 0, "{jwk}");
                assert_eq!(skipped[0].reason, reason, "{jwk}");
            }
        }
    }
}

#[test]
fn duplicate_kids_are_skipped_and_other_keys_survive() {
    let doc = json!({"keys": [ed_jwk("same"), ed_jwk("same"), ed_jwk("other"), {"kty": "oct"}]});
    let (set, skipped) =
        KeySet::from_jwks(doc.to_string().as_bytes(), JwksLimits::default()).unwrap();
    assert_eq!(set.len(), 1);
    let reasons: Vec<(usize, &str)> = skipped.iter().map(|s| (s.index, s.reason.code())).collect();
    assert_eq!(
        reasons,
        vec![
            (0, "duplicate_kid"),
            (1, "duplicate_kid"),
            (3, "symmetric_key_in_jwks")
        ]
    );
}

#[test]
fn jwks_document_limits_and_shape_are_enforced() {
    let limits = JwksLimits {
        max_bytes: 100,
        max_keys: 2,
    };
    let big = format!("{{\"keys\":[],\"x\":\"{}\"}}", "a".repeat(200));
    assert_eq!(
        KeySet::from_jwks(big.as_bytes(), limits)
            .unwrap_err()
            .reason(),
        "jwks_too_large"
    );
    for bad in ["", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[", "\u{0}"] {
        assert_eq!(
            KeySet::from_jwks(bad.as_bytes(), limits)
                .unwrap_err()
                .reason(),
            "malformed_jwks",
            "{bad}"
        );
    }
    let doc = json!({"keys": [ed_jwk("a"), ed_jwk("b"), ed_jwk("c")]}).to_string();
    let (set, skipped) = KeySet::from_jwks(
        doc.as_bytes(),
        JwksLimits {
            max_bytes: 10_000,
            max_keys: 2,
        },
    )
    .unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(skipped[0].reason, SkipReason::TooManyKeys);
}

#[test]
fn hmac_secrets_must_be_at_least_the_hash_length() {
    for (alg, len, ok) in [
        (Algorithm::Hs256, 31, false),
        (Algorithm::Hs256, 32, true),
        (Algorithm::Hs384, 47, false),
        (Algorithm::Hs384, 48, true),
        (Algorithm::Hs512, 63, false),
        (Algorithm::Hs512, 64, true),
        (Algorithm::Hs256, 0, false),
        (Algorithm::Rs256, 64, false),
    ] {
        assert_eq!(
            Jwk::hmac_secret(None, alg, &vec![7; len]).is_ok(),
            ok,
            "{alg:?} {len}"
        );
    }
    let twice =
        |kid: &str| Jwk::hmac_secret(Some(kid.into()), Algorithm::Hs256, HS_SECRET).unwrap();
    assert_eq!(
        KeySet::from_keys(vec![twice("a"), twice("a")])
            .unwrap_err()
            .reason(),
        "invalid_key"
    );
    assert!(KeySet::from_keys(vec![twice("a"), twice("b")]).is_ok());
    let key = Jwk::hmac_secret(None, Algorithm::Hs256, HS_SECRET).unwrap();
    assert!(
        !format!("{key:?}").contains("0123"),
        "secret leaked into Debug"
    );
    assert!(
        !key.accepts(Algorithm::Hs512),
        "HS key is pinned to its algorithm"
    );
}

#[test]
fn claim_checks_table() {
    let base = good_claims();
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = base.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("valid", base.clone(), "ok"),
        ("expired", with("exp", json!(NOW - 61)), "token_expired"),
        ("expired within leeway", with("exp", json!(NOW - 59)), "ok"),
        (
            "expired exactly at leeway",
            with("exp", json!(NOW - 60)),
            "token_expired",
        ),
        ("fractional exp", with("exp", json!(NOW as f64 + 0.5)), "ok"),
        ("huge exp", with("exp", json!(1e300)), "ok"),
        (
            "exp as string",
            with("exp", json!((NOW + 300).to_string())),
            "bad_claim_type",
        ),
        (
            "exp as array",
            with("exp", json!([NOW + 300])),
            "bad_claim_type",
        ),
        ("exp as bool", with("exp", json!(true)), "bad_claim_type"),
        ("exp null", with("exp", Value::Null), "bad_claim_type"),
        ("negative exp", with("exp", json!(-1)), "bad_claim_type"),
        ("missing exp", without("exp"), "missing_claim"),
        (
            "nbf in future",
            with("nbf", json!(NOW + 61)),
            "token_not_yet_valid",
        ),
        ("nbf within leeway", with("nbf", json!(NOW + 59)), "ok"),
        ("nbf as string", with("nbf", json!("0")), "bad_claim_type"),
        ("huge nbf", with("nbf", json!(1e300)), "token_not_yet_valid"),
        (
            "iat in future",
            with("iat", json!(NOW + 3600)),
            "token_not_yet_valid",
        ),
        ("iat as object", with("iat", json!({})), "bad_claim_type"),
        (
            "missing nbf and iat",
            without("nbf")
                .as_object()
                .map(|_| {
                    let mut c = without("nbf");
                    c.as_object_mut().unwrap().remove("iat");
                    c
                })
                .unwrap(),
            "ok",
        ),
        (
            "wrong issuer",
            with("iss", json!("https://idp.example/")),
            "bad_issuer",
        ),
        (
            "issuer case differs",
            with("iss", json!("https://IDP.example")),
            "bad_issuer",
        ),
        ("missing issuer", without("iss"), "bad_issuer"),
        (
            "issuer as array",
            with("iss", json!(["https://idp.example"])),
            "bad_claim_type",
        ),
        ("aud string", with("aud", json!("api")), "ok"),
        (
            "aud other only",
            with("aud", json!(["other"])),
            "bad_audience",
        ),
        ("aud empty array", with("aud", json!([])), "bad_audience"),
        ("aud missing", without("aud"), "bad_audience"),
        (
            "aud with number",
            with("aud", json!(["api", 1])),
            "bad_claim_type",
        ),
        (
            "aud as object",
            with("aud", json!({"api": true})),
            "bad_claim_type",
        ),
        ("sub as number", with("sub", json!(1)), "bad_claim_type"),
    ];
    for (name, claims, want) in cases {
        assert_eq!(
            reason(check(&token(Algorithm::Es256, &claims))),
            want,
            "{name}"
        );
    }
}

#[test]
fn claims_options_exp_optional_and_max_age() {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("exp");
    let mut p = policy();
    p.claims.require_exp = false;
    let v = verify_token(&token(Algorithm::EdDsa, &c), &keyset(), &p, now(), &InVm).unwrap();
    assert_eq!(v.expires_at, None);

    let mut p = policy();
    p.claims.max_age_secs = Some(3600);
    for (iat, want) in [
        (NOW - 10, "ok"),
        (NOW - 3600 - 61, "token_too_old"),
        (NOW - 3600 - 59, "ok"),
    ] {
        let mut c = good_claims();
        c["iat"] = json!(iat);
        let r = verify_token(&token(Algorithm::EdDsa, &c), &keyset(), &p, now(), &InVm);
        assert_eq!(reason(r), want, "iat {iat}");
    }
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("iat");
    let r = verify_token(&token(Algorithm::EdDsa, &c), &keyset(), &p, now(), &InVm);
    assert_eq!(reason(r), "missing_claim");

    // How long a cache may reuse the verification: `exp`, or the end of the
    // age limit (+ skew) when that comes first; without `exp`, not at all.
    for (iat, exp, max_age, valid_until) in [
        (NOW - 10, Some(NOW + 300), Some(3600), Some(NOW + 300)),
        (
            NOW - 10,
            Some(NOW + 300),
            Some(60),
            Some(NOW - 10 + 60 + 60),
        ),
        (NOW - 10, Some(NOW + 300), None, Some(NOW + 300)),
        (NOW - 10, None, Some(60), None),
    ] {
        let mut p = policy();
        p.claims.max_age_secs = max_age;
        p.claims.require_exp = false;
        let mut c = good_claims();
        c["iat"] = json!(iat);
        match exp {
            Some(exp) => c["exp"] = json!(exp),
            None => drop(c.as_object_mut().unwrap().remove("exp")),
        }
        let v = verify_token(&token(Algorithm::EdDsa, &c), &keyset(), &p, now(), &InVm).unwrap();
        assert_eq!(
            v.valid_until, valid_until,
            "exp {exp:?} max_age {max_age:?}"
        );
    }
    // A fractional `iat`: the limit's last whole second is not part of it.
    let mut p = policy();
    p.claims.max_age_secs = Some(60);
    let mut c = good_claims();
    c["iat"] = json!(NOW as f64 - 10.5);
    let v = verify_token(&token(Algorithm::EdDsa, &c), &keyset(), &p, now(), &InVm).unwrap();
    assert_eq!(v.valid_until, Some(NOW - 11 + 60 + 60));
}

#[test]
fn payload_must_be_a_json_object() {
    for payload in [json!([1]), json!("x"), json!(1)] {
        let t = token_with(
            Algorithm::EdDsa,
            &json!({"alg": "EdDSA", "kid": "ed"}),
            &payload,
        );
        assert_eq!(reason(check(&t)), "malformed_token");
    }
}

#[test]
fn errors_never_contain_token_text() {
    let secret_marker = "SECRETMARKER";
    let mut c = good_claims();
    c["exp"] = json!(secret_marker);
    let t = token(Algorithm::Es256, &c);
    let e = check(&t).unwrap_err();
    assert!(!format!("{e} {e:?}").contains(secret_marker));
    let h = b64::encode(format!("{{\"alg\":\"{secret_marker}\"}}").as_bytes());
    let e = check(&format!("{h}.e30.AAAA")).unwrap_err();
    assert!(!format!("{e} {e:?}").contains(secret_marker));
    assert!(!format!("{e} {e:?}").contains(&h));
}

#[test]
fn garbage_tokens_never_panic() {
    let mut rng = crate::env::SeededRandom(9);
    use crate::env::Random;
    let alphabet = b"ABCxyz019-_.=+/ {}\"";
    let good = token(Algorithm::Hs256, &good_claims());
    for i in 0..2000 {
        let mut bytes: Vec<u8> = good.bytes().collect();
        let n = (rng.next_u64() % 4 + 1) as usize;
        for _ in 0..n {
            let pos = (rng.next_u64() as usize) % bytes.len();
            bytes[pos] = alphabet[(rng.next_u64() as usize) % alphabet.len()];
        }
        let t = String::from_utf8(bytes).unwrap();
        if t != good {
            assert!(check(&t).is_err(), "mutation {i} verified");
        }
    }
}

/// Per-verify cost, for comparison with PLATFORM.md. Run natively in release:
/// `cargo test -p policies --release --lib verify_timings -- --ignored --nocapture`
#[test]
#[ignore]
fn verify_timings() {
    let set = keyset();
    let p = policy();
    for alg in [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::EdDsa,
        Algorithm::Hs256,
    ] {
        let t = token(alg, &good_claims());
        let rounds = 200;
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = std::time::Instant::now();
            verify_token(&t, &set, &p, now(), &InVm).unwrap();
            samples.push(start.elapsed().as_micros());
        }
        samples.sort_unstable();
        println!(
            "{:6} median {:5} µs  p90 {:5} µs",
            alg.name(),
            samples[rounds / 2],
            samples[rounds * 9 / 10]
        );
    }
}

/// Regression: RFC 7517 §4.5 allows keys of different `kty` to share a `kid`
/// ("if they have different kty values but are considered to be equivalent
/// alternatives"). The token's `alg` fixes the key type, so nothing is
/// ambiguous, yet both keys were dropped and a correctly signed token got
/// `unknown_kid` (and each such token asked for a JWKS refetch). Keys of the
/// same type sharing a kid are still dropped.
#[test]
fn keys_of_different_types_may_share_a_kid() {
    let doc = json!({"keys": [rsa_jwk(&rsa2048(), "k1"), ed_jwk("k1")]});
    let (set, skipped) =
        KeySet::from_jwks(doc.to_string().as_bytes(), JwksLimits::default()).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(set.len(), 2);
    for alg in [Algorithm::EdDsa, Algorithm::Rs256] {
        let t = token_with(
            alg,
            &json!({"alg": alg.name(), "kid": "k1"}),
            &good_claims(),
        );
        let r = verify_token(&t, &set, &policy(), now(), &AsDeployed);
        assert_eq!(reason(r), "ok", "{}", alg.name());
    }
    // The same type twice under one kid: ambiguous, both skipped.
    let doc = json!({"keys": [ed_jwk("k1"), rsa_jwk(&rsa2048(), "k1"), ed_jwk("k1")]});
    let (set, skipped) =
        KeySet::from_jwks(doc.to_string().as_bytes(), JwksLimits::default()).unwrap();
    let dropped: Vec<(usize, &str)> = skipped.iter().map(|s| (s.index, s.reason.code())).collect();
    assert_eq!(dropped, [(0, "duplicate_kid"), (2, "duplicate_kid")]);
    assert_eq!(set.len(), 1);
    // Configured keys follow the same rule.
    let hs = Jwk::hmac_secret(Some("k1".into()), Algorithm::Hs256, HS_SECRET).unwrap();
    let ed = Jwk::from_json(&ed_jwk("k1")).unwrap();
    assert!(KeySet::from_keys(vec![hs.clone(), ed]).is_ok());
    assert!(KeySet::from_keys(vec![hs.clone(), hs]).is_err());
}
