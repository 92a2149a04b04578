//! A shopper's interest memory ([`Interests`]): the items they viewed, carted,
//! wishlisted and bought — with the price they saw and when — and their affinity for
//! categories, which decays across sessions (half-life [`AFFINITY_HALF_LIFE`]) instead of
//! starting over each session as the intent signals do. The backend reads it to find whom
//! a price drop, a restock or a new arrival concerns, what a cart reminder lists and what
//! to recommend; every runtime builds it the same way from the same events.
//!
//! Bounded ([`MAX_INTEREST_ITEMS`] items, [`MAX_AFFINITIES`] categories, the most recently
//! touched kept) and merged as a join: each item and each category is one entry, and of
//! two copies of an entry the later (then the greater encoding) wins whole, so trimming to
//! the newest N commutes with merging.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Item};
use crate::hash::Hash32;
use crate::intent::{clean, decay, quantity};
use crate::time::{Duration, Timestamp, DAY};
use crate::wire;

/// Items remembered (the most recently touched kept).
pub const MAX_INTEREST_ITEMS: usize = 16;
/// Categories with an affinity remembered (the most recently touched kept).
pub const MAX_AFFINITIES: usize = 12;
/// Longest item id remembered, in bytes (a longer one is not remembered).
pub const MAX_ITEM_ID_BYTES: usize = 64;
/// An affinity halves in this time without new interest.
pub const AFFINITY_HALF_LIFE: Duration = Duration(30 * DAY);
/// The largest affinity kept, in hundredths of a point.
pub const MAX_AFFINITY_POINTS: u32 = 1_000_000;
/// The largest price remembered, in hundredths of the currency unit (larger is ignored).
pub const MAX_PRICE_HUNDREDTHS: u32 = 1_000_000_000;

/// Affinity points one interaction adds to its item's category.
const VIEW_POINTS: f64 = 1.0;
const WISHLIST_POINTS: f64 = 2.0;
const CART_POINTS: f64 = 3.0;
const PURCHASE_POINTS: f64 = 5.0;
/// A click on a product or a promotion (`select_item`, `select_promotion`), per category.
const CLICK_POINTS: f64 = 0.5;
/// A product list seen (`view_item_list`: a category page, a search result), per category.
const LIST_POINTS: f64 = 0.25;

/// The event a storefront sends when a shopper asks to hear when an out-of-stock item is
/// back ("notify me"), with the item in `items`: remembered as a wish for it (flag
/// [`WISHLISTED`], wishlist points), so its restock reaches them.
pub const BACK_IN_STOCK_SUBSCRIBE: &str = "back_in_stock_subscribe";

/// The flag of an item ever added to the cart.
pub const CARTED: u8 = 1;
/// The flag of an item ever added to the wishlist.
pub const WISHLISTED: u8 = 2;
/// The flag of an item ever bought.
pub const BOUGHT: u8 = 4;
const KNOWN_FLAGS: u8 = CARTED | WISHLISTED | BOUGHT;

/// What the shopper did with one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemInterest {
    /// The item id (`item_id`).
    pub id: String,
    /// The latest interaction of any kind: when the shopper last saw it.
    pub last_at: Timestamp,
    /// Times viewed (saturating).
    pub views: u16,
    /// The latest price seen with it, in hundredths of the currency unit (GA4's `price`
    /// × 100, rounded).
    pub price: Option<u32>,
    /// Quantity in the cart now.
    pub in_cart: u16,
    /// [`CARTED`], [`WISHLISTED`], [`BOUGHT`].
    pub flags: u8,
}

impl ItemInterest {
    /// Whether the shopper ever carted, wishlisted or bought it (`flag` one of the consts).
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn rank(&self, other: &ItemInterest) -> Ordering {
        self.last_at.cmp(&other.last_at).then_with(|| wire::to_vec(self).cmp(&wire::to_vec(other)))
    }
}

/// A category's affinity: points as of `at`, decaying from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affinity {
    /// The category, hashed ([`Hash32::of_category`]).
    pub category: Hash32,
    /// Hundredths of a point as of `at`.
    pub points: u32,
    /// When it last grew.
    pub at: Timestamp,
}

impl Affinity {
    /// The affinity at `now`, in points.
    pub fn at_time(&self, now: Timestamp) -> f64 {
        f64::from(self.points) / 100.0 * decay(now.since(self.at), AFFINITY_HALF_LIFE)
    }

