//! What the fuzz targets share: splitting one fuzzer input into parts, structured
//! shopper states and event sequences built from fuzzer bytes (`arbitrary::Unstructured`),
//! the fixed engine of the repository's journeys, and the checks every target makes of a
//! state (it encodes within bounds and decodes back to the same bytes).

use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};
use waymark::event::CANONICAL_NAMES;
use waymark::journey::Channel;
use waymark::state::{
    Contact, IncentiveGrant, Outcome, Run, RunStatus, Stamped, MAX_CONTACTS, MAX_ENCODED_BYTES, MAX_IDS,
    MAX_INCENTIVES, MAX_RUNS, MAX_RUNS_PER_JOURNEY, MAX_TRAITS,
};
use waymark::{Engine, Event, Map, ShopperState, Timestamp, Value};

/// 2026-06-01T08:00:00Z, the day examples/events.ndjson starts: generated times cluster
/// around it so journeys' windows, schedules and timers actually come into play.
pub const BASE_TIME: Timestamp = Timestamp(1_780_300_800_000);

/// Splits `data` into `n` parts: a header of `n - 1` little-endian u16 lengths, then the
/// parts in order (each cut short where the input ends); the last part is the rest.
/// scripts/fuzz.sh writes corpus seeds in this layout.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let header = 2 * n.saturating_sub(1);
    let (head, mut rest) = data.split_at(header.min(data.len()));
    let mut out = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        let len = match head.get(2 * i..2 * i + 2) {
            Some(&[lo, hi]) => usize::from(u16::from_le_bytes([lo, hi])),
            _ => 0,
        };
        let (part, tail) = rest.split_at(len.min(rest.len()));
        out.push(part);
        rest = tail;
    }
    out.push(rest);
    out
}

/// Checks every bound `src/state.rs` declares on a state and its encoding; panics with
/// what was exceeded (the fuzzer reports that as a crash).
pub fn check_bounds(state: &ShopperState, what: &str) {
    if let Err(e) = state.check_bounds() {
        panic!("{what}: over an item bound: {e}");
    }
    let encoded = state.encode().len();
    assert!(encoded <= MAX_ENCODED_BYTES, "{what}: encodes to {encoded} bytes (MAX_ENCODED_BYTES {MAX_ENCODED_BYTES})");
    assert!(state.traits.len() <= MAX_TRAITS, "{what}: {} traits (MAX_TRAITS {MAX_TRAITS})", state.traits.len());
    assert!(state.ids.len() <= MAX_IDS, "{what}: {} ids (MAX_IDS {MAX_IDS})", state.ids.len());
    assert!(state.runs.len() <= MAX_RUNS, "{what}: {} runs (MAX_RUNS {MAX_RUNS})", state.runs.len());
    assert!(
        state.contacts.len() <= MAX_CONTACTS,
        "{what}: {} contacts (MAX_CONTACTS {MAX_CONTACTS})",
        state.contacts.len()
    );
    assert!(
        state.incentives.len() <= MAX_INCENTIVES,
        "{what}: {} incentives (MAX_INCENTIVES {MAX_INCENTIVES})",
        state.incentives.len()
    );
    let mut per_journey = std::collections::BTreeMap::<&str, usize>::new();
    for run in &state.runs {
        *per_journey.entry(run.journey.as_str()).or_default() += 1;
    }
    for (journey, count) in per_journey {
        assert!(
            count <= MAX_RUNS_PER_JOURNEY,
            "{what}: {count} runs of journey {journey:?} (MAX_RUNS_PER_JOURNEY {MAX_RUNS_PER_JOURNEY})"
        );
    }
}

/// Encodes a state and decodes it back: the decode must succeed and re-encode to the
/// same bytes (decode ∘ encode is the identity on states). Returns the encoding.
/// Bytes, not `PartialEq`, are compared: a NaN number is equal to itself only there.
pub fn assert_roundtrip(state: &ShopperState, what: &str) -> Vec<u8> {
    let bytes = state.encode();
    let back = match ShopperState::decode(&bytes) {
        Ok(back) => back,
        Err(e) => panic!("{what}: its own encoding ({} bytes) does not decode: {e}", bytes.len()),
    };
    assert!(back.encode() == bytes, "{what}: decode(encode(state)) encodes differently");
    bytes
}

/// The engine of the repository's journeys (templates/ and examples/journeys/, compiled
/// as `waymark validate` would), built once per process.
pub fn fixed_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let paths = [root.join("templates"), root.join("examples/journeys")];
        match waymark::journey::diagnostics::compile_paths(&paths, &waymark::journey::tzdb::Tzdb) {
            Ok(bundle) => Engine::new(bundle),
            Err(errors) => panic!("the repository's journeys do not compile: {errors:?}"),
        }
    })
}

