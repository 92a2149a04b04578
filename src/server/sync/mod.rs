//! The group-commit writer. Every change to shopper state — `/v1/sync` merges, server-side
//! events, recorded contacts — is a job sent to one task, which takes all jobs waiting,
//! applies them in one transaction and answers each only after that transaction commits
//! (one fsync for the batch instead of one per request). Within a batch a shopper's
//! state is read once, every job applied to it in arrival order, and written once; a
//! write that lost a race with another replica re-reads and merges again (merge is a
//! join, so the order of copies does not matter).
//!
//! The module's parts: [`writer`] (the task, its queue and batching), [`batch`] (one
//! batch: slots, applying each job, writing rows), [`identity`] (which row a job's ids
//! resolve to, aliases, and folding an anonymous row into a customer's at login).

mod batch;
mod identity;
mod writer;

use std::collections::BTreeMap;

use crate::decision::Decision;
use crate::journey::Channel;
use crate::state::ShopperState;
use crate::time::Timestamp;

pub use identity::Identity;
pub use writer::{Writer, WriterContext};

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
