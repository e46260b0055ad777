//! 换届 needs the parent's approval (issue 14): a term submitted by the union itself waits
//! (`pending`) until its parent approves or rejects it; the term carries the new contact phone
//! (sealed). Earlier terms were recorded as facts: they are `approved`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrgTerms {
    Table,
    Status,
    PhoneEnc,
    ReviewReason,
    ReviewedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement (SQLite).
        for column in [
            ColumnDef::new(OrgTerms::Status)
                .string_len(16)
                .not_null()
                .default("approved")
                .to_owned(),
            ColumnDef::new(OrgTerms::PhoneEnc).blob().null().to_owned(),
            ColumnDef::new(OrgTerms::ReviewReason)
                .string_len(200)
                .null()
                .to_owned(),
            ColumnDef::new(OrgTerms::ReviewedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OrgTerms::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            OrgTerms::ReviewedAt,
            OrgTerms::ReviewReason,
            OrgTerms::PhoneEnc,
            OrgTerms::Status,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OrgTerms::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
