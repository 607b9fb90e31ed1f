//! One compiled verification key (RFC 7517 JWK → checked key material).

use super::alg::{Algorithm, KeyKind};
use super::b64;
use super::der;
use super::error::JwtError;
use super::large_curve::{LargeCurve, LargeCurveKey};
use super::roca;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};
use std::fmt;

/// Smallest RSA modulus we accept (RFC 8725 §3.5, NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus we accept: bounds the verify cost of attacker-chosen JWKS.
pub const MAX_RSA_BITS: usize = 4096;

/// Checked key material. Constructed only by [`Jwk::from_json`] (public keys)
/// or [`Jwk::hmac_secret`] (a configured secret).
#[derive(Clone)]
pub enum KeyMaterial {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    /// P-384 or P-521 (ES384 / ES512), see `large_curve.rs`.
    LargeCurve(LargeCurveKey),
    Ed25519(ed25519_compact::PublicKey),
    Hmac(HmacSecret),
}

/// A symmetric secret whose `Debug` never shows the bytes.
#[derive(Clone)]
pub struct HmacSecret(Vec<u8>);

impl HmacSecret {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa(k) => write!(f, "Rsa({} bits)", k.n().bits()),
            Self::P256(_) => f.write_str("P256"),
            Self::LargeCurve(k) => write!(f, "{:?}", k.curve()),
            Self::Ed25519(_) => f.write_str("Ed25519"),
            Self::Hmac(s) => write!(f, "Hmac({s:?})"),
        }
    }
}

/// A verification key with the JWK parameters that govern its use.
#[derive(Clone, Debug)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    material: KeyMaterial,
}

/// Why a JWK was not turned into a key. Codes are short snake_case strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The entry is not a JSON object.
    NotAnObject,
    /// `kty` is missing or not RSA / EC / OKP.
    UnsupportedKty,
    /// `kty` is `oct`: symmetric keys are never taken from a JWKS.
    SymmetricKeyInJwks,
    /// `use` is `enc` or `key_ops` excludes verification.
    NotForSignatures,
    /// `alg` names an algorithm we do not verify (or is not a string).
    UnsupportedAlg,
    /// `alg` does not fit the key type or curve.
    AlgKeyMismatch,
    /// A required parameter is missing, not base64url, or the wrong length.
    BadKeyMaterial,
    /// The RSA modulus is below 2048 bits.
    WeakRsaKey,
    /// The RSA modulus is above 4096 bits.
    RsaKeyTooLarge,
    /// The RSA modulus has the ROCA (CVE-2017-15361) fingerprint.
    VulnerableRsaKey,
    /// `crv` is not P-256 / P-384 / P-521 / Ed25519.
    UnsupportedCurve,
    /// The EC point is not on the curve (or is the identity).
    PointNotOnCurve,
    /// Several usable keys of one type share this `kid`: ambiguous, all are skipped.
    DuplicateKid,
    /// The key set already holds the maximum number of keys.
    TooManyKeys,
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::NotAnObject => "not_an_object",
            Self::UnsupportedKty => "unsupported_kty",
            Self::SymmetricKeyInJwks => "symmetric_key_in_jwks",
            Self::NotForSignatures => "not_for_signatures",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::AlgKeyMismatch => "alg_key_mismatch",
            Self::BadKeyMaterial => "bad_key_material",
            Self::WeakRsaKey => "weak_rsa_key",
            Self::RsaKeyTooLarge => "rsa_key_too_large",
            Self::VulnerableRsaKey => "vulnerable_rsa_key",
            Self::UnsupportedCurve => "unsupported_curve",
            Self::PointNotOnCurve => "point_not_on_curve",
            Self::DuplicateKid => "duplicate_kid",
            Self::TooManyKeys => "too_many_keys",
        }
    }

    /// What the code means, for an operator (e.g. a configuration error).
    pub fn description(self) -> &'static str {
        match self {
            Self::NotAnObject => "the entry is not a JSON object",
            Self::UnsupportedKty => "`kty` is missing or not RSA, EC or OKP",
            Self::SymmetricKeyInJwks => {
                "`oct` keys are never taken from a JWKS (use `hmac_secret_env`)"
            }
            Self::NotForSignatures => "`use` or `key_ops` exclude verifying signatures",
            Self::UnsupportedAlg => "`alg` names an algorithm this plugin does not verify",
            Self::AlgKeyMismatch => "`alg` does not fit the key type or curve",
            Self::BadKeyMaterial => {
                "a key parameter is missing, not base64url or of the wrong length"
            }
            Self::WeakRsaKey => "the RSA modulus is shorter than 2048 bits",
            Self::RsaKeyTooLarge => "the RSA modulus is longer than 4096 bits",
            Self::VulnerableRsaKey => "the RSA modulus has the ROCA (CVE-2017-15361) fingerprint",
            Self::UnsupportedCurve => "`crv` is not P-256, P-384, P-521 or Ed25519",
            Self::PointNotOnCurve => "the point is not on the curve",
            Self::DuplicateKid => "another key of the same type has the same `kid`",
            Self::TooManyKeys => "more keys than a key set holds (32)",
        }
    }
}

