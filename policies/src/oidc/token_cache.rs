//! A bounded cache of verified tokens, so a token seen again skips the
//! signature check (in-VM RSA/ECDSA costs ~1 ms). Keyed by SHA-256 of the
//! token (the token itself is never stored), valid until the token's `exp`
//! and never past it.

use crate::jwt::VerifiedToken;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

pub type TokenDigest = [u8; 32];

pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone)]
pub struct CachedToken {
    pub provider: usize,
    /// Shared, not copied, with the request that hits it (its claims map is
    /// the largest part of a verification).
    pub token: Rc<VerifiedToken>,
    pub expires_at: u64,
}

#[derive(Debug, Default)]
pub struct TokenCache {
    capacity: usize,
    entries: HashMap<TokenDigest, CachedToken>,
    /// Insertion order, for eviction.
    order: VecDeque<TokenDigest>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
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

    /// The cached verification, if the token has not expired at `now_secs`.
    pub fn get(&mut self, key: &TokenDigest, now_secs: u64) -> Option<&CachedToken> {
        let expired = self
            .entries
            .get(key)
            .is_some_and(|e| now_secs >= e.expires_at);
        if expired {
            self.entries.remove(key);
            return None;
        }
        self.entries.get(key)
    }

    /// Caches a verified token; tokens without `exp` are never cached.
    pub fn insert(
        &mut self,
        key: TokenDigest,
        provider: usize,
        token: Rc<VerifiedToken>,
        now_secs: u64,
    ) {
        let Some(expires_at) = token.expires_at else {
            return;
        };
        if self.capacity == 0 || expires_at <= now_secs {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| e.expires_at > now_secs);
            self.order.retain(|k| self.entries.contains_key(k));
        }
        while self.entries.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        if self
            .entries
            .insert(
                key,
                CachedToken {
                    provider,
                    token,
                    expires_at,
                },
            )
            .is_none()
        {
            self.order.push_back(key);
        }
    }

    /// Forgets everything (e.g. after a provider's keys were replaced).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}
