//! Policy: the checks before every send or on-site trigger, in a fixed order — consent
//! and reachability → quiet hours → frequency caps (with the checkout-critical override
//! of soft caps) → mutual exclusion of incentives → cross-channel suppression → fallback
//! to the next channel. Each check leaves a reason code; nothing here mutates state.

use crate::decision::Reason;
use crate::journey::{Bundle, Cap, CapPeriod, Channel, Journey, Policy, Send};
use crate::state::{Outcome, RunStatus, ShopperState};
use crate::time::Timestamp;

/// The answer of [`may_send`] and [`recheck_send`] (and of the engine's methods of the
/// same names).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendCheck {
    /// Whether the message may go out.
    pub allowed: bool,
    /// `allowed`, or every reason it may not.
    pub reasons: Vec<Reason>,
}

impl SendCheck {
    /// Allowed when there is no reason against it.
    fn from_reasons(reasons: Vec<Reason>) -> SendCheck {
        let reasons = dedup(reasons);
        SendCheck {
            allowed: reasons.is_empty(),
            reasons: if reasons.is_empty() { vec![Reason::Allowed] } else { reasons },
        }
    }
}

/// A send asking to go out.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its journey.
    pub journey: &'a Journey,
    /// xxh3-32 of the journey id (as in the contact log).
    pub journey_hash: u32,
    /// The send step.
    pub send: &'a Send,
}

/// What the shopper's situation is at decision time.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    /// The bundle (policy, caps).
    pub bundle: &'a Bundle,
    /// The shopper.
    pub state: &'a ShopperState,
    /// Decision time.
    pub now: Timestamp,
    /// Whether the shopper is on the site now (last event within the session timeout).
    pub in_session: bool,
    /// Start of the current session (caps per session count from here).
    pub session: Timestamp,
}

/// The policy's answer for one candidate.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go out on `channel`.
    Send {
        /// The channel chosen (the preferred one or a fallback).
        channel: Channel,
        /// Why it is allowed, and what was overridden.
        reasons: Vec<Reason>,
        /// Index into `state.incentives` of an active grant this send replaces.
        replaces: Option<usize>,
    },
    /// Not now, not on any channel.
    Suppress {
        /// Why, most important first.
        reasons: Vec<Reason>,
    },
    /// Quiet hours: try again at `until`.
    Defer {
        /// When quiet hours end.
        until: Timestamp,
        /// Why.
        reasons: Vec<Reason>,
    },
}

/// Runs every check for a candidate over its preferred channel, then each fallback.
pub fn evaluate(candidate: &Candidate<'_>, situation: &Situation<'_>) -> Verdict {
    let mut failures: Vec<Reason> = Vec::new();
    let mut quiet_until: Option<Timestamp> = None;

    let exclusion = check_incentive(candidate, situation);
    let channels = std::iter::once(candidate.send.channel).chain(candidate.send.fallback.iter().copied());
    for (attempt, channel) in channels.enumerate() {
        match check_channel(candidate, situation, channel) {
            Err(ChannelBlock::Reason(reason)) => failures.push(reason),
            Err(ChannelBlock::Quiet(until)) => {
                failures.push(Reason::QuietHours);
                quiet_until = Some(quiet_until.map_or(until, |q| q.min(until)));
            }
            Ok(notes) => {
                let replaces = match exclusion {
                    Exclusion::Conflict => {
                        failures.push(Reason::IncentiveConflict);
                        return Verdict::Suppress { reasons: dedup(failures) };
                    }
                    Exclusion::Replaces(index) => Some(index),
                    Exclusion::Free => None,
                };
                let mut reasons = Vec::new();
                if attempt > 0 {
                    reasons.push(Reason::FallbackUsed);
                    reasons.append(&mut failures);
                }
                reasons.extend(notes);
                if replaces.is_some() {
                    reasons.push(Reason::IncentiveReplaced);
                }
                if reasons.is_empty() {
                    reasons.push(Reason::Allowed);
                }
                return Verdict::Send { channel, reasons: dedup(reasons), replaces };
            }
        }
    }
    match quiet_until {
        Some(until) => Verdict::Defer { until, reasons: dedup(failures) },
        None => Verdict::Suppress { reasons: dedup(failures) },
    }
}

