//! `ShopperState`: everything the engine knows about one shopper — journey runs and
//! timers, entry history, the contact log for caps, active incentives, intent signals,
//! consent, traits and identities. Encoded as a version byte + postcard, bounded in
//! size, and merged with a join (commutative, associative, idempotent) so copies from a
//! browser tab, the edge and the backend converge in any order.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::wire::{self, Encode, Reader};

use crate::intent::Signals;
use crate::journey::Channel;
use crate::time::Timestamp;
use crate::value::{Map, Value};

/// Encoding version written as the first byte.
pub const STATE_VERSION: u8 = 1;
/// Runs kept per journey (active + finished, newest first). Re-entry caps are ≤ this.
pub const MAX_RUNS_PER_JOURNEY: usize = 8;
/// Runs kept in total.
pub const MAX_RUNS: usize = 64;
/// Contacts kept (newest first) for caps and suppression.
pub const MAX_CONTACTS: usize = 64;
/// Incentive grants kept (newest first).
pub const MAX_INCENTIVES: usize = 16;
/// Traits kept.
pub const MAX_TRAITS: usize = 32;
/// Largest encoded trait value, in bytes of JSON.
pub const MAX_TRAIT_BYTES: usize = 512;
/// Identities kept.
pub const MAX_IDS: usize = 8;
/// Largest encoded state accepted by `decode`.
pub const MAX_ENCODED_BYTES: usize = 64 * 1024;
/// Largest remembered entry property, in bytes of JSON.
pub const MAX_REMEMBERED_BYTES: usize = 256;

/// Why bytes could not be decoded into a state, or a value not stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// Zero bytes.
    #[error("empty state: expected a version byte followed by postcard data")]
    Empty,
    /// Written by a newer or unknown encoder.
    #[error("unsupported state version {found} (this engine reads version {STATE_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// Bytes that are not a valid state.
    #[error("corrupt state ({len} bytes): {detail}")]
    Corrupt {
        /// Length of the input.
        len: usize,
        /// What the decoder said.
        detail: String,
    },
    /// More bytes than any valid state has.
    #[error("state too large: {len} bytes (limit {MAX_ENCODED_BYTES})")]
    TooLarge {
        /// Length of the input.
        len: usize,
    },
    /// A trait value over the size limit.
    #[error("trait \"{key}\" is {len} bytes of JSON (limit {MAX_TRAIT_BYTES}); store large data in your CRM and keep a key here")]
    TraitTooLarge {
        /// Trait name.
        key: String,
        /// Its size.
        len: usize,
    },
    /// Too many distinct traits.
    #[error("too many traits: {MAX_TRAITS} is the limit; \"{key}\" was not stored")]
    TooManyTraits {
        /// The trait that did not fit.
        key: String,
    },
}

impl StateError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            StateError::Empty => "state_empty",
            StateError::UnsupportedVersion { .. } => "state_unsupported_version",
            StateError::Corrupt { .. } => "state_corrupt",
            StateError::TooLarge { .. } => "state_too_large",
            StateError::TraitTooLarge { .. } => "trait_too_large",
            StateError::TooManyTraits { .. } => "too_many_traits",
        }
    }
}

/// A value with the time it was set; merges keep the latest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    /// When it was set.
    pub at: Timestamp,
    /// The value.
    pub value: T,
}

/// How a finished run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Reached an exit step (exhausted the journey).
    Completed,
    /// Met the conversion goal.
    Converted,
    /// An `exit_when` event ended it.
    ExitRule,
    /// Held out by a split.
    Holdout,
    /// A duplicate run (from merging two copies) gave way to the earlier one.
    Superseded,
    /// The journey or its step is no longer in the bundle.
    Removed,
    /// It ran past the step budget of one call (a bundle bug).
    Aborted,
}

