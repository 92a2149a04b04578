//! Intent: data-driven cases (tests/cases/intent/*.json: events with times → expected
//! tier), the state size bound, merge laws (proptest), score range, hysteresis and lookups.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

#[path = "support/cases.rs"]
mod cases;

use std::path::Path;

use proptest::prelude::*;
use serde::Deserialize;
use waymark::event::Event;
use waymark::intent::{IntentModel, IntentModelSource, Signals, Tier, FEATURES, SIGNAL_NAMES};
use waymark::time::{Duration, Timestamp, MINUTE};
use waymark::value::{Map, Value};

const TIMEOUT: Duration = Duration(30 * MINUTE);

// ---------------------------------------------------------------------------------------
// Data-driven cases
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default)]
    model: Option<IntentModelSource>,
    #[serde(default)]
    session_timeout: Option<String>,
    start: String,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    /// Offset from `start` ("0s", "1m", "1h2m").
    at: String,
    /// Event name; absent = no event, only re-evaluate the tier at `at`.
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    properties: Map,
    /// Shorthand for `properties.items`.
    #[serde(default)]
    items: Option<Vec<Value>>,
    #[serde(default)]
    expect: Option<Tier>,
    #[serde(default)]
    expect_max: Option<Tier>,
    #[serde(default)]
    new_session: Option<bool>,
    #[serde(default)]
    score_min: Option<f64>,
    #[serde(default)]
    score_max: Option<f64>,
    /// Expected `signals.<name>` lookups.
    #[serde(default)]
    signals: Map,
}

fn run_case(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let case: Case = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model = IntentModel::from_source(case.model.as_ref()).unwrap();
    let timeout = case.session_timeout.as_deref().map(|t| Duration::parse(t).unwrap()).unwrap_or(TIMEOUT);
    let start = Timestamp::parse_rfc3339(&case.start).unwrap();
    let trace = std::env::var_os("INTENT_TRACE").is_some();
    let mut signals = Signals::default();
    let mut failures = Vec::new();
    for (i, step) in case.steps.iter().enumerate() {
        let now = start.plus(Duration::parse(&step.at).unwrap());
        let at = format!("{} step {i} ({} @{})", path.display(), step.event.as_deref().unwrap_or("-"), step.at);
        if let Some(name) = &step.event {
            let mut props = step.properties.clone();
            if let Some(items) = &step.items {
                props.insert("items".into(), Value::Array(items.clone()));
            }
            let obs = signals.observe(&Event::new(name, now, props), &model, timeout);
            if let Some(want) = step.new_session {
                if obs.new_session != want {
                    failures.push(format!("{at}: new_session {} != {want}", obs.new_session));
                }
            }
        }
        signals.update_tier(now, &model);
        let score = signals.score(now, &model);
        if trace {
            let why: Vec<String> = signals.explain(now, &model).iter().map(ToString::to_string).collect();
            eprintln!("{at}: score {score:.4} tier {} [{}]", signals.tier(), why.join(", "));
        }
        if !(0.0..=1.0).contains(&score) {
            failures.push(format!("{at}: score {score} out of [0,1]"));
        }
        if let Some(want) = step.expect {
            if signals.tier() != want {
                failures.push(format!("{at}: tier {} (score {score:.4}), expected {want}", signals.tier()));
            }
        }
        if let Some(max) = step.expect_max {
            if signals.tier() > max {
                failures.push(format!("{at}: tier {} (score {score:.4}), expected at most {max}", signals.tier()));
            }
        }
        if step.score_min.is_some_and(|m| score < m) || step.score_max.is_some_and(|m| score > m) {
            failures.push(format!("{at}: score {score:.4} outside [{:?}, {:?}]", step.score_min, step.score_max));
        }
        for (name, want) in &step.signals {
            let got = signals.lookup(name, now, &model);
            let ok = match (&got, want) {
                (Some(Value::Number(g)), Value::Number(w)) => (g - w).abs() < 1e-6,
                (g, w) => g.as_ref() == Some(w),
            };
            if !ok {
                failures.push(format!("{at}: signals.{name} = {got:?}, expected {want:?}"));
            }
        }
    }
    if failures.is_empty() && trace {
        eprintln!("ok: {}", case.description);
    }
    failures
}

