//! The engine: `ingest` an event or `tick` the clock for one shopper's state and get the
//! decisions taken — entries, sends, suppressions, conversions, exits, cancellations.
//! Pure: `now` is an input, every choice is deterministic, and no input makes it panic.

use crate::condition::{Condition, EvalEnv};
use crate::decision::{Action, Decision, Reason};
use crate::event::Event;
use crate::intent::Tier;
use crate::journey::{Bundle, Channel, Entry, EventMatch, Journey, Reentry, Send, StepKind, WaitTrigger};
use crate::policy::{self, Candidate, Situation, Verdict};
use crate::scope::ShopperScope;
use crate::state::{
    value_bytes, Contact, IncentiveGrant, Outcome, Run, RunStatus, ShopperState, MAX_REMEMBERED, MAX_REMEMBERED_BYTES,
    MAX_REMEMBERED_TOTAL_BYTES,
};
use crate::time::Timestamp;
use crate::value::{Map, Value};

/// Step transitions one run may take in one call before it is stopped (cycle guard).
const STEP_BUDGET: u32 = 256;
/// Timer firings handled in one call (a shopper's backlog of due timers).
const TIMER_BUDGET: usize = 4096;
/// The entry properties of a run that is gone (conditions then see no `entry.*`).
static NO_ENTRY: Map = Map::new();

/// Runs journeys of one bundle over shopper states.
#[derive(Debug, Clone)]
pub struct Engine {
    bundle: Bundle,
    journey_hashes: Vec<u32>,
    /// Per journey, the hash of its entry event's name (0 for audience entries): an
    /// event compares one number per journey, and names only where the hash matches.
    entry_hashes: Vec<u32>,
    options: EngineOptions,
}

/// How an [`Engine`] reports what it did. The default reports the decisions anyone acts
/// on; the rest is opt-in for debugging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineOptions {
    /// Also report entry skips: a journey whose entry matched but that was not entered
    /// because of its schedule (`outside_schedule`) or its re-entry rules
    /// (`reentry_once`, `reentry_locked`, `reentry_capped`), as `suppress` decisions.
    /// These explain, they decide nothing (a shopper browsing while a re-entry lock holds
    /// would produce one on every matching event), so they are off by default. Send
    /// suppressions (consent, caps, quiet hours, conflicts, ...) are always reported.
    pub trace_skips: bool,
    /// Leave email / SMS / push / ads sends to the backend: a run reaching such a send
    /// parks there, due now, and the engine reports a `defer` decision with reason
    /// `delegated`; the backend's scheduler (which sees the run's timer once the state is
    /// synced) decides and delivers it against the freshest state. For engines in the
    /// browser or at the edge that sync to `waymark serve`; on-site and in-app sends are
    /// decided locally either way. Off: every send is decided where the engine runs.
    pub delegate_offsite: bool,
}

/// The answer of [`Engine::may_send`] and [`Engine::recheck_send`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendCheck {
    /// Whether the message may go out.
    pub allowed: bool,
    /// `allowed`, or every reason it may not.
    pub reasons: Vec<Reason>,
}

/// A send waiting for arbitration in the current round.
struct Pending {
    run: usize,
    journey: usize,
    step: usize,
}

impl Engine {
    /// An engine for a compiled bundle, with the default [`EngineOptions`].
    pub fn new(bundle: Bundle) -> Engine {
        Engine::with_options(bundle, EngineOptions::default())
    }

    /// An engine for a compiled bundle, with options.
    pub fn with_options(bundle: Bundle, options: EngineOptions) -> Engine {
        let journey_hashes = bundle.journeys.iter().map(|j| journey_hash(&j.id)).collect();
        let entry_hashes = bundle
            .journeys
            .iter()
            .map(|j| match &j.entry {
                Entry::Event(matcher) => journey_hash(&matcher.event),
                Entry::Audience(_) => 0,
            })
            .collect();
        Engine { bundle, journey_hashes, entry_hashes, options }
    }

    /// The options it runs with.
    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// Changes the options (they only affect what later calls report).
    pub fn set_options(&mut self, options: EngineOptions) {
        self.options = options;
    }

