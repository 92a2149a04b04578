//! A shopper's intent [`Signals`]: events folded into bounded, time-decayed session
//! counters ([`Signals::observe`]), the features and score the model reads from them
//! ([`Signals::features`], [`Signals::score`]), the tier with hysteresis
//! ([`Signals::update_tier`]), named signals for conditions and the merge of two copies.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hash::Hash32;

use crate::event::Event;
use crate::time::{Duration, Timestamp, MINUTE};
use crate::value::Value;

use super::model::{IntentModel, Tier, FEATURES, FEATURE_COUNT};
use super::sample::IntentSample;

// Bounds of the per-session item memory.
const MAX_CATEGORIES: usize = 8;
const MAX_ITEMS: usize = 8;
// Ignore absurd inputs rather than let them dominate.
const MAX_QUANTITY: f64 = 1_000.0;
const MAX_MONEY: f64 = 1.0e12;
const MAX_ENGAGEMENT_MS: f64 = 3_600_000.0;

/// One item viewed this session.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct ItemSlot {
    item: Hash32,
    views: u8,
}

/// Items viewed this session in one category.
///
/// INVARIANT (kept by `observe`, restored if a decoded state breaks it):
/// `items.len() <= MAX_ITEMS`, least recently viewed first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct CategorySlot {
    /// Hash of the category; `Hash32(0)` holds items without a category.
    category: Hash32,
    /// Distinct items seen in this category this session (an evicted item seen again
    /// counts again, so past `MAX_ITEMS` this is an upper estimate).
    distinct: u8,
    items: Vec<ItemSlot>,
}

/// Per-shopper intent signals: the current session's counters (time-decayed), the cart,
/// a bounded memory of viewed items per category, the device context and the return-visit
/// count, plus the current tier.
///
/// Size is bounded: at most 8 categories × 8 items are remembered (least recently viewed
/// evicted first) and every counter saturates, so the encoding never grows with the
/// number of events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    tier: Tier,
    /// The tier was set in an earlier session: the next `update_tier` starts from cold
    /// (hysteresis holds a tier within a session, not across a gap).
    tier_stale: bool,
    session_start: Timestamp,
    last_event: Timestamp,
    /// Sessions ever seen (0 = nothing observed yet).
    sessions: u32,
    /// Earlier sessions, decayed (return half-life) to `session_start`.
    prior_visits: f64,
    /// Device / channel / platform last seen (persist across sessions).
    context: [Hash32; 3],
    // --- per session; decayed values are as of `last_event` ---
    product_views: u16,
    product_views_decayed: f64,
    page_views: u16,
    page_views_decayed: f64,
    engagement_ms: u32,
    engagement_ms_decayed: f64,
    categories: Vec<CategorySlot>,
    cart_adds: u16,
    cart_removes: u16,
    cart_views: u16,
    cart_items: u16,
    cart_value: f64,
    checkout_started: bool,
    payment_info: bool,
    purchases: u16,
    searches: u16,
    searches_without_click: u16,
    /// The unanswered search (term hash), if any.
    pending_search: Option<Hash32>,
    wishlist_adds: u16,
    channel_switches: u16,
    signed_in: bool,
}

/// What observing an event changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The event started a new session.
    pub new_session: bool,
    /// The event fed a signal (false for events intent ignores, e.g. custom events).
    pub counted: bool,
    /// The event arrived with a time before the last observed event.
    pub out_of_order: bool,
}

/// One feature's part in a score, for explanations ("category_depth 3 (+1.80)").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Contribution {
    /// Feature name (one of [`FEATURES`]).
    pub feature: &'static str,
    /// The signal as a person reads it (a count, a money amount, 0/1).
    pub signal: f64,
    /// The value the model sees (transformed and decayed).
    pub value: f64,
    /// The model's weight.
    pub weight: f64,
    /// `weight × value`: what the feature adds to the logit.
    pub contribution: f64,
}

impl fmt::Display for Contribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signal = self.signal;
        if signal.fract() == 0.0 && signal.abs() < 1e15 {
            write!(f, "{} {} ({:+.2})", self.feature, signal as i64, self.contribution)
        } else {
            write!(f, "{} {:.2} ({:+.2})", self.feature, signal, self.contribution)
        }
    }
}

