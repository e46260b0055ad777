//! The mobile number a WeChat user confirmed through WeChat (`getuserphonenumber`), one per
//! account, stored only encrypted.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserPhones {
    Table,
    /// The user's id.
    Id,
    MobileEnc,
    MobileBidx,
    CountryCode,
    ConfirmedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
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
                    .table(UserPhones::Table)
                    .col(
                        ColumnDef::new(UserPhones::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UserPhones::MobileEnc).blob().not_null())
                    // Same blind-index domain as people.mobile_bidx, so the two compare.
                    .col(ColumnDef::new(UserPhones::MobileBidx).blob().not_null())
                    .col(
                        ColumnDef::new(UserPhones::CountryCode)
                            .string_len(8)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UserPhones::ConfirmedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UserPhones::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_phones_user")
                            .from(UserPhones::Table, UserPhones::Id)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_phones_mobile_bidx")
                    .table(UserPhones::Table)
                    .col(UserPhones::MobileBidx)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserPhones::Table).to_owned())
            .await
    }
}
