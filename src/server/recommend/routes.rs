//! `GET /v1/recommendations`: products to show, as cards with the reason each was chosen.
//! `item=` anchors on one product (public: what goes with it says nothing of a shopper);
//! `shopper=` (admin) blends from that shopper's interest memory; `q=` searches the
//! catalog. Bought and out-of-stock items are never returned.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;

use crate::server::app::AppState;
use crate::server::auth;
use crate::server::error::ApiError;
use crate::server::storage::{anon_key, customer_key};

/// The most cards one answer holds.
pub const MAX_K: usize = 50;

/// The query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendationQuery {
    shopper: Option<String>,
    item: Option<String>,
    q: Option<String>,
    k: Option<usize>,
}

/// The handler.
pub async fn recommendations(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RecommendationQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let s = state.inner();
    let Query(query) = query.map_err(|r| ApiError::bad_request("invalid_query", r.body_text()))?;
    let k = query.k.unwrap_or(4);
    if k == 0 || k > MAX_K {
        return Err(ApiError::bad_request("invalid_k", format!("k is 1 to {MAX_K}, found {k}")));
    }
    let now = s.clock.now();
    let interests = match &query.shopper {
        Some(id) => {
            auth::admin(&headers, &s.settings.admin_token)?;
            let mut found = s.db.state_by_alias(&customer_key(id)).await.map_err(ApiError::storage)?;
            if found.is_none() {
                found = s.db.state_by_alias(&anon_key(id)).await.map_err(ApiError::storage)?;
            }
            Some(found.map(|(_, state)| state.interests).unwrap_or_default())
        }
        None => None,
    };
    let recommender = &s.recommender;
    let (basis, cards) = match (&query.item, &query.q, &interests) {
        (Some(item), _, _) => {
            ("item", recommender.for_item(&s.db, item, interests.as_ref(), k, now).await.map_err(ApiError::storage)?)
        }
        (None, Some(term), _) => ("search", recommender.search(&s.db, term, k, now).await.map_err(ApiError::storage)?),
        (None, None, Some(interests)) => {
            ("shopper", recommender.for_shopper(&s.db, interests, k, now).await.map_err(ApiError::storage)?)
        }
        (None, None, None) => {
            return Err(ApiError::bad_request(
                "missing_anchor",
                "name what to recommend for: item=<item id>, q=<search term> or shopper=<shopper id> (admin)",
            ))
        }
    };
    Ok(Json(serde_json::json!({ "basis": basis, "items": cards })))
}
