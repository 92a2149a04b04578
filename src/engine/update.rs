//! A shopper update — identity, consent, traits and/or an event — applied in one
//! documented order by [`Engine::apply`]. The CLI simulator and the backend's
//! `POST /v1/events` both go through it, so a bad trait means the same everywhere.

use super::Engine;
use crate::decision::Decision;
use crate::event::Event;
use crate::journey::Channel;
use crate::state::{ShopperState, StateError, TraitSource};
use crate::time::Timestamp;
use crate::value::Map;

/// What one update says about a shopper. Every part is optional: an update with no event
/// only sets what it carries, and the clock ticks to `now`.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    /// When it was said: the stamp of the customer id, consent and traits it sets.
    pub at: Timestamp,
    /// The customer id learned at login.
    pub customer_id: Option<&'a str>,
    /// Consent per channel.
    pub consent: &'a [(Channel, bool)],
    /// Traits to set (null clears one).
    pub traits: &'a Map,
    /// Who sets the traits: the shopper's copies, or the shop's server (which outranks them).
    pub source: TraitSource,
    /// The event, if any.
    pub event: Option<&'a Event>,
}

/// What [`Engine::apply`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Updated {
    /// The engine's decisions.
    pub decisions: Vec<Decision>,
    /// The traits that were not set, each with why (a name or value over a bound, or one
    /// trait too many).
    pub rejected: Vec<(String, StateError)>,
}

impl Engine {
    /// Applies an update in this order: the customer id, then consent, then traits, then
    /// the event, ingested at `now` (with no event, [`Engine::tick`] at `now`).
    ///
    /// A trait over a bound is left out and reported in [`Updated::rejected`]; the other
    /// traits are set and the event still runs. Nothing already set is undone, so a
    /// caller can report the rejection as a warning (the backend) or a line error (the
    /// simulator) without losing the rest of the update.
    pub fn apply(&self, state: &mut ShopperState, update: &Update<'_>, now: Timestamp) -> Updated {
        if let Some(customer) = update.customer_id {
            state.identify(customer, update.at);
        }
        for (channel, granted) in update.consent {
            state.set_consent(*channel, *granted, update.at);
        }
        let mut rejected = Vec::new();
        state.set_traits(update.traits, update.source, update.at, |key, e| rejected.push((key.to_owned(), e)));
        let decisions = match update.event {
            Some(event) => self.ingest(state, event, now),
            None => self.tick(state, now),
        };
        Updated { decisions, rejected }
    }
}
