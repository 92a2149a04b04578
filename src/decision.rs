//! `Decision`: what the engine did or declined to do for a shopper, for which journey,
//! step, channel, content and incentive — and why, as stable reason codes plus a short
//! sentence a marketer can read.

use serde::{Deserialize, Serialize};

use crate::journey::Channel;
use crate::time::Timestamp;

/// Items a decision names at most.
pub const MAX_DECISION_ITEMS: usize = 8;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The shopper entered a journey.
    Enter,
    /// A message goes out / an intervention is shown.
    Send,
    /// A send was not allowed (always reported), or an entry was skipped (schedule,
    /// re-entry rules: reported only with `EngineOptions::trace_skips`).
    Suppress,
    /// A send waits (quiet hours) and will be retried.
    Defer,
    /// The conversion goal was met.
    Convert,
    /// The shopper left a journey.
    Exit,
    /// Something pending was cancelled (follow-ups after conversion, a replaced incentive).
    Cancel,
}

impl Action {
    /// All actions, in declaration order (`ALL[a as usize] == a`).
    pub const ALL: [Action; 7] =
        [Action::Enter, Action::Send, Action::Suppress, Action::Defer, Action::Convert, Action::Exit, Action::Cancel];

    /// Name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Enter => "enter",
            Action::Send => "send",
            Action::Suppress => "suppress",
            Action::Defer => "defer",
            Action::Convert => "convert",
            Action::Exit => "exit",
            Action::Cancel => "cancel",
        }
    }
}

/// Why. Codes are stable: analytics, tests and the JS API key on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The entry event and filter matched.
    EntryMatched,
    /// The audience condition holds.
    AudienceMatched,
    /// Re-entry `once`: already entered before.
    ReentryOnce,
    /// Re-entry lock period still running.
    ReentryLocked,
    /// Re-entry cap within the window reached.
    ReentryCapped,
    /// Outside the journey's start/end.
    OutsideSchedule,
    /// All policy checks passed.
    Allowed,
    /// No consent for the channel.
    NoConsent,
    /// No address / token for the channel.
    Unreachable,
    /// An on-site / in-app send while the shopper is not in a session.
    NotInSession,
    /// Quiet hours in the journey's time zone.
    QuietHours,
    /// A per-session frequency cap is reached.
    CapSession,
    /// A rolling-window frequency cap is reached.
    CapWindow,
    /// Another incentive of the same exclusion group is active and wins.
    IncentiveConflict,
    /// This send's incentive replaced a lower-priority one in its group.
    IncentiveReplaced,
    /// A recent on-site intervention suppresses this channel.
    RecentOnsite,
    /// A fallback channel was used.
    FallbackUsed,
    /// A checkout-critical send went past a soft cap or a lower priority.
    CriticalOverride,
    /// Lost to higher-priority sends competing for the same slot.
    Outranked,
    /// The conversion goal was met.
    Converted,
    /// Follow-ups cancelled because the journey converted.
    ConversionCancelled,
    /// An `exit_when` event matched.
    ExitRule,
    /// An exit step was reached.
    ExitReached,
    /// A wait_for saw its event or condition.
    Performed,
    /// A wait_for timed out.
    TimedOut,
    /// Held out of a split.
    Holdout,
    /// A duplicate run from a merge gave way.
    Superseded,
    /// The journey or step is gone from the bundle.
    Removed,
    /// The step budget of one call ran out (a cycle in the bundle).
    StepBudget,
    /// An email / SMS / push / ads send left to the backend, which decides and delivers
    /// it with the freshest state (engines with `delegate_offsite`).
    Delegated,
    /// The send was ranked by the value the backend learned from sends and conversions
    /// it counted, not by the journey's written `expected_value`.
    LearnedValue,
}

