//! The engine: `ingest` an event or `tick` the clock for one shopper's state and get the
//! decisions taken — entries, sends, suppressions, conversions, exits, cancellations.
//! Pure: `now` is an input, every choice is deterministic, and no input makes it panic.
//!
//! # The flow of one event ([`Engine::ingest`])
//!
//! 1. Timers already due fire first, each at its own time ([`running`]: `run_due`), and
//!    duplicate runs from merged copies give way ([`running`]: `resolve_duplicates`).
//! 2. The event updates the intent signals and tier ([`crate::intent`]) and the interest
//!    memory ([`crate::interest`]: items viewed, carted, bought; category affinity).
//! 3. Running journeys see it: conversion, exit rules, event waits ([`running`]:
//!    `match_running`).
//! 4. Journeys whose entry it matches, and audience journeys now holding, are entered
//!    ([`entry`]), subject to schedule, audience and re-entry rules.
//! 5. Every run moves as far as it can without waiting ([`walk`]); the sends reached
//!    are ranked and checked by the policy together, round by round ([`arbitrate`],
//!    [`crate::policy`]), so the best mix wins rather than the first.
//! 6. The state is trimmed to its bounds (`ShopperState::normalize`).
//!
//! [`Engine::tick`] is the same without steps 2–4 (audiences still enter), and
//! [`Engine::apply`] ([`update`]) sets identity, consent and traits before it.
//! Decisions and their sentences are built in [`report`]; run moves (go to a step, sleep,
//! finish) in [`runs`]; A/B buckets in [`split`].

mod arbitrate;
mod entry;
mod report;
mod running;
mod runs;
mod split;
mod update;
mod walk;

use crate::condition::{Condition, EvalEnv};
use crate::decision::Decision;
use crate::event::Event;
use crate::intent::{IntentSample, Tier};
use crate::journey::{Bundle, Channel, Entry, EventMatch, Journey, StepKind, WaitTrigger};
use crate::policy::{self, Situation};
use crate::scope::ShopperScope;
use crate::state::{Contact, Run, RunStatus, ShopperState};
use crate::time::Timestamp;
use crate::value::Map;

pub use crate::policy::SendCheck;
pub use split::held_out;
pub use update::{Update, Updated};

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
        if let Some(sample) = state.signals.pre_purchase(event, model, self.bundle.policy.session_timeout) {
            state.intent_sample = IntentSample::merge(state.intent_sample, Some(sample));
        }
        state.signals.observe(event, model, self.bundle.policy.session_timeout);
        state.signals.update_tier(now, model);
        state.interests.observe(event);
        state.orders.observe(event);

        self.match_running(state, event, now, &mut out);
        self.enter_on_event(state, event, now, &mut out);
        self.enter_on_audience(state, Some(event), now, &mut out);

        self.advance_all(state, Some(event), now, &mut out);
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
        self.advance_all(state, None, now, &mut out);
        state.normalize();
        out
    }

    /// "May I send on `channel` now?" for a message another platform sends (an existing
    /// email / SMS tool): see [`policy::may_send`]. Records nothing.
    pub fn may_send(&self, state: &ShopperState, channel: Channel, journey: Option<&str>, now: Timestamp) -> SendCheck {
        let situation = self.situation(state, now);
        policy::may_send(&situation, channel, journey.map(|id| (id, journey_hash(id))))
    }

    /// Records a message another platform sent, so caps and suppression see it.
    pub fn record_contact(&self, state: &mut ShopperState, channel: Channel, journey: Option<&str>, now: Timestamp) {
        let session = state.signals.session_start();
        state.contacts.push(Contact { at: now, channel, journey: journey.map(journey_hash).unwrap_or(0), session });
        state.normalize();
    }

    /// Just before delivering a send decided at `decided_at`, checks the freshest state:
    /// see [`policy::recheck_send`].
    pub fn recheck_send(
        &self,
        state: &ShopperState,
        journey: &str,
        channel: Channel,
        decided_at: Timestamp,
        now: Timestamp,
    ) -> SendCheck {
        policy::recheck_send(&self.bundle.policy, state, (journey, journey_hash(journey)), channel, decided_at, now)
    }

    /// The earliest timer of the shopper's running journeys.
    pub fn next_wakeup(&self, state: &ShopperState) -> Option<Timestamp> {
        state.runs.iter().filter(|r| !self.is_delegated(r)).filter_map(Run::wake_at).min()
    }

    /// When a stored shopper must next be looked at: their earliest timer, or the first
    /// instant a condition can change by the clock alone — an audience journey's (a
    /// birthday coming round, a sign-up turning 300 days old) or the state condition a
    /// running journey waits for (a predicted next order date passing) — whichever is
    /// sooner. A backend keeps this as the shopper's wake-up, so those conditions are
    /// evaluated on time without evaluating every stored shopper every day.
    pub fn next_check(&self, state: &ShopperState, now: Timestamp) -> Option<Timestamp> {
        let scope = ShopperScope { event: None, entry: None, state, model: &self.bundle.policy.intent, now };
        let audiences = self.bundle.journeys.iter().filter_map(|journey| match &journey.entry {
            Entry::Audience(condition) => {
                let own = journey.audience.as_ref().and_then(|a| a.next_time_change(&scope, now));
                let entry = condition.next_time_change(&scope, now);
                own.into_iter().chain(entry).min()
            }
            Entry::Event(_) => None,
        });
        let waits = state.runs.iter().filter_map(|run| {
            let journey = self.journey(&run.journey)?;
            let (_, StepKind::WaitFor { trigger: WaitTrigger::State(condition), .. }) =
                self.current_step(journey, run)?
            else {
                return None;
            };
            let scope = ShopperScope { entry: Some(&run.entry), ..scope };
            condition.next_time_change(&scope, now)
        });
        self.next_wakeup(state).into_iter().chain(audiences).chain(waits).min()
    }

    fn situation<'a>(&'a self, state: &'a ShopperState, now: Timestamp) -> Situation<'a> {
        let last = state.signals.last_event();
        let in_session = last <= now && now.since(last) <= self.bundle.policy.session_timeout;
        Situation { bundle: &self.bundle, state, now, in_session, session: state.signals.session_start() }
    }

    /// A run parked at an off-site send this engine leaves to the backend: its timer is
    /// the backend's, not this engine's.
    fn is_delegated(&self, run: &Run) -> bool {
        if !self.options.delegate_offsite {
            return false;
        }
        let Some((_, StepKind::Send(send))) = self.journey(&run.journey).and_then(|j| self.current_step(j, run)) else {
            return false;
        };
        !send.channel.is_in_session()
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
