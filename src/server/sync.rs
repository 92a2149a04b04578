//! The group-commit writer. Every change to shopper state — `/v1/sync` merges, server-side
//! events, recorded contacts — is a job sent to one task, which takes all jobs waiting,
//! applies them in one transaction and answers each only after that transaction commits
//! (one fsync for the batch instead of one per request). Within a batch a shopper's
//! state is read once, every job applied to it in arrival order, and written once; a
//! write that lost a race with another replica re-reads and merges again (merge is a
//! join, so the order of copies does not matter).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{mpsc, oneshot, watch};

use super::analytics::Tally;
use super::clock::Clock;
use super::error::ApiError;
use super::journeys::Journeys;
use super::link::Link;
use super::metrics::Metrics;
use super::outbox::{self, OutboxRow};
use super::storage::{self, anon_key, customer_key, Db, StorageError, StorageResult, StoredShopper};
use crate::decision::Decision;
use crate::engine::Engine;
use crate::event::Event;
use crate::journey::Channel;
use crate::state::{ShopperState, MAX_ENCODED_BYTES};
use crate::time::Timestamp;

/// Conflict retries of one row write before the batch gives up.
const WRITE_RETRIES: usize = 8;
/// Whole-batch retries after a transient database error (deadlock, serialization).
const BATCH_RETRIES: usize = 3;

/// Who a job is for: an anonymous id, a customer id, or both (after login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Anonymous (device) id.
    pub anonymous: Option<String>,
    /// Customer id.
    pub customer: Option<String>,
}

impl Identity {
    fn ids(&self) -> impl Iterator<Item = &str> {
        self.anonymous.iter().chain(self.customer.iter()).map(String::as_str)
    }
}

/// A server-side event, validated.
#[derive(Debug, Clone)]
pub struct ServerEvent {
    /// Idempotency key.
    pub id: String,
    /// Event time.
    pub time: Timestamp,
    /// Event name; None = only traits / consent.
    pub name: Option<String>,
    /// Properties.
    pub properties: crate::value::Map,
    /// Traits to set first.
    pub traits: crate::value::Map,
    /// Consent to set first.
    pub consent: BTreeMap<Channel, bool>,
}

/// What a job does.
#[derive(Debug, Clone)]
pub enum Work {
    /// Merge a copy of the state.
    Sync(Box<ShopperState>),
    /// Apply a server-side event.
    Event(Box<ServerEvent>),
    /// Record a message another platform sent.
    Contact {
        /// Channel used.
        channel: Channel,
        /// Journey, if the message belongs to one.
        journey: Option<String>,
    },
}

/// The answer to a job.
#[derive(Debug, Clone)]
pub enum Done {
    /// The merged state, as committed.
    State(Box<ShopperState>),
    /// An event's effect.
    Event {
        /// Seen before: nothing applied.
        duplicate: bool,
        /// Decisions the engine took.
        decisions: Vec<Decision>,
        /// Traits that were not stored, with why.
        warnings: Vec<String>,
    },
    /// A contact was recorded.
    Recorded,
}

struct Job {
    identity: Identity,
    work: Work,
    arrived: Instant,
    reply: oneshot::Sender<Result<Done, ApiError>>,
}

/// Handle to the writer task.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// What the writer needs.
#[derive(Debug, Clone)]
pub struct WriterContext {
    /// Database.
    pub db: Db,
    /// Current journeys.
    pub journeys: Journeys,
    /// Clock.
    pub clock: Clock,
    /// Metrics.
    pub metrics: Metrics,
    /// Most jobs per batch.
    pub batch_max: usize,
}

