//! The credit ledger: per-user balances kept as an append-only, double-entry log in the
//! store, and the [`CreditHook`] that reserves, posts and voids credits in the
//! same transaction as the node transition each entry belongs to.
//!
//! A paid step (`credits: N`) of a run with an owner reserves N before it starts (or does not
//! start), posts them when it succeeds, and voids them when it fails, times out, is cancelled
//! or its output was free (a cache hit). Operator runs (`owner: None`) leave no ledger trace.
//!
//! # Layout
//! - `tables`: [`LedgerTables`], the records as a store transaction sees them; each backend
//!   keeps them its own way.
//! - `balance`: [`Balance`], one user's account as stored.
//! - `error`: [`CreditError`], why the ledger refuses an operation.
//! - `entry`: [`LedgerEntry`], its [`EntryKind`] and the double-entry accounts it moves
//!   credits between.
//! - `reservation`: [`Reservation`], its [`ReservationState`] and reservation ids.
//! - `bookkeeping`: the only code that writes ledger keys, inside one store transaction.
//! - `ledger`: [`Ledger`], the API over a store (grant, balance, entries, reservations).
//! - `verify`: rebuilding every account from the log at start ([`LedgerProblem`]).
//! - `sweep`: expiring reservations whose hold ran out, once or periodically.
//! - `precheck`: what a run may cost, for refusing it before any work (HTTP 402).
//! - `hook`: [`CreditHook`], the node lifecycle hook.
//!
//! # Invariants
//! I1 every entry moves one amount from one account to another (the accounts sum to zero);
//! I2 no available balance goes below zero; I3 a reservation resolves once (post, void or
//! expire) and stays resolved; I4 a post never exceeds its reservation; I5 an operation id
//! applies once, and is refused for different parameters; I6 stored balances equal the log
//! ([`CreditHook::open`] refuses otherwise); I7 a reservation past its expiry is expired by
//! the next sweep; I8 a paid step that started ends with exactly one posted reservation
//! (succeeded) or none posted and every reservation returned (failed, cancelled, free); a
//! step that never started has no reservation at all.

mod balance;
mod bookkeeping;
mod entry;
mod error;
mod hook;
mod ledger;
mod precheck;
mod reservation;
mod sweep;
mod tables;
mod verify;

pub use balance::Balance;
pub use entry::{EntryKind, ISSUER_ACCOUNT, LedgerEntry, user_account};
pub use error::CreditError;
pub use hook::CreditHook;
pub use ledger::Ledger;
pub use precheck::credits_required;
pub use reservation::{Reservation, ReservationState};
pub use sweep::sweep_periodically;
pub use tables::{AppliedOperation, LedgerTables, TxnError};
pub use verify::LedgerProblem;
