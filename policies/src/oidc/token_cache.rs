//! A bounded cache of verified tokens, so a token seen again skips the
//! signature check (in-VM RSA/ECDSA costs ~1 ms) and the identity it
//! publishes is serialized once. Valid until the token's `exp`, never past it.
//!
//! Keyed like Envoy's `jwt_authn` cache, by the token itself: a lookup
//! hashes it with the cache's randomly seeded SipHash and confirms a hit by
//! comparing the whole token in constant time. SHA-256 of the token, the
//! key before, was most of a cache hit's time in the VM (~4 µs of 4.5 natively
//! for an 850-byte token). The token is held in VM memory like the request
//! that carried it, as a [`Secret`] (never printed).

use crate::jwt::VerifiedToken;
use crate::secret::Secret;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub struct CachedToken {
    pub provider: usize,
    /// Shared, not copied, with the request that hits it (its claims map is
    /// the largest part of a verification).
    pub token: Rc<VerifiedToken>,
    /// The identity the plugin publishes for this token, serialized once.
    pub identity: Rc<[u8]>,
    pub expires_at: u64,
    /// The whole token, to confirm that a hash match is this token.
    raw: Secret,
}

#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    seed: RandomState,
    entries: HashMap<u64, CachedToken>,
    /// Insertion order, for eviction (may hold keys already gone).
    order: VecDeque<u64>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seed: RandomState::new(),
            entries: HashMap::with_capacity(capacity.min(4096)),
            order: VecDeque::with_capacity(capacity.min(4096)),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn key(&self, token: &str) -> u64 {
        self.seed.hash_one(token.as_bytes())
    }

    /// The cached verification of `token`, if it has not expired at `now_secs`.
    pub fn get(&mut self, token: &str, now_secs: u64) -> Option<&CachedToken> {
        let key = self.key(token);
        let usable = self
            .entries
            .get(&key)
            .map(|e| same_token(e.raw.expose(), token) && now_secs < e.expires_at)?;
        if !usable {
            // Expired, or another token with the same hash (then the newer one wins on insert).
            return None;
        }
        self.entries.get(&key)
    }

    /// Caches a verified token; tokens without `exp` are never cached.
    pub fn insert(
        &mut self,
        token: &str,
        provider: usize,
        verified: Rc<VerifiedToken>,
        identity: Rc<[u8]>,
        now_secs: u64,
    ) {
        let Some(expires_at) = verified.expires_at else {
            return;
        };
        if self.capacity == 0 || expires_at <= now_secs {
            return;
        }
        let key = self.key(token);
        if !self.entries.contains_key(&key) {
            self.make_room(now_secs);
            self.order.push_back(key);
        }
        self.entries.insert(
            key,
            CachedToken {
                provider,
                token: verified,
                identity,
                expires_at,
                raw: Secret::new(token.to_string()),
            },
        );
    }

    /// Evicts the oldest entries until one more fits. Amortized O(1) per
    /// insert: no sweep of the whole cache on the request path.
    fn make_room(&mut self, now_secs: u64) {
        while self.entries.len() >= self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&old);
        }
        // Keys of entries replaced or expired stay in `order`; compact it
        // before it outgrows the cache (rarely: at most once per `capacity` inserts).
        if self.order.len() >= self.capacity.saturating_mul(2) {
            self.entries.retain(|_, e| e.expires_at > now_secs);
            let entries = &self.entries;
            self.order.retain(|k| entries.contains_key(k));
        }
    }

    /// Forgets everything (e.g. after a provider's keys were replaced).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

/// Constant-time equality: how long a comparison takes tells nothing about
/// how much of a cached token a guess got right.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
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
        })
    }

    fn put(c: &mut TokenCache, token: &str, exp: u64, now: u64) {
        c.insert(token, 0, verified(Some(exp)), Rc::from(&b"id"[..]), now);
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
        c.insert("u.v.w", 0, verified(None), Rc::from(&b""[..]), 100);
        assert!(c.get("x.y.z", 50).is_none() && c.get("u.v.w", 50).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_and_evicts_the_oldest_first() {
        let mut c = TokenCache::new(3);
        for i in 0..1000 {
            put(&mut c, &format!("t{i}"), 10_000, 1);
            assert!(c.len() <= 3);
            assert!(c.order.len() <= 6, "order grew to {}", c.order.len());
        }
        assert!(c.get("t999", 2).is_some() && c.get("t997", 2).is_some());
        assert!(c.get("t996", 2).is_none());
        // Re-inserting the same token neither grows the cache nor evicts another.
        put(&mut c, "t999", 10_000, 2);
        assert_eq!(c.len(), 3);
        assert!(c.get("t997", 2).is_some());
    }

    #[test]
    fn expired_entries_do_not_pile_up_in_the_eviction_order() {
        let mut c = TokenCache::new(4);
        for round in 0..100u64 {
            // The same two users' tokens expire and are verified again.
            let now = round * 10;
            for user in ["a", "b"] {
                let token = format!("{user}{round}");
                put(&mut c, &token, now + 5, now);
            }
        }
        assert!(c.order.len() <= 8, "order grew to {}", c.order.len());
    }

    #[test]
    fn equality_is_exact() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", "a"));
    }
}