/// Signal names [`Signals::lookup`] answers, for conditions (`signals.<name>`).
///
/// Counts are of the current session and undecayed unless the name says otherwise.
/// - `product_views`, `product_views_decayed`: view_item events
/// - `distinct_items`: distinct items viewed; `category_depth`: distinct items viewed in
///   the deepest category; `max_item_views`: views of the most viewed item;
///   `repeat_views`: its views beyond the first
/// - `page_views`, `page_views_decayed`: page_view / screen_view events
/// - `dwell`: engaged seconds (sum of `engagement_time_msec`); `session_minutes`: minutes
///   from session start to the last event
/// - `cart_adds`, `cart_removes`, `cart_views`, `cart_items` (quantity), `cart_value`
/// - `checkout_started`, `payment_info`, `signed_in` (booleans), `purchases`
/// - `searches`, `searches_without_click`, `wishlist_adds`, `channel_switches`
/// - `sessions` (all sessions seen, this one included), `return_visits` (earlier
///   sessions, decayed over days)
/// - `score` (in `[0, 1]`), `tier` ("cold" / "warm" / "hot")
pub const SIGNAL_NAMES: &[&str] = &[
    "product_views",
    "product_views_decayed",
    "distinct_items",
    "category_depth",
    "max_item_views",
    "repeat_views",
    "page_views",
    "page_views_decayed",
    "dwell",
    "session_minutes",
    "cart_adds",
    "cart_removes",
    "cart_views",
    "cart_items",
    "cart_value",
    "checkout_started",
    "payment_info",
    "signed_in",
    "purchases",
    "searches",
    "searches_without_click",
    "wishlist_adds",
    "channel_switches",
    "sessions",
    "return_visits",
    "score",
    "tier",
];

