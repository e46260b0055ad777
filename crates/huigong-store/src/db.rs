//! Database connection: one code path for SQLite (embedded default) and PostgreSQL.

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr,
    SqlErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Which SQL engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What went wrong in storage, sorted by what the caller should do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or timed out: the request may be retried later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule of the schema was violated.
    #[error("unique constraint violated")]
    Conflict,
    /// The record does not exist.
    #[error("not found")]
    NotFound,
    /// Anything else: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Other(String),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return StoreError::Conflict;
        }
        match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                StoreError::Unavailable(err.to_string())
            }
            DbErr::RecordNotFound(_) => StoreError::NotFound,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))
                if is_outage(e) =>
            {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Other(err.to_string()),
        }
    }
}

/// Whether a failed statement means the database is unreachable or refusing work for now,
/// rather than a bug: I/O and pool failures, PostgreSQL's connection (08…), shutdown
/// (57P01–57P03), too-many-connections (53300) and read-only-failover (25006) states, and
/// SQLite's BUSY/LOCKED after the busy timeout.
fn is_outage(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match err {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || [
                    "57P01", "57P02", "57P03", "53300", "25006", "5", "6", "517", "262",
                ]
                .contains(&code.as_ref())
        }),
        _ => false,
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// A pooled connection to the configured database.
#[derive(Debug, Clone)]
pub struct Database {
    pub conn: DatabaseConnection,
    pub backend: Backend,
}

impl Database {
    /// Connects. SQLite gets per-connection WAL, `synchronous=NORMAL`, foreign keys and a busy
    /// timeout; its file (and directory) is created when missing.
    pub async fn connect(options: &DatabaseOptions) -> Result<Self, StoreError> {
        let backend = if options.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if options.url.starts_with("postgres://") || options.url.starts_with("postgresql://")
        {
            Backend::Postgres
        } else {
            return Err(StoreError::Other(
                "database.url must start with sqlite: or postgres://".to_owned(),
            ));
        };
        let mut url = options.url.clone();
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(&url)?;
            if !url.contains("mode=") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("mode=rwc");
            }
        }
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.acquire_timeout)
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
            });
        }
        let conn = sea_orm::Database::connect(opts).await.map_err(|e| {
            // The URL may hold a password: report the kind of failure only.
            StoreError::Unavailable(format!(
                "cannot connect to the {backend:?} database: {}",
                redact_db_error(&e)
            ))
        })?;
        Ok(Self { conn, backend })
    }

    /// Runs a trivial query: used by `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that upgrades to a write can fail with
    /// "database is locked" despite the busy timeout.
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.conn
            .begin_with_options(options)
            .await
            .map_err(StoreError::from)
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        use sea_orm_migration::MigratorTrait;
        crate::migration::Migrator::up(&self.conn, None)
            .await
            .map_err(StoreError::from)
    }
}

fn redact_db_error(err: &DbErr) -> String {
    let text = err.to_string();
    // sqlx errors do not include the URL, but be safe about credentials in any case.
    match text.find("://") {
        Some(_) => "connection failed".to_owned(),
        None => text,
    }
}

fn ensure_sqlite_dir(url: &str) -> Result<(), StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(())
}
