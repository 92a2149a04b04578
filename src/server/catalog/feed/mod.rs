//! Product feeds in, items and row errors out. Three formats carry the same Merchant
//! Center fields — RSS 2.0 XML with the `g:` namespace (`xml`), the tab-separated form
//! (`tsv`) and JSON lines (`jsonl`) — and each reader only splits its format into raw rows
//! ([`RawRow`]); one [`Collector`] turns them into items (`fields`), rejects duplicates and
//! bounds the row count. A bad row is an error naming it and the field and is skipped;
//! a feed that cannot be read at all is a [`FeedError`] and nothing of it loads.

mod fields;
mod jsonl;
mod tsv;
mod xml;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::Serialize;

use super::errors::{FeedError, RowError, RowErrorKind, RowLocation};
use super::item::{Field, Item};

/// Most rows one import takes. A larger catalog is sent in parts with `PATCH`.
pub const MAX_ROWS: usize = 100_000;

/// Most row errors kept for a report (all rejected rows are counted).
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// A feed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RSS 2.0 (or Atom) XML with the `g:` namespace.
    Xml,
    /// Tab-separated values with a header row of field names.
    Tsv,
    /// One JSON object per line, with the field names as keys.
    Jsonl,
}

/// What a `Content-Type` says about a feed's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// This format.
    Format(Format),
    /// Bytes of no stated format (`application/octet-stream`, `text/plain`, none): look
    /// at the first bytes.
    Sniff,
    /// A type no feed has (JSON, a form, an image).
    Unsupported,
}

impl Format {
    /// Its name (`xml`, `tsv`, `jsonl`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Xml => "xml",
            Format::Tsv => "tsv",
            Format::Jsonl => "jsonl",
        }
    }

    /// A format by name, as `--format` and `?format=` take it (`rss` and `ndjson` too).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "xml" | "rss" | "atom" => Some(Format::Xml),
            "tsv" | "txt" => Some(Format::Tsv),
            "jsonl" | "ndjson" | "jsonlines" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// The format a file name's extension says (`feed.xml`, `products.tsv`, `items.jsonl`).
    pub fn from_path(path: &Path) -> Option<Format> {
        path.extension().and_then(|e| e.to_str()).and_then(Format::from_name)
    }

    /// The format a `Content-Type` header value says.
    pub fn from_media_type(content_type: Option<&str>) -> MediaType {
        let essence = content_type
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .unwrap_or_default();
        match essence.as_str() {
            "application/rss+xml" | "application/atom+xml" | "application/xml" | "text/xml" => {
                MediaType::Format(Format::Xml)
            }
            "text/tab-separated-values" => MediaType::Format(Format::Tsv),
            "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" | "application/jsonlines" => {
                MediaType::Format(Format::Jsonl)
            }
            "" | "application/octet-stream" | "text/plain" => MediaType::Sniff,
            _ => MediaType::Unsupported,
        }
    }

    /// The format the first bytes suggest: `<` XML, `{` JSON lines, a tab in the first
    /// line TSV.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        let bytes = strip_bom(bytes);
        let first = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
        match bytes.get(first) {
            Some(b'<') => Some(Format::Xml),
            Some(b'{') => Some(Format::Jsonl),
            _ => {
                let line = bytes.get(first..).unwrap_or_default();
                let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
                line.get(..end).is_some_and(|l| l.contains(&b'\t')).then_some(Format::Tsv)
            }
        }
    }
}

/// The bytes without a leading UTF-8 byte order mark.
fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// One good row.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// Where it is in the feed.
    pub at: RowLocation,
    /// The item.
    pub item: Item,
}

/// A feed read: its good rows, and what was wrong with the others.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    /// Rows read (good and rejected).
    pub rows: usize,
    /// The good rows, in feed order, ids unique.
    pub items: Vec<FeedItem>,
    /// Rows skipped for an error.
    pub rejected: usize,
    /// Their errors, in feed order (at most [`MAX_REPORTED_ERRORS`]).
    pub errors: Vec<RowError>,
    /// True when errors past [`MAX_REPORTED_ERRORS`] were left out of `errors`.
    pub errors_truncated: bool,
    /// The readable ids of rejected rows: a full replace does not remove those items.
    pub rejected_ids: BTreeSet<String>,
}

/// Reads a feed of at most [`MAX_ROWS`] rows.
pub fn parse(bytes: &[u8], format: Format) -> Result<ParsedFeed, FeedError> {
    parse_limited(bytes, format, MAX_ROWS)
}

/// Reads a feed of at most `max_rows` rows (more is [`FeedError::TooManyRows`]).
pub fn parse_limited(bytes: &[u8], format: Format, max_rows: usize) -> Result<ParsedFeed, FeedError> {
    let mut collector = Collector::new(max_rows);
    let bytes = strip_bom(bytes);
    match format {
        Format::Xml => xml::read(bytes, &mut collector)?,
        Format::Tsv => tsv::read(bytes, &mut collector)?,
        Format::Jsonl => jsonl::read(bytes, &mut collector)?,
    }
    collector.finish()
}

/// One row as a reader found it: the text of each field (or why it has none).
#[derive(Debug)]
pub(crate) struct RawRow {
    at: RowLocation,
    values: [Option<Result<String, RowErrorKind>>; Field::ALL.len()],
}

impl RawRow {
    pub(crate) fn new(at: RowLocation) -> RawRow {
        RawRow { at, values: Default::default() }
    }

