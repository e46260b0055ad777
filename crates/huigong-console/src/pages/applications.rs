//! 入会申请: the review queue of the caller's subtree, one application (masked) with the
//! conflicts found, approve (with the `keep` choice when the application differs from the
//! person's record) or reject with a reason. Every read and decision goes through the JSON
//! routes' own functions (`review_queue`, `review_one`, `approve`, `reject`), so scope, rules
//! and audit are theirs: another subtree's application is a 404 like a missing one.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::{html, see_other};
use crate::session::{Admin, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use huigong_api::routes::applications::{self as api, ApplicationConflict, ApplicationView};
use huigong_store::applications::{Keep, QueueFilter};
use serde::Deserialize;
use uuid::Uuid;

const PER_PAGE: u64 = 20;

/// One row of the queue.
pub struct Row {
    pub id: Uuid,
    pub created: String,
    pub union_name: String,
    pub name: String,
    pub id_number: String,
    pub status: &'static str,
    pub conflict: &'static str,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct QueuePage {
    layout: Layout,
    status: String,
    unions: Vec<crate::pages::members::UnionChoice>,
    org: Option<Uuid>,
    from: String,
    to: String,
    /// The filters, for the pager's links.
    query_string: String,
    rows: Vec<Row>,
    total: u64,
    page: u64,
    pages: u64,
}

#[derive(Template)]
#[template(path = "application.html")]
struct DetailPage {
    layout: Layout,
    a: ApplicationView,
    status: &'static str,
    conflict: &'static str,
    /// The details on record that differ (in Chinese), when approving needs a `keep` choice.
    differs: Vec<&'static str>,
    created: String,
    error: Option<String>,
}

pub(crate) fn status_zh(status: &str) -> &'static str {
    match status {
        "pending" => "待审核",
        "approved" => "已批准",
        "rejected" => "已驳回",
        _ => "其他",
    }
}

fn conflict_zh(c: Option<ApplicationConflict>) -> &'static str {
    match c {
        None => "",
        Some(ApplicationConflict::None) => "未发现冲突",
        Some(ApplicationConflict::OnRosterHere) => "已在本工会花名册中",
        Some(ApplicationConflict::OnRosterElsewhere) => "已是其他工会的会员",
        Some(ApplicationConflict::PendingElsewhere) => "另有一份入会申请正在审核",
    }
}

pub(crate) fn beijing(t: chrono::DateTime<chrono::Utc>) -> String {
    (t + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    status: Option<String>,
    /// One union of the scope.
    org: Option<String>,
    /// Submitted on or after this day (Beijing time, YYYY-MM-DD).
    from: Option<String>,
    /// Submitted on or before this day.
    to: Option<String>,
    page: Option<u64>,
}

/// The start of Beijing day `day` (YYYY-MM-DD) plus `days`, in UTC; `None` if empty or invalid.
fn beijing_day(day: Option<&str>, days: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    let d = chrono::NaiveDate::parse_from_str(day?.trim(), "%Y-%m-%d").ok()?;
    let start = (d + chrono::Duration::days(days)).and_hms_opt(0, 0, 0)?;
    Some(start.and_utc() - chrono::Duration::hours(8))
}

/// `GET /console/applications`: the queue, pending first by default.
pub async fn queue(
    req: HttpRequest,
    signed: Admin,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let status = query.status.clone().unwrap_or_else(|| "pending".to_owned());
    let page = query.page.unwrap_or(1).max(1);
    let org = query
        .org
        .as_deref()
        .filter(|o| !o.is_empty())
        .and_then(|o| Uuid::parse_str(o).ok());
    let filter = QueueFilter {
        status: Some(&status),
        org_id: org,
        from: beijing_day(query.from.as_deref(), 0),
        until: beijing_day(query.to.as_deref(), 1),
    };
    let found = api::review_queue(&state, &signed.admin, filter, page, PER_PAGE).await?;
    let unions = crate::pages::members::unions_in_scope(&state, &signed.admin).await?;
    let from = query.from.clone().unwrap_or_default();
    let to = query.to.clone().unwrap_or_default();
    let query_string = serde_urlencoded::to_string([
        ("status", status.as_str()),
        (
            "org",
            org.map(|o| o.to_string()).unwrap_or_default().as_str(),
        ),
        ("from", from.as_str()),
        ("to", to.as_str()),
    ])
    .unwrap_or_default();
    let rows = found
        .items
        .into_iter()
        .map(|a| Row {
            id: a.id,
            created: beijing(a.created_at),
            status: status_zh(&a.status),
            conflict: conflict_zh(a.conflict),
            union_name: a.union_name,
            name: a.name,
            id_number: a.id_number,
        })
        .collect();
    let view = QueuePage {
        layout: signed.layout,
        status,
        unions,
        org,
        from,
        to,
        query_string,
        rows,
        total: found.total,
        page,
        pages: found.total.div_ceil(PER_PAGE).max(1),
    };
    Ok(html(StatusCode::OK, view.render()?))
}

fn detail(layout: Layout, a: ApplicationView, error: Option<String>) -> DetailPage {
    let differs = a
        .differs_from_record
        .iter()
        .flatten()
        .map(|d| if d == "name" { "姓名" } else { "手机号" })
        .collect();
    DetailPage {
        layout,
        status: status_zh(&a.status),
        conflict: conflict_zh(a.conflict),
        created: beijing(a.created_at),
        differs,
        error,
        a,
    }
}

/// `GET /console/applications/{id}`: one application, masked.
pub async fn page(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let a = api::review_one(&state, &signed.admin, &id).await?;
    Ok(html(
        StatusCode::OK,
        detail(signed.layout, a, None).render()?,
    ))
}

/// A refusal a reviewer can act on (409, 400) is shown on the application's page; anything
/// else (404 out of scope, 5xx) is the error page.
async fn refused(
    req: &HttpRequest,
    signed: Admin,
    id: &str,
    e: huigong_api::ApiError,
) -> Result<HttpResponse, PageError> {
    if !matches!(e.status, StatusCode::CONFLICT | StatusCode::BAD_REQUEST) {
        return Err(e.into());
    }
    let state = state_of(req)?;
    let a = api::review_one(&state, &signed.admin, id).await?;
    let page = detail(signed.layout, a, Some(e.body.message.to_string()));
    Ok(html(e.status, page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    keep: Option<String>,
}

/// `POST /console/applications/{id}/approve`.
pub async fn approve(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    form: web::Form<ApproveForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let uuid = Uuid::parse_str(&id).map_err(|_| PageError::not_found())?;
    let keep = match form.keep.as_deref() {
        Some("roster") => Some(Keep::Roster),
        Some("application") => Some(Keep::Application),
        _ => None,
    };
    let actor = signed.admin.actor(&req);
    match api::approve(&state, &signed.admin, &actor, uuid, keep).await {
        Ok(_) => Ok(see_other(&format!("/console/applications/{uuid}"))),
        Err(e) => refused(&req, signed, &id, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

/// `POST /console/applications/{id}/reject`.
pub async fn reject(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    form: web::Form<RejectForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let uuid = Uuid::parse_str(&id).map_err(|_| PageError::not_found())?;
    let actor = signed.admin.actor(&req);
    match api::reject(&state, &signed.admin, &actor, uuid, &form.reason).await {
        Ok(_) => Ok(see_other(&format!("/console/applications/{uuid}"))),
        Err(e) => refused(&req, signed, &id, e).await,
    }
}
