//! Error pages, in Chinese. Every console handler returns [`PageError`] for what it cannot
//! render itself; an [`ApiError`] from a service function converts into one.
//!
//! - 401 (no or ended session) redirects to the sign-in page (htmx: `HX-Redirect`).
//! - 404 looks the same whether the thing is missing or outside the caller's scope (the
//!   service functions already answer both with the same `ApiError::not_found`).
//! - 429 says when to retry; 500 says nothing about the cause (the API logged it).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use huigong_api::ApiError;
use std::borrow::Cow;
use std::fmt;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    assets: String,
    status: u16,
    title: &'a str,
    message: &'a str,
    retry: Option<String>,
}

/// An answer that is an error page (or, for a missing session, the way to the sign-in page).
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: Cow<'static, str>,
    pub retry_after_secs: Option<u64>,
}

impl PageError {
    pub fn new(
        status: StatusCode,
        title: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            title,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The 404 page: the same for "missing" and "not yours".
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "页面不存在",
            "您访问的页面或记录不存在。",
        )
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "无权访问", message)
    }

    /// A non-GET request without the right CSRF token.
    pub fn csrf() -> Self {
        Self::forbidden("页面已过期或来源不明，请刷新页面后重新提交。")
    }

    /// No session, or it ended: the caller is sent to sign in.
    pub fn sign_in() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "请登录",
            "登录已失效或未登录，请重新登录。",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "系统错误",
            "服务器内部错误，请稍后再试。如问题持续，请联系县总工会系统管理员。",
        )
    }

    /// Renders the page (or the redirect to sign in).
    pub fn page(&self) -> HttpResponse {
        if self.status == StatusCode::UNAUTHORIZED {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("{}/login", crate::PREFIX)))
                .finish();
        }
        let retry = self.retry_after_secs.map(|secs| {
            let minutes = secs.div_ceil(60).max(1);
            format!("请约 {minutes} 分钟后再试。")
        });
        let page = ErrorPage {
            assets: crate::assets::base(),
            status: self.status.as_u16(),
            title: self.title,
            message: &self.message,
            retry,
        };
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        match page.render() {
            Ok(html) => res.content_type("text/html; charset=utf-8").body(html),
            Err(e) => {
                tracing::error!(error = %e, "error page did not render");
                res.content_type("text/plain; charset=utf-8")
                    .body("系统错误")
            }
        }
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.title)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.page()
    }
}

impl From<ApiError> for PageError {
    /// The API's messages are written for people (Chinese, no personal data), so they are
    /// shown as they are, except for 500s.
    fn from(e: ApiError) -> Self {
        let status = e.status;
        let mut page = match status {
            StatusCode::UNAUTHORIZED => Self::sign_in(),
            StatusCode::NOT_FOUND => Self::not_found(),
            StatusCode::FORBIDDEN => Self::forbidden(e.body.message),
            StatusCode::TOO_MANY_REQUESTS => Self::new(status, "操作过于频繁", e.body.message),
            s if s.is_server_error() => {
                let mut p = Self::internal();
                p.status = s;
                if s == StatusCode::SERVICE_UNAVAILABLE {
                    p.title = "服务暂不可用";
                    p.message = "服务暂时不可用，请稍后再试。".into();
                }
                p
            }
            _ => Self::new(status, "无法完成操作", e.body.message),
        };
        page.retry_after_secs = e.retry_after_secs;
        page
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        tracing::error!(error = %e, "page did not render");
        Self::internal()
    }
}

/// The scope's default service: any unknown console path.
pub async fn not_found_page() -> HttpResponse {
    PageError::not_found().page()
}
