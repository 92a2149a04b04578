//! The product catalog (feature `server`): what a shop sells, imported from the product
//! feed it already publishes for Google Merchant Center, so messages can name real
//! products and catalog changes (a price drop, an item back in stock, a new arrival) can
//! start journeys.
//!
//! - `item` — an item as the feed gives it: fields, availability, bounds;
//! - `price` — `"15.00 USD"` → hundredths of the currency unit and the currency code;
//! - `errors` — what can be wrong with a row (`RowError`), a whole feed (`FeedError`),
//!   an import (`ImportError`) or a stored row (`StoreError`), each with a stable code;
//! - `feed` — the three feed formats (RSS 2.0 XML with `g:` fields, tab-separated, JSON
//!   lines), format detection, and one row builder they share;
//! - `report` — what an import did: counts, row errors, and the [`CatalogChange`]s it
//!   caused (price, availability, new items) for the triggers that fan them out;
//! - `store` — the import: one transaction, full replace (`PUT`) or upsert (`PATCH`), the
//!   price and availability history;
//! - `read` — lookups for the rest of the backend: items by id, in a category, new since
//!   a time, in stock, the price at a time;
//! - `routes` — `PUT` / `PATCH /v1/catalog` and `GET /v1/catalog/items/{id}`;
//! - `cli` — `waymark catalog import FILE`.

pub mod cli;
pub mod errors;
pub mod feed;
pub mod item;
pub mod price;
pub mod read;
pub mod report;
pub mod routes;
pub mod store;

pub use errors::{FeedError, ImportError, RowError, RowErrorKind, RowLocation, StoreError};
pub use feed::{parse, Format, ParsedFeed};
pub use item::{Availability, Field, Item};
pub use read::{HistoryEntry, StoredItem};
pub use report::{CatalogChange, ImportReport};
pub use store::{import, ImportMode};
