//! A merchant's discount for card holders.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "discounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub title: String,
    /// `percent`, `amount` or `perk`.
    pub kind: String,
    /// percent: 1–99 taken off; amount: fen taken off; perk: none.
    pub value: Option<i64>,
    pub valid_from: Date,
    pub valid_to: Date,
    pub daily_limit_per_card: i32,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
