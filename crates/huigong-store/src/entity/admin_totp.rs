//! An administrator's TOTP enrolment; the row id is the user's id.

use crate::sealed::Sealed;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_totp")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub secret_enc: Option<Sealed>,
    pub pending_secret_enc: Option<Sealed>,
    pub pending_since: Option<DateTimeUtc>,
    pub confirmed_at: Option<DateTimeUtc>,
    pub last_step: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
