//! Shopper state laws and limits: merge is a join (commutative, associative,
//! idempotent), anonymous → known merges keep both histories, the encoding is bounded
//! no matter how many events, and bad bytes decode to typed errors, never a panic.
#![expect(clippy::expect_used, reason = "test code: a failed unwrap, index or panic is a failed test")]

use proptest::prelude::*;
use waymark::hash::Hash32;
use waymark::interest::{Affinity, Interests, ItemInterest, MAX_AFFINITIES, MAX_INTEREST_ITEMS, MAX_ITEM_ID_BYTES};
use waymark::journey::Channel;
use waymark::orders::{Order, Orders, MAX_ORDERS, MAX_ORDER_HUNDREDTHS, MAX_ORDER_ID_BYTES};
use waymark::state::{
    Contact, IncentiveGrant, Outcome, Run, RunStatus, ShopperState, StateError, TraitSource, MAX_CONTACTS,
    MAX_ENCODED_BYTES, MAX_IDS, MAX_ID_BYTES, MAX_INCENTIVES, MAX_NAME_BYTES, MAX_REMEMBERED,
    MAX_REMEMBERED_TOTAL_BYTES, MAX_RUNS, MAX_RUNS_PER_JOURNEY, MAX_TRAITS, MAX_TRAIT_BYTES, STATE_VERSION,
};
use waymark::{Map, Timestamp, Value};

fn channel() -> impl Strategy<Value = Channel> {
    prop::sample::select(Channel::ALL.to_vec())
}

fn time() -> impl Strategy<Value = Timestamp> {
    (0i64..20).prop_map(|m| Timestamp(1_780_000_000_000 + m * 60_000))
}

fn run() -> impl Strategy<Value = Run> {
    (
        prop::sample::select(vec!["a", "b", "c"]),
        time(),
        0u32..4,
        any::<bool>(),
        prop::sample::select(vec!["s1", "s2"]),
        time(),
    )
        .prop_map(|(journey, entered_at, seq, done, step, wake)| Run {
            journey: journey.into(),
            entered_at,
            seq,
            status: if done {
                RunStatus::Done { at: wake, outcome: Outcome::Completed }
            } else {
                RunStatus::Active { step: step.into(), since: entered_at, wake_at: Some(wake) }
            },
            entry: Map::new(),
            bucket: "anon".into(),
            variant: None,
        })
}

fn contact() -> impl Strategy<Value = Contact> {
    (time(), channel(), 0u32..3, time()).prop_map(|(at, channel, journey, session)| Contact {
        at,
        channel,
        journey,
        session,
    })
}

fn grant() -> impl Strategy<Value = IncentiveGrant> {
    (
        prop::sample::select(vec!["g1", "g2"]),
        prop::sample::select(vec!["X", "Y"]),
        time(),
        prop::option::of(time()),
        0i32..3,
    )
        .prop_map(|(group, id, at, revoked, priority)| IncentiveGrant {
            group: group.into(),
            id: id.into(),
            journey: "j".into(),
            priority,
            granted_at: at,
            expires_at: at.plus(waymark::Duration(86_400_000)),
            revoked_at: revoked,
        })
}

fn state() -> impl Strategy<Value = ShopperState> {
    (
        prop::collection::vec(prop::sample::select(vec!["anon-1", "anon-2", "cust-9"]), 0..3),
        prop::collection::vec(run(), 0..6),
        prop::collection::vec(contact(), 0..8),
        prop::collection::vec(grant(), 0..4),
        prop::collection::vec((channel(), any::<bool>(), time()), 0..4),
        prop::collection::vec(
            (prop::sample::select(vec!["email", "tier"]), prop::sample::select(vec!["x", "y"]), time()),
            0..3,
        ),
        prop::option::of((prop::sample::select(vec!["cust-9", "cust-7"]), time())),
    )
        .prop_map(|(ids, runs, contacts, incentives, consent, traits, customer)| {
            let mut s = ShopperState::default();
            for id in ids {
                s.link_identity(id);
            }
            s.runs = runs;
            s.contacts = contacts;
            s.incentives = incentives;
            for (c, granted, at) in consent {
                s.set_consent(c, granted, at);
            }
            for (k, v, at) in traits {
                s.set_trait(k, Value::from(v), at).expect("small trait");
            }
            if let Some((id, at)) = customer {
                s.identify(id, at);
            }
            s.normalize();
            s
        })
}

