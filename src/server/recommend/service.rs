//! The recommender as the server runs it: the neighbour lists, popularity and search
//! index built from storage — interactions from the interest index, items from the
//! catalog — kept in memory, rebuilt when older than [`MAX_AGE`] or after a catalog
//! import, and the product cards (title, price, image, link) that answers and messages
//! carry. `GET /v1/recommendations` and message content read it. Each build logs (info,
//! "recommender built") what it read and how long reading and building took.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;
use tokio::sync::Mutex;

use super::{
    for_item, for_shopper, Anchor, BlendConfig, CatalogItem, CosineConfig, Interaction, Kind, Neighbours, Popularity,
    PopularityConfig, SearchIndex, Seen, Shopper, Sources, Stock,
};
use crate::hash::Hash32;
use crate::interest::{Interests, BOUGHT, CARTED, WISHLISTED};
use crate::server::storage::{Db, StorageError};
use crate::time::{Duration, Timestamp, MINUTE};

/// A build is used for this long, then rebuilt on the next request.
pub const MAX_AGE: Duration = Duration(5 * MINUTE);

/// One product as messages and answers show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Card {
    /// Item id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Effective price (sale price, else price), in currency units.
    pub price: f64,
    /// Currency code, when the feed gave one.
    pub currency: Option<String>,
    /// Product page.
    pub link: String,
    /// Image, when the feed gave one.
    pub image_link: Option<String>,
    /// Category (`product_type`, else `google_product_category`).
    pub category: Option<String>,
    /// Whether it can be bought now.
    pub in_stock: bool,
    /// Why it was recommended (recommendations only): a sentence and its code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason's stable code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<&'static str>,
}

/// Everything one build holds.
struct Built {
    at: Timestamp,
    neighbours: Neighbours,
    popularity: Popularity,
    search: SearchIndex,
    cards: HashMap<String, Card>,
    categories: HashMap<Hash32, String>,
}

/// The recommender: the latest build, rebuilt on demand. A build older than
/// [`MAX_AGE`] is still answered from while one request rebuilds it (the others do not
/// wait: only new interactions are missing from it); a build the catalog outdated
/// ([`Recommender::invalidate`]: prices, stock, items) is never answered from again.
#[derive(Default)]
pub struct Recommender {
    built: std::sync::Mutex<Option<Arc<Built>>>,
    /// Held by the one request that rebuilds.
    building: Mutex<()>,
    /// Bumped by each invalidation: a build begun before one is not kept.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Recommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recommender")
    }
}

