//! A stand-in for Envoy's `verify_signature` foreign function (native
//! BoringSSL) in tests, for ECDSA: it decodes the protobuf arguments, the DER
//! SubjectPublicKeyInfo and the DER signature the way the host does, and
//! verifies with the RustCrypto crates. Any encoding mistake on our side
//! (SPKI, curve OID, raw-to-DER signature) makes it answer "invalid".
//!
//! Shared by the unit tests (`jwt::tests`) and `tests/wycheproof.rs`. It shares
//! no code with `host_verify.rs` (not even the varint reader) on purpose: a
//! reference that reused the encoder's helpers could agree with its bugs.

use p256::pkcs8::DecodePublicKey;
use p384::ecdsa::signature::Verifier;

/// The backend a module gets from a host whose ECDSA passed every self-test:
/// ES256/384/512 verified here, everything else left to the VM. (`super` is
/// `jwt` in the unit tests and the test crate root in `tests/wycheproof.rs`.)
pub fn ecdsa_verifier() -> super::HostVerifier<'static> {
    super::HostVerifier {
        call: &call,
        caps: super::HostCapabilities {
            rsa_pkcs1: false,
            ecdsa: true,
            ecdsa_large: true,
        },
    }
}

/// The host function: `VerifySignatureArguments` in, `VerifySignatureResult` out.
pub fn call(args: &[u8]) -> Option<Vec<u8>> {
    let [hash, spki, signature, text] = fields(args)?;
    let ok = match hash.as_slice() {
        b"sha256" => verify_p256(&spki, &signature, &text),
        b"sha384" => verify_p384(&spki, &signature, &text),
        b"sha512" => verify_p521(&spki, &signature, &text),
        _ => None,
    }?;
    Some(vec![0x08, u8::from(ok)])
}

fn verify_p256(spki: &[u8], signature: &[u8], text: &[u8]) -> Option<bool> {
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki).ok()?;
    let sig = p256::ecdsa::Signature::from_der(signature).ok()?;
    Some(key.verify(text, &sig).is_ok())
}

fn verify_p384(spki: &[u8], signature: &[u8], text: &[u8]) -> Option<bool> {
    let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki).ok()?;
    let sig = p384::ecdsa::Signature::from_der(signature).ok()?;
    Some(key.verify(text, &sig).is_ok())
}

fn verify_p521(spki: &[u8], signature: &[u8], text: &[u8]) -> Option<bool> {
    let public = p521::PublicKey::from_public_key_der(spki).ok()?;
    let key = p521::ecdsa::VerifyingKey::from_affine(*public.as_affine()).ok()?;
    let sig = p521::ecdsa::Signature::from_der(signature).ok()?;
    Some(key.verify(text, &sig).is_ok())
}

/// Fields 1..=4 of the arguments message (all length-delimited).
fn fields(args: &[u8]) -> Option<[Vec<u8>; 4]> {
    let mut out: [Vec<u8>; 4] = Default::default();
    let mut pos = 0;
    while pos < args.len() {
        let tag = varint(args, &mut pos)?;
        let len = usize::try_from(varint(args, &mut pos)?).ok()?;
        let end = pos.checked_add(len).filter(|end| *end <= args.len())?;
        let index = usize::try_from(tag >> 3).ok()?.checked_sub(1)?;
        *out.get_mut(index)? = args.get(pos..end)?.to_vec();
        pos = end;
    }
    Some(out)
}

fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}
