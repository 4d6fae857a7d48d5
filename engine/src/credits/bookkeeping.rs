//! The only code that writes ledger records. Every operation runs inside one store
//! transaction, through the [`LedgerTables`] of a node transition (the credit hook) or of a transaction of its
//! own ([`super::Ledger`]), and derives its writes only from what it reads there, so a
//! retried transaction writes the same thing.
//!
//! An operation appends its entry, updates the user's [`Balance`], and records its operation
//! id with its parameters: the same id again with the same parameters has no second effect,
//! with other parameters it is refused (I5).

use super::CreditError;
use super::reservation::generation_id;
use super::{
    AppliedOperation, Balance, EntryKind, LedgerEntry, LedgerTables, Reservation, ReservationState,
    TxnError,
};
use crate::store::HookError;

/// Why a ledger operation did not complete.
pub(crate) enum Failure {
    /// The store could not read or write the records (or the transaction must be retried).
    Txn(TxnError),
    /// The operation is refused; nothing of the transaction is written.
    Rejected(CreditError),
}

impl From<TxnError> for Failure {
    fn from(error: TxnError) -> Self {
        Failure::Txn(error)
    }
}

impl From<CreditError> for Failure {
    fn from(error: CreditError) -> Self {
        Failure::Rejected(error)
    }
}

impl From<Failure> for HookError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Txn(error) => HookError::Txn(error),
            Failure::Rejected(error) => HookError::Refused(error.refusal()),
        }
    }
}

pub(crate) type Booked<T> = Result<T, Failure>;

/// A new reservation for one step of one run.
pub(crate) struct Hold<'a> {
    pub id: String,
    pub run_id: &'a str,
    pub step_id: &'a str,
    pub user: &'a str,
    pub amount: u64,
    pub expires_at: u64,
}

/// An entry about to be appended.
struct Draft<'a> {
    op_id: String,
    params: String,
    kind: EntryKind,
    user: &'a str,
    amount: u64,
    reservation: Option<&'a Reservation>,
    at: u64,
    expires_at: Option<u64>,
}

/// The ledger as seen from inside one transaction.
pub(crate) struct Books<'t> {
    tables: &'t mut dyn LedgerTables,
}

impl<'t> Books<'t> {
    pub fn new(tables: &'t mut dyn LedgerTables) -> Self {
        Books { tables }
    }

    pub fn balance(&mut self, user: &str) -> Booked<Balance> {
        Ok(self.tables.account(user)?.unwrap_or_default())
    }

    pub fn reservation(&mut self, id: &str) -> Booked<Option<Reservation>> {
        Ok(self.tables.reservation(id)?)
    }

    /// The newest reservation for the node with idempotency key `key`, with its generation
    /// (`0, None` if the node never reserved anything).
    pub fn latest_reservation(&mut self, key: &str) -> Booked<(u32, Option<Reservation>)> {
        let mut latest = (0, None);
        for generation in 1.. {
            match self.reservation(&generation_id(key, generation))? {
                Some(reservation) => latest = (generation, Some(reservation)),
                None => break,
            }
        }
        Ok(latest)
    }

    /// True if `op_id` was already applied with these `params` (nothing to do again).
    fn already_applied(&mut self, op_id: &str, params: &str) -> Booked<bool> {
        match self.tables.operation(op_id)? {
            None => Ok(false),
            Some(applied) if applied.params == params => Ok(true),
            Some(applied) => Err(Failure::Rejected(CreditError::CreditOperationReused {
                op_id: op_id.to_string(),
                applied: applied.params,
                requested: params.to_string(),
            })),
        }
    }

    /// Appends one entry and applies it to its user's balance.
    fn append(&mut self, draft: Draft<'_>) -> Booked<Balance> {
        let Draft {
            op_id,
            params,
            kind,
            user,
            amount,
            reservation,
            at,
            expires_at,
        } = draft;
        let balance = self.balance(user)?.after(kind, amount).ok_or_else(|| {
            Failure::Rejected(CreditError::InvalidCreditRequest {
                user: user.to_string(),
                reason: format!(
                    "a {} of {amount} would take a balance below zero or past its limit",
                    kind.as_str()
                ),
            })
        })?;
        let seq = self.tables.next_seq()?;
        let (from, to) = kind.accounts(user);
        let entry = LedgerEntry {
            seq,
            op_id: op_id.clone(),
            kind,
            user: user.to_string(),
            amount,
            from,
            to,
            reservation_id: reservation.map(|r| r.id.clone()),
            run_id: reservation.map(|r| r.run_id.clone()),
            step_id: reservation.map(|r| r.step_id.clone()),
            at,
            expires_at,
        };
        self.tables.append_entry(&entry)?;
        self.tables.put_account(user, &balance)?;
        self.tables
            .put_operation(&op_id, &AppliedOperation { params, seq })?;
        Ok(balance)
    }

    /// Adds `amount` to `user`'s available credits under the caller's operation id.
    pub fn grant(&mut self, user: &str, amount: u64, op_id: &str, now: u64) -> Booked<Balance> {
        check_user(user)?;
        if amount == 0 {
            return Err(invalid(user, "a grant must be of at least 1 credit"));
        }
        if op_id.is_empty() {
            return Err(invalid(user, "a grant needs an operation id"));
        }
        let op_id = format!("grant:{op_id}");
        let params = format!("grant {amount} to {user}");
        if self.already_applied(&op_id, &params)? {
            return self.balance(user);
        }
        self.append(Draft {
            op_id,
            params,
            kind: EntryKind::Grant,
            user,
            amount,
            reservation: None,
            at: now,
            expires_at: None,
        })
    }

