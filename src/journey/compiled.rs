//! The compiled bundle: what the engine runs. Step references are indices, durations and
//! times are typed, conditions are compiled, zones carry their offset tables. It is
//! postcard-serializable, conditions in their compiled binary form (regexes as DFAs), so
//! the browser loads a validated bundle without re-checking or compiling anything.

use serde::{Deserialize, Serialize};

use crate::condition::Condition;
use crate::intent::IntentModel;
use crate::time::{Duration, Timestamp, Zone};
use crate::value::{Map, Value};
use crate::wire::{put_varint, Decode, Encode, Reader, WireError};

/// Delivery channel of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A banner, slot or modal on the storefront page.
    Onsite,
    /// An in-app message.
    Inapp,
    /// Email.
    Email,
    /// SMS.
    Sms,
    /// Mobile / web push.
    Push,
    /// Retargeting audience add/remove through a webhook.
    Ads,
}

impl Channel {
    /// All channels, in declaration order.
    pub const ALL: [Channel; 6] =
        [Channel::Onsite, Channel::Inapp, Channel::Email, Channel::Sms, Channel::Push, Channel::Ads];

    /// Name as written in journeys.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Onsite => "onsite",
            Channel::Inapp => "inapp",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Ads => "ads",
        }
    }

    /// Parses a channel name.
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// True for channels shown while the shopper is on the site or app.
    pub fn is_in_session(self) -> bool {
        matches!(self, Channel::Onsite | Channel::Inapp)
    }

    /// Bit for `ChannelSet`.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChannelSet(pub u8);

impl ChannelSet {
    /// Whether `c` is in the set.
    pub fn contains(self, c: Channel) -> bool {
        self.0 & c.bit() != 0
    }
    /// Set from channels.
    pub fn of(channels: &[Channel]) -> ChannelSet {
        ChannelSet(channels.iter().fold(0, |acc, c| acc | c.bit()))
    }
}

/// A validated, compiled bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    /// Journeys, sorted by id.
    pub journeys: Vec<Journey>,
    /// Global policy.
    pub policy: Policy,
    /// Saved groups for `$inGroup`.
    pub groups: Map<Vec<Value>>,
}

/// A compiled journey.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journey {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Journey priority.
    pub priority: i32,
    /// Active window, zone, quiet hours.
    pub schedule: Schedule,
    /// How shoppers enter.
    pub entry: Entry,
    /// Entry event properties kept in the run for `$ref: entry.*`.
    pub remember: Vec<String>,
    /// Who may enter.
    pub audience: Option<Condition>,
    /// Re-entry rule.
    pub reentry: Reentry,
    /// Conversion goal.
    pub conversion: Option<Conversion>,
    /// Early exits.
    pub exit_when: Vec<EventMatch>,
    /// Index of the first step.
    pub start: usize,
    /// Steps; references are indices into this list.
    pub steps: Vec<Step>,
}

/// Active window and civil-time rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Schedule {
    /// No entries before.
    pub start: Option<Timestamp>,
    /// No entries from.
    pub end: Option<Timestamp>,
    /// Zone for quiet hours and time-of-day delays.
    pub zone: Zone,
    /// Quiet hours.
    pub quiet_hours: Option<QuietHours>,
}

/// Local quiet hours.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct QuietHours {
    /// Minutes after local midnight.
    pub start_minute: u16,
    /// Minutes after local midnight (may be < start: wraps).
    pub end_minute: u16,
    /// Channels that wait.
    pub channels: ChannelSet,
}

/// How shoppers enter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Entry {
    /// On an event that matches.
    Event(EventMatch),
    /// When the audience condition holds (checked on every ingest).
    Audience(Condition),
}

/// An event name plus condition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventMatch {
    /// Canonical event name.
    pub event: String,
    /// Condition over the event scope.
    pub filter: Condition,
}

/// Re-entry rule.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum Reentry {
    /// Never again after the first entry.
    Once,
    /// Again, after `lock`, at most `cap` entries within `window`.
    Multiple {
        /// Minimum time between entries.
        lock: Duration,
        /// Max entries within `window`.
        cap: Option<u32>,
        /// Rolling window for `cap`.
        window: Option<Duration>,
    },
}

