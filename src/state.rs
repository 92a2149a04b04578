//! `ShopperState`: everything the engine knows about one shopper — journey runs and
//! timers, entry history, the contact log for caps, active incentives, intent signals,
//! consent, traits and identities. Encoded as a version byte + postcard, bounded in
//! size, and merged with a join (commutative, associative, idempotent) so copies from a
//! browser tab, the edge and the backend converge in any order.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::wire::{self, Encode, Reader, WireError};

use crate::intent::{IntentSample, Signals};
use crate::interest::Interests;
use crate::journey::Channel;
use crate::orders::Orders;
use crate::time::Timestamp;
use crate::value::{Map, Value};

/// Encoding version written as the first byte. Versions 1 (traits without a source: they
/// read as set by the shopper), 2 (no interest memory: it reads empty), 3 (no orders:
/// they read empty) and 4 (no intent sample: it reads as none) still decode.
pub const STATE_VERSION: u8 = 5;
const _: () =
    assert!(STATE_VERSION < crate::journey::BUNDLE_FORMAT_VERSION, "state versions stay below bundle formats");
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
/// Largest encoded state accepted by `decode`. Every state within the item bounds below
/// encodes smaller than this (a test builds the largest one), so a merge of two
/// acceptable states is always acceptable.
pub const MAX_ENCODED_BYTES: usize = 128 * 1024;
/// Largest remembered entry property, in bytes (of JSON and of its encoding).
pub const MAX_REMEMBERED_BYTES: usize = 256;
/// Entry-event properties remembered per run.
pub const MAX_REMEMBERED: usize = 8;
/// All remembered properties of one run together, in bytes.
pub const MAX_REMEMBERED_TOTAL_BYTES: usize = 512;
/// Longest shopper id (anonymous or customer) kept, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest name kept: journey, step, variant, incentive and group ids, trait and
/// remembered property keys, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

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
    #[error("corrupt state ({len} bytes): {source}")]
    Corrupt {
        /// Length of the input.
        len: usize,
        /// What the decoder found.
        source: WireError,
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
    /// A part of a synced state over one of the state's bounds.
    #[error("{field}: {problem}")]
    OverLimit {
        /// Where in the state, e.g. `traits["email"]` or `runs[3].entry`.
        field: String,
        /// What is over which limit.
        problem: String,
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
            StateError::OverLimit { .. } => "state_over_limit",
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

/// Who set a trait. The server's word outranks the shopper's: a trait set through an
/// admin route (`POST /v1/events`) wins every merge against one the browser or the edge
/// set, whatever their stamps, and a synced state cannot claim to be the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraitSource {
    /// The storefront, the edge or a replayed event file.
    #[default]
    Shopper,
    /// The backend, from the shop's own server.
    Server,
}

/// A trait's value, when it was set and by whom. Merges keep the highest
/// (source, time, encoded value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitEntry {
    /// When it was set.
    pub at: Timestamp,
    /// The value (`Null` once cleared).
    pub value: Value,
    /// Who set it.
    pub source: TraitSource,
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
    /// Traits: the server's over the shopper's, then the latest.
    pub traits: Map<TraitEntry>,
    /// Items viewed, carted, wishlisted and bought, and category affinity.
    pub interests: Interests,
    /// The recent orders and their refunds.
    pub orders: Orders,
    /// The intent features of the latest converting session just before its purchase
    /// (what the backend learns the intent weights from).
    pub intent_sample: Option<IntentSample>,
}

