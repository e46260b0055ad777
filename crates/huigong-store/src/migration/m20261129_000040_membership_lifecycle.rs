//! Keeping the data true over time: membership changes with their history, transfers between
//! unions awaiting the receiving union, union approval, re-election terms, dissolution and the
//! half-year confirmation. Nothing here is ever deleted.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MembershipEvents {
    Table,
    Id,
    MembershipId,
    PersonId,
    Kind,
    Reason,
    EffectiveOn,
    FromOrgId,
    ToOrgId,
    ActorUserId,
    ActorRole,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Transfers {
    Table,
    Id,
    MembershipId,
    PersonId,
    FromOrgId,
    ToOrgId,
    ToUnitName,
    Reason,
    EffectiveOn,
    Status,
    RefuseReason,
    RequestedBy,
    DecidedBy,
    CreatedAt,
    DecidedAt,
}

#[derive(DeriveIden)]
enum OrgTerms {
    Table,
    Id,
    OrgId,
    LeaderNameEnc,
    Committee,
    StartsOn,
    EndsOn,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
    ReviewReason,
    ReviewedAt,
    DissolvedAt,
    DissolutionReason,
    DissolutionRequestedAt,
    ConfirmedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    RetiredOn,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
}

fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
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
                    .table(MembershipEvents::Table)
                    .col(
                        ColumnDef::new(MembershipEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(MembershipEvents::MembershipId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MembershipEvents::PersonId).uuid().not_null())
                    // transfer_requested | transfer_in | transfer_refused | retire | leave |
                    // death | moved_to_parent
                    .col(
                        ColumnDef::new(MembershipEvents::Kind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(MembershipEvents::Reason).text().not_null())
                    .col(
                        ColumnDef::new(MembershipEvents::EffectiveOn)
                            .date()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MembershipEvents::FromOrgId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MembershipEvents::ToOrgId).uuid().null())
                    .col(ColumnDef::new(MembershipEvents::ActorUserId).uuid().null())
                    .col(
                        ColumnDef::new(MembershipEvents::ActorRole)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(at(MembershipEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_events_membership")
                            .from(MembershipEvents::Table, MembershipEvents::MembershipId)
                            .to(Memberships::Table, Memberships::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_events_person")
                            .from(MembershipEvents::Table, MembershipEvents::PersonId)
                            .to(People::Table, People::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_membership_events_person")
                    .table(MembershipEvents::Table)
                    .col(MembershipEvents::PersonId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Transfers::Table)
                    .col(
                        ColumnDef::new(Transfers::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Transfers::MembershipId).uuid().not_null())
                    .col(ColumnDef::new(Transfers::PersonId).uuid().not_null())
                    .col(ColumnDef::new(Transfers::FromOrgId).uuid().not_null())
                    .col(ColumnDef::new(Transfers::ToOrgId).uuid().not_null())
                    .col(ColumnDef::new(Transfers::ToUnitName).string_len(128).null())
                    .col(ColumnDef::new(Transfers::Reason).text().not_null())
                    .col(ColumnDef::new(Transfers::EffectiveOn).date().not_null())
                    // pending | accepted | refused
                    .col(ColumnDef::new(Transfers::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Transfers::RefuseReason).text().null())
                    .col(ColumnDef::new(Transfers::RequestedBy).uuid().null())
                    .col(ColumnDef::new(Transfers::DecidedBy).uuid().null())
                    .col(at(Transfers::CreatedAt))
                    .col(
                        ColumnDef::new(Transfers::DecidedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_transfers_membership")
                            .from(Transfers::Table, Transfers::MembershipId)
                            .to(Memberships::Table, Memberships::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_transfers_to_org", Transfers::ToOrgId),
            ("ix_transfers_from_org", Transfers::FromOrgId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Transfers::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        // One pending transfer per membership (same syntax on both engines).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_transfers_pending ON transfers (membership_id) WHERE status = 'pending'",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrgTerms::Table)
                    .col(ColumnDef::new(OrgTerms::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(OrgTerms::OrgId).uuid().not_null())
                    .col(ColumnDef::new(OrgTerms::LeaderNameEnc).blob().not_null())
                    .col(ColumnDef::new(OrgTerms::Committee).text().not_null())
                    .col(ColumnDef::new(OrgTerms::StartsOn).date().not_null())
                    .col(ColumnDef::new(OrgTerms::EndsOn).date().not_null())
                    .col(ColumnDef::new(OrgTerms::CreatedBy).uuid().null())
                    .col(at(OrgTerms::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_org_terms_org")
                            .from(OrgTerms::Table, OrgTerms::OrgId)
                            .to(Orgs::Table, Orgs::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_org_terms_org")
                    .table(OrgTerms::Table)
                    .col(OrgTerms::OrgId)
                    .to_owned(),
            )
            .await?;

        // One column per statement (SQLite).
        for column in [
            ColumnDef::new(Orgs::ReviewReason).text().null().to_owned(),
            ColumnDef::new(Orgs::ReviewedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Orgs::DissolvedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Orgs::DissolutionReason)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Orgs::DissolutionRequestedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Orgs::ConfirmedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orgs::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Memberships::Table)
                    .add_column(ColumnDef::new(Memberships::RetiredOn).date().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Memberships::Table)
                    .drop_column(Memberships::RetiredOn)
                    .to_owned(),
            )
            .await?;
        for column in [
            Orgs::ReviewReason,
            Orgs::ReviewedAt,
            Orgs::DissolvedAt,
            Orgs::DissolutionReason,
            Orgs::DissolutionRequestedAt,
            Orgs::ConfirmedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orgs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            OrgTerms::Table.into_iden(),
            Transfers::Table.into_iden(),
            MembershipEvents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
