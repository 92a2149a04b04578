//! Email delivery against a real SMTP server (aiosmtpd): over TLS with a private CA made
//! for the test (STARTTLS and implicit TLS arrive with the CA file configured; without it
//! the relay's certificate is refused and nothing is sent in the clear), and rendered from
//! the templates in examples/email (subject, text and HTML parts, the shopper's traits).
#![cfg(feature = "server")]
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a failed unwrap, index or panic is a failed test"
)]

mod support;

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use support::SmtpSink;
use waymark::journey::Channel;
use waymark::server::delivery::smtp::Smtp;
use waymark::server::delivery::templates::EmailTemplates;
use waymark::server::delivery::Message;
use waymark::Timestamp;

/// A private CA and a relay certificate it signed for 127.0.0.1, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "waymark test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let relay_key = KeyPair::generate().unwrap();
        let mut relay_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        relay_params.distinguished_name.push(DnType::CommonName, "relay");
        let relay = relay_params.signed_by(&relay_key, &ca).unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("relay.pem"), relay.pem()).unwrap();
        std::fs::write(dir.path().join("relay.key"), relay_key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn relay(&self, mode: &str) -> SmtpSink {
        SmtpSink::start_tls(mode, &self.path("relay.pem"), &self.path("relay.key"))
    }
}

fn message(key: &str) -> Message {
    Message {
        key: key.into(),
        channel: Channel::Email,
        to: "shopper@example.com".into(),
        shopper: "s1".into(),
        journey: "cart_abandon".into(),
        step: "reminder".into(),
        content: "cart-reminder".into(),
        incentive: None,
        decided_at: Timestamp(1_700_000_000_000),
        customer_id: None,
        traits: serde_json::json!({}),
        context: serde_json::json!({}),
    }
}

async fn send(url: &str, ca: Option<&Path>, key: &str) -> Result<(), String> {
    let smtp = Smtp::new(url, "shop@example.com", ca).map_err(|e| e.to_string())?;
    smtp.send(&message(key)).await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn starttls_and_smtps_arrive_encrypted_with_the_ca_file() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    for (mode, url) in [("starttls", "smtp://127.0.0.1:{port}?tls=required"), ("smtps", "smtps://127.0.0.1:{port}")] {
        let relay = pki.relay(mode);
        let url = url.replace("{port}", &relay.port.to_string());
        send(&url, Some(&ca), mode).await.unwrap_or_else(|e| panic!("{mode}: {e}"));
        let received = relay.messages();
        assert_eq!(received.len(), 1, "{mode}: {received:?}");
        assert_eq!(received[0]["tls"], true, "{mode}: {received:?}");
        assert_eq!(received[0]["to"][0], "shopper@example.com", "{mode}");
        assert!(received[0]["data"].as_str().unwrap().contains("Subject: cart-reminder"), "{mode}: {received:?}");
    }
    // The sink tells a plain connection apart.
    let plain = SmtpSink::start();
    send(&plain.url(), None, "plain").await.unwrap();
    assert_eq!(plain.messages()[0]["tls"], false);
}

#[tokio::test]
async fn an_unknown_relay_certificate_is_refused() {
    let pki = Pki::new();
    for (mode, url) in [("starttls", "smtp://127.0.0.1:{port}?tls=required"), ("smtps", "smtps://127.0.0.1:{port}")] {
        let relay = pki.relay(mode);
        let url = url.replace("{port}", &relay.port.to_string());
        let error = send(&url, None, mode).await.expect_err(mode);
        assert!(error.to_lowercase().contains("certificate"), "{mode}: {error}");
        assert!(relay.messages().is_empty(), "{mode}: sent without trusting the relay");
    }
}

