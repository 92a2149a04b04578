//! Replays shopper events (NDJSON, one object a line) through the engine for many
//! shoppers at once, running every shopper's due timers in time order before each line,
//! and reports each decision as one JSON line. The CLI's `simulate` and the scenario
//! tests both drive this, so what the docs show is what the tests check.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::decision::Decision;
use crate::engine::{Engine, Update, Updated};
use crate::event::Event;
use crate::journey::Channel;
use crate::state::{ShopperState, TraitSource};
use crate::time::Timestamp;
use crate::value::Value;

/// Timer rounds in one `advance_to` (bounds a runaway replay).
const MAX_TIMER_ROUNDS: usize = 100_000;

/// One input line: an event, and/or trait / consent / identity updates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputLine {
    /// Shopper id (anonymous or customer id). A line with neither shopper nor event
    /// only advances the clock: every shopper's timers due by `time` run.
    #[serde(default)]
    pub shopper: String,
    /// RFC 3339 time, or epoch milliseconds.
    pub time: Value,
    /// Event name (GA4 or an alias); absent = only updates.
    #[serde(default)]
    pub name: Option<String>,
    /// Event properties.
    #[serde(default)]
    pub properties: crate::value::Map,
    /// Traits to set first (email, phone, birthday, …).
    #[serde(default)]
    pub traits: crate::value::Map,
    /// Consent to set first: `{"email": true, "sms": false}`.
    #[serde(default)]
    pub consent: BTreeMap<String, bool>,
    /// Customer id learned at login (links the anonymous state to it).
    #[serde(default)]
    pub customer_id: Option<String>,
}

/// A bad input line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {field}: {message}")]
pub struct InputError {
    /// 1-based line number.
    pub line: usize,
    /// The field at fault (`json` when the line is not JSON at all).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        "bad_input_line"
    }
}

/// Many shoppers' states driven by one engine.
pub struct Simulator {
    engine: Engine,
    shoppers: BTreeMap<String, ShopperState>,
    clock: Timestamp,
}

impl Simulator {
    /// A simulator with no shoppers yet.
    pub fn new(engine: Engine) -> Simulator {
        Simulator { engine, shoppers: BTreeMap::new(), clock: Timestamp(i64::MIN) }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A shopper's state.
    pub fn state(&self, shopper: &str) -> Option<&ShopperState> {
        self.shoppers.get(shopper)
    }

    /// All shoppers and their states.
    pub fn states(&self) -> &BTreeMap<String, ShopperState> {
        &self.shoppers
    }

    /// Parses one NDJSON line (1-based `line` for messages).
    pub fn parse_line(text: &str, line: usize) -> Result<(InputLine, Timestamp), InputError> {
        let input: InputLine = serde_json::from_str(text).map_err(|e| InputError {
            line,
            field: field_of(&e.to_string()),
            message: e.to_string(),
        })?;
        let clock_only =
            input.name.is_none() && input.traits.is_empty() && input.consent.is_empty() && input.customer_id.is_none();
        if input.shopper.trim().is_empty() && !clock_only {
            return Err(InputError { line, field: "shopper".into(), message: "missing or empty shopper id".into() });
        }
        let time = match &input.time {
            Value::Number(ms) if ms.is_finite() => Timestamp(*ms as i64),
            Value::String(s) => Timestamp::parse_rfc3339(s).map_err(|e| InputError {
                line,
                field: "time".into(),
                message: e.to_string(),
            })?,
            other => {
                return Err(InputError {
                    line,
                    field: "time".into(),
                    message: format!("expected RFC 3339 text or epoch milliseconds, found {other}"),
                })
            }
        };
        for channel in input.consent.keys() {
            if Channel::parse(channel).is_none() {
                return Err(InputError {
                    line,
                    field: format!("consent.{channel}"),
                    message: "unknown channel: use onsite, inapp, email, sms, push or ads".into(),
                });
            }
        }
        if input.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(InputError { line, field: "name".into(), message: "empty event name".into() });
        }
        Ok((input, time))
    }

    /// Runs every shopper's timers due up to `until`, globally in time order.
    pub fn advance_to(&mut self, until: Timestamp) -> Vec<(String, Decision)> {
        let mut out = Vec::new();
        for _ in 0..MAX_TIMER_ROUNDS {
            let next = self
                .shoppers
                .iter()
                .filter_map(|(id, s)| self.engine.next_wakeup(s).map(|t| (t, id.clone())))
                .filter(|(t, _)| *t <= until)
                .min();
            let Some((due, id)) = next else { break };
            if let Some(state) = self.shoppers.get_mut(&id) {
                let decisions = self.engine.tick(state, due);
                if decisions.is_empty() && self.engine.next_wakeup(state) == Some(due) {
                    break;
                }
                out.extend(decisions.into_iter().map(|d| (id.clone(), d)));
            }
        }
        self.clock = self.clock.max(until);
        out
    }

    /// Applies one parsed line: timers up to its time, then the line as one
    /// [`Update`] (customer id, consent, traits, event; see [`Engine::apply`]). A trait
    /// over a bound is left out and comes back as an error of the line (`line` 0: the
    /// caller knows the number), while the rest of the line still applies.
    pub fn apply(&mut self, input: &InputLine, time: Timestamp) -> (Vec<(String, Decision)>, Vec<InputError>) {
        let mut out = self.advance_to(time);
        if input.shopper.trim().is_empty() {
            return (out, Vec::new());
        }
        let state = self.shoppers.entry(input.shopper.clone()).or_insert_with(|| ShopperState::new(&input.shopper));
        // `parse_line` refused unknown channels.
        let consent: Vec<(Channel, bool)> =
            input.consent.iter().filter_map(|(c, granted)| Some((Channel::parse(c)?, *granted))).collect();
        let event = input.name.as_ref().map(|name| Event::new(name, time, input.properties.clone()));
        let update = Update {
            at: time,
            customer_id: input.customer_id.as_deref(),
            consent: &consent,
            traits: &input.traits,
            source: TraitSource::Shopper,
            event: event.as_ref(),
        };
        let Updated { decisions, rejected } = self.engine.apply(state, &update, time);
        out.extend(decisions.into_iter().map(|d| (input.shopper.clone(), d)));
        let errors = rejected
            .into_iter()
            .map(|(key, e)| InputError { line: 0, field: format!("traits.{key}"), message: e.to_string() })
            .collect();
        (out, errors)
    }

    /// Replays NDJSON text; bad lines are reported and skipped, the rest still runs.
    pub fn replay(&mut self, text: &str, until: Option<Timestamp>) -> (Vec<(String, Decision)>, Vec<InputError>) {
        let mut decisions = Vec::new();
        let mut errors = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() || line.trim_start().starts_with("//") {
                continue;
            }
            match Simulator::parse_line(line, number) {
                Ok((input, time)) => {
                    let (mut out, rejected) = self.apply(&input, time);
                    decisions.append(&mut out);
                    errors.extend(rejected.into_iter().map(|e| InputError { line: number, ..e }));
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(until) = until {
            decisions.extend(self.advance_to(until));
        }
        (decisions, errors)
    }
}

/// Pulls the field name out of a serde message ("missing field `shopper`").
fn field_of(message: &str) -> String {
    let mut parts = message.split('`');
    match (parts.next(), parts.next()) {
        (Some(_), Some(field)) => field.to_owned(),
        _ => "json".to_owned(),
    }
}
