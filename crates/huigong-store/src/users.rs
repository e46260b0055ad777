//! Accounts repository.

use crate::entity::user;
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_core::Role;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};
use uuid::Uuid;

/// An account as the rest of the system sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub role: Role,
    pub wechat_openid: Option<String>,
    pub wechat_unionid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl TryFrom<user::Model> for User {
    type Error = StoreError;

    fn try_from(m: user::Model) -> Result<Self, Self::Error> {
        Ok(User {
            id: m.id,
            role: m
                .role
                .parse()
                .map_err(|e| StoreError::Other(format!("users.role: {e}")))?,
            wechat_openid: m.wechat_openid,
            wechat_unionid: m.wechat_unionid,
            created_at: m.created_at,
            last_login_at: m.last_login_at,
        })
    }
}

/// Records a WeChat login: creates the worker account on first login, otherwise updates its
/// unionid and last login time. One statement (`INSERT … ON CONFLICT … RETURNING`), so two
/// concurrent first logins of the same user still make one account.
pub async fn upsert_wechat_login(
    db: &Database,
    openid: &str,
    unionid: Option<&str>,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        role: Set(Role::Worker.as_str().to_owned()),
        wechat_openid: Set(Some(openid.to_owned())),
        wechat_unionid: Set(unionid.map(str::to_owned)),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(Some(now)),
    };
    let mut update = vec![user::Column::LastLoginAt, user::Column::UpdatedAt];
    if unionid.is_some() {
        update.push(user::Column::WechatUnionid);
    }
    let saved = user::Entity::insert(model)
        .on_conflict(
            OnConflict::column(user::Column::WechatOpenid)
                .update_columns(update)
                .to_owned(),
        )
        .exec_with_returning(&db.conn)
        .await?;
    saved.try_into()
}

/// The account with this id, if any.
pub async fn find(db: &Database, id: Uuid) -> Result<Option<User>, StoreError> {
    user::Entity::find_by_id(id)
        .one(&db.conn)
        .await?
        .map(User::try_from)
        .transpose()
}

/// Creates an account with `role` and no WeChat identity (administrators and merchant staff;
/// their credentials come with the accounts issue).
pub async fn create_account(
    db: &Database,
    role: Role,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let saved = user::Entity::insert(user::ActiveModel {
        id: Set(Uuid::now_v7()),
        role: Set(role.as_str().to_owned()),
        wechat_openid: Set(None),
        wechat_unionid: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
    })
    .exec_with_returning(&db.conn)
    .await?;
    saved.try_into()
}
