//! The sled implementation of [`StateStore`]: trees of JSON records in the data directory's
//! [`Database`], one atomic write (a [`Batch`]) per transition.

use std::path::Path;
use std::sync::Mutex;

use super::database::{Batch, Database, Tree, store_error};
use super::ledger::LedgerView;
use crate::EngineError;
use crate::step::AttemptLog;
use crate::store::{
    Contender, DeliveryRecord, DeliveryStatus, HookError, LedgerRead, NodeRecord, RunLimits,
    RunQuery, RunRecord, RunStatus, StateStore, StoreError, TxnError, TxnWork, UnfinishedRuns,
    admit,
};

/// The engine's records in a data directory.
pub struct SledStore {
    db: Database,
    /// run id -> [`RunRecord`]; run ids are UUIDv7, so key order is creation order.
    runs: Tree,
    /// `run_id/step_id` -> [`NodeRecord`], written from a node's first transition on.
    nodes: Tree,
    /// sha256 -> workflow text, once per distinct text runs were started with.
    workflows: Tree,
    /// Keys owned by lifecycle hooks (e.g. the credit ledger), written in node transactions.
    hooks: Tree,
    /// `workflow name \0 run id` -> the run's owner and status, for the unfinished runs only:
    /// what concurrency limits count, without reading every run ever stored.
    unfinished: Tree,
    /// `owner \0 run id` -> the run's status and workflow (`owner` empty for the operator's
    /// runs): a user's runs are a prefix, newest last, so a page of them is read without
    /// reading anyone else's.
    by_owner: Tree,
    /// `run_id/step_id \0 attempt (10 digits)` -> [`AttemptLog`]: each attempt's log lines.
    attempt_logs: Tree,
    /// Held while runs are admitted (created under limits, or taken from the queue): the
    /// count of runs holding slots and the change it decides are one step.
    admissions: Mutex<()>,
    /// `run_id#round` -> [`DeliveryRecord`]: completion callbacks, queued with a run's end.
    deliveries: Tree,
    /// `next_attempt_at (20 digits)/delivery id` -> nothing, for the pending deliveries: the
    /// due ones are a prefix scan away, however many were delivered before.
    deliveries_due: Tree,
    /// Held while a transition with hook work reads and writes the hook keyspace, and while
    /// that keyspace is read from outside: hooks read what the transitions before them wrote.
    transitions: Mutex<()>,
    /// Held while deliveries are claimed or saved: a claim reads, then writes.
    delivery_claims: Mutex<()>,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Only one process may hold it open.
    pub fn open(dir: &Path) -> Result<SledStore, EngineError> {
        let db = Database::open(dir)?;
        let tree = |name: &str| db.open_tree(name).map_err(store_error);
        let store = SledStore {
            runs: tree("runs")?,
            nodes: tree("nodes")?,
            workflows: tree("workflows")?,
            hooks: tree("hooks")?,
            unfinished: tree("runs/unfinished")?,
            by_owner: tree("runs/by_owner")?,
            attempt_logs: tree("nodes/logs")?,
            admissions: Mutex::new(()),
            deliveries: tree("deliveries")?,
            deliveries_due: tree("deliveries/due")?,
            transitions: Mutex::new(()),
            delivery_claims: Mutex::new(()),
            db,
        };
        store.move_inline_workflow_texts()?;
        store.index_unfinished_runs()?;
        Ok(store)
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
        for (key, bytes) in self.runs.iter().map_err(store_error)? {
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
            let mut batch = Batch::default();
            batch.insert(&self.workflows, sha.as_bytes(), source.as_bytes());
            batch.insert(&self.runs, &key, encode(&record));
            self.db.apply(batch).map_err(store_error)?;
        }
        self.workflows.insert(MOVED, []).map_err(store_error)?;
        self.flush()
    }

