//! The catalog's storage scenarios, run against SQLite (tests/server_sqlite.rs) and
//! Postgres (tests/server_postgres.rs) unchanged: replace then patch with every kind of
//! change reported and kept in the history, the reads, and failed imports that leave the
//! previous catalog whole.

use std::collections::BTreeSet;

use waymark::server::catalog::{self, read, Availability, CatalogChange, Format, ImportError, ImportMode};
use waymark::server::sqlite::Synchronous;
use waymark::server::storage::Db;
use waymark::Timestamp;

use super::{at, t0, TestDb};

/// One JSON line of a feed: id, price, availability, product type, optional sale price.
pub fn line(id: &str, price: &str, availability: &str, product_type: &str, sale: Option<&str>) -> String {
    let mut row = serde_json::json!({
        "id": id, "title": format!("Item {id}"), "link": format!("https://shop.example/p/{id}"),
        "price": price, "availability": availability, "product_type": product_type,
    });
    if let Some(sale) = sale {
        row["sale_price"] = sale.into();
    }
    row.to_string()
}

async fn connect(db: &TestDb) -> Db {
    Db::connect(&db.url(), 2, Synchronous::Full).await.unwrap()
}

async fn import(db: &Db, lines: &[String], mode: ImportMode, now: Timestamp) -> catalog::ImportReport {
    let feed = catalog::parse(lines.join("\n").as_bytes(), Format::Jsonl).unwrap();
    catalog::import(db, &feed, mode, now).await.unwrap()
}

fn first_feed() -> Vec<String> {
    vec![
        line("a", "10.00 EUR", "in_stock", "shoes", None),
        line("b", "20.00 EUR", "out_of_stock", "shoes", None),
        line("c", "30.00 EUR", "in_stock", "bags", Some("25.00 EUR")),
    ]
}

fn ids(items: &[read::StoredItem]) -> Vec<&str> {
    items.iter().map(|s| s.item.id.as_str()).collect()
}

