//! `techpack serve`: the HTTP API over the same engine, hooks and store as the CLI.
//!
//! # Layout
//! - `app`: the router (`fn app(state) -> Router`), limits and timeouts.
//! - `auth`: bearer-token callers and the admin (or either by the console's session cookie).
//! - `console/`: the web console: embedded assets, the page shell, sessions, security headers.
//! - `error`: [`error::ApiError`] and [`error::ErrorCode`], JSON errors with stable codes, and
//!   the middleware that gives every error (layers' too) that shape.
//! - `views`: what the API answers, in camelCase, for the engine's and the steps' records.
//! - `workflow_folder`: the watched workflows folder (and saving an edited file into it).
//! - `single_step`: running one tech-pack step as its own run (the seed's endpoints).
//! - `step_failure`: which API error answers each failure code a step records.
//! - `error_docs`: `docs/error-codes.md`, generated from the three lists of codes.
//! - `routes/`: one file per group of endpoints.
//! - `callbacks/`: completion callbacks: which URLs may be called, and the sender.
//! - `metrics`: `/metrics`.
//! - `openapi`: `/api/openapi.json`, from the handlers' `#[utoipa::path]` and types.

mod app;
mod auth;
pub mod callbacks;
mod console;
mod error;
#[cfg(test)]
mod error_docs;
pub mod idempotency;
mod metrics;
mod openapi;
mod routes;
mod single_step;
mod step_failure;
mod views;
mod workflow_folder;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use techpack_engine::Engine;
use techpack_engine::store::RunRecord;
use techpack_steps::TechpackServices;
use tokio_util::task::TaskTracker;

pub use app::app;
use workflow_folder::WorkflowFolder;

use crate::args::{DataDir, ProviderArgs};
use crate::exit::Exit;
use crate::users::Users;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed)
    #[arg(long, default_value = "127.0.0.1:8080", env = "TECHPACK_ADDR")]
    addr: SocketAddr,
    #[command(flatten)]
    data_dir: DataDir,
    /// Folder of workflow YAML files, re-read when they change
    #[arg(long, default_value = "workflows", env = "TECHPACK_WORKFLOWS_DIR")]
    workflows_dir: PathBuf,
    /// Token for the admin endpoints (creating users, granting credits)
    #[arg(long, env = "TECHPACK_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Largest request body (uploads included), in MiB
    #[arg(long, default_value_t = 25)]
    max_body_mib: usize,
    /// Longest a request may take
    #[arg(long, default_value = "10m", value_parser = humantime_duration)]
    request_timeout: Duration,
    /// Memory all image work may hold at once, in MiB: upload bodies being received and
    /// pixels being decoded and processed. Work beyond it queues
    #[arg(long, default_value_t = 256, env = "TECHPACK_MEMORY_BUDGET_MIB",
          value_parser = clap::value_parser!(u64).range(1..))]
    memory_budget_mib: u64,
    /// Longest image work queues for the memory budget; an upload that would wait longer is
    /// answered 503 `busy` with `Retry-After`
    #[arg(long, default_value = "30s", value_parser = humantime_duration, env = "TECHPACK_MEMORY_WAIT")]
    memory_wait: Duration,
    /// On SIGINT/SIGTERM, how long running runs get to finish before the server stops (the
    /// rest stay resumable and resume at the next start)
    #[arg(long, default_value = "20s", value_parser = humantime_duration)]
    shutdown_grace: Duration,
    /// A folder whose files users' runs may read (repeatable). By default a run started
    /// over HTTP may not touch any server file: its photos are uploads, its results stay in
    /// the store.
    #[arg(long = "allow-read", value_name = "DIR")]
    allow_read: Vec<PathBuf>,
    /// A folder users' runs may write into (repeatable; also readable).
    #[arg(long = "allow-write", value_name = "DIR")]
    allow_write: Vec<PathBuf>,
    /// A host completion callbacks may be sent to, `HOST[:PORT]` (repeatable). None by
    /// default: a run started with a callback to any other host is refused. A loopback or
    /// private address is refused even behind an allowed name; allow it by address
    /// (`127.0.0.1:9000`)
    #[arg(long = "callback-allow", value_name = "HOST[:PORT]")]
    callback_allow: Vec<callbacks::AllowedHost>,
    /// Also allow `http://` callback URLs (https only by default; for tests and closed
    /// networks)
    #[arg(long)]
    callback_allow_http: bool,
    /// How long after a run's end its callback is still retried before it is abandoned
    #[arg(long, default_value = "24h", value_parser = humantime_duration)]
    callback_retry_for: Duration,
    #[command(flatten)]
    providers: ProviderArgs,
}

