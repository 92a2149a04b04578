//! `ShopperScope`: how condition paths resolve against a shopper at decision time.
//! Prefixed paths pick a source — `event.`, `entry.` (the event that started the
//! run), `traits.`, `intent.score` / `intent.tier`, `signals.<name>`, `consent.<channel>`;
//! an unprefixed path tries the current event, then the entry event, then traits.

use std::borrow::Cow;

use crate::condition::Scope;
use crate::event::Event;
use crate::intent::IntentModel;
use crate::journey::Channel;
use crate::state::ShopperState;
use crate::time::Timestamp;
use crate::value::{Map, Value};

/// Everything a condition may look at for one shopper.
pub struct ShopperScope<'a> {
    /// The event being ingested, if any.
    pub event: Option<&'a Event>,
    /// The run's remembered entry properties, if evaluating inside a run.
    pub entry: Option<&'a Map>,
    /// The shopper.
    pub state: &'a ShopperState,
    /// For `intent.score`.
    pub model: &'a IntentModel,
    /// Decision time.
    pub now: Timestamp,
}

impl ShopperScope<'_> {
    fn event_path(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        let event = self.event?;
        match path {
            [name] if name == "name" && !event.properties.contains_key("name") => {
                Some(Cow::Owned(Value::from(event.name.as_str())))
            }
            [first, rest @ ..] => event.properties.get(first)?.get_path(rest).map(Cow::Borrowed),
            [] => None,
        }
    }

    fn entry_path(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        let (first, rest) = path.split_first()?;
        self.entry?.get(first)?.get_path(rest).map(Cow::Borrowed)
    }

    fn trait_path(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        let (first, rest) = path.split_first()?;
        self.state.trait_value(first)?.get_path(rest).map(Cow::Borrowed)
    }
}

impl Scope for ShopperScope<'_> {
    fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "event" => self.event_path(rest),
            "entry" => self.entry_path(rest),
            "traits" => self.trait_path(rest),
            "intent" => match rest {
                [field] if field == "score" => {
                    Some(Cow::Owned(Value::Number(self.state.signals.score(self.now, self.model))))
                }
                [field] if field == "tier" => Some(Cow::Owned(Value::from(self.state.signals.tier().as_str()))),
                _ => None,
            },
            "signals" => match rest {
                [name] => self.state.signals.lookup(name, self.now, self.model).map(Cow::Owned),
                _ => None,
            },
            "consent" => match rest {
                [channel] => {
                    Channel::parse(channel).and_then(|c| self.state.consent_for(c)).map(|b| Cow::Owned(Value::Bool(b)))
                }
                _ => None,
            },
            _ if self.event.is_some() => self.event_path(path),
            _ => self.trait_path(path),
        }
    }
}
