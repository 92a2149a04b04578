//! The learned mix as pure math over counts (no database, no clock): for every send, a
//! Beta posterior of its conversion rate and the value arbitration ranks it by; for every
//! adaptive split, the probability that each variant converts best and the traffic
//! shares that follow. [`apply`] writes both into a bundle (data, never code).
//!
//! - **Sends.** Prior Beta(α₀, β₀) with the shop's pooled send conversion rate p₀ as its
//!   mean and the weight of [`MixSettings::prior_sends`] sends (empirical Bayes; p₀ =
//!   (conversions + 1) / (sends + 2) over every counted send). Posterior
//!   Beta(α₀ + c, β₀ + n − c), mean m. The learned value keeps the scale of the written
//!   one: `expected_value × m / p₀` (so with no data it equals the written value), or
//!   `m` itself when the send has no written value.
//! - **Adaptive splits.** Each variant's rate under a uniform Beta(1, 1) prior; P(best)
//!   by numerical integration of ∫ fᵢ(x) Πⱼ≠ᵢ Fⱼ(x) dx on a grid; each variant keeps at
//!   least [`MixSettings::min_share`] of the split's traffic, the rest follows P(best)
//!   (as Thompson sampling would in expectation, but decided once here, so every runtime
//!   splits the same). Until every variant has [`MixSettings::min_split_exposures`]
//!   settled assignments the written weights stay. The holdout is never moved.

use std::collections::BTreeMap;

use serde::Serialize;

use super::count::{SEND, SPLIT};
use crate::journey::{Bundle, StepKind, HOLDOUT_VARIANT};

/// Settled counts of one group of exposures (windows closed, or converted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Counts {
    /// Journey id.
    pub journey: String,
    /// Send or split step id.
    pub step: String,
    /// `send` or `split`.
    pub kind: String,
    /// Split variant ("" outside a split; `holdout` for the held out).
    pub variant: String,
    /// Channel of a send ("" for a split).
    pub channel: String,
    /// Exposures.
    pub exposures: u64,
    /// Of which converted within the window.
    pub conversions: u64,
}

/// Knobs of the fit.
#[derive(Debug, Clone, Copy)]
pub struct MixSettings {
    /// Weight of the pooled prior, in sends.
    pub prior_sends: f64,
    /// Settled assignments every variant needs before an adaptive split moves.
    pub min_split_exposures: u64,
    /// Smallest share of a split's traffic any variant keeps (exploration).
    pub min_share: f64,
}

impl Default for MixSettings {
    fn default() -> Self {
        MixSettings { prior_sends: 10.0, min_split_exposures: 20, min_share: 0.05 }
    }
}

/// The fit of one send step.
#[derive(Debug, Clone, Serialize)]
pub struct SendFit {
    /// Journey id.
    pub journey: String,
    /// Send step id.
    pub step: String,
    /// Sends counted (every variant and channel).
    pub sends: u64,
    /// Conversions among them.
    pub conversions: u64,
    /// Posterior Beta α.
    pub alpha: f64,
    /// Posterior Beta β.
    pub beta: f64,
    /// Posterior mean conversion rate.
    pub rate: f64,
    /// The journey's written `expected_value`.
    pub expected_value: f64,
    /// What arbitration ranks it by from now on.
    pub learned_value: f64,
}

/// One variant of an adaptive split.
#[derive(Debug, Clone, Serialize)]
pub struct VariantFit {
    /// Variant name.
    pub name: String,
    /// Settled assignments.
    pub exposures: u64,
    /// Conversions among them.
    pub conversions: u64,
    /// Posterior mean conversion rate (Beta(1, 1) prior).
    pub rate: f64,
    /// Probability it converts best.
    pub p_best: f64,
    /// Share of the split's (non-holdout) traffic it gets, in percent.
    pub share: f64,
}

/// The fit of one adaptive split.
#[derive(Debug, Clone, Serialize)]
pub struct SplitFit {
    /// Journey id.
    pub journey: String,
    /// Split step id.
    pub step: String,
    /// Its variants, in the split's order.
    pub variants: Vec<VariantFit>,
    /// Why the written weights stay, when they do.
    pub unchanged: Option<String>,
}

/// What [`fit`] learned.
#[derive(Debug, Clone, Serialize)]
pub struct MixFit {
    /// Pooled send conversion rate p₀ (the prior's mean).
    pub prior_rate: f64,
    /// Prior Beta α₀.
    pub prior_alpha: f64,
    /// Prior Beta β₀.
    pub prior_beta: f64,
    /// Per send step with counts.
    pub sends: Vec<SendFit>,
    /// Per adaptive split.
    pub splits: Vec<SplitFit>,
}

