//! Accounts repository.

use crate::entity::user;
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_core::Role;
use sea_orm::sea_query::{Expr, OnConflict};
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
    /// Set while the account is disabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// A password set by an administrator, to be changed before anything else.
    pub must_change_password: bool,
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
            disabled_at: m.disabled_at,
            must_change_password: m.must_change_password,
        })
    }
}

/// Records a WeChat login: creates the worker account on first login, otherwise updates its
/// unionid (when WeChat reported one) and last login time. One statement (`INSERT … ON CONFLICT
/// … RETURNING`), so two concurrent first logins of the same user still make one account.
///
/// # Logins are written in batches
///
/// Logins that arrive while earlier ones are being written wait in the database's
/// [`LoginQueue`] and are written together by the next statement, up to [`LOGIN_BATCH`] rows:
/// a morning's burst of logins costs a few multi-row statements instead of one statement (and on
/// SQLite one turn at the write gate) per login. Each caller still gets its own account, with
/// what its own login wrote. Two logins of the same openid in one batch are merged the way
/// running them one after the other in queue order would end: the last one's time, the last
/// unionid reported.
/// Rows are written in openid order, so that concurrent batches on PostgreSQL lock the accounts
/// they share in the same order. A failed statement fails every login of its batch alike (a
/// 503 for an unreachable database, as before).
pub async fn upsert_wechat_login(
    db: &Database,
    openid: &str,
    unionid: Option<&str>,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let start_writer = db.logins.push(
        PendingLogin {
            openid: openid.to_owned(),
            unionid: unionid.map(str::to_owned),
            now,
            reply,
        },
        match db.backend {
            // One writer at a time anyway (the write gate): the rest wait in the queue.
            crate::Backend::Sqlite => 1,
            crate::Backend::Postgres => LOGIN_WRITERS,
        },
    );
    if start_writer {
        tokio::spawn(write_logins(db.clone()));
    }
    answer
        .await
        .map_err(|_| StoreError::Unavailable("the login writer stopped".to_owned()))?
}

/// Most logins written by one statement.
pub const LOGIN_BATCH: usize = 256;
/// Most login statements running at once on PostgreSQL.
const LOGIN_WRITERS: usize = 4;

/// Logins waiting to be written (see [`upsert_wechat_login`]), one per [`Database`].
#[derive(Debug, Default)]
pub struct LoginQueue {
    state: std::sync::Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    pending: Vec<PendingLogin>,
    /// Writer tasks running.
    writers: usize,
}

#[derive(Debug)]
struct PendingLogin {
    openid: String,
    unionid: Option<String>,
    now: DateTime<Utc>,
    reply: tokio::sync::oneshot::Sender<Result<User, StoreError>>,
}

impl LoginQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `login`; whether the caller must start a writer (fewer than `writers` run).
    fn push(&self, login: PendingLogin, writers: usize) -> bool {
        let mut state = self.lock();
        state.pending.push(login);
        if state.writers < writers {
            state.writers += 1;
            true
        } else {
            false
        }
    }

    /// The next batch, or `None` (and one writer fewer) when nothing waits.
    fn next_batch(&self) -> Option<Vec<PendingLogin>> {
        let mut state = self.lock();
        if state.pending.is_empty() {
            state.writers -= 1;
            return None;
        }
        let n = state.pending.len().min(LOGIN_BATCH);
        Some(state.pending.drain(..n).collect())
    }
}

/// Counts a writer task out if it is dropped before its queue was empty (its runtime shut
/// down): the logins still waiting are answered "unavailable" rather than left waiting.
struct WriterGuard(Option<Database>);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            let mut state = db.logins.lock();
            state.writers -= 1;
            state.pending.clear();
        }
    }
}

/// Writes queued logins batch by batch until none waits.
async fn write_logins(db: Database) {
    let mut guard = WriterGuard(Some(db.clone()));
    while let Some(batch) = db.logins.next_batch() {
        let written = write_batch(&db, &batch).await;
        for login in batch {
            let answer = match &written {
                Ok(users) => users
                    .get(&login.openid)
                    .cloned()
                    .ok_or_else(|| StoreError::Other("login not returned".to_owned())),
                Err(e) => Err(e.clone()),
            };
            // The caller may have gone (a cancelled request): nothing to answer then.
            let _ = login.reply.send(answer);
        }
    }
    // `next_batch` counted this writer out.
    guard.0 = None;
}

