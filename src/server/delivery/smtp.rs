//! Email over SMTP with lettre: `smtp://host:port` (plain, e.g. a local relay),
//! `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port`. TLS trusts the
//! built-in web PKI roots plus, when given, the PEM certificates of a CA file (a private
//! relay's own CA or self-signed certificate). The Message-ID is derived from the outbox
//! key, so a receiver can drop a duplicate after a crash. With templates
//! (`templates.rs`) the email is rendered; without, its body says what was decided.

use std::path::Path;

use lettre::message::header::ContentType;
use lettre::message::MultiPart;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::templates::EmailTemplates;
use super::{DeliveryError, Message};

/// An SMTP sender.
#[derive(Debug)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    templates: Option<EmailTemplates>,
}

impl Smtp {
    /// A sender for a relay URL and a From address; `ca_file` adds PEM certificates to
    /// trust for a TLS relay.
    pub fn new(url: &str, from: &str, ca_file: Option<&Path>) -> Result<Smtp, DeliveryError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| DeliveryError::Config(format!("smtp url {url:?}: {e}")))?;
        if let Some(path) = ca_file {
            builder = builder.tls(tls_trusting(url, path)?);
        }
        let transport = builder.build();
        let from = from.parse().map_err(|e| DeliveryError::Config(format!("mail from {from:?}: {e}")))?;
        Ok(Smtp { transport, from, templates: None })
    }

    /// Renders emails from these templates instead of the generic body.
    pub fn with_templates(self, templates: EmailTemplates) -> Smtp {
        Smtp { templates: Some(templates), ..self }
    }

    /// Sends one email.
    pub async fn send(&self, m: &Message) -> Result<(), DeliveryError> {
        let to = m.to.parse().map_err(|e| DeliveryError::Smtp(format!("recipient {:?}: {e}", m.to)))?;
        let builder = lettre::Message::builder().from(self.from.clone()).to(to).message_id(Some(message_id(&m.key)));
        let built = match &self.templates {
            Some(templates) => {
                let email = templates.render(m)?;
                let builder = builder.subject(email.subject);
                match email.html {
                    Some(html) => builder.multipart(MultiPart::alternative_plain_html(email.text, html)),
                    None => builder.header(ContentType::TEXT_PLAIN).body(email.text),
                }
            }
            None => builder.subject(m.content.clone()).header(ContentType::TEXT_PLAIN).body(generic_body(m)),
        };
        let email = built.map_err(|e| DeliveryError::Smtp(format!("cannot build the message: {e}")))?;
        self.transport.send(email).await.map_err(|e| DeliveryError::Smtp(e.to_string()))?;
        Ok(())
    }
}

/// The Message-ID of the email for an outbox key: the same for every attempt, so a
/// receiver can drop a duplicate after a crash.
pub fn message_id(key: &str) -> String {
    format!("<{:032x}@waymark>", xxhash_rust::xxh3::xxh3_128(key.as_bytes()))
}

/// Without templates: what was decided, for a relay that renders by content key.
fn generic_body(m: &Message) -> String {
    let mut body =
        format!("content: {}\njourney: {}\nstep: {}\nshopper: {}\n", m.content, m.journey, m.step, m.shopper);
    if let Some(incentive) = &m.incentive {
        body.push_str(&format!("incentive: {incentive}\n"));
    }
    body
}

/// The TLS mode the URL asks for, trusting the certificates in `path` besides the
/// built-in roots.
fn tls_trusting(url: &str, path: &Path) -> Result<Tls, DeliveryError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| DeliveryError::Config(format!("smtp url {url:?}: {e}")))?;
    let host = parsed.host_str().ok_or_else(|| DeliveryError::Config(format!("smtp url {url:?} names no host")))?;
    let pem = std::fs::read(path)
        .map_err(|e| DeliveryError::Config(format!("smtp CA file {}: cannot read it: {e}", path.display())))?;
    const PEM_CERTIFICATE: &[u8] = b"-----BEGIN CERTIFICATE-----";
    if !pem.windows(PEM_CERTIFICATE.len()).any(|w| w == PEM_CERTIFICATE) {
        return Err(DeliveryError::Config(format!(
            "smtp CA file {}: holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)",
            path.display()
        )));
    }
    let certificate = Certificate::from_pem(&pem)
        .map_err(|e| DeliveryError::Config(format!("smtp CA file {}: not PEM certificates ({e})", path.display())))?;
    let parameters = TlsParameters::builder(host.to_owned())
        .add_root_certificate(certificate)
        .build_rustls()
        .map_err(|e| DeliveryError::Config(format!("smtp CA file {}: {e}", path.display())))?;
    let mode = parsed.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Ok(Tls::Wrapper(parameters)),
        ("smtp", Some("required")) => Ok(Tls::Required(parameters)),
        ("smtp", Some("opportunistic")) => Ok(Tls::Opportunistic(parameters)),
        _ => Err(DeliveryError::Config(format!(
            "smtp CA file {} is for TLS relays, but {url:?} is plain SMTP: use smtps://host:port or smtp://host:port?tls=required",
            path.display()
        ))),
    }
}
