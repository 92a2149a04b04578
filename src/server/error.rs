//! `ApiError`: the one error type every handler returns. It maps to an HTTP status and a
//! JSON body `{"error": {"code", "message", "details"?}}` whose `code` is stable (clients
//! and tests key on it). Bad input is always a 4xx; only storage or delivery trouble is a 5xx.
//! [`json_errors`] turns whatever answers an error without that shape (axum's own
//! rejections, a panic) into one, so no error reaches a client as plain text.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answered to an HTTP client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<serde_json::Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a stable code and a sentence.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None, retry_after: None }
    }

    /// Adds machine-readable details (diagnostics, the failing index, ...).
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// Adds a `Retry-After` header of this many seconds (429, 503).
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: missing or forged credentials.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 503: the database (or the writer) is unavailable.
    pub fn storage(err: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", format!("storage error: {err}"))
    }

    /// 503 while shutting down.
    pub fn shutting_down() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down; retry")
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The sentence.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` seconds, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> ApiError {
        ApiError::storage(err)
    }
}

impl ApiError {
    /// The `{"code", "message", "details"?}` object of the error body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let (Some(details), Some(obj)) = (&self.details, error.as_object_mut()) {
            obj.insert("details".into(), details.clone());
        }
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(serde_json::json!({ "error": self.body() }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Turns axum's own rejections (bad JSON, wrong content type, body too large) into
/// `ApiError`s with stable codes.
pub fn from_json_rejection(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection as R;
    match rejection {
        R::JsonDataError(e) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.body_text()),
        R::JsonSyntaxError(e) => ApiError::bad_request("malformed_json", e.body_text()),
        R::MissingJsonContentType(e) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", e.body_text())
        }
        other => body_rejection(other.status(), other.body_text()),
    }
}

/// A body that could not be read: too large (413) or otherwise unreadable (400).
pub fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "body_too_large", text)
    } else {
        ApiError::bad_request("unreadable_body", text)
    }
}

/// The code an error answer without one gets, by status.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Longest text of a plain error answer kept as the JSON message.
const MAX_PLAIN_MESSAGE: usize = 1024;

/// Middleware: an error answer (4xx, 5xx) that is not JSON becomes
/// `{"error": {"code", "message"}}`, its code taken from the status and its text kept as
/// the message. Handlers map the rejections they know to precise codes; this is the net
/// under them (an extractor's rejection, a layer's answer), so the contract holds for
/// every route, including ones added later.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_PLAIN_MESSAGE).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    let mut answer = ApiError::new(status, code_for(status), message).into_response();
    // Keep what the original answer said beside its body (Allow, Retry-After, CORS, ...).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

/// A handler that panicked: 500 `internal`, never the panic's text (it may name data).
pub fn from_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    tracing::error!(panic = what.unwrap_or("(no message)"), "a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed on this request; it was logged")
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    async fn answer(router: Router, path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = router.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let allow = response.headers().get(header::ALLOW).map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, allow, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn plain_text_errors_become_json_with_a_code() {
        let router = Router::new()
            .route("/plain", get(|| async { (StatusCode::BAD_REQUEST, [(header::ALLOW, "GET")], "Invalid URL") }))
            .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
            .route("/typed", get(|| async { ApiError::new(StatusCode::CONFLICT, "own_code", "kept") }))
            .layer(axum::middleware::from_fn(json_errors));
        let (status, allow, body) = answer(router.clone(), "/plain").await;
        assert_eq!((status, allow.as_deref()), (StatusCode::BAD_REQUEST, Some("GET")));
        assert_eq!(body["error"]["code"], "bad_request");
        assert_eq!(body["error"]["message"], "Invalid URL");
        let (status, _, body) = answer(router.clone(), "/teapot").await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::IM_A_TEAPOT, Some("bad_request")));
        assert_eq!(body["error"]["message"], "I'm a teapot");
        let (status, _, body) = answer(router, "/typed").await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("own_code")));
    }

    #[tokio::test]
    async fn a_panic_answers_500_internal_without_its_text() {
        let router = Router::new()
            .route("/boom", get(|| async { panic!("secret detail") as StatusCode }))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(from_panic))
            .layer(axum::middleware::from_fn(json_errors));
        let (status, _, body) = answer(router, "/boom").await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")));
        assert!(!body.to_string().contains("secret detail"));
    }
}
