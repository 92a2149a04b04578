//! Walking runs: each run moves through the steps that take no time — branch, split,
//! a delay or wait already due, exit — until it waits, reaches a send or ends. Sends
//! reached are collected and arbitrated together, round by round.

use super::report::concat;
use super::runs::{exit_run, goto, set_wake};
use super::split::pick_variant;
use super::{Engine, NO_ENTRY};
use crate::decision::{Action, Decision, Reason};
use crate::event::Event;
use crate::journey::{Journey, Send, Step, StepKind, WaitTrigger, HOLDOUT_VARIANT};
use crate::state::{Outcome, RunStatus, ShopperState};
use crate::time::{Duration, Timestamp};

/// Step transitions one run may take in one call before it is stopped (cycle guard).
const STEP_BUDGET: u32 = 256;

/// A send waiting for arbitration in the current round.
pub(super) struct Pending {
    /// Index of the run in `state.runs`.
    pub run: usize,
    /// Index of its journey in the bundle.
    pub journey: usize,
    /// Index of the send step in the journey.
    pub step: usize,
}

/// Which runs a round of walking starts from.
enum Runs {
    /// Every run of the shopper.
    All,
    /// These runs (indices into `state.runs`).
    These(Vec<usize>),
}

/// What one call's walking carries from run to run and round to round.
struct Walk<'e> {
    /// The event being ingested (None on a tick): branch and wait conditions see it.
    event: Option<&'e Event>,
    /// The time of the walk.
    at: Timestamp,
    /// Steps taken per run index in this call.
    budget: Vec<u32>,
    /// Sends reached in this round.
    pending: Vec<Pending>,
}

/// Where a run stands: its journey and step, resolved.
struct Position<'j> {
    index: usize,
    journey_index: usize,
    journey: &'j Journey,
    step_index: usize,
    step: &'j Step,
    since: Timestamp,
    wake_at: Option<Timestamp>,
}

/// A split's variants (name, basis points, next step), its learned basis points when
/// they apply, and its holdout in basis points.
type SplitArms<'s> = (&'s [(String, u32, usize)], Option<&'s [u32]>, u32);

/// What a step says next.
enum Flow {
    /// Go to the step at this index and keep walking.
    To(usize),
    /// Look at the run again (its step may have changed).
    Again,
    /// The run waits, sends or ended: stop walking it.
    Stop,
}

impl Engine {
    /// Moves every run as far as it goes at `at`.
    pub(super) fn advance_all(
        &self,
        state: &mut ShopperState,
        event: Option<&Event>,
        at: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        self.advance(state, Runs::All, event, at, out);
    }

    /// Moves the runs at `ready` (indices into `state.runs`) as far as they go at `at`.
    pub(super) fn advance_runs(
        &self,
        state: &mut ShopperState,
        ready: Vec<usize>,
        at: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        self.advance(state, Runs::These(ready), None, at, out);
    }

    /// Walks `runs`, then arbitrates the sends they reached together (so the best mix
    /// wins rather than the first), then walks the runs that moved past a send, until
    /// no run moves.
    fn advance(
        &self,
        state: &mut ShopperState,
        mut runs: Runs,
        event: Option<&Event>,
        at: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        // INVARIANT: runs are never added or removed while runs advance (entries happen
        // before, `normalize` after), so a run's index in `state.runs` names the same run
        // for the whole call: `Walk::budget`, `Pending::run` and the moved list rely on it.
        let mut walk = Walk { event, at, budget: Vec::new(), pending: Vec::new() };
        loop {
            match runs {
                Runs::All => {
                    for index in 0..state.runs.len() {
                        self.walk(state, index, &mut walk, out);
                    }
                }
                Runs::These(list) => {
                    for index in list {
                        self.walk(state, index, &mut walk, out);
                    }
                }
            }
            if walk.pending.is_empty() {
                return;
            }
            let moved = self.arbitrate(state, std::mem::take(&mut walk.pending), at, out);
            if moved.is_empty() {
                return;
            }
            runs = Runs::These(moved);
        }
    }

