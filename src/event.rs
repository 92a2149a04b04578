//! Shopper events: `Event { name, time, properties }`, GA4 ecommerce names as the
//! canonical vocabulary, Segment-style aliases mapped onto them, and readers for the
//! GA4 `items[]` array (item_id, item_category, price, quantity).

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::value::{Map, Value, MAX_VALUE_DEPTH};
use crate::wire::{Reader, WireError};

/// One thing a shopper did, at a time, with properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Canonical (GA4) name after [`canonical_name`], e.g. `view_item`.
    pub name: String,
    /// When it happened (UTC ms).
    pub time: Timestamp,
    /// Event properties (GA4 parameters); `items` is the GA4 items array.
    #[serde(default)]
    pub properties: Map,
}

/// GA4 ecommerce and engagement event names waymark understands natively.
pub const CANONICAL_NAMES: &[&str] = &[
    "page_view",
    "view_item",
    "view_item_list",
    "select_item",
    "add_to_cart",
    "remove_from_cart",
    "view_cart",
    "begin_checkout",
    "add_payment_info",
    "purchase",
    "refund",
    "add_to_wishlist",
    "search",
    "view_search_results",
    "screen_view",
    "login",
    "sign_up",
];

/// Segment / common aliases → GA4 names.
const ALIASES: &[(&str, &str)] = &[
    ("Product Viewed", "view_item"),
    ("Product List Viewed", "view_item_list"),
    ("Product Clicked", "select_item"),
    ("Product Added", "add_to_cart"),
    ("Product Removed", "remove_from_cart"),
    ("Cart Viewed", "view_cart"),
    ("Checkout Started", "begin_checkout"),
    ("Payment Info Entered", "add_payment_info"),
    ("Order Completed", "purchase"),
    ("Order Refunded", "refund"),
    ("Product Added to Wishlist", "add_to_wishlist"),
    ("Products Searched", "search"),
    ("Page Viewed", "page_view"),
    ("Screen Viewed", "screen_view"),
    ("Signed In", "login"),
    ("Signed Up", "sign_up"),
    ("pageview", "page_view"),
];

/// Maps an incoming event name onto its canonical name. Unknown names pass through
/// unchanged (custom events are allowed); alias matching ignores case.
pub fn canonical_name(name: &str) -> &str {
    for (alias, canonical) in ALIASES {
        if alias.eq_ignore_ascii_case(name) {
            return canonical;
        }
    }
    name
}

/// Segment property names → GA4 parameter names, applied when an alias is used.
const PROPERTY_ALIASES: &[(&str, &str)] = &[
    ("product_id", "item_id"),
    ("category", "item_category"),
    ("query", "search_term"),
    ("revenue", "value"),
    ("total", "value"),
    ("order_id", "transaction_id"),
];

impl Event {
    /// Builds an event, mapping the name (and Segment property names) to GA4.
    pub fn new(name: &str, time: Timestamp, properties: Map) -> Event {
        let mut event = Event { name: String::new(), time, properties };
        event.set_name(name);
        event
    }

    /// Makes `self`, its properties just read (see [`decode_properties_into`]), the
    /// event [`Event::new`] would make of them: an engine that reads every event into the
    /// same `Event` reuses its allocations.
    pub fn reset(&mut self, name: &str, time: Timestamp) {
        self.time = time;
        self.set_name(name);
    }

    /// The canonical name, Segment property names and the `items` array (see `new`).
    fn set_name(&mut self, name: &str) {
        let canonical = canonical_name(name);
        let properties = &mut self.properties;
        if canonical != name {
            for (from, to) in PROPERTY_ALIASES {
                if !properties.contains_key(*to) {
                    if let Some(v) = properties.remove(*from) {
                        properties.insert((*to).to_owned(), v);
                    }
                }
            }
        }
        // A single-item event (Segment style) also gets a GA4 `items` array, so one
        // condition (`items` + `$elemMatch`) fits both shapes.
        if !properties.contains_key("items") {
            if let Some(id) = properties.get("item_id").cloned() {
                let mut item = Map::new();
                item.insert("item_id".to_owned(), id);
                for key in ["item_category", "price", "quantity"] {
                    if let Some(v) = properties.get(key) {
                        item.insert(key.to_owned(), v.clone());
                    }
                }
                properties.insert("items".to_owned(), Value::Array(vec![Value::Object(item)]));
            }
        }
        self.name.clear();
        self.name.push_str(canonical);
    }

