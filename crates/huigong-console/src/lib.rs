//! The web console at `/console`: server-rendered pages for union clerks, district and county
//! administrators and merchant tills (issue 15).
//!
//! - Pages are askama templates (`templates/`, checked at compile time) plus htmx for partial
//!   updates; the assets (`assets/`) are embedded in the binary ([`assets`]).
//! - A console handler parses, calls the same service function the JSON API calls, and renders.
//!   Permission and scope checks stay below (store and `huigong_api` service functions).
//! - Sessions are the API's sessions: the cookie carries the same signed token a bearer would,
//!   naming a session in the shared store ([`session`]). Every non-GET request carries a CSRF
//!   token bound to the session ([`security`]). Security headers are set for the whole scope.
//!
//! How to add a page: `docs/console.md`.

pub mod assets;
pub mod error;
pub mod layout;
pub mod pages;
pub mod security;
pub mod session;

use actix_web::middleware::from_fn;
use actix_web::web;

/// Where the console is mounted.
pub const PREFIX: &str = "/console";

/// The console's settings (`[console]` in the configuration).
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Mark cookies `Secure` (HTTPS only). Off only in development on plain HTTP.
    pub secure_cookies: bool,
}

/// Registers the console under [`PREFIX`] (call inside the application's `configure`).
pub fn configure(settings: ConsoleSettings) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.service(
            web::scope(PREFIX)
                .app_data(web::Data::new(settings))
                // Unparsable forms, queries and paths: Chinese pages, not the API's JSON.
                .app_data(web::FormConfig::default().error_handler(|_, _| bad_request()))
                .app_data(web::QueryConfig::default().error_handler(|_, _| bad_request()))
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|_, _| error::PageError::not_found().into()),
                )
                .configure(pages::configure)
                .default_service(web::to(error::not_found_page))
                .wrap(from_fn(security::csrf))
                .wrap(from_fn(security::headers)),
        );
    }
}

fn bad_request() -> actix_web::Error {
    error::PageError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "无法完成操作",
        "提交的内容格式不正确，请返回上一页检查后重试。",
    )
    .into()
}