/// Fits the mix of `bundle`'s sends and adaptive splits on `counts`.
pub fn fit(bundle: &Bundle, counts: &[Counts], settings: &MixSettings) -> MixFit {
    let sends: Vec<&Counts> = counts.iter().filter(|c| c.kind == SEND).collect();
    let (n, c) = sends.iter().fold((0u64, 0u64), |(n, c), x| (n + x.exposures, c + x.conversions));
    let prior_rate = (c as f64 + 1.0) / (n as f64 + 2.0);
    let prior_alpha = prior_rate * settings.prior_sends;
    let prior_beta = (1.0 - prior_rate) * settings.prior_sends;
    let mut by_step: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for x in &sends {
        let e = by_step.entry((x.journey.as_str(), x.step.as_str())).or_default();
        e.0 += x.exposures;
        e.1 += x.conversions.min(x.exposures);
    }
    let mut out = MixFit { prior_rate, prior_alpha, prior_beta, sends: Vec::new(), splits: Vec::new() };
    for journey in &bundle.journeys {
        for step in &journey.steps {
            match &step.kind {
                StepKind::Send(send) => {
                    let Some(&(n, c)) = by_step.get(&(journey.id.as_str(), step.id.as_str())) else { continue };
                    let alpha = prior_alpha + c as f64;
                    let beta = prior_beta + (n - c) as f64;
                    let rate = alpha / (alpha + beta);
                    let learned_value =
                        if send.expected_value != 0.0 { send.expected_value * rate / prior_rate } else { rate };
                    out.sends.push(SendFit {
                        journey: journey.id.clone(),
                        step: step.id.clone(),
                        sends: n,
                        conversions: c,
                        alpha,
                        beta,
                        rate,
                        expected_value: send.expected_value,
                        learned_value,
                    });
                }
                StepKind::Split { variants, adaptive: true, .. } => {
                    let arm = |name: &str| {
                        counts
                            .iter()
                            .filter(|x| {
                                x.kind == SPLIT && x.journey == journey.id && x.step == step.id && x.variant == name
                            })
                            .fold((0u64, 0u64), |(n, c), x| (n + x.exposures, c + x.conversions.min(x.exposures)))
                    };
                    let arms: Vec<(u64, u64)> = variants.iter().map(|(name, _, _)| arm(name)).collect();
                    out.splits.push(split_fit(&journey.id, &step.id, variants, &arms, settings));
                }
                _ => {}
            }
        }
    }
    out
}

fn split_fit(
    journey: &str,
    step: &str,
    variants: &[(String, u32, usize)],
    arms: &[(u64, u64)],
    settings: &MixSettings,
) -> SplitFit {
    let posteriors: Vec<(f64, f64)> = arms.iter().map(|&(n, c)| (1.0 + c as f64, 1.0 + (n - c) as f64)).collect();
    let p_best = prob_best(&posteriors);
    let k = variants.len() as f64;
    let floor = settings.min_share.clamp(0.0, 1.0 / k.max(1.0));
    let short = arms.iter().zip(variants).find(|((n, _), _)| *n < settings.min_split_exposures);
    let unchanged = short.map(|(_, (name, _, _))| {
        format!("variant {name:?} has fewer than {} settled assignments", settings.min_split_exposures)
    });
    let variants = variants
        .iter()
        .zip(arms)
        .zip(posteriors.iter().zip(&p_best))
        .map(|(((name, bp, _), &(n, c)), (&(a, b), &p))| VariantFit {
            name: name.clone(),
            exposures: n,
            conversions: c,
            rate: a / (a + b),
            p_best: p,
            share: if unchanged.is_some() { f64::from(*bp) / 100.0 } else { (floor + (1.0 - k * floor) * p) * 100.0 },
        })
        .collect();
    SplitFit { journey: journey.to_owned(), step: step.to_owned(), variants, unchanged }
}

