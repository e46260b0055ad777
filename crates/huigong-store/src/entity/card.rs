//! A 惠工卡: the person's member card, bound to one WeChat account.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cards")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// 16 digits with a Luhn check digit (`huigong_core::card_number`); unique.
    pub card_number: String,
    /// At most one card per person that is not cancelled.
    pub person_id: Uuid,
    /// The membership the card stands for (follows transfers).
    pub membership_id: Uuid,
    /// The bound WeChat account; none after an admin unbinds it.
    pub user_id: Option<Uuid>,
    /// `active`, `suspended` or `cancelled`.
    pub status: String,
    pub activated_at: DateTimeUtc,
    pub unbound_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
