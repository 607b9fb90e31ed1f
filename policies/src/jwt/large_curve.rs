//! P-384 and P-521 public keys (ES384 / ES512).
//!
//! Why a build feature: in-VM ECDSA for these two curves (the `p384` and
//! `p521` crates) is about 150 KB of the oidc-auth module, a fifth of it,
//! for algorithms that every Envoy with wasm verifies natively through its
//! `verify_signature` foreign function. So the default build verifies
//! ES384/ES512 only on the host (see `host_verify.rs`), and builds with the
//! `in-vm-p384-p521` feature also verify them in the VM, for hosts without
//! that function. Both builds check the point when the JWKS is read, so a
//! key is accepted or skipped alike.

use rsa::BigUint;

/// The two curves this type covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LargeCurve {
    P384,
    P521,
}

impl LargeCurve {
    /// Coordinate length in bytes (RFC 7518 §6.2.1.2).
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

/// A public key on P-384 or P-521 whose point was checked to be on the curve.
#[derive(Clone)]
pub struct LargeCurveKey {
    curve: LargeCurve,
    /// Uncompressed SEC1 point `04 || x || y`, what the host's SPKI carries.
    sec1: Vec<u8>,
    #[cfg(feature = "in-vm-p384-p521")]
    vm: VmKey,
}

#[cfg(feature = "in-vm-p384-p521")]
#[derive(Clone)]
enum VmKey {
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

impl LargeCurveKey {
    /// Builds the key from its JWK coordinates (each exactly the coordinate
    /// length). None when the point is not on the curve.
    pub fn from_coordinates(curve: LargeCurve, x: &[u8], y: &[u8]) -> Option<Self> {
        let len = curve.coordinate_len();
        if x.len() != len || y.len() != len || !on_curve(curve, x, y) {
            return None;
        }
        let mut sec1 = Vec::with_capacity(1 + 2 * len);
        sec1.push(0x04);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        #[cfg(feature = "in-vm-p384-p521")]
        let vm = match curve {
            LargeCurve::P384 => {
                VmKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok()?)
            }
            LargeCurve::P521 => {
                VmKey::P521(p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).ok()?)
            }
        };
        Some(Self {
            curve,
            sec1,
            #[cfg(feature = "in-vm-p384-p521")]
            vm,
        })
    }

    pub fn curve(&self) -> LargeCurve {
        self.curve
    }

    /// The uncompressed SEC1 point.
    pub fn sec1(&self) -> &[u8] {
        &self.sec1
    }

    /// Verifies a raw `r || s` signature over `input` in the VM. None when
    /// this build has no in-VM P-384/P-521 (the host must verify).
    #[cfg(feature = "in-vm-p384-p521")]
    pub fn verify_in_vm(&self, input: &[u8], signature: &[u8]) -> Option<bool> {
        use p256::ecdsa::signature::Verifier;
        Some(match &self.vm {
            VmKey::P384(k) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify(input, &s).is_ok()),
            VmKey::P521(k) => p521::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify(input, &s).is_ok()),
        })
    }

    /// Verifies a raw `r || s` signature over `input` in the VM. None when
    /// this build has no in-VM P-384/P-521 (the host must verify).
    #[cfg(not(feature = "in-vm-p384-p521"))]
    pub fn verify_in_vm(&self, _input: &[u8], _signature: &[u8]) -> Option<bool> {
        None
    }

    /// Whether this build can verify these keys without the host.
    pub const IN_VM: bool = cfg!(feature = "in-vm-p384-p521");
}

/// `x, y < p` and `y² = x³ − 3x + b (mod p)`, the check `from_sec1_bytes`
/// does, with the bignum the RSA code already links (a few multiplications
/// per JWKS key). Written as `y² + 3x ≡ x³ + b` so nothing is subtracted.
/// The identity has no affine encoding, so it cannot pass.
fn on_curve(curve: LargeCurve, x: &[u8], y: &[u8]) -> bool {
    let (p_hex, b_hex): (&[u8], &[u8]) = match curve {
        LargeCurve::P384 => (P384_P, P384_B),
        LargeCurve::P521 => (P521_P, P521_B),
    };
    let (Some(p), Some(b)) = (
        BigUint::parse_bytes(p_hex, 16),
        BigUint::parse_bytes(b_hex, 16),
    ) else {
        return false;
    };
    let x = BigUint::from_bytes_be(x);
    let y = BigUint::from_bytes_be(y);
    if x >= p || y >= p {
        return false;
    }
    let lhs = (&y * &y + &x * 3u32) % &p;
    let rhs = (&x * &x % &p * &x + &b) % &p;
    lhs == rhs
}

// Domain parameters from SEC 2 v2 / FIPS 186-4 (a = -3 on both curves).
const P384_P: &[u8] = b"fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
const P384_B: &[u8] = b"b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef";
const P521_P: &[u8] = b"1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const P521_B: &[u8] = b"51953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00";
