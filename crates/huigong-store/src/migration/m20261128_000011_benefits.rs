//! Union services (惠工服务) by the notice's categories, offered by the county federation or a
//! district union.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Benefits {
    Table,
    Id,
    OrgId,
    Category,
    Title,
    Provider,
    HowToUse,
    Contact,
    MembersOnly,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Benefits::Table)
                    .col(ColumnDef::new(Benefits::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Benefits::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Benefits::Category).string_len(16).not_null())
                    .col(ColumnDef::new(Benefits::Title).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Benefits::Provider)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Benefits::HowToUse)
                            .string_len(1000)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Benefits::Contact).string_len(64).not_null())
                    .col(ColumnDef::new(Benefits::MembersOnly).boolean().not_null())
                    .col(ColumnDef::new(Benefits::Active).boolean().not_null())
                    .col(
                        ColumnDef::new(Benefits::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Benefits::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_benefits_org")
                            .from(Benefits::Table, Benefits::OrgId)
                            .to(Orgs::Table, Orgs::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_benefits_category")
                    .table(Benefits::Table)
                    .col(Benefits::Category)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Benefits::Table).to_owned())
            .await
    }
}
