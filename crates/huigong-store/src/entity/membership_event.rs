//! One entry of a member's history: a change of membership, never updated or deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "membership_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub membership_id: Uuid,
    pub person_id: Uuid,
    pub kind: String,
    pub reason: String,
    pub effective_on: Date,
    pub from_org_id: Uuid,
    pub to_org_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub actor_role: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
