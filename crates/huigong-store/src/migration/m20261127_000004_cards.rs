//! The 惠工卡: one card per person (among cards not cancelled), bound to at most one WeChat
//! account, and one WeChat account bound to at most one card.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cards {
    Table,
    Id,
    CardNumber,
    PersonId,
    MembershipId,
    UserId,
    Status,
    ActivatedAt,
    UnboundAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum People {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
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
                    .table(Cards::Table)
                    .col(ColumnDef::new(Cards::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Cards::CardNumber).string_len(16).not_null())
                    .col(ColumnDef::new(Cards::PersonId).uuid().not_null())
                    .col(ColumnDef::new(Cards::MembershipId).uuid().not_null())
                    // The WeChat account the card is bound to; null once an admin unbinds it.
                    .col(ColumnDef::new(Cards::UserId).uuid().null())
                    // active | suspended | cancelled
                    .col(ColumnDef::new(Cards::Status).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Cards::ActivatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Cards::UnboundAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Cards::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Cards::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cards_person")
                            .from(Cards::Table, Cards::PersonId)
                            .to(People::Table, People::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cards_membership")
                            .from(Cards::Table, Cards::MembershipId)
                            .to(Memberships::Table, Memberships::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cards_user")
                            .from(Cards::Table, Cards::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_cards_card_number")
                    .table(Cards::Table)
                    .col(Cards::CardNumber)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_cards_membership")
                    .table(Cards::Table)
                    .col(Cards::MembershipId)
                    .to_owned(),
            )
            .await?;
        // One person, one card; one WeChat account, one card (same syntax on both engines).
        let conn = manager.get_connection();
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX ux_cards_live_person ON cards (person_id) WHERE status <> 'cancelled'",
        )
        .await?;
        conn.execute_unprepared(
            "CREATE UNIQUE INDEX ux_cards_bound_user ON cards (user_id) WHERE user_id IS NOT NULL AND status <> 'cancelled'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Cards::Table).to_owned())
            .await
    }
}
