//! The one error type of the API and its JSON shape: `{"code": "...", "message": "..."}`.
//!
//! What the client sees is chosen here, explicitly; internal causes are logged (never sent) and
//! never contain personal data or secrets.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error::JsonPayloadError};
use huigong_store::{EphemeralError, StoreError};
use huigong_wechat::WechatError;
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable reason, snake_case.
    #[schema(example = "wechat_code_used")]
    pub code: &'static str,
    /// Human-readable explanation in Chinese.
    #[schema(example = "登录凭证已被使用，请重新登录")]
    pub message: Cow<'static, str>,
    /// The request field at fault, for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Cow<'static, str>>,
}

/// An error answer: status, code, message, and optionally the offending field.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                field: None,
            },
            retry_after_secs: None,
        }
    }

    /// 400 for one bad field, named in `field` and in the message.
    pub fn invalid_field(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_field", message);
        e.body.field = Some(field.into());
        e
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "登录已失效或未登录，请重新登录",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "无权访问该功能")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "请求的资源不存在")
    }

    /// 500 with a fixed message; `cause` goes to the log only.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "服务器内部错误，请稍后再试",
        )
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.body.field = Some(field.into());
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.body.code)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(&self.body)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "数据服务暂时不可用，请稍后再试",
                )
                .with_retry_after(5)
            }
            StoreError::NotFound => Self::not_found(),
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "数据已存在或与现有记录冲突",
            ),
            StoreError::Other(cause) => Self::internal(&cause),
        }
    }
}

impl From<EphemeralError> for ApiError {
    fn from(err: EphemeralError) -> Self {
        let EphemeralError::Unavailable(cause) = err;
        tracing::warn!(error = %cause, "session store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "session_store_unavailable",
            "会话服务暂时不可用，请稍后再试",
        )
        .with_retry_after(5)
    }
}

impl From<WechatError> for ApiError {
    fn from(err: WechatError) -> Self {
        match err {
            WechatError::InvalidCode => Self::new(
                StatusCode::BAD_REQUEST,
                "wechat_code_invalid",
                "微信登录凭证无效或已过期，请重新登录",
            ),
            WechatError::CodeUsed => Self::new(
                StatusCode::BAD_REQUEST,
                "wechat_code_used",
                "微信登录凭证已被使用，请重新登录",
            ),
            WechatError::RateLimited => {
                tracing::warn!("wechat rate limit reached (45011)");
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "wechat_rate_limited",
                    "登录过于频繁，请一分钟后再试",
                )
                .with_retry_after(60)
            }
            WechatError::HighRiskUser => Self::new(
                StatusCode::FORBIDDEN,
                "wechat_user_blocked",
                "微信判定该账号存在风险，暂时无法登录",
            ),
            WechatError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "wechat_busy",
                "微信服务繁忙，请稍后再试",
            )
            .with_retry_after(3),
            WechatError::BadCredentials { errcode } => {
                tracing::error!(
                    errcode,
                    "wechat rejected our appid/secret: check wechat.appid and wechat.secret"
                );
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "wechat_misconfigured",
                    "微信登录服务配置有误，请联系管理员",
                )
            }
            WechatError::QuotaExceeded => {
                tracing::warn!("wechat daily quota reached (45009)");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "wechat_quota_exceeded",
                    "微信服务今日调用次数已达上限，请稍后再试",
                )
                .with_retry_after(600)
            }
            other @ (WechatError::AccessTokenRejected { .. }
            | WechatError::TokenCache(_)
            | WechatError::TokenBusy) => {
                tracing::warn!(error = %other, "wechat access token unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "wechat_unavailable",
                    "微信服务暂时不可用，请稍后再试",
                )
                .with_retry_after(5)
            }
            other @ (WechatError::InvalidScene | WechatError::InvalidPage) => {
                tracing::error!(error = %other, "wechat refused to make the mini-program code");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "wechat_wxacode_refused",
                    "微信拒绝生成小程序码（页面或场景值无效），请联系管理员",
                )
            }
            other @ (WechatError::Api { .. }
            | WechatError::UserRefused
            | WechatError::Transport(_)
            | WechatError::Decode(_)) => {
                tracing::warn!(error = %other, "wechat call failed");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "wechat_unavailable",
                    "暂时无法连接微信服务，请稍后再试",
                )
            }
        }
    }
}

/// Turns actix's JSON extractor failures into our error shape. The message names the field or
/// position at fault but never echoes the submitted value (it may be personal data).
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "请求体过大",
            )
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "请求体须为 JSON（Content-Type: application/json）",
        ),
        JsonPayloadError::Deserialize(e) => deserialize_error(e),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "请求体读取失败"),
    };
    api.into()
}

/// `web::Query` errors (a route that has not moved to [`crate::query::Query`]) as JSON.
pub fn query_error(
    _err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::invalid_field("query", "查询参数的类型或取值不正确").into()
}

/// A path segment that does not parse (an id that is not a UUID, say) names nothing that
/// exists: 404 `not_found`, as JSON.
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::not_found().into()
}

pub(crate) fn deserialize_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => {
            let text = e.to_string();
            if let Some(field) = backticked_after(&text, "missing field `") {
                let message = format!("缺少字段 {field}");
                ApiError::invalid_field(field, message)
            } else if let Some(field) = backticked_after(&text, "unknown field `") {
                let message = format!("不认识的字段 {field}");
                ApiError::invalid_field(field, message)
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!(
                        "第 {} 行第 {} 列的字段类型或取值不正确",
                        e.line(),
                        e.column()
                    ),
                )
            }
        }
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "请求体不是有效的 JSON（第 {} 行第 {} 列）",
                e.line(),
                e.column()
            ),
        ),
    }
}

pub(crate) fn backticked_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let len = text[start..].find('`')?;
    Some(text[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(json: &str) -> serde_json::Error {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            code: String,
        }
        match serde_json::from_str::<Body>(json) {
            Err(e) => e,
            Ok(b) => panic!("expected an error, parsed {b:?}"),
        }
    }

    #[test]
    fn missing_field_is_named() {
        let e = deserialize_error(&parse_err("{}"));
        assert_eq!(e.body.code, "invalid_field");
        assert_eq!(e.body.field.as_deref(), Some("code"));
    }

    #[test]
    fn wrong_type_does_not_echo_the_value() {
        let e = deserialize_error(&parse_err(r#"{"code": 330522199001011234}"#));
        assert_eq!(e.body.code, "invalid_field");
        assert!(
            !e.body.message.contains("330522199001011234"),
            "{}",
            e.body.message
        );
    }

    #[test]
    fn syntax_errors_are_invalid_json() {
        let e = deserialize_error(&parse_err("{\"code\": "));
        assert_eq!(e.body.code, "invalid_json");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
