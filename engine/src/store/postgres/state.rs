//! [`PgStore`]: the engine's records in PostgreSQL, shared by any number of workers.
//!
//! A run is executed by one worker at a time, which holds its lease (`run_leases`): taken when
//! the run is created or claimed, renewed by one statement per worker per heartbeat, and
//! fenced — every write of a run's node or record checks, in the same transaction, that this
//! worker still holds the lease with the fence it was given. A takeover bumps the fence (it
//! waits for the writes in flight, which hold the lease row `FOR SHARE`), so a worker that
//! was paused or cut off past its lease and comes back writes nothing for that run again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::deliveries;
use super::ledger::{PgLedger, from_json, owned, to_json};
use super::pool::{PgError, PgPool, PgTxn, PoolOptions};
use super::{migrate, schema};
use crate::EngineError;
use crate::executor::{RunEvent, StoredEvent};
use crate::step::AttemptLog;
use crate::store::{
    Contender, DeliveryRecord, HookError, LedgerRead, NodeRecord, RunLimits, RunQuery, RunRecord,
    RunStatus, StateStore, StoreError, TxnError, TxnWork, UnfinishedRuns, admit,
};

/// How a [`PgStore`] is opened.
#[derive(Debug, Clone)]
pub struct PgStoreOptions {
    /// How long a run stays this worker's without a heartbeat; a dead worker's runs are taken
    /// over after at most this long (plus one claim interval).
    pub lease: Duration,
    /// Connections for transitions and requests.
    pub pool_size: usize,
    /// Shown in `pg_stat_activity` and stored as the leases' owner (with a unique suffix).
    pub worker_name: String,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        PgStoreOptions {
            lease: Duration::from_secs(5),
            pool_size: 16,
            worker_name: "techpack".into(),
        }
    }
}

/// The runs this worker holds, and what its heartbeat learnt.
struct Leases {
    /// A pool of its own, so heartbeats never wait behind requests.
    pool: PgPool,
    worker: String,
    lease: Duration,
    /// run id -> the fence this worker holds it with.
    held: Mutex<HashMap<String, i64>>,
    /// Runs whose cancellation another worker asked for.
    cancels: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Leases {
    fn lease_interval(&self) -> String {
        format!("{} milliseconds", self.lease.as_millis())
    }

    /// Renews every lease this worker holds, in one statement; notes cancel requests.
    fn heartbeat(&self) -> Result<(), PgError> {
        let rows = self.pool.query(
            "UPDATE run_leases SET expires_at = now() + $2::text::interval
             WHERE owner = $1 RETURNING run_id, cancel_requested",
            &[&self.worker, &self.lease_interval()],
        )?;
        let mut cancels = self.cancels.lock().expect("cancel requests lock");
        for row in rows {
            if row.get::<_, bool>(1) {
                let run: String = row.get(0);
                if !cancels.contains(&run) {
                    cancels.push(run);
                }
            }
        }
        Ok(())
    }

    fn fence(&self, run_id: &str) -> Option<i64> {
        self.held.lock().expect("leases lock").get(run_id).copied()
    }
}

/// The engine's records in a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    leases: Arc<Leases>,
    /// The workflow texts (by sha256) this store wrote or found in `workflows`: a new run of
    /// one of them skips that insert.
    stored_workflows: Mutex<std::collections::HashSet<String>>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.leases.stop.store(true, Ordering::Relaxed);
    }
}

/// A statement or connection failure as the engine's error: a conflict when running the
/// transaction again could have worked (serialization failure, deadlock, duplicate key).
pub(super) fn store_error(e: PgError) -> EngineError {
    match e.is_retryable() {
        true => StoreError::Conflict(e.to_string()),
        false => StoreError::unavailable(e),
    }
    .into()
}

impl PgStore {
    /// Connects to `url`, creates or upgrades the schema, and starts the heartbeat.
    pub fn connect(url: &str) -> Result<PgStore, EngineError> {
        PgStore::connect_with(url, PgStoreOptions::default())
    }

