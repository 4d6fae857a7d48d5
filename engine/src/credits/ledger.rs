//! [`Ledger`]: the credit ledger over a [`StateStore`], for the parts outside node
//! transitions: granting credits, reading balances, entries and reservations.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::bookkeeping::{Booked, Books};
use super::reservation::parse_id;
use super::{Balance, LedgerEntry, LedgerTables, Reservation, TxnError};
use crate::EngineError;
use crate::store::{HookError, StateStore, now_ms};

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
        Ok(self.read(|t| t.account(user))?.unwrap_or_default())
    }

    /// Whether `user` has `amount` credits available now. A cheap pre-check (e.g. to answer
    /// HTTP 402 before creating a run); the reservation before each step is what counts.
    pub fn can_afford(&self, user: &str, amount: u64) -> Result<bool, EngineError> {
        Ok(self.balance(user)?.available >= amount)
    }

    /// `user`'s entries, oldest first.
    pub fn entries(&self, user: &str) -> Result<Vec<LedgerEntry>, EngineError> {
        self.read(|t| t.entries(Some(user)))
    }

    /// Every entry of the log, oldest first.
    pub fn all_entries(&self) -> Result<Vec<LedgerEntry>, EngineError> {
        self.read(|t| t.entries(None))
    }

    pub fn reservation(&self, id: &str) -> Result<Option<Reservation>, EngineError> {
        self.read(|t| t.reservation(id))
    }

    /// Every reservation one step of one run made, oldest first: one, unless an earlier one
    /// expired while the run was interrupted, or `runs retry` ran the step again.
    pub fn reservations_for(
        &self,
        run_id: &str,
        step_id: &str,
    ) -> Result<Vec<Reservation>, EngineError> {
        let key = format!("{run_id}/{step_id}");
        let mut reservations: Vec<_> = self
            .read(|t| t.reservations(Some((run_id, step_id))))?
            .into_iter()
            .filter_map(|r| parse_id(&key, &r.id).map(|order| (order, r)))
            .collect();
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

    /// Runs `read` on the ledger's records as they are now.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&mut dyn LedgerTables) -> Result<T, TxnError>,
    ) -> Result<T, EngineError> {
        let mut read = Some(read);
        let mut value = None;
        self.store.read_ledger(&mut |tables| {
            if let Some(read) = read.take() {
                value = Some(read(tables)?);
            }
            Ok(())
        })?;
        Ok(value.expect("the store ran the read"))
    }

    /// Runs one ledger operation in a store transaction of its own. A refused operation
    /// comes back as [`EngineError::Refused`] with its [`super::CreditError`] inside.
    pub(crate) fn transact<T: Send>(
        &self,
        operation: impl Fn(&mut Books) -> Booked<T> + Sync,
    ) -> Result<T, EngineError> {
        let outcome: Mutex<Option<T>> = Mutex::new(None);
        let work = |txn: &mut dyn LedgerTables| -> Result<(), HookError> {
            let value = operation(&mut Books::new(txn))?;
            *outcome.lock().expect("ledger outcome lock") = Some(value);
            Ok(())
        };
        // Ledger operations outside node transitions (grants, sweeps) are acknowledged to
        // someone: they are on disk before that.
        self.store
            .commit(None, None, Some(&work))
            .and_then(|()| self.store.flush())?;
        let value = outcome.lock().expect("ledger outcome lock").take();
        Ok(value.expect("a committed transaction ran its work"))
    }
}
