//! The special functions the purchase-history models need, for positive arguments only:
//! `ln Γ` (libm's `lgamma`), the digamma function ψ (for the likelihood gradients), and
//! the Gauss hypergeometric series in the one form BG/NBD's expected purchases use,
//! summed after Euler's transformation so its terms stay small for any purchase count.

/// `ln Γ(x)` for `x > 0` (libm's `lgamma`, accurate to a few ulp).
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The digamma function ψ(x) = d/dx ln Γ(x), for `x > 0` (NaN otherwise).
///
/// ψ(x) = ψ(x + n) − Σ 1/(x + k) moves the argument up to at least 8, where the
/// asymptotic series ln x − 1/(2x) − Σ B₂ₖ/(2k x²ᵏ), cut after x⁻¹⁴, is exact to double
/// precision.
pub fn digamma(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return f64::NAN;
    }
    let mut x = x;
    let mut shift = 0.0;
    // At most 8 steps: x > 0 reaches 8 after that many additions of 1.
    while x < 8.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    // Bernoulli numbers B₂ₖ / 2k for k = 7 down to 1, evaluated by Horner's rule in 1/x².
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0 - inv2 * (691.0 / 32760.0 - inv2 / 12.0))))));
    shift + x.ln() - 0.5 / x - series
}

/// The most terms [`bgnbd_hyp_term`] sums before giving up (reached only when `z` is
/// within about 1e-3 of 1, i.e. a horizon a thousand times the customer's age).
pub const MAX_SERIES_TERMS: usize = 100_000;

