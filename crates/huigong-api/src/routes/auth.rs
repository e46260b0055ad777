//! `/api/v1/auth`: WeChat login and logout.

use crate::auth::SessionCaller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::me::UserView;
use crate::state::AppState;
use actix_web::{HttpResponse, post, web};
use huigong_store::{SessionRecord, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// WeChat login codes are short; anything longer is not one.
const MAX_CODE_LEN: usize = 128;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatLoginRequest {
    /// The code from the mini program's `wx.login()`.
    #[schema(example = "0a3Xk2Ga1xYt0J0hPnIa1Xk2Ga1xYt0J")]
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    /// Seconds until the token and its session expire.
    pub expires_in: u64,
    pub user: UserView,
    /// The password was set by an administrator: until it is changed with
    /// `POST /api/v1/me/password`, every other route answers 403 `password_change_required`.
    pub password_change_required: bool,
}

/// Logs a worker in with a `wx.login()` code (exchanged with WeChat's `jscode2session`).
///
/// Creates the account on first login. Each code works once: a reused code answers 400
/// `wechat_code_used`, an unknown or expired one 400 `wechat_code_invalid`.
#[utoipa::path(
    tag = "auth",
    request_body = WechatLoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody, description = "invalid, expired or reused code"),
        (status = 403, body = ErrorBody, description = "WeChat blocked a high-risk user"),
        (status = 429, body = ErrorBody, description = "WeChat rate limit"),
        (status = 502, body = ErrorBody, description = "WeChat unreachable or misconfigured"),
        (status = 503, body = ErrorBody, description = "WeChat busy, database or session store down"),
    )
)]
#[post("/api/v1/auth/wechat/login")]
pub async fn wechat_login(
    state: web::Data<AppState>,
    body: crate::json::Json<WechatLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = body.code.trim();
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid_field(
            "code",
            "code 须为 wx.login() 返回的登录凭证",
        ));
    }
    let wx = state.wechat.code2session(code).await?;
    let now = state.clock.now();
    let user =
        users::upsert_wechat_login(&state.db, &wx.openid, wx.unionid.as_deref(), now).await?;
    let ttl =
        chrono::Duration::from_std(state.auth.session_ttl).map_err(|e| ApiError::internal(&e))?;
    let expires_at = now + ttl;
    let record = SessionRecord {
        user_id: user.id,
        role: user.role,
        openid: Some(wx.openid),
        unionid: wx.unionid,
        session_key: Some(wx.session_key),
        created_at: now,
        expires_at,
        password_change_required: false,
    };
    let session_id = state.sessions.create(&record, now).await?;
    let token = state.jwt.issue(user.id, session_id, now, expires_at)?;
    tracing::info!("wechat login");
    Ok(HttpResponse::Ok().json(LoginResponse {
        token,
        expires_in: state.auth.session_ttl.as_secs(),
        user: UserView::from(&user),
        password_change_required: false,
    }))
}