#[test]
fn a_bad_ca_file_is_a_configuration_error_naming_it() {
    let pki = Pki::new();
    let not_pem = pki.path("relay.key");
    let missing = pki.path("missing.pem");
    let ca = pki.path("ca.pem");
    let cases: [(&str, &Path, &str); 3] = [
        ("smtps://127.0.0.1:465", &missing, "cannot read it"),
        ("smtps://127.0.0.1:465", &not_pem, "holds no PEM certificate"),
        ("smtp://127.0.0.1:25", &ca, "is plain SMTP"),
    ];
    for (url, file, want) in cases {
        let error = Smtp::new(url, "shop@example.com", Some(file)).expect_err(want).to_string();
        assert!(error.contains(want), "{url} {}: {error}", file.display());
        assert!(error.contains(&file.display().to_string()), "names the file: {error}");
    }
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/email")
}

#[tokio::test]
async fn templated_email_arrives_with_subject_text_and_html() {
    let sink = SmtpSink::start();
    let smtp = Smtp::new(&sink.url(), "shop@example.com", None)
        .unwrap()
        .with_templates(EmailTemplates::load(&examples()).unwrap());
    let mut m = message("templated");
    m.content = "cart-reminder-1".into();
    m.incentive = Some("SAVE10".into());
    // A trait named like a site value does not reach the links: they come from site.json.
    m.traits = serde_json::json!({"first_name": "Ada <3", "store_url": "https://evil.test"});
    smtp.send(&m).await.unwrap();
    let data = sink.messages()[0]["data"].as_str().unwrap().to_owned();
    assert!(data.contains("Subject: Ada <3, your cart is waiting"), "{data}");
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(data.contains("Hi Ada <3,") && data.contains("https://shop.example/cart"), "{data}");
    assert!(!data.contains("evil.test"), "{data}");
    assert!(data.contains("The Northwind Outfitters team"), "site values render: {data}");
    assert!(data.contains("Use SAVE10 at checkout"), "{data}");
    assert!(data.contains("Hi Ada &lt;3,"), "the HTML part is escaped: {data}");

    // A shopper without the traits: defaults, no HTML part for a text-only template.
    let mut plain = message("templated-2");
    plain.content = "cart-reminder-2".into();
    smtp.send(&plain).await.unwrap();
    let data = sink.messages()[1]["data"].as_str().unwrap().to_owned();
    assert!(data.contains("Subject: Still thinking it over, friend?"), "{data}");
    assert!(data.contains("https://shop.example/cart") && !data.contains("multipart"), "{data}");

    // A content key without a template fails the send (retried, then failed), never sent raw.
    let mut unknown = message("templated-3");
    unknown.content = "no-such-email".into();
    let error = smtp.send(&unknown).await.unwrap_err().to_string();
    assert!(error.contains("no email template \"no-such-email.txt\""), "{error}");
    assert_eq!(sink.messages().len(), 2);
}

#[test]
fn bad_templates_stop_the_start_naming_file_and_line() {
    let cases: [(&str, &str, &str); 3] = [
        ("a.txt", "Subject: hi\n\nline one\n{% if %}\n", "a.txt:4"),
        ("b.txt", "Hello {{ traits.first_name }}\n", "b.txt:1: the first line must be the subject"),
        ("c.html", "<p>{{ 1 + }}</p>", "c.html:1"),
    ];
    for (name, text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
        if name.ends_with(".html") {
            std::fs::write(dir.path().join("c.txt"), "Subject: c\n\nc\n").unwrap();
        }
        let error = EmailTemplates::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains(want), "{name}: {error}");
    }
    // Names that only rendering looks up (filters, tests, functions) are checked at start.
    let unknown_names: [(&str, &str, &str); 3] = [
        ("e.txt", "Subject: hi\n\n{{ traits.first_name | defualt(\"x\") }}\n", "defualt"),
        ("f.txt", "Subject: {{ shopper is frist }}\n\nbody\n", "frist"),
        ("g.txt", "Subject: hi\n\n{{ nowhere() }}\n", "nowhere"),
    ];
    for (name, text, want) in unknown_names {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
        let error = EmailTemplates::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains(name) && error.contains(want), "{name}: {error}");
    }
    // A filter that fails only for some values is not a start error.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("h.txt"), "Subject: {{ traits.count + 1 }}\n\nbody\n").unwrap();
    EmailTemplates::load(dir.path()).expect("a value-dependent failure is left to render time");

    // site.json: a JSON object, or an error with file and line.
    for (text, want) in [("{\n \"store_url\": }", "site.json:2"), ("[1]", "must be a JSON object")] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "Subject: {{ site.store_url }}\n\nbody\n").unwrap();
        std::fs::write(dir.path().join("site.json"), text).unwrap();
        let error = EmailTemplates::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains(want), "{text}: {error}");
    }

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.html"), "<p>d</p>").unwrap();
    let error = EmailTemplates::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("has no d.txt"), "{error}");
    let error = EmailTemplates::load(&dir.path().join("missing")).unwrap_err().to_string();
    assert!(error.contains("cannot list"), "{error}");
}

