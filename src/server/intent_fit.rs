//! The intent model learned from the shop's own sessions (`waymark fit intent`, and every
//! `--fit-intent-every-hours` on one replica): the recorded sessions
//! ([`crate::server::intent_sessions`]) are split by time — the oldest 80 % to fit on,
//! the newest 20 % held out —, the weights are fitted by L2-regularised logistic
//! regression ([`predict::logistic`]) and judged on the held-out sessions by AUC and
//! log-loss next to the running model and the shipped defaults. Only a model that beats
//! the running one on both is published, as a new bundle version whose `policy.intent`
//! carries the weights: every runtime then scores with the same numbers.
//!
//! A session's outcome is a purchase within the session (its features then are those just
//! before the purchase). A session counts once it converted or has been idle longer than
//! the bundle's session timeout; sessions older than the window are not read, and deleted.
//!
//! Features no fitted session shows (`purchased` is always 0 before a purchase) keep their
//! running weights. The tiers move with the model: the fitted warm and hot thresholds are
//! the scores above which the same share of the fitted sessions lie as under the running
//! model, so a published model changes who is warm or hot, not how many.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use sqlx::Row;

use super::error::ApiError;
use super::journeys::Journeys;
use super::predict::logistic::{self, Logistic};
use super::storage::Db;
use crate::intent::{IntentModel, TiersSource, FEATURES, FEATURE_COUNT, SAMPLE_SCALE};
use crate::time::{Duration, Timestamp, DAY};
use crate::value::Map;

/// Settings of an intent fit.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentFitSettings {
    /// The L2 penalty λ on the weights (scikit-learn's `C = 1/λ`).
    pub l2: f64,
    /// The newest share of the sessions held out to judge the fit.
    pub held_out: f64,
    /// The fewest counted sessions to fit on.
    pub min_sessions: usize,
    /// The fewest converted sessions in the fitted part, and in the held-out part.
    pub min_conversions: (usize, usize),
    /// How far back sessions are read (older ones are deleted).
    pub window: Duration,
}

impl Default for IntentFitSettings {
    fn default() -> Self {
        IntentFitSettings {
            l2: 1.0,
            held_out: 0.2,
            min_sessions: 1_000,
            min_conversions: (50, 10),
            window: Duration(180 * DAY),
        }
    }
}

/// A model's held-out measures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Measures {
    /// Area under the ROC curve (0.5: no better than chance).
    pub auc: Option<f64>,
    /// Mean negative log-likelihood (lower is better).
    pub log_loss: f64,
}

/// Sessions and conversions in a part of the data.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Part {
    /// Sessions.
    pub sessions: usize,
    /// Of which converted.
    pub converted: usize,
}

/// The fitted model's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct FittedModel {
    /// The intercept.
    pub bias: f64,
    /// The fitted weight of each feature the sessions show.
    pub weights: BTreeMap<&'static str, f64>,
    /// Features no fitted session shows: their running weights are kept.
    pub kept: Vec<&'static str>,
    /// The tiers that go with it.
    pub tiers: Tiers,
    /// L-BFGS iterations.
    pub iterations: u64,
}

/// Tier thresholds and hysteresis.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tiers {
    /// Warm threshold.
    pub warm: f64,
    /// Hot threshold.
    pub hot: f64,
    /// Hysteresis.
    pub hysteresis: f64,
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntentFitReport {
    /// Counted sessions read (converted, or idle past the session timeout).
    pub sessions: usize,
    /// Sessions still open, not counted yet.
    pub open: usize,
    /// The fitted part (the oldest sessions).
    pub fitted_on: Part,
    /// The held-out part (the newest sessions).
    pub held_out: Part,
    /// The penalty used.
    pub l2: f64,
    /// The fitted model.
    pub model: Option<FittedModel>,
    /// Held-out measures: `fitted`, `running` (the published model) and `defaults`.
    pub evaluation: BTreeMap<&'static str, Measures>,
    /// Whether a bundle with the fitted model was published.
    pub published: bool,
    /// The bundle version published.
    pub version: Option<i64>,
    /// Why it was or was not published.
    pub verdict: String,
    /// A stable code when nothing was published (`too_few_sessions`,
    /// `too_few_conversions`, `not_better`, `no_bundle`, `dry_run`, `no_fit`).
    pub code: Option<&'static str>,
    /// Sessions past the window, deleted.
    pub deleted: u64,
}