/// A model input: non-finite values count as 0.
fn finite(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

/// `2^(-elapsed / half_life)`; 1 when `elapsed` ≤ 0.
pub(crate) fn decay(elapsed: Duration, half_life: Duration) -> f64 {
    let dt = elapsed.millis();
    if dt <= 0 {
        return 1.0;
    }
    let hl = half_life.millis().max(1);
    // 2^-t as e^(-t·ln 2): libm's exp2 carries a 4 KB table into the wasm module, its exp
    // none (and the score needs exp anyway); the two differ by a few ulps at most.
    libm::exp(-(dt as f64 / hl as f64) * std::f64::consts::LN_2)
}

/// A non-negative finite value, else 0 (guards against corrupt decoded state).
pub(crate) fn clean(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

fn money(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite()).map(|v| v.clamp(-MAX_MONEY, MAX_MONEY))
}

fn bump(counter: &mut u16) {
    *counter = counter.saturating_add(1);
}

pub(crate) fn quantity(q: Option<f64>) -> u16 {
    match q {
        Some(q) if q.is_finite() => libm::round(q.clamp(0.0, MAX_QUANTITY)) as u16,
        _ => 1,
    }
}

impl Signals {
    /// Folds an event into the signals. A gap of more than `session_timeout` since the last
    /// event starts a new session: per-session signals reset, the return-visit count grows.
    /// An event older than the last one is counted in the current session, already decayed.
    pub fn observe(&mut self, event: &Event, model: &IntentModel, session_timeout: Duration) -> Observation {
        let t = event.time;
        let out_of_order = self.sessions > 0 && t < self.last_event;
        let new_session = self.sessions == 0 || t.since(self.last_event) > session_timeout;
        if new_session {
            self.start_session(t, model);
        } else if !out_of_order {
            // Bring decayed counters forward to `t`.
            let d = decay(t.since(self.last_event), model.half_life());
            self.product_views_decayed = clean(self.product_views_decayed) * d;
            self.page_views_decayed = clean(self.page_views_decayed) * d;
            self.engagement_ms_decayed = clean(self.engagement_ms_decayed) * d;
        }
        // Weight of this event in decayed counters: 1, or less when it arrives late.
        let w = decay(self.last_event.since(t), model.half_life());
        self.last_event = self.last_event.max(t);

        let mut counted = self.fold(event, w);
        if let Some(ms) = event.prop("engagement_time_msec").and_then(Value::as_number_lenient) {
            if ms.is_finite() && ms > 0.0 {
                let ms = ms.min(MAX_ENGAGEMENT_MS);
                self.engagement_ms = self.engagement_ms.saturating_add(ms as u32);
                self.engagement_ms_decayed = clean(self.engagement_ms_decayed) + ms * w;
                counted = true;
            }
        }
        counted |= self.observe_context(event);
        Observation { new_session, counted, out_of_order }
    }

    /// For the first purchase of a session, the session's features just before it (what
    /// the purchase is about to clear), as a learning sample; `None` for any other event.
    /// A purchase that starts a new session samples that fresh session.
    pub fn pre_purchase(&self, event: &Event, model: &IntentModel, session_timeout: Duration) -> Option<IntentSample> {
        if event.name != crate::orders::PURCHASE {
            return None;
        }
        let t = event.time;
        let new_session = self.sessions == 0 || t.since(self.last_event) > session_timeout;
        let values = |s: &Signals| s.rows(t, model).map(|(_, value)| finite(value));
        if new_session {
            let mut fresh = self.clone();
            fresh.start_session(t, model);
            return Some(IntentSample::new(t, &values(&fresh)));
        }
        (self.purchases == 0).then(|| IntentSample::new(self.session_start, &values(self)))
    }

    /// Sessions seen (0: nothing observed yet).
    pub fn sessions(&self) -> u32 {
        self.sessions
    }

    /// Whether the current session has a purchase (its features then show the state
    /// after it, not what led to it).
    pub fn session_purchased(&self) -> bool {
        self.purchases > 0
    }

    fn start_session(&mut self, t: Timestamp, model: &IntentModel) {
        let prior = if self.sessions == 0 {
            0.0
        } else {
            (clean(self.prior_visits) + 1.0) * decay(t.since(self.session_start), model.return_half_life())
        };
        *self = Signals {
            tier: self.tier,
            tier_stale: true,
            session_start: t,
            last_event: t,
            sessions: self.sessions.saturating_add(1),
            prior_visits: prior,
            context: self.context,
            ..Signals::default()
        };
    }

    /// Applies the event's own meaning; true when it fed a signal.
    fn fold(&mut self, event: &Event, w: f64) -> bool {
        match event.name.as_str() {
            "view_item" => {
                bump(&mut self.product_views);
                self.product_views_decayed = clean(self.product_views_decayed) + w;
                for item in event.items() {
                    self.view_item(item.id, item.category);
                }
                self.search_clicked();
            }
            "select_item" => self.search_clicked(),
            "page_view" | "screen_view" => {
                bump(&mut self.page_views);
                self.page_views_decayed = clean(self.page_views_decayed) + w;
            }
            "add_to_cart" => {
                bump(&mut self.cart_adds);
                let qty = cart_quantity(event);
                self.cart_items = self.cart_items.saturating_add(qty);
                let value = money(event.value()).unwrap_or(0.0).max(0.0);
                self.cart_value = (clean(self.cart_value) + value).min(MAX_MONEY);
            }
            "remove_from_cart" => {
                bump(&mut self.cart_removes);
                let qty = cart_quantity(event);
                self.cart_items = self.cart_items.saturating_sub(qty);
                let value = money(event.value()).unwrap_or(0.0).max(0.0);
                self.cart_value = (clean(self.cart_value) - value).max(0.0);
                if self.cart_items == 0 {
                    self.cart_value = 0.0;
                }
            }
            "view_cart" => {
                bump(&mut self.cart_views);
                self.cart_snapshot(event);
            }
            "begin_checkout" => {
                self.checkout_started = true;
                self.cart_snapshot(event);
            }
            "add_payment_info" | "add_shipping_info" => {
                self.checkout_started = true;
                self.payment_info |= event.name == "add_payment_info";
                self.cart_snapshot(event);
            }
            "purchase" => {
                bump(&mut self.purchases);
                self.cart_items = 0;
                self.cart_value = 0.0;
                self.checkout_started = false;
                self.payment_info = false;
            }
            "search" | "view_search_results" => {
                let term = event.prop("search_term").and_then(Value::as_str).unwrap_or("");
                let h = Hash32::of(term.trim());
                // `search` followed by its own `view_search_results` is one search.
                if self.pending_search != Some(h) {
                    bump(&mut self.searches);
                    bump(&mut self.searches_without_click);
                    self.pending_search = Some(h);
                }
            }
            "add_to_wishlist" => bump(&mut self.wishlist_adds),
            "login" | "sign_up" => self.signed_in = true,
            _ => return false,
        }
        true
    }

    /// view_cart / begin_checkout carry the whole cart (GA4): take it as the truth.
    fn cart_snapshot(&mut self, event: &Event) {
        if let Some(qty) = items_quantity(event) {
            self.cart_items = qty;
        }
        if let Some(v) = money(event.value()) {
            self.cart_value = v.max(0.0);
        }
    }

    fn search_clicked(&mut self) {
        if self.pending_search.take().is_some() {
            self.searches_without_click = self.searches_without_click.saturating_sub(1);
        }
    }

    fn view_item(&mut self, id: &str, category: Option<&str>) {
        let cat = category.map_or(Hash32(0), Hash32::of_category);
        let item = Hash32::of(id);
        // Most recently viewed category last; evict the least recently viewed.
        let mut slot = match self.categories.iter().position(|c| c.category == cat) {
            Some(i) => self.categories.remove(i),
            None => CategorySlot { category: cat, distinct: 0, items: Vec::new() },
        };
        while self.categories.len() >= MAX_CATEGORIES {
            self.categories.remove(0);
        }
        let mut entry = match slot.items.iter().position(|s| s.item == item) {
            Some(i) => slot.items.remove(i),
            None => {
                slot.distinct = slot.distinct.saturating_add(1);
                ItemSlot { item, views: 0 }
            }
        };
        entry.views = entry.views.saturating_add(1);
        while slot.items.len() >= MAX_ITEMS {
            slot.items.remove(0);
        }
        slot.items.push(entry);
        self.categories.push(slot);
    }

    fn observe_context(&mut self, event: &Event) -> bool {
        let mut switched = false;
        for (slot, key) in self.context.iter_mut().zip(["device", "channel", "platform"]) {
            let Some(v) = event.prop(key) else { continue };
            let text = match v {
                Value::String(s) => s.trim().to_ascii_lowercase(),
                other => other.to_json(),
            };
            if text.is_empty() {
                continue;
            }
            let h = Hash32::of(&text);
            if slot.0 != 0 && *slot != h {
                switched = true;
            }
            *slot = h;
        }
        if switched {
            bump(&mut self.channel_switches);
        }
        switched
    }

    fn category_depth(&self) -> u8 {
        self.categories.iter().filter(|c| c.category.0 != 0).map(|c| c.distinct).max().unwrap_or(0)
    }

    fn max_item_views(&self) -> u8 {
        self.categories.iter().flat_map(|c| c.items.iter()).map(|i| i.views).max().unwrap_or(0)
    }

    fn distinct_items(&self) -> u32 {
        self.categories.iter().map(|c| u32::from(c.distinct)).sum()
    }

    fn return_visits(&self) -> f64 {
        clean(self.prior_visits)
    }

    /// Every feature's contribution at `now`, in [`FEATURES`] order.
    pub fn features(&self, now: Timestamp, model: &IntentModel) -> [Contribution; FEATURE_COUNT] {
        let mut out =
            [Contribution { feature: "", signal: 0.0, value: 0.0, weight: 0.0, contribution: 0.0 }; FEATURE_COUNT];
        for (((slot, name), (signal, value)), weight) in
            out.iter_mut().zip(FEATURES).zip(self.rows(now, model)).zip(model.weights())
        {
            let value = finite(value);
            *slot = Contribution { feature: name, signal, value, weight, contribution: weight * value };
        }
        out
    }

    /// (signal as read, value the model sees) per feature at `now`, in [`FEATURES`] order.
    fn rows(&self, now: Timestamp, model: &IntentModel) -> [(f64, f64); FEATURE_COUNT] {
        let r = decay(now.since(self.last_event), model.half_life());
        // Cart and checkout fade more slowly once the shopper goes idle.
        let rc = decay(now.since(self.last_event), model.cart_half_life());
        // log1p(0) is 0: most features are 0 on most calls, and libm's log1p is not cheap.
        let ln = |x: f64| {
            let x = clean(x);
            if x == 0.0 {
                0.0
            } else {
                libm::log1p(x)
            }
        };
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let depth = f64::from(self.category_depth());
        let repeats = f64::from(self.max_item_views().saturating_sub(1));
        let views = clean(self.product_views_decayed) * r;
        let pages = clean(self.page_views_decayed) * r;
        let dwell_min = clean(self.engagement_ms_decayed) * r / MINUTE as f64;
        let cart_value = clean(self.cart_value);
        let cart_active = self.cart_items > 0 || cart_value > 0.0;
        // (signal as read, value the model sees) per feature.
        [
            (f64::from(self.product_views), ln(views)),
            (repeats, ln(repeats) * r),
            (depth, ln(depth) * r),
            (flag(depth >= 3.0), flag(depth >= 3.0) * r),
            (f64::from(self.page_views), ln(pages)),
            (f64::from(self.engagement_ms) / 1000.0, ln(dwell_min)),
            (flag(cart_active), flag(cart_active) * rc),
            (cart_value, ln(cart_value) * rc),
            (f64::from(self.cart_removes), ln(f64::from(self.cart_removes)) * r),
            (f64::from(self.cart_views), ln(f64::from(self.cart_views)) * r),
            (flag(self.checkout_started), flag(self.checkout_started) * rc),
            (flag(self.payment_info), flag(self.payment_info) * rc),
            (f64::from(self.purchases), flag(self.purchases > 0) * r),
            (f64::from(self.searches_without_click), ln(f64::from(self.searches_without_click)) * r),
            (f64::from(self.wishlist_adds), ln(f64::from(self.wishlist_adds)) * r),
            (f64::from(self.channel_switches), ln(f64::from(self.channel_switches)) * r),
            (flag(self.signed_in), flag(self.signed_in) * r),
            (self.return_visits(), ln(self.return_visits())),
        ]
    }

    /// The features that moved the score at `now`, largest effect first (for "why").
    pub fn explain(&self, now: Timestamp, model: &IntentModel) -> Vec<Contribution> {
        let mut parts: Vec<Contribution> =
            self.features(now, model).into_iter().filter(|c| c.contribution != 0.0).collect();
        crate::sort::sort_by(&mut parts, |a, b| {
            b.contribution.abs().total_cmp(&a.contribution.abs()).then(a.feature.cmp(b.feature))
        });
        parts
    }

    /// Logit (`bias + Σ wᵢ·fᵢ`) at `now`.
    pub fn logit(&self, now: Timestamp, model: &IntentModel) -> f64 {
        // The sum `features` would give, without building its list: this runs on every
        // ingest (the tier), `features` only when someone asks why.
        self.rows(now, model)
            .iter()
            .zip(model.weights())
            .fold(model.bias(), |acc, ((_, value), weight)| acc + weight * finite(*value))
    }

    /// Score in `[0, 1]` at `now`: `1 / (1 + e^-(bias + Σ wᵢ·fᵢ))`.
    pub fn score(&self, now: Timestamp, model: &IntentModel) -> f64 {
        let z = self.logit(now, model);
        let p = 1.0 / (1.0 + libm::exp(-z));
        if p.is_nan() {
            0.0
        } else {
            p.clamp(0.0, 1.0)
        }
    }

    /// Recomputes the tier at `now` with hysteresis; returns (old, new) when it changed.
    /// The first update of a new session starts from cold, so a tier left over from an
    /// earlier session does not linger through the hysteresis band.
    pub fn update_tier(&mut self, now: Timestamp, model: &IntentModel) -> Option<(Tier, Tier)> {
        let old = self.tier;
        let base = if self.tier_stale { Tier::Cold } else { old };
        let new = model.tier_for(base, self.score(now, model));
        self.tier = new;
        self.tier_stale = false;
        (new != old).then_some((old, new))
    }

    /// Current tier (as of the last [`Signals::update_tier`]).
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Start of the current session (its id).
    pub fn session_start(&self) -> Timestamp {
        self.session_start
    }

    /// Time of the last observed event.
    pub fn last_event(&self) -> Timestamp {
        self.last_event
    }

    /// A named signal for conditions (`signals.<name>`); see [`SIGNAL_NAMES`].
    pub fn lookup(&self, name: &str, now: Timestamp, model: &IntentModel) -> Option<Value> {
        let n = |x: f64| Some(Value::Number(x));
        let c = |x: u16| Some(Value::Number(f64::from(x)));
        let r = decay(now.since(self.last_event), model.half_life());
        match name {
            "product_views" => c(self.product_views),
            "product_views_decayed" => n(clean(self.product_views_decayed) * r),
            "distinct_items" => n(f64::from(self.distinct_items())),
            "category_depth" => n(f64::from(self.category_depth())),
            "max_item_views" => n(f64::from(self.max_item_views())),
            "repeat_views" => n(f64::from(self.max_item_views().saturating_sub(1))),
            "page_views" => c(self.page_views),
            "page_views_decayed" => n(clean(self.page_views_decayed) * r),
            "dwell" => n(f64::from(self.engagement_ms) / 1000.0),
            "session_minutes" => n(self.last_event.since(self.session_start).millis().max(0) as f64 / MINUTE as f64),
            "cart_adds" => c(self.cart_adds),
            "cart_removes" => c(self.cart_removes),
            "cart_views" => c(self.cart_views),
            "cart_items" => c(self.cart_items),
            "cart_value" => n(clean(self.cart_value)),
            "checkout_started" => Some(Value::Bool(self.checkout_started)),
            "payment_info" => Some(Value::Bool(self.payment_info)),
            "signed_in" => Some(Value::Bool(self.signed_in)),
            "purchases" => c(self.purchases),
            "searches" => c(self.searches),
            "searches_without_click" => c(self.searches_without_click),
            "wishlist_adds" => c(self.wishlist_adds),
            "channel_switches" => c(self.channel_switches),
            "sessions" => n(f64::from(self.sessions)),
            "return_visits" => n(self.return_visits()),
            "score" => n(self.score(now, model)),
            "tier" => Some(Value::String(self.tier.as_str().to_owned())),
            _ => None,
        }
    }

    /// Join with another copy (commutative, associative, idempotent): the copy with the
    /// later `last_event` wins whole; on a tie, the one whose postcard encoding is larger
    /// (a deterministic total order on content), so every replica converges.
    pub fn merge(&mut self, other: &Signals) {
        let take = match other.last_event.cmp(&self.last_event) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => content_key(other) > content_key(self),
        };
        if take {
            *self = other.clone();
        }
    }
}

