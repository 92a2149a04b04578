//! Tab-separated feeds: a header row of field names (`id`, `title`, `price`, …; a `g:`
//! prefix, any case and spaces for underscores are accepted), then one item per row.
//! Columns waymark does not read are ignored; a header without a required column fails
//! the feed (every row would lack it). Fields may be quoted with `"` (a spreadsheet
//! export quotes those holding tabs or line breaks); a row starts on the line of its first
//! field. Blank lines are skipped.

use super::{Collector, RawRow};
use crate::server::catalog::errors::{FeedError, RowErrorKind, RowLocation};
use crate::server::catalog::item::Field;

pub(super) fn read(bytes: &[u8], out: &mut Collector) -> Result<(), FeedError> {
    let mut reader = csv::ReaderBuilder::new().delimiter(b'\t').has_headers(false).flexible(true).from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        None => return Err(FeedError::Empty),
        Some(Err(e)) => return Err(malformed(&e)),
        Some(Ok(header)) => header,
    };
    let mut columns: Vec<Option<Field>> = Vec::with_capacity(header.len());
    for name in header.iter() {
        let field = std::str::from_utf8(name).ok().and_then(Field::from_name);
        // A field named twice: the first column counts.
        columns.push(field.filter(|f| !columns.contains(&Some(*f))));
    }
    let missing: Vec<&'static str> =
        Field::REQUIRED.iter().filter(|f| !columns.contains(&Some(**f))).map(|f| f.name()).collect();
    if !missing.is_empty() {
        return Err(FeedError::MissingColumns(missing));
    }
    for record in records {
        let record = record.map_err(|e| malformed(&e))?;
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        let at = RowLocation::line(line);
        if record.len() > columns.len() {
            out.bad_row(at, RowErrorKind::WrongFieldCount { expected: columns.len(), found: record.len() })?;
            continue;
        }
        let mut row = RawRow::new(at);
        for (value, column) in record.iter().zip(&columns) {
            if let Some(field) = column {
                let text = std::str::from_utf8(value).map(str::to_owned).map_err(|_| RowErrorKind::InvalidUtf8);
                row.set(*field, text);
            }
        }
        out.row(row)?;
    }
    Ok(())
}

fn malformed(e: &csv::Error) -> FeedError {
    let line = e.position().map_or(0, |p| p.line());
    FeedError::MalformedTsv { line, message: e.to_string() }
}