impl Outcome {
    /// Name used in decisions and analytics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Converted => "converted",
            Outcome::ExitRule => "exit_rule",
            Outcome::Holdout => "holdout",
            Outcome::Superseded => "superseded",
            Outcome::Removed => "removed",
            Outcome::Aborted => "aborted",
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunStatus {
    /// At a step, possibly waiting until `wake_at`.
    Active {
        /// Step id.
        step: String,
        /// When the run arrived at the step.
        since: Timestamp,
        /// Timer: when the step times out / resumes.
        wake_at: Option<Timestamp>,
    },
    /// Finished.
    Done {
        /// When.
        at: Timestamp,
        /// How.
        outcome: Outcome,
    },
}

/// One pass of a shopper through a journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Journey id.
    pub journey: String,
    /// Entry time; (journey, entered_at) identifies the run.
    pub entered_at: Timestamp,
    /// Transitions taken; the copy with more wins a merge.
    pub seq: u32,
    /// Where it is.
    pub status: RunStatus,
    /// Remembered entry-event properties (for `$ref: entry.*`).
    pub entry: Map,
    /// Identity hashed for A/B splits (fixed at entry).
    pub bucket: String,
    /// Split variant taken, if any.
    pub variant: Option<String>,
}

impl Run {
    /// Whether the run is still going.
    pub fn is_active(&self) -> bool {
        matches!(self.status, RunStatus::Active { .. })
    }

    /// The timer, if active and waiting.
    pub fn wake_at(&self) -> Option<Timestamp> {
        match &self.status {
            RunStatus::Active { wake_at, .. } => *wake_at,
            RunStatus::Done { .. } => None,
        }
    }

    fn key(&self) -> (&str, Timestamp) {
        (&self.journey, self.entered_at)
    }
}

/// A message that went out (or an intervention shown), for caps and suppression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Contact {
    /// When.
    pub at: Timestamp,
    /// Channel used.
    pub channel: Channel,
    /// xxh3-32 of the journey id (compact).
    pub journey: u32,
    /// Start of the session it happened in.
    pub session: Timestamp,
}

/// An incentive granted to the shopper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncentiveGrant {
    /// Exclusion group.
    pub group: String,
    /// Incentive id.
    pub id: String,
    /// Journey that granted it.
    pub journey: String,
    /// Priority it was granted with.
    pub priority: i32,
    /// When.
    pub granted_at: Timestamp,
    /// Until when.
    pub expires_at: Timestamp,
    /// When it was withdrawn (replaced by a higher-priority one), if it was.
    pub revoked_at: Option<Timestamp>,
}

impl IncentiveGrant {
    /// Active at `now`: granted, not expired, not revoked.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.granted_at <= now && now < self.expires_at && self.revoked_at.is_none_or(|r| r > now)
    }

    fn key(&self) -> (&str, Timestamp, &str, &str) {
        (&self.group, self.granted_at, &self.journey, &self.id)
    }
}

/// Everything the engine keeps about one shopper.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShopperState {
    /// Known identities (anonymous ids, customer ids), sorted.
    pub ids: Vec<String>,
    /// The known customer id (after login), latest wins.
    pub customer_id: Option<Stamped<String>>,
    /// Journey runs, sorted by (journey, entered_at).
    pub runs: Vec<Run>,
    /// Contact log, sorted by time.
    pub contacts: Vec<Contact>,
    /// Incentive grants, sorted by key.
    pub incentives: Vec<IncentiveGrant>,
    /// Intent signals.
    pub signals: Signals,
    /// Consent per channel, latest wins (a revoke wins a tie).
    pub consent: crate::map::SortedMap<Channel, Stamped<bool>>,
    /// Traits, latest wins.
    pub traits: Map<Stamped<Value>>,
}

impl ShopperState {
    /// A fresh state for an (anonymous or known) shopper id.
    pub fn new(shopper_id: &str) -> ShopperState {
        let mut state = ShopperState::default();
        if !shopper_id.is_empty() {
            state.ids.push(shopper_id.to_owned());
        }
        state
    }

