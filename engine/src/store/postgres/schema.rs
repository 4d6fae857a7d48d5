//! The engine's tables in PostgreSQL (component `engine` of `schema_migrations`).
//!
//! Each record is kept whole as `record jsonb` (what the engine reads back) beside real
//! columns for everything an operator or a query selects on. Money rules are constraints,
//! not only code: balances never go below zero, an entry never moves a negative amount, a
//! reservation is reserved once and resolved (posted, voided or expired) once.

use super::Migration;

pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: r#"
CREATE TABLE workflows (
    sha256 text PRIMARY KEY,
    source text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE runs (
    id text PRIMARY KEY,
    workflow_name text NOT NULL,
    workflow_sha256 text NOT NULL REFERENCES workflows (sha256),
    status text NOT NULL,
    owner text,
    created_at bigint NOT NULL,
    finished_at bigint,
    parent_run_id text,
    record jsonb NOT NULL
);
CREATE INDEX runs_by_owner ON runs (owner, id DESC);
CREATE INDEX runs_unfinished ON runs (id) WHERE status IN ('pending', 'running');

-- Which worker executes a run. Every write of the owner checks its fence in the same
-- transaction (SELECT ... FOR SHARE); a takeover bumps the fence, so a worker that was paused
-- past its lease writes nothing for that run again.
CREATE TABLE run_leases (
    run_id text PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    owner text NOT NULL,
    fence bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    cancel_requested boolean NOT NULL DEFAULT false
);
CREATE INDEX run_leases_by_owner ON run_leases (owner);
CREATE INDEX run_leases_by_expiry ON run_leases (expires_at);

CREATE TABLE nodes (
    run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id text NOT NULL,
    status text NOT NULL,
    attempt integer NOT NULL,
    round integer NOT NULL,
    idempotency_key text NOT NULL,
    error text,
    record jsonb NOT NULL,
    PRIMARY KEY (run_id, step_id)
);

CREATE TABLE accounts (
    user_name text PRIMARY KEY,
    available bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
    pending bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
    posted bigint NOT NULL DEFAULT 0 CHECK (posted >= 0),
    granted bigint NOT NULL DEFAULT 0 CHECK (granted >= 0),
    entries bigint NOT NULL DEFAULT 0 CHECK (entries >= 0),
    CHECK (granted = available + pending + posted)
);

CREATE SEQUENCE ledger_seq AS bigint;

CREATE TABLE ledger_entries (
    seq bigint PRIMARY KEY,
    op_id text NOT NULL UNIQUE,
    kind text NOT NULL CHECK (kind IN ('grant', 'reserve', 'post', 'void', 'expire', 'renew')),
    user_name text NOT NULL,
    amount bigint NOT NULL CHECK (amount >= 0),
    from_account text NOT NULL,
    to_account text NOT NULL,
    reservation_id text,
    run_id text,
    step_id text,
    at bigint NOT NULL,
    expires_at bigint,
    record jsonb NOT NULL,
    CHECK (kind = 'grant' OR reservation_id IS NOT NULL)
);
CREATE INDEX ledger_entries_by_user ON ledger_entries (user_name, seq);
-- I3: a reservation is reserved once and resolved once.
CREATE UNIQUE INDEX ledger_entries_one_reserve ON ledger_entries (reservation_id)
    WHERE kind = 'reserve';
CREATE UNIQUE INDEX ledger_entries_one_resolution ON ledger_entries (reservation_id)
    WHERE kind IN ('post', 'void', 'expire');

-- Reservations ("holds" in ledger terms).
CREATE TABLE holds (
    id text PRIMARY KEY,
    user_name text NOT NULL,
    amount bigint NOT NULL CHECK (amount >= 0),
    state text NOT NULL CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
    run_id text NOT NULL,
    step_id text NOT NULL,
    reserved_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    resolved_at bigint,
    record jsonb NOT NULL,
    CHECK ((state = 'pending') = (resolved_at IS NULL))
);
CREATE INDEX holds_pending_by_expiry ON holds (expires_at, id) WHERE state = 'pending';
CREATE INDEX holds_by_step ON holds (run_id, step_id);

CREATE TABLE ledger_operations (
    op_id text PRIMARY KEY,
    params text NOT NULL,
    seq bigint NOT NULL
);
"#,
    },
    Migration {
        version: 2,
        sql: r#"
-- What `GET /api/runs/{id}/events` streams on any worker: one row per node or run
-- transition, written in that transition's transaction; `seq` is the stream's event id.
CREATE TABLE run_events (
    seq bigserial PRIMARY KEY,
    run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id text,
    status text NOT NULL,
    attempt integer NOT NULL,
    message text,
    at bigint NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, seq);
"#,
    },
    Migration {
        version: 3,
        sql: r#"
-- Completion callbacks' outbox: a row per end of a run with a callback, inserted in the
-- transaction of the run's final state (the primary key `run_id#round` makes a second one
-- impossible). Senders claim due rows with FOR UPDATE SKIP LOCKED and hold them until
-- `next_attempt_at`; only the holder of `claim` saves an attempt.
CREATE TABLE callback_deliveries (
    id text PRIMARY KEY,
    run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),
    next_attempt_at bigint NOT NULL,
    claim text,
    record jsonb NOT NULL
);
CREATE INDEX callback_deliveries_due ON callback_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX callback_deliveries_by_run ON callback_deliveries (run_id);
"#,
    },
    Migration {
        version: 4,
        sql: r#"
-- Concurrency limits count a workflow's unfinished runs (pending and running hold slots,
-- queued ones wait); admissions take the advisory lock of the workflow's name, so that the
-- count and what it decides are one step across workers.
CREATE INDEX runs_contending ON runs (workflow_name, id)
    WHERE status IN ('pending', 'running', 'queued');
"#,
    },
    Migration {
        version: 5,
        sql: r#"
-- The fence check of a run's writes as one statement that fails (SQLSTATE TPF01) when this
-- worker no longer holds the lease, so it can be sent with the writes it guards instead of
-- being waited for first. FOR SHARE: writes of the same run do not block each other, and a
-- takeover (which updates the row) waits for the writes in flight.
CREATE FUNCTION techpack_hold_lease(run text, worker text, held_fence bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM run_leases
    WHERE run_id = run AND owner = worker AND fence = held_fence FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % is no longer held by this worker', run USING ERRCODE = 'TPF01';
    END IF;
END
$$;

-- Every finished run asks for the queued runs: an index of those alone, which runs passing
-- through pending and running to their end never enter (runs_contending grows dead entries
-- for every one of them until a vacuum, and a query on it cost ~3 ms after 10k runs).
CREATE INDEX runs_queued ON runs (id) WHERE status = 'queued';

-- One row per worker, written by every flush of the store: a synchronous commit that writes,
-- whose WAL flush covers every commit before it (transitions commit without waiting).
CREATE TABLE worker_flushes (
    worker text PRIMARY KEY,
    at timestamptz NOT NULL
);
"#,
    },
    Migration {
        version: 6,
        sql: r#"
-- Each attempt's log lines (bounded by the engine: see `step::log`), one row per attempt,
-- written when the attempt ends.
CREATE TABLE attempt_logs (
    run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id text NOT NULL,
    attempt integer NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (run_id, step_id, attempt)
);

-- A page of a user's runs of one workflow, newest first (`runs_by_owner` serves the others).
CREATE INDEX runs_by_owner_workflow ON runs (owner, workflow_name, id DESC);
"#,
    },
];
