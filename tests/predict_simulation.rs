//! The purchase-history formulas against customers simulated from the models themselves.
//!
//! For any grouping of histories, the mean of a conditional prediction over a group equals
//! the frequency of the event in it (the law of total probability): simulate BG/NBD
//! customers with known parameters over a 39-week calibration period and a future
//! window, group them by what a shop sees (repeat purchases, recency), and compare, per
//! group, the mean predicted P(alive), P(no purchase in the window) and expected
//! purchases with the simulated fraction alive, fraction without a purchase and mean
//! count — within 5 standard errors. This checks the closed form of P(no purchase)
//! (`BgNbd::p_no_purchase`, which `lifetimes` 0.11.3 lacks for BG/NBD) and the
//! hypergeometric series of the expectations independently of any other implementation.
//! Then the fits recover the parameters that generated the data, bit for bit the same
//! each time.

use waymark::server::predict::gamma_gamma::Spend;
use waymark::server::predict::{BgNbd, GammaGamma, History};

/// SplitMix64: a small, fixed pseudo-random sequence (the test must not vary run to run).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Gamma(shape, rate) by Marsaglia and Tsang (shape < 1 boosted by U^(1/shape)).
    fn gamma(&mut self, shape: f64, rate: f64) -> f64 {
        if shape < 1.0 {
            let boost = self.uniform().powf(1.0 / shape);
            return self.gamma(shape + 1.0, rate) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v / rate;
            }
        }
    }

    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }
}

const TRUE: BgNbd = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
const CALIBRATION: f64 = 39.0;

/// One simulated customer: their calibration history, whether they were alive at its
/// end, and their purchases in the `window` weeks after.
struct Simulated {
    history: History,
    alive: bool,
    future: u32,
}

/// Customers of `model`, first purchase uniform over the first 12 weeks (as CDNOW's
/// cohort), purchases as a Poisson process of rate λ while alive, drop-out with
/// probability p after each repeat purchase.
fn simulate(model: &BgNbd, customers: usize, window: f64, seed: u64) -> Vec<Simulated> {
    let mut rng = Rng(seed);
    (0..customers)
        .map(|_| {
            let lambda = rng.gamma(model.r, model.alpha);
            let p = rng.beta(model.a, model.b);
            let t_cal = CALIBRATION - 12.0 * rng.uniform();
            let (mut t, mut x, mut t_x, mut future, mut alive) = (0.0, 0u32, 0.0, 0u32, true);
            // Alive or not when the calibration period ends: known at the first arrival past it.
            let mut alive_at_end = None;
            loop {
                t += -rng.uniform().ln() / lambda;
                if t > t_cal && alive_at_end.is_none() {
                    alive_at_end = Some(alive);
                }
                if !alive || t > t_cal + window {
                    break;
                }
                if t <= t_cal {
                    x += 1;
                    t_x = t;
                } else {
                    future += 1;
                }
                alive = rng.uniform() >= p;
            }
            let alive_at_end = alive_at_end.unwrap_or(alive);
            Simulated { history: History { x, t_x, t: t_cal }, alive: alive_at_end, future }
        })
        .collect()
}

