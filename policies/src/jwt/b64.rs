//! Strict base64url (RFC 7515 §2): no padding, no whitespace, canonical trailing bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Decodes unpadded base64url. `=` padding, characters outside the URL-safe
/// alphabet and non-zero unused trailing bits are all rejected.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

/// Encodes unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_whitespace_and_foreign_alphabets_are_rejected() {
        assert_eq!(decode("Zm9v").unwrap(), b"foo");
        assert_eq!(decode("-_8").unwrap(), vec![0xfb, 0xff]);
        for bad in ["Zm8=", "Zm9v ", " Zm9v", "Zm+v", "Zm/v", "Zm9v?", "AB", "Z"] {
            assert!(decode(bad).is_none(), "{bad}");
        }
    }
}
