//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an
//! alternative to the Pareto/NBD model"): while alive, a customer buys as a Poisson process
//! of rate λ; after each purchase they drop out with probability p; across customers
//! λ ~ Gamma(r, α) and p ~ Beta(a, b). Here: its log-likelihood, the maximum-likelihood
//! fit, and what it predicts of one customer given their history (`x`, `t_x`, `T`) —
//! the probability they are still alive, the expected purchases in the next `t`, the
//! probability of none in the next `t`, and the median wait to the next purchase.

use super::optimize::{self, Objective};
use super::special::{bgnbd_hyp_term, digamma, ln_gamma};
use super::summary::History;
use super::FitError;

/// The four population parameters, `α` in the fit's time unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Scale of the purchase-rate distribution (in time units).
    pub alpha: f64,
    /// First shape of the drop-out probability distribution.
    pub a: f64,
    /// Second shape of the drop-out probability distribution.
    pub b: f64,
}

/// How a fit went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitReport {
    /// The log-likelihood at the estimates: the sum over customers of the log of the
    /// paper's likelihood (its equation 6), times in the fit's unit.
    pub log_likelihood: f64,
    /// Optimizer iterations.
    pub iterations: u64,
    /// Distinct histories the likelihood was summed over (customers with the same
    /// `x`, `t_x`, `T` count once, weighted).
    pub patterns: usize,
}

/// Distinct histories with how many customers share each, in a fixed order.
fn patterns(histories: &[History]) -> Vec<(History, f64)> {
    let mut sorted: Vec<History> = histories.to_vec();
    sorted.sort_by(|p, q| p.x.cmp(&q.x).then(p.t_x.total_cmp(&q.t_x)).then(p.t.total_cmp(&q.t)));
    let mut out: Vec<(History, f64)> = Vec::new();
    for h in sorted {
        match out.last_mut() {
            Some((last, n)) if *last == h => *n += 1.0,
            _ => out.push((h, 1.0)),
        }
    }
    out
}

/// One customer's log-likelihood and (with `gradient`) its derivatives by r, α, a, b.
fn log_likelihood_one(m: &BgNbd, h: &History, gradient: Option<&mut [f64; 4]>) -> f64 {
    let BgNbd { r, alpha, a, b } = *m;
    let x = f64::from(h.x);
    let ln_at = (alpha + h.t).ln();
    let ln_ax = (alpha + h.t_x).ln();
    // ln L = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x) − ln B(a, b) − (r+x) ln(α+T)
    //        + ln(1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)).
    let base = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) + ln_gamma(b + x)
        - ln_gamma(b)
        - ln_gamma(a + b + x)
        - (r + x) * ln_at;
    // d = the log of the second term over the first; s = its share (1 − P(alive)).
    let (softplus, s) = if h.x > 0 {
        let d = a.ln() - (b + x - 1.0).ln() + (r + x) * (ln_at - ln_ax);
        (d.max(0.0) + (-d.abs()).exp().ln_1p(), logistic(d))
    } else {
        (0.0, 0.0)
    };
    if let Some(g) = gradient {
        g[0] = digamma(r + x) - digamma(r) + alpha.ln() - ln_at + s * (ln_at - ln_ax);
        g[1] = r / alpha - (r + x) / (alpha + h.t) + s * (r + x) * (1.0 / (alpha + h.t) - 1.0 / (alpha + h.t_x));
        g[2] = digamma(a + b) - digamma(a + b + x) + s / a;
        g[3] = digamma(a + b) + digamma(b + x)
            - digamma(b)
            - digamma(a + b + x)
            - if h.x > 0 { s / (b + x - 1.0) } else { 0.0 };
    }
    base + softplus
}

/// 1 / (1 + e^−d), without overflow.
fn logistic(d: f64) -> f64 {
    if d >= 0.0 {
        1.0 / (1.0 + (-d).exp())
    } else {
        let e = d.exp();
        e / (1.0 + e)
    }
}

/// The mean negative log-likelihood over weighted patterns, in log-parameter space.
struct NegativeLogLikelihood<'a> {
    patterns: &'a [(History, f64)],
    total: f64,
}