/// Replace, replace again with changes, patch: each import reports exactly the changes
/// it made, history answers the price at a time and the lowest since, reads see the
/// current catalog.
pub async fn catalog_replace_then_patch(db: TestDb) {
    let db_ = connect(&db).await;
    let db = &db_;
    let first = import(db, &first_feed(), ImportMode::Replace, t0()).await;
    assert_eq!((first.counts.loaded, first.counts.new, first.counts.removed), (3, 3, 0), "{:?}", first.counts);
    assert_eq!(
        first.changes[0],
        CatalogChange::New {
            id: "a".into(),
            product_type: Some("shoes".into()),
            google_product_category: None,
            price_hundredths: 1000,
            currency: Some("EUR".into()),
            availability: Availability::InStock,
            at: t0(),
        }
    );

    // The same feed again changes nothing.
    let again = import(db, &first_feed(), ImportMode::Replace, at(1)).await;
    assert_eq!((again.counts.unchanged, again.changes.len()), (3, 0), "{:?}", again.changes);

    // a gets cheaper, b comes back in stock, c is left out, d is new.
    let second = vec![
        line("a", "10.00 EUR", "in_stock", "shoes", Some("8.00 EUR")),
        line("b", "20.00 EUR", "in_stock", "shoes", None),
        line("d", "40.00 EUR", "in_stock", "bags", None),
    ];
    let report = import(db, &second, ImportMode::Replace, at(10)).await;
    let c = report.counts;
    assert_eq!((c.rows, c.loaded, c.new, c.updated, c.unchanged, c.removed), (3, 3, 1, 2, 0, 1), "{c:?}");
    assert_eq!(
        report.changes,
        vec![
            CatalogChange::PriceChanged {
                id: "a".into(),
                from_hundredths: 1000,
                to_hundredths: 800,
                currency: Some("EUR".into()),
                at: at(10)
            },
            CatalogChange::AvailabilityChanged {
                id: "b".into(),
                from: Some(Availability::OutOfStock),
                to: Some(Availability::InStock),
                at: at(10)
            },
            CatalogChange::New {
                id: "d".into(),
                product_type: Some("bags".into()),
                google_product_category: None,
                price_hundredths: 4000,
                currency: Some("EUR".into()),
                availability: Availability::InStock,
                at: at(10),
            },
            CatalogChange::AvailabilityChanged {
                id: "c".into(),
                from: Some(Availability::InStock),
                to: None,
                at: at(10)
            },
        ]
    );
    assert!(report.changes[0].is_price_drop() && report.changes[1].is_back_in_stock());

    // A patch touches only what it carries.
    let patch = vec![line("e", "5 EUR", "preorder", "shoes", None), line("a", "9.00 EUR", "in_stock", "shoes", None)];
    let report = import(db, &patch, ImportMode::Patch, at(20)).await;
    assert_eq!((report.counts.new, report.counts.updated, report.counts.removed), (1, 1, 0), "{:?}", report.counts);
    assert_eq!(report.changes.len(), 2, "{:?}", report.changes);

    // Reads.
    let got = read::items(db, &["c", "nope", "a"]).await.unwrap();
    assert_eq!(ids(&got), ["c", "a"], "in the order asked, unknown ids left out");
    assert_eq!(got[0].removed_at, Some(at(10)), "a removed item still resolves");
    assert!(!got[0].is_available() && got[1].is_available());
    assert_eq!(got[1].item.effective_price_hundredths(), 900);
    assert_eq!(got[1].first_seen, t0());
    let shoes = read::in_category(db, "shoes", 10).await.unwrap();
    assert_eq!(ids(&shoes), ["e", "a", "b"], "newest first");
    assert_eq!(ids(&read::in_category(db, "bags", 10).await.unwrap()), ["d"], "c was removed");
    assert_eq!(ids(&read::new_since(db, at(10), 10).await.unwrap()), ["e", "d"]);
    let stock = read::in_stock(db, &["a", "b", "c", "d", "e", "nope"]).await.unwrap();
    assert_eq!(stock, BTreeSet::from(["a", "b", "d", "e"].map(String::from)), "preorder counts as available");

    // History: a was 10.00, 8.00 from minute 10, 9.00 from minute 20.
    let history = read::history(db, "a", 10).await.unwrap();
    let prices: Vec<(i64, i64)> = history.iter().map(|h| (h.at.0, h.price_hundredths)).collect();
    assert_eq!(prices, [(at(20).0, 900), (at(10).0, 800), (t0().0, 1000)]);
    let price_at = |t| async move { read::price_at(db, "a", t).await.unwrap().map(|h| h.price_hundredths) };
    assert_eq!(price_at(Timestamp(t0().0 - 1)).await, None);
    assert_eq!(price_at(at(5)).await, Some(1000));
    assert_eq!(price_at(at(10)).await, Some(800));
    assert_eq!(price_at(at(30)).await, Some(900));
    assert_eq!(read::lowest_price_since(db, "a", at(5)).await.unwrap(), Some(800));
    assert_eq!(read::lowest_price_since(db, "a", at(15)).await.unwrap(), Some(800), "the price in effect then");
    assert_eq!(read::lowest_price_since(db, "a", at(25)).await.unwrap(), Some(900));
    assert_eq!(read::lowest_price_since(db, "nope", t0()).await.unwrap(), None);
    let c_history = read::history(db, "c", 10).await.unwrap();
    assert_eq!(c_history[0].availability, None, "the removal is in the history");

    // A removed item that comes back is reported as back in stock.
    let report = import(db, &[line("c", "30.00 EUR", "in_stock", "bags", None)], ImportMode::Patch, at(30)).await;
    assert_eq!(report.counts.updated, 1);
    assert!(report.changes.iter().any(|c| c.is_back_in_stock()), "{:?}", report.changes);
    assert_eq!(read::item(db, "c").await.unwrap().unwrap().removed_at, None);
    db.close().await;
}