#[test]
fn cases() {
    let paths = cases::case_files("intent");
    assert!(paths.len() >= 5, "expected at least 5 intent cases, found {}", paths.len());
    let failures: Vec<String> = paths.iter().flat_map(|p| run_case(p)).collect();
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn item(id: &str, category: &str, price: f64) -> Value {
    let mut m = Map::new();
    m.insert("item_id".to_owned(), Value::from(id));
    m.insert("item_category".to_owned(), Value::from(category));
    m.insert("price".to_owned(), Value::from(price));
    Value::Object(m)
}

fn ev(name: &str, t: i64, props: &[(&str, Value)]) -> Event {
    let props = props.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    Event::new(name, Timestamp(t), props)
}

fn view(t: i64, id: &str, category: &str) -> Event {
    ev("view_item", t, &[("items", Value::Array(vec![item(id, category, 30.0)]))])
}

/// A deterministic, varied event: one of every kind intent understands, plus noise.
fn varied_event(k: u64, t: i64) -> Event {
    let id = format!("sku-{}", k % 97);
    let cat = format!("cat-{}", k % 13);
    let items = Value::Array(vec![item(&id, &cat, (k % 200) as f64)]);
    let device = ["mobile", "desktop", "tablet"][(k % 3) as usize];
    match k % 14 {
        0..=3 => ev("view_item", t, &[("items", items), ("device", Value::from(device))]),
        4 => ev("page_view", t, &[("engagement_time_msec", Value::from((k % 50_000) as f64))]),
        5 => ev("add_to_cart", t, &[("items", items)]),
        6 => ev("remove_from_cart", t, &[("items", items)]),
        7 => ev("view_cart", t, &[("value", Value::from((k % 500) as f64))]),
        8 => ev("search", t, &[("search_term", Value::from(format!("q{}", k % 7)))]),
        9 => ev("select_item", t, &[("items", items)]),
        10 => ev("begin_checkout", t, &[("value", Value::from(99.0))]),
        11 => ev("purchase", t, &[("value", Value::from(99.0))]),
        12 => ev("login", t, &[("channel", Value::from(device))]),
        _ => ev("custom_thing", t, &[("x", Value::from(k as f64))]),
    }
}

fn fold(events: &[Event], model: &IntentModel) -> Signals {
    let mut s = Signals::default();
    for e in events {
        s.observe(e, model, TIMEOUT);
        s.update_tier(e.time, model);
    }
    s
}

// ---------------------------------------------------------------------------------------
// Seed example, decay and hysteresis
// ---------------------------------------------------------------------------------------

#[test]
fn seed_example_tiers() {
    let m = IntentModel::default();
    let mut s = Signals::default();
    let mut tiers = Vec::new();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let t = i as i64 * MINUTE;
        s.observe(&view(t, id, "shoes"), &m, TIMEOUT);
        s.update_tier(Timestamp(t), &m);
        tiers.push(s.tier());
    }
    assert_eq!(tiers, [Tier::Cold, Tier::Warm, Tier::Hot]);
    // The explanation names the category depth.
    let why: Vec<String> = s.explain(Timestamp(2 * MINUTE), &m).iter().map(ToString::to_string).collect();
    assert!(why.iter().any(|w| w.starts_with("category_depth 3 (+")), "{why:?}");
}

