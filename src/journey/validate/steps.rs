//! Checks of a journey's step list: step ids, references between steps, the fields each
//! step type allows, and the step drafts the graph checks walk.

use std::collections::BTreeMap;

use crate::journey::compiled::{Step, StepKind};
use crate::journey::model::{JourneySource, StepSource};

use super::{Checker, JourneyErrorKind};

/// A compiled step with its outgoing references (None where a reference failed).
#[derive(Default)]
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
    /// The step list: ids, the start step, each step, then the graph checks; returns the
    /// start index and the compiled steps.
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

    /// A reference to a step id, as the step's index.
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
    pub(super) fn only_fields(&mut self, path: &str, step: &StepSource, allowed: &[&str]) {
        let set: [(&'static str, bool, &'static str); 23] = [
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
            ("learned_value", step.learned_value.is_some(), "send"),
            ("adaptive", step.adaptive.is_some(), "split"),
            ("learned_weights", step.learned_weights.is_some(), "split"),
        ];
        let article = if step.kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        let set = set.into_iter().chain([("holdout", step.holdout.is_some(), "split")]);
        for (field, present, owner) in set {
            if present && !allowed.contains(&field) {
                self.not_allowed(path, field, format!("on {article} {} step (it belongs on {owner})", step.kind));
            }
        }
    }

    /// Checks one step by its `type`; the draft keeps its references for the graph checks.
    fn step(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
        journey_priority: i32,
    ) -> StepDraft {
        match step.kind.as_str() {
            "wait_for" => self.wait_for_step(path, step, ids),
            "delay" => self.delay_step(path, step, index, count, ids),
            "branch" => self.branch_step(path, step, ids),
            "send" => self.send_step(path, step, index, count, ids, journey_priority),
            "split" => self.split_step(path, step, ids),
            "exit" => {
                self.only_fields(path, step, &[]);
                StepDraft { kind: Some(StepKind::Exit), is_exit: true, ..StepDraft::default() }
            }
            other => {
                self.err(format!("{path}/type"), JourneyErrorKind::UnknownStepType { found: other.to_owned() });
                StepDraft::default()
            }
        }
    }
}