impl Jwk {
    /// Compiles one public JWK from a JWKS. Private parameters (`d`, `p`, ...)
    /// are ignored; `oct` keys are always refused.
    pub fn from_json(value: &Value) -> Result<Self, SkipReason> {
        let obj = value.as_object().ok_or(SkipReason::NotAnObject)?;
        if !usable_for_verification(obj) {
            return Err(SkipReason::NotForSignatures);
        }
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(SkipReason::BadKeyMaterial),
        };
        let alg = match obj.get("alg") {
            None => None,
            // RFC 7520 §3.2 prints `ES521` for ES512; some JWKS copied it.
            Some(Value::String(s)) if s == "ES521" => Some(Algorithm::Es512),
            Some(Value::String(s)) => {
                Some(Algorithm::from_name(s).ok_or(SkipReason::UnsupportedAlg)?)
            }
            Some(_) => return Err(SkipReason::UnsupportedAlg),
        };
        let material = match obj.get("kty").and_then(Value::as_str) {
            Some("RSA") => rsa_key(obj)?,
            Some("EC") => ec_key(obj)?,
            Some("OKP") => okp_key(obj)?,
            Some("oct") => return Err(SkipReason::SymmetricKeyInJwks),
            _ => return Err(SkipReason::UnsupportedKty),
        };
        let key = Self { kid, alg, material };
        if let Some(alg) = key.alg {
            if alg.key_kind() != key.kind() {
                return Err(SkipReason::AlgKeyMismatch);
            }
        }
        Ok(key)
    }

    /// Builds an HMAC key from a configured shared secret (never from a JWKS).
    /// The secret must be at least as long as the hash output (RFC 7518 §3.2);
    /// `alg` pins the key to one HS algorithm.
    pub fn hmac_secret(
        kid: Option<String>,
        alg: Algorithm,
        secret: &[u8],
    ) -> Result<Self, JwtError> {
        let hash = match (alg.key_kind(), alg.hash()) {
            (KeyKind::Oct, Some(h)) => h,
            _ => return Err(JwtError::InvalidKey("an HMAC secret needs an HS algorithm")),
        };
        if secret.len() < hash.output_len() {
            return Err(JwtError::InvalidKey(
                "the HMAC secret is shorter than the hash output",
            ));
        }
        Ok(Self {
            kid,
            alg: Some(alg),
            material: KeyMaterial::Hmac(HmacSecret(secret.to_vec())),
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The JWK `alg`, when the key is pinned to one algorithm.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    pub fn kind(&self) -> KeyKind {
        match &self.material {
            KeyMaterial::Rsa(_) => KeyKind::Rsa,
            KeyMaterial::P256(_) => KeyKind::EcP256,
            KeyMaterial::LargeCurve(k) => match k.curve() {
                LargeCurve::P384 => KeyKind::EcP384,
                LargeCurve::P521 => KeyKind::EcP521,
            },
            KeyMaterial::Ed25519(_) => KeyKind::Ed25519,
            KeyMaterial::Hmac(_) => KeyKind::Oct,
        }
    }

    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// True when this key may verify a token signed with `alg`: the key type
    /// (and curve) must fit, and a JWK `alg` must be exactly `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        alg.key_kind() == self.kind() && self.alg.is_none_or(|a| a == alg)
    }

    /// DER SubjectPublicKeyInfo, what a host crypto API (Envoy's
    /// `verify_signature`) takes. `None` for HMAC secrets.
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        match &self.material {
            KeyMaterial::Rsa(k) => Some(der::rsa_spki(&k.n().to_bytes_be(), &k.e().to_bytes_be())),
            KeyMaterial::P256(k) => Some(der::ec_spki(
                der::OID_P256,
                k.to_encoded_point(false).as_bytes(),
            )),
            KeyMaterial::LargeCurve(k) => Some(der::ec_spki(
                match k.curve() {
                    LargeCurve::P384 => der::OID_P384,
                    LargeCurve::P521 => der::OID_P521,
                },
                k.sec1(),
            )),
            KeyMaterial::Ed25519(k) => Some(der::ed25519_spki(k.as_ref())),
            KeyMaterial::Hmac(_) => None,
        }
    }
}