fn humantime_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub services: Arc<TechpackServices>,
    pub users: Arc<Users>,
    pub workflows: Arc<WorkflowFolder>,
    pub admin_token: Option<String>,
    /// `user \0 workflow \0 Idempotency-Key` -> the run it created.
    pub idempotency: Arc<crate::wiring::Idempotency>,
    /// Runs executing in this process, awaited at shutdown.
    pub tasks: TaskTracker,
    pub max_body: usize,
    pub request_timeout: Duration,
    /// The console's signed-in browsers.
    pub sessions: Arc<crate::sessions::Sessions>,
    /// Which callback URLs runs may be started with (`--callback-allow`).
    pub callbacks: Arc<callbacks::CallbackPolicy>,
}

/// What the API is set up with besides what `open_engine` built (`techpack serve`'s flags).
pub struct ApiOptions {
    pub workflows_dir: PathBuf,
    /// The admin's bearer token; `None` or empty: no admin endpoints.
    pub admin_token: Option<String>,
    pub max_body: usize,
    pub request_timeout: Duration,
    pub callbacks: callbacks::CallbackPolicy,
}

impl AppState {
    /// The state the handlers share, over an opened engine (not watching the workflows
    /// folder yet: [`serve`] starts that).
    pub fn new(opened: crate::wiring::Opened, options: ApiOptions) -> AppState {
        let crate::wiring::Opened {
            engine,
            users,
            services,
            idempotency,
            sessions,
        } = opened;
        AppState {
            services,
            users,
            workflows: WorkflowFolder::open(&options.workflows_dir, engine.registry().clone()),
            admin_token: options.admin_token.filter(|t| !t.is_empty()),
            idempotency,
            tasks: TaskTracker::new(),
            max_body: options.max_body,
            request_timeout: options.request_timeout,
            sessions,
            callbacks: Arc::new(options.callbacks),
            engine,
        }
    }

    /// Executes a run in the background, tracked for shutdown; when it ends, starts the
    /// queued runs its slot (or any other) was waiting for.
    pub fn spawn_run(&self, run_id: String) {
        self.spawn_execution(run_id, None);
    }

    /// As [`AppState::spawn_run`], for the run this request just created (`run` is the record
    /// the engine returned, so executing it reads nothing back).
    pub fn spawn_created_run(&self, run: RunRecord) {
        self.spawn_execution(run.id.clone(), Some(run));
    }

    fn spawn_execution(&self, run_id: String, created: Option<RunRecord>) {
        let state = self.clone();
        self.tasks.spawn(async move {
            let executed = match created {
                Some(run) => state.engine.execute_created(run).await,
                None => state.engine.execute(&run_id).await,
            };
            if let Err(error) = executed {
                tracing::warn!(run = %run_id, %error, "run stopped");
            }
            if state.engine.queued_runs_may_wait() {
                state.start_admitted().await;
            }
        });
    }

    /// Executes the queued runs that concurrency limits now leave a slot for (none once the
    /// server is shutting down: they stay queued for the next start).
    pub async fn start_admitted(&self) {
        if self.tasks.is_closed() {
            return;
        }
        let engine = self.engine.clone();
        match tokio::task::spawn_blocking(move || engine.admit_queued()).await {
            Ok(Ok(admitted)) => {
                for run in admitted {
                    tracing::info!(%run, "starting a queued run");
                    self.spawn_run(run);
                }
            }
            Ok(Err(error)) => tracing::warn!(%error, "could not start queued runs"),
            Err(error) => tracing::warn!(%error, "starting queued runs panicked"),
        }
    }
}