/// Ends the caller's session at once, on every instance. The token stops working.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "logged out"),
        (status = 401, body = ErrorBody),
    )
)]
#[post("/api/v1/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    SessionCaller(caller): SessionCaller,
) -> Result<HttpResponse, ApiError> {
    state.sessions.delete(caller.session_id).await?;
    tracing::info!("logout");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordLoginRequest {
    pub username: String,
    pub password: String,
    /// The authenticator's current 6-digit code, once the account has enrolled one.
    #[serde(default)]
    pub totp: Option<String>,
    /// Instead of `totp`: one of the account's recovery codes (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Logs an administrator in with username and password (Argon2id).
///
/// Guessing is limited (see `docs/security.md`, item 9): five wrong passwords for one username
/// from one client address within `auth.login_window_secs` (15 minutes) answer 429
/// `account_locked` with `Retry-After` for that address only — the owner can still log in from
/// elsewhere; thirty failures from one address, whatever the usernames, 429
/// `too_many_attempts`. Attempts are counted before the password is checked, so concurrent
/// guesses do not get extra tries. An unknown username is answered exactly like a wrong
/// password, 429 included. A disabled account answers 403 `account_disabled` once the password
/// is right.
///
/// Two-factor login: once the account has an active authenticator (`/api/v1/auth/totp/*`),
/// the right password without a code answers 401 `totp_required`; a wrong, stale or replayed
/// code 401 `totp_invalid`; codes have their own limit per account (five per window, then 429
/// `account_locked`). An account whose role is in `auth.require_totp_for` and that has not
/// enrolled gets 403 `totp_enrolment_required` with a short-lived `enrolment_token` for the
/// enrolment endpoints.
///
/// A password set by an administrator logs in with `password_change_required: true`: that
/// session can only change it (`POST /api/v1/me/password`).
#[utoipa::path(
    tag = "auth",
    request_body = PasswordLoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = ErrorBody, description = "username or password missing or too long"),
        (status = 401, body = ErrorBody, description = "unknown username or wrong password; `totp_required`; `totp_invalid`"),
        (status = 403, body = crate::routes::totp::EnrolmentRequiredBody, description = "`totp_enrolment_required`: password right, authenticator to enrol first; or `account_disabled` (an `ErrorBody`)"),
        (status = 429, body = ErrorBody, description = "`account_locked` (this username from this address, or its codes) or `too_many_attempts` (this address), with `Retry-After`"),
        (status = 503, body = ErrorBody, description = "database or session store down"),
    )
)]
#[post("/api/v1/auth/password/login")]
pub async fn password_login(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    body: crate::json::Json<PasswordLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    match password_sign_in(&state, &req, body.into_inner()).await? {
        SignIn::Session(login) => Ok(HttpResponse::Ok().json(login)),
        SignIn::EnrolmentRequired { ticket } => {
            Ok(crate::routes::totp::enrolment_required_response(ticket))
        }
    }
}

/// What a right password (and second factor) leads to.
#[derive(Debug)]
pub enum SignIn {
    /// A session was opened; its token is in the answer.
    Session(LoginResponse),
    /// The account must enrol an authenticator first: a short-lived ticket that only enrols
    /// (`crate::routes::totp::start_enrolment`, `confirm_enrolment`).
    EnrolmentRequired { ticket: String },
}

/// Password login with every guess limit, the second factor and the session, for the JSON
/// route and the console alike (see [`password_login`] for the rules).
pub async fn password_sign_in(
    state: &AppState,
    req: &actix_web::HttpRequest,
    body: PasswordLoginRequest,
) -> Result<SignIn, ApiError> {
    let PasswordLoginRequest {
        username,
        password,
        totp,
        recovery_code,
    } = body;
    if username.is_empty() || username.len() > 64 || password.is_empty() || password.len() > 256 {
        return Err(ApiError::invalid_field("username", "请输入用户名和密码"));
    }
    let username = username.trim();
    let now = state.clock.now();
    // Counted before the password is checked: concurrent guesses get no extra tries.
    let attempt = crate::guesses::reserve_password(state, req, username, now).await?;
    let account = users::find_credentials(&state.db, username).await?;
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let ok = crate::password::verify_off_thread(hash, password).await?;
    let account = match account {
        Some(account) if ok => account,
        _ => return Err(invalid_credentials()),
    };
    attempt.succeeded(state).await?;
    // The epoch before the account's state: a disabling that commits after this read ends the
    // session at once (see `huigong_store::sessions`).
    let epoch = state.sessions.epoch(account.user.id).await?;
    let user = users::find(&state.db, account.user.id)
        .await?
        .ok_or_else(invalid_credentials)?;
    if user.disabled_at.is_some() {
        return Err(account_disabled());
    }
    if let Some(ticket) =
        crate::routes::totp::second_factor(state, req, &account, totp, recovery_code, now).await?
    {
        return Ok(SignIn::EnrolmentRequired { ticket });
    }
    users::record_login_success(&state.db, user.id, now).await?;
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
        password_change_required: user.must_change_password,
    };
    let session_id = state.sessions.create_under(&record, &epoch, now).await?;
    let token = state.jwt.issue(user.id, session_id, now, expires_at)?;
    tracing::info!("password login");
    Ok(SignIn::Session(LoginResponse {
        token,
        expires_in: state.auth.session_ttl.as_secs(),
        user: UserView::from(&user),
        password_change_required: user.must_change_password,
    }))
}

/// 403 `account_disabled`: an administrator disabled the account.
pub(crate) fn account_disabled() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "account_disabled",
        "该账户已被停用，请联系上级管理员",
    )
}

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "用户名或密码错误",
    )
}