/// "May another platform send on `channel` now?" (an existing email / SMS tool): consent
/// (an explicit opt-out, or no consent where consent is not assumed), frequency caps, a
/// recent on-site intervention and, when `journey` is given, a conversion of that
/// journey. `journey_hash` is the journey's [`crate::engine::journey_hash`].
pub fn may_send(situation: &Situation<'_>, channel: Channel, journey: Option<(&str, u32)>) -> SendCheck {
    let mut reasons = Vec::new();
    let policy = &situation.bundle.policy;
    let state = situation.state;
    if !consented(policy, state, channel) {
        reasons.push(Reason::NoConsent);
    }
    for cap in &policy.caps {
        if cap_applies(cap, channel) && count_for_cap(cap, situation) >= u64::from(cap.max) {
            reasons.push(cap_reason(cap));
        }
    }
    let since = situation.now.minus(policy.suppression_window);
    if shown_on_site(policy, state, channel, since, situation.now, journey.map(|(_, hash)| hash)) {
        reasons.push(Reason::RecentOnsite);
    }
    if let Some((id, _)) = journey {
        let converted = state
            .runs
            .iter()
            .any(|r| r.journey == id && matches!(r.status, RunStatus::Done { outcome: Outcome::Converted, .. }));
        if converted {
            reasons.push(Reason::Converted);
        }
    }
    SendCheck::from_reasons(reasons)
}

/// Just before delivering a send of `journey` decided at `decided_at`, the checks against
/// the freshest state: consent withdrawn, the journey converted since, or an on-site
/// intervention shown since. `journey_hash` is the journey's
/// [`crate::engine::journey_hash`].
pub fn recheck_send(
    policy: &Policy,
    state: &ShopperState,
    (journey, journey_hash): (&str, u32),
    channel: Channel,
    decided_at: Timestamp,
    now: Timestamp,
) -> SendCheck {
    let mut reasons = Vec::new();
    if !consented(policy, state, channel) {
        reasons.push(Reason::NoConsent);
    }
    let converted = state.runs.iter().any(|r| {
        r.journey == journey
            && matches!(r.status, RunStatus::Done { outcome: Outcome::Converted, at } if at >= decided_at)
    });
    if converted {
        reasons.push(Reason::ConversionCancelled);
    }
    if shown_on_site(policy, state, channel, decided_at, now, Some(journey_hash)) {
        reasons.push(Reason::RecentOnsite);
    }
    SendCheck::from_reasons(reasons)
}

/// Consent, the one rule: in-session channels (on-site, in-app) need none; the others
/// need the shopper's consent, or, where the shopper never said, the policy assuming it.
pub fn consented(policy: &Policy, state: &ShopperState, channel: Channel) -> bool {
    channel.is_in_session() || state.consent_for(channel).unwrap_or(policy.assume_consent.contains(channel))
}

/// Cross-channel suppression, the one rule: whether an on-site / in-app intervention was
/// shown in `(after, upto]` that blocks a send on `channel`. Only the channels the policy
/// suppresses are blocked; with `suppression_same_journey_only`, only an intervention of
/// the send's own journey counts (`journey` = None: any journey's).
pub fn shown_on_site(
    policy: &Policy,
    state: &ShopperState,
    channel: Channel,
    after: Timestamp,
    upto: Timestamp,
    journey: Option<u32>,
) -> bool {
    policy.suppresses.contains(channel)
        && state.contacts.iter().any(|c| {
            c.channel.is_in_session()
                && c.at > after
                && c.at <= upto
                && (!policy.suppression_same_journey_only || journey.is_none_or(|h| h == c.journey))
        })
}

enum ChannelBlock {
    Reason(Reason),
    Quiet(Timestamp),
}

/// Checks one channel; `Ok` carries notes such as a critical override.
fn check_channel(
    candidate: &Candidate<'_>,
    situation: &Situation<'_>,
    channel: Channel,
) -> Result<Vec<Reason>, ChannelBlock> {
    let mut notes = Vec::new();
    check_reachability(situation, channel).map_err(ChannelBlock::Reason)?;
    if let Some(until) = quiet_hours_end(candidate.journey, situation.now, channel) {
        return Err(ChannelBlock::Quiet(until));
    }
    for cap in &situation.bundle.policy.caps {
        if !cap_applies(cap, channel) {
            continue;
        }
        if count_for_cap(cap, situation) >= u64::from(cap.max) {
            let reason = cap_reason(cap);
            if cap.hard || !candidate.send.critical {
                return Err(ChannelBlock::Reason(reason));
            }
            notes.push(Reason::CriticalOverride);
        }
    }
    let policy = &situation.bundle.policy;
    let since = situation.now.minus(policy.suppression_window);
    if shown_on_site(policy, situation.state, channel, since, situation.now, Some(candidate.journey_hash)) {
        return Err(ChannelBlock::Reason(Reason::RecentOnsite));
    }
    Ok(notes)
}