/// Conversion goal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversion {
    /// Event and condition.
    pub matcher: EventMatch,
    /// Counts only within this long after entry.
    pub within: Option<Duration>,
}

/// One compiled step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// Step id as written.
    pub id: String,
    /// What it does.
    pub kind: StepKind,
}

/// What a step does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StepKind {
    /// Wait for an event or a state condition, up to `timeout`.
    WaitFor {
        /// What ends the wait early.
        trigger: WaitTrigger,
        /// How long to wait.
        timeout: Duration,
        /// Next step when performed.
        on_performed: usize,
        /// Next step when timed out.
        on_timed_out: usize,
    },
    /// Wait a fixed time and/or until a local time of day.
    Delay {
        /// Fixed wait.
        duration: Duration,
        /// Then until this local minute of day.
        until_minute: Option<u16>,
        /// Next step.
        next: usize,
    },
    /// First matching case wins.
    Branch {
        /// (condition, next step).
        cases: Vec<(Condition, usize)>,
        /// Next step when no case holds.
        default: usize,
    },
    /// Send (or show) a message.
    Send(Send),
    /// A/B split with holdout.
    Split {
        /// (name, weight in basis points of 10_000, next step).
        variants: Vec<(String, u32, usize)>,
        /// Holdout in basis points of 10_000.
        holdout_bp: u32,
        /// Opted in to shifting traffic toward the variant that converts better.
        adaptive: bool,
        /// Per variant (same order), the basis points the backend learned; empty until
        /// it published some. Used instead of the written weights when `adaptive`.
        learned_bp: Vec<u32>,
    },
    /// End of the journey.
    Exit,
}

/// What ends a wait early.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WaitTrigger {
    /// An event that matches.
    Event(EventMatch),
    /// A condition over the shopper's state (intent, signals, traits).
    State(Condition),
}

/// A send step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Send {
    /// Preferred channel.
    pub channel: Channel,
    /// Content / template key.
    pub content: String,
    /// Incentive, if any.
    pub incentive: Option<Incentive>,
    /// Channels to try next, in order.
    pub fallback: Vec<Channel>,
    /// Journey priority + step priority.
    pub priority: i32,
    /// Checkout-critical.
    pub critical: bool,
    /// Expected value for ranking, as written.
    pub expected_value: f64,
    /// The value the backend learned for this send from what it counted (see
    /// `server::mix`); when set, arbitration ranks by it instead of `expected_value`.
    pub learned_value: Option<f64>,
    /// For `ads`: true = add to audience, false = remove.
    pub audience_add: bool,
    /// Next step.
    pub next: usize,
}

impl Send {
    /// The value arbitration ranks by: the learned one when published, else the written.
    pub fn ranking_value(&self) -> f64 {
        self.learned_value.unwrap_or(self.expected_value)
    }
}

/// An incentive offered by a send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incentive {
    /// Incentive id.
    pub id: String,
    /// Exclusion group (defaults to the incentive id).
    pub group: String,
    /// How long it stays active.
    pub valid_for: Duration,
}

/// Global policy, compiled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// Frequency caps.
    pub caps: Vec<Cap>,
    /// Window in which an on-site intervention suppresses other channels.
    pub suppression_window: Duration,
    /// Channels suppressed by a recent on-site intervention.
    pub suppresses: ChannelSet,
    /// True: only the same journey's on-site intervention suppresses.
    pub suppression_same_journey_only: bool,
    /// Inactivity that starts a new session.
    pub session_timeout: Duration,
    /// Channels assumed consented when the shopper has not said.
    pub assume_consent: ChannelSet,
    /// Intent model.
    pub intent: IntentModel,
    /// Split hashing seed.
    pub seed: u64,
}

/// A frequency cap.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Cap {
    /// Channel, or None for all channels.
    pub channel: Option<Channel>,
    /// Maximum sends.
    pub max: u32,
    /// Session or rolling window.
    pub per: CapPeriod,
    /// Binds critical sends too.
    pub hard: bool,
}

/// The period of a cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CapPeriod {
    /// The current session.
    Session,
    /// A rolling window ending now.
    Window(Duration),
}

/// The variant name a held-out run carries while it waits out the conversion window
/// (reserved: no split variant may take it).
pub const HOLDOUT_VARIANT: &str = "holdout";

