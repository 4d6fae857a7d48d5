//! [`LedgerTables`]: the ledger's records as one store transaction sees them. The ledger's
//! code ([`super::bookkeeping`], [`super::Ledger`], the verification) is written against this
//! trait only; each backend keeps the records its own way (the embedded store as keys of its
//! hook tree, PostgreSQL as the tables `accounts`, `ledger_entries`, `holds` and
//! `ledger_operations`).
//!
//! Reads see the transaction's own earlier writes. A backend may make a reader wait for a
//! concurrent transaction that holds the same account (PostgreSQL locks an account row for
//! the rest of the transaction once it is read).

use serde::{Deserialize, Serialize};

use super::{Balance, LedgerEntry, Reservation};
use crate::EngineError;

/// What an operation id was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedOperation {
    /// The operation's parameters in words, e.g. `grant 10 to alice`. Stored as text rather
    /// than a hash so a refused reuse can say what the id was used for.
    pub params: String,
    /// The entry it wrote.
    pub seq: u64,
}

/// Why a read or write inside a transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The transaction must be run again from the start.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// The store failed or holds an unreadable record; the transaction is abandoned.
    #[error(transparent)]
    Failed(#[from] EngineError),
}

/// The ledger's records inside one transaction.
pub trait LedgerTables {
    /// `user`'s account, `None` before its first entry.
    fn account(&mut self, user: &str) -> Result<Option<Balance>, TxnError>;
    fn put_account(&mut self, user: &str, balance: &Balance) -> Result<(), TxnError>;
    /// Every account, by user name.
    fn accounts(&mut self) -> Result<Vec<(String, Balance)>, TxnError>;

    /// A sequence number for the next entry, greater than every entry's so far.
    fn next_seq(&mut self) -> Result<u64, TxnError>;
    /// The counter [`LedgerTables::next_seq`] last handed out (0 if none).
    fn last_seq(&mut self) -> Result<u64, TxnError>;
    /// True when sequence numbers have no gaps (an aborted transaction of a backend with a
    /// shared sequence leaves one).
    fn gapless_seq(&self) -> bool;
    fn append_entry(&mut self, entry: &LedgerEntry) -> Result<(), TxnError>;
    /// One user's entries, or every entry (`None`), in sequence order.
    fn entries(&mut self, user: Option<&str>) -> Result<Vec<LedgerEntry>, TxnError>;

    fn reservation(&mut self, id: &str) -> Result<Option<Reservation>, TxnError>;
    /// Writes a reservation, new or changed. The backend keeps pending reservations findable
    /// by expiry ([`LedgerTables::pending`]).
    fn put_reservation(&mut self, reservation: &Reservation) -> Result<(), TxnError>;
    /// Every reservation, or those of one step of one run (`Some((run_id, step_id))`), in id
    /// order.
    fn reservations(&mut self, of: Option<(&str, &str)>) -> Result<Vec<Reservation>, TxnError>;
    /// Pending reservations as `(expires_at, id)`, soonest first, as the backend indexes them.
    fn pending(&mut self) -> Result<Vec<(u64, String)>, TxnError>;

    fn operation(&mut self, op_id: &str) -> Result<Option<AppliedOperation>, TxnError>;
    fn put_operation(&mut self, op_id: &str, applied: &AppliedOperation) -> Result<(), TxnError>;
}
