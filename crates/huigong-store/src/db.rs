//! Database connection: one code path for SQLite (embedded default) and PostgreSQL.
//!
//! # Writers on SQLite queue in process
//!
//! SQLite has one writer at a time. Left to SQLite, concurrent writers of this process would
//! wait in its busy handler, which sleeps in growing steps (1, 2, 5, 10 … 100 ms) and retries:
//! under a few dozen concurrent writers most of the time goes to sleeping, throughput collapses
//! and the slowest requests wait close to a second. So on SQLite a [`Database`] holds a write
//! gate: a fair (first come, first served) semaphore with one permit, shared by every clone of
//! the `Database`. [`Database::begin_write`] takes the permit *before* `BEGIN IMMEDIATE`, and the
//! [`WriteTxn`] it returns gives it back only once the transaction has ended:
//!
//! * [`WriteTxn::commit`] / [`WriteTxn::rollback`]: after `COMMIT` / `ROLLBACK` returned;
//! * dropped without either (an early `?` return, a panic, a cancelled request future): the
//!   rollback is run on a spawned task and the permit is released after it, so the next writer
//!   never finds the file still locked. Outside a Tokio runtime the rollback is only queued on
//!   the connection (what sea-orm does on drop) and the permit is released at once.
//!
//! Single autocommit statements that write outside a transaction take the same gate through
//! [`Database::write_turn`], or they could starve behind the queue in SQLite's busy handler
//! (and a gated writer could sleep there while holding the gate). That includes the hottest
//! one, the WeChat login's upsert, although it ran 40% faster alone without the gate.
//!
//! Waiting for the gate is bounded by [`DatabaseOptions::acquire_timeout`]; a writer that does
//! not get its turn in time gets [`StoreError::Unavailable`] (503), like a pool timeout. The
//! busy timeout (5 s) stays for other processes sharing the file (the `huigong` CLI), which the
//! gate cannot see.
//!
//! The gate is not re-entrant: code holding a [`WriteTxn`] (or a [`WriteTurn`]) must not start
//! another write through the same `Database` — it would wait for itself until the timeout.
//! Pass the transaction down instead. On PostgreSQL there is no gate: writers run in parallel and
//! row locks order them.

use huigong_vault::ChainKeys;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, RuntimeErr, SqlErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
/// (57P01–57P03), too-many-connections (53300) and read-only-failover (25006) states, a
/// transaction chosen as a deadlock victim (40P01) or a serialization failure (40001), which a
/// retry resolves, and
/// SQLite's BUSY/LOCKED after the busy timeout.
fn is_outage(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match err {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        E::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || [
                    "57P01", "57P02", "57P03", "53300", "25006", "40P01", "40001", "5", "6", "517",
                    "262",
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
    /// Longest wait for a pooled connection, and on SQLite also for the write gate.
    pub acquire_timeout: Duration,
}

/// A connection pool's state (for the metrics endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections nobody uses.
    pub idle: u32,
    /// `database.max_connections`.
    pub max: u32,
}

/// A pooled connection to the configured database.
///
/// Clones share the pool and, on SQLite, the write gate (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Database {
    pub conn: DatabaseConnection,
    pub backend: Backend,
    /// SQLite only: one permit, handed out first come, first served.
    write_gate: Option<Arc<Semaphore>>,
    /// Longest wait for the write gate.
    gate_timeout: Duration,
    /// The audit chain's MAC keys (from the vault's key ring), which every write transaction
    /// carries for [`crate::audit::record`]. Without them no event can be written.
    chain: Option<Arc<ChainKeys>>,
    /// WeChat logins waiting to be written together (see [`crate::users::upsert_wechat_login`]).
    pub(crate) logins: Arc<crate::users::LoginQueue>,
}

impl Database {
    /// The same database, its audit events chained with these keys (see [`crate::audit`]).
    pub fn with_chain_keys(mut self, keys: ChainKeys) -> Self {
        self.chain = Some(Arc::new(keys));
        self
    }

