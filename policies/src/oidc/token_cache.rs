//! A bounded cache of verified tokens, so a token seen again skips the
//! signature check (in-VM RSA/ECDSA costs ~1 ms) and the identity it
//! publishes is serialized once. Valid until the token's `exp`, never past
//! it, nor past the moment `max_token_age` refuses it: a hit never accepts
//! what the full check would refuse.
//!
//! Keyed like Envoy's `jwt_authn` cache, by the token itself
//! ([`SecretKeyedCache`]: a seeded hash, then a constant-time comparison of
//! the whole token). SHA-256 of the token, the key before, was most of a
//! cache hit's time in the VM (~4 µs of 4.5 natively for an 850-byte token).

use crate::jwt::VerifiedToken;
use crate::secret_keyed_cache::SecretKeyedCache;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub struct CachedToken {
    pub provider: usize,
    /// Shared, not copied, with the request that hits it (its claims map is
    /// the largest part of a verification).
    pub token: Rc<VerifiedToken>,
    /// The identity the plugin publishes for this token, serialized once.
    pub identity: Rc<[u8]>,
    /// The entry answers until then ([`VerifiedToken::valid_until`]).
    pub expires_at: u64,
    /// [`crate::jwt::KeySet::fingerprint`] of the provider's keys that verified it: a hit
    /// counts only while the provider still serves the same keys.
    pub key_set: u64,
}

#[derive(Debug)]
pub struct TokenCache(SecretKeyedCache<CachedToken>);

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self(SecretKeyedCache::new(capacity))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The cached verification of `token`, if it has not expired at `now_secs`.
    pub fn get(&self, token: &str, now_secs: u64) -> Option<&CachedToken> {
        self.0.get(token, now_secs)
    }

    /// Caches a verified token until its [`VerifiedToken::valid_until`];
    /// tokens without `exp` are never cached.
    pub fn insert(
        &mut self,
        token: &str,
        provider: usize,
        verified: Rc<VerifiedToken>,
        identity: Rc<[u8]>,
        key_set: u64,
        now_secs: u64,
    ) {
        let Some(expires_at) = verified.valid_until else {
            return;
        };
        let entry = CachedToken {
            provider,
            token: verified,
            identity,
            expires_at,
            key_set,
        };
        self.0.insert(token, entry, expires_at, now_secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::Algorithm;
    use serde_json::Map;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn verified(exp: Option<u64>) -> Rc<VerifiedToken> {
        Rc::new(VerifiedToken {
            alg: Algorithm::Hs256,
            kid: None,
            typ: None,
            claims: Map::new(),
            issuer: None,
            subject: Some("alice".into()),
            expires_at: exp,
            valid_until: exp,
        })
    }

    fn put(c: &mut TokenCache, token: &str, exp: u64, now: u64) {
        c.insert(token, 0, verified(Some(exp)), Rc::from(&b"id"[..]), 0, now);
    }

    #[test]
    fn a_token_hits_only_itself_and_only_until_exp() {
        let mut c = TokenCache::new(4);
        put(&mut c, "aaa.bbb.ccc", 200, 100);
        assert!(c.get("aaa.bbb.ccc", 199).is_some());
        assert!(c.get("aaa.bbb.ccd", 150).is_none());
        assert!(c.get("aaa.bbb.cc", 150).is_none());
        assert!(c.get("aaa.bbb.ccc", 200).is_none());
        // Already expired or without `exp`: never cached.
        put(&mut c, "x.y.z", 100, 100);
        c.insert("u.v.w", 0, verified(None), Rc::from(&b""[..]), 0, 100);
        assert!(c.get("x.y.z", 50).is_none() && c.get("u.v.w", 50).is_none());
    }
}