    fn rank(&self, other: &Affinity) -> Ordering {
        self.at.cmp(&other.at).then(self.points.cmp(&other.points))
    }
}

/// The interest memory: items by id, affinities by category.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Interests {
    /// Items, sorted by id, at most [`MAX_INTEREST_ITEMS`].
    pub items: Vec<ItemInterest>,
    /// Affinities, sorted by category, at most [`MAX_AFFINITIES`].
    pub affinities: Vec<Affinity>,
}

impl Interests {
    /// Folds an event in: views, cart, wishlist and purchases of its items, and their
    /// categories' affinity. Other events leave it unchanged.
    pub fn observe(&mut self, event: &Event) {
        let t = event.time;
        match event.name.as_str() {
            "view_item" => self.each_item(event, VIEW_POINTS, |item, _| item.views = item.views.saturating_add(1)),
            // Asking to hear when an item is back counts as wishing for it.
            "add_to_wishlist" | BACK_IN_STOCK_SUBSCRIBE => {
                self.each_item(event, WISHLIST_POINTS, |item, _| item.flags |= WISHLISTED)
            }
            "add_to_cart" => self.each_item(event, CART_POINTS, |item, seen| {
                item.flags |= CARTED;
                item.in_cart = item.in_cart.saturating_add(quantity(seen.quantity));
            }),
            "remove_from_cart" => {
                for seen in event.items() {
                    if let Some(item) = self.item_mut(seen.id) {
                        item.in_cart = item.in_cart.saturating_sub(quantity(seen.quantity));
                        item.last_at = item.last_at.max(t);
                    }
                }
            }
            // A cart shown or checked out with its items is the cart: set it from them.
            "view_cart" | "begin_checkout" if event.items().next().is_some() => {
                self.empty_cart(t);
                self.each_item(event, 0.0, |item, seen| item.in_cart = quantity(seen.quantity));
            }
            "purchase" => {
                self.empty_cart(t);
                self.each_item(event, PURCHASE_POINTS, |item, _| item.flags |= BOUGHT);
            }
            // Clicks and list views say which categories interest the shopper, not which
            // items: they grow the affinity of each category they show once, and remember no
            // item (the view that follows a click does).
            "select_item" | "select_promotion" => self.each_category(event, CLICK_POINTS),
            "view_item_list" => self.each_category(event, LIST_POINTS),
            _ => return,
        }
        self.normalize();
    }

    /// One item's memory, if kept.
    pub fn item(&self, id: &str) -> Option<&ItemInterest> {
        self.items.binary_search_by(|i| i.id.as_str().cmp(id)).ok().and_then(|i| self.items.get(i))
    }

    /// Items in the cart now, the most recently touched first.
    pub fn cart(&self) -> Vec<&ItemInterest> {
        self.newest_first(|i| i.in_cart > 0)
    }

    /// Items viewed, the most recently touched first.
    pub fn recently_viewed(&self) -> Vec<&ItemInterest> {
        self.newest_first(|i| i.views > 0)
    }

    /// What a storefront's "recently viewed" row shows: at most `limit` items viewed and
    /// not bought, the most recently touched (viewed, carted, wishlisted) first, ties by
    /// id. Items in the cart stay; bought ones are left out.
    pub fn recently_viewed_unbought(&self, limit: usize) -> Vec<&ItemInterest> {
        let mut picked = self.newest_first(|i| i.views > 0 && !i.has(BOUGHT));
        picked.truncate(limit);
        picked
    }

    /// A category's affinity at `now`, in points (0 when unknown).
    pub fn affinity(&self, category: Hash32, now: Timestamp) -> f64 {
        self.affinities
            .binary_search_by(|a| a.category.cmp(&category))
            .ok()
            .and_then(|i| self.affinities.get(i))
            .map_or(0.0, |a| a.at_time(now))
    }