fn merged(a: &ShopperState, b: &ShopperState) -> ShopperState {
    let mut out = a.clone();
    out.merge(b);
    out
}

// Cases per property: proptest's default (256) unless `PROPTEST_CASES` says otherwise
// (the long mode: `PROPTEST_CASES=100000 cargo test --release --test state`).
proptest! {
    #[test]
    fn merge_is_commutative(a in state(), b in state()) {
        prop_assert_eq!(merged(&a, &b).encode(), merged(&b, &a).encode());
    }

    #[test]
    fn merge_is_associative(a in state(), b in state(), c in state()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c).encode(), merged(&a, &merged(&b, &c)).encode());
    }

    #[test]
    fn merge_is_idempotent(a in state(), b in state()) {
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &ab).encode(), ab.encode());
        prop_assert_eq!(merged(&ab, &b).encode(), ab.encode());
    }

    #[test]
    fn encoding_round_trips(a in state()) {
        let bytes = a.encode();
        prop_assert_eq!(ShopperState::decode(&bytes).expect("decodes"), a);
    }

    #[test]
    fn encoding_is_postcards(a in state()) {
        let bytes = a.encode();
        prop_assert_eq!(&bytes[1..], &postcard::to_allocvec(&a).expect("postcard encodes")[..]);
        prop_assert_eq!(postcard::from_bytes::<ShopperState>(&bytes[1..]).expect("postcard decodes"), a);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = ShopperState::decode(&bytes);
    }

    #[test]
    fn decoding_mutated_states_never_panics(a in state(), flip in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = a.encode();
        let i = flip.index(bytes.len());
        bytes[i] = byte;
        let _ = ShopperState::decode(&bytes);
        bytes.truncate(i);
        let _ = ShopperState::decode(&bytes);
    }
}

#[test]
fn anonymous_then_known_merge_keeps_both() {
    let t = Timestamp(1_780_000_000_000);
    let mut anon = ShopperState::new("anon-1");
    anon.set_consent(Channel::Email, true, t);
    anon.contacts.push(Contact { at: t, channel: Channel::Onsite, journey: 1, session: t });
    let mut known = ShopperState::new("cust-9");
    known.identify("cust-9", t);
    known.set_trait("email", Value::from("a@example.com"), t).unwrap();
    let mut both = anon.clone();
    both.merge(&known);
    assert_eq!(both.ids, vec!["anon-1".to_string(), "cust-9".to_string()]);
    assert_eq!(both.primary_id(), "cust-9");
    assert_eq!(both.consent_for(Channel::Email), Some(true));
    assert_eq!(both.contacts.len(), 1);
    assert_eq!(both.trait_value("email"), Some(&Value::from("a@example.com")));
}

#[test]
fn consent_revoke_wins_a_tie() {
    let t = Timestamp(5);
    let mut a = ShopperState::default();
    a.set_consent(Channel::Sms, true, t);
    let mut b = ShopperState::default();
    b.set_consent(Channel::Sms, false, t);
    assert_eq!(merged(&a, &b).consent_for(Channel::Sms), Some(false));
    assert_eq!(merged(&b, &a).consent_for(Channel::Sms), Some(false));
}

#[test]
fn contact_log_is_bounded() {
    let mut s = ShopperState::new("x");
    for i in 0..10_000i64 {
        s.contacts.push(Contact {
            at: Timestamp(i * 1000),
            channel: Channel::Onsite,
            journey: 3,
            session: Timestamp(0),
        });
        s.normalize();
    }
    assert_eq!(s.contacts.len(), MAX_CONTACTS);
    assert_eq!(s.contacts.last().map(|c| c.at), Some(Timestamp(9_999_000)), "the newest are kept");
}