    pub fn connect_with(url: &str, options: PgStoreOptions) -> Result<PgStore, EngineError> {
        let pool = PgPool::connect(
            url,
            PoolOptions {
                size: options.pool_size,
                application_name: options.worker_name.clone(),
                ..PoolOptions::default()
            },
        )
        .map_err(store_error)?;
        migrate(&pool, "engine", schema::MIGRATIONS).map_err(store_error)?;
        let lease_pool = PgPool::connect(
            url,
            PoolOptions {
                size: 2,
                application_name: format!("{} leases", options.worker_name),
                ..PoolOptions::default()
            },
        )
        .map_err(store_error)?;
        let leases = Arc::new(Leases {
            pool: lease_pool,
            worker: format!("{}-{}", options.worker_name, uuid::Uuid::now_v7().simple()),
            lease: options.lease,
            held: Mutex::new(HashMap::new()),
            cancels: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let beating = Arc::downgrade(&leases);
        let every = (options.lease / 4).max(Duration::from_millis(100));
        std::thread::Builder::new()
            .name("techpack-lease-heartbeat".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(leases) = beating.upgrade() else {
                        return;
                    };
                    if leases.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Err(e) = leases.heartbeat() {
                        tracing::warn!("run lease heartbeat failed: {e}");
                    }
                }
            })
            .map_err(|e| StoreError::Startup {
                what: "the lease heartbeat",
                source: Arc::new(e),
            })?;
        Ok(PgStore {
            pool,
            leases,
            stored_workflows: Mutex::default(),
        })
    }

    /// The pool the store uses, for other parts that keep their tables in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// This worker's name in `run_leases.owner`.
    pub fn worker_id(&self) -> &str {
        &self.leases.worker
    }

    /// Checks in `txn` that this worker still holds `run_id`'s lease, if it holds it at all.
    fn check_fence(&self, txn: &mut PgTxn<'_>, run_id: &str) -> Result<(), CommitError> {
        let Some(fence) = self.leases.fence(run_id) else {
            return Ok(());
        };
        let held = txn.query_opt(
            "SELECT 1 FROM run_leases WHERE run_id = $1 AND owner = $2 AND fence = $3 FOR SHARE",
            &[&run_id, &self.leases.worker, &fence],
        )?;
        match held {
            Some(_) => Ok(()),
            None => Err(CommitError::Engine(EngineError::Fenced(run_id.to_string()))),
        }
    }

    /// As [`PgStore::check_fence`], sent with the writes it guards: the transaction fails
    /// with [`FENCED`] if the lease is no longer this worker's.
    fn hold_fence(&self, txn: &mut PgTxn<'_>, run_id: &str) -> Result<(), PgError> {
        let Some(fence) = self.leases.fence(run_id) else {
            return Ok(());
        };
        txn.defer(
            "SELECT techpack_hold_lease($1, $2, $3)",
            vec![
                owned(run_id.to_string()),
                owned(self.leases.worker.clone()),
                owned(fence),
            ],
        )
    }
}

/// The SQLSTATE of `techpack_hold_lease` when the lease is another worker's (schema v5).
const FENCED: &str = "TPF01";

/// Why a commit's transaction did not commit.
enum CommitError {
    Pg(PgError),
    Engine(EngineError),
}

impl From<PgError> for CommitError {
    fn from(e: PgError) -> Self {
        CommitError::Pg(e)
    }
}

impl From<CommitError> for EngineError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Pg(e) => store_error(e),
            CommitError::Engine(e) => e,
        }
    }
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn upsert_node(txn: &mut PgTxn<'_>, node: &NodeRecord) -> Result<(), PgError> {
    txn.defer(
        "INSERT INTO nodes (run_id, step_id, status, attempt, round, idempotency_key, error, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (run_id, step_id) DO UPDATE SET status = $3, attempt = $4, round = $5,
             idempotency_key = $6, error = $7, record = $8",
        vec![
            owned(node.run_id.clone()),
            owned(node.step_id.clone()),
            owned(node.status.as_str()),
            owned(i32::try_from(node.attempt).unwrap_or(i32::MAX)),
            owned(i32::try_from(node.round).unwrap_or(i32::MAX)),
            owned(node.idempotency_key.clone()),
            owned(node.error.clone()),
            owned(to_json(node)),
        ],
    )
}

