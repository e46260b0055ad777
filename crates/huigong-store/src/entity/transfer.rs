//! A transfer (调出) awaiting, or decided by, the receiving union.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transfers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub membership_id: Uuid,
    pub person_id: Uuid,
    pub from_org_id: Uuid,
    pub to_org_id: Uuid,
    /// The new employer, when it is not the unit on the roster.
    pub to_unit_name: Option<String>,
    pub reason: String,
    pub effective_on: Date,
    /// `pending`, `accepted` or `refused`.
    pub status: String,
    pub refuse_reason: Option<String>,
    pub requested_by: Option<Uuid>,
    pub decided_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
