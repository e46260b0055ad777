//! Organisations (county → district → grassroots), the units a grassroots union covers,
//! administrator accounts, and memberships.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::Uuid;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
    ParentId,
    Level,
    Name,
    Path,
    Status,
    FoundedOn,
    UnionType,
    MemberCountDeclared,
    LeaderNameEnc,
    PhoneEnc,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Units {
    Table,
    Id,
    OrgId,
    Name,
    Code,
    Nature,
    Address,
    EmployeeCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Username,
    PasswordHash,
    OrgId,
    FailedLogins,
    LockedUntil,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    PersonId,
    OrgId,
    UnitName,
    Nationality,
    Education,
    HouseholdType,
    EmploymentStatus,
    UnionPost,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
}

/// The county federation every deployment starts with.
pub const COUNTY_ORG_ID: &str = "00000000-0000-7000-8000-000000000001";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orgs::Table)
                    .col(ColumnDef::new(Orgs::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Orgs::ParentId).uuid().null())
                    .col(ColumnDef::new(Orgs::Level).string_len(16).not_null())
                    .col(ColumnDef::new(Orgs::Name).string_len(128).not_null())
                    // "/county-id/district-id/own-id/": a subtree is a prefix.
                    .col(ColumnDef::new(Orgs::Path).string_len(512).not_null())
                    .col(ColumnDef::new(Orgs::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Orgs::FoundedOn).date().null())
                    .col(ColumnDef::new(Orgs::UnionType).string_len(16).null())
                    .col(ColumnDef::new(Orgs::MemberCountDeclared).integer().null())
                    .col(ColumnDef::new(Orgs::LeaderNameEnc).blob().null())
                    .col(ColumnDef::new(Orgs::PhoneEnc).blob().null())
                    .col(
                        ColumnDef::new(Orgs::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Orgs::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orgs_parent")
                            .from(Orgs::Table, Orgs::ParentId)
                            .to(Orgs::Table, Orgs::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_orgs_path")
                    .table(Orgs::Table)
                    .col(Orgs::Path)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_orgs_parent")
                    .table(Orgs::Table)
                    .col(Orgs::ParentId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Units::Table)
                    .col(ColumnDef::new(Units::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Units::OrgId).uuid().not_null())
                    .col(ColumnDef::new(Units::Name).string_len(128).not_null())
                    .col(ColumnDef::new(Units::Code).string_len(18).not_null())
                    .col(ColumnDef::new(Units::Nature).string_len(16).not_null())
                    .col(ColumnDef::new(Units::Address).string_len(255).not_null())
                    .col(ColumnDef::new(Units::EmployeeCount).integer().not_null())
                    .col(
                        ColumnDef::new(Units::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Units::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_units_org")
                            .from(Units::Table, Units::OrgId)
                            .to(Orgs::Table, Orgs::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One employer, one record, whichever union covers it.
        manager
            .create_index(
                Index::create()
                    .name("ux_units_code")
                    .table(Units::Table)
                    .col(Units::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_units_org")
                    .table(Units::Table)
                    .col(Units::OrgId)
                    .to_owned(),
            )
            .await?;

        // Accounts gain credentials and an organisation (one column per statement: SQLite).
        for column in [
            ColumnDef::new(Users::Username)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(Users::PasswordHash)
                .string_len(255)
                .null()
                .to_owned(),
            ColumnDef::new(Users::OrgId).uuid().null().to_owned(),
            ColumnDef::new(Users::FailedLogins)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Users::LockedUntil)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_users_username")
                    .table(Users::Table)
                    .col(Users::Username)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(
                        ColumnDef::new(Memberships::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Memberships::PersonId).uuid().not_null())
                    .col(ColumnDef::new(Memberships::OrgId).uuid().not_null())
                    .col(
                        ColumnDef::new(Memberships::UnitName)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::Nationality)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::Education)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::HouseholdType)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::EmploymentStatus)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::UnionPost)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Memberships::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_person")
                            .from(Memberships::Table, Memberships::PersonId)
                            .to(People::Table, People::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_org")
                            .from(Memberships::Table, Memberships::OrgId)
                            .to(Orgs::Table, Orgs::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_memberships_org")
                    .table(Memberships::Table)
                    .col(Memberships::OrgId)
                    .to_owned(),
            )
            .await?;
        // One person, one active membership in the whole county (same syntax on both engines).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_memberships_active_person ON memberships (person_id) WHERE status = 'active'",
            )
            .await?;

        // The county federation exists from the first migration on. Values are bound from
        // Rust types so UUIDs and timestamps are encoded as each engine expects.
        let county = Uuid::parse_str(COUNTY_ORG_ID).map_err(|e| DbErr::Migration(e.to_string()))?;
        let now = chrono::Utc::now();
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Orgs::Table)
                    .columns([
                        Orgs::Id,
                        Orgs::Level,
                        Orgs::Name,
                        Orgs::Path,
                        Orgs::Status,
                        Orgs::CreatedAt,
                        Orgs::UpdatedAt,
                    ])
                    .values_panic([
                        county.into(),
                        "county".into(),
                        "县总工会".into(),
                        format!("/{COUNTY_ORG_ID}/").into(),
                        "active".into(),
                        now.into(),
                        now.into(),
                    ])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Memberships::Table.into_iden(), Units::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("ux_users_username")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Users::Username,
            Users::PasswordHash,
            Users::OrgId,
            Users::FailedLogins,
            Users::LockedUntil,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Orgs::Table).to_owned())
            .await
    }
}
