//! What an import did: counts, the rows it skipped and why, and the changes it made to
//! the catalog as data ([`CatalogChange`]): the input of the catalog triggers (price drop,
//! back in stock, new arrivals), which fan each change out to the shoppers it concerns.

use serde::Serialize;

use super::errors::RowError;
use super::feed::Format;
use super::item::Availability;
use crate::time::Timestamp;

/// One change an import made to the catalog, at the import's time. Its serde form is
/// how a trigger job keeps it (`catalog_jobs.changes`), not the API's ([`Self::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum CatalogChange {
    /// An id the catalog never had.
    New {
        /// Item id.
        id: String,
        /// Its `product_type`.
        product_type: Option<String>,
        /// Its `google_product_category`.
        google_product_category: Option<String>,
        /// Its effective price, hundredths.
        price_hundredths: i64,
        /// The prices' currency.
        currency: Option<String>,
        /// Its availability.
        availability: Availability,
        /// When it was first seen (the import's time).
        at: Timestamp,
    },
    /// The effective price (the sale price when there is one, else the price) changed.
    PriceChanged {
        /// Item id.
        id: String,
        /// Effective price before, hundredths.
        from_hundredths: i64,
        /// Effective price now, hundredths.
        to_hundredths: i64,
        /// The currency now (a change of currency alone is reported too).
        currency: Option<String>,
        /// When.
        at: Timestamp,
    },
    /// The availability changed. `None` is an item that is no longer in the catalog: a
    /// full replace without it removed it (`to: None`), or it came back (`from: None`).
    /// Removed items count as not available.
    AvailabilityChanged {
        /// Item id.
        id: String,
        /// Before (None: removed).
        from: Option<Availability>,
        /// Now (None: removed).
        to: Option<Availability>,
        /// When.
        at: Timestamp,
    },
}

impl CatalogChange {
    /// The item the change is about.
    pub fn id(&self) -> &str {
        match self {
            CatalogChange::New { id, .. }
            | CatalogChange::PriceChanged { id, .. }
            | CatalogChange::AvailabilityChanged { id, .. } => id,
        }
    }

    /// A price that went down.
    pub fn is_price_drop(&self) -> bool {
        matches!(self, CatalogChange::PriceChanged { from_hundredths, to_hundredths, .. } if to_hundredths < from_hundredths)
    }

    /// A change that can concern shoppers: a price drop, a restock, or a new item that can
    /// be bought (a new arrival).
    pub fn can_trigger(&self) -> bool {
        self.is_price_drop()
            || self.is_back_in_stock()
            || matches!(self, CatalogChange::New { availability, .. } if availability.is_available())
    }

    /// An item that could not be bought (out of stock or removed) and now can.
    pub fn is_back_in_stock(&self) -> bool {
        let available = |a: &Option<Availability>| a.is_some_and(Availability::is_available);
        matches!(self, CatalogChange::AvailabilityChanged { from, to, .. } if !available(from) && available(to))
    }

    /// `{type, id, …, at}` with the time in RFC 3339.
    pub fn to_json(&self) -> serde_json::Value {
        let name = |a: &Option<Availability>| a.map_or("removed", Availability::as_str);
        match self {
            CatalogChange::New {
                id,
                product_type,
                google_product_category,
                price_hundredths,
                currency,
                availability,
                at,
            } => serde_json::json!({
                "type": "new", "id": id, "product_type": product_type,
                "google_product_category": google_product_category, "price_hundredths": price_hundredths,
                "currency": currency, "availability": availability.as_str(), "at": at.to_rfc3339(),
            }),
            CatalogChange::PriceChanged { id, from_hundredths, to_hundredths, currency, at } => serde_json::json!({
                "type": "price", "id": id, "from_hundredths": from_hundredths, "to_hundredths": to_hundredths,
                "currency": currency, "at": at.to_rfc3339(),
            }),
            CatalogChange::AvailabilityChanged { id, from, to, at } => serde_json::json!({
                "type": "availability", "id": id, "from": name(from), "to": name(to),
                "back_in_stock": self.is_back_in_stock(), "at": at.to_rfc3339(),
            }),
        }
    }
}

/// Counts of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// Rows in the feed.
    pub rows: usize,
    /// Rows imported (new + updated + unchanged).
    pub loaded: usize,
    /// Items the catalog did not have.
    pub new: usize,
    /// Items that changed (a removed item that came back included).
    pub updated: usize,
    /// Items the feed gave as they were.
    pub unchanged: usize,
    /// Items a full replace removed (missing from the feed).
    pub removed: usize,
    /// Rows skipped for an error.
    pub rejected: usize,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Full replace or upsert.
    pub mode: super::store::ImportMode,
    /// The time of the import (of every change and history row).
    pub at: Timestamp,
    /// Counts.
    pub counts: ImportCounts,
    /// The errors of the rejected rows (at most [`super::feed::MAX_REPORTED_ERRORS`]).
    pub errors: Vec<RowError>,
    /// True when more row errors were found than `errors` holds.
    pub errors_truncated: bool,
    /// The changes, in feed order, removals last (by id).
    pub changes: Vec<CatalogChange>,
    /// The trigger job the import queued for the changes that can concern shoppers
    /// (`catalog_jobs`), if any.
    pub job: Option<i64>,
}

impl ImportReport {
    /// The report as JSON, with at most `max_changes` changes listed (`changes_truncated`
    /// says when there were more; the counts are always whole).
    pub fn to_json(&self, format: Format, max_changes: usize) -> serde_json::Value {
        serde_json::json!({
            "mode": self.mode.as_str(),
            "format": format.as_str(),
            "at": self.at.to_rfc3339(),
            "counts": self.counts,
            "errors": self.errors.iter().map(RowError::to_json).collect::<Vec<_>>(),
            "errors_truncated": self.errors_truncated,
            "changes": self.changes.iter().take(max_changes).map(CatalogChange::to_json).collect::<Vec<_>>(),
            "changes_truncated": self.changes.len() > max_changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_in_stock_is_from_unavailable_to_available() {
        let change = |from, to| CatalogChange::AvailabilityChanged { id: "a".into(), from, to, at: Timestamp(0) };
        use Availability::*;
        assert!(change(Some(OutOfStock), Some(InStock)).is_back_in_stock());
        assert!(change(None, Some(Backorder)).is_back_in_stock());
        assert!(!change(Some(Preorder), Some(InStock)).is_back_in_stock());
        assert!(!change(Some(InStock), None).is_back_in_stock());
        assert_eq!(change(Some(InStock), None).to_json()["to"], "removed");
    }
}
