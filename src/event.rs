//! Shopper events: `Event { name, time, properties }`, GA4 ecommerce names as the
//! canonical vocabulary, Segment-style aliases mapped onto them, and readers for the
//! GA4 `items[]` array (item_id, item_category, price, quantity).

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::value::{Map, Value};

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
        let canonical = canonical_name(name);
        let mut properties = properties;
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
        Event { name: canonical.to_owned(), time, properties }
    }

    /// A property by name.
    pub fn prop(&self, key: &str) -> Option<&Value> {
        self.properties.get(key)
    }

    /// The GA4 items, or a single item made of top-level `item_id` / `item_category` /
    /// `price` / `quantity` when there is no `items` array (Segment style).
    pub fn items(&self) -> Vec<Item<'_>> {
        if let Some(Value::Array(items)) = self.properties.get("items") {
            return items.iter().filter_map(Item::from_value).collect();
        }
        let id = self.prop("item_id").and_then(Value::as_str);
        match id {
            Some(id) => vec![Item {
                id,
                category: self.prop("item_category").and_then(Value::as_str),
                price: self.prop("price").and_then(Value::as_number_lenient),
                quantity: self.prop("quantity").and_then(Value::as_number_lenient),
            }],
            None => Vec::new(),
        }
    }

    /// The monetary value: `value`, else the sum of item price × quantity.
    pub fn value(&self) -> Option<f64> {
        if let Some(v) = self.prop("value").and_then(Value::as_number_lenient) {
            return Some(v);
        }
        let items = self.items();
        if items.is_empty() {
            return None;
        }
        Some(items.iter().map(|i| i.price.unwrap_or(0.0) * i.quantity.unwrap_or(1.0)).sum())
    }
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
        let items = e.items();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, "sku-1");
        assert_eq!(items[0].category, Some("shoes"));
        assert_eq!(e.value(), Some(40.0));
        assert_eq!(canonical_name("custom_thing"), "custom_thing");
    }
}
