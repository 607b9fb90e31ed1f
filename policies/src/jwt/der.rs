//! Minimal DER writer for what a host crypto API needs: SubjectPublicKeyInfo
//! of RSA / EC / Ed25519 keys, and ECDSA signatures as SEQUENCE { r, s }.

pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let used = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | used.len() as u8);
        out.extend_from_slice(used);
    }
    out.extend_from_slice(body);
    out
}

/// A non-negative INTEGER from big-endian magnitude bytes (minimal encoding).
fn uint(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let mag = be.get(skip..).unwrap_or_default();
    let mut body = Vec::with_capacity(mag.len() + 1);
    if mag.first().is_none_or(|b| *b >= 0x80) {
        body.push(0);
    }
    body.extend_from_slice(mag);
    tlv(0x02, &body)
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    seq(&[algorithm, &bit_string(key)])
}

pub fn rsa_spki(n_be: &[u8], e_be: &[u8]) -> Vec<u8> {
    let alg = seq(&[&tlv(0x06, OID_RSA_ENCRYPTION), &[0x05, 0x00]]);
    spki(&alg, &seq(&[&uint(n_be), &uint(e_be)]))
}

pub fn ec_spki(curve_oid: &[u8], sec1_uncompressed: &[u8]) -> Vec<u8> {
    let alg = seq(&[&tlv(0x06, OID_EC_PUBLIC_KEY), &tlv(0x06, curve_oid)]);
    spki(&alg, sec1_uncompressed)
}

pub fn ed25519_spki(public_key: &[u8]) -> Vec<u8> {
    spki(&seq(&[&tlv(0x06, OID_ED25519)]), public_key)
}

/// Converts a JWS ECDSA signature (raw r||s, RFC 7518 §3.4) to the DER
/// `ECDSA-Sig-Value` most crypto APIs take. `None` for an odd or empty length.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    Some(seq(&[&uint(r), &uint(s)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(uint(&[0, 0, 0x7f]), vec![0x02, 0x01, 0x7f]);
        assert_eq!(uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(uint(&[0, 0]), vec![0x02, 0x01, 0x00]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let v = tlv(0x04, &[0u8; 300]);
        assert_eq!(&v[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(v.len(), 304);
    }

    #[test]
    fn ecdsa_raw_signature_becomes_a_der_sequence() {
        let mut raw = vec![0u8; 64];
        raw[31] = 1; // r = 1
        raw[32] = 0xff; // s has its top bit set: needs a 0x00 prefix
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 0x21, 0x00]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_none());
        assert!(ecdsa_raw_to_der(&[]).is_none());
    }
}
