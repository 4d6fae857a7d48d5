//! The ledger's records ([`LedgerTables`]) as JSON values under `ledger/` in the embedded
//! store's hook tree (the layout is in `ledger_keys`). A transition sees the tree under its
//! own writes, which commit with its node record as one batch.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::database::{Tree, store_error};
use super::ledger_keys as keys;
use crate::EngineError;
use crate::credits::{AppliedOperation, Balance, LedgerEntry, Reservation, ReservationState};
use crate::store::{LedgerTables, TxnError};

/// A key and its value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// The hook tree as one transition sees it: the tree, under the transition's own writes.
pub(super) struct LedgerView<'a> {
    tree: &'a Tree,
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> LedgerView<'a> {
    pub(super) fn new(tree: &'a Tree) -> Self {
        LedgerView {
            tree,
            writes: BTreeMap::new(),
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TxnError> {
        if let Some(written) = self.writes.get(key) {
            return Ok(written.clone());
        }
        Ok(self.tree.get(key).map_err(store_error)?.map(|v| v.to_vec()))
    }

    /// Every key under `prefix` with its value, in key order, the writes merged in.
    fn scan(&self, prefix: &str) -> Result<Vec<KeyValue>, TxnError> {
        let mut found: BTreeMap<Vec<u8>, Vec<u8>> = self
            .tree
            .scan_prefix(prefix.as_bytes())
            .map_err(store_error)?
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        for (key, value) in self.writes.range(prefix.as_bytes().to_vec()..) {
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            match value {
                Some(value) => found.insert(key.clone(), value.clone()),
                None => found.remove(key),
            };
        }
        Ok(found.into_iter().collect())
    }

    fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, TxnError> {
        match self.get(key.as_bytes())? {
            Some(bytes) => decode(key.as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn write<T: Serialize>(&mut self, key: &str, value: &T) {
        let bytes = serde_json::to_vec(value).expect("ledger records serialize");
        self.writes.insert(key.as_bytes().to_vec(), Some(bytes));
    }

    fn mark(&mut self, key: String) {
        self.writes.insert(key.into_bytes(), Some(Vec::new()));
    }

    fn unmark(&mut self, key: String) {
        self.writes.insert(key.into_bytes(), None);
    }
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, TxnError> {
    serde_json::from_slice(bytes).map_err(|e| {
        TxnError::Failed(EngineError::Corrupt {
            what: String::from_utf8_lossy(key).into_owned(),
            error: e.to_string(),
        })
    })
}

impl LedgerTables for LedgerView<'_> {
    fn account(&mut self, user: &str) -> Result<Option<Balance>, TxnError> {
        self.read(&keys::account(user))
    }

    fn put_account(&mut self, user: &str, balance: &Balance) -> Result<(), TxnError> {
        self.write(&keys::account(user), balance);
        Ok(())
    }

    fn accounts(&mut self) -> Result<Vec<(String, Balance)>, TxnError> {
        self.scan(keys::ACCOUNTS)?
            .into_iter()
            .map(|(key, bytes)| {
                let user = String::from_utf8_lossy(&key[keys::ACCOUNTS.len()..]).into_owned();
                Ok((user, decode(&key, &bytes)?))
            })
            .collect()
    }

    fn next_seq(&mut self) -> Result<u64, TxnError> {
        let seq = self.last_seq()? + 1;
        self.write(keys::SEQ, &seq);
        Ok(seq)
    }

    fn last_seq(&mut self) -> Result<u64, TxnError> {
        Ok(self.read::<u64>(keys::SEQ)?.unwrap_or(0))
    }

    fn gapless_seq(&self) -> bool {
        true
    }

    fn append_entry(&mut self, entry: &LedgerEntry) -> Result<(), TxnError> {
        self.write(&keys::entry(entry.seq), entry);
        self.mark(keys::user_entry(&entry.user, entry.seq));
        Ok(())
    }

    fn entries(&mut self, user: Option<&str>) -> Result<Vec<LedgerEntry>, TxnError> {
        let Some(user) = user else {
            let mut entries = Vec::new();
            for (key, bytes) in self.scan(keys::ENTRIES)? {
                let entry: LedgerEntry = decode(&key, &bytes)?;
                if key != keys::entry(entry.seq).as_bytes() {
                    return Err(TxnError::Failed(EngineError::Corrupt {
                        what: String::from_utf8_lossy(&key).into_owned(),
                        error: format!("holds entry {}", entry.seq),
                    }));
                }
                entries.push(entry);
            }
            return Ok(entries);
        };
        let mut entries = Vec::new();
        for (key, _) in self.scan(&keys::user_entries(user))? {
            let corrupt = |error: &str| {
                TxnError::Failed(EngineError::Corrupt {
                    what: String::from_utf8_lossy(&key).into_owned(),
                    error: error.to_string(),
                })
            };
            let seq = std::str::from_utf8(&key)
                .ok()
                .and_then(|k| k.rsplit_once('/'))
                .and_then(|(_, seq)| seq.parse().ok())
                .ok_or_else(|| corrupt("not a user entry index key"))?;
            let entry: LedgerEntry = self
                .read(&keys::entry(seq))?
                .ok_or_else(|| corrupt("indexes an entry that is missing"))?;
            // The index prefix of `a` also covers users named `a/...`.
            if entry.user == user {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    fn reservation(&mut self, id: &str) -> Result<Option<Reservation>, TxnError> {
        self.read(&keys::reservation(id))
    }

    fn put_reservation(&mut self, reservation: &Reservation) -> Result<(), TxnError> {
        if let Some(before) = self.reservation(&reservation.id)?
            && before.state == ReservationState::Pending
        {
            self.unmark(keys::pending(before.expires_at, &before.id));
        }
        if reservation.state == ReservationState::Pending {
            self.mark(keys::pending(reservation.expires_at, &reservation.id));
        }
        self.write(&keys::reservation(&reservation.id), reservation);
        Ok(())
    }

    fn reservations(&mut self, of: Option<(&str, &str)>) -> Result<Vec<Reservation>, TxnError> {
        let prefix = match of {
            Some((run_id, step_id)) => keys::reservation(&format!("{run_id}/{step_id}")),
            None => keys::RESERVATIONS.to_string(),
        };
        let mut reservations = Vec::new();
        for (key, bytes) in self.scan(&prefix)? {
            let reservation: Reservation = decode(&key, &bytes)?;
            let wanted = match of {
                Some((run_id, step_id)) => {
                    reservation.run_id == run_id && reservation.step_id == step_id
                }
                None => true,
            };
            if wanted {
                reservations.push(reservation);
            }
        }
        Ok(reservations)
    }

    fn pending(&mut self) -> Result<Vec<(u64, String)>, TxnError> {
        Ok(self
            .scan(keys::PENDING)?
            .iter()
            .filter_map(|(key, _)| keys::parse_pending(key))
            .collect())
    }

    fn operation(&mut self, op_id: &str) -> Result<Option<AppliedOperation>, TxnError> {
        self.read(&keys::operation(op_id))
    }

    fn put_operation(&mut self, op_id: &str, applied: &AppliedOperation) -> Result<(), TxnError> {
        self.write(&keys::operation(op_id), applied);
        Ok(())
    }
}
