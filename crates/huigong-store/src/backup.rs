//! What a backup records about the database and what a restore checks against it: the tables and
//! their row counts, the migration level and the vault key fingerprints, all read from one
//! consistent view of the data. The dump itself is taken by `huigong backup` (SQLite:
//! `VACUUM INTO`; PostgreSQL: `pg_dump` in a snapshot exported by [`begin_snapshot`]).

use crate::{Backend, Database, DatabaseTransaction, StoreError};
use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, IsolationLevel, Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait as _;
use std::collections::BTreeMap;

/// Row counts per table, by table name.
pub type Counts = BTreeMap<String, u64>;

/// The migration level: how many migrations were applied and the name of the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationLevel {
    pub applied: u64,
    pub last: Option<String>,
}

/// A recorded key fingerprint (never the key): its stored name (`encryption:1`, `blind_index`)
/// and the fingerprint's bytes.
pub type Fingerprint = (String, Vec<u8>);

/// What [`describe`] reads.
#[derive(Debug, Clone)]
pub struct Description {
    pub counts: Counts,
    pub migration: MigrationLevel,
    pub fingerprints: Vec<Fingerprint>,
}

/// The names of the migrations this binary knows, in order.
pub fn known_migrations() -> Vec<String> {
    crate::migration::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// The user tables (SQLite's own excluded), sorted.
pub async fn tables<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, StoreError> {
    let sql = match conn.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        }
    };
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").map_err(StoreError::from))
        .collect()
}

fn quoted(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

/// Tables, counts, migration level and key fingerprints, read through `conn` (a snapshot
/// transaction, or a copy nobody writes to, for figures consistent with a dump).
pub async fn describe<C: ConnectionTrait>(conn: &C) -> Result<Description, StoreError> {
    let backend = conn.get_database_backend();
    let names = tables(conn).await?;
    let mut counts = Counts::new();
    for table in &names {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", quoted(table));
        let row = conn
            .query_one_raw(Statement::from_string(backend, sql))
            .await?
            .ok_or_else(|| StoreError::Other(format!("no count for {table}")))?;
        let n: i64 = row.try_get("", "n")?;
        counts.insert(table.clone(), u64::try_from(n).unwrap_or_default());
    }
    let mut migration = MigrationLevel {
        applied: 0,
        last: None,
    };
    if names.iter().any(|t| t == "seaql_migrations") {
        let rows = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT version FROM seaql_migrations ORDER BY version",
            ))
            .await?;
        migration.applied = rows.len() as u64;
        // Applied in the binary's order, which is not always the names' order: the last one is
        // the applied migration that comes latest in this binary's list, else the greatest name.
        let applied: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "version"))
            .collect::<Result<_, _>>()?;
        let known = known_migrations();
        migration.last = known
            .iter()
            .rev()
            .find(|k| applied.contains(k))
            .cloned()
            .or_else(|| applied.last().cloned());
    }
    let mut fingerprints = Vec::new();
    if names.iter().any(|t| t == "vault_key_fingerprints") {
        let rows = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT key_name, fingerprint FROM vault_key_fingerprints ORDER BY key_name",
            ))
            .await?;
        for r in &rows {
            fingerprints.push((r.try_get("", "key_name")?, r.try_get("", "fingerprint")?));
        }
    }
    Ok(Description {
        counts,
        migration,
        fingerprints,
    })
}

/// PostgreSQL only: a read-only repeatable-read transaction and the id of its exported snapshot,
/// for `pg_dump --snapshot`. Keep the transaction open until `pg_dump` has finished; figures
/// read through it ([`describe`]) are those of the dump.
pub async fn begin_snapshot(db: &Database) -> Result<(DatabaseTransaction, String), StoreError> {
    if db.backend != Backend::Postgres {
        return Err(StoreError::Other(
            "snapshots are exported by PostgreSQL only".to_owned(),
        ));
    }
    let txn = db
        .conn
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_export_snapshot() AS id",
        ))
        .await?
        .ok_or_else(|| StoreError::Other("no snapshot id".to_owned()))?;
    let id: String = row.try_get("", "id")?;
    Ok((txn, id))
}

/// SQLite only: writes a consistent copy of the database to `path` (`VACUUM INTO`), while
/// others keep writing. `path` must not exist.
pub async fn sqlite_copy(db: &Database, path: &str) -> Result<(), StoreError> {
    if db.backend != Backend::Sqlite {
        return Err(StoreError::Other("VACUUM INTO is SQLite's".to_owned()));
    }
    let sql = format!("VACUUM INTO '{}'", path.replace('\'', "''"));
    db.conn.execute_unprepared(&sql).await?;
    Ok(())
}
