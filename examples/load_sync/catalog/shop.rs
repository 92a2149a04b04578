//! The shop the catalog bench runs on, all deterministic: the catalog feed (the synthetic
//! shop of `waymark::server::recommend::synth`, priced, plus the item whose price drops),
//! the shoppers who viewed that item at its old price, the shoppers whose interest
//! memories hold the recommender's interactions, and the state of a typical shopper with
//! and without the interest memory. Every memory is built the way the engine builds it:
//! events observed by `Interests::observe`.

use waymark::interest::{Interests, BOUGHT, CARTED, MAX_INTEREST_ITEMS, WISHLISTED};
use waymark::journey::Channel;
use waymark::server::recommend::synth::{self, Rng, SynthParams};
use waymark::time::{DAY, HOUR, MINUTE, SECOND};
use waymark::{Duration, Event, Map, ShopperState, Timestamp, Value};

/// The item whose price drops.
pub const DROP_ITEM: &str = "drop-x";
/// Its price before the drop, in currency units (what the shoppers saw).
pub const OLD_PRICE: f64 = 100.0;
/// Its price after.
pub const NEW_PRICE: f64 = 80.0;
/// Its category.
const DROP_CATEGORY: &str = "deals";

/// The synthetic shop of `items` items (40 categories, the recommender bench's seed).
pub fn params(items: usize) -> SynthParams {
    SynthParams { items, ..SynthParams::bench() }
}

/// The price of synthetic item number `n`, currency units: 5.00 to 199.99.
fn price_of(n: usize) -> f64 {
    (500 + (n * 7_919) % 19_500) as f64 / 100.0
}

/// One feed line of the item that drops, at `price`.
pub fn drop_line(price: f64) -> String {
    let line = serde_json::json!({
        "id": DROP_ITEM,
        "title": "Trail Runner X",
        "description": "The shoe whose price drops.",
        "link": format!("https://shop.example/p/{DROP_ITEM}"),
        "price": format!("{price:.2} USD"),
        "availability": "in_stock",
        "product_type": DROP_CATEGORY,
        "brand": "brand0",
    });
    format!("{line}\n")
}

/// The whole catalog as a JSON lines feed: the synthetic items, then the one that drops
/// (at its old price).
pub fn feed(params: &SynthParams) -> String {
    let mut out = String::new();
    for (n, item) in synth::catalog(params).iter().enumerate() {
        let line = serde_json::json!({
            "id": item.id,
            "title": item.title,
            "description": item.description,
            "link": format!("https://shop.example/p/{}", item.id),
            "price": format!("{:.2} USD", price_of(n)),
            "availability": if item.in_stock { "in_stock" } else { "out_of_stock" },
            "product_type": item.category,
            "brand": item.brand,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out.push_str(&drop_line(OLD_PRICE));
    out
}

/// An event on one item, as a storefront sends it.
fn item_event(name: &str, id: &str, category: &str, price: f64, at: Timestamp) -> Event {
    let item = Map::from_iter([
        ("item_id".to_owned(), Value::from(id)),
        ("item_category".to_owned(), Value::from(category)),
        ("price".to_owned(), Value::from(price)),
    ]);
    Event::new(name, at, Map::from_iter([("items".to_owned(), Value::Array(vec![Value::Object(item)]))]))
}

/// Fan-out shopper number `i`: an email address with consent, and a view of the item
/// that drops, at its old price, one to two hours before `now`.
pub fn fan_out_state(id: &str, i: usize, now: Timestamp) -> ShopperState {
    let mut s = ShopperState::new(id);
    s.set_trait("email", format!("{id}@example.com").into(), now).unwrap();
    s.set_consent(Channel::Email, true, now);
    let seen = now.minus(Duration(HOUR + (i % 3_600) as i64 * SECOND));
    s.interests.observe(&item_event("view_item", DROP_ITEM, DROP_CATEGORY, OLD_PRICE, seen));
    s
}

/// The interactions the recommender reads from one memory: per item, viewed, carted (or
/// wishlisted), bought (as `service.rs` turns index rows into interactions).
pub fn interactions_of(interests: &Interests) -> usize {
    interests
        .items
        .iter()
        .map(|i| {
            usize::from(i.views > 0) + usize::from(i.flags & (CARTED | WISHLISTED) != 0) + usize::from(i.has(BOUGHT))
        })
        .sum()
}

/// Shoppers (`reco-N`) whose memories hold at least `interactions` interactions with the
/// synthetic items, in the synthetic shop's shape: each shopper remembers 1 to 16 items
/// (the memory's bound), 70% from a home category; within a category a few items draw
/// most views (cubic skew); each item viewed, 10% then carted, 5% carted and bought; all in the
/// 30 days before `now`. Returns them with the interactions they hold.
pub fn reco_states(params: &SynthParams, interactions: usize, now: Timestamp) -> (Vec<(String, ShopperState)>, usize) {
    let mut rng = Rng::new(params.seed);
    let categories = params.categories.max(1);
    let per_category = params.items.div_ceil(categories).max(1);
    let (mut out, mut total) = (Vec::new(), 0);
    while total < interactions && params.items > 0 {
        let id = format!("reco-{}", out.len());
        let mut s = ShopperState::new(&id);
        let home = out.len().wrapping_mul(2_654_435_761) % categories;
        let wanted = 1 + rng.below(MAX_INTEREST_ITEMS);
        let mut at = now.minus(Duration(DAY + (rng.unit() * (29 * DAY) as f64) as i64));
        for _ in 0..wanted * 4 {
            if s.interests.items.len() >= wanted {
                break;
            }
            let category = if rng.unit() < 0.7 { home } else { rng.below(categories) };
            let r = rng.unit();
            let n = ((r * r * r) * per_category as f64) as usize * categories + category;
            if n >= params.items {
                continue;
            }
            let (id, category, price) = (synth::item_id(n), synth::category_name(category), price_of(n));
            at = at.plus(Duration(MINUTE));
            s.interests.observe(&item_event("view_item", &id, &category, price, at));
            let k = rng.unit();
            if k < 0.15 {
                at = at.plus(Duration(MINUTE));
                s.interests.observe(&item_event("add_to_cart", &id, &category, price, at));
            }
            if k < 0.05 {
                at = at.plus(Duration(MINUTE));
                s.interests.observe(&item_event("purchase", &id, &category, price, at));
            }
        }
        total += interactions_of(&s.interests);
        out.push((id, s));
    }
    (out, total)
}

/// The encoded state of a typical shopper without and with the interest memory, bytes:
/// the seed browsing session (three shoes viewed, one carted) through the intent signals
/// and the memory, as tests/interest.rs measures it.
pub fn typical_state_bytes() -> (usize, usize) {
    let start = Timestamp(1_780_000_000_000);
    let mut state = ShopperState::new("anon-3f9a2c");
    let events = [
        item_event("view_item", "sku-101", "shoes", 120.0, start),
        item_event("view_item", "sku-102", "shoes", 89.0, start.plus(Duration(MINUTE))),
        item_event("view_item", "sku-103", "shoes", 99.5, start.plus(Duration(2 * MINUTE))),
        item_event("add_to_cart", "sku-103", "shoes", 99.5, start.plus(Duration(3 * MINUTE))),
    ];
    for e in &events {
        state.signals.observe(e, &Default::default(), Duration(30 * MINUTE));
        state.interests.observe(e);
    }
    let with = state.encode().len();
    state.interests = Interests::default();
    (state.encode().len(), with)
}
