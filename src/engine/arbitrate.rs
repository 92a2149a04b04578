//! Arbitration: the sends runs reached in one round are ranked (checkout-critical, then
//! priority, then expected value — learned where the backend published one, and then
//! the decision says `learned_value` — then ids), then checked by the policy one by one
//! against the state as it grows, with one on-page slot per in-session channel. Each
//! verdict — send, suppress, defer — is applied here.

use super::report::{codes, concat, decision, send_items, send_message};
use super::runs::{goto, set_wake};
use super::walk::Pending;
use super::Engine;
use crate::decision::{Action, Decision, Reason};
use crate::journey::{Channel, Journey, Send};
use crate::policy::{self, Candidate, Verdict};
use crate::state::{Contact, IncentiveGrant, ShopperState};
use crate::time::Timestamp;

/// One ranked send under decision.
struct Turn<'b> {
    pending: Pending,
    journey: &'b Journey,
    send: &'b Send,
    journey_hash: u32,
}

impl Engine {
    /// Decides a round of sends. Returns the runs that moved past their send.
    pub(super) fn arbitrate(
        &self,
        state: &mut ShopperState,
        mut pending: Vec<Pending>,
        at: Timestamp,
        out: &mut Vec<Decision>,
    ) -> Vec<usize> {
        self.rank(&mut pending);
        let mut slots_taken: Vec<Channel> = Vec::new();
        let mut moved = Vec::new();
        for p in pending {
            let (Some(journey), Some(send)) = (self.bundle.journeys.get(p.journey), self.send_of(&p)) else { continue };
            let journey_hash = self.journey_hashes.get(p.journey).copied().unwrap_or(0);
            let turn = Turn { pending: p, journey, send, journey_hash };
            let Some(step) = journey.steps.get(turn.pending.step) else { continue };
            let mut d = decision(at, &journey.id, Some(step.id.clone()), Action::Send, Vec::new(), String::new());
            d.channel = Some(send.channel);
            d.content = Some(send.content.clone());
            d.incentive = send.incentive.as_ref().map(|i| i.id.clone());
            d.variant = state.runs.get(turn.pending.run).and_then(|r| r.variant.clone());
            d.items = send_items(state.runs.get(turn.pending.run), state);
            d.entry = state.runs.get(turn.pending.run).map(|r| r.entry.clone()).unwrap_or_default();
            let verdict = if send.channel.is_in_session() && slots_taken.contains(&send.channel) {
                Verdict::Suppress { reasons: vec![Reason::Outranked] }
            } else {
                let candidate = Candidate { journey, journey_hash, send };
                policy::evaluate(&candidate, &self.situation(state, at))
            };
            let learned = send.learned_value.is_some().then_some(Reason::LearnedValue);
            match verdict {
                Verdict::Send { channel, mut reasons, replaces } => {
                    reasons.extend(learned);
                    if channel.is_in_session() {
                        slots_taken.push(channel);
                    }
                    grant(state, &turn, channel, replaces, at, out);
                    d.channel = Some(channel);
                    d.message = send_message(&d, channel, &reasons);
                    d.reasons = reasons;
                    out.push(d);
                    move_past_send(state, &turn, at, &mut moved);
                }
                Verdict::Suppress { mut reasons } => {
                    reasons.extend(learned);
                    let parts = ["did not send ", &send.content, " on ", send.channel.as_str(), ": ", &codes(&reasons)];
                    d.action = Action::Suppress;
                    d.message = concat(&parts);
                    d.reasons = reasons;
                    out.push(d);
                    move_past_send(state, &turn, at, &mut moved);
                }
                Verdict::Defer { until, mut reasons } => {
                    reasons.extend(learned);
                    let (content, channel) = (&send.content, send.channel.as_str());
                    d.action = Action::Defer;
                    d.message = format!("{content} on {channel} waits until {until} ({})", codes(&reasons));
                    d.reasons = reasons;
                    out.push(d);
                    set_wake(state, turn.pending.run, until);
                }
            }
        }
        moved
    }

    /// The ranking: critical first, then priority, then expected value — the learned one
    /// where the backend published it, else the written one — (all descending), then
    /// journey id and step index, so the order never depends on the runs' order.
    fn rank(&self, pending: &mut Vec<Pending>) {
        crate::sort::sort_by(pending, |a, b| {
            let (sa, ja) = (self.send_of(a), self.bundle.journeys.get(a.journey));
            let (sb, jb) = (self.send_of(b), self.bundle.journeys.get(b.journey));
            let key = |s: Option<&Send>| {
                s.map(|s| (s.critical, s.priority, s.ranking_value())).unwrap_or((false, i32::MIN, f64::MIN))
            };
            let (ka, kb) = (key(sa), key(sb));
            kb.0.cmp(&ka.0)
                .then(kb.1.cmp(&ka.1))
                .then(kb.2.total_cmp(&ka.2))
                .then_with(|| ja.map(|j| &j.id).cmp(&jb.map(|j| &j.id)))
                .then(a.step.cmp(&b.step))
        });
    }

    fn send_of(&self, p: &Pending) -> Option<&Send> {
        match &self.bundle.journeys.get(p.journey)?.steps.get(p.step)?.kind {
            crate::journey::StepKind::Send(send) => Some(send),
            _ => None,
        }
    }
}

/// What a send that goes out leaves in the state: the grant it replaces withdrawn
/// (reported as `cancel`), the contact logged for caps and suppression, and its
/// incentive granted unless the same grant is still active.
fn grant(
    state: &mut ShopperState,
    turn: &Turn<'_>,
    channel: Channel,
    replaces: Option<usize>,
    at: Timestamp,
    out: &mut Vec<Decision>,
) {
    let journey = turn.journey;
    if let Some(old) = replaces.and_then(|i| state.incentives.get_mut(i)) {
        old.revoked_at = Some(at);
        let message = concat(&["incentive ", &old.id, " withdrawn: ", &journey.id, " has priority"]);
        out.push(decision(at, &old.journey, None, Action::Cancel, vec![Reason::IncentiveReplaced], message));
    }
    let session = state.signals.session_start();
    state.contacts.push(Contact { at, channel, journey: turn.journey_hash, session });
    let Some(incentive) = &turn.send.incentive else { return };
    let already = state
        .incentives
        .iter()
        .any(|g| g.group == incentive.group && g.id == incentive.id && g.journey == journey.id && g.is_active(at));
    if !already {
        state.incentives.push(IncentiveGrant {
            group: incentive.group.clone(),
            id: incentive.id.clone(),
            journey: journey.id.clone(),
            priority: turn.send.priority,
            granted_at: at,
            expires_at: at.plus(incentive.valid_for),
            revoked_at: None,
        });
    }
}

/// The run goes on to the step after its send, and walks again this call.
fn move_past_send(state: &mut ShopperState, turn: &Turn<'_>, at: Timestamp, moved: &mut Vec<usize>) {
    let index = turn.pending.run;
    let (Some(next), Some(run)) = (turn.journey.steps.get(turn.send.next), state.runs.get_mut(index)) else { return };
    goto(run, &next.id, at);
    moved.push(index);
}
