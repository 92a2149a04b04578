//! Engine behaviour beyond the scenario files: split buckets and holdout, schedules,
//! audiences, exit rules, duplicate runs after a merge, journeys removed from the bundle,
//! the external send checks, and the state size bound over a long shopper history.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test code: a failed unwrap, index or panic is a failed test")]

use serde_json::{json, Value as Json};
use waymark::journey::model::BundleSource;
use waymark::journey::validate::FixedZones;
use waymark::journey::{compile_bundle, Channel};
use waymark::state::{RunStatus, MAX_RUNS};
use waymark::{Action, Decision, Engine, EngineOptions, Event, Map, Reason, ShopperState, Timestamp, Value};

const T0: i64 = 1_780_300_800_000; // 2026-06-01T08:00:00Z
const MIN: i64 = 60_000;

fn engine(journeys: Json, policy: Json) -> Engine {
    let source: BundleSource = serde_json::from_value(json!({ "journeys": journeys, "policy": policy })).unwrap();
    Engine::new(compile_bundle(&source, &FixedZones).unwrap_or_else(|e| panic!("{e:?}")))
}

fn event(name: &str, at: i64, props: Json) -> Event {
    let props: Map = serde_json::from_value(props).unwrap();
    Event::new(name, Timestamp(at), props)
}

fn ingest(engine: &Engine, state: &mut ShopperState, name: &str, at: i64, props: Json) -> Vec<Decision> {
    engine.ingest(state, &event(name, at, props), Timestamp(at))
}

fn sends(decisions: &[Decision]) -> Vec<&str> {
    decisions.iter().filter(|d| d.action == Action::Send).filter_map(|d| d.content.as_deref()).collect()
}

fn split_journey() -> Json {
    json!([{ "id": "ab", "entry": { "event": "page_view" },
        "steps": [
            { "id": "split", "type": "split", "holdout": 10, "variants": [
                { "name": "a", "weight": 3, "next": "send_a" }, { "name": "b", "weight": 1, "next": "send_b" } ] },
            { "id": "send_a", "type": "send", "channel": "onsite", "content": "a", "next": "done" },
            { "id": "send_b", "type": "send", "channel": "onsite", "content": "b", "next": "done" },
            { "id": "done", "type": "exit" } ] }])
}

#[test]
fn split_follows_weights_and_holdout_and_is_stable() {
    let engine = engine(split_journey(), json!({}));
    let (mut a, mut b, mut held) = (0, 0, 0);
    for i in 0..4000 {
        let mut state = ShopperState::new(&format!("shopper-{i}"));
        let decisions = ingest(&engine, &mut state, "page_view", T0, json!({}));
        match (sends(&decisions).first().copied(), decisions.iter().any(|d| d.reasons.contains(&Reason::Holdout))) {
            (Some("a"), false) => a += 1,
            (Some("b"), false) => b += 1,
            (None, true) => held += 1,
            other => panic!("unexpected outcome {other:?}: {decisions:?}"),
        }
        // Same shopper, same journey → same variant, on any copy of the engine.
        let mut again = ShopperState::new(&format!("shopper-{i}"));
        assert_eq!(sends(&ingest(&engine, &mut again, "page_view", T0 + 5, json!({}))), sends(&decisions));
    }
    assert!((300..500).contains(&held), "holdout ≈ 10% of 4000, got {held}");
    let ratio = f64::from(a) / f64::from(b);
    assert!((2.5..3.6).contains(&ratio), "a:b ≈ 3:1, got {a}:{b}");
}

#[test]
fn split_seed_reshuffles() {
    let variants = |seed: u64| {
        let engine = engine(split_journey(), json!({ "seed": seed }));
        (0..200)
            .map(|i| {
                let mut s = ShopperState::new(&format!("s{i}"));
                sends(&ingest(&engine, &mut s, "page_view", T0, json!({}))).join("")
            })
            .collect::<Vec<_>>()
    };
    assert_ne!(variants(1), variants(2));
    assert_eq!(variants(7), variants(7));
}

