//! The Gamma-Gamma model of spend per order (Fader, Hardie & Lee 2005, "RFM and CLV:
//! using iso-value curves for customer base analysis"; Fader & Hardie's note "The
//! Gamma-Gamma model of monetary value"): a customer's order values are Gamma(p, ν) with
//! ν ~ Gamma(q, v) across customers, independent of how often they buy. Here: the fit on
//! repeat customers' mean repeat spend, the expected spend per order given a customer's
//! history, and the discounted lifetime value over a horizon.

use super::bgnbd::BgNbd;
use super::optimize::{self, Objective};
use super::special::{digamma, ln_gamma};
use super::summary::History;
use super::FitError;

/// The three population parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    /// Shape of one order's value.
    pub p: f64,
    /// Shape of the value-rate distribution.
    pub q: f64,
    /// Scale of the value-rate distribution.
    pub v: f64,
}

/// A repeat customer as the spend model sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    /// Repeat transactions (≥ 1).
    pub x: u32,
    /// Mean value of the repeat transactions (> 0).
    pub mean: f64,
}

/// How the spend fit went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpendReport {
    /// The log-likelihood at the estimates (sum over customers).
    pub log_likelihood: f64,
    /// Optimizer iterations.
    pub iterations: u64,
    /// Repeat customers fitted on.
    pub customers: usize,
}

/// The log-density of one customer's mean spend `m` over `x` orders and (with
/// `gradient`) its derivatives by p, q, v:
/// `ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(xm+v)`.
fn log_likelihood_one(g: &GammaGamma, s: &Spend, gradient: Option<&mut [f64; 3]>) -> f64 {
    let GammaGamma { p, q, v } = *g;
    let x = f64::from(s.x);
    let (px, ln_m, ln_x, ln_sum) = (p * x, s.mean.ln(), x.ln(), (x * s.mean + v).ln());
    if let Some(d) = gradient {
        let psi_sum = digamma(px + q);
        d[0] = x * (psi_sum - digamma(px) + ln_m + ln_x - ln_sum);
        d[1] = psi_sum - digamma(q) + v.ln() - ln_sum;
        d[2] = q / v - (px + q) / (x * s.mean + v);
    }
    ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q) + q * v.ln() + (px - 1.0) * ln_m + px * ln_x - (px + q) * ln_sum
}

struct NegativeLogLikelihood<'a> {
    customers: &'a [Spend],
}

impl Objective for NegativeLogLikelihood<'_> {
    fn evaluate(&self, log_params: &[f64]) -> (f64, Vec<f64>) {
        let Some(g) = from_log(log_params) else {
            return (f64::INFINITY, vec![0.0; 3]);
        };
        let total = self.customers.len() as f64;
        let (mut value, mut sum) = (0.0, [0.0; 3]);
        for s in self.customers {
            let mut d = [0.0; 3];
            value += log_likelihood_one(&g, s, Some(&mut d));
            for (acc, di) in sum.iter_mut().zip(d) {
                *acc += di;
            }
        }
        let params = [g.p, g.q, g.v];
        (-value / total, sum.iter().zip(params).map(|(s, p)| -s * p / total).collect())
    }
}

fn from_log(log_params: &[f64]) -> Option<GammaGamma> {
    let [p, q, v] = <[f64; 3]>::try_from(log_params).ok()?.map(f64::exp);
    [p, q, v].iter().all(|x| x.is_finite() && *x > 0.0).then_some(GammaGamma { p, q, v })
}

impl GammaGamma {
    /// The log-likelihood of the customers' mean spends (sum over customers).
    pub fn log_likelihood(&self, customers: &[Spend]) -> f64 {
        customers.iter().map(|s| log_likelihood_one(self, s, None)).sum()
    }

