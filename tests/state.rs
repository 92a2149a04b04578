//! Shopper state laws and limits: merge is a join (commutative, associative,
//! idempotent), anonymous → known merges keep both histories, the encoding is bounded
//! no matter how many events, and bad bytes decode to typed errors, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use proptest::prelude::*;
use waymark::journey::Channel;
use waymark::state::{
    Contact, IncentiveGrant, Outcome, Run, RunStatus, ShopperState, StateError, MAX_CONTACTS, STATE_VERSION,
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

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
    assert!(matches!(ShopperState::decode(&vec![STATE_VERSION; 70_000]), Err(StateError::TooLarge { .. })));
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

/// Encoded states kept in `tests/fixtures/`: a version-1 state must keep decoding to
/// the same bytes (format stability), and the broken ones must fail with their codes.
/// `WAYMARK_BLESS=1 cargo test --test state` rewrites the good fixture after a
/// deliberate format change (bump STATE_VERSION then).
#[test]
fn fixtures_decode_as_recorded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let good = dir.join("state-v1-typical.bin");
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
}
