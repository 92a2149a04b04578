//! Runs already going: timers that fall due, duplicates from merged copies, and what an
//! event means to a running journey (conversion, exit rules, an event wait performed).

use super::report::{concat, decision};
use super::runs::{active_step, exit_run, goto};
use super::Engine;
use crate::decision::{Action, Decision, Reason};
use crate::event::Event;
use crate::journey::{StepKind, WaitTrigger, HOLDOUT_VARIANT};
use crate::state::{Outcome, Run, RunStatus, ShopperState};
use crate::time::Timestamp;

/// Timer firings handled in one call (a shopper's backlog of due timers).
const TIMER_BUDGET: usize = 4096;

impl Engine {
    /// Fires timers due at or before `now`, each at its own due time, oldest first (at
    /// most [`TIMER_BUDGET`] a call). A timer that does not move its run is dropped.
    pub(super) fn run_due(&self, state: &mut ShopperState, now: Timestamp, out: &mut Vec<Decision>) {
        for _ in 0..TIMER_BUDGET {
            let timer = |r: &Run| if self.is_delegated(r) { None } else { r.wake_at() };
            let Some(due) = state.runs.iter().filter_map(timer).filter(|t| *t <= now).min() else {
                return;
            };
            let ready: Vec<usize> =
                state.runs.iter().enumerate().filter(|(_, r)| timer(r) == Some(due)).map(|(i, _)| i).collect();
            let before: Vec<(u32, bool)> =
                ready.iter().filter_map(|i| state.runs.get(*i)).map(|r| (r.seq, r.is_active())).collect();
            self.advance_runs(state, ready.clone(), due, out);
            let moved = ready.iter().zip(before).any(|(i, (seq, active))| {
                state.runs.get(*i).is_some_and(|r| r.seq != seq || r.is_active() != active || r.wake_at() != Some(due))
            });
            if !moved {
                // A timer that does not move its run would spin forever: drop it.
                for i in ready {
                    if let Some(RunStatus::Active { wake_at, .. }) = state.runs.get_mut(i).map(|r| &mut r.status) {
                        *wake_at = None;
                    }
                }
            }
        }
    }

    /// Two copies merged may both hold an active run of one journey: the earlier entry
    /// keeps going, the later one ends as superseded.
    pub(super) fn resolve_duplicates(&self, state: &mut ShopperState, now: Timestamp, out: &mut Vec<Decision>) {
        let mut duplicates = Vec::new();
        // INVARIANT: runs are sorted by (journey, entered_at), so the first active run
        // of a journey met here is its earliest. (The earlier runs are searched rather
        // than collected: no allocation on every call for the one or two active runs.)
        for (index, run) in state.runs.iter().enumerate() {
            let earlier = state.runs.get(..index).unwrap_or_default();
            if run.is_active() && earlier.iter().any(|r| r.is_active() && r.journey == run.journey) {
                duplicates.push(index);
            }
        }
        for index in duplicates {
            if let Some(run) = state.runs.get_mut(index) {
                let message = "a duplicate run from another copy of the state gave way to the earlier one".into();
                exit_run(run, now, Outcome::Superseded, Reason::Superseded, message, out);
            }
        }
    }

    /// Conversion, exit rules and event waits of running journeys.
    pub(super) fn match_running(
        &self,
        state: &mut ShopperState,
        event: &Event,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        for index in 0..state.runs.len() {
            let Some(run) = state.runs.get(index) else { continue };
            if !run.is_active() {
                continue;
            }
            let Some(journey) = self.journey(&run.journey) else { continue };
            let converted = journey.conversion.as_ref().is_some_and(|c| {
                let in_window = c.within.is_none_or(|w| event.time.since(run.entered_at) <= w);
                in_window && self.event_matches(&c.matcher, event, Some(&run.entry), state, now)
            });
            let exit_rule = !converted
                && journey.exit_when.iter().any(|m| self.event_matches(m, event, Some(&run.entry), state, now));
            let performed = match self.current_step(journey, run) {
                Some((_, StepKind::WaitFor { trigger: WaitTrigger::Event(m), on_performed, .. }))
                    if !converted && !exit_rule =>
                {
                    self.event_matches(m, event, Some(&run.entry), state, now).then_some(*on_performed)
                }
                _ => None,
            };
            let Some(run) = state.runs.get_mut(index) else { continue };
            if converted {
                let step = active_step(run);
                // A held-out run has nothing pending: its timer only closes its window.
                let held = run.variant.as_deref() == Some(HOLDOUT_VARIANT);
                if run.wake_at().is_some() && !held {
                    out.push(decision(
                        now,
                        &run.journey,
                        step.clone(),
                        Action::Cancel,
                        vec![Reason::ConversionCancelled],
                        concat(&["pending follow-ups of ", &run.journey, " cancelled: the shopper converted"]),
                    ));
                }
                let mut reasons = vec![Reason::Converted];
                let mut message = concat(&[&run.journey, " converted on ", &event.name]);
                if held {
                    reasons.push(Reason::Holdout);
                    message.push_str(" (held out: counted for the holdout)");
                }
                let mut convert = decision(now, &run.journey, step, Action::Convert, reasons, message);
                convert.variant = run.variant.clone();
                out.push(convert);
                let message = concat(&["left ", &run.journey, " as converted"]);
                exit_run(run, now, Outcome::Converted, Reason::Converted, message, out);
            } else if exit_rule {
                let message = concat(&["left ", &run.journey, ": exit rule matched ", &event.name]);
                exit_run(run, now, Outcome::ExitRule, Reason::ExitRule, message, out);
            } else if let Some(next) = performed {
                if let Some(step) = journey.steps.get(next) {
                    goto(run, &step.id, now);
                }
            }
        }
    }
}
