//! `/api/v1/me/phone`: the worker confirms their mobile number through WeChat.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use huigong_core::Role;
use huigong_core::phone::Mobile;
use huigong_store::user_phones;
use huigong_wechat::WechatError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Phone-number codes are short; anything longer is not one.
const MAX_CODE_LEN: usize = 128;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneRequest {
    /// The `code` from the mini program's `getPhoneNumber` button (single-use, 5 minutes).
    #[schema(example = "e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144")]
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneView {
    /// The confirmed mobile, masked.
    #[schema(example = "138****5678")]
    pub mobile: String,
    pub confirmed_at: DateTime<Utc>,
}

fn code_invalid() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "phone_code_invalid",
        "手机号授权凭证无效、已过期或已使用，请重新授权",
    )
    .with_field("code")
}

fn wechat_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "wechat_unavailable",
        "微信服务暂时不可用，请稍后再试",
    )
    .with_retry_after(5)
}

fn map_wechat(err: WechatError) -> ApiError {
    match err {
        WechatError::InvalidCode | WechatError::CodeUsed => code_invalid(),
        WechatError::RateLimited => {
            tracing::warn!("wechat rate limit reached on getuserphonenumber (45011)");
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "wechat_rate_limited",
                "操作过于频繁，请一分钟后再试",
            )
            .with_retry_after(60)
        }
        e @ (WechatError::BadCredentials { .. } | WechatError::QuotaExceeded) => ApiError::from(e),
        other => {
            tracing::warn!(error = %other, "wechat getuserphonenumber failed");
            wechat_unavailable()
        }
    }
}

/// Confirms the caller's mobile number with a `getPhoneNumber` code (WeChat's
/// `getuserphonenumber`), stores it encrypted and answers it masked.
///
/// For logged-in WeChat workers. A code works once and only for the user whose button produced
/// it (the session's openid is sent with it): an invalid, expired, reused or another user's code
/// answers 400 `phone_code_invalid` (field `code`); WeChat unreachable or busy answers 503
/// `wechat_unavailable`. Only mainland China mobiles are accepted (400 `phone_unsupported`).
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = PhoneRequest,
    responses(
        (status = 200, body = PhoneView),
        (status = 400, body = ErrorBody, description = "invalid, expired, reused or another user's code; not a mainland mobile"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not a WeChat worker"),
        (status = 429, body = ErrorBody, description = "WeChat rate limit"),
        (status = 503, body = ErrorBody, description = "WeChat, database or session store unavailable"),
    )
)]
#[post("/api/v1/me/phone")]
pub async fn confirm_phone(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: crate::json::Json<PhoneRequest>,
) -> Result<HttpResponse, ApiError> {
    // The session's own openid goes to WeChat with the code: a code from another user's
    // `getPhoneNumber` button is refused there (40029 → 400 `phone_code_invalid`).
    let Some(openid) = caller
        .session
        .openid
        .as_deref()
        .filter(|_| caller.role == Role::Worker)
    else {
        return Err(ApiError::forbidden());
    };
    let code = body.code.trim();
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid_field(
            "code",
            "code 须为 getPhoneNumber 返回的手机号授权凭证",
        ));
    }
    let info = state
        .wechat
        .user_phone_number(code, openid)
        .await
        .map_err(map_wechat)?;
    let mobile = (info.country_code == "86")
        .then(|| Mobile::parse(&info.pure_phone_number).ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "phone_unsupported",
                "暂仅支持中国大陆手机号",
            )
            .with_field("code")
        })?;
    let now = state.clock.now();
    user_phones::confirm_now(
        &state.db,
        &state.vault,
        caller.user_id,
        &mobile,
        &caller.actor(&req),
        now,
    )
    .await?;
    tracing::info!("mobile confirmed through wechat");
    Ok(HttpResponse::Ok().json(PhoneView {
        mobile: mobile.masked(),
        confirmed_at: now,
    }))
}
