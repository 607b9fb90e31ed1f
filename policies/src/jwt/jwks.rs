//! A JWKS document (RFC 7517 §5) compiled into a [`KeySet`].

use super::alg::Algorithm;
use super::error::JwtError;
use super::key::{Jwk, SkipReason};
use serde_json::Value;

/// Limits on an attacker-reachable JWKS document.
#[derive(Clone, Copy, Debug)]
pub struct JwksLimits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Most keys kept; later keys are skipped with `too_many_keys`.
    pub max_keys: usize,
}

impl Default for JwksLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_keys: 32,
        }
    }
}

/// A JWKS entry that was not compiled, and why (for logs and metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// The entry's `kid`, when it had a string one.
    pub kid: Option<String>,
    pub reason: SkipReason,
}

/// The usable keys of one provider, selected per token by `kid` and algorithm.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Jwk>,
    /// Which keys these are (see [`KeySet::fingerprint`]).
    fingerprint: u64,
}

impl KeySet {
    /// A key set from already compiled keys (e.g. configured HMAC secrets).
    /// Two keys of the same type with the same `kid` are a configuration
    /// error: which one a token means would be ambiguous.
    pub fn from_keys(keys: Vec<Jwk>) -> Result<Self, JwtError> {
        for (i, key) in keys.iter().enumerate() {
            if keys.iter().skip(i + 1).any(|k| same_kid_and_type(k, key)) {
                return Err(JwtError::InvalidKey("two keys of one type share one kid"));
            }
        }
        Ok(Self {
            keys,
            fingerprint: 0,
        })
    }

    /// Parses a JWKS document. Fails only when the document itself is
    /// unusable (too large, not JSON, no `keys` array); bad entries are skipped
    /// and reported. Keys of the same type sharing a `kid` are all skipped:
    /// which one the issuer meant is ambiguous. Keys of different types may
    /// share one (RFC 7517 §4.5): the token's `alg` tells them apart.
    pub fn from_jwks(
        document: &[u8],
        limits: JwksLimits,
    ) -> Result<(KeySet, Vec<SkippedKey>), JwtError> {
        if document.len() > limits.max_bytes {
            return Err(JwtError::JwksTooLarge {
                limit: limits.max_bytes,
            });
        }
        let root: Value = serde_json::from_slice(document)
            .map_err(|_| JwtError::MalformedJwks("not a JSON document"))?;
        let entries = root
            .as_object()
            .ok_or(JwtError::MalformedJwks("not a JSON object"))?
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwtError::MalformedJwks("no `keys` array"))?;

        let mut compiled: Vec<(usize, Jwk, u64)> = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            let result = if compiled.len() >= limits.max_keys {
                Err(SkipReason::TooManyKeys)
            } else {
                Jwk::from_json(entry)
            };
            match result {
                Ok(key) => compiled.push((index, key, entry_hash(entry))),
                Err(reason) => skipped.push(SkippedKey { index, kid, reason }),
            }
        }

        let mut keys = Vec::with_capacity(compiled.len());
        let mut fingerprint = 0u64;
        for (pos, (index, key, hash)) in compiled.iter().enumerate() {
            let duplicate = compiled
                .iter()
                .enumerate()
                .any(|(other, (_, k, _))| other != pos && same_kid_and_type(k, key));
            if duplicate {
                // In document order, without a sort (a sort's code is ≈ 1 KB of module per type).
                let at = skipped.partition_point(|s: &SkippedKey| s.index < *index);
                skipped.insert(
                    at,
                    SkippedKey {
                        index: *index,
                        kid: key.kid().map(str::to_owned),
                        reason: SkipReason::DuplicateKid,
                    },
                );
            } else {
                keys.push(key.clone());
                // A sum: the same keys in another order are the same set.
                fingerprint = fingerprint.wrapping_add(*hash);
            }
        }
        Ok((KeySet { keys, fingerprint }, skipped))
    }

    /// These keys and configured `extra` ones (fixed while the policy lives):
    /// the fingerprint stays that of the document.
    pub fn with_extra_keys(self, extra: &[Jwk]) -> Result<Self, JwtError> {
        let mut keys = self.keys;
        keys.extend(extra.iter().cloned());
        Ok(Self {
            fingerprint: self.fingerprint,
            ..Self::from_keys(keys)?
        })
    }

    /// Identifies the keys of a JWKS document: equal for the same usable
    /// entries (in any order, whatever else the document holds), different
    /// once one is added, changed or removed. A token cache keeps a
    /// verification only while its provider serves the same set, so a key the
    /// issuer withdrew (rotated out, or revoked after a compromise) stops
    /// vouching for cached tokens at once. 0 for configured keys.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// True when some key carries this `kid` (whatever its type).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// The keys to try for a token, of `alg`'s type. With a `kid`: the key
    /// with that kid, then (as in Envoy's `jwt_authn`) at most `max_untagged`
    /// keys without a kid, such as a configured HMAC secret;
    /// [`JwtError::UnknownKid`] when neither exists and no key has the kid
    /// (the caller may refetch the JWKS, rate-limited). Without a `kid`: at
    /// most `max_untagged` keys, tagged or not.
    pub fn candidates(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        max_untagged: usize,
    ) -> Result<Vec<&Jwk>, JwtError> {
        let fitting = || self.keys.iter().filter(move |k| k.accepts(alg));
        let found: Vec<&Jwk> = match kid {
            Some(kid) => {
                let tagged = fitting().filter(|k| k.kid() == Some(kid));
                let untagged = fitting().filter(|k| k.kid().is_none()).take(max_untagged);
                let found: Vec<&Jwk> = tagged.chain(untagged).collect();
                if found.is_empty() && !self.has_kid(kid) {
                    return Err(JwtError::UnknownKid);
                }
                found
            }
            None => fitting().take(max_untagged).collect(),
        };
        if found.is_empty() {
            return Err(JwtError::NoMatchingKey);
        }
        Ok(found)
    }
}

/// Two keys a token could not tell apart: the same `kid` and the same type
/// (and curve), so the same `alg`s.
fn same_kid_and_type(a: &Jwk, b: &Jwk) -> bool {
    a.kid().is_some() && a.kid() == b.kid() && a.kind() == b.kind()
}

/// A JWK entry's hash, from its canonical text (serde_json sorts members).
fn entry_hash(entry: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    entry.to_string().hash(&mut h);
    h.finish()
}
