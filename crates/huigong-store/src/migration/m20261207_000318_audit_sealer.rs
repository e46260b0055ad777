//! The audit sealer (issue 18): writers insert events unlinked (empty `prev_hash` and `hash`,
//! no key id) with a sequence number from the database, and one sealer links them later (see
//! `huigong_store::audit_sealer`). Here:
//! - PostgreSQL: the sequence `audit_events_seq`, starting after the last event, as the default
//!   of `audit_events.seq` (SQLite writers are serialised and take the next number themselves);
//! - `audit_head.fence`: the sealer's fencing number, raised by each sealer that takes the lease,
//!   so a sealer whose lease was taken over can no longer move the head;
//! - the guards allow one update, the seal: an event with no hash gets its `prev_hash`, `hash`
//!   and key id, every other column unchanged. Sealed events stay immutable.
//!
//! Events already written are sealed (they carry their hashes): nothing is rewritten and the
//! chain verifies as before. Old instances (which claim the head themselves) must be stopped
//! before this migration runs: the two ways of numbering events do not mix.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Fence,
}

/// 180 days, the shortest retention of an audit event (as in the first audit migration).
const RETENTION_SECS: i64 = 180 * 24 * 60 * 60;

/// Every column but the three the seal sets.
const FIXED: [&str; 13] = [
    "id",
    "seq",
    "occurred_at",
    "occurred_at_unix",
    "actor_user_id",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "fields",
    "outcome",
    "client_ip",
    "request_id",
];

/// The SQL condition under which an update is a seal.
fn is_seal(unchanged: &str) -> String {
    format!(
        "length(OLD.hash) = 0 AND length(NEW.hash) = 32 AND length(NEW.prev_hash) = 32 \
         AND NEW.chain_key_id IS NOT NULL AND {unchanged}"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditHead::Table)
                    .add_column(
                        ColumnDef::new(AuditHead::Fence)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                let unchanged = FIXED
                    .iter()
                    .map(|c| format!("NEW.{c} IS OLD.{c}"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                db.execute_unprepared("DROP TRIGGER audit_events_no_update")
                    .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                     WHEN NOT ({}) \
                     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only (an unsealed event may only be sealed, once)'); END",
                    is_seal(&unchanged)
                ))
                .await?;
            }
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE SEQUENCE audit_events_seq AS bigint MINVALUE 1 OWNED BY audit_events.seq",
                )
                .await?;
                db.execute_unprepared(
                    "SELECT setval('audit_events_seq', \
                     (SELECT COALESCE(MAX(seq), 0) FROM audit_events) + 1, false)",
                )
                .await?;
                db.execute_unprepared(
                    "ALTER TABLE audit_events ALTER COLUMN seq SET DEFAULT nextval('audit_events_seq')",
                )
                .await?;
                let old = FIXED
                    .iter()
                    .map(|c| format!("OLD.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let new = FIXED
                    .iter()
                    .map(|c| format!("NEW.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let unchanged = format!("({new}) IS NOT DISTINCT FROM ({old})");
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       IF TG_OP = 'UPDATE' THEN \
                         IF {} THEN RETURN NEW; END IF; \
                         RAISE EXCEPTION 'audit_events is append-only (an unsealed event may only be sealed, once)'; \
                       END IF; \
                       IF OLD.occurred_at_unix > extract(epoch from now())::bigint - {RETENTION_SECS} THEN \
                         RAISE EXCEPTION 'audit events younger than 180 days cannot be deleted'; \
                       END IF; \
                       RETURN OLD; \
                     END $$",
                    is_seal(&unchanged)
                ))
                .await?;
            }
            other => {
                return Err(DbErr::Migration(format!("unsupported backend {other:?}")));
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                db.execute_unprepared("DROP TRIGGER audit_events_no_update")
                    .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
                )
                .await?;
            }
            DatabaseBackend::Postgres => {
                db.execute_unprepared("ALTER TABLE audit_events ALTER COLUMN seq DROP DEFAULT")
                    .await?;
                db.execute_unprepared("DROP SEQUENCE audit_events_seq")
                    .await?;
                db.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       IF TG_OP = 'UPDATE' THEN RAISE EXCEPTION 'audit_events is append-only'; END IF; \
                       IF OLD.occurred_at_unix > extract(epoch from now())::bigint - {RETENTION_SECS} THEN \
                         RAISE EXCEPTION 'audit events younger than 180 days cannot be deleted'; \
                       END IF; \
                       RETURN OLD; \
                     END $$"
                ))
                .await?;
            }
            other => {
                return Err(DbErr::Migration(format!("unsupported backend {other:?}")));
            }
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditHead::Table)
                    .drop_column(AuditHead::Fence)
                    .to_owned(),
            )
            .await
    }
}
