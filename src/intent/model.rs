//! The intent model: the features it reads, its shipped default weights, bias, tier
//! thresholds, hysteresis and half-lives; the model as written in a bundle
//! ([`IntentModelSource`]), its checks ([`IntentModel::from_source`], [`IntentError`])
//! and the [`Tier`] a score maps to.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::{Duration, DAY, MINUTE};
use crate::value::Map;

// ---------------------------------------------------------------------------------------
// Features
// ---------------------------------------------------------------------------------------

/// Number of model features.
pub const FEATURE_COUNT: usize = 18;

/// The model's features, in weight order. Each is computed from [`Signals`](super::Signals) at a time
/// `now`; session features fade with the session half-life once the shopper goes idle.
///
/// | feature | value fed to the model |
/// |---|---|
/// | `product_views` | ln(1 + product views, decayed) |
/// | `repeat_views` | ln(1 + extra views of the most viewed item) |
/// | `category_depth` | ln(1 + distinct items in the deepest category) |
/// | `category_depth_3plus` | 1 when one category has 3+ distinct items viewed |
/// | `page_views` | ln(1 + page / screen views, decayed) |
/// | `dwell` | ln(1 + engaged minutes, decayed; from `engagement_time_msec`) |
/// | `cart_active` | 1 when the cart holds items or value |
/// | `cart_value` | ln(1 + cart value) |
/// | `cart_removes` | ln(1 + remove_from_cart events) |
/// | `cart_views` | ln(1 + view_cart events) |
/// | `checkout_started` | 1 after begin_checkout |
/// | `payment_info` | 1 after add_payment_info |
/// | `purchased` | 1 after a purchase in this session |
/// | `searches_without_click` | ln(1 + searches not followed by a result click) |
/// | `wishlist_adds` | ln(1 + add_to_wishlist events) |
/// | `channel_switches` | ln(1 + device / channel / platform changes) |
/// | `signed_in` | 1 after login or sign_up in this session |
/// | `return_visits` | ln(1 + earlier sessions, decayed over `return_half_life`) |
pub const FEATURES: [&str; FEATURE_COUNT] = [
    "product_views",
    "repeat_views",
    "category_depth",
    "category_depth_3plus",
    "page_views",
    "dwell",
    "cart_active",
    "cart_value",
    "cart_removes",
    "cart_views",
    "checkout_started",
    "payment_info",
    "purchased",
    "searches_without_click",
    "wishlist_adds",
    "channel_switches",
    "signed_in",
    "return_visits",
];

/// Shipped default weights, in [`FEATURES`] order. Calibrated so that, with the default
/// bias and tiers, a first product view is cold, a second in the same category warm, a
/// third distinct product in one category hot, three views over three categories at
/// most warm, and an add-to-cart worth ~20 or more (in the shop's currency; lower the
/// `cart_value` weight for currencies with small units) or a started checkout hot.
pub const DEFAULT_WEIGHTS: [f64; FEATURE_COUNT] = [
    1.1,  // product_views
    0.8,  // repeat_views
    1.3,  // category_depth
    1.0,  // category_depth_3plus
    0.25, // page_views
    0.3,  // dwell
    2.2,  // cart_active
    0.4,  // cart_value
    -0.3, // cart_removes
    0.3,  // cart_views
    4.0,  // checkout_started
    1.0,  // payment_info
    -1.0, // purchased
    0.3,  // searches_without_click
    0.5,  // wishlist_adds
    0.5,  // channel_switches
    0.4,  // signed_in
    0.6,  // return_visits
];

/// Shipped default bias (intercept).
pub const DEFAULT_BIAS: f64 = -3.0;
/// Shipped default warm threshold.
pub const DEFAULT_WARM: f64 = 0.35;
/// Shipped default hot threshold.
pub const DEFAULT_HOT: f64 = 0.6;
/// Shipped default hysteresis: a tier is kept until the score falls this far below it.
pub const DEFAULT_HYSTERESIS: f64 = 0.05;
/// Shipped default half-life of session signals (views, depth, dwell, search...).
pub const DEFAULT_HALF_LIFE: Duration = Duration(20 * MINUTE);
/// Shipped default half-life of cart and checkout signals.
pub const DEFAULT_CART_HALF_LIFE: Duration = Duration(60 * MINUTE);
/// Shipped default half-life of the return-visit count.
pub const DEFAULT_RETURN_HALF_LIFE: Duration = Duration(7 * DAY);