#[test]
fn bad_bytes_have_typed_errors() {
    assert_eq!(ShopperState::decode(&[]), Err(StateError::Empty));
    assert!(matches!(ShopperState::decode(&[99, 1, 2]), Err(StateError::UnsupportedVersion { found: 99 })));
    assert!(matches!(ShopperState::decode(&[STATE_VERSION, 0xff, 0xff, 0xff]), Err(StateError::Corrupt { .. })));
    let mut good = ShopperState::new("x").encode();
    good.push(0);
    assert!(matches!(ShopperState::decode(&good), Err(StateError::Corrupt { .. })), "trailing bytes are corrupt");
    assert!(matches!(
        ShopperState::decode(&vec![STATE_VERSION; MAX_ENCODED_BYTES + 1]),
        Err(StateError::TooLarge { .. })
    ));
    for e in [StateError::Empty, StateError::UnsupportedVersion { found: 2 }] {
        assert!(e.code().starts_with("state_"));
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn traits_are_limited() {
    let mut s = ShopperState::default();
    let big = Value::from("x".repeat(2000));
    assert!(matches!(s.set_trait("bio", big, Timestamp(1)), Err(StateError::TraitTooLarge { .. })));
    for i in 0..32 {
        s.set_trait(&format!("t{i}"), Value::from(i as f64), Timestamp(1)).unwrap();
    }
    assert!(matches!(s.set_trait("one_more", Value::Null, Timestamp(1)), Err(StateError::TooManyTraits { .. })));
    assert!(s.set_trait("t3", Value::from(9.0), Timestamp(2)).is_ok(), "updating an existing trait is fine");
}

/// Encoded states kept in `tests/fixtures/`: the current version's state must keep
/// decoding to the same bytes (format stability), a version-1 state (written before
/// traits had a source) must still decode, as set by the shopper, and the broken ones
/// must fail with their codes. `WAYMARK_BLESS=1 cargo test --test state` rewrites the
/// current fixtures after a deliberate format change (bump STATE_VERSION then, and keep
/// the old fixture as a test of the old version's decoder).
#[test]
fn fixtures_decode_as_recorded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let good = dir.join("state-v5-typical.bin");
    let t = Timestamp(1_780_300_800_000);
    let mut s = ShopperState::new("anon-3f9a2c");
    s.identify("cust-42", t);
    s.set_consent(Channel::Email, true, t);
    s.set_consent(Channel::Sms, false, t);
    s.set_trait("email", Value::from("shopper@example.com"), t).unwrap();
    s.runs.push(Run {
        journey: "cart_abandon".into(),
        entered_at: t,
        seq: 1,
        status: RunStatus::Active {
            step: "wait_purchase".into(),
            since: t,
            wake_at: Some(t.plus(waymark::Duration(3_600_000))),
        },
        entry: Map::from_iter([("item_id".to_owned(), Value::from("sku-3"))]),
        bucket: "cust-42".into(),
        variant: None,
    });
    s.contacts.push(Contact { at: t, channel: Channel::Onsite, journey: 7, session: t });
    s.normalize();
    // What a version-2 state (before the interest memory) holds; version 3 adds it.
    let v2_state = s.clone();
    let item = Map::from_iter([
        ("item_id".to_owned(), Value::from("sku-3")),
        ("item_category".to_owned(), Value::from("shoes")),
        ("price".to_owned(), Value::from(120.0)),
    ]);
    let props = Map::from_iter([("items".to_owned(), Value::Array(vec![Value::Object(item)]))]);
    s.interests.observe(&waymark::Event::new("add_to_cart", t, props));
    s.normalize();
    // What a version-3 state (before the orders) holds; version 4 adds them.
    let v3_state = s.clone();
    let order = Map::from_iter([
        ("transaction_id".to_owned(), Value::from("T-1001")),
        ("value".to_owned(), Value::from(120.0)),
    ]);
    s.orders.observe(&waymark::Event::new("purchase", t.plus(waymark::Duration(60_000)), order));
    s.normalize();
    // What a version-4 state (before the intent sample) holds; version 5 adds it.
    let v4_state = s.clone();
    let mut features = [0.0; waymark::intent::FEATURE_COUNT];
    features[0] = 1.386;
    features[6] = 1.0;
    s.intent_sample = Some(waymark::intent::IntentSample::new(t, &features));
    if std::env::var_os("WAYMARK_BLESS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&good, s.encode()).unwrap();
        let mut truncated = s.encode();
        truncated.truncate(truncated.len() / 2);
        std::fs::write(dir.join("state-corrupt-truncated.bin"), truncated).unwrap();
        let mut future = s.encode();
        future[0] = 9;
        std::fs::write(dir.join("state-future-version.bin"), future).unwrap();
    }
    let recorded = std::fs::read(&good).expect("fixture exists (WAYMARK_BLESS=1 to create)");
    let decoded = ShopperState::decode(&recorded).expect("the recorded state decodes");
    assert_eq!(decoded, s, "decodes to the state it was made from");
    assert_eq!(decoded.encode(), recorded, "re-encodes byte for byte");
    let truncated = std::fs::read(dir.join("state-corrupt-truncated.bin")).unwrap();
    assert_eq!(ShopperState::decode(&truncated).unwrap_err().code(), "state_corrupt");
    let future = std::fs::read(dir.join("state-future-version.bin")).unwrap();
    assert_eq!(ShopperState::decode(&future).unwrap_err().code(), "state_unsupported_version");

    let v4 = std::fs::read(dir.join("state-v4-typical.bin")).unwrap();
    assert_eq!(v4.first(), Some(&4));
    let old = ShopperState::decode(&v4).expect("a version-4 state decodes");
    assert_eq!(old, v4_state, "to the same state, with no intent sample");

    let v3 = std::fs::read(dir.join("state-v3-typical.bin")).unwrap();
    assert_eq!(v3.first(), Some(&3));
    let old = ShopperState::decode(&v3).expect("a version-3 state decodes");
    assert_eq!(old, v3_state, "to the same state, with no orders");

    let v2 = std::fs::read(dir.join("state-v2-typical.bin")).unwrap();
    assert_eq!(v2.first(), Some(&2));
    let old = ShopperState::decode(&v2).expect("a version-2 state decodes");
    assert_eq!(old, v2_state, "to the same state, with an empty interest memory");

    let v1 = std::fs::read(dir.join("state-v1-typical.bin")).unwrap();
    assert_eq!(v1.first(), Some(&1));
    let old = ShopperState::decode(&v1).expect("a version-1 state decodes");
    assert_eq!(old, v2_state, "to the same state, its traits as set by the shopper");
    assert_eq!(old.traits.get("email").map(|t| t.source), Some(TraitSource::Shopper));
}

// ---------------------------------------------------------------------------------------
// Bounds: generators that reach every limit
// ---------------------------------------------------------------------------------------

const T0: i64 = 1_780_000_000_000;

/// Stamps from the past to far in the future (a browser clock, or a forged one).
fn any_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        4 => (0i64..40).prop_map(|m| Timestamp(T0 + m * 60_000)),
        1 => Just(Timestamp(i64::MAX)),
        1 => any::<i64>().prop_map(Timestamp),
    ]
}

