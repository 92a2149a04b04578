//! Validation: a `BundleSource` as written becomes the compiled `Bundle` the engine runs,
//! or a list of every problem found, each with a JSON pointer into the source
//! (`/journeys/0/steps/3/timeout`), a stable code and a message that says what was found
//! and what to write instead. Nothing here stops at the first error.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::condition::{Condition, ConditionError};
use crate::event::canonical_name;
use crate::intent::IntentModel;
use crate::journey::compiled::{
    Bundle, Cap, CapPeriod, Channel, ChannelSet, Conversion, Entry, EventMatch, Incentive, Journey, Policy, QuietHours,
    Reentry, Schedule, Send, Step, StepKind, WaitTrigger,
};
use crate::journey::model::{
    BundleSource, CapSource, EventMatchSource, JourneySource, PolicySource, ReentrySource, ScheduleSource, StepSource,
};
use crate::state::{MAX_NAME_BYTES, MAX_REMEMBERED};
use crate::time::{parse_time_of_day, Duration, TimeError, Timestamp, Zone};
use crate::value::Value;

/// Resolves IANA zone names to offset tables.
pub trait ZoneSource {
    /// The zone, if known.
    fn resolve(&self, name: &str) -> Option<Zone>;
}

/// Only UTC and fixed offsets ("+02:00"): what a build without a zone database knows.
pub struct FixedZones;

impl ZoneSource for FixedZones {
    fn resolve(&self, name: &str) -> Option<Zone> {
        Zone::parse_fixed(name)
    }
}

/// Entry event properties remembered when a journey does not say.
pub const DEFAULT_REMEMBER: [&str; 6] =
    ["item_id", "item_category", "transaction_id", "search_term", "cart_id", "value"];

/// Longest journey or step id.
pub const MAX_ID_LEN: usize = MAX_NAME_BYTES;

/// Most entries a `multiple` re-entry rule may allow within its window.
pub const MAX_REENTRY_CAP: u32 = 8;

/// How long an incentive stays active when `valid_for` is left out.
pub const DEFAULT_INCENTIVE_VALIDITY: Duration = Duration(7 * crate::time::DAY);

const STEP_TYPES: &str = "wait_for, delay, branch, send, split, exit";
const CHANNEL_NAMES: &str = "onsite, inapp, email, sms, push, ads";

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
    #[error(
        "unknown time zone {found:?}: write an IANA name such as \"Europe/Paris\" or a fixed offset such as \"+02:00\""
    )]
    UnknownTimeZone {
        /// The text written.
        found: String,
    },
    /// Split weights or holdout out of range.
    #[error("{message}")]
    BadWeights {
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
fn condition_error_path(base: &str, err: &ConditionError) -> String {
    let inner = err.path().trim();
    if inner.is_empty() || inner == "/" {
        base.to_owned()
    } else if inner.starts_with('/') {
        format!("{base}{inner}")
    } else {
        format!("{base}/{inner}")
    }
}

/// Validates and compiles a bundle; on failure returns every error found.
///
/// Journeys come out sorted by id; error paths index the source as written.
pub fn compile_bundle(src: &BundleSource, zones: &dyn ZoneSource) -> Result<Bundle, Vec<JourneyError>> {
    let mut ck = Checker { zones, errors: Vec::new() };
    let policy = ck.policy(&src.policy);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut journeys = Vec::with_capacity(src.journeys.len());
    for (i, journey) in src.journeys.iter().enumerate() {
        let path = format!("/journeys/{i}");
        if seen.insert(journey.id.as_str(), i).is_some() {
            ck.err(format!("{path}/id"), JourneyErrorKind::DuplicateJourneyId { id: journey.id.clone() });
        }
        if let Some(compiled) = ck.journey(&path, journey) {
            journeys.push(compiled);
        }
    }
    match policy {
        Some(policy) if ck.errors.is_empty() => {
            journeys.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(Bundle { journeys, policy, groups: src.groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect() })
        }
        _ => Err(ck.errors),
    }
}

/// Validates and compiles one journey under `path` (e.g. `""` for a journey file's root,
/// `/journeys/3` inside a bundle).
pub fn compile_journey(src: &JourneySource, path: &str, zones: &dyn ZoneSource) -> Result<Journey, Vec<JourneyError>> {
    let mut ck = Checker { zones, errors: Vec::new() };
    match ck.journey(path, src) {
        Some(journey) if ck.errors.is_empty() => Ok(journey),
        _ => Err(ck.errors),
    }
}

/// Collects errors while checking; each check returns `None` when it pushed an error.
struct Checker<'z> {
    zones: &'z dyn ZoneSource,
    errors: Vec<JourneyError>,
}

/// A compiled step with its outgoing references (None where a reference failed).
struct StepDraft {
    kind: Option<StepKind>,
    successors: Vec<usize>,
    waits: bool,
    is_exit: bool,
}

/// Where step ids point, and what is known about them.
struct StepIds<'a> {
    by_id: BTreeMap<&'a str, usize>,
    known: String,
}