// ---------------------------------------------------------------------------------------
// Model source and compiled model
// ---------------------------------------------------------------------------------------

/// Intent model as written in the bundle (`policy.intent`); every field is optional and
/// falls back to the shipped default.
///
/// ```json
/// {"bias": -3.0, "weights": {"category_depth": 1.2}, "tiers": {"warm": 0.35, "hot": 0.6},
///  "hysteresis": 0.05, "half_life": "20m", "cart_half_life": "1h", "return_half_life": "7d"}
/// ```
///
/// A model trained offline drops in unchanged: fit a logistic regression on the
/// [`FEATURES`] (as [`Signals::features`](super::Signals::features) computes them) and write its intercept as
/// `bias` (alias `intercept`) and its coefficients as `weights` (alias `coefficients`),
/// keyed by feature name. Features a model leaves out keep their shipped default weight,
/// so an exported model should list every feature (0 for the ones it does not use).
/// The backend fits one from the shop's own sessions (`waymark fit intent`) and publishes
/// it here when it beats the running model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentModelSource {
    /// Intercept of the logistic model.
    #[serde(default, alias = "intercept", skip_serializing_if = "Option::is_none")]
    pub bias: Option<f64>,
    /// Weight per feature name (see [`FEATURES`]).
    #[serde(default, alias = "coefficients", skip_serializing_if = "Option::is_none")]
    pub weights: Option<Map<f64>>,
    /// Tier thresholds on the score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<TiersSource>,
    /// How far below a threshold the score must fall before the tier drops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hysteresis: Option<f64>,
    /// Half-life of session signals ("20m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life: Option<String>,
    /// Half-life of cart and checkout signals ("1h").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_half_life: Option<String>,
    /// Half-life of the return-visit count ("7d").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_half_life: Option<String>,
}

/// Tier thresholds as written in the bundle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiersSource {
    /// Score at which a shopper becomes warm (default 0.35).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<f64>,
    /// Score at which a shopper becomes hot (default 0.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot: Option<f64>,
}

/// Compiled intent model: bias, one weight per feature, tiers and half-lives.
/// `Default` is the shipped model.
///
/// INVARIANT: all numbers are finite, 0 < warm < hot < 1, 0 ≤ hysteresis < warm,
/// half-lives > 0 (checked by [`IntentModel::from_source`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentModel {
    bias: f64,
    weights: [f64; FEATURE_COUNT],
    warm: f64,
    hot: f64,
    hysteresis: f64,
    half_life: Duration,
    cart_half_life: Duration,
    return_half_life: Duration,
}

impl Default for IntentModel {
    fn default() -> Self {
        IntentModel {
            bias: DEFAULT_BIAS,
            weights: DEFAULT_WEIGHTS,
            warm: DEFAULT_WARM,
            hot: DEFAULT_HOT,
            hysteresis: DEFAULT_HYSTERESIS,
            half_life: DEFAULT_HALF_LIFE,
            cart_half_life: DEFAULT_CART_HALF_LIFE,
            return_half_life: DEFAULT_RETURN_HALF_LIFE,
        }
    }
}

/// Why an intent model could not be built. Paths are JSON pointers inside the intent
/// section (e.g. `/weights/categry_depth`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntentError {
    /// A weight names a feature the model does not have.
    #[error("unknown intent feature {name:?}; valid features: {}", FEATURES.join(", "))]
    UnknownFeature {
        /// The name that was given.
        name: String,
    },
    /// A number is NaN or infinite.
    #[error("{found} is not a finite number")]
    NotFinite {
        /// Where.
        path: String,
        /// What was given.
        found: f64,
    },
    /// A tier threshold is outside (0, 1).
    #[error("tier threshold {found} must be between 0 and 1 (exclusive)")]
    BadThreshold {
        /// Where.
        path: String,
        /// What was given.
        found: f64,
    },
    /// The warm threshold is not below the hot one.
    #[error("warm threshold {warm} must be below hot threshold {hot}")]
    TiersOutOfOrder {
        /// Effective warm threshold.
        warm: f64,
        /// Effective hot threshold.
        hot: f64,
    },
    /// Hysteresis is negative or not below the warm threshold.
    #[error("hysteresis {found} must be at least 0 and below the warm threshold {warm}")]
    BadHysteresis {
        /// What was given.
        found: f64,
        /// Effective warm threshold.
        warm: f64,
    },
    /// A half-life does not parse or is not positive.
    #[error("bad half-life {found:?}: write a positive duration, e.g. \"20m\", \"1h\", \"7d\"")]
    BadHalfLife {
        /// Where.
        path: String,
        /// What was given.
        found: String,
    },
}

