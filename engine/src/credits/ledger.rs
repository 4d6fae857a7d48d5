//! [`Ledger`]: the credit ledger over a [`StateStore`], for the parts outside node
//! transitions: granting credits, reading balances, entries and reservations.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::de::DeserializeOwned;

use super::bookkeeping::{Booked, Books, Failure};
use super::reservation::parse_id;
use super::{Balance, LedgerEntry, Reservation, keys};
use crate::EngineError;
use crate::store::{HookError, StateStore, TxnView, now_ms};

/// The credit ledger in `store`. Cheap: it only borrows the store.
#[derive(Clone, Copy)]
pub struct Ledger<'s> {
    store: &'s dyn StateStore,
}

impl<'s> Ledger<'s> {
    pub fn new(store: &'s dyn StateStore) -> Self {
        Ledger { store }
    }

    /// Adds `amount` credits to `user`. `op_id` names the operation (e.g. a payment id):
    /// repeating it has no second effect, reusing it for another grant is refused (I5).
    /// Returns the user's balance afterwards.
    pub fn grant(&self, user: &str, amount: u64, op_id: &str) -> Result<Balance, EngineError> {
        let now = now_ms();
        self.transact(|books| books.grant(user, amount, op_id, now))
    }

    /// `user`'s balance (all zero for a user the ledger has never seen).
    pub fn balance(&self, user: &str) -> Result<Balance, EngineError> {
        Ok(self.read(&keys::account(user))?.unwrap_or_default())
    }

    /// Whether `user` has `amount` credits available now. A cheap pre-check (e.g. to answer
    /// HTTP 402 before creating a run); the reservation before each step is what counts.
    pub fn can_afford(&self, user: &str, amount: u64) -> Result<bool, EngineError> {
        Ok(self.balance(user)?.available >= amount)
    }

    /// `user`'s entries, oldest first.
    pub fn entries(&self, user: &str) -> Result<Vec<LedgerEntry>, EngineError> {
        let mut entries = Vec::new();
        for (key, _) in self.store.hook_scan(keys::user_entries(user).as_bytes())? {
            let seq = seq_of_index_key(&key).ok_or_else(|| EngineError::Corrupt {
                what: String::from_utf8_lossy(&key).into_owned(),
                error: "not a user entry index key".into(),
            })?;
            let entry: LedgerEntry =
                self.read(&keys::entry(seq))?
                    .ok_or_else(|| EngineError::Corrupt {
                        what: keys::entry(seq),
                        error: format!("indexed for `{user}` but missing"),
                    })?;
            // The index prefix of `a` also covers users named `a/...`.
            if entry.user == user {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Every entry of the log, oldest first.
    pub fn all_entries(&self) -> Result<Vec<LedgerEntry>, EngineError> {
        self.store
            .hook_scan(keys::ENTRIES.as_bytes())?
            .into_iter()
            .map(|(key, bytes)| decode(&key, &bytes))
            .collect()
    }

    pub fn reservation(&self, id: &str) -> Result<Option<Reservation>, EngineError> {
        self.read(&keys::reservation(id))
    }

    /// Every reservation one step of one run made, oldest first: one, unless an earlier one
    /// expired while the run was interrupted, or `runs retry` ran the step again.
    pub fn reservations_for(
        &self,
        run_id: &str,
        step_id: &str,
    ) -> Result<Vec<Reservation>, EngineError> {
        let key = format!("{run_id}/{step_id}");
        let mut reservations = Vec::new();
        for (stored_key, bytes) in self.store.hook_scan(keys::reservation(&key).as_bytes())? {
            let reservation: Reservation = decode(&stored_key, &bytes)?;
            if let Some(order) = parse_id(&key, &reservation.id) {
                reservations.push((order, reservation));
            }
        }
        reservations.sort_by_key(|(order, _)| *order);
        Ok(reservations.into_iter().map(|(_, r)| r).collect())
    }

    /// Every account's balance as the entry log adds it up, by account name (the issuer's is
    /// minus everything granted). Double entry: the balances always sum to zero.
    pub fn trial_balance(&self) -> Result<BTreeMap<String, i128>, EngineError> {
        let mut accounts = BTreeMap::new();
        for entry in self.all_entries()? {
            *accounts.entry(entry.from).or_insert(0) -= i128::from(entry.amount);
            *accounts.entry(entry.to).or_insert(0) += i128::from(entry.amount);
        }
        Ok(accounts)
    }

    pub(crate) fn store(&self) -> &'s dyn StateStore {
        self.store
    }

    fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, EngineError> {
        match self.store.hook_get(key.as_bytes())? {
            Some(bytes) => decode(key.as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Runs one ledger operation in a store transaction of its own, keeping its typed error
    /// if it is refused (the store only passes the refusal's text through).
    pub(crate) fn transact<T: Send>(
        &self,
        operation: impl Fn(&mut Books) -> Booked<T> + Sync,
    ) -> Result<T, EngineError> {
        let outcome: Mutex<Option<Result<T, EngineError>>> = Mutex::new(None);
        let work = |txn: &mut dyn TxnView| -> Result<(), HookError> {
            let mut books = Books::new(txn);
            let result = match operation(&mut books) {
                Ok(value) => Ok(value),
                Err(Failure::Conflict(conflict)) => return Err(HookError::Conflict(conflict)),
                Err(Failure::Rejected(error)) => Err(error),
            };
            let refusal = result
                .as_ref()
                .err()
                .map(|e| HookError::Refused(e.to_string()));
            *outcome.lock().expect("ledger outcome lock") = Some(result);
            refusal.map_or(Ok(()), Err)
        };
        // Ledger operations outside node transitions (grants, sweeps) are acknowledged to
        // someone: they are on disk before that.
        let committed = self
            .store
            .commit(None, None, Some(&work))
            .and_then(|()| self.store.flush());
        let outcome = outcome.lock().expect("ledger outcome lock").take();
        match (committed, outcome) {
            (Ok(()), Some(result)) => result,
            (Err(EngineError::Refused(_)), Some(Err(error))) => Err(error),
            (Err(error), _) => Err(error),
            (Ok(()), None) => unreachable!("a committed transaction ran its work"),
        }
    }
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, EngineError> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::Corrupt {
        what: String::from_utf8_lossy(key).into_owned(),
        error: e.to_string(),
    })
}

/// The sequence number at the end of a `ledger/user-entry/<user>/<seq>` key.
fn seq_of_index_key(key: &[u8]) -> Option<u64> {
    let key = std::str::from_utf8(key).ok()?;
    key.rsplit_once('/')?.1.parse().ok()
}
