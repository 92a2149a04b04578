//! `Value`: the JSON-shaped data that events, traits and conditions work on.
//!
//! It reads and writes as plain JSON in human-readable formats (serde_json, JS objects)
//! and as a compact tagged enum in binary formats (postcard), which cannot carry
//! self-describing data. Objects are sorted maps, so encodings are deterministic.

use std::fmt;

use crate::map::SortedMap;
use crate::wire::{Decode, Encode, Reader, WireError};

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON object: entries sorted by key (see [`SortedMap`]).
pub type Map<V = Value> = SortedMap<String, V>;

/// A JSON value with sorted object keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// JSON `null`.
    #[default]
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// Any JSON number (held as f64, as JavaScript does).
    Number(f64),
    /// A JSON string.
    String(String),
    /// A JSON array.
    Array(Vec<Value>),
    /// A JSON object with keys in sorted order.
    Object(Map),
}

impl Value {
    /// Follows a dotted path (already split) through nested objects.
    /// Array elements are reached by numeric segments (`items.0.price`).
    pub fn get_path<S: AsRef<str>>(&self, path: &[S]) -> Option<&Value> {
        let mut current = self;
        for segment in path {
            let segment = segment.as_ref();
            current = match current {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// The value under `key` when this is an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, when this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The number, or a string that parses as a number ("19.90").
    pub fn as_number_lenient(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::String(s) => crate::jsnum::parse_decimal(s.trim()).filter(|n| n.is_finite()),
            _ => None,
        }
    }

    /// The array, when this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The map, when this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// JSON type name, as `typeof`-style conditions see it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Compact JSON text (used in messages and the CLI).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
                    let _ = write!(out, "{}", *n as i64);
                } else if n.is_finite() {
                    let _ = crate::jsnum::write(out, *n);
                } else {
                    out.push_str("null");
                }
            }
            Value::String(s) => write_json_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n as f64)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// The binary (postcard) shape: an ordinary tagged enum (variant index, then content).
#[derive(Deserialize)]
enum Tagged {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self {
                Value::Null => serializer.serialize_unit(),
                Value::Bool(b) => serializer.serialize_bool(*b),
                Value::Number(n) => {
                    if n.fract() == 0.0 && n.abs() < 9.0e15 {
                        serializer.serialize_i64(*n as i64)
                    } else {
                        serializer.serialize_f64(*n)
                    }
                }
                Value::String(s) => serializer.serialize_str(s),
                Value::Array(items) => items.serialize(serializer),
                Value::Object(map) => map.serialize(serializer),
            }
        } else {
            // The same bytes `Tagged` would write, without cloning into it.
            match self {
                Value::Null => serializer.serialize_unit_variant("Tagged", 0, "Null"),
                Value::Bool(b) => serializer.serialize_newtype_variant("Tagged", 1, "Bool", b),
                Value::Number(n) => serializer.serialize_newtype_variant("Tagged", 2, "Number", n),
                Value::String(s) => serializer.serialize_newtype_variant("Tagged", 3, "String", s),
                Value::Array(items) => serializer.serialize_newtype_variant("Tagged", 4, "Array", items),
                Value::Object(map) => serializer.serialize_newtype_variant("Tagged", 5, "Object", map),
            }
        }
    }
}

/// Deepest nesting a `Value` may have when decoded (postcard data is not self-limiting:
/// one byte per level could otherwise exhaust the stack).
pub const MAX_VALUE_DEPTH: usize = 64;

