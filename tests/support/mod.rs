//! Helpers for the server tests: a server per test (SQLite temp file or a fresh database
//! on the throwaway Postgres cluster of `scripts/pg-test.sh`), a real SMTP receiver
//! (Python aiosmtpd), a webhook receiver, a browser-side engine, HTTP calls via `oneshot`.
//! `cases` (case files) and `harness` (ignored without data, failed under CI) need no
//! server: test files without the feature include them with `#[path]`.
#![allow(dead_code, reason = "shared by several test crates, each of which uses a part")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;
use waymark::server::clock::Clock;
use waymark::server::config::Settings;
use waymark::server::Server;
use waymark::{Engine, Event, ShopperState, Timestamp};

pub const ADMIN: &str = "admin-token-for-tests-0123456789";
pub const SECRET: &str = "token-secret-for-tests-0123456789";
pub const WEBHOOK_SECRET: &str = "webhook-secret";

/// 2026-06-01T10:00:00Z.
pub fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-06-01T10:00:00Z").unwrap()
}

pub fn at(minutes: i64) -> Timestamp {
    Timestamp(t0().0 + minutes * 60_000)
}

/// Journeys of the tests: a cart reminder (email after 1h, converts on purchase), an
/// on-site cart offer, a post-purchase review 10 days later (a refund ends it), a price
/// drop of 10% or more (push, falling back to email), new arrivals (email), and a
/// back-in-stock SMS with an email fallback.
pub const JOURNEYS: &str = r#"{
  "journeys": [
    { "id": "cart_abandon", "priority": 20, "entry": { "event": "add_to_cart" },
      "reentry": { "mode": "multiple", "lock": "1d" },
      "conversion": { "event": "purchase", "within": "14d" },
      "steps": [
        { "id": "wait_purchase", "type": "wait_for", "event": "purchase", "timeout": "1h", "on_performed": "done", "on_timed_out": "reminder" },
        { "id": "reminder", "type": "send", "channel": "email", "content": "cart-reminder" },
        { "id": "expire", "type": "wait_for", "event": "purchase", "timeout": "13d", "on_performed": "done", "on_timed_out": "expired" },
        { "id": "expired", "type": "exit" },
        { "id": "done", "type": "exit" } ] },
    { "id": "cart_offer", "priority": 10, "entry": { "event": "view_cart" },
      "reentry": { "mode": "multiple", "lock": "1s" },
      "steps": [ { "id": "offer", "type": "send", "channel": "onsite", "content": "cart-offer" }, { "id": "done", "type": "exit" } ] },
    { "id": "post_purchase", "priority": 5, "entry": { "event": "purchase" }, "reentry": { "mode": "once" },
      "exit_when": [ { "event": "refund" } ],
      "steps": [ { "id": "wait_10_days", "type": "delay", "duration": "10d" },
                 { "id": "review", "type": "send", "channel": "email", "content": "post-purchase-review" },
                 { "id": "done", "type": "exit" } ] },
    { "id": "price_drop", "priority": 25, "entry": { "event": "price_drop", "where": { "drop_percent": { "$gte": 10 } },
        "remember": ["item_id", "old_price", "new_price", "drop_percent"] },
      "reentry": { "mode": "multiple", "lock": "7d" },
      "steps": [ { "id": "notify", "type": "send", "channel": "push", "content": "price-drop", "fallback": ["email"] },
                 { "id": "done", "type": "exit" } ] },
    { "id": "new_arrivals", "priority": 5, "entry": { "event": "new_arrivals" },
      "reentry": { "mode": "multiple", "lock": "7d" },
      "steps": [ { "id": "announce", "type": "send", "channel": "email", "content": "new-arrivals" },
                 { "id": "done", "type": "exit" } ] },
    { "id": "back_in_stock", "priority": 15, "entry": { "event": "back_in_stock" },
      "reentry": { "mode": "multiple", "lock": "1s" },
      "steps": [ { "id": "notify", "type": "send", "channel": "sms", "content": "bis-sms", "fallback": ["email"] },
                 { "id": "done", "type": "exit" } ] }
  ]
}"#;

