//! One line of the append-only ledger log, and the double-entry accounts it moves credits
//! between.
//!
//! Every entry moves `amount` out of one account (`from`) into another (`to`), so the sum of
//! all accounts is always zero (I1). Granted credits come out of [`ISSUER_ACCOUNT`], which
//! therefore stands at minus everything ever granted. A user's credits sit in three accounts
//! kept apart: `user:<name>:available`, `user:<name>:pending` and `user:<name>:posted`.

use serde::{Deserialize, Serialize};

/// The account grants are drawn from.
pub const ISSUER_ACCOUNT: &str = "issuer";

/// Which of a user's three accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Available,
    Pending,
    Posted,
}

/// The name of one of `user`'s accounts: `user:<user>:<available|pending|posted>`.
pub fn user_account(user: &str, bucket: &str) -> String {
    format!("user:{user}:{bucket}")
}

fn bucket_account(user: &str, bucket: Bucket) -> String {
    user_account(
        user,
        match bucket {
            Bucket::Available => "available",
            Bucket::Pending => "pending",
            Bucket::Posted => "posted",
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Credits added to a user: issuer → available.
    Grant,
    /// Credits held for a step before it starts: available → pending.
    Reserve,
    /// A held amount charged because the step succeeded: pending → posted.
    Post,
    /// A held amount returned because the step failed, was cancelled or was free:
    /// pending → available.
    Void,
    /// A held amount returned because its hold ran out (e.g. the run was interrupted and not
    /// resumed in time): pending → available.
    Expire,
    /// A pending reservation's hold extended when its interrupted step resumes; moves nothing
    /// (amount 0, pending → pending).
    Renew,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Reserve => "reserve",
            EntryKind::Post => "post",
            EntryKind::Void => "void",
            EntryKind::Expire => "expire",
            EntryKind::Renew => "renew",
        }
    }

    /// The accounts an entry of this kind for `user` moves credits from and to.
    pub fn accounts(self, user: &str) -> (String, String) {
        let (from, to) = match self {
            EntryKind::Grant => {
                return (
                    ISSUER_ACCOUNT.to_string(),
                    bucket_account(user, Bucket::Available),
                );
            }
            EntryKind::Reserve => (Bucket::Available, Bucket::Pending),
            EntryKind::Post => (Bucket::Pending, Bucket::Posted),
            EntryKind::Void | EntryKind::Expire => (Bucket::Pending, Bucket::Available),
            EntryKind::Renew => (Bucket::Pending, Bucket::Pending),
        };
        (bucket_account(user, from), bucket_account(user, to))
    }
}

/// One entry of the log. Entries are never changed or removed once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// The operation that wrote it; repeating an operation id has no second effect (I5).
    pub op_id: String,
    pub kind: EntryKind,
    pub user: String,
    pub amount: u64,
    /// The account debited: `amount` leaves it.
    pub from: String,
    /// The account credited: `amount` enters it.
    pub to: String,
    /// The reservation this entry belongs to (all kinds but grants).
    pub reservation_id: Option<String>,
    pub run_id: Option<String>,
    pub step_id: Option<String>,
    /// Unix milliseconds.
    pub at: u64,
    /// For reserve and renew: when the hold runs out (Unix milliseconds).
    pub expires_at: Option<u64>,
}
