//! Checks of single fields that every part of a journey shares: ids, name lengths,
//! durations, times of day, timestamps, conditions, channels and event names.

use crate::condition::Condition;
use crate::event::canonical_name;
use crate::journey::compiled::{Channel, ChannelSet, EventMatch};
use crate::journey::model::EventMatchSource;
use crate::state::MAX_NAME_BYTES;
use crate::time::{parse_time_of_day, Duration, Timestamp};
use crate::value::Value;

use super::errors::condition_error_path;
use super::{Checker, JourneyError, JourneyErrorKind, MAX_ID_LEN};

const CHANNEL_NAMES: &str = "onsite, inapp, email, sms, push, ads";

impl Checker<'_> {
    /// Records an error at a JSON pointer.
    pub(super) fn err(&mut self, path: impl Into<String>, kind: JourneyErrorKind) {
        self.errors.push(JourneyError::new(path, kind));
    }

    /// Records a name or list longer than a shopper's state keeps.
    pub(super) fn over_limit(&mut self, path: String, what: &'static str, found: usize, limit: usize, unit: &str) {
        let kind =
            JourneyErrorKind::OverLimit { what, found: format!("{found} {unit}"), limit: format!("{limit} {unit}") };
        self.err(path, kind);
    }

    /// Checks a name the engine keeps in shopper state against [`MAX_NAME_BYTES`].
    pub(super) fn name_length(&mut self, path: String, what: &'static str, name: &str) -> bool {
        let ok = !name.is_empty() && name.len() <= MAX_NAME_BYTES;
        if !ok {
            self.over_limit(path, what, name.len(), MAX_NAME_BYTES, "bytes");
        }
        ok
    }

    /// Records a required field as absent; always `None`, so a check can return it.
    pub(super) fn missing<T>(&mut self, path: &str, field: &'static str, hint: &'static str) -> Option<T> {
        self.err(format!("{path}/{field}"), JourneyErrorKind::MissingField { field, hint });
        None
    }

    /// Records a field written where it does not belong.
    pub(super) fn not_allowed(&mut self, path: &str, field: &'static str, context: impl Into<String>) {
        self.err(format!("{path}/{field}"), JourneyErrorKind::FieldNotAllowed { field, context: context.into() });
    }

    /// A duration that must be > 0.
    pub(super) fn duration(&mut self, path: String, field: &'static str, text: &str) -> Option<Duration> {
        match Duration::parse(text) {
            Ok(d) if d.millis() > 0 => Some(d),
            Ok(_) => {
                self.err(path, JourneyErrorKind::NonPositiveDuration { field, found: text.to_owned() });
                None
            }
            Err(e) => {
                self.err(path, e.into());
                None
            }
        }
    }

    /// An RFC 3339 timestamp.
    pub(super) fn timestamp(&mut self, path: String, text: &str) -> Option<Timestamp> {
        Timestamp::parse_rfc3339(text).map_err(|e| self.err(path, e.into())).ok()
    }

    /// A local time of day (`"HH:MM"`), as minutes after midnight.
    pub(super) fn time_of_day(&mut self, path: String, text: &str) -> Option<u16> {
        parse_time_of_day(text).map_err(|e| self.err(path, e.into())).ok()
    }

    /// A condition; absent = always true.
    pub(super) fn condition(&mut self, path: &str, source: Option<&Value>) -> Option<Condition> {
        let Some(source) = source else {
            return Some(Condition::always());
        };
        match Condition::compile(source) {
            Ok(c) => Some(c),
            Err(e) => {
                let at = condition_error_path(path, &e);
                self.err(at, JourneyErrorKind::BadCondition { message: e.to_string(), code: e.code() });
                None
            }
        }
    }

    /// A channel name.
    pub(super) fn channel(&mut self, path: String, name: &str) -> Option<Channel> {
        let found = Channel::parse(name);
        if found.is_none() {
            self.err(path, JourneyErrorKind::UnknownChannel { found: name.to_owned(), allowed: CHANNEL_NAMES });
        }
        found
    }

    /// A list of channel names; `None` when any is unknown (every one is reported).
    pub(super) fn channel_set(&mut self, path: &str, names: &[String]) -> Option<ChannelSet> {
        let mut channels = Vec::with_capacity(names.len());
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            match self.channel(format!("{path}/{i}"), name) {
                Some(c) => channels.push(c),
                None => ok = false,
            }
        }
        ok.then(|| ChannelSet::of(&channels))
    }

    /// An event name, trimmed and mapped to its canonical name (Segment aliases → GA4).
    pub(super) fn event_name(&mut self, path: String, name: &str) -> Option<String> {
        if name.trim().is_empty() {
            self.err(path, JourneyErrorKind::EmptyEventName);
            return None;
        }
        Some(canonical_name(name.trim()).to_owned())
    }

    /// An event name with its `where` condition.
    pub(super) fn event_match(&mut self, path: &str, src: &EventMatchSource) -> Option<EventMatch> {
        let event = self.event_name(format!("{path}/event"), &src.event);
        let filter = self.condition(&format!("{path}/where"), src.filter.as_ref());
        Some(EventMatch { event: event?, filter: filter? })
    }

    /// A journey or step id: 1 to [`MAX_ID_LEN`] bytes of `[a-z0-9_-]`.
    pub(super) fn id(&mut self, path: String, what: &'static str, id: &str) -> bool {
        let ok = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            self.err(path, JourneyErrorKind::BadId { what, found: id.to_owned() });
        }
        ok
    }
}
