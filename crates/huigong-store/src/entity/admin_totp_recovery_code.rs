//! A single-use recovery code of an administrator's two-factor login, stored as a salted hash.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_totp_recovery_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub salt: Vec<u8>,
    /// SHA-256 over the salt and the normalised code.
    pub code_hash: Vec<u8>,
    /// False while the code belongs to an enrolment not yet confirmed.
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
