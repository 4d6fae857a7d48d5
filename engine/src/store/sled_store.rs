//! The sled implementation of [`StateStore`]: four trees and a journal, JSON records, one
//! atomic write per transition (a single key, or a journaled transition: see `journal`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sled::transaction::ConflictableTransactionError;
use sled::{Transactional, Tree};

use super::journal::{self, Target, Write};
use super::{HookError, NodeRecord, RunRecord, StateStore, TxnConflict, TxnView, TxnWork};
use crate::EngineError;

/// A sled database in a data directory.
pub struct SledStore {
    db: sled::Db,
    /// run id -> [`RunRecord`]; run ids are UUIDv7, so key order is creation order.
    runs: Tree,
    /// `run_id/step_id` -> [`NodeRecord`], written from a node's first transition on.
    nodes: Tree,
    /// sha256 -> workflow text, once per distinct text runs were started with.
    workflows: Tree,
    /// Keys owned by lifecycle hooks (e.g. the credit ledger), written in node transactions.
    hooks: Tree,
    /// sequence number -> a multi-key transition not yet wholly applied (normally empty).
    journal: Tree,
    next_journal: AtomicU64,
    /// Held while a transition with hook work reads, journals and applies its writes, and
    /// while the hook keyspace is read from outside: hooks see no transition half applied.
    transitions: Mutex<()>,
    /// sled's log file: sled's `flush` writes it with `sync_file_range`, which neither
    /// flushes the disk's write cache nor the file's size; `fdatasync` on it does both.
    log: std::fs::File,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Only one process may hold it open.
    pub fn open(dir: &Path) -> Result<SledStore, EngineError> {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let db = sled::Config::new()
            .path(dir.join("state"))
            .flush_every_ms(Some(500))
            // sled's page cache defaults to 1 GiB; bound it so a long-lived server stays small.
            .cache_capacity(64 * 1024 * 1024)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    EngineError::StoreLocked {
                        path: dir.display().to_string(),
                    }
                }
                other => EngineError::Store(other.to_string()),
            })?;
        let tree = |name: &str| db.open_tree(name).map_err(store_error);
        let log_path = dir.join("state").join("db");
        let log = std::fs::File::open(&log_path).map_err(|e| EngineError::Io {
            path: log_path.display().to_string(),
            source: e,
        })?;
        let store = SledStore {
            log,
            runs: tree("runs")?,
            nodes: tree("nodes")?,
            workflows: tree("workflows")?,
            hooks: tree("hooks")?,
            journal: tree("journal")?,
            next_journal: AtomicU64::new(0),
            transitions: Mutex::new(()),
            db,
        };
        store.finish_journaled_transitions()?;
        store.move_inline_workflow_texts()?;
        Ok(store)
    }

    fn tree(&self, target: Target) -> &Tree {
        match target {
            Target::Runs => &self.runs,
            Target::Nodes => &self.nodes,
            Target::Hooks => &self.hooks,
        }
    }

    fn apply(&self, writes: &[Write]) -> Result<(), EngineError> {
        for write in writes {
            let tree = self.tree(write.target);
            match &write.value {
                Some(value) => tree.insert(write.key.as_slice(), value.as_slice()),
                None => tree.remove(write.key.as_slice()),
            }
            .map_err(store_error)?;
        }
        Ok(())
    }

    /// Applies, in order, the transitions a crash left journaled but not wholly applied.
    fn finish_journaled_transitions(&self) -> Result<(), EngineError> {
        let mut last = None;
        for entry in self.journal.iter() {
            let (key, bytes) = entry.map_err(store_error)?;
            self.apply(&journal::decode(&bytes)?)?;
            self.journal.remove(&key).map_err(store_error)?;
            last = Some(key);
        }
        if let Some(key) = last {
            let seq =
                u64::from_be_bytes(key.as_ref().try_into().map_err(|_| EngineError::Corrupt {
                    what: "the journal".into(),
                    error: "a key is not a sequence number".into(),
                })?);
            self.next_journal.store(seq + 1, Ordering::Relaxed);
            self.flush()?;
        }
        Ok(())
    }

    /// Writes `writes` atomically: one journal record, then the keys, then the record goes.
    fn commit_journaled(&self, writes: &[Write]) -> Result<(), EngineError> {
        let seq = self
            .next_journal
            .fetch_add(1, Ordering::Relaxed)
            .to_be_bytes();
        self.journal
            .insert(seq, journal::encode(writes))
            .map_err(store_error)?;
        self.apply(writes)?;
        self.journal.remove(seq).map_err(store_error)?;
        Ok(())
    }

    fn transition_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.transitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores written before workflow texts had their own tree kept each run's text inside
    /// its record: move those texts out, once, so such runs still resume.
    fn move_inline_workflow_texts(&self) -> Result<(), EngineError> {
        const MOVED: &[u8] = b"workflow texts moved out of run records";
        if self.workflows.contains_key(MOVED).map_err(store_error)? {
            return Ok(());
        }
        for entry in self.runs.iter() {
            let (key, bytes) = entry.map_err(store_error)?;
            let mut record: serde_json::Value =
                decode(&format!("run {}", String::from_utf8_lossy(&key)), &bytes)?;
            let Some(object) = record.as_object_mut() else {
                continue;
            };
            let (Some(serde_json::Value::String(source)), Some(serde_json::Value::String(sha))) = (
                object.remove("workflow_source"),
                object.get("workflow_sha256").cloned(),
            ) else {
                continue;
            };
            (&self.runs, &self.workflows)
                .transaction(|(runs, workflows)| {
                    workflows.insert(sha.as_bytes(), source.as_bytes())?;
                    runs.insert(&key, encode(&record))?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e| EngineError::Store(format!("{e:?}")))?;
        }
        self.workflows.insert(MOVED, &[]).map_err(store_error)?;
        self.flush()
    }

    /// The underlying database, for other parts that keep their own trees beside the engine's.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

fn store_error(e: sled::Error) -> EngineError {
    EngineError::Store(e.to_string())
}

fn node_key(run_id: &str, step_id: &str) -> Vec<u8> {
    format!("{run_id}/{step_id}").into_bytes()
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, EngineError> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::Corrupt {
        what: what.to_string(),
        error: e.to_string(),
    })
}

