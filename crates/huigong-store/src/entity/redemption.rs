//! A discount redeemed with a card at a merchant.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub discount_id: Uuid,
    pub card_id: Uuid,
    pub verification_id: Uuid,
    /// The bill, in fen.
    pub amount_fen: i64,
    /// What the discount took off, in fen (0 for a perk).
    pub discount_fen: i64,
    /// Beijing local date: what the per-card daily limit counts.
    pub day: Date,
    /// Unique per merchant: a retry finds the first record.
    pub idempotency_key: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
