//! The journey file format (serde): what a CRM marketer writes. Durations and times are
//! text ("14d", "21:00", RFC 3339) and conditions are GrowthBook-style JSON; both are
//! checked and turned into typed values by `validate`, never trusted as-is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// A bundle file: many journeys plus the global policy. A single journey file is also
/// accepted wherever a bundle is (see `SourceFile`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSource {
    /// Journeys in the bundle.
    #[serde(default)]
    pub journeys: Vec<JourneySource>,
    /// Caps, suppression windows, intent model; defaults apply to what is left out.
    #[serde(default)]
    pub policy: PolicySource,
    /// Saved groups for `$inGroup` / `$notInGroup` (group name → members).
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<Value>>,
}

/// One journey as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JourneySource {
    /// Stable id (`[a-z0-9_-]`, ≤ 64 chars); state refers to journeys by it.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// What the journey is for.
    #[serde(default)]
    pub description: String,
    /// Higher wins when journeys compete for a slot or an incentive group.
    #[serde(default)]
    pub priority: i32,
    /// Active window, time zone and quiet hours.
    #[serde(default)]
    pub schedule: Option<ScheduleSource>,
    /// How shoppers enter.
    pub entry: EntrySource,
    /// Who may enter (conditions over traits); absent = everyone.
    #[serde(default)]
    pub audience: Option<Value>,
    /// Whether and how often a shopper may enter again.
    #[serde(default)]
    pub reentry: Option<ReentrySource>,
    /// The goal: when met, the journey ends as converted and pending sends are cancelled.
    #[serde(default)]
    pub conversion: Option<ConversionSource>,
    /// Events that end the journey early (not a conversion).
    #[serde(default)]
    pub exit_when: Vec<EventMatchSource>,
    /// Id of the first step; defaults to the first in `steps`.
    #[serde(default)]
    pub start: Option<String>,
    /// The steps, each with a unique id.
    pub steps: Vec<StepSource>,
}

/// Active window and civil-time rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSource {
    /// No entries before this instant (RFC 3339).
    #[serde(default)]
    pub start: Option<String>,
    /// No entries from this instant on (RFC 3339); running journeys finish.
    #[serde(default)]
    pub end: Option<String>,
    /// IANA zone for quiet hours and time-of-day delays; default "UTC".
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Local hours in which email / SMS / push wait.
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursSource>,
}

/// Quiet hours, e.g. 21:00 → 08:00 local.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursSource {
    /// "HH:MM" local.
    pub start: String,
    /// "HH:MM" local (may be earlier than start: wraps midnight).
    pub end: String,
    /// Channels that respect quiet hours; default email, sms, push.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

/// Entry: an event (action-based) or an audience (segment-based).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySource {
    /// Event name that starts the journey (aliases accepted).
    #[serde(default)]
    pub event: Option<String>,
    /// Condition over the event's properties (and `traits.`, `intent.`, `signals.`).
    #[serde(default, rename = "where")]
    pub filter: Option<Value>,
    /// Audience-based entry: condition over traits / intent, checked on every ingest.
    #[serde(default)]
    pub audience: Option<Value>,
    /// Entry event properties kept for later conditions (`{"$ref": "entry.item_id"}`).
    /// Default: item_id, item_category, transaction_id, search_term, cart_id, value.
    #[serde(default)]
    pub remember: Option<Vec<String>>,
}

/// Re-entry rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReentrySource {
    /// `once` (never again) or `multiple`.
    pub mode: String,
    /// With `multiple`: no re-entry for this long after each entry ("30d").
    #[serde(default)]
    pub lock: Option<String>,
    /// With `multiple`: at most this many entries within `window`.
    #[serde(default)]
    pub cap: Option<u32>,
    /// With `multiple`: the rolling window for `cap` ("60d").
    #[serde(default)]
    pub window: Option<String>,
}

/// An event with an optional condition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMatchSource {
    /// Event name (aliases accepted).
    pub event: String,
    /// Condition over its properties; may use `{"$ref": "entry.<prop>"}`.
    #[serde(default, rename = "where")]
    pub filter: Option<Value>,
}

/// The conversion goal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionSource {
    /// Event name, e.g. `purchase`.
    pub event: String,
    /// Condition, e.g. `{"value": {"$gt": 100}}`.
    #[serde(default, rename = "where")]
    pub filter: Option<Value>,
    /// Counts only within this long after entry ("14d"); default: while in the journey.
    #[serde(default)]
    pub within: Option<String>,
}