    /// The bundle it runs.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// Intent score and tier of a shopper at `now`.
    pub fn intent(&self, state: &ShopperState, now: Timestamp) -> (f64, Tier) {
        (state.signals.score(now, &self.bundle.policy.intent), state.signals.tier())
    }

    /// Ingests one event at `now`: due timers first, then signals and intent, then
    /// conversions, exits and waits of running journeys, then entries, then every
    /// running journey moves as far as it can (sends go through policy together).
    pub fn ingest(&self, state: &mut ShopperState, event: &Event, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        self.run_due(state, now, &mut out);
        self.resolve_duplicates(state, now, &mut out);

        let model = &self.bundle.policy.intent;
        state.signals.observe(event, model, self.bundle.policy.session_timeout);
        state.signals.update_tier(now, model);

        self.match_running(state, event, now, &mut out);
        self.enter_on_event(state, event, now, &mut out);
        self.enter_on_audience(state, Some(event), now, &mut out);

        self.advance(state, None, Some(event), now, &mut out);
        state.normalize();
        out
    }

    /// Runs timers due at or before `now` (wait timeouts, delays, deferred sends),
    /// each at its own due time, oldest first.
    pub fn tick(&self, state: &mut ShopperState, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        self.run_due(state, now, &mut out);
        self.resolve_duplicates(state, now, &mut out);
        state.signals.update_tier(now, &self.bundle.policy.intent);
        self.enter_on_audience(state, None, now, &mut out);
        self.advance(state, None, None, now, &mut out);
        state.normalize();
        out
    }

    /// "May I send on `channel` now?" for a message another platform sends (an existing
    /// email / SMS tool): consent, frequency caps, a recent on-site intervention and, when
    /// `journey` is given, a conversion of that journey. Records nothing.
    pub fn may_send(&self, state: &ShopperState, channel: Channel, journey: Option<&str>, now: Timestamp) -> SendCheck {
        let situation = self.situation(state, now);
        let mut reasons = policy::external_check(&situation, channel, journey.map(journey_hash));
        if let Some(id) = journey {
            if state
                .runs
                .iter()
                .any(|r| r.journey == id && matches!(r.status, RunStatus::Done { outcome: Outcome::Converted, .. }))
            {
                reasons.push(Reason::Converted);
            }
        }
        SendCheck {
            allowed: reasons.is_empty(),
            reasons: if reasons.is_empty() { vec![Reason::Allowed] } else { reasons },
        }
    }

    /// Records a message another platform sent, so caps and suppression see it.
    pub fn record_contact(&self, state: &mut ShopperState, channel: Channel, journey: Option<&str>, now: Timestamp) {
        let session = state.signals.session_start();
        state.contacts.push(Contact { at: now, channel, journey: journey.map(journey_hash).unwrap_or(0), session });
        state.normalize();
    }

    /// Just before delivering a send decided at `decided_at`, checks the freshest state:
    /// consent withdrawn, the journey converted, or an on-site intervention shown since.
    pub fn recheck_send(
        &self,
        state: &ShopperState,
        journey: &str,
        channel: Channel,
        decided_at: Timestamp,
        now: Timestamp,
    ) -> SendCheck {
        let policy = &self.bundle.policy;
        let mut reasons = Vec::new();
        let consented = state.consent_for(channel).unwrap_or(policy.assume_consent.contains(channel));
        if !channel.is_in_session() && !consented {
            reasons.push(Reason::NoConsent);
        }
        let converted = state.runs.iter().any(|r| {
            r.journey == journey
                && matches!(r.status, RunStatus::Done { outcome: Outcome::Converted, at } if at >= decided_at)
        });
        if converted {
            reasons.push(Reason::ConversionCancelled);
        }
        let hash = journey_hash(journey);
        let shown_since = policy.suppresses.contains(channel)
            && state.contacts.iter().any(|c| {
                c.channel.is_in_session()
                    && c.at > decided_at
                    && c.at <= now
                    && (!policy.suppression_same_journey_only || c.journey == hash)
            });
        if shown_since {
            reasons.push(Reason::RecentOnsite);
        }
        SendCheck {
            allowed: reasons.is_empty(),
            reasons: if reasons.is_empty() { vec![Reason::Allowed] } else { reasons },
        }
    }