    /// Walks one run through steps that take no time until it waits, sends or ends.
    fn walk(&self, state: &mut ShopperState, index: usize, walk: &mut Walk<'_>, out: &mut Vec<Decision>) {
        loop {
            let Some(at) = self.position(state, index, walk.at, out) else { return };
            if !spend_step(state, &at, walk, out) {
                return;
            }
            let flow = match &at.step.kind {
                StepKind::Exit => self.step_exit(state, &at, walk.at, out),
                StepKind::Branch { cases, default } => self.step_branch(state, &at, cases, *default, walk),
                StepKind::Split { variants, holdout_bp, adaptive, learned_bp } => {
                    let weights =
                        if *adaptive && learned_bp.len() == variants.len() { Some(&learned_bp[..]) } else { None };
                    self.step_split(state, &at, (variants, weights, *holdout_bp), walk.at, out)
                }
                StepKind::Delay { duration, until_minute, next } => {
                    let after = at.since.plus(*duration);
                    let due = at.wake_at.unwrap_or_else(|| match until_minute {
                        Some(m) => at.journey.schedule.zone.next_local_time(after, *m),
                        None => after,
                    });
                    wait_until(state, &at, due, walk.at, *next)
                }
                StepKind::WaitFor { trigger, timeout, on_performed, on_timed_out } => {
                    self.step_wait(state, &at, trigger, (*timeout, *on_performed, *on_timed_out), walk)
                }
                StepKind::Send(send) => self.step_send(state, &at, send, walk, out),
            };
            match flow {
                Flow::To(next) => {
                    let Some(next_step) = at.journey.steps.get(next) else { return };
                    if let Some(run) = state.runs.get_mut(index) {
                        goto(run, &next_step.id, walk.at);
                    }
                }
                Flow::Again => {}
                Flow::Stop => return,
            }
        }
    }

    /// The run's journey and step; a run whose journey or step is no longer published
    /// is ended (`removed`), and a finished run has none.
    fn position(
        &self,
        state: &mut ShopperState,
        index: usize,
        at: Timestamp,
        out: &mut Vec<Decision>,
    ) -> Option<Position<'_>> {
        let run = state.runs.get(index)?;
        let RunStatus::Active { step: step_id, since, wake_at } = &run.status else { return None };
        let (since, wake_at) = (*since, *wake_at);
        let Some(journey_index) = self.journey_index(&run.journey) else {
            remove_run(state, index, at, out);
            return None;
        };
        let journey = self.bundle.journeys.get(journey_index)?;
        let Some(step_index) = journey.step_index(step_id) else {
            remove_run(state, index, at, out);
            return None;
        };
        let step = journey.steps.get(step_index)?;
        Some(Position { index, journey_index, journey, step_index, step, since, wake_at })
    }

    fn step_exit(&self, state: &mut ShopperState, at: &Position<'_>, now: Timestamp, out: &mut Vec<Decision>) -> Flow {
        if let Some(run) = state.runs.get_mut(at.index) {
            let message = concat(&[&at.journey.id, " finished at ", &at.step.id]);
            exit_run(run, now, Outcome::Completed, Reason::ExitReached, message, out);
        }
        Flow::Stop
    }

    /// The first case whose condition holds, or the default.
    fn step_branch(
        &self,
        state: &ShopperState,
        at: &Position<'_>,
        cases: &[(crate::condition::Condition, usize)],
        default: usize,
        walk: &Walk<'_>,
    ) -> Flow {
        let entry = state.runs.get(at.index).map_or(&NO_ENTRY, |r| &r.entry);
        let next = cases
            .iter()
            .find(|(cond, _)| self.holds(cond, walk.event, Some(entry), state, walk.at))
            .map_or(default, |(_, n)| *n);
        Flow::To(next)
    }

    /// A variant by the shopper's stable bucket (by the learned weights of an adaptive
    /// split, when published), or held out. A held-out run of a journey with a
    /// conversion goal stays at the split, sending nothing, until its conversion window
    /// closes (then it exits as `holdout`) or it converts (`running`), so the holdout's
    /// conversions are counted like the variants'; without a goal it exits at once.
    fn step_split(
        &self,
        state: &mut ShopperState,
        at: &Position<'_>,
        (variants, learned, holdout_bp): SplitArms<'_>,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) -> Flow {
        let Some(run) = state.runs.get_mut(at.index) else { return Flow::Stop };
        if run.variant.as_deref() == Some(HOLDOUT_VARIANT) {
            // INVARIANT: only a held-out run is at a split with the holdout variant (no
            // split variant may take the name), and it sleeps until its window closes.
            if at.wake_at.is_some_and(|due| due > now) {
                return Flow::Stop;
            }
            let message = concat(&["held out of ", &at.journey.id, ": its conversion window closed"]);
            exit_run(run, now, Outcome::Holdout, Reason::Holdout, message, out);
            return Flow::Stop;
        }
        let picked = pick_variant(self.bundle.policy.seed, &at.journey.id, &run.bucket, variants, learned, holdout_bp);
        if let Some((name, next)) = picked {
            run.variant = Some(name.to_owned());
            return Flow::To(next);
        }
        // One millisecond past the window's end: a conversion at its last instant counts,
        // as it does for the variants.
        let until = at.journey.conversion_window().map(|w| run.entered_at.plus(w).plus(Duration(1)));
        match until {
            Some(until) if until > now => {
                run.variant = Some(HOLDOUT_VARIANT.to_owned());
                set_wake(state, at.index, until);
                let message = concat(&[
                    "held out of ",
                    &at.journey.id,
                    " at split ",
                    &at.step.id,
                    ": no sends; a conversion until the window closes counts for the holdout",
                ]);
                let mut d = super::report::decision(
                    now,
                    &at.journey.id,
                    Some(at.step.id.clone()),
                    Action::Suppress,
                    vec![Reason::Holdout],
                    message,
                );
                d.variant = Some(HOLDOUT_VARIANT.to_owned());
                out.push(d);
            }
            _ => {
                let message = concat(&["held out of ", &at.journey.id, " at split ", &at.step.id]);
                exit_run(run, now, Outcome::Holdout, Reason::Holdout, message, out);
            }
        }
        Flow::Stop
    }

    /// A state condition that holds takes the performed branch at once; otherwise the
    /// run waits for its timeout (events are matched in `match_running`).
    fn step_wait(
        &self,
        state: &mut ShopperState,
        at: &Position<'_>,
        trigger: &WaitTrigger,
        (timeout, on_performed, on_timed_out): (crate::time::Duration, usize, usize),
        walk: &Walk<'_>,
    ) -> Flow {
        let due = at.wake_at.unwrap_or_else(|| at.since.plus(timeout));
        if let WaitTrigger::State(cond) = trigger {
            let entry = state.runs.get(at.index).map_or(&NO_ENTRY, |r| &r.entry);
            if self.holds(cond, walk.event, Some(entry), state, walk.at) {
                if let (Some(step), Some(run)) = (at.journey.steps.get(on_performed), state.runs.get_mut(at.index)) {
                    goto(run, &step.id, walk.at);
                }
                return Flow::Again;
            }
        }
        wait_until(state, at, due, walk.at, on_timed_out)
    }

    /// A send joins this round's arbitration; with `delegate_offsite`, an off-site send
    /// parks, due now, for the backend (reported once, as `defer` / `delegated`).
    fn step_send(
        &self,
        state: &mut ShopperState,
        at: &Position<'_>,
        send: &Send,
        walk: &mut Walk<'_>,
        out: &mut Vec<Decision>,
    ) -> Flow {
        if at.wake_at.is_some_and(|w| w > walk.at) {
            return Flow::Stop;
        }
        if self.options.delegate_offsite && !send.channel.is_in_session() {
            if at.wake_at.is_none() {
                set_wake(state, at.index, walk.at);
                let message = concat(&[&at.journey.id, " left ", send.channel.as_str(), " to the backend"]);
                let mut d = super::report::decision(
                    walk.at,
                    &at.journey.id,
                    Some(at.step.id.clone()),
                    Action::Defer,
                    vec![Reason::Delegated],
                    message,
                );
                d.channel = Some(send.channel);
                d.content = Some(send.content.clone());
                d.items = super::report::send_items(state.runs.get(at.index), state);
                out.push(d);
            }
            return Flow::Stop;
        }
        walk.pending.push(Pending { run: at.index, journey: at.journey_index, step: at.step_index });
        Flow::Stop
    }
}

