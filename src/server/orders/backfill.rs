//! A shop's past orders into the order history: JSON lines or CSV, one order a row —
//! `order_id`, `customer_id`, `time` (RFC 3339, a `YYYY-MM-DD` day, or epoch
//! milliseconds), `value`, and optionally `refunded`, `currency` and `items` (item ids: a
//! JSON array of ids or of `{item_id}` objects; in CSV separated by `|`). A bad row is
//! skipped with an error naming its line, field and a stable code; the good rows load,
//! in one transaction. Loading is idempotent by order id: the same file twice changes
//! nothing, a corrected row replaces the order, and a backfilled order's values outrank
//! what a shopper's state recorded for it.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value as Json;

use crate::orders::MAX_ORDER_ID_BYTES;
use crate::server::storage::{customer_key, padded_chunks, value_rows, Db, StorageError};
use crate::state::MAX_ID_BYTES;
use crate::time::Timestamp;

/// Row errors reported at most (the counts are always whole).
pub const MAX_REPORTED_ERRORS: usize = 100;
/// Item ids kept per order.
pub const MAX_ITEMS: usize = 64;

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object a line.
    Jsonl,
    /// A header line, then one order a line.
    Csv,
}

impl Format {
    /// `jsonl` or `csv`, as `--format` and `?format=` spell them.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// From a media type: JSON lines or CSV, or none.
    pub fn from_media_type(content_type: &str) -> Option<Format> {
        match content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => Some(Format::Jsonl),
            "text/csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// From a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// One past order.
#[derive(Debug, Clone, PartialEq)]
pub struct BackfillOrder {
    /// The shop's order id.
    pub order_id: String,
    /// The shop's customer id.
    pub customer_id: String,
    /// When it was placed.
    pub at: Timestamp,
    /// Its value, hundredths.
    pub value: u64,
    /// Refunded, hundredths (at most the value).
    pub refunded: u64,
    /// Its currency code.
    pub currency: Option<String>,
    /// Item ids.
    pub items: Vec<String>,
}

/// A skipped row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based line in the file.
    pub line: usize,
    /// The field at fault (`row` for the row as a whole).
    pub field: &'static str,
    /// Stable code.
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {} [{}]", self.line, self.field, self.message, self.code)
    }
}

/// A whole file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackfillError {
    /// A CSV file without a required column.
    #[error("the CSV header has no {0:?} column: the columns are order_id, customer_id, time, value (required) and refunded, currency, items")]
    MissingColumn(&'static str),
    /// A CSV file whose header cannot be read.
    #[error("the CSV header cannot be read: {0}")]
    BadHeader(String),
    /// Not one row loads.
    #[error("none of the {rows} rows can be loaded")]
    NoValidRows {
        /// Rows read.
        rows: usize,
        /// Why, row by row (the first [`MAX_REPORTED_ERRORS`]).
        errors: Vec<RowError>,
    },
}

impl BackfillError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BackfillError::MissingColumn(_) => "missing_column",
            BackfillError::BadHeader(_) => "malformed_header",
            BackfillError::NoValidRows { .. } => "no_valid_rows",
        }
    }
}

/// A read file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The good rows.
    pub orders: Vec<BackfillOrder>,
    /// Rows read (blank lines aside).
    pub rows: usize,
    /// Rows skipped.
    pub rejected: usize,
    /// Their errors, the first [`MAX_REPORTED_ERRORS`].
    pub errors: Vec<RowError>,
}

impl Parsed {
    fn reject(&mut self, error: RowError) {
        self.rejected += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(error);
        }
    }
}

/// The fields of a row, as the format gives them.
struct RawRow {
    line: usize,
    fields: Fields,
}

enum Fields {
    Json(serde_json::Map<String, Json>),
    /// (column, value) in header order.
    Csv(Vec<(String, String)>),
}

impl RawRow {
    /// A field as JSON: CSV text as a string (empty: absent), its `items` as a list.
    fn get(&self, key: &str) -> Option<Json> {
        match &self.fields {
            Fields::Json(object) => object.get(key).cloned(),
            Fields::Csv(fields) => {
                let value = fields.iter().find(|(name, _)| name == key).map(|(_, v)| v.as_str())?;
                if value.is_empty() {
                    None
                } else if key == "items" {
                    Some(Json::Array(value.split('|').map(|s| Json::from(s.trim())).collect()))
                } else {
                    Some(Json::String(value.to_owned()))
                }
            }
        }
    }
}

