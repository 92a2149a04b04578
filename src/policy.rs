//! Policy: the checks before every send or on-site trigger, in a fixed order — consent
//! and reachability → quiet hours → frequency caps (with the checkout-critical override
//! of soft caps) → mutual exclusion of incentives → cross-channel suppression → fallback
//! to the next channel. Each check leaves a reason code; nothing here mutates state.

use crate::decision::Reason;
use crate::journey::{Bundle, Cap, CapPeriod, Channel, Journey, Send};
use crate::state::ShopperState;
use crate::time::Timestamp;

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

/// The checks that apply to a message another platform sends: consent (an explicit
/// opt-out, or no consent where consent is not assumed), frequency caps and a recent
/// on-site intervention. Empty = allowed.
pub fn external_check(situation: &Situation<'_>, channel: Channel, journey_hash: Option<u32>) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let policy = &situation.bundle.policy;
    if !channel.is_in_session() {
        let consented = situation.state.consent_for(channel).unwrap_or(policy.assume_consent.contains(channel));
        if !consented {
            reasons.push(Reason::NoConsent);
        }
    }
    for cap in &policy.caps {
        if cap_applies(cap, channel) && count_for_cap(cap, situation) >= u64::from(cap.max) {
            reasons.push(match cap.per {
                CapPeriod::Session => Reason::CapSession,
                CapPeriod::Window(_) => Reason::CapWindow,
            });
        }
    }
    if policy.suppresses.contains(channel) {
        let since = situation.now.minus(policy.suppression_window);
        let shown = situation.state.contacts.iter().any(|c| {
            c.channel.is_in_session()
                && c.at > since
                && c.at <= situation.now
                && (!policy.suppression_same_journey_only || journey_hash.is_none_or(|h| h == c.journey))
        });
        if shown {
            reasons.push(Reason::RecentOnsite);
        }
    }
    dedup(reasons)
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
            let reason = match cap.per {
                CapPeriod::Session => Reason::CapSession,
                CapPeriod::Window(_) => Reason::CapWindow,
            };
            if cap.hard || !candidate.send.critical {
                return Err(ChannelBlock::Reason(reason));
            }
            notes.push(Reason::CriticalOverride);
        }
    }
    if recently_shown_on_site(candidate, situation, channel) {
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
            let consented = state.consent_for(channel).unwrap_or(policy.assume_consent.contains(channel));
            if !consented {
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

/// An on-site / in-app intervention within the suppression window blocks the channels
/// the policy lists (email, SMS, push by default).
fn recently_shown_on_site(candidate: &Candidate<'_>, situation: &Situation<'_>, channel: Channel) -> bool {
    let policy = &situation.bundle.policy;
    if !policy.suppresses.contains(channel) {
        return false;
    }
    let since = situation.now.minus(policy.suppression_window);
    situation.state.contacts.iter().any(|c| {
        c.channel.is_in_session()
            && c.at > since
            && c.at <= situation.now
            && (!policy.suppression_same_journey_only || c.journey == candidate.journey_hash)
    })
}

enum Exclusion {
    Free,
    Conflict,
    Replaces(usize),
}

/// One active incentive per exclusion group: the same offer again is fine, a higher
/// priority (or a critical send over a non-critical grant of equal priority) replaces
/// the active one, anything else conflicts.
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
