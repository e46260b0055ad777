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
    pub username: Option<String>,
    pub org_id: Option<Uuid>,
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
            username: m.username,
            org_id: m.org_id,
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
        username: Set(None),
        password_hash: Set(None),
        org_id: Set(None),
        failed_logins: Set(0),
        locked_until: Set(None),
    };
    let mut update = vec![user::Column::LastLoginAt, user::Column::UpdatedAt];
    if unionid.is_some() {
        update.push(user::Column::WechatUnionid);
    }
    // Through the SQLite write gate like every other write. Left to SQLite's busy handler it ran
    // faster alone (6.7k logins/s in tests/bench.sh against 4.1k through the gate), but under a
    // mixed load it could starve behind the gated writers, or make a gated writer sleep in the
    // busy handler while holding the gate: fairness first.
    let _turn = db.write_turn().await?;
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

/// A new administrator or merchant-staff account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub role: Role,
    pub username: Option<&'a str>,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    pub org_id: Option<Uuid>,
}

/// Creates an account without a WeChat identity. A taken username is `StoreError::Conflict`.
pub async fn create_account<C: sea_orm::ConnectionTrait>(
    conn: &C,
    account: NewAccount<'_>,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let saved = user::Entity::insert(user::ActiveModel {
        id: Set(Uuid::now_v7()),
        role: Set(account.role.as_str().to_owned()),
        wechat_openid: Set(None),
        wechat_unionid: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
        username: Set(account.username.map(str::to_owned)),
        password_hash: Set(account.password_hash),
        org_id: Set(account.org_id),
        failed_logins: Set(0),
        locked_until: Set(None),
    })
    .exec_with_returning(conn)
    .await?;
    saved.try_into()
}

/// What password login needs to know about an account.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The account with this username (exact, case-sensitive), if any.
pub async fn find_credentials(
    db: &Database,
    username: &str,
) -> Result<Option<Credentials>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let Some(m) = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let password_hash = m.password_hash.clone();
    let failed_logins = m.failed_logins;
    let locked_until = m.locked_until;
    Ok(Some(Credentials {
        user: m.try_into()?,
        password_hash,
        failed_logins,
        locked_until,
    }))
}

/// Counts a failed password; from `max_failures` on, locks the account until `lock_until`.
/// One statement, so concurrent failures on several instances all count.
pub async fn record_login_failure(
    db: &Database,
    id: Uuid,
    max_failures: i32,
    lock_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, QueryFilter};
    let _turn = db.write_turn().await?;
    user::Entity::update_many()
        .col_expr(
            user::Column::FailedLogins,
            Expr::col(user::Column::FailedLogins).add(1),
        )
        .filter(user::Column::Id.eq(id))
        .exec(&db.conn)
        .await?;
    user::Entity::update_many()
        .col_expr(user::Column::LockedUntil, Expr::value(lock_until))
        .col_expr(user::Column::FailedLogins, Expr::value(0))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::FailedLogins.gte(max_failures))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// A successful password login: clears failures and the lock, records the time.
pub async fn record_login_success(
    db: &Database,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let _turn = db.write_turn().await?;
    user::Entity::update_many()
        .col_expr(user::Column::FailedLogins, Expr::value(0))
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(user::Column::LastLoginAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(&db.conn)
        .await?;
    Ok(())
}
