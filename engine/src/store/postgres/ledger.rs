//! The ledger's records ([`LedgerTables`]) in PostgreSQL: `accounts`, `ledger_entries`,
//! `holds` and `ledger_operations` (schema in `schema`).
//!
//! Inside a transition an account is read `FOR UPDATE`, so two transactions that charge the
//! same user take turns while those of different users run side by side; sequence numbers come
//! from a sequence (no shared counter row to queue on), so they may have gaps.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::pool::{OwnedParam, PgError, PgTxn};
use crate::EngineError;
use crate::credits::{AppliedOperation, Balance, LedgerEntry, Reservation};
use crate::store::{LedgerTables, StoreError, TxnError};

/// The ledger's tables inside one PostgreSQL transaction.
pub(super) struct PgLedger<'t, 'c> {
    pub txn: &'t mut PgTxn<'c>,
    /// Lock accounts read (a transition); a read-only view locks nothing.
    pub locking: bool,
}

pub(super) fn txn_error(error: PgError) -> TxnError {
    match error.is_retryable() {
        true => TxnError::Conflict(error.to_string()),
        false => TxnError::Failed(StoreError::unavailable(error).into()),
    }
}

/// A parameter of a deferred write.
pub(super) fn owned<T: tokio_postgres::types::ToSql + Sync + Send + 'static>(
    value: T,
) -> OwnedParam {
    Box::new(value)
}

pub(super) fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("records serialize")
}

pub(super) fn from_json<T: DeserializeOwned>(
    what: &str,
    value: serde_json::Value,
) -> Result<T, EngineError> {
    serde_json::from_value(value).map_err(|e| EngineError::Corrupt {
        what: what.to_string(),
        error: e.to_string(),
    })
}

fn int(value: u64, what: &str) -> Result<i64, TxnError> {
    i64::try_from(value).map_err(|_| {
        TxnError::Failed(
            StoreError::Unrepresentable(format!("{what} {value} does not fit PostgreSQL's bigint"))
                .into(),
        )
    })
}

