//! `/api/v1/admin/users/…` and `/api/v1/me/password`: taking accounts away (see
//! [`crate::accounts`] for the rules).

use crate::auth::{AdminCaller, SessionCaller};
use crate::error::{ApiError, ErrorBody};
use crate::routes::auth::LoginResponse;
use crate::routes::me::UserView;
use crate::routes::params::{self, Page};
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use huigong_store::SessionRecord;
use huigong_store::users::ManagedAccount;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An account as the administrators who manage it see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManagedAccountView {
    pub id: Uuid,
    pub username: Option<String>,
    /// `county_admin`, `district_admin`, `grassroots_admin` or `merchant_staff`.
    #[schema(example = "grassroots_admin")]
    pub role: String,
    /// The org of an administrator.
    pub org_id: Option<Uuid>,
    /// The merchant of a staff member.
    pub merchant_id: Option<Uuid>,
    pub disabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Set by an administrator's reset until the owner changes it.
    pub password_change_required: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<ManagedAccount> for ManagedAccountView {
    fn from(a: ManagedAccount) -> Self {
        Self {
            id: a.user.id,
            username: a.user.username,
            role: a.user.role.as_str().to_owned(),
            org_id: a.user.org_id,
            merchant_id: a.merchant_id,
            disabled: a.user.disabled_at.is_some(),
            disabled_at: a.user.disabled_at,
            password_change_required: a.user.must_change_password,
            created_at: a.user.created_at,
            last_login_at: a.user.last_login_at,
        }
    }
}

fn path_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.trim()).map_err(|_| ApiError::invalid_field("id", "id 格式不正确"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// From 1.
    page: Option<String>,
    /// 1–100, default 20.
    per_page: Option<String>,
}

/// The administrator and merchant-staff accounts the caller manages, by username: those of
/// orgs strictly below its own, those of its own org with a lower role, and the staff of
/// merchants onboarded within its subtree. Never the caller itself.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(AccountsQuery),
    responses(
        (status = 200, body = Page<ManagedAccountView>),
        (status = 400, body = ErrorBody, description = "bad `page` or `per_page`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not an administrator, or `password_change_required`"),
    )
)]
#[get("/api/v1/admin/users")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: crate::query::Query<AccountsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let (items, total) = huigong_store::users::list_managed(
        &state.db.conn,
        &crate::accounts::manager(&admin),
        page,
        per_page,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: items.into_iter().map(ManagedAccountView::from).collect(),
        total,
        page,
        per_page,
    }))
}

/// One account the caller manages.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account")),
    responses(
        (status = 200, body = ManagedAccountView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such account among those the caller manages"),
    )
)]
#[get("/api/v1/admin/users/{id}")]
pub async fn get_account(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = crate::accounts::find(&state, &admin, path_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ManagedAccountView::from(account)))
}

/// Disables an account the caller manages: no login (403 `account_disabled`), and every
/// session of it ends on every instance at its next request. Audited (`account.disable`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account")),
    responses(
        (status = 200, body = ManagedAccountView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such account among those the caller manages"),
        (status = 503, body = ErrorBody, description = "database or session store down: repeat"),
    )
)]
#[post("/api/v1/admin/users/{id}/disable")]
pub async fn disable_account(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account =
        crate::accounts::set_disabled(&state, &admin, &admin.actor(&req), path_id(&id)?, true)
            .await?;
    Ok(HttpResponse::Ok().json(ManagedAccountView::from(account)))
}

/// Enables a disabled account the caller manages. Audited (`account.enable`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account")),
    responses(
        (status = 200, body = ManagedAccountView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such account among those the caller manages"),
    )
)]
#[post("/api/v1/admin/users/{id}/enable")]
pub async fn enable_account(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account =
        crate::accounts::set_disabled(&state, &admin, &admin.actor(&req), path_id(&id)?, false)
            .await?;
    Ok(HttpResponse::Ok().json(ManagedAccountView::from(account)))
}

