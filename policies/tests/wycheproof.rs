//! Runs the public Wycheproof vectors through the real verifier: JWS/JWK
//! documents through `verify_jws` / `KeySet::from_jwks`, raw signatures
//! through `verify_signature` (the function `verify_jws` calls).
//!
//! Every "valid" case must verify, every "invalid" one must fail, nothing may
//! panic. "acceptable" cases may go either way; their outcomes are printed.
//! The few "valid" cases our stricter policy rejects on purpose are listed in
//! `POLICY_REJECTS` with the reason; the list must match exactly.
//!
//! Vectors live in `shared/vectors/wycheproof`, a sibling of the repository
//! root (`WYCHEPROOF_DIR` overrides the location). Missing vectors fail.

// A test harness: a bad vector file should stop the run loudly (clippy.toml only
// relaxes these lints inside #[test] functions, not in their helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use policies::jwt::{
    b64, verify_jws, verify_signature_with, Algorithm, ClaimsPolicy, HostCapabilities,
    HostVerifier, InVm, Jwk, JwksLimits, KeySet, LargeCurveKey, SignatureBackend, TokenPolicy,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// (file, tcId, why our policy rejects this "valid" case).
const POLICY_REJECTS: &[(&str, u64, &str)] = &[
    ("json_web_signature_test.json", 346, "JWK alg PS256 pins the key; the token says PS384 (RFC 7517 §4.4, RFC 8725 §3.1)"),
    ("json_web_signature_test.json", 350, "JWK alg PS256 pins the key; the token says PS384"),
    ("json_web_signature_test.json", 372, "'?' is not base64url: strict decoding (RFC 7515 §2)"),
    ("json_web_signature_test.json", 373, "'?' is not base64url: strict decoding (RFC 7515 §2)"),
    ("json_web_key_test.json", 2, "oct keys are never taken from a JWKS (only from configured secrets)"),
    ("json_web_key_test.json", 13, "oct keys are never taken from a JWKS"),
    ("json_web_key_test.json", 14, "oct keys are never taken from a JWKS"),
    ("json_web_key_test.json", 15, "oct keys are never taken from a JWKS"),
    ("hmac_sha256_test.json", 0, "HS256 needs a key of >= 32 bytes and the full 32-byte tag (RFC 7518 §3.2); any tcId in a group with keySize < 256 or tagSize < 256"),
];

/// (file, tcId) of "invalid" cases whose token is byte-identical to a "valid"
/// case of the same group (same key) (in this copy the `=` that made them invalid is
/// gone). They cannot be both; they are checked to be identical and skipped.
const CONTRADICTORY: &[(&str, u64)] = &[
    ("json_web_signature_test.json", 367),
    ("json_web_signature_test.json", 370),
];

fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("WYCHEPROOF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/wycheproof")
        });
    assert!(
        dir.join("README.md").is_file(),
        "Wycheproof vectors not found at {} (expected shared/ beside the repository root, or set WYCHEPROOF_DIR)",
        dir.display()
    );
    dir
}

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(file))
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[derive(Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    policy_rejected: BTreeSet<u64>,
    contradictory: BTreeSet<u64>,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, file: &str, test: &Value, accepted: bool, policy_exempt: bool) {
        let id = test["tcId"].as_u64().unwrap();
        let what = format!("{file} tcId {id} ({}): {}", test["comment"], test["result"]);
        match (test["result"].as_str().unwrap(), accepted) {
            ("valid", true) => self.valid += 1,
            ("valid", false) if policy_exempt => {
                self.valid += 1;
                self.policy_rejected.insert(id);
            }
            ("valid", false) => self.failures.push(format!("{what} was rejected")),
            ("invalid", false) => self.invalid += 1,
            ("invalid", true) => self.failures.push(format!("{what} was ACCEPTED")),
            ("acceptable", true) => self.acceptable_accepted += 1,
            ("acceptable", false) => self.acceptable_rejected += 1,
            (other, _) => self
                .failures
                .push(format!("{what}: unknown result {other}")),
        }
    }

    fn finish(self, file: &str) {
        println!(
            "{file}: {} cases checked: {} valid accepted ({} of them rejected by policy), {} invalid rejected, acceptable: {} accepted / {} rejected",
            self.valid + self.invalid + self.acceptable_accepted + self.acceptable_rejected,
            self.valid,
            self.policy_rejected.len(),
            self.invalid,
            self.acceptable_accepted,
            self.acceptable_rejected
        );
        if !self.contradictory.is_empty() {
            println!(
                "{file}: skipped contradictory invalid cases {:?}",
                self.contradictory
            );
        }
        let expected: BTreeSet<u64> = CONTRADICTORY
            .iter()
            .filter(|(f, _)| *f == file)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(
            self.contradictory, expected,
            "{file}: contradictory vectors changed"
        );
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n"));
        let listed: BTreeSet<u64> = POLICY_REJECTS
            .iter()
            .filter(|(f, id, _)| *f == file && *id != 0)
            .map(|(_, id, _)| *id)
            .collect();
        if POLICY_REJECTS
            .iter()
            .all(|(f, id, _)| *f != file || *id != 0)
        {
            assert_eq!(
                self.policy_rejected, listed,
                "{file}: policy rejections changed"
            );
        }
        assert!(self.valid + self.invalid > 0, "{file}: no case ran");
    }
}

