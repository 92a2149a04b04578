//! Which browser origins may call the shopper routes (`POST /v1/sync`,
//! `POST /v1/sync/beacon`, `GET /v1/bundle`, and the public kinds of
//! `GET /v1/recommendations`: `item=`, `q=`) from a storefront on another origin.
//!
//! Shopper calls authenticate with a bearer token the page holds, never with cookies, so
//! a page on a foreign origin gains nothing it did not already have: the default (`*`)
//! allows any origin, echoed back with `Vary: Origin`, never with credentials. `--cors-origins https://shop.example,…` narrows
//! it to a list. Admin routes never get CORS headers, so a browser cannot call them
//! from another origin.

use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The routes a storefront's pages call.
pub const SHOPPER_ROUTES: [&str; 4] = ["/v1/sync", "/v1/sync/beacon", "/v1/bundle", RECOMMENDATIONS];

/// Products to show: public with `item=` or `q=`, admin with `shopper=`.
const RECOMMENDATIONS: &str = "/v1/recommendations";

/// Query parameters of the public recommendations; a query with any other (`shopper=`,
/// an admin call, or a key written in percent-escapes) gets no CORS answer.
const PUBLIC_RECOMMENDATION_PARAMS: [&str; 3] = ["item", "q", "k"];

/// Whether a page on another origin may make this request: a shopper route and, for
/// recommendations, only their public kinds.
fn shopper_request(request: &Parts) -> bool {
    let path = request.uri.path();
    if !SHOPPER_ROUTES.contains(&path) {
        return false;
    }
    path != RECOMMENDATIONS
        || request.uri.query().unwrap_or("").split('&').filter(|pair| !pair.is_empty()).all(|pair| {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            PUBLIC_RECOMMENDATION_PARAMS.contains(&key)
        })
}

/// How long a browser may cache a preflight answer, seconds.
const PREFLIGHT_MAX_AGE_SECS: u64 = 600;

/// Origins allowed on the shopper routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`*`), the default.
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
    /// No cross-origin calls: the storefront proxies the backend on its own origin.
    Off,
}

impl CorsOrigins {
    /// Reads the `--cors-origins` list: `*`, `off`, or origins such as
    /// `https://shop.example`. The error names the entry to fix.
    pub fn parse(entries: &[String]) -> Result<CorsOrigins, String> {
        let entries: Vec<&str> = entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()).collect();
        match entries.as_slice() {
            [] | ["*"] => return Ok(CorsOrigins::Any),
            ["off"] => return Ok(CorsOrigins::Off),
            _ => {}
        }
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            origins.push(check_origin(entry)?);
        }
        Ok(CorsOrigins::List(origins))
    }

    /// The layer for the whole router, or none when cross-origin calls are off. It answers
    /// preflights itself and allows an origin only on the shopper routes, so every other
    /// route's answers carry no `Access-Control-Allow-Origin`.
    pub fn layer(&self) -> Option<CorsLayer> {
        let allowed: Option<Vec<HeaderValue>> = match self {
            CorsOrigins::Off => return None,
            CorsOrigins::Any => None,
            CorsOrigins::List(list) => Some(list.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect()),
        };
        let allow = AllowOrigin::predicate(move |origin: &HeaderValue, request: &Parts| {
            shopper_request(request) && allowed.as_ref().is_none_or(|list| list.contains(origin))
        });
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_NONE_MATCH])
                .expose_headers([header::ETAG, header::RETRY_AFTER])
                .max_age(std::time::Duration::from_secs(PREFLIGHT_MAX_AGE_SECS)),
        )
    }
}

/// An origin as browsers send it: `http` or `https`, a host, an optional port, nothing else.
fn check_origin(entry: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!("--cors-origins (WAYMARK_CORS_ORIGINS): {entry:?} {why}; write origins as https://shop.example or http://127.0.0.1:8000, or * for any")
    };
    let rest = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))
        .ok_or_else(|| bad("does not start with http:// or https://"))?;
    if rest.is_empty() {
        return Err(bad("has no host"));
    }
    if rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return Err(bad("has a path: an origin is scheme, host and port only"));
    }
    if !rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')) {
        return Err(bad("has characters a host cannot have"));
    }
    if HeaderValue::from_str(entry).is_err() {
        return Err(bad("cannot be a header value"));
    }
    // Browsers send the origin in lower case.
    Ok(entry.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<CorsOrigins, String> {
        CorsOrigins::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn default_and_star_allow_any_origin() {
        assert_eq!(parse(&[]), Ok(CorsOrigins::Any));
        assert_eq!(parse(&["*"]), Ok(CorsOrigins::Any));
        assert_eq!(parse(&["off"]), Ok(CorsOrigins::Off));
        assert!(CorsOrigins::Off.layer().is_none());
    }

    #[test]
    fn lists_keep_origins_in_lower_case() {
        assert_eq!(
            parse(&["https://Shop.Example", " http://127.0.0.1:8000 "]),
            Ok(CorsOrigins::List(vec!["https://shop.example".into(), "http://127.0.0.1:8000".into()]))
        );
    }

    #[test]
    fn bad_origins_name_the_entry() {
        for (entry, why) in [
            ("shop.example", "does not start with"),
            ("https://shop.example/", "has a path"),
            ("https://", "has no host"),
            ("https://shop example", "characters"),
        ] {
            let e = parse(&["https://ok.example", entry]).unwrap_err();
            assert!(e.contains(&format!("{entry:?}")) && e.contains(why), "{entry}: {e}");
        }
        assert!(parse(&["*", "https://a.example"]).unwrap_err().contains("\"*\""));
    }
}
