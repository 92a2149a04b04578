//! The HTTP API on SQLite through `oneshot`: tokens, input validation and error codes,
//! bundle publish / ETag, suppression checks, health, metrics, OpenAPI; and the real
//! `waymark serve` binary: file created and migrated on start, graceful stop on SIGTERM.
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
use support::*;
use waymark::server::auth::{self, Claims};
use waymark::server::clock::Clock;
use waymark::server::limit::RateLimit;
use waymark::ShopperState;

async fn started() -> (TestDb, Clock, waymark::server::Server) {
    let db = sqlite();
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.body_limit = 4096;
    let server = server_with(st, &clock).await;
    (db, clock, server)
}

fn code(body: &[u8]) -> String {
    json(body)["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sync_rejects_missing_forged_and_expired_tokens() {
    let (_db, clock, server) = started().await;
    let r = server.router();
    let state = ShopperState::new("a1").encode();
    let (status, body) = sync_raw(&r, None, state.clone()).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "missing_token"));

    let forged = auth::issue(b"not-the-server-secret", &Claims { sub: "a1".into(), cid: None, exp: i64::MAX }).unwrap();
    let (status, body) = sync_raw(&r, Some(&forged), state.clone()).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "invalid_token"));

    // A real token with its customer id swapped: the signature no longer matches.
    let good = token(&r, "a1", Some("c1")).await;
    let victim = auth::issue(b"x", &Claims { sub: "a1".into(), cid: Some("victim".into()), exp: i64::MAX }).unwrap();
    let tampered = format!("{}.{}", victim.rsplit_once('.').unwrap().0, good.rsplit_once('.').unwrap().1);
    let (status, body) = sync_raw(&r, Some(&tampered), state.clone()).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "invalid_token"));

    let (status, _) = sync_raw(&r, Some(&good), state.clone()).await;
    assert_eq!(status, StatusCode::OK);
    clock.set(waymark::Timestamp(t0().0 + 31 * 24 * 3600 * 1000));
    let (status, body) = sync_raw(&r, Some(&good), state).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "token_expired"));
    server.shutdown().await;
}