/// Reads a file; a row that does not read is an error in [`Parsed::errors`].
pub fn parse(bytes: &[u8], format: Format) -> Result<Parsed, BackfillError> {
    let mut parsed = Parsed::default();
    let rows = match format {
        Format::Jsonl => jsonl_rows(bytes, &mut parsed),
        Format::Csv => csv_rows(bytes, &mut parsed)?,
    };
    let mut seen = BTreeSet::new();
    for raw in rows {
        match order_of(&raw) {
            Ok(order) if !seen.insert(order.order_id.clone()) => parsed.reject(RowError {
                line: raw.line,
                field: "order_id",
                code: "duplicate_id",
                message: format!("order {:?} is on an earlier line too: the earlier row is loaded", order.order_id),
            }),
            Ok(order) => parsed.orders.push(order),
            Err(error) => parsed.reject(error),
        }
    }
    if parsed.orders.is_empty() {
        return Err(BackfillError::NoValidRows { rows: parsed.rows, errors: parsed.errors });
    }
    Ok(parsed)
}

fn jsonl_rows(bytes: &[u8], parsed: &mut Parsed) -> Vec<RawRow> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        parsed.rows += 1;
        match serde_json::from_str::<Json>(line) {
            Ok(Json::Object(object)) => {
                rows.push(RawRow { line: i + 1, fields: Fields::Json(object) });
            }
            Ok(_) | Err(_) => parsed.reject(RowError {
                line: i + 1,
                field: "row",
                code: "malformed_row",
                message: "not a JSON object such as {\"order_id\": \"1001\", \"customer_id\": \"c-1\", \
                          \"time\": \"2026-01-31T10:00:00Z\", \"value\": 42.5}"
                    .into(),
            }),
        }
    }
    rows
}

fn csv_rows(bytes: &[u8], parsed: &mut Parsed) -> Result<Vec<RawRow>, BackfillError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| BackfillError::BadHeader(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for required in ["order_id", "customer_id", "time", "value"] {
        if !header.iter().any(|h| h == required) {
            return Err(BackfillError::MissingColumn(required));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        parsed.rows += 1;
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
                let fields: Vec<(String, String)> =
                    header.iter().cloned().zip(record.iter().map(|v| v.trim().to_owned())).collect();
                rows.push(RawRow { line, fields: Fields::Csv(fields) });
            }
            Err(e) => parsed.reject(RowError {
                line: e.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX)),
                field: "row",
                code: "malformed_row",
                message: e.to_string(),
            }),
        }
    }
    Ok(rows)
}

fn order_of(raw: &RawRow) -> Result<BackfillOrder, RowError> {
    let line = raw.line;
    let error = |field: &'static str, code: &'static str, message: String| RowError { line, field, code, message };
    let text = |field: &'static str, max: usize| -> Result<String, RowError> {
        match raw.get(field) {
            None | Some(Json::Null) => Err(error(field, "missing_field", format!("{field} is required"))),
            Some(Json::String(s)) if s.is_empty() => Err(error(field, "missing_field", format!("{field} is required"))),
            Some(Json::String(s)) if s.len() > max => {
                Err(error(field, "field_too_long", format!("{} bytes, at most {max}", s.len())))
            }
            Some(Json::String(s)) => Ok(s),
            Some(Json::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(error(field, "invalid_text", format!("a text, found {other}"))),
        }
    };
    let order_id = text("order_id", MAX_ORDER_ID_BYTES)?;
    let customer_id = text("customer_id", MAX_ID_BYTES)?;
    let at = time_of(raw.get("time")).ok_or_else(|| {
        error(
            "time",
            "invalid_time",
            "an RFC 3339 time (2026-01-31T10:00:00Z), a day (2026-01-31) or epoch milliseconds".into(),
        )
    })?;
    let value = amount_of(raw.get("value"))
        .ok_or_else(|| error("value", "invalid_value", "a number of at least 0, as 42.50".into()))?;
    let refunded = match raw.get("refunded") {
        None | Some(Json::Null) => 0,
        Some(given) => amount_of(Some(given))
            .filter(|r| *r <= value)
            .ok_or_else(|| error("refunded", "invalid_refund", "a number from 0 to the order's value".into()))?,
    };
    let currency = match raw.get("currency") {
        None | Some(Json::Null) => None,
        Some(Json::String(c)) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(_) => return Err(error("currency", "invalid_currency", "a three-letter ISO 4217 code, as EUR".into())),
    };
    let items = items_of(raw.get("items"))
        .ok_or_else(|| error("items", "invalid_items", "a list of item ids, or of objects with item_id".into()))?;
    Ok(BackfillOrder { order_id, customer_id, at, value, refunded, currency, items })
}

fn time_of(value: Option<Json>) -> Option<Timestamp> {
    match value? {
        Json::Number(n) => n.as_i64().filter(|ms| *ms >= 0).map(Timestamp),
        Json::String(s) => {
            if let Ok(ms) = s.parse::<i64>() {
                return (ms >= 0).then_some(Timestamp(ms));
            }
            if s.len() == 10 {
                return Timestamp::parse_rfc3339(&format!("{s}T00:00:00Z")).ok();
            }
            Timestamp::parse_rfc3339(&s).ok()
        }
        _ => None,
    }
}

