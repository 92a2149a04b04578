//! The order memory: data-driven cases (tests/cases/orders/*.json: purchases and refunds →
//! the orders kept, their values and refunds), and merge laws over memories built from
//! random event streams (the wide generators of tests/state.rs cover arbitrary copies).

#[path = "support/cases.rs"]
mod cases;

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Deserialize;
use waymark::event::Event;
use waymark::orders::Orders;
use waymark::state::ShopperState;
use waymark::time::{Duration, Timestamp};
use waymark::value::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    start: String,
    events: Vec<Step>,
    /// Order id → what is kept of it; ids not listed are not kept.
    expect: BTreeMap<String, OrderExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at: String,
    event: String,
    #[serde(default)]
    properties: Map,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderExpect {
    /// Offset of the purchase from `start`.
    at: String,
    /// Hundredths.
    value: u64,
    /// Hundredths.
    refunded: u64,
}

#[test]
fn order_cases() {
    for path in cases::case_files("orders") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!case.description.is_empty(), "{name}: a case says what it checks");
        let start = Timestamp::parse_rfc3339(&case.start).unwrap();
        let offset = |text: &str| start.plus(Duration::parse(text).unwrap_or_else(|e| panic!("{name}: {text}: {e}")));
        let mut orders = Orders::default();
        for step in &case.events {
            orders.observe(&Event::new(&step.event, offset(&step.at), step.properties.clone()));
        }
        let kept: Vec<&str> = orders.list.iter().map(|o| o.id.as_str()).collect();
        let wanted: Vec<&str> = case.expect.keys().map(String::as_str).collect();
        assert_eq!(kept, wanted, "{name}: the orders kept");
        for (id, want) in &case.expect {
            let order = orders.get(id).unwrap_or_else(|| panic!("{name}: {id} not kept"));
            assert_eq!(
                (order.at, order.value, order.refunded),
                (offset(&want.at), want.value, want.refunded),
                "{name}: {id} (time, value, refunded)"
            );
        }
        let mut state = ShopperState::new("anon-1");
        state.orders = orders.clone();
        assert_eq!(ShopperState::decode(&state.encode()).unwrap().orders, orders, "{name}: round trip");
    }
}

fn stream() -> impl Strategy<Value = Orders> {
    let step =
        (prop::sample::select(vec!["purchase", "refund"]), 0u8..12, prop::option::of(0u32..50_000), 0i64..10_000);
    prop::collection::vec(step, 0..24).prop_map(|steps| {
        let mut orders = Orders::default();
        for (name, id, value, minute) in steps {
            let mut properties = Map::from_iter([("transaction_id".to_owned(), Value::from(format!("T{id}")))]);
            if let Some(value) = value {
                properties.insert("value".to_owned(), Value::from(f64::from(value) / 100.0));
            }
            orders.observe(&Event::new(name, Timestamp(1_780_000_000_000 + minute * 60_000), properties));
        }
        orders
    })
}

fn merged(a: &Orders, b: &Orders) -> Orders {
    let mut m = a.clone();
    m.merge(b);
    m
}

proptest! {
    #[test]
    fn merge_is_a_bounded_join(a in stream(), b in stream(), c in stream()) {
        let ab = merged(&a, &b);
        prop_assert_eq!(ab.check_bounds(), Ok(()));
        prop_assert_eq!(&ab, &merged(&b, &a), "commutative");
        prop_assert_eq!(merged(&ab, &c), merged(&a, &merged(&b, &c)), "associative");
        prop_assert_eq!(&merged(&ab, &ab), &ab, "idempotent");
        prop_assert_eq!(&merged(&ab, &b), &ab, "absorbs a part");
    }
}
