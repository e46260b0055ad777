//! A union service (惠工服务) offered by the county federation or a district union.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "benefits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The org offering it; its subtree's members qualify.
    pub org_id: Uuid,
    /// A [`huigong_core::labels::BenefitCategory`] label.
    pub category: String,
    pub title: String,
    /// Who provides the service (a hospital, a training school, the federation's legal desk).
    pub provider: String,
    pub how_to_use: String,
    pub contact: String,
    /// Only for holders of an active card; otherwise open to every worker.
    pub members_only: bool,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
