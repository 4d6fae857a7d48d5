//! Rebuilding the ledger from its entry log and comparing it with what is stored (I6). Run
//! at every start, before anything charges or grants: [`super::CreditHook::open`] does.
//!
//! The log is the truth. Balances are rebuilt from the entries' double-entry accounts (not
//! from the code that maintains the stored totals), every entry is checked to move credits
//! between the accounts its kind allows, no user account may dip below zero at any entry
//! (I2), a reservation must be reserved once and resolved at most once (I3) for no more than
//! it held (I4), and the stored accounts, reservations and pending index must match.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::CreditError;
use super::{
    Balance, EntryKind, ISSUER_ACCOUNT, Ledger, LedgerEntry, Reservation, ReservationState,
};
use crate::EngineError;

/// One way the stored ledger disagrees with its entry log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerProblem {
    /// A stored account total differs from what the entries add up to.
    Balance {
        user: String,
        field: &'static str,
        stored: u64,
        rebuilt: i128,
    },
    /// A user account went below zero at entry `seq`.
    Negative {
        seq: u64,
        account: String,
        balance: i128,
    },
    /// An entry is inconsistent in itself or with the entries before it.
    Entry { seq: u64, reason: String },
    /// The log has a gap, or the sequence counter disagrees with it.
    Sequence { reason: String },
    /// A stored reservation differs from what its entries say.
    Reservation {
        id: String,
        stored: String,
        rebuilt: String,
    },
    /// A record cannot be read.
    Unreadable { key: String, error: String },
}

impl fmt::Display for LedgerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerProblem::Balance {
                user,
                field,
                stored,
                rebuilt,
            } => write!(
                f,
                "account `{user}`: stored {field} is {stored}, but its entries add up to {rebuilt}"
            ),
            LedgerProblem::Negative {
                seq,
                account,
                balance,
            } => {
                write!(f, "entry {seq} takes `{account}` below zero (to {balance})")
            }
            LedgerProblem::Entry { seq, reason } => write!(f, "entry {seq}: {reason}"),
            LedgerProblem::Sequence { reason } => write!(f, "entry log: {reason}"),
            LedgerProblem::Reservation {
                id,
                stored,
                rebuilt,
            } => {
                write!(
                    f,
                    "reservation `{id}`: stored as {stored}, but its entries say {rebuilt}"
                )
            }
            LedgerProblem::Unreadable { key, error } => write!(f, "`{key}` is unreadable: {error}"),
        }
    }
}

/// The problems as an indented list, one per line (for [`CreditError::LedgerMismatch`]).
pub(crate) fn list_problems(problems: &[LedgerProblem]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

/// A reservation as its entries describe it.
struct RebuiltReservation {
    user: String,
    amount: u64,
    state: ReservationState,
    expires_at: u64,
}

fn describe(user: &str, amount: u64, state: ReservationState, expires_at: u64) -> String {
    format!(
        "{} {amount} for `{user}` expiring at {expires_at}",
        state.as_str()
    )
}

impl Ledger<'_> {
    /// Rebuilds every account and reservation from the entry log and compares them with the
    /// stored ones (I6). Every disagreement is reported at once, naming the user and both
    /// figures. Call it while nothing else writes the ledger (at start).
    pub fn verify(&self) -> Result<(), EngineError> {
        let problems = self.problems()?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CreditError::LedgerMismatch { problems }.into())
        }
    }

    /// What [`Ledger::verify`] finds wrong, empty if nothing.
    pub fn problems(&self) -> Result<Vec<LedgerProblem>, EngineError> {
        let mut problems = Vec::new();
        let mut accounts: BTreeMap<String, i128> = BTreeMap::new();
        let mut granted: BTreeMap<String, i128> = BTreeMap::new();
        let mut entry_counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut reservations: BTreeMap<String, RebuiltReservation> = BTreeMap::new();
        let mut went_negative: BTreeSet<String> = BTreeSet::new();

        let (entries, stored_seq, gapless, stored_accounts, stored_reservations, indexed) = self
            .read(|t| {
                Ok((
                    t.entries(None)?,
                    t.last_seq()?,
                    t.gapless_seq(),
                    t.accounts()?,
                    t.reservations(None)?,
                    t.pending()?,
                ))
            })?;
        let mut last_seq = 0;
        for entry in entries {
            let out_of_order = match gapless {
                true => entry.seq != last_seq + 1,
                false => entry.seq <= last_seq,
            };
            if out_of_order {
                problems.push(LedgerProblem::Sequence {
                    reason: format!("entry {} follows entry {last_seq}", entry.seq),
                });
            }
            last_seq = entry.seq;
            check_entry(&entry, &mut reservations, &mut problems);

            let amount = i128::from(entry.amount);
            for (account, change) in [(&entry.from, -amount), (&entry.to, amount)] {
                let balance = accounts.entry(account.clone()).or_insert(0);
                *balance += change;
                if *balance < 0
                    && account != ISSUER_ACCOUNT
                    && went_negative.insert(account.clone())
                {
                    problems.push(LedgerProblem::Negative {
                        seq: entry.seq,
                        account: account.clone(),
                        balance: *balance,
                    });
                }
            }
            if entry.kind == EntryKind::Grant {
                *granted.entry(entry.user.clone()).or_insert(0) += amount;
            }
            *entry_counts.entry(entry.user.clone()).or_insert(0) += 1;
        }
        let counter_behind = match gapless {
            true => stored_seq != last_seq,
            false => stored_seq < last_seq,
        };
        if counter_behind {
            problems.push(LedgerProblem::Sequence {
                reason: format!("the counter says {stored_seq} entries, the log has {last_seq}"),
            });
        }

        // Accounts: every user that has entries or a stored account.
        let stored_accounts: BTreeMap<String, Balance> = stored_accounts.into_iter().collect();
        let users: BTreeSet<String> = stored_accounts
            .keys()
            .chain(entry_counts.keys())
            .cloned()
            .collect();
        for user in users {
            let stored = stored_accounts.get(&user).copied().unwrap_or_default();
            let bucket = |name: &str| {
                accounts
                    .get(&super::user_account(&user, name))
                    .copied()
                    .unwrap_or(0)
            };
            let rebuilt = [
                ("available", stored.available, bucket("available")),
                ("pending", stored.pending, bucket("pending")),
                ("posted", stored.posted, bucket("posted")),
                (
                    "granted",
                    stored.granted,
                    granted.get(&user).copied().unwrap_or(0),
                ),
                (
                    "entry count",
                    stored.entries,
                    i128::from(entry_counts.get(&user).copied().unwrap_or(0)),
                ),
            ];
            for (field, stored, rebuilt) in rebuilt {
                if i128::from(stored) != rebuilt {
                    problems.push(LedgerProblem::Balance {
                        user: user.clone(),
                        field,
                        stored,
                        rebuilt,
                    });
                }
            }
        }

        // Reservations and the pending index.
        let stored_reservations: BTreeMap<String, Reservation> = stored_reservations
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let ids: BTreeSet<&String> = stored_reservations
            .keys()
            .chain(reservations.keys())
            .collect();
        for id in ids {
            let stored = stored_reservations
                .get(id)
                .map(|r| describe(&r.user, r.amount, r.state, r.expires_at));
            let rebuilt = reservations
                .get(id)
                .map(|r| describe(&r.user, r.amount, r.state, r.expires_at));
            if stored != rebuilt {
                problems.push(LedgerProblem::Reservation {
                    id: id.clone(),
                    stored: stored.unwrap_or_else(|| "missing".into()),
                    rebuilt: rebuilt.unwrap_or_else(|| "no entries".into()),
                });
            }
        }
        let indexed: BTreeSet<(u64, String)> = indexed.into_iter().collect();
        let pending: BTreeSet<(u64, String)> = reservations
            .iter()
            .filter(|(_, r)| r.state == ReservationState::Pending)
            .map(|(id, r)| (r.expires_at, id.clone()))
            .collect();
        for (expires_at, id) in indexed.symmetric_difference(&pending) {
            let (stored, rebuilt) = match pending.contains(&(*expires_at, id.clone())) {
                true => ("missing from the expiry index", "pending"),
                false => ("in the expiry index", "not pending there"),
            };
            problems.push(LedgerProblem::Reservation {
                id: id.clone(),
                stored: format!("{stored} at {expires_at}"),
                rebuilt: rebuilt.into(),
            });
        }
        Ok(problems)
    }
}

