//! Catalog-triggered entry events: a price drop, a restock or new arrivals become an
//! ordinary server-side event (`price_drop`, `back_in_stock`, `new_arrivals`) on each
//! shopper they concern, found through the interest index ([`super::interest_index`])
//! page by page — never by reading every shopper — and applied through the writer like
//! `POST /v1/events`, so journeys and every policy rule (consent, quiet hours, caps,
//! suppression, mutual exclusion) apply unchanged.
//!
//! Each event has an idempotency key made of the shopper, the item and the sighting it
//! answers (or the arrival), so a shopper hears of one drop once however many price
//! changes follow, and a replayed import sends nothing twice.

use std::collections::BTreeMap;

use super::error::ApiError;
use super::interest_index::{self, Interested};
use super::storage::{Db, StorageError};
use super::sync::{Identity, ServerEvent, Work, Writer};
use crate::hash::Hash32;
use crate::interest::{BOUGHT, MAX_ITEM_ID_BYTES};
use crate::time::{Duration, Timestamp, DAY};
use crate::value::{Map, Value};

/// What a catalog change means for shoppers.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// The item's price went down to `new_price` (hundredths) at `at`.
    PriceDrop {
        /// Item id.
        item: String,
        /// The new effective price, in hundredths.
        new_price: u32,
        /// When.
        at: Timestamp,
    },
    /// The item is available again since `at`; it was out of stock from `out_since`.
    BackInStock {
        /// Item id.
        item: String,
        /// When it went out of stock (sightings from then on were of an unavailable item).
        out_since: Timestamp,
        /// When it came back.
        at: Timestamp,
    },
    /// A new item in a category.
    NewArrival {
        /// Item id.
        item: String,
        /// Its category, as events name it (`item_category`).
        category: String,
        /// When it arrived.
        at: Timestamp,
    },
}

/// How far back interest counts, and how strong it must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TriggerSettings {
    /// Sightings older than this do not count (price drop, restock); affinity last grown
    /// longer ago does not either (new arrivals).
    pub lookback: Duration,
    /// The smallest category affinity, in points, that new arrivals are announced to.
    pub min_affinity: f64,
    /// Shoppers read and events submitted per page.
    pub page: i64,
}

impl Default for TriggerSettings {
    fn default() -> TriggerSettings {
        TriggerSettings { lookback: Duration(30 * DAY), min_affinity: 2.0, page: 1000 }
    }
}

/// What a fan-out did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FanoutReport {
    /// Events applied, by name.
    pub events: BTreeMap<String, u64>,
    /// Of them, already applied before (the same drop, restock or arrival): nothing done.
    pub duplicates: u64,
    /// Shoppers looked at and passed over (price not below what they saw, item bought).
    pub skipped: u64,
    /// Events that failed (that shopper's state unreadable, say): the rest went on.
    pub failed: u64,
    /// Decisions the events led to, by action.
    pub decisions: BTreeMap<String, u64>,
}

/// Why a fan-out stopped.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// The index could not be read.
    #[error("reading the interest index: {0}")]
    Storage(#[from] StorageError),
}

impl FanoutError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FanoutError::Storage(_) => "storage_error",
        }
    }
}

/// The price a shopper saw, as the server accepts it: what their copy says, but never
/// more than the catalog's own price around the sighting (`reference`), so a forged copy
/// cannot invent a drop.
pub type ReferencePrice<'a> = &'a (dyn Fn(&str, Timestamp) -> Option<u32> + Sync);

/// Applies `triggers` to every shopper they concern, page by page; `now` is the server's
/// clock. `reference` gives the highest catalog price of an item from a time on (see
/// [`ReferencePrice`]); without one the seen price is taken as sent.
pub async fn fan_out(
    db: &Db,
    writer: &Writer,
    triggers: &[Trigger],
    settings: TriggerSettings,
    reference: Option<ReferencePrice<'_>>,
    now: Timestamp,
) -> Result<FanoutReport, FanoutError> {
    let mut report = FanoutReport::default();
    let since = now.minus(settings.lookback);
    // New arrivals: one event per shopper and category, naming the new items.
    let mut arrivals: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for trigger in triggers {
        match trigger {
            Trigger::PriceDrop { item, new_price, at } => {
                let event_for = |who: &Interested| price_drop_event(item, *new_price, *at, who, reference);
                fan_item(db, writer, item, since, settings.page, "price_drop", &mut report, event_for).await?;
            }
            Trigger::BackInStock { item, out_since, at } => {
                let event_for = |who: &Interested| {
                    if who.flags & BOUGHT != 0 && who.in_cart == 0 {
                        return None;
                    }
                    let mut properties = Map::new();
                    properties.insert("item_id".into(), Value::from(item.as_str()));
                    let id = event_id("back_in_stock", &who.shopper, item, out_since.0);
                    Some(server_event(id, "back_in_stock", *at, properties))
                };
                let since = since.max(*out_since);
                fan_item(db, writer, item, since, settings.page, "back_in_stock", &mut report, event_for).await?;
            }
            Trigger::NewArrival { item, category, .. } => {
                arrivals.entry(category.as_str()).or_default().push(item.as_str());
            }
        }
    }
    let arrived_at = triggers
        .iter()
        .filter_map(|t| match t {
            Trigger::NewArrival { at, .. } => Some(*at),
            _ => None,
        })
        .max()
        .unwrap_or(now);
    for (category, items) in arrivals {
        fan_arrivals(db, writer, category, &items, arrived_at, since, settings, now, &mut report).await?;
    }
    Ok(report)
}