#[test]
fn idle_decay_drops_tier_only_past_hysteresis() {
    let m = IntentModel::default();
    let events: Vec<Event> =
        ["a", "b", "c"].iter().enumerate().map(|(i, id)| view(i as i64 * MINUTE, id, "shoes")).collect();
    let mut s = fold(&events, &m);
    assert_eq!(s.tier(), Tier::Hot);
    let hot = m.threshold(Tier::Hot);
    let mut saw_band = false;
    let mut last_score = 1.0;
    for sec in (120..120 + 3600).step_by(10) {
        let now = Timestamp(sec * 1000);
        let score = s.score(now, &m);
        assert!(score <= last_score, "score must not rise while idle");
        last_score = score;
        let before = s.tier();
        s.update_tier(now, &m);
        if score >= hot - m.hysteresis() && score < hot {
            saw_band = true;
            assert_eq!(s.tier(), Tier::Hot, "inside the hysteresis band the tier holds");
        }
        if before == Tier::Hot && s.tier() != Tier::Hot {
            assert!(score < hot - m.hysteresis());
        }
    }
    assert!(saw_band, "decay passed through the hysteresis band");
    assert_eq!(s.tier(), Tier::Cold, "an idle hour later the shopper is cold");
}

#[test]
fn no_flapping_around_a_threshold() {
    // Page views alone, tuned so each view lifts the score just above `warm` and a few
    // idle minutes bring it just below, by less than the hysteresis.
    let src: IntentModelSource = serde_json::from_value(serde_json::json!({
        "bias": -1.0, "weights": {"page_views": 0.6}, "tiers": {"warm": 0.35, "hot": 0.9},
        "hysteresis": 0.05, "half_life": "20m"
    }))
    .unwrap();
    let mut w = Map::new();
    for f in FEATURES {
        w.insert(f.to_owned(), 0.0);
    }
    w.insert("page_views".to_owned(), 0.6);
    let src = IntentModelSource { weights: Some(w), ..src };
    let m = IntentModel::from_source(Some(&src)).unwrap();
    let warm = m.threshold(Tier::Warm);
    let mut s = Signals::default();
    let mut changes = 0;
    let mut crossings = 0;
    let mut t = 0;
    let mut above = false;
    s.observe(&ev("page_view", t, &[]), &m, TIMEOUT);
    for _ in 0..40 {
        // Let the score sag below `warm` (but not below warm − hysteresis), then view again.
        loop {
            let score = s.score(Timestamp(t), &m);
            if score >= warm {
                if !above {
                    crossings += 1;
                }
                above = true;
            } else {
                if above {
                    crossings += 1;
                }
                above = false;
            }
            changes += usize::from(s.update_tier(Timestamp(t), &m).is_some());
            if score < warm - 0.02 {
                break;
            }
            t += 10_000;
        }
        assert!(s.score(Timestamp(t), &m) > warm - m.hysteresis());
        s.observe(&ev("page_view", t, &[]), &m, TIMEOUT);
        let score = s.score(Timestamp(t), &m);
        assert!(score < warm + m.hysteresis(), "oscillation {score} stays within the hysteresis");
        changes += usize::from(s.update_tier(Timestamp(t), &m).is_some());
    }
    assert!(crossings > 20, "the score did cross the threshold ({crossings})");
    assert!(changes <= 1, "tier changed {changes} times");
    assert_eq!(s.tier(), Tier::Warm);
}

// ---------------------------------------------------------------------------------------
// Size, determinism, robustness
// ---------------------------------------------------------------------------------------

#[test]
fn state_size_is_bounded() {
    let m = IntentModel::default();
    let mut s = Signals::default();
    let mut t = 0i64;
    let mut k: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut max = 0;
    for i in 0..10_000u64 {
        k = k.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        // Mostly seconds apart, sometimes a new session.
        t += if i % 500 == 499 { 2 * 3_600_000 } else { ((k >> 40) % 30_000) as i64 };
        s.observe(&varied_event(k >> 33, t), &m, TIMEOUT);
        s.update_tier(Timestamp(t), &m);
        if i % 97 == 0 || i > 9_900 {
            max = max.max(postcard::to_allocvec(&s).unwrap().len());
        }
    }
    // Worst case: one session that views 8 categories × 8 items.
    let mut full = Signals::default();
    for c in 0..20 {
        for i in 0..20 {
            full.observe(&view((c * 20 + i) * 1000, &format!("p{c}-{i}"), &format!("c{c}")), &m, TIMEOUT);
        }
    }
    let bytes = postcard::to_allocvec(&full).unwrap();
    eprintln!("postcard size: varied max {max} bytes, full item memory {} bytes", bytes.len());
    assert!(max < 600, "{max} bytes");
    assert!(bytes.len() < 600, "{} bytes", bytes.len());
    let back: Signals = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, full);
}

