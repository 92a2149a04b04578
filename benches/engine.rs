//! Engine benchmarks: ingest per event for a typical shopper with every shipped journey
//! loaded, tick, state encode / decode / merge — and the typical state's size, postcard
//! next to JSON, printed before the timings.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use waymark::journey::diagnostics::compile_paths;
use waymark::journey::tzdb::Tzdb;
use waymark::journey::Channel;
use waymark::{Engine, Event, Map, ShopperState, Timestamp, Value};

const T0: i64 = 1_780_300_800_000;

fn engine() -> Engine {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Engine::new(
        compile_paths(&[root.join("templates"), root.join("examples/journeys")], &Tzdb).expect("shipped journeys"),
    )
}

fn view(i: i64, at: i64) -> Event {
    let mut p = Map::new();
    p.insert("item_id".to_owned(), Value::from(format!("sku-{}", i % 40)));
    p.insert("item_category".to_owned(), Value::from(format!("cat-{}", i % 4)));
    p.insert("price".to_owned(), Value::from(49.0));
    Event::new("view_item", Timestamp(at), p)
}

/// A shopper mid-session: consent, an address, a few views, a cart, a search.
fn typical(engine: &Engine) -> ShopperState {
    let mut s = ShopperState::new("anon-3f9a2c");
    s.set_consent(Channel::Email, true, Timestamp(T0));
    s.set_trait("email", Value::from("shopper@example.com"), Timestamp(T0)).unwrap();
    for i in 0..6 {
        engine.ingest(&mut s, &view(i, T0 + i * 40_000), Timestamp(T0 + i * 40_000));
    }
    let mut cart = Map::new();
    cart.insert("item_id".to_owned(), Value::from("sku-3"));
    cart.insert("price".to_owned(), Value::from(49.0));
    engine.ingest(&mut s, &Event::new("add_to_cart", Timestamp(T0 + 300_000), cart), Timestamp(T0 + 300_000));
    let mut search = Map::new();
    search.insert("search_term".to_owned(), Value::from("linen shirt"));
    engine.ingest(&mut s, &Event::new("search", Timestamp(T0 + 320_000), search), Timestamp(T0 + 320_000));
    s
}

fn benches(c: &mut Criterion) {
    let engine = engine();
    let state = typical(&engine);
    let bytes = state.encode();
    let json = serde_json::to_string(&state).unwrap();
    println!(
        "typical shopper state: {} bytes postcard, {} bytes JSON ({} runs, {} contacts)",
        bytes.len(),
        json.len(),
        state.runs.len(),
        state.contacts.len()
    );

    let mut i = 0i64;
    c.bench_function("ingest view_item (typical shopper, 13 journeys)", |b| {
        b.iter_batched_ref(
            || state.clone(),
            |s| {
                i += 1;
                let at = T0 + 400_000 + i;
                black_box(engine.ingest(s, &view(i, at), Timestamp(at)))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("tick (nothing due)", |b| {
        b.iter_batched_ref(
            || state.clone(),
            |s| black_box(engine.tick(s, Timestamp(T0 + 400_000))),
            criterion::BatchSize::SmallInput,
        )
    });
    c.bench_function("state encode", |b| b.iter(|| black_box(state.encode())));
    c.bench_function("state decode", |b| b.iter(|| black_box(ShopperState::decode(&bytes).unwrap())));
    let other = typical(&engine);
    c.bench_function("state merge", |b| {
        b.iter_batched_ref(|| state.clone(), |s| s.merge(black_box(&other)), criterion::BatchSize::SmallInput)
    });
}

criterion_group! {
    name = engine_benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}
criterion_main!(engine_benches);
