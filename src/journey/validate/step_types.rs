//! Checks of each step type's own fields — `wait_for`, `delay`, `branch`, `send` (channel,
//! content, incentive, fallback, audience action), `split` (variant weights and holdout) —
//! each giving the step's draft: its compiled form and where it leads.

use std::collections::BTreeSet;

use crate::journey::compiled::{Channel, EventMatch, Incentive, Send, StepKind, WaitTrigger, HOLDOUT_VARIANT};
use crate::journey::model::{IncentiveSource, StepSource};
use crate::time::Duration;

use super::steps::{StepDraft, StepIds};
use super::{Checker, JourneyErrorKind, DEFAULT_INCENTIVE_VALIDITY};

impl Checker<'_> {
    /// A `wait_for` step: an event or a state condition, a timeout and where each outcome goes.
    pub(super) fn wait_for_step(&mut self, path: &str, step: &StepSource, ids: &StepIds<'_>) -> StepDraft {
        let mut draft = StepDraft::default();
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
        draft
    }

    /// A `delay` step: a duration and/or a local time of day, then `next`.
    pub(super) fn delay_step(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
    ) -> StepDraft {
        let mut draft = StepDraft::default();
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
        draft
    }

    /// A `branch` step: ordered cases, each a condition and a step to go to, and a default.
    pub(super) fn branch_step(&mut self, path: &str, step: &StepSource, ids: &StepIds<'_>) -> StepDraft {
        let mut draft = StepDraft::default();
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
        draft
    }

    /// A `send` step; its successor stays known for the graph checks even when it is broken.
    pub(super) fn send_step(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
        journey_priority: i32,
    ) -> StepDraft {
        let mut draft = StepDraft::default();
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
                "learned_value",
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
        draft
    }

    /// A `split` step: A/B variants with weights and a holdout.
    pub(super) fn split_step(&mut self, path: &str, step: &StepSource, ids: &StepIds<'_>) -> StepDraft {
        let mut draft = StepDraft::default();
        self.only_fields(path, step, &["variants", "holdout", "adaptive", "learned_weights"]);
        let split = self.split(path, step, ids);
        draft.successors.extend(step.variants.iter().filter_map(|v| ids.by_id.get(v.next.as_str()).copied()));
        draft.kind = split;
        draft
    }

    /// A send's own fields, compiled; `None` when any is invalid (every one is still checked).
    fn send(
        &mut self,
        path: &str,
        step: &StepSource,
        index: usize,
        count: usize,
        ids: &StepIds<'_>,
        journey_priority: i32,
    ) -> Option<Send> {
        let channel = match &step.channel {
            Some(c) => self.channel(format!("{path}/channel"), c),
            None => self.missing(path, "channel", "write one of onsite, inapp, email, sms, push, ads"),
        };
        let content = match step.content.as_deref().map(str::trim) {
            Some(c) if !c.is_empty() => Some(c.to_owned()),
            Some(_) => self.missing(
                path,
                "content",
                "content is empty: write the template / content key to render, e.g. \"cart-reminder-1\"",
            ),
            None => {
                self.missing(path, "content", "write the template / content key to render, e.g. \"cart-reminder-1\"")
            }
        };
        let incentive = self.incentive(path, step.incentive.as_ref());
        let fallback = self.fallback(path, &step.fallback, channel);
        let audience_add = self.audience_action(path, channel, step.audience_action.as_deref());
        let expected_value = match step.expected_value {
            Some(v) if !v.is_finite() => {
                self.err(
                    format!("{path}/expected_value"),
                    JourneyErrorKind::BadNumber { field: "expected_value", found: v },
                );
                None
            }
            Some(v) => Some(v),
            None => Some(0.0),
        };
        let learned_value = match step.learned_value {
            Some(v) if !v.is_finite() => {
                self.err(
                    format!("{path}/learned_value"),
                    JourneyErrorKind::BadNumber { field: "learned_value", found: v },
                );
                None
            }
            v => Some(v),
        };
        let next = self.next_or_following(path, step, index, count, ids);
        Some(Send {
            channel: channel?,
            content: content?,
            incentive: incentive?,
            fallback: fallback?,
            priority: journey_priority.saturating_add(step.priority.unwrap_or(0)),
            critical: step.critical,
            expected_value: expected_value?,
            learned_value: learned_value?,
            audience_add: audience_add?,
            next: next?,
        })
    }

    /// A send's `incentive`: `Some(None)` when there is none, `None` when it is invalid.
    fn incentive(&mut self, path: &str, incentive: Option<&IncentiveSource>) -> Option<Option<Incentive>> {
        match incentive {
            None => Some(None),
            Some(inc) => {
                let ipath = format!("{path}/incentive");
                let id_ok = !inc.id.trim().is_empty();
                if !id_ok {
                    self.missing::<()>(&ipath, "id", "write the incentive (coupon campaign) id, e.g. \"WELCOME10\"");
                }
                let valid_for = match &inc.valid_for {
                    Some(v) => self.duration(format!("{ipath}/valid_for"), "incentive valid_for", v),
                    None => Some(DEFAULT_INCENTIVE_VALIDITY),
                };
                let group = inc.group.clone().filter(|g| !g.trim().is_empty()).unwrap_or_else(|| inc.id.clone());
                let id_ok = id_ok && self.name_length(format!("{ipath}/id"), "the incentive id", &inc.id);
                let id_ok = id_ok && self.name_length(format!("{ipath}/group"), "the incentive group", &group);
                valid_for.filter(|_| id_ok).map(|valid_for| Some(Incentive { id: inc.id.clone(), group, valid_for }))
            }
        }
    }

    /// A send's `fallback` channels: known, each once, none of them the send's own `channel`.
    fn fallback(&mut self, path: &str, names: &[String], channel: Option<Channel>) -> Option<Vec<Channel>> {
        let mut fallback = Vec::with_capacity(names.len());
        let mut fallback_ok = true;
        for (i, name) in names.iter().enumerate() {
            let fpath = format!("{path}/fallback/{i}");
            let Some(c) = self.channel(fpath.clone(), name) else {
                fallback_ok = false;
                continue;
            };
            if Some(c) == channel {
                self.err(
                    fpath,
                    JourneyErrorKind::BadFallback {
                        message: format!(
                            "fallback channel {name:?} is the send's own channel: list only other channels to try"
                        ),
                    },
                );
                fallback_ok = false;
            } else if fallback.contains(&c) {
                self.err(
                    fpath,
                    JourneyErrorKind::BadFallback {
                        message: format!("fallback channel {name:?} is listed twice: list each channel once"),
                    },
                );
                fallback_ok = false;
            } else {
                fallback.push(c);
            }
        }
        Some(fallback).filter(|_| fallback_ok)
    }

    /// A send's `audience_action` (true = add): required on ads sends, refused on others.
    fn audience_action(&mut self, path: &str, channel: Option<Channel>, action: Option<&str>) -> Option<bool> {
        match (channel, action) {
            (Some(Channel::Ads), Some(action)) => match action {
                "add" => Some(true),
                "remove" => Some(false),
                other => {
                    self.err(
                        format!("{path}/audience_action"),
                        JourneyErrorKind::BadAudienceAction { found: other.to_owned() },
                    );
                    None
                }
            },
            (Some(Channel::Ads), None) => self.missing(
                path,
                "audience_action",
                "an ads send adds or removes the shopper from the retargeting audience: write \"add\" or \"remove\"",
            ),
            (Some(_), Some(_)) => {
                self.not_allowed(path, "audience_action", "on a send whose channel is not ads");
                None
            }
            (_, None) | (None, Some(_)) => Some(false),
        }
    }

    /// A split's variants and holdout, compiled into basis points.
    fn split(&mut self, path: &str, step: &StepSource, ids: &StepIds<'_>) -> Option<StepKind> {
        if step.variants.is_empty() {
            return self.missing(
                path,
                "variants",
                "a split needs variants: `[{\"name\": \"a\", \"weight\": 50, \"next\": \"step-id\"}, ...]`",
            );
        }
        let mut ok = true;
        let mut names = BTreeSet::new();
        let mut nexts = Vec::with_capacity(step.variants.len());
        for (i, v) in step.variants.iter().enumerate() {
            let vpath = format!("{path}/variants/{i}");
            if !(v.weight.is_finite() && v.weight > 0.0) {
                self.err(
                    format!("{vpath}/weight"),
                    JourneyErrorKind::BadWeights {
                        message: format!(
                            "variant weight {} must be greater than zero: write a relative weight such as 50",
                            v.weight
                        ),
                    },
                );
                ok = false;
            }
            if v.name == HOLDOUT_VARIANT {
                self.err(
                    format!("{vpath}/name"),
                    JourneyErrorKind::BadWeights {
                        message: format!(
                            "variant name {HOLDOUT_VARIANT:?} is reserved for the shoppers held out: rename the variant"
                        ),
                    },
                );
                ok = false;
            } else if v.name.trim().is_empty() || !names.insert(v.name.as_str()) {
                self.err(
                    format!("{vpath}/name"),
                    JourneyErrorKind::BadWeights {
                        message: format!(
                            "variant name {:?} is empty or used twice: give every variant its own name",
                            v.name
                        ),
                    },
                );
                ok = false;
            }
            ok &= self.name_length(format!("{vpath}/name"), "a variant name", &v.name);
            nexts.push(self.step_ref(format!("{vpath}/next"), ids, &v.next));
        }
        let holdout = step.holdout.unwrap_or(0.0);
        if !(holdout.is_finite() && (0.0..=100.0).contains(&holdout)) {
            self.err(
                format!("{path}/holdout"),
                JourneyErrorKind::BadWeights {
                    message: format!("holdout {holdout} is not a percentage: write 0 to 100"),
                },
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let weights: Vec<f64> = step.variants.iter().map(|v| v.weight).collect();
        let bps = basis_points(&weights);
        if let Some(i) = bps.iter().position(|&bp| bp == 0) {
            self.err(format!("{path}/variants/{i}/weight"), JourneyErrorKind::BadWeights { message: "variant weight is too small to receive any shopper (under 0.01% of the total): raise it or remove the variant".into() });
            return None;
        }
        let variants = step
            .variants
            .iter()
            .zip(bps)
            .zip(nexts)
            .map(|((v, bp), next)| next.map(|n| (v.name.clone(), bp, n)))
            .collect::<Option<Vec<_>>>()?;
        // Holdout is decided first, in basis points of all shoppers; the variants then
        // share the rest, their basis points summing to 10_000.
        let holdout_bp = (holdout * 100.0).round().clamp(0.0, 10_000.0) as u32;
        let (adaptive, learned_bp) = self.adaptive(path, step)?;
        Some(StepKind::Split { variants, holdout_bp, adaptive, learned_bp })
    }

    /// A split's `adaptive` opt-in and its `learned_weights` (in variant order, as basis
    /// points). The journey's conversion goal is checked with the journey.
    fn adaptive(&mut self, path: &str, step: &StepSource) -> Option<(bool, Vec<u32>)> {
        let adaptive = step.adaptive.unwrap_or(false);
        let bad = |message: String| JourneyErrorKind::BadAdaptiveSplit { message };
        if adaptive && step.variants.len() < 2 {
            self.err(
                format!("{path}/adaptive"),
                bad("an adaptive split shifts traffic between variants: give it two variants or more".into()),
            );
            return None;
        }
        let Some(learned) = &step.learned_weights else { return Some((adaptive, Vec::new())) };
        let lpath = format!("{path}/learned_weights");
        if !adaptive {
            self.err(
                lpath,
                bad("learned_weights apply to an adaptive split only: add \"adaptive\": true or remove them".into()),
            );
            return None;
        }
        let mut ok = true;
        for (name, weight) in learned {
            if !step.variants.iter().any(|v| &v.name == name) {
                let names: Vec<&str> = step.variants.iter().map(|v| v.name.as_str()).collect();
                let message =
                    format!("no variant is named {name:?}: learned weights name the split's variants ({names:?})");
                self.err(format!("{lpath}/{}", pointer_escape(name)), bad(message));
                ok = false;
            } else if !(weight.is_finite() && *weight > 0.0) {
                let message = format!("learned weight {weight} must be greater than zero");
                self.err(format!("{lpath}/{}", pointer_escape(name)), bad(message));
                ok = false;
            }
        }
        if let Some(missing) = step.variants.iter().find(|v| !learned.contains_key(&v.name)) {
            let message = format!("learned weights name every variant: {:?} is missing", missing.name);
            self.err(lpath.clone(), bad(message));
            ok = false;
        }
        if !ok {
            return None;
        }
        let weights: Vec<f64> = step.variants.iter().map(|v| learned.get(&v.name).copied().unwrap_or(0.0)).collect();
        let bps = basis_points(&weights);
        if let Some(i) = bps.iter().position(|&bp| bp == 0) {
            let name = step.variants.get(i).map_or("", |v| v.name.as_str());
            let message = "learned weight is too small to receive any shopper (under 0.01% of the total)".to_owned();
            self.err(format!("{lpath}/{}", pointer_escape(name)), bad(message));
            return None;
        }
        Some((true, bps))
    }
}

/// One JSON-pointer token (RFC 6901): `~` and `/` escaped.
fn pointer_escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Splits 10_000 basis points among positive weights (largest remainder, ties to the
/// earlier variant), so the parts always sum to exactly 10_000.
fn basis_points(weights: &[f64]) -> Vec<u32> {
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || !(total.is_finite() && total > 0.0) {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / total * 10_000.0).collect();
    let mut parts: Vec<u32> = exact.iter().map(|e| e.floor().clamp(0.0, 10_000.0) as u32).collect();
    let assigned: u32 = parts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact.get(a).map_or(0.0, |e| e - e.floor());
        let rb = exact.get(b).map_or(0.0, |e| e - e.floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(10_000u32.saturating_sub(assigned) as usize) {
        if let Some(p) = parts.get_mut(i) {
            *p += 1;
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_points_sum_to_ten_thousand() {
        assert_eq!(basis_points(&[1.0, 1.0, 1.0]), vec![3334, 3333, 3333]);
        assert_eq!(basis_points(&[50.0, 50.0]), vec![5000, 5000]);
        assert_eq!(basis_points(&[2.0]), vec![10_000]);
        assert_eq!(basis_points(&[1.0, 2.0, 3.0, 7.0]).iter().sum::<u32>(), 10_000);
    }
}