/// P(variant i has the highest rate) for independent Beta(αᵢ, βᵢ) rates: the densities
/// and distribution functions on a grid over where the posteriors have their mass.
pub fn prob_best(posteriors: &[(f64, f64)]) -> Vec<f64> {
    const POINTS: usize = 4000;
    if posteriors.len() < 2 {
        return vec![1.0; posteriors.len()];
    }
    let sd = |a: f64, b: f64| (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
    let lo = posteriors.iter().map(|&(a, b)| a / (a + b) - 10.0 * sd(a, b)).fold(1.0, f64::min).max(0.0);
    let hi = posteriors.iter().map(|&(a, b)| a / (a + b) + 10.0 * sd(a, b)).fold(0.0, f64::max).min(1.0);
    let width = (hi - lo) / POINTS as f64;
    let xs: Vec<f64> = (0..POINTS).map(|i| lo + (i as f64 + 0.5) * width).collect();
    // Each density on the grid, normalised to sum 1 (no Beta function needed).
    let densities: Vec<Vec<f64>> = posteriors
        .iter()
        .map(|&(a, b)| {
            let logs: Vec<f64> = xs.iter().map(|&x| (a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln()).collect();
            let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let raw: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
            let total: f64 = raw.iter().sum();
            raw.into_iter().map(|d| d / total.max(f64::MIN_POSITIVE)).collect()
        })
        .collect();
    // Distribution functions at each point (half the point's own mass: midpoint rule).
    let cdfs: Vec<Vec<f64>> = densities
        .iter()
        .map(|d| {
            let mut acc = 0.0;
            d.iter()
                .map(|p| {
                    let at = acc + p / 2.0;
                    acc += p;
                    at
                })
                .collect()
        })
        .collect();
    let mut best: Vec<f64> = densities
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.iter()
                .enumerate()
                .map(|(x, p)| {
                    let others: f64 = cdfs
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, f)| f.get(x).copied().unwrap_or(1.0))
                        .product();
                    p * others
                })
                .sum()
        })
        .collect();
    let total: f64 = best.iter().sum();
    if total > 0.0 {
        best.iter_mut().for_each(|p| *p /= total);
    }
    best
}

/// Writes the fit into `bundle`: each fitted send's learned value, each moved split's
/// learned weights (basis points in variant order, summing to 10,000). True when
/// anything changed.
pub fn apply(bundle: &mut Bundle, fit: &MixFit) -> bool {
    let mut changed = false;
    for journey in &mut bundle.journeys {
        for step in &mut journey.steps {
            match &mut step.kind {
                StepKind::Send(send) => {
                    let found = fit.sends.iter().find(|s| s.journey == journey.id && s.step == step.id);
                    let value = found.map(|s| s.learned_value).filter(|v| v.is_finite());
                    if value.is_some() && send.learned_value != value {
                        send.learned_value = value;
                        changed = true;
                    }
                }
                StepKind::Split { variants, adaptive: true, learned_bp, .. } => {
                    let Some(split) = fit.splits.iter().find(|s| s.journey == journey.id && s.step == step.id) else {
                        continue;
                    };
                    if split.unchanged.is_some() || split.variants.len() != variants.len() {
                        continue;
                    }
                    let shares: Vec<f64> = split.variants.iter().map(|v| v.share).collect();
                    let bp = basis_points(&shares);
                    if bp.iter().all(|&b| b > 0) && *learned_bp != bp {
                        *learned_bp = bp;
                        changed = true;
                    }
                }
                _ => {}
            }
        }
    }
    changed
}

/// 10,000 basis points split by `shares` (largest remainder, ties to the earlier).
fn basis_points(shares: &[f64]) -> Vec<u32> {
    let total: f64 = shares.iter().filter(|s| s.is_finite() && **s > 0.0).sum();
    if total <= 0.0 {
        return vec![0; shares.len()];
    }
    let exact: Vec<f64> = shares.iter().map(|s| s.max(0.0) / total * 10_000.0).collect();
    let mut parts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| {
        let frac = |i: usize| exact.get(i).map_or(0.0, |e| e - e.floor());
        frac(b).total_cmp(&frac(a)).then(a.cmp(&b))
    });
    let missing = 10_000u32.saturating_sub(parts.iter().sum());
    for &i in order.iter().cycle().take(missing as usize) {
        if let Some(p) = parts.get_mut(i) {
            *p += 1;
        }
    }
    parts
}

/// The holdout's settled counts of a journey's split step, for reports.
pub fn holdout_counts<'c>(counts: &'c [Counts], journey: &str) -> impl Iterator<Item = &'c Counts> + 'c {
    let journey = journey.to_owned();
    counts.iter().filter(move |c| c.kind == SPLIT && c.journey == journey && c.variant == HOLDOUT_VARIANT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prob_best_agrees_with_closed_forms() {
        // Equal posteriors: a coin toss.
        let p = prob_best(&[(5.0, 50.0), (5.0, 50.0)]);
        assert!((p[0] - 0.5).abs() < 1e-3, "{p:?}");
        // Beta(1,1) against Beta(2,1): P(X2 > X1) = 2/3.
        let p = prob_best(&[(1.0, 1.0), (2.0, 1.0)]);
        assert!((p[1] - 2.0 / 3.0).abs() < 2e-3, "{p:?}");
        // Far apart: certain.
        let p = prob_best(&[(50.0, 950.0), (100.0, 900.0)]);
        assert!(p[1] > 0.999, "{p:?}");
    }

    #[test]
    fn shares_keep_a_floor_and_sum_to_ten_thousand() {
        let bp = basis_points(&[5.0, 95.0]);
        assert_eq!(bp, vec![500, 9500]);
        assert_eq!(basis_points(&[1.0, 1.0, 1.0]).iter().sum::<u32>(), 10_000);
    }
}
