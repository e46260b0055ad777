//! A person's membership of a grassroots union, with the roster's non-identifying fields.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub person_id: Uuid,
    pub org_id: Uuid,
    pub unit_name: String,
    pub nationality: String,
    pub education: String,
    pub household_type: String,
    pub employment_status: String,
    pub union_post: String,
    /// `active`, `transferred`, `left` or `deceased`. At most one active per person.
    pub status: String,
    /// 退休: the membership is kept (保留会籍) and stays `active`; this marks it retired.
    pub retired_on: Option<Date>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