/// Texts up to `max` bytes, some multi-byte.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(str::to_owned),
        1 => (1..=max).prop_map(|n| "x".repeat(n)),
        1 => (1..=max / 2).prop_map(|n| "é".repeat(n)),
    ]
}

/// Values up to the trait bound, numbers among them (short in JSON, 9 bytes encoded).
fn wide_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => text(MAX_TRAIT_BYTES - 2).prop_map(Value::from),
        1 => (0usize..60).prop_map(|n| Value::Array(vec![Value::from(1.5); n])),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

fn wide_run() -> impl Strategy<Value = Run> {
    (
        (0usize..12).prop_map(|j| format!("journey-{j}")),
        any_time(),
        any::<u32>(),
        any::<bool>(),
        text(MAX_NAME_BYTES),
        prop::collection::btree_map(text(MAX_NAME_BYTES), text(60).prop_map(Value::from), 0..MAX_REMEMBERED),
        text(MAX_ID_BYTES),
        prop::option::of(text(MAX_NAME_BYTES)),
    )
        .prop_map(|(journey, entered_at, seq, done, step, entry, bucket, variant)| Run {
            journey,
            entered_at,
            seq,
            status: if done {
                RunStatus::Done { at: entered_at, outcome: Outcome::Converted }
            } else {
                RunStatus::Active { step, since: entered_at, wake_at: Some(entered_at) }
            },
            entry: entry.into_iter().collect(),
            bucket,
            variant,
        })
}

