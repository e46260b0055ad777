//! Partner merchants (特约商家), their discounts and staff, card verifications at the till and
//! the redemptions recorded after them.
//!
//! A merchant belongs, for administration, to the org whose admin onboarded it (scope).
//! Staff accounts are ordinary `users` rows with role `merchant_staff`, bound to one merchant by
//! `merchant_staff` (a table of its own, so `users` keeps its shape). A redemption's
//! `idempotency_key` is unique per merchant; the per-card daily limit is kept by the
//! redemption transaction (see `huigong_store::merchants`), counted over `(card_id,
//! discount_id, day)` with its index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Merchants {
    Table,
    Id,
    OrgId,
    Name,
    Category,
    Address,
    Phone,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Discounts {
    Table,
    Id,
    MerchantId,
    Title,
    Kind,
    Value,
    ValidFrom,
    ValidTo,
    DailyLimitPerCard,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MerchantStaff {
    Table,
    UserId,
    MerchantId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Verifications {
    Table,
    Id,
    MerchantId,
    CardId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Redemptions {
    Table,
    Id,
    MerchantId,
    DiscountId,
    CardId,
    VerificationId,
    AmountFen,
    DiscountFen,
    Day,
    IdempotencyKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Cards {
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

fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
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
                    .table(Merchants::Table)
                    .col(uuid(Merchants::Id).primary_key())
                    .col(uuid(Merchants::OrgId))
                    .col(text(Merchants::Name, 64))
                    .col(text(Merchants::Category, 32))
                    .col(text(Merchants::Address, 128))
                    .col(text(Merchants::Phone, 32))
                    // active | suspended
                    .col(text(Merchants::Status, 16))
                    .col(timestamp(Merchants::CreatedAt))
                    .col(timestamp(Merchants::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_merchants_org",
                        (Merchants::Table, Merchants::OrgId),
                        (Orgs::Table, Orgs::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Discounts::Table)
                    .col(uuid(Discounts::Id).primary_key())
                    .col(uuid(Discounts::MerchantId))
                    .col(text(Discounts::Title, 64))
                    // percent | amount | perk
                    .col(text(Discounts::Kind, 16))
                    // percent: 1–99 (taken off); amount: fen; perk: null
                    .col(ColumnDef::new(Discounts::Value).big_integer().null())
                    .col(ColumnDef::new(Discounts::ValidFrom).date().not_null())
                    .col(ColumnDef::new(Discounts::ValidTo).date().not_null())
                    .col(
                        ColumnDef::new(Discounts::DailyLimitPerCard)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Discounts::Active).boolean().not_null())
                    .col(timestamp(Discounts::CreatedAt))
                    .col(timestamp(Discounts::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_discounts_merchant",
                        (Discounts::Table, Discounts::MerchantId),
                        (Merchants::Table, Merchants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MerchantStaff::Table)
                    .col(uuid(MerchantStaff::UserId).primary_key())
                    .col(uuid(MerchantStaff::MerchantId))
                    .col(timestamp(MerchantStaff::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_merchant_staff_user",
                        (MerchantStaff::Table, MerchantStaff::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_merchant_staff_merchant",
                        (MerchantStaff::Table, MerchantStaff::MerchantId),
                        (Merchants::Table, Merchants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Verifications::Table)
                    .col(uuid(Verifications::Id).primary_key())
                    .col(uuid(Verifications::MerchantId))
                    .col(uuid(Verifications::CardId))
                    .col(timestamp(Verifications::CreatedAt))
                    .col(timestamp(Verifications::ExpiresAt))
                    .foreign_key(&mut fk(
                        "fk_verifications_merchant",
                        (Verifications::Table, Verifications::MerchantId),
                        (Merchants::Table, Merchants::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_verifications_card",
                        (Verifications::Table, Verifications::CardId),
                        (Cards::Table, Cards::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Redemptions::Table)
                    .col(uuid(Redemptions::Id).primary_key())
                    .col(uuid(Redemptions::MerchantId))
                    .col(uuid(Redemptions::DiscountId))
                    .col(uuid(Redemptions::CardId))
                    .col(uuid(Redemptions::VerificationId))
                    .col(
                        ColumnDef::new(Redemptions::AmountFen)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Redemptions::DiscountFen)
                            .big_integer()
                            .not_null(),
                    )
                    // The Beijing local date of the redemption: what the daily limit counts.
                    .col(ColumnDef::new(Redemptions::Day).date().not_null())
                    .col(text(Redemptions::IdempotencyKey, 128))
                    .col(timestamp(Redemptions::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_redemptions_merchant",
                        (Redemptions::Table, Redemptions::MerchantId),
                        (Merchants::Table, Merchants::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_redemptions_discount",
                        (Redemptions::Table, Redemptions::DiscountId),
                        (Discounts::Table, Discounts::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_redemptions_card",
                        (Redemptions::Table, Redemptions::CardId),
                        (Cards::Table, Cards::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_redemptions_verification",
                        (Redemptions::Table, Redemptions::VerificationId),
                        (Verifications::Table, Verifications::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_redemptions_idempotency")
                    .table(Redemptions::Table)
                    .col(Redemptions::MerchantId)
                    .col(Redemptions::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, DynIden, Vec<DynIden>); 6] = [
            (
                "ix_merchants_org",
                Merchants::Table.into_iden(),
                vec![Merchants::OrgId.into_iden()],
            ),
            (
                "ix_discounts_merchant",
                Discounts::Table.into_iden(),
                vec![Discounts::MerchantId.into_iden()],
            ),
            (
                "ix_merchant_staff_merchant",
                MerchantStaff::Table.into_iden(),
                vec![MerchantStaff::MerchantId.into_iden()],
            ),
            (
                "ix_redemptions_card_day",
                Redemptions::Table.into_iden(),
                vec![
                    Redemptions::CardId.into_iden(),
                    Redemptions::DiscountId.into_iden(),
                    Redemptions::Day.into_iden(),
                ],
            ),
            (
                "ix_redemptions_merchant_day",
                Redemptions::Table.into_iden(),
                vec![
                    Redemptions::MerchantId.into_iden(),
                    Redemptions::Day.into_iden(),
                ],
            ),
            (
                "ix_verifications_merchant",
                Verifications::Table.into_iden(),
                vec![Verifications::MerchantId.into_iden()],
            ),
        ];
        for (name, table, cols) in indexes {
            let mut index = Index::create();
            index.name(name).table(table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Redemptions::Table.into_iden(),
            Verifications::Table.into_iden(),
            MerchantStaff::Table.into_iden(),
            Discounts::Table.into_iden(),
            Merchants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