fn upsert_run(txn: &mut PgTxn<'_>, run: &RunRecord) -> Result<(), PgError> {
    txn.defer(
        "INSERT INTO runs (id, workflow_name, workflow_sha256, status, owner, created_at,
             finished_at, parent_run_id, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET status = $4, finished_at = $7, record = $9",
        vec![
            owned(run.id.clone()),
            owned(run.workflow_name.clone()),
            owned(run.workflow_sha256.clone()),
            owned(run.status.as_str()),
            owned(run.owner.clone()),
            owned(int(run.created_at)),
            owned(run.finished_at.map(int)),
            owned(run.parent_run_id.clone()),
            owned(to_json(run)),
        ],
    )
}

fn insert_event(txn: &mut PgTxn<'_>, event: &RunEvent) -> Result<(), PgError> {
    txn.defer(
        "INSERT INTO run_events (run_id, step_id, status, attempt, message, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        vec![
            owned(event.run_id.clone()),
            owned(event.step_id.clone()),
            owned(event.status.clone()),
            owned(i32::try_from(event.attempt).unwrap_or(i32::MAX)),
            owned(event.message.clone()),
            owned(int(event.at)),
        ],
    )
}

/// Takes the workflow's admission lock for the rest of `txn`, and reads its unfinished runs,
/// oldest first.
fn contenders(txn: &mut PgTxn<'_>, workflow_name: &str) -> Result<Vec<Contender>, CommitError> {
    txn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('techpack admissions ' || $1))",
        &[&workflow_name],
    )?;
    let rows = txn.query(
        "SELECT id, owner, status FROM runs
         WHERE workflow_name = $1 AND status IN ('pending', 'running', 'queued') ORDER BY id",
        &[&workflow_name],
    )?;
    rows.iter()
        .map(|row| {
            let status: String = row.get(2);
            let status = serde_json::from_value(serde_json::Value::String(status.clone()))
                .map_err(|_| {
                    CommitError::Engine(EngineError::Corrupt {
                        what: format!("run {}", row.get::<_, String>(0)),
                        error: format!("unknown status `{status}`"),
                    })
                })?;
            Ok(Contender {
                run_id: row.get(0),
                owner: row.get(1),
                status,
            })
        })
        .collect()
}

impl PgStore {
    /// Stores the workflow text a new run is pinned to, unless this store already did.
    fn store_workflow(
        &self,
        txn: &mut PgTxn<'_>,
        sha256: &str,
        source: &str,
    ) -> Result<(), PgError> {
        if self
            .stored_workflows
            .lock()
            .expect("stored workflows lock")
            .contains(sha256)
        {
            return Ok(());
        }
        txn.defer(
            "INSERT INTO workflows (sha256, source) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            vec![owned(sha256.to_string()), owned(source.to_string())],
        )
    }

    /// Notes, once its transaction committed, that the workflow text is in the database.
    fn workflow_stored(&self, sha256: &str) {
        let mut stored = self.stored_workflows.lock().expect("stored workflows lock");
        if stored.len() >= 256 {
            stored.clear();
        }
        stored.insert(sha256.to_string());
    }

    /// Inserts the lease of a run this worker is about to execute (new, or just admitted).
    fn take_new_lease(&self, txn: &mut PgTxn<'_>, run_id: &str) -> Result<i64, PgError> {
        let row = txn.query_one(
            "INSERT INTO run_leases (run_id, owner, fence, expires_at)
             VALUES ($1, $2, 1, now() + $3::text::interval)
             ON CONFLICT (run_id) DO UPDATE
                 SET owner = $2, fence = run_leases.fence + 1,
                     expires_at = now() + $3::text::interval, cancel_requested = false
             RETURNING fence",
            &[&run_id, &self.leases.worker, &self.leases.lease_interval()],
        )?;
        Ok(row.get(0))
    }
}

