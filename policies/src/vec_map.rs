//! A map kept as a vector sorted by key: the per-VM maps of the request
//! path (requests waiting for a Vault call, per-user flights and caches),
//! a secret's fields and the string maps of configuration.
//!
//! Why not `BTreeMap`: each key/value type instantiates the B-tree's node
//! code again (insert, split, remove, merge, steal), ≈ 8 KB of wasm per map
//! type. These maps hold up to a few thousand entries and change only on a
//! Vault call, where a `memmove` of the tail costs microseconds; a
//! secret has a handful of fields. (Replacing our last `BTreeMap`s with it took
//! 17 KB off credential_injector.wasm; serde_json's object map is the one left.) Iteration
//! is in key order, as with `BTreeMap`.

use std::borrow::Borrow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        let at = self.position(key).ok()?;
        self.entries.get(at).map(|(_, v)| v)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let at = self.position(key).ok()?;
        self.entries.get_mut(at).map(|(_, v)| v)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.position(key).is_ok()
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(at) => self
                .entries
                .get_mut(at)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let at = self.position(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// Keeps the entries for which `keep` is true (in key order).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// Later entries replace earlier ones with the same key, as in `BTreeMap`.
impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut map = Self::new();
        for (k, v) in items {
            map.insert(k, v);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The same operations on a `VecMap` and a `BTreeMap` give the same
    /// answers and the same contents, in the same order.
    #[test]
    fn behaves_like_a_btree_map() {
        let mut ours = VecMap::new();
        let mut reference = BTreeMap::new();
        // A fixed xorshift sequence: inserts, replacements, removals, retains.
        let mut x: u32 = 0x9e37_79b9;
        for step in 0..5_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let key = format!("user-{}", x % 97);
            match x % 7 {
                0..=2 => assert_eq!(
                    ours.insert(key.clone(), step),
                    reference.insert(key.clone(), step)
                ),
                3 | 4 => assert_eq!(ours.remove(key.as_str()), reference.remove(key.as_str())),
                5 => {
                    if let (Some(a), Some(b)) =
                        (ours.get_mut(key.as_str()), reference.get_mut(&key))
                    {
                        *a += 1;
                        *b += 1;
                    }
                    assert_eq!(ours.get(key.as_str()), reference.get(&key));
                }
                _ => {
                    let cut = x % 5_000;
                    ours.retain(|_, v| *v > cut);
                    reference.retain(|_, v| *v > cut);
                }
            }
            assert_eq!(ours.len(), reference.len());
            assert_eq!(
                ours.contains_key(key.as_str()),
                reference.contains_key(&key)
            );
        }
        assert!(!ours.is_empty());
        assert!(ours.iter().eq(reference.iter()));
        assert!(ours.values().eq(reference.values()));
        for v in ours.values_mut() {
            *v = 0;
        }
        assert!(ours.values().all(|v| *v == 0));
    }
}
