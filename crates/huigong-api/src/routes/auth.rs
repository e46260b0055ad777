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
    body: web::Json<WechatLoginRequest>,
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
    tracing::info!(user = %user.id, session = %session_id, "wechat login");
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
    tracing::info!(user = %caller.user_id, session = %caller.session_id, "logout");
    Ok(HttpResponse::NoContent().finish())
}
