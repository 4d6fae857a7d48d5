//! The sled implementation of [`StateStore`]: four trees, JSON records, one transaction per
//! transition.

use std::path::Path;

use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::{Transactional, Tree};

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
            db,
        };
        store.move_inline_workflow_texts()?;
        Ok(store)
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

struct SledTxnView<'a> {
    tree: &'a TransactionalTree,
    conflict: Option<UnabortableTransactionError>,
}

impl SledTxnView<'_> {
    fn conflict(&mut self, e: UnabortableTransactionError) -> TxnConflict {
        let message = e.to_string();
        self.conflict = Some(e);
        TxnConflict(message)
    }
}

impl TxnView for SledTxnView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TxnConflict> {
        // A failed read inside a transaction only happens on conflict or I/O error; both make
        // sled retry or fail the whole transaction, so the read error is reported as conflict.
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| TxnConflict(e.to_string()))
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<(), TxnConflict> {
        match self.tree.insert(key, value) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.conflict(e)),
        }
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), TxnConflict> {
        match self.tree.remove(key) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.conflict(e)),
        }
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
        let node_bytes = node.map(|n| (node_key(&n.run_id, &n.step_id), encode(n)));
        let run_bytes = run.map(|r| (r.id.as_bytes().to_vec(), encode(r)));
        // One key and no hook work: a single insert is atomic and much cheaper than a
        // multi-tree transaction.
        match (&node_bytes, &run_bytes, work) {
            (Some((key, value)), None, None) => {
                self.nodes
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(store_error)?;
                return Ok(());
            }
            (None, Some((key, value)), None) => {
                self.runs
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(store_error)?;
                return Ok(());
            }
            _ => {}
        }
        let result = (&self.runs, &self.nodes, &self.hooks).transaction(|(runs, nodes, hooks)| {
            if let Some((key, value)) = &node_bytes {
                nodes.insert(key.as_slice(), value.as_slice())?;
            }
            if let Some((key, value)) = &run_bytes {
                runs.insert(key.as_slice(), value.as_slice())?;
            }
            if let Some(work) = work {
                let mut view = SledTxnView {
                    tree: hooks,
                    conflict: None,
                };
                match work(&mut view) {
                    Ok(()) => {}
                    Err(HookError::Refused(message)) => {
                        return Err(ConflictableTransactionError::Abort(message));
                    }
                    Err(HookError::Conflict(TxnConflict(message))) => {
                        return Err(match view.conflict.take() {
                            Some(e) => e.into(),
                            None => ConflictableTransactionError::Abort(message),
                        });
                    }
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(message)) => Err(EngineError::Refused(message)),
            Err(TransactionError::Storage(e)) => Err(store_error(e)),
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
        Ok(self
            .hooks
            .get(key)
            .map_err(store_error)?
            .map(|v| v.to_vec()))
    }

    fn hook_scan(&self, prefix: &[u8]) -> Result<Vec<super::KeyValue>, EngineError> {
        self.hooks
            .scan_prefix(prefix)
            .map(|entry| {
                let (k, v) = entry.map_err(store_error)?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }
}
