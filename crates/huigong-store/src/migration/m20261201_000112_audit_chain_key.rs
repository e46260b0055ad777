//! Keyed audit chain: `audit_events.chain_key_id`, the vault key id whose audit chain key made
//! the event's hash (HMAC-SHA256). Events already written keep no key id: they were chained
//! with plain SHA-256 and are verified so, as the chain's prefix, which the first keyed event
//! covers (see `huigong_store::audit`). Nothing is rewritten: the events are append-only.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ChainKeyId,
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
                    .table(AuditEvents::Table)
                    .add_column(ColumnDef::new(AuditEvents::ChainKeyId).integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::ChainKeyId)
                    .to_owned(),
            )
            .await
    }
}
