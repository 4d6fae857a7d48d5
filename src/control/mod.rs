//! The operator's local channel to a running server. While `techpack serve` holds an
//! embedded data directory, no other process may open its store; the CLI's read and admin
//! commands (`runs list|show|cancel|resume`, `logs`, `users create|grant|show`) then ask the
//! server instead, over a Unix socket in the data directory that only the directory's owner
//! can use (mode 0600, and the peer's uid checked on every connection).
//!
//! One JSON line each way: a [`Request`], then a [`Reply`]. The same [`answer`] serves the
//! socket and the CLI when it holds the store itself, so both say the same.
//!
//! # Layout
//! - `socket`: the listener the server runs and the client the CLI uses.

pub mod socket;

use serde::{Deserialize, Serialize};
use techpack_engine::credits::{Balance, Ledger, LedgerEntry};
use techpack_engine::{Engine, NodeRecord, RunRecord, RunReport};
use techpack_steps::storage::AiOperation;

use crate::wiring::Opened;

/// The socket's name in the data directory.
pub const SOCKET_NAME: &str = "control.sock";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    RunsList,
    RunsShow {
        run: String,
    },
    RunsCancel {
        run: String,
    },
    /// Resume one unfinished run, or every one that is not executing.
    RunsResume {
        run: Option<String>,
    },
    Logs {
        run: Option<String>,
    },
    UsersCreate {
        name: String,
        credits: u64,
    },
    UsersGrant {
        name: String,
        amount: u64,
        operation_id: Option<String>,
    },
    UsersShow {
        name: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    Runs(Vec<RunRecord>),
    Report {
        run: Box<RunRecord>,
        nodes: Vec<NodeRecord>,
    },
    /// The runs the server started resuming.
    Resumed(Vec<String>),
    Logs(Vec<AiOperation>),
    /// A new user's bearer token, shown once.
    Token(String),
    Balance {
        name: String,
        balance: Balance,
        entries: Vec<LedgerEntry>,
    },
    /// The request failed; the message is the one the CLI would print itself.
    Error(String),
}

impl Reply {
    fn report(report: RunReport) -> Reply {
        Reply::Report {
            run: Box::new(report.run),
            nodes: report.nodes,
        }
    }

    /// The reply as a result: `Reply::Error` becomes an error with its message.
    pub fn ok(self) -> anyhow::Result<Reply> {
        match self {
            Reply::Error(message) => Err(anyhow::anyhow!(message)),
            reply => Ok(reply),
        }
    }
}

/// Answers a request from the store the engine holds. `resume` starts a run executing (the
/// server's tracked tasks); without it, resuming is the caller's business.
pub async fn answer(
    opened: &Opened,
    resume: Option<&(dyn Fn(String) + Sync)>,
    request: Request,
) -> Reply {
    match answer_or_fail(opened, resume, request).await {
        Ok(reply) => reply,
        Err(error) => Reply::Error(format!("{error:#}")),
    }
}

async fn answer_or_fail(
    opened: &Opened,
    resume: Option<&(dyn Fn(String) + Sync)>,
    request: Request,
) -> anyhow::Result<Reply> {
    let Opened {
        engine,
        users,
        services,
        ..
    } = opened;
    let ledger = Ledger::new(engine.store().as_ref());
    Ok(match request {
        Request::RunsList => Reply::Runs(engine.store().runs()?),
        Request::RunsShow { run } => Reply::report(engine.report(&run)?),
        Request::RunsCancel { run } => {
            if engine.cancel(&run) {
                Reply::report(engine.report(&run)?)
            } else {
                Reply::report(engine.cancel_stored(&run).await?)
            }
        }
        Request::RunsResume { run } => {
            let resume =
                resume.ok_or_else(|| anyhow::anyhow!("this process cannot resume runs"))?;
            let active = engine.active_runs();
            let ids = match run {
                Some(id) => {
                    let report = engine.report(&id)?;
                    if report.run.status.is_finished() {
                        anyhow::bail!(
                            "run `{id}` has already finished ({}); start a new run instead",
                            report.run.status.as_str()
                        );
                    }
                    if active.contains(&id) {
                        anyhow::bail!("run `{id}` is already being executed by the server");
                    }
                    vec![id]
                }
                None => engine
                    .unfinished_runs()?
                    .into_iter()
                    .map(|r| r.id)
                    .filter(|id| !active.contains(id))
                    .collect(),
            };
            for id in &ids {
                resume(id.clone());
            }
            Reply::Resumed(ids)
        }
        Request::Logs { run } => Reply::Logs(services.catalog.ai_log.list(run.as_deref(), None)?),
        Request::UsersCreate { name, credits } => {
            let (user, token) = users.create(&name)?;
            if credits > 0 {
                ledger.grant(&user.name, credits, &format!("create-user:{}", user.id))?;
            }
            // The token is shown once: the user must be on disk before it is.
            engine.store().flush()?;
            Reply::Token(token)
        }
        Request::UsersGrant {
            name,
            amount,
            operation_id,
        } => {
            users.get(&name)?;
            let op = operation_id.unwrap_or_else(|| format!("grant:{}", uuid::Uuid::now_v7()));
            ledger.grant(&name, amount, &op)?;
            engine.store().flush()?;
            balance(engine, name)?
        }
        Request::UsersShow { name } => {
            users.get(&name)?;
            balance(engine, name)?
        }
    })
}

fn balance(engine: &Engine, name: String) -> anyhow::Result<Reply> {
    let ledger = Ledger::new(engine.store().as_ref());
    Ok(Reply::Balance {
        balance: ledger.balance(&name)?,
        entries: ledger.entries(&name)?,
        name,
    })
}
