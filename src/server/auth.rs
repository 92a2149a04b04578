//! Credentials. Shopper tokens: `v1.<payload>.<signature>`, the payload base64url JSON
//! `{"sub": anonymous id, "cid": customer id?, "exp": epoch ms}`, the signature
//! HMAC-SHA256 over `v1.<payload>` with the server's token secret. The backend issues
//! them (`POST /v1/token`, admin only); the browser sends one with every `/v1/sync`.
//! Admin calls carry `Authorization: Bearer <admin token>`, compared in constant time.

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::ApiError;
use crate::time::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// Longest shopper or customer id accepted.
pub const MAX_ID_LEN: usize = 128;

/// Who a shopper token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The anonymous (device / browser) id.
    pub sub: String,
    /// The customer id, once the shopper logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// Expiry, epoch milliseconds.
    pub exp: i64,
}

/// Checks an id: 1..=128 printable ASCII characters, no spaces.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Signs claims into a token.
pub fn issue(secret: &[u8], claims: &Claims) -> Result<String, ApiError> {
    let payload = serde_json::to_vec(claims)
        .map_err(|e| ApiError::bad_request("invalid_claims", format!("cannot encode the claims: {e}")))?;
    let signed = format!("v1.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = sign(secret, signed.as_bytes())?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn sign(secret: &[u8], message: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut mac = HmacSha256::new_from_slice(secret)
        .map_err(|_| ApiError::unauthorized("token_secret_invalid", "the token secret cannot key HMAC"))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Verifies a token's signature and expiry and returns its claims.
pub fn verify(secret: &[u8], token: &str, now: Timestamp) -> Result<Claims, ApiError> {
    let forged =
        || ApiError::unauthorized("invalid_token", "the shopper token is malformed or its signature does not match");
    let (signed, signature) = token.rsplit_once('.').ok_or_else(forged)?;
    let payload = signed.strip_prefix("v1.").ok_or_else(forged)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| forged())?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| forged())?;
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature).map_err(|_| forged())?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| forged())?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| forged())?;
    if claims.exp <= now.0 {
        return Err(ApiError::unauthorized(
            "token_expired",
            "the shopper token has expired: ask the store for a new one",
        ));
    }
    Ok(claims)
}

/// The bearer credential of a request, if any: `Authorization: Bearer <credential>`, the
/// scheme matched case-insensitively as RFC 7235 says (`bearer`, `BEARER`), spaces around
/// the credential ignored. An empty credential counts as none.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim_start();
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// The shopper token of a request: `Authorization: Bearer`, verified.
pub fn shopper(headers: &HeaderMap, secret: &[u8], now: Timestamp) -> Result<Claims, ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized("missing_token", "send the shopper token as `Authorization: Bearer <token>`")
    })?;
    verify(secret, token, now)
}

/// Requires the admin token.
pub fn admin(headers: &HeaderMap, admin_token: &str) -> Result<(), ApiError> {
    let given = bearer(headers)
        .ok_or_else(|| ApiError::unauthorized("missing_admin_token", "send `Authorization: Bearer <admin token>`"))?;
    if constant_time_eq(given.as_bytes(), admin_token.as_bytes()) && !admin_token.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unauthorized("invalid_admin_token", "the admin token does not match"))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Compare MACs of both sides: equal-time regardless of where they differ or their length.
    let key = b"waymark-admin-compare";
    match (sign(key, a), sign(key, b)) {
        (Ok(x), Ok(y)) => {
            let mut diff = 0u8;
            for (p, q) in x.iter().zip(y.iter()) {
                diff |= p ^ q;
            }
            diff == 0 && x.len() == y.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, authorization.parse().unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer tok", "bearer tok", "BEARER tok", "bEaReR   tok ", " Bearer tok"] {
            assert_eq!(bearer(&headers(value)), Some("tok"), "{value:?}");
        }
        for value in ["Bearer", "Bearer ", "Bearer    ", "Basic tok", "Bearertok", "Bearer-x tok", "tok"] {
            assert_eq!(bearer(&headers(value)), None, "{value:?}");
        }
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn round_trip_and_forgery() {
        let claims = Claims { sub: "a1".into(), cid: Some("c1".into()), exp: 10_000 };
        let token = issue(b"secret", &claims).unwrap();
        assert_eq!(verify(b"secret", &token, Timestamp(0)).unwrap(), claims);
        assert_eq!(verify(b"other", &token, Timestamp(0)).unwrap_err().code(), "invalid_token");
        assert_eq!(verify(b"secret", &token, Timestamp(10_000)).unwrap_err().code(), "token_expired");
        let forged = issue(b"secret", &Claims { sub: "victim".into(), cid: None, exp: 10_000 }).unwrap();
        let (payload, _) = forged.rsplit_once('.').unwrap();
        let (_, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(verify(b"secret", &format!("{payload}.{sig}"), Timestamp(0)).unwrap_err().code(), "invalid_token");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }
}
