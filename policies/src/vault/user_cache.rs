//! Per-user Vault tokens (login with the request's verified JWT), cached per
//! subject until shortly before the Vault token expires. Bounded: when full,
//! expired entries go first, then the one expiring soonest.

use super::response::AuthInfo;
use crate::env::Now;
use crate::secret::Secret;
use crate::vec_map::VecMap;

/// A token is dropped this long before Vault would expire it, so a request
/// never leaves with a token that dies in flight.
const EXPIRY_MARGIN_MS: u64 = 5_000;

#[derive(Clone, Debug)]
struct Entry {
    token: Secret,
    expires_at: Now,
}

/// Bounded subject → Vault token cache. `Debug` shows subjects, not tokens.
#[derive(Clone, Debug)]
pub struct UserTokenCache {
    capacity: usize,
    entries: VecMap<String, Entry>,
}

impl UserTokenCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: VecMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached token for `subject`, if still valid at `now`.
    pub fn get(&self, subject: &str, now: Now) -> Option<&Secret> {
        self.entries
            .get(subject)
            .filter(|e| now < e.expires_at)
            .map(|e| &e.token)
    }

    /// Caches a login answer for `subject`. `started` is when the login was
    /// sent. Tokens without a TTL, or too short to be useful, are not cached.
    pub fn insert(&mut self, subject: &str, auth: &AuthInfo, started: Now, now: Now) {
        self.insert_until(subject, auth, started, now, None);
    }

    /// Like [`Self::insert`], but never kept past `not_after` (e.g. the
    /// expiry of the user JWT the token was obtained with).
    pub fn insert_until(
        &mut self,
        subject: &str,
        auth: &AuthInfo,
        started: Now,
        now: Now,
        not_after: Option<Now>,
    ) {
        let ttl_ms = auth.lease_duration_s.saturating_mul(1000);
        if ttl_ms <= EXPIRY_MARGIN_MS {
            return;
        }
        let mut expires_at = started.plus_ms(ttl_ms - EXPIRY_MARGIN_MS);
        if let Some(cap) = not_after {
            expires_at = expires_at.min(cap);
        }
        if expires_at <= now {
            return;
        }
        if !self.entries.contains_key(subject) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| now < e.expires_at);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(
            subject.to_string(),
            Entry {
                token: auth.client_token.clone(),
                expires_at,
            },
        );
    }

    /// Forgets a subject's token (e.g. Vault answered 403 with it).
    pub fn remove(&mut self, subject: &str) {
        self.entries.remove(subject);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn auth(token: &str, ttl_s: u64) -> AuthInfo {
        AuthInfo {
            client_token: Secret::new(token),
            accessor: String::new(),
            policies: vec![],
            lease_duration_s: ttl_s,
            renewable: true,
            entity_id: String::new(),
            token_type: "service".into(),
        }
    }

    #[test]
    fn cached_token_serves_until_just_before_its_vault_expiry() {
        let mut c = UserTokenCache::new(4);
        let t0 = Now::from_unix_secs(1_000);
        c.insert("alice", &auth("s.alice-token", 60), t0, t0);
        assert_eq!(
            c.get("alice", t0.plus_ms(54_000)).map(Secret::expose),
            Some("s.alice-token")
        );
        assert_eq!(c.get("alice", t0.plus_ms(55_000)), None);
        assert_eq!(c.get("bob", t0), None);
    }

    #[test]
    fn full_cache_evicts_expired_then_soonest_expiring() {
        let t0 = Now::from_unix_secs(1_000);
        let mut c = UserTokenCache::new(2);
        c.insert("a", &auth("s.a", 30), t0, t0);
        c.insert("b", &auth("s.b", 600), t0, t0);
        c.insert("c", &auth("s.c", 300), t0, t0);
        assert_eq!(c.len(), 2);
        assert!(
            c.get("a", t0).is_none(),
            "soonest-expiring entry is evicted"
        );
        assert!(c.get("b", t0).is_some() && c.get("c", t0).is_some());
        let later = t0.plus_ms(400_000);
        c.insert("d", &auth("s.d", 600), later, later);
        assert!(c.get("c", later).is_none() && c.get("d", later).is_some());
        assert!(c.get("b", later).is_some());
    }

    #[test]
    fn token_is_not_kept_past_the_user_jwt_it_came_from() {
        let t0 = Now::from_unix_secs(1_000);
        let mut c = UserTokenCache::new(2);
        let jwt_exp = t0.plus_ms(30_000);
        c.insert_until("alice", &auth("s.a", 600), t0, t0, Some(jwt_exp));
        assert!(c.get("alice", t0.plus_ms(29_999)).is_some());
        assert!(c.get("alice", jwt_exp).is_none());
        c.insert_until("bob", &auth("s.b", 600), t0, t0, Some(t0));
        assert!(c.is_empty() || c.get("bob", t0).is_none());
    }

    #[test]
    fn tokens_without_a_useful_ttl_are_not_cached() {
        let t0 = Now::from_unix_secs(1_000);
        let mut c = UserTokenCache::new(2);
        c.insert("root", &auth("s.root", 0), t0, t0);
        c.insert("short", &auth("s.short", 5), t0, t0);
        assert!(c.is_empty());
    }

    #[test]
    fn debug_never_shows_user_tokens() {
        let t0 = Now::from_unix_secs(1_000);
        let mut c = UserTokenCache::new(2);
        c.insert("alice", &auth("s.very-secret-user-token", 600), t0, t0);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(dbg.contains("alice"));
    }
}
