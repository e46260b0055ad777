//! No membership oracle, no squatted unit codes (issue 13, items 4 and 6).
//!
//! Applications: several accounts may apply for one ID number (a stranger's application must
//! not block the real person), so the unique index of one pending application per person goes;
//! one account still has at most one pending application per ID number. The reviewer sees the
//! other applications and decides.
//!
//! Units: only an approved union holds its unit code. `units.held_code` holds the code while
//! the unit's union is approved (active or dissolved) and is NULL for a pending or rejected
//! submission; the unique index moves from `code` to `held_code` (NULLs never collide, on
//! SQLite and PostgreSQL alike). Existing codes were unique, so every held one stays unique.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Units {
    Table,
    Code,
    HeldCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared("DROP INDEX ux_applications_pending_person")
            .await?;
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX ux_applications_pending_user_person ON applications (user_id, id_number_bidx) WHERE status = 'pending'",
        )
        .await?;
        conn.execute_unprepared(
            "CREATE INDEX ix_applications_person_status ON applications (id_number_bidx, status)",
        )
        .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Units::Table)
                    .add_column(ColumnDef::new(Units::HeldCode).string_len(18).null())
                    .to_owned(),
            )
            .await?;
        conn.execute_unprepared(
            "UPDATE units SET held_code = code WHERE org_id IN (SELECT id FROM orgs WHERE status NOT IN ('pending', 'rejected'))",
        )
        .await?;
        conn.execute_unprepared("DROP INDEX ux_units_code").await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_units_held_code")
                    .table(Units::Table)
                    .col(Units::HeldCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_units_code")
                    .table(Units::Table)
                    .col(Units::Code)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        conn.execute_unprepared("DROP INDEX ix_units_code").await?;
        conn.execute_unprepared("DROP INDEX ux_units_held_code")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Units::Table)
                    .drop_column(Units::HeldCode)
                    .to_owned(),
            )
            .await?;
        conn.execute_unprepared("CREATE UNIQUE INDEX ux_units_code ON units (code)")
            .await?;
        conn.execute_unprepared("DROP INDEX ix_applications_person_status")
            .await?;
        conn.execute_unprepared("DROP INDEX ux_applications_pending_user_person")
            .await?;
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX ux_applications_pending_person ON applications (id_number_bidx) WHERE status = 'pending'",
        )
        .await?;
        Ok(())
    }
}