/// A few ordinary events at fixed times, then `tick`s, through `engine` on a fresh
/// state: what a compiled or decoded bundle is exercised with. Returns the state.
pub fn exercise(engine: &Engine) -> ShopperState {
    let mut state = ShopperState::new("anon-fuzz");
    state.set_consent(Channel::Email, true, BASE_TIME);
    let item = |id: &str, price: f64| {
        Map::from_iter([
            ("item_id".to_owned(), Value::from(id)),
            ("item_category".to_owned(), Value::from("shoes")),
            ("price".to_owned(), Value::from(price)),
        ])
    };
    let events = [
        ("page_view", 0, Map::new()),
        ("view_item", 10_000, item("shoe-1", 80.0)),
        ("add_to_cart", 60_000, item("shoe-1", 80.0)),
        ("search", 120_000, Map::from_iter([("search_term".to_owned(), Value::from("boots"))])),
        ("begin_checkout", 180_000, Map::new()),
        ("purchase", 90_000_000, Map::from_iter([("value".to_owned(), Value::from(80.0))])),
    ];
    for (name, offset, props) in events {
        let at = BASE_TIME.plus(waymark::Duration(offset));
        engine.ingest(&mut state, &Event::new(name, at, props), at);
    }
    for days in [1, 3, 10, 40] {
        engine.tick(&mut state, BASE_TIME.plus(waymark::Duration(days * waymark::time::DAY)));
    }
    state
}

// ---------------------------------------------------------------------------------------
// Structured generation
// ---------------------------------------------------------------------------------------

const JOURNEYS: &[&str] =
    &["cart_abandon", "browse_abandon", "price_drop", "birthday", "welcome", "checkout_reassurance", "j"];
const IDS: &[&str] = &["anon-1", "anon-2", "anon-fuzz", "cust-1", "cust-2", "ana", "bo"];
const KEYS: &[&str] = &[
    "email",
    "item_id",
    "item_category",
    "price",
    "quantity",
    "value",
    "currency",
    "items",
    "search_term",
    "cart_id",
    "transaction_id",
    "product_id",
    "category",
    "revenue",
    "birthday",
    "signup_date",
    "tier",
    "favorite_category",
];
const CHANNELS: &[Channel] =
    &[Channel::Onsite, Channel::Inapp, Channel::Email, Channel::Sms, Channel::Push, Channel::Ads];
const OUTCOMES: &[Outcome] = &[
    Outcome::Completed,
    Outcome::Converted,
    Outcome::ExitRule,
    Outcome::Holdout,
    Outcome::Superseded,
    Outcome::Removed,
    Outcome::Aborted,
];

/// A string: mostly from `pool`, sometimes short and arbitrary, sometimes one character
/// repeated up to 16 000 times (few input bytes, large states).
pub fn string(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=5 => u.choose(pool)?.to_string(),
        6 | 7 => u.arbitrary::<&str>()?.chars().take(24).collect(),
        8 => format!("{}-{}", u.choose(pool)?, u.int_in_range(0u16..=999)?),
        _ => {
            let c = char::from(u.int_in_range(b'a'..=b'z')?);
            std::iter::repeat_n(c, usize::from(u.int_in_range(0u16..=16_000)?)).collect()
        }
    })
}

/// A time: mostly near [`BASE_TIME`] (within ±60 days), sometimes anywhere.
pub fn time(u: &mut Unstructured<'_>) -> Result<Timestamp> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => Timestamp(u.arbitrary()?),
        1 => Timestamp(i64::MAX),
        2 => Timestamp(0),
        _ => BASE_TIME.plus(waymark::Duration(u.int_in_range(-60 * waymark::time::DAY..=60 * waymark::time::DAY)?)),
    })
}

/// A JSON-shaped value, nested at most `depth` levels.
pub fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let kinds = if depth == 0 { 4 } else { 6 };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Number(match u.int_in_range(0u8..=3)? {
            0 => u.arbitrary()?,
            1 => f64::from(u.int_in_range(-5i32..=1000)?),
            2 => f64::from(u.arbitrary::<i32>()?) / 100.0,
            _ => [f64::NAN, f64::INFINITY, -0.0, 1e300, f64::MIN_POSITIVE][usize::from(u.int_in_range(0u8..=4)?)],
        }),
        3 => Value::String(string(u, &["shoes", "boots", "shoe-1", "EUR", "2026-06-01T08:00:00Z", "1990-06-02"])?),
        4 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => Value::Object(object(u, depth - 1, 4)?),
    })
}

/// An object of up to `max` entries, keys mostly from the event / trait vocabulary.
pub fn object(u: &mut Unstructured<'_>, depth: u32, max: usize) -> Result<Map> {
    let mut map = Map::new();
    for _ in 0..u.int_in_range(0..=max)? {
        let key = string(u, KEYS)?;
        map.insert(key, value(u, depth)?);
    }
    Ok(map)
}

