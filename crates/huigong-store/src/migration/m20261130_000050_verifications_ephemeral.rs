//! Verifications at the till move to the shared ephemeral store (Redis in production), as
//! activation previews are: a verification records no change, lives five minutes and was a
//! write transaction per scan. This migration drops the foreign key from
//! `redemptions.verification_id` to `verifications` (the column stays: it names the scan a
//! redemption followed), so redemptions can name verifications that have no row.
//!
//! The `verifications` table itself stays for this release (expand, then contract): during a
//! rolling update, instances still running the previous version go on writing and reading it,
//! and their tills keep working; a scan made on an old instance and redeemed on a new one is
//! 404 `verification_not_found` (scan again). A later migration drops the table.
//!
//! PostgreSQL drops the constraint. SQLite cannot drop a constraint, so `redemptions` is
//! rebuilt without it, rows and indexes kept (nothing references `redemptions`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Redemptions {
    Table,
    Id,
    MerchantId,
    DiscountId,
    CardId,
    VerificationId,
    AmountFen,
    DiscountFen,
    Day,
    IdempotencyKey,
    CreatedAt,
}

#[derive(Clone, Copy, DeriveIden)]
enum RedemptionsRebuilt {
    Table,
}

#[derive(DeriveIden)]
enum Merchants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Discounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Cards {
    Table,
    Id,
}

fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .to_owned()
}

/// `redemptions` as in migration 000020, less the foreign key to `verifications`.
fn redemptions_without_verification_fk(table: impl IntoIden + Clone) -> TableCreateStatement {
    Table::create()
        .table(table.clone())
        .col(uuid(Redemptions::Id).primary_key())
        .col(uuid(Redemptions::MerchantId))
        .col(uuid(Redemptions::DiscountId))
        .col(uuid(Redemptions::CardId))
        .col(uuid(Redemptions::VerificationId))
        .col(
            ColumnDef::new(Redemptions::AmountFen)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Redemptions::DiscountFen)
                .big_integer()
                .not_null(),
        )
        .col(ColumnDef::new(Redemptions::Day).date().not_null())
        .col(
            ColumnDef::new(Redemptions::IdempotencyKey)
                .string_len(128)
                .not_null(),
        )
        .col(
            ColumnDef::new(Redemptions::CreatedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .foreign_key(&mut fk(
            "fk_redemptions_merchant",
            (table.clone(), Redemptions::MerchantId),
            (Merchants::Table, Merchants::Id),
        ))
        .foreign_key(&mut fk(
            "fk_redemptions_discount",
            (table.clone(), Redemptions::DiscountId),
            (Discounts::Table, Discounts::Id),
        ))
        .foreign_key(&mut fk(
            "fk_redemptions_card",
            (table, Redemptions::CardId),
            (Cards::Table, Cards::Id),
        ))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// On SQLite too: the rebuild must happen on one connection, and all or nothing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Sqlite {
            manager
                .create_table(redemptions_without_verification_fk(
                    RedemptionsRebuilt::Table,
                ))
                .await?;
            let copy = Query::insert()
                .into_table(RedemptionsRebuilt::Table)
                .columns(columns())
                .select_from(
                    Query::select()
                        .columns(columns())
                        .from(Redemptions::Table)
                        .to_owned(),
                )
                .map_err(|e| DbErr::Migration(e.to_string()))?
                .to_owned();
            manager.exec_stmt(copy).await?;
            manager
                .drop_table(Table::drop().table(Redemptions::Table).to_owned())
                .await?;
            manager
                .rename_table(
                    Table::rename()
                        .table(RedemptionsRebuilt::Table, Redemptions::Table)
                        .to_owned(),
                )
                .await?;
            // The indexes went with the old table.
            manager
                .create_index(
                    Index::create()
                        .name("ux_redemptions_idempotency")
                        .table(Redemptions::Table)
                        .col(Redemptions::MerchantId)
                        .col(Redemptions::IdempotencyKey)
                        .unique()
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("ix_redemptions_card_day")
                        .table(Redemptions::Table)
                        .col(Redemptions::CardId)
                        .col(Redemptions::DiscountId)
                        .col(Redemptions::Day)
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("ix_redemptions_merchant_day")
                        .table(Redemptions::Table)
                        .col(Redemptions::MerchantId)
                        .col(Redemptions::Day)
                        .to_owned(),
                )
                .await?;
        } else {
            manager
                .drop_foreign_key(
                    ForeignKey::drop()
                        .name("fk_redemptions_verification")
                        .table(Redemptions::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Redemptions recorded since name verifications that have no row: the key cannot come
        // back.
        Err(DbErr::Migration(
            "verifications moved to the ephemeral store; this migration is not reversible"
                .to_owned(),
        ))
    }
}

fn columns() -> [Redemptions; 10] {
    [
        Redemptions::Id,
        Redemptions::MerchantId,
        Redemptions::DiscountId,
        Redemptions::CardId,
        Redemptions::VerificationId,
        Redemptions::AmountFen,
        Redemptions::DiscountFen,
        Redemptions::Day,
        Redemptions::IdempotencyKey,
        Redemptions::CreatedAt,
    ]
}
