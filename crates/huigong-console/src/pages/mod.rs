//! The console's pages, one module each. Register a page's routes in [`configure`] and its
//! navigation entry in `crate::layout`.

pub mod applications;
pub mod audit;
pub mod dashboard;
pub mod members;
pub mod orgs;
pub mod reports;
pub mod roster;
pub mod signin;
pub mod till;
pub mod totp;

use actix_web::web;

/// Every console route, relative to `/console`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/assets/{version}/{name}",
        web::get().to(crate::assets::serve),
    )
    .route("", web::get().to(dashboard::to_root))
    .route("/", web::get().to(dashboard::page))
    .route("/login", web::get().to(signin::form))
    .route("/login", web::post().to(signin::submit))
    .route("/logout", web::post().to(signin::sign_out))
    .route("/totp/enrol", web::get().to(totp::start_page))
    .route("/totp/enrol", web::post().to(totp::start))
    .route("/totp/confirm", web::post().to(totp::confirm))
    .route("/till", web::get().to(till::page))
    .route("/till/verify", web::post().to(till::verify))
    .route("/till/redeem", web::post().to(till::redeem))
    .route("/orgs/{id}", web::get().to(orgs::page))
    .route("/reports/progress", web::get().to(reports::page))
    .route("/reports/progress.xlsx", web::get().to(reports::workbook))
    .route("/audit", web::get().to(audit::page))
    .route("/audit/verify", web::post().to(audit::verify))
    .configure(configure_s15a);
}

/// 入会申请, 会员, 花名册导入 and the exports.
fn configure_s15a(cfg: &mut web::ServiceConfig) {
    cfg.route("/applications", web::get().to(applications::queue))
        .route("/applications/{id}", web::get().to(applications::page))
        .route(
            "/applications/{id}/approve",
            web::post().to(applications::approve),
        )
        .route(
            "/applications/{id}/reject",
            web::post().to(applications::reject),
        )
        .route("/members", web::get().to(members::page))
        .route("/members/search", web::post().to(members::search))
        .route("/members/{id}", web::get().to(members::member))
        .route("/members/{id}/reveal", web::post().to(members::reveal))
        .route("/members/{id}/changes", web::post().to(members::change))
        .route(
            "/transfers/{id}/accept",
            web::post().to(members::accept_transfer),
        )
        .route(
            "/transfers/{id}/refuse",
            web::post().to(members::refuse_transfer),
        )
        .route("/roster", web::get().to(roster::index))
        .route("/roster/{id}", web::get().to(roster::page))
        .route("/roster/{id}/upload", web::post().to(roster::upload))
        .route("/roster/{id}/commit", web::post().to(roster::commit))
        .route("/roster/{id}/jobs/{job}", web::get().to(roster::job))
        .route(
            "/roster/{id}/roster.xlsx",
            web::get().to(roster::roster_masked),
        )
        .route(
            "/roster/{id}/roster.xlsx",
            web::post().to(roster::roster_full),
        )
        .route(
            "/roster/{id}/applications.xlsx",
            web::get().to(roster::applications_xlsx),
        )
        .route(
            "/roster/{id}/signing-list.xlsx",
            web::get().to(roster::signing_list_xlsx),
        )
        .route("/roster/{id}/units.xlsx", web::get().to(roster::units_xlsx));
}

/// A 303 to `path` (after a POST, or to send the caller elsewhere).
pub fn see_other(path: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, path.to_owned()))
        .finish()
}

/// A rendered page.
pub fn html(status: actix_web::http::StatusCode, body: String) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}