/// The test journeys compiled (for a browser-side engine).
pub fn engine() -> Engine {
    Engine::new(waymark::server::journeys::compile_json(JOURNEYS).unwrap())
}

/// Where a test's database lives.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl TestDb {
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!("sqlite://{}", dir.path().join("waymark.db").display()),
            TestDb::Postgres(url) => url.clone(),
        }
    }
}

pub fn sqlite() -> TestDb {
    TestDb::Sqlite(tempfile::tempdir().unwrap())
}

/// The test cluster's base URL (`WAYMARK_TEST_PG`, set by scripts/pg-test.sh), if one runs.
pub fn postgres_cluster() -> Option<String> {
    std::env::var("WAYMARK_TEST_PG").ok().filter(|url| !url.is_empty())
}

/// A fresh database on the test cluster. Panics without one: a Postgres test checks
/// [`postgres_cluster`] first and reports itself ignored (tests/server_postgres.rs).
pub async fn postgres(name: &str) -> TestDb {
    let base = postgres_cluster().expect("WAYMARK_TEST_PG (scripts/test.sh server sets it)");
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
    let db = format!("t_{}_{}", name, std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db}")).execute(&mut conn).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut conn).await.unwrap();
    TestDb::Postgres(format!("{base}/{db}"))
}

pub fn settings(db: &TestDb) -> Settings {
    let mut s = Settings::new(&db.url(), ADMIN, SECRET);
    s.background = false;
    s.delivery.webhook_secret = WEBHOOK_SECRET.into();
    s.delivery.retry_base = std::time::Duration::from_secs(60);
    // Tests drive one shopper far harder than a storefront would (racing syncs, floods of
    // one state): the per-shopper rate limit is off here, and on in the tests of it
    // (server_api's rate-limit test, the bad-input suite).
    s.shopper_rate = waymark::server::limit::RateLimit::OFF;
    s
}