    /// A property by name.
    pub fn prop(&self, key: &str) -> Option<&Value> {
        self.properties.get(key)
    }

    /// The GA4 items, or a single item made of top-level `item_id` / `item_category` /
    /// `price` / `quantity` when there is no `items` array (Segment style). An iterator:
    /// every ingest reads them, and a list would be one allocation per event.
    pub fn items(&self) -> Items<'_> {
        if let Some(Value::Array(items)) = self.properties.get("items") {
            return Items(ItemsInner::Array(items.iter()));
        }
        let single = self.prop("item_id").and_then(Value::as_str).map(|id| Item {
            id,
            category: self.prop("item_category").and_then(Value::as_str),
            price: self.prop("price").and_then(Value::as_number_lenient),
            quantity: self.prop("quantity").and_then(Value::as_number_lenient),
        });
        Items(ItemsInner::Single(single))
    }

    /// The monetary value: `value`, else the sum of item price × quantity.
    pub fn value(&self) -> Option<f64> {
        if let Some(v) = self.prop("value").and_then(Value::as_number_lenient) {
            return Some(v);
        }
        // From -0.0, as `Iterator::sum` of f64 starts.
        self.items().fold(None, |sum, i| Some(sum.unwrap_or(-0.0) + i.price.unwrap_or(0.0) * i.quantity.unwrap_or(1.0)))
    }
}

/// The items of an event ([`Event::items`]).
#[derive(Debug, Clone)]
pub struct Items<'a>(ItemsInner<'a>);

#[derive(Debug, Clone)]
enum ItemsInner<'a> {
    /// A GA4 `items` array: entries without an id are skipped.
    Array(std::slice::Iter<'a, Value>),
    /// Segment style: at most one item from top-level properties.
    Single(Option<Item<'a>>),
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        match &mut self.0 {
            ItemsInner::Array(values) => values.find_map(Item::from_value),
            ItemsInner::Single(item) => item.take(),
        }
    }
}

/// Why encoded properties ([`decode_properties`]) do not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PropertiesError {
    /// The bytes end inside a value.
    #[error("the data ends early")]
    Truncated,
    /// A varint longer than 64 bits.
    #[error("a varint is too long")]
    BadVarint,
    /// A value tag other than 0..=5.
    #[error("unknown value tag {0}")]
    BadTag(u64),
    /// A boolean byte other than 0 or 1.
    #[error("a boolean is neither 0 nor 1")]
    BadBool,
    /// A string that is not UTF-8.
    #[error("a string is not UTF-8")]
    BadUtf8,
    /// Nested deeper than [`MAX_VALUE_DEPTH`].
    #[error("nested deeper than {MAX_VALUE_DEPTH} levels")]
    TooDeep,
    /// Bytes after the map.
    #[error("trailing bytes")]
    Trailing,
}

impl PropertiesError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PropertiesError::Truncated => "truncated",
            PropertiesError::BadVarint => "bad_varint",
            PropertiesError::BadTag(_) => "bad_tag",
            PropertiesError::BadBool => "bad_bool",
            PropertiesError::BadUtf8 => "bad_utf8",
            PropertiesError::TooDeep => "too_deep",
            PropertiesError::Trailing => "trailing_bytes",
        }
    }
}

/// Event properties (or traits) from the postcard of a map of values, the
/// shape [`Value`] has in states and the JS layer writes (`encode.js`); empty bytes are
/// an empty map. The same result as `postcard::from_bytes`, read by hand: this runs on
/// every event the storefront tracks, and serde's generic path (with [`Value`]'s depth
/// guard) costs several times more.
pub fn decode_properties(bytes: &[u8]) -> Result<Map, PropertiesError> {
    let mut map = Map::new();
    decode_properties_into(bytes, &mut map)?;
    Ok(map)
}

