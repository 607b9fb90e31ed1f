//! Signature verification for every supported algorithm, with a seam for
//! host-native crypto (Envoy's `verify_signature` foreign function).

use super::alg::{Algorithm, Hash, KeyKind};
use super::error::JwtError;
use super::key::{Jwk, KeyMaterial};
use hmac::{Hmac, Mac};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
// `ecdsa`'s re-export of the `signature` crate's `Verifier` trait.
use p256::ecdsa::signature::Verifier;

/// Crypto done outside the VM. `verify` returns `None` when the backend does
/// not handle this algorithm/key (the in-VM code then verifies), otherwise
/// whether the signature is valid. Called only after the shape checks in
/// [`verify_signature_with`], so a backend never sees e.g. an ES signature
/// of the wrong length or with r = 0.
pub trait SignatureBackend {
    fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool>;
}

/// The backend that handles nothing: everything is verified in the VM.
#[derive(Clone, Copy, Debug, Default)]
pub struct InVm;

impl SignatureBackend for InVm {
    fn verify(&self, _: Algorithm, _: &Jwk, _: &[u8], _: &[u8]) -> Option<bool> {
        None
    }
}

/// Verifies `signature` over `signing_input` in the VM.
pub fn verify_signature(
    alg: Algorithm,
    key: &Jwk,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    verify_signature_with(&InVm, alg, key, signing_input, signature)
}

/// Verifies with `backend` when it handles the case, in the VM otherwise.
/// The key must accept `alg` (type, curve and JWK `alg`): this is what stops
/// algorithm confusion such as an RSA public key used as an HMAC secret.
pub fn verify_signature_with(
    backend: &dyn SignatureBackend,
    alg: Algorithm,
    key: &Jwk,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwtError> {
    if !key.accepts(alg) {
        return Err(JwtError::NoMatchingKey);
    }
    check_shape(alg, key, signature)?;
    let ok = match backend.verify(alg, key, signing_input, signature) {
        Some(ok) => ok,
        None => verify_in_vm(alg, key.material(), signing_input, signature)?,
    };
    if ok {
        Ok(())
    } else {
        Err(JwtError::BadSignature)
    }
}

/// Length and range checks that do not need the crypto: ES signatures are
/// raw r||s of exactly twice the field size with r, s != 0 (CVE-2022-21449),
/// RSA signatures are exactly the modulus length.
fn check_shape(alg: Algorithm, key: &Jwk, signature: &[u8]) -> Result<(), JwtError> {
    let expected = match (alg.key_kind(), key.material()) {
        (KeyKind::EcP256, _) => Some(64),
        (KeyKind::EcP384, _) => Some(96),
        (KeyKind::EcP521, _) => Some(132),
        (KeyKind::Ed25519, _) => Some(64),
        (KeyKind::Rsa, KeyMaterial::Rsa(k)) => Some(k.size()),
        (KeyKind::Oct, _) => alg.hash().map(Hash::output_len),
        _ => None,
    };
    if expected.is_some_and(|n| n != signature.len()) {
        return Err(JwtError::BadSignature);
    }
    if matches!(alg, Algorithm::Es256 | Algorithm::Es384 | Algorithm::Es512) {
        let (r, s) = signature.split_at(signature.len() / 2);
        if r.iter().all(|b| *b == 0) || s.iter().all(|b| *b == 0) {
            return Err(JwtError::BadSignature);
        }
    }
    Ok(())
}

/// Err only when this build cannot verify the key in the VM (ES384/ES512
/// without the `in-vm-p384-p521` feature).
fn verify_in_vm(
    alg: Algorithm,
    key: &KeyMaterial,
    input: &[u8],
    sig: &[u8],
) -> Result<bool, JwtError> {
    Ok(match (alg, key) {
        (Algorithm::Rs256, KeyMaterial::Rsa(k)) => rsa_ok(
            k,
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(input),
            sig,
        ),
        (Algorithm::Rs384, KeyMaterial::Rsa(k)) => rsa_ok(
            k,
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(input),
            sig,
        ),
        (Algorithm::Rs512, KeyMaterial::Rsa(k)) => rsa_ok(
            k,
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(input),
            sig,
        ),
        // RFC 7518 §3.5: MGF1 with the same hash, salt length = hash length.
        (Algorithm::Ps256, KeyMaterial::Rsa(k)) => {
            rsa_ok(k, Pss::new::<Sha256>(), &Sha256::digest(input), sig)
        }
        (Algorithm::Ps384, KeyMaterial::Rsa(k)) => {
            rsa_ok(k, Pss::new::<Sha384>(), &Sha384::digest(input), sig)
        }
        (Algorithm::Ps512, KeyMaterial::Rsa(k)) => {
            rsa_ok(k, Pss::new::<Sha512>(), &Sha512::digest(input), sig)
        }
        (Algorithm::Es256, KeyMaterial::P256(k)) => {
            p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(input, &s).is_ok())
        }
        // `accepts` already matched the curve to the algorithm.
        (Algorithm::Es384 | Algorithm::Es512, KeyMaterial::LargeCurve(k)) => k
            .verify_in_vm(input, sig)
            .ok_or(JwtError::AlgNeedsHostCrypto)?,
        (Algorithm::EdDsa, KeyMaterial::Ed25519(k)) => {
            ed25519_compact::Signature::from_slice(sig).is_ok_and(|s| k.verify(input, &s).is_ok())
        }
        // `verify_slice` compares in constant time and requires the full tag length.
        (Algorithm::Hs256, KeyMaterial::Hmac(k)) => Hmac::<Sha256>::new_from_slice(k.bytes())
            .is_ok_and(|m| m.chain_update(input).verify_slice(sig).is_ok()),
        (Algorithm::Hs384, KeyMaterial::Hmac(k)) => Hmac::<Sha384>::new_from_slice(k.bytes())
            .is_ok_and(|m| m.chain_update(input).verify_slice(sig).is_ok()),
        (Algorithm::Hs512, KeyMaterial::Hmac(k)) => Hmac::<Sha512>::new_from_slice(k.bytes())
            .is_ok_and(|m| m.chain_update(input).verify_slice(sig).is_ok()),
        _ => false,
    })
}

fn rsa_ok(
    key: &RsaPublicKey,
    scheme: impl rsa::traits::SignatureScheme,
    hashed: &[u8],
    sig: &[u8],
) -> bool {
    key.verify(scheme, hashed, sig).is_ok()
}
