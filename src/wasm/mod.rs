//! The JavaScript API of the engine (wasm32 only): `Engine` (a compiled bundle) and
//! `State` (one shopper), thin wrappers over [`crate::Engine`] and [`ShopperState`].
//! Hot-path values cross as bytes, not JS values: event properties and traits come in
//! as postcard written by the JS layer (`encode.js`), decisions go out packed (below)
//! and are decoded by `pkg-template/core.js`, which also completes these classes with
//! the value-taking methods (`ingest`, `tick`, `setTraits`, `traits`). One copy each way
//! instead of a boundary call per field. JSON bundles come in as text (full module only).
//! Every failure is a JS `Error` with a stable `code` (and `path` for journey errors),
//! never a panic. Time is an input (epoch ms from the JS clock); the core stays pure.
//! The idiomatic API (`Waymark.load`, `track`, storage, sync) lives in `pkg-template/`.

pub(crate) mod host;

use js_sys::{Array, Error as JsError, Reflect};
use wasm_bindgen::prelude::*;

use crate::decision::{Action, Decision, Reason};
use crate::engine::{Engine as CoreEngine, EngineOptions};
use crate::event::{decode_properties_into, Event};
use crate::intent::Tier;
#[cfg(feature = "json-bundles")]
use crate::journey::{text::Diagnostic, tzdb::Tzdb};
use crate::journey::{Bundle, Channel};
use crate::state::{ShopperState, TraitSource};
use crate::time::Timestamp;
use crate::value::{Map, Value};
use crate::wire::{put_varint, put_zigzag, Encode, Reader};

/// A JS `Error` with `message` and a stable `code` property.
fn error(code: &str, message: &str) -> JsValue {
    let err = JsError::new(message);
    set(&err, "code", &JsValue::from_str(code));
    err.into()
}

/// Sets a property on a JS object; a failure (frozen object) is not worth a throw.
fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// Epoch milliseconds from JS (`Date.now()`), as a [`Timestamp`].
fn timestamp(ms: f64) -> Result<Timestamp, JsValue> {
    if !ms.is_finite() {
        let found = if ms.is_nan() { "NaN" } else { "Infinity" };
        return Err(error("bad_time", &format!("time must be epoch milliseconds (a finite number), found {found}")));
    }
    // `as` saturates: times beyond ±292 million years clamp, they never wrap.
    Ok(Timestamp(ms as i64))
}

fn channel(name: &str) -> Result<Channel, JsValue> {
    Channel::parse(name).ok_or_else(|| {
        error("unknown_channel", &format!("unknown channel \"{name}\": use onsite, inapp, email, sms, push or ads"))
    })
}

/// Postcard bytes of a `Map` (`encodeProperties` in the package) read into `map`
/// (reusing its allocations); empty bytes are an empty map.
fn decode_object(bytes: &[u8], map: &mut Map, code: &str, what: &str) -> Result<(), JsValue> {
    decode_properties_into(bytes, map).map_err(|e| error(code, &format!("encoded {what} do not decode: {e}")))
}

// --- packed decisions --------------------------------------------------------------------
//
// What `ingestInput` / `tickOutput` leave behind their length and `decodeDecisions` in
// decode.js reads:
//
//   u8      head: bits 0-1 the intent tier after the call (0 cold, 1 warm, 2 hot),
//           bit 2 set when a timer is pending
//   varint  zigzag(next wakeup - now), only when bit 2 is set
//   varint  count, then per decision:
//     varint  zigzag(time - now)          (0 for decisions made at `now`)
//     str     journey, step, action, channel, content, incentive, variant
//     varint  number of items, then one str each (inline: item ids are not in the table)
//     varint  number of reasons, then one str each
//     str     message
//
// A `str` is a varint tag: 0 = null; odd = index (tag >> 1) into `Engine.strings()`
// (actions, channels, reasons, then the bundle's journey ids, step ids, content keys,
// incentives and variant names); even = inline UTF-8 of (tag >> 1) - 1 bytes. Strings
// from the table cost one or two bytes and no decoding; only messages travel inline.
// INVARIANT: the table starts with Action::ALL, Channel::ALL, Reason::ALL in that order.
// The head saves the JS layer two boundary calls per `track` (`State.tier` and
// `Engine.nextWakeup`, both needed after every call).

