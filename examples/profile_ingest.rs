//! Profiling aid (perf, callgrind, heaptrack): the `make bench` track loop
//! natively — one shopper, view_item with one GA4 item every second, the shipped bundle.
//!   cargo run --release --example profile_ingest [events]
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

use std::path::Path;

use waymark::journey::diagnostics::compile_paths;
use waymark::journey::tzdb::Tzdb;
use waymark::{Engine, Event, Map, ShopperState, Timestamp, Value};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = Engine::new(compile_paths(&[root.join("templates"), root.join("examples/journeys")], &Tzdb).unwrap());
    let cats = ["shoes", "bags", "hats", "coats"];
    let events: Vec<Map> = (0..64)
        .map(|i| {
            let mut item = Map::new();
            item.insert("item_id".to_owned(), Value::from(format!("sku-{i}")));
            item.insert("item_category".to_owned(), Value::from(cats[i % 4]));
            item.insert("price".to_owned(), Value::from(10.0 + i as f64));
            item.insert("quantity".to_owned(), Value::from(1.0));
            let mut p = Map::new();
            p.insert("items".to_owned(), Value::Array(vec![Value::Object(item)]));
            p
        })
        .collect();
    let mut state = ShopperState::new("bench");
    let mut now = 1_780_300_800_000i64;
    let mut decisions = 0usize;
    let run = |count: usize, state: &mut ShopperState, now: &mut i64, decisions: &mut usize| {
        for i in 0..count {
            *now += 1000;
            let ev = Event::new("view_item", Timestamp(*now), events[i & 63].clone());
            *decisions += engine.ingest(state, &ev, Timestamp(*now)).len();
        }
    };
    run(2000, &mut state, &mut now, &mut decisions);
    let t0 = std::time::Instant::now();
    run(n, &mut state, &mut now, &mut decisions);
    let dt = t0.elapsed();
    println!(
        "{:.3} µs/ingest, {} decisions, state {} bytes, {} runs",
        dt.as_secs_f64() * 1e6 / n as f64,
        decisions,
        state.encode().len(),
        state.runs.len()
    );
}
