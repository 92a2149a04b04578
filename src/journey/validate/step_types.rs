//! Checks of the step types with more than a few fields: `send` (channel, content,
//! incentive, fallback, audience action) and `split` (variant weights and holdout).

use std::collections::BTreeSet;

use crate::journey::compiled::{Channel, Incentive, Send, StepKind};
use crate::journey::model::StepSource;

use super::steps::StepIds;
use super::{Checker, JourneyErrorKind, DEFAULT_INCENTIVE_VALIDITY};

impl Checker<'_> {
    pub(super) fn send(
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
        let incentive = match &step.incentive {
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
        };
        let mut fallback = Vec::with_capacity(step.fallback.len());
        let mut fallback_ok = true;
        for (i, name) in step.fallback.iter().enumerate() {
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
        let audience_add = match (channel, &step.audience_action) {
            (Some(Channel::Ads), Some(action)) => match action.as_str() {
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
        };
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
        let next = self.next_or_following(path, step, index, count, ids);
        Some(Send {
            channel: channel?,
            content: content?,
            incentive: incentive?,
            fallback: Some(fallback).filter(|_| fallback_ok)?,
            priority: journey_priority.saturating_add(step.priority.unwrap_or(0)),
            critical: step.critical,
            expected_value: expected_value?,
            audience_add: audience_add?,
            next: next?,
        })
    }

    pub(super) fn split(&mut self, path: &str, step: &StepSource, ids: &StepIds<'_>) -> Option<StepKind> {
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
            if v.name.trim().is_empty() || !names.insert(v.name.as_str()) {
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
        Some(StepKind::Split { variants, holdout_bp })
    }
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
