//! The learning sample a purchase leaves in the state ([`IntentSample`]): the intent
//! features of the session as they stood just before its first purchase, so the backend
//! can learn the intent weights from what the browser and the edge saw (`waymark fit
//! intent`). The purchase itself clears the cart and the checkout flags, so the features
//! after it no longer show what led to it; this keeps them, in thousandths.
//!
//! One sample per shopper (the latest converting session's), merged as a join: the later
//! session wins, then the greater features, so every replica converges.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

use super::model::FEATURE_COUNT;

/// Features are kept in thousandths: a feature's value × 1000, rounded.
pub const SAMPLE_SCALE: f64 = 1000.0;

/// The features of a converting session just before its first purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IntentSample {
    /// Start of the session (its id).
    pub session_start: Timestamp,
    /// Each feature in [`FEATURES`](super::FEATURES) order, in thousandths.
    pub features: [u32; FEATURE_COUNT],
}

impl IntentSample {
    /// A sample of `values` (the model's feature values) for the session `session_start`.
    /// Negative and non-finite values read as 0 (no feature is negative).
    pub fn new(session_start: Timestamp, values: &[f64; FEATURE_COUNT]) -> IntentSample {
        let mut features = [0u32; FEATURE_COUNT];
        for (slot, value) in features.iter_mut().zip(values) {
            *slot = thousandths(*value);
        }
        IntentSample { session_start, features }
    }

    /// The feature values, as the model reads them (to a thousandth).
    pub fn values(&self) -> [f64; FEATURE_COUNT] {
        let mut out = [0.0; FEATURE_COUNT];
        for (slot, q) in out.iter_mut().zip(self.features) {
            *slot = f64::from(q) / SAMPLE_SCALE;
        }
        out
    }

    /// Join with another copy: the later session, then the greater features.
    pub fn merge(this: Option<IntentSample>, other: Option<IntentSample>) -> Option<IntentSample> {
        match (this, other) {
            (Some(a), Some(b)) => {
                Some(if (b.session_start, b.features) > (a.session_start, a.features) { b } else { a })
            }
            (a, b) => a.or(b),
        }
    }
}

/// A feature value in thousandths, saturating (0 for negative or non-finite values).
pub fn thousandths(value: f64) -> u32 {
    if value.is_finite() && value > 0.0 {
        libm::round(value * SAMPLE_SCALE).min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

crate::wire_struct!(IntentSample { session_start, features });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_to_a_thousandth() {
        let mut values = [0.0; FEATURE_COUNT];
        values[0] = std::f64::consts::LN_2;
        values[1] = -1.0;
        values[2] = f64::NAN;
        let s = IntentSample::new(Timestamp(5), &values);
        assert_eq!(s.features[0], 693);
        assert_eq!(s.features[1], 0);
        assert_eq!(s.features[2], 0);
        assert!((s.values()[0] - 0.693).abs() < 1e-12);
    }

    #[test]
    fn merge_is_a_join() {
        let a = Some(IntentSample { session_start: Timestamp(1), features: [3; FEATURE_COUNT] });
        let b = Some(IntentSample { session_start: Timestamp(2), features: [1; FEATURE_COUNT] });
        let c = Some(IntentSample { session_start: Timestamp(2), features: [2; FEATURE_COUNT] });
        for (x, y) in [(a, b), (b, c), (a, c), (a, None)] {
            assert_eq!(IntentSample::merge(x, y), IntentSample::merge(y, x));
            assert_eq!(IntentSample::merge(x, x), x);
        }
        assert_eq!(
            IntentSample::merge(IntentSample::merge(a, b), c),
            IntentSample::merge(a, IntentSample::merge(b, c))
        );
        assert_eq!(IntentSample::merge(b, c), c);
    }
}
