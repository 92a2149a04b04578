//! The sessions the intent fit learns from, on a real backend: a browser's session is
//! recorded at its last synced event, not yet converted; its purchase turns the row
//! converted with the features just before it (the cart it cleared), and later syncs of
//! that session never overwrite them; a new session is a new row; a server-side purchase
//! is recorded the same way. Run against SQLite (tests/server_sqlite.rs) and Postgres
//! (tests/server_postgres.rs) unchanged.

use sqlx::Row;
use waymark::intent::FEATURES;
use waymark::server::clock::Clock;
use waymark::server::Server;

use super::*;

/// (shopper row, session start, converted, features in thousandths), oldest first.
type SessionRow = (String, i64, i64, Vec<u32>);

async fn session_rows(server: &Server) -> Vec<SessionRow> {
    sqlx::query(
        "SELECT shopper_id, session_start, converted, features FROM intent_sessions ORDER BY session_start, shopper_id",
    )
    .fetch_all(server.state.inner().db.reader())
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let features: String = row.try_get("features").unwrap();
        (
            row.try_get("shopper_id").unwrap(),
            row.try_get("session_start").unwrap(),
            row.try_get("converted").unwrap(),
            serde_json::from_str(&features).unwrap(),
        )
    })
    .collect()
}

fn feature(row: &SessionRow, name: &str) -> u32 {
    row.3[FEATURES.iter().position(|f| *f == name).unwrap()]
}

pub async fn sessions_are_recorded_for_the_intent_fit(db: TestDb) {
    let clock = Clock::manual(at(24 * 60));
    let server = server_with(settings(&db), &clock).await;
    let r = server.router();

    let mut a = Browser::new(&r, "shopper-s", "s@example.com").await;
    a.track_item("view_item", at(0), "p1", "shoes", 40.0);
    a.track_item("view_item", at(1), "p2", "shoes", 45.0);
    a.sync(&r).await;
    let rows = session_rows(&server).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1, rows[0].2), ("anon:shopper-s", at(0).0, 0));
    assert!(feature(&rows[0], "product_views") > 0);
    assert_eq!(feature(&rows[0], "cart_active"), 0);

    a.track_item("add_to_cart", at(2), "p2", "shoes", 45.0);
    a.track("begin_checkout", at(3));
    a.sync(&r).await;
    assert_eq!(feature(&session_rows(&server).await[0], "checkout_started"), 1000);

    // The purchase clears the cart; the row keeps what led to it, and is converted.
    a.track("purchase", at(4));
    a.sync(&r).await;
    let rows = session_rows(&server).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].2, 1, "converted");
    // (a minute after the last event: the cart signal has faded by a minute of its hour's half-life)
    assert_eq!(feature(&rows[0], "cart_active"), 989, "the cart just before the purchase");
    assert_eq!(feature(&rows[0], "purchased"), 0);
    let converted = rows[0].clone();
    // More of the same session after the purchase changes nothing.
    a.track_item("view_item", at(5), "p3", "shoes", 50.0);
    a.sync(&r).await;
    assert_eq!(session_rows(&server).await, vec![converted.clone()]);

    // A new session (an hour later): a new row, not converted.
    a.track_item("view_item", at(70), "p4", "bags", 20.0);
    a.sync(&r).await;
    let rows = session_rows(&server).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], converted);
    assert_eq!((rows[1].1, rows[1].2), (at(70).0, 0));
    assert!(feature(&rows[1], "return_visits") > 0, "an earlier session");

    // A server-side session that ends in a purchase is recorded the same way.
    for (minute, name) in [(100, "add_to_cart"), (101, "purchase")] {
        let event = serde_json::json!({ "id": format!("evt-{minute}"), "customer_id": "c-s", "name": name,
            "time": at(minute).to_rfc3339(), "properties": { "value": 30 } });
        let (status, answer) = admin_json(&r, "POST", "/v1/events", event).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let rows = session_rows(&server).await;
    let server_side = rows.iter().find(|row| row.0 == "cust:c-s").expect("the server-side session");
    assert_eq!((server_side.1, server_side.2), (at(100).0, 1));
    assert_eq!(feature(server_side, "cart_active"), 989);
    server.shutdown().await;
}
