//! Where the ledger lives in the embedded store's hook tree. Everything is under `ledger/`; values are
//! JSON. Numbers in keys are zero-padded to 20 digits so key order is numeric order.
//!
//! | key                                        | value                                   |
//! |--------------------------------------------|-----------------------------------------|
//! | `ledger/seq`                               | the last entry's sequence number        |
//! | `ledger/entry/<seq>`                       | a [`LedgerEntry`](crate::credits::LedgerEntry)   |
//! | `ledger/user-entry/<user>/<seq>`           | empty: index of one user's entries      |
//! | `ledger/account/<user>`                    | a [`Balance`](crate::credits::Balance)           |
//! | `ledger/reservation/<run_id>/<step_id>[/retry-<round>][#n]` | a [`Reservation`](crate::credits::Reservation) |
//! | `ledger/pending/<expires_at>/<reservation>`| empty: pending reservations by expiry   |
//! | `ledger/op/<op_id>`                        | the operation applied under that id     |

pub(crate) const SEQ: &str = "ledger/seq";
pub(crate) const ENTRIES: &str = "ledger/entry/";
pub(crate) const ACCOUNTS: &str = "ledger/account/";
pub(crate) const RESERVATIONS: &str = "ledger/reservation/";
pub(crate) const PENDING: &str = "ledger/pending/";

pub(crate) fn entry(seq: u64) -> String {
    format!("{ENTRIES}{seq:020}")
}

/// The prefix of one user's entry index. A user name may contain `/`, so a scan of this
/// prefix can also return another user's keys: readers check the entry's `user`.
pub(crate) fn user_entries(user: &str) -> String {
    format!("ledger/user-entry/{user}/")
}

pub(crate) fn user_entry(user: &str, seq: u64) -> String {
    format!("{}{seq:020}", user_entries(user))
}

pub(crate) fn account(user: &str) -> String {
    format!("{ACCOUNTS}{user}")
}

pub(crate) fn reservation(id: &str) -> String {
    format!("{RESERVATIONS}{id}")
}

pub(crate) fn pending(expires_at: u64, reservation_id: &str) -> String {
    format!("{PENDING}{expires_at:020}/{reservation_id}")
}

/// Splits a `ledger/pending/...` key into the expiry and the reservation id.
pub(crate) fn parse_pending(key: &[u8]) -> Option<(u64, String)> {
    let rest = std::str::from_utf8(key).ok()?.strip_prefix(PENDING)?;
    let (expires_at, id) = rest.split_once('/')?;
    Some((expires_at.parse().ok()?, id.to_string()))
}

pub(crate) fn operation(op_id: &str) -> String {
    format!("ledger/op/{op_id}")
}
