//! One scan, at most one redemption per discount: a unique index on `redemptions
//! (verification_id, discount_id)`. Before it, one verification at the till could record a
//! discount up to its daily limit for five minutes without the worker present.
//!
//! A database that already holds such repeated redemptions cannot take the index: the
//! migration then stops with the number of them and changes nothing (they are records of money
//! given; an operator decides what they were — see `docs/security.md`, item 11).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Redemptions {
    Table,
    VerificationId,
    DiscountId,
}

pub const INDEX: &str = "ux_redemptions_verification_discount";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let repeated = manager
            .get_connection()
            .query_one_raw(sea_orm::Statement::from_string(
                manager.get_database_backend(),
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM (SELECT verification_id, discount_id \
                 FROM redemptions GROUP BY verification_id, discount_id HAVING COUNT(*) > 1) AS r"
                    .to_owned(),
            ))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if repeated > 0 {
            return Err(DbErr::Migration(format!(
                "{repeated} verifications redeemed one discount more than once; the unique index \
                 {INDEX} cannot be created until they are resolved (docs/security.md, item 11)"
            )));
        }
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Redemptions::Table)
                    .col(Redemptions::VerificationId)
                    .col(Redemptions::DiscountId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(Redemptions::Table)
                    .to_owned(),
            )
            .await
    }
}
