//! `--mode crash-mail`: kill -9 during email delivery with a real SMTP receiver
//! (tests/support/smtp_sink.py, aiosmtpd, each message held `--smtp-delay-ms` before it is
//! accepted so sends are in flight), then count what arrived by Message-ID.
//!
//! `--messages` shoppers each get one email (a one-step journey entered by an admin
//! event). Once a third has arrived, replica 0 is killed with SIGKILL. With one replica it
//! is restarted on the same database; with `--replicas 2` (Postgres) the survivor carries
//! on alone. Measured: the rows leased to the killed process at the kill (`lease_owner`
//! starts with its pid), the seconds until none of them is leased to it any more (taken
//! over by a live replica: the lease recovery time), and, once the outbox is empty, every
//! expected Message-ID's count at the receiver: lost (0), duplicates, and duplicates not
//! in flight at the kill (a message leased to the killed process that had reached the
//! receiver but was not recorded as sent).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Row;
use waymark::server::delivery::smtp::message_id;
use waymark::server::sqlite::Synchronous;
use waymark::server::storage::Db;
use waymark::Timestamp;

use crate::server::{Launch, ServerProcess};

/// The journey every crash-suite shopper enters: one email, right away.
pub const JOURNEY: &str = r#"{
  "id": "crash_mail",
  "name": "Crash suite: one email per shopper",
  "priority": 1,
  "entry": { "event": "crash_mail" },
  "reentry": { "mode": "once" },
  "steps": [
    { "id": "send", "type": "send", "channel": "email", "content": "crash-mail" },
    { "id": "done", "type": "exit" }
  ]
}"#;

/// What one kill during delivery did.
pub struct MailCrashReport {
    /// Emails decided.
    pub expected: usize,
    /// Distinct expected Message-IDs that arrived.
    pub delivered: usize,
    /// Expected Message-IDs that never arrived.
    pub lost: usize,
    /// Arrivals beyond the first, per Message-ID, summed.
    pub duplicates: usize,
    /// Duplicates of messages that were not in flight at the kill.
    pub unexplained: usize,
    /// Rows leased to the killed process at the kill.
    pub held: usize,
    /// Of those, messages that had reached the receiver (sent, not recorded).
    pub in_flight: usize,
    /// Seconds from the kill until no row was leased to the killed process.
    pub recovery_s: f64,
}

/// The SMTP receiver: a child process appending one JSON line per message to `file`.
pub struct Sink {
    child: Child,
    /// `smtp://127.0.0.1:PORT`.
    pub url: String,
    file: PathBuf,
}

impl Sink {
    /// Starts `python script PORT FILE` and waits for its "ready".
    pub fn start(python: &str, script: &Path, file: PathBuf, delay_ms: u64) -> Sink {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(&file)
            .env("SMTP_SINK_DELAY_MS", delay_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start (is aiosmtpd installed?)");
        Sink { child, url: format!("smtp://127.0.0.1:{port}"), file }
    }

    /// Message-IDs received so far, in order.
    pub fn message_ids(&self) -> Vec<String> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|m| {
                let data = m["data"].as_str().unwrap_or_default().to_owned();
                data.lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("message-id").then(|| value.trim().to_owned())
                    })
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn keys(db: &Db, sql: &str, bind: Option<&str>) -> Vec<String> {
    let mut q = sqlx::query(sql);
    if let Some(b) = bind {
        q = q.bind(b.to_owned());
    }
    q.fetch_all(db.reader()).await.unwrap().iter().map(|r| r.try_get::<String, _>("key").unwrap()).collect()
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query(sql).fetch_one(db.reader()).await.unwrap().try_get("n").unwrap()
}

/// The admin events that make `n` shoppers enter the journey, in batches of 100.
async fn enqueue(client: &reqwest::Client, base: &str, admin: &str, n: usize) {
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
    );
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(100) {
        let events: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| {
                serde_json::json!({ "id": format!("mail-{i}"), "anonymous_id": format!("mail-{i}"), "name": "crash_mail",
                    "time": now.to_rfc3339(), "traits": { "email": format!("m{i}@example.com") }, "consent": { "email": true } })
            })
            .collect();
        let resp = client
            .post(format!("{base}/v1/events"))
            .bearer_auth(admin)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::Value::Array(events).to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(status.is_success(), "POST /v1/events: {status} {}", resp.text().await.unwrap_or_default());
    }
}