/// `use: enc` keys and keys whose `key_ops` list only non-signature
/// operations are skipped. Unknown `key_ops` values are ignored (RFC 7517 §4.3).
fn usable_for_verification(obj: &Map<String, Value>) -> bool {
    if let Some(u) = obj.get("use") {
        if u.as_str() != Some("sig") {
            return false;
        }
    }
    if let Some(ops) = obj.get("key_ops") {
        let Some(ops) = ops.as_array() else {
            return false;
        };
        const KNOWN: [&str; 8] = [
            "sign",
            "verify",
            "encrypt",
            "decrypt",
            "wrapKey",
            "unwrapKey",
            "deriveKey",
            "deriveBits",
        ];
        let known: Vec<&str> = ops
            .iter()
            .filter_map(Value::as_str)
            .filter(|op| KNOWN.contains(op))
            .collect();
        if !known.is_empty() && !known.contains(&"verify") {
            return false;
        }
    }
    true
}

fn field(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SkipReason> {
    obj.get(name)
        .and_then(Value::as_str)
        .and_then(b64::decode)
        .ok_or(SkipReason::BadKeyMaterial)
}

fn rsa_key(obj: &Map<String, Value>) -> Result<KeyMaterial, SkipReason> {
    let n = field(obj, "n")?;
    let e = field(obj, "e")?;
    // RFC 7518 §6.3.1.1: minimal big-endian encoding, no leading zero octet.
    if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
        return Err(SkipReason::BadKeyMaterial);
    }
    let n = BigUint::from_bytes_be(&n);
    let bits = n.bits();
    if bits < MIN_RSA_BITS {
        return Err(SkipReason::WeakRsaKey);
    }
    if bits > MAX_RSA_BITS {
        return Err(SkipReason::RsaKeyTooLarge);
    }
    if roca::has_fingerprint(&n.to_bytes_be()) {
        return Err(SkipReason::VulnerableRsaKey);
    }
    // `new` also rejects e < 2, e > 2^33-1 and an even modulus.
    RsaPublicKey::new(n, BigUint::from_bytes_be(&e))
        .map(KeyMaterial::Rsa)
        .map_err(|_| SkipReason::BadKeyMaterial)
}

fn ec_key(obj: &Map<String, Value>) -> Result<KeyMaterial, SkipReason> {
    let curve = match obj.get("crv").and_then(Value::as_str) {
        Some("P-256") => None,
        Some("P-384") => Some(LargeCurve::P384),
        Some("P-521") => Some(LargeCurve::P521),
        _ => return Err(SkipReason::UnsupportedCurve),
    };
    let size = curve.map_or(32, LargeCurve::coordinate_len);
    let x = field(obj, "x")?;
    let y = field(obj, "y")?;
    // RFC 7518 §6.2.1.2: coordinates are exactly the field size.
    if x.len() != size || y.len() != size {
        return Err(SkipReason::BadKeyMaterial);
    }
    // Both constructors check that the point is on the curve (and not the identity).
    if let Some(curve) = curve {
        return LargeCurveKey::from_coordinates(curve, &x, &y)
            .map(KeyMaterial::LargeCurve)
            .ok_or(SkipReason::PointNotOnCurve);
    }
    let mut sec1 = Vec::with_capacity(1 + 2 * size);
    sec1.push(0x04);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
        .map(KeyMaterial::P256)
        .map_err(|_| SkipReason::PointNotOnCurve)
}

fn okp_key(obj: &Map<String, Value>) -> Result<KeyMaterial, SkipReason> {
    if obj.get("crv").and_then(Value::as_str) != Some("Ed25519") {
        return Err(SkipReason::UnsupportedCurve);
    }
    let x = field(obj, "x")?;
    ed25519_compact::PublicKey::from_slice(&x)
        .map(KeyMaterial::Ed25519)
        .map_err(|_| SkipReason::BadKeyMaterial)
}