/// `H = [1 − (1 − z)^(a−1) · ₂F₁(c − A, a − 1; c; z)] / (a − 1)`, the bracket of BG/NBD's
/// conditional expected purchases, with `c − A = a + b − 1 − r` (`ca`) and `c = a + b + x − 1`
/// (`c`), for `0 ≤ z < 1`. `None` when the series does not converge within
/// [`MAX_SERIES_TERMS`] or an input is out of range.
///
/// The expected-purchases formula has `(1 − z)^(r+x) ₂F₁(r + x, b + x; a + b + x − 1; z)`;
/// Euler's transformation `₂F₁(A, B; C; z) = (1 − z)^(C−A−B) ₂F₁(C − A, C − B; C; z)` turns
/// it into `(1 − z)^(a−1) ₂F₁(a + b − 1 − r, a − 1; c; z)`, whose upper parameters do not
/// grow with the purchase count `x`: the terms stay small where the original series
/// would overflow (x in the hundreds). Writing `₂F₁ = 1 + (a − 1)·G` removes the
/// removable singularity at `a = 1` and the cancellation near it:
/// `H = −expm1((a − 1)·ln(1 − z)) / (a − 1) − (1 − z)^(a−1) · G`, with
/// `G = Σₙ≥₁ (c − A)ₙ (a)ₙ₋₁ / ((c)ₙ n!) zⁿ`.
pub fn bgnbd_hyp_term(ca: f64, a: f64, c: f64, z: f64) -> Option<f64> {
    if !(0.0..1.0).contains(&z) || !a.is_finite() || a <= 0.0 || !c.is_finite() || c <= 0.0 || !ca.is_finite() {
        return None;
    }
    let log1mz = (-z).ln_1p();
    let u = (a - 1.0) * log1mz;
    // −expm1(u)/(a − 1), continuous through a = 1 (where it is −ln(1 − z)).
    let first = if u.abs() < 1e-300 || (a - 1.0).abs() < 1e-12 { -log1mz } else { -u.exp_m1() / (a - 1.0) };
    let mut term = ca / c * z;
    let mut sum = term;
    let mut n = 1.0_f64;
    let mut converged = term == 0.0;
    for _ in 0..MAX_SERIES_TERMS {
        if converged {
            break;
        }
        // term(n+1) = term(n) · (ca + n)(a + n − 1) / ((c + n)(n + 1)) · z
        term *= (ca + n) * (a + n - 1.0) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        n += 1.0;
        // Past n > |ca| every term has the sign of the last and their ratio tends to z,
        // so the tail after a term below 1e-17 of the sum is negligible.
        if n > ca.abs() + 1.0 && term.abs() <= 1e-17 * sum.abs() {
            converged = true;
        }
        if !term.is_finite() {
            return None;
        }
    }
    if !converged {
        return None;
    }
    let h = first - (u.exp()) * sum;
    h.is_finite().then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn digamma_known_values() {
        assert!(close(digamma(1.0), -EULER_GAMMA, 5e-15), "{}", digamma(1.0) + EULER_GAMMA);
        assert!(close(digamma(0.5), -EULER_GAMMA - 2.0 * std::f64::consts::LN_2, 5e-15));
        // ψ(x + 1) = ψ(x) + 1/x, across the shift boundary and far above it.
        for x in [0.01, 0.243, 0.793, 2.426, 7.5, 8.0, 30.0, 1234.5] {
            let (lhs, rhs) = (digamma(x + 1.0), digamma(x) + 1.0 / x);
            assert!((lhs - rhs).abs() <= 1e-14 * (digamma(x).abs() + 1.0 / x), "x = {x}: {lhs} vs {rhs}");
        }
        assert!(close(digamma(1e6), (1e6_f64).ln() - 0.5e-6 - 1.0 / 12e12, 1e-15));
        assert!(digamma(0.0).is_nan() && digamma(-1.0).is_nan());
    }

    #[test]
    fn digamma_is_the_derivative_of_ln_gamma() {
        for x in [0.05, 0.3, 1.7, 4.414, 15.45, 250.0] {
            let h = 1e-5 * x;
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert!(close(digamma(x), numeric, 1e-8), "x = {x}: {} vs {numeric}", digamma(x));
        }
    }

    /// The plain Gauss series, for arguments where it is safe.
    fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
        let (mut term, mut sum) = (1.0, 1.0);
        for n in 0..10_000 {
            let n = f64::from(n);
            term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
            sum += term;
        }
        sum
    }

    #[test]
    fn hyp_term_matches_the_untransformed_series() {
        let (r, a, b) = (0.243, 0.793, 2.426);
        for x in [0.0, 1.0, 2.0, 7.0] {
            for z in [0.0_f64, 1e-6, 0.1, 0.47, 0.8] {
                let c = a + b + x - 1.0;
                let direct = (1.0 - (1.0 - z).powf(r + x) * hyp2f1(r + x, b + x, c, z)) / (a - 1.0);
                let ours = bgnbd_hyp_term(a + b - 1.0 - r, a, c, z).unwrap();
                assert!(close(ours, direct, 1e-10) || (ours - direct).abs() < 1e-15, "x={x} z={z}: {ours} vs {direct}");
            }
        }
    }

    #[test]
    fn hyp_term_is_continuous_at_a_equal_one() {
        let (r, b, x, z) = (0.5, 2.0, 3.0, 0.4);
        let at = |a: f64| bgnbd_hyp_term(a + b - 1.0 - r, a, a + b + x - 1.0, z).unwrap();
        let one = at(1.0);
        assert!(close(at(1.0 + 1e-9), one, 1e-7) && close(at(1.0 - 1e-9), one, 1e-7));
        assert!(close(at(1.0 + 1e-4), one, 1e-3));
    }

    #[test]
    fn hyp_term_refuses_out_of_range() {
        assert_eq!(bgnbd_hyp_term(1.0, 0.8, 2.0, 1.0), None);
        assert_eq!(bgnbd_hyp_term(1.0, 0.8, 2.0, -0.1), None);
        assert_eq!(bgnbd_hyp_term(1.0, 0.8, 2.0, f64::NAN), None);
        assert_eq!(bgnbd_hyp_term(1.0, -0.8, 2.0, 0.5), None);
    }
}