/// [`decode_properties`] into `map`, reusing its allocations.
pub fn decode_properties_into(bytes: &[u8], map: &mut Map) -> Result<(), PropertiesError> {
    if bytes.is_empty() {
        map.clear();
        return Ok(());
    }
    let mut reader = Reader::new(bytes);
    crate::value::decode_object_into(&mut reader, 1, map).map_err(|e| match e {
        WireError::End => PropertiesError::Truncated,
        WireError::BadNumber => PropertiesError::BadVarint,
        WireError::BadTag(tag) => PropertiesError::BadTag(tag),
        WireError::BadFlag => PropertiesError::BadBool,
        WireError::BadText => PropertiesError::BadUtf8,
        WireError::TooDeep | WireError::Invalid => PropertiesError::TooDeep,
        WireError::Trailing => PropertiesError::Trailing,
    })?;
    if !reader.is_empty() {
        return Err(PropertiesError::Trailing);
    }
    Ok(())
}

/// One entry of a GA4 `items[]` array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item<'a> {
    /// `item_id` (or `id`).
    pub id: &'a str,
    /// `item_category`.
    pub category: Option<&'a str>,
    /// `price`.
    pub price: Option<f64>,
    /// `quantity`.
    pub quantity: Option<f64>,
}

impl<'a> Item<'a> {
    fn from_value(v: &'a Value) -> Option<Item<'a>> {
        let id = v.get("item_id").or_else(|| v.get("id")).or_else(|| v.get("product_id"))?.as_str()?;
        Some(Item {
            id,
            category: v.get("item_category").or_else(|| v.get("category")).and_then(Value::as_str),
            price: v.get("price").and_then(Value::as_number_lenient),
            quantity: v.get("quantity").and_then(Value::as_number_lenient),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_ga4() {
        let mut props = Map::new();
        props.insert("product_id".to_owned(), Value::from("sku-1"));
        props.insert("category".to_owned(), Value::from("shoes"));
        props.insert("price".to_owned(), Value::from(40.0));
        let e = Event::new("Product Viewed", Timestamp(0), props);
        assert_eq!(e.name, "view_item");
        let items: Vec<Item<'_>> = e.items().collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, "sku-1");
        assert_eq!(items[0].category, Some("shoes"));
        assert_eq!(e.value(), Some(40.0));
        assert_eq!(canonical_name("custom_thing"), "custom_thing");
    }

    #[test]
    fn decode_properties_reads_what_postcard_writes() {
        let json = r#"{"items":[{"item_id":"sku-1","price":12.5,"quantity":1,"tags":["a",null,true,false]}],
            "value":-0.0,"nested":{"deep":{"x":[[],{}]}},"unicode":"caf\u00e9 \u2603","big":1e300,"empty":""}"#;
        let map: Map = serde_json::from_str(json).unwrap();
        let bytes = postcard::to_allocvec(&map).unwrap();
        assert_eq!(decode_properties(&bytes).unwrap(), map);
        assert_eq!(decode_properties(&[]).unwrap(), Map::new());
        // Every prefix fails cleanly, never panics; trailing bytes are refused.
        for end in 1..bytes.len() {
            assert!(decode_properties(&bytes[..end]).is_err(), "prefix {end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_properties(&longer), Err(PropertiesError::Trailing));
        assert_eq!(decode_properties(&[1, 1, b'k', 9]), Err(PropertiesError::BadTag(9)));
        assert_eq!(decode_properties(&[1, 1, b'k', 1, 2]), Err(PropertiesError::BadBool));
        // Multi-byte varints: a 300-character string; an 11-byte varint is refused.
        let long: Map = [("k".to_owned(), Value::from("x".repeat(300)))].into_iter().collect();
        assert_eq!(decode_properties(&postcard::to_allocvec(&long).unwrap()).unwrap(), long);
        assert_eq!(decode_properties(&[0xff; 11]), Err(PropertiesError::BadVarint));
        // A huge count does not allocate, it fails.
        assert_eq!(decode_properties(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Err(PropertiesError::Truncated));
        // Nesting: 64 levels decode, 65 do not.
        let nest = |levels: usize| {
            let mut out = vec![1, 1, b'k'];
            out.extend(std::iter::repeat_n([4u8, 1], levels - 1).flatten());
            out.push(0);
            out
        };
        assert!(decode_properties(&nest(MAX_VALUE_DEPTH)).is_ok());
        assert_eq!(decode_properties(&nest(MAX_VALUE_DEPTH + 1)), Err(PropertiesError::TooDeep));
    }
}