#[test]
fn schedule_window_and_audience_gate_entry() {
    let journeys = json!([{ "id": "vip_summer", "entry": { "event": "page_view" },
        "schedule": { "start": "2026-06-01T00:00:00Z", "end": "2026-07-01T00:00:00Z" },
        "audience": { "traits.tier": { "$in": ["gold", "platinum"] } },
        "steps": [ { "id": "hello", "type": "send", "channel": "onsite", "content": "vip" }, { "id": "done", "type": "exit" } ] }]);
    let mut engine = engine(journeys, json!({}));
    let mut gold = ShopperState::new("g");
    gold.set_trait("tier", Value::from("gold"), Timestamp(T0)).unwrap();
    let before = ingest(&engine, &mut gold, "page_view", T0 - 9 * 3_600_000, json!({}));
    assert!(before.is_empty(), "entry skips are reported only when traced: {before:?}");
    engine.set_options(EngineOptions { trace_skips: true, ..EngineOptions::default() });
    let before = ingest(&engine, &mut gold, "page_view", T0 - 10 * 3_600_000, json!({}));
    assert!(before.iter().any(|d| d.action == Action::Suppress && d.reasons == vec![Reason::OutsideSchedule]));
    engine.set_options(EngineOptions::default());
    assert_eq!(sends(&ingest(&engine, &mut gold, "page_view", T0, json!({}))), vec!["vip"]);
    let mut basic = ShopperState::new("b");
    basic.set_trait("tier", Value::from("basic"), Timestamp(T0)).unwrap();
    assert!(ingest(&engine, &mut basic, "page_view", T0, json!({})).is_empty(), "not in the audience: no entry");
}

#[test]
fn exit_rule_ends_a_waiting_run() {
    let journeys = json!([{ "id": "j", "entry": { "event": "view_cart" }, "exit_when": [ { "event": "logout" } ],
        "steps": [ { "id": "wait", "type": "wait_for", "event": "purchase", "timeout": "1d", "on_performed": "done", "on_timed_out": "done" },
                   { "id": "done", "type": "exit" } ] }]);
    let engine = engine(journeys, json!({}));
    let mut s = ShopperState::new("x");
    ingest(&engine, &mut s, "view_cart", T0, json!({}));
    assert_eq!(engine.next_wakeup(&s), Some(Timestamp(T0 + 1440 * MIN)));
    let out = ingest(&engine, &mut s, "logout", T0 + MIN, json!({}));
    assert!(out.iter().any(|d| d.action == Action::Exit && d.reasons == vec![Reason::ExitRule]));
    assert_eq!(engine.next_wakeup(&s), None, "no timer left");
}

#[test]
fn merged_copies_keep_one_run_per_journey() {
    let journeys = json!([{ "id": "j", "entry": { "event": "view_cart" }, "reentry": { "mode": "multiple", "lock": "1m" },
        "steps": [ { "id": "wait", "type": "wait_for", "event": "purchase", "timeout": "1d", "on_performed": "done", "on_timed_out": "done" },
                   { "id": "done", "type": "exit" } ] }]);
    let engine = engine(journeys, json!({}));
    let mut tab_a = ShopperState::new("x");
    let mut tab_b = ShopperState::new("x");
    ingest(&engine, &mut tab_a, "view_cart", T0, json!({}));
    ingest(&engine, &mut tab_b, "view_cart", T0 + 1000, json!({}));
    tab_a.merge(&tab_b);
    let out = engine.tick(&mut tab_a, Timestamp(T0 + 2000));
    assert!(out.iter().any(|d| d.reasons == vec![Reason::Superseded]), "{out:?}");
    let active: Vec<_> = tab_a.runs.iter().filter(|r| r.is_active()).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].entered_at, Timestamp(T0), "the earlier entry keeps going");
}

#[test]
fn journeys_removed_from_the_bundle_end_their_runs() {
    let waiting = json!([{ "id": "old", "entry": { "event": "view_cart" },
        "steps": [ { "id": "wait", "type": "delay", "duration": "10m" }, { "id": "done", "type": "exit" } ] }]);
    let mut s = ShopperState::new("x");
    ingest(&engine(waiting, json!({})), &mut s, "view_cart", T0, json!({}));
    let other = json!([{ "id": "new", "entry": { "event": "search" }, "steps": [ { "id": "done", "type": "exit" } ] }]);
    let out = engine(other, json!({})).tick(&mut s, Timestamp(T0 + 2 * 3_600_000));
    assert!(out.iter().any(|d| d.journey == "old" && d.reasons == vec![Reason::Removed]), "{out:?}");
    assert!(matches!(s.runs[0].status, RunStatus::Done { .. }));
}