    /// Encodes: version byte + postcard.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![STATE_VERSION];
        Encode::encode(self, &mut out);
        out
    }

    /// Decodes bytes from `encode`, rejecting unknown versions and corrupt input.
    pub fn decode(bytes: &[u8]) -> Result<ShopperState, StateError> {
        if bytes.len() > MAX_ENCODED_BYTES {
            return Err(StateError::TooLarge { len: bytes.len() });
        }
        let (version, body) = bytes.split_first().ok_or(StateError::Empty)?;
        if *version != STATE_VERSION {
            return Err(StateError::UnsupportedVersion { found: *version });
        }
        let mut r = Reader::new(body);
        let state: ShopperState = r.read();
        let mut state = r.finish(state).map_err(|e| StateError::Corrupt {
            len: bytes.len(),
            detail: match e {
                wire::Trailing::Failed(e) => e.problem().to_owned(),
                wire::Trailing::Bytes(n) => format!("{n} trailing bytes"),
            },
        })?;
        state.normalize();
        Ok(state)
    }

    /// The id used for hashing and display: the customer id once known, else the
    /// smallest anonymous id.
    pub fn primary_id(&self) -> &str {
        match &self.customer_id {
            Some(c) => &c.value,
            None => self.ids.first().map(String::as_str).unwrap_or(""),
        }
    }

    /// Links another identity (e.g. an anonymous id seen on another device).
    pub fn link_identity(&mut self, id: &str) {
        if !id.is_empty() {
            self.ids.push(id.to_owned());
            self.normalize();
        }
    }

    /// Records the customer id after login.
    pub fn identify(&mut self, customer_id: &str, now: Timestamp) {
        if customer_id.is_empty() {
            return;
        }
        let candidate = Stamped { at: now, value: customer_id.to_owned() };
        self.customer_id = Some(match self.customer_id.take() {
            Some(existing) => lww(existing, candidate),
            None => candidate,
        });
        self.link_identity(customer_id);
    }

    /// Sets consent for a channel.
    pub fn set_consent(&mut self, channel: Channel, granted: bool, now: Timestamp) {
        let candidate = Stamped { at: now, value: granted };
        let merged = match self.consent.remove(&channel) {
            Some(existing) => lww_consent(existing, candidate),
            None => candidate,
        };
        self.consent.insert(channel, merged);
    }

    /// Consent as given, if the shopper has said.
    pub fn consent_for(&self, channel: Channel) -> Option<bool> {
        self.consent.get(&channel).map(|s| s.value)
    }

    /// Sets a trait (null removes its value but keeps the time, so merges see it).
    pub fn set_trait(&mut self, key: &str, value: Value, now: Timestamp) -> Result<(), StateError> {
        let len = value.to_json().len();
        if len > MAX_TRAIT_BYTES {
            return Err(StateError::TraitTooLarge { key: key.to_owned(), len });
        }
        if !self.traits.contains_key(key) && self.traits.len() >= MAX_TRAITS {
            return Err(StateError::TooManyTraits { key: key.to_owned() });
        }
        let candidate = Stamped { at: now, value };
        let merged = match self.traits.remove(key) {
            Some(existing) => lww(existing, candidate),
            None => candidate,
        };
        self.traits.insert(key.to_owned(), merged);
        Ok(())
    }

    /// A trait's current value.
    pub fn trait_value(&self, key: &str) -> Option<&Value> {
        self.traits.get(key).map(|s| &s.value).filter(|v| !matches!(v, Value::Null))
    }

    /// Active runs of a journey.
    pub fn active_run(&self, journey: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.journey == journey && r.is_active())
    }

    /// Entry times of a journey, oldest first.
    pub fn entries<'a>(&'a self, journey: &'a str) -> impl Iterator<Item = Timestamp> + 'a {
        self.runs.iter().filter(move |r| r.journey == journey).map(|r| r.entered_at)
    }

    /// Joins another copy into this one. Commutative, associative and idempotent:
    /// sets are unioned and trimmed to their newest N, single values keep the latest.
    pub fn merge(&mut self, other: &ShopperState) {
        self.ids.extend(other.ids.iter().cloned());
        self.customer_id = match (self.customer_id.take(), other.customer_id.clone()) {
            (Some(a), Some(b)) => Some(lww(a, b)),
            (a, b) => a.or(b),
        };
        self.runs.extend(other.runs.iter().cloned());
        self.contacts.extend(other.contacts.iter().cloned());
        self.incentives.extend(other.incentives.iter().cloned());
        self.signals.merge(&other.signals);
        for (channel, stamp) in &other.consent {
            let merged = match self.consent.remove(channel) {
                Some(existing) => lww_consent(existing, stamp.clone()),
                None => stamp.clone(),
            };
            self.consent.insert(*channel, merged);
        }
        for (key, stamp) in &other.traits {
            let merged = match self.traits.remove(key) {
                Some(existing) => lww(existing, stamp.clone()),
                None => stamp.clone(),
            };
            self.traits.insert(key.clone(), merged);
        }
        self.normalize();
    }

    /// Restores the invariants: sorted, de-duplicated, bounded. Every step keeps a
    /// choice that does not depend on input order, which is what makes merge a join.
    pub fn normalize(&mut self) {
        if self.is_normalized() {
            // The common case (an ingest that entered nothing new): sorting, dedup and
            // trimming would all be no-ops, so skip their copies and allocations.
            return;
        }
        // INVARIANT: ids sorted, unique, at most MAX_IDS (the smallest kept).
        crate::sort::sort(&mut self.ids);
        self.ids.dedup();
        self.ids.truncate(MAX_IDS);

        // INVARIANT: runs sorted by (journey, entered_at), one per key (the most advanced),
        // at most MAX_RUNS_PER_JOURNEY per journey and MAX_RUNS in all (newest kept).
        let mut runs = std::mem::take(&mut self.runs);
        crate::sort::sort_by(&mut runs, |a, b| a.key().cmp(&b.key()).then_with(|| run_rank(b, a)));
        runs.dedup_by(|later, earlier| later.key() == earlier.key());
        let mut kept: Vec<Run> = Vec::with_capacity(runs.len());
        let mut current: Option<String> = None;
        let mut count = 0;
        for run in runs.into_iter().rev() {
            if current.as_deref() != Some(run.journey.as_str()) {
                current = Some(run.journey.clone());
                count = 0;
            }
            if count < MAX_RUNS_PER_JOURNEY {
                kept.push(run);
                count += 1;
            }
        }
        kept.reverse();
        if kept.len() > MAX_RUNS {
            crate::sort::sort_by(&mut kept, |a, b| b.entered_at.cmp(&a.entered_at).then_with(|| a.key().cmp(&b.key())));
            kept.truncate(MAX_RUNS);
            crate::sort::sort_by(&mut kept, |a, b| a.key().cmp(&b.key()));
        }
        self.runs = kept;

        // INVARIANT: contacts sorted by time, unique, the newest MAX_CONTACTS kept.
        crate::sort::sort(&mut self.contacts);
        self.contacts.dedup();
        let excess = self.contacts.len().saturating_sub(MAX_CONTACTS);
        self.contacts.drain(..excess);

        // INVARIANT: incentives sorted by key, one per key (earliest revocation wins),
        // the newest MAX_INCENTIVES by grant time kept.
        crate::sort::sort_by(&mut self.incentives, |a, b| a.key().cmp(&b.key()).then_with(|| incentive_rank(a, b)));
        self.incentives.dedup_by(|later, earlier| later.key() == earlier.key());
        if self.incentives.len() > MAX_INCENTIVES {
            crate::sort::sort_by(&mut self.incentives, |a, b| {
                b.granted_at.cmp(&a.granted_at).then_with(|| a.key().cmp(&b.key()))
            });
            self.incentives.truncate(MAX_INCENTIVES);
            crate::sort::sort_by(&mut self.incentives, |a, b| a.key().cmp(&b.key()));
        }
    }
}

