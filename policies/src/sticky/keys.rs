//! Cookie keys: the current one seals, every listed one opens. Each 32-byte
//! master key is split into independent subkeys (AEAD, subject binding) so
//! one key is never used for two algorithms.

use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

/// Length of a master key, decoded from its environment variable.
pub const KEY_LEN: usize = 32;

/// One cookie key. `Debug` shows the id only.
pub(crate) struct CookieKey {
    pub(crate) id: String,
    /// Zeroizes its key on drop (chacha20poly1305 implements `ZeroizeOnDrop`).
    pub(crate) aead: ChaCha20Poly1305,
    /// HMAC key for the subject hash stored in the cookie.
    pub(crate) subject_key: Zeroizing<[u8; 32]>,
}

impl CookieKey {
    pub(crate) fn new(id: String, master: &[u8; KEY_LEN]) -> Self {
        let aead_key = Zeroizing::new(hmac_sha256(master, &[b"sticky/v1/aead"]));
        Self {
            id,
            aead: ChaCha20Poly1305::new(&Key::from(*aead_key)),
            subject_key: Zeroizing::new(hmac_sha256(master, &[b"sticky/v1/subject"])),
        }
    }

    /// The 16-byte subject binding stored in cookies sealed with this key.
    pub(crate) fn subject_hash(&self, subject: &str) -> [u8; 16] {
        truncate16(hmac_sha256(
            self.subject_key.as_ref(),
            &[subject.as_bytes()],
        ))
    }
}

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CookieKey({}, [redacted])", self.id)
    }
}

/// Which configured key sealed a cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeySlot {
    Current,
    /// `previous[i]`: still opens, no longer seals (rotation).
    Previous(usize),
}

/// The configured keys: `current` seals new cookies, `previous` still open.
pub(crate) struct KeyRing {
    pub(crate) current: CookieKey,
    pub(crate) previous: Vec<CookieKey>,
    /// HMAC key for the ring-hash header, derived from the current key.
    hash_key: Zeroizing<[u8; 32]>,
}

impl KeyRing {
    pub(crate) fn new(current: (String, &[u8; KEY_LEN]), previous: Vec<CookieKey>) -> Self {
        let (id, master) = current;
        Self {
            hash_key: Zeroizing::new(hmac_sha256(master, &[b"sticky/v1/hash-key"])),
            current: CookieKey::new(id, master),
            previous,
        }
    }

    /// The key with this id and its slot.
    pub(crate) fn find(&self, id: &str) -> Option<(&CookieKey, KeySlot)> {
        if self.current.id == id {
            return Some((&self.current, KeySlot::Current));
        }
        self.previous
            .iter()
            .enumerate()
            .find(|(_, k)| k.id == id)
            .map(|(i, k)| (k, KeySlot::Previous(i)))
    }

    /// The key in `slot` (slots come from [`KeyRing::find`] on this ring).
    pub(crate) fn get(&self, slot: KeySlot) -> Option<&CookieKey> {
        match slot {
            KeySlot::Current => Some(&self.current),
            KeySlot::Previous(i) => self.previous.get(i),
        }
    }

    /// A stable, non-reversible hash of `value` for Envoy's ring-hash policy.
    /// `domain` separates subjects from session ids that happen to be equal.
    pub(crate) fn hash_key_value(&self, domain: &[u8], value: &str) -> [u8; 16] {
        truncate16(hmac_sha256(
            self.hash_key.as_ref(),
            &[domain, b"\0", value.as_bytes()],
        ))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

fn truncate16(full: [u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.iter_mut().zip(full.iter()).for_each(|(o, f)| *o = *f);
    out
}

/// HMAC-SHA-256 (RFC 2104) over the concatenation of `parts`. Written out
/// because it is 15 lines on top of `sha2` and, unlike the `hmac` crate's
/// `new_from_slice`, cannot fail: a key longer than the block is hashed first.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = Zeroizing::new([0u8; BLOCK]);
    if key.len() > BLOCK {
        let digest = Sha256::digest(key);
        block
            .iter_mut()
            .zip(digest.iter())
            .for_each(|(b, k)| *b = *k);
    } else {
        block.iter_mut().zip(key.iter()).for_each(|(b, k)| *b = *k);
    }
    let mut inner = Sha256::new();
    let mut pad = Zeroizing::new([0u8; BLOCK]);
    pad.iter_mut()
        .zip(block.iter())
        .for_each(|(p, b)| *p = b ^ 0x36);
    inner.update(pad.as_ref());
    for part in parts {
        inner.update(part);
    }
    let inner_digest = inner.finalize();
    let mut outer = Sha256::new();
    pad.iter_mut()
        .zip(block.iter())
        .for_each(|(p, b)| *p = b ^ 0x5c);
    outer.update(pad.as_ref());
    outer.update(inner_digest);
    outer.finalize().into()
}

/// Compares two byte strings without an early exit.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc4231_vectors() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            // Case 6: a 131-byte key is hashed first.
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, want) in cases {
            assert_eq!(hex(&hmac_sha256(key, &[data])), want);
            // Splitting the message into parts changes nothing.
            let (a, b) = data.split_at(3);
            assert_eq!(hex(&hmac_sha256(key, &[a, b])), want);
        }
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = CookieKey::new("k1".into(), &[7u8; 32]);
        assert_eq!(format!("{key:?}"), "CookieKey(k1, [redacted])");
    }

    #[test]
    fn subkeys_differ_per_purpose_and_per_master() {
        let a = CookieKey::new("a".into(), &[1u8; 32]);
        let b = CookieKey::new("b".into(), &[2u8; 32]);
        assert_ne!(a.subject_hash("alice"), b.subject_hash("alice"));
        assert_ne!(a.subject_hash("alice"), a.subject_hash("bob"));
        let ring = KeyRing::new(("a".into(), &[1u8; 32]), vec![]);
        assert_ne!(
            ring.hash_key_value(b"subject", "alice"),
            ring.hash_key_value(b"session", "alice")
        );
        assert_ne!(
            ring.hash_key_value(b"subject", "alice"),
            a.subject_hash("alice")
        );
    }

    #[test]
    fn ct_eq_compares_whole_strings() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