/// A time in ms for a bigint column: times past PostgreSQL's range (a sweep "at the end of
/// time", `u64::MAX`) are kept as the largest bigint; the record's JSON keeps the exact value.
fn time(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn balance_of(row: &tokio_postgres::Row) -> Balance {
    let get = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    Balance {
        available: get(0),
        pending: get(1),
        posted: get(2),
        granted: get(3),
        entries: get(4),
    }
}

impl LedgerTables for PgLedger<'_, '_> {
    fn account(&mut self, user: &str) -> Result<Option<Balance>, TxnError> {
        if self.locking {
            // A row to lock even for a user's first entry: two first grants take turns.
            self.txn
                .defer(
                    "INSERT INTO accounts (user_name) VALUES ($1) ON CONFLICT DO NOTHING",
                    vec![owned(user.to_string())],
                )
                .map_err(txn_error)?;
        }
        let sql = match self.locking {
            true => {
                "SELECT available, pending, posted, granted, entries FROM accounts WHERE user_name = $1 FOR UPDATE"
            }
            false => {
                "SELECT available, pending, posted, granted, entries FROM accounts WHERE user_name = $1"
            }
        };
        let row = self.txn.query_opt(sql, &[&user]).map_err(txn_error)?;
        // The row inserted above to lock on is not an account until an entry is booked on it.
        Ok(row.as_ref().map(balance_of).filter(|b| b.entries > 0))
    }

    fn put_account(&mut self, user: &str, balance: &Balance) -> Result<(), TxnError> {
        let (a, p, o, g, e) = (
            int(balance.available, "balance")?,
            int(balance.pending, "balance")?,
            int(balance.posted, "balance")?,
            int(balance.granted, "balance")?,
            int(balance.entries, "entry count")?,
        );
        self.txn
            .defer(
                "INSERT INTO accounts (user_name, available, pending, posted, granted, entries)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (user_name) DO UPDATE SET available = $2, pending = $3,
                     posted = $4, granted = $5, entries = $6",
                vec![
                    owned(user.to_string()),
                    owned(a),
                    owned(p),
                    owned(o),
                    owned(g),
                    owned(e),
                ],
            )
            .map_err(txn_error)?;
        Ok(())
    }

    fn accounts(&mut self) -> Result<Vec<(String, Balance)>, TxnError> {
        let rows = self
            .txn
            .query(
                "SELECT available, pending, posted, granted, entries, user_name FROM accounts WHERE entries > 0 ORDER BY user_name",
                &[],
            )
            .map_err(txn_error)?;
        Ok(rows
            .iter()
            .map(|row| (row.get::<_, String>(5), balance_of(row)))
            .collect())
    }

    fn next_seq(&mut self) -> Result<u64, TxnError> {
        let row = self
            .txn
            .query_one("SELECT nextval('ledger_seq')", &[])
            .map_err(txn_error)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    fn last_seq(&mut self) -> Result<u64, TxnError> {
        let row = self
            .txn
            .query_one(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ledger_seq",
                &[],
            )
            .map_err(txn_error)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    fn gapless_seq(&self) -> bool {
        false
    }

    fn append_entry(&mut self, entry: &LedgerEntry) -> Result<(), TxnError> {
        let seq = int(entry.seq, "entry number")?;
        let amount = int(entry.amount, "amount")?;
        let at = time(entry.at);
        let expires_at = entry.expires_at.map(time);
        self.txn
            .defer(
                "INSERT INTO ledger_entries (seq, op_id, kind, user_name, amount, from_account,
                     to_account, reservation_id, run_id, step_id, at, expires_at, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                vec![
                    owned(seq),
                    owned(entry.op_id.clone()),
                    owned(entry.kind.as_str()),
                    owned(entry.user.clone()),
                    owned(amount),
                    owned(entry.from.clone()),
                    owned(entry.to.clone()),
                    owned(entry.reservation_id.clone()),
                    owned(entry.run_id.clone()),
                    owned(entry.step_id.clone()),
                    owned(at),
                    owned(expires_at),
                    owned(to_json(entry)),
                ],
            )
            .map_err(txn_error)?;
        Ok(())
    }

    fn entries(&mut self, user: Option<&str>) -> Result<Vec<LedgerEntry>, TxnError> {
        let rows = match user {
            Some(user) => self.txn.query(
                "SELECT record FROM ledger_entries WHERE user_name = $1 ORDER BY seq",
                &[&user],
            ),
            None => self
                .txn
                .query("SELECT record FROM ledger_entries ORDER BY seq", &[]),
        }
        .map_err(txn_error)?;
        rows.into_iter()
            .map(|row| Ok(from_json("a ledger entry", row.get(0))?))
            .collect()
    }

    fn reservation(&mut self, id: &str) -> Result<Option<Reservation>, TxnError> {
        let row = self
            .txn
            .query_opt("SELECT record FROM holds WHERE id = $1", &[&id])
            .map_err(txn_error)?;
        row.map(|row| Ok(from_json(&format!("reservation {id}"), row.get(0))?))
            .transpose()
    }

    fn put_reservation(&mut self, r: &Reservation) -> Result<(), TxnError> {
        let amount = int(r.amount, "amount")?;
        let reserved_at = time(r.reserved_at);
        let expires_at = time(r.expires_at);
        let resolved_at = r.resolved_at.map(time);
        self.txn
            .defer(
                "INSERT INTO holds (id, user_name, amount, state, run_id, step_id, reserved_at,
                     expires_at, resolved_at, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (id) DO UPDATE SET state = $4, expires_at = $8,
                     resolved_at = $9, record = $10",
                vec![
                    owned(r.id.clone()),
                    owned(r.user.clone()),
                    owned(amount),
                    owned(r.state.as_str()),
                    owned(r.run_id.clone()),
                    owned(r.step_id.clone()),
                    owned(reserved_at),
                    owned(expires_at),
                    owned(resolved_at),
                    owned(to_json(r)),
                ],
            )
            .map_err(txn_error)?;
        Ok(())
    }

    fn reservations(&mut self, of: Option<(&str, &str)>) -> Result<Vec<Reservation>, TxnError> {
        let rows = match of {
            Some((run_id, step_id)) => self.txn.query(
                "SELECT record FROM holds WHERE run_id = $1 AND step_id = $2 ORDER BY id",
                &[&run_id, &step_id],
            ),
            None => self.txn.query("SELECT record FROM holds ORDER BY id", &[]),
        }
        .map_err(txn_error)?;
        rows.into_iter()
            .map(|row| Ok(from_json("a reservation", row.get(0))?))
            .collect()
    }

    fn pending(&mut self) -> Result<Vec<(u64, String)>, TxnError> {
        let rows = self
            .txn
            .query(
                "SELECT expires_at, id FROM holds WHERE state = 'pending' ORDER BY expires_at, id",
                &[],
            )
            .map_err(txn_error)?;
        Ok(rows
            .iter()
            .map(|row| (u64::try_from(row.get::<_, i64>(0)).unwrap_or(0), row.get(1)))
            .collect())
    }

    fn operation(&mut self, op_id: &str) -> Result<Option<AppliedOperation>, TxnError> {
        let row = self
            .txn
            .query_opt(
                "SELECT params, seq FROM ledger_operations WHERE op_id = $1",
                &[&op_id],
            )
            .map_err(txn_error)?;
        Ok(row.map(|row| AppliedOperation {
            params: row.get(0),
            seq: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
        }))
    }

    fn put_operation(&mut self, op_id: &str, applied: &AppliedOperation) -> Result<(), TxnError> {
        let seq = int(applied.seq, "entry number")?;
        self.txn
            .defer(
                "INSERT INTO ledger_operations (op_id, params, seq) VALUES ($1, $2, $3)
                 ON CONFLICT (op_id) DO UPDATE SET params = $2, seq = $3",
                vec![
                    owned(op_id.to_string()),
                    owned(applied.params.clone()),
                    owned(seq),
                ],
            )
            .map_err(txn_error)?;
        Ok(())
    }
}