    fn situation<'a>(&'a self, state: &'a ShopperState, now: Timestamp) -> Situation<'a> {
        let last = state.signals.last_event();
        let in_session = last <= now && now.since(last) <= self.bundle.policy.session_timeout;
        Situation { bundle: &self.bundle, state, now, in_session, session: state.signals.session_start() }
    }

    /// The earliest timer of the shopper's running journeys.
    pub fn next_wakeup(&self, state: &ShopperState) -> Option<Timestamp> {
        state.runs.iter().filter(|r| !self.is_delegated(r)).filter_map(Run::wake_at).min()
    }

    /// A run parked at an off-site send this engine leaves to the backend: its timer is
    /// the backend's, not this engine's.
    fn is_delegated(&self, run: &Run) -> bool {
        if !self.options.delegate_offsite {
            return false;
        }
        let RunStatus::Active { step, .. } = &run.status else { return false };
        let Some(journey) = self.journey_index(&run.journey).and_then(|i| self.bundle.journeys.get(i)) else {
            return false;
        };
        let step = journey.step_index(step).and_then(|i| journey.steps.get(i));
        matches!(step.map(|s| &s.kind), Some(StepKind::Send(send)) if !send.channel.is_in_session())
    }

    fn run_due(&self, state: &mut ShopperState, now: Timestamp, out: &mut Vec<Decision>) {
        for _ in 0..TIMER_BUDGET {
            let timer = |r: &Run| if self.is_delegated(r) { None } else { r.wake_at() };
            let Some(due) = state.runs.iter().filter_map(timer).filter(|t| *t <= now).min() else {
                return;
            };
            let ready: Vec<usize> =
                state.runs.iter().enumerate().filter(|(_, r)| timer(r) == Some(due)).map(|(i, _)| i).collect();
            let before: Vec<(u32, bool)> =
                ready.iter().filter_map(|i| state.runs.get(*i)).map(|r| (r.seq, r.is_active())).collect();
            self.advance(state, Some(ready.clone()), None, due, out);
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
    fn resolve_duplicates(&self, state: &mut ShopperState, now: Timestamp, out: &mut Vec<Decision>) {
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
    fn match_running(&self, state: &mut ShopperState, event: &Event, now: Timestamp, out: &mut Vec<Decision>) {
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
                if run.wake_at().is_some() {
                    out.push(decision(
                        now,
                        &run.journey,
                        step.clone(),
                        Action::Cancel,
                        vec![Reason::ConversionCancelled],
                        concat(&["pending follow-ups of ", &run.journey, " cancelled: the shopper converted"]),
                    ));
                }
                out.push(decision(
                    now,
                    &run.journey,
                    step,
                    Action::Convert,
                    vec![Reason::Converted],
                    concat(&[&run.journey, " converted on ", &event.name]),
                ));
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

    fn enter_on_event(&self, state: &mut ShopperState, event: &Event, now: Timestamp, out: &mut Vec<Decision>) {
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

    fn enter_on_audience(
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

    /// Moves runs (`ready`, or all of them) as far as they go at time `at`; sends from
    /// all runs are arbitrated together, round by round, so the best mix wins rather
    /// than the first.
    fn advance(
        &self,
        state: &mut ShopperState,
        ready: Option<Vec<usize>>,
        event: Option<&Event>,
        at: Timestamp,
        out: &mut Vec<Decision>,
    ) {
        // Steps taken per run index in this call (runs are never added or removed while
        // runs advance, so indices stay valid).
        let mut budget: Vec<u32> = Vec::new();
        let mut ready = ready;
        loop {
            let mut pending = Vec::new();
            match ready.take() {
                Some(list) => {
                    for index in list {
                        self.walk(state, index, event, at, out, &mut pending, &mut budget);
                    }
                }
                None => {
                    for index in 0..state.runs.len() {
                        self.walk(state, index, event, at, out, &mut pending, &mut budget);
                    }
                }
            }
            if pending.is_empty() {
                return;
            }
            let moved = self.arbitrate(state, pending, at, out);
            if moved.is_empty() {
                return;
            }
            ready = Some(moved);
        }
    }

    /// Walks one run through steps that take no time until it waits, sends or ends.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        state: &mut ShopperState,
        index: usize,
        event: Option<&Event>,
        at: Timestamp,
        out: &mut Vec<Decision>,
        pending: &mut Vec<Pending>,
        budget: &mut Vec<u32>,
    ) {
        loop {
            let Some(run) = state.runs.get(index) else { return };
            let RunStatus::Active { step: step_id, since, wake_at } = &run.status else { return };
            let (since, wake_at) = (*since, *wake_at);
            let Some(journey_index) = self.journey_index(&run.journey) else {
                self.remove_run(state, index, at, out);
                return;
            };
            let Some(journey) = self.bundle.journeys.get(journey_index) else { return };
            let Some(step_index) = journey.step_index(step_id) else {
                self.remove_run(state, index, at, out);
                return;
            };
            let Some(step) = journey.steps.get(step_index) else { return };
            if budget.len() <= index {
                budget.resize(index + 1, 0);
            }
            let Some(spent) = budget.get_mut(index) else { return };
            *spent += 1;
            if *spent > STEP_BUDGET {
                if let Some(run) = state.runs.get_mut(index) {
                    let message = format!("{} stopped: more than {STEP_BUDGET} steps in one call", journey.id);
                    exit_run(run, at, Outcome::Aborted, Reason::StepBudget, message, out);
                }
                return;
            }
            let next: usize = match &step.kind {
                StepKind::Exit => {
                    if let Some(run) = state.runs.get_mut(index) {
                        let message = concat(&[&journey.id, " finished at ", &step.id]);
                        exit_run(run, at, Outcome::Completed, Reason::ExitReached, message, out);
                    }
                    return;
                }
                StepKind::Branch { cases, default } => {
                    let state: &ShopperState = state;
                    let entry = state.runs.get(index).map_or(&NO_ENTRY, |r| &r.entry);
                    cases
                        .iter()
                        .find(|(cond, _)| self.holds(cond, event, Some(entry), state, at))
                        .map_or(*default, |(_, n)| *n)
                }
                StepKind::Split { variants, holdout_bp } => {
                    let Some(run) = state.runs.get_mut(index) else { return };
                    match pick_variant(self.bundle.policy.seed, &journey.id, &run.bucket, variants, *holdout_bp) {
                        Some((name, next)) => {
                            run.variant = Some(name.to_owned());
                            next
                        }
                        None => {
                            let message = concat(&["held out of ", &journey.id, " at split ", &step.id]);
                            exit_run(run, at, Outcome::Holdout, Reason::Holdout, message, out);
                            return;
                        }
                    }
                }
                StepKind::Delay { duration, until_minute, next } => {
                    let due = wake_at.unwrap_or_else(|| {
                        let after = since.plus(*duration);
                        match until_minute {
                            Some(m) => journey.schedule.zone.next_local_time(after, *m),
                            None => after,
                        }
                    });
                    if due > at {
                        set_wake(state, index, due);
                        return;
                    }
                    *next
                }
                StepKind::WaitFor { trigger, timeout, on_performed, on_timed_out } => {
                    let due = wake_at.unwrap_or_else(|| since.plus(*timeout));
                    if let WaitTrigger::State(cond) = trigger {
                        let entry = state.runs.get(index).map_or(&NO_ENTRY, |r| &r.entry);
                        if self.holds(cond, event, Some(entry), state, at) {
                            if let Some(step) = journey.steps.get(*on_performed) {
                                if let Some(run) = state.runs.get_mut(index) {
                                    goto(run, &step.id, at);
                                }
                            }
                            continue;
                        }
                    }
                    if due > at {
                        set_wake(state, index, due);
                        return;
                    }
                    *on_timed_out
                }
                StepKind::Send(send) => {
                    if wake_at.is_some_and(|w| w > at) {
                        return;
                    }
                    if self.options.delegate_offsite && !send.channel.is_in_session() {
                        // Parked, due now: the backend's scheduler takes it from here.
                        if wake_at.is_none() {
                            set_wake(state, index, at);
                            let message = concat(&[&journey.id, " left ", send.channel.as_str(), " to the backend"]);
                            let mut d = decision(
                                at,
                                &journey.id,
                                Some(step.id.clone()),
                                Action::Defer,
                                vec![Reason::Delegated],
                                message,
                            );
                            d.channel = Some(send.channel);
                            d.content = Some(send.content.clone());
                            out.push(d);
                        }
                        return;
                    }
                    pending.push(Pending { run: index, journey: journey_index, step: step_index });
                    return;
                }
            };
            let Some(next_step) = journey.steps.get(next) else { return };
            if let Some(run) = state.runs.get_mut(index) {
                goto(run, &next_step.id, at);
            }
        }
    }

    /// Decides a round of sends: ranked (critical, priority, expected value, then ids),
    /// policy-checked one by one against the state as it grows, one on-page slot per
    /// in-session channel. Returns the runs that moved past their send.
    fn arbitrate(
        &self,
        state: &mut ShopperState,
        mut pending: Vec<Pending>,
        at: Timestamp,
        out: &mut Vec<Decision>,
    ) -> Vec<usize> {
        crate::sort::sort_by(&mut pending, |a, b| {
            let (sa, ja) = (self.send_of(a), self.bundle.journeys.get(a.journey));
            let (sb, jb) = (self.send_of(b), self.bundle.journeys.get(b.journey));
            let key = |s: Option<&Send>| {
                s.map(|s| (s.critical, s.priority, s.expected_value)).unwrap_or((false, i32::MIN, f64::MIN))
            };
            let (ka, kb) = (key(sa), key(sb));
            kb.0.cmp(&ka.0)
                .then(kb.1.cmp(&ka.1))
                .then(kb.2.total_cmp(&ka.2))
                .then_with(|| ja.map(|j| &j.id).cmp(&jb.map(|j| &j.id)))
                .then(a.step.cmp(&b.step))
        });
        let mut slots_taken: Vec<Channel> = Vec::new();
        let mut moved = Vec::new();
        let session = state.signals.session_start();
        for p in pending {
            let (Some(journey), Some(send)) = (self.bundle.journeys.get(p.journey), self.send_of(&p)) else { continue };
            let Some(step) = journey.steps.get(p.step) else { continue };
            let journey_hash = self.journey_hashes.get(p.journey).copied().unwrap_or(0);
            let variant = state.runs.get(p.run).and_then(|r| r.variant.clone());
            let verdict = if send.channel.is_in_session() && slots_taken.contains(&send.channel) {
                Verdict::Suppress { reasons: vec![Reason::Outranked] }
            } else {
                let candidate = Candidate { journey, journey_hash, send };
                let situation = self.situation(state, at);
                policy::evaluate(&candidate, &situation)
            };
            let mut d = Decision {
                time: at,
                journey: journey.id.clone(),
                step: Some(step.id.clone()),
                action: Action::Send,
                channel: Some(send.channel),
                content: Some(send.content.clone()),
                incentive: send.incentive.as_ref().map(|i| i.id.clone()),
                variant,
                reasons: Vec::new(),
                message: String::new(),
            };
            match verdict {
                Verdict::Send { channel, reasons, replaces } => {
                    if channel.is_in_session() {
                        slots_taken.push(channel);
                    }
                    if let Some(old) = replaces.and_then(|i| state.incentives.get_mut(i)) {
                        old.revoked_at = Some(at);
                        out.push(decision(
                            at,
                            &old.journey,
                            None,
                            Action::Cancel,
                            vec![Reason::IncentiveReplaced],
                            concat(&["incentive ", &old.id, " withdrawn: ", &journey.id, " has priority"]),
                        ));
                    }
                    state.contacts.push(Contact { at, channel, journey: journey_hash, session });
                    if let Some(incentive) = &send.incentive {
                        let already = state.incentives.iter().any(|g| {
                            g.group == incentive.group
                                && g.id == incentive.id
                                && g.journey == journey.id
                                && g.is_active(at)
                        });
                        if !already {
                            state.incentives.push(IncentiveGrant {
                                group: incentive.group.clone(),
                                id: incentive.id.clone(),
                                journey: journey.id.clone(),
                                priority: send.priority,
                                granted_at: at,
                                expires_at: at.plus(incentive.valid_for),
                                revoked_at: None,
                            });
                        }
                    }
                    d.channel = Some(channel);
                    d.message = send_message(&d, channel, &reasons);
                    d.reasons = reasons;
                    out.push(d);
                    self.move_past_send(state, p.run, journey, send, at, &mut moved);
                }
                Verdict::Suppress { reasons } => {
                    d.action = Action::Suppress;
                    d.message = concat(&[
                        "did not send ",
                        &send.content,
                        " on ",
                        send.channel.as_str(),
                        ": ",
                        &codes(&reasons),
                    ]);
                    d.reasons = reasons;
                    out.push(d);
                    self.move_past_send(state, p.run, journey, send, at, &mut moved);
                }
                Verdict::Defer { until, reasons } => {
                    d.action = Action::Defer;
                    d.message = format!(
                        "{} on {} waits until {} ({})",
                        send.content,
                        send.channel.as_str(),
                        until,
                        codes(&reasons)
                    );
                    d.reasons = reasons;
                    out.push(d);
                    set_wake(state, p.run, until);
                }
            }
        }
        moved
    }

    fn move_past_send(
        &self,
        state: &mut ShopperState,
        index: usize,
        journey: &Journey,
        send: &Send,
        at: Timestamp,
        moved: &mut Vec<usize>,
    ) {
        let (Some(next), Some(run)) = (journey.steps.get(send.next), state.runs.get_mut(index)) else { return };
        goto(run, &next.id, at);
        moved.push(index);
    }

    fn remove_run(&self, state: &mut ShopperState, index: usize, at: Timestamp, out: &mut Vec<Decision>) {
        if let Some(run) = state.runs.get_mut(index) {
            let message = concat(&[&run.journey, " or its step is no longer published"]);
            exit_run(run, at, Outcome::Removed, Reason::Removed, message, out);
        }
    }

    fn send_of(&self, p: &Pending) -> Option<&Send> {
        match &self.bundle.journeys.get(p.journey)?.steps.get(p.step)?.kind {
            StepKind::Send(send) => Some(send),
            _ => None,
        }
    }

    fn journey(&self, id: &str) -> Option<&Journey> {
        self.journey_index(id).and_then(|i| self.bundle.journeys.get(i))
    }

    fn journey_index(&self, id: &str) -> Option<usize> {
        // INVARIANT: journeys are sorted by id (validate sorts them).
        self.bundle
            .journeys
            .binary_search_by(|j| j.id.as_str().cmp(id))
            .ok()
            .or_else(|| self.bundle.journeys.iter().position(|j| j.id == id))
    }

    fn current_step<'j>(&self, journey: &'j Journey, run: &Run) -> Option<(usize, &'j StepKind)> {
        let RunStatus::Active { step, .. } = &run.status else { return None };
        let index = journey.step_index(step)?;
        journey.steps.get(index).map(|s| (index, &s.kind))
    }

    fn event_matches(
        &self,
        matcher: &EventMatch,
        event: &Event,
        entry: Option<&Map>,
        state: &ShopperState,
        now: Timestamp,
    ) -> bool {
        matcher.event == event.name && self.holds(&matcher.filter, Some(event), entry, state, now)
    }

    fn holds(
        &self,
        condition: &Condition,
        event: Option<&Event>,
        entry: Option<&Map>,
        state: &ShopperState,
        now: Timestamp,
    ) -> bool {
        let scope = ShopperScope { event, entry, state, model: &self.bundle.policy.intent, now };
        let env = EvalEnv { now, groups: Some(&self.bundle.groups) };
        condition.eval(&scope, &env)
    }
}

/// xxh3 of a journey id, truncated: the compact journey key of the contact log.
pub fn journey_hash(id: &str) -> u32 {
    // Seed 0 gives xxh3_64's value; one seeded hash function serves every caller (one
    // copy of the hash code in the wasm module).
    xxhash_rust::xxh3::xxh3_64_with_seed(id.as_bytes(), 0) as u32
}

/// Stable bucket in [0, 10_000) for a shopper in a journey.
fn bucket(seed: u64, journey: &str, shopper: &str, salt: &str) -> u32 {
    let key = concat(&[journey, "\u{1f}", shopper, "\u{1f}", salt]);
    (xxhash_rust::xxh3::xxh3_64_with_seed(key.as_bytes(), seed) % 10_000) as u32
}

/// Holdout first (its own hash), then a variant by cumulative weight.
fn pick_variant<'v>(
    seed: u64,
    journey: &str,
    shopper: &str,
    variants: &'v [(String, u32, usize)],
    holdout_bp: u32,
) -> Option<(&'v str, usize)> {
    if bucket(seed, journey, shopper, "holdout") < holdout_bp {
        return None;
    }
    let roll = bucket(seed, journey, shopper, "variant");
    let mut cumulative = 0u32;
    for (name, weight, next) in variants {
        cumulative = cumulative.saturating_add(*weight);
        if roll < cumulative {
            return Some((name, *next));
        }
    }
    variants.last().map(|(name, _, next)| (name.as_str(), *next))
}

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

fn goto(run: &mut Run, step: &str, at: Timestamp) {
    run.status = RunStatus::Active { step: step.to_owned(), since: at, wake_at: None };
    run.seq = run.seq.saturating_add(1);
}

fn set_wake(state: &mut ShopperState, index: usize, due: Timestamp) {
    if let Some(RunStatus::Active { wake_at, .. }) = state.runs.get_mut(index).map(|r| &mut r.status) {
        *wake_at = Some(due);
    }
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

/// Ends a run and reports its exit, at the step it was on.
fn exit_run(run: &mut Run, at: Timestamp, outcome: Outcome, reason: Reason, message: String, out: &mut Vec<Decision>) {
    let step = active_step(run);
    finish(run, at, outcome);
    out.push(decision(at, &run.journey, step, Action::Exit, vec![reason], message));
}

/// Ends a run. A finished run is kept only for re-entry rules, merges and analytics,
/// so what only a running journey needs (entry properties, bucket) is dropped.
fn finish(run: &mut Run, at: Timestamp, outcome: Outcome) {
    run.status = RunStatus::Done { at, outcome };
    run.seq = run.seq.saturating_add(1);
    run.entry.clear();
    run.bucket.clear();
}

fn active_step(run: &Run) -> Option<String> {
    match &run.status {
        RunStatus::Active { step, .. } => Some(step.clone()),
        RunStatus::Done { .. } => None,
    }
}

fn decision(
    time: Timestamp,
    journey: &str,
    step: Option<String>,
    action: Action,
    reasons: Vec<Reason>,
    message: String,
) -> Decision {
    Decision {
        time,
        journey: journey.to_owned(),
        step,
        action,
        channel: None,
        content: None,
        incentive: None,
        variant: None,
        reasons,
        message,
    }
}

/// The parts joined, in one allocation: decision messages are built on every ingest,
/// and `format!`'s machinery is slow (and large) in wasm.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

fn codes(reasons: &[Reason]) -> String {
    let mut out = String::new();
    for (i, r) in reasons.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(r.code());
    }
    out
}

fn send_message(d: &Decision, channel: Channel, reasons: &[Reason]) -> String {
    let what = d.content.as_deref().unwrap_or("");
    let (with, offer) = match d.incentive.as_deref() {
        Some(i) => (" with incentive ", i),
        None => ("", ""),
    };
    concat(&["send ", what, with, offer, " on ", channel.as_str(), " for ", &d.journey, " (", &codes(reasons), ")"])
}