/// A full replace does not remove an item whose row was rejected for an error; rejected
/// rows are reported and the rest loads.
pub async fn catalog_rejected_rows_keep_their_items(db: TestDb) {
    let db_ = connect(&db).await;
    let db = &db_;
    import(db, &first_feed(), ImportMode::Replace, t0()).await;
    let feed = [
        line("a", "ten euros", "in_stock", "shoes", None),
        line("b", "20.00 EUR", "out_of_stock", "shoes", None),
        line("x", "1 EUR", "sold", "shoes", None),
    ];
    let report = import(db, &feed, ImportMode::Replace, at(1)).await;
    let c = report.counts;
    assert_eq!((c.rows, c.loaded, c.unchanged, c.rejected, c.removed), (3, 1, 1, 2, 1), "{c:?}");
    let codes: Vec<&str> = report.errors.iter().map(|e| e.code()).collect();
    assert_eq!(codes, ["invalid_price", "unknown_availability"]);
    let a = read::item(db, "a").await.unwrap().unwrap();
    assert_eq!((a.removed_at, a.item.price_hundredths), (None, 1000), "a's bad row leaves a as it was");
    assert!(read::item(db, "c").await.unwrap().unwrap().removed_at.is_some(), "c was left out");
    assert!(read::item(db, "x").await.unwrap().is_none());
    db.close().await;
}

/// Snapshot of the whole catalog: every item and history row.
async fn snapshot(db: &Db) -> (Vec<read::StoredItem>, Vec<Vec<read::HistoryEntry>>) {
    let all = ["a", "b", "c", "d"];
    let items = read::items(db, &all).await.unwrap();
    let mut history = Vec::new();
    for id in all {
        history.push(read::history(db, id, 100).await.unwrap());
    }
    (items, history)
}

/// A failed import changes nothing: a database error after the items were written (the
/// history table is gone), a feed without one good row.
pub async fn catalog_failed_import_leaves_the_previous_catalog_whole(db: TestDb) {
    let db_ = connect(&db).await;
    let db = &db_;
    import(db, &first_feed(), ImportMode::Replace, t0()).await;
    let before = snapshot(db).await;
    let second = [
        line("a", "10.00 EUR", "in_stock", "shoes", Some("8.00 EUR")),
        line("d", "40.00 EUR", "in_stock", "bags", None),
    ];
    let feed = catalog::parse(second.join("\n").as_bytes(), Format::Jsonl).unwrap();

    // The history insert, the import's last statement, fails: everything rolls back.
    sqlx::query("ALTER TABLE catalog_history RENAME TO catalog_history_away").execute(db.write_pool()).await.unwrap();
    let failed = catalog::import(db, &feed, ImportMode::Replace, at(1)).await;
    assert!(matches!(failed, Err(ImportError::Store(_))), "{failed:?}");
    assert_eq!(failed.as_ref().err().map(|e| e.code()), Some("storage_unavailable"));
    sqlx::query("ALTER TABLE catalog_history_away RENAME TO catalog_history").execute(db.write_pool()).await.unwrap();
    assert_eq!(snapshot(db).await, before, "the failed import left no trace");

    // No good row: refused, nothing removed.
    let bad = catalog::parse(line("a", "?", "in_stock", "shoes", None).as_bytes(), Format::Jsonl).unwrap();
    let refused = catalog::import(db, &bad, ImportMode::Replace, at(2)).await;
    assert!(matches!(refused, Err(ImportError::NoValidRows { rejected: 1, .. })), "{refused:?}");
    assert_eq!(snapshot(db).await, before);

    // And the same import goes through once the database is back.
    let report = catalog::import(db, &feed, ImportMode::Replace, at(3)).await.unwrap();
    assert_eq!((report.counts.new, report.counts.updated, report.counts.removed), (1, 1, 2));
    db.close().await;
}
