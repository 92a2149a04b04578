//! The binary codec of bundles and shopper states: postcard's wire format (LEB128
//! varints, zigzag for signed numbers, little-endian floats, length-prefixed texts and
//! sequences, variant indices for enums, fields in declaration order), written and read
//! by the [`Encode`] / [`Decode`] traits of this module instead of serde. The bytes are
//! exactly what postcard writes (tests compare the two on every fixture); serde's
//! generic visitors were about a fifth of the wasm module.
//!
//! Decoding never trusts a claimed length for an allocation (a few hostile bytes could
//! otherwise claim gigabytes) and reports what is wrong as a
//! [`WireError`] with a short description.

use crate::map::SortedMap;

/// Appends `n` as an unsigned LEB128 varint (7 bits a byte, low first).
pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends `n` zigzag-encoded (small magnitudes of either sign stay short).
pub fn put_zigzag(out: &mut Vec<u8>, n: i64) {
    put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

/// Why bytes did not decode. The messages are fixed texts (no numbers formatted): they
/// end up in the wasm module, where formatting code is weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The bytes end in the middle of a value.
    End,
    /// A varint longer than its type allows, or a number out of range.
    BadNumber,
    /// A flag byte other than 0 or 1.
    BadFlag,
    /// A text that is not UTF-8.
    BadText,
    /// An unknown variant or option tag (the tag read).
    BadTag(u64),
    /// Nested deeper than the type allows.
    TooDeep,
    /// Something that is not a valid value of its type (a corrupt condition or DFA).
    Invalid,
    /// Bytes left over after the value.
    Trailing,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.problem())
    }
}

impl std::error::Error for WireError {}

impl WireError {
    /// What is wrong, in a few words.
    pub fn problem(self) -> &'static str {
        match self {
            WireError::End => "the data ends early",
            WireError::BadNumber => "a number is malformed",
            WireError::BadFlag => "a flag is neither 0 nor 1",
            WireError::BadText => "a text is not valid UTF-8",
            WireError::BadTag(_) => "a variant tag is unknown",
            WireError::TooDeep => "a value is nested too deep",
            WireError::Invalid => "a condition or pattern is invalid",
            WireError::Trailing => "unexpected bytes after the value",
        }
    }

    /// Stable machine code.
    pub fn code(self) -> &'static str {
        match self {
            WireError::End => "wire_end",
            WireError::BadNumber => "wire_bad_number",
            WireError::BadFlag => "wire_bad_flag",
            WireError::BadText => "wire_bad_text",
            WireError::BadTag(_) => "wire_bad_tag",
            WireError::TooDeep => "wire_too_deep",
            WireError::Invalid => "wire_invalid",
            WireError::Trailing => "wire_trailing_bytes",
        }
    }
}

/// A cursor over bytes being decoded.
///
/// [`Decode`] implementations never return early: the first problem is recorded here
/// ([`Reader::fail`]), everything after it reads as zero / empty, and the caller checks
/// [`Reader::finish`] once at the end. Decoders are straight-line code that way, without
/// a clean-up path per field (in the wasm module that halved their size).
pub struct Reader<'a> {
    rest: &'a [u8],
    error: Option<WireError>,
}

impl<'a> Reader<'a> {
    /// Starts at the first byte.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes, error: None }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// One byte.
    pub fn byte(&mut self) -> Result<u8, WireError> {
        let (&b, rest) = self.rest.split_first().ok_or(WireError::End)?;
        self.rest = rest;
        Ok(b)
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or(WireError::End)?;
        self.rest = rest;
        Ok(head)
    }