#[tokio::test]
async fn sync_validates_bodies_and_identity() {
    let (_db, _clock, server) = started().await;
    let r = server.router();
    let t = token(&r, "a1", None).await;
    for (body, expected) in [
        (vec![], "state_empty"),
        (vec![1, 0xff, 0xff, 0xff], "state_corrupt"),
        (vec![9, 0], "state_unsupported_version"),
    ] {
        let (status, answer) = sync_raw(&r, Some(&t), body).await;
        assert_eq!((status, code(&answer).as_str()), (StatusCode::BAD_REQUEST, expected));
    }
    let (status, answer) = sync_raw(&r, Some(&t), vec![1; 8192]).await;
    assert_eq!((status, code(&answer).as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
    let (status, answer) = sync_raw(&r, Some(&t), ShopperState::new("someone-else").encode()).await;
    assert_eq!((status, code(&answer).as_str()), (StatusCode::FORBIDDEN, "identity_mismatch"));
    server.shutdown().await;
}

/// `POST /v1/sync/beacon` with a body as `navigator.sendBeacon` sends it.
async fn beacon(router: &axum::Router, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::post("/v1/sync/beacon").header("content-type", "text/plain;charset=UTF-8");
    let (status, _, bytes) = call(router, request.body(Body::from(body)).unwrap()).await;
    (status, bytes)
}

fn beacon_body(token: &str, state: &[u8]) -> Vec<u8> {
    let mut body = format!("{token}\n").into_bytes();
    body.extend_from_slice(state);
    body
}

#[tokio::test]
async fn beacon_merges_like_sync_and_checks_its_token() {
    let (_db, _clock, server) = started().await;
    let r = server.router();
    let t = token(&r, "a1", None).await;
    let mut hidden_page = ShopperState::new("a1");
    hidden_page.set_trait("email", "ana@example.com".into(), t0()).unwrap();
    let (status, body) = beacon(&r, beacon_body(&t, &hidden_page.encode())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{}", String::from_utf8_lossy(&body));
    assert!(body.is_empty());
    // The next page's sync gets the beacon's state back, merged.
    let merged = sync(&r, &t, &ShopperState::new("a1")).await;
    assert_eq!(merged.trait_value("email"), Some(&"ana@example.com".into()));

    let forged = auth::issue(b"not-the-server-secret", &Claims { sub: "a1".into(), cid: None, exp: i64::MAX }).unwrap();
    let state = ShopperState::new("a1").encode();
    for (body, expected) in [
        (state.clone(), (StatusCode::BAD_REQUEST, "beacon_malformed")),
        (beacon_body("", &state), (StatusCode::UNAUTHORIZED, "missing_token")),
        (beacon_body(&forged, &state), (StatusCode::UNAUTHORIZED, "invalid_token")),
        (beacon_body(&t, &[]), (StatusCode::BAD_REQUEST, "state_empty")),
        (beacon_body(&t, &ShopperState::new("someone-else").encode()), (StatusCode::FORBIDDEN, "identity_mismatch")),
    ] {
        let (status, answer) = beacon(&r, body).await;
        assert_eq!((status, code(&answer).as_str()), expected);
    }
    // A token line ending in \r\n is read the same.
    let (status, _) = beacon(&r, beacon_body(&format!("{t}\r"), &state)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, body) = call(&r, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    for metric in ["waymark_syncs_total{outcome=\"ok\"} 3", "waymark_syncs_total{outcome=\"beacon_malformed\"} 1"] {
        assert!(text.contains(metric), "{metric} missing in\n{text}");
    }
    server.shutdown().await;
}

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn shopper_routes_answer_cross_origin_requests_and_admin_routes_do_not() {
    let (_db, _clock, server) = started().await;
    let r = server.router();
    let shop = "https://shop.example";
    let preflight = |path: &str, method: &str| {
        Request::options(path)
            .header("origin", shop)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "authorization,content-type")
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, _) = call(&r, preflight("/v1/sync", "POST")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(shop));
    let allowed = header(&headers, "access-control-allow-headers").unwrap_or("").to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    assert!(header(&headers, "access-control-allow-methods").unwrap_or("").contains("POST"));

    // The answers carry the header too, errors included, so the page can read the code.
    let t = token(&r, "a1", None).await;
    let sync_from_shop = |token: Option<&str>| {
        let mut request = Request::post("/v1/sync").header("origin", shop);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        request.body(Body::from(ShopperState::new("a1").encode())).unwrap()
    };
    let (status, headers, _) = call(&r, sync_from_shop(Some(&t))).await;
    assert_eq!((status, header(&headers, "access-control-allow-origin")), (StatusCode::OK, Some(shop)));
    let (status, headers, body) = call(&r, sync_from_shop(None)).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "missing_token"));
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(shop));
    let (_, headers, _) =
        call(&r, Request::get("/v1/bundle").header("origin", shop).body(Body::empty()).unwrap()).await;
    assert!(header(&headers, "access-control-expose-headers").unwrap_or("").to_ascii_lowercase().contains("etag"));

    // Admin routes: no CORS answer, so a browser on another origin cannot call them.
    for (path, method) in [("/v1/token", "POST"), ("/v1/events", "POST"), ("/v1/analytics", "GET")] {
        let (_, headers, _) = call(&r, preflight(path, method)).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), None, "{path}");
    }
    let (_, headers, _) = call(&r, preflight("/v1/bundle", "PUT")).await;
    assert!(
        !header(&headers, "access-control-allow-methods").unwrap_or("").contains("PUT"),
        "publishing is admin only"
    );

    // Recommendations: the public kinds (item=, q=) answer a page on another origin; a
    // shopper's blend (admin) does not, nor a query with a key it cannot read plainly.
    let get_from_shop = |path: &str| Request::get(path).header("origin", shop).body(Body::empty()).unwrap();
    for path in ["/v1/recommendations?item=sku-1&k=3", "/v1/recommendations?q=boot", "/v1/recommendations"] {
        let (_, headers, _) = call(&r, get_from_shop(path)).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), Some(shop), "{path}");
    }
    for path in [
        "/v1/recommendations?shopper=a1",
        "/v1/recommendations?item=sku-1&shopper=a1",
        "/v1/recommendations?item=sku-1&sh%6Fpper=a1",
    ] {
        let (_, headers, _) = call(&r, get_from_shop(path)).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), None, "{path}");
        let (_, headers, _) = call(&r, preflight(path, "GET")).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), None, "preflight {path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cors_origins_narrow_to_a_list_or_off() {
    use waymark::server::cors::CorsOrigins;
    for (cors, origin, expected) in [
        (CorsOrigins::List(vec!["https://shop.example".into()]), "https://shop.example", Some("https://shop.example")),
        (CorsOrigins::List(vec!["https://shop.example".into()]), "https://evil.example", None),
        (CorsOrigins::Off, "https://shop.example", None),
    ] {
        let db = sqlite();
        let clock = Clock::manual(t0());
        let mut st = settings(&db);
        st.cors = cors.clone();
        let server = server_with(st, &clock).await;
        let r = server.router();
        let (_, headers, _) =
            call(&r, Request::get("/v1/bundle").header("origin", origin).body(Body::empty()).unwrap()).await;
        assert_eq!(header(&headers, "access-control-allow-origin"), expected, "{cors:?} {origin}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn bundle_publish_validates_versions_and_etags() {
    let db = sqlite();
    let clock = Clock::manual(t0());
    let server = waymark::server::Server::start(settings(&db), clock).await.unwrap();
    let r = server.router();
    let (status, _, body) = call(&r, Request::get("/v1/bundle").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::NOT_FOUND, "no_bundle"));

    let put = |auth: Option<&str>, ctype: &str, body: String| {
        let mut req = Request::put("/v1/bundle").header("content-type", ctype);
        if let Some(a) = auth {
            req = req.header("authorization", format!("Bearer {a}"));
        }
        req.body(Body::from(body)).unwrap()
    };
    let (status, _, body) = call(&r, put(None, "application/json", JOURNEYS.into())).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "missing_admin_token"));
    let (status, _, body) = call(&r, put(Some("wrong"), "application/json", JOURNEYS.into())).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::UNAUTHORIZED, "invalid_admin_token"));

    let broken = JOURNEYS.replace("\"timeout\": \"1h\"", "\"timeout\": \"1 hour\"");
    let (status, _, body) = call(&r, put(Some(ADMIN), "application/json", broken)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let answer = json(&body);
    assert_eq!(answer["error"]["code"], "invalid_bundle");
    let first = &answer["error"]["details"][0];
    assert_eq!(first["code"], "bad_duration", "{answer}");
    assert_eq!(first["line"], 7, "{answer}");

    let (status, _, body) = call(&r, put(Some(ADMIN), "application/json", JOURNEYS.into())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["version"], 1);
    let (status, headers, bytes) = call(&r, Request::get("/v1/bundle").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(waymark::journey::Bundle::from_bytes(&bytes).is_ok());
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, body) =
        call(&r, Request::get("/v1/bundle").header("if-none-match", &etag).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    // The compiled form is accepted too; publishing the same bundle keeps the version.
    let (status, _, body) = call(
        &r,
        Request::put("/v1/bundle")
            .header("content-type", "application/octet-stream")
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::from(bytes.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!((status, json(&body)["version"].as_i64()), (StatusCode::OK, Some(1)));
    let smaller = JOURNEYS.replace("\"1h\"", "\"2h\"");
    let (_, _, body) = call(&r, put(Some(ADMIN), "application/json", smaller)).await;
    assert_eq!((json(&body)["version"].as_i64(), json(&body)["previous_version"].as_i64()), (Some(2), Some(1)));
    let (status, _, _) =
        call(&r, Request::get("/v1/bundle").header("if-none-match", &etag).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "a new version, a new ETag");
    server.shutdown().await;
}

#[tokio::test]
async fn events_and_suppression_check() {
    let (_db, _clock, server) = started().await;
    let r = server.router();
    let (status, _, body) = call(
        &r,
        Request::post("/v1/events")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/json")
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::BAD_REQUEST, "malformed_json"));
    let (status, answer) = admin_json(&r, "POST", "/v1/events", serde_json::json!({ "name": "purchase" })).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_event")));
    let (status, answer) = admin_json(
        &r,
        "POST",
        "/v1/events",
        serde_json::json!({ "id": "e1", "customer_id": "c", "consent": { "fax": true } }),
    )
    .await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_channel")));
    let (status, answer) = admin_json(&r, "POST", "/v1/events", serde_json::json!({ "id": "e1" })).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("missing_shopper")));

    let check = serde_json::json!({ "customer_id": "c-9", "channel": "email", "record": true });
    let (status, answer) = admin_json(&r, "POST", "/v1/suppression/check", check.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((answer["decision"].as_str(), answer["reasons"][0].as_str()), (Some("suppress"), Some("no_consent")));

    let consent = serde_json::json!({ "id": "consent-9", "customer_id": "c-9", "consent": { "email": true }, "traits": { "email": "c9@example.com" } });
    assert_eq!(admin_json(&r, "POST", "/v1/events", consent).await.0, StatusCode::OK);
    let (_, answer) = admin_json(&r, "POST", "/v1/suppression/check", check.clone()).await;
    assert_eq!((answer["decision"].as_str(), answer["recorded"].as_bool()), (Some("allow"), Some(true)), "{answer}");
    // Recorded: the email cap (1 per 24h) now holds.
    let (_, answer) = admin_json(&r, "POST", "/v1/suppression/check", check).await;
    assert_eq!(answer["decision"], "suppress", "{answer}");
    assert!(answer["reasons"].as_array().unwrap().iter().any(|r| r == "cap_window"), "{answer}");

    let bad = serde_json::json!({ "customer_id": "c-9", "channel": "pigeon" });
    let (status, answer) = admin_json(&r, "POST", "/v1/suppression/check", bad).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_channel")));
    server.shutdown().await;
}

#[tokio::test]
async fn health_metrics_openapi_and_unknown_routes() {
    let (_db, _clock, server) = started().await;
    let r = server.router();
    let t = token(&r, "a1", None).await;
    sync(&r, &t, &ShopperState::new("a1")).await;
    for path in ["/healthz", "/readyz"] {
        let (status, _, _) = call(&r, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (_, _, body) = call(&r, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    for metric in [
        "waymark_syncs_total{outcome=\"ok\"} 1",
        "waymark_http_request_duration_seconds_bucket",
        "waymark_commit_batch_size",
    ] {
        assert!(text.contains(metric), "{metric} missing in\n{text}");
    }
    let (status, _, body) = call(&r, Request::get("/v1/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let doc = json(&body);
    for path in [
        "/v1/sync",
        "/v1/sync/beacon",
        "/v1/events",
        "/v1/suppression/check",
        "/v1/bundle",
        "/v1/token",
        "/v1/analytics",
        "/v1/catalog",
        "/v1/catalog/items/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }
    let (status, _, body) = call(&r, Request::get("/v2/nothing").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _, body) = call(&r, Request::delete("/v1/sync").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    server.shutdown().await;
}

/// One shopper over its rate gets 429 `rate_limited` with `Retry-After` on both sync
/// routes (they share the allowance); another shopper goes on; `/metrics` counts it.
#[tokio::test]
async fn a_shopper_over_its_rate_gets_429_and_others_go_on() {
    let db = sqlite();
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.shopper_rate = RateLimit { per_second: 1, burst: 3 };
    let server = server_with(st, &clock).await;
    let r = server.router();
    let t = token(&r, "flood-1", None).await;
    let state = ShopperState::new("flood-1").encode();
    for _ in 0..3 {
        assert_eq!(sync_raw(&r, Some(&t), state.clone()).await.0, StatusCode::OK);
    }
    let request = Request::post("/v1/sync")
        .header("authorization", format!("bearer {t}"))
        .header("content-type", "application/octet-stream")
        .body(Body::from(state.clone()))
        .unwrap();
    let (status, headers, body) = call(&r, request).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let (status, body) = beacon(&r, beacon_body(&t, &state)).await;
    assert_eq!((status, code(&body).as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    // A token that does not verify never takes a slot: 401 before the limit.
    let (status, _) = sync_raw(&r, Some("v1.x.y"), state.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other = token(&r, "calm-1", None).await;
    sync(&r, &other, &ShopperState::new("calm-1")).await;
    let (_, _, body) = call(&r, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("waymark_syncs_total{outcome=\"rate_limited\"} 2"), "{text}");
    server.shutdown().await;
}

/// Many concurrent syncs share commits (group commit) and every one is answered merged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_syncs_are_group_committed() {
    let (_db, _clock, server) = started().await;
    let r = server.router();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("shopper-{}", i % 50);
            let t = token(&r, &id, None).await;
            let mut s = ShopperState::new(&id);
            s.set_trait(&format!("k{}", i / 50), "v".into(), t0()).unwrap();
            sync(&r, &t, &s).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let final_state = sync(&r, &token(&r, "shopper-7", None).await, &ShopperState::new("shopper-7")).await;
    assert_eq!(final_state.traits.len(), 4, "every concurrent write merged");
    let (_, _, body) = call(&r, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    let text = String::from_utf8(body).unwrap();
    let commits: f64 = text
        .lines()
        .find(|l| l.starts_with("waymark_commit_batch_size_count"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(commits < 201.0, "{commits} commits for 201 syncs");
    server.shutdown().await;
}

/// The real binary: `waymark serve` creates and migrates the SQLite file, publishes
/// --journeys, answers, and stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_starts_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let journeys = dir.path().join("journeys.json");
    std::fs::write(&journeys, JOURNEYS).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let db = dir.path().join("new.db");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--journeys"])
        .arg(&journeys)
        .env("WAYMARK_DB", format!("sqlite://{}", db.display()))
        .env("WAYMARK_ADMIN_TOKEN", ADMIN)
        .env("WAYMARK_TOKEN_SECRET", SECRET)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(resp) = client.get(format!("{base}/readyz")).send().await {
            if resp.status().is_success() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "waymark serve did not become ready");
    assert!(db.exists(), "the SQLite file is created on start");
    let bundle = client.get(format!("{base}/v1/bundle")).send().await.unwrap();
    assert_eq!(bundle.status(), 200, "--journeys published at start");
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

#[tokio::test]
async fn shopper_report_lists_timers_and_outbox() {
    let (_db, _clock, server) = started().await;
    let r = server.router();
    let (status, answer) = admin_json(&r, "GET", "/v1/shoppers/nobody", serde_json::Value::Null).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_shopper")));
    let purchase =
        serde_json::json!({ "id": "order-1", "customer_id": "c-5", "name": "purchase", "properties": { "value": 40 } });
    assert_eq!(admin_json(&r, "POST", "/v1/events", purchase).await.0, StatusCode::OK);
    let (status, report) = admin_json(&r, "GET", "/v1/shoppers/c-5", serde_json::Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let timers = report["timers"].as_array().unwrap();
    let review = timers.iter().find(|t| t["journey"] == "post_purchase").expect("post-purchase timer");
    assert_eq!(review["due"].as_i64(), Some(t0().0 + 10 * 86_400_000), "{report}");
    assert_eq!(report["active_journeys"], serde_json::json!(["post_purchase"]));
    assert!(report["outbox"].as_array().unwrap().is_empty());
    let (status, _, _) = call(&r, Request::get("/v1/shoppers/c-5").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "admin only");
    server.shutdown().await;
}

#[test]
fn serve_refuses_a_cors_origin_it_cannot_use_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["serve", "--listen", "127.0.0.1:0", "--cors-origins", "https://shop.example,shop.example/cart"])
        .env("WAYMARK_DB", format!("sqlite://{}", dir.path().join("w.db").display()))
        .env("WAYMARK_ADMIN_TOKEN", ADMIN)
        .env("WAYMARK_TOKEN_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"shop.example/cart\"") && stderr.contains("--cors-origins"), "{stderr}");
    assert!(!dir.path().join("w.db").exists(), "refused before the database is touched");
}