impl Writer {
    /// Starts the writer task; it drains what is queued and stops when `shutdown` turns true.
    pub fn spawn(ctx: WriterContext, shutdown: watch::Receiver<bool>) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(ctx.batch_max.saturating_mul(8).max(64));
        let runtime = tokio::runtime::Handle::current();
        let own_thread =
            !ctx.db.is_postgres() && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread;
        let handle = if own_thread {
            // SQLite: on a thread of its own. Each statement runs on the connection's own
            // thread, which wakes the writer when it is done; a task woken from outside the
            // runtime waits in its global queue, which a busy worker looks at only every few
            // dozen tasks, so under load each of a batch's statements can wait behind
            // request tasks. Here it resumes as soon as the OS runs the thread. (Postgres answers arrive through the
            // runtime's own I/O driver: a task is the shorter path there. A current-thread
            // runtime, as in tests, drives I/O on its own thread only.)
            tokio::task::spawn_blocking(move || runtime.block_on(run(ctx, rx, shutdown)))
        } else {
            tokio::spawn(run(ctx, rx, shutdown))
        };
        (Writer { tx }, handle)
    }

    /// Queues a job and waits until it is committed.
    pub async fn submit(&self, identity: Identity, work: Work) -> Result<Done, ApiError> {
        let answer = self.enqueue(identity, work).await?;
        answer.await.map_err(|_| ApiError::shutting_down())?
    }

    /// Queues several jobs at once (they share a commit when they fit in one batch) and
    /// waits for all of them.
    pub async fn submit_many(&self, jobs: Vec<(Identity, Work)>) -> Vec<Result<Done, ApiError>> {
        let mut answers = Vec::with_capacity(jobs.len());
        for (identity, work) in jobs {
            answers.push(self.enqueue(identity, work).await);
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(match answer {
                Ok(rx) => rx.await.unwrap_or_else(|_| Err(ApiError::shutting_down())),
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn enqueue(
        &self,
        identity: Identity,
        work: Work,
    ) -> Result<oneshot::Receiver<Result<Done, ApiError>>, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { identity, work, arrived: Instant::now(), reply };
        self.tx.send(job).await.map_err(|_| ApiError::shutting_down())?;
        Ok(answer)
    }
}

/// How long the writer keeps the writing connection while jobs keep coming. Between
/// back-to-back batches it skips the pool's hand-back (a spawned task and a test round
/// trip to the database) and the next acquire; past this it hands it back anyway, so the
/// scheduler and the outbox get their turn on SQLite's single writing connection.
const HOLD: Duration = Duration::from_millis(100);

async fn run(ctx: WriterContext, mut rx: mpsc::Receiver<Job>, mut shutdown: watch::Receiver<bool>) {
    let mut held: Option<(PoolConnection<Any>, Instant)> = None;
    loop {
        let first = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(_) => {
                // Idle: give the connection back before waiting.
                held = None;
                tokio::select! {
                    job = rx.recv() => job,
                    _ = shutdown.changed() => {
                        // Finish what was accepted, refuse the rest.
                        rx.close();
                        rx.recv().await
                    }
                }
            }
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < ctx.batch_max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if held.as_ref().is_some_and(|(_, since)| since.elapsed() >= HOLD) {
            held = None;
        }
        let mut conn = match held.take() {
            Some(held) => held,
            None => match ctx.db.writer().await {
                Ok(conn) => (conn, Instant::now()),
                Err(e) => {
                    fail(batch, &e);
                    continue;
                }
            },
        };
        if process(&ctx, &mut conn.0, batch).await {
            held = Some(conn);
        }
    }
    tracing::info!("writer stopped: every accepted job committed");
}

/// Applies and commits a batch, answers its jobs; false when it failed (the connection
/// is then not reused).
async fn process(ctx: &WriterContext, conn: &mut AnyConnection, batch: Vec<Job>) -> bool {
    let published = ctx.journeys.current();
    let now = ctx.clock.now();
    let items: Vec<(&Identity, &Work)> = batch.iter().map(|j| (&j.identity, &j.work)).collect();
    let started = Instant::now();
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        match apply_batch(conn, &published.engine, &items, now).await {
            Ok(results) => break Ok(results),
            Err(e) if attempt < BATCH_RETRIES && transient(&e) => {
                tracing::warn!(error = %e, attempt, "batch failed, retrying");
            }
            Err(e) => break Err(e),
        }
    };
    tracing::debug!(jobs = batch.len(), micros = started.elapsed().as_micros() as u64, "batch committed");
    ctx.metrics.batch_size.with_label_values(&["writer"]).observe(batch.len() as f64);
    match outcome {
        Ok((results, decisions)) => {
            ctx.metrics.count_decisions(&decisions);
            for (job, result) in batch.into_iter().zip(results) {
                ctx.metrics.commit_seconds.with_label_values(&["writer"]).observe(job.arrived.elapsed().as_secs_f64());
                let _ = job.reply.send(result);
            }
            true
        }
        Err(e) => {
            fail(batch, &e);
            false
        }
    }
}

/// Answers every job of a batch that could not be committed with the error.
fn fail(batch: Vec<Job>, e: &StorageError) {
    tracing::error!(error = %e, jobs = batch.len(), "group commit failed");
    for job in batch {
        let _ = job.reply.send(Err(ApiError::storage(e)));
    }
}

fn transient(e: &StorageError) -> bool {
    match e {
        StorageError::Sql(sqlx::Error::Database(db)) => {
            // Postgres deadlock / serialization failure / unique violation from a racing insert.
            matches!(db.code().as_deref(), Some("40P01") | Some("40001") | Some("23505"))
        }
        StorageError::Sql(sqlx::Error::PoolTimedOut) => true,
        _ => false,
    }
}

/// A shopper's state while a batch works on it.
struct Slot {
    state: ShopperState,
    version: Option<i64>,
    before: Option<ShopperState>,
    dirty: bool,
    /// Why the stored state cannot be used (it does not decode, or it would not fit once
    /// written): the jobs of this shopper fail with this, the rest of the batch goes on.
    refused: Option<ApiError>,
}

impl Slot {
    fn loaded(row: StorageResult<StoredShopper>) -> Slot {
        match row {
            Ok(row) => Slot {
                before: Some(row.state.clone()),
                state: row.state,
                version: Some(row.version),
                dirty: false,
                refused: None,
            },
            Err(e) => {
                tracing::error!(error = %e, "shopper state does not decode; its jobs fail, the batch goes on");
                Slot {
                    state: ShopperState::default(),
                    version: None,
                    before: None,
                    dirty: false,
                    refused: Some(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "state_unreadable",
                        format!("{e}; nothing was changed (other shoppers are not affected)"),
                    )),
                }
            }
        }
    }
}