thread_local! {
    static DECODE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one level of nesting for as long as it lives.
struct DepthGuard;

impl DepthGuard {
    fn enter<E: serde::de::Error>() -> Result<DepthGuard, E> {
        let depth = DECODE_DEPTH.with(|d| {
            let next = d.get() + 1;
            d.set(next);
            next
        });
        let guard = DepthGuard;
        if depth > MAX_VALUE_DEPTH {
            return Err(E::custom(format_args!("value nested deeper than {MAX_VALUE_DEPTH} levels")));
        }
        Ok(guard)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DECODE_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let _guard = DepthGuard::enter::<D::Error>()?;
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(JsonVisitor)
        } else {
            Ok(match Tagged::deserialize(deserializer)? {
                Tagged::Null => Value::Null,
                Tagged::Bool(b) => Value::Bool(b),
                Tagged::Number(n) => Value::Number(n),
                Tagged::String(s) => Value::String(s),
                Tagged::Array(items) => Value::Array(items),
                Tagged::Object(map) => Value::Object(map),
            })
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some((k, v)) = access.next_entry::<String, Value>()? {
            map.insert(k, v);
        }
        Ok(Value::Object(map))
    }
}

// ---------------------------------------------------------------------------------------
// Binary form (crate::wire): the tagged enum postcard writes for `Value`
// ---------------------------------------------------------------------------------------

impl Encode for Value {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0),
            Value::Bool(b) => {
                out.push(1);
                b.encode(out);
            }
            Value::Number(n) => {
                out.push(2);
                n.encode(out);
            }
            Value::String(s) => {
                out.push(3);
                s.encode(out);
            }
            Value::Array(items) => {
                out.push(4);
                items.encode(out);
            }
            Value::Object(map) => {
                out.push(5);
                map.encode(out);
            }
        }
    }
}

/// A value nested at most [`MAX_VALUE_DEPTH`] levels deep.
impl Decode for Value {
    fn decode(r: &mut Reader<'_>) -> Self {
        let value = decode_value(r, 1);
        r.or(value, Value::Null)
    }
}

/// The entries of an object whose values are at nesting `depth` (1 = top level), read
/// into `map`, reusing the allocations of what it held (its vector,
/// keys, texts, arrays and objects, entry by entry): an engine that reads every event
/// into the same map allocates nothing for events shaped like the previous one. After an
/// error `map` holds part of the input or nothing, never an invalid map.
pub fn decode_object_into(r: &mut Reader<'_>, depth: usize, map: &mut Map) -> Result<(), WireError> {
    let count = r.len()?;
    let mut pairs = std::mem::take(map).into_pairs();
    // Grown entry by entry as they are read: a claimed count allocates nothing.
    pairs.truncate(count);
    for i in 0..count {
        if i == pairs.len() {
            pairs.push(Default::default());
        }
        let Some((key, value)) = pairs.get_mut(i) else { break };
        key.clear();
        key.push_str(r.str()?);
        decode_value_into(r, depth, value)?;
    }
    // Keys arrive in the order the object had them (encode.js writes a JS object's own
    // order). Up to a few dozen: sorted here, in place, so the pairs and their allocations
    // stay where the next event of the same shape reuses them; more go in one by one (as
    // every map decodes). Either way the last of equal keys wins.
    if pairs.len() > INSERTION_SORT_MAX {
        *map = pairs.into_iter().collect();
        return Ok(());
    }
    insertion_sort(&mut pairs);
    pairs.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    *map = Map::from_sorted_pairs(pairs);
    Ok(())
}

/// Most entries an object may have to be sorted by [`insertion_sort`].
const INSERTION_SORT_MAX: usize = 32;

