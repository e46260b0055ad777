//! People (personal data, encrypted) and the append-only, hash-chained audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
    IdNumberBidx,
    IdNumberEnc,
    NameEnc,
    MobileEnc,
    MobileBidx,
    Sex,
    BirthDate,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Seq,
    OccurredAt,
    OccurredAtUnix,
    ActorUserId,
    ActorRole,
    Action,
    TargetType,
    TargetId,
    Fields,
    Outcome,
    ClientIp,
    RequestId,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

/// 180 days, the shortest retention of an audit event.
const RETENTION_SECS: i64 = 180 * 24 * 60 * 60;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(People::Table)
                    .col(ColumnDef::new(People::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(People::IdNumberBidx).blob().not_null())
                    .col(ColumnDef::new(People::IdNumberEnc).blob().not_null())
                    .col(ColumnDef::new(People::NameEnc).blob().not_null())
                    .col(ColumnDef::new(People::MobileEnc).blob().null())
                    .col(ColumnDef::new(People::MobileBidx).blob().null())
                    .col(ColumnDef::new(People::Sex).string_len(8).not_null())
                    .col(ColumnDef::new(People::BirthDate).date().not_null())
                    .col(
                        ColumnDef::new(People::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(People::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // One person, one row: the database enforces it on the blind index of the ID number.
        manager
            .create_index(
                Index::create()
                    .name("ux_people_id_number_bidx")
                    .table(People::Table)
                    .col(People::IdNumberBidx)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_people_mobile_bidx")
                    .table(People::Table)
                    .col(People::MobileBidx)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditEvents::Seq).big_integer().not_null())
                    .col(
                        ColumnDef::new(AuditEvents::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::OccurredAtUnix)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ActorUserId).uuid().null())
                    .col(
                        ColumnDef::new(AuditEvents::ActorRole)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Action)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::TargetType)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::TargetId).string_len(64).null())
                    .col(
                        ColumnDef::new(AuditEvents::Fields)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Outcome)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ClientIp).string_len(64).null())
                    .col(ColumnDef::new(AuditEvents::RequestId).string_len(64).null())
                    .col(ColumnDef::new(AuditEvents::PrevHash).blob().not_null())
                    .col(ColumnDef::new(AuditEvents::Hash).blob().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("ux_audit_events_seq", vec![AuditEvents::Seq]),
            ("ix_audit_events_actor", vec![AuditEvents::ActorUserId]),
            (
                "ix_audit_events_target",
                vec![AuditEvents::TargetType, AuditEvents::TargetId],
            ),
            ("ix_audit_events_action", vec![AuditEvents::Action]),
            ("ix_audit_events_time", vec![AuditEvents::OccurredAtUnix]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table);
            for column in columns {
                index.col(column);
            }
            if name.starts_with("ux_") {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }

        // The head of the chain: one row, locked by every writer of an event, so events get
        // consecutive sequence numbers and each names its predecessor's hash.
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .col(
                        ColumnDef::new(AuditHead::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditHead::Seq).big_integer().not_null())
                    .col(ColumnDef::new(AuditHead::Hash).blob().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditHead::Table)
                    .columns([AuditHead::Id, AuditHead::Seq, AuditHead::Hash])
                    .values_panic([1.into(), 0i64.into(), vec![0u8; 32].into()])
                    .to_owned(),
            )
            .await?;

        // Append-only: no updates; no deletes of events younger than the retention period.
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
                )
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_events_retention BEFORE DELETE ON audit_events \
                     WHEN OLD.occurred_at_unix > CAST(strftime('%s', 'now') AS INTEGER) - {RETENTION_SECS} \
                     BEGIN SELECT RAISE(ABORT, 'audit events younger than 180 days cannot be deleted'); END"
                ))
                .await?;
            }
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN \
                       IF TG_OP = 'UPDATE' THEN RAISE EXCEPTION 'audit_events is append-only'; END IF; \
                       IF OLD.occurred_at_unix > extract(epoch from now())::bigint - {RETENTION_SECS} THEN \
                         RAISE EXCEPTION 'audit events younger than 180 days cannot be deleted'; \
                       END IF; \
                       RETURN OLD; \
                     END $$"
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_guard BEFORE UPDATE OR DELETE ON audit_events \
                     FOR EACH ROW EXECUTE FUNCTION audit_events_guard()",
                )
                .await?;
            }
            other => {
                return Err(DbErr::Migration(format!("unsupported backend {other:?}")));
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS audit_events_guard() CASCADE")
                .await?;
        }
        for table in [
            AuditHead::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            People::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
