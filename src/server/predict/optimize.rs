//! The one place the fits meet the optimizer: minimizes a smooth function of a few
//! parameters (a model's mean negative log-likelihood in log-parameter space) with
//! argmin's L-BFGS and More-Thuente line search, from a fixed start, and accepts the
//! result only where the gradient has vanished. No randomness, a fixed order of
//! operations: the same input gives the same bits.

use argmin::core::{CostFunction, Error as ArgminError, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::FitError;

/// A function to minimize with its gradient, both from one evaluation.
pub trait Objective {
    /// The value and the gradient at `x`; a value that is not finite means "outside the
    /// domain" (the line search then steps back).
    fn evaluate(&self, x: &[f64]) -> (f64, Vec<f64>);
}

/// Where the minimum was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The minimizing point.
    pub x: Vec<f64>,
    /// The function's value there.
    pub value: f64,
    /// L-BFGS iterations taken.
    pub iterations: u64,
}

/// The most L-BFGS iterations of one fit.
pub const MAX_ITERATIONS: u64 = 1_000;
/// The largest gradient component (of a mean log-likelihood) a minimum may have.
pub const GRADIENT_TOLERANCE: f64 = 1e-6;

struct Problem<'a, O>(&'a O);

impl<O: Objective> CostFunction for Problem<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Self::Param) -> Result<f64, ArgminError> {
        let (value, _) = self.0.evaluate(x);
        // Outside the domain (an overflow far from the optimum): a value the line search
        // rejects, never NaN, which would poison its interpolation.
        Ok(if value.is_finite() { value } else { f64::MAX })
    }
}

impl<O: Objective> Gradient for Problem<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, x: &Self::Param) -> Result<Vec<f64>, ArgminError> {
        let (_, gradient) = self.0.evaluate(x);
        Ok(gradient.into_iter().map(|g| if g.is_finite() { g } else { 0.0 }).collect())
    }
}

/// Minimizes `objective` from `start`. `model` names the model in errors.
pub fn minimize<O: Objective>(objective: &O, start: Vec<f64>, model: &'static str) -> Result<Minimum, FitError> {
    let failed = |why: String| FitError::NoConvergence { model, why };
    let linesearch = MoreThuenteLineSearch::new();
    let solver = LBFGS::new(linesearch, 10)
        .with_tolerance_grad(1e-10)
        .and_then(|s| s.with_tolerance_cost(1e-15))
        .map_err(|e| failed(e.to_string()))?;
    let result = Executor::new(Problem(objective), solver)
        .configure(|state| state.param(start).max_iters(MAX_ITERATIONS))
        .timer(false)
        .run()
        .map_err(|e| failed(e.to_string()))?;
    let state = result.state();
    let iterations = state.get_iter();
    let x = state.get_best_param().cloned().ok_or_else(|| failed("no parameters".into()))?;
    let (value, gradient) = objective.evaluate(&x);
    let largest = gradient.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
    if !value.is_finite() || x.iter().any(|v| !v.is_finite()) {
        return Err(failed(format!("the likelihood is not finite at the end ({value})")));
    }
    if largest.is_nan() || largest > GRADIENT_TOLERANCE {
        return Err(failed(format!(
            "the gradient is {largest:.3e} after {iterations} iterations (the tolerance is {GRADIENT_TOLERANCE:e})"
        )));
    }
    Ok(Minimum { x, value, iterations })
}

/// Test support: the objective's analytic gradient at `at` equals central finite
/// differences (step 1e-6) within 1e-7, component by component.
#[cfg(test)]
pub(super) fn assert_gradient_matches_finite_differences(objective: &impl Objective, at: &[f64]) {
    let (_, gradient) = objective.evaluate(at);
    let h = 1e-6;
    for i in 0..at.len() {
        let (mut up, mut down) = (at.to_vec(), at.to_vec());
        up[i] += h;
        down[i] -= h;
        let numeric = (objective.evaluate(&up).0 - objective.evaluate(&down).0) / (2.0 * h);
        assert!((gradient[i] - numeric).abs() < 1e-7, "component {i}: {} vs {numeric}", gradient[i]);
    }
}