/// A server with the test journeys published, driven by a manual clock at `t0`.
pub async fn server_with(settings: Settings, clock: &Clock) -> Server {
    let server = Server::start(settings, clock.clone()).await.unwrap();
    let (status, _, body) = call(
        &server.router(),
        Request::put("/v1/bundle")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/json")
            .body(Body::from(JOURNEYS))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    server
}

pub async fn call(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
    (status, headers, body)
}

pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

pub async fn admin_json(
    router: &Router,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let (status, _, bytes) = call(
        router,
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await;
    (status, if bytes.is_empty() { serde_json::Value::Null } else { json(&bytes) })
}

/// A shopper token from `POST /v1/token`.
pub async fn token(router: &Router, anonymous: &str, customer: Option<&str>) -> String {
    let mut body = serde_json::json!({ "anonymous_id": anonymous });
    if let Some(c) = customer {
        body["customer_id"] = c.into();
    }
    let (status, answer) = admin_json(router, "POST", "/v1/token", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

/// `POST /v1/sync` of a state; returns the status and the body.
pub async fn sync_raw(router: &Router, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let mut request = Request::post("/v1/sync").header("content-type", "application/octet-stream");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let (status, _, bytes) = call(router, request.body(Body::from(body)).unwrap()).await;
    (status, bytes)
}

/// Syncs and decodes the merged state.
pub async fn sync(router: &Router, token: &str, state: &ShopperState) -> ShopperState {
    let (status, bytes) = sync_raw(router, Some(token), state.encode()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    ShopperState::decode(&bytes).unwrap()
}

/// A browser: its own engine and state, synced with the server.
pub struct Browser {
    pub engine: Engine,
    pub state: ShopperState,
    pub token: String,
}

impl Browser {
    pub async fn new(router: &Router, anonymous: &str, email: &str) -> Browser {
        let mut state = ShopperState::new(anonymous);
        state.set_consent(waymark::journey::Channel::Email, true, t0());
        state.set_trait("email", email.into(), t0()).unwrap();
        Browser { engine: engine(), state, token: token(router, anonymous, None).await }
    }

    pub fn track(&mut self, name: &str, time: Timestamp) -> Vec<waymark::Decision> {
        let event = Event::new(name, time, Default::default());
        self.engine.ingest(&mut self.state, &event, time)
    }

    /// Tracks an event about one item (`item_id`, `item_category`, `price`).
    pub fn track_item(
        &mut self,
        name: &str,
        time: Timestamp,
        item: &str,
        category: &str,
        price: f64,
    ) -> Vec<waymark::Decision> {
        let mut line = waymark::Map::new();
        line.insert("item_id".into(), item.into());
        line.insert("item_category".into(), category.into());
        line.insert("price".into(), price.into());
        let mut properties = waymark::Map::new();
        properties.insert("items".into(), waymark::Value::Array(vec![waymark::Value::Object(line)]));
        let event = Event::new(name, time, properties);
        self.engine.ingest(&mut self.state, &event, time)
    }

    pub async fn sync(&mut self, router: &Router) {
        self.state = sync(router, &self.token, &self.state).await;
    }
}

/// A real SMTP server (aiosmtpd) on a loopback port, recording what it receives.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::spawn(&[], 0)
    }

    /// A sink that holds each message `delay_ms` after recording it, before its `250`: a
    /// send in flight that the receiver already has.
    pub fn start_slow(delay_ms: u64) -> SmtpSink {
        SmtpSink::spawn(&[], delay_ms)
    }

    /// A sink speaking TLS: `mode` is `starttls` or `smtps`; `cert` / `key` are PEM files.
    pub fn start_tls(mode: &str, cert: &std::path::Path, key: &std::path::Path) -> SmtpSink {
        SmtpSink::spawn(&[mode.as_ref(), cert.as_os_str(), key.as_os_str()], 0)
    }

    fn spawn(tls: &[&std::ffi::OsStr], delay_ms: u64) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mail.jsonl");
        let port = free_port();
        let python = std::env::var("WAYMARK_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(&file)
            .args(tls)
            .env("SMTP_SINK_DELAY_MS", delay_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd; scripts/test.sh server installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start (is aiosmtpd installed?)");
        SmtpSink { child, port, file, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Messages received so far.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Recipients of what arrived, in order.
    pub fn recipients(&self) -> Vec<String> {
        self.messages()
            .iter()
            .flat_map(|m| m["to"].as_array().unwrap().clone())
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One recorded webhook call: headers, JSON body, raw body.
pub type HookCall = (HeaderMap, serde_json::Value, Vec<u8>);

/// A webhook receiver on loopback: records each call's headers and JSON body; answers
/// 500 to the first `fail_first` calls.
#[derive(Clone)]
pub struct Hooks {
    pub calls: Arc<Mutex<Vec<HookCall>>>,
    fail_first: Arc<Mutex<usize>>,
    pub url: String,
}

impl Hooks {
    pub async fn start(fail_first: usize) -> Hooks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let hooks = Hooks { calls: Arc::default(), fail_first: Arc::new(Mutex::new(fail_first)), url };
        let h = hooks.clone();
        let app = Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let h = h.clone();
                async move {
                    let mut fail = h.fail_first.lock().unwrap();
                    if *fail > 0 {
                        *fail -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    h.calls.lock().unwrap().push((headers, value, body.to_vec()));
                    StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        hooks
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.calls.lock().unwrap().iter().map(|(_, v, _)| v.clone()).collect()
    }
}

/// Number of outbox rows with a status.
pub async fn outbox_count(server: &Server, status: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status = $1")
        .bind(status.to_owned())
        .fetch_one(server.state.inner().db.reader())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}
pub mod audiences;
pub mod cases;
pub mod catalog;
pub mod catalog_emails;
pub mod harness;
pub mod intent_sessions;
pub mod mix;
pub mod orders;
pub mod scenarios;