impl ShopperState {
    /// Whether every invariant `normalize` restores already holds: each list strictly
    /// increasing by its key (so sorted and without duplicates) and within its bounds.
    /// When true, `normalize` would leave the state unchanged.
    fn is_normalized(&self) -> bool {
        let ids = self.ids.len() <= MAX_IDS && self.ids.windows(2).all(|w| matches!(w, [a, b] if a < b));
        let contacts =
            self.contacts.len() <= MAX_CONTACTS && self.contacts.windows(2).all(|w| matches!(w, [a, b] if a < b));
        let incentives = self.incentives.len() <= MAX_INCENTIVES
            && self.incentives.windows(2).all(|w| matches!(w, [a, b] if a.key() < b.key()));
        let mut runs = self.runs.len() <= MAX_RUNS;
        let mut per_journey = 0usize;
        for (i, run) in self.runs.iter().enumerate() {
            if !runs {
                break;
            }
            // One comparison of the journey ids per pair: this runs after every ingest.
            match i.checked_sub(1).and_then(|p| self.runs.get(p)).map(|prev| (prev, prev.journey.cmp(&run.journey))) {
                Some((prev, Ordering::Equal)) => {
                    per_journey += 1;
                    runs = prev.entered_at < run.entered_at && per_journey <= MAX_RUNS_PER_JOURNEY;
                }
                Some((_, order)) => {
                    per_journey = 1;
                    runs = order == Ordering::Less;
                }
                None => per_journey = 1,
            }
        }
        ids && contacts && incentives && runs
    }
}