impl IntentError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            IntentError::UnknownFeature { .. } => "intent_unknown_feature",
            IntentError::NotFinite { .. } => "intent_not_finite",
            IntentError::BadThreshold { .. } => "intent_bad_threshold",
            IntentError::TiersOutOfOrder { .. } => "intent_tiers_out_of_order",
            IntentError::BadHysteresis { .. } => "intent_bad_hysteresis",
            IntentError::BadHalfLife { .. } => "intent_bad_half_life",
        }
    }

    /// JSON pointer of the offending value, relative to the intent section.
    pub fn path(&self) -> String {
        match self {
            IntentError::UnknownFeature { name } => format!("/weights/{}", escape_pointer(name)),
            IntentError::NotFinite { path, .. }
            | IntentError::BadThreshold { path, .. }
            | IntentError::BadHalfLife { path, .. } => path.clone(),
            IntentError::TiersOutOfOrder { .. } => "/tiers".to_owned(),
            IntentError::BadHysteresis { .. } => "/hysteresis".to_owned(),
        }
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn finite_at(path: &str, x: f64) -> Result<f64, IntentError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(IntentError::NotFinite { path: path.to_owned(), found: x })
    }
}

fn half_life_at(path: &str, text: Option<&String>, default: Duration) -> Result<Duration, IntentError> {
    let Some(text) = text else { return Ok(default) };
    let bad = || IntentError::BadHalfLife { path: path.to_owned(), found: text.clone() };
    let d = Duration::parse(text).map_err(|_| bad())?;
    if d.millis() <= 0 {
        return Err(bad());
    }
    Ok(d)
}

impl IntentModel {
    /// Builds from source (`None` = shipped defaults), checking every number.
    pub fn from_source(src: Option<&IntentModelSource>) -> Result<IntentModel, IntentError> {
        let mut model = IntentModel::default();
        let Some(src) = src else { return Ok(model) };
        if let Some(bias) = src.bias {
            model.bias = finite_at("/bias", bias)?;
        }
        if let Some(weights) = &src.weights {
            for (name, w) in weights {
                let idx = feature_index(name).ok_or_else(|| IntentError::UnknownFeature { name: name.clone() })?;
                let w = finite_at(&format!("/weights/{}", escape_pointer(name)), *w)?;
                if let Some(slot) = model.weights.get_mut(idx) {
                    *slot = w;
                }
            }
        }
        if let Some(tiers) = &src.tiers {
            if let Some(warm) = tiers.warm {
                model.warm = threshold_at("/tiers/warm", warm)?;
            }
            if let Some(hot) = tiers.hot {
                model.hot = threshold_at("/tiers/hot", hot)?;
            }
        }
        if model.warm >= model.hot {
            return Err(IntentError::TiersOutOfOrder { warm: model.warm, hot: model.hot });
        }
        if let Some(h) = src.hysteresis {
            model.hysteresis = finite_at("/hysteresis", h)?;
        }
        if !(model.hysteresis >= 0.0 && model.hysteresis < model.warm) {
            return Err(IntentError::BadHysteresis { found: model.hysteresis, warm: model.warm });
        }
        model.half_life = half_life_at("/half_life", src.half_life.as_ref(), DEFAULT_HALF_LIFE)?;
        model.cart_half_life = half_life_at("/cart_half_life", src.cart_half_life.as_ref(), DEFAULT_CART_HALF_LIFE)?;
        model.return_half_life =
            half_life_at("/return_half_life", src.return_half_life.as_ref(), DEFAULT_RETURN_HALF_LIFE)?;
        Ok(model)
    }

    /// The source form of this model, every field filled in (for display and export).
    pub fn to_source(&self) -> IntentModelSource {
        IntentModelSource {
            bias: Some(self.bias),
            weights: Some(FEATURES.iter().zip(self.weights).map(|(n, w)| ((*n).to_owned(), w)).collect()),
            tiers: Some(TiersSource { warm: Some(self.warm), hot: Some(self.hot) }),
            hysteresis: Some(self.hysteresis),
            half_life: Some(self.half_life.to_text()),
            cart_half_life: Some(self.cart_half_life.to_text()),
            return_half_life: Some(self.return_half_life.to_text()),
        }
    }

