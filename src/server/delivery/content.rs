//! What a message shows besides its text: the products. Built at delivery from the
//! shopper's freshest state and the catalog — the trigger item (the item the journey's
//! entry event named), the cart, the search term, a price drop's old and new price, and
//! three recommendations (what goes with the trigger item, else what matches the search
//! term, else the shopper's own blend) — for email templates (`items`, `cart`,
//! `recommendations`, `search_term`, `price_drop`) and the SMS / push / ads webhook
//! payloads (`context`).

use serde_json::{json, Value as Json};

use crate::server::recommend::service::{Card, Recommender};
use crate::server::storage::Db;
use crate::state::ShopperState;
use crate::time::Timestamp;

/// Recommendations a message carries.
pub const RECOMMENDED: usize = 3;

/// Trigger items a message shows at most (a new-arrivals entry can list more).
pub const TRIGGER_ITEMS: usize = 4;

/// The content of a message, from what its outbox row kept (`context`: the run's
/// remembered entry and the decision's items, see `OutboxRow::context`) and the
/// shopper's freshest state, as JSON (empty parts left out). A storage failure leaves
/// the catalog parts out, never the message.
pub async fn build(recommender: &Recommender, db: &Db, state: &ShopperState, context: &str, now: Timestamp) -> Json {
    let kept: Json = serde_json::from_str(context).unwrap_or(Json::Null);
    let entry = |key: &str| kept.get("entry").and_then(|e| e.get(key));
    let item = entry("item_id").and_then(Json::as_str).map(str::to_owned);
    // A new-arrivals entry lists the items that arrived; other entries name one.
    let mut trigger_ids: Vec<String> = entry("item_ids")
        .and_then(Json::as_array)
        .map(|ids| ids.iter().filter_map(Json::as_str).take(TRIGGER_ITEMS).map(str::to_owned).collect())
        .unwrap_or_default();
    if trigger_ids.is_empty() {
        trigger_ids.extend(item.iter().cloned());
    }
    let search_term = entry("search_term").and_then(Json::as_str).map(str::to_owned);
    let cart_ids: Vec<String> = state.interests.cart().iter().map(|i| i.id.clone()).collect();
    let quantities: Vec<u16> = state.interests.cart().iter().map(|i| i.in_cart).collect();

    let mut out = serde_json::Map::new();
    let cards = |ids: Vec<String>| async move {
        match recommender.cards(db, &ids, now).await {
            Ok(cards) => cards,
            Err(e) => {
                tracing::warn!(error = %e, "message content: the catalog could not be read");
                Vec::new()
            }
        }
    };
    let trigger = cards(trigger_ids.clone()).await;
    if !trigger.is_empty() {
        out.insert("items".into(), json!(trigger));
    }
    let cart = cards(cart_ids.clone()).await;
    if !cart.is_empty() {
        let lines: Vec<Json> = cart
            .iter()
            .map(|card| {
                let quantity = cart_ids.iter().position(|id| *id == card.id).and_then(|i| quantities.get(i)).copied();
                let mut line = json!(card);
                if let Some(object) = line.as_object_mut() {
                    object.insert("quantity".into(), json!(quantity.unwrap_or(1)));
                }
                line
            })
            .collect();
        out.insert("cart".into(), Json::Array(lines));
    }
    if let Some(term) = &search_term {
        out.insert("search_term".into(), json!(term));
    }
    let number = |key: &str| entry(key).and_then(Json::as_f64);
    if let (Some(old), Some(new)) = (number("old_price"), number("new_price")) {
        out.insert(
            "price_drop".into(),
            json!({ "old_price": old, "new_price": new, "drop_percent": number("drop_percent"), "item": trigger.first() }),
        );
    }
    // Asked for more than shown, so that leaving out what the message already lists
    // still leaves three.
    let shown: Vec<String> = cart_ids.iter().chain(&trigger_ids).cloned().collect();
    let k = RECOMMENDED + shown.len();
    let recommended = match (&item, &search_term) {
        (Some(item), _) => recommender.for_item(db, item, Some(&state.interests), k, now).await,
        (None, Some(term)) => recommender.search(db, term, k, now).await,
        (None, None) => recommender.for_shopper(db, &state.interests, k, now).await,
    };
    match recommended {
        Ok(list) if !list.is_empty() => {
            let list: Vec<Card> = list.into_iter().filter(|c| !shown.contains(&c.id)).take(RECOMMENDED).collect();
            out.insert("recommendations".into(), json!(list));
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "message content: no recommendations"),
    }
    Json::Object(out)
}
