//! Online applications to join a union (网上申请入会, appendix 2) and the notification outbox.
//!
//! An application keeps the applicant's data sealed in its own row until a union admin
//! approves it; only then does it become a person and a membership. One pending application
//! per person (by the ID number's blind index), enforced by a partial unique index. The outbox
//! holds messages written in the same transaction as the change they announce, delivered
//! later with retries.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
    UserId,
    OrgId,
    IdNumberBidx,
    IdNumberEnc,
    NameEnc,
    MobileEnc,
    Nationality,
    Education,
    HouseholdType,
    UnitName,
    EmploymentStatus,
    UnionPost,
    DeclarationVersion,
    ConsentSensitive,
    SignatureNameEnc,
    SignaturePngEnc,
    IdempotencyKey,
    Status,
    Reason,
    ReviewedBy,
    ReviewedAt,
    MembershipId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Kind,
    UserId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn text(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Applications::Table)
                    .col(
                        ColumnDef::new(Applications::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Applications::UserId).uuid().not_null())
                    .col(ColumnDef::new(Applications::OrgId).uuid().not_null())
                    .col(
                        ColumnDef::new(Applications::IdNumberBidx)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applications::IdNumberEnc)
                            .binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Applications::NameEnc).binary().not_null())
                    .col(ColumnDef::new(Applications::MobileEnc).binary().null())
                    .col(text(Applications::Nationality, 32))
                    .col(text(Applications::Education, 32))
                    .col(text(Applications::HouseholdType, 32))
                    .col(text(Applications::UnitName, 128))
                    .col(text(Applications::EmploymentStatus, 32))
                    .col(text(Applications::UnionPost, 32))
                    .col(text(Applications::DeclarationVersion, 32))
                    .col(
                        ColumnDef::new(Applications::ConsentSensitive)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applications::SignatureNameEnc)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applications::SignaturePngEnc)
                            .binary()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Applications::IdempotencyKey)
                            .string_len(128)
                            .null(),
                    )
                    .col(text(Applications::Status, 16))
                    .col(ColumnDef::new(Applications::Reason).string_len(500).null())
                    .col(ColumnDef::new(Applications::ReviewedBy).uuid().null())
                    .col(
                        ColumnDef::new(Applications::ReviewedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Applications::MembershipId).uuid().null())
                    .col(timestamp(Applications::CreatedAt))
                    .col(timestamp(Applications::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_applications_user")
                            .from(Applications::Table, Applications::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_applications_org")
                            .from(Applications::Table, Applications::OrgId)
                            .to(Orgs::Table, Orgs::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_applications_org_status",
                vec![Applications::OrgId, Applications::Status],
            ),
            ("ix_applications_user", vec![Applications::UserId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Applications::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        let conn = manager.get_connection();
        // One pending application per person; a retried request finds its first answer.
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX ux_applications_pending_person ON applications (id_number_bidx) WHERE status = 'pending'",
        )
        .await?;
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX ux_applications_idempotency ON applications (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(ColumnDef::new(Outbox::Id).uuid().not_null().primary_key())
                    .col(text(Outbox::Kind, 64))
                    .col(ColumnDef::new(Outbox::UserId).uuid().not_null())
                    .col(ColumnDef::new(Outbox::Payload).text().not_null())
                    .col(text(Outbox::Status, 16))
                    .col(ColumnDef::new(Outbox::Attempts).integer().not_null())
                    .col(timestamp(Outbox::NextAttemptAt))
                    .col(
                        ColumnDef::new(Outbox::LeaseUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Outbox::LastError).string_len(255).null())
                    .col(timestamp(Outbox::CreatedAt))
                    .col(
                        ColumnDef::new(Outbox::SentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Applications::Table).to_owned())
            .await
    }
}
