//! Delivery adapters: email over SMTP (`smtp`), SMS / push / ads over a signed JSON
//! webhook (`webhook`). `Delivery` picks the adapter for a channel; a channel without one
//! fails the send (it is retried, then marked failed, never silently dropped).

pub mod content;
pub mod smtp;
pub mod templates;
pub mod webhook;

use std::sync::Arc;

use serde::Serialize;

use super::config::DeliverySettings;
use crate::journey::Channel;
use crate::time::Timestamp;

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Idempotency key (also the email Message-ID and the webhook `Idempotency-Key`).
    pub key: String,
    /// Channel.
    #[serde(serialize_with = "channel_name")]
    pub channel: Channel,
    /// Address: email, phone number, push token, or shopper id for ads.
    pub to: String,
    /// The shopper's primary id.
    pub shopper: String,
    /// Journey id.
    pub journey: String,
    /// Step id.
    pub step: String,
    /// Content key (the template the provider renders).
    pub content: String,
    /// Incentive id.
    pub incentive: Option<String>,
    /// When the engine decided it.
    #[serde(serialize_with = "rfc3339")]
    pub decided_at: Timestamp,
    /// The shopper's customer id, when known (email templates; not sent to webhooks).
    #[serde(skip)]
    pub customer_id: Option<String>,
    /// The shopper's traits as JSON (email templates; not sent to webhooks).
    #[serde(skip)]
    pub traits: serde_json::Value,
    /// The products it shows (see [`content`]): `items`, `cart`, `recommendations`,
    /// `search_term`, `price_drop`.
    pub context: serde_json::Value,
}

fn channel_name<S: serde::Serializer>(c: &Channel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

fn rfc3339<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

/// Why a delivery failed (it will be retried).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No adapter configured for the channel.
    #[error("no delivery adapter configured for channel {0}")]
    NoAdapter(&'static str),
    /// The SMTP exchange failed.
    #[error("smtp: {0}")]
    Smtp(String),
    /// The webhook call failed or answered non-2xx.
    #[error("webhook: {0}")]
    Webhook(String),
    /// Bad configuration (URL, address, email templates).
    #[error("config: {0}")]
    Config(String),
    /// An email template is missing or failed to render.
    #[error("email template: {0}")]
    Template(String),
}

/// The adapters of a server.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    smtp: Option<Arc<smtp::Smtp>>,
    sms: Option<Arc<webhook::Webhook>>,
    push: Option<Arc<webhook::Webhook>>,
    ads: Option<Arc<webhook::Webhook>>,
}

impl Delivery {
    /// Builds the adapters the settings name.
    pub fn new(settings: &DeliverySettings) -> Result<Delivery, DeliveryError> {
        let hook = |url: &Option<String>| -> Result<Option<Arc<webhook::Webhook>>, DeliveryError> {
            url.as_deref().map(|u| webhook::Webhook::new(u, &settings.webhook_secret).map(Arc::new)).transpose()
        };
        Ok(Delivery {
            smtp: settings
                .smtp_url
                .as_deref()
                .map(|u| {
                    let smtp = smtp::Smtp::new(u, &settings.mail_from, settings.smtp_ca_file.as_deref())?;
                    match &settings.email_templates {
                        Some(dir) => Ok(smtp.with_templates(templates::EmailTemplates::load(dir)?)),
                        None => Ok(smtp),
                    }
                })
                .map(|r| r.map(Arc::new))
                .transpose()?,
            sms: hook(&settings.sms_webhook)?,
            push: hook(&settings.push_webhook)?,
            ads: hook(&settings.ads_webhook)?,
        })
    }

    /// Sends one message through its channel's adapter.
    pub async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        match message.channel {
            Channel::Email => match &self.smtp {
                Some(smtp) => smtp.send(message).await,
                None => Err(DeliveryError::NoAdapter("email")),
            },
            Channel::Sms => send_hook(&self.sms, "sms", message).await,
            Channel::Push => send_hook(&self.push, "push", message).await,
            Channel::Ads => send_hook(&self.ads, "ads", message).await,
            Channel::Onsite | Channel::Inapp => Err(DeliveryError::NoAdapter("onsite")),
        }
    }
}

async fn send_hook(hook: &Option<Arc<webhook::Webhook>>, name: &'static str, m: &Message) -> Result<(), DeliveryError> {
    match hook {
        Some(h) => h.send(m).await,
        None => Err(DeliveryError::NoAdapter(name)),
    }
}
