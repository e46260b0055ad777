//! A union's roster is read in id order, page by page (the export): index memberships by
//! `(org_id, id)` so that each page is a range of the index instead of a sort of the union's
//! whole roster. It replaces the index on `org_id` alone, which it covers.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memberships {
    Table,
    OrgId,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_memberships_org_id")
                    .table(Memberships::Table)
                    .col(Memberships::OrgId)
                    .col(Memberships::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_memberships_org")
                    .table(Memberships::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_memberships_org")
                    .table(Memberships::Table)
                    .col(Memberships::OrgId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_memberships_org_id")
                    .table(Memberships::Table)
                    .to_owned(),
            )
            .await
    }
}
