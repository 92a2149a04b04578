//! Intent: folds a shopper's events into bounded, time-decayed session [`Signals`],
//! scores them with a small logistic model ([`IntentModel`], weights from the bundle or
//! the shipped defaults) into a number in `[0, 1]`, and maps the score to a [`Tier`] with
//! hysteresis so the tier does not flap. Every transcendental goes through `libm` and
//! decay is computed from event timestamps only, so wasm and native agree bit for bit.
//!
//! `model` holds the model (features, weights, thresholds, the tiers) and its checks;
//! `signals` holds a shopper's [`Signals`] and how events fold into them and score;
//! `sample` the features a purchase leaves for learning ([`IntentSample`]).

mod model;
mod sample;
mod signals;

pub use model::{
    IntentError, IntentModel, IntentModelSource, Tier, TiersSource, DEFAULT_BIAS, DEFAULT_CART_HALF_LIFE,
    DEFAULT_HALF_LIFE, DEFAULT_HOT, DEFAULT_HYSTERESIS, DEFAULT_RETURN_HALF_LIFE, DEFAULT_WARM, DEFAULT_WEIGHTS,
    FEATURES, FEATURE_COUNT,
};
pub use sample::{IntentSample, SAMPLE_SCALE};
pub(crate) use signals::{clean, decay, quantity};
pub use signals::{Contribution, Observation, Signals, SIGNAL_NAMES};