/// Counts a step against the run's budget; over [`STEP_BUDGET`] the run is stopped
/// (`aborted`, `step_budget`) and false is returned.
fn spend_step(state: &mut ShopperState, at: &Position<'_>, walk: &mut Walk<'_>, out: &mut Vec<Decision>) -> bool {
    if walk.budget.len() <= at.index {
        walk.budget.resize(at.index + 1, 0);
    }
    let Some(spent) = walk.budget.get_mut(at.index) else { return false };
    *spent += 1;
    if *spent <= STEP_BUDGET {
        return true;
    }
    if let Some(run) = state.runs.get_mut(at.index) {
        let message = format!("{} stopped: more than {STEP_BUDGET} steps in one call", at.journey.id);
        exit_run(run, walk.at, Outcome::Aborted, Reason::StepBudget, message, out);
    }
    false
}

/// A timer step: not due yet, the run sleeps until `due`; due, it goes to `next`.
fn wait_until(state: &mut ShopperState, at: &Position<'_>, due: Timestamp, now: Timestamp, next: usize) -> Flow {
    if due > now {
        set_wake(state, at.index, due);
        return Flow::Stop;
    }
    Flow::To(next)
}

/// Ends a run whose journey or step is no longer published.
fn remove_run(state: &mut ShopperState, index: usize, at: Timestamp, out: &mut Vec<Decision>) {
    if let Some(run) = state.runs.get_mut(index) {
        let message = concat(&[&run.journey, " or its step is no longer published"]);
        exit_run(run, at, Outcome::Removed, Reason::Removed, message, out);
    }
}