enum Pending {
    Sync(String),
    Done(String, Done),
}

struct Batch<'a> {
    link: Link<'a>,
    engine: &'a Engine,
    now: Timestamp,
    slots: BTreeMap<String, Slot>,
    aliases: BTreeMap<String, Option<String>>,
    new_aliases: BTreeMap<String, String>,
    moved: BTreeMap<String, String>,
    outbox: Vec<OutboxRow>,
    tally: Tally,
    decisions: Vec<Decision>,
}

type BatchResult = (Vec<Result<Done, ApiError>>, Vec<Decision>);

async fn apply_batch(
    conn: &mut AnyConnection,
    engine: &Engine,
    items: &[(&Identity, &Work)],
    now: Timestamp,
) -> StorageResult<BatchResult> {
    let started = Instant::now();
    let mut b = Batch {
        link: Link::Plain(conn),
        engine,
        now,
        slots: BTreeMap::new(),
        aliases: BTreeMap::new(),
        new_aliases: BTreeMap::new(),
        moved: BTreeMap::new(),
        outbox: Vec::new(),
        tally: Tally::default(),
        decisions: Vec::new(),
    };
    b.prefetch(items).await?;
    let read = started.elapsed();
    let mut pending = Vec::with_capacity(items.len());
    for (identity, work) in items {
        pending.push(b.apply(identity, work).await?);
    }
    b.flush().await?;
    if !b.outbox.is_empty() || !b.tally.is_empty() {
        b.link.begin().await?;
        let conn = b.link.conn()?;
        outbox::enqueue(conn, &b.outbox, now).await?;
        b.tally.flush(conn).await?;
    }
    let written = started.elapsed();
    let transaction = b.link.in_transaction();
    b.link.commit().await?;
    tracing::debug!(
        jobs = items.len(),
        transaction,
        read_micros = read.as_micros() as u64,
        write_micros = written.saturating_sub(read).as_micros() as u64,
        commit_micros = started.elapsed().saturating_sub(written).as_micros() as u64,
        "batch phases"
    );
    let refused = |key: String| b.slots.get(&follow(&b.moved, key)).and_then(|slot| slot.refused.clone());
    let results = pending
        .into_iter()
        .map(|p| match p {
            Ok(Pending::Sync(key)) => {
                let key = follow(&b.moved, key);
                match b.slots.get(&key) {
                    Some(Slot { refused: Some(e), .. }) => Err(e.clone()),
                    Some(slot) => Ok(Done::State(Box::new(slot.state.clone()))),
                    None => Err(ApiError::storage("merged state missing after commit")),
                }
            }
            Ok(Pending::Done(key, done)) => match refused(key) {
                Some(e) => Err(e),
                None => Ok(done),
            },
            Err(e) => Err(e),
        })
        .collect();
    Ok((results, b.decisions))
}

fn follow(moved: &BTreeMap<String, String>, mut key: String) -> String {
    for _ in 0..16 {
        match moved.get(&key) {
            Some(next) => key = next.clone(),
            None => break,
        }
    }
    key
}

