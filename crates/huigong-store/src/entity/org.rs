//! An organisation: the county federation, a district union, or a grassroots union.

use crate::sealed::Sealed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orgs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    /// An [`huigong_core::labels::OrgLevel`] label.
    pub level: String,
    /// The union's name (工会名称).
    pub name: String,
    /// `/county/…/own-id/`: the subtree of an org is every path starting with its own.
    pub path: String,
    /// `active` (approved), `pending` (submitted from below), `rejected`, `dissolved`.
    pub status: String,
    pub founded_on: Option<Date>,
    /// A [`huigong_core::labels::UnionType`] label.
    pub union_type: Option<String>,
    pub member_count_declared: Option<i32>,
    pub leader_name_enc: Option<Sealed>,
    pub phone_enc: Option<Sealed>,
    /// Why the parent rejected the submission (or approved it, if it said so).
    pub review_reason: Option<String>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub dissolved_at: Option<DateTimeUtc>,
    pub dissolution_reason: Option<String>,
    /// The union's own admin asked its parent to dissolve it.
    pub dissolution_requested_at: Option<DateTimeUtc>,
    /// The last half-year confirmation of the union's data.
    pub confirmed_at: Option<DateTimeUtc>,
    /// 附件1's 备注, if any.
    pub remark: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