/// Orders two copies of the same run: the more advanced (higher seq, then finished,
/// then by encoded bytes) is greater.
fn run_rank(a: &Run, b: &Run) -> Ordering {
    a.seq
        .cmp(&b.seq)
        .then_with(|| (!a.is_active()).cmp(&!b.is_active()))
        .then_with(|| wire::to_vec(a).cmp(&wire::to_vec(b)))
}

/// Orders two copies of the same grant so the revoked (earliest revocation) sorts first.
/// A total order: copies that tie on all that (both revoked at the same time, say) are
/// ordered by their encoded bytes, so which one merge keeps never depends on which
/// state came first (a tie left to input order made merge non-commutative).
fn incentive_rank(a: &IncentiveGrant, b: &IncentiveGrant) -> Ordering {
    let by_revocation = match (a.revoked_at, b.revoked_at) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_revocation
        .then(a.expires_at.cmp(&b.expires_at).reverse())
        .then(a.priority.cmp(&b.priority).reverse())
        .then_with(|| wire::to_vec(a).cmp(&wire::to_vec(b)))
}

/// Latest stamp wins; equal stamps pick by encoded value so the choice is symmetric.
fn lww<T: Encode>(a: Stamped<T>, b: Stamped<T>) -> Stamped<T> {
    match a.at.cmp(&b.at) {
        Ordering::Greater => a,
        Ordering::Less => b,
        Ordering::Equal => {
            if wire::to_vec(&a.value) >= wire::to_vec(&b.value) {
                a
            } else {
                b
            }
        }
    }
}

/// Latest consent wins; on a tie, the revoke wins.
fn lww_consent(a: Stamped<bool>, b: Stamped<bool>) -> Stamped<bool> {
    match a.at.cmp(&b.at) {
        Ordering::Greater => a,
        Ordering::Less => b,
        Ordering::Equal => Stamped { at: a.at, value: a.value && b.value },
    }
}

// ---------------------------------------------------------------------------------------
// Binary form (crate::wire): fields in declaration order, enums by variant index
// ---------------------------------------------------------------------------------------

crate::wire_struct!(Stamped<T> { at, value });
crate::wire_unit_enum!(Outcome { Completed, Converted, ExitRule, Holdout, Superseded, Removed, Aborted });
crate::wire_struct!(Run { journey, entered_at, seq, status, entry, bucket, variant });
crate::wire_struct!(Contact { at, channel, journey, session });
crate::wire_struct!(IncentiveGrant { group, id, journey, priority, granted_at, expires_at, revoked_at });
crate::wire_struct!(ShopperState { ids, customer_id, runs, contacts, incentives, signals, consent, traits });

impl Encode for RunStatus {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RunStatus::Active { step, since, wake_at } => {
                out.push(0);
                step.encode(out);
                since.encode(out);
                wake_at.encode(out);
            }
            RunStatus::Done { at, outcome } => {
                out.push(1);
                at.encode(out);
                outcome.encode(out);
            }
        }
    }
}
impl wire::Decode for RunStatus {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.read_tag() {
            0 => RunStatus::Active { step: r.read(), since: r.read(), wake_at: r.read() },
            1 => RunStatus::Done { at: r.read(), outcome: r.read() },
            tag => r.bad_tag(tag, RunStatus::Done { at: Timestamp(0), outcome: Outcome::Aborted }),
        }
    }
}
