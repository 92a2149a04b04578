//! Decisions and their sentences: the `decision` builder and the messages, built by
//! joining parts (decision messages are built on every ingest, and `format!`'s machinery
//! is slow and large in wasm).

use crate::decision::{Action, Decision, Reason, MAX_DECISION_ITEMS};
use crate::interest::MAX_ITEM_ID_BYTES;
use crate::journey::Channel;
use crate::state::{Run, ShopperState};
use crate::time::Timestamp;
use crate::value::Value;

/// A decision with no channel, content, incentive or variant (callers set those).
pub(super) fn decision(
    time: Timestamp,
    journey: &str,
    step: Option<String>,
    action: Action,
    reasons: Vec<Reason>,
    message: String,
) -> Decision {
    Decision {
        time,
        journey: journey.to_owned(),
        step,
        action,
        channel: None,
        content: None,
        incentive: None,
        variant: None,
        items: Vec::new(),
        entry: crate::value::Map::new(),
        reasons,
        message,
    }
}

/// The parts joined, in one allocation: decision messages are built on every ingest,
/// and `format!`'s machinery is slow (and large) in wasm.
pub(super) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Reason codes, comma separated.
pub(super) fn codes(reasons: &[Reason]) -> String {
    let mut out = String::new();
    for (i, r) in reasons.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(r.code());
    }
    out
}

/// The sentence of a `send` decision.
pub(super) fn send_message(d: &Decision, channel: Channel, reasons: &[Reason]) -> String {
    let what = d.content.as_deref().unwrap_or("");
    let (with, offer) = match d.incentive.as_deref() {
        Some(i) => (" with incentive ", i),
        None => ("", ""),
    };
    concat(&["send ", what, with, offer, " on ", channel.as_str(), " for ", &d.journey, " (", &codes(reasons), ")"])
}

/// The items a send is about: the item of the event that started the run (its remembered
/// `item_id`), then the items in the shopper's cart now, newest first, without repeats.
pub(super) fn send_items(run: Option<&Run>, state: &ShopperState) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    if let Some(Value::String(id)) = run.and_then(|r| r.entry.get("item_id")) {
        if !id.is_empty() && id.len() <= MAX_ITEM_ID_BYTES {
            items.push(id.clone());
        }
    }
    for item in state.interests.cart() {
        if items.len() >= MAX_DECISION_ITEMS {
            break;
        }
        if !items.contains(&item.id) {
            items.push(item.id.clone());
        }
    }
    items
}