impl Batch<'_> {
    /// Resolves every id of the batch and loads the rows they point at up front, in a few
    /// multi-row statements instead of two per job; `resolve` then works from memory
    /// (ids seen for the first time fall through to `alias` / `slot` as before).
    async fn prefetch(&mut self, items: &[(&Identity, &Work)]) -> StorageResult<()> {
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for (identity, _) in items {
            if let Some(anon) = &identity.anonymous {
                wanted.insert(anon_key(anon));
            }
            if let Some(customer) = &identity.customer {
                wanted.insert(customer_key(customer));
            }
        }
        let asked: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let found = storage::resolve_and_load(self.link.conn()?, &asked).await?;
        for r in found {
            if let Some(row) = r.row {
                self.slots.entry(r.key.clone()).or_insert_with(|| Slot::loaded(row));
            }
            self.aliases.insert(r.alias, Some(r.key));
        }
        // Rows still to look for: targets of aliases whose row is gone, and the own key of
        // each unknown id (a new shopper: usually absent, then a fresh state).
        let mut missing: BTreeSet<String> = BTreeSet::new();
        for alias in wanted {
            match self.aliases.get(&alias) {
                Some(Some(key)) => {
                    if !self.slots.contains_key(key) {
                        missing.insert(key.clone());
                    }
                }
                _ => {
                    self.aliases.insert(alias.clone(), None);
                    if !self.slots.contains_key(&alias) {
                        missing.insert(alias);
                    }
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let asked: Vec<&str> = missing.iter().map(String::as_str).collect();
        for (key, row) in storage::load_shoppers(self.link.conn()?, &asked).await? {
            missing.remove(&key);
            self.slots.insert(key, Slot::loaded(row));
        }
        for key in missing {
            let slot = fresh_slot(&key);
            self.slots.insert(key, slot);
        }
        Ok(())
    }

    async fn apply(&mut self, identity: &Identity, work: &Work) -> StorageResult<Result<Pending, ApiError>> {
        let key = self.resolve(identity).await?;
        let now = self.now;
        let engine = self.engine;
        let Some(slot) = self.slots.get_mut(&key) else {
            return Ok(Err(ApiError::storage("shopper slot missing")));
        };
        if let Some(refused) = &slot.refused {
            return Ok(Err(refused.clone()));
        }
        link(&mut slot.state, identity, now);
        match work {
            Work::Sync(incoming) => {
                let known: BTreeSet<&str> = slot.state.ids.iter().map(String::as_str).chain(identity.ids()).collect();
                if let Some(stranger) = incoming.ids.iter().find(|id| !known.contains(id.as_str())) {
                    return Ok(Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "identity_mismatch",
                        format!("the state names shopper id {stranger:?}, which this token does not speak for"),
                    )));
                }
                // The customer id is the token's to say: one the token does not bind is
                // not taken from the copy (the stored one, if any, stays).
                let bound = |c: &crate::state::Stamped<String>| identity.customer.as_deref() == Some(c.value.as_str());
                if incoming.customer_id.as_ref().is_some_and(|c| !bound(c)) {
                    let mut copy = incoming.as_ref().clone();
                    copy.customer_id = None;
                    slot.state.merge(&copy);
                } else {
                    slot.state.merge(incoming);
                }
                slot.dirty = true;
                Ok(Ok(Pending::Sync(key)))
            }
            Work::Event(event) => {
                self.link.begin().await?;
                if !storage::first_sighting(self.link.conn()?, &event.id, &key, now).await? {
                    let done = Done::Event { duplicate: true, decisions: Vec::new(), warnings: Vec::new() };
                    return Ok(Ok(Pending::Done(key, done)));
                }
                let state = &mut slot.state;
                for (channel, granted) in &event.consent {
                    state.set_consent(*channel, *granted, event.time);
                }
                let mut warnings = Vec::new();
                // Traits from the shop's server outrank what the shopper's copies say.
                for (k, v) in &event.traits {
                    if let Err(e) = state.set_server_trait(k, v.clone(), event.time) {
                        warnings.push(format!("{}: {e}", e.code()));
                    }
                }
                let decisions = match &event.name {
                    Some(name) => engine.ingest(state, &Event::new(name, event.time, event.properties.clone()), now),
                    None => engine.tick(state, now),
                };
                slot.dirty = true;
                self.outbox.extend(outbox::rows_for(&key, &decisions));
                self.tally.decisions(&decisions);
                self.decisions.extend(decisions.iter().cloned());
                Ok(Ok(Pending::Done(key, Done::Event { duplicate: false, decisions, warnings })))
            }
            Work::Contact { channel, journey } => {
                engine.record_contact(&mut slot.state, *channel, journey.as_deref(), now);
                slot.dirty = true;
                Ok(Ok(Pending::Done(key, Done::Recorded)))
            }
        }
    }

    /// The row key for an identity; folds an anonymous row into the customer row at login.
    async fn resolve(&mut self, identity: &Identity) -> StorageResult<String> {
        let key = match (&identity.anonymous, &identity.customer) {
            (anon, Some(customer)) => {
                let key = customer_key(customer);
                let own = self.alias(&key).await?;
                let key = match own {
                    Some(target) => target,
                    None => {
                        self.set_alias(&key, &key).await?;
                        key
                    }
                };
                self.slot(&key).await?;
                if let Some(anon) = anon {
                    let ak = anon_key(anon);
                    match self.alias(&ak).await? {
                        Some(target) if target == key => {}
                        Some(target) => self.fold(&target, &key).await?,
                        None => self.set_alias(&ak, &key).await?,
                    }
                }
                key
            }
            (Some(anon), None) => {
                let ak = anon_key(anon);
                match self.alias(&ak).await? {
                    Some(target) => target,
                    None => {
                        self.set_alias(&ak, &ak).await?;
                        ak
                    }
                }
            }
            (None, None) => String::new(),
        };
        self.slot(&key).await?;
        Ok(key)
    }

    async fn alias(&mut self, alias: &str) -> StorageResult<Option<String>> {
        if let Some(known) = self.aliases.get(alias) {
            return Ok(known.clone());
        }
        let found = storage::resolve_alias(self.link.conn()?, alias).await?;
        self.aliases.insert(alias.to_owned(), found.clone());
        Ok(found)
    }

    /// Points an alias at a row; written with the batch's other aliases in `flush`.
    async fn set_alias(&mut self, alias: &str, key: &str) -> StorageResult<()> {
        self.new_aliases.insert(alias.to_owned(), key.to_owned());
        self.aliases.insert(alias.to_owned(), Some(key.to_owned()));
        Ok(())
    }

    /// Makes sure `key` has a slot (loaded, or a fresh state).
    async fn slot(&mut self, key: &str) -> StorageResult<()> {
        if self.slots.contains_key(key) {
            return Ok(());
        }
        let slot = match storage::load_shopper(self.link.conn()?, key, "").await {
            Ok(Some(stored)) => Slot::loaded(Ok(stored)),
            Ok(None) => fresh_slot(key),
            Err(e @ StorageError::CorruptState { .. }) => Slot::loaded(Err(e)),
            Err(e) => return Err(e),
        };
        self.slots.insert(key.to_owned(), slot);
        Ok(())
    }

    /// Merges row `from` into row `to` and points `from`'s aliases at `to`.
    async fn fold(&mut self, from: &str, to: &str) -> StorageResult<()> {
        self.slot(from).await?;
        let unreadable = |slot: Option<&Slot>| slot.is_some_and(|s| s.refused.is_some());
        if unreadable(self.slots.get(from)) || unreadable(self.slots.get(to)) {
            // Folding would drop the bytes nobody can read: leave both rows as they are.
            return Ok(());
        }
        if let Some(old) = self.slots.remove(from) {
            if let Some(target) = self.slots.get_mut(to) {
                target.state.merge(&old.state);
                target.dirty = true;
            }
        }
        self.link.begin().await?;
        storage::fold_into(self.link.conn()?, from, to).await?;
        for value in self.new_aliases.values_mut() {
            if value == from {
                *value = to.to_owned();
            }
        }
        for value in self.aliases.values_mut() {
            if value.as_deref() == Some(from) {
                *value = Some(to.to_owned());
            }
        }
        self.moved.insert(from.to_owned(), to.to_owned());
        Ok(())
    }

    /// Leaves out of the write the slots whose state is over the size bound, with the
    /// outbox rows their jobs made; their jobs answer `state_too_large`.
    fn refuse_oversized(&mut self, too_large: Vec<(String, usize)>) {
        for (key, len) in too_large {
            tracing::error!(shopper = %key, len, "merged state over the size bound; not written");
            self.outbox.retain(|row| row.shopper != key);
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.dirty = false;
                slot.refused = Some(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "state_too_large",
                    format!("the merged state would be {len} bytes (limit {MAX_ENCODED_BYTES}); nothing was changed"),
                ));
            }
        }
    }

    /// Writes the new aliases, then every changed slot: first all at once (conditional on
    /// the version each was read at), then, for rows another replica wrote meanwhile, one
    /// by one after re-reading and merging.
    async fn flush(&mut self) -> StorageResult<()> {
        let now = self.now;
        if !self.new_aliases.is_empty() {
            let pairs: Vec<(String, String)> = std::mem::take(&mut self.new_aliases).into_iter().collect();
            self.link.begin().await?;
            storage::set_aliases(self.link.conn()?, &pairs).await?;
        }
        let engine = self.engine;
        let (mut rows, too_large) = dirty_rows(&self.slots, engine);
        if !too_large.is_empty() {
            // Merge and the engine keep every state within bounds; should one not be,
            // its jobs fail and the rest of the batch is written.
            drop(rows);
            self.refuse_oversized(too_large);
            rows = dirty_rows(&self.slots, engine).0;
        }
        if rows.is_empty() {
            return Ok(());
        }
        // The rows alone need no transaction when they fit one statement, nothing else is
        // written and no entry or exit is counted with them (see `link`); otherwise they
        // commit with the rest.
        let counted = self.slots.values().filter(|s| s.dirty).any(|s| {
            let mut diff = Tally::default();
            diff.state_diff(s.before.as_ref(), &s.state);
            !diff.is_empty()
        });
        if counted || rows.len() > storage::CHUNK || !self.outbox.is_empty() || !self.tally.is_empty() {
            self.link.begin().await?;
        }
        let written: BTreeSet<String> =
            storage::write_shoppers(self.link.conn()?, &rows, now).await?.into_iter().collect();
        drop(rows);
        for (key, slot) in self.slots.iter_mut().filter(|(_, s)| s.dirty) {
            if written.contains(key) {
                self.tally.state_diff(slot.before.as_ref(), &slot.state);
                continue;
            }
            // Another replica wrote first: merge with what it wrote and try again (in the
            // transaction: an entry or exit the merge makes is counted in the same commit).
            self.link.begin().await?;
            let mut done = false;
            for _ in 0..WRITE_RETRIES {
                match storage::load_shopper(self.link.conn()?, key, "").await? {
                    Some(fresh) => {
                        let mut merged = fresh.state.clone();
                        merged.merge(&slot.state);
                        slot.state = merged;
                        slot.before = Some(fresh.state);
                        slot.version = Some(fresh.version);
                    }
                    None => {
                        slot.version = None;
                        slot.before = None;
                    }
                }
                let wake = engine.next_wakeup(&slot.state);
                if storage::write_shopper(self.link.conn()?, key, &slot.state, slot.version, wake, now).await? {
                    self.tally.state_diff(slot.before.as_ref(), &slot.state);
                    done = true;
                    break;
                }
            }
            if !done {
                return Err(StorageError::Sql(sqlx::Error::Protocol(format!(
                    "shopper {key}: still conflicting after {WRITE_RETRIES} merges"
                ))));
            }
        }
        Ok(())
    }
}

