//! [`PgPool`]: a small pool of PostgreSQL connections for synchronous callers.
//!
//! The stores are synchronous (a transition is a function call, as with the embedded store),
//! while the PostgreSQL client is asynchronous. The pool owns a one-thread tokio runtime that
//! drives every connection's socket; callers wait for query results with
//! [`futures::executor::block_on`] on their own thread, which never needs a tokio context, so
//! the stores can be called from async tasks, blocking threads and plain threads alike.
//!
//! Every connection has `statement_timeout` and `idle_in_transaction_session_timeout` set, and
//! caches the statements it prepared. [`PgPool::transaction`] retries a transaction that
//! PostgreSQL aborted for a serialization failure or a deadlock (SQLSTATE 40001, 40P01) with
//! jittered back-off.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// A query parameter.
pub type Param<'a> = &'a (dyn ToSql + Sync);

/// What went wrong talking to PostgreSQL. Its text never includes the connection URL.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PgError {
    /// The URL given with `--database-url` is not a PostgreSQL URL.
    #[error("the database URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(String),
    /// No connection could be opened (server down, wrong credentials, ...).
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    /// Every connection stayed busy for the pool's wait limit.
    #[error("no PostgreSQL connection became free within {0:?}")]
    PoolTimeout(Duration),
    /// A statement failed.
    #[error("PostgreSQL: {message}")]
    Query {
        message: String,
        /// The SQLSTATE, e.g. `23505` for a unique violation.
        code: Option<String>,
    },
}

impl PgError {
    fn from_client(error: tokio_postgres::Error) -> PgError {
        let code = error.code().map(|c| c.code().to_string());
        let message = match error.as_db_error() {
            Some(db) => db.message().to_string(),
            None => error.to_string(),
        };
        PgError::Query { message, code }
    }

    /// True when running the transaction again from the start is correct: PostgreSQL aborted
    /// it for a serialization failure or a deadlock, or a concurrent transaction committed the
    /// unique key this one read as absent (check-then-insert: the retry reads it).
    pub fn is_retryable(&self) -> bool {
        matches!(self, PgError::Query { code: Some(code), .. }
            if code == SqlState::T_R_SERIALIZATION_FAILURE.code()
                || code == SqlState::T_R_DEADLOCK_DETECTED.code()
                || code == SqlState::UNIQUE_VIOLATION.code())
    }

    /// The SQLSTATE PostgreSQL answered with, if it answered.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Query { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// True for a unique or exclusion constraint violation (SQLSTATE 23505).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, PgError::Query { code: Some(code), .. } if code == SqlState::UNIQUE_VIOLATION.code())
    }
}