    /// Holds `hold.amount` of the user's available credits for a step, or refuses with
    /// [`CreditError::InsufficientCredits`] naming the step, the user and both figures.
    pub fn reserve(&mut self, hold: Hold<'_>, now: u64) -> Booked<Reservation> {
        check_user(hold.user)?;
        let op_id = format!("reserve:{}", hold.id);
        let params = format!("reserve {} from {}", hold.amount, hold.user);
        if self.already_applied(&op_id, &params)?
            && let Some(existing) = self.reservation(&hold.id)?
        {
            return Ok(existing);
        }
        let available = self.balance(hold.user)?.available;
        if available < hold.amount {
            return Err(Failure::Rejected(CreditError::InsufficientCredits {
                step: hold.step_id.to_string(),
                user: hold.user.to_string(),
                needed: hold.amount,
                available,
            }));
        }
        let reservation = Reservation {
            id: hold.id,
            user: hold.user.to_string(),
            amount: hold.amount,
            state: ReservationState::Pending,
            run_id: hold.run_id.to_string(),
            step_id: hold.step_id.to_string(),
            reserved_at: now,
            expires_at: hold.expires_at,
            renewals: 0,
            resolved_at: None,
        };
        self.append(Draft {
            op_id,
            params,
            kind: EntryKind::Reserve,
            user: hold.user,
            amount: hold.amount,
            reservation: Some(&reservation),
            at: now,
            expires_at: Some(reservation.expires_at),
        })?;
        self.tables.put_reservation(&reservation)?;
        Ok(reservation)
    }

    /// Resolves a pending reservation for good: `Post` charges it, `Void` and `Expire`
    /// return it (I3). Posting takes exactly the reserved amount, never more (I4).
    pub fn resolve(&mut self, id: &str, kind: EntryKind, now: u64) -> Booked<Reservation> {
        let state = match kind {
            EntryKind::Post => ReservationState::Posted,
            EntryKind::Void => ReservationState::Voided,
            EntryKind::Expire => ReservationState::Expired,
            other => unreachable!("{} does not resolve a reservation", other.as_str()),
        };
        let mut reservation = self
            .reservation(id)?
            .ok_or_else(|| missing_reservation(id, "the reservation to resolve does not exist"))?;
        // One operation id for all three resolutions: a second, different resolution is a
        // reuse of that id as well as a breach of finality.
        let op_id = format!("settle:{id}");
        let params = format!(
            "{} {} of {}",
            kind.as_str(),
            reservation.amount,
            reservation.user
        );
        if reservation.state != ReservationState::Pending {
            let repeated = match self.already_applied(&op_id, &params) {
                Ok(repeated) => repeated,
                Err(Failure::Rejected(_)) => false,
                Err(failure) => return Err(failure),
            };
            return match repeated {
                true => Ok(reservation),
                false => Err(Failure::Rejected(CreditError::ReservationResolved {
                    id: id.to_string(),
                    state: reservation.state.as_str(),
                })),
            };
        }
        self.already_applied(&op_id, &params)?;
        self.append(Draft {
            op_id,
            params,
            kind,
            user: &reservation.user,
            amount: reservation.amount,
            reservation: Some(&reservation),
            at: now,
            expires_at: None,
        })?;
        reservation.state = state;
        reservation.resolved_at = Some(now);
        self.tables.put_reservation(&reservation)?;
        Ok(reservation)
    }

    /// Extends a pending reservation's hold to `expires_at` (a resumed step runs in full
    /// again, so it gets a full hold again).
    pub fn renew(&mut self, id: &str, expires_at: u64, now: u64) -> Booked<Reservation> {
        let mut reservation = match self.reservation(id)? {
            Some(r) if r.state == ReservationState::Pending => r,
            Some(r) => {
                return Err(Failure::Rejected(CreditError::ReservationResolved {
                    id: id.to_string(),
                    state: r.state.as_str(),
                }));
            }
            None => {
                return Err(missing_reservation(
                    id,
                    "the reservation to renew does not exist",
                ));
            }
        };
        reservation.renewals += 1;
        reservation.expires_at = expires_at;
        self.append(Draft {
            op_id: format!("renew:{id}:{}", reservation.renewals),
            params: format!("renew {id} until {expires_at}"),
            kind: EntryKind::Renew,
            user: &reservation.user,
            amount: 0,
            reservation: Some(&reservation),
            at: now,
            expires_at: Some(expires_at),
        })?;
        self.tables.put_reservation(&reservation)?;
        Ok(reservation)
    }

    /// Expires reservation `id` if it is still pending and its hold ran out by `now`.
    pub fn expire_if_due(&mut self, id: &str, now: u64) -> Booked<bool> {
        match self.reservation(id)? {
            Some(r) if r.state == ReservationState::Pending && r.expires_at <= now => {
                self.resolve(id, EntryKind::Expire, now)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

fn invalid(user: &str, reason: &str) -> Failure {
    Failure::Rejected(CreditError::InvalidCreditRequest {
        user: user.to_string(),
        reason: reason.to_string(),
    })
}

/// User names become part of keys and account names: they must be non-empty and printable.
fn check_user(user: &str) -> Booked<()> {
    if user.is_empty() {
        return Err(invalid(user, "the user name is empty"));
    }
    if user.chars().any(char::is_control) {
        return Err(invalid(user, "the user name contains control characters"));
    }
    Ok(())
}

/// A reservation an operation names is not stored: the ledger is damaged, not the request.
fn missing_reservation(id: &str, error: &str) -> Failure {
    Failure::Txn(TxnError::Failed(crate::EngineError::Corrupt {
        what: format!("credit reservation `{id}`"),
        error: error.into(),
    }))
}
