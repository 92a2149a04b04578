//! The order history on a real backend: orders a browser's state records, once per order
//! id however often it syncs, with their refunds; a server-side purchase; a backfill of
//! past orders from JSON lines and CSV, idempotent, whose values outrank a state's, with
//! a bad row named and the rest loaded. Run against SQLite (tests/server_sqlite.rs) and
//! Postgres (tests/server_postgres.rs) unchanged.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sqlx::Row;
use waymark::server::clock::Clock;
use waymark::server::Server;
use waymark::{Event, Map};

use super::*;

/// (order id, shopper row, customer id, value, refunded, source), by order id.
type OrderRow = (String, Option<String>, Option<String>, i64, i64, String);

async fn order_rows(server: &Server) -> Vec<OrderRow> {
    sqlx::query("SELECT order_id, shopper_id, customer_id, value, refunded, source FROM orders ORDER BY order_id")
        .fetch_all(server.state.inner().db.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.try_get("order_id").unwrap(),
                row.try_get("shopper_id").unwrap(),
                row.try_get("customer_id").unwrap(),
                row.try_get("value").unwrap(),
                row.try_get("refunded").unwrap(),
                row.try_get("source").unwrap(),
            )
        })
        .collect()
}

fn row(id: &str, shopper: Option<&str>, customer: Option<&str>, value: i64, refunded: i64, source: &str) -> OrderRow {
    (id.into(), shopper.map(Into::into), customer.map(Into::into), value, refunded, source.into())
}

fn order_event(browser: &mut Browser, name: &str, minutes: i64, properties: serde_json::Value) {
    let properties: Map = serde_json::from_value(properties).unwrap();
    let event = Event::new(name, at(minutes), properties);
    browser.engine.ingest(&mut browser.state, &event, at(minutes));
}

async fn backfill(router: &axum::Router, content_type: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let (status, _, bytes) = call(
        router,
        Request::post("/v1/orders")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", content_type)
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await;
    (status, json(&bytes))
}

pub async fn orders_are_recorded_once_and_backfilled(db: TestDb) {
    let clock = Clock::manual(t0());
    let server = server_with(settings(&db), &clock).await;
    let r = server.router();

    // A browser's purchase, synced twice, then refunded in part.
    let mut a = Browser::new(&r, "shopper-a", "a@example.com").await;
    order_event(&mut a, "purchase", 1, serde_json::json!({ "transaction_id": "T-1", "value": 120.5 }));
    a.sync(&r).await;
    a.sync(&r).await;
    assert_eq!(order_rows(&server).await, vec![row("T-1", Some("anon:shopper-a"), None, 12050, 0, "state")]);
    clock.set(at(60));
    order_event(&mut a, "refund", 60, serde_json::json!({ "transaction_id": "T-1", "value": 20.5 }));
    a.sync(&r).await;
    assert_eq!(order_rows(&server).await[0].4, 2050, "the refund is recorded");

    // A server-side purchase for a known customer.
    let purchase = serde_json::json!({ "id": "evt-9", "customer_id": "c-9", "name": "purchase",
        "properties": { "transaction_id": "T-9", "value": 40 } });
    let (status, answer) = admin_json(&r, "POST", "/v1/events", purchase).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // A backfill: a past order of c-9, one of a customer no state names, the browser's
    // T-1 as the shop recorded it (its values win), and a bad row.
    let lines = [
        r#"{"order_id": "P-1", "customer_id": "c-9", "time": "2025-11-02T10:00:00Z", "value": "55.00", "items": ["sku-1", {"item_id": "sku-2"}]}"#,
        r#"{"order_id": "P-2", "customer_id": "c-new", "time": "2025-12-24", "value": 19.99, "currency": "eur"}"#,
        r#"{"order_id": "T-1", "customer_id": "c-a", "time": 1767225600000, "value": 118, "refunded": 18}"#,
        r#"{"order_id": "P-3", "customer_id": "c-new", "time": "yesterday", "value": 5}"#,
    ];
    let (status, answer) = backfill(&r, "application/x-ndjson", &lines.join("\n")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["rows"].as_u64(), answer["loaded"].as_u64(), answer["rejected"].as_u64()),
        (Some(4), Some(3), Some(1))
    );
    assert_eq!(answer["errors"][0]["line"], 4, "{answer}");
    assert_eq!(
        (answer["errors"][0]["field"].as_str(), answer["errors"][0]["code"].as_str()),
        (Some("time"), Some("invalid_time"))
    );
    let c9 = server.state.inner().db.state_by_alias("cust:c-9").await.unwrap().unwrap().0;
    let expected = vec![
        row("P-1", Some(&c9), Some("c-9"), 5500, 0, "backfill"),
        row("P-2", None, Some("c-new"), 1999, 0, "backfill"),
        row("T-1", Some("anon:shopper-a"), Some("c-a"), 11800, 1800, "backfill"),
        row("T-9", Some(&c9), Some("c-9"), 4000, 0, "state"),
    ];
    assert_eq!(order_rows(&server).await, expected);

    // The same file again changes nothing; a later sync of the browser's copy does not
    // overwrite what the shop recorded.
    let (status, _) = backfill(&r, "application/x-ndjson", &lines.join("\n")).await;
    assert_eq!(status, StatusCode::OK);
    clock.set(at(90));
    order_event(&mut a, "refund", 90, serde_json::json!({ "transaction_id": "T-1" }));
    a.sync(&r).await;
    assert_eq!(order_rows(&server).await, expected, "idempotent; the backfill outranks the state");

    // CSV, items separated by |; a file without a required column or without a good row
    // changes nothing.
    let csv = "order_id,customer_id,time,value,items\nP-4,c-new,2026-01-05T08:00:00Z,12.00,sku-1|sku-3\n";
    let (status, answer) = backfill(&r, "text/csv", csv).await;
    assert_eq!((status, answer["loaded"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    let (status, answer) = backfill(&r, "text/csv", "order_id,customer_id,value\nP-5,c,1\n").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_column")),
        "{answer}"
    );
    let (status, answer) = backfill(&r, "application/x-ndjson", "{\"order_id\": \"P-6\"}\n").await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_valid_rows")),
        "{answer}"
    );
    let (status, _) = backfill(&r, "application/json", "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(order_rows(&server).await.len(), 5);

    // The periodic fit runs on one replica a period: the first claim of a due period wins.
    use waymark::server::forecast::claim;
    let db = &server.state.inner().db;
    let day = waymark::Duration(waymark::time::DAY);
    assert!(claim(db, "fit_orders", at(100), day).await.unwrap(), "a fresh database fits at once");
    assert!(!claim(db, "fit_orders", at(100), day).await.unwrap(), "a second replica, the same moment: not again");
    assert!(!claim(db, "fit_orders", at(100 + 1439), day).await.unwrap(), "not before the period is over");
    assert!(claim(db, "fit_orders", at(100 + 1440), day).await.unwrap(), "the next period");
    assert!(claim(db, "fit_intent", at(100 + 1440), day).await.unwrap(), "each job has its own period");
    server.shutdown().await;
}
