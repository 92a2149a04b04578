//! Catalog feed parsing, data-driven: every `tests/cases/catalog/*.json` holds a feed's
//! text, its format, and either what it reads to (the good items, field by field, and the
//! row errors with line, XML item index, field and code) or the error that fails the
//! whole feed. The feed text may be a string or an array of lines.
#![cfg(feature = "server")]
#![expect(clippy::unwrap_used, clippy::panic, reason = "test code: a failed unwrap, index or panic is a failed test")]

#[path = "support/cases.rs"]
mod cases;

use serde::Deserialize;
use serde_json::Value;
use waymark::server::catalog::{parse, Format};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    format: String,
    feed: Value,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    expect_error: Option<ExpectError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    rows: usize,
    rejected: usize,
    /// The good items in feed order; each object lists the fields to check.
    items: Vec<serde_json::Map<String, Value>>,
    /// The row errors in feed order; each object lists the keys to check.
    errors: Vec<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectError {
    code: String,
    #[serde(default)]
    line: Option<u64>,
}

fn feed_text(feed: &Value) -> String {
    match feed {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().map(|l| l.as_str().unwrap()).collect::<Vec<_>>().join("\n"),
        other => panic!("feed: a string or an array of lines, not {other}"),
    }
}

/// The keys of `expected` that `actual` does not match.
fn mismatches(expected: &serde_json::Map<String, Value>, actual: &Value) -> Vec<String> {
    expected
        .iter()
        .filter(|(k, v)| actual.get(k.as_str()).unwrap_or(&Value::Null) != *v)
        .map(|(k, v)| format!("{k}: expected {v}, found {}", actual.get(k.as_str()).unwrap_or(&Value::Null)))
        .collect()
}

fn run(path: &std::path::Path) -> Vec<String> {
    let name = cases::case_name(path);
    let case: Case = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let format = Format::from_name(&case.format).unwrap_or_else(|| panic!("{name}: format {:?}", case.format));
    let text = feed_text(&case.feed);
    let at = |m: String| format!("{name} ({}): {m}", case.description);
    let mut problems = Vec::new();
    match (parse(text.as_bytes(), format), &case.expect, &case.expect_error) {
        (Ok(feed), Some(expect), None) => {
            if (feed.rows, feed.rejected) != (expect.rows, expect.rejected) {
                problems.push(at(format!(
                    "rows/rejected {}/{}, expected {}/{}",
                    feed.rows, feed.rejected, expect.rows, expect.rejected
                )));
            }
            let items: Vec<Value> = feed.items.iter().map(|f| serde_json::to_value(&f.item).unwrap()).collect();
            if items.len() != expect.items.len() {
                problems.push(at(format!("{} items, expected {}: {items:?}", items.len(), expect.items.len())));
            }
            for (i, (want, got)) in expect.items.iter().zip(&items).enumerate() {
                for m in mismatches(want, got) {
                    problems.push(at(format!("item {i}: {m}")));
                }
            }
            let errors: Vec<Value> = feed.errors.iter().map(|e| e.to_json()).collect();
            if errors.len() != expect.errors.len() {
                problems.push(at(format!(
                    "{} row errors, expected {}: {errors:#?}",
                    errors.len(),
                    expect.errors.len()
                )));
            }
            for (i, (want, got)) in expect.errors.iter().zip(&errors).enumerate() {
                for m in mismatches(want, got) {
                    problems.push(at(format!("row error {i} ({got}): {m}")));
                }
                assert!(!got["message"].as_str().unwrap_or_default().is_empty(), "{name}: every error says why");
            }
        }
        (Err(e), None, Some(expect)) => {
            if e.code() != expect.code {
                problems.push(at(format!("failed with {} ({e}), expected {}", e.code(), expect.code)));
            }
            if let Some(line) = expect.line {
                if !e.to_string().starts_with(&format!("line {line}:")) {
                    problems.push(at(format!("{e}: expected at line {line}")));
                }
            }
        }
        (Ok(feed), None, Some(expect)) => {
            problems.push(at(format!("read {} rows, expected the feed to fail with {}", feed.rows, expect.code)))
        }
        (Err(e), Some(_), None) => problems.push(at(format!("the feed failed: {} ({e})", e.code()))),
        _ => panic!("{name}: give exactly one of expect and expect_error"),
    }
    problems
}

#[test]
fn every_catalog_case_reads_as_expected() {
    let files = cases::case_files("catalog");
    let problems: Vec<String> = files.iter().flat_map(|f| run(f)).collect();
    assert!(problems.is_empty(), "{} problems in {} cases:\n{}", problems.len(), files.len(), problems.join("\n"));
}

/// The shipped example feed reads whole, and its items are the demo store's products.
#[test]
fn the_example_feed_is_clean_and_matches_the_demo_store() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("examples/catalog/feed.xml")).unwrap();
    let feed = parse(&bytes, Format::Xml).unwrap();
    assert_eq!(feed.rejected, 0, "{:?}", feed.errors);
    let store = std::fs::read_to_string(root.join("www/public/js/catalog.js")).unwrap();
    for row in &feed.items {
        let id = &row.item.id;
        let line = store.lines().find(|l| l.contains(&format!("\"id\": \"{id}\""))).unwrap_or_else(|| {
            panic!("{id} is not a product of the demo store (www/public/js/catalog.js)");
        });
        let category = row.item.product_type.as_deref().unwrap();
        assert!(line.contains(&format!("\"category\": \"{category}\"")), "{id}: category {category}: {line}");
        assert!(line.contains(&format!("\"name\": \"{}\"", row.item.title)), "{id}: title: {line}");
        let price = row.item.price_hundredths / 100;
        assert!(line.contains(&format!("\"price\": {price},")), "{id}: price {price}: {line}");
    }
}