/// Checks one entry against its kind and the reservations before it, and applies it to them.
fn check_entry(
    entry: &LedgerEntry,
    reservations: &mut BTreeMap<String, RebuiltReservation>,
    problems: &mut Vec<LedgerProblem>,
) {
    let mut problem = |reason: String| {
        problems.push(LedgerProblem::Entry {
            seq: entry.seq,
            reason,
        });
    };
    let (from, to) = entry.kind.accounts(&entry.user);
    if (entry.from.as_str(), entry.to.as_str()) != (from.as_str(), to.as_str()) {
        problem(format!(
            "a {} must move from `{from}` to `{to}`, not from `{}` to `{}`",
            entry.kind.as_str(),
            entry.from,
            entry.to
        ));
    }
    if entry.kind == EntryKind::Renew && entry.amount != 0 {
        problem(format!(
            "a renew moves nothing, but this one moves {}",
            entry.amount
        ));
    }
    if entry.kind == EntryKind::Grant {
        return;
    }
    let Some(id) = &entry.reservation_id else {
        return problem(format!(
            "a {} without a reservation id",
            entry.kind.as_str()
        ));
    };
    match (entry.kind, reservations.get_mut(id)) {
        (EntryKind::Reserve, None) => {
            reservations.insert(
                id.clone(),
                RebuiltReservation {
                    user: entry.user.clone(),
                    amount: entry.amount,
                    state: ReservationState::Pending,
                    expires_at: entry.expires_at.unwrap_or(0),
                },
            );
        }
        (EntryKind::Reserve, Some(_)) => {
            problem(format!("reservation `{id}` is reserved a second time"))
        }
        (_, None) => problem(format!(
            "a {} of reservation `{id}`, which was never reserved",
            entry.kind.as_str()
        )),
        (kind, Some(reservation)) => {
            if reservation.state != ReservationState::Pending {
                return problem(format!(
                    "a {} of reservation `{id}`, which was already {}",
                    kind.as_str(),
                    reservation.state.as_str()
                ));
            }
            if kind != EntryKind::Renew && entry.amount != reservation.amount {
                problem(format!(
                    "a {} of {} from reservation `{id}`, which holds {}",
                    kind.as_str(),
                    entry.amount,
                    reservation.amount
                ));
            }
            match kind {
                EntryKind::Post => reservation.state = ReservationState::Posted,
                EntryKind::Void => reservation.state = ReservationState::Voided,
                EntryKind::Expire => reservation.state = ReservationState::Expired,
                EntryKind::Renew => {
                    reservation.expires_at = entry.expires_at.unwrap_or(reservation.expires_at)
                }
                EntryKind::Grant | EntryKind::Reserve => {}
            }
        }
    }
}