    /// An unsigned varint of at most 64 bits.
    pub fn uint(&mut self) -> Result<u64, WireError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(WireError::BadNumber)
    }

    /// A zigzag varint.
    pub fn int(&mut self) -> Result<i64, WireError> {
        let z = self.uint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count or length; never more than the bytes left (each item takes at least one
    /// byte), so a claimed length cannot ask for more memory than the input justifies.
    pub fn len(&mut self) -> Result<usize, WireError> {
        let n = usize::try_from(self.uint()?).map_err(|_| WireError::End)?;
        if n > self.rest.len() {
            return Err(WireError::End);
        }
        Ok(n)
    }

    /// A 0 / 1 flag.
    pub fn flag(&mut self) -> Result<bool, WireError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::BadFlag),
        }
    }

    /// A length-prefixed UTF-8 text, borrowed.
    pub fn str(&mut self) -> Result<&'a str, WireError> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| WireError::BadText)
    }

    /// A variant index.
    pub fn tag(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.uint()?).map_err(|_| WireError::BadNumber)
    }

    /// Decodes one `T` (a placeholder after a failure: see [`Reader::finish`]).
    pub fn read<T: Decode>(&mut self) -> T {
        T::decode(self)
    }

    /// A variant index (0 after a failure).
    pub fn read_tag(&mut self) -> u32 {
        let tag = self.tag();
        self.or(tag, 0)
    }

    /// Records an unknown variant `tag` and returns `fallback`.
    pub fn bad_tag<T>(&mut self, tag: u32, fallback: T) -> T {
        self.fail(WireError::BadTag(tag.into()));
        fallback
    }

    /// Records `error` (the first one wins) and stops reading: every later read sees no
    /// bytes and returns zero / empty.
    pub fn fail(&mut self, error: WireError) {
        self.error.get_or_insert(error);
        self.rest = &[];
    }

    /// Decodes one `T`, as a `Result` (for decoders that return early themselves).
    pub fn checked<T: Decode>(&mut self) -> Result<T, WireError> {
        let value = T::decode(self);
        match self.error {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }

    /// Whether a read failed.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// `Ok(v)`'s value, or `fallback` after recording the error.
    pub fn or<T>(&mut self, result: Result<T, WireError>, fallback: T) -> T {
        result.unwrap_or_else(|e| {
            self.fail(e);
            fallback
        })
    }

    /// `value` if every read succeeded and no byte is left over; else why not.
    pub fn finish<T>(self, value: T) -> Result<T, WireError> {
        match self.error {
            Some(e) => Err(e),
            None if self.rest.is_empty() => Ok(value),
            None => Err(WireError::Trailing),
        }
    }
}

/// Writes a value in the wire format.
pub trait Encode {
    /// Appends the encoding of `self`.
    fn encode(&self, out: &mut Vec<u8>);
}

/// Reads a value in the wire format.
pub trait Decode: Sized {
    /// Reads one value; on bad input records the problem in `r` ([`Reader::fail`]) and
    /// returns a placeholder.
    fn decode(r: &mut Reader<'_>) -> Self;
}

/// Encodes into a fresh vector.
pub fn to_vec<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Implements [`Encode`] and [`Decode`] for a struct: its fields, in the order listed
/// (which must be the declaration order: postcard writes fields in that order).
/// Crate-private, like the codec itself: `crate::wire_struct!` (re-exported in lib.rs).
macro_rules! wire_struct {
    ($ty:ident $(<$param:ident>)? { $($field:ident),* $(,)? }) => {
        impl$(<$param: $crate::wire::Encode>)? $crate::wire::Encode for $ty$(<$param>)? {
            fn encode(&self, out: &mut Vec<u8>) {
                $( $crate::wire::Encode::encode(&self.$field, out); )*
            }
        }
        impl$(<$param: $crate::wire::Decode>)? $crate::wire::Decode for $ty$(<$param>)? {
            fn decode(r: &mut $crate::wire::Reader<'_>) -> Self {
                $ty { $( $field: r.read(), )* }
            }
        }
    };
}
pub(crate) use wire_struct;

/// Implements [`Encode`] and [`Decode`] for an enum of unit variants, listed in
/// declaration order (the variant index is the tag). Crate-private, like `wire_struct!`.
macro_rules! wire_unit_enum {
    ($ty:ident { $first:ident $(, $variant:ident)* $(,)? }) => {
        impl $crate::wire::Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                out.push(*self as u8);
            }
        }
        impl $crate::wire::Decode for $ty {
            fn decode(r: &mut $crate::wire::Reader<'_>) -> Self {
                const ALL: &[$ty] = &[$ty::$first, $($ty::$variant),*];
                let tag = r.read_tag();
                match ALL.get(tag as usize) {
                    Some(v) => *v,
                    None => r.bad_tag(tag, $ty::$first),
                }
            }
        }
    };
}
pub(crate) use wire_unit_enum;

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}
impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Self {
        let flag = r.flag();
        r.or(flag, false)
    }
}