const CHANNEL_BASE: usize = Action::ALL.len();
const REASON_BASE: usize = CHANNEL_BASE + Channel::ALL.len();

/// The string table of one engine. Packing looks strings up in it by a linear search:
/// only calls that decide something pack strings, and a map from string to index cost
/// 0.36 KiB of the gzipped module.
struct Strings {
    list: Vec<String>,
}

impl Strings {
    fn new(engine: &CoreEngine) -> Strings {
        let mut list: Vec<String> = Action::ALL.iter().map(|a| a.as_str().to_owned()).collect();
        list.extend(Channel::ALL.iter().map(|c| c.as_str().to_owned()));
        list.extend(Reason::ALL.iter().map(|r| r.code().to_owned()));
        let add = |list: &mut Vec<String>, text: &str| {
            if !list.iter().any(|s| s == text) {
                list.push(text.to_owned());
            }
        };
        for journey in &engine.bundle().journeys {
            add(&mut list, &journey.id);
            for step in &journey.steps {
                add(&mut list, &step.id);
                match &step.kind {
                    crate::journey::StepKind::Send(send) => {
                        add(&mut list, &send.content);
                        if let Some(incentive) = &send.incentive {
                            add(&mut list, &incentive.id);
                        }
                    }
                    crate::journey::StepKind::Split { variants, .. } => {
                        for (name, _, _) in variants {
                            add(&mut list, name);
                        }
                    }
                    _ => {}
                }
            }
        }
        Strings { list }
    }
}

fn put_index(out: &mut Vec<u8>, index: usize) {
    put_varint(out, ((index as u64) << 1) | 1);
}

fn put_inline(out: &mut Vec<u8>, text: &str) {
    put_varint(out, ((text.len() as u64) + 1) << 1);
    out.extend_from_slice(text.as_bytes());
}

fn put_str(out: &mut Vec<u8>, strings: &Strings, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(t) => match strings.list.iter().position(|s| s == t) {
            Some(i) => put_index(out, i),
            None => put_inline(out, t),
        },
    }
}

/// Packs `list` into `out` (cleared first) behind a 4-byte little-endian length: the
/// answer the JS layer reads in place from the module's memory (see `WasmEngine::answer`).
fn pack(
    engine: &CoreEngine,
    strings: &Strings,
    state: &ShopperState,
    list: &[Decision],
    now: Timestamp,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(&[0; 4]);
    let tier = match state.signals.tier() {
        Tier::Cold => 0,
        Tier::Warm => 1,
        Tier::Hot => 2,
    };
    match engine.next_wakeup(state) {
        Some(at) => {
            out.push(tier | 4);
            put_zigzag(out, at.0.wrapping_sub(now.0));
        }
        None => out.push(tier),
    }
    put_varint(out, list.len() as u64);
    for d in list {
        put_zigzag(out, d.time.0.wrapping_sub(now.0));
        put_str(out, strings, Some(&d.journey));
        put_str(out, strings, d.step.as_deref());
        put_index(out, d.action as usize);
        match d.channel {
            None => out.push(0),
            Some(c) => put_index(out, CHANNEL_BASE + c as usize),
        }
        put_str(out, strings, d.content.as_deref());
        put_str(out, strings, d.incentive.as_deref());
        put_str(out, strings, d.variant.as_deref());
        put_varint(out, d.items.len() as u64);
        for item in &d.items {
            put_inline(out, item);
        }
        put_varint(out, d.reasons.len() as u64);
        for r in &d.reasons {
            put_index(out, REASON_BASE + *r as usize);
        }
        put_inline(out, &d.message);
    }
    let len = (out.len() - 4) as u32;
    if let Some(head) = out.get_mut(..4) {
        head.copy_from_slice(&len.to_le_bytes());
    }
}

