//! `POST /v1/orders` (admin): a shop's past orders, as JSON lines
//! (`application/x-ndjson`) or CSV (`text/csv`), or named with `?format=jsonl|csv`.
//! Answers the counts and each skipped row's line, field, code and message; 422 when no
//! row can be loaded (nothing changed).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{post, MethodRouter};
use axum::Json;

use super::backfill::{self, BackfillError, Format};
use crate::server::app::AppState;
use crate::server::auth;
use crate::server::error::{body_rejection, ApiError};

/// The route, with its own body limit (the catalog's: order files are as large as feeds).
pub fn backfill_route(body_limit: usize) -> MethodRouter<AppState> {
    post(post_orders).layer(DefaultBodyLimit::max(body_limit))
}

async fn post_orders(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = state.inner();
    auth::admin(&headers, &s.settings.admin_token)?;
    let format = format_of(query.as_deref(), &headers)?;
    let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let parsed = backfill::parse(&body, format).map_err(|e| {
        let error = ApiError::new(StatusCode::BAD_REQUEST, e.code(), format!("{e}; nothing was loaded"));
        match &e {
            BackfillError::NoValidRows { errors, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), format!("{e}; nothing was loaded"))
                    .with_details(serde_json::to_value(errors).unwrap_or_default())
            }
            _ => error,
        }
    })?;
    let loaded = backfill::load(&s.db, &parsed.orders, s.clock.now()).await.map_err(ApiError::storage)?;
    tracing::info!(rows = parsed.rows, loaded = loaded.loaded, rejected = parsed.rejected, "orders backfilled");
    Ok(Json(serde_json::json!({
        "format": format,
        "rows": parsed.rows,
        "loaded": loaded.loaded,
        "rejected": parsed.rejected,
        "errors": parsed.errors,
        "errors_truncated": parsed.rejected > parsed.errors.len(),
    })))
}

fn format_of(query: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(pair) = query.unwrap_or_default().split('&').find(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "format" {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown query parameter {name:?}: only format"),
            ));
        }
        return Format::from_name(value)
            .ok_or_else(|| ApiError::bad_request("invalid_format", format!("format={value:?}: use jsonl or csv")));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    Format::from_media_type(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send orders as application/x-ndjson or text/csv, or name the format with ?format=jsonl|csv",
        )
    })
}