impl StateStore for PgStore {
    fn create_run_limited(
        &self,
        run: &RunRecord,
        workflow_source: &str,
        limits: &RunLimits,
    ) -> Result<RunStatus, EngineError> {
        let (status, fence) = self.pool.transaction(|txn| {
            txn.relax();
            let mut contenders = contenders(txn, &run.workflow_name)?;
            contenders.push(Contender {
                run_id: run.id.clone(),
                owner: run.owner.clone(),
                status: RunStatus::Queued,
            });
            let mut run = run.clone();
            if !admit(limits, &contenders).contains(&run.id) {
                run.status = RunStatus::Queued;
            }
            self.store_workflow(txn, &run.workflow_sha256, workflow_source)?;
            upsert_run(txn, &run)?;
            // A queued run has no lease: nobody executes it until it is admitted.
            let fence = match run.status {
                RunStatus::Queued => None,
                _ => Some(self.take_new_lease(txn, &run.id)?),
            };
            Ok::<_, CommitError>((run.status, fence))
        })?;
        self.workflow_stored(&run.workflow_sha256);
        if let Some(fence) = fence {
            self.leases
                .held
                .lock()
                .expect("leases lock")
                .insert(run.id.clone(), fence);
        }
        Ok(status)
    }

    fn admit_queued(
        &self,
        workflow_name: &str,
        limits: &RunLimits,
    ) -> Result<Vec<String>, EngineError> {
        let admitted = self.pool.transaction(|txn| {
            txn.relax();
            let chosen = admit(limits, &contenders(txn, workflow_name)?);
            let mut admitted = Vec::new();
            for id in chosen {
                let Some(row) = txn.query_opt(
                    "SELECT record FROM runs WHERE id = $1 AND status = 'queued' FOR UPDATE",
                    &[&id],
                )?
                else {
                    continue;
                };
                let mut run: RunRecord =
                    from_json(&format!("run {id}"), row.get(0)).map_err(CommitError::Engine)?;
                run.status = RunStatus::Pending;
                upsert_run(txn, &run)?;
                insert_event(txn, &RunEvent::of_run(&run))?;
                let fence = self.take_new_lease(txn, &id)?;
                admitted.push((id, fence));
            }
            Ok::<_, CommitError>(admitted)
        })?;
        let mut held = self.leases.held.lock().expect("leases lock");
        Ok(admitted
            .into_iter()
            .map(|(id, fence)| {
                held.insert(id.clone(), fence);
                id
            })
            .collect())
    }

    fn queued_runs(&self) -> Result<Vec<RunRecord>, EngineError> {
        self.pool
            .query(
                "SELECT record FROM runs WHERE status = 'queued' ORDER BY id",
                &[],
            )
            .map_err(store_error)?
            .into_iter()
            .map(|row| from_json("a queued run", row.get(0)))
            .collect()
    }