#[cfg(feature = "json-bundles")]
/// Journey errors as one JS `Error`: the message lists them all as `waymark validate`
/// prints them; `code` and `path` are the first's; `errors` has each as `{code, path,
/// message}`, plus `line` and `column` when the bundle was given as text (`located`).
fn journey_errors(errors: &[Diagnostic], located: bool) -> JsValue {
    let position = |d: &Diagnostic| d.position.filter(|_| located);
    let message = errors
        .iter()
        .map(|d| Diagnostic { position: position(d), ..d.clone() }.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let first = errors.first();
    let err = error(first.map(|d| d.code.as_str()).unwrap_or("invalid_bundle"), &message);
    set(&err, "path", &JsValue::from_str(first.map(|d| d.pointer.as_str()).unwrap_or("")));
    let list = Array::new();
    for d in errors {
        let item = js_sys::Object::new();
        set(&item, "code", &JsValue::from_str(&d.code));
        set(&item, "path", &JsValue::from_str(&d.pointer));
        set(&item, "message", &JsValue::from_str(&d.message));
        if let Some((line, column)) = position(d) {
            set(&item, "line", &JsValue::from_f64(line as f64));
            set(&item, "column", &JsValue::from_f64(column as f64));
        }
        list.push(&item);
    }
    set(&err, "errors", &list);
    err
}

/// The waymark version this module was built from.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// A compiled bundle of journeys and policy, ready to run shopper states.
#[wasm_bindgen(js_name = Engine)]
pub struct WasmEngine {
    engine: CoreEngine,
    strings: Strings,
    /// The next event, written here by the JS layer (see `inputBuffer`).
    input: Vec<u8>,
    /// The last answer of `ingestInput` / `tickOutput`, read in place by the JS layer.
    output: Vec<u8>,
    /// The last event read: the next one is read into it, reusing its allocations.
    event: Event,
}

impl WasmEngine {
    fn new(engine: CoreEngine) -> WasmEngine {
        let strings = Strings::new(&engine);
        let event = Event { name: String::new(), time: Timestamp(0), properties: Map::new() };
        WasmEngine { engine, strings, input: Vec::new(), output: Vec::new(), event }
    }

    /// Packs the decisions into `output` and returns its address.
    fn answer(&mut self, state: &ShopperState, decisions: &[Decision], now: Timestamp) -> usize {
        pack(&self.engine, &self.strings, state, decisions, now, &mut self.output);
        self.output.as_ptr() as usize
    }
}

/// The module's `WebAssembly.Memory`: the JS layer writes events into it and reads the
/// packed answers of `Engine.ingestInput` / `tickOutput` out of it, in place.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

#[wasm_bindgen(js_class = Engine)]
impl WasmEngine {
    /// An engine from the compact binary bundle (`waymark bundle`, `/v1/bundle`).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<WasmEngine, JsValue> {
        let bundle = Bundle::from_bytes(bytes).map_err(|e| error(e.code(), &e.to_string()))?;
        Ok(WasmEngine::new(CoreEngine::new(bundle)))
    }

    /// An engine from the text of a JSON bundle `{journeys, policy, groups}` (or of one
    /// journey), read, validated and compiled here as `waymark bundle` does (the same
    /// reader, validator and IANA zone tables: the same compiled bundle). `located`: the
    /// text is what the user wrote, so errors carry its line and column (the JS layer
    /// passes `false` for the text it made of an object). Only in modules built with the
    /// `json-bundles` feature (the package's node and full entries); core.js's
    /// `Engine.fromJson` takes objects, text or bytes.
    #[cfg(feature = "json-bundles")]
    #[wasm_bindgen(js_name = fromJsonText)]
    pub fn from_json_text(text: &str, located: bool) -> Result<WasmEngine, JsValue> {
        let compiled = crate::journey::text::compile_text(text, &Tzdb).map_err(|e| journey_errors(&e, located))?;
        Ok(WasmEngine::new(CoreEngine::new(compiled)))
    }

    /// The compiled bundle in the compact binary form `waymark bundle` writes (what the
    /// slim module and `/v1/bundle` load): a bundle compiled from JSON here is byte for byte
    /// the CLI's. Full module only (feature `json-bundles`).
    #[cfg(feature = "json-bundles")]
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.engine.bundle().to_bytes()
    }

    /// Whether entry skips are reported: journeys not entered because of their schedule
    /// or re-entry rules, as `suppress` decisions (`outside_schedule`, `reentry_*`).
    /// Off by default; the JS layer turns it on with `Waymark.load({debug: true})`.
    #[wasm_bindgen(getter, js_name = traceSkips)]
    pub fn trace_skips(&self) -> bool {
        self.engine.options().trace_skips
    }

    /// Turns entry-skip reporting on or off (see the getter).
    #[wasm_bindgen(setter, js_name = traceSkips)]
    pub fn set_trace_skips(&mut self, on: bool) {
        self.engine.set_options(EngineOptions { trace_skips: on, ..self.engine.options() });
    }

    /// Whether email / SMS / push / ads sends are left to the backend (`defer` with reason
    /// `delegated`; the backend decides and delivers them after the next sync). The JS
    /// layer turns it on when an `endpoint` is configured.
    #[wasm_bindgen(getter, js_name = delegateOffsite)]
    pub fn delegate_offsite(&self) -> bool {
        self.engine.options().delegate_offsite
    }

    /// Turns delegation of off-site sends on or off (see the getter).
    #[wasm_bindgen(setter, js_name = delegateOffsite)]
    pub fn set_delegate_offsite(&mut self, on: bool) {
        self.engine.set_options(EngineOptions { delegate_offsite: on, ..self.engine.options() });
    }

    /// Ids of the bundle's journeys.
    pub fn journeys(&self) -> Vec<String> {
        self.engine.bundle().journeys.iter().map(|j| j.id.clone()).collect()
    }

    /// The string table packed decisions refer to (see `pack`); fetched once per engine.
    pub fn strings(&self) -> Vec<String> {
        self.strings.list.clone()
    }

    /// Room for the next event in the module's memory: at least `len` bytes at the
    /// address returned, which stays valid until a larger room is asked for (the JS
    /// layer keeps it and asks again only for a larger event).
    #[wasm_bindgen(js_name = inputBuffer)]
    pub fn input_buffer(&mut self, len: usize) -> usize {
        if self.input.len() < len {
            self.input = vec![0; len];
        }
        self.input.as_ptr() as usize
    }

    /// Ingests the event the JS layer wrote at `inputBuffer` (`len` bytes: the name, GA4
    /// or a Segment alias, as a length-prefixed UTF-8 text, then the properties as
    /// `encodeProperties` writes them: a map of tagged values, the encoding [`Value`] has
    /// in states) at `now` (epoch ms). Returns the address of the decisions, taken and
    /// suppressed, packed behind their 4-byte length (core.js decodes them in place,
    /// before the next call into the module). One copy in, none out, no allocation for
    /// the boundary itself.
    #[wasm_bindgen(js_name = ingestInput)]
    pub fn ingest_input(&mut self, state: &mut WasmState, now: f64, len: usize) -> Result<usize, JsValue> {
        let now = timestamp(now)?;
        let mut reader = Reader::new(self.input.get(..len).unwrap_or_default());
        let name = reader.str().map_err(|_| error("bad_properties", "the encoded event name does not decode"))?;
        if name.trim().is_empty() {
            return Err(error("empty_event_name", "event name is empty: use a GA4 name such as \"view_item\""));
        }
        let event = &mut self.event;
        decode_object(reader.rest(), &mut event.properties, "bad_properties", "event properties")?;
        event.reset(name, now);
        let decisions = self.engine.ingest(&mut state.state, &self.event, now);
        Ok(self.answer(&state.state, &decisions, now))
    }

    /// Runs timers due at or before `now`; call it at `nextWakeup`.
    /// Answers like `ingestInput` (core.js's `tick` decodes it).
    #[wasm_bindgen(js_name = tickOutput)]
    pub fn tick_output(&mut self, state: &mut WasmState, now: f64) -> Result<usize, JsValue> {
        let now = timestamp(now)?;
        let decisions = self.engine.tick(&mut state.state, now);
        Ok(self.answer(&state.state, &decisions, now))
    }

    /// When `tick` has work next (epoch ms), or `undefined`.
    #[wasm_bindgen(js_name = nextWakeup)]
    pub fn next_wakeup(&self, state: &WasmState) -> Option<f64> {
        self.engine.next_wakeup(&state.state).map(|t| t.0 as f64)
    }

    /// `{score, tier}` at `now`: score in [0, 1], tier `cold` | `warm` | `hot`.
    pub fn intent(&self, state: &WasmState, now: f64) -> Result<JsValue, JsValue> {
        let (score, tier) = self.engine.intent(&state.state, timestamp(now)?);
        let out = js_sys::Object::new();
        set(&out, "score", &JsValue::from_f64(score));
        set(&out, "tier", &JsValue::from_str(tier.as_str()));
        Ok(out.into())
    }

    /// What moves the intent score at `now`, largest effect first:
    /// `[{feature, signal, value, weight, contribution}]`.
    pub fn explain(&self, state: &WasmState, now: f64) -> Result<Array, JsValue> {
        let out = Array::new();
        for c in state.state.signals.explain(timestamp(now)?, &self.engine.bundle().policy.intent) {
            let item = js_sys::Object::new();
            set(&item, "feature", &JsValue::from_str(c.feature));
            set(&item, "signal", &JsValue::from_f64(c.signal));
            set(&item, "value", &JsValue::from_f64(c.value));
            set(&item, "weight", &JsValue::from_f64(c.weight));
            set(&item, "contribution", &JsValue::from_f64(c.contribution));
            out.push(&item);
        }
        Ok(out)
    }

    /// May another platform send on `channel` now (consent, caps, recent on-site, a
    /// conversion of `journey`)? `{allowed, reasons}`; records nothing.
    #[wasm_bindgen(js_name = maySend)]
    pub fn may_send(
        &self,
        state: &WasmState,
        channel_name: &str,
        journey: Option<String>,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        let check = self.engine.may_send(&state.state, channel(channel_name)?, journey.as_deref(), timestamp(now)?);
        let reasons: Array = check.reasons.iter().map(|r| JsValue::from_str(r.code())).collect();
        let out = js_sys::Object::new();
        set(&out, "allowed", &JsValue::from_bool(check.allowed));
        set(&out, "reasons", &reasons);
        Ok(out.into())
    }
}

