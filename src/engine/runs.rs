//! Moves of one run: go to a step, sleep until a time, finish, and exit (reported as a
//! decision at the step it was on).

use super::report::decision;
use crate::decision::{Action, Decision, Reason};
use crate::state::{Outcome, Run, RunStatus, ShopperState};
use crate::time::Timestamp;

/// The run goes to `step` now (its timer cleared, its sequence number bumped).
pub(super) fn goto(run: &mut Run, step: &str, at: Timestamp) {
    run.status = RunStatus::Active { step: step.to_owned(), since: at, wake_at: None };
    run.seq = run.seq.saturating_add(1);
}

/// The run at `index` sleeps until `due`.
pub(super) fn set_wake(state: &mut ShopperState, index: usize, due: Timestamp) {
    if let Some(RunStatus::Active { wake_at, .. }) = state.runs.get_mut(index).map(|r| &mut r.status) {
        *wake_at = Some(due);
    }
}

/// Ends a run and reports its exit, at the step it was on.
pub(super) fn exit_run(
    run: &mut Run,
    at: Timestamp,
    outcome: Outcome,
    reason: Reason,
    message: String,
    out: &mut Vec<Decision>,
) {
    let step = active_step(run);
    finish(run, at, outcome);
    out.push(decision(at, &run.journey, step, Action::Exit, vec![reason], message));
}

/// Ends a run. A finished run is kept only for re-entry rules, merges and analytics,
/// so what only a running journey needs (entry properties, bucket) is dropped.
pub(super) fn finish(run: &mut Run, at: Timestamp, outcome: Outcome) {
    run.status = RunStatus::Done { at, outcome };
    run.seq = run.seq.saturating_add(1);
    run.entry.clear();
    run.bucket.clear();
}

/// The step an active run is on.
pub(super) fn active_step(run: &Run) -> Option<String> {
    match &run.status {
        RunStatus::Active { step, .. } => Some(step.clone()),
        RunStatus::Done { .. } => None,
    }
}
