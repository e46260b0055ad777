//! The mobile number a WeChat user confirmed through WeChat; the row id is the user's id.

use crate::sealed::Sealed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_phones")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub mobile_enc: Sealed,
    /// Blind index in the `people.mobile` domain.
    pub mobile_bidx: Vec<u8>,
    pub country_code: String,
    pub confirmed_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