/// One `INSERT … ON CONFLICT (wechat_openid) DO UPDATE … RETURNING` for `batch`.
async fn write_batch(
    db: &Database,
    batch: &[PendingLogin],
) -> Result<std::collections::HashMap<String, User>, StoreError> {
    // Merged per openid as if run in queue order: the last time, the last unionid reported.
    let mut merged: std::collections::BTreeMap<&str, (Option<&str>, DateTime<Utc>)> =
        std::collections::BTreeMap::new();
    for login in batch {
        let entry = merged
            .entry(login.openid.as_str())
            .or_insert((None, login.now));
        if login.unionid.is_some() {
            entry.0 = login.unionid.as_deref();
        }
        entry.1 = login.now;
    }
    let models = merged
        .iter()
        .map(|(openid, (unionid, now))| user::ActiveModel {
            id: Set(Uuid::now_v7()),
            role: Set(Role::Worker.as_str().to_owned()),
            wechat_openid: Set(Some((*openid).to_owned())),
            wechat_unionid: Set(unionid.map(str::to_owned)),
            created_at: Set(*now),
            updated_at: Set(*now),
            last_login_at: Set(Some(*now)),
            username: Set(None),
            password_hash: Set(None),
            org_id: Set(None),
            failed_logins: Set(0),
            locked_until: Set(None),
            disabled_at: Set(None),
            must_change_password: Set(false),
        });
    // A login without a unionid keeps the one on record.
    let keep_unionid = Expr::cust("COALESCE(excluded.wechat_unionid, users.wechat_unionid)");
    // Through the SQLite write gate like every other write. Left to SQLite's busy handler it ran
    // faster alone (6.7k logins/s in tests/bench.sh against 4.1k through the gate), but under a
    // mixed load it could starve behind the gated writers, or make a gated writer sleep in the
    // busy handler while holding the gate: fairness first (batches make up for it).
    let _turn = db.write_turn().await?;
    let saved = user::Entity::insert_many(models)
        .on_conflict(
            OnConflict::column(user::Column::WechatOpenid)
                .update_columns([user::Column::LastLoginAt, user::Column::UpdatedAt])
                .value(user::Column::WechatUnionid, keep_unionid)
                .to_owned(),
        )
        .exec_with_returning(&db.conn)
        .await?;
    saved
        .into_iter()
        .map(|m| {
            let user = User::try_from(m)?;
            Ok((user.wechat_openid.clone().unwrap_or_default(), user))
        })
        .collect()
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
        disabled_at: Set(None),
        must_change_password: Set(false),
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

/// Who manages accounts: an administrator, its org and the org's path (its scope).
#[derive(Debug, Clone, Copy)]
pub struct Manager<'a> {
    pub user_id: Uuid,
    pub role: Role,
    pub org_id: Uuid,
    pub scope: &'a str,
}

/// An account as the administrators who manage it see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedAccount {
    pub user: User,
    /// For merchant staff: the merchant it works for.
    pub merchant_id: Option<Uuid>,
}

/// Administrator roles, highest first.
fn rank(role: Role) -> u8 {
    match role {
        Role::CountyAdmin => 3,
        Role::DistrictAdmin => 2,
        Role::GrassrootsAdmin => 1,
        Role::Worker | Role::MerchantStaff => 0,
    }
}

