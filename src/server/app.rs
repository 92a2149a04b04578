//! The HTTP API: `app(state) -> Router` (tests drive it with `oneshot`, no socket).
//! Handlers are thin: parse and validate input, call the writer / engine / storage,
//! shape the answer. Every failure is an `ApiError` with a stable code; `json_errors`
//! gives the same shape to anything else that answers an error (an extractor, a panic).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::catch_panic::CatchPanicLayer;

use super::auth::{self, Claims};
use super::clock::Clock;
use super::config::Settings;
use super::error::{body_rejection, from_json_rejection, from_panic, json_errors, ApiError};
use super::journeys::{compile_json, Journeys};
use super::limit::ShopperLimit;
use super::metrics::Metrics;
use super::storage::{anon_key, customer_key, Db};
use super::sync::{Done, Identity, ServerEvent, Work, Writer};
use super::{analytics, catalog, inspect, openapi};
use crate::decision::DecisionRecord;
use crate::journey::{Bundle, Channel};
use crate::state::{ShopperState, StateError};
use crate::time::{Duration, Timestamp};
use crate::value::Value;

/// Most events in one `POST /v1/events` batch.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Settings.
    pub settings: Settings,
    /// Database.
    pub db: Db,
    /// Published journeys.
    pub journeys: Journeys,
    /// Group-commit writer.
    pub writer: Writer,
    /// Clock.
    pub clock: Clock,
    /// Metrics.
    pub metrics: Metrics,
    /// Per-shopper rate limit of the sync routes.
    pub limit: ShopperLimit,
    /// Recommendations and catalog search, built from storage on demand.
    pub recommender: Arc<crate::server::recommend::service::Recommender>,
}

impl AppState {
    /// Shared state from its parts.
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }

    /// The parts.
    pub fn inner(&self) -> &Inner {
        &self.0
    }
}

/// The router with every route, limit and middleware: panics become 500 `internal`,
/// latency is measured, and every error answer is JSON (`json_errors`).
pub fn app(state: AppState) -> Router {
    let limit = state.0.settings.body_limit;
    let cors = state.0.settings.cors.layer();
    let router = Router::new()
        .route("/v1/sync", post(sync))
        .route("/v1/sync/beacon", post(sync_beacon))
        .route("/v1/bundle", get(get_bundle).put(put_bundle))
        .route("/v1/events", post(events))
        .route("/v1/suppression/check", post(suppression_check))
        .route("/v1/token", post(token))
        .route("/v1/analytics", get(analytics_report))
        .route("/v1/shoppers/{id}", get(shopper_report))
        .route("/v1/catalog", catalog::routes::import_route(state.0.settings.catalog_body_limit))
        .route("/v1/catalog/items/{id}", get(catalog::routes::get_item))
        .route("/v1/orders", super::orders::routes::backfill_route(state.0.settings.catalog_body_limit))
        .route("/v1/recommendations", get(crate::server::recommend::routes::recommendations))
        .route("/v1/openapi.json", get(openapi_document))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(from_panic))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    // Outermost, so preflights are answered before routing (cors.rs: shopper routes only).
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "other".into());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let class = format!("{}xx", status.as_u16() / 100);
    state.0.metrics.http_seconds.with_label_values(&[route.as_str(), class.as_str()]).observe(elapsed.as_secs_f64());
    tracing::debug!(%method, route, status = status.as_u16(), micros = elapsed.as_micros() as u64, "request");
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint: see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not take that method")
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(from_json_rejection)
}

fn check_id(field: &'static str, id: &str) -> Result<(), ApiError> {
    if auth::valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_id",
            format!("{field}: 1 to {} printable ASCII characters without spaces", auth::MAX_ID_LEN),
        ))
    }
}

fn identity(anonymous: Option<String>, customer: Option<String>) -> Result<Identity, ApiError> {
    if let Some(a) = &anonymous {
        check_id("anonymous_id", a)?;
    }
    if let Some(c) = &customer {
        check_id("customer_id", c)?;
    }
    if anonymous.is_none() && customer.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_shopper",
            "give anonymous_id, customer_id or both",
        ));
    }
    Ok(Identity { anonymous, customer })
}