impl Checker<'_> {
    fn err(&mut self, path: impl Into<String>, kind: JourneyErrorKind) {
        self.errors.push(JourneyError::new(path, kind));
    }

    fn over_limit(&mut self, path: String, what: &'static str, found: usize, limit: usize, unit: &str) {
        let kind =
            JourneyErrorKind::OverLimit { what, found: format!("{found} {unit}"), limit: format!("{limit} {unit}") };
        self.err(path, kind);
    }

    /// Checks a name the engine keeps in shopper state against [`MAX_NAME_BYTES`].
    fn name_length(&mut self, path: String, what: &'static str, name: &str) -> bool {
        let ok = !name.is_empty() && name.len() <= MAX_NAME_BYTES;
        if !ok {
            self.over_limit(path, what, name.len(), MAX_NAME_BYTES, "bytes");
        }
        ok
    }

    fn missing<T>(&mut self, path: &str, field: &'static str, hint: &'static str) -> Option<T> {
        self.err(format!("{path}/{field}"), JourneyErrorKind::MissingField { field, hint });
        None
    }

    fn not_allowed(&mut self, path: &str, field: &'static str, context: impl Into<String>) {
        self.err(format!("{path}/{field}"), JourneyErrorKind::FieldNotAllowed { field, context: context.into() });
    }

    /// A duration that must be > 0.
    fn duration(&mut self, path: String, field: &'static str, text: &str) -> Option<Duration> {
        match Duration::parse(text) {
            Ok(d) if d.millis() > 0 => Some(d),
            Ok(_) => {
                self.err(path, JourneyErrorKind::NonPositiveDuration { field, found: text.to_owned() });
                None
            }
            Err(e) => {
                self.err(path, e.into());
                None
            }
        }
    }

    fn timestamp(&mut self, path: String, text: &str) -> Option<Timestamp> {
        Timestamp::parse_rfc3339(text).map_err(|e| self.err(path, e.into())).ok()
    }

    fn time_of_day(&mut self, path: String, text: &str) -> Option<u16> {
        parse_time_of_day(text).map_err(|e| self.err(path, e.into())).ok()
    }

    /// A condition; absent = always true.
    fn condition(&mut self, path: &str, source: Option<&Value>) -> Option<Condition> {
        let Some(source) = source else {
            return Some(Condition::always());
        };
        match Condition::compile(source) {
            Ok(c) => Some(c),
            Err(e) => {
                let at = condition_error_path(path, &e);
                self.err(at, JourneyErrorKind::BadCondition { message: e.to_string(), code: e.code() });
                None
            }
        }
    }

    fn channel(&mut self, path: String, name: &str) -> Option<Channel> {
        let found = Channel::parse(name);
        if found.is_none() {
            self.err(path, JourneyErrorKind::UnknownChannel { found: name.to_owned(), allowed: CHANNEL_NAMES });
        }
        found
    }

    fn channel_set(&mut self, path: &str, names: &[String]) -> Option<ChannelSet> {
        let mut channels = Vec::with_capacity(names.len());
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            match self.channel(format!("{path}/{i}"), name) {
                Some(c) => channels.push(c),
                None => ok = false,
            }
        }
        ok.then(|| ChannelSet::of(&channels))
    }

    fn event_name(&mut self, path: String, name: &str) -> Option<String> {
        if name.trim().is_empty() {
            self.err(path, JourneyErrorKind::EmptyEventName);
            return None;
        }
        Some(canonical_name(name.trim()).to_owned())
    }

    fn event_match(&mut self, path: &str, src: &EventMatchSource) -> Option<EventMatch> {
        let event = self.event_name(format!("{path}/event"), &src.event);
        let filter = self.condition(&format!("{path}/where"), src.filter.as_ref());
        Some(EventMatch { event: event?, filter: filter? })
    }

    fn id(&mut self, path: String, what: &'static str, id: &str) -> bool {
        let ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            self.err(path, JourneyErrorKind::BadId { what, found: id.to_owned() });
        }
        ok
    }

    // ---- policy ----

    fn policy(&mut self, src: &PolicySource) -> Option<Policy> {
        let intent = match IntentModel::from_source(src.intent.as_ref()) {
            Ok(model) => Some(model),
            Err(e) => {
                let inner_path = e.path();
                let inner = inner_path.trim();
                let at = if inner.is_empty() {
                    "/policy/intent".to_owned()
                } else if inner.starts_with('/') {
                    format!("/policy/intent{inner}")
                } else {
                    format!("/policy/intent/{inner}")
                };
                self.err(at, JourneyErrorKind::BadIntent { message: e.to_string() });
                None
            }
        };
        let before = self.errors.len();
        let caps: Option<Vec<Cap>> = src.caps.as_ref().map(|caps| {
            let compiled: Vec<Option<Cap>> =
                caps.iter().enumerate().map(|(i, c)| self.cap(&format!("/policy/caps/{i}"), c)).collect();
            compiled.into_iter().flatten().collect()
        });
        let mut window = None;
        let mut suppresses = None;
        let mut same_journey_only = false;
        if let Some(s) = &src.suppression {
            if let Some(text) = &s.window {
                window = self.duration("/policy/suppression/window".into(), "suppression window", text);
            }
            if let Some(names) = &s.suppresses {
                suppresses = self.channel_set("/policy/suppression/suppresses", names);
            }
            match s.scope.as_deref() {
                None | Some("any") => {}
                Some("journey") => same_journey_only = true,
                Some(other) => self.err(
                    "/policy/suppression/scope",
                    JourneyErrorKind::BadSuppressionScope { found: other.to_owned() },
                ),
            }
        }
        let session_timeout = src
            .session_timeout
            .as_ref()
            .and_then(|text| self.duration("/policy/session_timeout".into(), "session_timeout", text));
        let assume_consent = self.channel_set("/policy/assume_consent", &src.assume_consent);
        if self.errors.len() != before {
            return None;
        }
        let mut policy = Policy::with_defaults(intent?);
        if let Some(caps) = caps {
            policy.caps = caps;
        }
        if let Some(window) = window {
            policy.suppression_window = window;
        }
        if let Some(set) = suppresses {
            policy.suppresses = set;
        }
        policy.suppression_same_journey_only = same_journey_only;
        if let Some(timeout) = session_timeout {
            policy.session_timeout = timeout;
        }
        if let Some(set) = assume_consent {
            policy.assume_consent = set;
        }
        policy.seed = src.seed.unwrap_or(0);
        Some(policy)
    }

    fn cap(&mut self, path: &str, src: &CapSource) -> Option<Cap> {
        let channel = if src.channel == "any" {
            Some(None)
        } else {
            let found = Channel::parse(&src.channel).map(Some);
            if found.is_none() {
                self.err(
                    format!("{path}/channel"),
                    JourneyErrorKind::UnknownChannel {
                        found: src.channel.clone(),
                        allowed: "onsite, inapp, email, sms, push, ads or \"any\" (all channels together)",
                    },
                );
            }
            found
        };
        if src.max == 0 {
            self.err(
                format!("{path}/max"),
                JourneyErrorKind::BadCap {
                    message: "cap max is 0: write 1 or more (to turn a channel off, leave it out of consent instead)"
                        .into(),
                },
            );
        }
        let per = if src.per == "session" {
            Some(CapPeriod::Session)
        } else {
            self.duration(format!("{path}/per"), "cap period", &src.per).map(CapPeriod::Window)
        };
        let cap = Cap { channel: channel?, max: src.max, per: per?, hard: src.hard };
        (src.max > 0).then_some(cap)
    }

    // ---- journeys ----

    fn journey(&mut self, path: &str, src: &JourneySource) -> Option<Journey> {
        let before = self.errors.len();
        self.id(format!("{path}/id"), "journey", &src.id);
        let schedule = self.schedule(&format!("{path}/schedule"), src.schedule.as_ref());
        let entry = self.entry(path, src);
        let audience = match &src.audience {
            Some(a) => self.condition(&format!("{path}/audience"), Some(a)).map(Some),
            None => Some(None),
        };
        let reentry = self.reentry(&format!("{path}/reentry"), src.reentry.as_ref());
        let conversion = match &src.conversion {
            None => Some(None),
            Some(c) => {
                let cpath = format!("{path}/conversion");
                let matcher =
                    self.event_match(&cpath, &EventMatchSource { event: c.event.clone(), filter: c.filter.clone() });
                let within = match &c.within {
                    Some(w) => self.duration(format!("{cpath}/within"), "conversion within", w).map(Some),
                    None => Some(None),
                };
                matcher.zip(within).map(|(matcher, within)| Some(Conversion { matcher, within }))
            }
        };
        let exit_when: Vec<Option<EventMatch>> = src
            .exit_when
            .iter()
            .enumerate()
            .map(|(i, m)| self.event_match(&format!("{path}/exit_when/{i}"), m))
            .collect();
        let remember = match &src.entry.remember {
            Some(list) => {
                let rpath = format!("{path}/entry/remember");
                if list.len() > MAX_REMEMBERED {
                    self.over_limit(rpath.clone(), "the remember list", list.len(), MAX_REMEMBERED, "names");
                }
                for (i, key) in list.iter().enumerate() {
                    self.name_length(format!("{rpath}/{i}"), "a remembered property name", key);
                }
                list.clone()
            }
            None => DEFAULT_REMEMBER.iter().map(|s| (*s).to_owned()).collect(),
        };
        let steps = self.steps(path, src);
        if self.errors.len() != before {
            return None;
        }
        let (start, steps) = steps?;
        let mut journey = Journey {
            id: src.id.clone(),
            name: src.name.clone(),
            priority: src.priority,
            schedule: schedule?,
            entry: entry?,
            remember,
            audience: audience?,
            reentry: reentry?,
            conversion: conversion?,
            exit_when: exit_when.into_iter().collect::<Option<Vec<_>>>()?,
            start,
            steps,
        };
        if src.entry.remember.is_none() {
            // Keep only what a condition reads back (`entry.x`): state stays small.
            let referenced = journey.entry_keys_referenced();
            journey.remember.retain(|key| referenced.contains(key));
        }
        Some(journey)
    }

    fn schedule(&mut self, path: &str, src: Option<&ScheduleSource>) -> Option<Schedule> {
        let Some(src) = src else {
            return Some(Schedule { start: None, end: None, zone: Zone::utc(), quiet_hours: None });
        };
        let start = match &src.start {
            Some(t) => self.timestamp(format!("{path}/start"), t).map(Some),
            None => Some(None),
        };
        let end = match &src.end {
            Some(t) => self.timestamp(format!("{path}/end"), t).map(Some),
            None => Some(None),
        };
        if let (Some(Some(s)), Some(Some(e))) = (start, end) {
            if s >= e {
                self.err(
                    format!("{path}/end"),
                    JourneyErrorKind::BadSchedule {
                        message: format!(
                            "schedule end {e} is not after its start {s}: write an end later than the start"
                        ),
                    },
                );
            }
        }
        let zone = match &src.time_zone {
            None => Some(Zone::utc()),
            Some(name) => {
                let zone = self.zones.resolve(name);
                if zone.is_none() {
                    self.err(format!("{path}/time_zone"), JourneyErrorKind::UnknownTimeZone { found: name.clone() });
                }
                zone
            }
        };
        let quiet_hours = match &src.quiet_hours {
            None => Some(None),
            Some(q) => {
                let qpath = format!("{path}/quiet_hours");
                let start_minute = self.time_of_day(format!("{qpath}/start"), &q.start);
                let end_minute = self.time_of_day(format!("{qpath}/end"), &q.end);
                let channels = match &q.channels {
                    Some(names) => self.channel_set(&format!("{qpath}/channels"), names),
                    None => Some(ChannelSet::of(&[Channel::Email, Channel::Sms, Channel::Push])),
                };
                if let (Some(s), Some(e)) = (start_minute, end_minute) {
                    if s == e {
                        self.err(
                            format!("{qpath}/end"),
                            JourneyErrorKind::BadSchedule {
                                message: format!("quiet hours start and end at the same time ({:?}): write an end different from the start, e.g. \"21:00\" → \"08:00\"", q.end),
                            },
                        );
                    }
                }
                match (start_minute, end_minute, channels) {
                    (Some(start_minute), Some(end_minute), Some(channels)) if start_minute != end_minute => {
                        Some(Some(QuietHours { start_minute, end_minute, channels }))
                    }
                    _ => None,
                }
            }
        };
        Some(Schedule { start: start?, end: end?, zone: zone?, quiet_hours: quiet_hours? })
    }

    fn entry(&mut self, path: &str, src: &JourneySource) -> Option<Entry> {
        let epath = format!("{path}/entry");
        let entry = &src.entry;
        match (&entry.event, &entry.audience) {
            (Some(event), None) => {
                let event = self.event_name(format!("{epath}/event"), event);
                let filter = self.condition(&format!("{epath}/where"), entry.filter.as_ref());
                Some(Entry::Event(EventMatch { event: event?, filter: filter? }))
            }
            (None, Some(audience)) => {
                if entry.filter.is_some() {
                    self.not_allowed(
                        &epath,
                        "where",
                        "with an audience entry (it filters the entry event): put the condition in `audience`",
                    );
                }
                let condition = self.condition(&format!("{epath}/audience"), Some(audience));
                if entry.filter.is_some() {
                    return None;
                }
                condition.map(Entry::Audience)
            }
            (Some(_), Some(_)) => {
                self.err(
                    epath,
                    JourneyErrorKind::ExactlyOne {
                        message: "entry has both `event` and `audience`: keep one — `event` for action-based entry, `audience` for segment-based entry",
                    },
                );
                None
            }
            (None, None) => {
                self.err(
                    epath,
                    JourneyErrorKind::ExactlyOne {
                        message: "entry has neither `event` nor `audience`: write e.g. `\"event\": \"add_to_cart\"` or `\"audience\": {\"traits.vip\": true}`",
                    },
                );
                None
            }
        }
    }

    fn reentry(&mut self, path: &str, src: Option<&ReentrySource>) -> Option<Reentry> {
        let Some(src) = src else {
            return Some(Reentry::Once);
        };
        match src.mode.as_str() {
            "once" => {
                let context = "with `\"mode\": \"once\"` (only `multiple` re-entry has it)";
                let mut ok = true;
                if src.lock.is_some() {
                    self.not_allowed(path, "lock", context);
                    ok = false;
                }
                if src.cap.is_some() {
                    self.not_allowed(path, "cap", context);
                    ok = false;
                }
                if src.window.is_some() {
                    self.not_allowed(path, "window", context);
                    ok = false;
                }
                ok.then_some(Reentry::Once)
            }
            "multiple" => {
                let lock = match &src.lock {
                    Some(l) => self.duration(format!("{path}/lock"), "reentry lock", l),
                    None => self.missing(
                        path,
                        "lock",
                        "`multiple` re-entry needs a lock, the minimum time between entries, e.g. \"30d\"",
                    ),
                };
                let window = match &src.window {
                    Some(w) => self.duration(format!("{path}/window"), "reentry window", w).map(Some),
                    None => Some(None),
                };
                let mut problems: Vec<(&str, String)> = Vec::new();
                if let Some(cap) = src.cap.filter(|cap| !(1..=MAX_REENTRY_CAP).contains(cap)) {
                    problems.push((
                        "cap",
                        format!("reentry cap {cap} is out of range: write 1 to {MAX_REENTRY_CAP} entries per window"),
                    ));
                }
                match (src.cap.is_some(), src.window.is_some()) {
                    (true, false) => problems.push(("cap", "reentry `cap` needs a `window` to count entries in, e.g. `\"cap\": 2, \"window\": \"60d\"`".into())),
                    (false, true) => problems.push(("window", "reentry `window` needs a `cap` (entries allowed within it), e.g. `\"cap\": 2, \"window\": \"60d\"`".into())),
                    _ => {}
                }
                let ok = problems.is_empty();
                for (field, message) in problems {
                    self.err(format!("{path}/{field}"), JourneyErrorKind::BadReentry { message });
                }
                let (lock, window) = (lock?, window?);
                ok.then_some(Reentry::Multiple { lock, cap: src.cap, window })
            }
            other => {
                self.err(
                    format!("{path}/mode"),
                    JourneyErrorKind::BadReentry {
                        message: format!("unknown reentry mode {other:?}: write \"once\" or \"multiple\""),
                    },
                );
                None
            }
        }
    }

    // ---- steps ----

    fn steps(&mut self, path: &str, src: &JourneySource) -> Option<(usize, Vec<Step>)> {
        if src.steps.is_empty() {
            self.err(format!("{path}/steps"), JourneyErrorKind::EmptyJourney);
            return None;
        }
        let before = self.errors.len();
        let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, step) in src.steps.iter().enumerate() {
            let ipath = format!("{path}/steps/{i}/id");
            if self.id(ipath.clone(), "step", &step.id) {
                if let Some(&first) = by_id.get(step.id.as_str()) {
                    self.err(ipath, JourneyErrorKind::DuplicateStepId { id: step.id.clone(), first });
                } else {
                    by_id.insert(step.id.as_str(), i);
                }
            }
        }
        let known = src.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ");
        let ids = StepIds { by_id, known };
        let start = match &src.start {
            Some(id) => self.step_ref(format!("{path}/start"), &ids, id),
            None => Some(0),
        };
        let count = src.steps.len();
        let drafts: Vec<StepDraft> = src
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| self.step(&format!("{path}/steps/{i}"), step, i, count, &ids, src.priority))
            .collect();
        // Graph checks only make sense when every reference resolved.
        let graph_complete = !self.errors.iter().skip(before).any(|e| {
            matches!(
                e.kind,
                JourneyErrorKind::UnknownStep { .. }
                    | JourneyErrorKind::DuplicateStepId { .. }
                    | JourneyErrorKind::BadId { .. }
                    | JourneyErrorKind::UnknownStepType { .. }
                    | JourneyErrorKind::FallsOffEnd { .. }
                    | JourneyErrorKind::MissingField { field: "on_performed" | "on_timed_out" | "default", .. }
            )
        });
        if let (Some(start), true) = (start, graph_complete) {
            self.graph_checks(path, src, start, &drafts);
        }
        let start = start?;
        if self.errors.len() != before {
            return None;
        }
        let steps = src
            .steps
            .iter()
            .zip(drafts)
            .map(|(s, d)| d.kind.map(|kind| Step { id: s.id.clone(), kind }))
            .collect::<Option<Vec<_>>>()?;
        Some((start, steps))
    }

    fn step_ref(&mut self, path: String, ids: &StepIds<'_>, target: &str) -> Option<usize> {
        let found = ids.by_id.get(target).copied();
        if found.is_none() {
            self.err(path, JourneyErrorKind::UnknownStep { target: target.to_owned(), known: ids.known.clone() });
        }
        found
    }

    /// `next` if written, else the following step; the last step without `next` is an error.
    fn next_or_following(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
    ) -> Option<usize> {
        match &step.next {
            Some(target) => self.step_ref(format!("{path}/next"), ids, target),
            None if index + 1 < count => Some(index + 1),
            None => {
                self.err(path, JourneyErrorKind::FallsOffEnd { step: step.id.clone() });
                None
            }
        }
    }

    /// Reports every field set on a step that its type does not use.
    fn only_fields(&mut self, path: &str, step: &StepSource, allowed: &[&str]) {
        let set: [(&'static str, bool, &'static str); 20] = [
            (
                "next",
                step.next.is_some(),
                "delay and send; wait_for uses on_performed / on_timed_out, branch default, split variants",
            ),
            ("event", step.event.is_some(), "wait_for"),
            ("where", step.filter.is_some(), "wait_for with `event`"),
            ("until", step.until.is_some(), "wait_for"),
            ("timeout", step.timeout.is_some(), "wait_for"),
            ("on_performed", step.on_performed.is_some(), "wait_for"),
            ("on_timed_out", step.on_timed_out.is_some(), "wait_for"),
            ("duration", step.duration.is_some(), "delay"),
            ("until_time", step.until_time.is_some(), "delay"),
            ("cases", !step.cases.is_empty(), "branch"),
            ("default", step.default.is_some(), "branch"),
            ("channel", step.channel.is_some(), "send"),
            ("content", step.content.is_some(), "send"),
            ("incentive", step.incentive.is_some(), "send"),
            ("fallback", !step.fallback.is_empty(), "send"),
            ("priority", step.priority.is_some(), "send"),
            ("critical", step.critical, "send"),
            ("expected_value", step.expected_value.is_some(), "send"),
            ("audience_action", step.audience_action.is_some(), "send with channel ads"),
            ("variants", !step.variants.is_empty(), "split"),
        ];
        let article = if step.kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        let set = set.into_iter().chain([("holdout", step.holdout.is_some(), "split")]);
        for (field, present, owner) in set {
            if present && !allowed.contains(&field) {
                self.not_allowed(path, field, format!("on {article} {} step (it belongs on {owner})", step.kind));
            }
        }
    }

    fn step(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
        journey_priority: i32,
    ) -> StepDraft {
        let mut draft = StepDraft { kind: None, successors: Vec::new(), waits: false, is_exit: false };
        match step.kind.as_str() {
            "wait_for" => {
                self.only_fields(path, step, &["event", "where", "until", "timeout", "on_performed", "on_timed_out"]);
                let trigger = match (&step.event, &step.until) {
                    (Some(event), None) => {
                        let event = self.event_name(format!("{path}/event"), event);
                        let filter = self.condition(&format!("{path}/where"), step.filter.as_ref());
                        event.zip(filter).map(|(event, filter)| WaitTrigger::Event(EventMatch { event, filter }))
                    }
                    (None, Some(until)) => {
                        if step.filter.is_some() {
                            self.not_allowed(
                                path,
                                "where",
                                "with `until` (it filters the awaited `event`): put the condition in `until`",
                            );
                        }
                        self.condition(&format!("{path}/until"), Some(until)).map(WaitTrigger::State)
                    }
                    (Some(_), Some(_)) => {
                        self.err(path, JourneyErrorKind::ExactlyOne { message: "wait_for has both `event` and `until`: keep one — `event` waits for something the shopper does, `until` for a state such as `{\"intent.tier\": \"hot\"}`" });
                        None
                    }
                    (None, None) => {
                        self.err(path, JourneyErrorKind::ExactlyOne { message: "wait_for needs `event` (e.g. \"purchase\") or `until` (a state condition such as `{\"intent.tier\": \"hot\"}`)" });
                        None
                    }
                };
                let timeout = match &step.timeout {
                    Some(t) => self.duration(format!("{path}/timeout"), "timeout", t),
                    None => self.missing(path, "timeout", "a wait_for needs a timeout, how long to wait, e.g. \"3d\""),
                };
                let on_performed = match &step.on_performed {
                    Some(t) => self.step_ref(format!("{path}/on_performed"), ids, t),
                    None => self.missing(path, "on_performed", "write the step id to go to when the shopper did it"),
                };
                let on_timed_out = match &step.on_timed_out {
                    Some(t) => self.step_ref(format!("{path}/on_timed_out"), ids, t),
                    None => self.missing(path, "on_timed_out", "write the step id to go to when the wait times out"),
                };
                draft.successors.extend(on_performed);
                draft.successors.extend(on_timed_out);
                draft.waits = true;
                if let (Some(trigger), Some(timeout), Some(on_performed), Some(on_timed_out)) =
                    (trigger, timeout, on_performed, on_timed_out)
                {
                    draft.kind = Some(StepKind::WaitFor { trigger, timeout, on_performed, on_timed_out });
                }
            }
            "delay" => {
                self.only_fields(path, step, &["next", "duration", "until_time"]);
                let duration = match &step.duration {
                    Some(d) => self.duration(format!("{path}/duration"), "delay duration", d),
                    None => Some(Duration(0)),
                };
                let until_minute = match &step.until_time {
                    Some(t) => self.time_of_day(format!("{path}/until_time"), t).map(Some),
                    None => Some(None),
                };
                if step.duration.is_none() && step.until_time.is_none() {
                    self.missing::<()>(
                        path,
                        "duration",
                        "a delay needs `duration` (e.g. \"1h\") and/or `until_time` (local \"HH:MM\")",
                    );
                }
                let next = self.next_or_following(path, step, index, count, ids);
                draft.successors.extend(next);
                // A duration that failed to parse was reported; treat it as a wait so the
                // cycle check does not pile a second error on it.
                draft.waits = duration.is_none_or(|d| d.millis() > 0);
                if let (Some(duration), Some(until_minute), Some(next)) = (duration, until_minute, next) {
                    if step.duration.is_some() || step.until_time.is_some() {
                        draft.kind = Some(StepKind::Delay { duration, until_minute, next });
                    }
                }
            }
            "branch" => {
                self.only_fields(path, step, &["cases", "default"]);
                if step.cases.is_empty() {
                    self.missing::<()>(
                        path,
                        "cases",
                        "a branch needs at least one case: `\"cases\": [{\"when\": {...}, \"next\": \"step-id\"}]`",
                    );
                }
                let mut cases = Vec::with_capacity(step.cases.len());
                for (i, case) in step.cases.iter().enumerate() {
                    let cpath = format!("{path}/cases/{i}");
                    let when = self.condition(&format!("{cpath}/when"), Some(&case.when));
                    let next = self.step_ref(format!("{cpath}/next"), ids, &case.next);
                    draft.successors.extend(next);
                    cases.push(when.zip(next));
                }
                let default = match &step.default {
                    Some(t) => self.step_ref(format!("{path}/default"), ids, t),
                    None => self.missing(path, "default", "write the step id to go to when no case holds"),
                };
                draft.successors.extend(default);
                if let (Some(cases), Some(default)) = (cases.into_iter().collect::<Option<Vec<_>>>(), default) {
                    if !cases.is_empty() {
                        draft.kind = Some(StepKind::Branch { cases, default });
                    }
                }
            }
            "send" => {
                self.only_fields(
                    path,
                    step,
                    &[
                        "next",
                        "channel",
                        "content",
                        "incentive",
                        "fallback",
                        "priority",
                        "critical",
                        "expected_value",
                        "audience_action",
                    ],
                );
                let send = self.send(path, step, index, count, ids, journey_priority);
                if let Some(send) = &send {
                    draft.successors.push(send.next);
                } else if let Some(target) = &step.next {
                    // Keep the graph complete for reachability even when the send is broken.
                    draft.successors.extend(ids.by_id.get(target.as_str()).copied());
                } else if index + 1 < count {
                    draft.successors.push(index + 1);
                }
                draft.kind = send.map(StepKind::Send);
            }
            "split" => {
                self.only_fields(path, step, &["variants", "holdout"]);
                let split = self.split(path, step, ids);
                draft.successors.extend(step.variants.iter().filter_map(|v| ids.by_id.get(v.next.as_str()).copied()));
                draft.kind = split;
            }
            "exit" => {
                self.only_fields(path, step, &[]);
                draft.is_exit = true;
                draft.kind = Some(StepKind::Exit);
            }
            other => {
                self.err(format!("{path}/type"), JourneyErrorKind::UnknownStepType { found: other.to_owned() });
            }
        }
        draft
    }

    fn send(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
        journey_priority: i32,
    ) -> Option<Send> {
        let channel = match &step.channel {
            Some(c) => self.channel(format!("{path}/channel"), c),
            None => self.missing(path, "channel", "write one of onsite, inapp, email, sms, push, ads"),
        };
        let content = match step.content.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => Some(c.to_owned()),
            Some(_) => self.missing(
                path,
                "content",
                "content is empty: write the template / content key to render, e.g. \"cart-reminder-1\"",
            ),
            None => {
                self.missing(path, "content", "write the template / content key to render, e.g. \"cart-reminder-1\"")
            }
        };
        let incentive = match &step.incentive {
            None => Some(None),
            Some(inc) => {
                let ipath = format!("{path}/incentive");
                let id_ok = !inc.id.trim().is_empty();
                if !id_ok {
                    self.missing::<()>(&ipath, "id", "write the incentive (coupon campaign) id, e.g. \"WELCOME10\"");
                }
                let valid_for = match &inc.valid_for {
                    Some(v) => self.duration(format!("{ipath}/valid_for"), "incentive valid_for", v),
                    None => Some(DEFAULT_INCENTIVE_VALIDITY),
                };
                let group = inc.group.clone().filter(|g| !g.trim().is_empty()).unwrap_or_else(|| inc.id.clone());
                let id_ok = id_ok && self.name_length(format!("{ipath}/id"), "the incentive id", &inc.id);
                let id_ok = id_ok && self.name_length(format!("{ipath}/group"), "the incentive group", &group);
                valid_for.filter(|_| id_ok).map(|valid_for| Some(Incentive { id: inc.id.clone(), group, valid_for }))
            }
        };
        let mut fallback = Vec::with_capacity(step.fallback.len());
        let mut fallback_ok = true;
        for (i, name) in step.fallback.iter().enumerate() {
            let fpath = format!("{path}/fallback/{i}");
            let Some(c) = self.channel(fpath.clone(), name) else {
                fallback_ok = false;
                continue;
            };
            if Some(c) == channel {
                self.err(
                    fpath,
                    JourneyErrorKind::BadFallback {
                        message: format!(
                            "fallback channel {name:?} is the send's own channel: list only other channels to try"
                        ),
                    },
                );
                fallback_ok = false;
            } else if fallback.contains(&c) {
                self.err(
                    fpath,
                    JourneyErrorKind::BadFallback {
                        message: format!("fallback channel {name:?} is listed twice: list each channel once"),
                    },
                );
                fallback_ok = false;
            } else {
                fallback.push(c);
            }
        }
        let audience_add = match (channel, &step.audience_action) {
            (Some(Channel::Ads), Some(action)) => match action.as_str() {
                "add" => Some(true),
                "remove" => Some(false),
                other => {
                    self.err(
                        format!("{path}/audience_action"),
                        JourneyErrorKind::BadAudienceAction { found: other.to_owned() },
                    );
                    None
                }
            },
            (Some(Channel::Ads), None) => self.missing(
                path,
                "audience_action",
                "an ads send adds or removes the shopper from the retargeting audience: write \"add\" or \"remove\"",
            ),
            (Some(_), Some(_)) => {
                self.not_allowed(path, "audience_action", "on a send whose channel is not ads");
                None
            }
            (_, None) | (None, Some(_)) => Some(false),
        };
        let expected_value = match step.expected_value {
            Some(v) if !v.is_finite() => {
                self.err(
                    format!("{path}/expected_value"),
                    JourneyErrorKind::BadNumber { field: "expected_value", found: v },
                );
                None
            }
            Some(v) => Some(v),
            None => Some(0.0),
        };
        let next = self.next_or_following(path, step, index, count, ids);
        Some(Send {
            channel: channel?,
            content: content?,
            incentive: incentive?,
            fallback: Some(fallback).filter(|_| fallback_ok)?,
            priority: journey_priority.saturating_add(step.priority.unwrap_or(0)),
            critical: step.critical,
            expected_value: expected_value?,
            audience_add: audience_add?,
            next: next?,
        })
    }

    fn split(&mut self, path: &str, step: &StepSource, ids: &StepIds<'_>) -> Option<StepKind> {
        if step.variants.is_empty() {
            return self.missing(
                path,
                "variants",
                "a split needs variants: `[{\"name\": \"a\", \"weight\": 50, \"next\": \"step-id\"}, ...]`",
            );
        }
        let mut ok = true;
        let mut names = BTreeSet::new();
        let mut nexts = Vec::with_capacity(step.variants.len());
        for (i, v) in step.variants.iter().enumerate() {
            let vpath = format!("{path}/variants/{i}");
            if !(v.weight.is_finite() && v.weight > 0.0) {
                self.err(
                    format!("{vpath}/weight"),
                    JourneyErrorKind::BadWeights {
                        message: format!(
                            "variant weight {} must be greater than zero: write a relative weight such as 50",
                            v.weight
                        ),
                    },
                );
                ok = false;
            }
            if v.name.trim().is_empty() || !names.insert(v.name.as_str()) {
                self.err(
                    format!("{vpath}/name"),
                    JourneyErrorKind::BadWeights {
                        message: format!(
                            "variant name {:?} is empty or used twice: give every variant its own name",
                            v.name
                        ),
                    },
                );
                ok = false;
            }
            ok &= self.name_length(format!("{vpath}/name"), "a variant name", &v.name);
            nexts.push(self.step_ref(format!("{vpath}/next"), ids, &v.next));
        }
        let holdout = step.holdout.unwrap_or(0.0);
        if !(holdout.is_finite() && (0.0..=100.0).contains(&holdout)) {
            self.err(
                format!("{path}/holdout"),
                JourneyErrorKind::BadWeights {
                    message: format!("holdout {holdout} is not a percentage: write 0 to 100"),
                },
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let weights: Vec<f64> = step.variants.iter().map(|v| v.weight).collect();
        let bps = basis_points(&weights);
        if let Some(i) = bps.iter().position(|&bp| bp == 0) {
            self.err(format!("{path}/variants/{i}/weight"), JourneyErrorKind::BadWeights { message: "variant weight is too small to receive any shopper (under 0.01% of the total): raise it or remove the variant".into() });
            return None;
        }
        let variants = step
            .variants
            .iter()
            .zip(bps)
            .zip(nexts)
            .map(|((v, bp), next)| next.map(|n| (v.name.clone(), bp, n)))
            .collect::<Option<Vec<_>>>()?;
        // Holdout is decided first, in basis points of all shoppers; the variants then
        // share the rest, their basis points summing to 10_000.
        let holdout_bp = (holdout * 100.0).round().clamp(0.0, 10_000.0) as u32;
        Some(StepKind::Split { variants, holdout_bp })
    }

    // ---- graph ----

    fn graph_checks(&mut self, path: &str, src: &JourneySource, start: usize, drafts: &[StepDraft]) {
        let name = |i: usize| src.steps.get(i).map_or("?", |s| s.id.as_str());
        let step_path = |i: usize| format!("{path}/steps/{i}");
        // Reachability from the start.
        let mut reached = vec![false; drafts.len()];
        let mut queue = VecDeque::from([start]);
        while let Some(i) = queue.pop_front() {
            match reached.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            if let Some(d) = drafts.get(i) {
                queue.extend(d.successors.iter().copied());
            }
        }
        for (i, r) in reached.iter().enumerate() {
            if !r {
                self.err(
                    step_path(i),
                    JourneyErrorKind::UnreachableStep { step: name(i).to_owned(), start: name(start).to_owned() },
                );
            }
        }
        // Cycles among steps that do not wait.
        for cycle in cycles_without_wait(drafts) {
            let first = cycle.first().copied().unwrap_or(0);
            let mut names: Vec<String> = cycle.iter().map(|&i| format!("{:?}", name(i))).collect();
            names.push(format!("{:?}", name(first)));
            self.err(step_path(first), JourneyErrorKind::CycleWithoutWait { cycle: names.join(" → ") });
        }
        // Every reachable step must be able to reach an exit. Steps that fall off the
        // end were reported already and count as ends here.
        let mut reaches_exit: Vec<bool> =
            drafts.iter().map(|d| d.is_exit || (d.successors.is_empty() && d.kind.is_none())).collect();
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..drafts.len() {
                if reaches_exit.get(i).copied().unwrap_or(true) {
                    continue;
                }
                let any = drafts
                    .get(i)
                    .is_some_and(|d| d.successors.iter().any(|&s| reaches_exit.get(s).copied().unwrap_or(false)));
                if any {
                    if let Some(flag) = reaches_exit.get_mut(i) {
                        *flag = true;
                        changed = true;
                    }
                }
            }
        }
        let stuck: Vec<usize> = (0..drafts.len())
            .filter(|&i| reached.get(i) == Some(&true) && reaches_exit.get(i) == Some(&false))
            .collect();
        if let Some(&first) = stuck.first() {
            let steps = stuck.iter().map(|&i| format!("{:?}", name(i))).collect::<Vec<_>>().join(", ");
            self.err(step_path(first), JourneyErrorKind::NoExit { steps });
        }
    }
}