/// The content keys of every send that can go out as email (channel or fallback) in the
/// shipped templates/ and examples/journeys/.
fn shipped_email_content_keys() -> std::collections::BTreeSet<String> {
    fn walk(value: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
        match value {
            serde_json::Value::Object(object) => {
                let email = object.get("channel").is_some_and(|c| c == "email")
                    || object
                        .get("fallback")
                        .and_then(|f| f.as_array())
                        .is_some_and(|f| f.iter().any(|c| c == "email"));
                if object.get("type").is_some_and(|t| t == "send") && email {
                    if let Some(content) = object.get("content").and_then(|c| c.as_str()) {
                        keys.insert(content.to_owned());
                    }
                }
                object.values().for_each(|v| walk(v, keys));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, keys)),
            _ => {}
        }
    }
    let mut keys = std::collections::BTreeSet::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for dir in ["templates", "examples/journeys"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                walk(&serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap(), &mut keys);
            }
        }
    }
    keys
}

/// examples/email covers every shipped email send (the demo serves with it), and each
/// renders for a shopper the backend knows nothing about.
#[test]
fn every_shipped_email_send_has_a_template_that_renders() {
    let templates = EmailTemplates::load(&examples()).unwrap();
    let keys = shipped_email_content_keys();
    assert!(keys.len() >= 10, "{keys:?}");
    for key in keys {
        assert!(examples().join(format!("{key}.txt")).is_file(), "examples/email/{key}.txt is missing");
        let mut m = message(&key);
        m.content = key.clone();
        let email = templates.render(&m).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(!email.subject.is_empty() && !email.subject.contains("{{"), "{key}: {email:?}");
        assert!(!email.text.contains("traits.store_url"), "{key}: links come from site.json");
        assert!(!email.text.trim().is_empty(), "{key}: {email:?}");
    }
}

/// A message's products as delivery builds them (see `delivery::content`).
fn products() -> serde_json::Value {
    let card = |id: &str, title: &str, price: f64| {
        serde_json::json!({"id": id, "title": title, "price": price, "currency": "EUR",
            "link": format!("https://shop.example/p/{id}"), "image_link": format!("https://shop.example/i/{id}.jpg"),
            "category": "Shoes", "in_stock": true})
    };
    let mut cart_line = card("C1", "Cart Boot", 80.0);
    cart_line["quantity"] = serde_json::json!(2);
    serde_json::json!({
        "items": [card("X", "Trail Runner <X>", 99.0)],
        "cart": [cart_line],
        "search_term": "rain jacket",
        "price_drop": {"old_price": 120.0, "new_price": 99.0, "drop_percent": 17.5, "item": card("X", "Trail Runner <X>", 99.0)},
        "recommendations": [card("R1", "Sock Pack", 12.5), card("R2", "Insole", 19.0), card("R3", "Laces", 4.0)],
    })
}