/// Quantity an add/remove event moves: the items' quantities, else 1.
fn cart_quantity(event: &Event) -> u16 {
    items_quantity(event).unwrap_or_else(|| quantity(event.prop("quantity").and_then(Value::as_number_lenient)))
}

/// The sum of the items' quantities, or `None` when the event has no items.
fn items_quantity(event: &Event) -> Option<u16> {
    event.items().fold(None, |acc: Option<u16>, i| Some(acc.unwrap_or(0).saturating_add(quantity(i.quantity))))
}

/// Total-order key of a state's content for merge tie-breaks.
fn content_key(s: &Signals) -> Vec<u8> {
    crate::wire::to_vec(s)
}

// Binary form (crate::wire): fields in declaration order.
crate::wire_struct!(ItemSlot { item, views });
crate::wire_struct!(CategorySlot { category, distinct, items });
crate::wire_struct!(Signals {
    tier,
    tier_stale,
    session_start,
    last_event,
    sessions,
    prior_visits,
    context,
    product_views,
    product_views_decayed,
    page_views,
    page_views_decayed,
    engagement_ms,
    engagement_ms_decayed,
    categories,
    cart_adds,
    cart_removes,
    cart_views,
    cart_items,
    cart_value,
    checkout_started,
    payment_info,
    purchases,
    searches,
    searches_without_click,
    pending_search,
    wishlist_adds,
    channel_switches,
    signed_in
});

/// Four raw little-endian bytes.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Map;

    fn view(t: i64, id: &str, cat: &str) -> Event {
        let mut item = Map::new();
        item.insert("item_id".to_owned(), Value::from(id));
        item.insert("item_category".to_owned(), Value::from(cat));
        let mut props = Map::new();
        props.insert("items".to_owned(), Value::Array(vec![Value::Object(item)]));
        Event::new("view_item", Timestamp(t), props)
    }

    #[test]
    fn category_memory_is_bounded() {
        let m = IntentModel::default();
        let mut s = Signals::default();
        for i in 0..200 {
            s.observe(&view(i * 1000, &format!("p{i}"), &format!("c{}", i % 11)), &m, Duration(30 * MINUTE));
        }
        assert!(s.categories.len() <= MAX_CATEGORIES);
        assert!(s.categories.iter().all(|c| c.items.len() <= MAX_ITEMS));
    }
}