fn wide_grant() -> impl Strategy<Value = IncentiveGrant> {
    (text(MAX_NAME_BYTES), text(MAX_NAME_BYTES), any_time(), prop::option::of(any_time()), any::<i32>()).prop_map(
        |(group, id, at, revoked, priority)| IncentiveGrant {
            group,
            id,
            journey: "j".into(),
            priority,
            granted_at: at,
            expires_at: at.plus(waymark::Duration(86_400_000)),
            revoked_at: revoked,
        },
    )
}

/// A state as a (possibly hostile) copy could carry it: every list up to past its
/// bound, long names and values, stamps anywhere, traits from both sources.
fn wide_state() -> impl Strategy<Value = ShopperState> {
    (
        prop::collection::vec(text(MAX_ID_BYTES), 0..MAX_IDS + 3),
        prop::collection::vec(wide_run(), 0..MAX_RUNS + 8),
        prop::collection::vec((any_time(), channel(), any::<u32>(), any_time()), 0..MAX_CONTACTS + 8),
        prop::collection::vec(wide_grant(), 0..MAX_INCENTIVES + 4),
        prop::collection::vec((channel(), any::<bool>(), any_time()), 0..6),
        prop::collection::vec(
            ((0usize..48).prop_map(|k| format!("t{k}")), wide_value(), any_time(), any::<bool>()),
            0..48,
        ),
        prop::option::of((text(MAX_ID_BYTES), any_time())),
        wide_interests(),
        (wide_orders(), prop::option::of((any_time(), prop::array::uniform18(any::<u32>())))),
    )
        .prop_map(|(ids, runs, contacts, incentives, consent, traits, customer, interests, (orders, sample))| {
            let mut s = ShopperState {
                ids,
                runs,
                interests,
                orders,
                intent_sample: sample
                    .map(|(session_start, features)| waymark::intent::IntentSample { session_start, features }),
                contacts: contacts
                    .into_iter()
                    .map(|(at, channel, journey, session)| Contact { at, channel, journey, session })
                    .collect(),
                incentives,
                ..ShopperState::default()
            };
            for (c, granted, at) in consent {
                s.set_consent(c, granted, at);
            }
            for (key, value, at, server) in traits {
                let source = if server { TraitSource::Server } else { TraitSource::Shopper };
                s.traits.insert(key, waymark::state::TraitEntry { at, value, source });
            }
            s.customer_id = customer.map(|(value, at)| waymark::state::Stamped { at, value });
            while s.encode().len() > MAX_ENCODED_BYTES {
                s.runs.pop();
            }
            // What a decoder makes of such a copy: within every bound.
            ShopperState::decode(&s.encode()).expect("a generated state decodes")
        })
}

/// An interest memory as a copy could carry it: past its counts, long ids, unknown
/// flags, stamps anywhere, unsorted.
fn wide_interests() -> impl Strategy<Value = Interests> {
    let item = (
        text(MAX_ITEM_ID_BYTES + 4),
        any_time(),
        any::<u16>(),
        prop::option::of(any::<u32>()),
        any::<u16>(),
        any::<u8>(),
    )
        .prop_map(|(id, last_at, views, price, in_cart, flags)| ItemInterest {
            id,
            last_at,
            views,
            price,
            in_cart,
            flags,
        });
    let affinity = ((0u32..20), any::<u32>(), any_time()).prop_map(|(c, points, at)| Affinity {
        category: Hash32(c),
        points: points % 2_000_000,
        at,
    });
    (prop::collection::vec(item, 0..MAX_INTEREST_ITEMS + 6), prop::collection::vec(affinity, 0..MAX_AFFINITIES + 4))
        .prop_map(|(items, affinities)| Interests { items, affinities })
}

/// Orders as a copy could carry them: past their count, long ids, refunds over the
/// value, amounts past the bound, stamps anywhere, unsorted.
fn wide_orders() -> impl Strategy<Value = Orders> {
    let order = (text(MAX_ORDER_ID_BYTES + 4), any_time(), any::<u64>(), any::<u64>(), any_time()).prop_map(
        |(id, at, value, refunded, changed_at)| Order {
            id,
            at,
            value: value % (2 * MAX_ORDER_HUNDREDTHS),
            refunded: refunded % (2 * MAX_ORDER_HUNDREDTHS),
            changed_at,
        },
    );
    prop::collection::vec(order, 0..MAX_ORDERS + 4).prop_map(|list| Orders { list })
}

