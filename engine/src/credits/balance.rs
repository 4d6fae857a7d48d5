//! One user's account: the running totals the ledger keeps beside its entry log, so a
//! balance is one read. [`super::Ledger::verify`] checks them against the log.

use serde::{Deserialize, Serialize};

use super::EntryKind;

/// A user's credits. `granted = available + pending + posted` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// What new reservations can take.
    pub available: u64,
    /// Held by reservations of steps that have not finished.
    pub pending: u64,
    /// Charged for steps that succeeded; never returns to `available`.
    pub posted: u64,
    /// Everything ever granted.
    pub granted: u64,
    /// How many ledger entries concern this user.
    pub entries: u64,
}

impl Balance {
    /// The balance after an entry of `kind` moving `amount`, or `None` if a total would go
    /// below zero or overflow (I2: such an entry is never written).
    pub(crate) fn after(self, kind: EntryKind, amount: u64) -> Option<Balance> {
        let mut next = self;
        match kind {
            EntryKind::Grant => {
                next.available = next.available.checked_add(amount)?;
                next.granted = next.granted.checked_add(amount)?;
            }
            EntryKind::Reserve => {
                next.available = next.available.checked_sub(amount)?;
                next.pending = next.pending.checked_add(amount)?;
            }
            EntryKind::Post => {
                next.pending = next.pending.checked_sub(amount)?;
                next.posted = next.posted.checked_add(amount)?;
            }
            EntryKind::Void | EntryKind::Expire => {
                next.pending = next.pending.checked_sub(amount)?;
                next.available = next.available.checked_add(amount)?;
            }
            EntryKind::Renew => {}
        }
        next.entries += 1;
        Some(next)
    }
}