/// The hook keyspace as a transition sees it: the tree, under the transition's own writes.
struct JournalView<'a> {
    tree: &'a Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl TxnView for JournalView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TxnConflict> {
        if let Some(written) = self.writes.get(key) {
            return Ok(written.clone());
        }
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| TxnConflict(e.to_string()))
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), TxnConflict> {
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), TxnConflict> {
        self.writes.insert(key.to_vec(), None);
        Ok(())
    }
}

impl StateStore for SledStore {
    fn create_run(&self, run: &RunRecord, workflow_source: &str) -> Result<(), EngineError> {
        let run_bytes = encode(run);
        let sha = run.workflow_sha256.as_bytes();
        if self.workflows.contains_key(sha).map_err(store_error)? {
            // The text is stored already (texts are never removed): one insert suffices.
            return self
                .runs
                .insert(run.id.as_bytes(), run_bytes)
                .map(|_| ())
                .map_err(store_error);
        }
        (&self.runs, &self.workflows)
            .transaction(|(runs, workflows)| {
                workflows.insert(sha, workflow_source.as_bytes())?;
                runs.insert(run.id.as_bytes(), run_bytes.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| EngineError::Store(format!("{e:?}")))
    }

    fn workflow_source(&self, sha256: &str) -> Result<Option<String>, EngineError> {
        match self.workflows.get(sha256.as_bytes()).map_err(store_error)? {
            Some(bytes) => {
                String::from_utf8(bytes.to_vec())
                    .map(Some)
                    .map_err(|e| EngineError::Corrupt {
                        what: format!("workflow text {sha256}"),
                        error: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    fn commit(
        &self,
        node: Option<&NodeRecord>,
        run: Option<&RunRecord>,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        // Hooks read and write the hook keyspace: one transition with hook work at a time.
        let _transition = work.is_some().then(|| self.transition_lock());
        let mut view = JournalView {
            tree: &self.hooks,
            writes: BTreeMap::new(),
        };
        if let Some(work) = work {
            match work(&mut view) {
                Ok(()) => {}
                Err(HookError::Refused(message)) => return Err(EngineError::Refused(message)),
                Err(HookError::Conflict(TxnConflict(message))) => {
                    return Err(EngineError::Store(message));
                }
            }
        }
        let mut writes: Vec<Write> = Vec::with_capacity(view.writes.len() + 2);
        writes.extend(view.writes.into_iter().map(|(key, value)| Write {
            target: Target::Hooks,
            key,
            value,
        }));
        if let Some(node) = node {
            writes.push(Write {
                target: Target::Nodes,
                key: node_key(&node.run_id, &node.step_id),
                value: Some(encode(node)),
            });
        }
        if let Some(run) = run {
            writes.push(Write {
                target: Target::Runs,
                key: run.id.as_bytes().to_vec(),
                value: Some(encode(run)),
            });
        }
        // A single key is atomic by itself, and far cheaper than a journaled transition.
        match writes.len() {
            0 => Ok(()),
            1 => self.apply(&writes),
            _ => self.commit_journaled(&writes),
        }
    }

    fn flush(&self) -> Result<(), EngineError> {
        self.db.flush().map_err(store_error)?;
        self.log
            .sync_data()
            .map_err(|e| EngineError::Store(e.to_string()))
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRecord>, EngineError> {
        match self.runs.get(run_id.as_bytes()).map_err(store_error)? {
            Some(bytes) => Ok(Some(decode(&format!("run {run_id}"), &bytes)?)),
            None => Ok(None),
        }
    }

    fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>, EngineError> {
        let prefix = format!("{run_id}/");
        self.nodes
            .scan_prefix(prefix.as_bytes())
            .map(|entry| {
                let (key, bytes) = entry.map_err(store_error)?;
                decode(&String::from_utf8_lossy(&key), &bytes)
            })
            .collect()
    }

    fn runs(&self) -> Result<Vec<RunRecord>, EngineError> {
        self.runs
            .iter()
            .rev()
            .map(|entry| {
                let (key, bytes) = entry.map_err(store_error)?;
                decode(&format!("run {}", String::from_utf8_lossy(&key)), &bytes)
            })
            .collect()
    }

    fn hook_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        let _settled = self.transition_lock();
        Ok(self
            .hooks
            .get(key)
            .map_err(store_error)?
            .map(|v| v.to_vec()))
    }

    fn hook_scan(&self, prefix: &[u8]) -> Result<Vec<super::KeyValue>, EngineError> {
        let _settled = self.transition_lock();
        self.hooks
            .scan_prefix(prefix)
            .map(|entry| {
                let (k, v) = entry.map_err(store_error)?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state a crash leaves between a transition's journal record and its last key.
    #[test]
    fn a_transition_cut_short_by_a_crash_is_finished_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut node = NodeRecord::pending("run-1", "paid");
        node.status = crate::store::NodeStatus::Succeeded;
        let writes = vec![
            Write {
                target: Target::Hooks,
                key: b"ledger/account/alice".to_vec(),
                value: Some(b"{\"available\":7}".to_vec()),
            },
            Write {
                target: Target::Hooks,
                key: b"ledger/pending/run-1/paid#1".to_vec(),
                value: None,
            },
            Write {
                target: Target::Nodes,
                key: node_key("run-1", "paid"),
                value: Some(encode(&node)),
            },
        ];
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .hooks
                .insert(b"ledger/pending/run-1/paid#1", b"held".as_slice())
                .unwrap();
            // Journaled, and only the first key applied.
            store
                .journal
                .insert(7u64.to_be_bytes(), journal::encode(&writes))
                .unwrap();
            store.apply(&writes[..1]).unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert!(store.journal.is_empty());
        assert_eq!(store.next_journal.load(Ordering::Relaxed), 8);
        assert_eq!(
            store.hook_get(b"ledger/account/alice").unwrap().as_deref(),
            Some(b"{\"available\":7}".as_slice())
        );
        assert_eq!(
            store.hook_get(b"ledger/pending/run-1/paid#1").unwrap(),
            None
        );
        assert_eq!(store.nodes("run-1").unwrap(), vec![node]);
    }

    #[test]
    fn a_refused_transition_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let node = NodeRecord::pending("run-1", "paid");
        let refuse = |txn: &mut dyn TxnView| -> Result<(), HookError> {
            txn.insert(b"ledger/x", b"1")?;
            Err(HookError::Refused("insufficient credits".into()))
        };
        let result = store.commit(Some(&node), None, Some(&refuse));
        assert!(matches!(result, Err(EngineError::Refused(_))));
        assert!(store.nodes("run-1").unwrap().is_empty());
        assert_eq!(store.hook_get(b"ledger/x").unwrap(), None);
        assert!(store.journal.is_empty());
    }
}
