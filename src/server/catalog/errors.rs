//! What can go wrong with a catalog import, from the smallest part up: one field of one
//! row (`RowError`: the row is skipped, the rest loads), the whole feed (`FeedError`:
//! nothing loads), the import (`ImportError`), and a stored row (`StoreError`). Each has a
//! stable `code()` for the HTTP answer, the CLI and tests; messages say what was found.

use serde::Serialize;

use super::item::{Bound, Field};
use crate::server::storage::StorageError;

/// Where a row is in its feed: the line it starts on (1-based) and, in an XML feed, the
/// item's position among the items (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RowLocation {
    /// Line of the row (TSV, JSON lines) or of the item's start tag (XML).
    pub line: u64,
    /// XML: the item's index, counting from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
}

impl RowLocation {
    /// A row of a line-based feed.
    pub fn line(line: u64) -> RowLocation {
        RowLocation { line, item: None }
    }
}

impl std::fmt::Display for RowLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.item {
            Some(item) => write!(f, "item {item} (line {})", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// What is wrong with one field of a row, or with the row as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowErrorKind {
    /// A required field is absent or empty.
    #[error("required, and missing or empty")]
    Missing,
    /// Longer than the field's bound.
    #[error("{found} {unit}, the limit is {limit}", unit = bound_unit(*bound), limit = bound_limit(*bound))]
    TooLong {
        /// The bound.
        bound: Bound,
        /// The length found, in the bound's unit.
        found: usize,
    },
    /// A price that does not read as an amount and a currency.
    #[error("{0}")]
    InvalidPrice(String),
    /// Price and sale price in different currencies.
    #[error("sale price in {sale}, price in {price}: give both in one currency")]
    CurrencyMismatch {
        /// The price's currency.
        price: String,
        /// The sale price's currency.
        sale: String,
    },
    /// A sale price above the price.
    #[error("the sale price is above the price")]
    SaleAbovePrice,
    /// Not one of the availability values.
    #[error("{0:?}: use in_stock, out_of_stock, preorder or backorder")]
    UnknownAvailability(String),
    /// A link that is not an absolute http(s) URL.
    #[error("{0:?} is not an http:// or https:// URL without spaces")]
    InvalidUrl(String),
    /// Text waymark cannot keep (a NUL or control character, an entity XML does not define).
    #[error("{0}")]
    InvalidText(String),
    /// Bytes that are not UTF-8.
    #[error("not UTF-8 text")]
    InvalidUtf8,
    /// An id that an earlier row of the same feed already has (the earlier row is kept).
    #[error("{id:?} is already the id of the row at line {first_line}")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where the first row with it starts.
        first_line: u64,
    },
    /// A JSON value of the wrong kind for the field.
    #[error("expected text (or a number), found {0}")]
    WrongType(&'static str),
    /// A row that cannot be read at all (a JSON line that is not an object).
    #[error("{0}")]
    MalformedRow(String),
    /// A TSV row with more fields than the header.
    #[error("{found} fields, the header has {expected}")]
    WrongFieldCount {
        /// Columns of the header.
        expected: usize,
        /// Fields of the row.
        found: usize,
    },
}

fn bound_unit(bound: Bound) -> &'static str {
    match bound {
        Bound::Bytes(_) => "bytes",
        Bound::Chars(_) => "characters",
    }
}

fn bound_limit(bound: Bound) -> usize {
    match bound {
        Bound::Bytes(n) | Bound::Chars(n) => n,
    }
}

impl RowErrorKind {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RowErrorKind::Missing => "missing_field",
            RowErrorKind::TooLong { .. } => "field_too_long",
            RowErrorKind::InvalidPrice(_) => "invalid_price",
            RowErrorKind::CurrencyMismatch { .. } => "currency_mismatch",
            RowErrorKind::SaleAbovePrice => "sale_price_above_price",
            RowErrorKind::UnknownAvailability(_) => "unknown_availability",
            RowErrorKind::InvalidUrl(_) => "invalid_url",
            RowErrorKind::InvalidText(_) => "invalid_text",
            RowErrorKind::InvalidUtf8 => "invalid_utf8",
            RowErrorKind::DuplicateId { .. } => "duplicate_id",
            RowErrorKind::WrongType(_) => "wrong_type",
            RowErrorKind::MalformedRow(_) => "malformed_row",
            RowErrorKind::WrongFieldCount { .. } => "wrong_field_count",
        }
    }
}

