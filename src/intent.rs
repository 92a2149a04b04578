//! Intent (STUB — being written): decayed session signals → score in [0,1] → tier.
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::time::{Duration, Timestamp};
use crate::value::Value;

/// Intent model as written in the bundle.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntentModelSource {}

/// Compiled intent model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IntentModel {}

/// Intent tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Browsing.
    #[default]
    Cold,
    /// Considering.
    Warm,
    /// Ready to buy.
    Hot,
}

impl Tier {
    /// Name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Cold => "cold",
            Tier::Warm => "warm",
            Tier::Hot => "hot",
        }
    }
}

/// Why an intent model could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at {path})")]
pub struct IntentError {
    /// Path inside the intent section.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl IntentModel {
    /// Builds from source (None = defaults).
    pub fn from_source(_src: Option<&IntentModelSource>) -> Result<IntentModel, IntentError> {
        Ok(IntentModel {})
    }
}

/// Session signals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    tier: Tier,
    session_start: Timestamp,
    last_event: Timestamp,
}

/// What observing an event changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The event started a new session.
    pub new_session: bool,
}

impl Signals {
    /// Folds an event into the signals.
    pub fn observe(&mut self, event: &Event, _model: &IntentModel, session_timeout: Duration) -> Observation {
        let new_session = event.time.since(self.last_event) > session_timeout;
        if new_session {
            self.session_start = event.time;
        }
        self.last_event = event.time;
        Observation { new_session }
    }
    /// Score in [0,1] at `now`.
    pub fn score(&self, _now: Timestamp, _model: &IntentModel) -> f64 {
        0.0
    }
    /// Recomputes the tier with hysteresis; returns (old, new) when it changed.
    pub fn update_tier(&mut self, _now: Timestamp, _model: &IntentModel) -> Option<(Tier, Tier)> {
        None
    }
    /// Current tier.
    pub fn tier(&self) -> Tier {
        self.tier
    }
    /// Start of the current session (its id).
    pub fn session_start(&self) -> Timestamp {
        self.session_start
    }
    /// Time of the last observed event.
    pub fn last_event(&self) -> Timestamp {
        self.last_event
    }
    /// A named signal for conditions (`signals.<name>`).
    pub fn lookup(&self, _name: &str, _now: Timestamp, _model: &IntentModel) -> Option<Value> {
        None
    }
    /// Join with another copy (commutative, associative, idempotent).
    pub fn merge(&mut self, other: &Signals) {
        if other.last_event > self.last_event {
            *self = other.clone();
        }
    }
}