/// One step; `type` selects the kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSource {
    /// Unique within the journey.
    pub id: String,
    /// `wait_for`, `delay`, `branch`, `send`, `split`, `exit`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Next step for `delay` and `send`; default: the following step in the list.
    #[serde(default)]
    pub next: Option<String>,
    /// wait_for: event to wait for.
    #[serde(default)]
    pub event: Option<String>,
    /// wait_for: condition on that event.
    #[serde(default, rename = "where")]
    pub filter: Option<Value>,
    /// wait_for: a state condition (e.g. `{"intent.tier": "hot"}`) instead of an event.
    #[serde(default)]
    pub until: Option<Value>,
    /// wait_for: how long to wait ("3d").
    #[serde(default)]
    pub timeout: Option<String>,
    /// wait_for: where to go when it happened.
    #[serde(default)]
    pub on_performed: Option<String>,
    /// wait_for: where to go when it timed out.
    #[serde(default)]
    pub on_timed_out: Option<String>,
    /// delay: how long ("1h").
    #[serde(default)]
    pub duration: Option<String>,
    /// delay: until this local time of day ("09:00"), after `duration` if both.
    #[serde(default)]
    pub until_time: Option<String>,
    /// branch: ordered cases; the first whose condition holds wins.
    #[serde(default)]
    pub cases: Vec<BranchCaseSource>,
    /// branch: where to go when no case holds.
    #[serde(default)]
    pub default: Option<String>,
    /// send: `onsite`, `inapp`, `email`, `sms`, `push`, `ads`.
    #[serde(default)]
    pub channel: Option<String>,
    /// send: template / content key the front end or provider renders.
    #[serde(default)]
    pub content: Option<String>,
    /// send: an incentive (discount) with its exclusion group.
    #[serde(default)]
    pub incentive: Option<IncentiveSource>,
    /// send: channels to try, in order, when `channel` is not allowed.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// send: priority within the journey (added to the journey's).
    #[serde(default)]
    pub priority: Option<i32>,
    /// send: checkout-critical (may pre-empt lower priority within hard caps).
    #[serde(default)]
    pub critical: bool,
    /// send: expected value used to rank competing sends (e.g. margin × uplift).
    #[serde(default)]
    pub expected_value: Option<f64>,
    /// send: the value the backend learned from the sends and conversions it counted
    /// (written by `waymark fit mix` / the scheduled fit; ranks instead of
    /// `expected_value`). Journey files normally leave it out.
    #[serde(default)]
    pub learned_value: Option<f64>,
    /// send with `ads`: `add` or `remove` the shopper from the retargeting audience.
    #[serde(default)]
    pub audience_action: Option<String>,
    /// split: variants with weights.
    #[serde(default)]
    pub variants: Vec<SplitVariantSource>,
    /// split: percent (0–100) held out: no sends; with a conversion goal the run stays
    /// until its window closes, so the holdout's conversions are counted.
    #[serde(default)]
    pub holdout: Option<f64>,
    /// split: shift traffic toward the variant that converts better (the holdout stays
    /// fixed); needs a conversion goal and two variants or more.
    #[serde(default)]
    pub adaptive: Option<bool>,
    /// split with `adaptive`: each variant's share (relative weights) the backend learned;
    /// written by the fit, normally left out of journey files.
    #[serde(default)]
    pub learned_weights: Option<std::collections::BTreeMap<String, f64>>,
}

/// One case of a branch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchCaseSource {
    /// Condition over `event.`, `entry.`, `traits.`, `signals.`, `intent.`.
    pub when: Value,
    /// Step to go to.
    pub next: String,
}

/// An incentive offered by a send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncentiveSource {
    /// Incentive id (e.g. a coupon campaign).
    pub id: String,
    /// Exclusion group: at most one active incentive per group per shopper.
    #[serde(default)]
    pub group: Option<String>,
    /// How long it stays active ("7d", default 7d).
    #[serde(default)]
    pub valid_for: Option<String>,
}

/// One arm of a split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitVariantSource {
    /// Variant name (reported in decisions).
    pub name: String,
    /// Relative weight.
    pub weight: f64,
    /// Step to go to.
    pub next: String,
}

/// Global policy as written; every field has a default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    /// Frequency caps; absent = the default set (see `policy::default_caps`).
    #[serde(default)]
    pub caps: Option<Vec<CapSource>>,
    /// Cross-channel suppression.
    #[serde(default)]
    pub suppression: Option<SuppressionSource>,
    /// Inactivity that starts a new session ("30m").
    #[serde(default)]
    pub session_timeout: Option<String>,
    /// Channels assumed consented when the shopper has not said (default: none).
    #[serde(default)]
    pub assume_consent: Vec<String>,
    /// Intent model weights and tiers; absent = shipped defaults.
    #[serde(default)]
    pub intent: Option<crate::intent::IntentModelSource>,
    /// Seed mixed into split hashing (change it to reshuffle all A/B splits).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A frequency cap.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSource {
    /// A channel, or `any` for a global cap.
    pub channel: String,
    /// At most this many sends...
    pub max: u32,
    /// ...per session (`"session"`) or per rolling window ("24h", "7d").
    pub per: String,
    /// Hard caps bind even checkout-critical sends; soft caps (default) do not.
    #[serde(default)]
    pub hard: bool,
}

/// Cross-channel suppression settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionSource {
    /// An on-site / in-app intervention within this window suppresses the
    /// `suppresses` channels (default "24h").
    #[serde(default)]
    pub window: Option<String>,
    /// Channels suppressed by a recent on-site intervention (default email, sms, push).
    #[serde(default)]
    pub suppresses: Option<Vec<String>>,
    /// `any` (default): any journey's on-site intervention counts; `journey`: only the same journey's.
    #[serde(default)]
    pub scope: Option<String>,
}
