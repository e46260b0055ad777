//! `/console/orgs/{id}`: one org of the caller's subtree, through the JSON route's own
//! `org_in_scope` (404 for another subtree's org, exactly like a missing one). A minimal page;
//! the 工会组织 pages build on it.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::html;
use crate::session::{Admin, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use huigong_api::routes::orgs::org_in_scope;

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    layout: Layout,
    name: String,
    level: &'static str,
    status: &'static str,
    members: u64,
}

/// `GET /console/orgs/{id}`.
pub async fn page(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let org = org_in_scope(&state, &signed.admin, &id).await?;
    let counts = huigong_store::orgs::registered_member_counts(&state.db.conn, &[org.id])
        .await
        .map_err(huigong_api::ApiError::from)?;
    let page = OrgPage {
        layout: signed.layout,
        members: counts.get(&org.id).copied().unwrap_or(0),
        level: org.level.label_zh(),
        status: match org.status.as_str() {
            "active" => "正常",
            "pending" => "待审批",
            "dissolved" => "已撤销",
            _ => "其他",
        },
        name: org.name,
    };
    Ok(html(StatusCode::OK, page.render()?))
}