    /// Intercept of the logistic model.
    pub fn bias(&self) -> f64 {
        self.bias
    }

    /// Weight of a feature by name.
    pub fn weight(&self, feature: &str) -> Option<f64> {
        feature_index(feature).and_then(|i| self.weights.get(i).copied())
    }

    /// Every weight, in [`FEATURES`] order.
    pub(super) fn weights(&self) -> [f64; FEATURE_COUNT] {
        self.weights
    }

    /// Score at which the tier is at least `tier` (Cold: 0).
    pub fn threshold(&self, tier: Tier) -> f64 {
        match tier {
            Tier::Cold => 0.0,
            Tier::Warm => self.warm,
            Tier::Hot => self.hot,
        }
    }

    /// Hysteresis on the score.
    pub fn hysteresis(&self) -> f64 {
        self.hysteresis
    }

    /// Half-life of session signals.
    pub fn half_life(&self) -> Duration {
        self.half_life
    }

    /// Half-life of cart and checkout signals.
    pub fn cart_half_life(&self) -> Duration {
        self.cart_half_life
    }

    /// Half-life of the return-visit count.
    pub fn return_half_life(&self) -> Duration {
        self.return_half_life
    }

    /// The tier for `score` when the shopper is now in `current`: up as soon as the score
    /// reaches a threshold, down only once it falls below that threshold minus the
    /// hysteresis.
    pub fn tier_for(&self, current: Tier, score: f64) -> Tier {
        let up = if score >= self.hot {
            Tier::Hot
        } else if score >= self.warm {
            Tier::Warm
        } else {
            Tier::Cold
        };
        if up >= current {
            return up;
        }
        if current == Tier::Hot && score >= self.hot - self.hysteresis {
            Tier::Hot
        } else if current >= Tier::Warm && score >= self.warm - self.hysteresis {
            Tier::Warm
        } else {
            up
        }
    }
}

fn threshold_at(path: &str, x: f64) -> Result<f64, IntentError> {
    let x = finite_at(path, x)?;
    if x > 0.0 && x < 1.0 {
        Ok(x)
    } else {
        Err(IntentError::BadThreshold { path: path.to_owned(), found: x })
    }
}

fn feature_index(name: &str) -> Option<usize> {
    FEATURES.iter().position(|f| *f == name)
}

/// Intent tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Browsing.
    #[default]
    Cold,
    /// Considering.
    Warm,
    /// Ready to buy.
    Hot,
}

impl Tier {
    /// Name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Cold => "cold",
            Tier::Warm => "warm",
            Tier::Hot => "hot",
        }
    }

    /// Parses "cold" / "warm" / "hot".
    pub fn parse(text: &str) -> Option<Tier> {
        match text {
            "cold" => Some(Tier::Cold),
            "warm" => Some(Tier::Warm),
            "hot" => Some(Tier::Hot),
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Binary form (crate::wire): fields in declaration order.
crate::wire_struct!(IntentModel { bias, weights, warm, hot, hysteresis, half_life, cart_half_life, return_half_life });
crate::wire_unit_enum!(Tier { Cold, Warm, Hot });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_source() {
        let m = IntentModel::default();
        let back = IntentModel::from_source(Some(&m.to_source())).unwrap();
        assert_eq!(m, back);
    }

    #[test]
    fn hysteresis_rule() {
        let m = IntentModel::default();
        assert_eq!(m.tier_for(Tier::Cold, 0.6), Tier::Hot);
        assert_eq!(m.tier_for(Tier::Hot, 0.56), Tier::Hot);
        assert_eq!(m.tier_for(Tier::Hot, 0.54), Tier::Warm);
        assert_eq!(m.tier_for(Tier::Hot, 0.31), Tier::Warm);
        assert_eq!(m.tier_for(Tier::Hot, 0.29), Tier::Cold);
        assert_eq!(m.tier_for(Tier::Warm, 0.34), Tier::Warm);
        assert_eq!(m.tier_for(Tier::Cold, 0.34), Tier::Cold);
    }
}