/// Pages through the shoppers interested in `item` since `since`, makes each one's
/// event with `event_for` (none: passed over) and submits each page as `name`.
#[expect(clippy::too_many_arguments, reason = "one fan-out's settings, passed down as they are")]
async fn fan_item(
    db: &Db,
    writer: &Writer,
    item: &str,
    since: Timestamp,
    page_size: i64,
    name: &str,
    report: &mut FanoutReport,
    event_for: impl Fn(&Interested) -> Option<ServerEvent>,
) -> Result<(), FanoutError> {
    let mut after = String::new();
    loop {
        let page = read_page(db, item, since, &after, page_size).await?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.shopper.clone();
        let mut jobs = Vec::new();
        for who in &page {
            match event_for(who) {
                Some(event) => jobs.push((identity_of(&who.shopper), Work::Event(Box::new(event)))),
                None => report.skipped += 1,
            }
        }
        submit(writer, jobs, name, report).await;
    }
}

/// One `new_arrivals` event, naming up to 8 of `items`, to each shopper whose affinity
/// for `category` is still at least the settings' minimum now.
#[expect(clippy::too_many_arguments, reason = "one fan-out's settings, passed down as they are")]
async fn fan_arrivals(
    db: &Db,
    writer: &Writer,
    category: &str,
    items: &[&str],
    arrived_at: Timestamp,
    since: Timestamp,
    settings: TriggerSettings,
    now: Timestamp,
    report: &mut FanoutReport,
) -> Result<(), FanoutError> {
    let min_points = (settings.min_affinity * 100.0).clamp(0.0, f64::from(u32::MAX)) as u32;
    let hash = Hash32::of_category(category);
    let listed: Vec<Value> = items.iter().take(8).map(|i| Value::from(*i)).collect();
    let mut after = String::new();
    loop {
        let page = {
            let mut conn = db.reader().acquire().await.map_err(StorageError::from)?;
            interest_index::by_category(&mut conn, hash, min_points, since, &after, settings.page).await?
        };
        let Some((last, _)) = page.last() else { return Ok(()) };
        after = last.clone();
        let mut jobs = Vec::new();
        for (shopper, affinity) in &page {
            // The stored points are as of their stamp: decayed to now, still strong enough?
            if affinity.at_time(now) < settings.min_affinity {
                report.skipped += 1;
                continue;
            }
            let mut properties = Map::new();
            properties.insert("item_category".into(), Value::from(category));
            properties.insert("item_ids".into(), Value::Array(listed.clone()));
            if let Some(first) = items.first() {
                properties.insert("item_id".into(), Value::from(*first));
            }
            let id = event_id("new_arrivals", shopper, category, arrived_at.0);
            let event = server_event(id, "new_arrivals", arrived_at, properties);
            jobs.push((identity_of(shopper), Work::Event(Box::new(event))));
        }
        submit(writer, jobs, "new_arrivals", report).await;
    }
}

async fn read_page(
    db: &Db,
    item: &str,
    since: Timestamp,
    after: &str,
    limit: i64,
) -> Result<Vec<Interested>, FanoutError> {
    if item.is_empty() || item.len() > MAX_ITEM_ID_BYTES {
        return Ok(Vec::new());
    }
    let mut conn = db.reader().acquire().await.map_err(StorageError::from)?;
    Ok(interest_index::interested_in(&mut conn, item, since, after, limit).await?)
}

/// The `price_drop` event for one shopper, or none when the new price is not below the
/// price they saw (as the server accepts it), or they bought the item since.
fn price_drop_event(
    item: &str,
    new_price: u32,
    at: Timestamp,
    who: &Interested,
    reference: Option<ReferencePrice<'_>>,
) -> Option<ServerEvent> {
    let claimed = who.price_seen?;
    let seen = match reference.and_then(|r| r(item, who.last_at.minus(Duration(DAY)))) {
        Some(catalog) => claimed.min(catalog),
        None => claimed,
    };
    if new_price >= seen || seen == 0 || (who.flags & BOUGHT != 0 && who.in_cart == 0) {
        return None;
    }
    let drop = f64::from(seen - new_price) / f64::from(seen) * 100.0;
    let mut properties = Map::new();
    properties.insert("item_id".into(), Value::from(item));
    properties.insert("old_price".into(), Value::Number(f64::from(seen) / 100.0));
    properties.insert("new_price".into(), Value::Number(f64::from(new_price) / 100.0));
    properties.insert("drop_percent".into(), Value::Number(libm::round(drop * 10.0) / 10.0));
    let id = event_id("price_drop", &who.shopper, item, who.last_at.0);
    Some(server_event(id, "price_drop", at, properties))
}

