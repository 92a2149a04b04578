//! The JavaScript API of the engine (wasm32 only): `Engine` (a compiled bundle) and
//! `State` (one shopper), thin wrappers over [`crate::Engine`] and [`ShopperState`].
//! Values cross as JS values through serde-wasm-bindgen (no JSON text on the hot path);
//! every failure is a JS `Error` with a stable `code` (and `path` for journey errors),
//! never a panic. Time is an input (epoch ms from the JS clock); the core stays pure.
//! The idiomatic API (`Waymark.load`, `track`, storage, sync) lives in `pkg-template/`.

use std::collections::BTreeMap;

use js_sys::{Array, Error as JsError, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::decision::Decision;
use crate::engine::Engine as CoreEngine;
use crate::event::Event;
use crate::journey::model::BundleSource;
use crate::journey::{compile_bundle, Bundle, Channel, FixedZones, JourneyError};
use crate::state::ShopperState;
use crate::time::Timestamp;
use crate::value::Value;

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

/// Serializer for everything this module hands to JS: `None` as `null` (stable shapes,
/// JSON-friendly), maps as plain objects, integers as numbers.
const SERIALIZER: serde_wasm_bindgen::Serializer =
    serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true).serialize_maps_as_objects(true);

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value.serialize(&SERIALIZER).map_err(|e| error("serialize_failed", &e.to_string()))
}

/// Epoch milliseconds from JS (`Date.now()`), as a [`Timestamp`].
fn timestamp(ms: f64) -> Result<Timestamp, JsValue> {
    if !ms.is_finite() {
        return Err(error("bad_time", &format!("time must be epoch milliseconds (a finite number), found {ms}")));
    }
    // `as` saturates: times beyond ±292 million years clamp, they never wrap.
    Ok(Timestamp(ms as i64))
}

fn channel(name: &str) -> Result<Channel, JsValue> {
    Channel::parse(name).ok_or_else(|| {
        error("unknown_channel", &format!("unknown channel {name:?}: use onsite, inapp, email, sms, push or ads"))
    })
}

/// An object of values (event properties, traits); `undefined` / `null` is empty.
fn object(value: JsValue, code: &str, what: &str) -> Result<BTreeMap<String, Value>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(BTreeMap::new());
    }
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| error(code, &format!("{what} must be a plain object of JSON values: {e}")))
}

/// One decision as JS sees it: the CLI's record without the shopper, time in epoch ms.
#[derive(Serialize)]
struct DecisionOut<'a> {
    time: i64,
    journey: &'a str,
    step: Option<&'a str>,
    action: &'static str,
    channel: Option<&'static str>,
    content: Option<&'a str>,
    incentive: Option<&'a str>,
    variant: Option<&'a str>,
    reason: &'static str,
    reasons: Vec<&'static str>,
    message: &'a str,
}

