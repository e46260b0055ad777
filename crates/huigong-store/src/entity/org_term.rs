//! One term of a union's committee (换届): the leader, the committee, the dates.

use crate::sealed::Sealed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_terms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub leader_name_enc: Sealed,
    /// The committee as the union writes it (names and posts).
    pub committee: String,
    pub starts_on: Date,
    pub ends_on: Date,
    pub created_by: Option<Uuid>,
    /// `pending` (submitted by the union), `approved` or `rejected` (by its parent).
    pub status: String,
    /// The contact phone the term brings, if given (sealed).
    pub phone_enc: Option<Sealed>,
    pub review_reason: Option<String>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