/// A recorded session, as the fit reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Start of the session.
    pub start: Timestamp,
    /// Feature values, in [`FEATURES`] order.
    pub features: [f64; FEATURE_COUNT],
    /// A purchase within the session.
    pub converted: bool,
}

/// The counted sessions since `now - window`, oldest first, and how many are still open.
/// A session recorded under two shopper rows (before and after a login) counts once.
pub async fn load_sessions(
    db: &Db,
    now: Timestamp,
    window: Duration,
    session_timeout: Duration,
) -> Result<(Vec<Session>, usize), ApiError> {
    let rows = sqlx::query(
        "SELECT session_start, last_event, features, converted FROM intent_sessions WHERE session_start >= $1",
    )
    .bind(now.minus(window).0)
    .fetch_all(db.reader())
    .await?;
    let mut unique: BTreeMap<(i64, Vec<u32>), bool> = BTreeMap::new();
    let mut open = 0;
    for row in rows {
        let start: i64 = row.try_get("session_start")?;
        let last: i64 = row.try_get("last_event")?;
        let text: String = row.try_get("features")?;
        let converted: i64 = row.try_get("converted")?;
        let Ok(features) = serde_json::from_str::<Vec<u32>>(&text) else { continue };
        if features.len() != FEATURE_COUNT {
            continue;
        }
        if converted == 0 && now.since(Timestamp(last)) <= session_timeout {
            open += 1;
            continue;
        }
        let slot = unique.entry((start, features)).or_insert(false);
        *slot |= converted != 0;
    }
    let sessions = unique
        .into_iter()
        .map(|((start, q), converted)| {
            let mut features = [0.0; FEATURE_COUNT];
            for (slot, v) in features.iter_mut().zip(q) {
                *slot = f64::from(v) / SAMPLE_SCALE;
            }
            Session { start: Timestamp(start), features, converted }
        })
        .collect();
    Ok((sessions, open))
}