pub async fn serve(args: ServeArgs, plugin_dirs: &[std::path::PathBuf]) -> anyhow::Result<Exit> {
    let file_roots = techpack_engine::step::FileRoots::new(&args.allow_read, &args.allow_write)
        .context("an --allow-read or --allow-write folder cannot be used")?;
    let options = crate::wiring::EngineOptions {
        durability: Default::default(),
        providers: args.providers.defaults(),
        file_roots: Arc::new(file_roots),
        plugin_dirs: plugin_dirs.to_vec(),
    };
    let budget = techpack_steps::work_budget::MemoryBudget::new(
        args.memory_budget_mib * 1024 * 1024,
        args.memory_wait,
    );
    let opened = crate::wiring::open_engine_with_budget(&args.data_dir, options, Arc::new(budget))?;
    let state = AppState::new(
        opened.clone(),
        ApiOptions {
            workflows_dir: args.workflows_dir.clone(),
            admin_token: args.admin_token.clone(),
            max_body: args.max_body_mib * 1024 * 1024,
            request_timeout: args.request_timeout,
            callbacks: callbacks::CallbackPolicy::new(
                args.callback_allow.clone(),
                args.callback_allow_http,
            ),
        },
    );
    state.workflows.clone().watch();

    let stop_sweeping = tokio_util::sync::CancellationToken::new();
    tokio::spawn(techpack_engine::credits::sweep_periodically(
        state.engine.store().clone(),
        Duration::from_secs(60),
        stop_sweeping.clone(),
    ));

    // Completion callbacks queued by runs that ended, here or (before a restart, or on
    // another worker) elsewhere.
    let stop_sending = tokio_util::sync::CancellationToken::new();
    let sender = callbacks::Sender {
        engine: state.engine.clone(),
        users: state.users.clone(),
        policy: state.callbacks.clone(),
        retry_for: args.callback_retry_for,
    };
    tokio::spawn(sender.run(stop_sending.clone()));

    // The operator's CLI asks this server while it holds the data directory.
    let stop_control = tokio_util::sync::CancellationToken::new();
    let control_state = state.clone();
    let control_opened = opened;
    let listening = crate::control::socket::listen(
        &args.data_dir.path(),
        move |request| {
            let (state, opened) = (control_state.clone(), control_opened.clone());
            async move {
                let resume = |id: String| state.spawn_run(id);
                crate::control::answer(&opened, Some(&resume), request).await
            }
        },
        stop_control.clone(),
    );
    if let Err(error) = listening {
        tracing::warn!(error = %format!("{error:#}"), "no control socket: the CLI cannot reach this server");
    }

    // Alone on its store, a server resumes every unfinished run now. Sharing it with other
    // workers, it takes the runs whose worker stopped renewing their lease, now and every
    // second, and cancels its runs that another worker was asked to cancel.
    let unfinished = match state.engine.store().shared() {
        false => state.engine.unfinished_runs()?,
        true => Vec::new(),
    };
    for run in &unfinished {
        tracing::info!(run = %run.id, workflow = %run.workflow_name, "resuming an unfinished run");
        state.spawn_run(run.id.clone());
    }
    let stop_taking_over = tokio_util::sync::CancellationToken::new();
    if state.engine.store().shared() {
        tokio::spawn(take_over_runs(state.clone(), stop_taking_over.clone()));
    }
    // Queued runs start as slots free: at once when a run of this process ends, and here for
    // the rest (runs queued before a restart, slots freed by another worker).
    let stop_admitting = tokio_util::sync::CancellationToken::new();
    tokio::spawn(admit_periodically(state.clone(), stop_admitting.clone()));

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    println!(
        "techpack listening on http://{addr} ({} unfinished runs resumed)",
        unfinished.len()
    );
    tracing::info!(%addr, "listening");

    axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    // No new requests; let running runs finish, up to the grace period. Whatever is still
    // running then is left as it is in the store: resumable at the next start.
    state.tasks.close();
    if tokio::time::timeout(args.shutdown_grace, state.tasks.wait())
        .await
        .is_err()
    {
        let left: Vec<String> = state.engine.active_runs();
        tracing::warn!(runs = ?left, "shutdown grace over; these runs stay resumable");
        eprintln!(
            "stopping with {} runs unfinished; they resume at the next start",
            left.len()
        );
    }
    stop_sweeping.cancel();
    stop_sending.cancel();
    stop_control.cancel();
    stop_taking_over.cancel();
    stop_admitting.cancel();
    Ok(Exit::Success)
}

/// How often queued runs are looked at besides when a run of this process ends.
const ADMISSION_POLL: Duration = Duration::from_millis(500);

async fn admit_periodically(state: AppState, stop: tokio_util::sync::CancellationToken) {
    loop {
        state.start_admitted().await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ADMISSION_POLL) => {}
        }
    }
}

/// Workers sharing a store: resume the runs whose worker died (its lease ran out), and cancel
/// this worker's runs that a request to another worker asked to cancel.
async fn take_over_runs(state: AppState, stop: tokio_util::sync::CancellationToken) {
    loop {
        let store = state.engine.store().clone();
        match tokio::task::spawn_blocking(move || store.claim_expired(32)).await {
            Ok(Ok(runs)) => {
                for run in runs {
                    tracing::info!(run = %run, "taking over a run whose worker stopped");
                    state.spawn_run(run);
                }
            }
            Ok(Err(error)) => tracing::warn!(%error, "could not claim expired runs"),
            Err(error) => tracing::warn!(%error, "claiming expired runs panicked"),
        }
        for run in state.engine.store().take_cancel_requests() {
            state.engine.cancel(&run);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    eprintln!("shutting down: no new requests; waiting for running runs");
}
