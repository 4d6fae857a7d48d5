//! Embedded schema migrations. Each part that keeps tables in PostgreSQL (the engine, the
//! catalog, the users) owns an ordered list of SQL scripts; [`migrate`] applies the ones a
//! database has not seen yet, each in its own transaction, recorded in
//! `schema_migrations (component, version)`. Workers starting together serialize on an
//! advisory lock, so a script runs once.

use super::pool::{PgError, PgPool};

/// One schema change: its version (1, 2, ... in order) and its SQL.
pub struct Migration {
    pub version: i32,
    pub sql: &'static str,
}

/// Applies `component`'s migrations that the database lacks, in order.
pub fn migrate(pool: &PgPool, component: &str, migrations: &[Migration]) -> Result<(), PgError> {
    pool.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             component text NOT NULL,
             version integer NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (component, version))",
        &[],
    )
    .or_else(|e| match e.is_unique_violation() {
        // Two workers creating the table at once: one of them wins.
        true => Ok(0),
        false => Err(e),
    })?;
    for migration in migrations {
        pool.transaction(|txn| {
            txn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('techpack schema migrations'))",
                &[],
            )?;
            let applied = txn
                .query_opt(
                    "SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2",
                    &[&component, &migration.version],
                )?
                .is_some();
            if !applied {
                txn.batch_execute(migration.sql)?;
                txn.execute(
                    "INSERT INTO schema_migrations (component, version) VALUES ($1, $2)",
                    &[&component, &migration.version],
                )?;
            }
            Ok::<_, PgError>(())
        })?;
    }
    Ok(())
}