impl<'a> DecisionOut<'a> {
    fn new(d: &'a Decision) -> DecisionOut<'a> {
        DecisionOut {
            time: d.time.0,
            journey: &d.journey,
            step: d.step.as_deref(),
            action: d.action.as_str(),
            channel: d.channel.map(Channel::as_str),
            content: d.content.as_deref(),
            incentive: d.incentive.as_deref(),
            variant: d.variant.as_deref(),
            reason: d.reason(),
            reasons: d.reasons.iter().map(|r| r.code()).collect(),
            message: &d.message,
        }
    }
}

/// Decisions as a JS array; an empty array costs one allocation and no conversion.
fn decisions(list: &[Decision]) -> Result<Array, JsValue> {
    let out = Array::new_with_length(0);
    for d in list {
        out.push(&to_js(&DecisionOut::new(d))?);
    }
    Ok(out)
}

/// Journey errors as one JS `Error`: `code` and `path` of the first, all in `errors`.
fn journey_errors(errors: &[JourneyError]) -> JsValue {
    let zone_hint = errors.iter().any(|e| e.code() == "unknown_time_zone");
    let mut message = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
    if zone_hint {
        message.push_str(
            "\nThis build knows only UTC and fixed offsets (\"+02:00\"): for IANA zones such as \
             \"Europe/Paris\", compile the binary bundle with `waymark bundle <journeys> -o bundle.bin` \
             or load it from the backend's /v1/bundle.",
        );
    }
    let first = errors.first();
    let err = error(first.map(JourneyError::code).unwrap_or("invalid_bundle"), &message);
    set(&err, "path", &JsValue::from_str(first.map(|e| e.path.as_str()).unwrap_or("")));
    let list = Array::new();
    for e in errors {
        let item = js_sys::Object::new();
        set(&item, "code", &JsValue::from_str(e.code()));
        set(&item, "path", &JsValue::from_str(&e.path));
        set(&item, "message", &JsValue::from_str(&e.kind.to_string()));
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
}

#[wasm_bindgen(js_class = Engine)]
impl WasmEngine {
    /// An engine from the compact binary bundle (`waymark bundle`, `/v1/bundle`).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<WasmEngine, JsValue> {
        let bundle = Bundle::from_bytes(bytes).map_err(|e| error(e.code(), &e.to_string()))?;
        Ok(WasmEngine { engine: CoreEngine::new(bundle) })
    }

    /// An engine from a JSON bundle object `{journeys, policy, groups}`, validated here.
    /// Time zones: UTC and fixed offsets only (see the error for IANA names).
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(bundle: JsValue) -> Result<WasmEngine, JsValue> {
        if bundle.is_string() {
            return Err(error("bad_bundle", "the bundle is a string: pass the parsed object (JSON.parse) or bytes"));
        }
        let source: BundleSource = serde_wasm_bindgen::from_value(bundle)
            .map_err(|e| error("bad_bundle", &format!("not a bundle object {{journeys, policy, groups}}: {e}")))?;
        let compiled = compile_bundle(&source, &FixedZones).map_err(|errors| journey_errors(&errors))?;
        Ok(WasmEngine { engine: CoreEngine::new(compiled) })
    }

    /// Ids of the bundle's journeys.
    pub fn journeys(&self) -> Vec<String> {
        self.engine.bundle().journeys.iter().map(|j| j.id.clone()).collect()
    }

    /// Ingests one event (`name` GA4 or a Segment alias, `properties` a plain object) at
    /// `now` (epoch ms) and returns the decisions, taken and suppressed, with reasons.
    pub fn ingest(&self, state: &mut WasmState, name: &str, now: f64, properties: JsValue) -> Result<Array, JsValue> {
        let now = timestamp(now)?;
        if name.trim().is_empty() {
            return Err(error("empty_event_name", "event name is empty: use a GA4 name such as \"view_item\""));
        }
        let properties = object(properties, "bad_properties", "event properties")?;
        let event = Event::new(name, now, properties);
        decisions(&self.engine.ingest(&mut state.state, &event, now))
    }

    /// `ingest` with the properties already encoded by the JS layer as postcard
    /// (`encodeProperties` in the package: a map of tagged values, the encoding
    /// [`Value`] has in states): one copy into wasm memory instead of a walk over the JS
    /// object with a boundary crossing per key. This is what `track` calls.
    #[wasm_bindgen(js_name = ingestEncoded)]
    pub fn ingest_encoded(
        &self,
        state: &mut WasmState,
        name: &str,
        now: f64,
        properties: &[u8],
    ) -> Result<Array, JsValue> {
        let now = timestamp(now)?;
        if name.trim().is_empty() {
            return Err(error("empty_event_name", "event name is empty: use a GA4 name such as \"view_item\""));
        }
        let properties = if properties.is_empty() {
            BTreeMap::new()
        } else {
            let (map, rest) = postcard::take_from_bytes::<BTreeMap<String, Value>>(properties)
                .map_err(|e| error("bad_properties", &format!("encoded event properties do not decode: {e}")))?;
            if !rest.is_empty() {
                return Err(error("bad_properties", "encoded event properties have trailing bytes"));
            }
            map
        };
        let event = Event::new(name, now, properties);
        decisions(&self.engine.ingest(&mut state.state, &event, now))
    }

    /// Runs timers due at or before `now`; call it at `nextWakeup`.
    pub fn tick(&self, state: &mut WasmState, now: f64) -> Result<Array, JsValue> {
        let now = timestamp(now)?;
        decisions(&self.engine.tick(&mut state.state, now))
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
    pub fn explain(&self, state: &WasmState, now: f64) -> Result<JsValue, JsValue> {
        to_js(&state.state.signals.explain(timestamp(now)?, &self.engine.bundle().policy.intent))
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
        let reasons: Vec<&str> = check.reasons.iter().map(|r| r.code()).collect();
        let out = js_sys::Object::new();
        set(&out, "allowed", &JsValue::from_bool(check.allowed));
        set(&out, "reasons", &to_js(&reasons)?);
        Ok(out.into())
    }
}

/// One shopper's state: journeys, timers, contacts, incentives, signals, consent, traits.
#[wasm_bindgen(js_name = State)]
pub struct WasmState {
    state: ShopperState,
}

#[wasm_bindgen(js_class = State)]
impl WasmState {
    /// A fresh state for a shopper id (anonymous or customer).
    #[wasm_bindgen(constructor)]
    pub fn new(shopper_id: &str) -> WasmState {
        WasmState { state: ShopperState::new(shopper_id) }
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

    /// Sets traits from a plain object (`null` clears one).
    #[wasm_bindgen(js_name = setTraits)]
    pub fn set_traits(&mut self, traits: JsValue, now: f64) -> Result<(), JsValue> {
        let now = timestamp(now)?;
        for (key, value) in object(traits, "bad_traits", "traits")? {
            self.state.set_trait(&key, value, now).map_err(|e| error(e.code(), &e.to_string()))?;
        }
        Ok(())
    }

    /// Current traits as a plain object (cleared ones left out).
    pub fn traits(&self) -> Result<JsValue, JsValue> {
        let map: BTreeMap<&str, &Value> = self
            .state
            .traits
            .iter()
            .filter(|(_, s)| !matches!(s.value, Value::Null))
            .map(|(k, s)| (k.as_str(), &s.value))
            .collect();
        to_js(&map)
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

    /// An independent copy.
    #[wasm_bindgen(js_name = clone)]
    pub fn clone_state(&self) -> WasmState {
        WasmState { state: self.state.clone() }
    }
}