fn exempt(file: &str, id: u64) -> bool {
    POLICY_REJECTS
        .iter()
        .any(|(f, i, _)| *f == file && *i == id)
}

fn tests_of(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().unwrap()
}

/// Compiles a public JWK the way a fetched JWKS would be compiled.
fn jwks_key(jwk: &Value) -> Option<Jwk> {
    let doc = json!({"keys": [jwk]}).to_string();
    let (set, _) = KeySet::from_jwks(doc.as_bytes(), JwksLimits::default()).ok()?;
    set.keys().first().cloned()
}

#[path = "support/reference_host.rs"]
mod reference_host;

/// What a deployed module does: ECDSA on the host, unless this build also
/// verifies P-384/P-521 in the VM (then everything in the VM).
fn as_deployed() -> Box<dyn SignatureBackend> {
    if LargeCurveKey::IN_VM {
        Box::new(InVm)
    } else {
        Box::new(reference_host::ecdsa_verifier())
    }
}

/// Runs raw-signature vectors for one algorithm through `verify_signature_with`
/// (the function `verify_jws` calls) with `backend`.
fn signature_file(
    file: &str,
    alg: Algorithm,
    key_of: impl Fn(&Value) -> Option<Jwk>,
    backend: &dyn SignatureBackend,
) {
    let doc = load(file);
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().unwrap() {
        let key = key_of(group);
        if let (Some(key), Some(der)) = (&key, group["publicKeyDer"].as_str()) {
            assert_eq!(
                key.spki_der().unwrap(),
                hex(der),
                "{file}: SPKI DER differs"
            );
        }
        for test in tests_of(group) {
            let accepted = key.as_ref().is_some_and(|key| {
                let msg = hex(test["msg"].as_str().unwrap());
                let sig = hex(test["sig"].as_str().unwrap());
                verify_signature_with(backend, alg, key, &msg, &sig).is_ok()
            });
            tally.record(file, test, accepted, false);
        }
    }
    tally.finish(file);
}

/// The JWK of a group's uncompressed point (not every group has `publicKeyJwk`).
fn ec_jwk(crv: &str) -> impl Fn(&Value) -> Option<Jwk> + '_ {
    move |group| {
        let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
        let size = (point.len() - 1) / 2;
        let jwk = json!({"kty": "EC", "crv": crv,
            "x": b64::encode(&point[1..1 + size]), "y": b64::encode(&point[1 + size..])});
        Some(jwks_key(&jwk).expect("group key must compile"))
    }
}

#[test]
fn ecdsa_p256_p1363() {
    let file = "ecdsa_secp256r1_sha256_p1363_test.json";
    signature_file(file, Algorithm::Es256, ec_jwk("P-256"), &InVm);
    signature_file(
        file,
        Algorithm::Es256,
        ec_jwk("P-256"),
        &reference_host::ecdsa_verifier(),
    );
}

/// On the host path in every build; in the VM too with `in-vm-p384-p521`
/// (`make unit` runs both builds).
#[test]
fn ecdsa_p384_p1363() {
    let file = "ecdsa_secp384r1_sha384_p1363_test.json";
    signature_file(
        file,
        Algorithm::Es384,
        ec_jwk("P-384"),
        &reference_host::ecdsa_verifier(),
    );
    if LargeCurveKey::IN_VM {
        signature_file(file, Algorithm::Es384, ec_jwk("P-384"), &InVm);
    }
}

#[test]
fn ed25519() {
    signature_file(
        "ed25519_test.json",
        Algorithm::EdDsa,
        |g| Some(jwks_key(&g["publicKeyJwk"]).expect("group key must compile")),
        &InVm,
    );
}

fn rsa_jwk(group: &Value) -> Option<Jwk> {
    let strip = |h: &str| {
        let b = hex(h);
        let skip = b.iter().take_while(|x| **x == 0).count();
        b64::encode(&b[skip..])
    };
    let pk = &group["publicKey"];
    let jwk = json!({"kty": "RSA",
        "n": strip(pk["modulus"].as_str().unwrap()),
        "e": strip(pk["publicExponent"].as_str().unwrap())});
    Some(jwks_key(&jwk).expect("group key must compile"))
}