#[test]
fn scores_are_bit_stable() {
    // Golden bits: the same events must give the same floats natively and in wasm (libm
    // for every transcendental, decay from timestamps only). Mid-range scores on purpose.
    let m = IntentModel::default();
    let seed: Vec<Event> =
        ["a", "b", "c"].iter().enumerate().map(|(i, id)| view(i as i64 * 61_000, id, "shoes")).collect();
    let s = fold(&seed, &m);
    let mut bits: Vec<u64> =
        [130_000, 600_000, 1_234_567, 3_700_000].iter().map(|t| s.score(Timestamp(*t), &m).to_bits()).collect();
    let varied: Vec<Event> = (0..40u64).map(|k| varied_event(k * 7 + 3, k as i64 * 45_000)).collect();
    let v = fold(&varied, &m);
    bits.push(v.score(Timestamp(40 * 45_000 + 3_000_000), &m).to_bits());
    bits.push(v.logit(Timestamp(40 * 45_000 + 3_000_000), &m).to_bits());
    eprintln!("score bits {bits:#x?}");
    assert_eq!(bits, GOLDEN_SCORE_BITS);
}

const GOLDEN_SCORE_BITS: [u64; 6] = [
    0x3fe9_0c59_a223_4978,
    0x3fe3_3246_fffb_8dce,
    0x3fd8_0abd_e098_efc7,
    0x3fb7_4b89_e249_203a,
    0x3fee_ae62_2eaf_6717,
    0x4009_2ce2_8f4b_c654,
];