async fn wait_for<F: FnMut() -> Fut, Fut: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut done: F,
) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One kill during delivery. `launches[0]` is the replica killed (and, alone, restarted).
pub async fn run(launches: &[Launch<'_>], db_url: &str, sink: &Sink, admin: &str, messages: usize) -> MailCrashReport {
    let client = reqwest::Client::new();
    let mut servers = Vec::new();
    for launch in launches {
        servers.push(ServerProcess::start(launch, &client).await);
    }
    let db = Db::connect(db_url, 2, Synchronous::Full).await.unwrap();
    enqueue(&client, &servers[0].base, admin, messages).await;

    wait_for("a third of the emails to arrive", Duration::from_secs(120), || async {
        sink.message_ids().len() >= messages / 3
    })
    .await;
    let victim = servers.remove(0);
    let pid = victim.pid();
    victim.kill9();
    let killed = Instant::now();
    // Bytes the victim wrote before it died are still delivered by the kernel: a message
    // whose DATA it had finished sending can reach the receiver a moment after the kill.
    // That is a send in flight at the kill, so arrivals are read after a pause (far shorter
    // than a lease: no other replica can have taken one of its rows over yet).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let arrived: BTreeSet<String> = sink.message_ids().into_iter().collect();
    let owner = format!("{pid}-%");
    let leased = "SELECT key FROM outbox WHERE status = 'sending' AND lease_owner LIKE $1";
    let held = keys(&db, leased, Some(&owner)).await;
    if launches.len() == 1 {
        servers.push(ServerProcess::start(&launches[0], &client).await);
    }
    wait_for("the killed replica's leases to be taken over", Duration::from_secs(60), || async {
        keys(&db, leased, Some(&owner)).await.is_empty()
    })
    .await;
    let recovery_s = if held.is_empty() { 0.0 } else { killed.elapsed().as_secs_f64() };
    wait_for("the outbox to empty", Duration::from_secs(180), || async {
        count(&db, "SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')").await == 0
    })
    .await;
    // The last acceptance is written by the receiver after it answered.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let expected: BTreeSet<String> = keys(&db, "SELECT key FROM outbox WHERE journey = 'crash_mail'", None)
        .await
        .iter()
        .map(|k| message_id(k))
        .collect();
    let not_sent = count(&db, "SELECT COUNT(*) AS n FROM outbox WHERE status <> 'sent'").await;
    if not_sent > 0 {
        eprintln!("crash-mail: {not_sent} outbox rows ended other than sent");
    }
    let mut per_id = BTreeMap::<String, usize>::new();
    for id in sink.message_ids() {
        *per_id.entry(id).or_default() += 1;
    }
    let in_flight: BTreeSet<String> = held.iter().map(|k| message_id(k)).filter(|id| arrived.contains(id)).collect();
    let delivered = expected.iter().filter(|id| per_id.contains_key(*id)).count();
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    let unexplained: usize = per_id.iter().filter(|(id, _)| !in_flight.contains(*id)).map(|(_, n)| n - 1).sum();
    for server in servers {
        server.stop();
    }
    db.close().await;
    if expected.len() != messages {
        eprintln!("crash-mail: {} outbox rows for {messages} shoppers", expected.len());
    }
    MailCrashReport {
        expected: messages,
        delivered,
        lost: messages.saturating_sub(delivered),
        duplicates,
        unexplained,
        held: held.len(),
        in_flight: in_flight.len(),
        recovery_s,
    }
}