fn amount_of(value: Option<Json>) -> Option<u64> {
    let amount = match value? {
        Json::Number(n) => n.as_f64()?,
        Json::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    crate::orders::hundredths(amount)
}

fn items_of(value: Option<Json>) -> Option<Vec<String>> {
    let Some(value) = value else { return Some(Vec::new()) };
    let Json::Array(list) = value else {
        return if value.is_null() { Some(Vec::new()) } else { None };
    };
    let mut items = Vec::new();
    for entry in list.into_iter().take(MAX_ITEMS) {
        let id = match entry {
            Json::String(id) => id,
            Json::Object(object) => object.get("item_id").and_then(Json::as_str)?.to_owned(),
            _ => return None,
        };
        if id.is_empty() || id.len() > crate::interest::MAX_ITEM_ID_BYTES {
            return None;
        }
        items.push(id);
    }
    Some(items)
}

/// A backfilled order replaces what was stored of it, except the shopper row a state
/// linked it to.
const UPSERT: &str = "ON CONFLICT (order_id) DO UPDATE SET \
    shopper_id = COALESCE(orders.shopper_id, excluded.shopper_id), customer_id = excluded.customer_id, \
    ordered_at = excluded.ordered_at, value = excluded.value, refunded = excluded.refunded, \
    currency = excluded.currency, items = excluded.items, source = 'backfill', updated_at = excluded.updated_at";

/// What a load did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Loaded {
    /// Orders written (new or replaced).
    pub loaded: usize,
}

/// Writes the good rows, in one transaction: all of them or, on a database error, none.
/// On Postgres rows go [`crate::server::storage::CHUNK`] to a statement (padded, as the
/// other multi-row writes: a round trip each costs more than the statement); on SQLite,
/// in process, one prepared statement a row is faster (bench/fit.sh: 28 s against 51 s
/// for 1.1M orders, where Postgres goes from 95 s to 24 s with chunks).
pub async fn load(db: &Db, orders: &[BackfillOrder], now: Timestamp) -> Result<Loaded, StorageError> {
    let mut tx = db.begin().await?;
    if !db.is_postgres() {
        for order in orders {
            load_one(&mut tx, order, now).await?;
        }
        tx.commit().await?;
        return Ok(Loaded { loaded: orders.len() });
    }
    for (padded, chunk) in padded_chunks(orders) {
        let rows = value_rows(padded, 9, |sql, i| {
            let types = ["TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "TEXT", "TEXT", "BIGINT"];
            let cells: Vec<String> =
                types.iter().enumerate().map(|(k, t)| format!("CAST(${} AS {t})", i + k)).collect();
            sql.push_str(&cells.join(", "));
        });
        let sql = format!(
            "WITH v (order_id, alias, customer_id, ordered_at, value, refunded, currency, items, updated_at) \
             AS (VALUES {rows}) \
             INSERT INTO orders (order_id, shopper_id, customer_id, ordered_at, value, refunded, currency, items, \
             source, updated_at) \
             SELECT v.order_id, a.shopper_id, v.customer_id, v.ordered_at, v.value, v.refunded, v.currency, v.items, \
             'backfill', v.updated_at FROM v LEFT JOIN shopper_aliases a ON a.alias = v.alias \
             WHERE v.order_id IS NOT NULL {UPSERT}"
        );
        let mut query = sqlx::query(&sql);
        for order in chunk {
            let items = order.map(|o| serde_json::to_string(&o.items).unwrap_or_else(|_| "[]".to_owned()));
            query = query
                .bind(order.map(|o| o.order_id.clone()))
                .bind(order.map(|o| customer_key(&o.customer_id)))
                .bind(order.map(|o| o.customer_id.clone()))
                .bind(order.map(|o| o.at.0))
                .bind(order.map(|o| i64::try_from(o.value).unwrap_or(i64::MAX)))
                .bind(order.map(|o| i64::try_from(o.refunded).unwrap_or(i64::MAX)))
                .bind(order.and_then(|o| o.currency.clone()))
                .bind(items)
                .bind(order.map(|_| now.0));
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(Loaded { loaded: orders.len() })
}

async fn load_one(conn: &mut sqlx::AnyConnection, order: &BackfillOrder, now: Timestamp) -> Result<(), StorageError> {
    let items = serde_json::to_string(&order.items).unwrap_or_else(|_| "[]".to_owned());
    let sql = format!(
        "INSERT INTO orders (order_id, shopper_id, customer_id, ordered_at, value, refunded, currency, items, \
         source, updated_at) \
         VALUES ($1, (SELECT shopper_id FROM shopper_aliases WHERE alias = $2), $3, $4, $5, $6, $7, $8, \
         'backfill', $9) {UPSERT}"
    );
    sqlx::query(&sql)
        .bind(order.order_id.clone())
        .bind(customer_key(&order.customer_id))
        .bind(order.customer_id.clone())
        .bind(order.at.0)
        .bind(i64::try_from(order.value).unwrap_or(i64::MAX))
        .bind(i64::try_from(order.refunded).unwrap_or(i64::MAX))
        .bind(order.currency.clone())
        .bind(items)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
