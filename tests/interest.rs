//! The interest memory: data-driven cases (tests/cases/interest/*.json: events → the
//! cart, recently viewed items, the "recently viewed" row, each item's memory and the
//! category ranking), merge laws over states built from random event streams, and the
//! state size it costs. tests/node/api.test.mjs replays the cases with a row expectation
//! through the wasm build's `wm.recentlyViewed`.
#![expect(
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

#[path = "support/cases.rs"]
mod cases;

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Deserialize;
use waymark::event::Event;
use waymark::hash::Hash32;
use waymark::interest::{Interests, BOUGHT, CARTED, MAX_INTEREST_ITEMS, WISHLISTED};
use waymark::state::ShopperState;
use waymark::time::{Duration, Timestamp};
use waymark::value::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    start: String,
    /// Views of `v0`, `v1`, … one minute apart, before `events`.
    #[serde(default)]
    generate_views: usize,
    events: Vec<Step>,
    expect: Expect,
    #[serde(default)]
    then: Vec<Step>,
    #[serde(default)]
    expect_after: Option<Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at: String,
    event: String,
    #[serde(default)]
    properties: Map,
    #[serde(default)]
    items: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    cart: Option<Vec<String>>,
    #[serde(default)]
    recently_viewed: Option<Vec<String>>,
    #[serde(default)]
    recently_viewed_first: Option<Vec<String>>,
    /// `Interests::recently_viewed_unbought` (what `wm.recentlyViewed(k)` answers) at
    /// each limit given.
    #[serde(default)]
    recently_viewed_row: Vec<Row>,
    #[serde(default)]
    items: BTreeMap<String, ItemExpect>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    top_categories: Option<Vec<String>>,
    /// Category → points at the last event's time (±0.01).
    #[serde(default)]
    affinity: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    /// None: no limit.
    #[serde(default)]
    limit: Option<usize>,
    ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemExpect {
    views: u16,
    price: Option<u32>,
    in_cart: u16,
    flags: Vec<String>,
}

fn event(start: Timestamp, step: &Step) -> Event {
    let at = Duration::parse(&step.at).unwrap_or_else(|e| panic!("bad offset {:?}: {e}", step.at));
    let mut properties = step.properties.clone();
    if let Some(items) = &step.items {
        properties.insert("items".to_owned(), Value::Array(items.clone()));
    }
    Event::new(&step.event, start.plus(at), properties)
}

fn check(name: &str, interests: &Interests, expect: &Expect, now: Timestamp, categories: &[String]) {
    let ids = |list: Vec<&waymark::interest::ItemInterest>| list.into_iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    if let Some(cart) = &expect.cart {
        assert_eq!(&ids(interests.cart()), cart, "{name}: cart");
    }
    if let Some(viewed) = &expect.recently_viewed {
        assert_eq!(&ids(interests.recently_viewed()), viewed, "{name}: recently viewed");
    }
    if let Some(first) = &expect.recently_viewed_first {
        let viewed = ids(interests.recently_viewed());
        assert_eq!(&viewed[..first.len()], first.as_slice(), "{name}: recently viewed first");
    }
    for row in &expect.recently_viewed_row {
        let shown = ids(interests.recently_viewed_unbought(row.limit.unwrap_or(usize::MAX)));
        assert_eq!(shown, row.ids, "{name}: recently viewed row, limit {:?}", row.limit);
    }
    if let Some(count) = expect.count {
        assert_eq!(interests.items.len(), count, "{name}: items kept");
    }
    for id in &expect.absent {
        assert!(interests.item(id).is_none(), "{name}: {id} should not be remembered");
    }
    for (id, want) in &expect.items {
        let item = interests.item(id).unwrap_or_else(|| panic!("{name}: {id} not remembered"));
        assert_eq!(item.views, want.views, "{name}: {id} views");
        assert_eq!(item.price, want.price, "{name}: {id} price seen");
        assert_eq!(item.in_cart, want.in_cart, "{name}: {id} in cart");
        let mut flags = Vec::new();
        for (flag, label) in [(CARTED, "carted"), (WISHLISTED, "wishlisted"), (BOUGHT, "bought")] {
            if item.has(flag) {
                flags.push(label.to_owned());
            }
        }
        assert_eq!(flags, want.flags, "{name}: {id} flags");
    }
    if let Some(top) = &expect.top_categories {
        let named: BTreeMap<Hash32, &String> = categories.iter().map(|c| (Hash32::of_category(c), c)).collect();
        let ranked: Vec<String> = interests
            .top_categories(now)
            .iter()
            .map(|(h, _)| named.get(h).map_or("?".to_owned(), |c| (*c).clone()))
            .collect();
        assert_eq!(&ranked, top, "{name}: categories by affinity");
    }
    for (category, points) in &expect.affinity {
        let found = interests.affinity(Hash32::of_category(category), now);
        assert!((found - points).abs() < 0.01, "{name}: affinity of {category}: {found}, expected {points}");
    }
}

/// Observes each step's event; `now` follows the latest, `categories` collects the names.
fn feed(
    start: Timestamp,
    steps: &[Step],
    interests: &mut Interests,
    now: &mut Timestamp,
    categories: &mut Vec<String>,
) {
    for step in steps {
        let e = event(start, step);
        for item in e.items() {
            categories.extend(item.category.map(str::to_owned));
        }
        *now = (*now).max(e.time);
        interests.observe(&e);
    }
}