/// Mean of (outcome − prediction) over a group, and its standard error.
fn gap(pairs: &[(f64, f64)]) -> (f64, f64) {
    let n = pairs.len() as f64;
    let d: Vec<f64> = pairs.iter().map(|(o, p)| o - p).collect();
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Whether a history belongs to a group.
type Member = fn(&History) -> bool;

#[test]
fn predictions_match_simulated_customers() {
    let window = 90.0 / 7.0;
    let people = simulate(&TRUE, 150_000, window, 18);
    let groups: [(&str, Member); 6] = [
        ("x = 0", |h| h.x == 0),
        ("x = 1", |h| h.x == 1),
        ("x = 2", |h| h.x == 2),
        ("x 3-5", |h| (3..=5).contains(&h.x)),
        ("x 6+, recent", |h| h.x >= 6 && h.t_x > 0.7 * h.t),
        ("x 1+, lapsed", |h| h.x >= 1 && h.t_x < 0.3 * h.t),
    ];
    let mut failures = Vec::new();
    for (name, member) in groups {
        let group: Vec<&Simulated> = people.iter().filter(|s| member(&s.history)).collect();
        assert!(group.len() > 1000, "{name}: only {} customers", group.len());
        let checks = [
            (
                "P(alive)",
                group.iter().map(|s| (f64::from(u8::from(s.alive)), TRUE.p_alive(&s.history))).collect::<Vec<_>>(),
            ),
            (
                "P(no purchase in 90 d)",
                group
                    .iter()
                    .map(|s| (f64::from(u8::from(s.future == 0)), TRUE.p_no_purchase(&s.history, window)))
                    .collect(),
            ),
            (
                "E[purchases in 90 d]",
                group
                    .iter()
                    .map(|s| (f64::from(s.future), TRUE.expected_purchases(&s.history, window).unwrap()))
                    .collect(),
            ),
        ];
        for (what, pairs) in checks {
            let (mean, se) = gap(&pairs);
            let predicted = pairs.iter().map(|p| p.1).sum::<f64>() / pairs.len() as f64;
            println!(
                "{name:<14} {what:<24} predicted {predicted:.4}, simulated {:.4} ({:+.1} se)",
                predicted + mean,
                mean / se.max(1e-12)
            );
            if mean.abs() > 5.0 * se + 1e-12 {
                failures.push(format!(
                    "{name} {what}: predicted {predicted:.5}, simulated {:.5}, se {se:.5}",
                    predicted + mean
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bgnbd_fit_recovers_the_parameters_deterministically() {
    let histories: Vec<History> = simulate(&TRUE, 20_000, 0.0, 7).into_iter().map(|s| s.history).collect();
    let (fitted, report) = BgNbd::fit(&histories).unwrap();
    println!("true {TRUE:?}\nfit  {fitted:?} ({} iterations)", report.iterations);
    for (name, got, want) in
        [("r", fitted.r, TRUE.r), ("alpha", fitted.alpha, TRUE.alpha), ("a", fitted.a, TRUE.a), ("b", fitted.b, TRUE.b)]
    {
        assert!((got / want - 1.0).abs() < 0.2, "{name}: {got} vs {want}");
    }
    assert!((report.log_likelihood - fitted.log_likelihood(&histories)).abs() < 1e-6 * report.log_likelihood.abs());
    // The likelihood at the estimates is at least that at the truth.
    assert!(report.log_likelihood >= TRUE.log_likelihood(&histories));
    let (again, _) = BgNbd::fit(&histories).unwrap();
    assert_eq!(
        [again.r, again.alpha, again.a, again.b].map(f64::to_bits),
        [fitted.r, fitted.alpha, fitted.a, fitted.b].map(f64::to_bits)
    );
}

#[test]
fn gamma_gamma_fit_recovers_the_parameters() {
    let truth = GammaGamma { p: 6.25, q: 3.74, v: 15.45 };
    let mut rng = Rng(25);
    let spends: Vec<Spend> = (0..5_000)
        .map(|n| {
            let x = 1 + (n % 7) as u32;
            let nu = rng.gamma(truth.q, truth.v);
            let total: f64 = (0..x).map(|_| rng.gamma(truth.p, nu)).sum();
            Spend { x, mean: total / f64::from(x) }
        })
        .collect();
    let (fitted, report) = GammaGamma::fit(&spends).unwrap();
    println!("true {truth:?}\nfit  {fitted:?} ({} iterations)", report.iterations);
    for (name, got, want) in [("p", fitted.p, truth.p), ("q", fitted.q, truth.q), ("v", fitted.v, truth.v)] {
        assert!((got / want - 1.0).abs() < 0.2, "{name}: {got} vs {want}");
    }
    assert!(report.log_likelihood >= truth.log_likelihood(&spends));
}
