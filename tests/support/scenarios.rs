//! The storage-backed scenarios, run against SQLite (tests/server_sqlite.rs) and against
//! Postgres (tests/server_postgres.rs) unchanged.

use axum::http::StatusCode;
use sqlx::Row;
use waymark::server::clock::Clock;
use waymark::server::Server;
use waymark::{Action, ShopperState};

use super::*;

async fn shopper_rows(server: &Server) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM shoppers")
        .fetch_one(server.state.inner().db.reader())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

/// A server on `db` with a manual clock at t0, delivering email to a fresh SMTP sink.
async fn server_with_smtp(db: &TestDb) -> (SmtpSink, Clock, Server) {
    let smtp = SmtpSink::start();
    let clock = Clock::manual(t0());
    let mut st = settings(db);
    st.delivery.smtp_url = Some(smtp.url());
    let server = server_with(st, &clock).await;
    (smtp, clock, server)
}

/// Email templates configured: the reminder the scheduler queues is rendered at delivery
/// from the shopper's freshest state (a trait synced after the decision shows).
pub async fn reminder_is_rendered_from_the_freshest_state(db: TestDb) {
    let smtp = SmtpSink::start();
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("cart-reminder.txt"),
        "Subject: {{ traits.first_name | default('Hello') }}, your cart\n\nStep {{ journey }}/{{ step }} for {{ customer_id | default('a guest') }}.\n",
    )
    .unwrap();
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.delivery.smtp_url = Some(smtp.url());
    st.delivery.email_templates = Some(templates.path().to_path_buf());
    let server = server_with(st, &clock).await;
    let r = server.router();

    let mut a = Browser::new(&r, "shopper-t", "t@example.com").await;
    a.track("add_to_cart", at(0));
    a.sync(&r).await;
    clock.set(at(61));
    assert_eq!(server.scheduler.run_due().await.unwrap(), 1);
    // Queued; then the shopper tells us her name.
    a.state.set_trait("first_name", "Grace".into(), at(61)).unwrap();
    a.sync(&r).await;
    clock.set(at(62));
    let report = server.outbox.deliver_due().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let data = smtp.messages()[0]["data"].as_str().unwrap().to_owned();
    assert!(data.contains("Subject: Grace, your cart"), "{data}");
    assert!(data.contains("Step cart_abandon/reminder for a guest."), "{data}");
    server.shutdown().await;
}

/// Anonymous, then login, then a second device logging in: one merged state, one row.
pub async fn login_merges_states(db: TestDb) {
    let clock = Clock::manual(t0());
    let server = server_with(settings(&db), &clock).await;
    let r = server.router();

    let anon = token(&r, "a1", None).await;
    let mut s = ShopperState::new("a1");
    s.set_trait("color", "red".into(), t0()).unwrap();
    let merged = sync(&r, &anon, &s).await;
    assert_eq!(merged.trait_value("color"), Some(&"red".into()));

    let login = token(&r, "a1", Some("c1")).await;
    let mut s2 = merged.clone();
    s2.identify("c1", at(1));
    s2.set_trait("size", "M".into(), at(1)).unwrap();
    sync(&r, &login, &s2).await;

    let other = token(&r, "a2", None).await;
    let mut s3 = ShopperState::new("a2");
    s3.set_trait("device", "phone".into(), at(2)).unwrap();
    sync(&r, &other, &s3).await;
    assert_eq!(shopper_rows(&server).await, 2, "cust:c1 and anon:a2 before the second login");

    let other_login = token(&r, "a2", Some("c1")).await;
    let m = sync(&r, &other_login, &ShopperState::new("a2")).await;
    for (k, v) in [("color", "red"), ("size", "M"), ("device", "phone")] {
        assert_eq!(m.trait_value(k), Some(&v.into()), "{k}");
    }
    assert_eq!(m.ids, vec!["a1".to_owned(), "a2".into(), "c1".into()]);
    assert_eq!(m.primary_id(), "c1");
    assert_eq!(shopper_rows(&server).await, 1, "one merged row");

    // The first device, still anonymous-only, reads the merged state too.
    let again = sync(&r, &anon, &ShopperState::new("a1")).await;
    assert_eq!(again.trait_value("device"), Some(&"phone".into()));
    server.shutdown().await;
}