    fn count_unfinished_runs(&self) -> Result<UnfinishedRuns, EngineError> {
        // The predicate is `runs_contending`'s, so the partial index of unfinished runs is
        // what the count reads.
        let rows = self
            .pool
            .query(
                "SELECT status, count(*) FROM runs \
                 WHERE status IN ('pending', 'running', 'queued') GROUP BY status",
                &[],
            )
            .map_err(store_error)?;
        let mut counts = UnfinishedRuns::default();
        for row in rows {
            let status: String = row.get(0);
            let n: i64 = row.get(1);
            let status = match status.as_str() {
                "queued" => RunStatus::Queued,
                "pending" => RunStatus::Pending,
                _ => RunStatus::Running,
            };
            counts.add(status, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }

    fn create_run(&self, run: &RunRecord, workflow_source: &str) -> Result<(), EngineError> {
        self.pool
            .transaction(|txn| {
                txn.relax();
                self.store_workflow(txn, &run.workflow_sha256, workflow_source)?;
                upsert_run(txn, run)?;
                txn.defer(
                    "INSERT INTO run_leases (run_id, owner, fence, expires_at)
                     VALUES ($1, $2, 1, now() + $3::text::interval)",
                    vec![
                        owned(run.id.clone()),
                        owned(self.leases.worker.clone()),
                        owned(self.leases.lease_interval()),
                    ],
                )?;
                Ok::<_, PgError>(())
            })
            .map_err(store_error)?;
        self.workflow_stored(&run.workflow_sha256);
        self.leases
            .held
            .lock()
            .expect("leases lock")
            .insert(run.id.clone(), 1);
        Ok(())
    }

    fn workflow_source(&self, sha256: &str) -> Result<Option<String>, EngineError> {
        Ok(self
            .pool
            .query_opt("SELECT source FROM workflows WHERE sha256 = $1", &[&sha256])
            .map_err(store_error)?
            .map(|row| row.get(0)))
    }

    fn commit(
        &self,
        node: Option<&NodeRecord>,
        run: Option<&RunRecord>,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        self.commit_transition(node, None, run, work)
    }

    fn commit_end(
        &self,
        node: &NodeRecord,
        started: Option<&RunRecord>,
        ended: &RunRecord,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        self.commit_transition(Some(node), started, Some(ended), work)
    }

    /// Transitions commit without waiting for PostgreSQL's WAL flush; this is one small
    /// synchronous commit, which returns once the WAL is on disk up to it — every transition
    /// committed before, by any connection. Concurrent callers share it (the engine's group
    /// commit), so many runs' transitions cost one disk flush.
    fn flush(&self) -> Result<(), EngineError> {
        self.pool
            .execute(
                "INSERT INTO worker_flushes (worker, at) VALUES ($1, now())
                 ON CONFLICT (worker) DO UPDATE SET at = now()",
                &[&self.leases.worker],
            )
            .map_err(store_error)?;
        Ok(())
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRecord>, EngineError> {
        self.pool
            .query_opt("SELECT record FROM runs WHERE id = $1", &[&run_id])
            .map_err(store_error)?
            .map(|row| from_json(&format!("run {run_id}"), row.get(0)))
            .transpose()
    }

    fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>, EngineError> {
        self.pool
            .query("SELECT record FROM nodes WHERE run_id = $1", &[&run_id])
            .map_err(store_error)?
            .into_iter()
            .map(|row| from_json(&format!("a node of run {run_id}"), row.get(0)))
            .collect()
    }

    fn runs(&self) -> Result<Vec<RunRecord>, EngineError> {
        self.pool
            .query("SELECT record FROM runs ORDER BY id DESC", &[])
            .map_err(store_error)?
            .into_iter()
            .map(|row| from_json("a run", row.get(0)))
            .collect()
    }

    fn runs_page(&self, query: &RunQuery) -> Result<Vec<RunRecord>, EngineError> {
        let status = query.status.map(RunStatus::as_str);
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        // Only the filters the query has become conditions, so the planner picks the index
        // that walks them newest first (`runs_by_owner`, `runs_by_owner_workflow`).
        // `?` in a condition stands for its parameter.
        let mut filters: Vec<(&str, super::pool::Param<'_>)> = Vec::new();
        if let Some(owner) = &query.owner {
            filters.push(("owner = ?", owner));
        }
        if let Some(status) = &status {
            filters.push(("status = ?", status));
        }
        if let Some(workflow) = &query.workflow {
            filters.push(("workflow_name = ?", workflow));
        }
        if let Some(before) = &query.before {
            filters.push(("id < ?", before));
        }
        if let Some(text) = &query.id_contains {
            filters.push(("strpos(id, ?) > 0", text));
        }
        let mut conditions = Vec::new();
        let mut params: Vec<super::pool::Param<'_>> = Vec::new();
        for (condition, value) in filters {
            params.push(value);
            conditions.push(condition.replace('?', &format!("${}", params.len())));
        }
        params.push(&limit);
        let mut sql = String::from("SELECT record FROM runs");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", params.len()));
        self.pool
            .query(&sql, &params)
            .map_err(store_error)?
            .into_iter()
            .map(|row| from_json("a run", row.get(0)))
            .collect()
    }

    fn put_attempt_log(
        &self,
        run_id: &str,
        step_id: &str,
        log: &AttemptLog,
    ) -> Result<(), EngineError> {
        let attempt = i32::try_from(log.attempt).unwrap_or(i32::MAX);
        self.pool
            .execute(
                "INSERT INTO attempt_logs (run_id, step_id, attempt, record) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET record = $4",
                &[&run_id, &step_id, &attempt, &to_json(log)],
            )
            .map_err(store_error)?;
        Ok(())
    }

    fn attempt_logs(&self, run_id: &str, step_id: &str) -> Result<Vec<AttemptLog>, EngineError> {
        self.pool
            .query(
                "SELECT record FROM attempt_logs WHERE run_id = $1 AND step_id = $2
                 ORDER BY attempt",
                &[&run_id, &step_id],
            )
            .map_err(store_error)?
            .into_iter()
            .map(|row| {
                from_json(
                    &format!("the log of step {step_id} of run {run_id}"),
                    row.get(0),
                )
            })
            .collect()
    }

    fn read_ledger(&self, read: LedgerRead<'_>) -> Result<(), EngineError> {
        self.pool.transaction(|txn| {
            // One snapshot for the whole read (verification reads several tables).
            txn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
            match read(&mut PgLedger {
                txn: &mut *txn,
                locking: false,
            }) {
                Ok(()) => Ok(()),
                Err(TxnError::Failed(error)) => Err(CommitError::Engine(error)),
                Err(TxnError::Conflict(message)) => {
                    Err(CommitError::Engine(StoreError::Conflict(message).into()))
                }
            }
        })?;
        Ok(())
    }

    fn holds(&self, run_id: &str) -> bool {
        self.leases.fence(run_id).is_some()
    }

    fn claim(&self, run_id: &str) -> Result<bool, EngineError> {
        if self.leases.fence(run_id).is_some() {
            return Ok(true);
        }
        let row = self
            .pool
            .query_opt(
                "INSERT INTO run_leases (run_id, owner, fence, expires_at)
                 VALUES ($1, $2, 1, now() + $3::text::interval)
                 ON CONFLICT (run_id) DO UPDATE
                     SET owner = $2, fence = run_leases.fence + 1,
                         expires_at = now() + $3::text::interval, cancel_requested = false
                     WHERE run_leases.expires_at < now()
                 RETURNING fence",
                &[&run_id, &self.leases.worker, &self.leases.lease_interval()],
            )
            .map_err(store_error)?;
        match row {
            Some(row) => {
                let fence: i64 = row.get(0);
                self.leases
                    .held
                    .lock()
                    .expect("leases lock")
                    .insert(run_id.to_string(), fence);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn release(&self, run_id: &str) {
        let Some(fence) = self.leases.held.lock().expect("leases lock").remove(run_id) else {
            return;
        };
        // Unfinished (this worker stops): let another worker take it over at once.
        if let Err(e) = self.pool.execute(
            "UPDATE run_leases SET expires_at = now() - interval '1 millisecond'
             WHERE run_id = $1 AND owner = $2 AND fence = $3",
            &[&run_id, &self.leases.worker, &fence],
        ) {
            tracing::warn!(run = run_id, "could not release the run's lease: {e}");
        }
    }

    fn claim_expired(&self, limit: usize) -> Result<Vec<String>, EngineError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .leases
            .pool
            .query(
                "UPDATE run_leases SET owner = $1, fence = fence + 1,
                     expires_at = now() + $2::text::interval
                 WHERE run_id IN (
                     SELECT run_id FROM run_leases WHERE expires_at < now()
                     ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING run_id, fence",
                &[&self.leases.worker, &self.leases.lease_interval(), &limit],
            )
            .map_err(store_error)?;
        let mut held = self.leases.held.lock().expect("leases lock");
        Ok(rows
            .into_iter()
            .map(|row| {
                let run: String = row.get(0);
                held.insert(run.clone(), row.get(1));
                run
            })
            .collect())
    }

    fn request_cancel(&self, run_id: &str) -> Result<bool, EngineError> {
        let changed = self
            .pool
            .execute(
                "UPDATE run_leases SET cancel_requested = true
                 WHERE run_id = $1 AND expires_at >= now()",
                &[&run_id],
            )
            .map_err(store_error)?;
        Ok(changed > 0)
    }

    fn take_cancel_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.leases.cancels.lock().expect("cancel requests lock"))
    }

    fn events_after(
        &self,
        run_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, EngineError> {
        let rows = self
            .pool
            .query(
                "SELECT seq, step_id, status, attempt, message, at FROM run_events
                 WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[
                    &run_id,
                    &int(after),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .map_err(store_error)?;
        let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Some(
            rows.iter()
                .map(|row| StoredEvent {
                    seq: unsigned(row.get(0)),
                    event: RunEvent {
                        run_id: run_id.to_string(),
                        step_id: row.get(1),
                        status: row.get(2),
                        attempt: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
                        message: row.get(4),
                        at: unsigned(row.get(5)),
                    },
                })
                .collect(),
        ))
    }

    fn shared(&self) -> bool {
        true
    }

    fn claim_deliveries(
        &self,
        now: u64,
        hold_ms: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, EngineError> {
        deliveries::claim(&self.pool, now, hold_ms, limit)
    }

    fn save_delivery(&self, delivery: &DeliveryRecord, claim: &str) -> Result<bool, EngineError> {
        deliveries::save(&self.pool, delivery, claim)
    }

    fn deliveries(&self, run_id: &str) -> Result<Vec<DeliveryRecord>, EngineError> {
        deliveries::of_run(&self.pool, run_id)
    }
}

impl PgStore {
    /// [`StateStore::commit`], and the run's end with its last node ([`StateStore::commit_end`]):
    /// `started` is the run's start whose event is still to be recorded.
    fn commit_transition(
        &self,
        node: Option<&NodeRecord>,
        started: Option<&RunRecord>,
        run: Option<&RunRecord>,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        let run_id = node
            .map(|n| n.run_id.as_str())
            .or(run.map(|r| r.id.as_str()));
        let finished = run.is_some_and(|r| r.status.is_finished());
        let committed = self.pool.transaction(|txn| {
            txn.relax();
            if let Some(run_id) = run_id {
                // A hook reads before it writes, so its transaction waits for the check
                // first; plain writes send it along with them.
                match work {
                    Some(_) => self.check_fence(txn, run_id)?,
                    None => self.hold_fence(txn, run_id)?,
                }
            }
            if let Some(work) = work {
                let outcome = work(&mut PgLedger {
                    txn: &mut *txn,
                    locking: true,
                });
                match outcome {
                    Ok(()) => {}
                    Err(HookError::Refused(reason)) => {
                        return Err(CommitError::Engine(EngineError::Refused(reason)));
                    }
                    Err(HookError::Txn(TxnError::Failed(error))) => {
                        return Err(CommitError::Engine(error));
                    }
                    Err(HookError::Txn(TxnError::Conflict(message))) => {
                        return Err(CommitError::Engine(StoreError::Conflict(message).into()));
                    }
                }
            }
            // A run's start travels with its first node transition: its event comes first.
            if let Some(started) = started {
                insert_event(txn, &RunEvent::of_run(started))?;
            }
            if let Some(run) = run.filter(|_| !finished) {
                upsert_run(txn, run)?;
                insert_event(txn, &RunEvent::of_run(run))?;
            }
            if let Some(node) = node {
                upsert_node(txn, node)?;
                insert_event(txn, &RunEvent::of_node(node))?;
            }
            if let Some(run) = run.filter(|_| finished) {
                upsert_run(txn, run)?;
                insert_event(txn, &RunEvent::of_run(run))?;
                txn.defer(
                    "DELETE FROM run_leases WHERE run_id = $1",
                    vec![owned(run.id.clone())],
                )?;
                deliveries::queue_for(txn, run)?;
            }
            Ok::<_, CommitError>(())
        });
        match committed {
            Err(CommitError::Pg(e)) if e.sqlstate() == Some(FENCED) => {
                return Err(EngineError::Fenced(run_id.unwrap_or_default().to_string()));
            }
            other => other?,
        }
        if finished && let Some(run) = run {
            self.leases
                .held
                .lock()
                .expect("leases lock")
                .remove(&run.id);
        }
        Ok(())
    }
}