impl Encode for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}
impl Decode for u8 {
    fn decode(r: &mut Reader<'_>) -> Self {
        let byte = r.byte();
        r.or(byte, 0)
    }
}

macro_rules! unsigned {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                put_varint(out, *self as u64);
            }
        }
        impl Decode for $ty {
            fn decode(r: &mut Reader<'_>) -> Self {
                let n = r.uint().and_then(|n| <$ty>::try_from(n).map_err(|_| WireError::BadNumber));
                r.or(n, 0)
            }
        }
    )*};
}
unsigned!(u16, u32, u64, usize);

macro_rules! signed {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                put_zigzag(out, i64::from(*self));
            }
        }
        impl Decode for $ty {
            fn decode(r: &mut Reader<'_>) -> Self {
                let n = r.int().and_then(|n| <$ty>::try_from(n).map_err(|_| WireError::BadNumber));
                r.or(n, 0)
            }
        }
    )*};
}
signed!(i32, i64);

impl Encode for f64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}
impl Decode for f64 {
    fn decode(r: &mut Reader<'_>) -> Self {
        let raw = r.take(8).map(|b| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(b);
            f64::from_le_bytes(raw)
        });
        r.or(raw, 0.0)
    }
}

impl Encode for str {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes());
    }
}
impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out);
    }
}
impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Self {
        let text = r.str().map(str::to_owned);
        r.or(text, String::new())
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
}
impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Self {
        let tag = r.byte();
        match r.or(tag, 0) {
            0 => None,
            1 => Some(r.read()),
            tag => r.bad_tag(tag.into(), None),
        }
    }
}

impl<T: Encode> Encode for [T] {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        for item in self {
            item.encode(out);
        }
    }
}
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out);
    }
}
impl<T: Decode> Decode for Vec<T> {
    fn decode(r: &mut Reader<'_>) -> Self {
        let n = r.len();
        let n = r.or(n, 0);
        // Capacity grows with what is read, not with what the length claims.
        let mut items = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            if r.failed() {
                break;
            }
            items.push(r.read());
        }
        items
    }
}

/// Fixed-size arrays are tuples in postcard: no length, just the elements.
impl<T: Encode, const N: usize> Encode for [T; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        for item in self {
            item.encode(out);
        }
    }
}
impl<T: Decode + Copy + Default, const N: usize> Decode for [T; N] {
    fn decode(r: &mut Reader<'_>) -> Self {
        let mut items = [T::default(); N];
        for item in &mut items {
            *item = r.read();
        }
        items
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
}
impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode(r: &mut Reader<'_>) -> Self {
        (r.read(), r.read())
    }
}

impl<A: Encode, B: Encode, C: Encode> Encode for (A, B, C) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
        self.2.encode(out);
    }
}
impl<A: Decode, B: Decode, C: Decode> Decode for (A, B, C) {
    fn decode(r: &mut Reader<'_>) -> Self {
        (r.read(), r.read(), r.read())
    }
}

impl<K: Encode, V: Encode> Encode for SortedMap<K, V> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        for (k, v) in self.iter() {
            k.encode(out);
            v.encode(out);
        }
    }
}
/// Keys out of order or repeated are accepted as a map would take them (sorted, the
/// last value wins).
impl<K: Decode + Ord, V: Decode> Decode for SortedMap<K, V> {
    fn decode(r: &mut Reader<'_>) -> Self {
        let n = r.len();
        let n = r.or(n, 0);
        let mut map = SortedMap::new();
        for _ in 0..n {
            if r.failed() {
                break;
            }
            let (k, v) = (r.read(), r.read());
            if let Some((k, v)) = map.try_append(k, v) {
                map.insert(k, v);
            }
        }
        map
    }
}