/// Abandoned cart: an on-site offer shown → no reminder email (decided suppressed, or
/// suppressed at delivery when it was already queued); without an offer it goes out.
pub async fn onsite_offer_suppresses_reminder(db: TestDb) {
    let (smtp, clock, server) = server_with_smtp(&db).await;
    let r = server.router();

    // A: the offer is shown before the reminder is due.
    let mut a = Browser::new(&r, "shopper-a", "a@example.com").await;
    a.track("add_to_cart", at(0));
    a.sync(&r).await;
    let shown = a.track("view_cart", at(10));
    assert!(shown.iter().any(|d| d.action == Action::Send && d.content.as_deref() == Some("cart-offer")), "{shown:?}");
    a.sync(&r).await;
    // B: the reminder is queued first, the offer shown before delivery.
    let mut b = Browser::new(&r, "shopper-b", "b@example.com").await;
    b.track("add_to_cart", at(0));
    b.sync(&r).await;
    // C: no offer: the reminder goes out.
    let mut c = Browser::new(&r, "shopper-c", "c@example.com").await;
    c.track("add_to_cart", at(0));
    c.sync(&r).await;

    clock.set(at(61));
    assert_eq!(server.scheduler.run_due().await.unwrap(), 3);
    assert_eq!(outbox_count(&server, "pending").await, 2, "B and C queued; A suppressed when decided");

    b.track("view_cart", waymark::Timestamp(at(61).0 + 30_000));
    b.sync(&r).await;
    clock.set(at(62));
    let report = server.outbox.deliver_due().await.unwrap();
    assert_eq!((report.sent, report.suppressed), (1, 1), "{report:?}");
    assert_eq!(smtp.recipients(), vec!["c@example.com".to_owned()]);
    let mail = &smtp.messages()[0];
    assert!(mail["data"].as_str().unwrap().contains("Subject: cart-reminder"), "{mail}");

    let (status, report) = admin_json(&r, "GET", "/v1/analytics", serde_json::Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let cart = &report["journeys"]["cart_abandon"];
    assert_eq!(cart["entries"], 3, "{report}");
    assert_eq!(cart["suppressions"]["recent_onsite"], 2, "{report}");
    assert_eq!(cart["deliveries"]["email:sent"], 1, "{report}");
    assert_eq!(report["journeys"]["cart_offer"]["exits"]["completed"], 2, "{report}");
    server.shutdown().await;
}

/// A browser engine that leaves email to the backend (what the npm package does with an
/// endpoint): the reminder its own timer reaches is parked, synced, then decided and
/// delivered by the backend's scheduler — and a purchase synced first cancels it.
pub async fn browser_delegated_email_is_delivered_by_the_backend(db: TestDb) {
    let (smtp, clock, server) = server_with_smtp(&db).await;
    let r = server.router();
    let delegating = |b: &mut Browser| {
        let options = waymark::EngineOptions { delegate_offsite: true, ..b.engine.options() };
        b.engine.set_options(options);
    };

    let mut a = Browser::new(&r, "shopper-a", "a@example.com").await;
    delegating(&mut a);
    let mut b = Browser::new(&r, "shopper-b", "b@example.com").await;
    delegating(&mut b);
    for shopper in [&mut a, &mut b] {
        shopper.track("add_to_cart", at(0));
        shopper.sync(&r).await;
        // Still on the site an hour later: the browser's timer reaches the reminder.
        let parked = shopper.engine.tick(&mut shopper.state, at(60));
        assert!(
            parked.iter().any(|d| d.action == Action::Defer && d.reasons == [waymark::Reason::Delegated]),
            "{parked:?}"
        );
        assert!(!parked.iter().any(|d| d.action == Action::Send), "{parked:?}");
        shopper.sync(&r).await;
    }
    // B buys before the backend gets to it.
    b.track("purchase", waymark::Timestamp(at(60).0 + 20_000));
    b.sync(&r).await;

    clock.set(at(61));
    server.scheduler.run_due().await.unwrap();
    let report = server.outbox.deliver_due().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(smtp.recipients(), vec!["a@example.com".to_owned()]);
    assert!(smtp.messages()[0]["data"].as_str().unwrap().contains("Subject: cart-reminder"));
    server.shutdown().await;
}

fn event(id: &str, shopper: &str, name: &str, time: waymark::Timestamp) -> serde_json::Value {
    serde_json::json!({ "id": id, "anonymous_id": shopper, "name": name, "time": time.to_rfc3339(),
                        "properties": { "value": 80, "transaction_id": id } })
}

/// A purchase cancels pending follow-ups (before they are decided, and at delivery when
/// already queued); a refund ends the post-purchase journey; the 10-day review goes out.
pub async fn purchase_cancels_followups(db: TestDb) {
    let (smtp, clock, server) = server_with_smtp(&db).await;
    let r = server.router();

    let mut p = Browser::new(&r, "shopper-p", "p@example.com").await;
    p.track("add_to_cart", at(0));
    p.sync(&r).await;
    let mut q = Browser::new(&r, "shopper-q", "q@example.com").await;
    q.track("add_to_cart", at(0));
    q.sync(&r).await;

    clock.set(at(30));
    let (status, answer) =
        admin_json(&r, "POST", "/v1/events", event("order-p", "shopper-p", "purchase", at(30))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let result = &answer["results"][0];
    assert_eq!(result["status"], "accepted");
    assert!(
        result["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["journey"] == "cart_abandon" && d["action"] == "convert"),
        "{answer}"
    );
    let (_, again) = admin_json(&r, "POST", "/v1/events", event("order-p", "shopper-p", "purchase", at(30))).await;
    assert_eq!(again["results"][0]["status"], "duplicate", "idempotent by event id");

    clock.set(at(61));
    server.scheduler.run_due().await.unwrap();
    assert_eq!(outbox_count(&server, "pending").await, 1, "only Q's reminder is queued");
    let (status, _) = admin_json(&r, "POST", "/v1/events", event("order-q", "shopper-q", "purchase", at(61))).await;
    assert_eq!(status, StatusCode::OK);
    clock.set(at(62));
    let report = server.outbox.deliver_due().await.unwrap();
    assert_eq!((report.sent, report.suppressed), (0, 1), "{report:?}");

    // R buys and refunds: no review.
    let buyer = serde_json::json!([
        { "id": "order-r", "customer_id": "cust-r", "name": "purchase", "time": at(62).to_rfc3339(),
          "traits": { "email": "r@example.com" }, "consent": { "email": true } },
        { "id": "refund-r", "customer_id": "cust-r", "name": "refund", "time": at(24 * 60).to_rfc3339() }
    ]);
    let (status, answer) = admin_json(&r, "POST", "/v1/events", buyer).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    clock.set(at(10 * 24 * 60 + 70));
    server.scheduler.run_due().await.unwrap();
    let report = server.outbox.deliver_due().await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    let mut to = smtp.recipients();
    to.sort();
    assert_eq!(to, vec!["p@example.com".to_owned(), "q@example.com".into()]);
    assert!(smtp.messages().iter().all(|m| m["data"].as_str().unwrap().contains("Subject: post-purchase-review")));
    let (_, report) = admin_json(&r, "GET", "/v1/analytics", serde_json::Value::Null).await;
    assert_eq!(report["journeys"]["cart_abandon"]["conversions"], 2, "{report}");
    assert_eq!(report["journeys"]["post_purchase"]["exits"]["exit_rule"], 1, "{report}");
    server.shutdown().await;
}

/// SMS opted out → the email fallback goes out; SMS allowed → a signed webhook call,
/// retried after a failure, delivered once.
pub async fn sms_opt_out_falls_back_to_email(db: TestDb) {
    let smtp = SmtpSink::start();
    let hooks = Hooks::start(1).await;
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.delivery.smtp_url = Some(smtp.url());
    st.delivery.sms_webhook = Some(hooks.url.clone());
    let server = server_with(st, &clock).await;
    let r = server.router();

    let shoppers = serde_json::json!([
        { "id": "bis-m", "customer_id": "cust-m", "name": "back_in_stock",
          "traits": { "email": "m@example.com", "phone": "+15550001" }, "consent": { "sms": false, "email": true } },
        { "id": "bis-n", "customer_id": "cust-n", "name": "back_in_stock",
          "traits": { "email": "n@example.com", "phone": "+15550002" }, "consent": { "sms": true, "email": true } }
    ]);
    let (status, answer) = admin_json(&r, "POST", "/v1/events", shoppers).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let m_send =
        answer["results"][0]["decisions"].as_array().unwrap().iter().find(|d| d["action"] == "send").cloned().unwrap();
    assert_eq!(m_send["channel"], "email", "{answer}");

    let report = server.outbox.deliver_due().await.unwrap();
    assert_eq!((report.sent, report.retried), (1, 1), "{report:?}");
    assert_eq!(smtp.recipients(), vec!["m@example.com".to_owned()]);
    assert!(hooks.bodies().is_empty());

    clock.set(at(3));
    let report = server.outbox.deliver_due().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let calls = hooks.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let (headers, body, raw) = &calls[0];
    assert_eq!(body["to"], "+15550002");
    assert_eq!(body["channel"], "sms");
    assert_eq!(body["content"], "bis-sms");
    let signature = headers["x-waymark-signature"].to_str().unwrap();
    let (t, v1) = signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
    let expected =
        waymark::server::delivery::webhook::sign(WEBHOOK_SECRET.as_bytes(), t.parse().unwrap(), raw).unwrap();
    assert_eq!(v1, expected);
    assert_eq!(headers["idempotency-key"].to_str().unwrap(), body["key"].as_str().unwrap());

    clock.set(at(60));
    assert_eq!(server.outbox.deliver_due().await.unwrap().total(), 0, "nothing sent twice");
    assert_eq!(outbox_count(&server, "sent").await, 2);
    server.shutdown().await;
}

/// Two replicas on one database work the same due timers: every reminder exactly once.
pub async fn two_replicas_deliver_exactly_once(db: TestDb, shoppers: usize) {
    let smtp = SmtpSink::start();
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.delivery.smtp_url = Some(smtp.url());
    let a = server_with(st.clone(), &clock).await;
    let b = Server::start(st, clock.clone()).await.unwrap();
    let events: Vec<serde_json::Value> = (0..shoppers)
        .map(|i| {
            serde_json::json!({ "id": format!("cart-{i}"), "anonymous_id": format!("s-{i}"), "name": "add_to_cart",
                "time": at(0).to_rfc3339(), "traits": { "email": format!("s{i}@example.com") }, "consent": { "email": true } })
        })
        .collect();
    let (status, answer) = admin_json(&a.router(), "POST", "/v1/events", serde_json::Value::Array(events)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    clock.set(at(61));
    let (ta, tb) = tokio::join!(a.scheduler.run_due(), b.scheduler.run_due());
    let (ta, tb) = (ta.unwrap(), tb.unwrap());
    eprintln!("ticked: replica a {ta}, replica b {tb}");
    let mut sent = (0, 0);
    for _ in 0..20 {
        let (ra, rb) = tokio::join!(a.outbox.deliver_due(), b.outbox.deliver_due());
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        sent = (sent.0 + ra.sent, sent.1 + rb.sent);
        if ra.total() + rb.total() == 0 {
            break;
        }
    }
    eprintln!("delivered: replica a {}, replica b {}", sent.0, sent.1);
    let mut to = smtp.recipients();
    to.sort();
    let mut expected: Vec<String> = (0..shoppers).map(|i| format!("s{i}@example.com")).collect();
    expected.sort();
    assert_eq!(to, expected, "each reminder exactly once");
    a.shutdown().await;
    b.shutdown().await;
}

/// Two replicas on one database take syncs of the same shoppers at once: a replica whose
/// conditional write lost the race re-reads, merges and writes again, so no trait sent by
/// any sync is lost (the writer writes rows without a transaction when that is all a
/// batch does, and opens one for the retry). Postgres only: replicas share Postgres, a
/// SQLite file has one server and so one writer.
pub async fn two_replicas_merge_racing_syncs(db: TestDb) {
    let clock = Clock::manual(t0());
    let a = server_with(settings(&db), &clock).await;
    let b = Server::start(settings(&db), clock.clone()).await.unwrap();
    let routers = [a.router(), b.router()];
    let mut tokens = Vec::new();
    for i in 0..4 {
        tokens.push(token(&routers[0], &format!("racer-{i}"), None).await);
    }
    // Rounds of a few syncs per shopper on each replica: both writers busy at once, often
    // with the same rows, so a conditional write regularly finds a newer version.
    for round in 0..40 {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (r, t) = (routers[(i / 4) % 2].clone(), tokens[i % 4].clone());
            tasks.push(tokio::spawn(async move {
                let mut s = ShopperState::new(&format!("racer-{}", i % 4));
                s.set_trait(&format!("k{}", (round + i / 4) % 8), "v".into(), t0()).unwrap();
                sync(&r, &t, &s).await
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    for i in 0..4 {
        let id = format!("racer-{i}");
        let state = sync(&routers[0], &token(&routers[0], &id, None).await, &ShopperState::new(&id)).await;
        for k in 0..8 {
            assert!(state.trait_value(&format!("k{k}")).is_some(), "{id}: trait k{k} lost");
        }
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// The Message-ID header of a message the SMTP sink received.
fn message_id(message: &serde_json::Value) -> String {
    let data = message["data"].as_str().unwrap_or_default();
    data.lines()
        .find_map(|l| l.strip_prefix("Message-ID:").or_else(|| l.strip_prefix("Message-Id:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// Outbox keys in a status, with their lease owner.
async fn outbox_rows(server: &Server, status: &str) -> Vec<(String, Option<String>)> {
    sqlx::query("SELECT key, lease_owner FROM outbox WHERE status = $1")
        .bind(status.to_owned())
        .fetch_all(server.state.inner().db.reader())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("key").unwrap(), r.try_get("lease_owner").unwrap()))
        .collect()
}

/// A replica dies in the middle of a delivery round (its round is dropped while it waits
/// for the relay's answer to a message the relay already has, as a kill would stop it): its
/// claimed rows stay leased to it while its heartbeat could still renew them, and a second replica takes them over once the short lease lapsed.
/// On Postgres the second replica is a second server; on SQLite (one server per file) it
/// is the restarted server's outbox, with a new replica id.
/// Every reminder arrives; one arrives twice only if it was in flight when the round
/// died, and then with the same Message-ID.
pub async fn crashed_replica_rows_are_taken_over(db: TestDb) {
    const SHOPPERS: usize = 20;
    let smtp = SmtpSink::start_slow(200);
    let clock = Clock::manual(t0());
    let mut st = settings(&db);
    st.delivery.smtp_url = Some(smtp.url());
    let lease = st.delivery.lease;
    assert!(lease <= std::time::Duration::from_secs(10), "a crashed replica's leases must lapse within 10 s");
    let a = server_with(st.clone(), &clock).await;
    let second = match db {
        TestDb::Postgres(_) => Some(Server::start(st.clone(), clock.clone()).await.unwrap()),
        TestDb::Sqlite(_) => None,
    };
    let b = match &second {
        Some(server) => server.outbox.clone(),
        // A restarted process: a new replica id and its own SMTP connections.
        None => waymark::server::outbox::Outbox {
            replica: waymark::server::outbox::replica_id().into(),
            delivery: waymark::server::delivery::Delivery::new(&st.delivery).unwrap(),
            ..a.outbox.clone()
        },
    };
    assert_ne!(a.outbox.replica, b.replica);
    let events: Vec<serde_json::Value> = (0..SHOPPERS)
        .map(|i| {
            serde_json::json!({ "id": format!("cart-{i}"), "anonymous_id": format!("c-{i}"), "name": "add_to_cart",
                "time": at(0).to_rfc3339(), "traits": { "email": format!("c{i}@example.com") }, "consent": { "email": true } })
        })
        .collect();
    let (status, answer) = admin_json(&a.router(), "POST", "/v1/events", serde_json::Value::Array(events)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    clock.set(at(61));
    a.scheduler.run_due().await.unwrap();

    // Replica a starts its round; it dies once a few messages went out.
    let round = tokio::spawn({
        let outbox = a.outbox.clone();
        async move { outbox.deliver_due().await }
    });
    let started = std::time::Instant::now();
    while smtp.messages().len() < 5 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "replica a delivered nothing");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    round.abort();
    assert!(round.await.unwrap_err().is_cancelled(), "the round finished before the crash: use more shoppers");
    let held = outbox_rows(&a, "sending").await;
    assert!(!held.is_empty(), "the crashed round left no leased rows");
    assert!(held.iter().all(|(_, owner)| owner.as_deref() == Some(&*a.outbox.replica)), "{held:?}");
    let received_at_crash: std::collections::BTreeSet<String> = smtp.messages().iter().map(message_id).collect();

    // Within the lease the rows are a's: b takes none of them, and only their owner's
    // heartbeat renews them.
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap();
    assert_eq!(b.deliver_due().await.unwrap().total(), 0, "b took rows a still leased");
    assert_eq!(b.renew_leases().await.unwrap(), 0, "b renewed a's leases");
    clock.set(waymark::Timestamp(at(61).0 + ms(lease) - 1000));
    assert_eq!(a.outbox.renew_leases().await.unwrap(), held.len() as u64, "the owner renews all it holds");
    clock.set(waymark::Timestamp(at(61).0 + ms(lease) + 1000));
    assert_eq!(b.deliver_due().await.unwrap().total(), 0, "a renewed lease was taken over");

    // a is gone for good: one lease after its last renewal, b has every row.
    clock.set(waymark::Timestamp(at(61).0 + 2 * ms(lease)));
    for _ in 0..10 {
        if b.deliver_due().await.unwrap().total() == 0 {
            break;
        }
    }
    let unsent: Vec<(String, String, Option<String>)> =
        sqlx::query("SELECT key, status, last_error FROM outbox WHERE status <> 'sent'")
            .fetch_all(a.state.inner().db.reader())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.try_get("key").unwrap(), r.try_get("status").unwrap(), r.try_get("last_error").unwrap()))
            .collect();
    assert!(unsent.is_empty(), "not sent: {unsent:?}");

    let messages = smtp.messages();
    let mut per_id = std::collections::BTreeMap::<String, Vec<String>>::new();
    for m in &messages {
        let to = m["to"][0].as_str().unwrap().to_owned();
        per_id.entry(message_id(m)).or_default().push(to);
    }
    let mut to: Vec<String> = per_id.values().map(|t| t[0].clone()).collect();
    to.sort();
    let mut expected: Vec<String> = (0..SHOPPERS).map(|i| format!("c{i}@example.com")).collect();
    expected.sort();
    assert_eq!(to, expected, "every reminder arrived, one Message-ID each");
    let duplicates: Vec<&String> = per_id.iter().filter(|(_, t)| t.len() > 1).map(|(id, _)| id).collect();
    eprintln!("{} messages for {SHOPPERS} reminders; duplicates {duplicates:?}", messages.len());
    // Sends are sequential within a round: the one in flight at the crash, which had
    // reached the relay before the crash, is the only one that can arrive twice.
    assert!(duplicates.len() <= 1, "{duplicates:?}");
    assert!(duplicates.iter().all(|id| received_at_crash.contains(*id)), "{duplicates:?}");
    a.shutdown().await;
    if let Some(server) = second {
        server.shutdown().await;
    }
}

/// Puts raw bytes in a shopper's row (as an older release or a bad disk might have left
/// them), with a due timer when `due`, and points the shopper's alias at it.
async fn plant_row(server: &Server, key: &str, bytes: &[u8], due: bool) {
    let db = &server.state.inner().db;
    let mut tx = db.begin().await.unwrap();
    waymark::server::storage::raw_upsert(&mut tx, key, bytes, t0()).await.unwrap();
    waymark::server::storage::set_alias(&mut tx, key, key).await.unwrap();
    if due {
        let sql = "UPDATE shoppers SET wake_at = 0 WHERE id = $1";
        sqlx::query(sql).bind(key.to_owned()).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// One shopper's row that cannot be read fails that shopper's jobs only: the other
/// shoppers whose syncs and events share its batches are answered 2xx, and the scheduler
/// keeps running everyone else's timers. A row an older release bloated past the
/// bounds (more traits than a state keeps) is read back trimmed and syncs again.
pub async fn one_bad_row_fails_only_its_own_jobs(db: TestDb) {
    let clock = Clock::manual(t0());
    let server = server_with(settings(&db), &clock).await;
    let r = server.router();

    let mut unreadable = ShopperState::new("bad").encode();
    unreadable[0] = 9; // a version this release cannot read
    plant_row(&server, "anon:bad", &unreadable, true).await;
    let mut bloated = ShopperState::new("bloated");
    for k in 0..60 {
        let entry = waymark::state::TraitEntry {
            at: at(k),
            value: "v".repeat(500).into(),
            source: waymark::state::TraitSource::Shopper,
        };
        bloated.traits.insert(format!("t{k:02}"), entry);
    }
    plant_row(&server, "anon:bloated", &bloated.encode(), false).await;

    let bad = token(&r, "bad", None).await;
    let mut others = Vec::new();
    for i in 0..20 {
        let id = format!("other-{i}");
        let mut s = ShopperState::new(&id);
        s.set_trait("n", (i as f64).into(), t0()).unwrap();
        others.push((token(&r, &id, None).await, s));
    }
    let mut cart = Browser::new(&r, "cart-shopper", "c@example.com").await;
    cart.track("add_to_cart", at(0));
    cart.sync(&r).await;

    // The bad shopper's sync and event go in with the others, so they share batches.
    let bad_state = ShopperState::new("bad").encode();
    let bad_sync = sync_raw(&r, Some(&bad), bad_state);
    let bad_event = admin_json(
        &r,
        "POST",
        "/v1/events",
        serde_json::json!({ "id": "e-bad", "anonymous_id": "bad", "traits": { "vip": true } }),
    );
    let mut good = tokio::task::JoinSet::new();
    for (i, (t, s)) in others.iter().enumerate() {
        let (r, t, bytes) = (r.clone(), t.clone(), s.encode());
        good.spawn(async move { (i, sync_raw(&r, Some(&t), bytes).await) });
    }
    let ((status, body), (event_status, event_body)) = tokio::join!(bad_sync, bad_event);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["error"]["code"], "state_unreadable");
    assert_eq!(event_status, StatusCode::SERVICE_UNAVAILABLE, "{event_body}");
    assert_eq!(event_body["error"]["details"]["results"][0]["status"], "failed", "{event_body}");
    let mut good = good.join_all().await;
    good.sort_by_key(|(i, _)| *i);
    assert_eq!(good.len(), others.len());
    for (i, (status, body)) in good {
        assert_eq!(status, StatusCode::OK, "other shopper {i}: {}", String::from_utf8_lossy(&body));
        assert_eq!(ShopperState::decode(&body).unwrap().trait_value("n"), Some(&(i as f64).into()));
    }

    // The scheduler parks the unreadable row and runs the cart reminder.
    clock.set(at(61));
    assert_eq!(server.scheduler.run_due().await.unwrap(), 2, "both due rows claimed, the round not failed");
    assert_eq!(outbox_count(&server, "pending").await, 1);
    assert_eq!(server.scheduler.run_due().await.unwrap(), 0, "the unreadable row is not claimed again");

    // The bloated row reads back within bounds: the most recent traits kept.
    let bloated_token = token(&r, "bloated", None).await;
    let merged = sync(&r, &bloated_token, &ShopperState::new("bloated")).await;
    assert_eq!(merged.traits.len(), waymark::state::MAX_TRAITS);
    assert!(merged.traits.contains_key("t59") && !merged.traits.contains_key("t27"));
    sync(&r, &bloated_token, &merged).await;
    server.shutdown().await;
}

/// The server's word outranks the browser's: a trait set by `POST /v1/events` stays
/// though a browser stamped its own value far in the future and syncs a later one
/// after; a customer id the token does not bind is not taken from a synced state.
pub async fn server_traits_are_not_overwritten_by_syncs(db: TestDb) {
    let clock = Clock::manual(t0());
    let server = server_with(settings(&db), &clock).await;
    let r = server.router();

    let t = token(&r, "p1", None).await;
    let mut browser = ShopperState::new("p1");
    browser.set_trait("email", "typed@example.com".into(), waymark::Timestamp(i64::MAX)).unwrap();
    let merged = sync(&r, &t, &browser).await;
    let stamp = merged.traits.get("email").unwrap().at;
    assert!(stamp <= at(5), "a future stamp is clamped to the server's clock plus the skew: {stamp:?}");

    let verified =
        serde_json::json!({ "id": "verify-1", "anonymous_id": "p1", "traits": { "email": "verified@example.com" } });
    let (status, answer) = admin_json(&r, "POST", "/v1/events", verified).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // The browser syncs its old copy, then a later value of its own.
    let mut copy = sync(&r, &t, &browser).await;
    assert_eq!(copy.trait_value("email"), Some(&"verified@example.com".into()));
    clock.set(at(10));
    copy.set_trait("email", "later@example.com".into(), at(10)).unwrap();
    let mut forged = browser.clone();
    forged.set_server_trait("email", "forged@example.com".into(), at(10)).unwrap();
    sync(&r, &t, &copy).await;
    let last = sync(&r, &t, &forged).await;
    assert_eq!(last.trait_value("email"), Some(&"verified@example.com".into()));

    // A customer id the token does not bind.
    let mut claim = ShopperState::new("p1");
    claim.customer_id = Some(waymark::state::Stamped { at: at(10), value: "victim".into() });
    let stored = sync(&r, &t, &claim).await;
    assert_eq!(stored.customer_id, None, "not taken from the copy");
    assert_eq!(stored.primary_id(), "p1");
    server.shutdown().await;
}

/// The interest index rows of one item: (shopper row, price seen).
async fn interested_rows(server: &Server, item: &str) -> Vec<(String, Option<i64>)> {
    sqlx::query("SELECT shopper_id, price_seen FROM interest_items WHERE item_id = $1 ORDER BY shopper_id")
        .bind(item.to_owned())
        .fetch_all(server.state.inner().db.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.try_get("shopper_id").unwrap(), row.try_get("price_seen").unwrap()))
        .collect()
}

/// A price drop reaches, through the interest index, exactly the shoppers who saw the
/// item dearer, once per sighting; a forged dearer price is capped by the catalog's; a
/// restock reaches who looked while it was out; new arrivals reach strong affinities.
pub async fn catalog_triggers_reach_interested_shoppers(db: TestDb) {
    use waymark::server::triggers::{fan_out, Trigger, TriggerSettings};
    let clock = Clock::manual(t0());
    let server = server_with(settings(&db), &clock).await;
    let r = server.router();
    let shared = server.state.inner();

    // a saw X at 120, b at 100, c never saw it; d looked at shoes three times.
    let mut a = Browser::new(&r, "shopper-a", "a@example.com").await;
    a.track_item("view_item", at(0), "X", "shoes", 120.0);
    a.sync(&r).await;
    let mut b = Browser::new(&r, "shopper-b", "b@example.com").await;
    b.track_item("view_item", at(1), "X", "shoes", 100.0);
    b.sync(&r).await;
    let mut c = Browser::new(&r, "shopper-c", "c@example.com").await;
    c.track_item("view_item", at(2), "Y", "bags", 50.0);
    c.sync(&r).await;
    let mut d = Browser::new(&r, "shopper-d", "d@example.com").await;
    for (i, item) in ["S1", "S2", "S3"].into_iter().enumerate() {
        d.track_item("view_item", at(3 + i as i64), item, "shoes", 80.0);
    }
    d.sync(&r).await;
    assert_eq!(
        interested_rows(&server, "X").await,
        vec![("anon:shopper-a".to_owned(), Some(12000)), ("anon:shopper-b".to_owned(), Some(10000))],
        "the index holds who saw X and at what price"
    );

    clock.set(at(60));
    let drop = [Trigger::PriceDrop { item: "X".into(), new_price: 9900, at: at(60) }];
    let report = fan_out(&shared.db, &shared.writer, &drop, TriggerSettings::default(), None, at(60)).await.unwrap();
    assert_eq!(report.events.get("price_drop"), Some(&2), "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    let a_state = shared.db.state_by_alias("anon:shopper-a").await.unwrap().unwrap().1;
    assert!(a_state.runs.iter().any(|r| r.journey == "price_drop"), "a entered price_drop (17.5% off)");
    let queued: Vec<(String, String)> =
        sqlx::query("SELECT shopper_id, channel FROM outbox WHERE content = 'price-drop' ORDER BY shopper_id")
            .fetch_all(shared.db.reader())
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.try_get("shopper_id").unwrap(), row.try_get("channel").unwrap()))
            .collect();
    assert_eq!(queued, vec![("anon:shopper-a".to_owned(), "email".to_owned())], "no push token: the email fallback");
    let b_state = shared.db.state_by_alias("anon:shopper-b").await.unwrap().unwrap().1;
    assert!(b_state.runs.iter().all(|r| r.journey != "price_drop"), "b saw 100: a 1% drop does not qualify");

    // The same drop again (a second price change of it, a replayed import): nothing new.
    let again = [Trigger::PriceDrop { item: "X".into(), new_price: 9500, at: at(70) }];
    let report = fan_out(&shared.db, &shared.writer, &again, TriggerSettings::default(), None, at(70)).await.unwrap();
    assert_eq!(report.duplicates, 2, "{report:?}");
    assert!(report.events.is_empty(), "{report:?}");

    // A copy claiming a dearer price than the catalog ever had is capped by the catalog.
    clock.set(at(80));
    let mut e = Browser::new(&r, "shopper-e", "e@example.com").await;
    e.track_item("view_item", at(80), "X", "shoes", 500.0);
    e.sync(&r).await;
    let catalog = |_: &str, _: Timestamp| Some(10_000u32);
    let report =
        fan_out(&shared.db, &shared.writer, &drop, TriggerSettings::default(), Some(&catalog), at(90)).await.unwrap();
    let e_state = shared.db.state_by_alias("anon:shopper-e").await.unwrap().unwrap().1;
    assert!(e_state.runs.iter().all(|r| r.journey != "price_drop"), "capped at 100: 1% off ({report:?})");

    // Restock: who looked at X from the time it went out: only e (a and b looked before).
    clock.set(at(100));
    let restock = [Trigger::BackInStock { item: "X".into(), out_since: at(75), at: at(100) }];
    let report =
        fan_out(&shared.db, &shared.writer, &restock, TriggerSettings::default(), None, at(100)).await.unwrap();
    assert_eq!(report.events.get("back_in_stock"), Some(&1), "only e looked while it was out: {report:?}");

    // New arrivals in shoes: d (3 points) qualifies, a, b and e (1 point each) do not.
    clock.set(at(110));
    let arrivals = [Trigger::NewArrival { item: "S9".into(), category: "shoes".into(), at: at(110) }];
    let report =
        fan_out(&shared.db, &shared.writer, &arrivals, TriggerSettings::default(), None, at(110)).await.unwrap();
    assert_eq!(report.events.get("new_arrivals"), Some(&1), "{report:?}");
    let d_state = shared.db.state_by_alias("anon:shopper-d").await.unwrap().unwrap().1;
    assert!(d_state.runs.iter().any(|r| r.journey == "new_arrivals"), "d entered new_arrivals");
    server.shutdown().await;
}

/// A feed line of the test catalog.
fn feed_line(id: &str, price: &str, availability: &str) -> String {
    format!(
        r#"{{"id": "{id}", "title": "Item {id}", "link": "https://shop.example/p/{id}", "price": "{price} EUR", "availability": "{availability}", "product_type": "shoes"}}"#
    )
}

async fn put_feed(router: &axum::Router, method: &str, lines: &[String]) -> serde_json::Value {
    let (status, _, body) = call(
        router,
        axum::http::Request::builder()
            .method(method)
            .uri("/v1/catalog")
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("content-type", "application/x-ndjson")
            .body(axum::body::Body::from(lines.join("\n")))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    json(&body)
}

/// Through the catalog routes: a price cut in a PATCH reaches the shopper who saw the item
/// dearer (the email fallback queued), once; a restock reaches who looked while it was
/// out; the first import announces no new arrivals, a later new item in a category does.
pub async fn catalog_import_fires_its_triggers(db: TestDb) {
    let clock = Clock::manual(t0());
    let server = server_with(settings(&db), &clock).await;
    let r = server.router();
    let first =
        put_feed(&r, "PUT", &[feed_line("X", "120.00", "in_stock"), feed_line("Z", "30.00", "out_of_stock")]).await;
    assert_eq!(first["triggered"]["events"], serde_json::json!({}), "{first}");

    let mut a = Browser::new(&r, "shopper-a", "a@example.com").await;
    a.track_item("view_item", at(1), "X", "shoes", 120.0);
    a.track_item("view_item", at(2), "Z", "shoes", 30.0);
    a.track_item("view_item", at(3), "W", "shoes", 10.0);
    a.sync(&r).await;

    clock.set(at(10));
    let cut = put_feed(&r, "PATCH", &[feed_line("X", "99.00", "in_stock")]).await;
    assert_eq!(cut["triggered"]["events"]["price_drop"], 1, "{cut}");
    let again = put_feed(&r, "PATCH", &[feed_line("X", "95.00", "in_stock")]).await;
    assert_eq!(again["triggered"]["duplicates"], 1, "the same drop, told once: {again}");
    let queued = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE content = 'price-drop'")
        .fetch_one(server.state.inner().db.reader())
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap();
    assert_eq!(queued, 1, "one price-drop message queued");

    clock.set(at(20));
    let restock = put_feed(&r, "PATCH", &[feed_line("Z", "30.00", "in_stock")]).await;
    assert_eq!(restock["triggered"]["events"]["back_in_stock"], 1, "{restock}");

    clock.set(at(30));
    let arrival = put_feed(&r, "PATCH", &[feed_line("N", "50.00", "in_stock")]).await;
    assert_eq!(arrival["triggered"]["events"]["new_arrivals"], 1, "3 views of shoes: {arrival}");

    // Recommendations: what goes with X is what was viewed with it, in the catalog and in
    // stock, never X itself; search finds by title, stemmed.
    let (status, _, body) =
        call(&r, axum::http::Request::get("/v1/recommendations?item=X&k=5").body(axum::body::Body::empty()).unwrap())
            .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let answer = json(&body);
    let ids: Vec<&str> = answer["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"Z"), "Z was viewed with X: {answer}");
    assert!(!ids.contains(&"X") && !ids.contains(&"W"), "not X, not an item outside the catalog: {answer}");
    let z = answer["items"].as_array().unwrap().iter().find(|c| c["id"] == "Z").unwrap();
    assert_eq!(z["reason_code"], "viewed_together", "{answer}");
    assert_eq!(z["title"], "Item Z");
    assert_eq!(z["price"], 30.0);
    let (status, _, body) =
        call(&r, axum::http::Request::get("/v1/recommendations?q=items").body(axum::body::Body::empty()).unwrap())
            .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!json(&body)["items"].as_array().unwrap().is_empty(), "\"items\" finds \"Item …\" titles");
    let (status, _, _) = call(
        &r,
        axum::http::Request::get("/v1/recommendations?shopper=shopper-a").body(axum::body::Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a shopper's recommendations are the admin's to read");

    // An import outside the server (the CLI's path) queues its triggers as a job, which
    // the server's background loop runs once; a job whose run stopped mid-way (its lease
    // still held) is taken over when the lease lapses, and its second run only finds
    // duplicates.
    use waymark::server::catalog::feed::{parse, Format};
    use waymark::server::catalog::store::{import, ImportMode};
    use waymark::server::trigger_jobs::{run_due, LEASE};
    let shared = server.state.inner();
    assert_eq!(run_due(&shared.db, &shared.writer, &clock).await.unwrap(), 0, "the route ran its own jobs");
    clock.set(at(40));
    let feed = parse(feed_line("Z", "20.00", "in_stock").as_bytes(), Format::Jsonl).unwrap();
    let report = import(&shared.db, &feed, ImportMode::Patch, at(40)).await.unwrap();
    let job = report.job.expect("a price drop queues a job");
    assert_eq!(run_due(&shared.db, &shared.writer, &clock).await.unwrap(), 1);
    let job_report = |id: i64| async move {
        let row = sqlx::query("SELECT report FROM catalog_jobs WHERE id = $1")
            .bind(id)
            .fetch_one(shared.db.reader())
            .await
            .unwrap();
        json(row.try_get::<String, _>("report").unwrap().as_bytes())
    };
    assert_eq!(job_report(job).await["events"]["price_drop"], 1, "a saw Z at 30");
    assert_eq!(run_due(&shared.db, &shared.writer, &clock).await.unwrap(), 0, "done once");

    sqlx::query("UPDATE catalog_jobs SET done_at = NULL, lease_until = $1 WHERE id = $2")
        .bind(at(40).plus(LEASE).0)
        .bind(job)
        .execute(shared.db.write_pool())
        .await
        .unwrap();
    clock.set(at(41));
    assert_eq!(run_due(&shared.db, &shared.writer, &clock).await.unwrap(), 0, "leased by a run that may be alive");
    clock.set(at(41).plus(LEASE));
    assert_eq!(run_due(&shared.db, &shared.writer, &clock).await.unwrap(), 1, "the lapsed lease is taken over");
    let again = job_report(job).await;
    assert_eq!(
        (again["duplicates"].as_u64(), again["events"].as_object().map(|e| e.len())),
        (Some(1), Some(0)),
        "{again}"
    );
    server.shutdown().await;
}