#[test]
fn model_round_trips_through_postcard() {
    let m = IntentModel::default();
    let back: IntentModel = postcard::from_bytes(&postcard::to_allocvec(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn hostile_inputs_do_not_panic() {
    let m = IntentModel::default();
    let mut s = Signals::default();
    let weird = [
        Value::Number(f64::NAN),
        Value::Number(f64::INFINITY),
        Value::Number(-1e300),
        Value::from("not a number"),
        Value::Null,
        Value::Array(vec![Value::Null, Value::from(3.0)]),
    ];
    for (i, w) in weird.iter().enumerate() {
        let t = i as i64 * 1000;
        for name in ["view_item", "add_to_cart", "remove_from_cart", "view_cart", "begin_checkout", "page_view"] {
            let e = ev(
                name,
                t,
                &[
                    ("value", w.clone()),
                    ("quantity", w.clone()),
                    ("engagement_time_msec", w.clone()),
                    ("device", w.clone()),
                    ("items", Value::Array(vec![w.clone()])),
                    ("item_id", Value::from("x")),
                    ("price", w.clone()),
                ],
            );
            s.observe(&e, &m, TIMEOUT);
            s.update_tier(Timestamp(t), &m);
            let score = s.score(Timestamp(t), &m);
            assert!((0.0..=1.0).contains(&score), "{score}");
        }
    }
    // Extreme times.
    for t in [i64::MIN, -1, 0, i64::MAX] {
        s.observe(&view(t, "z", "c"), &m, TIMEOUT);
        let score = s.score(Timestamp(t), &m);
        assert!((0.0..=1.0).contains(&score));
        s.update_tier(Timestamp(i64::MIN), &m);
    }
    // Garbage bytes do not decode into a panic either.
    for n in 0..64u8 {
        let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
        if let Ok(mut s) = postcard::from_bytes::<Signals>(&bytes) {
            s.observe(&view(1, "a", "b"), &m, TIMEOUT);
            let _ = s.score(Timestamp(2), &m);
        }
    }
}

#[test]
fn out_of_order_and_sessions() {
    let m = IntentModel::default();
    let mut s = Signals::default();
    assert!(s.observe(&view(10 * MINUTE, "a", "shoes"), &m, TIMEOUT).new_session);
    let late = s.observe(&view(5 * MINUTE, "b", "shoes"), &m, TIMEOUT);
    assert!(late.out_of_order && !late.new_session);
    assert_eq!(s.last_event(), Timestamp(10 * MINUTE));
    assert_eq!(s.lookup("category_depth", Timestamp(10 * MINUTE), &m), Some(Value::Number(2.0)));
    // 45 minutes idle: a new session resets per-session counters, keeps the visit count.
    let now = 55 * MINUTE;
    assert!(s.observe(&view(now, "c", "bags"), &m, TIMEOUT).new_session);
    assert_eq!(s.session_start(), Timestamp(now));
    assert_eq!(s.lookup("product_views", Timestamp(now), &m), Some(Value::Number(1.0)));
    assert_eq!(s.lookup("category_depth", Timestamp(now), &m), Some(Value::Number(1.0)));
    assert_eq!(s.lookup("sessions", Timestamp(now), &m), Some(Value::Number(2.0)));
    let rv = s.lookup("return_visits", Timestamp(now), &m).and_then(|v| v.as_f64()).unwrap();
    assert!(rv > 0.99 && rv <= 1.0, "{rv}");
}

// ---------------------------------------------------------------------------------------
// Model source
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_feature_is_named_with_the_valid_ones() {
    let src: IntentModelSource = serde_json::from_str(r#"{"weights": {"categry_depth": 1.0}}"#).unwrap();
    let err = IntentModel::from_source(Some(&src)).unwrap_err();
    assert_eq!(err.code(), "intent_unknown_feature");
    assert_eq!(err.path(), "/weights/categry_depth");
    let msg = err.to_string();
    assert!(msg.contains("categry_depth") && msg.contains("category_depth") && msg.contains("return_visits"), "{msg}");
}

#[test]
fn model_source_is_checked() {
    let bad = [
        (r#"{"tiers": {"warm": 0.7, "hot": 0.6}}"#, "intent_tiers_out_of_order", "/tiers"),
        (r#"{"tiers": {"hot": 1.5}}"#, "intent_bad_threshold", "/tiers/hot"),
        (r#"{"tiers": {"warm": 0}}"#, "intent_bad_threshold", "/tiers/warm"),
        (r#"{"hysteresis": -0.1}"#, "intent_bad_hysteresis", "/hysteresis"),
        (r#"{"hysteresis": 0.5}"#, "intent_bad_hysteresis", "/hysteresis"),
        (r#"{"half_life": "soon"}"#, "intent_bad_half_life", "/half_life"),
        (r#"{"return_half_life": "0s"}"#, "intent_bad_half_life", "/return_half_life"),
    ];
    for (json, code, path) in bad {
        let src: IntentModelSource = serde_json::from_str(json).unwrap();
        let err = IntentModel::from_source(Some(&src)).unwrap_err();
        assert_eq!((err.code(), err.path().as_str()), (code, path), "{json}: {err}");
    }
    assert!(serde_json::from_str::<IntentModelSource>(r#"{"weight": {}}"#).is_err(), "unknown fields are refused");
    assert!(serde_json::from_str::<IntentModelSource>(r#"{"tiers": {"lukewarm": 0.2}}"#).is_err());
    let nan = IntentModelSource { bias: Some(f64::NAN), ..Default::default() };
    assert_eq!(IntentModel::from_source(Some(&nan)).unwrap_err().code(), "intent_not_finite");
}

#[test]
fn trained_model_drops_in() {
    // A logistic regression exported offline: intercept + coefficients per feature.
    let mut coefficients = serde_json::Map::new();
    for (i, f) in FEATURES.iter().enumerate() {
        coefficients.insert((*f).to_owned(), serde_json::json!(0.1 * i as f64));
    }
    let json = serde_json::json!({"intercept": -2.5, "coefficients": coefficients, "tiers": {"warm": 0.3, "hot": 0.7}});
    let src: IntentModelSource = serde_json::from_value(json).unwrap();
    let m = IntentModel::from_source(Some(&src)).unwrap();
    assert_eq!(m.bias(), -2.5);
    assert_eq!(m.weight("return_visits"), Some(0.1 * 17.0));
    assert_eq!(m.threshold(Tier::Hot), 0.7);
    // Partial weights keep the shipped defaults for the rest.
    let partial: IntentModelSource = serde_json::from_str(r#"{"weights": {"dwell": 0.9}}"#).unwrap();
    let p = IntentModel::from_source(Some(&partial)).unwrap();
    assert_eq!(p.weight("dwell"), Some(0.9));
    assert_eq!(p.weight("category_depth"), IntentModel::default().weight("category_depth"));
    // The score is the documented logistic of the documented features.
    let s = fold(&[view(0, "a", "x"), view(1000, "b", "x")], &m);
    let now = Timestamp(2000);
    let z = s.features(now, &m).iter().fold(m.bias(), |acc, c| acc + c.weight * c.value);
    assert_eq!(s.score(now, &m), 1.0 / (1.0 + libm::exp(-z)));
}

// ---------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------

#[test]
fn every_documented_signal_answers() {
    let m = IntentModel::default();
    let events: Vec<Event> = (0..60u64).map(|k| varied_event(k, k as i64 * 20_000)).collect();
    let s = fold(&events, &m);
    for name in SIGNAL_NAMES {
        assert!(s.lookup(name, Timestamp(1_200_000), &m).is_some(), "signals.{name}");
    }
    assert_eq!(s.lookup("no_such_signal", Timestamp(0), &m), None);
}

#[test]
fn lookups_follow_the_events() {
    let m = IntentModel::default();
    let events = vec![
        ev("page_view", 0, &[("engagement_time_msec", Value::from(12_000.0)), ("device", Value::from("mobile"))]),
        view(10_000, "a", "shoes"),
        view(20_000, "a", "shoes"),
        view(30_000, "a", "shoes"),
        view(40_000, "b", "shoes"),
        ev("search", 50_000, &[("search_term", Value::from("red boots"))]),
        ev("view_search_results", 51_000, &[("search_term", Value::from("red boots"))]),
        ev("search", 60_000, &[("search_term", Value::from("blue boots"))]),
        ev("select_item", 61_000, &[]),
        ev("search", 70_000, &[("search_term", Value::from("green boots"))]),
        ev("add_to_cart", 80_000, &[("items", Value::Array(vec![item("a", "shoes", 40.0), item("b", "shoes", 25.5)]))]),
        ev("remove_from_cart", 90_000, &[("items", Value::Array(vec![item("b", "shoes", 25.5)]))]),
        ev("page_view", 100_000, &[("device", Value::from("desktop"))]),
        ev("begin_checkout", 110_000, &[]),
        ev("login", 120_000, &[]),
    ];
    let s = fold(&events, &m);
    let now = Timestamp(120_000);
    let get = |name: &str| s.lookup(name, now, &m).unwrap();
    assert_eq!(get("product_views"), Value::Number(4.0));
    assert_eq!(get("max_item_views"), Value::Number(3.0));
    assert_eq!(get("repeat_views"), Value::Number(2.0));
    assert_eq!(get("category_depth"), Value::Number(2.0));
    assert_eq!(get("distinct_items"), Value::Number(2.0));
    assert_eq!(get("page_views"), Value::Number(2.0));
    assert_eq!(get("dwell"), Value::Number(12.0));
    assert_eq!(get("session_minutes"), Value::Number(2.0));
    assert_eq!(get("searches"), Value::Number(3.0));
    assert_eq!(get("searches_without_click"), Value::Number(2.0));
    assert_eq!(get("cart_adds"), Value::Number(1.0));
    assert_eq!(get("cart_removes"), Value::Number(1.0));
    assert_eq!(get("cart_items"), Value::Number(1.0));
    assert_eq!(get("cart_value"), Value::Number(40.0));
    assert_eq!(get("checkout_started"), Value::Bool(true));
    assert_eq!(get("payment_info"), Value::Bool(false));
    assert_eq!(get("signed_in"), Value::Bool(true));
    assert_eq!(get("channel_switches"), Value::Number(1.0));
    assert_eq!(get("sessions"), Value::Number(1.0));
    assert_eq!(get("tier"), Value::from("hot"));
    let score = get("score").as_f64().unwrap();
    assert!(score > 0.9 && score <= 1.0);
}

// ---------------------------------------------------------------------------------------
// Properties: merge is a join, score in [0,1]
// ---------------------------------------------------------------------------------------

fn signals_strategy() -> impl Strategy<Value = Signals> {
    // A small alphabet of kinds, ids and times so that copies often share sessions and
    // collide on `last_event`, which is where a tie-break has to hold.
    prop::collection::vec((0u64..200, 0i64..8), 0..25).prop_map(|steps| {
        let m = IntentModel::default();
        let mut t = 0;
        let events: Vec<Event> = steps
            .into_iter()
            .map(|(k, gap)| {
                t += gap * 5 * MINUTE;
                varied_event(k, t)
            })
            .collect();
        fold(&events, &m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_is_commutative(a in signals_strategy(), b in signals_strategy()) {
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        prop_assert_eq!(ab, ba);
    }

    #[test]
    fn merge_is_associative(a in signals_strategy(), b in signals_strategy(), c in signals_strategy()) {
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a.clone();
        right.merge(&bc);
        prop_assert_eq!(left, right);
    }

    #[test]
    fn merge_is_idempotent(a in signals_strategy(), b in signals_strategy()) {
        let mut aa = a.clone();
        aa.merge(&a);
        prop_assert_eq!(&aa, &a);
        let mut ab = a.clone();
        ab.merge(&b);
        let once = ab.clone();
        ab.merge(&b);
        prop_assert_eq!(ab, once);
    }

    #[test]
    fn score_stays_in_unit_interval(s in signals_strategy(), dt in -10_000_000_000i64..10_000_000_000) {
        let m = IntentModel::default();
        let now = s.last_event().plus(Duration(dt));
        let score = s.score(now, &m);
        prop_assert!((0.0..=1.0).contains(&score));
        for f in s.features(now, &m) {
            prop_assert!(f.contribution.is_finite());
        }
    }
}

/// A purchase leaves the features that led to it (the cart and checkout it then clears),
/// once per session; a purchase that opens a session samples that fresh session.
#[test]
fn the_first_purchase_of_a_session_leaves_its_features() {
    let m = IntentModel::default();
    let feature = |name: &str| FEATURES.iter().position(|f| *f == name).unwrap();
    let cart = ev("add_to_cart", 120_000, &[("items", Value::Array(vec![item("p1", "shoes", 30.0)]))]);
    let before = fold(&[view(0, "p1", "shoes"), view(60_000, "p2", "shoes"), cart], &m);
    assert_eq!(before.pre_purchase(&view(180_000, "p3", "shoes"), &m, TIMEOUT), None, "only a purchase samples");

    let purchase = ev("purchase", 180_000, &[("value", Value::from(30.0))]);
    let sample = before.pre_purchase(&purchase, &m, TIMEOUT).expect("the first purchase samples");
    assert_eq!(sample.session_start, Timestamp(0));
    let expected: Vec<f64> = before.features(Timestamp(180_000), &m).iter().map(|c| c.value).collect();
    for (got, want) in sample.values().iter().zip(&expected) {
        assert!((got - want).abs() <= 0.0005, "{got} vs {want}");
    }
    assert!(sample.values()[feature("cart_active")] > 0.9, "the cart it is about to clear");
    assert_eq!(sample.values()[feature("purchased")], 0.0);

    let after = fold(&[view(0, "p1", "shoes"), view(60_000, "p2", "shoes"), purchase.clone()], &m);
    assert_eq!(after.pre_purchase(&ev("purchase", 200_000, &[]), &m, TIMEOUT), None, "not the second one");
    let later = ev("purchase", 180_000 + 2 * 3_600_000, &[]);
    let fresh = after.pre_purchase(&later, &m, TIMEOUT).expect("a purchase opening a session samples it");
    assert_eq!(fresh.session_start, later.time);
    assert_eq!(fresh.values()[feature("product_views")], 0.0);
    assert!(fresh.values()[feature("return_visits")] > 0.0);
}
