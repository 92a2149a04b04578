//! Email over SMTP with lettre: `smtp://host:port` (plain, e.g. a local relay),
//! `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port`. The Message-ID is
//! derived from the outbox key, so a receiver can drop a duplicate after a crash.

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{DeliveryError, Message};

/// An SMTP sender.
#[derive(Debug)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Smtp {
    /// A sender for a relay URL and a From address.
    pub fn new(url: &str, from: &str) -> Result<Smtp, DeliveryError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| DeliveryError::Config(format!("smtp url {url:?}: {e}")))?
            .build();
        let from = from.parse().map_err(|e| DeliveryError::Config(format!("mail from {from:?}: {e}")))?;
        Ok(Smtp { transport, from })
    }

    /// Sends one email.
    pub async fn send(&self, m: &Message) -> Result<(), DeliveryError> {
        let to = m.to.parse().map_err(|e| DeliveryError::Smtp(format!("recipient {:?}: {e}", m.to)))?;
        let id = xxhash_rust::xxh3::xxh3_128(m.key.as_bytes());
        let mut body =
            format!("content: {}\njourney: {}\nstep: {}\nshopper: {}\n", m.content, m.journey, m.step, m.shopper);
        if let Some(incentive) = &m.incentive {
            body.push_str(&format!("incentive: {incentive}\n"));
        }
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.content.clone())
            .message_id(Some(format!("<{id:032x}@waymark>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| DeliveryError::Smtp(format!("cannot build the message: {e}")))?;
        self.transport.send(email).await.map_err(|e| DeliveryError::Smtp(e.to_string()))?;
        Ok(())
    }
}
