//! One batch of jobs: each shopper's row is read once into a slot, every job applied to
//! it in arrival order (a merge, a server-side event through `Engine::apply`, a
//! recorded contact), and each changed row written once, conditional on the version it
//! was read at; a row another replica wrote meanwhile is re-read, merged and written
//! again. A row that cannot be read or stored fails only its own shopper's jobs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use axum::http::StatusCode;
use sqlx::AnyConnection;

use super::identity::{follow, link};
use super::{Done, Identity, Work};
use crate::decision::Decision;
use crate::engine::{Engine, Update, Updated};
use crate::event::Event;
use crate::journey::Channel;
use crate::server::analytics::Tally;
use crate::server::error::ApiError;
use crate::server::intent_sessions::{self, SessionChanges};
use crate::server::interest_index::{self, IndexChanges};
use crate::server::link::Link;
use crate::server::orders::history::{self, OrderChanges};
use crate::server::outbox::{self, OutboxRow};
use crate::server::storage::{self, anon_key, customer_key, StorageError, StorageResult, StoredShopper};
use crate::state::{ShopperState, TraitSource, MAX_ENCODED_BYTES};
use crate::time::Timestamp;

/// Conflict retries of one row write before the batch gives up.
const WRITE_RETRIES: usize = 8;

/// A shopper's state while a batch works on it.
pub(super) struct Slot {
    pub(super) state: ShopperState,
    pub(super) version: Option<i64>,
    pub(super) before: Option<ShopperState>,
    pub(super) dirty: bool,
    /// Why the stored state cannot be used (it does not decode, or it would not fit once
    /// written): the jobs of this shopper fail with this, the rest of the batch goes on.
    pub(super) refused: Option<ApiError>,
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

pub(super) struct Batch<'a> {
    pub(super) link: Link<'a>,
    pub(super) engine: &'a Engine,
    pub(super) now: Timestamp,
    pub(super) slots: BTreeMap<String, Slot>,
    pub(super) aliases: BTreeMap<String, Option<String>>,
    pub(super) new_aliases: BTreeMap<String, String>,
    pub(super) moved: BTreeMap<String, String>,
    pub(super) outbox: Vec<OutboxRow>,
    pub(super) tally: Tally,
    pub(super) decisions: Vec<Decision>,
}

pub(super) type BatchResult = (Vec<Result<Done, ApiError>>, Vec<Decision>);

/// Applies the jobs of a batch and commits: the answers in job order, and the decisions
/// the engine took.
pub(super) async fn apply_batch(
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
                let consent: Vec<(Channel, bool)> = event.consent.iter().map(|(c, g)| (*c, *g)).collect();
                let ingested = event.name.as_ref().map(|name| Event::new(name, event.time, event.properties.clone()));
                let update = Update {
                    at: event.time,
                    customer_id: None,
                    consent: &consent,
                    traits: &event.traits,
                    // Traits from the shop's server outrank what the shopper's copies say.
                    source: TraitSource::Server,
                    event: ingested.as_ref(),
                };
                let Updated { decisions, rejected } = engine.apply(&mut slot.state, &update, now);
                let warnings = rejected.iter().map(|(_, e)| format!("{}: {e}", e.code())).collect();
                slot.dirty = true;
                self.outbox.extend(outbox::rows_for(&key, &decisions));
                self.tally.shopper_decisions(&key, engine.bundle(), &slot.state, &decisions);
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

    /// Makes sure `key` has a slot (loaded, or a fresh state).
    pub(super) async fn slot(&mut self, key: &str) -> StorageResult<()> {
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
        let (mut rows, too_large) = dirty_rows(&self.slots, engine, now);
        if !too_large.is_empty() {
            // Merge and the engine keep every state within bounds; should one not be,
            // its jobs fail and the rest of the batch is written.
            drop(rows);
            self.refuse_oversized(too_large);
            rows = dirty_rows(&self.slots, engine, now).0;
        }
        if rows.is_empty() {
            return Ok(());
        }
        // The rows alone need no transaction when they fit one statement, nothing else is
        // written and no entry or exit is counted with them (see `link`); otherwise they
        // commit with the rest.
        let counted = self.slots.iter().filter(|(_, s)| s.dirty).any(|(key, s)| {
            let mut diff = Tally::default();
            diff.shopper_diff(key, engine.bundle(), s.before.as_ref(), &s.state);
            !diff.is_empty()
        });
        // The interest index and the order history are written with the states they come
        // from: a transaction when any interest memory or order list changed (the diffs
        // themselves are taken after the writes, since a conflict merges the slot again).
        let (no_interests, no_orders) = (crate::interest::Interests::default(), crate::orders::Orders::default());
        let interests_changed = self.slots.values().filter(|s| s.dirty).any(|s| {
            s.before.as_ref().map_or(&no_interests, |b| &b.interests) != &s.state.interests
                || s.before.as_ref().map_or(&no_orders, |b| &b.orders) != &s.state.orders
        });
        if counted
            || interests_changed
            || rows.len() > storage::CHUNK
            || !self.outbox.is_empty()
            || !self.tally.is_empty()
        {
            self.link.begin().await?;
        }
        let written: BTreeSet<String> =
            storage::write_shoppers(self.link.conn()?, &rows, now).await?.into_iter().collect();
        drop(rows);
        for (key, slot) in self.slots.iter_mut().filter(|(_, s)| s.dirty) {
            if written.contains(key) {
                self.tally.shopper_diff(key, engine.bundle(), slot.before.as_ref(), &slot.state);
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
                let wake = engine.next_check(&slot.state, now);
                if storage::write_shopper(self.link.conn()?, key, &slot.state, slot.version, wake, now).await? {
                    self.tally.shopper_diff(key, engine.bundle(), slot.before.as_ref(), &slot.state);
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
        let mut index = IndexChanges::default();
        let mut orders = OrderChanges::default();
        let mut sessions = SessionChanges::default();
        let model = &engine.bundle().policy.intent;
        for (key, slot) in self.slots.iter().filter(|(_, s)| s.dirty) {
            interest_index::diff(key, slot.before.as_ref().map(|b| &b.interests), &slot.state.interests, &mut index);
            let customer = slot.state.customer_id.as_ref().map(|c| c.value.as_str());
            history::diff(key, customer, slot.before.as_ref().map(|b| &b.orders), &slot.state.orders, &mut orders);
            intent_sessions::diff(key, slot.before.as_ref(), &slot.state, model, &mut sessions);
        }
        if !index.is_empty() {
            self.link.begin().await?;
            interest_index::write(self.link.conn()?, &index).await?;
        }
        if !orders.is_empty() {
            self.link.begin().await?;
            history::write(self.link.conn()?, &orders, now).await?;
        }
        if !sessions.is_empty() {
            self.link.begin().await?;
            intent_sessions::write(self.link.conn()?, &sessions, now).await?;
        }
        Ok(())
    }
}

/// The rows to write: every changed slot, encoded, and apart the ones over the size bound
/// (key, encoded length).
fn dirty_rows<'a>(
    slots: &'a BTreeMap<String, Slot>,
    engine: &Engine,
    now: Timestamp,
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
            let wake_at = engine.next_check(&slot.state, now);
            Some(storage::ShopperWrite { key, bytes, expected: slot.version, wake_at })
        })
        .collect();
    (rows, too_large)
}

/// A new shopper's slot: a fresh state named by the id in its key.
fn fresh_slot(key: &str) -> Slot {
    let id = key.split_once(':').map(|(_, id)| id).unwrap_or(key);
    Slot { state: ShopperState::new(id), version: None, before: None, dirty: false, refused: None }
}
