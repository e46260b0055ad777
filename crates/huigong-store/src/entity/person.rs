//! A natural person. Besides this table only pending applications (`applications`) hold an
//! ID number, name or mobile, sealed the same way, until a union admin reviews them.

use crate::sealed::Sealed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "people")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// HMAC of the normalised ID number: unique, for lookup.
    pub id_number_bidx: Vec<u8>,
    pub id_number_enc: Sealed,
    pub name_enc: Sealed,
    pub mobile_enc: Option<Sealed>,
    pub mobile_bidx: Option<Vec<u8>>,
    /// `male` or `female`, derived from the ID number.
    pub sex: String,
    pub birth_date: Date,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