fn assert_within_bounds(s: &ShopperState) -> Result<(), TestCaseError> {
    prop_assert_eq!(s.check_bounds(), Ok(()));
    let bytes = s.encode();
    prop_assert!(bytes.len() <= MAX_ENCODED_BYTES, "{} bytes", bytes.len());
    prop_assert_eq!(&ShopperState::decode(&bytes).expect("decodes"), s);
    let mut per_journey = std::collections::BTreeMap::<&str, usize>::new();
    for run in &s.runs {
        *per_journey.entry(run.journey.as_str()).or_default() += 1;
    }
    prop_assert!(per_journey.values().all(|&n| n <= MAX_RUNS_PER_JOURNEY));
    Ok(())
}

proptest! {
    #[test]
    fn wide_merge_is_a_bounded_join(a in wide_state(), b in wide_state(), c in wide_state()) {
        let ab = merged(&a, &b);
        assert_within_bounds(&ab)?;
        prop_assert_eq!(ab.encode(), merged(&b, &a).encode(), "commutative");
        prop_assert_eq!(merged(&ab, &c).encode(), merged(&a, &merged(&b, &c)).encode(), "associative");
        prop_assert_eq!(merged(&ab, &ab).encode(), ab.encode(), "idempotent");
        prop_assert_eq!(merged(&ab, &b).encode(), ab.encode(), "absorbs a part");
    }

    #[test]
    fn a_synced_copy_never_carries_server_traits_or_future_stamps(a in wide_state()) {
        let latest = Timestamp(T0 + 60 * 60_000);
        let synced = ShopperState::decode_synced(&a.encode(), latest).expect("a decoded state is within bounds");
        prop_assert!(synced.traits.iter().all(|(_, t)| t.source == TraitSource::Shopper && t.at <= latest));
        prop_assert!(synced.consent.iter().all(|(_, c)| c.at <= latest));
        prop_assert!(synced.customer_id.iter().all(|c| c.at <= latest));
        prop_assert!(synced.interests.items.iter().all(|i| i.last_at <= latest));
        prop_assert!(synced.interests.affinities.iter().all(|a| a.at <= latest));
        prop_assert!(synced.orders.list.iter().all(|o| o.at <= latest && o.changed_at <= latest));
        prop_assert!(synced.intent_sample.iter().all(|s| s.session_start <= latest));
    }
}