#[test]
fn rsa_pkcs1_sha256() {
    signature_file(
        "rsa_signature_2048_sha256_test.json",
        Algorithm::Rs256,
        rsa_jwk,
        &InVm,
    );
}

#[test]
fn rsa_pss_sha256() {
    signature_file(
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        Algorithm::Ps256,
        rsa_jwk,
        &InVm,
    );
}

#[test]
fn hmac_sha256() {
    let file = "hmac_sha256_test.json";
    let doc = load(file);
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().unwrap() {
        let full = group["keySize"].as_u64() >= Some(256) && group["tagSize"].as_u64() == Some(256);
        for test in tests_of(group) {
            let key = hex(test["key"].as_str().unwrap());
            let accepted = Jwk::hmac_secret(None, Algorithm::Hs256, &key).is_ok_and(|key| {
                let msg = hex(test["msg"].as_str().unwrap());
                let tag = hex(test["tag"].as_str().unwrap());
                verify_signature_with(&InVm, Algorithm::Hs256, &key, &msg, &tag).is_ok()
            });
            tally.record(file, test, accepted, !full);
        }
    }
    tally.finish(file);
}

fn policy() -> TokenPolicy {
    TokenPolicy::new(Algorithm::ALL.to_vec(), ClaimsPolicy::default())
}

/// An operator-configured secret, the only way an `oct` key gets in.
fn configured_secret(jwk: &Value) -> Option<Jwk> {
    let alg = Algorithm::from_name(jwk["alg"].as_str()?)?;
    let k = b64::decode(jwk["k"].as_str()?)?;
    Jwk::hmac_secret(jwk["kid"].as_str().map(str::to_owned), alg, &k).ok()
}

fn token_text(test: &Value) -> String {
    match &test["jws"] {
        Value::String(s) => s.clone(),
        other => other.to_string(), // JSON serialization: must be rejected
    }
}

#[test]
fn json_web_signature() {
    let file = "json_web_signature_test.json";
    let doc = load(file);
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().unwrap() {
        let valid_tokens: BTreeSet<String> = tests_of(group)
            .iter()
            .filter(|t| t["result"] == "valid")
            .map(token_text)
            .collect();
        let jwk = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        let keys = if jwk["kty"] == "oct" {
            configured_secret(jwk).map(|k| KeySet::from_keys(vec![k]).unwrap())
        } else {
            let doc = json!({"keys": [jwk]}).to_string();
            KeySet::from_jwks(doc.as_bytes(), JwksLimits::default())
                .ok()
                .map(|(s, _)| s)
        }
        .unwrap_or_default();
        for test in tests_of(group) {
            let id = test["tcId"].as_u64().unwrap();
            if test["result"] == "invalid" && valid_tokens.contains(&token_text(test)) {
                tally.contradictory.insert(id);
                continue;
            }
            let accepted = verify_jws(&token_text(test), &keys, &policy(), &*as_deployed()).is_ok();
            tally.record(file, test, accepted, exempt(file, id));
        }
    }
    tally.finish(file);
}

#[test]
fn json_web_key() {
    let file = "json_web_key_test.json";
    let doc = load(file);
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().unwrap() {
        let set = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        let entries = set["keys"].as_array().unwrap();
        // A JWKS document compiles through `from_jwks` (which refuses oct keys).
        // A set of only oct keys stands for configured secrets instead.
        let keys = if entries.iter().all(|k| k["kty"] == "oct") {
            entries
                .iter()
                .map(configured_secret)
                .collect::<Option<Vec<_>>>()
                .and_then(|keys| KeySet::from_keys(keys).ok())
        } else {
            KeySet::from_jwks(set.to_string().as_bytes(), JwksLimits::default())
                .ok()
                .map(|(s, _)| s)
        }
        .unwrap_or_default();
        // The JWKS reading of the same document never yields an oct key.
        let as_jwks = KeySet::from_jwks(set.to_string().as_bytes(), JwksLimits::default())
            .unwrap()
            .0;
        for test in tests_of(group) {
            let token = token_text(test);
            let accepted = verify_jws(&token, &keys, &policy(), &*as_deployed()).is_ok();
            let via_jwks = verify_jws(&token, &as_jwks, &policy(), &*as_deployed()).is_ok();
            let id = test["tcId"].as_u64().unwrap();
            // Cases where only a configured secret can verify: record the JWKS path too.
            if exempt(file, id) {
                assert!(accepted, "{file} tcId {id}: valid with a configured secret");
                tally.record(file, test, via_jwks, true);
            } else {
                tally.record(file, test, accepted, false);
            }
        }
    }
    tally.finish(file);
}