/// The content types the sync routes take. The body is bytes: `application/octet-stream`;
/// also none (a `fetch` of a typeless `Blob` or a `Uint8Array`) and `text/plain` (what
/// `navigator.sendBeacon` sends for a `text/plain` Blob, and a CORS-simple type). Anything
/// else (JSON, a form, multipart) is a client sending the wrong thing: 415.
fn state_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let value = value.to_str().ok().map(str::trim);
    let essence = value.map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    match (value, essence.as_deref()) {
        (Some(""), _) | (_, Some("application/octet-stream" | "text/plain")) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the state bytes as application/octet-stream",
        )),
    }
}

/// `POST /v1/sync`: postcard state in (shopper token in `Authorization: Bearer`), merged
/// with the stored copy, committed, merged state out. Checked in this order: token, the
/// shopper's rate limit, content type, body.
async fn sync(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let s = &state.0;
    let result = async {
        let claims = auth::shopper(&headers, &s.settings.token_secret, s.clock.now())?;
        s.limit.check(&claims.sub)?;
        state_content_type(&headers)?;
        let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
        merge_state(s, claims, &body).await
    }
    .await;
    match counted_sync(s, result) {
        Ok(merged) => ([(header::CONTENT_TYPE, "application/octet-stream")], merged.encode()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/sync/beacon`: what a page sends with `navigator.sendBeacon` as it is hidden,
/// which cannot set an `Authorization` header: the body is the shopper token, a newline,
/// then the state bytes. Merged and committed as `/v1/sync`; 204, as nobody reads the answer.
async fn sync_beacon(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let s = &state.0;
    let result = async {
        let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
        state_content_type(&headers)?;
        let (token, state_bytes) = split_beacon(&body)?;
        let claims = auth::verify(&s.settings.token_secret, token, s.clock.now())?;
        s.limit.check(&claims.sub)?;
        merge_state(s, claims, state_bytes).await
    }
    .await;
    match counted_sync(s, result) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A beacon body: `<token>\n<state bytes>` (a `\r` before the newline is allowed).
fn split_beacon(body: &[u8]) -> Result<(&str, &[u8]), ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "beacon_malformed",
            "a beacon body is the shopper token, a newline, then the state bytes (as POST /v1/sync takes them)",
        )
    };
    let newline = body.iter().position(|&b| b == b'\n').ok_or_else(malformed)?;
    let (first_line, rest) = body.split_at(newline);
    let token = std::str::from_utf8(first_line).map_err(|_| malformed())?.trim_end_matches('\r');
    if token.is_empty() {
        return Err(ApiError::unauthorized("missing_token", "the beacon body starts with no shopper token"));
    }
    Ok((token, rest.get(1..).unwrap_or_default()))
}

/// How far ahead of the server's clock a synced copy's stamps may be; later ones are
/// moved back to this (a browser's clock may run a little fast, never pin a value).
const SYNC_CLOCK_SKEW: Duration = Duration(5 * crate::time::MINUTE);

/// Merges a synced copy into the stored state of the shopper the claims name. The copy
/// is a shopper's word: see [`ShopperState::decode_synced`] for what it cannot set.
async fn merge_state(s: &Inner, claims: Claims, body: &[u8]) -> Result<Box<ShopperState>, ApiError> {
    let latest = Timestamp(s.clock.now().0.saturating_add(SYNC_CLOCK_SKEW.0));
    let incoming = ShopperState::decode_synced(body, latest).map_err(|e| {
        let status = match e {
            StateError::OverLimit { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            StateError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    })?;
    let identity = Identity { anonymous: Some(claims.sub), customer: claims.cid };
    match s.writer.submit(identity, Work::Sync(Box::new(incoming))).await? {
        Done::State(merged) => Ok(merged),
        _ => Err(ApiError::storage("unexpected writer answer")),
    }
}

/// Counts a sync's outcome in `waymark_syncs_total`.
fn counted_sync<T>(s: &Inner, result: Result<T, ApiError>) -> Result<T, ApiError> {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    s.metrics.syncs.with_label_values(&[outcome]).inc();
    result
}

/// The earliest event time in epoch milliseconds: 0000-01-01T00:00:00Z, as far back as
/// RFC 3339 text reaches.
const EARLIEST_EVENT_MS: f64 = -62_167_219_200_000.0;

/// The latest event time in epoch milliseconds: 9999-12-31T23:59:59.999Z.
const LATEST_EVENT_MS: f64 = 253_402_300_799_999.0;

/// One server-side event as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventInput {
    id: String,
    #[serde(default)]
    anonymous_id: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default)]
    properties: crate::value::Map,
    #[serde(default)]
    traits: crate::value::Map,
    #[serde(default)]
    consent: BTreeMap<String, bool>,
}

fn parse_event(index: usize, raw: serde_json::Value, now: Timestamp) -> Result<(Identity, ServerEvent), ApiError> {
    let at = |e: ApiError| {
        let details = serde_json::json!({ "index": index });
        e.with_details(details)
    };
    let input: EventInput = serde_json::from_value(raw).map_err(|e| {
        at(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", format!("event {index}: {e}")))
    })?;
    check_id("id", &input.id).map_err(at)?;
    let who = identity(input.anonymous_id, input.customer_id).map_err(at)?;
    let time = match &input.time {
        None => now,
        Some(Value::Number(ms)) if (EARLIEST_EVENT_MS..=LATEST_EVENT_MS).contains(ms) => Timestamp(*ms as i64),
        Some(Value::Number(ms)) => {
            return Err(at(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_time",
                format!("event {index}: time: {ms} epoch milliseconds is outside years 0000 to 9999"),
            )))
        }
        Some(Value::String(text)) => Timestamp::parse_rfc3339(text).map_err(|e| {
            at(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), format!("event {index}: time: {e}")))
        })?,
        Some(other) => {
            return Err(at(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_time",
                format!("event {index}: time: expected RFC 3339 text or epoch milliseconds, found {other}"),
            )))
        }
    };
    if input.name.as_deref().is_some_and(|n| n.trim().is_empty() || n.len() > 128) {
        return Err(at(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event_name",
            "name: 1 to 128 characters",
        )));
    }
    let mut consent = BTreeMap::new();
    for (name, granted) in input.consent {
        let channel = Channel::parse(&name).ok_or_else(|| {
            at(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_channel",
                format!("consent.{name}: use onsite, inapp, email, sms, push or ads"),
            ))
        })?;
        consent.insert(channel, granted);
    }
    let event = ServerEvent {
        id: input.id,
        time,
        name: input.name,
        properties: input.properties,
        traits: input.traits,
        consent,
    };
    Ok((who, event))
}

/// `POST /v1/events` (admin): one event object or an array of them, idempotent by `id`.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let s = &state.0;
    auth::admin(&headers, &s.settings.admin_token)?;
    let body = json_body(body)?;
    let raw = match body {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    if raw.is_empty() || raw.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "batch_size",
            format!("send 1 to {MAX_EVENTS_PER_REQUEST} events per request"),
        ));
    }
    let now = s.clock.now();
    let mut jobs = Vec::with_capacity(raw.len());
    let mut ids = Vec::with_capacity(raw.len());
    for (index, item) in raw.into_iter().enumerate() {
        let (who, event) = parse_event(index, item, now)?;
        ids.push((event.id.clone(), who.customer.clone().or(who.anonymous.clone()).unwrap_or_default()));
        jobs.push((who, Work::Event(Box::new(event))));
    }
    let answers = s.writer.submit_many(jobs).await;
    let mut results = Vec::with_capacity(answers.len());
    let mut failed: Option<ApiError> = None;
    for ((id, shopper), answer) in ids.into_iter().zip(answers) {
        let answer = match answer {
            Ok(done) => done,
            Err(e) => {
                // The others are committed: say which went in, so a retry of the array
                // (idempotent by id) is safe and nothing accepted is lost from view.
                results.push(serde_json::json!({ "id": id, "status": "failed", "error": e.body() }));
                failed.get_or_insert(e);
                continue;
            }
        };
        match answer {
            Done::Event { duplicate, decisions, warnings } => {
                s.metrics.events.with_label_values(&[if duplicate { "duplicate" } else { "accepted" }]).inc();
                let records: Vec<DecisionRecord> = decisions.iter().map(|d| DecisionRecord::new(&shopper, d)).collect();
                results.push(serde_json::json!({
                    "id": id,
                    "status": if duplicate { "duplicate" } else { "accepted" },
                    "decisions": records,
                    "warnings": warnings,
                }));
            }
            _ => return Err(ApiError::storage("unexpected writer answer")),
        }
    }
    if let Some(e) = failed {
        return Err(e.with_details(serde_json::json!({ "results": results })));
    }
    Ok(Json(serde_json::json!({ "results": results })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressionCheck {
    #[serde(default)]
    anonymous_id: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
    channel: String,
    #[serde(default)]
    journey: Option<String>,
    /// Record the message as sent when allowed (caps and suppression then see it).
    #[serde(default)]
    record: bool,
}

/// `POST /v1/suppression/check` (admin): may this message go out on this channel now?
async fn suppression_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SuppressionCheck>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = &state.0;
    auth::admin(&headers, &s.settings.admin_token)?;
    let req = json_body(body)?;
    let who = identity(req.anonymous_id, req.customer_id)?;
    let channel = Channel::parse(&req.channel).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_channel",
            "channel: use onsite, inapp, email, sms, push or ads",
        )
    })?;
    let now = s.clock.now();
    let alias = match (&who.customer, &who.anonymous) {
        (Some(c), _) => customer_key(c),
        (None, Some(a)) => anon_key(a),
        (None, None) => String::new(),
    };
    let mut found = s.db.state_by_alias(&alias).await.map_err(ApiError::storage)?;
    if found.is_none() {
        if let (Some(_), Some(a)) = (&who.customer, &who.anonymous) {
            found = s.db.state_by_alias(&anon_key(a)).await.map_err(ApiError::storage)?;
        }
    }
    let known = found.is_some();
    let shopper = found.map(|(_, st)| st).unwrap_or_default();
    let published = s.journeys.current();
    let check = published.engine.may_send(&shopper, channel, req.journey.as_deref(), now);
    if check.allowed && req.record {
        s.writer.submit(who, Work::Contact { channel, journey: req.journey.clone() }).await?;
    }
    Ok(Json(serde_json::json!({
        "decision": if check.allowed { "allow" } else { "suppress" },
        "allowed": check.allowed,
        "reasons": check.reasons.iter().map(|r| r.code()).collect::<Vec<_>>(),
        "known_shopper": known,
        "recorded": check.allowed && req.record,
    })))
}

/// `GET /v1/bundle`: the published bundle bytes with an ETag; 304 on a matching If-None-Match.
async fn get_bundle(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let published = state.0.journeys.current();
    if published.version == 0 {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no_bundle", "no journeys are published yet: PUT /v1/bundle"));
    }
    let etag = HeaderValue::from_str(&published.etag).map_err(|e| ApiError::storage(e.to_string()))?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == published.etag || t.trim() == "*"));
    let cache = HeaderValue::from_static("no-cache");
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache)]).into_response());
    }
    Ok((
        [
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
        ],
        published.bytes.clone(),
    )
        .into_response())
}

/// `PUT /v1/bundle` (admin): JSON journey source (validated, diagnostics on error) or a
/// compiled binary bundle; publishes a new version and keeps the previous ones.
async fn put_bundle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let s = &state.0;
    auth::admin(&headers, &s.settings.admin_token)?;
    let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let bundle = if content_type.starts_with("application/json") {
        let text =
            std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("malformed_json", "the body is not UTF-8"))?;
        compile_json(text)?
    } else if content_type.starts_with("application/octet-stream") {
        Bundle::from_bytes(&body)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send journeys as application/json or a compiled bundle as application/octet-stream",
        ));
    };
    let previous = s.journeys.current().version;
    let published = s.journeys.publish(&s.db, bundle, s.clock.now()).await?;
    tracing::info!(version = published.version, previous, "bundle published");
    Ok(Json(serde_json::json!({
        "version": published.version,
        "previous_version": previous,
        "etag": published.etag,
        "journeys": published.engine.bundle().journeys.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        "bytes": published.bytes.len(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    anonymous_id: String,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

/// `POST /v1/token` (admin): the HMAC shopper token the browser sends with `/v1/sync`.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<TokenRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = &state.0;
    auth::admin(&headers, &s.settings.admin_token)?;
    let req = json_body(body)?;
    check_id("anonymous_id", &req.anonymous_id)?;
    if let Some(c) = &req.customer_id {
        check_id("customer_id", c)?;
    }
    let ttl_ms = req
        .ttl_seconds
        .map(|t| t.clamp(60, 365 * 24 * 3600).saturating_mul(1000))
        .unwrap_or_else(|| u64::try_from(s.settings.token_ttl.as_millis()).unwrap_or(u64::MAX));
    let exp = s.clock.now().0.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
    let claims = Claims { sub: req.anonymous_id, cid: req.customer_id, exp };
    let token = auth::issue(&s.settings.token_secret, &claims)?;
    Ok(Json(serde_json::json!({ "token": token, "expires_at": Timestamp(exp).to_rfc3339() })))
}

/// `GET /v1/analytics` (admin): exit analytics per journey.
async fn analytics_report(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = &state.0;
    auth::admin(&headers, &s.settings.admin_token)?;
    Ok(Json(analytics::report(s.db.reader(), s.clock.now()).await.map_err(ApiError::storage)?))
}

/// `GET /v1/shoppers/{id}` (admin): what the backend holds for a shopper, by anonymous or
/// customer id — pending timers, outbox rows (queued, sent, suppressed, failed) with reasons.
async fn shopper_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = &state.0;
    auth::admin(&headers, &s.settings.admin_token)?;
    let Path(id) = id.map_err(|r| ApiError::bad_request("invalid_path", r.body_text()))?;
    check_id("id", &id)?;
    let mut found = s.db.state_by_alias(&customer_key(&id)).await.map_err(ApiError::storage)?;
    if found.is_none() {
        found = s.db.state_by_alias(&anon_key(&id)).await.map_err(ApiError::storage)?;
    }
    let Some((key, shopper)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_shopper",
            format!("no shopper with anonymous or customer id {id:?} has synced or been sent an event"),
        ));
    };
    let (outbox, suppressed) = inspect::outbox(s.db.reader(), &key).await.map_err(ApiError::storage)?;
    let now = s.clock.now();
    let (score, tier) = s.journeys.current().engine.intent(&shopper, now);
    Ok(Json(serde_json::json!({
        "shopper": key,
        "ids": shopper.ids,
        "state_bytes": shopper.encode().len(),
        "intent": { "score": score, "tier": tier.as_str() },
        "active_journeys": shopper.runs.iter().filter(|r| r.is_active()).map(|r| r.journey.as_str()).collect::<Vec<_>>(),
        "timers": inspect::timers(&shopper),
        "outbox": outbox,
        "suppressed": suppressed,
    })))
}

async fn openapi_document() -> Json<serde_json::Value> {
    Json(openapi::document())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers (a server with no bundle yet is ready: it can take one).
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let s = &state.0;
    s.db.ping().await.map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string()))?;
    let published = s.journeys.current();
    Ok(Json(serde_json::json!({
        "status": "ready",
        "database": if s.db.is_postgres() { "postgres" } else { "sqlite" },
        "bundle_version": published.version,
    })))
}

async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.0.metrics.render()).into_response()
}