#[test]
fn the_fullest_state_fits_the_encoded_bound() {
    // Every list at its bound, every item at its largest.
    let far = Timestamp(i64::MIN);
    let name = |i: usize| format!("{i:0>width$}", width = MAX_NAME_BYTES);
    let id = |i: usize| format!("{i:0>width$}", width = MAX_ID_BYTES);
    let mut s = ShopperState {
        ids: (0..MAX_IDS).map(id).collect(),
        customer_id: Some(waymark::state::Stamped { at: far, value: id(99) }),
        ..ShopperState::default()
    };
    let per_value = MAX_REMEMBERED_TOTAL_BYTES / MAX_REMEMBERED;
    let entry: Map = (0..MAX_REMEMBERED).map(|k| (name(k), Value::from("v".repeat(per_value - 2)))).collect();
    s.runs = (0..MAX_RUNS)
        .map(|i| Run {
            journey: name(i / MAX_RUNS_PER_JOURNEY),
            entered_at: Timestamp(i64::MIN + i as i64),
            seq: u32::MAX,
            status: RunStatus::Active { step: name(i), since: far, wake_at: Some(far) },
            entry: entry.clone(),
            bucket: id(i),
            variant: Some(name(i)),
        })
        .collect();
    s.contacts = (0..MAX_CONTACTS)
        .map(|i| Contact {
            at: Timestamp(i64::MIN + i as i64),
            channel: Channel::Email,
            journey: u32::MAX,
            session: far,
        })
        .collect();
    s.incentives = (0..MAX_INCENTIVES)
        .map(|i| IncentiveGrant {
            group: name(i),
            id: name(i + 100),
            journey: name(i + 200),
            priority: i32::MIN,
            granted_at: Timestamp(i64::MIN + i as i64),
            expires_at: far,
            revoked_at: Some(far),
        })
        .collect();
    for c in Channel::ALL {
        s.set_consent(c, true, far);
    }
    for k in 0..MAX_TRAITS {
        // 56 numbers: 2 + 56×9 bytes encoded, just under the bound (and short in JSON).
        let value = Value::Array(vec![Value::from(1.5); (MAX_TRAIT_BYTES - 8) / 9]);
        s.set_server_trait(&name(k), value, far).unwrap();
    }
    s.interests.items = (0..MAX_INTEREST_ITEMS)
        .map(|i| ItemInterest {
            id: format!("{i:0>width$}", width = MAX_ITEM_ID_BYTES),
            last_at: far,
            views: u16::MAX,
            price: Some(waymark::interest::MAX_PRICE_HUNDREDTHS),
            in_cart: u16::MAX,
            flags: waymark::interest::CARTED | waymark::interest::WISHLISTED | waymark::interest::BOUGHT,
        })
        .collect();
    s.interests.affinities = (0..MAX_AFFINITIES)
        .map(|i| Affinity {
            category: Hash32(u32::MAX - i as u32),
            points: waymark::interest::MAX_AFFINITY_POINTS,
            at: far,
        })
        .collect();
    s.orders.list = (0..MAX_ORDERS)
        .map(|i| Order {
            id: format!("{i:0>width$}", width = MAX_ORDER_ID_BYTES),
            at: far,
            value: MAX_ORDER_HUNDREDTHS,
            refunded: MAX_ORDER_HUNDREDTHS,
            changed_at: far,
        })
        .collect();
    s.intent_sample = Some(waymark::intent::IntentSample {
        session_start: far,
        features: [u32::MAX; waymark::intent::FEATURE_COUNT],
    });
    s.normalize();
    assert_eq!(s.check_bounds(), Ok(()));
    let bytes = s.encode();
    println!("the fullest state: {} bytes (bound {MAX_ENCODED_BYTES})", bytes.len());
    assert!(bytes.len() <= MAX_ENCODED_BYTES, "{} bytes", bytes.len());
    assert!(bytes.len() > MAX_ENCODED_BYTES / 2, "the bound is not far above what fits: {} bytes", bytes.len());
    assert_eq!(ShopperState::decode(&bytes).unwrap(), s);
}

#[test]
fn two_near_full_copies_merge_within_every_bound() {
    // Two copies, each with the most traits and runs of its own: their union is twice
    // the bounds, the merge keeps the newest of each.
    let copy = |side: &str, t: i64| {
        let mut s = ShopperState::new("anon-1");
        for k in 0..MAX_TRAITS {
            s.set_trait(&format!("{side}{k}"), Value::from("v".repeat(400)), Timestamp(t + k as i64)).unwrap();
        }
        for i in 0..MAX_RUNS {
            s.runs.push(Run {
                journey: format!("{side}-{}", i / MAX_RUNS_PER_JOURNEY),
                entered_at: Timestamp(t + i as i64),
                seq: 1,
                status: RunStatus::Done { at: Timestamp(t), outcome: Outcome::Completed },
                entry: Map::from_iter([("item_id".to_owned(), Value::from("x".repeat(200)))]),
                bucket: "anon-1".into(),
                variant: None,
            });
        }
        s.normalize();
        s
    };
    let (a, b) = (copy("a", T0), copy("b", T0 + 1000));
    let ab = merged(&a, &b);
    assert_eq!(ab.traits.len(), MAX_TRAITS);
    assert!(ab.traits.iter().all(|(k, _)| k.starts_with('b')), "the more recently set traits are kept");
    assert_eq!(ab.runs.len(), MAX_RUNS);
    assert!(ab.runs.iter().all(|r| r.journey.starts_with('b')), "the newest runs are kept");
    assert_eq!(ab.encode(), merged(&b, &a).encode());
    assert!(ab.encode().len() <= MAX_ENCODED_BYTES);
    assert_eq!(ShopperState::decode(&ab.encode()).unwrap(), ab);
}

