//! Validation errors: [`JourneyError`] (a JSON pointer into the source and what is wrong
//! there) and [`JourneyErrorKind`], every kind with its message and its stable code.

use crate::condition::ConditionError;
use crate::time::TimeError;

const STEP_TYPES: &str = "wait_for, delay, branch, send, split, exit";

/// One validation error: where (a JSON pointer into the source) and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct JourneyError {
    /// JSON pointer, e.g. `/journeys/0/steps/2/timeout`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub kind: JourneyErrorKind,
}

impl JourneyError {
    /// An error at a JSON pointer.
    pub fn new(path: impl Into<String>, kind: JourneyErrorKind) -> JourneyError {
        JourneyError { path: path.into(), kind }
    }

    /// Stable snake_case code (`bad_duration`, `unknown_step`, ...).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// What is wrong with a journey or the bundle policy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JourneyErrorKind {
    /// A reference to a step id that does not exist.
    #[error("no step has id {target:?}: write one of the journey's step ids ({known})")]
    UnknownStep {
        /// The id referred to.
        target: String,
        /// The ids that exist, comma-separated.
        known: String,
    },
    /// A step no path from the start step leads to.
    #[error("step {step:?} is never reached from the start step {start:?}: point a `next` / `on_performed` / `on_timed_out` / case / variant at it, or remove it")]
    UnreachableStep {
        /// The unreachable step.
        step: String,
        /// The start step.
        start: String,
    },
    /// A loop of steps none of which waits.
    #[error("cycle without a wait: {cycle} loops forever in one instant; put a wait_for, or a delay with a nonzero `duration`, inside the loop")]
    CycleWithoutWait {
        /// The steps of the loop, e.g. `"a" → "b" → "a"`.
        cycle: String,
    },
    /// The last step in the list falls through to nothing.
    #[error("step {step:?} is the last in the list and has no `next`, so its path ends without an exit: add an exit step (`{{\"id\": \"done\", \"type\": \"exit\"}}`) after it or set `next`")]
    FallsOffEnd {
        /// The last step.
        step: String,
    },
    /// Steps from which no path reaches an exit step.
    #[error("no path from {steps} ever reaches an exit step: every path must end in one (`{{\"type\": \"exit\"}}`)")]
    NoExit {
        /// The steps, comma-separated.
        steps: String,
    },
    /// A duration, timestamp or time of day that does not parse.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// A duration that must be longer than zero.
    #[error("{field} must be longer than zero, found {found:?}: write e.g. \"30m\", \"3d\"")]
    NonPositiveDuration {
        /// The field name.
        field: &'static str,
        /// The text written.
        found: String,
    },
    /// A condition that does not compile.
    #[error("bad condition: {message}")]
    BadCondition {
        /// The condition compiler's message.
        message: String,
        /// The condition compiler's code (`bad_condition`, `bad_regex`, ...).
        code: &'static str,
    },
    /// The intent model section is invalid.
    #[error("bad intent model: {message}")]
    BadIntent {
        /// The intent model's message.
        message: String,
    },
    /// A channel name that is not known.
    #[error("unknown channel {found:?}: write one of {allowed}")]
    UnknownChannel {
        /// The text written.
        found: String,
        /// What may be written.
        allowed: &'static str,
    },
    /// A step `type` that is not known.
    #[error("unknown step type {found:?}: write one of {STEP_TYPES}")]
    UnknownStepType {
        /// The text written.
        found: String,
    },
    /// A required field is absent.
    #[error("missing `{field}`: {hint}")]
    MissingField {
        /// The field name.
        field: &'static str,
        /// What to write.
        hint: &'static str,
    },
    /// A field that does not belong where it is written.
    #[error("`{field}` is not allowed {context}: remove it")]
    FieldNotAllowed {
        /// The field name.
        field: &'static str,
        /// Where it was found, e.g. "on a send step (it belongs on wait_for)".
        context: String,
    },
    /// Two fields that exclude each other are both set (or neither is).
    #[error("{message}")]
    ExactlyOne {
        /// Which fields and what to write.
        message: &'static str,
    },
    /// A step id used twice in one journey.
    #[error("duplicate step id {id:?} (first used by step {first}): give every step its own id")]
    DuplicateStepId {
        /// The id.
        id: String,
        /// Index of the first step with it.
        first: usize,
    },
    /// A journey id used twice in one bundle.
    #[error("duplicate journey id {id:?}: give every journey its own id")]
    DuplicateJourneyId {
        /// The id.
        id: String,
    },
    /// An id outside `[a-z0-9_-]{1,64}`.
    #[error("bad {what} id {found:?}: use 1 to 64 characters from a-z, 0-9, `_` and `-`, e.g. \"cart-abandon\"")]
    BadId {
        /// "journey" or "step".
        what: &'static str,
        /// The text written.
        found: String,
    },
    /// An event name that is empty.
    #[error("empty event name: write an event such as \"add_to_cart\" or \"Product Viewed\"")]
    EmptyEventName,
    /// A time zone the zone source does not know.
    #[error("unknown time zone {found:?}: {hint}")]
    UnknownTimeZone {
        /// The text written.
        found: String,
        /// What to write instead (from the zone source: a close name, or the forms it knows).
        hint: String,
    },
    /// Split weights or holdout out of range.
    #[error("{message}")]
    BadWeights {
        /// What is wrong.
        message: String,
    },
    /// A split's `adaptive` opt-in or its learned weights that do not hold together.
    #[error("{message}")]
    BadAdaptiveSplit {
        /// What is wrong.
        message: String,
    },
    /// A journey without steps.
    #[error("the journey has no steps: add at least one step and an exit step")]
    EmptyJourney,
    /// A re-entry rule that does not hold together.
    #[error("{message}")]
    BadReentry {
        /// What is wrong.
        message: String,
    },
    /// A frequency cap that does not hold together.
    #[error("{message}")]
    BadCap {
        /// What is wrong.
        message: String,
    },
    /// A schedule whose window or quiet hours are empty.
    #[error("{message}")]
    BadSchedule {
        /// What is wrong.
        message: String,
    },
    /// Fallback channels that repeat or name the primary channel.
    #[error("{message}")]
    BadFallback {
        /// What is wrong.
        message: String,
    },
    /// An ads send without a valid `audience_action`.
    #[error("bad audience_action {found:?}: write \"add\" or \"remove\"")]
    BadAudienceAction {
        /// The text written.
        found: String,
    },
    /// A suppression scope other than `any` / `journey`.
    #[error("bad suppression scope {found:?}: write \"any\" (any journey's on-site intervention suppresses) or \"journey\" (only the same journey's)")]
    BadSuppressionScope {
        /// The text written.
        found: String,
    },
    /// A number that must be finite (not NaN or infinite).
    #[error("{field} must be a finite number, found {found}")]
    BadNumber {
        /// The field name.
        field: &'static str,
        /// The value written.
        found: f64,
    },
    /// A name or list longer than a shopper's state can keep.
    #[error("{what} is {found}; the limit is {limit} (a shopper's state keeps no more)")]
    OverLimit {
        /// What is too long, e.g. "incentive id".
        what: &'static str,
        /// How long it is, with its unit.
        found: String,
        /// The limit, with its unit.
        limit: String,
    },
}