    /// Sets a field unless it is set already (the first value of a repeated field counts).
    pub(crate) fn set(&mut self, field: Field, value: Result<String, RowErrorKind>) {
        if let Some(slot) = self.values.get_mut(field.index()) {
            if slot.is_none() {
                *slot = Some(value);
            }
        }
    }

    /// Sets a field, replacing what it had (XML: `g:title` over a plain `title`).
    pub(crate) fn replace(&mut self, field: Field, value: Result<String, RowErrorKind>) {
        if let Some(slot) = self.values.get_mut(field.index()) {
            *slot = Some(value);
        }
    }

    fn take(&mut self, field: Field) -> Option<Result<String, RowErrorKind>> {
        self.values.get_mut(field.index()).and_then(Option::take)
    }
}

/// Gathers the rows a reader finds into a [`ParsedFeed`].
#[derive(Debug)]
pub(crate) struct Collector {
    feed: ParsedFeed,
    /// Ids seen so far → the line of their first row.
    seen: HashMap<String, u64>,
    max_rows: usize,
}

impl Collector {
    fn new(max_rows: usize) -> Collector {
        Collector { feed: ParsedFeed::default(), seen: HashMap::new(), max_rows }
    }

    fn count(&mut self) -> Result<(), FeedError> {
        if self.feed.rows >= self.max_rows {
            return Err(FeedError::TooManyRows { limit: self.max_rows });
        }
        self.feed.rows += 1;
        Ok(())
    }

    fn reject(&mut self, id: Option<String>, errors: Vec<RowError>) {
        self.feed.rejected += 1;
        if let Some(id) = id {
            self.feed.rejected_ids.insert(id);
        }
        let room = MAX_REPORTED_ERRORS.saturating_sub(self.feed.errors.len());
        self.feed.errors_truncated |= errors.len() > room;
        self.feed.errors.extend(errors.into_iter().take(room));
    }

    /// A row the reader could split into fields.
    pub(crate) fn row(&mut self, raw: RawRow) -> Result<(), FeedError> {
        self.count()?;
        let at = raw.at;
        let (id, built) = fields::build(raw);
        // A repeated id is an error of the later row, whatever else is wrong with either.
        let duplicate = id.as_ref().and_then(|id| self.seen.get(id).map(|&first_line| (id.clone(), first_line)));
        if let (Some(id), None) = (&id, &duplicate) {
            self.seen.insert(id.clone(), at.line);
        }
        match (built, duplicate) {
            (Ok(item), None) => self.feed.items.push(FeedItem { at, item }),
            (result, Some((dup, first_line))) => {
                let mut errors = vec![RowError {
                    at,
                    id: Some(dup.clone()),
                    field: Some(Field::Id),
                    kind: RowErrorKind::DuplicateId { id: dup, first_line },
                }];
                errors.extend(result.err().unwrap_or_default());
                // Not in `rejected_ids`: the id's first row speaks for the item.
                self.reject(None, errors);
            }
            (Err(errors), None) => self.reject(id, errors),
        }
        Ok(())
    }

    /// A row the reader could not split into fields (a JSON line that is not an object).
    pub(crate) fn bad_row(&mut self, at: RowLocation, kind: RowErrorKind) -> Result<(), FeedError> {
        self.count()?;
        self.reject(None, vec![RowError { at, id: None, field: None, kind }]);
        Ok(())
    }

    fn finish(self) -> Result<ParsedFeed, FeedError> {
        if self.feed.rows == 0 {
            return Err(FeedError::Empty);
        }
        Ok(self.feed)
    }
}

/// 1-based line numbers of byte offsets in a text.
#[derive(Debug)]
pub(crate) struct Lines {
    /// Offsets of every `\n`.
    newlines: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(bytes: &[u8]) -> Lines {
        Lines { newlines: bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i).collect() }
    }

    /// The line of the byte at `offset`.
    pub(crate) fn line_of(&self, offset: u64) -> u64 {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let before = self.newlines.partition_point(|&n| n < offset);
        before as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names_types_and_bytes() {
        assert_eq!(Format::from_name("RSS"), Some(Format::Xml));
        assert_eq!(Format::from_path(Path::new("a/feed.ndjson")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("feed")), None);
        assert_eq!(Format::from_media_type(Some("application/rss+xml; charset=utf-8")), MediaType::Format(Format::Xml));
        assert_eq!(Format::from_media_type(Some("text/tab-separated-values")), MediaType::Format(Format::Tsv));
        assert_eq!(Format::from_media_type(None), MediaType::Sniff);
        assert_eq!(Format::from_media_type(Some("application/json")), MediaType::Unsupported);
        assert_eq!(Format::sniff(b"\xEF\xBB\xBF \n<?xml version=\"1.0\"?>"), Some(Format::Xml));
        assert_eq!(Format::sniff(b"{\"id\": 1}\n"), Some(Format::Jsonl));
        assert_eq!(Format::sniff(b"id\ttitle\n1\tx"), Some(Format::Tsv));
        assert_eq!(Format::sniff(b"hello world"), None);
        assert_eq!(Format::sniff(b"   "), None);
    }

    #[test]
    fn lines_count_from_one() {
        let lines = Lines::new(b"a\nb\n\nc");
        assert_eq!([0, 1, 2, 3, 4, 5].map(|o| lines.line_of(o)), [1, 1, 2, 2, 3, 4]);
    }

    #[test]
    fn too_many_rows_fails_the_feed() {
        let text = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n";
        assert!(parse_limited(text.as_bytes(), Format::Jsonl, 3).is_ok());
        assert_eq!(parse_limited(text.as_bytes(), Format::Jsonl, 2).err(), Some(FeedError::TooManyRows { limit: 2 }));
    }
}