/// Sorts pairs by key, stably (equal keys keep their order), without allocating: a
/// single pass when they are sorted already.
fn insertion_sort(pairs: &mut [(String, Value)]) {
    for i in 1..pairs.len() {
        let mut j = i;
        while j > 0 && matches!((pairs.get(j - 1), pairs.get(j)), (Some(a), Some(b)) if a.0 > b.0) {
            pairs.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// A value at nesting `depth` (1 = top level); deeper than [`MAX_VALUE_DEPTH`] is an error.
pub fn decode_value(r: &mut Reader<'_>, depth: usize) -> Result<Value, WireError> {
    let mut value = Value::Null;
    decode_value_into(r, depth, &mut value)?;
    Ok(value)
}

/// [`decode_value`] into `slot`, reusing its allocations (see [`decode_object_into`]).
fn decode_value_into(r: &mut Reader<'_>, depth: usize, slot: &mut Value) -> Result<(), WireError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(WireError::TooDeep);
    }
    match r.uint()? {
        0 => *slot = Value::Null,
        1 => *slot = Value::Bool(r.flag()?),
        2 => *slot = Value::Number(r.checked()?),
        3 => {
            let text = r.str()?;
            match slot {
                Value::String(s) => {
                    s.clear();
                    s.push_str(text);
                }
                _ => *slot = Value::String(text.to_owned()),
            }
        }
        4 => {
            let count = r.len()?;
            if !matches!(slot, Value::Array(_)) {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else { return Err(WireError::Invalid) };
            items.truncate(count);
            for i in 0..count {
                if i == items.len() {
                    items.push(Value::Null);
                }
                let Some(item) = items.get_mut(i) else { break };
                decode_value_into(r, depth + 1, item)?;
            }
        }
        5 => {
            if !matches!(slot, Value::Object(_)) {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(map) = slot else { return Err(WireError::Invalid) };
            decode_object_into(r, depth + 1, map)?;
        }
        tag => return Err(WireError::BadTag(tag)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Tagged::Array = variant 4, then length 1, repeated: 100_000 levels in 200 KB.
        let mut bytes = Vec::new();
        for _ in 0..100_000 {
            bytes.extend_from_slice(&[4, 1]);
        }
        bytes.push(0);
        assert_eq!(Reader::new(&bytes).checked::<Value>(), Err(WireError::TooDeep));
        let shallow: Value = Reader::new(&[4, 1, 4, 1, 0]).checked().unwrap();
        assert_eq!(shallow, Value::Array(vec![Value::Array(vec![Value::Null])]));
        let json = "[".repeat(100) + &"]".repeat(100);
        assert!(serde_json::from_str::<Value>(&json).is_err());
    }

    /// The wire form of an object with these entries, in this order (as encode.js writes a JS object).
    fn object_bytes(entries: &[(&str, Value)]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::wire::put_varint(&mut out, entries.len() as u64);
        for (key, value) in entries {
            key.encode(&mut out);
            value.encode(&mut out);
        }
        out
    }

    #[test]
    fn objects_decode_sorted_with_the_last_of_equal_keys_and_reuse_the_map() {
        let mut map = Map::new();
        for round in 0..3 {
            let entries = [
                ("item_id", Value::from(format!("sku-{round}"))),
                ("item_category", Value::from("shoes")),
                ("price", Value::Number(10.0 + f64::from(round))),
                ("item_id", Value::from("last")),
                ("brand", Value::Null),
            ];
            decode_object_into(&mut Reader::new(&object_bytes(&entries)), 1, &mut map).unwrap();
            let keys: Vec<&str> = map.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["brand", "item_category", "item_id", "price"]);
            assert_eq!(map.get("item_id"), Some(&Value::from("last")));
            assert_eq!(map.get("price"), Some(&Value::Number(10.0 + f64::from(round))));
        }
        // Many keys (the merge-sort path), in reverse order, one repeated.
        let mut many: Vec<(String, Value)> =
            (0..40).rev().map(|i| (format!("k{i:02}"), Value::Number(f64::from(i)))).collect();
        many.push(("k07".into(), Value::from("again")));
        let entries: Vec<(&str, Value)> = many.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        decode_object_into(&mut Reader::new(&object_bytes(&entries)), 1, &mut map).unwrap();
        assert_eq!(map.len(), 40);
        assert!(map.iter().zip(map.iter().skip(1)).all(|((a, _), (b, _))| a < b));
        assert_eq!(map.get("k07"), Some(&Value::from("again")));
        assert_eq!(map.get("k39"), Some(&Value::Number(39.0)));
    }

    #[test]
    fn json_and_postcard_round_trip() {
        let v: Value = serde_json::from_str(r#"{"a":[1,2.5,"x",null,true],"b":{"c":"d"}}"#).unwrap();
        assert_eq!(v.get_path(&["b", "c"]), Some(&Value::from("d")));
        assert_eq!(v.get_path(&["a", "1"]), Some(&Value::Number(2.5)));
        let bytes = crate::wire::to_vec(&v);
        assert_eq!(bytes, postcard::to_allocvec(&v).unwrap(), "the wire format is postcard's");
        let back: Value = Reader::new(&bytes).checked().unwrap();
        assert_eq!(back, v);
        assert_eq!(serde_json::to_string(&v).unwrap(), v.to_json());
    }
}
