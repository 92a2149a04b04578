//! `Engine::ingest` and `Engine::tick` of the repository's journeys (templates/ and
//! examples/journeys/) over an arbitrary state and a sequence of arbitrary events (GA4
//! names, arbitrary properties, a monotone-ish clock) mixed with the state calls the JS
//! API makes (consent, traits, identify): never panics; the final state is within every
//! bound and round-trips; the same input run twice gives the same decisions and state.
//!
//! Input: a flag byte; if odd, a little-endian u16 length and that many bytes of state
//! (a fresh state when they do not decode); the rest drives the sequence.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use waymark::journey::Channel;
use waymark::{Decision, Event, ShopperState};
use waymark_fuzz::{assert_roundtrip, check_bounds, event_name, fixed_engine, next_time, properties, value, BASE_TIME};

const CHANNELS: &[Channel] = &[Channel::Onsite, Channel::Email, Channel::Sms, Channel::Push];

fn run(data: &[u8]) -> (Vec<Decision>, ShopperState) {
    let engine = fixed_engine();
    let (state_bytes, script) = match data {
        [flag, lo, hi, rest @ ..] if flag & 1 == 1 => {
            rest.split_at(usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len()))
        }
        [_, rest @ ..] => (&[][..], rest),
        [] => (&[][..], &[][..]),
    };
    let mut state = ShopperState::decode(state_bytes).unwrap_or_else(|_| ShopperState::new("anon-fuzz"));
    let mut decisions = Vec::new();
    let mut u = Unstructured::new(script);
    let _ = steps(&mut u, engine, &mut state, &mut decisions);
    (decisions, state)
}

fn steps(
    u: &mut Unstructured<'_>,
    engine: &waymark::Engine,
    state: &mut ShopperState,
    out: &mut Vec<Decision>,
) -> Result<()> {
    let mut t = BASE_TIME;
    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        t = next_time(u, t)?;
        match u.int_in_range(0u8..=15)? {
            0..=9 => {
                let event = Event::new(&event_name(u)?, t, properties(u)?);
                // Mostly processed as it happens, sometimes late (the backend's replay).
                let now = if u.int_in_range(0u8..=7)? == 0 { next_time(u, t)? } else { t };
                out.extend(engine.ingest(state, &event, now));
            }
            10 | 11 => out.extend(engine.tick(state, t)),
            12 => state.set_consent(*u.choose(CHANNELS)?, u.arbitrary()?, t),
            13 => {
                let key = u.choose(&["email", "birthday", "tier", "favorite_category", "signup_date"])?;
                let _ = state.set_trait(key, value(u, 1)?, t);
            }
            14 => state.identify(u.choose(&["cust-1", "cust-2", ""])?, t),
            _ => {
                let channel = *u.choose(CHANNELS)?;
                if engine.may_send(state, channel, Some("cart_abandon"), t).allowed {
                    engine.record_contact(state, channel, Some("cart_abandon"), t);
                }
            }
        }
        let _ = engine.next_wakeup(state);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let (decisions, state) = run(data);
    for d in &decisions {
        assert!(!d.reason().is_empty(), "decision without a reason: {d:?}");
    }
    check_bounds(&state, "state after ingest");
    let bytes = assert_roundtrip(&state, "state after ingest");
    let (decisions_again, state_again) = run(data);
    // Compared as text: a decision carries remembered entry values, and a NaN among them
    // is not equal to itself although both runs produced the same bits.
    assert!(
        format!("{decisions_again:?}") == format!("{decisions:?}"),
        "the same input gave different decisions"
    );
    assert!(state_again.encode() == bytes, "the same input gave a different state");
});