/// One shopper's state: journeys, timers, contacts, incentives, signals, consent, traits.
#[wasm_bindgen(js_name = State)]
pub struct WasmState {
    state: ShopperState,
}

/// A shopper id longer than a state keeps is an error, not an id silently left out.
fn check_id_length(id: &str) -> Result<(), JsValue> {
    if id.len() > crate::state::MAX_ID_BYTES {
        let message = format!("shopper id is {} bytes; the limit is {}", id.len(), crate::state::MAX_ID_BYTES);
        return Err(error("id_too_long", &message));
    }
    Ok(())
}

#[wasm_bindgen(js_class = State)]
impl WasmState {
    /// A fresh state for a shopper id (anonymous or customer).
    #[wasm_bindgen(constructor)]
    pub fn new(shopper_id: &str) -> Result<WasmState, JsValue> {
        check_id_length(shopper_id)?;
        Ok(WasmState { state: ShopperState::new(shopper_id) })
    }

    /// Reads bytes from `encode` (localStorage, a cookie, `/v1/sync`).
    pub fn decode(bytes: &[u8]) -> Result<WasmState, JsValue> {
        ShopperState::decode(bytes).map(|state| WasmState { state }).map_err(|e| error(e.code(), &e.to_string()))
    }

    /// Version byte + postcard, as a `Uint8Array`.
    pub fn encode(&self) -> Vec<u8> {
        self.state.encode()
    }