fn server_event(id: String, name: &str, time: Timestamp, properties: Map) -> ServerEvent {
    ServerEvent { id, time, name: Some(name.to_owned()), properties, traits: Map::new(), consent: BTreeMap::new() }
}

/// `<name>:<hex>` of the shopper, the subject and the sighting or arrival it answers: the
/// same drop, restock or arrival always makes the same key.
fn event_id(name: &str, shopper: &str, subject: &str, basis: i64) -> String {
    let mut text = String::with_capacity(shopper.len() + subject.len() + 24);
    text.push_str(shopper);
    text.push('\u{1f}');
    text.push_str(subject);
    text.push('\u{1f}');
    text.push_str(&basis.to_string());
    let hash = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
    format!("{name}:{hash:032x}")
}

/// The identity a row key speaks for (`anon:<id>` or `cust:<id>`).
/// The identity a shopper row key (`cust:…`, `anon:…`) names.
pub(crate) fn identity_of(key: &str) -> Identity {
    match key.split_once(':') {
        Some(("cust", id)) => Identity { anonymous: None, customer: Some(id.to_owned()) },
        Some((_, id)) => Identity { anonymous: Some(id.to_owned()), customer: None },
        None => Identity { anonymous: Some(key.to_owned()), customer: None },
    }
}

async fn submit(writer: &Writer, jobs: Vec<(Identity, Work)>, name: &str, report: &mut FanoutReport) {
    if jobs.is_empty() {
        return;
    }
    for result in writer.submit_many(jobs).await {
        match result {
            Ok(super::sync::Done::Event { duplicate: true, .. }) => report.duplicates += 1,
            Ok(super::sync::Done::Event { decisions, .. }) => {
                *report.events.entry(name.to_owned()).or_default() += 1;
                for d in decisions {
                    *report.decisions.entry(d.action.as_str().to_owned()).or_default() += 1;
                }
            }
            Ok(_) => {}
            Err(e) => {
                report.failed += 1;
                log_failure(name, &e);
            }
        }
    }
}

fn log_failure(name: &str, e: &ApiError) {
    tracing::warn!(event = name, error = ?e, "a catalog-triggered event failed; the fan-out goes on");
}

/// The triggers of an import's changes, and the catalog's own previous price of each item
/// that dropped (the most a shopper can have seen it at just before the drop: a seen price
/// above it is capped to it). A restock's `out_since` is read from the item's history:
/// when the run of unavailable entries before the change began.
pub async fn from_changes(
    db: &Db,
    changes: &[crate::server::catalog::report::CatalogChange],
) -> (Vec<Trigger>, BTreeMap<String, u32>) {
    use crate::server::catalog::read;
    use crate::server::catalog::report::CatalogChange;
    let mut triggers = Vec::new();
    let mut previous = BTreeMap::new();
    let hundredths = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    for change in changes {
        match change {
            CatalogChange::PriceChanged { id, from_hundredths, to_hundredths, at, .. } if change.is_price_drop() => {
                previous.insert(id.clone(), hundredths(*from_hundredths));
                triggers.push(Trigger::PriceDrop { item: id.clone(), new_price: hundredths(*to_hundredths), at: *at });
            }
            CatalogChange::AvailabilityChanged { id, at, .. } if change.is_back_in_stock() => {
                let history = read::history(db, id, 50).await.unwrap_or_default();
                // Newest first, from this change on (a later import may have added more):
                // the entry of this change (available), then the unavailable run.
                let mut out_since = None;
                let upto_change = history.iter().skip_while(|e| e.at > *at);
                for entry in upto_change.skip_while(|e| e.availability.is_some_and(|a| a.is_available())) {
                    if entry.availability.is_some_and(|a| a.is_available()) {
                        break;
                    }
                    out_since = Some(entry.at);
                }
                let out_since = out_since.unwrap_or(*at);
                triggers.push(Trigger::BackInStock { item: id.clone(), out_since, at: *at });
            }
            CatalogChange::New { id, product_type, google_product_category, availability, at, .. }
                if availability.is_available() =>
            {
                if let Some(category) = product_type.as_ref().or(google_product_category.as_ref()) {
                    triggers.push(Trigger::NewArrival { item: id.clone(), category: category.clone(), at: *at });
                }
            }
            _ => {}
        }
    }
    (triggers, previous)
}
