//! The executor: runs a workflow's DAG on tokio, persisting every transition.

mod backoff;
mod counters;
mod events;
mod flush;
mod node;
mod rerun;
mod run;
mod run_state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

pub use counters::{Counters, CountersSnapshot, STEP_DURATION_BUCKETS};
pub use events::{RunEvent, StoredEvent};
pub use flush::FlushStats;

use crate::EngineError;
use crate::hooks::{FailureKind, NodeHook};
use crate::step::{Resources, StepRegistry};
use crate::store::{
    Durability, HookError, LedgerTables, NodeRecord, NodeStatus, RunRecord, RunStatus, StateStore,
    TxnWork, now_ms,
};
use crate::workflow::Workflow;
use counters::{CreditMoves, NotingTables};
use flush::Flusher;

/// Limits and modes of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub durability: Durability,
    /// Steps running at once across all runs of this engine.
    pub global_parallelism: usize,
    /// Steps running at once in one run, unless the workflow's `defaults.parallelism` says.
    pub run_parallelism: usize,
    /// The folders steps of users' runs may read and write (none by default); operators'
    /// runs may name any path.
    pub file_roots: Arc<crate::step::FileRoots>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            durability: Durability::Sync,
            global_parallelism: 256,
            run_parallelism: 16,
            file_roots: Arc::default(),
        }
    }
}

/// A run and its nodes as they stand, nodes in workflow order.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run: RunRecord,
    pub nodes: Vec<NodeRecord>,
}

/// A new pending run of `workflow` with resolved `inputs`.
fn new_run(workflow: &Workflow, inputs: Map<String, Value>, owner: Option<String>) -> RunRecord {
    RunRecord {
        id: uuid::Uuid::now_v7().to_string(),
        workflow_name: workflow.name.clone(),
        workflow_version: workflow.version.clone(),
        workflow_sha256: workflow.sha256.clone(),
        workflow_origin: workflow.origin.clone(),
        inputs,
        status: RunStatus::Pending,
        owner,
        created_at: now_ms(),
        started_at: None,
        finished_at: None,
        error: None,
        resumes: 0,
        retries: 0,
        parent_run_id: None,
        replay_from: None,
        warnings: Vec::new(),
        callback: None,
    }
}

/// Executes workflows against a store. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    store: Arc<dyn StateStore>,
    registry: Arc<StepRegistry>,
    hooks: Vec<Arc<dyn NodeHook>>,
    resources: Arc<Resources>,
    config: EngineConfig,
    global: Arc<Semaphore>,
    events: broadcast::Sender<RunEvent>,
    flusher: Flusher,
    /// What this process finished, counted by [`Inner::commit`] as it commits.
    counters: Counters,
    /// Runs executing in this process, with the token that cancels each.
    active: Mutex<HashMap<String, CancellationToken>>,
    /// Parsed workflows by the sha256 of their text, so runs need not re-validate them.
    workflows: Mutex<HashMap<String, Arc<Workflow>>>,
    /// Whether queued runs may be waiting for a slot: the last look at them found some, or
    /// this process queued one since ([`Engine::queued_runs_may_wait`]).
    queued_seen: AtomicBool,
}

impl Inner {
    /// Waits until everything committed so far is on disk (in `sync` durability).
    pub(crate) async fn durable(&self) -> Result<(), EngineError> {
        self.flusher.durable(&*self.store).await
    }

    /// Commits one transition of a run this process executes (see [`StateStore::commit`])
    /// and, once it is committed, counts what it finished. Every node and run transition of
    /// the executor goes through here, each committed once, so each is counted once.
    pub(crate) fn commit(
        &self,
        node: Option<&NodeRecord>,
        run: Option<&RunRecord>,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        self.commit_counted(node, run, work, |work| self.store.commit(node, run, work))
    }

    /// Commits a run's last node transition with the run's end (`ended`), and `started`, the
    /// run's start, when it was not written yet ([`StateStore::commit_end`]).
    pub(crate) fn commit_end(
        &self,
        node: &NodeRecord,
        started: Option<&RunRecord>,
        ended: &RunRecord,
        work: Option<TxnWork<'_>>,
    ) -> Result<(), EngineError> {
        self.commit_counted(Some(node), Some(ended), work, |work| {
            self.store.commit_end(node, started, ended, work)
        })
    }

