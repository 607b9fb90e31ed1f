//! ES384/ES512: the point check of both builds, the host path, and what a
//! build without in-VM P-384/P-521 answers when no host verifies.

use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn p384_point(secret: u8) -> Vec<u8> {
    let key = p384::ecdsa::SigningKey::from_slice(&[secret; 48]).unwrap();
    key.verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

fn p521_point(secret: u8) -> Vec<u8> {
    let mut d = [secret; 66];
    d[0] = 0x01;
    let key = p521::ecdsa::SigningKey::from_slice(&d).unwrap();
    p521::ecdsa::VerifyingKey::from(&key)
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

fn key_of(curve: LargeCurve, point: &[u8]) -> Option<LargeCurveKey> {
    let n = curve.coordinate_len();
    LargeCurveKey::from_coordinates(curve, &point[1..1 + n], &point[1 + n..])
}

#[test]
fn points_on_the_curve_are_accepted_and_points_off_it_refused() {
    for (curve, point_of) in [
        (LargeCurve::P384, p384_point as fn(u8) -> Vec<u8>),
        (LargeCurve::P521, p521_point),
    ] {
        let n = curve.coordinate_len();
        for secret in 1..=12u8 {
            let point = point_of(secret);
            let key = key_of(curve, &point).unwrap_or_else(|| panic!("{curve:?} #{secret}"));
            assert_eq!(key.sec1(), point.as_slice());
            for byte in [1 + n, point.len() - 1] {
                let mut off = point.clone();
                off[byte] ^= 0x01;
                assert!(
                    key_of(curve, &off).is_none(),
                    "{curve:?} #{secret} byte {byte}"
                );
                // The reference crate agrees that the changed point is off the curve.
                let reference_ok = match curve {
                    LargeCurve::P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(&off).is_ok(),
                    LargeCurve::P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(&off).is_ok(),
                };
                assert!(!reference_ok);
            }
        }
        // Coordinates that are not field elements (>= p), and the all-zero "point".
        let ff = vec![0xff; n];
        let point = point_of(3);
        assert!(LargeCurveKey::from_coordinates(curve, &ff, &point[1 + n..]).is_none());
        assert!(LargeCurveKey::from_coordinates(curve, &vec![0; n], &vec![0; n]).is_none());
        // Wrong lengths.
        assert!(LargeCurveKey::from_coordinates(curve, &point[1..n], &point[1 + n..]).is_none());
    }
}

#[test]
fn an_off_curve_jwks_key_is_skipped_in_every_build() {
    let point = p384_point(5);
    let mut y = point[49..].to_vec();
    y[47] ^= 1;
    let jwk =
        json!({"kty": "EC", "crv": "P-384", "x": b64::encode(&point[1..49]), "y": b64::encode(&y)});
    assert_eq!(
        Jwk::from_json(&jwk).unwrap_err(),
        SkipReason::PointNotOnCurve
    );
}

#[test]
fn es384_and_es512_verify_on_the_host_path_and_refuse_tampering() {
    for alg in [Algorithm::Es384, Algorithm::Es512] {
        let t = token(alg, &good_claims());
        let host = reference_host::ecdsa_verifier();
        let v = verify_token(&t, &keyset(), &policy(), now(), &host);
        assert_eq!(reason(v), "ok", "{alg:?}");
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut raw = b64::decode(sig).unwrap();
        raw[7] ^= 1;
        let tampered = format!("{input}.{}", b64::encode(&raw));
        let v = verify_token(&tampered, &keyset(), &policy(), now(), &host);
        assert_eq!(reason(v), "bad_signature", "{alg:?}");
    }
}

#[test]
fn without_a_host_es384_and_es512_need_the_in_vm_build() {
    for alg in [Algorithm::Es384, Algorithm::Es512] {
        let t = token(alg, &good_claims());
        let v = verify_token(&t, &keyset(), &policy(), now(), &InVm);
        let expected = if LargeCurveKey::IN_VM {
            "ok"
        } else {
            "alg_needs_host_crypto"
        };
        assert_eq!(reason(v), expected, "{alg:?}");
    }
    // The other asymmetric algorithms never need the host.
    for alg in [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es256,
        Algorithm::EdDsa,
    ] {
        let t = token(alg, &good_claims());
        let v = verify_token(&t, &keyset(), &policy(), now(), &InVm);
        assert_eq!(reason(v), "ok", "{alg:?}");
    }
}
