//! SMS, push and ads over a generic HTTPS webhook: `POST` of the message as JSON with
//! `Idempotency-Key: <outbox key>` and `X-Waymark-Signature: t=<epoch ms>,v1=<hex>` where
//! the hex is HMAC-SHA256 of `<t>.<body>` with the webhook secret. Any 2xx is success.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{DeliveryError, Message};

/// A webhook endpoint.
#[derive(Debug)]
pub struct Webhook {
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl Webhook {
    /// An endpoint with its signing secret.
    pub fn new(url: &str, secret: &str) -> Result<Webhook, DeliveryError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(DeliveryError::Config(format!("webhook url {url:?}: use http:// or https://")));
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| DeliveryError::Config(format!("http client: {e}")))?;
        Ok(Webhook { url: url.to_owned(), secret: secret.as_bytes().to_vec(), client })
    }

    /// Posts one message.
    pub async fn send(&self, m: &Message) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(m).map_err(|e| DeliveryError::Webhook(format!("encode: {e}")))?;
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let signature = sign(&self.secret, t, &body)?;
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("idempotency-key", &m.key)
            .header("x-waymark-signature", format!("t={t},v1={signature}"))
            .body(body)
            .send()
            .await
            .map_err(|e| DeliveryError::Webhook(e.to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Webhook(format!("{} answered {}", self.url, response.status())))
        }
    }
}

/// Hex HMAC-SHA256 of `<t>.<body>`.
pub fn sign(secret: &[u8], t: u128, body: &[u8]) -> Result<String, DeliveryError> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).map_err(|e| DeliveryError::Config(e.to_string()))?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect())
}
