//! End to end with what a shop ships: the journeys of templates/, the email templates of
//! examples/email, a catalog imported from a Merchant Center XML feed, shoppers browsing
//! it, and the emails a real SMTP server receives (decoded by the sink) with their
//! products. Run against SQLite (tests/server_sqlite.rs) and Postgres
//! (tests/server_postgres.rs) unchanged.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use waymark::journey::diagnostics::compile_paths;
use waymark::journey::tzdb::Tzdb;
use waymark::journey::{Bundle, Channel};
use waymark::server::clock::Clock;
use waymark::server::Server;
use waymark::{Engine, Event, Map, Value};

use super::*;

/// A product of a test feed: id, title, price ("120.00 EUR"), availability, category.
type Product<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

/// The server, its clock, the SMTP sink its emails go to and the receiver of its SMS.
pub(super) struct Shop {
    pub(super) smtp: SmtpSink,
    pub(super) sms: Hooks,
    pub(super) clock: Clock,
    pub(super) server: Server,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_bundle() -> Bundle {
    compile_paths(&[root().join("templates")], &Tzdb).unwrap()
}

/// A server at t0 running the shipped journeys and email templates.
pub(super) async fn shop(db: &TestDb) -> Shop {
    let smtp = SmtpSink::start();
    let sms = Hooks::start(0).await;
    let clock = Clock::manual(t0());
    let mut st = settings(db);
    st.delivery.smtp_url = Some(smtp.url());
    st.delivery.sms_webhook = Some(sms.url.clone());
    st.delivery.email_templates = Some(root().join("examples/email"));
    let server = server_with(st, &clock).await;
    let (status, _, body) = call(
        &server.router(),
        Request::put("/v1/bundle")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/octet-stream")
            .body(Body::from(shipped_bundle().to_bytes()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    Shop { smtp, sms, clock, server }
}

/// A Merchant Center RSS feed (the `g:` namespace) of `products`.
fn xml_feed(products: &[Product<'_>]) -> String {
    let items: String = products
        .iter()
        .map(|(id, title, price, availability, category)| {
            format!(
                "<item><g:id>{id}</g:id><g:title>{title}</g:title>\
                 <g:description>{title}, part of our {category} range.</g:description>\
                 <g:link>https://shop.example/p/{id}</g:link><g:image_link>https://shop.example/i/{id}.jpg</g:image_link>\
                 <g:price>{price}</g:price><g:availability>{availability}</g:availability>\
                 <g:product_type>{category}</g:product_type></item>\n"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\n<rss xmlns:g=\"http://base.google.com/ns/1.0\" version=\"2.0\"><channel>\
         <title>Test shop</title>\n{items}</channel></rss>\n"
    )
}

/// `PUT` (replace) or `PATCH` (upsert) the catalog with an XML feed; the answer.
async fn import(shop: &Shop, method: &str, products: &[Product<'_>]) -> serde_json::Value {
    let (status, _, body) = call(
        &shop.server.router(),
        Request::builder()
            .method(method)
            .uri("/v1/catalog")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/rss+xml")
            .body(Body::from(xml_feed(products)))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    json(&body)
}

/// A shopper's browser running the shipped journeys, with email consent as given.
async fn shopper(shop: &Shop, id: &str, email_consent: bool) -> Browser {
    let mut browser = Browser::new(&shop.server.router(), id, &format!("{id}@example.com")).await;
    browser.engine = Engine::new(shipped_bundle());
    if !email_consent {
        browser.state.set_consent(Channel::Email, false, at(1));
    }
    browser
}

fn search(browser: &mut Browser, term: &str, time: waymark::Timestamp) {
    let mut properties = Map::new();
    properties.insert("search_term".into(), Value::from(term));
    let event = Event::new("search", time, properties);
    browser.engine.ingest(&mut browser.state, &event, time);
}

impl Shop {
    /// Runs due timers, then delivers what is due, at `minutes` after t0.
    pub(super) async fn deliver_at(&self, minutes: i64) {
        self.clock.set(at(minutes));
        self.server.scheduler.run_due().await.unwrap();
        let report = self.server.outbox.deliver_due().await.unwrap();
        assert_eq!(report.failed, 0, "{report:?}");
    }

    /// The emails received so far to `to`.
    pub(super) fn emails_to(&self, to: &str) -> Vec<serde_json::Value> {
        self.smtp.messages().into_iter().filter(|m| m["to"][0] == to).collect()
    }

    /// The one email received by `to`, after checking it is the only one.
    pub(super) fn only_email_to(&self, to: &str) -> (String, String, String) {
        let emails = self.emails_to(to);
        assert_eq!(emails.len(), 1, "one email to {to}: {emails:?}");
        let field = |name: &str| emails[0][name].as_str().unwrap_or_default().to_owned();
        (field("subject"), field("text"), field("html"))
    }

    pub(super) async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// The product lines of a text email ("- Title: €12.00").
fn listed(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("- ")).collect()
}

/// The catalog of the price-drop story: X, an out-of-stock item and four others.
const SHOES: [Product<'static>; 6] = [
    ("X", "Trail Runner", "120.00 EUR", "in_stock", "shoes"),
    ("OUT", "Sold Out Sandal", "20.00 EUR", "out_of_stock", "shoes"),
    ("R1", "Wool Socks", "12.50 EUR", "in_stock", "shoes"),
    ("R2", "Gel Insole", "19.00 EUR", "in_stock", "shoes"),
    ("R3", "Spare Laces", "4.00 EUR", "in_stock", "shoes"),
    ("R4", "Shoe Spray", "8.00 EUR", "in_stock", "shoes"),
];

/// The story: a shopper views X at €120 in a catalog imported from an XML feed;
/// the feed then has X at €99. Exactly one price-drop email arrives (the push has no
/// token: its email fallback), naming X with both prices and three recommendations that
/// leave out X and what is out of stock. A second change of the same drop sends nothing.
/// A shopper without email consent gets nothing, and the suppression says why.
pub async fn price_drop_email_from_an_xml_feed(db: TestDb) {
    let shop = shop(&db).await;
    let r = shop.server.router();
    import(&shop, "PUT", &SHOES).await;
    // Other shoppers viewed X with R1..R4 and OUT (at the new price: no drop for them).
    for (n, others) in [["R1", "OUT"], ["R2", "R3"], ["R1", "R4"]].iter().enumerate() {
        let mut other = shopper(&shop, &format!("other-{n}"), true).await;
        other.track_item("view_item", at(0), "X", "shoes", 99.0);
        for (i, id) in others.iter().enumerate() {
            other.track_item("view_item", at(1 + i as i64), id, "shoes", 10.0);
        }
        other.sync(&r).await;
    }
    let mut a = shopper(&shop, "shopper-a", true).await;
    a.track_item("view_item", at(5), "X", "shoes", 120.0);
    a.sync(&r).await;
    let mut quiet = shopper(&shop, "shopper-quiet", false).await;
    quiet.track_item("view_item", at(5), "X", "shoes", 120.0);
    quiet.sync(&r).await;

    shop.clock.set(at(10));
    let mut cheaper = SHOES;
    cheaper[0].2 = "99.00 EUR";
    let answer = import(&shop, "PATCH", &cheaper[..1]).await;
    assert_eq!(answer["triggered"]["events"]["price_drop"], 2, "a and the shopper without consent: {answer}");
    shop.deliver_at(11).await;

    let (subject, text, html) = shop.only_email_to("shopper-a@example.com");
    assert_eq!(subject, "Trail Runner is now €99.00");
    assert!(text.contains("Trail Runner costs less now: €99.00, was €120.00."), "{text}");
    assert!(text.contains("https://shop.example/p/X"), "{text}");
    let recommended = listed(&text);
    assert_eq!(recommended.len(), 3, "three recommendations: {text}");
    assert!(recommended.iter().all(|l| !l.contains("Trail Runner") && !l.contains("Sold Out")), "{text}");
    assert!(recommended[0].starts_with("- Wool Socks: €12.50"), "R1, viewed with X twice, first: {text}");
    assert!(html.contains("<s>€120.00</s>") && html.contains("https://shop.example/i/R1.jpg"), "{html}");

    assert!(shop.emails_to("shopper-quiet@example.com").is_empty(), "no consent, no email");
    let (_, report) = admin_json(&r, "GET", "/v1/analytics", serde_json::Value::Null).await;
    assert_eq!(report["journeys"]["price_drop"]["suppressions"]["no_consent"], 1, "{report}");

    shop.clock.set(at(20));
    cheaper[0].2 = "95.00 EUR";
    let answer = import(&shop, "PATCH", &cheaper[..1]).await;
    assert_eq!(answer["triggered"]["duplicates"], 2, "the same drop: {answer}");
    shop.deliver_at(21).await;
    assert_eq!(shop.emails_to("shopper-a@example.com").len(), 1, "the same drop sends nothing more");
    shop.stop().await;
}

/// Back in stock: who looked at an item while it was out gets one email naming it, with
/// the journey's incentive, or, without email consent, its SMS fallback, whose webhook
/// payload carries the same products; new arrivals: a shopper who browsed a category gets one email
/// listing what arrived in it, with its incentive; a shopper who browsed elsewhere, none.
pub async fn restock_and_new_arrival_emails_name_the_items(db: TestDb) {
    let shop = shop(&db).await;
    let r = shop.server.router();
    let mut catalog = SHOES.to_vec();
    catalog.push(("Z", "Storm Boot", "140.00 EUR", "out_of_stock", "boots"));
    catalog.push(("B1", "Canvas Tote", "25.00 EUR", "in_stock", "bags"));
    import(&shop, "PUT", &catalog).await;

    let mut waiting = shopper(&shop, "shopper-z", true).await;
    waiting.track_item("view_item", at(1), "Z", "boots", 140.0);
    waiting.sync(&r).await;
    let mut texter = shopper(&shop, "shopper-sms", false).await;
    texter.state.set_consent(Channel::Sms, true, at(1));
    texter.state.set_trait("phone", "+15550009".into(), at(1)).unwrap();
    texter.track_item("view_item", at(1), "Z", "boots", 140.0);
    texter.sync(&r).await;
    let mut fan = shopper(&shop, "shopper-fan", true).await;
    for (i, id) in ["R1", "R2", "R3"].into_iter().enumerate() {
        fan.track_item("view_item", at(2 + i as i64), id, "shoes", 10.0);
    }
    fan.sync(&r).await;
    let mut elsewhere = shopper(&shop, "shopper-bags", true).await;
    elsewhere.track_item("view_item", at(2), "B1", "bags", 25.0);
    elsewhere.sync(&r).await;

    shop.clock.set(at(30));
    let answer = import(&shop, "PATCH", &[("Z", "Storm Boot", "140.00 EUR", "in_stock", "boots")]).await;
    assert_eq!(answer["triggered"]["events"]["back_in_stock"], 2, "{answer}");
    let answer = import(&shop, "PATCH", &[("N1", "Summit Hiker", "150.00 EUR", "in_stock", "shoes")]).await;
    assert_eq!(answer["triggered"]["events"]["new_arrivals"], 1, "{answer}");
    shop.deliver_at(31).await;

    let (subject, text, _) = shop.only_email_to("shopper-z@example.com");
    assert_eq!(subject, "Storm Boot is back in stock");
    assert!(listed(&text)[0].starts_with("- Storm Boot: €140.00"), "{text}");
    assert!(text.contains("Use RESTOCK5 at checkout"), "{text}");
    let texts = shop.sms.bodies();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!((texts[0]["to"].as_str(), texts[0]["content"].as_str()), (Some("+15550009"), Some("back-in-stock")));
    assert_eq!(texts[0]["incentive"], "RESTOCK5", "{}", texts[0]);
    let item = &texts[0]["context"]["items"][0];
    assert_eq!((item["title"].as_str(), item["price"].as_f64()), (Some("Storm Boot"), Some(140.0)), "{}", texts[0]);
    assert_eq!(item["link"], "https://shop.example/p/Z");
    assert!(shop.emails_to("shopper-sms@example.com").is_empty());

    let (subject, text, html) = shop.only_email_to("shopper-fan@example.com");
    assert_eq!(subject, "New arrivals picked for you");
    assert!(listed(&text)[0].starts_with("- Summit Hiker: €150.00"), "{text}");
    assert!(text.contains("Use NEW10 at checkout"), "{text}");
    assert!(html.contains("Summit Hiker") && html.contains("NEW10"), "{html}");
    assert!(shop.emails_to("shopper-bags@example.com").is_empty(), "one view of bags: no affinity for shoes");
    shop.stop().await;
}

/// Search abandon: a search with no product opened within 30 minutes sends the email,
/// listing the catalog items that match the term (stemmed: "jackets" finds "Jacket") and
/// its incentive. Cart abandon: the reminder an hour later lists the cart with titles,
/// prices and quantities from the catalog.
pub async fn search_and_cart_emails_list_their_items(db: TestDb) {
    let shop = shop(&db).await;
    let r = shop.server.router();
    let mut catalog = SHOES.to_vec();
    catalog.push(("J1", "Rain Jacket", "89.00 EUR", "in_stock", "jackets"));
    catalog.push(("J2", "Packable Rain Jacket", "69.00 EUR", "in_stock", "jackets"));
    catalog.push(("J3", "Down Jacket", "159.00 EUR", "out_of_stock", "jackets"));
    import(&shop, "PUT", &catalog).await;

    let mut searcher = shopper(&shop, "shopper-search", true).await;
    search(&mut searcher, "rain jackets", at(0));
    searcher.sync(&r).await;
    let mut carter = shopper(&shop, "shopper-cart", true).await;
    carter.track_item("add_to_cart", at(0), "R2", "shoes", 19.0);
    carter.track_item("add_to_cart", at(1), "X", "shoes", 120.0);
    carter.sync(&r).await;

    shop.deliver_at(31).await;
    let (subject, text, html) = shop.only_email_to("shopper-search@example.com");
    assert_eq!(subject, "Still searching for \"rain jackets\"?");
    let found = listed(&text);
    assert_eq!(found.len(), 2, "the two rain jackets in stock: {text}");
    assert!(found.iter().all(|l| l.contains("Rain Jacket")), "{text}");
    assert!(text.contains("Use SEARCH10 at checkout"), "{text}");
    assert!(html.contains("rain jackets"), "{html}");

    shop.deliver_at(62).await;
    let (subject, text, _) = shop.only_email_to("shopper-cart@example.com");
    assert_eq!(subject, "Hi, your cart is waiting");
    let cart = listed(&text);
    assert_eq!(cart.len(), 2, "{text}");
    assert!(cart.iter().any(|l| l.starts_with("- Trail Runner: €120.00")), "{text}");
    assert!(cart.iter().any(|l| l.starts_with("- Gel Insole: €19.00")), "{text}");
    assert!(!text.contains("You may also like") && !text.contains("Use "), "cart abandon: neither: {text}");
    shop.stop().await;
}