    /// Stores written before an index of runs existed (the unfinished ones, runs by owner):
    /// index every run, once.
    fn index_unfinished_runs(&self) -> Result<(), EngineError> {
        const INDEXED: &[&[u8]] = &[b"unfinished runs indexed", b"runs indexed by owner"];
        let mut missing = Vec::new();
        for marker in INDEXED {
            if !self.workflows.contains_key(marker).map_err(store_error)? {
                missing.push(*marker);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::default();
        for run in self.runs()? {
            self.index_run(&mut batch, &run);
        }
        // With the entries, atomically; made durable by the next flush (until then a crash
        // loses both, and the next open indexes again).
        for marker in missing {
            batch.insert(&self.workflows, marker, &b""[..]);
        }
        self.db.apply(batch).map_err(store_error)
    }

    /// Keeps `run`'s entries in the indexes of runs (unfinished ones, by owner) as its
    /// record says.
    fn index_run(&self, batch: &mut Batch, run: &RunRecord) {
        let key = unfinished_key(&run.workflow_name, &run.id);
        if run.status.is_finished() {
            batch.remove(&self.unfinished, key);
        } else {
            let entry = serde_json::json!({ "owner": run.owner, "status": run.status });
            batch.insert(&self.unfinished, key, encode(&entry));
        }
        let entry = OwnedEntry {
            status: run.status,
            workflow: run.workflow_name.clone(),
        };
        batch.insert(
            &self.by_owner,
            owner_key(run.owner.as_deref(), &run.id),
            encode(&entry),
        );
    }

    /// A page of one owner's runs, read from the index by owner.
    fn owners_page(&self, owner: &str, query: &RunQuery) -> Result<Vec<RunRecord>, EngineError> {
        let prefix = owner_key(Some(owner), "");
        let before = query.before.as_deref().map(|id| owner_key(Some(owner), id));
        let mut page = Vec::new();
        for pair in self.by_owner.scan_prefix_back(&prefix, before.as_deref()) {
            if page.len() >= query.limit {
                break;
            }
            let (key, bytes) = pair.map_err(store_error)?;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            let entry: OwnedEntry = decode("a run's index entry", &bytes)?;
            if !query.matches(&id, entry.status, &entry.workflow) {
                continue;
            }
            if let Some(run) = self.run(&id)? {
                page.push(run);
            }
        }
        Ok(page)
    }

    /// A page of everyone's runs, read from the runs themselves.
    fn everyones_page(&self, query: &RunQuery) -> Result<Vec<RunRecord>, EngineError> {
        let before = query.before.as_deref().map(str::as_bytes);
        let mut page = Vec::new();
        for pair in self.runs.scan_prefix_back(b"", before) {
            if page.len() >= query.limit {
                break;
            }
            let (key, bytes) = pair.map_err(store_error)?;
            let run: RunRecord = decode(&format!("run {}", String::from_utf8_lossy(&key)), &bytes)?;
            if query.selects(&run) {
                page.push(run);
            }
        }
        Ok(page)
    }

    /// The workflow's unfinished runs, oldest first, as admission counts them.
    fn contenders(&self, workflow_name: &str) -> Result<Vec<Contender>, EngineError> {
        let prefix = unfinished_key(workflow_name, "");
        self.unfinished
            .scan_prefix(&prefix)
            .map_err(store_error)?
            .into_iter()
            .map(|(key, bytes)| {
                let entry: UnfinishedEntry = decode("an unfinished run's index entry", &bytes)?;
                Ok(Contender {
                    run_id: String::from_utf8_lossy(&key[prefix.len()..]).into_owned(),
                    owner: entry.owner,
                    status: entry.status,
                })
            })
            .collect()
    }

    fn admission_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.admissions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The data directory's database, for other parts that keep their own trees beside the
    /// engine's: their writes are committed by the same flushes.
    pub fn db(&self) -> &Database {
        &self.db
    }
}

fn due_key(delivery: &DeliveryRecord) -> Vec<u8> {
    format!("{:020}/{}", delivery.next_attempt_at, delivery.id).into_bytes()
}

impl SledStore {
    /// Writes `delivery` into `batch`, moving its due-index entry from where `previous` had it.
    fn put_delivery(
        &self,
        batch: &mut Batch,
        delivery: &DeliveryRecord,
        previous: Option<&DeliveryRecord>,
    ) {
        if let Some(previous) = previous.filter(|p| p.status == DeliveryStatus::Pending) {
            batch.remove(&self.deliveries_due, due_key(previous));
        }
        if delivery.status == DeliveryStatus::Pending {
            batch.insert(&self.deliveries_due, due_key(delivery), &b""[..]);
        }
        batch.insert(&self.deliveries, delivery.id.as_bytes(), encode(delivery));
    }

    fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, EngineError> {
        match self.deliveries.get(id.as_bytes()).map_err(store_error)? {
            Some(bytes) => Ok(Some(decode(&format!("delivery {id}"), &bytes)?)),
            None => Ok(None),
        }
    }

    fn claim_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.delivery_claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// What the index of unfinished runs keeps of each.
#[derive(serde::Deserialize)]
struct UnfinishedEntry {
    owner: Option<String>,
    status: RunStatus,
}

/// What the index of runs by owner keeps of each: what a page's filters read.
#[derive(serde::Serialize, serde::Deserialize)]
struct OwnedEntry {
    status: RunStatus,
    workflow: String,
}

/// User names never hold `\0` (nor are empty: the operator's runs have the empty owner).
fn owner_key(owner: Option<&str>, run_id: &str) -> Vec<u8> {
    format!("{}\0{run_id}", owner.unwrap_or_default()).into_bytes()
}

fn attempt_log_key(run_id: &str, step_id: &str, attempt: u32) -> Vec<u8> {
    format!("{run_id}/{step_id}\0{attempt:010}").into_bytes()
}

fn unfinished_key(workflow_name: &str, run_id: &str) -> Vec<u8> {
    format!("{workflow_name}\0{run_id}").into_bytes()
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

impl StateStore for SledStore {
    fn create_run(&self, run: &RunRecord, workflow_source: &str) -> Result<(), EngineError> {
        let sha = run.workflow_sha256.as_bytes();
        let mut batch = Batch::default();
        // Texts are never removed: one stored already is stored for good.
        if !self.workflows.contains_key(sha).map_err(store_error)? {
            batch.insert(&self.workflows, sha, workflow_source.as_bytes());
        }
        batch.insert(&self.runs, run.id.as_bytes(), encode(run));
        self.index_run(&mut batch, run);
        self.db.apply(batch).map_err(store_error)
    }

    fn create_run_limited(
        &self,
        run: &RunRecord,
        workflow_source: &str,
        limits: &RunLimits,
    ) -> Result<RunStatus, EngineError> {
        let _admissions = self.admission_lock();
        let mut contenders = self.contenders(&run.workflow_name)?;
        contenders.push(Contender {
            run_id: run.id.clone(),
            owner: run.owner.clone(),
            status: RunStatus::Queued,
        });
        let mut run = run.clone();
        if !admit(limits, &contenders).contains(&run.id) {
            run.status = RunStatus::Queued;
        }
        self.create_run(&run, workflow_source)?;
        Ok(run.status)
    }

    fn admit_queued(
        &self,
        workflow_name: &str,
        limits: &RunLimits,
    ) -> Result<Vec<String>, EngineError> {
        let _admissions = self.admission_lock();
        let admitted = admit(limits, &self.contenders(workflow_name)?);
        let mut batch = Batch::default();
        for id in &admitted {
            let Some(mut run) = self.run(id)? else {
                continue;
            };
            run.status = RunStatus::Pending;
            batch.insert(&self.runs, run.id.as_bytes(), encode(&run));
            self.index_run(&mut batch, &run);
        }
        self.db.apply(batch).map_err(store_error)?;
        Ok(admitted)
    }

    fn queued_runs(&self) -> Result<Vec<RunRecord>, EngineError> {
        let mut queued = Vec::new();
        for (key, bytes) in self.unfinished.iter().map_err(store_error)? {
            let entry: UnfinishedEntry = decode("an unfinished run's index entry", &bytes)?;
            if entry.status != RunStatus::Queued {
                continue;
            }
            let key = String::from_utf8_lossy(&key).into_owned();
            let Some((_, id)) = key.split_once('\0') else {
                continue;
            };
            if let Some(run) = self.run(id)?.filter(|r| r.status == RunStatus::Queued) {
                queued.push(run);
            }
        }
        queued.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(queued)
    }

    fn count_unfinished_runs(&self) -> Result<UnfinishedRuns, EngineError> {
        let mut counts = UnfinishedRuns::default();
        for (_, bytes) in self.unfinished.iter().map_err(store_error)? {
            let entry: UnfinishedEntry = decode("an unfinished run's index entry", &bytes)?;
            counts.add(entry.status, 1);
        }
        Ok(counts)
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
        let mut view = LedgerView::new(&self.hooks);
        if let Some(work) = work {
            match work(&mut view) {
                Ok(()) => {}
                Err(HookError::Refused(reason)) => return Err(EngineError::Refused(reason)),
                Err(HookError::Txn(TxnError::Failed(error))) => return Err(error),
                Err(HookError::Txn(TxnError::Conflict(message))) => {
                    return Err(StoreError::Conflict(message).into());
                }
            }
        }
        let mut batch = Batch::default();
        for (key, value) in view.writes {
            match value {
                Some(value) => batch.insert(&self.hooks, key, value),
                None => batch.remove(&self.hooks, key),
            }
        }
        if let Some(node) = node {
            batch.insert(
                &self.nodes,
                node_key(&node.run_id, &node.step_id),
                encode(node),
            );
        }
        if let Some(run) = run {
            batch.insert(&self.runs, run.id.as_bytes(), encode(run));
            self.index_run(&mut batch, run);
            // The run's end and the report of it are written together (once per end).
            if let Some(delivery) = DeliveryRecord::for_finished_run(run) {
                let _claims = self.claim_lock();
                if !self
                    .deliveries
                    .contains_key(delivery.id.as_bytes())
                    .map_err(store_error)?
                {
                    self.put_delivery(&mut batch, &delivery, None);
                }
                return self.db.apply(batch).map_err(store_error);
            }
        }
        self.db.apply(batch).map_err(store_error)
    }

    fn flush(&self) -> Result<(), EngineError> {
        self.db.flush().map_err(store_error)
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
            .map_err(store_error)?
            .into_iter()
            .map(|(key, bytes)| decode(&String::from_utf8_lossy(&key), &bytes))
            .collect()
    }

    fn runs(&self) -> Result<Vec<RunRecord>, EngineError> {
        self.runs
            .iter()
            .map_err(store_error)?
            .into_iter()
            .rev()
            .map(|(key, bytes)| decode(&format!("run {}", String::from_utf8_lossy(&key)), &bytes))
            .collect()
    }

    fn runs_page(&self, query: &RunQuery) -> Result<Vec<RunRecord>, EngineError> {
        match &query.owner {
            Some(owner) => self.owners_page(owner, query),
            None => self.everyones_page(query),
        }
    }

    fn put_attempt_log(
        &self,
        run_id: &str,
        step_id: &str,
        log: &AttemptLog,
    ) -> Result<(), EngineError> {
        self.attempt_logs
            .insert(attempt_log_key(run_id, step_id, log.attempt), encode(log))
            .map_err(store_error)
    }

    fn attempt_logs(&self, run_id: &str, step_id: &str) -> Result<Vec<AttemptLog>, EngineError> {
        let prefix = format!("{run_id}/{step_id}\0");
        self.attempt_logs
            .scan_prefix(prefix.as_bytes())
            .map_err(store_error)?
            .into_iter()
            .map(|(key, bytes)| decode(&String::from_utf8_lossy(&key), &bytes))
            .collect()
    }

    fn read_ledger(&self, read: LedgerRead<'_>) -> Result<(), EngineError> {
        let _settled = self.transition_lock();
        read(&mut LedgerView::new(&self.hooks)).map_err(|e| match e {
            TxnError::Failed(error) => error,
            TxnError::Conflict(message) => StoreError::Conflict(message).into(),
        })
    }

    fn claim_deliveries(
        &self,
        now: u64,
        hold_ms: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, EngineError> {
        let _claims = self.claim_lock();
        let mut claimed = Vec::new();
        let mut batch = Batch::default();
        let token = uuid::Uuid::now_v7().simple().to_string();
        for (key, _) in self.deliveries_due.iter().map_err(store_error)? {
            if claimed.len() >= limit {
                break;
            }
            let key = String::from_utf8_lossy(&key).into_owned();
            let Some((due, id)) = key.split_once('/') else {
                continue;
            };
            if due.parse::<u64>().map_or(true, |due| due > now) {
                break;
            }
            let Some(previous) = self.delivery(id)? else {
                batch.remove(&self.deliveries_due, key.as_bytes());
                continue;
            };
            let mut delivery = previous.clone();
            delivery.claim = Some(token.clone());
            delivery.next_attempt_at = now.saturating_add(hold_ms);
            self.put_delivery(&mut batch, &delivery, Some(&previous));
            claimed.push(delivery);
        }
        self.db.apply(batch).map_err(store_error)?;
        Ok(claimed)
    }

    fn save_delivery(&self, delivery: &DeliveryRecord, claim: &str) -> Result<bool, EngineError> {
        let _claims = self.claim_lock();
        let Some(previous) = self.delivery(&delivery.id)? else {
            return Ok(false);
        };
        if previous.claim.as_deref() != Some(claim) {
            return Ok(false);
        }
        let mut batch = Batch::default();
        self.put_delivery(&mut batch, delivery, Some(&previous));
        self.db.apply(batch).map_err(store_error)?;
        // An attempt stays on the run's record across a crash (a claim need not: lost, it
        // only makes the delivery due again at once).
        self.flush()?;
        Ok(true)
    }

    fn deliveries(&self, run_id: &str) -> Result<Vec<DeliveryRecord>, EngineError> {
        let mut deliveries: Vec<DeliveryRecord> = self
            .deliveries
            .scan_prefix(format!("{run_id}#").as_bytes())
            .map_err(store_error)?
            .into_iter()
            .map(|(key, bytes)| decode(&String::from_utf8_lossy(&key), &bytes))
            .collect::<Result<_, _>>()?;
        deliveries.sort_by_key(|d| d.round);
        Ok(deliveries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transition's writes reach sled only after the log holds them, so a crash can leave
    /// a committed transition in the log alone: opening replays it, all its keys together.
    #[test]
    fn a_committed_transition_sled_never_got_is_replayed_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut node = NodeRecord::pending("run-1", "paid");
        node.status = crate::store::NodeStatus::Succeeded;
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .hooks
                .insert(b"ledger/pending/run-1/paid#1", b"held".as_slice())
                .unwrap();
        }
        let node_bytes = encode(&node);
        let node_key = node_key("run-1", "paid");
        let mut record = Vec::new();
        super::super::wal::encode_record(
            &mut record,
            [
                (
                    "hooks",
                    &b"ledger/account/alice"[..],
                    Some(&b"{\"available\":7}"[..]),
                ),
                ("hooks", &b"ledger/pending/run-1/paid#1"[..], None),
                ("nodes", &node_key[..], Some(&node_bytes[..])),
            ]
            .into_iter(),
        );
        // Appended after what the log holds, as the commit that the crash cut off left it.
        let (mut log, _) =
            super::super::wal::WriteAheadLog::open(&dir.path().join("state.wal")).unwrap();
        log.commit(&mut record).unwrap();
        drop(log);

        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(
            store.hooks.get(b"ledger/account/alice").unwrap().as_deref(),
            Some(b"{\"available\":7}".as_slice())
        );
        assert_eq!(
            store.hooks.get(b"ledger/pending/run-1/paid#1").unwrap(),
            None
        );
        assert_eq!(store.nodes("run-1").unwrap(), vec![node]);
    }

    #[test]
    fn a_refused_transition_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let node = NodeRecord::pending("run-1", "paid");
        let refuse = |txn: &mut dyn crate::store::LedgerTables| -> Result<(), HookError> {
            txn.put_account("alice", &crate::credits::Balance::default())?;
            Err(HookError::Refused(
                crate::credits::CreditError::InsufficientCredits {
                    step: "paid".into(),
                    user: "alice".into(),
                    needed: 3,
                    available: 0,
                }
                .refusal(),
            ))
        };
        let result = store.commit(Some(&node), None, Some(&refuse));
        assert!(matches!(result, Err(EngineError::Refused(_))));
        assert!(store.nodes("run-1").unwrap().is_empty());
        assert!(store.hooks.scan_prefix(b"ledger/").unwrap().is_empty());
    }
}