    /// Runs `commit` with `work` wrapped to note the credits it moves, then counts the
    /// transition.
    fn commit_counted(
        &self,
        node: Option<&NodeRecord>,
        run: Option<&RunRecord>,
        work: Option<TxnWork<'_>>,
        commit: impl FnOnce(Option<TxnWork<'_>>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let moves = &CreditMoves::default();
        let noting;
        let work = match work {
            Some(work) => {
                noting = move |tables: &mut dyn LedgerTables| -> Result<(), HookError> {
                    moves.restart();
                    work(&mut NotingTables { tables, moves })
                };
                Some(&noting as TxnWork<'_>)
            }
            None => None,
        };
        commit(work)?;
        self.counters.committed(node, run, &moves.take());
        Ok(())
    }

    /// Hook work for a transition of `step`, or none when no hook takes part in it (a
    /// cheaper write).
    pub(crate) fn hook_work<'a>(
        &self,
        run: &RunRecord,
        step: &crate::workflow::StepDef,
        work: crate::store::TxnWork<'a>,
    ) -> Option<crate::store::TxnWork<'a>> {
        self.hooks
            .iter()
            .any(|h| h.takes_part(run, step))
            .then_some(work)
    }

    /// The run's workflow, parsed once per distinct text.
    pub(crate) fn workflow_of(&self, run: &RunRecord) -> Result<Arc<Workflow>, EngineError> {
        if let Some(workflow) = self.cached_workflow(&run.workflow_sha256) {
            return Ok(workflow);
        }
        let source = self
            .store
            .workflow_source(&run.workflow_sha256)?
            .ok_or_else(|| EngineError::Corrupt {
                what: format!("run {}", run.id),
                error: format!("its workflow text {} is missing", run.workflow_sha256),
            })?;
        let workflow = Arc::new(Workflow::parse(
            &source,
            &run.workflow_origin,
            &self.registry,
        )?);
        self.cache_workflow(workflow.clone());
        Ok(workflow)
    }

    /// One record per step id, in that order: the stored ones, pending for the rest. A run
    /// that never started has no stored node records.
    pub(crate) fn node_records<'a>(
        &self,
        run: &RunRecord,
        step_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<NodeRecord>, EngineError> {
        // A replay's run is pending with the nodes it took from its parent, a retried run with
        // the nodes it kept.
        let fresh = run.status == RunStatus::Pending
            && run.started_at.is_none()
            && run.parent_run_id.is_none();
        let mut stored: HashMap<String, NodeRecord> = if fresh {
            HashMap::new()
        } else {
            self.store
                .nodes(&run.id)?
                .into_iter()
                .map(|n| (n.step_id.clone(), n))
                .collect()
        };
        Ok(step_ids
            .into_iter()
            .map(|id| {
                stored
                    .remove(id)
                    .unwrap_or_else(|| NodeRecord::pending(&run.id, id))
            })
            .collect())
    }

