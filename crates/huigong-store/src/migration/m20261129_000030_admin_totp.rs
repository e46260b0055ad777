//! Two-factor login for administrators: a TOTP secret per account (sealed), its enrolment
//! state, the last accepted time step (so a code works once), and single-use recovery codes
//! stored only as salted hashes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminTotp {
    Table,
    /// The user's id.
    Id,
    /// The confirmed secret (base32), sealed; NULL until the first confirmation.
    SecretEnc,
    /// A secret waiting for its first valid code, sealed; replaces nothing until confirmed.
    PendingSecretEnc,
    PendingSince,
    ConfirmedAt,
    /// The highest time step accepted so far; codes of this step or earlier are refused.
    LastStep,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AdminTotpRecoveryCodes {
    Table,
    Id,
    UserId,
    Salt,
    CodeHash,
    /// False while the codes belong to an enrolment not yet confirmed.
    Active,
    CreatedAt,
    UsedAt,
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
                    .table(AdminTotp::Table)
                    .col(
                        ColumnDef::new(AdminTotp::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AdminTotp::SecretEnc).blob().null())
                    .col(ColumnDef::new(AdminTotp::PendingSecretEnc).blob().null())
                    .col(
                        ColumnDef::new(AdminTotp::PendingSince)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AdminTotp::ConfirmedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(AdminTotp::LastStep).big_integer().null())
                    .col(
                        ColumnDef::new(AdminTotp::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminTotp::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_admin_totp_user")
                            .from(AdminTotp::Table, AdminTotp::Id)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdminTotpRecoveryCodes::Table)
                    .col(
                        ColumnDef::new(AdminTotpRecoveryCodes::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AdminTotpRecoveryCodes::UserId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminTotpRecoveryCodes::Salt)
                            .blob()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminTotpRecoveryCodes::CodeHash)
                            .blob()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminTotpRecoveryCodes::Active)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminTotpRecoveryCodes::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AdminTotpRecoveryCodes::UsedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_admin_totp_recovery_codes_user")
                            .from(
                                AdminTotpRecoveryCodes::Table,
                                AdminTotpRecoveryCodes::UserId,
                            )
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_admin_totp_recovery_codes_user")
                    .table(AdminTotpRecoveryCodes::Table)
                    .col(AdminTotpRecoveryCodes::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(AdminTotpRecoveryCodes::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AdminTotp::Table).to_owned())
            .await
    }
}