    /// Maximum-likelihood estimates from repeat customers (`x ≥ 1`, mean spend > 0; others
    /// are left out), over the logs of the parameters from p = q = 1, v = the mean spend.
    /// Fails when the fit does not converge, or when q ≤ 1: the population's mean spend
    /// p·v/(q−1) is then infinite and the model predicts nothing usable.
    pub fn fit(customers: &[Spend]) -> Result<(GammaGamma, SpendReport), FitError> {
        let usable: Vec<Spend> =
            customers.iter().copied().filter(|s| s.x > 0 && s.mean > 0.0 && s.mean.is_finite()).collect();
        if usable.is_empty() {
            return Err(FitError::NoConvergence { model: "gamma_gamma", why: "no repeat customer with spend".into() });
        }
        let mean = usable.iter().map(|s| s.mean).sum::<f64>() / usable.len() as f64;
        let start = vec![0.0, 0.0, mean.ln()];
        let minimum = optimize::minimize(&NegativeLogLikelihood { customers: &usable }, start, "gamma_gamma")?;
        let model = from_log(&minimum.x)
            .ok_or_else(|| FitError::NoConvergence { model: "gamma_gamma", why: "parameters out of range".into() })?;
        if model.q.is_nan() || model.q <= 1.0 {
            return Err(FitError::SpendUndefined { q: model.q });
        }
        let report = SpendReport {
            log_likelihood: -minimum.value * usable.len() as f64,
            iterations: minimum.iterations,
            customers: usable.len(),
        };
        Ok((model, report))
    }

    /// The population's mean spend per order, p·v/(q−1) (requires q > 1).
    pub fn population_mean(&self) -> f64 {
        self.p * self.v / (self.q - 1.0)
    }

    /// E[spend per order | x repeat orders of mean `mean`] = p(v + x·mean)/(px + q − 1):
    /// a weighted average of the population mean and the customer's own, the customer's
    /// weight px/(px + q − 1) growing with their orders. With x = 0, the population mean.
    pub fn expected_spend(&self, x: u32, mean: f64) -> f64 {
        let x = f64::from(x);
        let mean = if x > 0.0 { mean } else { 0.0 };
        self.p * (self.v + x * mean) / (self.p * x + self.q - 1.0)
    }

    /// Discounted customer lifetime value over `months` months of `month` time units each
    /// (in the BG/NBD fit's unit), at a monthly discount rate:
    /// `Σ_{i=1..months} spend · (E[Y(i·month)] − E[Y((i−1)·month)]) / (1 + rate)^i`, with
    /// `E[Y(t)]` the customer's expected purchases in the next t ([`BgNbd::expected_purchases`])
    /// and `spend` [`GammaGamma::expected_spend`] — the discounted-cash-flow sum the
    /// Python package `lifetimes` computes. `None` when an expectation is not available.
    pub fn clv(&self, bgnbd: &BgNbd, h: &History, mean: f64, months: u32, month: f64, rate: f64) -> Option<f64> {
        let spend = self.expected_spend(h.x, mean);
        let mut total = 0.0;
        let mut before = 0.0;
        for i in 1..=months {
            let i = f64::from(i);
            let upto = bgnbd.expected_purchases(h, i * month)?;
            total += spend * (upto - before) / (1.0 + rate).powf(i);
            before = upto;
        }
        total.is_finite().then_some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let customers = [Spend { x: 1, mean: 11.77 }, Spend { x: 2, mean: 22.35 }, Spend { x: 7, mean: 40.0 }];
        let objective = NegativeLogLikelihood { customers: &customers };
        let at = [6.25_f64.ln(), 3.74_f64.ln(), 15.45_f64.ln()];
        super::super::optimize::assert_gradient_matches_finite_differences(&objective, &at);
    }

    #[test]
    fn expected_spend_moves_from_the_population_to_the_customer() {
        let g = GammaGamma { p: 6.25, q: 3.74, v: 15.45 };
        assert!((g.expected_spend(0, 99.0) - g.population_mean()).abs() < 1e-12);
        let few = g.expected_spend(1, 100.0);
        let many = g.expected_spend(50, 100.0);
        assert!(g.population_mean() < few && few < many && many < 100.0);
    }
}