impl JourneyErrorKind {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        use JourneyErrorKind as K;
        match self {
            K::UnknownStep { .. } => "unknown_step",
            K::UnreachableStep { .. } => "unreachable_step",
            K::CycleWithoutWait { .. } => "cycle_without_wait",
            K::FallsOffEnd { .. } | K::NoExit { .. } => "path_without_exit",
            K::Time(e) => e.code(),
            K::NonPositiveDuration { .. } => "bad_duration",
            K::BadCondition { code, .. } => code,
            K::BadIntent { .. } => "bad_intent",
            K::UnknownChannel { .. } => "unknown_channel",
            K::UnknownStepType { .. } => "unknown_step_type",
            K::MissingField { .. } => "missing_field",
            K::FieldNotAllowed { .. } => "field_not_allowed",
            K::ExactlyOne { .. } => "exactly_one_of",
            K::DuplicateStepId { .. } => "duplicate_step_id",
            K::DuplicateJourneyId { .. } => "duplicate_journey_id",
            K::BadId { .. } => "bad_id",
            K::EmptyEventName => "bad_event_name",
            K::UnknownTimeZone { .. } => "unknown_time_zone",
            K::BadWeights { .. } => "bad_weights",
            K::BadAdaptiveSplit { .. } => "bad_adaptive_split",
            K::EmptyJourney => "empty_journey",
            K::BadReentry { .. } => "bad_reentry",
            K::BadCap { .. } => "bad_cap",
            K::BadSchedule { .. } => "bad_schedule",
            K::BadFallback { .. } => "bad_fallback",
            K::BadAudienceAction { .. } => "bad_audience_action",
            K::BadSuppressionScope { .. } => "bad_suppression_scope",
            K::BadNumber { .. } => "bad_number",
            K::OverLimit { .. } => "over_limit",
        }
    }
}

/// The pointer of a condition error: the condition's own pointer plus the inner path the
/// condition compiler reported (kept in one place so it can follow that error's API).
pub(super) fn condition_error_path(base: &str, err: &ConditionError) -> String {
    let inner = err.path().trim();
    if inner.is_empty() || inner == "/" {
        base.to_owned()
    } else if inner.starts_with('/') {
        format!("{base}{inner}")
    } else {
        format!("{base}/{inner}")
    }
}