/// How a pool is opened.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub size: usize,
    /// How long [`PgPool::get`] waits for a free connection.
    pub wait: Duration,
    /// `statement_timeout` of every connection.
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout` of every connection.
    pub idle_in_transaction_timeout: Duration,
    /// `application_name`, shown in `pg_stat_activity`.
    pub application_name: String,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 8,
            wait: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30),
            idle_in_transaction_timeout: Duration::from_secs(60),
            application_name: "techpack".into(),
        }
    }
}

/// One open connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct Inner {
    config: tokio_postgres::Config,
    options: PoolOptions,
    idle: Mutex<Idle>,
    freed: Condvar,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
}

struct Idle {
    connections: Vec<Connection>,
    /// Connections open, idle or lent.
    open: usize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async caller may not do; the connection tasks
        // have nothing left to finish once every client is gone.
        if let Some(runtime) = self.runtime.lock().map(|mut r| r.take()).ok().flatten() {
            runtime.shutdown_background();
        }
    }
}

/// A pool of connections to one database. Cheap to clone.
#[derive(Clone)]
pub struct PgPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool")
            .field("application_name", &self.inner.options.application_name)
            .field("size", &self.inner.options.size)
            .finish()
    }
}

impl PgPool {
    /// Opens a pool on `url` (`postgres://user:password@host:port/db` or the key=value form)
    /// and one connection, to fail early when the database cannot be reached.
    pub fn connect(url: &str, options: PoolOptions) -> Result<PgPool, PgError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| PgError::BadUrl(e.to_string()))?;
        config.application_name(&options.application_name);
        config.options(format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            options.statement_timeout.as_millis(),
            options.idle_in_transaction_timeout.as_millis()
        ));
        config.connect_timeout(Duration::from_secs(10));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("techpack-postgres")
            .enable_all()
            .build()
            .map_err(|e| PgError::Connect(format!("cannot start its I/O thread: {e}")))?;
        let handle = runtime.handle().clone();
        let pool = PgPool {
            inner: Arc::new(Inner {
                config,
                options,
                idle: Mutex::new(Idle {
                    connections: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
                runtime: Mutex::new(Some(runtime)),
                handle,
            }),
        };
        let first = pool.open_connection()?;
        {
            let mut idle = pool.inner.idle.lock().expect("pool lock");
            idle.open += 1;
            idle.connections.push(first);
        }
        Ok(pool)
    }

    fn open_connection(&self) -> Result<Connection, PgError> {
        let config = self.inner.config.clone();
        let connecting = self.inner.handle.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!("a PostgreSQL connection ended: {e}");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = block_on(connecting)
            .map_err(|e| PgError::Connect(e.to_string()))?
            .map_err(|e| match e.as_db_error() {
                Some(db) => PgError::Connect(db.message().to_string()),
                None => PgError::Connect(e.to_string()),
            })?;
        Ok(Connection {
            client,
            statements: HashMap::new(),
        })
    }

    /// A connection for the caller's use, waiting up to the pool's limit for one to be free.
    pub fn get(&self) -> Result<PgConn, PgError> {
        let deadline = Instant::now() + self.inner.options.wait;
        let mut idle = self.inner.idle.lock().expect("pool lock");
        loop {
            while let Some(connection) = idle.connections.pop() {
                if connection.client.is_closed() {
                    idle.open -= 1;
                    continue;
                }
                return Ok(PgConn {
                    connection: Some(connection),
                    pool: self.clone(),
                });
            }
            if idle.open < self.inner.options.size {
                idle.open += 1;
                drop(idle);
                return match self.open_connection() {
                    Ok(connection) => Ok(PgConn {
                        connection: Some(connection),
                        pool: self.clone(),
                    }),
                    Err(e) => {
                        self.inner.idle.lock().expect("pool lock").open -= 1;
                        self.inner.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PgError::PoolTimeout(self.inner.options.wait));
            }
            idle = self
                .inner
                .freed
                .wait_timeout(idle, deadline - now)
                .expect("pool lock")
                .0;
        }
    }

    /// Runs `work` in one transaction (READ COMMITTED) and commits it. When PostgreSQL aborts
    /// it for a serialization failure or a deadlock, it runs again from the start (up to 8
    /// times, with jittered back-off), so `work` must derive its writes from what it reads.
    pub fn transaction<T, E>(
        &self,
        work: impl FnMut(&mut PgTxn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<PgError>,
    {
        blocking(|| self.transaction_here(work))
    }

    fn transaction_here<T, E>(
        &self,
        mut work: impl FnMut(&mut PgTxn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<PgError>,
    {
        let mut conn = self.get()?;
        for attempt in 0u32.. {
            let connection = conn.connection.as_mut().expect("a lent connection");
            let mut txn = PgTxn {
                client: &connection.client,
                statements: &mut connection.statements,
                begun: false,
                relaxed: false,
                deferred: Vec::new(),
                failure: None,
            };
            let outcome = work(&mut txn);
            let result = match (outcome, txn.failure.take()) {
                (Ok(value), None) => match txn.commit() {
                    Ok(()) => return Ok(value),
                    Err(e) => e,
                },
                (Ok(_), Some(failure)) => failure,
                (Err(e), Some(failure)) if failure.is_retryable() => {
                    drop(e);
                    failure
                }
                (Err(e), _) => {
                    txn.rollback();
                    return Err(e);
                }
            };
            txn.rollback();
            if !result.is_retryable() || attempt >= 7 {
                return Err(result.into());
            }
            let backoff = 2u64.pow(attempt.min(6)) * 2;
            std::thread::sleep(Duration::from_millis(fastrand::u64(1..=backoff)));
        }
        unreachable!("the retry loop returns")
    }

    /// Runs one statement outside a transaction; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, PgError> {
        blocking(|| self.get()?.execute(sql, params))
    }

    /// Runs one query outside a transaction.
    pub fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, PgError> {
        blocking(|| self.get()?.query(sql, params))
    }

    /// Runs one query that returns at most one row.
    pub fn query_opt(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, PgError> {
        blocking(|| self.get()?.query_opt(sql, params))
    }

    /// Runs `future` on the pool's I/O runtime (for `LISTEN` streams and the like).
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.handle.spawn(future)
    }
}

/// Runs `f`, which waits for PostgreSQL. On a worker of a multi-threaded tokio runtime the
/// runtime is told first (`block_in_place`), so its other tasks move to another thread and
/// many transactions can wait for their commit at once; elsewhere `f` just runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A connection lent by a [`PgPool`]; back to the pool when dropped.
pub struct PgConn {
    connection: Option<Connection>,
    pool: PgPool,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let mut idle = self.pool.inner.idle.lock().expect("pool lock");
            if connection.client.is_closed() {
                idle.open -= 1;
            } else {
                idle.connections.push(connection);
            }
            drop(idle);
            self.pool.inner.freed.notify_one();
        }
    }
}

impl PgConn {
    fn parts(&mut self) -> (&Client, &mut HashMap<String, Statement>) {
        let connection = self.connection.as_mut().expect("a lent connection");
        (&connection.client, &mut connection.statements)
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, PgError> {
        let (client, statements) = self.parts();
        if let Some(statement) = statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = block_on(client.prepare(sql)).map_err(PgError::from_client)?;
        statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, PgError> {
        let statement = self.statement(sql)?;
        block_on(self.parts().0.execute(&statement, params)).map_err(PgError::from_client)
    }

    pub fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, PgError> {
        let statement = self.statement(sql)?;
        block_on(self.parts().0.query(&statement, params)).map_err(PgError::from_client)
    }

    pub fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, PgError> {
        let statement = self.statement(sql)?;
        block_on(self.parts().0.query_opt(&statement, params)).map_err(PgError::from_client)
    }

    /// Runs several statements separated by `;`, without parameters (schema migrations).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        block_on(self.parts().0.batch_execute(sql)).map_err(PgError::from_client)
    }
}

/// An owned statement parameter, for a statement sent later ([`PgTxn::defer`]).
pub type OwnedParam = Box<dyn ToSql + Sync + Send>;

/// An open transaction of [`PgPool::transaction`]. A failed statement aborts the whole
/// transaction in PostgreSQL; the pool then rolls it back (and retries it when retryable)
/// whatever `work` returned.
///
/// Nothing waits for a round trip it does not need: `BEGIN` goes out with the first
/// statement, and statements whose answer the caller does not read ([`PgTxn::defer`]) go out
/// with the next statement that is waited for, or with `COMMIT` — a transaction of deferred
/// writes is one round trip to the server (pipelining; every statement keeps its own
/// extended-protocol `Sync`, so one failing aborts the transaction and the rest are refused).
pub struct PgTxn<'c> {
    client: &'c Client,
    statements: &'c mut HashMap<String, Statement>,
    /// `BEGIN` was sent.
    begun: bool,
    /// Commits without waiting for the WAL flush ([`PgTxn::relax`]).
    relaxed: bool,
    deferred: Vec<(Statement, Vec<OwnedParam>)>,
    /// The first statement that failed (the transaction is aborted from there on).
    failure: Option<PgError>,
}

/// What one statement of a pipelined flight answered.
enum Answer {
    Done,
    Count(u64),
    Rows(Vec<Row>),
}

type Request<'a> = Pin<Box<dyn Future<Output = Result<Answer, tokio_postgres::Error>> + Send + 'a>>;

/// Sends `requests` back to back without waiting for each answer — each is sent when it is
/// first polled, and they are first polled in order — then waits for every answer.
fn fly(requests: Vec<Request<'_>>) -> Vec<Result<Answer, tokio_postgres::Error>> {
    let mut pending: Vec<Option<Request<'_>>> = requests.into_iter().map(Some).collect();
    let mut answers: Vec<Option<Result<Answer, tokio_postgres::Error>>> =
        pending.iter().map(|_| None).collect();
    block_on(futures::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, answer) in pending.iter_mut().zip(answers.iter_mut()) {
            if let Some(request) = slot {
                match request.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        *answer = Some(result);
                        *slot = None;
                    }
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    }));
    answers
        .into_iter()
        .map(|answer| answer.expect("every request of a flight is answered"))
        .collect()
}

