//! An employer covered by a grassroots union (a 联合工会 covers several).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "units")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// Unified social credit code or legacy organisation code, normalised (see `held_code` for uniqueness).
    pub code: String,
    /// `code` while the unit's union is approved (active or dissolved), else NULL: unique, so
    /// only an approved union holds a unit code (a pending or rejected submission holds none).
    pub held_code: Option<String>,
    /// A [`huigong_core::labels::UnitNature`] label.
    pub nature: String,
    pub address: String,
    pub employee_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