/// How long a held-out run waits for a conversion when the goal has no `within`.
pub const DEFAULT_CONVERSION_WINDOW: Duration = Duration(30 * crate::time::DAY);

impl Journey {
    /// How long after entry a conversion is counted for the holdout and the learned mix:
    /// the goal's `within`, else [`DEFAULT_CONVERSION_WINDOW`]; `None` without a goal.
    pub fn conversion_window(&self) -> Option<Duration> {
        self.conversion.as_ref().map(|c| c.within.unwrap_or(DEFAULT_CONVERSION_WINDOW))
    }

    /// Index of a step by id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Every condition in the journey: entry, audience, conversion, exits, waits, branches.
    pub fn conditions(&self) -> Vec<&Condition> {
        let mut all: Vec<&Condition> = Vec::new();
        match &self.entry {
            Entry::Event(m) => all.push(&m.filter),
            Entry::Audience(c) => all.push(c),
        }
        all.extend(self.audience.iter());
        all.extend(self.conversion.iter().map(|c| &c.matcher.filter));
        all.extend(self.exit_when.iter().map(|m| &m.filter));
        for step in &self.steps {
            match &step.kind {
                StepKind::WaitFor { trigger: WaitTrigger::Event(m), .. } => all.push(&m.filter),
                StepKind::WaitFor { trigger: WaitTrigger::State(c), .. } => all.push(c),
                StepKind::Branch { cases, .. } => all.extend(cases.iter().map(|(c, _)| c)),
                _ => {}
            }
        }
        all
    }

    /// Entry-event properties some condition reads (`entry.item_id` → `item_id`).
    pub fn entry_keys_referenced(&self) -> std::collections::BTreeSet<String> {
        self.conditions()
            .into_iter()
            .flat_map(|c| c.referenced_paths())
            .filter_map(|(path, _)| {
                let rest = path.strip_prefix("entry.")?;
                Some(rest.split('.').next().unwrap_or(rest).to_owned())
            })
            .collect()
    }
}

/// The default frequency caps, used when the bundle's policy leaves `caps` out:
/// on-site 3 per session (soft), any channel 6 per 24h, email 1 per 24h, SMS 1 per 24h
/// and push 2 per 24h (all hard).
pub fn default_caps() -> Vec<Cap> {
    let day = CapPeriod::Window(Duration(crate::time::DAY));
    let cap = |channel, max, per, hard| Cap { channel, max, per, hard };
    vec![
        cap(Some(Channel::Onsite), 3, CapPeriod::Session, false),
        cap(None, 6, day, true),
        cap(Some(Channel::Email), 1, day, true),
        cap(Some(Channel::Sms), 1, day, true),
        cap(Some(Channel::Push), 2, day, true),
    ]
}

impl Policy {
    /// The policy a bundle gets when it says nothing: [`default_caps`], a 24h suppression
    /// window in which on-site interventions suppress email, SMS and push from any
    /// journey, 30 minute sessions, no assumed consent, split seed 0.
    pub fn with_defaults(intent: IntentModel) -> Policy {
        Policy {
            caps: default_caps(),
            suppression_window: Duration(crate::time::DAY),
            suppresses: ChannelSet::of(&[Channel::Email, Channel::Sms, Channel::Push]),
            suppression_same_journey_only: false,
            session_timeout: Duration(30 * crate::time::MINUTE),
            assume_consent: ChannelSet::default(),
            intent,
            seed: 0,
        }
    }
}

/// First byte of [`Bundle::to_bytes`]; bumped whenever the compiled form changes shape.
/// Version 2: conditions are stored compiled (their evaluation tree, regexes as DFAs)
/// instead of as JSON source. Version 3: regexes as DFA tables of our own
/// (`condition::regex`) instead of regex-automata's serialized DFAs. Version 5: the
/// learned mix — a send's `learned_value`, a split's `adaptive` flag and learned weights —
/// numbered 64: bundle formats count from 64 and shopper states' versions stay below it,
/// so a state sent as a bundle is refused naming its version rather than as corrupt bytes.
pub const BUNDLE_FORMAT_VERSION: u8 = 64;