/// Ends every session of an account the caller manages, on every instance. Audited
/// (`account.sessions_revoke`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account")),
    responses(
        (status = 204, description = "every session ended"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such account among those the caller manages"),
        (status = 503, body = ErrorBody, description = "session store down"),
    )
)]
#[delete("/api/v1/admin/users/{id}/sessions")]
pub async fn revoke_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    crate::accounts::revoke_sessions(&state, &admin, &admin.actor(&req), path_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A temporary password, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetView {
    /// Give it to the account's owner: it logs in once with it and must then choose its own.
    pub temporary_password: String,
}

/// Resets the password of an account the caller manages to a random temporary one: its
/// sessions end, and its next login can only change the password (every other route answers
/// 403 `password_change_required`). Audited (`account.password_reset`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the account")),
    responses(
        (status = 200, body = PasswordResetView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such account among those the caller manages"),
    )
)]
#[post("/api/v1/admin/users/{id}/password-reset")]
pub async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let temporary_password =
        crate::accounts::reset_password(&state, &admin, &admin.actor(&req), path_id(&id)?).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(PasswordResetView { temporary_password }))
}

/// Unbinds a staff member from the merchant, at once on every instance: the account is
/// disabled and its sessions end. Audited (`merchant.staff_unbind`).
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "the merchant"),
        ("user_id" = Uuid, Path, description = "the staff account"),
    ),
    responses(
        (status = 204, description = "unbound"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such staff member of a merchant in the caller's scope"),
    )
)]
#[delete("/api/v1/admin/merchants/{id}/staff/{user_id}")]
pub async fn unbind_staff(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (merchant, user) = path.into_inner();
    let merchant = path_id(&merchant)?;
    let user = Uuid::parse_str(user.trim())
        .map_err(|_| ApiError::invalid_field("user_id", "user_id 格式不正确"))?;
    crate::accounts::unbind_staff(&state, &admin, &admin.actor(&req), merchant, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub old_password: String,
    /// 10–128 characters with three of: lower case, upper case, digits, symbols.
    pub new_password: String,
}

/// Changes the caller's own password (also from a session that must change it). Every session
/// of the account ends; the answer carries a new one. A wrong old password counts like a wrong
/// login. Audited (`account.password_change`).
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, body = LoginResponse, description = "changed; a new session"),
        (status = 400, body = ErrorBody, description = "`old_password_wrong`, or a new password that breaks the policy"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "an account without a password (a worker)"),
        (status = 429, body = ErrorBody, description = "too many wrong passwords, with `Retry-After`"),
    )
)]
#[post("/api/v1/me/password")]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    SessionCaller(caller): SessionCaller,
    body: crate::json::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangePasswordRequest {
        old_password,
        new_password,
    } = body.into_inner();
    if old_password.is_empty() || old_password.len() > 256 {
        return Err(ApiError::invalid_field("old_password", "请输入原密码"));
    }
    if new_password.len() > 512 {
        return Err(ApiError::invalid_field("new_password", "新密码过长"));
    }
    let user = crate::accounts::change_own_password(
        &state,
        &req,
        &caller.actor(&req),
        caller.user_id,
        old_password,
        new_password,
    )
    .await?;
    let now = state.clock.now();
    let ttl =
        chrono::Duration::from_std(state.auth.session_ttl).map_err(|e| ApiError::internal(&e))?;
    let expires_at = now + ttl;
    let record = SessionRecord {
        user_id: user.id,
        role: user.role,
        openid: None,
        unionid: None,
        session_key: None,
        created_at: now,
        expires_at,
        password_change_required: false,
    };
    let session_id = state.sessions.create(&record, now).await?;
    let token = state.jwt.issue(user.id, session_id, now, expires_at)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(LoginResponse {
            token,
            expires_in: state.auth.session_ttl.as_secs(),
            user: UserView::from(&user),
            password_change_required: false,
        }))
}
