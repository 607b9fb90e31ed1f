//! A bounded per-VM cache keyed by a bearer secret (a token, a sealed
//! cookie), each entry valid until its own expiry and never past it.
//!
//! A lookup hashes the secret with the cache's randomly seeded SipHash and
//! confirms a hit by comparing the whole secret in constant time: neither
//! chosen collisions nor the time a comparison takes tell an attacker about
//! another client's secret. The secret is held in VM memory like the request
//! that carried it, as a [`Secret`] (never printed).

use crate::secret::Secret;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

#[derive(Debug)]
struct Entry<V> {
    value: V,
    /// Unix seconds; the entry is unusable from then on.
    expires_at: u64,
    /// The whole secret, to confirm that a hash match is this secret.
    raw: Secret,
}

#[derive(Debug)]
pub struct SecretKeyedCache<V> {
    capacity: usize,
    seed: RandomState,
    entries: HashMap<u64, Entry<V>>,
    /// Insertion order, for eviction (may hold keys already gone).
    order: VecDeque<u64>,
}

impl<V> SecretKeyedCache<V> {
    /// A cache of at most `capacity` entries; 0 caches nothing.
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

    fn key(&self, secret: &str) -> u64 {
        self.seed.hash_one(secret.as_bytes())
    }

    /// The value cached for `secret`, if it has not expired at `now_secs`.
    pub fn get(&self, secret: &str, now_secs: u64) -> Option<&V> {
        self.entries
            .get(&self.key(secret))
            // Expired, or another secret with the same hash (then the newer one wins on insert).
            .filter(|e| now_secs < e.expires_at && same_secret(e.raw.expose(), secret))
            .map(|e| &e.value)
    }

    /// Caches `value` for `secret` until `expires_at` (unix seconds); an
    /// already expired one is not cached.
    pub fn insert(&mut self, secret: &str, value: V, expires_at: u64, now_secs: u64) {
        if self.capacity == 0 || expires_at <= now_secs {
            return;
        }
        let key = self.key(secret);
        if !self.entries.contains_key(&key) {
            self.make_room(now_secs);
            self.order.push_back(key);
        }
        self.entries.insert(
            key,
            Entry {
                value,
                expires_at,
                raw: Secret::new(secret),
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
}

/// Constant-time equality: how long a comparison takes tells nothing about
/// how much of a cached secret a guess got right.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_secret_hits_only_itself_and_only_until_it_expires() {
        let mut c = SecretKeyedCache::new(4);
        c.insert("aaa.bbb.ccc", 1, 200, 100);
        assert_eq!(c.get("aaa.bbb.ccc", 199), Some(&1));
        assert!(c.get("aaa.bbb.ccd", 150).is_none());
        assert!(c.get("aaa.bbb.cc", 150).is_none());
        assert!(c.get("aaa.bbb.ccc", 200).is_none());
        // Already expired: never cached.
        c.insert("x.y.z", 2, 100, 100);
        assert!(c.get("x.y.z", 50).is_none());
    }

    #[test]
    fn a_zero_capacity_caches_nothing() {
        let mut c = SecretKeyedCache::new(0);
        c.insert("a", (), 200, 100);
        assert!(c.is_empty() && c.get("a", 150).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_and_evicts_the_oldest_first() {
        let mut c = SecretKeyedCache::new(3);
        for i in 0..1000 {
            c.insert(&format!("t{i}"), i, 10_000, 1);
            assert!(c.len() <= 3);
            assert!(c.order.len() <= 6, "order grew to {}", c.order.len());
        }
        assert!(c.get("t999", 2).is_some() && c.get("t997", 2).is_some());
        assert!(c.get("t996", 2).is_none());
        // Re-inserting the same secret neither grows the cache nor evicts another.
        c.insert("t999", 999, 10_000, 2);
        assert_eq!(c.len(), 3);
        assert!(c.get("t997", 2).is_some());
    }

    #[test]
    fn expired_entries_do_not_pile_up_in_the_eviction_order() {
        let mut c = SecretKeyedCache::new(4);
        for round in 0..100u64 {
            // The same two users' secrets expire and are cached again.
            let now = round * 10;
            for user in ["a", "b"] {
                c.insert(&format!("{user}{round}"), (), now + 5, now);
            }
        }
        assert!(c.order.len() <= 8, "order grew to {}", c.order.len());
    }

    #[test]
    fn equality_is_exact() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}