impl Objective for NegativeLogLikelihood<'_> {
    fn evaluate(&self, log_params: &[f64]) -> (f64, Vec<f64>) {
        let Some(m) = from_log(log_params) else {
            return (f64::INFINITY, vec![0.0; 4]);
        };
        let mut value = 0.0;
        let mut sum = [0.0; 4];
        for (h, weight) in self.patterns {
            let mut g = [0.0; 4];
            value += weight * log_likelihood_one(&m, h, Some(&mut g));
            for (s, gi) in sum.iter_mut().zip(g) {
                *s += weight * gi;
            }
        }
        // d/d ln θ = θ · d/dθ; minimize the negative mean.
        let params = [m.r, m.alpha, m.a, m.b];
        let gradient = sum.iter().zip(params).map(|(s, p)| -s * p / self.total).collect();
        (-value / self.total, gradient)
    }
}

fn from_log(log_params: &[f64]) -> Option<BgNbd> {
    let [r, alpha, a, b] = <[f64; 4]>::try_from(log_params).ok()?.map(f64::exp);
    [r, alpha, a, b].iter().all(|v| v.is_finite() && *v > 0.0).then_some(BgNbd { r, alpha, a, b })
}

impl BgNbd {
    /// The log-likelihood of `histories` under these parameters: the sum of the log of
    /// the paper's equation 6 (CDNOW in weeks at the published estimates: −9582.4).
    pub fn log_likelihood(&self, histories: &[History]) -> f64 {
        histories.iter().map(|h| log_likelihood_one(self, h, None)).sum()
    }

    /// Maximum-likelihood estimates from the customers' histories. The search runs over
    /// the logs of the parameters (all positive) from r = a = b = 1 and α = the mean age,
    /// and fails with [`FitError::NoConvergence`] unless it ends where the gradient
    /// vanishes.
    pub fn fit(histories: &[History]) -> Result<(BgNbd, FitReport), FitError> {
        let patterns = patterns(histories);
        let total = histories.len() as f64;
        if patterns.is_empty() {
            return Err(FitError::NoConvergence { model: "bgnbd", why: "no customers".into() });
        }
        let mean_age = histories.iter().map(|h| h.t).sum::<f64>() / total;
        let start = vec![0.0, mean_age.max(1.0).ln(), 0.0, 0.0];
        let minimum = optimize::minimize(&NegativeLogLikelihood { patterns: &patterns, total }, start, "bgnbd")?;
        let model = from_log(&minimum.x)
            .ok_or_else(|| FitError::NoConvergence { model: "bgnbd", why: "parameters out of range".into() })?;
        let report = FitReport {
            log_likelihood: -minimum.value * total,
            iterations: minimum.iterations,
            patterns: patterns.len(),
        };
        Ok((model, report))
    }

    /// P(alive | x, t_x, T): 1 for a customer without a repeat purchase (in BG/NBD one can
    /// only drop out right after a purchase), else
    /// `1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))` (Fader, Hardie & Lee's note
    /// "Computing P(alive) using the BG/NBD model").
    pub fn p_alive(&self, h: &History) -> f64 {
        if h.x == 0 {
            return 1.0;
        }
        let x = f64::from(h.x);
        let d = self.a.ln() - (self.b + x - 1.0).ln()
            + (self.r + x) * ((self.alpha + h.t).ln() - (self.alpha + h.t_x).ln());
        // 1 − logistic(d), without the cancellation when P(alive) is tiny.
        logistic(-d)
    }

    /// E[purchases in (T, T+t] | x, t_x, T], the paper's equation 10:
    /// `(a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
    /// / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))`, the bracket summed as
    /// [`bgnbd_hyp_term`] explains. `None` when the series does not converge (a horizon
    /// about a thousand times the customer's age plus α) or `t` is negative.
    pub fn expected_purchases(&self, h: &History, t: f64) -> Option<f64> {
        if !t.is_finite() || t < 0.0 {
            return None;
        }
        let x = f64::from(h.x);
        let z = t / (self.alpha + h.t + t);
        let c = self.a + self.b + x - 1.0;
        let bracket = bgnbd_hyp_term(self.a + self.b - 1.0 - self.r, self.a, c, z)?;
        let value = c * bracket * self.p_alive(h);
        value.is_finite().then_some(value)
    }