/// Fits, judges and (with `journeys`, unless the fit is no better) publishes. `export`
/// writes the sessions as CSV (`part,session_start,converted,<features>`) for checking
/// the fit elsewhere.
pub async fn run(
    db: &Db,
    journeys: &Journeys,
    publish: bool,
    settings: &IntentFitSettings,
    now: Timestamp,
    export: Option<&Path>,
) -> Result<IntentFitReport, ApiError> {
    let current = journeys.current();
    let running = current.engine.bundle().policy.intent.clone();
    let timeout = current.engine.bundle().policy.session_timeout;
    let (sessions, open) = load_sessions(db, now, settings.window, timeout).await?;
    let deleted = sqlx::query("DELETE FROM intent_sessions WHERE session_start < $1")
        .bind(now.minus(settings.window).0)
        .execute(db.write_pool())
        .await?
        .rows_affected();
    let split = split_at(sessions.len(), settings.held_out);
    let (train, test) = sessions.split_at(split);
    let part = |s: &[Session]| Part { sessions: s.len(), converted: s.iter().filter(|s| s.converted).count() };
    let mut report = IntentFitReport {
        sessions: sessions.len(),
        open,
        fitted_on: part(train),
        held_out: part(test),
        l2: settings.l2,
        deleted,
        ..IntentFitReport::default()
    };
    if let Some(path) = export {
        export_csv(path, train, test)
            .map_err(|e| ApiError::bad_request("export_failed", format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some((code, why)) = shortfall(&report, settings) {
        report.code = Some(code);
        report.verdict = why;
        return Ok(report);
    }
    let observed: Vec<usize> =
        (0..FEATURE_COUNT).filter(|&i| train.iter().any(|s| s.features.get(i).is_some_and(|v| *v != 0.0))).collect();
    let rows: Vec<Vec<f64>> =
        train.iter().map(|s| observed.iter().map(|&i| s.features.get(i).copied().unwrap_or(0.0)).collect()).collect();
    let labels: Vec<bool> = train.iter().map(|s| s.converted).collect();
    let fit = match logistic::fit(&rows, &labels, settings.l2) {
        Ok(fit) => fit,
        Err(e) => {
            report.code = Some("no_fit");
            report.verdict = e.to_string();
            return Ok(report);
        }
    };
    let fitted = full_model(&fit, &observed, &running);
    let train_running: Vec<f64> = train.iter().map(|s| probability(&running, &s.features)).collect();
    let train_fitted: Vec<f64> = train.iter().map(|s| probability(&fitted, &s.features)).collect();
    let tiers = matched_tiers(&running, &train_running, &train_fitted);
    let measure = |model: &IntentModel| {
        let p: Vec<f64> = test.iter().map(|s| probability(model, &s.features)).collect();
        let y: Vec<bool> = test.iter().map(|s| s.converted).collect();
        Measures { auc: logistic::auc(&p, &y), log_loss: logistic::log_loss(&p, &y) }
    };
    let (m_fitted, m_running) = (measure(&fitted), measure(&running));
    report.evaluation.insert("fitted", m_fitted);
    report.evaluation.insert("running", m_running);
    report.evaluation.insert("defaults", measure(&IntentModel::default()));
    report.model = Some(FittedModel {
        bias: fit.bias,
        weights: observed.iter().zip(&fit.weights).filter_map(|(&i, w)| FEATURES.get(i).map(|f| (*f, *w))).collect(),
        kept: (0..FEATURE_COUNT).filter(|i| !observed.contains(i)).filter_map(|i| FEATURES.get(i).copied()).collect(),
        tiers,
        iterations: fit.iterations,
    });
    let better = m_fitted.auc.unwrap_or(0.0) > m_running.auc.unwrap_or(0.0) && m_fitted.log_loss < m_running.log_loss;
    if !better {
        report.code = Some("not_better");
        report.verdict = "the fitted model does not beat the running one on the held-out sessions (both AUC and \
                          log-loss must improve): nothing published"
            .into();
        return Ok(report);
    }
    if !publish {
        report.code = Some("dry_run");
        report.verdict = "the fitted model beats the running one; --dry-run: nothing published".into();
        return Ok(report);
    }
    if current.version == 0 {
        report.code = Some("no_bundle");
        report.verdict = "the fitted model beats the running one, but no bundle is published to carry it: publish \
                          your journeys (PUT /v1/bundle) first"
            .into();
        return Ok(report);
    }
    let model = with_tiers(&fitted, tiers)?;
    let mut bundle = current.engine.bundle().clone();
    bundle.policy.intent = model;
    let published = journeys.publish(db, bundle, now).await?;
    report.published = true;
    report.version = Some(published.version);
    report.verdict = "the fitted model beats the running one on the held-out sessions: published".into();
    Ok(report)
}

/// Where the held-out part starts: the newest `share` of `n` sessions.
fn split_at(n: usize, share: f64) -> usize {
    let held = (n as f64 * share.clamp(0.0, 1.0)).round() as usize;
    n.saturating_sub(held)
}

fn shortfall(report: &IntentFitReport, settings: &IntentFitSettings) -> Option<(&'static str, String)> {
    if report.sessions < settings.min_sessions {
        return Some((
            "too_few_sessions",
            format!(
                "{} finished sessions recorded, at least {} are needed: nothing fitted",
                report.sessions, settings.min_sessions
            ),
        ));
    }
    let (fit_min, held_min) = settings.min_conversions;
    if report.fitted_on.converted < fit_min || report.held_out.converted < held_min {
        return Some((
            "too_few_conversions",
            format!(
                "{} converted sessions to fit on and {} held out, at least {fit_min} and {held_min} are needed: \
                 nothing fitted",
                report.fitted_on.converted, report.held_out.converted
            ),
        ));
    }
    None
}

/// The running model with the fitted bias and weights (features not fitted keep theirs).
fn full_model(fit: &Logistic, observed: &[usize], running: &IntentModel) -> IntentModel {
    let mut source = running.to_source();
    source.bias = Some(fit.bias);
    let mut weights: Map<f64> = source.weights.take().unwrap_or_default();
    for (&i, w) in observed.iter().zip(&fit.weights) {
        if let Some(name) = FEATURES.get(i) {
            weights.insert((*name).to_owned(), *w);
        }
    }
    source.weights = Some(weights);
    // The tiers are set apart (`with_tiers`): the weights alone always make a valid model.
    IntentModel::from_source(Some(&source)).unwrap_or_else(|_| running.clone())
}

fn with_tiers(model: &IntentModel, tiers: Tiers) -> Result<IntentModel, ApiError> {
    let mut source = model.to_source();
    source.tiers = Some(TiersSource { warm: Some(tiers.warm), hot: Some(tiers.hot) });
    source.hysteresis = Some(tiers.hysteresis);
    IntentModel::from_source(Some(&source))
        .map_err(|e| ApiError::bad_request(e.code(), format!("the fitted intent model is not valid: {e}")))
}

/// The score a model gives a session's features.
fn probability(model: &IntentModel, features: &[f64; FEATURE_COUNT]) -> f64 {
    let z =
        FEATURES.iter().zip(features).fold(model.bias(), |acc, (name, x)| acc + model.weight(name).unwrap_or(0.0) * x);
    logistic::sigmoid(z)
}

/// Warm and hot thresholds under which the fitted scores put the same share of sessions
/// at or above each tier as the running scores do; the running tiers when that gives no
/// valid pair (no session warm or hot, or ties).
fn matched_tiers(running: &IntentModel, running_scores: &[f64], fitted_scores: &[f64]) -> Tiers {
    use crate::intent::Tier;
    let keep = Tiers {
        warm: running.threshold(Tier::Warm),
        hot: running.threshold(Tier::Hot),
        hysteresis: running.hysteresis(),
    };
    let n = running_scores.len();
    if n == 0 || fitted_scores.len() != n {
        return keep;
    }
    let share = |t: f64| running_scores.iter().filter(|s| **s >= t).count() as f64 / n as f64;
    let mut sorted = fitted_scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    // The smallest score with at most `share` of the sessions at or above it.
    let threshold = |share: f64| {
        let index = ((n as f64) * (1.0 - share)).ceil() as usize;
        sorted.get(index.min(n - 1)).copied()
    };
    let (Some(warm), Some(hot)) = (threshold(share(keep.warm)), threshold(share(keep.hot))) else { return keep };
    if !(warm > 0.0 && warm < hot && hot < 1.0) {
        return keep;
    }
    Tiers { warm, hot, hysteresis: keep.hysteresis * warm / keep.warm }
}

fn export_csv(path: &Path, train: &[Session], test: &[Session]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "part,session_start,converted,{}", FEATURES.join(","))?;
    for (part, sessions) in [("fit", train), ("held_out", test)] {
        for s in sessions {
            let values: Vec<String> = s.features.iter().map(|v| format!("{v}")).collect();
            writeln!(out, "{part},{},{},{}", s.start.0, u8::from(s.converted), values.join(","))?;
        }
    }
    out.flush()
}

/// The name of the fit in `scheduled_jobs`.
const JOB: &str = "fit_intent";

/// Runs the fit every `every` until shutdown, on one replica a period (see
/// [`super::forecast::claim`]).
pub async fn run_loop(
    db: Db,
    journeys: Journeys,
    clock: crate::server::clock::Clock,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let period = Duration(i64::try_from(every.as_millis()).unwrap_or(i64::MAX));
    loop {
        match super::forecast::claim(&db, JOB, clock.now(), period).await {
            Ok(true) => match run(&db, &journeys, true, &IntentFitSettings::default(), clock.now(), None).await {
                Ok(report) => tracing::info!(
                    sessions = report.sessions,
                    published = report.published,
                    code = report.code.unwrap_or(""),
                    "intent fit"
                ),
                Err(e) => tracing::error!(error = ?e, "intent fit failed; retried next period"),
            },
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "intent fit: the schedule could not be read"),
        }
        if !crate::server::clock::pause(super::forecast::CHECK_EVERY, &mut shutdown).await {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_share_is_held_out() {
        assert_eq!(split_at(10, 0.2), 8);
        assert_eq!(split_at(0, 0.2), 0);
        assert_eq!(split_at(7, 0.0), 7);
    }

    #[test]
    fn tiers_keep_the_share_of_warm_and_hot_sessions() {
        let running = IntentModel::default();
        // Running scores: 40 % at or above warm (0.35), 20 % at or above hot (0.6).
        let running_scores: Vec<f64> = (0..10).map(|i| [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4, 0.5, 0.7, 0.9][i]).collect();
        let fitted: Vec<f64> = (1..=10).map(|i| f64::from(i) / 100.0).collect();
        let t = matched_tiers(&running, &running_scores, &fitted);
        assert_eq!((t.warm, t.hot), (0.07, 0.09));
        assert!((t.hysteresis - 0.05 * 0.07 / 0.35).abs() < 1e-15);
        assert_eq!(fitted.iter().filter(|s| **s >= t.warm).count(), 4);
        assert_eq!(fitted.iter().filter(|s| **s >= t.hot).count(), 2);
        // Nobody hot under the running model: no valid pair, the running tiers stay.
        let t = matched_tiers(&running, &[0.1; 10], &fitted);
        assert_eq!((t.warm, t.hot), (0.35, 0.6));
    }
}
