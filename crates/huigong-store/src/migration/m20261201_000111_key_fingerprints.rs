//! The vault's key fingerprints: one row per key the database's data was written with
//! (`encryption:N`, `blind_index`), holding HMAC-SHA256 of a fixed label under the key — never
//! the key. Migrations know no keys: the service fills the table at its first start and checks
//! it at every start (`huigong_store::key_fingerprints`), so an instance with other keys than
//! the database's refuses to start instead of writing rows no other instance can read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VaultKeyFingerprints {
    Table,
    KeyName,
    Fingerprint,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VaultKeyFingerprints::Table)
                    .col(
                        ColumnDef::new(VaultKeyFingerprints::KeyName)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(VaultKeyFingerprints::Fingerprint)
                            .blob()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VaultKeyFingerprints::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(VaultKeyFingerprints::Table).to_owned())
            .await
    }
}