/// The rows to write: every changed slot, encoded, and apart the ones over the size bound
/// (key, encoded length).
fn dirty_rows<'a>(
    slots: &'a BTreeMap<String, Slot>,
    engine: &Engine,
) -> (Vec<storage::ShopperWrite<'a>>, Vec<(String, usize)>) {
    let mut too_large = Vec::new();
    let rows = slots
        .iter()
        .filter(|(_, s)| s.dirty)
        .filter_map(|(key, slot)| {
            let bytes = slot.state.encode();
            if bytes.len() > MAX_ENCODED_BYTES {
                too_large.push((key.clone(), bytes.len()));
                return None;
            }
            Some(storage::ShopperWrite { key, bytes, expected: slot.version, wake_at: engine.next_wakeup(&slot.state) })
        })
        .collect();
    (rows, too_large)
}

/// A new shopper's slot: a fresh state named by the id in its key.
fn fresh_slot(key: &str) -> Slot {
    let id = key.split_once(':').map(|(_, id)| id).unwrap_or(key);
    Slot { state: ShopperState::new(id), version: None, before: None, dirty: false, refused: None }
}

/// Links the identity's ids into the state (login: the customer id becomes primary).
fn link(state: &mut ShopperState, identity: &Identity, now: Timestamp) {
    if let Some(anon) = &identity.anonymous {
        if !state.ids.iter().any(|id| id == anon) {
            state.link_identity(anon);
        }
    }
    if let Some(customer) = &identity.customer {
        if state.customer_id.as_ref().map(|c| c.value.as_str()) != Some(customer.as_str()) {
            state.identify(customer, now);
        }
    }
}