    /// P(no purchase in (T, T+t] | x, t_x, T) = `1 − P(alive) · (1 − ((α+T)/(α+T+t))^(r+x))`.
    ///
    /// Derivation: a customer who has dropped out buys nothing; one alive at T has, given
    /// the history, λ ~ Gamma(r+x, α+T) (the alive branch of the likelihood), and buys
    /// nothing in the next t exactly when the first Poisson arrival comes after t (drop-out
    /// happens only at purchases), with probability E[e^(−λt)] = ((α+T)/(α+T+t))^(r+x).
    /// This is the y = 0 case of the conditional distribution of future purchases in
    /// Fader & Hardie's notes on the BG/NBD model; `tests/predict_simulation.rs` checks
    /// it against simulated customers.
    pub fn p_no_purchase(&self, h: &History, t: f64) -> f64 {
        let t = t.max(0.0);
        let x = f64::from(h.x);
        let survive = ((self.alpha + h.t) / (self.alpha + h.t + t)).ln() * (self.r + x);
        // 1 − e^survive, accurate for short horizons.
        let buys_if_alive = -survive.exp_m1();
        (1.0 - self.p_alive(h) * buys_if_alive).clamp(0.0, 1.0)
    }

    /// The median wait from T to the next purchase of a customer still alive, in time
    /// units: given alive, the wait is exponential with rate λ ~ Gamma(r+x, α+T), so
    /// P(wait > w) = ((α+T)/(α+T+w))^(r+x) and the median is `(α+T) · (2^(1/(r+x)) − 1)`.
    /// (Its mean is infinite for r + x ≤ 1, so the median is the typical wait.)
    pub fn median_wait(&self, h: &History) -> f64 {
        let x = f64::from(h.x);
        (self.alpha + h.t) * (std::f64::consts::LN_2 / (self.r + x)).exp_m1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CDNOW: BgNbd = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

    #[test]
    fn gradient_matches_finite_differences() {
        let patterns = vec![
            (History { x: 0, t_x: 0.0, t: 38.86 }, 3.0),
            (History { x: 2, t_x: 30.43, t: 38.86 }, 1.0),
            (History { x: 1, t_x: 1.71, t: 32.0 }, 2.0),
            (History { x: 14, t_x: 36.0, t: 37.0 }, 1.0),
        ];
        let objective = NegativeLogLikelihood { patterns: &patterns, total: 7.0 };
        let at = [CDNOW.r.ln(), CDNOW.alpha.ln(), CDNOW.a.ln(), CDNOW.b.ln()];
        super::super::optimize::assert_gradient_matches_finite_differences(&objective, &at);
    }

    #[test]
    fn p_alive_and_no_purchase_edges() {
        let new = History { x: 0, t_x: 0.0, t: 0.0 };
        assert_eq!(CDNOW.p_alive(&new), 1.0);
        assert_eq!(CDNOW.p_no_purchase(&new, 0.0), 1.0);
        assert_eq!(CDNOW.expected_purchases(&new, 0.0), Some(0.0));
        let lapsed = History { x: 5, t_x: 2.0, t: 300.0 };
        assert!(CDNOW.p_alive(&lapsed) < 1e-3);
        assert!(CDNOW.p_no_purchase(&lapsed, 13.0) > 0.999);
        // Unconditional forecast (x = 0, T = 0) is equation 9, whose no-purchase
        // probability is equation 8 at n = 0: (α/(α+t))^r.
        let t = 39.0;
        let expected = (CDNOW.alpha / (CDNOW.alpha + t)).powf(CDNOW.r);
        assert!((CDNOW.p_no_purchase(&new, t) - expected).abs() < 1e-15);
    }

    #[test]
    fn expected_purchases_grow_with_the_horizon_and_stay_finite_for_heavy_buyers() {
        let h = History { x: 400, t_x: 38.0, t: 38.86 };
        let mut last = 0.0;
        for t in [1.0, 13.0, 39.0, 52.0, 520.0] {
            let e = CDNOW.expected_purchases(&h, t).unwrap();
            assert!(e > last && e.is_finite(), "t = {t}: {e}");
            last = e;
        }
        assert_eq!(CDNOW.expected_purchases(&h, -1.0), None);
    }

    #[test]
    fn median_wait_halves_the_survival() {
        let h = History { x: 3, t_x: 20.0, t: 30.0 };
        let w = CDNOW.median_wait(&h);
        let survive = ((CDNOW.alpha + h.t) / (CDNOW.alpha + h.t + w)).powf(CDNOW.r + 3.0);
        assert!((survive - 0.5).abs() < 1e-12);
    }
}
