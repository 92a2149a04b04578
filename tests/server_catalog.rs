//! The catalog as a shop uses it: `PUT` / `PATCH /v1/catalog` and `GET
//! /v1/catalog/items/{id}` through the router (`oneshot`) on SQLite — reports, row
//! errors, content types, authentication, the body limit, a failed import that leaves
//! the catalog whole — and the `waymark catalog import` binary against a database file.
#![cfg(feature = "server")]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::Value;
use support::catalog::line;
use support::*;
use waymark::server::catalog::read;
use waymark::server::clock::Clock;

fn example_feed() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/catalog/feed.xml")).unwrap()
}

/// A catalog call: method, path, content type, with the admin token or not.
async fn catalog(
    r: &Router,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    admin: bool,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if admin {
        request = request.header("authorization", format!("Bearer {ADMIN}"));
    }
    let (status, _, bytes) = call(r, request.body(body.into()).unwrap()).await;
    (status, json(&bytes))
}

async fn get_item(r: &Router, id: &str) -> (StatusCode, Value) {
    catalog(r, "GET", &format!("/v1/catalog/items/{id}"), None, true, Body::empty()).await
}

#[tokio::test]
async fn put_patch_get_and_a_failed_import() {
    let db = sqlite();
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.body_limit = 4096; // the other routes' limit; a feed has its own
    let server = server_with(st, &clock).await;
    let r = server.router();

    let (status, report) = catalog(&r, "PUT", "/v1/catalog", Some("application/rss+xml"), true, example_feed()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!((report["mode"].as_str(), report["format"].as_str()), (Some("replace"), Some("xml")));
    assert_eq!(report["counts"]["new"], 30, "{report}");
    assert_eq!(report["changes"].as_array().unwrap().len(), 30);
    assert_eq!(report["changes"][0]["type"], "new");

    let (status, item) = get_item(&r, "sho-1").await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!((item["title"].as_str(), item["price_hundredths"].as_i64()), (Some("Trail Runner"), Some(8900)));
    assert_eq!((item["available"].as_bool(), item["history"].as_array().unwrap().len()), (Some(true), 1));
    let (_, parka) = get_item(&r, "out-6").await;
    assert_eq!((parka["availability"].as_str(), parka["available"].as_bool()), (Some("out_of_stock"), Some(false)));

    // A patch: a price drop, the parka back in stock, and a bad row that is reported.
    clock.set(at(5));
    let patch = [
        line("sho-1", "89.00 EUR", "in_stock", "shoes", Some("69.00 EUR")),
        "{\"id\": \"bad\", \"title\": \"x\"}".to_owned(),
        line("out-6", "219.00 EUR", "in_stock", "outerwear", None),
    ]
    .join("\n");
    let (status, report) = catalog(&r, "PATCH", "/v1/catalog", Some("application/x-ndjson"), true, patch).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!((report["counts"]["updated"].as_i64(), report["counts"]["rejected"].as_i64()), (Some(2), Some(1)));
    assert_eq!(report["errors"][0]["line"], 2);
    assert_eq!(report["errors"][0]["code"], "missing_field");
    let changes = report["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["type"] == "price" && c["from_hundredths"] == 8900 && c["to_hundredths"] == 6900));
    assert!(changes.iter().any(|c| c["type"] == "availability" && c["id"] == "out-6" && c["back_in_stock"] == true));
    let (_, item) = get_item(&r, "sho-1").await;
    assert_eq!(item["effective_price_hundredths"], 6900);
    assert_eq!(item["history"][0]["price_hundredths"], 6900, "newest first: {item}");

    // Unreadable feeds change nothing.
    clock.set(at(10));
    for (content_type, body, expected) in [
        (Some("application/xml"), "<rss><channel><item><g:id>x", (StatusCode::BAD_REQUEST, "malformed_xml")),
        (Some("text/xml"), "<html></html>", (StatusCode::UNPROCESSABLE_ENTITY, "not_a_feed")),
        (Some("application/x-ndjson"), "{\"id\": \"sho-1\"}", (StatusCode::UNPROCESSABLE_ENTITY, "no_valid_rows")),
        (Some("text/tab-separated-values"), "id\ttitle\nx\ty\n", (StatusCode::UNPROCESSABLE_ENTITY, "missing_columns")),
        (None, "just some words", (StatusCode::BAD_REQUEST, "unknown_format")),
    ] {
        let (status, answer) = catalog(&r, "PUT", "/v1/catalog", content_type, true, body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (expected.0, Some(expected.1)), "{answer}");
    }
    let (_, after) = get_item(&r, "sho-1").await;
    assert_eq!(after, item, "the failed imports left sho-1 as it was");
    let all = read::new_since(&server.state.inner().db, t0(), 100).await.unwrap();
    assert_eq!(all.len(), 30, "nothing removed, nothing added");

    // ?format= names the format of a typeless body; a replace removes what it leaves out.
    let tsv = "id\ttitle\tlink\tprice\tavailability\tproduct_type\n\
               sho-1\tTrail Runner\thttps://shop.example/#/p/sho-1\t89.00 EUR\tin_stock\tshoes\n";
    let (status, report) = catalog(&r, "PUT", "/v1/catalog?format=tsv", Some("text/plain"), true, tsv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!((report["counts"]["removed"].as_i64(), report["counts"]["updated"].as_i64()), (Some(29), Some(1)));
    let (status, bag) = get_item(&r, "bag-1").await;
    assert_eq!(status, StatusCode::OK, "a removed item still resolves");
    assert_eq!((bag["available"].as_bool(), bag["removed_at"].as_str()), (Some(false), Some("2026-06-01T10:10:00Z")));
    assert_eq!(bag["history"][0]["availability"], "removed");
    server.shutdown().await;
}

#[tokio::test]
async fn requests_are_checked_before_the_feed() {
    let db = sqlite();
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.catalog_body_limit = 2048;
    let server = server_with(st, &clock).await;
    let r = server.router();
    let xml = Some("application/rss+xml");
    let feed = || example_feed().chars().take(1000).collect::<String>();
    for (method, path, content_type, admin, body, expected) in [
        ("PUT", "/v1/catalog", xml, false, feed(), (StatusCode::UNAUTHORIZED, "missing_admin_token")),
        ("PATCH", "/v1/catalog", xml, false, feed(), (StatusCode::UNAUTHORIZED, "missing_admin_token")),
        (
            "PUT",
            "/v1/catalog",
            Some("application/json"),
            true,
            feed(),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ),
        ("PUT", "/v1/catalog?format=csv", xml, true, feed(), (StatusCode::BAD_REQUEST, "invalid_format")),
        ("PUT", "/v1/catalog?fromat=xml", xml, true, feed(), (StatusCode::BAD_REQUEST, "invalid_query")),
        ("PUT", "/v1/catalog", xml, true, example_feed(), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")),
        (
            "GET",
            "/v1/catalog/items/sho-1",
            None,
            false,
            String::new(),
            (StatusCode::UNAUTHORIZED, "missing_admin_token"),
        ),
        ("GET", "/v1/catalog/items/nope", None, true, String::new(), (StatusCode::NOT_FOUND, "unknown_item")),
        (
            "GET",
            &format!("/v1/catalog/items/{}", "x".repeat(65)),
            None,
            true,
            String::new(),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_id"),
        ),
        ("POST", "/v1/catalog", xml, true, feed(), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")),
    ] {
        let (status, answer) = catalog(&r, method, path, content_type, admin, body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (expected.0, Some(expected.1)),
            "{method} {path}: {answer}"
        );
    }
    server.shutdown().await;
}

fn waymark(args: &[&str], db: &str) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WAYMARK_DB", db)
        .output()
        .expect("runs");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[tokio::test]
async fn cli_imports_a_feed_and_names_bad_rows() {
    let db = sqlite();
    let url = db.url();
    let (code, stdout, stderr) = waymark(&["catalog", "import", "examples/catalog/feed.xml"], &url);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("examples/catalog/feed.xml: replace (xml): 30 rows, 30 loaded (30 new, 0 updated, 0 unchanged), 0 removed, 0 rejected"),
        "{stdout}"
    );
    assert!(stdout.contains("30 new items"), "{stdout}");

    // A patch with a bad row: the good row loads, the bad one is named FILE:LINE: field: message [code].
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("changes.jsonl");
    let text = [
        line("sho-1", "89.00 EUR", "in_stock", "shoes", Some("59.00 EUR")),
        line("sho-2", "cheap", "in_stock", "shoes", None),
    ];
    std::fs::write(&patch, text.join("\n")).unwrap();
    let patch = patch.to_str().unwrap();
    let (code, stdout, stderr) = waymark(&["catalog", "import", patch, "--patch"], &url);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("patch (jsonl): 2 rows, 1 loaded (0 new, 1 updated, 0 unchanged), 0 removed, 1 rejected"),
        "{stdout}"
    );
    assert!(stdout.contains("1 price (1 drops)"), "{stdout}");
    let expected = format!("{patch}:2: price: \"cheap\": the amount is not a number such as 15.00 (no sign, no thousands separators) [invalid_price]");
    assert!(stderr.contains(&expected), "{stderr}");

    // Nothing importable: exit 1, the catalog unchanged.
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, "<rss><channel><item>").unwrap();
    let (code, _, stderr) = waymark(&["catalog", "import", broken.to_str().unwrap()], &url);
    assert_eq!(code, 1);
    assert!(stderr.contains("[malformed_xml]") || stderr.contains("error[malformed_xml]"), "{stderr}");
    let (code, _, stderr) = waymark(&["catalog", "import", "--format", "tsv", patch], &url);
    assert_eq!(code, 1, "a JSON lines file read as TSV has no header columns: {stderr}");
    assert!(stderr.contains("error[missing_columns]"), "{stderr}");

    let server =
        waymark::server::storage::Db::connect(&url, 1, waymark::server::sqlite::Synchronous::Full).await.unwrap();
    let items = read::items(&server, &["sho-1", "sho-2"]).await.unwrap();
    assert_eq!(items[0].item.effective_price_hundredths(), 5900);
    assert_eq!(items[1].item.price_hundredths, 7500, "the bad row left sho-2 as it was");
    assert_eq!(read::new_since(&server, waymark::Timestamp(0), 100).await.unwrap().len(), 30);
    server.close().await;
}

/// `waymark orders import`: a CSV of past orders into a database file; a bad row is named
/// FILE:LINE: field: message [code] and the rest loads; a file with no good row exits 1.
#[tokio::test]
async fn cli_backfills_orders_and_names_bad_rows() {
    let db = sqlite();
    let url = db.url();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    std::fs::write(
        &file,
        "order_id,customer_id,time,value,refunded,items\n\
         1001,c-1,2026-01-02T10:00:00Z,42.50,,sku-1|sku-2\n\
         1002,c-1,2026-02-02,-3,,\n\
         1003,c-2,1767225600000,10,12,\n\
         1004,c-2,2026-03-01,15,5,sku-9\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, stdout, stderr) = waymark(&["orders", "import", path], &url);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("{path}: 4 rows, 2 loaded, 2 rejected")), "{stdout}");
    assert!(stderr.contains(&format!("{path}:3: value: a number of at least 0, as 42.50 [invalid_value]")), "{stderr}");
    assert!(stderr.contains(&format!("{path}:4: refunded:")) && stderr.contains("[invalid_refund]"), "{stderr}");
    // Again: idempotent by order id.
    let (code, stdout, _) = waymark(&["orders", "import", path], &url);
    assert_eq!(code, 0);
    assert!(stdout.contains("2 loaded"), "{stdout}");
    let server =
        waymark::server::storage::Db::connect(&url, 1, waymark::server::sqlite::Synchronous::Full).await.unwrap();
    let rows: Vec<(String, i64, i64, String)> =
        sqlx::query("SELECT order_id, value, refunded, items FROM orders ORDER BY order_id")
            .fetch_all(server.reader())
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                use sqlx::Row;
                (r.get("order_id"), r.get("value"), r.get("refunded"), r.get("items"))
            })
            .collect();
    server.close().await;
    assert_eq!(
        rows,
        vec![
            ("1001".into(), 4250, 0, "[\"sku-1\",\"sku-2\"]".into()),
            ("1004".into(), 1500, 500, "[\"sku-9\"]".into())
        ]
    );

    // The README's example file.
    let (code, stdout, stderr) = waymark(&["orders", "import", "examples/orders.csv"], &url);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("examples/orders.csv: 4 rows, 4 loaded, 0 rejected"), "{stdout}");

    let empty = dir.path().join("bad.jsonl");
    std::fs::write(&empty, "{\"order_id\": \"9\"}\nnot json\n").unwrap();
    let (code, _, stderr) = waymark(&["orders", "import", empty.to_str().unwrap()], &url);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error[no_valid_rows]") && stderr.contains("none of the 2 rows"), "{stderr}");
    assert!(stderr.contains(":1: customer_id: customer_id is required [missing_field]"), "each row says why: {stderr}");
    assert!(stderr.contains(":2: row: not a JSON object"), "{stderr}");
}
