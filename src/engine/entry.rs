//! Entering journeys: by an entry event and its filter, or by an audience condition, each
//! subject to the journey's schedule, audience and re-entry rules (`once`; `multiple`
//! with a lock and a cap within a window). What a new run remembers of its entry event
//! is chosen here too.

use super::report::{concat, decision};
use super::{journey_hash, Engine};
use crate::decision::{Action, Decision, Reason};
use crate::event::Event;
use crate::journey::{Entry, Journey, Reentry};
use crate::state::{
    value_bytes, Run, RunStatus, ShopperState, MAX_REMEMBERED, MAX_REMEMBERED_BYTES, MAX_REMEMBERED_TOTAL_BYTES,
};
use crate::time::Timestamp;
use crate::value::{Map, Value};

impl Engine {
    /// Enters the journeys whose entry event and filter the event matches.
    pub(super) fn enter_on_event(
        &self,
        state: &mut ShopperState,
        event: &Event,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        let hash = journey_hash(&event.name);
        for (journey, entry_hash) in self.bundle.journeys.iter().zip(&self.entry_hashes) {
            if *entry_hash != hash {
                continue;
            }
            let Entry::Event(matcher) = &journey.entry else { continue };
            if self.event_matches(matcher, event, None, state, now) {
                self.try_enter(state, journey, Some(event), now, Reason::EntryMatched, out);
            }
        }
    }

    /// Enters audience journeys whose condition holds now and that allow an entry.
    pub(super) fn enter_on_audience(
        &self,
        state: &mut ShopperState,
        event: Option<&Event>,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        for journey in &self.bundle.journeys {
            let Entry::Audience(condition) = &journey.entry else { continue };
            // The condition first: both are pure, and it is usually a trait or two, while
            // the entry check reads every run.
            if !self.holds(condition, event, None, state, now) {
                continue;
            }
            let check = entry_check(state, journey, now);
            if check.active || check.block.is_some() {
                continue;
            }
            self.try_enter(state, journey, event, now, Reason::AudienceMatched, out);
        }
    }

    /// An entry skip as a `suppress` decision, when skips are traced (the message is
    /// built only then).
    fn report_skip(
        &self,
        out: &mut Vec<Decision>,
        now: Timestamp,
        journey: &Journey,
        reason: Reason,
        message: impl FnOnce() -> String,
    ) {
        if self.options.trace_skips {
            out.push(decision(now, &journey.id, None, Action::Suppress, vec![reason], message()));
        }
    }

    /// Enters `journey` unless the shopper is in it already, it is outside its
    /// schedule, its audience does not hold, or a re-entry rule forbids it.
    fn try_enter(
        &self,
        state: &mut ShopperState,
        journey: &Journey,
        event: Option<&Event>,
        now: Timestamp,
        why: Reason,
        out: &mut Vec<Decision>,
    ) {
        let check = entry_check(state, journey, now);
        if check.active {
            return;
        }
        let schedule = &journey.schedule;
        if schedule.start.is_some_and(|s| now < s) || schedule.end.is_some_and(|e| now >= e) {
            self.report_skip(out, now, journey, Reason::OutsideSchedule, || {
                concat(&[&journey.id, " is not running at this time"])
            });
            return;
        }
        if let Some(audience) = &journey.audience {
            if !self.holds(audience, event, None, state, now) {
                return;
            }
        }
        if let Some(reason) = check.block {
            self.report_skip(out, now, journey, reason, || {
                concat(&["no re-entry into ", &journey.id, ": ", reason.code()])
            });
            return;
        }
        let Some(start) = journey.steps.get(journey.start) else { return };
        let entry = remember(journey, event);
        let run = Run {
            journey: journey.id.clone(),
            entered_at: now,
            seq: 0,
            status: RunStatus::Active { step: start.id.clone(), since: now, wake_at: None },
            entry,
            bucket: state.primary_id().to_owned(),
            variant: None,
        };
        state.runs.push(run);
        let trigger = event.map(|e| e.name.as_str()).unwrap_or("audience");
        out.push(decision(
            now,
            &journey.id,
            Some(start.id.clone()),
            Action::Enter,
            vec![why],
            concat(&["entered ", &journey.id, " on ", trigger]),
        ));
    }
}

/// What a new run keeps of its entry event: the journey's `remember` keys, within the
/// state's bounds.
fn remember(journey: &Journey, event: Option<&Event>) -> Map {
    let mut kept = Map::new();
    let mut total = 0;
    let Some(event) = event else { return kept };
    for key in &journey.remember {
        let value = match key.as_str() {
            "item_id" | "item_category" => event.prop(key).cloned().or_else(|| {
                let item = event.items().next()?;
                if key == "item_id" {
                    Some(Value::from(item.id))
                } else {
                    item.category.map(Value::from)
                }
            }),
            "value" => event.value().map(Value::Number),
            _ => event.prop(key).cloned(),
        };
        // INVARIANT: what a run remembers fits the state's bounds (journey validation
        // keeps the key list within MAX_REMEMBERED names of MAX_NAME_BYTES).
        let Some(value) = value else { continue };
        let len = value_bytes(&value);
        if len <= MAX_REMEMBERED_BYTES && total + len <= MAX_REMEMBERED_TOTAL_BYTES && kept.len() < MAX_REMEMBERED {
            total += len;
            kept.insert(key.clone(), value);
        }
    }
    kept
}

/// What the runs of one journey say about entering it at `now`.
struct EntryCheck {
    /// The shopper is in the journey now.
    active: bool,
    /// The re-entry rule that forbids another entry, if any.
    block: Option<Reason>,
}

/// One pass over the shopper's runs of `journey` (this runs for every matching entry
/// event, so once rather than once per question): a run still going, and the re-entry
/// rules — `once` after any entry; `multiple`: a lock after each entry, then a cap of
/// entries within the window.
fn entry_check(state: &ShopperState, journey: &Journey, now: Timestamp) -> EntryCheck {
    let (mut active, mut entered, mut locked, mut recent) = (false, false, false, 0usize);
    let (lock, since) = match journey.reentry {
        Reentry::Once => (None, None),
        Reentry::Multiple { lock, cap, window } => {
            (Some(lock), cap.map(|_| window.map_or(Timestamp(i64::MIN), |w| now.minus(w))))
        }
    };
    for run in state.runs.iter().filter(|r| same_id(&r.journey, &journey.id)) {
        entered = true;
        active |= run.is_active();
        locked |= lock.is_some_and(|lock| now < run.entered_at.plus(lock));
        if since.is_some_and(|since| run.entered_at >= since) {
            recent += 1;
        }
    }
    let block = match journey.reentry {
        _ if !entered => None,
        Reentry::Once => Some(Reason::ReentryOnce),
        Reentry::Multiple { .. } if locked => Some(Reason::ReentryLocked),
        Reentry::Multiple { cap: Some(cap), .. } if recent >= cap as usize => Some(Reason::ReentryCapped),
        Reentry::Multiple { .. } => None,
    };
    EntryCheck { active, block }
}

/// `a == b` for journey ids, on the hot path of entry checks: ids that differ mostly differ
/// in length or first byte, compared here before the bytes (a call to `memcmp` in wasm).
fn same_id(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}
