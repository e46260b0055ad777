//! The federation's reports: targets per district, monthly progress snapshots (one row per
//! month: whoever inserts it first took it), the 建会补助 approvals and payments (a union is paid
//! at most once: a unique index), the half-year confirmations and the roster archived with each
//! (sealed like the live rows), the maintained counters per union with the indexes that find
//! what changed since their last refresh, and the indexes the progress figures' aggregates read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReportTargets {
    Table,
    OrgId,
    Members,
    Unions,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProgressSnapshots {
    Table,
    Month,
    Figures,
    TakenAt,
    TakenBy,
}

#[derive(DeriveIden)]
enum Subsidies {
    Table,
    OrgId,
    Amount,
    EmployeeCount,
    ApprovedBy,
    ApprovedAt,
}

#[derive(DeriveIden)]
enum SubsidyPayments {
    Table,
    Id,
    OrgId,
    Amount,
    PaidOn,
    VoucherNo,
    PaidBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CycleConfirmations {
    Table,
    Id,
    OrgId,
    Period,
    ConfirmedAt,
    ConfirmedBy,
    MemberCount,
}

#[derive(DeriveIden)]
enum RosterArchives {
    Table,
    Id,
    ConfirmationId,
    Seq,
    PersonId,
    IdNumberEnc,
    NameEnc,
    MobileEnc,
    Sex,
    Nationality,
    Education,
    HouseholdType,
    UnitName,
    EmploymentStatus,
    UnionPost,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrgFigures {
    Table,
    OrgId,
    Members,
    MembersComplete,
    CardsActive,
    RefreshedAt,
}

#[derive(DeriveIden)]
enum FiguresRefresh {
    Table,
    Id,
    RefreshedFrom,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn text(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

fn org_fk(table: impl IntoIden, col: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Orgs::Table, Orgs::Id)
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
                    .table(ReportTargets::Table)
                    .col(
                        ColumnDef::new(ReportTargets::OrgId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ReportTargets::Members).integer().null())
                    .col(ColumnDef::new(ReportTargets::Unions).integer().null())
                    .col(ColumnDef::new(ReportTargets::UpdatedBy).uuid().null())
                    .col(at(ReportTargets::UpdatedAt))
                    .foreign_key(&mut org_fk(
                        ReportTargets::Table,
                        ReportTargets::OrgId,
                        "fk_report_targets_org",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProgressSnapshots::Table)
                    // `YYYY-MM`: one snapshot per month, whichever instance inserts it first.
                    .col(
                        ColumnDef::new(ProgressSnapshots::Month)
                            .string_len(7)
                            .not_null()
                            .primary_key(),
                    )
                    // The figures of every org (JSON), rolled up for any scope when read.
                    .col(ColumnDef::new(ProgressSnapshots::Figures).text().not_null())
                    .col(at(ProgressSnapshots::TakenAt))
                    .col(text(ProgressSnapshots::TakenBy, 64))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Subsidies::Table)
                    // One approval per union.
                    .col(
                        ColumnDef::new(Subsidies::OrgId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Subsidies::Amount).integer().not_null())
                    .col(
                        ColumnDef::new(Subsidies::EmployeeCount)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Subsidies::ApprovedBy).uuid().null())
                    .col(at(Subsidies::ApprovedAt))
                    .foreign_key(&mut org_fk(
                        Subsidies::Table,
                        Subsidies::OrgId,
                        "fk_subsidies_org",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SubsidyPayments::Table)
                    .col(
                        ColumnDef::new(SubsidyPayments::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SubsidyPayments::OrgId).uuid().not_null())
                    .col(ColumnDef::new(SubsidyPayments::Amount).integer().not_null())
                    .col(ColumnDef::new(SubsidyPayments::PaidOn).date().not_null())
                    .col(text(SubsidyPayments::VoucherNo, 64))
                    .col(ColumnDef::new(SubsidyPayments::PaidBy).uuid().null())
                    .col(at(SubsidyPayments::CreatedAt))
                    .foreign_key(&mut org_fk(
                        SubsidyPayments::Table,
                        SubsidyPayments::OrgId,
                        "fk_subsidy_payments_org",
                    ))
                    .to_owned(),
            )
            .await?;
        // A union is paid at most once, whatever the callers do.
        manager
            .create_index(
                Index::create()
                    .name("ux_subsidy_payments_org")
                    .table(SubsidyPayments::Table)
                    .col(SubsidyPayments::OrgId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CycleConfirmations::Table)
                    .col(
                        ColumnDef::new(CycleConfirmations::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CycleConfirmations::OrgId).uuid().not_null())
                    // `2026H2`
                    .col(text(CycleConfirmations::Period, 6))
                    .col(at(CycleConfirmations::ConfirmedAt))
                    .col(
                        ColumnDef::new(CycleConfirmations::ConfirmedBy)
                            .uuid()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(CycleConfirmations::MemberCount)
                            .integer()
                            .not_null(),
                    )
                    .foreign_key(&mut org_fk(
                        CycleConfirmations::Table,
                        CycleConfirmations::OrgId,
                        "fk_cycle_confirmations_org",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_cycle_confirmations_org_period")
                    .table(CycleConfirmations::Table)
                    .col(CycleConfirmations::OrgId)
                    .col(CycleConfirmations::Period)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RosterArchives::Table)
                    .col(
                        ColumnDef::new(RosterArchives::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RosterArchives::ConfirmationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RosterArchives::Seq).integer().not_null())
                    .col(ColumnDef::new(RosterArchives::PersonId).uuid().not_null())
                    .col(
                        ColumnDef::new(RosterArchives::IdNumberEnc)
                            .blob()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RosterArchives::NameEnc).blob().not_null())
                    .col(ColumnDef::new(RosterArchives::MobileEnc).blob().null())
                    .col(text(RosterArchives::Sex, 8))
                    .col(text(RosterArchives::Nationality, 32))
                    .col(text(RosterArchives::Education, 32))
                    .col(text(RosterArchives::HouseholdType, 32))
                    .col(text(RosterArchives::UnitName, 128))
                    .col(text(RosterArchives::EmploymentStatus, 32))
                    .col(text(RosterArchives::UnionPost, 32))
                    .col(at(RosterArchives::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_roster_archives_confirmation")
                            .from(RosterArchives::Table, RosterArchives::ConfirmationId)
                            .to(CycleConfirmations::Table, CycleConfirmations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_roster_archives_confirmation_seq")
                    .table(RosterArchives::Table)
                    .col(RosterArchives::ConfirmationId)
                    .col(RosterArchives::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // The maintained counters per union, and when they were last brought up to date.
        manager
            .create_table(
                Table::create()
                    .table(OrgFigures::Table)
                    .col(
                        ColumnDef::new(OrgFigures::OrgId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OrgFigures::Members).integer().not_null())
                    .col(
                        ColumnDef::new(OrgFigures::MembersComplete)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OrgFigures::CardsActive).integer().not_null())
                    .col(at(OrgFigures::RefreshedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FiguresRefresh::Table)
                    .col(
                        ColumnDef::new(FiguresRefresh::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(at(FiguresRefresh::RefreshedFrom))
                    .to_owned(),
            )
            .await?;

        // What the progress figures aggregate: active members and live cards per union, the
        // month's applications and membership changes (same syntax on both engines).
        let conn = manager.get_connection();
        for sql in [
            "CREATE INDEX ix_memberships_status_org ON memberships (status, org_id)",
            "CREATE INDEX ix_cards_status_membership ON cards (status, membership_id)",
            "CREATE INDEX ix_applications_org_created ON applications (org_id, created_at)",
            "CREATE INDEX ix_membership_events_from_created ON membership_events (from_org_id, created_at)",
            // Few people lack a mobile: the incomplete-record count starts from them.
            "CREATE INDEX ix_people_no_mobile ON people (id) WHERE mobile_enc IS NULL",
            // What changed since the counters' last refresh.
            "CREATE INDEX ix_memberships_updated ON memberships (updated_at)",
            "CREATE INDEX ix_cards_updated ON cards (updated_at)",
            "CREATE INDEX ix_people_updated ON people (updated_at)",
        ] {
            conn.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        for index in [
            "ix_memberships_status_org",
            "ix_cards_status_membership",
            "ix_applications_org_created",
            "ix_membership_events_from_created",
            "ix_people_no_mobile",
            "ix_memberships_updated",
            "ix_cards_updated",
            "ix_people_updated",
        ] {
            conn.execute_unprepared(&format!("DROP INDEX {index}"))
                .await?;
        }
        for table in [
            FiguresRefresh::Table.into_iden(),
            OrgFigures::Table.into_iden(),
            RosterArchives::Table.into_iden(),
            CycleConfirmations::Table.into_iden(),
            SubsidyPayments::Table.into_iden(),
            Subsidies::Table.into_iden(),
            ProgressSnapshots::Table.into_iden(),
            ReportTargets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
