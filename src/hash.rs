//! `Hash32`: the 32-bit hash the shopper state keeps instead of a text where only
//! equality matters — viewed items in a session, categories, device context, a search
//! term. The backend hashes catalog categories with the same function to find the
//! shoppers whose affinity names them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 32-bit hash of an item id, category or context value; 0 means "none".
/// Encoded as 4 raw bytes in binary formats (postcard would spend 5 on a varint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub u32);

impl Hash32 {
    /// The hash of a text (never 0, which means "none").
    pub fn of(text: &str) -> Hash32 {
        // xxh3_64 (seed 0), through the seeded entry point the engine's buckets use too.
        let h = (xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), 0) >> 32) as u32;
        Hash32(if h == 0 { 1 } else { h })
    }

    /// A category as the engine keys it: the text trimmed, empty as none.
    pub fn of_category(text: &str) -> Hash32 {
        match text.trim() {
            "" => Hash32(0),
            trimmed => Hash32::of(trimmed),
        }
    }

    /// Whether this is the "none" hash.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_u32(self.0)
        } else {
            self.0.to_le_bytes().serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            u32::deserialize(d).map(Hash32)
        } else {
            <[u8; 4]>::deserialize(d).map(|b| Hash32(u32::from_le_bytes(b)))
        }
    }
}

impl crate::wire::Encode for Hash32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }
}

impl crate::wire::Decode for Hash32 {
    fn decode(r: &mut crate::wire::Reader<'_>) -> Self {
        Hash32(u32::from_le_bytes(r.read()))
    }
}