/// Splits 10_000 basis points among positive weights (largest remainder, ties to the
/// earlier variant), so the parts always sum to exactly 10_000.
fn basis_points(weights: &[f64]) -> Vec<u32> {
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || !(total.is_finite() && total > 0.0) {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / total * 10_000.0).collect();
    let mut parts: Vec<u32> = exact.iter().map(|e| e.floor().clamp(0.0, 10_000.0) as u32).collect();
    let assigned: u32 = parts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact.get(a).map_or(0.0, |e| e - e.floor());
        let rb = exact.get(b).map_or(0.0, |e| e - e.floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(10_000u32.saturating_sub(assigned) as usize) {
        if let Some(p) = parts.get_mut(i) {
            *p += 1;
        }
    }
    parts
}

/// Each distinct cycle (as step indices, in order) among steps that do not wait.
fn cycles_without_wait(drafts: &[StepDraft]) -> Vec<Vec<usize>> {
    // Iterative DFS over the subgraph of non-waiting steps; a back edge closes a cycle.
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let waits = |i: usize| drafts.get(i).is_none_or(|d| d.waits);
    let mut color = vec![WHITE; drafts.len()];
    let mut found: Vec<Vec<usize>> = Vec::new();
    let mut seen_sets: BTreeSet<Vec<usize>> = BTreeSet::new();
    for root in 0..drafts.len() {
        if waits(root) || color.get(root) != Some(&WHITE) {
            continue;
        }
        // Stack of (node, next successor position).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        if let Some(c) = color.get_mut(root) {
            *c = GREY;
        }
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let succ = drafts.get(node).and_then(|d| d.successors.get(top.1)).copied();
            top.1 += 1;
            match succ {
                None => {
                    if let Some(c) = color.get_mut(node) {
                        *c = BLACK;
                    }
                    stack.pop();
                }
                Some(next) if waits(next) => {}
                Some(next) => match color.get(next).copied() {
                    Some(WHITE) => {
                        if let Some(c) = color.get_mut(next) {
                            *c = GREY;
                        }
                        stack.push((next, 0));
                    }
                    Some(GREY) => {
                        let from = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        let cycle: Vec<usize> = stack.iter().skip(from).map(|&(n, _)| n).collect();
                        let mut key = cycle.clone();
                        key.sort_unstable();
                        if seen_sets.insert(key) {
                            found.push(cycle);
                        }
                    }
                    _ => {}
                },
            }
        }
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn journey(steps: &str) -> BundleSource {
        let text = format!(r#"{{"journeys": [{{"id": "j", "entry": {{"event": "view_item"}}, "steps": {steps}}}]}}"#);
        serde_json::from_str(&text).unwrap()
    }

    fn codes(src: &BundleSource) -> Vec<(String, String)> {
        match compile_bundle(src, &FixedZones) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| (e.code().to_owned(), e.path.clone())).collect(),
        }
    }

    #[test]
    fn loops_through_a_real_wait_are_allowed() {
        let ok = journey(
            r#"[{"id": "nudge", "type": "send", "channel": "onsite", "content": "x"},
                {"id": "pause", "type": "delay", "duration": "1h"},
                {"id": "check", "type": "branch", "cases": [{"when": {"a": 1}, "next": "done"}], "default": "nudge"},
                {"id": "done", "type": "exit"}]"#,
        );
        assert_eq!(codes(&ok), Vec::<(String, String)>::new());
        let self_loop = journey(
            r#"[{"id": "nudge", "type": "send", "channel": "onsite", "content": "x", "next": "nudge"},
                {"id": "done", "type": "exit"}]"#,
        );
        let found = codes(&self_loop);
        assert!(found.contains(&("cycle_without_wait".into(), "/journeys/0/steps/0".into())), "{found:?}");
    }

    #[test]
    fn errors_of_every_journey_are_collected() {
        let mut src = journey(r#"[{"id": "w", "type": "delay", "duration": "soon"}, {"id": "done", "type": "exit"}]"#);
        let mut second = src.journeys.first().unwrap().clone();
        second.id = "BAD".into();
        src.journeys.push(second);
        let found = codes(&src);
        assert_eq!(
            found,
            [
                ("bad_duration".to_owned(), "/journeys/0/steps/0/duration".to_owned()),
                ("bad_id".to_owned(), "/journeys/1/id".to_owned()),
                ("bad_duration".to_owned(), "/journeys/1/steps/0/duration".to_owned()),
            ]
        );
        let err = compile_bundle(&src, &FixedZones).unwrap_err();
        assert!(err[0].to_string().starts_with("/journeys/0/steps/0/duration: bad duration \"soon\""));
    }

    #[test]
    fn basis_points_sum_to_ten_thousand() {
        assert_eq!(basis_points(&[1.0, 1.0, 1.0]), vec![3334, 3333, 3333]);
        assert_eq!(basis_points(&[50.0, 50.0]), vec![5000, 5000]);
        assert_eq!(basis_points(&[2.0]), vec![10_000]);
        assert_eq!(basis_points(&[1.0, 2.0, 3.0, 7.0]).iter().sum::<u32>(), 10_000);
    }
}
