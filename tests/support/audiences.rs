//! Audience journeys on a real backend with the shipped journeys and email templates: a
//! shopper the backend knows (a server-side event set their traits) but who never visits
//! gets the birthday email on the day at 09:00 and the sign-up anniversary email at 10:00
//! — their dates are their wake-ups, so the scheduler reaches them without reading every
//! stored shopper — and nothing before. Run against SQLite and Postgres unchanged.

use axum::http::StatusCode;
use sqlx::Row;

use super::catalog_emails::shop;
use super::*;

/// t0 is 2026-06-01T10:00Z: minutes from it to a UTC time of June 2026.
fn june(day: i64, hour: i64) -> i64 {
    (day - 1) * 1440 + hour * 60 - 600
}

async fn wake_at(server: &waymark::server::Server, alias: &str) -> Option<i64> {
    let row = sqlx::query(
        "SELECT s.wake_at FROM shopper_aliases a JOIN shoppers s ON s.id = a.shopper_id WHERE a.alias = $1",
    )
    .bind(alias.to_owned())
    .fetch_one(server.state.inner().db.reader())
    .await
    .unwrap();
    row.try_get("wake_at").unwrap()
}

pub async fn birthday_and_anniversary_reach_shoppers_who_never_visit(db: TestDb) {
    let shop = shop(&db).await;
    let r = shop.server.router();
    let known = serde_json::json!([
        { "id": "crm-1", "customer_id": "c-bday", "traits": { "email": "bday@example.com", "birthday": "1990-06-04" },
          "consent": { "email": true } },
        { "id": "crm-2", "customer_id": "c-anniv", "traits": { "email": "anniv@example.com", "signed_up_at": "2025-06-03T12:00:00Z" },
          "consent": { "email": true } },
        { "id": "crm-3", "customer_id": "c-none", "traits": { "email": "none@example.com" }, "consent": { "email": true } }
    ]);
    let (status, answer) = admin_json(&r, "POST", "/v1/events", known).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let day = |d: i64| Some(at(june(d, 0)).0);
    assert_eq!(wake_at(&shop.server, "cust:c-bday").await, day(4), "woken on the birthday");
    assert_eq!(wake_at(&shop.server, "cust:c-anniv").await, day(3), "woken on the anniversary");
    assert_eq!(wake_at(&shop.server, "cust:c-none").await, None, "no date, no wake-up");

    // The anniversary day: the journey starts at midnight and waits for 10:00.
    shop.deliver_at(june(3, 0) + 1).await;
    shop.deliver_at(june(3, 9)).await;
    assert!(shop.emails_to("anniv@example.com").is_empty(), "not before 10:00");
    shop.deliver_at(june(3, 10)).await;
    let (subject, text, _) = shop.only_email_to("anniv@example.com");
    assert!(subject.starts_with("One year with us"), "{subject}");
    assert!(text.contains("ANNIV10"), "{text}");

    // The birthday: at 09:00, not before; once.
    shop.deliver_at(june(4, 0) + 1).await;
    shop.deliver_at(june(4, 8)).await;
    assert!(shop.emails_to("bday@example.com").is_empty(), "not before 09:00");
    shop.deliver_at(june(4, 9)).await;
    let (subject, text, _) = shop.only_email_to("bday@example.com");
    assert!(subject.starts_with("Happy birthday"), "{subject}");
    assert!(text.contains("BDAY15"), "{text}");
    shop.deliver_at(june(5, 12)).await;
    assert_eq!(shop.emails_to("bday@example.com").len(), 1, "once");
    assert!(shop.emails_to("none@example.com").is_empty());
    // Next year's birthday is the next wake-up.
    let next_year = waymark::Timestamp::parse_rfc3339("2027-06-04T00:00:00Z").unwrap().0;
    assert_eq!(wake_at(&shop.server, "cust:c-bday").await, Some(next_year));
    shop.stop().await;
}

/// The `predicted` trait the purchase-history fit writes drives the shipped prediction
/// journeys: a customer whose churn risk turns high gets the win-back email at 10:00; a
/// customer who bought gets the buy-again email when their predicted next order date has
/// passed — their wake-up is that date, so the scheduler reaches them on time — and not
/// before.
pub async fn predictions_drive_win_back_and_buy_again(db: TestDb) {
    let shop = shop(&db).await;
    let r = shop.server.router();
    let subjects = |to: &str| -> Vec<String> {
        shop.emails_to(to).iter().map(|m| m["subject"].as_str().unwrap_or_default().to_owned()).collect()
    };
    let fitted = serde_json::json!([
        { "id": "fit-1", "customer_id": "c-risk", "consent": { "email": true },
          "traits": { "email": "risk@example.com", "predicted": { "churn_risk": "high", "p_no_order": 0.81 } } },
        { "id": "fit-2", "customer_id": "c-buy", "consent": { "email": true },
          "traits": { "email": "buy@example.com", "predicted": { "churn_risk": "low", "expected_next_order_at": "2026-06-20T08:00:00Z" } } },
        { "id": "order-1", "customer_id": "c-buy", "name": "purchase",
          "properties": { "transaction_id": "B-1", "value": 30, "items": [ { "item_id": "sku-1", "price": 30 } ] } }
    ]);
    // Written just after 10:00: the win-back waits for the next morning.
    shop.clock.set(at(1));
    let (status, answer) = admin_json(&r, "POST", "/v1/events", fitted).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    shop.deliver_at(june(2, 9)).await;
    assert!(subjects("risk@example.com").is_empty(), "not before 10:00");
    shop.deliver_at(june(2, 10)).await;
    let (subject, text, _) = shop.only_email_to("risk@example.com");
    assert!(subject.starts_with("We miss you"), "{subject}");
    assert!(text.contains("COMEBACK15"), "{text}");

    // Buy again: a week to settle, then the wait for the predicted date.
    shop.deliver_at(june(9, 0)).await;
    shop.deliver_at(june(19, 12)).await;
    let stock_up = |s: &String| s.starts_with("Time to stock up");
    assert!(!subjects("buy@example.com").iter().any(stock_up), "not before the predicted date");
    let due = waymark::Timestamp::parse_rfc3339("2026-06-20T08:00:01Z").unwrap().0;
    assert_eq!(wake_at(&shop.server, "cust:c-buy").await, Some(due), "woken when the date has passed");
    shop.deliver_at(june(20, 8) + 1).await;
    let sent: Vec<String> = subjects("buy@example.com").into_iter().filter(stock_up).collect();
    assert_eq!(sent.len(), 1, "{:?}", subjects("buy@example.com"));
    shop.stop().await;
}