/// The accounts `manager` may disable, enable, reset and sign out — the one rule, as a query
/// condition: administrator accounts of orgs strictly below the manager's org, administrator
/// accounts of the manager's own org with a lower role, and staff accounts of merchants
/// onboarded within the manager's subtree (its own org included). Never the manager itself,
/// never a worker (workers have no password and are managed through their membership).
fn managed_by(manager: &Manager<'_>) -> sea_orm::Condition {
    use crate::entity::{merchant, merchant_staff, org};
    use sea_orm::sea_query::Query;
    use sea_orm::{ColumnTrait, Condition};
    let strictly_below = Query::select()
        .column(org::Column::Id)
        .from(org::Entity)
        .and_where(org::Column::Path.starts_with(manager.scope))
        .and_where(org::Column::Path.ne(manager.scope))
        .to_owned();
    let admin_roles = [
        Role::CountyAdmin,
        Role::DistrictAdmin,
        Role::GrassrootsAdmin,
    ];
    let lower: Vec<&str> = admin_roles
        .iter()
        .filter(|r| rank(**r) < rank(manager.role))
        .map(|r| r.as_str())
        .collect();
    let staff_in_scope = Query::select()
        .column(merchant_staff::Column::UserId)
        .from(merchant_staff::Entity)
        .and_where(
            merchant_staff::Column::MerchantId.in_subquery(
                Query::select()
                    .column(merchant::Column::Id)
                    .from(merchant::Entity)
                    .and_where(
                        merchant::Column::OrgId
                            .in_subquery(crate::orgs::ids_in_scope(manager.scope)),
                    )
                    .to_owned(),
            ),
        )
        .to_owned();
    let admins = Condition::all()
        .add(user::Column::Role.is_in(admin_roles.iter().map(|r| r.as_str())))
        .add(
            Condition::any()
                .add(user::Column::OrgId.in_subquery(strictly_below))
                .add(
                    Condition::all()
                        .add(user::Column::OrgId.eq(manager.org_id))
                        .add(user::Column::Role.is_in(lower)),
                ),
        );
    let staff = Condition::all()
        .add(user::Column::Role.eq(Role::MerchantStaff.as_str()))
        .add(user::Column::Id.in_subquery(staff_in_scope));
    Condition::all()
        .add(user::Column::Id.ne(manager.user_id))
        .add(Condition::any().add(admins).add(staff))
}

async fn with_merchants<C: sea_orm::ConnectionTrait>(
    conn: &C,
    rows: Vec<user::Model>,
) -> Result<Vec<ManagedAccount>, StoreError> {
    use crate::entity::merchant_staff;
    use sea_orm::{ColumnTrait, QueryFilter};
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let bindings: std::collections::HashMap<Uuid, Uuid> = if ids.is_empty() {
        Default::default()
    } else {
        merchant_staff::Entity::find()
            .filter(merchant_staff::Column::UserId.is_in(ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|b| (b.user_id, b.merchant_id))
            .collect()
    };
    rows.into_iter()
        .map(|m| {
            let merchant_id = bindings.get(&m.id).copied();
            Ok(ManagedAccount {
                user: m.try_into()?,
                merchant_id,
            })
        })
        .collect()
}

/// Account `id` if `manager` manages it (see [`managed_by`]); `None` otherwise, exactly as if
/// it did not exist.
pub async fn managed_in_scope<C: sea_orm::ConnectionTrait>(
    conn: &C,
    manager: &Manager<'_>,
    id: Uuid,
) -> Result<Option<ManagedAccount>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let Some(row) = user::Entity::find()
        .filter(user::Column::Id.eq(id))
        .filter(managed_by(manager))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(with_merchants(conn, vec![row]).await?.pop())
}

/// The accounts `manager` manages, by username, one page, with the total.
pub async fn list_managed<C: sea_orm::ConnectionTrait>(
    conn: &C,
    manager: &Manager<'_>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<ManagedAccount>, u64), StoreError> {
    use sea_orm::{PaginatorTrait, QueryFilter, QueryOrder};
    let query = user::Entity::find().filter(managed_by(manager));
    let total = query.clone().count(conn).await?;
    let rows = query
        .order_by_asc(user::Column::Username)
        .order_by_asc(user::Column::Id)
        .paginate(conn, per_page)
        .fetch_page(page.saturating_sub(1))
        .await?;
    Ok((with_merchants(conn, rows).await?, total))
}

/// Disables (`Some(time)`) or enables (`None`) an account, in the caller's transaction.
pub async fn set_disabled<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: Uuid,
    disabled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    user::Entity::update_many()
        .col_expr(user::Column::DisabledAt, Expr::value(disabled_at))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Sets a new password hash, in the caller's transaction; `must_change`: set by someone else,
/// to be changed at the next login.
pub async fn set_password<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: Uuid,
    password_hash: String,
    must_change: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::MustChangePassword, Expr::value(must_change))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}