#[test]
fn external_send_checks() {
    let nudge = json!([{ "id": "nudge", "entry": { "event": "view_item" }, "reentry": { "mode": "multiple", "lock": "1s" },
        "conversion": { "event": "purchase" },
        "steps": [ { "id": "show", "type": "send", "channel": "onsite", "content": "n" },
                   { "id": "wait", "type": "wait_for", "event": "purchase", "timeout": "1d", "on_performed": "done", "on_timed_out": "done" },
                   { "id": "done", "type": "exit" } ] }]);
    let engine = engine(nudge, json!({}));
    let mut s = ShopperState::new("x");
    s.set_consent(Channel::Email, true, Timestamp(T0));
    let ok = engine.may_send(&s, Channel::Email, None, Timestamp(T0));
    assert!(ok.allowed, "{ok:?}");
    assert!(!engine.may_send(&s, Channel::Sms, None, Timestamp(T0)).allowed, "no SMS consent");
    let decided = Timestamp(T0 + MIN);
    ingest(&engine, &mut s, "view_item", T0 + 2 * MIN, json!({ "item_id": "i" }));
    let check = engine.may_send(&s, Channel::Email, None, Timestamp(T0 + 3 * MIN));
    assert_eq!(check.reasons, vec![Reason::RecentOnsite]);
    let recheck = engine.recheck_send(&s, "cart_abandon", Channel::Email, decided, Timestamp(T0 + 3 * MIN));
    assert_eq!(recheck.reasons, vec![Reason::RecentOnsite], "shown after the send was decided");
    ingest(&engine, &mut s, "purchase", T0 + 4 * MIN, json!({}));
    let after = engine.recheck_send(&s, "nudge", Channel::Email, decided, Timestamp(T0 + 5 * MIN));
    assert!(after.reasons.contains(&Reason::ConversionCancelled), "{after:?}");
    engine.record_contact(&mut s, Channel::Email, Some("newsletter"), Timestamp(T0 + 3 * 1440 * MIN));
    let capped = engine.may_send(&s, Channel::Email, None, Timestamp(T0 + 3 * 1440 * MIN + MIN));
    assert_eq!(capped.reasons, vec![Reason::CapWindow], "the recorded email counts toward the 1-per-24h cap");
}

/// A shopper's state must not grow with the number of events: a long, varied history
/// through every shipped journey stays under a fixed bound.
#[test]
fn state_size_is_bounded_over_a_long_history() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bundle = waymark::journey::diagnostics::compile_paths(
        &[root.join("templates"), root.join("examples/journeys")],
        &waymark::journey::tzdb::Tzdb,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let engine = Engine::new(bundle);
    let mut s = ShopperState::new("long-lived-shopper");
    s.set_consent(Channel::Email, true, Timestamp(T0));
    s.set_trait("email", Value::from("x@example.com"), Timestamp(T0)).unwrap();
    let names = [
        "view_item",
        "add_to_cart",
        "search",
        "page_view",
        "begin_checkout",
        "purchase",
        "screen_view",
        "add_to_wishlist",
        "view_cart",
    ];
    let mut largest = 0;
    let mut t = T0;
    for i in 0..20_000usize {
        t += if i % 50 == 0 { 2 * 86_400_000 } else { 37_000 };
        let props = json!({ "item_id": format!("item-{}", i % 997), "item_category": format!("cat-{}", i % 13), "value": (i % 300) as f64,
            "screen_name": if i % 7 == 0 { "Discounts" } else { "Home" }, "search_term": "shoes", "transaction_id": format!("o-{i}") });
        ingest(&engine, &mut s, names[i % names.len()], t, props);
        largest = largest.max(s.encode().len());
    }
    assert!(s.runs.len() <= MAX_RUNS);
    assert!(largest < 6_000, "state grew to {largest} bytes");
    let json_len = serde_json::to_string(&s).unwrap().len();
    println!(
        "state after 20000 events: {} bytes postcard (max seen {largest}), {json_len} bytes JSON",
        s.encode().len()
    );
}