    /// The audit chain's keys, if given.
    pub fn chain_keys(&self) -> Option<&ChainKeys> {
        self.chain.as_deref()
    }

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
        let write_gate = (backend == Backend::Sqlite).then(|| Arc::new(Semaphore::new(1)));
        Ok(Self {
            conn,
            backend,
            write_gate,
            gate_timeout: options.acquire_timeout,
            chain: None,
            logins: Arc::default(),
        })
    }

    /// The connection pool's state now: open connections, idle ones, the configured maximum.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle, max) = match self.backend {
            Backend::Sqlite => {
                let pool = self.conn.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            Backend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        PoolStats {
            open,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    /// Runs a trivial query: used by `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Starts a transaction that will write. On SQLite it first waits for its turn at the
    /// in-process write gate (see the [module docs](self)), then takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that upgrades to a write can fail with
    /// "database is locked" despite the busy timeout. No turn within the acquire timeout:
    /// [`StoreError::Unavailable`].
    ///
    /// Never call it (or [`Database::write_turn`]) while holding a [`WriteTxn`] of the same
    /// database: the gate is not re-entrant.
    pub async fn begin_write(&self) -> Result<WriteTxn, StoreError> {
        let permit = self.gate_permit().await?;
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = self
            .conn
            .begin_with_options(options)
            .await
            .map_err(StoreError::from)?;
        Ok(WriteTxn {
            txn: Some(txn),
            permit,
            chain: self.chain.clone(),
        })
    }

    /// The write gate alone, for a write outside a transaction (one autocommit statement on
    /// [`Database::conn`]): hold the returned turn while the statement runs. On PostgreSQL it
    /// holds nothing. Same timeout and the same no-nesting rule as [`Database::begin_write`].
    pub async fn write_turn(&self) -> Result<WriteTurn, StoreError> {
        Ok(WriteTurn {
            _permit: self.gate_permit().await?,
        })
    }

    async fn gate_permit(&self) -> Result<Option<OwnedSemaphorePermit>, StoreError> {
        let Some(gate) = &self.write_gate else {
            return Ok(None);
        };
        match tokio::time::timeout(self.gate_timeout, Arc::clone(gate).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) => Err(StoreError::Unavailable(
                "the SQLite write gate is closed".to_owned(),
            )),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no turn to write to SQLite within {} ms",
                self.gate_timeout.as_millis()
            ))),
        }
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        use sea_orm_migration::MigratorTrait;
        crate::migration::Migrator::up(&self.conn, None)
            .await
            .map_err(StoreError::from)
    }
}

/// A write transaction from [`Database::begin_write`]: the sea-orm transaction and, on SQLite,
/// the turn at the write gate, which is given back only when the transaction has ended.
///
/// It is a [`ConnectionTrait`] like the transaction itself (queries and `entity.insert(&txn)`
/// take it as they are) and dereferences to the [`DatabaseTransaction`] for code that wants
/// that type. End it with [`WriteTxn::commit`] or [`WriteTxn::rollback`]; dropping it rolls
/// back.
#[derive(Debug)]
pub struct WriteTxn {
    /// `Some` until `commit`, `rollback` or drop takes it.
    txn: Option<DatabaseTransaction>,
    /// SQLite only; released after the transaction ended.
    permit: Option<OwnedSemaphorePermit>,
    /// The database's audit chain keys.
    chain: Option<Arc<ChainKeys>>,
}

impl WriteTxn {
    /// The audit chain's keys of the database this transaction writes to.
    pub fn chain_keys(&self) -> Option<&ChainKeys> {
        self.chain.as_deref()
    }

    fn txn(&self) -> &DatabaseTransaction {
        match &self.txn {
            Some(txn) => txn,
            // Only `commit`, `rollback` and `drop` take it, and they consume the WriteTxn.
            None => unreachable!("a WriteTxn is used after it ended"),
        }
    }

    /// Commits; the write gate is released once `COMMIT` has returned.
    pub async fn commit(mut self) -> Result<(), DbErr> {
        match self.txn.take() {
            Some(txn) => txn.commit().await,
            None => Ok(()),
        }
        // `self`, and with it the permit, is dropped here, after COMMIT.
    }

    /// Rolls back; the write gate is released once `ROLLBACK` has returned.
    pub async fn rollback(mut self) -> Result<(), DbErr> {
        match self.txn.take() {
            Some(txn) => txn.rollback().await,
            None => Ok(()),
        }
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        // PostgreSQL (no gate), or ended by commit/rollback: nothing to order.
        let Some(permit) = self.permit.take() else {
            return;
        };
        let Some(txn) = self.txn.take() else {
            return;
        };
        // Dropped while open (an error path, a cancelled future): hold the gate until the
        // rollback has run, so the next writer does not find the file locked and fall back to
        // SQLite's busy handler.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = txn.rollback().await {
                    tracing::warn!(error = %e, "rollback of an abandoned write transaction failed");
                }
                drop(permit);
            });
        }
        // Without a runtime `txn` is dropped here (sea-orm queues the rollback on its
        // connection) and then `permit`.
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        self.txn()
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn().get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn().execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn().execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn().query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn().query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn().support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn().is_mock_connection()
    }
}

/// A turn at the SQLite write gate without a transaction, from [`Database::write_turn`]:
/// released when dropped. Empty on PostgreSQL.
#[derive(Debug)]
#[must_use = "the turn ends when it is dropped: bind it to a named variable"]
pub struct WriteTurn {
    _permit: Option<OwnedSemaphorePermit>,
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