#[test]
fn interest_cases() {
    for path in cases::case_files("interest") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!case.description.is_empty(), "{name}: a case says what it checks");
        let start = Timestamp::parse_rfc3339(&case.start).unwrap();
        let mut interests = Interests::default();
        let mut categories: Vec<String> = Vec::new();
        let mut now = start;
        for i in 0..case.generate_views {
            let item = Map::from_iter([("item_id".to_owned(), Value::from(format!("v{i}")))]);
            let props = Map::from_iter([("items".to_owned(), Value::Array(vec![Value::Object(item)]))]);
            now = start.plus(Duration(i as i64 * 60_000));
            interests.observe(&Event::new("view_item", now, props));
        }
        feed(start, &case.events, &mut interests, &mut now, &mut categories);
        check(&name, &interests, &case.expect, now, &categories);
        // The same events through a whole state, encoded and decoded: nothing lost.
        let mut state = ShopperState::new("anon-1");
        state.interests = interests.clone();
        assert_eq!(ShopperState::decode(&state.encode()).unwrap().interests, interests, "{name}: round trip");
        if let Some(after) = &case.expect_after {
            feed(start, &case.then, &mut interests, &mut now, &mut categories);
            check(&name, &interests, after, now, &categories);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Merge laws over memories built from events (the wide generators of tests/state.rs
// cover arbitrary decoded copies)
// ---------------------------------------------------------------------------------------

fn stream() -> impl Strategy<Value = Interests> {
    let name = prop::sample::select(vec![
        "view_item",
        "add_to_cart",
        "remove_from_cart",
        "add_to_wishlist",
        "purchase",
        "view_cart",
    ]);
    let item = (0u8..24, prop::option::of(0u8..4), prop::option::of(0u32..500), 1u8..4);
    prop::collection::vec((name, 0i64..10_000, prop::collection::vec(item, 1..3)), 0..30).prop_map(|events| {
        let mut interests = Interests::default();
        for (name, minute, items) in events {
            let items = items
                .into_iter()
                .map(|(id, cat, price, qty)| {
                    let mut m = Map::from_iter([
                        ("item_id".to_owned(), Value::from(format!("i{id}"))),
                        ("quantity".to_owned(), Value::from(f64::from(qty))),
                    ]);
                    if let Some(c) = cat {
                        m.insert("item_category".to_owned(), Value::from(format!("c{c}")));
                    }
                    if let Some(p) = price {
                        m.insert("price".to_owned(), Value::from(f64::from(p) / 4.0));
                    }
                    Value::Object(m)
                })
                .collect();
            let props = Map::from_iter([("items".to_owned(), Value::Array(items))]);
            interests.observe(&Event::new(name, Timestamp(1_780_000_000_000 + minute * 60_000), props));
        }
        interests
    })
}

fn merged(a: &Interests, b: &Interests) -> Interests {
    let mut out = a.clone();
    out.merge(b);
    out
}

proptest! {
    #[test]
    fn merge_is_a_bounded_join(a in stream(), b in stream(), c in stream()) {
        let ab = merged(&a, &b);
        prop_assert!(ab.items.len() <= MAX_INTEREST_ITEMS);
        prop_assert_eq!(ab.check_bounds(), Ok(()));
        prop_assert_eq!(&ab, &merged(&b, &a), "commutative");
        prop_assert_eq!(merged(&ab, &c), merged(&a, &merged(&b, &c)), "associative");
        prop_assert_eq!(&merged(&ab, &ab), &ab, "idempotent");
        prop_assert_eq!(&merged(&ab, &b), &ab, "absorbs a part");
    }
}

/// What the memory costs a typical shopper: the state after the seed browsing session
/// (three shoes viewed, one carted), with and without the interest memory. Printed
/// (`-- --nocapture`), and bounded so that a change that bloats it is seen.
#[test]
fn a_typical_shopper_pays_little_for_the_memory() {
    let start = Timestamp(1_780_000_000_000);
    let mut state = ShopperState::new("anon-3f9a2c");
    let view = |id: &str, price: f64| {
        let item = Map::from_iter([
            ("item_id".to_owned(), Value::from(id)),
            ("item_category".to_owned(), Value::from("shoes")),
            ("price".to_owned(), Value::from(price)),
        ]);
        Map::from_iter([("items".to_owned(), Value::Array(vec![Value::Object(item)]))])
    };
    let events = [
        Event::new("view_item", start, view("sku-101", 120.0)),
        Event::new("view_item", start.plus(Duration(60_000)), view("sku-102", 89.0)),
        Event::new("view_item", start.plus(Duration(120_000)), view("sku-103", 99.5)),
        Event::new("add_to_cart", start.plus(Duration(180_000)), view("sku-103", 99.5)),
    ];
    for e in &events {
        state.signals.observe(e, &Default::default(), Duration(30 * 60_000));
        state.interests.observe(e);
    }
    let with = state.encode().len();
    let mut without = state.clone();
    without.interests = Interests::default();
    let without = without.encode().len();
    println!("typical shopper state: {without} bytes without the interest memory, {with} with it");
    assert_eq!(state.interests.items.len(), 3);
    assert!(with - without <= 90, "the memory of 3 items and 1 category costs {} bytes", with - without);
}
