//! Which row a job's ids resolve to. Ids point at rows through aliases (`anon:…` and
//! `cust:…` keys); at login an anonymous row is folded into the customer's row and its
//! aliases follow, so every device of a customer writes one row.

use std::collections::BTreeMap;

use super::batch::{Batch, Slot};
use crate::server::storage::{self, anon_key, customer_key, StorageResult};
use crate::state::ShopperState;
use crate::time::Timestamp;

/// Who a job is for: an anonymous id, a customer id, or both (after login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Anonymous (device) id.
    pub anonymous: Option<String>,
    /// Customer id.
    pub customer: Option<String>,
}

impl Identity {
    pub(super) fn ids(&self) -> impl Iterator<Item = &str> {
        self.anonymous.iter().chain(self.customer.iter()).map(String::as_str)
    }
}

impl Batch<'_> {
    /// The row key for an identity; folds an anonymous row into the customer row at login.
    pub(super) async fn resolve(&mut self, identity: &Identity) -> StorageResult<String> {
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
}

/// Where a row key points after the folds of this batch.
pub(super) fn follow(moved: &BTreeMap<String, String>, mut key: String) -> String {
    for _ in 0..16 {
        match moved.get(&key) {
            Some(next) => key = next.clone(),
            None => break,
        }
    }
    key
}

/// Links the identity's ids into the state (login: the customer id becomes primary).
pub(super) fn link(state: &mut ShopperState, identity: &Identity, now: Timestamp) {
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
