//! Signature checks offloaded to the proxy (Envoy's `verify_signature`
//! foreign function, native BoringSSL: ~20x faster than RSA/ECDSA in the VM).
//!
//! Pure: the host call arrives as a closure. Envoy's function takes a
//! `VerifySignatureArguments` protobuf {1 hash_function, 2 public_key (DER
//! SubjectPublicKeyInfo), 3 signature, 4 text} and answers a
//! `VerifySignatureResult` {1 result, 2 error}. Only RSA PKCS#1 v1.5 and
//! ECDSA are offloaded (PS*, EdDSA and HS* stay in the VM), and each family
//! only after a start-up self-test proves the host gets a known answer right.
//! P-384/P-521 have their own self-test: in a default build the host is the
//! only verifier of ES384/ES512 (`large_curve.rs`).

use super::alg::{Algorithm, KeyKind};
use super::der::ecdsa_raw_to_der;
use super::key::Jwk;
use super::signature::SignatureBackend;

/// Calls the host function with encoded arguments; None when the call failed.
pub type HostCall<'a> = &'a dyn Fn(&[u8]) -> Option<Vec<u8>>;

/// What the self-test found the host can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCapabilities {
    pub rsa_pkcs1: bool,
    /// ECDSA on P-256 (ES256).
    pub ecdsa: bool,
    /// ECDSA on P-384 and P-521 (ES384, ES512).
    pub ecdsa_large: bool,
}

impl HostCapabilities {
    /// Runs known-good and known-bad vectors through the host. A family is
    /// enabled only when the good one verifies and the bad one does not.
    pub fn probe(call: HostCall<'_>) -> Self {
        let msg: &[u8] = include_bytes!("selftest/msg");
        let check = |hash: &str, key: &[u8], sig: &[u8]| {
            let mut bad = msg.to_vec();
            bad.push(b'!');
            verify_on_host(call, hash, key, sig, msg) == Some(true)
                && verify_on_host(call, hash, key, sig, &bad) == Some(false)
        };
        Self {
            rsa_pkcs1: check(
                "sha256",
                include_bytes!("selftest/rsa.der"),
                include_bytes!("selftest/rsa.sig"),
            ),
            ecdsa: check(
                "sha256",
                include_bytes!("selftest/ec.der"),
                include_bytes!("selftest/ec.sig"),
            ),
            ecdsa_large: check(
                "sha384",
                include_bytes!("selftest/ec384.der"),
                include_bytes!("selftest/ec384.sig"),
            ) && check(
                "sha512",
                include_bytes!("selftest/ec521.der"),
                include_bytes!("selftest/ec521.sig"),
            ),
        }
    }

    pub fn any(&self) -> bool {
        self.rsa_pkcs1 || self.ecdsa || self.ecdsa_large
    }

    /// The `oidc_auth.host_signature_verification` gauge: a bit per family
    /// (1 RSA, 2 ECDSA P-256, 4 ECDSA P-384/P-521; 7 all, 0 none).
    pub fn gauge(&self) -> u64 {
        u64::from(self.rsa_pkcs1) | u64::from(self.ecdsa) << 1 | u64::from(self.ecdsa_large) << 2
    }
}

/// The backend the filter installs when the self-test passed.
pub struct HostVerifier<'a> {
    pub call: HostCall<'a>,
    pub caps: HostCapabilities,
}

impl SignatureBackend for HostVerifier<'_> {
    fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Option<bool> {
        let hash = alg.hash()?.host_name();
        let signature = match (alg, key.kind()) {
            (Algorithm::Rs256 | Algorithm::Rs384 | Algorithm::Rs512, KeyKind::Rsa)
                if self.caps.rsa_pkcs1 =>
            {
                signature.to_vec()
            }
            (Algorithm::Es256, KeyKind::EcP256) if self.caps.ecdsa => ecdsa_raw_to_der(signature)?,
            (Algorithm::Es384, KeyKind::EcP384) | (Algorithm::Es512, KeyKind::EcP521)
                if self.caps.ecdsa_large =>
            {
                ecdsa_raw_to_der(signature)?
            }
            _ => return None,
        };
        let spki = key.spki_der()?;
        // A failed call (None) falls back to the in-VM check, never to "valid".
        verify_on_host(self.call, hash, &spki, &signature, signing_input)
    }
}

fn verify_on_host(
    call: HostCall<'_>,
    hash: &str,
    spki: &[u8],
    signature: &[u8],
    text: &[u8],
) -> Option<bool> {
    let answer = call(&encode_args(hash, spki, signature, text))?;
    decode_result(&answer)
}