/// Why bundle bytes could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// No bytes at all.
    #[error("empty bundle bytes: expected a version byte followed by an encoded bundle")]
    Empty,
    /// A version this build does not read.
    #[error("bundle format version {found} is not supported (this build reads version {expected}): recompile the journeys with a matching `waymark`")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        expected: u8,
    },
    /// The bytes after the version byte do not decode as a bundle.
    #[error("corrupt bundle bytes: {source}")]
    Corrupt {
        /// What the decoder found.
        #[from]
        source: WireError,
    },
    /// The bytes decode, but name something a valid bundle cannot (an empty or over-long
    /// id: journey validation refuses these, so the bytes were not written by it).
    #[error("corrupt bundle bytes: {message}")]
    Inconsistent {
        /// What is wrong, and where.
        message: String,
    },
}

impl BundleError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::Empty => "empty_bundle",
            BundleError::UnsupportedVersion { .. } => "unsupported_bundle_version",
            BundleError::Corrupt { .. } | BundleError::Inconsistent { .. } => "corrupt_bundle",
        }
    }
}

impl Bundle {
    /// Compact binary form: [`BUNDLE_FORMAT_VERSION`] then the wire encoding
    /// ([`crate::wire`]: postcard's format).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![BUNDLE_FORMAT_VERSION];
        self.encode(&mut out);
        out
    }

    /// Reads what [`Bundle::to_bytes`] wrote; rejects other versions and trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let (&version, rest) = bytes.split_first().ok_or(BundleError::Empty)?;
        if version != BUNDLE_FORMAT_VERSION {
            return Err(BundleError::UnsupportedVersion { found: version, expected: BUNDLE_FORMAT_VERSION });
        }
        let mut r = Reader::new(rest);
        let bundle: Bundle = r.read();
        let bundle = r.finish(bundle)?;
        bundle.check_state_names()?;
        Ok(bundle)
    }

    /// Every name the engine copies into shopper state (journey and step ids, incentive
    /// ids and groups, split variants, remembered keys) within the state's bounds, as
    /// journey validation makes them: a binary bundle is not validated again, and a run
    /// the state could not keep would be dropped at the next decode.
    fn check_state_names(&self) -> Result<(), BundleError> {
        use crate::state::{MAX_NAME_BYTES, MAX_REMEMBERED};
        let fits = |name: &str| !name.is_empty() && name.len() <= MAX_NAME_BYTES;
        for (j, journey) in self.journeys.iter().enumerate() {
            let bad = |what: &str| BundleError::Inconsistent {
                message: format!(
                    "journey {j}: {what} is empty or longer than {MAX_NAME_BYTES} bytes, or more than \
                     {MAX_REMEMBERED} properties are remembered"
                ),
            };
            if !fits(&journey.id) {
                return Err(bad("the id"));
            }
            if journey.remember.len() > MAX_REMEMBERED || !journey.remember.iter().all(|k| fits(k)) {
                return Err(bad("a remembered property"));
            }
            for step in &journey.steps {
                if !fits(&step.id) {
                    return Err(bad("a step id"));
                }
                match &step.kind {
                    StepKind::Send(send)
                        if send.incentive.as_ref().is_some_and(|inc| !fits(&inc.id) || !fits(&inc.group)) =>
                    {
                        return Err(bad("an incentive id or group"));
                    }
                    StepKind::Split { variants, .. } if !variants.iter().all(|(name, _, _)| fits(name)) => {
                        return Err(bad("a split variant name"));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Binary form (crate::wire): fields in declaration order, enums by variant index
// ---------------------------------------------------------------------------------------

crate::wire_unit_enum!(Channel { Onsite, Inapp, Email, Sms, Push, Ads });
crate::wire_struct!(Bundle { journeys, policy, groups });
crate::wire_struct!(Journey {
    id,
    name,
    priority,
    schedule,
    entry,
    remember,
    audience,
    reentry,
    conversion,
    exit_when,
    start,
    steps
});
crate::wire_struct!(Schedule { start, end, zone, quiet_hours });
crate::wire_struct!(QuietHours { start_minute, end_minute, channels });
crate::wire_struct!(EventMatch { event, filter });
crate::wire_struct!(Conversion { matcher, within });
crate::wire_struct!(Step { id, kind });
crate::wire_struct!(Send {
    channel,
    content,
    incentive,
    fallback,
    priority,
    critical,
    expected_value,
    learned_value,
    audience_add,
    next
});
crate::wire_struct!(Incentive { id, group, valid_for });
crate::wire_struct!(Policy {
    caps,
    suppression_window,
    suppresses,
    suppression_same_journey_only,
    session_timeout,
    assume_consent,
    intent,
    seed
});
crate::wire_struct!(Cap { channel, max, per, hard });

impl Encode for ChannelSet {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.0);
    }
}
impl Decode for ChannelSet {
    fn decode(r: &mut Reader<'_>) -> Self {
        ChannelSet(r.read())
    }
}

impl Encode for Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Entry::Event(m) => {
                out.push(0);
                m.encode(out);
            }
            Entry::Audience(c) => {
                out.push(1);
                c.encode(out);
            }
        }
    }
}
impl Decode for Entry {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.read_tag() {
            0 => Entry::Event(r.read()),
            1 => Entry::Audience(r.read()),
            tag => r.bad_tag(tag, Entry::Audience(Condition::never())),
        }
    }
}

