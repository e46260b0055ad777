//! One member of a union's roster as it stood when the union confirmed a period (入库归档):
//! a frozen copy, its personal data sealed under this table's own context.

use crate::sealed::Sealed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roster_archives")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub confirmation_id: Uuid,
    /// 序号 in the archived roster, from 1.
    pub seq: i32,
    pub person_id: Uuid,
    pub id_number_enc: Sealed,
    pub name_enc: Sealed,
    pub mobile_enc: Option<Sealed>,
    /// `male` or `female`.
    pub sex: String,
    pub nationality: String,
    pub education: String,
    pub household_type: String,
    pub unit_name: String,
    pub employment_status: String,
    pub union_post: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
