//! Counting for the learned mix: one `mix_exposures` row per exposure the server saw,
//! keyed (shopper row, journey, step, time), with the end of its conversion window; a
//! conversion marks every still-open exposure of the same run.
//!
//! What is trusted: sends come only from the server's own engine (the scheduler's ticks
//! and `POST /v1/events`): a browser cannot claim a send. Split assignments and
//! conversions come from the runs in the states the server writes (so journeys the
//! browser runs are counted too); a holdout claim counts only when the split's hash,
//! recomputed here from an id the shopper's token speaks for, says held out; and a
//! conversion marks only exposures the server already counted for that shopper's run,
//! once each — a copy cannot add sends or convert another shopper's.

use sqlx::AnyConnection;

use crate::decision::{Action, Decision};
use crate::journey::{Bundle, Journey, StepKind, HOLDOUT_VARIANT};
use crate::server::storage::StorageResult;
use crate::state::{Outcome, Run, RunStatus, ShopperState};

/// `kind` of a send exposure.
pub const SEND: &str = "send";
/// `kind` of a split assignment (a variant, or the holdout).
pub const SPLIT: &str = "split";

/// One exposure to insert (idempotent by its key).
#[derive(Debug, Clone, PartialEq)]
struct Exposure {
    shopper: String,
    journey: String,
    step: String,
    at: i64,
    kind: &'static str,
    variant: String,
    channel: String,
    window_end: i64,
}

/// A run that converted at `at`, having entered at `entered_at`.
#[derive(Debug, Clone, PartialEq)]
struct Conversion {
    shopper: String,
    journey: String,
    entered_at: i64,
    at: i64,
}

/// What a batch or a scheduler round adds to `mix_exposures`.
#[derive(Debug, Default, Clone)]
pub struct MixTally {
    exposures: Vec<Exposure>,
    conversions: Vec<Conversion>,
}

impl MixTally {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.exposures.is_empty() && self.conversions.is_empty()
    }

    /// The sends the server's engine decided for shopper row `shopper` (whose state is
    /// `state` after them), in journeys with a conversion goal.
    pub fn sends(&mut self, shopper: &str, bundle: &Bundle, state: &ShopperState, decisions: &[Decision]) {
        for d in decisions.iter().filter(|d| d.action == Action::Send) {
            let (Some(journey), Some(step), Some(channel)) = (find(bundle, &d.journey), &d.step, d.channel) else {
                continue;
            };
            let Some(window) = journey.conversion_window() else { continue };
            // The run that sent: the latest entry of the journey at or before the send.
            let entered = state
                .runs
                .iter()
                .filter(|r| r.journey == d.journey && r.entered_at <= d.time)
                .map(|r| r.entered_at)
                .max()
                .unwrap_or(d.time);
            self.exposures.push(Exposure {
                shopper: shopper.to_owned(),
                journey: d.journey.clone(),
                step: step.clone(),
                at: d.time.0,
                kind: SEND,
                variant: d.variant.clone().unwrap_or_default(),
                channel: channel.as_str().to_owned(),
                window_end: entered.plus(window).0,
            });
        }
    }

    /// What a state write shows: runs newly assigned a split variant (or held out), and
    /// runs newly converted.
    pub fn runs(&mut self, shopper: &str, bundle: &Bundle, before: Option<&ShopperState>, after: &ShopperState) {
        let earlier = |r: &Run| {
            before.and_then(|b| b.runs.iter().find(|o| o.journey == r.journey && o.entered_at == r.entered_at))
        };
        for run in &after.runs {
            let Some(journey) = find(bundle, &run.journey) else { continue };
            let Some(window) = journey.conversion_window() else { continue };
            let old = earlier(run);
            if let Some(variant) = &run.variant {
                let assigned_before = old.is_some_and(|o| o.variant.is_some());
                if !assigned_before {
                    if let Some(step) = split_step(bundle, journey, run, variant, after) {
                        self.exposures.push(Exposure {
                            shopper: shopper.to_owned(),
                            journey: run.journey.clone(),
                            step,
                            at: run.entered_at.0,
                            kind: SPLIT,
                            variant: variant.clone(),
                            channel: String::new(),
                            window_end: run.entered_at.plus(window).0,
                        });
                    }
                }
            }
            if let RunStatus::Done { at, outcome: Outcome::Converted } = run.status {
                let converted_before = old.is_some_and(|o| matches!(o.status, RunStatus::Done { .. }));
                if !converted_before {
                    self.conversions.push(Conversion {
                        shopper: shopper.to_owned(),
                        journey: run.journey.clone(),
                        entered_at: run.entered_at.0,
                        at: at.0,
                    });
                }
            }
        }
    }

    /// Writes the exposures (a key already counted is left as it is), then marks the
    /// open exposures of each converted run, in the caller's transaction.
    pub async fn flush(&self, conn: &mut AnyConnection) -> StorageResult<()> {
        for e in &self.exposures {
            sqlx::query(
                "INSERT INTO mix_exposures (shopper, journey, step, at, kind, variant, channel, window_end) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (shopper, journey, step, at) DO NOTHING",
            )
            .bind(e.shopper.clone())
            .bind(e.journey.clone())
            .bind(e.step.clone())
            .bind(e.at)
            .bind(e.kind)
            .bind(e.variant.clone())
            .bind(e.channel.clone())
            .bind(e.window_end)
            .execute(&mut *conn)
            .await?;
        }
        for c in &self.conversions {
            sqlx::query(
                "UPDATE mix_exposures SET converted_at = $1 WHERE shopper = $2 AND journey = $3 AND at >= $4 \
                 AND at <= $1 AND window_end >= $1 AND converted_at IS NULL",
            )
            .bind(c.at)
            .bind(c.shopper.clone())
            .bind(c.journey.clone())
            .bind(c.entered_at)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

fn find<'b>(bundle: &'b Bundle, id: &str) -> Option<&'b Journey> {
    bundle.journeys.iter().find(|j| j.id == id)
}

/// The split step a run's variant came from: the split naming the variant, or, for the
/// holdout, the split the run is held at (else the first with a holdout) — and only when
/// the holdout hash, recomputed from one of the shopper's ids, agrees.
fn split_step(bundle: &Bundle, journey: &Journey, run: &Run, variant: &str, state: &ShopperState) -> Option<String> {
    let splits = journey.steps.iter().filter_map(|s| match &s.kind {
        StepKind::Split { variants, holdout_bp, .. } => Some((s, variants, *holdout_bp)),
        _ => None,
    });
    if variant != HOLDOUT_VARIANT {
        return splits
            .clone()
            .find(|(_, variants, _)| variants.iter().any(|(n, _, _)| n == variant))
            .map(|(s, ..)| s.id.clone());
    }
    let held_at = match &run.status {
        RunStatus::Active { step, .. } => Some(step.as_str()),
        RunStatus::Done { .. } => None,
    };
    let (step, _, holdout_bp) =
        splits.filter(|(_, _, bp)| *bp > 0).find(|(s, ..)| held_at.is_none_or(|h| h == s.id))?;
    // The bucket is the shopper's primary id (customer id, else first anonymous id).
    let mut ids = state.ids.iter().map(String::as_str).chain(state.customer_id.as_ref().map(|c| c.value.as_str()));
    ids.any(|id| crate::engine::held_out(bundle.policy.seed, &journey.id, id, holdout_bp)).then(|| step.id.clone())
}
