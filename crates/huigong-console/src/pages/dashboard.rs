//! 工作台: the caller's numbers at a glance, each linking to where to act.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::{html, see_other};
use crate::session::{Signed, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use huigong_api::AdminCaller;
use huigong_core::Role;
use huigong_store::dashboard::{self, Dashboard};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    scope_name: String,
    as_of: String,
    figures: Dashboard,
    /// The caller may read the 进度通报.
    reports: bool,
}

/// `GET /console`: to `/console/`.
pub async fn to_root() -> HttpResponse {
    see_other("/console/")
}

/// `GET /console/`: the 工作台 of an administrator; merchant staff go to the till.
pub async fn page(req: HttpRequest, signed: Signed) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let Signed { caller, layout } = signed;
    if caller.role == Role::MerchantStaff {
        return Ok(see_other("/console/till"));
    }
    let role = caller.role;
    let admin = AdminCaller::resolve(&state, caller).await?;
    let now = state.clock.now();
    let figures = dashboard::figures(&state.db.conn, &admin.scope, now)
        .await
        .map_err(huigong_api::ApiError::from)?;
    let scope_name =
        huigong_store::orgs::get_in_scope(&state.db.conn, &state.vault, admin.org_id, &admin.scope)
            .await
            .map_err(huigong_api::ApiError::from)?
            .map(|org| org.name)
            .unwrap_or_default();
    let as_of = (now + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let page = DashboardPage {
        layout,
        scope_name,
        as_of,
        figures,
        reports: matches!(role, Role::CountyAdmin | Role::DistrictAdmin),
    };
    Ok(html(StatusCode::OK, page.render()?))
}
