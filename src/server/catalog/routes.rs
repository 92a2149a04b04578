//! The catalog's HTTP routes (admin): `PUT /v1/catalog` (full replace) and `PATCH
//! /v1/catalog` (upsert) take a feed as the body, its format from `?format=` or the
//! `Content-Type`, within `--catalog-body-limit`; they answer 200 with the import report,
//! rejected rows included. `GET /v1/catalog/items/{id}` answers one item with its recent
//! history. Checked in this order: admin token, query, content type, body, feed.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{put, MethodRouter};
use axum::Json;

use super::errors::{FeedError, ImportError, StoreError};
use super::feed::{self, Format, MediaType};
use super::item::MAX_ID_BYTES;
use super::read;
use super::store::{self, ImportMode};
use crate::server::app::AppState;
use crate::server::auth;
use crate::server::error::{body_rejection, ApiError};
use crate::server::trigger_jobs;
use crate::server::triggers::FanoutReport;

/// Most changes listed in an HTTP report (the counts are always whole; the Rust API
/// returns every change).
pub const MAX_REPORTED_CHANGES: usize = 1000;

/// History rows `GET /v1/catalog/items/{id}` shows.
pub const HISTORY_SHOWN: usize = 50;

/// `PUT` and `PATCH /v1/catalog`, with their own body limit (feeds are larger than the
/// other admin bodies).
pub fn import_route(body_limit: usize) -> MethodRouter<AppState> {
    put(put_catalog).patch(patch_catalog).layer(DefaultBodyLimit::max(body_limit))
}

async fn put_catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    import(&state, &headers, query.as_deref(), body, ImportMode::Replace).await
}

async fn patch_catalog(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    import(&state, &headers, query.as_deref(), body, ImportMode::Patch).await
}

async fn import(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Result<Bytes, BytesRejection>,
    mode: ImportMode,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = state.inner();
    auth::admin(headers, &s.settings.admin_token)?;
    let asked = format_param(query)?;
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
    let stated =
        match (asked, Format::from_media_type(content_type)) {
            (Some(format), _) => Some(format),
            (None, MediaType::Format(format)) => Some(format),
            (None, MediaType::Sniff) => None,
            (None, MediaType::Unsupported) => return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the feed as application/rss+xml (or application/xml, text/xml), text/tab-separated-values or \
                 application/x-ndjson, or name its format with ?format=xml|tsv|jsonl",
            )),
        };
    let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let format = stated.or_else(|| Format::sniff(&body)).ok_or_else(|| feed_error(&FeedError::UnknownFormat))?;
    let parsed = feed::parse(&body, format).map_err(|e| feed_error(&e))?;
    let report = store::import(&s.db, &parsed, mode, s.clock.now()).await.map_err(import_error)?;
    s.recommender.invalidate().await;
    tracing::info!(
        mode = mode.as_str(),
        format = format.as_str(),
        loaded = report.counts.loaded,
        rejected = report.counts.rejected,
        changes = report.changes.len(),
        "catalog imported"
    );
    // The import's price drops, restocks and new arrivals (its trigger job), as entry
    // events on the shoppers they concern, now, so the answer says who was reached. A job
    // another replica already runs, or one that fails here, is finished by the background
    // loop (crate::server::trigger_jobs).
    let fanned = match report.job {
        Some(job) => trigger_jobs::run_one(&s.db, &s.writer, job, s.clock.now()).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.code(),
                format!("the catalog was imported and its triggers are queued (job {job}); {e}"),
            )
        })?,
        None => Some(FanoutReport::default()),
    };
    let mut answer = report.to_json(format, MAX_REPORTED_CHANGES);
    if let Some(object) = answer.as_object_mut() {
        let triggered = match &fanned {
            Some(report) => serde_json::to_value(report).unwrap_or_default(),
            None => serde_json::json!({ "queued": report.job }),
        };
        object.insert("triggered".into(), triggered);
    }
    Ok(Json(answer))
}

/// `?format=xml|tsv|jsonl`; any other parameter is a mistake worth naming.
fn format_param(query: Option<&str>) -> Result<Option<Format>, ApiError> {
    let mut format = None;
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "format" {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown query parameter {name:?}: only format"),
            ));
        }
        format = Some(Format::from_name(value).ok_or_else(|| {
            ApiError::bad_request("invalid_format", format!("format={value:?}: use xml, tsv or jsonl"))
        })?);
    }
    Ok(format)
}

/// A feed that cannot be read: 400 for a syntax fault, 422 otherwise.
fn feed_error(e: &FeedError) -> ApiError {
    let status = match e {
        FeedError::MalformedXml { .. } | FeedError::MalformedTsv { .. } | FeedError::UnknownFormat => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::Feed(e) => feed_error(&e),
        ImportError::NoValidRows { rejected, errors } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_valid_rows",
            format!("none of the {rejected} rows can be imported; the catalog is unchanged"),
        )
        .with_details(serde_json::json!({ "errors": errors.iter().map(|e| e.to_json()).collect::<Vec<_>>() })),
        ImportError::Store(e) => store_error(e),
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Corrupt { .. } => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.code(), e.to_string()),
        other => ApiError::storage(other),
    }
}

/// `GET /v1/catalog/items/{id}` (admin): the stored item, whether it is available now,
/// and its newest history rows.
pub async fn get_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = state.inner();
    auth::admin(&headers, &s.settings.admin_token)?;
    let Path(id) = id.map_err(|r| ApiError::bad_request("invalid_path", r.body_text()))?;
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_id",
            format!("an item id has 1 to {MAX_ID_BYTES} bytes"),
        ));
    }
    let Some(stored) = read::item(&s.db, &id).await.map_err(store_error)? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_item", format!("no item {id:?} in the catalog")));
    };
    let history = read::history(&s.db, &id, HISTORY_SHOWN).await.map_err(store_error)?;
    let history: Vec<serde_json::Value> = history
        .iter()
        .map(|h| {
            serde_json::json!({
                "at": h.at.to_rfc3339(),
                "price_hundredths": h.price_hundredths,
                "currency": h.currency,
                "availability": h.availability.map_or("removed", |a| a.as_str()),
            })
        })
        .collect();
    let mut item = serde_json::to_value(&stored.item).map_err(|e| ApiError::storage(e.to_string()))?;
    if let Some(obj) = item.as_object_mut() {
        obj.insert("effective_price_hundredths".into(), stored.item.effective_price_hundredths().into());
        obj.insert("available".into(), stored.is_available().into());
        obj.insert("first_seen".into(), stored.first_seen.to_rfc3339().into());
        obj.insert("updated_at".into(), stored.updated_at.to_rfc3339().into());
        obj.insert("removed_at".into(), stored.removed_at.map(|t| t.to_rfc3339()).into());
        obj.insert("history".into(), history.into());
    }
    Ok(Json(item))
}
