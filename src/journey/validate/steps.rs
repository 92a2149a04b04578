//! Checks of a journey's step list: step ids, references between steps, the fields each
//! step type allows, and the step drafts the graph checks walk.

use std::collections::BTreeMap;

use crate::journey::compiled::{EventMatch, Step, StepKind, WaitTrigger};
use crate::journey::model::{JourneySource, StepSource};
use crate::time::Duration;

use super::{Checker, JourneyErrorKind};

/// A compiled step with its outgoing references (None where a reference failed).
pub(super) struct StepDraft {
    pub(super) kind: Option<StepKind>,
    pub(super) successors: Vec<usize>,
    pub(super) waits: bool,
    pub(super) is_exit: bool,
}

/// Where step ids point, and what is known about them.
pub(super) struct StepIds<'a> {
    pub(super) by_id: BTreeMap<&'a str, usize>,
    pub(super) known: String,
}

impl Checker<'_> {
    pub(super) fn steps(&mut self, path: &str, src: &JourneySource) -> Option<(usize, Vec<Step>)> {
        if src.steps.is_empty() {
            self.err(format!("{path}/steps"), JourneyErrorKind::EmptyJourney);
            return None;
        }
        let before = self.errors.len();
        let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, step) in src.steps.iter().enumerate() {
            let ipath = format!("{path}/steps/{i}/id");
            if self.id(ipath.clone(), "step", &step.id) {
                if let Some(&first) = by_id.get(step.id.as_str()) {
                    self.err(ipath, JourneyErrorKind::DuplicateStepId { id: step.id.clone(), first });
                } else {
                    by_id.insert(step.id.as_str(), i);
                }
            }
        }
        let known = src.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ");
        let ids = StepIds { by_id, known };
        let start = match &src.start {
            Some(id) => self.step_ref(format!("{path}/start"), &ids, id),
            None => Some(0),
        };
        let count = src.steps.len();
        let drafts: Vec<StepDraft> = src
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| self.step(&format!("{path}/steps/{i}"), step, i, count, &ids, src.priority))
            .collect();
        // Graph checks only make sense when every reference resolved.
        let graph_complete = !self.errors.iter().skip(before).any(|e| {
            matches!(
                e.kind,
                JourneyErrorKind::UnknownStep { .. }
                    | JourneyErrorKind::DuplicateStepId { .. }
                    | JourneyErrorKind::BadId { .. }
                    | JourneyErrorKind::UnknownStepType { .. }
                    | JourneyErrorKind::FallsOffEnd { .. }
                    | JourneyErrorKind::MissingField { field: "on_performed" | "on_timed_out" | "default", .. }
            )
        });
        if let (Some(start), true) = (start, graph_complete) {
            self.graph_checks(path, src, start, &drafts);
        }
        let start = start?;
        if self.errors.len() != before {
            return None;
        }
        let steps = src
            .steps
            .iter()
            .zip(drafts)
            .map(|(s, d)| d.kind.map(|kind| Step { id: s.id.clone(), kind }))
            .collect::<Option<Vec<_>>>()?;
        Some((start, steps))
    }

    pub(super) fn step_ref(&mut self, path: String, ids: &StepIds<'_>, target: &str) -> Option<usize> {
        let found = ids.by_id.get(target).copied();
        if found.is_none() {
            self.err(path, JourneyErrorKind::UnknownStep { target: target.to_owned(), known: ids.known.clone() });
        }
        found
    }

    /// `next` if written, else the following step; the last step without `next` is an error.
    pub(super) fn next_or_following(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
    ) -> Option<usize> {
        match &step.next {
            Some(target) => self.step_ref(format!("{path}/next"), ids, target),
            None if index + 1 < count => Some(index + 1),
            None => {
                self.err(path, JourneyErrorKind::FallsOffEnd { step: step.id.clone() });
                None
            }
        }
    }

    /// Reports every field set on a step that its type does not use.
    fn only_fields(&mut self, path: &str, step: &StepSource, allowed: &[&str]) {
        let set: [(&'static str, bool, &'static str); 20] = [
            (
                "next",
                step.next.is_some(),
                "delay and send; wait_for uses on_performed / on_timed_out, branch default, split variants",
            ),
            ("event", step.event.is_some(), "wait_for"),
            ("where", step.filter.is_some(), "wait_for with `event`"),
            ("until", step.until.is_some(), "wait_for"),
            ("timeout", step.timeout.is_some(), "wait_for"),
            ("on_performed", step.on_performed.is_some(), "wait_for"),
            ("on_timed_out", step.on_timed_out.is_some(), "wait_for"),
            ("duration", step.duration.is_some(), "delay"),
            ("until_time", step.until_time.is_some(), "delay"),
            ("cases", !step.cases.is_empty(), "branch"),
            ("default", step.default.is_some(), "branch"),
            ("channel", step.channel.is_some(), "send"),
            ("content", step.content.is_some(), "send"),
            ("incentive", step.incentive.is_some(), "send"),
            ("fallback", !step.fallback.is_empty(), "send"),
            ("priority", step.priority.is_some(), "send"),
            ("critical", step.critical, "send"),
            ("expected_value", step.expected_value.is_some(), "send"),
            ("audience_action", step.audience_action.is_some(), "send with channel ads"),
            ("variants", !step.variants.is_empty(), "split"),
        ];
        let article = if step.kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        let set = set.into_iter().chain([("holdout", step.holdout.is_some(), "split")]);
        for (field, present, owner) in set {
            if present && !allowed.contains(&field) {
                self.not_allowed(path, field, format!("on {article} {} step (it belongs on {owner})", step.kind));
            }
        }
    }

    fn step(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
        journey_priority: i32,
    ) -> StepDraft {
        let mut draft = StepDraft { kind: None, successors: Vec::new(), waits: false, is_exit: false };
        match step.kind.as_str() {
            "wait_for" => {
                self.only_fields(path, step, &["event", "where", "until", "timeout", "on_performed", "on_timed_out"]);
                let trigger = match (&step.event, &step.until) {
                    (Some(event), None) => {
                        let event = self.event_name(format!("{path}/event"), event);
                        let filter = self.condition(&format!("{path}/where"), step.filter.as_ref());
                        event.zip(filter).map(|(event, filter)| WaitTrigger::Event(EventMatch { event, filter }))
                    }
                    (None, Some(until)) => {
                        if step.filter.is_some() {
                            self.not_allowed(
                                path,
                                "where",
                                "with `until` (it filters the awaited `event`): put the condition in `until`",
                            );
                        }
                        self.condition(&format!("{path}/until"), Some(until)).map(WaitTrigger::State)
                    }
                    (Some(_), Some(_)) => {
                        self.err(path, JourneyErrorKind::ExactlyOne { message: "wait_for has both `event` and `until`: keep one — `event` waits for something the shopper does, `until` for a state such as `{\"intent.tier\": \"hot\"}`" });
                        None
                    }
                    (None, None) => {
                        self.err(path, JourneyErrorKind::ExactlyOne { message: "wait_for needs `event` (e.g. \"purchase\") or `until` (a state condition such as `{\"intent.tier\": \"hot\"}`)" });
                        None
                    }
                };
                let timeout = match &step.timeout {
                    Some(t) => self.duration(format!("{path}/timeout"), "timeout", t),
                    None => self.missing(path, "timeout", "a wait_for needs a timeout, how long to wait, e.g. \"3d\""),
                };
                let on_performed = match &step.on_performed {
                    Some(t) => self.step_ref(format!("{path}/on_performed"), ids, t),
                    None => self.missing(path, "on_performed", "write the step id to go to when the shopper did it"),
                };
                let on_timed_out = match &step.on_timed_out {
                    Some(t) => self.step_ref(format!("{path}/on_timed_out"), ids, t),
                    None => self.missing(path, "on_timed_out", "write the step id to go to when the wait times out"),
                };
                draft.successors.extend(on_performed);
                draft.successors.extend(on_timed_out);
                draft.waits = true;
                if let (Some(trigger), Some(timeout), Some(on_performed), Some(on_timed_out)) =
                    (trigger, timeout, on_performed, on_timed_out)
                {
                    draft.kind = Some(StepKind::WaitFor { trigger, timeout, on_performed, on_timed_out });
                }
            }
            "delay" => {
                self.only_fields(path, step, &["next", "duration", "until_time"]);
                let duration = match &step.duration {
                    Some(d) => self.duration(format!("{path}/duration"), "delay duration", d),
                    None => Some(Duration(0)),
                };
                let until_minute = match &step.until_time {
                    Some(t) => self.time_of_day(format!("{path}/until_time"), t).map(Some),
                    None => Some(None),
                };
                if step.duration.is_none() && step.until_time.is_none() {
                    self.missing::<()>(
                        path,
                        "duration",
                        "a delay needs `duration` (e.g. \"1h\") and/or `until_time` (local \"HH:MM\")",
                    );
                }
                let next = self.next_or_following(path, step, index, count, ids);
                draft.successors.extend(next);
                // A duration that failed to parse was reported; treat it as a wait so the
                // cycle check does not pile a second error on it.
                draft.waits = duration.is_none_or(|d| d.millis() > 0);
                if let (Some(duration), Some(until_minute), Some(next)) = (duration, until_minute, next) {
                    if step.duration.is_some() || step.until_time.is_some() {
                        draft.kind = Some(StepKind::Delay { duration, until_minute, next });
                    }
                }
            }
            "branch" => {
                self.only_fields(path, step, &["cases", "default"]);
                if step.cases.is_empty() {
                    self.missing::<()>(
                        path,
                        "cases",
                        "a branch needs at least one case: `\"cases\": [{\"when\": {...}, \"next\": \"step-id\"}]`",
                    );
                }
                let mut cases = Vec::with_capacity(step.cases.len());
                for (i, case) in step.cases.iter().enumerate() {
                    let cpath = format!("{path}/cases/{i}");
                    let when = self.condition(&format!("{cpath}/when"), Some(&case.when));
                    let next = self.step_ref(format!("{cpath}/next"), ids, &case.next);
                    draft.successors.extend(next);
                    cases.push(when.zip(next));
                }
                let default = match &step.default {
                    Some(t) => self.step_ref(format!("{path}/default"), ids, t),
                    None => self.missing(path, "default", "write the step id to go to when no case holds"),
                };
                draft.successors.extend(default);
                if let (Some(cases), Some(default)) = (cases.into_iter().collect::<Option<Vec<_>>>(), default) {
                    if !cases.is_empty() {
                        draft.kind = Some(StepKind::Branch { cases, default });
                    }
                }
            }
            "send" => {
                self.only_fields(
                    path,
                    step,
                    &[
                        "next",
                        "channel",
                        "content",
                        "incentive",
                        "fallback",
                        "priority",
                        "critical",
                        "expected_value",
                        "audience_action",
                    ],
                );
                let send = self.send(path, step, index, count, ids, journey_priority);
                if let Some(send) = &send {
                    draft.successors.push(send.next);
                } else if let Some(target) = &step.next {
                    // Keep the graph complete for reachability even when the send is broken.
                    draft.successors.extend(ids.by_id.get(target.as_str()).copied());
                } else if index + 1 < count {
                    draft.successors.push(index + 1);
                }
                draft.kind = send.map(StepKind::Send);
            }
            "split" => {
                self.only_fields(path, step, &["variants", "holdout"]);
                let split = self.split(path, step, ids);
                draft.successors.extend(step.variants.iter().filter_map(|v| ids.by_id.get(v.next.as_str()).copied()));
                draft.kind = split;
            }
            "exit" => {
                self.only_fields(path, step, &[]);
                draft.is_exit = true;
                draft.kind = Some(StepKind::Exit);
            }
            other => {
                self.err(format!("{path}/type"), JourneyErrorKind::UnknownStepType { found: other.to_owned() });
            }
        }
        draft
    }
}