impl ShopperState {
    /// A fresh state for an (anonymous or known) shopper id.
    /// An id over [`MAX_ID_BYTES`] is not kept (adapters refuse it before).
    pub fn new(shopper_id: &str) -> ShopperState {
        let mut state = ShopperState::default();
        if id_fits(shopper_id) {
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

    /// Decodes bytes from `encode`, rejecting unknown versions and corrupt input. Parts
    /// over the state's item bounds (an over-long id or name, an oversized trait or
    /// remembered property) are left out, and lists over their counts are trimmed by the
    /// rules of [`ShopperState::normalize`], so what decodes always fits the bounds.
    pub fn decode(bytes: &[u8]) -> Result<ShopperState, StateError> {
        let mut state = Self::parse(bytes)?;
        state.drop_out_of_bounds();
        state.normalize();
        Ok(state)
    }

    /// Decodes a copy sent by a shopper (a browser or an edge worker): like `decode`, but
    /// a part over one of the state's bounds is an error naming it instead of being left
    /// out, and what only the server may set is not taken from it — traits the copy says
    /// the server set (the server keeps its own), and stamps later than `latest` (the
    /// server's clock plus the allowed skew) are moved back to `latest`.
    pub fn decode_synced(bytes: &[u8], latest: Timestamp) -> Result<ShopperState, StateError> {
        let mut state = Self::parse(bytes)?;
        state.check_bounds()?;
        state.traits.retain(|_, entry| entry.source == TraitSource::Shopper);
        state.clamp_stamps(latest);
        state.normalize();
        Ok(state)
    }

    fn parse(bytes: &[u8]) -> Result<ShopperState, StateError> {
        if bytes.len() > MAX_ENCODED_BYTES {
            return Err(StateError::TooLarge { len: bytes.len() });
        }
        let (version, body) = bytes.split_first().ok_or(StateError::Empty)?;
        let mut r = Reader::new(body);
        let state = match *version {
            STATE_VERSION => r.read(),
            4 => ShopperState::from(r.read::<StateV4>()),
            3 => ShopperState::from(r.read::<StateV3>()),
            2 => ShopperState::from(r.read::<StateV2>()),
            1 => ShopperState::from(r.read::<StateV1>()),
            found => return Err(StateError::UnsupportedVersion { found }),
        };
        r.finish(state).map_err(|source| StateError::Corrupt { len: bytes.len(), source })
    }

    /// The id used for hashing and display: the customer id once known, else the
    /// smallest anonymous id.
    pub fn primary_id(&self) -> &str {
        match &self.customer_id {
            Some(c) => &c.value,
            None => self.ids.first().map(String::as_str).unwrap_or(""),
        }
    }

    /// Links another identity (e.g. an anonymous id seen on another device). An id over
    /// [`MAX_ID_BYTES`] is not kept.
    pub fn link_identity(&mut self, id: &str) {
        if id_fits(id) {
            self.ids.push(id.to_owned());
            self.normalize();
        }
    }

    /// Records the customer id after login.
    pub fn identify(&mut self, customer_id: &str, now: Timestamp) {
        if !id_fits(customer_id) {
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

    /// Sets a trait as the shopper (null removes its value but keeps the time, so merges
    /// see it). A trait the server set keeps the server's value.
    pub fn set_trait(&mut self, key: &str, value: Value, now: Timestamp) -> Result<(), StateError> {
        self.set_trait_from(TraitSource::Shopper, key, value, now)
    }

    /// Sets a trait as the server (the shop's own backend): it outranks every value the
    /// shopper's copies set, now and in later merges.
    pub fn set_server_trait(&mut self, key: &str, value: Value, now: Timestamp) -> Result<(), StateError> {
        self.set_trait_from(TraitSource::Server, key, value, now)
    }

    /// Sets every trait of `traits` as `source`, the one rule for a batch of traits: a
    /// trait over a bound (name, value size, one trait too many) is left out and returned
    /// with why; every other one is set.
    /// `rejected` hears of each trait left out.
    pub fn set_traits(
        &mut self,
        traits: &Map,
        source: TraitSource,
        now: Timestamp,
        mut rejected: impl FnMut(&str, StateError),
    ) {
        for (key, value) in traits {
            if let Err(e) = self.set_trait_from(source, key, value.clone(), now) {
                rejected(key, e);
            }
        }
    }

    fn set_trait_from(
        &mut self,
        source: TraitSource,
        key: &str,
        value: Value,
        now: Timestamp,
    ) -> Result<(), StateError> {
        if key.is_empty() || key.len() > MAX_NAME_BYTES {
            return Err(StateError::OverLimit {
                field: format!("traits[{key:?}]"),
                problem: format!("a trait name is 1 to {MAX_NAME_BYTES} bytes, found {}", key.len()),
            });
        }
        let len = value_bytes(&value);
        if len > MAX_TRAIT_BYTES {
            return Err(StateError::TraitTooLarge { key: key.to_owned(), len });
        }
        if !self.traits.contains_key(key) && self.traits.len() >= MAX_TRAITS {
            return Err(StateError::TooManyTraits { key: key.to_owned() });
        }
        let candidate = TraitEntry { at: now, value, source };
        let merged = match self.traits.remove(key) {
            Some(existing) => newer_trait(existing, candidate),
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
        for (key, entry) in &other.traits {
            let merged = match self.traits.remove(key) {
                Some(existing) => newer_trait(existing, entry.clone()),
                None => entry.clone(),
            };
            self.traits.insert(key.clone(), merged);
        }
        self.interests.merge(&other.interests);
        self.orders.merge(&other.orders);
        self.intent_sample = IntentSample::merge(self.intent_sample, other.intent_sample);
        self.normalize();
    }

    /// Every item bound a decoded state must respect, checked on a copy a shopper sent:
    /// the first part over a bound, named. Counts are checked before `normalize` trims
    /// them: a copy made by the engine never exceeds them.
    pub fn check_bounds(&self) -> Result<(), StateError> {
        let over = |field: String, problem: String| Err(StateError::OverLimit { field, problem });
        let count = |field: &str, found: usize, limit: usize| {
            if found > limit {
                over(field.to_owned(), format!("{found} entries, the limit is {limit}"))
            } else {
                Ok(())
            }
        };
        count("ids", self.ids.len(), MAX_IDS)?;
        count("runs", self.runs.len(), MAX_RUNS)?;
        count("contacts", self.contacts.len(), MAX_CONTACTS)?;
        count("incentives", self.incentives.len(), MAX_INCENTIVES)?;
        count("traits", self.traits.len(), MAX_TRAITS)?;
        self.interests.check_bounds().or_else(|(field, problem)| over(field, problem))?;
        self.orders.check_bounds().or_else(|(field, problem)| over(field, problem))?;
        if let Some((i, id)) = self.ids.iter().enumerate().find(|(_, id)| !id_fits(id)) {
            return over(format!("ids[{i}]"), format!("{} bytes, a shopper id is 1 to {MAX_ID_BYTES}", id.len()));
        }
        if let Some(c) = self.customer_id.as_ref().filter(|c| !id_fits(&c.value)) {
            return over("customer_id".into(), format!("{} bytes, a shopper id is 1 to {MAX_ID_BYTES}", c.value.len()));
        }
        if let Some((i, run)) = self.runs.iter().enumerate().find(|(_, r)| !run_fits(r)) {
            return over(
                format!("runs[{i}] (journey {:?})", truncated(&run.journey)),
                format!(
                    "over a bound: names {MAX_NAME_BYTES} bytes, shopper id {MAX_ID_BYTES}, {MAX_REMEMBERED} remembered \
                     properties of at most {MAX_REMEMBERED_BYTES} bytes each and {MAX_REMEMBERED_TOTAL_BYTES} together"
                ),
            );
        }
        if let Some((i, _)) = self.incentives.iter().enumerate().find(|(_, g)| !incentive_fits(g)) {
            return over(format!("incentives[{i}]"), format!("a group, id or journey over {MAX_NAME_BYTES} bytes"));
        }
        for (key, entry) in &self.traits {
            if !name_fits(key) {
                return over(
                    format!("traits[{:?}]", truncated(key)),
                    format!("a trait name is 1 to {MAX_NAME_BYTES} bytes, found {}", key.len()),
                );
            }
            let len = value_bytes(&entry.value);
            if len > MAX_TRAIT_BYTES {
                return over(format!("traits[{key:?}]"), format!("{len} bytes, the limit is {MAX_TRAIT_BYTES}"));
            }
        }
        Ok(())
    }

    /// Leaves out every part over an item bound (see [`ShopperState::check_bounds`]).
    /// Each part is judged alone, so leaving parts out commutes with merging.
    fn drop_out_of_bounds(&mut self) {
        self.ids.retain(|id| id_fits(id));
        if self.customer_id.as_ref().is_some_and(|c| !id_fits(&c.value)) {
            self.customer_id = None;
        }
        self.runs.retain(run_fits);
        self.incentives.retain(incentive_fits);
        self.traits.retain(|key, entry| name_fits(key) && value_bytes(&entry.value) <= MAX_TRAIT_BYTES);
        self.interests.drop_out_of_bounds();
        self.orders.drop_out_of_bounds();
    }

    /// Moves every stamp a merge compares (traits, consent, customer id) later than
    /// `latest` back to `latest`, so a copy with a clock far ahead cannot pin a value.
    pub fn clamp_stamps(&mut self, latest: Timestamp) {
        for (_, entry) in self.traits.iter_mut() {
            entry.at = entry.at.min(latest);
        }
        for (_, stamp) in self.consent.iter_mut() {
            stamp.at = stamp.at.min(latest);
        }
        if let Some(c) = self.customer_id.as_mut() {
            c.at = c.at.min(latest);
        }
        self.interests.clamp_stamps(latest);
        self.orders.clamp_stamps(latest);
        if let Some(sample) = self.intent_sample.as_mut() {
            sample.session_start = sample.session_start.min(latest);
        }
    }

    /// Restores the invariants: sorted, de-duplicated, bounded. Every step keeps a
    /// choice that does not depend on input order, which is what makes merge a join.
    pub fn normalize(&mut self) {
        self.interests.normalize();
        self.orders.normalize();
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

        // INVARIANT: at most MAX_TRAITS traits. The ones kept: the server's before the
        // shopper's, then the most recently set, then by name — a total order on the
        // merged entries, so trimming commutes with merging.
        if self.traits.len() > MAX_TRAITS {
            let mut ranked: Vec<(String, TraitEntry)> = std::mem::take(&mut self.traits).into_iter().collect();
            crate::sort::sort_by(&mut ranked, |(ka, a), (kb, b)| {
                b.source.cmp(&a.source).then(b.at.cmp(&a.at)).then_with(|| ka.cmp(kb))
            });
            ranked.truncate(MAX_TRAITS);
            for (key, entry) in ranked {
                self.traits.insert(key, entry);
            }
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
        ids && contacts && incentives && runs && self.traits.len() <= MAX_TRAITS
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

/// The server's value wins over the shopper's; within one source the latest, and equal
/// stamps pick by encoded value so the choice is symmetric.
fn newer_trait(a: TraitEntry, b: TraitEntry) -> TraitEntry {
    match a.source.cmp(&b.source).then(a.at.cmp(&b.at)) {
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

/// The size a value counts for against a bound: its JSON text or its encoding, whichever
/// is longer (numbers are short in JSON and eight bytes encoded).
pub fn value_bytes(value: &Value) -> usize {
    value.to_json().len().max(wire::to_vec(value).len())
}

fn id_fits(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

fn name_fits(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_BYTES
}

fn run_fits(run: &Run) -> bool {
    let step_fits = match &run.status {
        RunStatus::Active { step, .. } => name_fits(step),
        RunStatus::Done { .. } => true,
    };
    let mut remembered = 0usize;
    let entry_fits = run.entry.len() <= MAX_REMEMBERED
        && run.entry.iter().all(|(key, value)| {
            let len = value_bytes(value);
            remembered += len;
            name_fits(key) && len <= MAX_REMEMBERED_BYTES
        })
        && remembered <= MAX_REMEMBERED_TOTAL_BYTES;
    name_fits(&run.journey)
        && step_fits
        && entry_fits
        && run.bucket.len() <= MAX_ID_BYTES
        && run.variant.as_deref().is_none_or(name_fits)
}

fn incentive_fits(grant: &IncentiveGrant) -> bool {
    name_fits(&grant.group) && name_fits(&grant.id) && name_fits(&grant.journey)
}

/// The start of a text for an error message (at most 64 bytes, on a char boundary).
fn truncated(text: &str) -> &str {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
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
crate::wire_unit_enum!(TraitSource { Shopper, Server });
crate::wire_struct!(TraitEntry { at, value, source });
crate::wire_struct!(ShopperState {
    ids,
    customer_id,
    runs,
    contacts,
    incentives,
    signals,
    consent,
    traits,
    interests,
    orders,
    intent_sample
});

/// A version 4 state: no intent sample.
struct StateV4 {
    ids: Vec<String>,
    customer_id: Option<Stamped<String>>,
    runs: Vec<Run>,
    contacts: Vec<Contact>,
    incentives: Vec<IncentiveGrant>,
    signals: Signals,
    consent: crate::map::SortedMap<Channel, Stamped<bool>>,
    traits: Map<TraitEntry>,
    interests: Interests,
    orders: Orders,
}

crate::wire_struct!(StateV4 {
    ids,
    customer_id,
    runs,
    contacts,
    incentives,
    signals,
    consent,
    traits,
    interests,
    orders
});

impl From<StateV4> for ShopperState {
    fn from(v4: StateV4) -> ShopperState {
        ShopperState {
            ids: v4.ids,
            customer_id: v4.customer_id,
            runs: v4.runs,
            contacts: v4.contacts,
            incentives: v4.incentives,
            signals: v4.signals,
            consent: v4.consent,
            traits: v4.traits,
            interests: v4.interests,
            orders: v4.orders,
            intent_sample: None,
        }
    }
}

/// A version 3 state: no orders.
struct StateV3 {
    ids: Vec<String>,
    customer_id: Option<Stamped<String>>,
    runs: Vec<Run>,
    contacts: Vec<Contact>,
    incentives: Vec<IncentiveGrant>,
    signals: Signals,
    consent: crate::map::SortedMap<Channel, Stamped<bool>>,
    traits: Map<TraitEntry>,
    interests: Interests,
}

crate::wire_struct!(StateV3 { ids, customer_id, runs, contacts, incentives, signals, consent, traits, interests });

impl From<StateV3> for ShopperState {
    fn from(v3: StateV3) -> ShopperState {
        ShopperState {
            ids: v3.ids,
            customer_id: v3.customer_id,
            runs: v3.runs,
            contacts: v3.contacts,
            incentives: v3.incentives,
            signals: v3.signals,
            consent: v3.consent,
            traits: v3.traits,
            interests: v3.interests,
            orders: Orders::default(),
            intent_sample: None,
        }
    }
}

/// A version 2 state: no interest memory.
struct StateV2 {
    ids: Vec<String>,
    customer_id: Option<Stamped<String>>,
    runs: Vec<Run>,
    contacts: Vec<Contact>,
    incentives: Vec<IncentiveGrant>,
    signals: Signals,
    consent: crate::map::SortedMap<Channel, Stamped<bool>>,
    traits: Map<TraitEntry>,
}

crate::wire_struct!(StateV2 { ids, customer_id, runs, contacts, incentives, signals, consent, traits });

impl From<StateV2> for ShopperState {
    fn from(v2: StateV2) -> ShopperState {
        ShopperState {
            ids: v2.ids,
            customer_id: v2.customer_id,
            runs: v2.runs,
            contacts: v2.contacts,
            incentives: v2.incentives,
            signals: v2.signals,
            consent: v2.consent,
            traits: v2.traits,
            interests: Interests::default(),
            orders: Orders::default(),
            intent_sample: None,
        }
    }
}

/// A version 1 state: the same fields, traits without a source.
struct StateV1 {
    ids: Vec<String>,
    customer_id: Option<Stamped<String>>,
    runs: Vec<Run>,
    contacts: Vec<Contact>,
    incentives: Vec<IncentiveGrant>,
    signals: Signals,
    consent: crate::map::SortedMap<Channel, Stamped<bool>>,
    traits: Map<Stamped<Value>>,
}

impl wire::Decode for StateV1 {
    fn decode(r: &mut Reader<'_>) -> Self {
        StateV1 {
            ids: r.read(),
            customer_id: r.read(),
            runs: r.read(),
            contacts: r.read(),
            incentives: r.read(),
            signals: r.read(),
            consent: r.read(),
            traits: r.read(),
        }
    }
}

impl From<StateV1> for ShopperState {
    fn from(v1: StateV1) -> ShopperState {
        let mut traits = Map::new();
        for (key, Stamped { at, value }) in v1.traits {
            traits.insert(key, TraitEntry { at, value, source: TraitSource::Shopper });
        }
        ShopperState {
            ids: v1.ids,
            customer_id: v1.customer_id,
            runs: v1.runs,
            contacts: v1.contacts,
            incentives: v1.incentives,
            signals: v1.signals,
            consent: v1.consent,
            traits,
            interests: Interests::default(),
            orders: Orders::default(),
            intent_sample: None,
        }
    }
}

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