/// What the caller of a waited-for statement wants back.
enum Want {
    Count,
    Rows,
}

/// The request that ends a flight.
enum Last<'s, 'p> {
    Nothing,
    Count(&'s Statement, &'s [Param<'p>]),
    Rows(&'s Statement, &'s [Param<'p>]),
    Commit,
}

impl<'c> PgTxn<'c> {
    fn statement(&mut self, sql: &str) -> Result<Statement, PgError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = block_on(self.client.prepare(sql)).map_err(PgError::from_client)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Sends, in one flight, `BEGIN` if not sent yet, the deferred writes and `last`, then
    /// waits for every answer. Returns `last`'s answer, or the flight's first error (after a
    /// failed statement PostgreSQL refuses the rest, and answers `COMMIT` with a rollback).
    fn fly_with(&mut self, last: Last<'_, '_>) -> Result<Answer, PgError> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let client = self.client;
        let deferred = std::mem::take(&mut self.deferred);
        let mut requests: Vec<Request<'_>> = Vec::with_capacity(deferred.len() + 2);
        if !self.begun {
            self.begun = true;
            let begin = match self.relaxed {
                true => "BEGIN; SET LOCAL synchronous_commit = off",
                false => "BEGIN",
            };
            requests.push(Box::pin(async move {
                client.batch_execute(begin).await.map(|()| Answer::Done)
            }));
        }
        for (statement, params) in &deferred {
            requests.push(Box::pin(async move {
                let params: Vec<Param<'_>> =
                    params.iter().map(|p| p.as_ref() as Param<'_>).collect();
                client.execute(statement, &params).await.map(Answer::Count)
            }));
        }
        match last {
            Last::Nothing => {}
            Last::Count(statement, params) => requests.push(Box::pin(async move {
                client.execute(statement, params).await.map(Answer::Count)
            })),
            Last::Rows(statement, params) => requests.push(Box::pin(async move {
                client.query(statement, params).await.map(Answer::Rows)
            })),
            Last::Commit => requests.push(Box::pin(async move {
                client.batch_execute("COMMIT").await.map(|()| Answer::Done)
            })),
        }
        let mut outcome = Ok(Answer::Done);
        for answer in fly(requests) {
            match answer {
                Err(e) if outcome.is_ok() => outcome = Err(PgError::from_client(e)),
                Err(_) => {}
                Ok(answer) => {
                    if outcome.is_ok() {
                        outcome = Ok(answer);
                    }
                }
            }
        }
        outcome.map_err(|e| self.note(e))
    }

    fn send(&mut self, sql: &str, params: &[Param<'_>], want: Want) -> Result<Answer, PgError> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let statement = self.statement(sql).map_err(|e| self.note(e))?;
        match want {
            Want::Count => self.fly_with(Last::Count(&statement, params)),
            Want::Rows => self.fly_with(Last::Rows(&statement, params)),
        }
    }

    /// Records the transaction's first failure and gives the error back.
    fn note(&mut self, error: PgError) -> PgError {
        if self.failure.is_none() {
            self.failure = Some(error.clone());
        }
        error
    }

    /// Lets this transaction's `COMMIT` return before its WAL record is on disk
    /// (`synchronous_commit = off` for it alone). A crash of the server may then lose it —
    /// whole, never in part — until a later synchronous commit of any session, whose flush
    /// covers every commit before it (the store's [`flush`](crate::store::StateStore::flush)).
    /// Call it before the first statement.
    pub fn relax(&mut self) {
        debug_assert!(!self.begun, "relax() after the transaction began");
        self.relaxed = true;
    }

    /// Queues a write whose answer nobody reads; it is sent with the next statement that is
    /// waited for, or with `COMMIT`. A failure fails the transaction at that point.
    pub fn defer(&mut self, sql: &str, params: Vec<OwnedParam>) -> Result<(), PgError> {
        let statement = self.statement(sql).map_err(|e| self.note(e))?;
        self.deferred.push((statement, params));
        Ok(())
    }

    pub fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, PgError> {
        match self.send(sql, params, Want::Count)? {
            Answer::Count(count) => Ok(count),
            _ => Ok(0),
        }
    }

    pub fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, PgError> {
        match self.send(sql, params, Want::Rows)? {
            Answer::Rows(rows) => Ok(rows),
            _ => Ok(Vec::new()),
        }
    }

    pub fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, PgError> {
        let mut rows = self.query(sql, params)?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(self.note(PgError::Query {
                message: format!("a query expected to return at most one row returned {n}"),
                code: None,
            })),
        }
    }

    pub fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Row, PgError> {
        match self.query_opt(sql, params)? {
            Some(row) => Ok(row),
            None => Err(self.note(PgError::Query {
                message: "a query expected to return one row returned none".into(),
                code: None,
            })),
        }
    }

    /// Runs several statements separated by `;`, without parameters.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        self.fly_with(Last::Nothing)?;
        let result = block_on(self.client.batch_execute(sql)).map_err(PgError::from_client);
        result.map_err(|e| self.note(e))
    }

    /// Sends what is left and `COMMIT` in one flight. A transaction that sent nothing has
    /// nothing to commit.
    fn commit(&mut self) -> Result<(), PgError> {
        if !self.begun && self.deferred.is_empty() {
            return Ok(());
        }
        self.fly_with(Last::Commit)?;
        self.begun = false;
        Ok(())
    }

    /// Ends a transaction that will not commit (nothing to do if nothing was sent).
    fn rollback(&mut self) {
        self.deferred.clear();
        if std::mem::take(&mut self.begun) {
            let _ = block_on(self.client.batch_execute("ROLLBACK"));
        }
    }
}