/// Every shipped email shows the products its journey is about: the trigger items, the
/// cart, or the recommendations (search results for search abandon), with prices and
/// links from the catalog, in the text part and, where there is one, the HTML part.
#[test]
fn shipped_emails_show_their_products() {
    let templates = EmailTemplates::load(&examples()).unwrap();
    let expect: [(&str, &[&str]); 14] = [
        (
            "price-drop",
            &[
                "Trail Runner <X> is now €99.00",
                "€99.00, was €120.00",
                "Sock Pack: €12.50",
                "https://shop.example/p/R3",
            ],
        ),
        ("back-in-stock", &["Trail Runner <X> is back in stock", "https://shop.example/p/X", "Sock Pack"]),
        ("birthday", &["Sock Pack", "Laces: €4.00"]),
        ("browse-abandon-recommendations", &["Still looking at Trail Runner <X>", "Insole: €19.00"]),
        ("buy-again-recommendations", &["Trail Runner <X>: €99.00", "Sock Pack"]),
        ("cart-reminder-1", &["Cart Boot: €80.00 x 2", "https://shop.example/p/C1"]),
        ("cart-reminder-2", &["Cart Boot: €80.00 x 2"]),
        ("discounts-digest", &["Sock Pack"]),
        ("new-arrivals-recommendations", &["Trail Runner <X>: €99.00", "Insole"]),
        ("post-purchase-review", &["Trail Runner <X>", "Laces"]),
        ("search-abandon-recommendations", &["Still searching for \"rain jacket\"?", "Sock Pack: €12.50"]),
        ("signup-anniversary", &["Picked for you", "Insole"]),
        ("wishlist-price-watch", &["Trail Runner <X>: €99.00"]),
        ("win-back", &["We miss you", "Use CODE10 at checkout", "Sock Pack: €12.50"]),
    ];
    for (key, wants) in expect {
        let mut m = message(key);
        m.content = key.into();
        m.incentive = Some("CODE10".into());
        m.context = products();
        let email = templates.render(&m).unwrap_or_else(|e| panic!("{key}: {e}"));
        let whole = format!("Subject: {}\n\n{}", email.subject, email.text);
        println!("----- {key}\n{whole}");
        for want in wants {
            assert!(whole.contains(want), "{key}: {want:?} missing from\n{whole}");
        }
        assert!(!whole.contains("\n\n\n"), "{key}: no runs of blank lines\n{whole}");
        if let Some(html) = &email.html {
            assert!(
                html.contains("<!doctype html>") && html.contains("The Northwind Outfitters team"),
                "{key}: {html}"
            );
            assert!(!html.contains("<X>"), "{key}: the HTML part is escaped\n{html}");
            assert!(!html.contains("&#x2f;"), "{key}: links stay readable URLs\n{html}");
            let shows = |title: &str| whole.contains(title) == html.contains(title);
            assert_eq!(whole.contains("Trail Runner <X>"), html.contains("Trail Runner &lt;X&gt;"), "{key}: {html}");
            assert!(
                ["Sock Pack", "Cart Boot"].iter().all(|t| shows(t)),
                "{key}: text and HTML show the same products\n{html}"
            );
        }
        // Without products, the same template still renders with its plain links.
        let mut bare = message(key);
        bare.content = key.into();
        let email = templates.render(&bare).unwrap();
        assert!(email.text.contains("https://shop.example"), "{key}: {email:?}");
        assert!(!email.text.contains("Sock Pack") && !email.subject.contains("€"), "{key}: {email:?}");
    }
}

/// Email settings without an SMTP relay would be ignored: the start says so.
#[test]
fn email_settings_without_a_relay_stop_the_start() {
    let mut settings =
        waymark::server::config::Settings::new("sqlite://x.db", "admin-token-0123456789", "secret-0123456789");
    assert_eq!(settings.validate(), Ok(()));
    settings.delivery.email_templates = Some(examples());
    let error = settings.validate().unwrap_err();
    assert!(error.contains("--email-templates") && error.contains("--smtp-url"), "{error}");
    settings.delivery.email_templates = None;
    settings.delivery.smtp_ca_file = Some(PathBuf::from("ca.pem"));
    let error = settings.validate().unwrap_err();
    assert!(error.contains("--smtp-ca-file"), "{error}");
    settings.delivery.smtp_url = Some("smtps://relay.example:465".into());
    assert_eq!(settings.validate(), Ok(()));
}