#[test]
fn server_traits_outrank_the_shoppers_whatever_the_stamps() {
    let mut browser = ShopperState::new("anon-1");
    browser.set_trait("email", Value::from("typed@example.com"), Timestamp(i64::MAX)).unwrap();
    let mut server = ShopperState::new("anon-1");
    server.set_server_trait("email", Value::from("verified@example.com"), Timestamp(T0)).unwrap();
    for m in [merged(&browser, &server), merged(&server, &browser)] {
        assert_eq!(m.trait_value("email"), Some(&Value::from("verified@example.com")));
    }
    // A later shopper write does not move it, locally either.
    let mut m = merged(&browser, &server);
    m.set_trait("email", Value::from("again@example.com"), Timestamp(i64::MAX)).unwrap();
    assert_eq!(m.trait_value("email"), Some(&Value::from("verified@example.com")));
    // The server's own later value does.
    m.set_server_trait("email", Value::from("new@example.com"), Timestamp(T0 + 1)).unwrap();
    assert_eq!(m.trait_value("email"), Some(&Value::from("new@example.com")));
    // Trimming keeps the server's traits first.
    let mut crowd = m.clone();
    for k in 0..MAX_TRAITS {
        crowd.traits.insert(
            format!("k{k}"),
            waymark::state::TraitEntry {
                at: Timestamp(i64::MAX),
                value: Value::Bool(true),
                source: TraitSource::Shopper,
            },
        );
    }
    crowd.normalize();
    assert_eq!(crowd.traits.len(), MAX_TRAITS);
    assert_eq!(crowd.trait_value("email"), Some(&Value::from("new@example.com")));
}

#[test]
fn a_synced_copy_cannot_claim_the_servers_word() {
    let mut forged = ShopperState::new("anon-1");
    forged.set_server_trait("email", Value::from("forged@example.com"), Timestamp(T0)).unwrap();
    forged.set_trait("name", Value::from("Ana"), Timestamp(i64::MAX)).unwrap();
    forged.set_consent(Channel::Sms, true, Timestamp(i64::MAX));
    let latest = Timestamp(T0 + 300_000);
    let synced = ShopperState::decode_synced(&forged.encode(), latest).unwrap();
    assert_eq!(synced.trait_value("email"), None, "a trait claiming the server's source is not taken");
    assert_eq!(synced.traits.get("name").map(|t| t.at), Some(latest), "a future stamp is moved back");
    assert_eq!(synced.consent.get(&Channel::Sms).map(|c| c.at), Some(latest));
}

#[test]
fn a_synced_copy_over_a_bound_is_an_error_that_names_it() {
    let mut s = ShopperState::new("anon-1");
    s.traits.insert(
        "bio".into(),
        waymark::state::TraitEntry {
            at: Timestamp(1),
            value: Value::from("x".repeat(2000)),
            source: TraitSource::Shopper,
        },
    );
    let err = ShopperState::decode_synced(&s.encode(), Timestamp(T0)).unwrap_err();
    assert_eq!(err.code(), "state_over_limit");
    assert!(err.to_string().starts_with("traits[\"bio\"]: 2003 bytes"), "{err}");
    // The lenient decoder (stored rows, local storage) leaves the part out instead.
    assert_eq!(ShopperState::decode(&s.encode()).unwrap().traits.len(), 0);

    let mut s = ShopperState::new("anon-1");
    s.runs.push(Run {
        journey: "j".repeat(MAX_NAME_BYTES + 1),
        entered_at: Timestamp(1),
        seq: 0,
        status: RunStatus::Done { at: Timestamp(1), outcome: Outcome::Completed },
        entry: Map::new(),
        bucket: String::new(),
        variant: None,
    });
    let err = ShopperState::decode_synced(&s.encode(), Timestamp(T0)).unwrap_err();
    assert!(err.to_string().starts_with("runs[0]"), "{err}");
    let s = ShopperState { ids: (0..MAX_IDS + 1).map(|i| format!("id-{i}")).collect(), ..ShopperState::default() };
    let err = ShopperState::decode_synced(&s.encode(), Timestamp(T0)).unwrap_err();
    assert_eq!(err.to_string(), format!("ids: {} entries, the limit is {MAX_IDS}", MAX_IDS + 1));
}

#[test]
fn ids_over_the_bound_are_not_kept() {
    let long = "x".repeat(MAX_ID_BYTES + 1);
    assert!(ShopperState::new(&long).ids.is_empty());
    let mut s = ShopperState::new("anon-1");
    s.identify(&long, Timestamp(1));
    assert_eq!(s.customer_id, None);
    assert_eq!(s.ids, vec!["anon-1".to_owned()]);
}