/// A problem of one row: where, which field (none: the row as a whole), what. The row is
/// skipped; the others load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {}: {kind}", self.field_name())]
pub struct RowError {
    /// Where the row is.
    pub at: RowLocation,
    /// The row's id, when it has a readable one.
    pub id: Option<String>,
    /// The field at fault; None when the row as a whole is.
    pub field: Option<Field>,
    /// What is wrong.
    pub kind: RowErrorKind,
}

impl RowError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The field's feed name, or `row`.
    pub fn field_name(&self) -> &'static str {
        self.field.map_or("row", Field::name)
    }

    /// `{line, item?, id?, field, code, message}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "line": self.at.line,
            "field": self.field_name(),
            "code": self.code(),
            "message": self.kind.to_string(),
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(item) = self.at.item {
                obj.insert("item".into(), item.into());
            }
            if let Some(id) = &self.id {
                obj.insert("id".into(), id.clone().into());
            }
        }
        v
    }
}

/// Why a feed cannot be read at all. Nothing of it is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// No format was given and none could be told from the name, type or first bytes.
    #[error("cannot tell the feed's format: give it (xml, tsv or jsonl)")]
    UnknownFormat,
    /// Not well-formed XML.
    #[error("line {line}: not well-formed XML: {message}")]
    MalformedXml {
        /// Line of the fault.
        line: u64,
        /// The parser's sentence.
        message: String,
    },
    /// Well-formed XML, but not an RSS 2.0 (or Atom) product feed.
    #[error("not a product feed: {0}")]
    NotAFeed(String),
    /// A TSV header without a required column.
    #[error("the header row has no column {}", .0.join(", "))]
    MissingColumns(Vec<&'static str>),
    /// A TSV file the reader cannot split into rows.
    #[error("line {line}: {message}")]
    MalformedTsv {
        /// Line of the fault.
        line: u64,
        /// What the reader said.
        message: String,
    },
    /// More rows than one import takes.
    #[error("more than {limit} rows: split the feed, or send the changed items with PATCH")]
    TooManyRows {
        /// Rows per import.
        limit: usize,
    },
    /// No rows.
    #[error("the feed holds no items")]
    Empty,
    /// A file larger than an import reads.
    #[error("{found} bytes, over the {limit} a feed may have")]
    TooLarge {
        /// The limit.
        limit: u64,
        /// The size found.
        found: u64,
    },
}

impl FeedError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            FeedError::UnknownFormat => "unknown_format",
            FeedError::MalformedXml { .. } => "malformed_xml",
            FeedError::NotAFeed(_) => "not_a_feed",
            FeedError::MissingColumns(_) => "missing_columns",
            FeedError::MalformedTsv { .. } => "malformed_tsv",
            FeedError::TooManyRows { .. } => "too_many_rows",
            FeedError::Empty => "empty_feed",
            FeedError::TooLarge { .. } => "feed_too_large",
        }
    }
}

/// A database problem of the catalog.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// The database could not be reached.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored value waymark does not write (another program changed the row).
    #[error("stored item {id:?}: {column} holds {value:?}")]
    Corrupt {
        /// The item.
        id: String,
        /// The column.
        column: &'static str,
        /// What it holds.
        value: String,
    },
}

impl StoreError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Sql(_) | StoreError::Storage(_) => "storage_unavailable",
            StoreError::Corrupt { .. } => "catalog_corrupt",
        }
    }
}

/// Why an import changed nothing. The previous catalog stays whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The feed cannot be read.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// Every row has an error: the import would only remove items.
    #[error("none of the {rejected} rows can be imported")]
    NoValidRows {
        /// Rows rejected.
        rejected: usize,
        /// Their errors (at most [`super::feed::MAX_REPORTED_ERRORS`]).
        errors: Vec<RowError>,
    },
    /// The database failed; the transaction was rolled back.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> ImportError {
        ImportError::Store(StoreError::Sql(e))
    }
}

impl ImportError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Feed(e) => e.code(),
            ImportError::NoValidRows { .. } => "no_valid_rows",
            ImportError::Store(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_errors_name_row_field_and_code() {
        let e = RowError {
            at: RowLocation { line: 12, item: Some(3) },
            id: Some("sku-1".into()),
            field: Some(Field::Id),
            kind: RowErrorKind::TooLong { bound: Bound::Bytes(64), found: 70 },
        };
        assert_eq!(e.to_string(), "item 3 (line 12): id: 70 bytes, the limit is 64");
        assert_eq!(e.code(), "field_too_long");
        assert_eq!(e.to_json()["item"], 3);
        let whole = RowError {
            at: RowLocation::line(4),
            id: None,
            field: None,
            kind: RowErrorKind::MalformedRow("not JSON".into()),
        };
        assert_eq!(whole.to_string(), "line 4: row: not JSON");
    }
}
