//! JSON lines feeds: one object per line, keys the field names (`g:` prefix allowed),
//! values text; a number is taken as its text (ids exported as numbers, a price without
//! a currency), and a price may also be `{"value": "15.00", "currency": "USD"}` as the
//! Content API writes it. `null` is absent; keys waymark does not read are ignored. A
//! line that is not a JSON object is an error of that line; blank lines are skipped.

use serde_json::Value;

use super::{Collector, RawRow};
use crate::server::catalog::errors::{FeedError, RowErrorKind, RowLocation};
use crate::server::catalog::item::Field;

pub(super) fn read(bytes: &[u8], out: &mut Collector) -> Result<(), FeedError> {
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = RowLocation::line(index as u64 + 1);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let object = match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(object)) => object,
            Ok(other) => {
                let kind = RowErrorKind::MalformedRow(format!("expected a JSON object, found {}", kind_of(&other)));
                out.bad_row(at, kind)?;
                continue;
            }
            Err(e) => {
                out.bad_row(at, RowErrorKind::MalformedRow(format!("not JSON: {e}")))?;
                continue;
            }
        };
        let mut row = RawRow::new(at);
        for (key, value) in object {
            if let Some(field) = Field::from_name(&key) {
                if let Some(text) = text_of(field, value) {
                    row.set(field, text);
                }
            }
        }
        out.row(row)?;
    }
    Ok(())
}

/// A field's text; None for `null`.
fn text_of(field: Field, value: Value) -> Option<Result<String, RowErrorKind>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Ok(s)),
        Value::Number(n) => Some(Ok(n.to_string())),
        Value::Object(mut o) if matches!(field, Field::Price | Field::SalePrice) => {
            let part = |v: Option<Value>| match v {
                Some(Value::String(s)) => Some(s),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            match (part(o.remove("value")), part(o.remove("currency"))) {
                (Some(value), Some(currency)) => Some(Ok(format!("{value} {currency}"))),
                (Some(value), None) => Some(Ok(value)),
                _ => Some(Err(RowErrorKind::WrongType("an object without \"value\""))),
            }
        }
        other => Some(Err(RowErrorKind::WrongType(kind_of(&other)))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
