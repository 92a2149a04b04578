//! The bad-input suite: every case of `tests/cases/bad_input.json` (endpoint, method,
//! headers, body, expected status and error code) sent through the router with `oneshot`.
//! Each answer must have the expected status; every error must be JSON
//! `{"error": {"code", "message"}}` with the expected code; no case may answer 5xx.
//! The run prints a table (endpoint × cases and statuses): `cargo test --features server
//! --test server_bad_input -- --nocapture`.
//!
//! Case fields: `name`, `method`, `path`, `headers` (values may name a credential:
//! `{shopper}`, `{other}`, `{forged}`, `{tampered}`, `{expired}`, `{admin}`, `{flood}`),
//! `body` (text, `{"text"}`, `{"hex"}`, `{"base64"}`, `{"gen": "name:arg"}` or an array of
//! these, concatenated), `repeat` (send that many times, check the last), and `expect`
//! `{"status", "code"}` (`code` absent for a success).
#![cfg(feature = "server")]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

mod support;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use serde::Deserialize;
use support::*;
use waymark::server::auth::{self, Claims};
use waymark::server::clock::Clock;
use waymark::server::limit::RateLimit;
use waymark::ShopperState;

/// The shopper most cases speak for, and a second one.
const SHOPPER: &str = "bi-a1";
const OTHER: &str = "bi-b1";
const FLOOD: &str = "bi-flood";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<BodySpec>,
    #[serde(default)]
    repeat: Option<usize>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BodySpec {
    Text(String),
    Part(Part),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Part {
    Text(String),
    Hex(String),
    Base64(String),
    Gen(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: u16,
    #[serde(default)]
    code: Option<String>,
}

/// The credentials the cases name.
struct Credentials(BTreeMap<&'static str, String>);

impl Credentials {
    fn new() -> Credentials {
        let secret = SECRET.as_bytes();
        let later = t0().0 + 24 * 3600 * 1000;
        let issue = |sub: &str, secret: &[u8], exp: i64| {
            auth::issue(secret, &Claims { sub: sub.into(), cid: None, exp }).unwrap()
        };
        let shopper = issue(SHOPPER, secret, later);
        // The payload of another shopper's token with this shopper's signature.
        let victim = issue(OTHER, b"another-secret-0123456789", later);
        let tampered = format!("{}.{}", victim.rsplit_once('.').unwrap().0, shopper.rsplit_once('.').unwrap().1);
        let mut map = BTreeMap::new();
        map.insert("shopper", shopper);
        map.insert("other", issue(OTHER, secret, later));
        map.insert("forged", issue(SHOPPER, b"not-the-server-secret-0123", later));
        map.insert("tampered", tampered);
        map.insert("expired", issue(SHOPPER, secret, t0().0 - 1));
        map.insert("flood", issue(FLOOD, secret, later));
        map.insert("admin", ADMIN.to_owned());
        Credentials(map)
    }

    fn fill(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.0 {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

/// A valid state of `id` with a few traits (so truncations cut into real fields).
fn state_of(id: &str) -> Vec<u8> {
    let mut s = ShopperState::new(id);
    s.set_trait("email", format!("{id}@example.com").into(), t0()).unwrap();
    s.set_trait("tier", "gold".into(), t0()).unwrap();
    s.set_consent(waymark::journey::Channel::Email, true, t0());
    s.encode()
}

/// Bytes that look random but are the same every run.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn bundle_bytes() -> Vec<u8> {
    waymark::server::journeys::compile_json(JOURNEYS).unwrap().to_bytes()
}

fn event_json(i: usize) -> String {
    format!(r#"{{"id":"bi-bulk-{i}","anonymous_id":"bi-bulk","name":"page_view"}}"#)
}

/// A named generator: `name` or `name:arg`.
fn generate(spec: &str) -> Vec<u8> {
    let (name, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let n = || arg.parse::<usize>().unwrap_or_else(|_| panic!("generator {spec}: a count after ':'"));
    let version = waymark::state::STATE_VERSION;
    match name {
        "state" => state_of(if arg.is_empty() { SHOPPER } else { arg }),
        "state_truncated" => {
            let s = state_of(SHOPPER);
            s[..s.len() - 3].to_vec()
        }
        "state_trailing" => [state_of(SHOPPER), vec![0, 0]].concat(),
        "state_future_version" => {
            let mut s = state_of(SHOPPER);
            s[0] = 0x7f;
            s
        }
        // A varint of 11 continuation bytes: longer than any u64.
        "varint_overlong" => [vec![version], vec![0xff; 11], vec![0x01]].concat(),
        // A sequence length of about 2^35 followed by a handful of bytes.
        "huge_length" => [vec![version], vec![0xff, 0xff, 0xff, 0xff, 0x7f], b"abc".to_vec()].concat(),
        "random_state" => [vec![version], noise(n(), 0x9e37_79b9_7f4a_7c15)].concat(),
        "random" => noise(n(), 0x2545_f491_4f6c_dd1d),
        "bytes" => vec![0x01; n()],
        "deep_json" => ["[".repeat(n()), "]".repeat(n())].concat().into_bytes(),
        "deep_xml" => "<a>".repeat(n()).into_bytes(),
        "deep_object" => ["{\"a\":".repeat(n()), "1".into(), "}".repeat(n())].concat().into_bytes(),
        "long_string" => "a".repeat(n()).into_bytes(),
        "events" => format!("[{}]", (0..n()).map(event_json).collect::<Vec<_>>().join(",")).into_bytes(),
        "invalid_utf8" => vec![0xff, 0xfe, 0xfd, 0xc3, 0x28],
        "bundle" => bundle_bytes(),
        "bundle_truncated" => {
            let b = bundle_bytes();
            b[..b.len() / 2].to_vec()
        }
        "bundle_future_version" => {
            let mut b = bundle_bytes();
            b[0] = 0x7f;
            b
        }
        "bundle_varint_overlong" => [bundle_bytes()[..1].to_vec(), vec![0xff; 11], vec![0x01]].concat(),
        other => panic!("unknown generator {other:?}"),
    }
}

fn part_bytes(part: &Part, creds: &Credentials) -> Vec<u8> {
    match part {
        Part::Text(t) => creds.fill(t).into_bytes(),
        Part::Hex(h) => (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {h:?}")))
            .collect(),
        Part::Base64(b) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
        Part::Gen(g) => generate(g),
    }
}

fn body_bytes(spec: &Option<BodySpec>, creds: &Credentials) -> Vec<u8> {
    match spec {
        None => Vec::new(),
        Some(BodySpec::Text(t)) => creds.fill(t).into_bytes(),
        Some(BodySpec::Part(p)) => part_bytes(p, creds),
        Some(BodySpec::Parts(parts)) => parts.iter().flat_map(|p| part_bytes(p, creds)).collect(),
    }
}

fn request(case: &Case, creds: &Credentials) -> Request<Body> {
    let mut builder = Request::builder().method(case.method.as_str()).uri(case.path.as_str());
    for (name, value) in &case.headers {
        // Header values are taken as bytes, so a case can send non-ASCII (obs-text).
        let value = axum::http::HeaderValue::from_bytes(creds.fill(value).as_bytes())
            .unwrap_or_else(|e| panic!("{}: header {name}: {e}", case.name));
        builder = builder.header(name.as_str(), value);
    }
    builder.body(Body::from(body_bytes(&case.body, creds))).unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

/// The row of the table a case counts in: method and path, ids and queries folded.
fn endpoint(case: &Case) -> String {
    let path = case.path.split('?').next().unwrap_or_default();
    let known = ["/v1/sync", "/v1/sync/beacon", "/v1/bundle", "/v1/events", "/v1/suppression/check", "/v1/token"];
    let path = if path.starts_with("/v1/shoppers/") && path.len() > "/v1/shoppers/".len() {
        "/v1/shoppers/{id}".to_owned()
    } else if path.starts_with("/v1/catalog/items/") && path.len() > "/v1/catalog/items/".len() {
        "/v1/catalog/items/{id}".to_owned()
    } else if known.contains(&path) || ["/v1/analytics", "/v1/catalog", "/healthz", "/metrics"].contains(&path) {
        path.to_owned()
    } else {
        "(unknown routes)".to_owned()
    };
    format!("{} {path}", case.method)
}

/// Checks one answer against the case; the problem found, if any.
fn check(case: &Case, status: u16, content_type: &str, retry_after: Option<&str>, body: &[u8]) -> Option<String> {
    if status >= 500 {
        return Some(format!("answered {status} (no case may answer 5xx): {}", String::from_utf8_lossy(body)));
    }
    if status != case.expect.status {
        return Some(format!("status {status}, expected {}: {}", case.expect.status, String::from_utf8_lossy(body)));
    }
    if status < 400 {
        return case.expect.code.as_ref().map(|c| format!("answered {status}, expected error code {c}"));
    }
    if !content_type.starts_with("application/json") {
        return Some(format!("error answered as {content_type:?}, not JSON: {}", String::from_utf8_lossy(body)));
    }
    let Ok(answer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Some(format!("error body is not JSON: {}", String::from_utf8_lossy(body)));
    };
    let code = answer["error"]["code"].as_str();
    if code.is_none() || !answer["error"]["message"].is_string() {
        return Some(format!("error body lacks error.code / error.message: {answer}"));
    }
    if status == 429 && retry_after.and_then(|v| v.parse::<u64>().ok()).is_none_or(|s| s == 0) {
        return Some(format!("429 without a Retry-After of whole seconds: {retry_after:?}"));
    }
    match &case.expect.code {
        Some(expected) if Some(expected.as_str()) != code => {
            Some(format!("code {code:?}, expected {expected:?}: {answer}"))
        }
        None => Some(format!("error {code:?} but the case gives no expected code")),
        _ => None,
    }
}

#[tokio::test]
async fn every_bad_input_answers_its_status_and_code() {
    let path = cases::case_file("bad_input.json");
    let suite: Suite = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(suite.cases.len() >= 80, "the suite keeps at least 80 cases ({} now)", suite.cases.len());
    let db = sqlite();
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    // The body limit a real server runs with; the per-shopper rate limit on, at the
    // default rate with room for the suite's own 50-odd syncs of one shopper (the flood
    // case goes past it).
    let defaults = waymark::server::config::Settings::new(&db.url(), ADMIN, SECRET);
    st.body_limit = defaults.body_limit;
    st.shopper_rate = RateLimit { per_second: defaults.shopper_rate.per_second, burst: 100 };
    let server = server_with(st, &clock).await;
    let router = server.router();
    let creds = Credentials::new();

    let mut failures = Vec::new();
    // endpoint -> status -> count
    let mut table: BTreeMap<String, BTreeMap<u16, usize>> = BTreeMap::new();
    let mut names = std::collections::BTreeSet::new();
    for case in &suite.cases {
        assert!(names.insert(case.name.as_str()), "two cases are named {:?}", case.name);
        for _ in 1..case.repeat.unwrap_or(1) {
            let (status, _, body) = call(&router, request(case, &creds)).await;
            if status.is_server_error() {
                failures.push(format!("{}: a repeat answered {status}: {}", case.name, String::from_utf8_lossy(&body)));
            }
        }
        let (status, headers, body) = call(&router, request(case, &creds)).await;
        let header = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
        let content_type = header(axum::http::header::CONTENT_TYPE).unwrap_or("").to_owned();
        let retry_after = header(axum::http::header::RETRY_AFTER).map(str::to_owned);
        if let Some(problem) = check(case, status.as_u16(), &content_type, retry_after.as_deref(), &body) {
            failures.push(format!("{}: {problem}", case.name));
        }
        *table.entry(endpoint(case)).or_default().entry(status.as_u16()).or_default() += 1;
    }

    let statuses: std::collections::BTreeSet<u16> = table.values().flat_map(|m| m.keys().copied()).collect();
    let mut out = format!("\nbad-input suite: {} cases\n\n| endpoint | cases |", suite.cases.len());
    for s in &statuses {
        out.push_str(&format!(" {s} |"));
    }
    out.push_str(&format!("\n|---|---|{}\n", "---|".repeat(statuses.len())));
    for (endpoint, counts) in &table {
        out.push_str(&format!("| {endpoint} | {} |", counts.values().sum::<usize>()));
        for s in &statuses {
            out.push_str(&format!(" {} |", counts.get(s).map(|n| n.to_string()).unwrap_or_default()));
        }
        out.push('\n');
    }
    let five = table.values().flat_map(|m| m.iter()).filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum::<usize>();
    out.push_str(&format!("\n5xx answers: {five}; mismatches: {}\n", failures.len()));
    println!("{out}");
    server.shutdown().await;
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), suite.cases.len(), failures.join("\n"));
}