    /// Records a new run of `workflow`: `pending`, or `queued` when the workflow's
    /// concurrency limits leave it no slot now (`admit_queued` starts it later).
    pub(crate) fn record_new_run(
        &self,
        run: &mut RunRecord,
        workflow: &Workflow,
    ) -> Result<(), EngineError> {
        match &workflow.concurrency {
            Some(limits) => {
                run.status = self
                    .store
                    .create_run_limited(run, &workflow.source, limits)?;
            }
            None => self.store.create_run(run, &workflow.source)?,
        }
        if run.status == RunStatus::Queued {
            self.queued_seen.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn cached_workflow(&self, sha256: &str) -> Option<Arc<Workflow>> {
        self.workflows
            .lock()
            .expect("workflow cache lock")
            .get(sha256)
            .cloned()
    }

    fn cache_workflow(&self, workflow: Arc<Workflow>) {
        let mut cache = self.workflows.lock().expect("workflow cache lock");
        if cache.len() >= 64 && !cache.contains_key(&workflow.sha256) {
            cache.clear();
        }
        cache.insert(workflow.sha256.clone(), workflow);
    }
}

impl Engine {
    pub fn new(
        store: Arc<dyn StateStore>,
        registry: StepRegistry,
        hooks: Vec<Arc<dyn NodeHook>>,
        resources: Resources,
        config: EngineConfig,
    ) -> Engine {
        let (events, _) = broadcast::channel(4096);
        Engine {
            inner: Arc::new(Inner {
                flusher: Flusher::new(config.durability),
                global: Arc::new(Semaphore::new(config.global_parallelism.max(1))),
                store,
                registry: Arc::new(registry),
                hooks,
                resources: Arc::new(resources),
                config,
                events,
                counters: Counters::default(),
                active: Mutex::new(HashMap::new()),
                workflows: Mutex::new(HashMap::new()),
                // Queued runs from before a restart are found by the first look.
                queued_seen: AtomicBool::new(true),
            }),
        }
    }

    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    pub fn registry(&self) -> &StepRegistry {
        &self.inner.registry
    }

    /// The shared services steps receive.
    pub fn resources(&self) -> &Resources {
        &self.inner.resources
    }

    /// The workflow a stored run is pinned to, parsed from the text it started with.
    pub fn workflow_of(&self, run: &RunRecord) -> Result<Arc<Workflow>, EngineError> {
        self.inner.workflow_of(run)
    }

    /// Waits until everything written to the store so far is on disk (in `sync` durability;
    /// at once in `relaxed`). Concurrent callers share one flush.
    pub async fn durable(&self) -> Result<(), EngineError> {
        self.inner.durable().await
    }

    /// What this process's engine finished since it started (see [`Counters`]).
    pub fn counters(&self) -> CountersSnapshot {
        self.inner.counters.snapshot()
    }

    /// How often this engine waited for the store to reach disk, and for how long.
    pub fn flush_stats(&self) -> FlushStats {
        self.inner.flusher.stats()
    }

    /// The run's recorded events after `after`, when the store keeps them (one shared by
    /// several processes): see [`StateStore::events_after`].
    pub fn stored_events(
        &self,
        run_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, EngineError> {
        self.inner.store.events_after(run_id, after, limit)
    }

    /// Every transition of every run from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.inner.events.subscribe()
    }

    /// Checks the inputs and records a new pending run pinned to `workflow`'s text.
    pub async fn create_run(
        &self,
        workflow: &Workflow,
        inputs: Map<String, Value>,
        owner: Option<String>,
    ) -> Result<RunRecord, EngineError> {
        let run = self.record_run(workflow, inputs, owner)?;
        // Durable before the caller is told the run exists (e.g. an HTTP 202).
        self.inner.durable().await?;
        Ok(run)
    }

    /// Records a run and executes it at once, for callers that wait for the result: the run's
    /// record becomes durable with its first finished step instead of on its own.
    pub async fn run_now(
        &self,
        workflow: &Workflow,
        inputs: Map<String, Value>,
        owner: Option<String>,
    ) -> Result<RunReport, EngineError> {
        let run = self.record_run(workflow, inputs, owner)?;
        self.execute_created(run).await
    }

    /// Records a new pending run without waiting for it to reach disk, for callers that write
    /// more before making it all durable at once with [`Engine::durable`].
    pub fn record_run(
        &self,
        workflow: &Workflow,
        inputs: Map<String, Value>,
        owner: Option<String>,
    ) -> Result<RunRecord, EngineError> {
        self.record_run_with_callback(workflow, inputs, owner, None)
    }

    /// As [`Engine::record_run`], for a run whose end is reported to `callback` (see
    /// [`RunRecord::callback`]): the URL is stored with the run, unchecked; the caller
    /// decides which it accepts.
    pub fn record_run_with_callback(
        &self,
        workflow: &Workflow,
        inputs: Map<String, Value>,
        owner: Option<String>,
        callback: Option<String>,
    ) -> Result<RunRecord, EngineError> {
        // A user's run takes its inputs as data; only an operator's may name server paths.
        let origin = match owner {
            Some(_) => crate::workflow::InputOrigin::User,
            None => crate::workflow::InputOrigin::Operator,
        };
        let inputs = workflow.resolve_inputs(inputs, origin)?;
        let mut run = new_run(workflow, inputs, owner);
        run.callback = callback;
        self.inner.record_new_run(&mut run, workflow)?;
        if self.inner.cached_workflow(&workflow.sha256).is_none() {
            self.inner.cache_workflow(Arc::new(workflow.clone()));
        }
        Ok(run)
    }

    /// Executes a run until it finishes: a new one, or an interrupted one (resume). Succeeded
    /// steps keep their stored output; interrupted steps run again with the same idempotency
    /// key; the rest are scheduled.
    pub async fn execute(&self, run_id: &str) -> Result<RunReport, EngineError> {
        self.execute_with(run_id, None).await
    }

    /// As [`Engine::execute`], for the caller that just created the run: `run` is the record
    /// [`Engine::create_run`] (or `record_run`) returned, which spares a read of the store.
    /// Nothing may have written the run since.
    pub async fn execute_created(&self, run: RunRecord) -> Result<RunReport, EngineError> {
        if run.status == RunStatus::Queued {
            return Err(EngineError::RunQueued(run.id));
        }
        let id = run.id.clone();
        self.execute_with(&id, Some(run)).await
    }

    async fn execute_with(
        &self,
        run_id: &str,
        created: Option<RunRecord>,
    ) -> Result<RunReport, EngineError> {
        let token = CancellationToken::new();
        {
            let mut active = self.inner.active.lock().expect("active runs lock");
            if active.contains_key(run_id) {
                return Err(EngineError::RunActive(run_id.to_string()));
            }
            active.insert(run_id.to_string(), token.clone());
        }
        /// Forgets the run as active however `execute` ends, also when its future is dropped,
        /// and lets other processes sharing the store take it if it did not finish.
        struct Active<'a>(&'a Inner, &'a str);
        impl Drop for Active<'_> {
            fn drop(&mut self) {
                self.0.store.release(self.1);
                self.0
                    .active
                    .lock()
                    .expect("active runs lock")
                    .remove(self.1);
            }
        }
        let _active = Active(&self.inner, run_id);
        // A queued run waits for its slot: `admit_queued` makes it pending first. (A run this
        // process just created or holds is not queued, so that read is spared.)
        if created.is_none()
            && !self.inner.store.holds(run_id)
            && let Some(run) = self.inner.store.run(run_id)?
            && run.status == RunStatus::Queued
        {
            return Err(EngineError::RunQueued(run_id.to_string()));
        }
        // Another process sharing the store may be executing it.
        if !self.inner.store.claim(run_id)? {
            return Err(EngineError::RunActive(run_id.to_string()));
        }
        run::execute(self.inner.clone(), run_id, created, token).await
    }

    /// Signals a run executing in this process to stop. Returns false if it is not executing.
    pub fn cancel(&self, run_id: &str) -> bool {
        match self
            .inner
            .active
            .lock()
            .expect("active runs lock")
            .get(run_id)
        {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Ids of the runs executing in this process.
    pub fn active_runs(&self) -> Vec<String> {
        self.inner
            .active
            .lock()
            .expect("active runs lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Signals every run executing in this process to stop.
    pub fn cancel_all(&self) {
        for token in self.inner.active.lock().expect("active runs lock").values() {
            token.cancel();
        }
    }

    /// Cancels a run that no process is executing (e.g. an interrupted one): its unfinished
    /// nodes and the run become `cancelled`, with hooks called as for any cancellation.
    pub async fn cancel_stored(&self, run_id: &str) -> Result<RunReport, EngineError> {
        if self.cancel(run_id) {
            return Err(EngineError::RunActive(run_id.to_string()));
        }
        // Another process sharing the store may be executing it: hold it while cancelling.
        if !self.inner.store.claim(run_id)? {
            return Err(EngineError::RunActive(run_id.to_string()));
        }
        struct Claimed<'a>(&'a Inner, &'a str);
        impl Drop for Claimed<'_> {
            fn drop(&mut self) {
                self.0.store.release(self.1);
            }
        }
        let _claimed = Claimed(&self.inner, run_id);
        let report = self.report(run_id)?;
        if report.run.status.is_finished() {
            return Err(EngineError::RunFinished {
                id: run_id.to_string(),
                status: report.run.status.as_str(),
            });
        }
        let workflow = self.inner.workflow_of(&report.run)?;
        let mut run = report.run.clone();
        for mut node in report.nodes {
            if node.status.is_finished() {
                continue;
            }
            let step = workflow
                .steps
                .iter()
                .find(|s| s.id == node.step_id)
                .ok_or_else(|| EngineError::Corrupt {
                    what: format!("run {run_id}"),
                    error: format!("node `{}` is not in the run's workflow", node.step_id),
                })?;
            node.status = NodeStatus::Cancelled;
            node.error = Some("run cancelled".into());
            node.finished_at = Some(now_ms());
            node::commit_failure_with(
                &self.inner,
                &run,
                None,
                step,
                &node,
                FailureKind::Cancelled,
            )?;
        }
        run.status = RunStatus::Cancelled;
        run.finished_at = Some(now_ms());
        run.error = Some("cancelled".into());
        self.inner.commit(None, Some(&run), None)?;
        self.inner.durable().await?;
        self.report(run_id)
    }

    /// Cancels a run wherever it is: executing here (signalled), executing in another
    /// process sharing the store (asked to, through the store), or executing nowhere
    /// ([`Engine::cancel_stored`]).
    pub async fn cancel_anywhere(&self, run_id: &str) -> Result<(), EngineError> {
        if self.cancel(run_id) || self.inner.store.request_cancel(run_id)? {
            return Ok(());
        }
        match self.cancel_stored(run_id).await {
            Ok(_) => Ok(()),
            // It started executing somewhere meanwhile.
            Err(EngineError::RunActive(_)) if self.inner.store.request_cancel(run_id)? => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Runs that have not finished: pending, or interrupted while running (not the queued
    /// ones: they start when [`Engine::admit_queued`] leaves them a slot).
    pub fn unfinished_runs(&self) -> Result<Vec<RunRecord>, EngineError> {
        let active = self.inner.active.lock().expect("active runs lock").clone();
        Ok(self
            .inner
            .store
            .runs()?
            .into_iter()
            .filter(|r| {
                !r.status.is_finished()
                    && r.status != RunStatus::Queued
                    && !active.contains_key(&r.id)
            })
            .collect())
    }

    /// Makes pending every queued run that its workflow's `concurrency:` limits (those of
    /// the text the oldest queued run of the workflow is pinned to) leave a slot for now;
    /// returns their ids, for the caller to execute. Call it when runs end, and now and then
    /// (after a restart, or when another process's runs ended).
    pub fn admit_queued(&self) -> Result<Vec<String>, EngineError> {
        let mut seen = std::collections::HashSet::new();
        let mut admitted = Vec::new();
        let queued = self.inner.store.queued_runs()?;
        self.inner
            .queued_seen
            .store(!queued.is_empty(), Ordering::Relaxed);
        for run in queued {
            if !seen.insert(run.workflow_name.clone()) {
                continue;
            }
            let limits = self
                .inner
                .workflow_of(&run)?
                .concurrency
                .unwrap_or_default();
            admitted.extend(self.inner.store.admit_queued(&run.workflow_name, &limits)?);
        }
        Ok(admitted)
    }

    /// Whether a run ending now may leave a slot to a queued run: false while this process
    /// has queued no run since [`Engine::admit_queued`] last found none, so runs of workflows
    /// without `concurrency:` limits need not look when they end. (Runs another process
    /// queued meanwhile are found by the next periodic [`Engine::admit_queued`].)
    pub fn queued_runs_may_wait(&self) -> bool {
        self.inner.queued_seen.load(Ordering::Relaxed)
    }

    /// A run and all its nodes (pending ones included), in the order of its workflow's steps.
    pub fn report(&self, run_id: &str) -> Result<RunReport, EngineError> {
        let run = self
            .inner
            .store
            .run(run_id)?
            .ok_or_else(|| EngineError::RunNotFound(run_id.to_string()))?;
        let nodes = self.nodes(&run)?;
        Ok(RunReport { run, nodes })
    }

    /// Every node of a stored run (pending ones included), in the order of its workflow's
    /// steps.
    pub fn nodes(&self, run: &RunRecord) -> Result<Vec<NodeRecord>, EngineError> {
        match self.inner.workflow_of(run) {
            Ok(workflow) => self
                .inner
                .node_records(run, workflow.steps.iter().map(|s| s.id.as_str())),
            // A stored run whose workflow no longer validates against today's registry (a
            // plugin removed, say) is still shown, from its text read without validation.
            Err(_) => {
                let source = self
                    .inner
                    .store
                    .workflow_source(&run.workflow_sha256)?
                    .unwrap_or_default();
                let order = crate::workflow::yaml::step_ids(&source);
                self.inner
                    .node_records(run, order.iter().map(String::as_str))
            }
        }
    }
}