impl Recommender {
    /// Drops the current build (the catalog changed): the next request rebuilds.
    pub async fn invalidate(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.slot() = None;
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Built>>> {
        // A panic while holding it cannot leave a half-written build: the value is one Arc.
        self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn current(&self, db: &Db, now: Timestamp) -> Result<Arc<Built>, StorageError> {
        let fresh = |b: &Arc<Built>| now.since(b.at) < MAX_AGE && b.at <= now;
        let existing = self.slot().clone();
        if let Some(built) = existing.as_ref().filter(|b| fresh(b)) {
            return Ok(Arc::clone(built));
        }
        let _rebuilding = match (&existing, self.building.try_lock()) {
            (Some(old), Err(_)) => return Ok(Arc::clone(old)),
            (_, Ok(guard)) => guard,
            (None, Err(_)) => self.building.lock().await,
        };
        if let Some(built) = self.slot().as_ref().filter(|b| fresh(b)) {
            return Ok(Arc::clone(built));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let built = Arc::new(rebuild(db, now).await?);
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *self.slot() = Some(Arc::clone(&built));
        }
        Ok(built)
    }

    /// Up to `k` items to show with `item` (neighbours, then popular in its category), in
    /// stock, without the item itself and without what `interests` says was bought.
    pub async fn for_item(
        &self,
        db: &Db,
        item: &str,
        interests: Option<&Interests>,
        k: usize,
        now: Timestamp,
    ) -> Result<Vec<Card>, StorageError> {
        let built = self.current(db, now).await?;
        let bought = bought(interests);
        let category = built.cards.get(item).and_then(|c| c.category.as_deref());
        let in_stock = |id: &str| built.cards.get(id).is_some_and(|c| c.in_stock);
        let sources = Sources { neighbours: &built.neighbours, popularity: &built.popularity, in_stock: &in_stock };
        let picked = for_item(&Anchor { item, category }, &bought, &sources, k, &BlendConfig::default());
        Ok(picked.into_iter().filter_map(|r| built.card(&r.item, Some(&r.reason))).collect())
    }

    /// Up to `k` items for a shopper from their interest memory (neighbours of what they
    /// looked at, popular in their strongest categories), in stock, nothing bought.
    pub async fn for_shopper(
        &self,
        db: &Db,
        interests: &Interests,
        k: usize,
        now: Timestamp,
    ) -> Result<Vec<Card>, StorageError> {
        let built = self.current(db, now).await?;
        let mut recent = Vec::new();
        for item in &interests.items {
            for (kind, yes) in [
                (Kind::Viewed, item.views > 0),
                (Kind::Carted, item.flags & (CARTED | WISHLISTED) != 0),
                (Kind::Bought, item.flags & BOUGHT != 0),
            ] {
                if yes {
                    recent.push(Seen { item: item.id.clone(), kind, at: item.last_at });
                }
            }
        }
        let affinity: Vec<(String, f64)> = interests
            .top_categories(now)
            .into_iter()
            .filter_map(|(hash, points)| built.categories.get(&hash).map(|name| (name.clone(), points)))
            .collect();
        let bought = bought(Some(interests));
        let shopper = Shopper { recent: &recent, affinity: &affinity, bought: &bought };
        let in_stock = |id: &str| built.cards.get(id).is_some_and(|c| c.in_stock);
        let sources = Sources { neighbours: &built.neighbours, popularity: &built.popularity, in_stock: &in_stock };
        let picked = for_shopper(&shopper, &sources, now, k, &BlendConfig::default());
        Ok(picked.into_iter().filter_map(|r| built.card(&r.item, Some(&r.reason))).collect())
    }

    /// Up to `k` items in stock matching a search term, best first (BM25, stemmed).
    pub async fn search(&self, db: &Db, term: &str, k: usize, now: Timestamp) -> Result<Vec<Card>, StorageError> {
        let built = self.current(db, now).await?;
        Ok(built
            .search
            .search(term, k, Stock::InStockOnly)
            .into_iter()
            .filter_map(|h| built.card(&h.id, None))
            .collect())
    }

    /// The cards of `ids` (those in the catalog), in the order given.
    pub async fn cards(&self, db: &Db, ids: &[String], now: Timestamp) -> Result<Vec<Card>, StorageError> {
        let built = self.current(db, now).await?;
        Ok(ids.iter().filter_map(|id| built.card(id, None)).collect())
    }
}

impl Built {
    fn card(&self, id: &str, reason: Option<&super::Reason>) -> Option<Card> {
        let mut card = self.cards.get(id)?.clone();
        if let Some(reason) = reason {
            card.reason = Some(reason.to_string());
            card.reason_code = Some(reason.code());
        }
        Some(card)
    }
}

fn bought(interests: Option<&Interests>) -> Vec<String> {
    interests
        .map_or_else(Vec::new, |i| i.items.iter().filter(|x| x.flags & BOUGHT != 0).map(|x| x.id.clone()).collect())
}

/// Interactions from the interest index; current catalog items.
async fn load(db: &Db) -> Result<(Vec<Interaction>, Vec<(CatalogItem, Card)>), StorageError> {
    let mut interactions = Vec::new();
    // No catalog, nothing to recommend: the interactions are not read.
    if !crate::server::catalog::read::any_item(db)
        .await
        .map_err(|e| StorageError::Sql(sqlx::Error::Protocol(e.to_string())))?
    {
        return Ok((interactions, Vec::new()));
    }
    // Row by row as the database sends them: all rows at once would hold every database
    // row beside the interactions made from them (at 1M rows, some 400 MiB more at the peak).
    let mut rows =
        sqlx::query("SELECT item_id, shopper_id, views, flags, last_at FROM interest_items").fetch(db.reader());
    while let Some(row) = rows.try_next().await? {
        let item: String = row.try_get("item_id")?;
        let shopper: String = row.try_get("shopper_id")?;
        let views: i64 = row.try_get("views")?;
        let flags: i64 = row.try_get("flags")?;
        let at = Timestamp(row.try_get("last_at")?);
        let kinds = [
            (Kind::Viewed, views > 0),
            (Kind::Carted, flags & i64::from(CARTED | WISHLISTED) != 0),
            (Kind::Bought, flags & i64::from(BOUGHT) != 0),
        ];
        for (kind, yes) in kinds {
            if yes {
                interactions.push(Interaction { shopper: shopper.clone(), item: item.clone(), kind, at });
            }
        }
    }
    let rows = sqlx::query(
        "SELECT id, title, description, link, image_link, price_hundredths, sale_price_hundredths, currency, \
         availability, product_type, google_product_category, brand FROM catalog_items WHERE removed_at IS NULL",
    )
    .fetch_all(db.reader())
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let title: String = row.try_get("title")?;
        let price: i64 = row.try_get("price_hundredths")?;
        let sale: Option<i64> = row.try_get("sale_price_hundredths")?;
        let availability: String = row.try_get("availability")?;
        let product_type: Option<String> = row.try_get("product_type")?;
        let google: Option<String> = row.try_get("google_product_category")?;
        let category = product_type.or(google);
        let in_stock = matches!(availability.as_str(), "in_stock" | "preorder" | "backorder");
        let search = CatalogItem {
            id: id.clone(),
            title: title.clone(),
            description: row.try_get::<Option<String>, _>("description")?.unwrap_or_default(),
            category: category.clone().unwrap_or_default(),
            brand: row.try_get::<Option<String>, _>("brand")?.unwrap_or_default(),
            in_stock,
        };
        let card = Card {
            id,
            title,
            price: sale.unwrap_or(price) as f64 / 100.0,
            currency: row.try_get("currency")?,
            link: row.try_get("link")?,
            image_link: row.try_get("image_link")?,
            category,
            in_stock,
            reason: None,
            reason_code: None,
        };
        items.push((search, card));
    }
    Ok((interactions, items))
}

fn build(interactions: Vec<Interaction>, items: Vec<(CatalogItem, Card)>, now: Timestamp) -> Built {
    let categories_by_item: HashMap<String, String> =
        items.iter().filter_map(|(_, c)| c.category.clone().map(|cat| (c.id.clone(), cat))).collect();
    let names: HashSet<&String> = categories_by_item.values().collect();
    let categories = names.into_iter().map(|name| (Hash32::of_category(name), name.clone())).collect();
    let search_items: Vec<CatalogItem> = items.iter().map(|(s, _)| s.clone()).collect();
    Built {
        at: now,
        // One thread: the build runs beside request handling and delivery.
        neighbours: Neighbours::build(&interactions, &CosineConfig { threads: 1, ..CosineConfig::default() }),
        popularity: Popularity::build(&interactions, &categories_by_item, now, &PopularityConfig::default()),
        search: SearchIndex::build(&search_items),
        cards: items.into_iter().map(|(_, c)| (c.id.clone(), c)).collect(),
        categories,
    }
}

/// One build from storage, timed in the log.
async fn rebuild(db: &Db, now: Timestamp) -> Result<Built, StorageError> {
    let started = std::time::Instant::now();
    let (interactions, items) = load(db).await?;
    let loaded = started.elapsed();
    let counts = (interactions.len(), items.len());
    let built = tokio::task::spawn_blocking(move || build(interactions, items, now))
        .await
        .map_err(|e| StorageError::Sql(sqlx::Error::Protocol(format!("recommender build: {e}"))))?;
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        interactions = counts.0,
        items = counts.1,
        load_ms = ms(loaded),
        build_ms = ms(started.elapsed().saturating_sub(loaded)),
        "recommender built"
    );
    Ok(built)
}
