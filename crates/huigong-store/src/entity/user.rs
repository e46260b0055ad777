//! An account: a WeChat user (worker) or, later, an administrator or merchant staff member.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// A [`huigong_core::Role`] name.
    pub role: String,
    pub wechat_openid: Option<String>,
    pub wechat_unionid: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
    /// Administrators and merchant staff log in with a username and password.
    pub username: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    /// The organisation an administrator is bound to.
    pub org_id: Option<Uuid>,
    pub failed_logins: i32,
    pub locked_until: Option<DateTimeUtc>,
    /// Set while the account is disabled (no login, no session).
    pub disabled_at: Option<DateTimeUtc>,
    /// A password set by an administrator: to be changed before anything else.
    pub must_change_password: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
