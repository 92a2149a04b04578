//! L2-regularised logistic regression by maximum likelihood (the intent model's weights,
//! `waymark fit intent`), and the two held-out measures the fit is judged by: the area
//! under the ROC curve and the log-loss.
//!
//! The fit minimises the mean of `ln(1 + e^z) − y·z` over the rows, `z = b + w·x`, plus
//! `λ/(2n)·‖w‖²`: the same minimum as scikit-learn's `LogisticRegression(C = 1/λ)`,
//! whose objective is `C·Σ loss + ½‖w‖²`, with the intercept `b` not penalised.
//! Pure and deterministic: the same rows give the same bits.

use super::optimize::{self, Objective};
use super::FitError;

/// A fitted logistic model.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// The intercept.
    pub bias: f64,
    /// One weight per column.
    pub weights: Vec<f64>,
    /// The penalised mean negative log-likelihood at the fit.
    pub objective: f64,
    /// L-BFGS iterations taken.
    pub iterations: u64,
}

impl Logistic {
    /// The probability the model gives a row.
    pub fn probability(&self, row: &[f64]) -> f64 {
        sigmoid(self.bias + dot(&self.weights, row))
    }
}

/// `1 / (1 + e^-z)`, without overflow.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^z)`, without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

struct Problem<'a> {
    rows: &'a [Vec<f64>],
    labels: &'a [bool],
    l2: f64,
}

impl Objective for Problem<'_> {
    /// `x` is the bias, then the weights.
    fn evaluate(&self, x: &[f64]) -> (f64, Vec<f64>) {
        let (bias, weights) = x.split_first().unwrap_or((&0.0, &[]));
        let n = self.rows.len().max(1) as f64;
        let mut value = 0.0;
        let mut gradient = vec![0.0; x.len()];
        for (row, &y) in self.rows.iter().zip(self.labels) {
            let z = bias + dot(weights, row);
            let target = if y { 1.0 } else { 0.0 };
            value += softplus(z) - target * z;
            let residual = sigmoid(z) - target;
            if let Some((g_bias, g_weights)) = gradient.split_first_mut() {
                *g_bias += residual;
                for (g, v) in g_weights.iter_mut().zip(row) {
                    *g += residual * v;
                }
            }
        }
        value += 0.5 * self.l2 * weights.iter().map(|w| w * w).sum::<f64>();
        for (g, w) in gradient.iter_mut().skip(1).zip(weights) {
            *g += self.l2 * w;
        }
        (value / n, gradient.into_iter().map(|g| g / n).collect())
    }
}

/// Fits the model to `rows` (each of the same length) and their labels, with penalty
/// `l2` (λ ≥ 0) on the weights. Starts at the base rate's log-odds and zero weights.
pub fn fit(rows: &[Vec<f64>], labels: &[bool], l2: f64) -> Result<Logistic, FitError> {
    let bad = |problem: String| FitError::BadSettings { field: "intent fit", problem };
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(FitError::BadSettings { field: "l2", problem: format!("{l2} is not a finite number ≥ 0") });
    }
    let width = rows.first().map_or(0, Vec::len);
    if rows.len() != labels.len() || rows.iter().any(|r| r.len() != width) {
        return Err(bad("rows and labels differ in number or width".into()));
    }
    let positives = labels.iter().filter(|y| **y).count();
    if positives == 0 || positives == labels.len() {
        return Err(bad("every row has the same label: nothing to learn".into()));
    }
    let rate = positives as f64 / labels.len() as f64;
    let mut start = vec![0.0; width + 1];
    if let Some(b) = start.first_mut() {
        *b = (rate / (1.0 - rate)).ln();
    }
    let problem = Problem { rows, labels, l2 };
    let minimum = optimize::minimize(&problem, start, "logistic")?;
    let (bias, weights) = minimum.x.split_first().map(|(b, w)| (*b, w.to_vec())).unwrap_or((0.0, Vec::new()));
    Ok(Logistic { bias, weights, objective: minimum.value, iterations: minimum.iterations })
}

/// The area under the ROC curve: the chance that a random positive scores above a random
/// negative (ties count half). `None` without both labels.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut ranked: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = ranked.iter().filter(|(_, y)| *y).count() as f64;
    let negatives = ranked.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Mann-Whitney: the sum of the positives' ranks (ties share their mean rank).
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < ranked.len() {
        let mut j = i;
        while j < ranked.len() && ranked.get(j).map(|r| r.0) == ranked.get(i).map(|r| r.0) {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        let tied_positives = ranked.get(i..j).map_or(0, |t| t.iter().filter(|(_, y)| *y).count());
        rank_sum += mean_rank * tied_positives as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

/// The mean negative log-likelihood of `probabilities` (clamped to [1e-15, 1 − 1e-15]).
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities
        .iter()
        .zip(labels)
        .map(|(p, y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if *y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_pairs_and_ties() {
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]), Some(1.0));
        assert_eq!(auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // 0.1(n) 0.2(p) 0.3(n) 0.4(p): pairs (p, n) ordered right: (0.2>0.1), (0.4>0.1), (0.4>0.3) = 3 of 4.
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &[false, true, false, true]), Some(0.75));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn log_loss_of_certain_answers() {
        assert!(log_loss(&[1.0, 0.0], &[true, false]) < 1e-14);
        assert!((log_loss(&[0.5], &[true]) - std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn recovers_a_one_feature_model_and_its_gradient_is_right() {
        // Rows x in {0, 1}: P(y | x=0) = 1/4, P(y | x=1) = 3/4 → b = ln(1/3), w = ln 9.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for (x, positives) in [(0.0, 1), (1.0, 3)] {
            for k in 0..4 {
                rows.push(vec![x]);
                labels.push(k < positives);
            }
        }
        let m = fit(&rows, &labels, 0.0).unwrap();
        assert!((m.bias - (1.0f64 / 3.0).ln()).abs() < 1e-6, "{m:?}");
        assert!((m.weights[0] - 9.0f64.ln()).abs() < 1e-6, "{m:?}");
        let problem = Problem { rows: &rows, labels: &labels, l2: 0.7 };
        optimize::assert_gradient_matches_finite_differences(&problem, &[0.3, -0.4]);
        // The penalty pulls the weight toward 0.
        let shrunk = fit(&rows, &labels, 1.0).unwrap();
        assert!(shrunk.weights[0] > 0.0 && shrunk.weights[0] < m.weights[0]);
    }

    #[test]
    fn refuses_what_cannot_be_fitted() {
        assert!(fit(&[vec![1.0]], &[true], 1.0).is_err());
        assert!(fit(&[vec![1.0], vec![0.0]], &[true, false], f64::NAN).is_err());
        assert!(fit(&[vec![1.0], vec![0.0, 1.0]], &[true, false], 1.0).is_err());
    }
}