#[test]
fn delegating_engines_leave_offsite_sends_to_the_backend() {
    let journeys = json!([{ "id": "cart", "entry": { "event": "add_to_cart" },
        "steps": [
            { "id": "wait", "type": "delay", "duration": "10m" },
            { "id": "reminder", "type": "send", "channel": "email", "content": "cart-reminder" },
            { "id": "done", "type": "exit" } ] }]);
    let mut browser = engine(journeys.clone(), json!({}));
    browser.set_options(EngineOptions { delegate_offsite: true, ..browser.options() });
    let backend = engine(journeys, json!({}));

    let mut state = ShopperState::new("s1");
    state.set_consent(Channel::Email, true, Timestamp(T0));
    state.set_trait("email", Value::from("s1@example.com"), Timestamp(T0)).unwrap();
    ingest(&browser, &mut state, "add_to_cart", T0, json!({}));
    // The browser's timer fires while the shopper browses: the email is parked for the
    // backend and reported once.
    let due = T0 + 10 * MIN;
    let decided = browser.tick(&mut state, Timestamp(due));
    assert!(sends(&decided).is_empty(), "{decided:?}");
    let parked: Vec<_> = decided.iter().filter(|d| d.action == Action::Defer).collect();
    assert_eq!(parked.len(), 1, "{decided:?}");
    assert_eq!((parked[0].reasons.as_slice(), parked[0].channel), (&[Reason::Delegated][..], Some(Channel::Email)));
    assert_eq!(browser.next_wakeup(&state), None, "the parked run is not the browser's timer");
    assert!(browser.tick(&mut state, Timestamp(due + 5 * MIN)).is_empty());

    // The backend sees the run due and decides the email itself.
    assert_eq!(backend.next_wakeup(&state), Some(Timestamp(due)));
    let mut synced = ShopperState::decode(&state.encode()).unwrap();
    let sent = backend.tick(&mut synced, Timestamp(due + 6 * MIN));
    assert_eq!(sends(&sent), vec!["cart-reminder"], "{sent:?}");
}

/// Journey hashes (kept in stored contact logs) are xxh3_64 truncated: computing them
/// through the seeded entry point with seed 0 must give the same values, at every input
/// length xxh3 treats differently.
#[test]
fn journey_hash_is_xxh3_64() {
    for len in [0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1000] {
        let id: String = "j".repeat(len);
        assert_eq!(
            waymark::engine::journey_hash(&id),
            xxhash_rust::xxh3::xxh3_64(id.as_bytes()) as u32,
            "length {len}"
        );
    }
}

/// `Engine::apply`, the one path for "identity, consent, traits, then the event": the
/// order is fixed, a trait over a bound is reported and left out while the rest of the
/// update applies, and server-set traits outrank later shopper updates.
#[test]
fn an_update_applies_identity_consent_traits_then_the_event() {
    use waymark::engine::{Update, Updated};
    use waymark::state::TraitSource;
    // An email send needs consent and an address: both come in the same update as the
    // event, so the send only goes out if they are applied before the event.
    let engine = engine(
        json!([{ "id": "welcome", "entry": { "event": "sign_up" },
            "steps": [ { "id": "mail", "type": "send", "channel": "email", "content": "welcome", "next": "done" },
                       { "id": "done", "type": "exit" } ] }]),
        json!({}),
    );
    let mut state = ShopperState::new("anon-1");
    let traits: Map = serde_json::from_value(json!({
        "email": "a@example.com",
        "bio": "x".repeat(600),
        "tier": "gold",
    }))
    .unwrap();
    let sign_up = event("sign_up", T0, json!({}));
    let update = Update {
        at: Timestamp(T0),
        customer_id: Some("cust-9"),
        consent: &[(Channel::Email, true)],
        traits: &traits,
        source: TraitSource::Shopper,
        event: Some(&sign_up),
    };
    let Updated { decisions, rejected } = engine.apply(&mut state, &update, Timestamp(T0));
    assert_eq!(sends(&decisions), ["welcome"], "consent and the address were set before the event: {decisions:?}");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, "bio");
    assert_eq!(rejected[0].1.code(), "trait_too_large");
    assert_eq!(state.trait_value("tier"), Some(&Value::from("gold")), "the other traits were kept");
    assert_eq!(state.trait_value("bio"), None);
    assert_eq!(state.customer_id.as_ref().map(|c| c.value.as_str()), Some("cust-9"));

    // The shop's server sets a trait; a later shopper update cannot move it.
    let server: Map = serde_json::from_value(json!({ "tier": "platinum" })).unwrap();
    let mut update =
        Update { at: Timestamp(T0 + MIN), traits: &server, source: TraitSource::Server, event: None, ..update };
    update.customer_id = None;
    assert!(engine.apply(&mut state, &update, Timestamp(T0 + MIN)).rejected.is_empty());
    let shopper: Map = serde_json::from_value(json!({ "tier": "bronze" })).unwrap();
    let update = Update { at: Timestamp(T0 + 2 * MIN), traits: &shopper, source: TraitSource::Shopper, ..update };
    let Updated { decisions, rejected } = engine.apply(&mut state, &update, Timestamp(T0 + 2 * MIN));
    assert!(rejected.is_empty() && sends(&decisions).is_empty(), "no event: only the clock ticks");
    assert_eq!(state.trait_value("tier"), Some(&Value::from("platinum")), "the server's value stands");
}
