//! Checks of one journey's own fields: id, schedule, entry, audience, re-entry,
//! conversion, exit rules and the remembered entry properties; its steps are
//! checked in `steps`.

use crate::journey::compiled::{
    Channel, ChannelSet, Conversion, Entry, EventMatch, Journey, QuietHours, Reentry, Schedule,
};
use crate::journey::model::{EventMatchSource, JourneySource, ReentrySource, ScheduleSource};
use crate::state::MAX_REMEMBERED;
use crate::time::Zone;

use super::{Checker, JourneyErrorKind, DEFAULT_REMEMBER, MAX_REENTRY_CAP};

impl Checker<'_> {
    /// One journey and its steps, compiled; `None` when anything in it is invalid.
    pub(super) fn journey(&mut self, path: &str, src: &JourneySource) -> Option<Journey> {
        let before = self.errors.len();
        self.id(format!("{path}/id"), "journey", &src.id);
        let schedule = self.schedule(&format!("{path}/schedule"), src.schedule.as_ref());
        let entry = self.entry(path, src);
        let audience = match &src.audience {
            Some(a) => self.condition(&format!("{path}/audience"), Some(a)).map(Some),
            None => Some(None),
        };
        let reentry = self.reentry(&format!("{path}/reentry"), src.reentry.as_ref());
        let conversion = match &src.conversion {
            None => Some(None),
            Some(c) => {
                let cpath = format!("{path}/conversion");
                let matcher =
                    self.event_match(&cpath, &EventMatchSource { event: c.event.clone(), filter: c.filter.clone() });
                let within = match &c.within {
                    Some(w) => self.duration(format!("{cpath}/within"), "conversion within", w).map(Some),
                    None => Some(None),
                };
                matcher.zip(within).map(|(matcher, within)| Some(Conversion { matcher, within }))
            }
        };
        let exit_when: Vec<Option<EventMatch>> = src
            .exit_when
            .iter()
            .enumerate()
            .map(|(i, m)| self.event_match(&format!("{path}/exit_when/{i}"), m))
            .collect();
        let remember = match &src.entry.remember {
            Some(list) => {
                let rpath = format!("{path}/entry/remember");
                if list.len() > MAX_REMEMBERED {
                    self.over_limit(rpath.clone(), "the remember list", list.len(), MAX_REMEMBERED, "names");
                }
                for (i, key) in list.iter().enumerate() {
                    self.name_length(format!("{rpath}/{i}"), "a remembered property name", key);
                }
                list.clone()
            }
            None => DEFAULT_REMEMBER.iter().map(|s| (*s).to_owned()).collect(),
        };
        let steps = self.steps(path, src);
        for (i, step) in src.steps.iter().enumerate() {
            if step.kind == "split" && step.adaptive == Some(true) && src.conversion.is_none() {
                self.err(
                    format!("{path}/steps/{i}/adaptive"),
                    JourneyErrorKind::BadAdaptiveSplit {
                        message: "an adaptive split shifts traffic toward the variant that converts better: give the \
                                  journey a conversion goal (`conversion`) to count conversions by"
                            .into(),
                    },
                );
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let (start, steps) = steps?;
        let mut journey = Journey {
            id: src.id.clone(),
            name: src.name.clone(),
            priority: src.priority,
            schedule: schedule?,
            entry: entry?,
            remember,
            audience: audience?,
            reentry: reentry?,
            conversion: conversion?,
            exit_when: exit_when.into_iter().collect::<Option<Vec<_>>>()?,
            start,
            steps,
        };
        if src.entry.remember.is_none() {
            // Keep only what a condition reads back (`entry.x`): state stays small.
            let referenced = journey.entry_keys_referenced();
            journey.remember.retain(|key| referenced.contains(key));
        }
        Some(journey)
    }

    /// The schedule: start / end, time zone and quiet hours (absent = always, UTC).
    fn schedule(&mut self, path: &str, src: Option<&ScheduleSource>) -> Option<Schedule> {
        let Some(src) = src else {
            return Some(Schedule { start: None, end: None, zone: Zone::utc(), quiet_hours: None });
        };
        let start = match &src.start {
            Some(t) => self.timestamp(format!("{path}/start"), t).map(Some),
            None => Some(None),
        };
        let end = match &src.end {
            Some(t) => self.timestamp(format!("{path}/end"), t).map(Some),
            None => Some(None),
        };
        if let (Some(Some(s)), Some(Some(e))) = (start, end) {
            if s >= e {
                self.err(
                    format!("{path}/end"),
                    JourneyErrorKind::BadSchedule {
                        message: format!(
                            "schedule end {e} is not after its start {s}: write an end later than the start"
                        ),
                    },
                );
            }
        }
        let zone = match &src.time_zone {
            None => Some(Zone::utc()),
            Some(name) => {
                let zone = self.zones.resolve(name);
                if zone.is_none() {
                    self.err(
                        format!("{path}/time_zone"),
                        JourneyErrorKind::UnknownTimeZone { found: name.clone(), hint: self.zones.unknown(name) },
                    );
                }
                zone
            }
        };
        let quiet_hours = match &src.quiet_hours {
            None => Some(None),
            Some(q) => {
                let qpath = format!("{path}/quiet_hours");
                let start_minute = self.time_of_day(format!("{qpath}/start"), &q.start);
                let end_minute = self.time_of_day(format!("{qpath}/end"), &q.end);
                let channels = match &q.channels {
                    Some(names) => self.channel_set(&format!("{qpath}/channels"), names),
                    None => Some(ChannelSet::of(&[Channel::Email, Channel::Sms, Channel::Push])),
                };
                if let (Some(s), Some(e)) = (start_minute, end_minute) {
                    if s == e {
                        self.err(
                            format!("{qpath}/end"),
                            JourneyErrorKind::BadSchedule {
                                message: format!("quiet hours start and end at the same time ({:?}): write an end different from the start, e.g. \"21:00\" → \"08:00\"", q.end),
                            },
                        );
                    }
                }
                match (start_minute, end_minute, channels) {
                    (Some(start_minute), Some(end_minute), Some(channels)) if start_minute != end_minute => {
                        Some(Some(QuietHours { start_minute, end_minute, channels }))
                    }
                    _ => None,
                }
            }
        };
        Some(Schedule { start: start?, end: end?, zone: zone?, quiet_hours: quiet_hours? })
    }

    /// The entry: an event with its condition, or an audience, not both.
    fn entry(&mut self, path: &str, src: &JourneySource) -> Option<Entry> {
        let epath = format!("{path}/entry");
        let entry = &src.entry;
        match (&entry.event, &entry.audience) {
            (Some(event), None) => {
                let event = self.event_name(format!("{epath}/event"), event);
                let filter = self.condition(&format!("{epath}/where"), entry.filter.as_ref());
                Some(Entry::Event(EventMatch { event: event?, filter: filter? }))
            }
            (None, Some(audience)) => {
                if entry.filter.is_some() {
                    self.not_allowed(
                        &epath,
                        "where",
                        "with an audience entry (it filters the entry event): put the condition in `audience`",
                    );
                }
                let condition = self.condition(&format!("{epath}/audience"), Some(audience));
                if entry.filter.is_some() {
                    return None;
                }
                condition.map(Entry::Audience)
            }
            (Some(_), Some(_)) => {
                self.err(
                    epath,
                    JourneyErrorKind::ExactlyOne {
                        message: "entry has both `event` and `audience`: keep one — `event` for action-based entry, `audience` for segment-based entry",
                    },
                );
                None
            }
            (None, None) => {
                self.err(
                    epath,
                    JourneyErrorKind::ExactlyOne {
                        message: "entry has neither `event` nor `audience`: write e.g. `\"event\": \"add_to_cart\"` or `\"audience\": {\"traits.vip\": true}`",
                    },
                );
                None
            }
        }
    }

    /// The re-entry rule (absent = once).
    fn reentry(&mut self, path: &str, src: Option<&ReentrySource>) -> Option<Reentry> {
        let Some(src) = src else {
            return Some(Reentry::Once);
        };
        match src.mode.as_str() {
            "once" => {
                let context = "with `\"mode\": \"once\"` (only `multiple` re-entry has it)";
                let mut ok = true;
                if src.lock.is_some() {
                    self.not_allowed(path, "lock", context);
                    ok = false;
                }
                if src.cap.is_some() {
                    self.not_allowed(path, "cap", context);
                    ok = false;
                }
                if src.window.is_some() {
                    self.not_allowed(path, "window", context);
                    ok = false;
                }
                ok.then_some(Reentry::Once)
            }
            "multiple" => {
                let lock = match &src.lock {
                    Some(l) => self.duration(format!("{path}/lock"), "reentry lock", l),
                    None => self.missing(
                        path,
                        "lock",
                        "`multiple` re-entry needs a lock, the minimum time between entries, e.g. \"30d\"",
                    ),
                };
                let window = match &src.window {
                    Some(w) => self.duration(format!("{path}/window"), "reentry window", w).map(Some),
                    None => Some(None),
                };
                let mut problems: Vec<(&str, String)> = Vec::new();
                if let Some(cap) = src.cap.filter(|cap| !(1..=MAX_REENTRY_CAP).contains(cap)) {
                    problems.push((
                        "cap",
                        format!("reentry cap {cap} is out of range: write 1 to {MAX_REENTRY_CAP} entries per window"),
                    ));
                }
                match (src.cap.is_some(), src.window.is_some()) {
                    (true, false) => problems.push(("cap", "reentry `cap` needs a `window` to count entries in, e.g. `\"cap\": 2, \"window\": \"60d\"`".into())),
                    (false, true) => problems.push(("window", "reentry `window` needs a `cap` (entries allowed within it), e.g. `\"cap\": 2, \"window\": \"60d\"`".into())),
                    _ => {}
                }
                let ok = problems.is_empty();
                for (field, message) in problems {
                    self.err(format!("{path}/{field}"), JourneyErrorKind::BadReentry { message });
                }
                let (lock, window) = (lock?, window?);
                ok.then_some(Reentry::Multiple { lock, cap: src.cap, window })
            }
            other => {
                self.err(
                    format!("{path}/mode"),
                    JourneyErrorKind::BadReentry {
                        message: format!("unknown reentry mode {other:?}: write \"once\" or \"multiple\""),
                    },
                );
                None
            }
        }
    }
}
