//! `SortedMap`: the engine's map type — entries sorted by key in one vector (litemap).
//! Maps here are small (event properties, traits, consent, groups), where a sorted
//! vector is faster to search than a tree and much less code in the wasm module. In
//! postcard it is the same bytes as any map: a length, then key/value pairs.
//!
//! Decoding never trusts a claimed length for an allocation (a hostile state or bundle
//! could claim billions of entries in a few bytes): capacity grows with the entries
//! actually read. Keys out of order or repeated are accepted as a map would (sorted,
//! last value wins).

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use litemap::LiteMap;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map with keys in sorted order, stored as one sorted vector of pairs. Reads like
/// `BTreeMap` through [`LiteMap`]'s methods (`get`, `insert`, `remove`, `iter`, ...).
#[derive(Clone, PartialEq, Eq)]
pub struct SortedMap<K, V>(LiteMap<K, V>);

impl<K, V> SortedMap<K, V> {
    /// An empty map (usable in `static`s).
    pub const fn new() -> Self {
        SortedMap(LiteMap::new_vec())
    }

    /// The pairs in key order.
    pub fn as_slice(&self) -> &[(K, V)] {
        self.0.as_slice()
    }

    /// The pairs in key order, as a vector (its allocation kept).
    pub fn into_pairs(self) -> Vec<(K, V)> {
        self.0.into_tuple_vec()
    }

    /// A map of pairs the caller checked are sorted by key, each key once (else lookups
    /// may miss: a wrong answer, never a panic).
    pub fn from_sorted_pairs(pairs: Vec<(K, V)>) -> Self {
        SortedMap(LiteMap::from_sorted_store_unchecked(pairs))
    }
}

/// Most entries a map may have for [`SortedMap::get`] to scan it instead of searching.
const SCAN_MAX: usize = 8;

impl<V> SortedMap<String, V> {
    /// The value under `key`. Maps of a few entries (an event's properties, a GA4 item)
    /// are scanned comparing lengths before bytes — their keys mostly differ in length,
    /// so few byte comparisons run, where a binary search compares bytes at every step;
    /// larger maps are searched.
    pub fn get(&self, key: &str) -> Option<&V> {
        let pairs = self.0.as_slice();
        if pairs.len() <= SCAN_MAX {
            // `==` on strings compares lengths first and bytes only when they match.
            return pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        }
        self.0.get(key)
    }
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap::new()
    }
}

impl<K, V> Deref for SortedMap<K, V> {
    type Target = LiteMap<K, V>;
    fn deref(&self) -> &LiteMap<K, V> {
        &self.0
    }
}

impl<K, V> DerefMut for SortedMap<K, V> {
    fn deref_mut(&mut self) -> &mut LiteMap<K, V> {
        &mut self.0
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SortedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = SortedMap::new();
        for (k, v) in iter {
            map.0.insert(k, v);
        }
        map
    }
}

impl<K, V> IntoIterator for SortedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_tuple_vec().into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.as_slice().iter().map(|(k, v)| (k, v))
    }
}

impl<K: Serialize + Ord, V: Serialize> Serialize for SortedMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for SortedMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

struct MapVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for MapVisitor<K, V> {
    type Value = SortedMap<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = SortedMap::new();
        while let Some((k, v)) = access.next_entry::<K, V>()? {
            // In-order keys (what this type writes) append; others insert in place.
            if let Some((k, v)) = map.0.try_append(k, v) {
                map.0.insert(k, v);
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_lengths_do_not_allocate() {
        // A map claiming 2^62 entries, then nothing: an error, not an allocation.
        let bytes = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
        assert!(postcard::from_bytes::<SortedMap<String, u8>>(&bytes).is_err());
        assert!(crate::wire::Reader::new(&bytes).checked::<SortedMap<String, u8>>().is_err());
    }

    #[test]
    fn out_of_order_and_repeated_keys_read_as_a_map() {
        let pairs = vec![("b".to_owned(), 2u8), ("a".to_owned(), 1), ("b".to_owned(), 3)];
        let bytes = postcard::to_allocvec(&pairs).unwrap_or_default();
        let map: SortedMap<String, u8> = postcard::from_bytes(&bytes).unwrap_or_default();
        assert_eq!(map.as_slice(), &[("a".to_owned(), 1), ("b".to_owned(), 3)]);
        let again = postcard::to_allocvec(&map).unwrap_or_default();
        assert_eq!(postcard::from_bytes::<SortedMap<String, u8>>(&again).unwrap_or_default(), map);
        let ours: SortedMap<String, u8> = crate::wire::Reader::new(&bytes).checked().unwrap_or_default();
        assert_eq!(ours, map);
        assert_eq!(crate::wire::to_vec(&map), again);
    }
}