impl Reason {
    /// All reasons, in declaration order (`ALL[r as usize] == r`).
    pub const ALL: [Reason; 31] = [
        Reason::EntryMatched,
        Reason::AudienceMatched,
        Reason::ReentryOnce,
        Reason::ReentryLocked,
        Reason::ReentryCapped,
        Reason::OutsideSchedule,
        Reason::Allowed,
        Reason::NoConsent,
        Reason::Unreachable,
        Reason::NotInSession,
        Reason::QuietHours,
        Reason::CapSession,
        Reason::CapWindow,
        Reason::IncentiveConflict,
        Reason::IncentiveReplaced,
        Reason::RecentOnsite,
        Reason::FallbackUsed,
        Reason::CriticalOverride,
        Reason::Outranked,
        Reason::Converted,
        Reason::ConversionCancelled,
        Reason::ExitRule,
        Reason::ExitReached,
        Reason::Performed,
        Reason::TimedOut,
        Reason::Holdout,
        Reason::Superseded,
        Reason::Removed,
        Reason::StepBudget,
        Reason::Delegated,
        Reason::LearnedValue,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::EntryMatched => "entry_matched",
            Reason::AudienceMatched => "audience_matched",
            Reason::ReentryOnce => "reentry_once",
            Reason::ReentryLocked => "reentry_locked",
            Reason::ReentryCapped => "reentry_capped",
            Reason::OutsideSchedule => "outside_schedule",
            Reason::Allowed => "allowed",
            Reason::NoConsent => "no_consent",
            Reason::Unreachable => "unreachable",
            Reason::NotInSession => "not_in_session",
            Reason::QuietHours => "quiet_hours",
            Reason::CapSession => "cap_session",
            Reason::CapWindow => "cap_window",
            Reason::IncentiveConflict => "incentive_conflict",
            Reason::IncentiveReplaced => "incentive_replaced",
            Reason::RecentOnsite => "recent_onsite",
            Reason::FallbackUsed => "fallback_used",
            Reason::CriticalOverride => "critical_override",
            Reason::Outranked => "outranked",
            Reason::Converted => "converted",
            Reason::ConversionCancelled => "conversion_cancelled",
            Reason::ExitRule => "exit_rule",
            Reason::ExitReached => "exit_reached",
            Reason::Performed => "performed",
            Reason::TimedOut => "timed_out",
            Reason::Holdout => "holdout",
            Reason::Superseded => "superseded",
            Reason::Removed => "removed",
            Reason::StepBudget => "step_budget",
            Reason::Delegated => "delegated",
            Reason::LearnedValue => "learned_value",
        }
    }
}

/// One decision with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When it was taken (the event time, or the timer's due time).
    pub time: Timestamp,
    /// Journey id.
    pub journey: String,
    /// Step id, when a step was involved.
    pub step: Option<String>,
    /// What happened.
    pub action: Action,
    /// Channel, for sends and suppressions of sends.
    pub channel: Option<Channel>,
    /// Content key, for sends.
    pub content: Option<String>,
    /// Incentive id, for sends with an incentive.
    pub incentive: Option<String>,
    /// Split variant the run is in, if any.
    pub variant: Option<String>,
    /// For sends (and sends suppressed or deferred): the items the message is about —
    /// the item of the event that started the journey (its remembered `item_id`), then
    /// the items in the cart now, newest first; at most [`MAX_DECISION_ITEMS`].
    pub items: Vec<String>,
    /// For sends: what the run remembered of its entry event (item, prices, search
    /// term), so whoever delivers the message can show them after the run has finished.
    /// Not carried to JS (the page has the event at hand) nor printed by the CLI.
    pub entry: crate::value::Map,
    /// Reason codes, most important first.
    pub reasons: Vec<Reason>,
    /// One sentence for people.
    pub message: String,
}

impl Decision {
    /// The main reason code.
    pub fn reason(&self) -> &'static str {
        self.reasons.first().map(|r| r.code()).unwrap_or("none")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_follow_declaration_order() {
        // The wasm bindings send actions and reasons as these indices.
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i, "{}", a.as_str());
        }
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{}", r.code());
        }
        // Every reason has a distinct code, so a missing one would show as a duplicate.
        let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
        assert_eq!(Reason::ALL.len(), Reason::LearnedValue as usize + 1, "a reason added after LearnedValue?");
    }
}

/// A decision with the shopper it concerns, flat for JSON: what the CLI prints (one
/// NDJSON line each) and what `POST /v1/events` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// RFC 3339 time of the decision.
    pub time: String,
    /// Shopper id.
    pub shopper: String,
    /// Journey id.
    pub journey: String,
    /// Step id.
    pub step: Option<String>,
    /// enter | send | suppress | defer | convert | exit | cancel.
    pub action: &'static str,
    /// Channel for sends and suppressed sends.
    pub channel: Option<&'static str>,
    /// Content key.
    pub content: Option<String>,
    /// Incentive id.
    pub incentive: Option<String>,
    /// Split variant.
    pub variant: Option<String>,
    /// Items the send is about (empty for other decisions).
    pub items: Vec<String>,
    /// Main reason code.
    pub reason: &'static str,
    /// All reason codes.
    pub reasons: Vec<&'static str>,
    /// Sentence.
    pub message: String,
}

impl DecisionRecord {
    /// The flat record of `d` for `shopper`.
    pub fn new(shopper: &str, d: &Decision) -> DecisionRecord {
        DecisionRecord {
            time: d.time.to_rfc3339(),
            shopper: shopper.to_owned(),
            journey: d.journey.clone(),
            step: d.step.clone(),
            action: d.action.as_str(),
            channel: d.channel.map(Channel::as_str),
            content: d.content.clone(),
            incentive: d.incentive.clone(),
            variant: d.variant.clone(),
            items: d.items.clone(),
            reason: d.reason(),
            reasons: d.reasons.iter().map(|r| r.code()).collect(),
            message: d.message.clone(),
        }
    }
}