    /// Joins another copy (another tab, the backend's answer) into this one.
    /// Commutative, associative, idempotent.
    pub fn merge(&mut self, other: &WasmState) {
        self.state.merge(&other.state);
    }

    /// Merges encoded bytes into this state.
    #[wasm_bindgen(js_name = mergeBytes)]
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        let other = ShopperState::decode(bytes).map_err(|e| error(e.code(), &e.to_string()))?;
        self.state.merge(&other);
        Ok(())
    }

    /// Records the customer id after login (links the anonymous id to it).
    pub fn identify(&mut self, customer_id: &str, now: f64) -> Result<(), JsValue> {
        if customer_id.trim().is_empty() {
            return Err(error("empty_customer_id", "customer id is empty"));
        }
        check_id_length(customer_id)?;
        self.state.identify(customer_id, timestamp(now)?);
        Ok(())
    }

    /// Sets consent for a channel (`email`, `sms`, `push`, ...).
    #[wasm_bindgen(js_name = setConsent)]
    pub fn set_consent(&mut self, channel_name: &str, granted: bool, now: f64) -> Result<(), JsValue> {
        self.state.set_consent(channel(channel_name)?, granted, timestamp(now)?);
        Ok(())
    }

    /// Consent per channel as given: `{email: true, sms: false}`.
    pub fn consent(&self) -> js_sys::Object {
        let out = js_sys::Object::new();
        for (channel, stamp) in &self.state.consent {
            set(&out, channel.as_str(), &JsValue::from_bool(stamp.value));
        }
        out
    }

    /// Sets traits from postcard bytes (`encodeProperties` of a plain object; `null`
    /// clears one). core.js's `setTraits` takes the object.
    #[wasm_bindgen(js_name = setTraitsEncoded)]
    pub fn set_traits_encoded(&mut self, traits: &[u8], now: f64) -> Result<(), JsValue> {
        let now = timestamp(now)?;
        let mut map = Map::new();
        decode_object(traits, &mut map, "bad_traits", "traits")?;
        // The one rule for a batch of traits (`ShopperState::set_traits`): the ones within
        // bounds are set; the first rejection is thrown.
        let mut first = None;
        self.state.set_traits(&map, TraitSource::Shopper, now, |_, e| {
            first.get_or_insert(e);
        });
        match first {
            Some(e) => Err(error(e.code(), &e.to_string())),
            None => Ok(()),
        }
    }

    /// Current traits (cleared ones left out) as the postcard of a map, the encoding
    /// `setTraitsEncoded` reads. core.js's `traits` decodes it to a plain object.
    #[wasm_bindgen(js_name = traitsEncoded)]
    pub fn traits_encoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let set: Vec<(&String, &Value)> = self
            .state
            .traits
            .iter()
            .filter(|(_, s)| !matches!(s.value, Value::Null))
            .map(|(k, s)| (k, &s.value))
            .collect();
        put_varint(&mut out, set.len() as u64);
        for (key, value) in set {
            key.encode(&mut out);
            value.encode(&mut out);
        }
        out
    }

    /// The customer id once known, else the smallest anonymous id.
    #[wasm_bindgen(getter, js_name = primaryId)]
    pub fn primary_id(&self) -> String {
        self.state.primary_id().to_owned()
    }

    /// The customer id, if known.
    #[wasm_bindgen(getter, js_name = customerId)]
    pub fn customer_id(&self) -> Option<String> {
        self.state.customer_id.as_ref().map(|c| c.value.clone())
    }

    /// All identities linked in this state, sorted.
    #[wasm_bindgen(getter)]
    pub fn ids(&self) -> Vec<String> {
        self.state.ids.clone()
    }

    /// The intent tier as of the last ingest (`cold` | `warm` | `hot`).
    #[wasm_bindgen(getter)]
    pub fn tier(&self) -> String {
        self.state.signals.tier().as_str().to_owned()
    }

    /// Journeys the shopper is in now.
    #[wasm_bindgen(js_name = activeJourneys)]
    pub fn active_journeys(&self) -> Vec<String> {
        let mut ids: Vec<String> =
            self.state.runs.iter().filter(|r| r.is_active()).map(|r| r.journey.clone()).collect();
        ids.dedup();
        ids
    }

    /// Ids of up to `limit` items viewed and not bought, the most recently touched first
    /// (`Interests::recently_viewed_unbought`): a storefront's "recently viewed" row.
    #[wasm_bindgen(js_name = recentlyViewed)]
    pub fn recently_viewed(&self, limit: u32) -> Vec<String> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        self.state.interests.recently_viewed_unbought(limit).into_iter().map(|i| i.id.clone()).collect()
    }

    /// An independent copy.
    #[wasm_bindgen(js_name = clone)]
    pub fn clone_state(&self) -> WasmState {
        WasmState { state: self.state.clone() }
    }
}