/// Consent and an address for the channel; in-session channels need the shopper present.
fn check_reachability(situation: &Situation<'_>, channel: Channel) -> Result<(), Reason> {
    let state = situation.state;
    let policy = &situation.bundle.policy;
    match channel {
        Channel::Onsite | Channel::Inapp => {
            if situation.in_session {
                Ok(())
            } else {
                Err(Reason::NotInSession)
            }
        }
        Channel::Email | Channel::Sms | Channel::Push | Channel::Ads => {
            if !consented(policy, state, channel) {
                return Err(Reason::NoConsent);
            }
            let address = match channel {
                Channel::Email => Some("email"),
                Channel::Sms => Some("phone"),
                Channel::Push => Some("push_token"),
                _ => None,
            };
            match address {
                Some(key) if state.trait_value(key).is_none() => Err(Reason::Unreachable),
                _ => Ok(()),
            }
        }
    }
}

/// When `channel` is in the journey's quiet hours at `now`, the instant they end.
pub fn quiet_hours_end(journey: &Journey, now: Timestamp, channel: Channel) -> Option<Timestamp> {
    let quiet = journey.schedule.quiet_hours?;
    if !quiet.channels.contains(channel) {
        return None;
    }
    let zone = &journey.schedule.zone;
    let minute = zone.local_minute_of_day(now);
    let inside = if quiet.start_minute <= quiet.end_minute {
        minute >= quiet.start_minute && minute < quiet.end_minute
    } else {
        minute >= quiet.start_minute || minute < quiet.end_minute
    };
    inside.then(|| zone.next_local_time(now, quiet.end_minute))
}

/// Retargeting-audience updates are not messages: they count toward no cap.
fn cap_applies(cap: &Cap, channel: Channel) -> bool {
    match cap.channel {
        Some(c) => c == channel,
        None => channel != Channel::Ads,
    }
}

fn count_for_cap(cap: &Cap, situation: &Situation<'_>) -> u64 {
    situation
        .state
        .contacts
        .iter()
        .filter(|c| cap_applies(cap, c.channel))
        .filter(|c| match cap.per {
            CapPeriod::Session => c.session == situation.session && situation.in_session,
            CapPeriod::Window(w) => c.at > situation.now.minus(w) && c.at <= situation.now,
        })
        .count() as u64
}

/// The reason a full cap gives.
fn cap_reason(cap: &Cap) -> Reason {
    match cap.per {
        CapPeriod::Session => Reason::CapSession,
        CapPeriod::Window(_) => Reason::CapWindow,
    }
}

enum Exclusion {
    Free,
    Conflict,
    Replaces(usize),
}

/// One active incentive per exclusion group: the same offer again is fine, a strictly
/// higher priority replaces the active one, anything else (equal priority included,
/// critical or not) conflicts.
fn check_incentive(candidate: &Candidate<'_>, situation: &Situation<'_>) -> Exclusion {
    let Some(incentive) = &candidate.send.incentive else {
        return Exclusion::Free;
    };
    let active = situation
        .state
        .incentives
        .iter()
        .enumerate()
        .filter(|(_, g)| g.group == incentive.group && g.is_active(situation.now))
        .max_by(|(_, a), (_, b)| a.priority.cmp(&b.priority).then(b.granted_at.cmp(&a.granted_at)));
    match active {
        None => Exclusion::Free,
        Some((_, grant)) if grant.id == incentive.id && grant.journey == candidate.journey.id => Exclusion::Free,
        Some((index, grant)) if candidate.send.priority > grant.priority => Exclusion::Replaces(index),
        Some(_) => Exclusion::Conflict,
    }
}

fn dedup(mut reasons: Vec<Reason>) -> Vec<Reason> {
    let mut seen = Vec::with_capacity(reasons.len());
    reasons.retain(|r| {
        if seen.contains(r) {
            false
        } else {
            seen.push(*r);
            true
        }
    });
    reasons
}
