//! The executor: runs a workflow's DAG on tokio, persisting every transition.

mod backoff;
mod events;
mod flush;
mod node;
mod run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

pub use events::RunEvent;

use crate::EngineError;
use crate::hooks::{FailureKind, NodeHook};
use crate::step::{Resources, StepRegistry};
use crate::store::{Durability, NodeRecord, NodeStatus, RunRecord, RunStatus, StateStore, now_ms};
use crate::workflow::Workflow;
use flush::Flusher;

/// Limits and modes of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub durability: Durability,
    /// Steps running at once across all runs of this engine.
    pub global_parallelism: usize,
    /// Steps running at once in one run, unless the workflow's `defaults.parallelism` says.
    pub run_parallelism: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            durability: Durability::Sync,
            global_parallelism: 256,
            run_parallelism: 16,
        }
    }
}

/// A run and its nodes as they stand, nodes in workflow order.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run: RunRecord,
    pub nodes: Vec<NodeRecord>,
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
    /// Runs executing in this process, with the token that cancels each.
    active: Mutex<HashMap<String, CancellationToken>>,
    /// Parsed workflows by the sha256 of their text, so runs need not re-validate them.
    workflows: Mutex<HashMap<String, Arc<Workflow>>>,
}

impl Inner {
    /// Hook work for a transition, or none when no hooks are installed (a cheaper write).
    pub(crate) fn hook_work<'a>(
        &self,
        work: crate::store::TxnWork<'a>,
    ) -> Option<crate::store::TxnWork<'a>> {
        (!self.hooks.is_empty()).then_some(work)
    }

    /// The run's workflow, parsed once per distinct text.
    pub(crate) fn workflow_of(&self, run: &RunRecord) -> Result<Arc<Workflow>, EngineError> {
        let mut cache = self.workflows.lock().expect("workflow cache lock");
        if let Some(workflow) = cache.get(&run.workflow_sha256) {
            return Ok(workflow.clone());
        }
        let workflow = Arc::new(Workflow::parse(
            &run.workflow_source,
            &run.workflow_origin,
            &self.registry,
        )?);
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.insert(run.workflow_sha256.clone(), workflow.clone());
        Ok(workflow)
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
                flusher: Flusher::new(store.clone(), config.durability),
                global: Arc::new(Semaphore::new(config.global_parallelism.max(1))),
                store,
                registry: Arc::new(registry),
                hooks,
                resources: Arc::new(resources),
                config,
                events,
                active: Mutex::new(HashMap::new()),
                workflows: Mutex::new(HashMap::new()),
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
        self.inner.flusher.durable().await?;
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
        self.execute(&run.id).await
    }

    fn record_run(
        &self,
        workflow: &Workflow,
        inputs: Map<String, Value>,
        owner: Option<String>,
    ) -> Result<RunRecord, EngineError> {
        let inputs = workflow.resolve_inputs(inputs)?;
        let run = RunRecord {
            id: uuid::Uuid::now_v7().to_string(),
            workflow_name: workflow.name.clone(),
            workflow_version: workflow.version.clone(),
            workflow_source: workflow.source.clone(),
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
        };
        let nodes: Vec<NodeRecord> = workflow
            .steps
            .iter()
            .map(|s| NodeRecord::pending(&run.id, &s.id))
            .collect();
        self.inner.store.create_run(&run, &nodes)?;
        self.inner
            .workflows
            .lock()
            .expect("workflow cache lock")
            .insert(workflow.sha256.clone(), Arc::new(workflow.clone()));
        Ok(run)
    }

    /// Executes a run until it finishes: a new one, or an interrupted one (resume). Succeeded
    /// steps keep their stored output; interrupted steps run again with the same idempotency
    /// key; the rest are scheduled.
    pub async fn execute(&self, run_id: &str) -> Result<RunReport, EngineError> {
        let token = CancellationToken::new();
        {
            let mut active = self.inner.active.lock().expect("active runs lock");
            if active.contains_key(run_id) {
                return Err(EngineError::RunActive(run_id.to_string()));
            }
            active.insert(run_id.to_string(), token.clone());
        }
        /// Forgets the run as active however `execute` ends, also when its future is dropped.
        struct Active<'a>(&'a Inner, &'a str);
        impl Drop for Active<'_> {
            fn drop(&mut self) {
                self.0
                    .active
                    .lock()
                    .expect("active runs lock")
                    .remove(self.1);
            }
        }
        let _active = Active(&self.inner, run_id);
        run::execute(self.inner.clone(), run_id, token).await
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
            node::commit_failure(&self.inner, &run, step, &node, FailureKind::Cancelled)?;
        }
        run.status = RunStatus::Cancelled;
        run.finished_at = Some(now_ms());
        run.error = Some("cancelled".into());
        self.inner.store.commit(None, Some(&run), None)?;
        self.inner.flusher.durable().await?;
        self.report(run_id)
    }

    /// Runs that have not finished: pending, or interrupted while running.
    pub fn unfinished_runs(&self) -> Result<Vec<RunRecord>, EngineError> {
        let active = self.inner.active.lock().expect("active runs lock").clone();
        Ok(self
            .inner
            .store
            .runs()?
            .into_iter()
            .filter(|r| !r.status.is_finished() && !active.contains_key(&r.id))
            .collect())
    }

    /// A run and its nodes, nodes in the order of its workflow's steps.
    pub fn report(&self, run_id: &str) -> Result<RunReport, EngineError> {
        let run = self
            .inner
            .store
            .run(run_id)?
            .ok_or_else(|| EngineError::RunNotFound(run_id.to_string()))?;
        let mut nodes = self.inner.store.nodes(run_id)?;
        let order = crate::workflow::yaml::step_ids(&run.workflow_source);
        nodes.sort_by_key(|n| {
            order
                .iter()
                .position(|id| id == &n.step_id)
                .unwrap_or(usize::MAX)
        });
        Ok(RunReport { run, nodes })
    }
}