    /// Categories by affinity at `now`, strongest first (ties by hash).
    pub fn top_categories(&self, now: Timestamp) -> Vec<(Hash32, f64)> {
        let mut ranked: Vec<(Hash32, f64)> = self.affinities.iter().map(|a| (a.category, a.at_time(now))).collect();
        crate::sort::sort_by(&mut ranked, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }

    /// Joins another copy into this one (see the module doc).
    pub fn merge(&mut self, other: &Interests) {
        self.items.extend(other.items.iter().cloned());
        self.affinities.extend(other.affinities.iter().copied());
        self.normalize();
    }

    /// The first part over a bound, as (field, problem): counts, id lengths, flags and
    /// amounts a copy made by the engine never exceeds.
    pub fn check_bounds(&self) -> Result<(), (String, String)> {
        if self.items.len() > MAX_INTEREST_ITEMS {
            return Err((
                "interests.items".into(),
                format!("{} entries, the limit is {MAX_INTEREST_ITEMS}", self.items.len()),
            ));
        }
        if self.affinities.len() > MAX_AFFINITIES {
            let found = self.affinities.len();
            return Err(("interests.affinities".into(), format!("{found} entries, the limit is {MAX_AFFINITIES}")));
        }
        if let Some((i, _)) = self.items.iter().enumerate().find(|(_, item)| !item_fits(item)) {
            return Err((
                format!("interests.items[{i}]"),
                format!(
                    "an item id is 1 to {MAX_ITEM_ID_BYTES} bytes, flags at most {KNOWN_FLAGS}, \
                     a price at most {MAX_PRICE_HUNDREDTHS} hundredths"
                ),
            ));
        }
        if let Some((i, _)) = self.affinities.iter().enumerate().find(|(_, a)| !affinity_fits(a)) {
            return Err((
                format!("interests.affinities[{i}]"),
                format!("a category hash is not 0 and points are at most {MAX_AFFINITY_POINTS}"),
            ));
        }
        Ok(())
    }

    /// Leaves out every entry over an item bound (judged alone, so it commutes with merge).
    pub fn drop_out_of_bounds(&mut self) {
        self.items.retain(item_fits);
        self.affinities.retain(affinity_fits);
    }

    /// Moves every stamp later than `latest` back to `latest`.
    pub fn clamp_stamps(&mut self, latest: Timestamp) {
        for item in &mut self.items {
            item.last_at = item.last_at.min(latest);
        }
        for affinity in &mut self.affinities {
            affinity.at = affinity.at.min(latest);
        }
    }

    /// Sorted by key, one entry per key (the greatest by rank), the newest N kept.
    pub fn normalize(&mut self) {
        if self.is_normalized() {
            return;
        }
        // INVARIANT: items sorted by id, one per id (the latest, then the greater
        // encoding), the MAX_INTEREST_ITEMS most recently touched kept.
        crate::sort::sort_by(&mut self.items, |a, b| a.id.cmp(&b.id).then_with(|| b.rank(a)));
        self.items.dedup_by(|later, earlier| later.id == earlier.id);
        if self.items.len() > MAX_INTEREST_ITEMS {
            crate::sort::sort_by(&mut self.items, |a, b| b.rank(a).then_with(|| a.id.cmp(&b.id)));
            self.items.truncate(MAX_INTEREST_ITEMS);
            crate::sort::sort_by(&mut self.items, |a, b| a.id.cmp(&b.id));
        }
        // INVARIANT: affinities sorted by category, one per category (the latest, then
        // the most points), the MAX_AFFINITIES most recently grown kept.
        crate::sort::sort_by(&mut self.affinities, |a, b| a.category.cmp(&b.category).then_with(|| b.rank(a)));
        self.affinities.dedup_by(|later, earlier| later.category == earlier.category);
        if self.affinities.len() > MAX_AFFINITIES {
            crate::sort::sort_by(&mut self.affinities, |a, b| b.rank(a).then(a.category.cmp(&b.category)));
            self.affinities.truncate(MAX_AFFINITIES);
            crate::sort::sort_by(&mut self.affinities, |a, b| a.category.cmp(&b.category));
        }
    }

    fn is_normalized(&self) -> bool {
        self.items.len() <= MAX_INTEREST_ITEMS
            && self.affinities.len() <= MAX_AFFINITIES
            && self.items.windows(2).all(|w| matches!(w, [a, b] if a.id < b.id))
            && self.affinities.windows(2).all(|w| matches!(w, [a, b] if a.category < b.category))
    }

    /// Applies `touch` to the memory of each of the event's items (created when new),
    /// records the price it carries and adds `points` to its category.
    fn each_item(&mut self, event: &Event, points: f64, mut touch: impl FnMut(&mut ItemInterest, &Item<'_>)) {
        let t = event.time;
        for seen in event.items() {
            if seen.id.is_empty() || seen.id.len() > MAX_ITEM_ID_BYTES {
                continue;
            }
            let item = match self.items.binary_search_by(|i| i.id.as_str().cmp(seen.id)) {
                Ok(i) => self.items.get_mut(i),
                Err(i) => {
                    let fresh = ItemInterest {
                        id: seen.id.to_owned(),
                        last_at: t,
                        views: 0,
                        price: None,
                        in_cart: 0,
                        flags: 0,
                    };
                    self.items.insert(i, fresh);
                    self.items.get_mut(i)
                }
            };
            let Some(item) = item else { continue };
            touch(item, &seen);
            // The price of the latest sighting (an event older than it changes nothing).
            if let Some(price) = seen.price.and_then(hundredths).filter(|_| item.last_at <= t) {
                item.price = Some(price);
            }
            item.last_at = item.last_at.max(t);
            if points > 0.0 {
                self.add_affinity(seen.category.map_or(Hash32(0), Hash32::of_category), points, t);
            }
        }
    }

    /// Adds `points` once to each distinct category the event's items name.
    fn each_category(&mut self, event: &Event, points: f64) {
        let mut seen: Vec<Hash32> = Vec::new();
        for item in event.items() {
            let Some(category) = item.category.map(Hash32::of_category) else { continue };
            if !seen.contains(&category) {
                seen.push(category);
                self.add_affinity(category, points, event.time);
            }
        }
    }

    fn add_affinity(&mut self, category: Hash32, points: f64, t: Timestamp) {
        if category.is_none() {
            return;
        }
        let (index, current) = match self.affinities.binary_search_by(|a| a.category.cmp(&category)) {
            Ok(i) => (i, self.affinities.get(i).map_or(0.0, |a| clean(a.at_time(t)))),
            Err(i) => {
                self.affinities.insert(i, Affinity { category, points: 0, at: t });
                (i, 0.0)
            }
        };
        let Some(entry) = self.affinities.get_mut(index) else { return };
        // An event older than the entry's stamp counts as of the stamp, decayed.
        let added = points * decay(entry.at.since(t), AFFINITY_HALF_LIFE);
        let total = libm::round((current + added) * 100.0).min(f64::from(MAX_AFFINITY_POINTS));
        entry.points = total as u32;
        entry.at = entry.at.max(t);
    }

    fn item_mut(&mut self, id: &str) -> Option<&mut ItemInterest> {
        let index = self.items.binary_search_by(|i| i.id.as_str().cmp(id)).ok()?;
        self.items.get_mut(index)
    }

    fn empty_cart(&mut self, t: Timestamp) {
        for item in self.items.iter_mut().filter(|i| i.in_cart > 0) {
            item.in_cart = 0;
            item.last_at = item.last_at.max(t);
        }
    }

    /// The items `keep` picks, the most recently touched first, ties by id. `keep` is a
    /// function pointer, not a generic: one copy of this in the wasm module.
    fn newest_first(&self, keep: fn(&ItemInterest) -> bool) -> Vec<&ItemInterest> {
        let mut picked: Vec<&ItemInterest> = self.items.iter().filter(|i| keep(i)).collect();
        crate::sort::sort_by(&mut picked, |a, b| b.last_at.cmp(&a.last_at).then_with(|| a.id.cmp(&b.id)));
        picked
    }
}

/// A GA4 price as hundredths, when it is a sensible amount.
fn hundredths(price: f64) -> Option<u32> {
    let h = libm::round(price * 100.0);
    (h.is_finite() && h >= 0.0 && h <= f64::from(MAX_PRICE_HUNDREDTHS)).then_some(h as u32)
}

fn item_fits(item: &ItemInterest) -> bool {
    !item.id.is_empty()
        && item.id.len() <= MAX_ITEM_ID_BYTES
        && item.flags & !KNOWN_FLAGS == 0
        && item.price.is_none_or(|p| p <= MAX_PRICE_HUNDREDTHS)
}

fn affinity_fits(affinity: &Affinity) -> bool {
    !affinity.category.is_none() && affinity.points <= MAX_AFFINITY_POINTS
}

crate::wire_struct!(ItemInterest { id, last_at, views, price, in_cart, flags });
crate::wire_struct!(Affinity { category, points, at });
crate::wire_struct!(Interests { items, affinities });