/// Protobuf encoding of `VerifySignatureArguments` (length-delimited fields only).
pub fn encode_args(hash: &str, spki: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hash.len() + spki.len() + signature.len() + text.len() + 16);
    for (field, bytes) in [(1u8, hash.as_bytes()), (2, spki), (3, signature), (4, text)] {
        out.push((field << 3) | 2);
        put_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
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

/// Decodes `VerifySignatureResult`; `result` absent means false (proto3 default).
/// None for bytes that are not a well-formed message.
pub fn decode_result(bytes: &[u8]) -> Option<bool> {
    let mut pos = 0;
    let mut result = false;
    while pos < bytes.len() {
        let tag = get_varint(bytes, &mut pos)?;
        match (tag >> 3, tag & 7) {
            (1, 0) => result = get_varint(bytes, &mut pos)? != 0,
            (_, 0) => {
                get_varint(bytes, &mut pos)?;
            }
            (_, 2) => {
                let len = usize::try_from(get_varint(bytes, &mut pos)?).ok()?;
                pos = pos.checked_add(len).filter(|end| *end <= bytes.len())?;
            }
            _ => return None,
        }
    }
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::reference_host;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn arguments_encode_as_length_delimited_fields() {
        let enc = encode_args("sha256", &[1, 2], &[3], b"hi");
        assert_eq!(
            enc,
            vec![
                0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6', 0x12, 2, 1, 2, 0x1a, 1, 3, 0x22, 2,
                b'h', b'i'
            ]
        );
        let long = encode_args("sha256", &[0u8; 300], &[], &[]);
        assert_eq!(
            &long[8..11],
            &[0x12, 0xac, 0x02],
            "300 as a two-byte varint"
        );
    }

    #[test]
    fn results_decode_strictly() {
        assert_eq!(decode_result(&[0x08, 0x01]), Some(true));
        assert_eq!(
            decode_result(&[0x08, 0x00, 0x12, 0x03, b'b', b'a', b'd']),
            Some(false)
        );
        assert_eq!(decode_result(&[]), Some(false));
        assert_eq!(
            decode_result(&[0x12, 0x09, b'x']),
            None,
            "length beyond the end"
        );
        assert_eq!(decode_result(&[0x08]), None);
        assert_eq!(
            decode_result(&[0x0d, 0, 0, 0, 0]),
            None,
            "fixed32 is not expected"
        );
    }

    #[test]
    fn probe_enables_only_families_the_host_gets_right() {
        // A host that says "valid" to everything must not be trusted.
        let yes = |_: &[u8]| Some(vec![0x08, 0x01]);
        assert_eq!(HostCapabilities::probe(&yes), HostCapabilities::default());
        let broken = |_: &[u8]| None;
        assert!(!HostCapabilities::probe(&broken).any());
        // A host that really verifies (here: the RSA crate and the reference host) passes.
        let real = |args: &[u8]| {
            let (key, sig, text) = parse_args(args)?;
            if key.len() > 200 {
                Some(vec![0x08, u8::from(rsa_verify(&key, &sig, &text))])
            } else {
                reference_host::call(args)
            }
        };
        let all = HostCapabilities {
            rsa_pkcs1: true,
            ecdsa: true,
            ecdsa_large: true,
        };
        assert_eq!(HostCapabilities::probe(&real), all);
        assert_eq!(all.gauge(), 7);
        // A host that verifies P-256 but says "valid" to any P-384/P-521 signature: ES384/ES512
        // are not offloaded (and a default build then refuses them).
        let p256_only = |args: &[u8]| {
            let (key, _, _) = parse_args(args)?;
            if key.len() > 100 && key.len() < 200 {
                Some(vec![0x08, 0x01])
            } else {
                real(args)
            }
        };
        let caps = HostCapabilities::probe(&p256_only);
        assert!(caps.rsa_pkcs1 && caps.ecdsa && !caps.ecdsa_large);
        assert_eq!(caps.gauge(), 3);
    }

    fn parse_args(args: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let mut pos = 0;
        let mut fields: Vec<Vec<u8>> = vec![Vec::new(); 5];
        while pos < args.len() {
            let tag = get_varint(args, &mut pos)?;
            let len = get_varint(args, &mut pos)? as usize;
            fields[(tag >> 3) as usize] = args[pos..pos + len].to_vec();
            pos += len;
        }
        Some((fields[2].clone(), fields[3].clone(), fields[4].clone()))
    }

    fn rsa_verify(spki: &[u8], sig: &[u8], text: &[u8]) -> bool {
        use rsa::pkcs8::DecodePublicKey;
        use sha2::Digest;
        let key = rsa::RsaPublicKey::from_public_key_der(spki).unwrap();
        key.verify(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(text),
            sig,
        )
        .is_ok()
    }
}
