//! One audit event. Append-only (triggers refuse updates, and deletes within 180 days).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub seq: i64,
    pub occurred_at: DateTimeUtc,
    pub occurred_at_unix: i64,
    pub actor_user_id: Option<Uuid>,
    pub actor_role: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// Comma-separated names of the personal fields read or changed.
    pub fields: String,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// The vault key id whose audit chain key made `hash` (HMAC-SHA256); `None`: an event
    /// chained before keyed chaining, with plain SHA-256 (see `audit`).
    pub chain_key_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