impl Encode for Reentry {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reentry::Once => out.push(0),
            Reentry::Multiple { lock, cap, window } => {
                out.push(1);
                lock.encode(out);
                cap.encode(out);
                window.encode(out);
            }
        }
    }
}
impl Decode for Reentry {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.read_tag() {
            0 => Reentry::Once,
            1 => Reentry::Multiple { lock: r.read(), cap: r.read(), window: r.read() },
            tag => r.bad_tag(tag, Reentry::Once),
        }
    }
}

impl Encode for StepKind {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            StepKind::WaitFor { trigger, timeout, on_performed, on_timed_out } => {
                out.push(0);
                trigger.encode(out);
                timeout.encode(out);
                on_performed.encode(out);
                on_timed_out.encode(out);
            }
            StepKind::Delay { duration, until_minute, next } => {
                out.push(1);
                duration.encode(out);
                until_minute.encode(out);
                next.encode(out);
            }
            StepKind::Branch { cases, default } => {
                out.push(2);
                cases.encode(out);
                default.encode(out);
            }
            StepKind::Send(send) => {
                out.push(3);
                send.encode(out);
            }
            StepKind::Split { variants, holdout_bp, adaptive, learned_bp } => {
                out.push(4);
                variants.encode(out);
                holdout_bp.encode(out);
                adaptive.encode(out);
                learned_bp.encode(out);
            }
            StepKind::Exit => put_varint(out, 5),
        }
    }
}
impl Decode for StepKind {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.read_tag() {
            0 => StepKind::WaitFor {
                trigger: r.read(),
                timeout: r.read(),
                on_performed: r.read(),
                on_timed_out: r.read(),
            },
            1 => StepKind::Delay { duration: r.read(), until_minute: r.read(), next: r.read() },
            2 => StepKind::Branch { cases: r.read(), default: r.read() },
            3 => StepKind::Send(r.read()),
            4 => StepKind::Split { variants: r.read(), holdout_bp: r.read(), adaptive: r.read(), learned_bp: r.read() },
            5 => StepKind::Exit,
            tag => r.bad_tag(tag, StepKind::Exit),
        }
    }
}

impl Encode for WaitTrigger {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            WaitTrigger::Event(m) => {
                out.push(0);
                m.encode(out);
            }
            WaitTrigger::State(c) => {
                out.push(1);
                c.encode(out);
            }
        }
    }
}
impl Decode for WaitTrigger {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.read_tag() {
            0 => WaitTrigger::Event(r.read()),
            1 => WaitTrigger::State(r.read()),
            tag => r.bad_tag(tag, WaitTrigger::State(Condition::never())),
        }
    }
}

impl Encode for CapPeriod {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            CapPeriod::Session => out.push(0),
            CapPeriod::Window(d) => {
                out.push(1);
                d.encode(out);
            }
        }
    }
}
impl Decode for CapPeriod {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.read_tag() {
            0 => CapPeriod::Session,
            1 => CapPeriod::Window(r.read()),
            tag => r.bad_tag(tag, CapPeriod::Session),
        }
    }
}
