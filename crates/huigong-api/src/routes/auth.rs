//! `/api/v1/auth`: WeChat login and logout.

use crate::auth::Caller;
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
    };
    let session_id = state.sessions.create(&record, now).await?;
    let token = state.jwt.issue(user.id, session_id, now, expires_at)?;
    tracing::info!("wechat login");
    Ok(HttpResponse::Ok().json(LoginResponse {
        token,
        expires_in: state.auth.session_ttl.as_secs(),
        user: UserView::from(&user),
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
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    state.sessions.delete(caller.session_id).await?;
    tracing::info!("logout");
    Ok(HttpResponse::NoContent().finish())
}

/// Failed passwords before an account locks, and for how long.
const MAX_FAILED_LOGINS: i32 = 5;
const LOCK_MINUTES: i64 = 15;

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
/// Five wrong passwords lock the account for 15 minutes (429 `account_locked` with
/// `Retry-After`). An unknown username and a wrong password give the same answer in about the
/// same time.
///
/// Two-factor login: once the account has an active authenticator (`/api/v1/auth/totp/*`),
/// the right password without a code answers 401 `totp_required`; a wrong, stale or replayed
/// code 401 `totp_invalid`, which counts toward the lockout like a wrong password. An account
/// whose role is in `auth.require_totp_for` and that has not enrolled gets 403
/// `totp_enrolment_required` with a short-lived `enrolment_token` for the enrolment endpoints.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordLoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, body = ErrorBody, description = "unknown username or wrong password; `totp_required`; `totp_invalid`"),
        (status = 403, body = crate::routes::totp::EnrolmentRequiredBody, description = "`totp_enrolment_required`: password right, authenticator to enrol first"),
        (status = 429, body = ErrorBody, description = "account locked after repeated failures"),
    )
)]
#[post("/api/v1/auth/password/login")]
pub async fn password_login(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    body: crate::json::Json<PasswordLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let PasswordLoginRequest {
        username,
        password,
        totp,
        recovery_code,
    } = body.into_inner();
    if username.is_empty() || username.len() > 64 || password.is_empty() || password.len() > 256 {
        return Err(ApiError::invalid_field("username", "请输入用户名和密码"));
    }
    let now = state.clock.now();
    let account = users::find_credentials(&state.db, username.trim()).await?;
    if let Some(locked_until) = account
        .as_ref()
        .and_then(|a| a.locked_until)
        .filter(|t| *t > now)
    {
        let secs = (locked_until - now).num_seconds().max(1);
        return Err(ApiError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "account_locked",
            format!(
                "密码错误次数过多，账户已锁定，请 {} 分钟后再试",
                (secs + 59) / 60
            ),
        )
        .with_retry_after(u64::try_from(secs).unwrap_or(60)));
    }
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let ok = crate::password::verify_off_thread(hash, password).await?;
    let account = match account {
        Some(account) if ok => account,
        other => {
            if let Some(a) = other {
                users::record_login_failure(
                    &state.db,
                    a.user.id,
                    MAX_FAILED_LOGINS,
                    now + chrono::Duration::minutes(LOCK_MINUTES),
                )
                .await?;
            }
            return Err(invalid_credentials());
        }
    };
    if let Some(answer) =
        crate::routes::totp::second_factor(&state, &req, &account, totp, recovery_code, now).await?
    {
        return Ok(answer);
    }
    users::record_login_success(&state.db, account.user.id, now).await?;
    let ttl =
        chrono::Duration::from_std(state.auth.session_ttl).map_err(|e| ApiError::internal(&e))?;
    let expires_at = now + ttl;
    let record = SessionRecord {
        user_id: account.user.id,
        role: account.user.role,
        openid: None,
        unionid: None,
        session_key: None,
        created_at: now,
        expires_at,
    };
    let session_id = state.sessions.create(&record, now).await?;
    let token = state
        .jwt
        .issue(account.user.id, session_id, now, expires_at)?;
    tracing::info!("password login");
    Ok(HttpResponse::Ok().json(LoginResponse {
        token,
        expires_in: state.auth.session_ttl.as_secs(),
        user: UserView::from(&account.user),
    }))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "用户名或密码错误",
    )
}