/// A shopper state with every field filled from the input: identities, runs (active and
/// finished, several per journey), contacts, incentives, consent and traits. Traits go
/// through `set_trait`, so each one respects the limits a live engine enforces; the lists
/// are built directly and may exceed their bounds (decoding trims them).
pub fn state(u: &mut Unstructured<'_>) -> Result<ShopperState> {
    let mut s = ShopperState::default();
    for _ in 0..u.int_in_range(0..=10)? {
        s.ids.push(string(u, IDS)?);
    }
    if u.arbitrary()? {
        s.customer_id = Some(Stamped { at: time(u)?, value: string(u, IDS)? });
    }
    for _ in 0..u.int_in_range(0..=24)? {
        let status = if u.arbitrary()? {
            RunStatus::Active {
                step: string(u, &["wait", "send_1", "delay", "exit"])?,
                since: time(u)?,
                wake_at: if u.arbitrary()? { Some(time(u)?) } else { None },
            }
        } else {
            RunStatus::Done { at: time(u)?, outcome: *u.choose(OUTCOMES)? }
        };
        s.runs.push(Run {
            journey: string(u, JOURNEYS)?,
            entered_at: time(u)?,
            seq: u.int_in_range(0..=20)?,
            status,
            entry: object(u, 1, 3)?,
            bucket: string(u, IDS)?,
            variant: if u.arbitrary()? { Some(string(u, &["a", "b", "holdout"])?) } else { None },
        });
    }
    for _ in 0..u.int_in_range(0..=80)? {
        s.contacts.push(Contact {
            at: time(u)?,
            channel: *u.choose(CHANNELS)?,
            journey: u.int_in_range(0..=8)?,
            session: time(u)?,
        });
    }
    for _ in 0..u.int_in_range(0..=20)? {
        let granted_at = time(u)?;
        s.incentives.push(IncentiveGrant {
            group: string(u, &["discount", "shipping"])?,
            id: string(u, &["10off", "free_shipping", "15off"])?,
            journey: string(u, JOURNEYS)?,
            priority: u.int_in_range(-2..=5)?,
            granted_at,
            expires_at: time(u)?,
            revoked_at: if u.arbitrary()? { Some(time(u)?) } else { None },
        });
    }
    for channel in CHANNELS {
        if u.arbitrary()? {
            s.set_consent(*channel, u.arbitrary()?, time(u)?);
        }
    }
    for _ in 0..u.int_in_range(0..=40)? {
        let key = if u.arbitrary()? { format!("t{}", u.int_in_range(0u8..=63)?) } else { string(u, KEYS)? };
        let v = value(u, 2)?;
        let at = time(u)?;
        // Over-long or one too many: refused, as the engine refuses it.
        let _ = s.set_trait(&key, v, at);
    }
    s.normalize();
    Ok(s)
}

/// The event names the ingest target draws from: GA4 names, Segment aliases, a custom one.
pub fn event_name(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => u.choose(&["Product Viewed", "Order Completed", "Products Searched", "Product Added"])?.to_string(),
        1 => string(u, &["newsletter_signup", "back_in_stock", "price_drop"])?,
        _ => u.choose(CANONICAL_NAMES)?.to_string(),
    })
}

/// Event properties: GA4 parameters with plausible and implausible values, sometimes
/// an `items` array.
pub fn properties(u: &mut Unstructured<'_>) -> Result<Map> {
    let mut props = object(u, 2, 6)?;
    if u.arbitrary()? {
        let n = u.int_in_range(0..=3)?;
        let items = (0..n)
            .map(|_| {
                let mut item = Map::new();
                item.insert("item_id".to_owned(), Value::from(u.choose(&["shoe-1", "shoe-2", "bag-1"])?.to_string()));
                item.insert("item_category".to_owned(), value(u, 0)?);
                item.insert("price".to_owned(), value(u, 0)?);
                item.insert("quantity".to_owned(), value(u, 0)?);
                Ok(Value::Object(item))
            })
            .collect::<Result<Vec<_>>>()?;
        props.insert("items".to_owned(), Value::Array(items));
    }
    Ok(props)
}

/// The next time of a monotone-ish clock: mostly forward by seconds to days, sometimes
/// backwards a little, rarely anywhere at all.
pub fn next_time(u: &mut Unstructured<'_>, t: Timestamp) -> Result<Timestamp> {
    use waymark::time::{DAY, HOUR, MINUTE, SECOND};
    Ok(match u.int_in_range(0u8..=31)? {
        0 => Timestamp(u.arbitrary()?),
        1 => t.minus(waymark::Duration(u.int_in_range(0..=HOUR)?)),
        2..=15 => t.plus(waymark::Duration(u.int_in_range(0..=5 * MINUTE)?)),
        16..=23 => t.plus(waymark::Duration(u.int_in_range(0..=6 * HOUR)?)),
        24..=29 => t.plus(waymark::Duration(u.int_in_range(0..=3 * DAY)?)),
        _ => t.plus(waymark::Duration(u.int_in_range(SECOND..=60 * DAY)?)),
    })
}
