//! 会员: find a member of the caller's subtree — by part of the name within one union (a GET
//! form), or by ID number or mobile through a POST form (personal data never in the URL, like
//! `POST /api/v1/admin/members/search`) — then one member: masked record, card status, history,
//! an audited "显示完整信息" (the JSON route's `full=true`), and the changes (调出, 退休, 离职,
//! 死亡); and the incoming transfers to accept or refuse. Every read and write goes through the
//! JSON routes' own functions.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::applications::beijing;
use crate::pages::{html, see_other};
use crate::session::{Admin, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use huigong_api::routes::changes::{self, ChangeRequest, EventView, TransferView};
use huigong_api::routes::members::{self as api, MemberView, SearchRequest};
use huigong_api::{AdminCaller, ApiError, AppState};
use huigong_core::labels::OrgLevel;
use huigong_store::membership_changes::Direction;
use serde::Deserialize;
use uuid::Uuid;

/// A grassroots union of the caller's subtree, for the union pickers.
pub struct UnionChoice {
    pub id: Uuid,
    pub name: String,
}

/// The active grassroots unions of the caller's subtree (at most 500, by path).
pub(crate) async fn unions_in_scope(
    state: &AppState,
    admin: &AdminCaller,
) -> Result<Vec<UnionChoice>, PageError> {
    let filter = huigong_store::orgs::ListFilter {
        level: Some(OrgLevel::Grassroots),
        name_contains: None,
        status: Some("active".to_owned()),
    };
    let (items, _) =
        huigong_store::orgs::list_public(&state.db.conn, &admin.scope, &filter, 1, 500)
            .await
            .map_err(ApiError::from)?;
    Ok(items
        .into_iter()
        .map(|u| UnionChoice {
            id: u.id,
            name: u.name,
        })
        .collect())
}

#[derive(Template)]
#[template(path = "members.html")]
struct SearchPage {
    layout: Layout,
    unions: Vec<UnionChoice>,
    org: Option<Uuid>,
    name: String,
    searched: bool,
    results: Vec<MemberView>,
    error: Option<String>,
    transfers: Vec<TransferView>,
}

#[derive(Debug, Deserialize)]
pub struct NameQuery {
    org: Option<String>,
    name: Option<String>,
}

async fn search_page(
    state: &AppState,
    signed: Admin,
    org: Option<Uuid>,
    name: String,
    found: Option<Result<Vec<MemberView>, ApiError>>,
) -> Result<HttpResponse, PageError> {
    let unions = unions_in_scope(state, &signed.admin).await?;
    let transfers = changes::transfers(state, &signed.admin, Direction::Incoming)
        .await?
        .into_iter()
        .filter(|t| t.status == "pending")
        .collect();
    let (searched, results, error, status) = match found {
        None => (false, Vec::new(), None, StatusCode::OK),
        Some(Ok(r)) => (true, r, None, StatusCode::OK),
        // A field error is shown beside the form; 404 (a union out of scope) stays a 404.
        Some(Err(e)) if e.status == StatusCode::BAD_REQUEST => (
            true,
            Vec::new(),
            Some(e.body.message.to_string()),
            StatusCode::BAD_REQUEST,
        ),
        Some(Err(e)) => return Err(e.into()),
    };
    let page = SearchPage {
        layout: signed.layout,
        unions,
        org,
        name,
        searched,
        results,
        error,
        transfers,
    };
    Ok(html(status, page.render()?))
}

/// `GET /console/members`: the search forms, a search by name, the incoming transfers.
pub async fn page(
    req: HttpRequest,
    signed: Admin,
    query: web::Query<NameQuery>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let name = query.name.clone().unwrap_or_default();
    let org = match query.org.as_deref().filter(|o| !o.is_empty()) {
        Some(o) => Some(Uuid::parse_str(o).map_err(|_| PageError::not_found())?),
        None => None,
    };
    let found = if name.trim().is_empty() {
        None
    } else {
        let request = SearchRequest {
            id_number: None,
            mobile: None,
            name: Some(name.clone()),
            org_id: org,
        };
        Some(api::search(&state, &signed.admin, request).await)
    };
    search_page(&state, signed, org, name, found).await
}

#[derive(Debug, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    name: String,
}

/// `POST /console/members/search`: by ID number or mobile (optionally with the exact name);
/// answered with the page itself, so nothing personal lands in the URL or the history.
pub async fn search(
    req: HttpRequest,
    signed: Admin,
    form: web::Form<SearchForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let f = form.into_inner();
    let some = |v: String| Some(v).filter(|v| !v.trim().is_empty());
    let request = SearchRequest {
        id_number: some(f.id_number),
        mobile: some(f.mobile),
        name: some(f.name),
        org_id: None,
    };
    let found = api::search(&state, &signed.admin, request).await;
    search_page(&state, signed, None, String::new(), Some(found)).await
}

#[derive(Template)]
#[template(path = "member.html")]
struct MemberPage {
    layout: Layout,
    m: MemberView,
    status: &'static str,
    created: String,
    history: Vec<EventRow>,
    unions: Vec<UnionChoice>,
    error: Option<String>,
    done: Option<&'static str>,
}

pub struct EventRow {
    pub when: String,
    pub kind: &'static str,
    pub effective_on: String,
    pub reason: String,
}

fn kind_zh(kind: &str) -> &'static str {
    match kind {
        "transfer_requested" => "申请调出",
        "transfer_in" => "调入",
        "transfer_refused" => "调出被拒",
        "retire" => "退休",
        "leave" => "离职",
        "death" => "死亡",
        "moved_to_parent" => "转至上级工会",
        _ => "其他",
    }
}

fn member_status_zh(m: &MemberView) -> &'static str {
    match (m.status.as_str(), m.retired_on.is_some()) {
        ("active", true) => "在册（已退休）",
        ("active", false) => "在册",
        ("transferred", _) => "已调出",
        ("left", _) => "已离职",
        ("deceased", _) => "已故",
        _ => "其他",
    }
}

async fn member_page(
    req: &HttpRequest,
    signed: Admin,
    id: &str,
    full: bool,
    error: Option<String>,
    done: Option<&'static str>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(req)?;
    let actor = signed.admin.actor(req);
    let m = api::member_in_scope(&state, &signed.admin, &actor, id, full).await?;
    let history = changes::history(&state, &signed.admin, id)
        .await?
        .into_iter()
        .map(|e: EventView| EventRow {
            when: beijing(e.created_at),
            kind: kind_zh(&e.kind),
            effective_on: e.effective_on.to_string(),
            reason: e.reason,
        })
        .collect();
    let unions = unions_in_scope(&state, &signed.admin).await?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = MemberPage {
        layout: signed.layout,
        status: member_status_zh(&m),
        created: beijing(m.created_at),
        m,
        history,
        unions,
        error,
        done,
    };
    Ok(html(status, page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /console/members/{id}`: masked.
pub async fn member(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, PageError> {
    let done = match query.done.as_deref() {
        Some("changed") => Some("已登记变动。"),
        Some("transfer") => Some("调出申请已提交，等待接收工会确认。"),
        _ => None,
    };
    member_page(&req, signed, &id, false, None, done).await
}

/// `POST /console/members/{id}/reveal`: the full record, the read recorded in the audit log
/// (the JSON route's `full=true`). A POST, so no prefetch or reload reveals by accident.
pub async fn reveal(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    member_page(&req, signed, &id, true, None, None).await
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    effective_on: String,
    to_org_id: Option<String>,
    to_unit_name: Option<String>,
}

/// `POST /console/members/{id}/changes`: 调出, 退休, 离职 or 死亡.
pub async fn change(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    form: web::Form<ChangeForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let uuid = Uuid::parse_str(&id).map_err(|_| PageError::not_found())?;
    let f = form.into_inner();
    let to_org_id =
        match f.to_org_id.as_deref().filter(|o| !o.is_empty()) {
            Some(o) => Some(Uuid::parse_str(o).map_err(|_| {
                PageError::from(ApiError::invalid_field("to_org_id", "接收工会无效"))
            })?),
            None => None,
        };
    let request = ChangeRequest {
        kind: f.kind,
        reason: f.reason,
        effective_on: f.effective_on,
        to_org_id,
        to_unit_name: f.to_unit_name,
    };
    let actor = signed.admin.actor(&req);
    match changes::change(&state, &signed.admin, &actor, uuid, request).await {
        Ok(r) => Ok(see_other(&format!(
            "/console/members/{uuid}?done={}",
            if r.transfer.is_some() {
                "transfer"
            } else {
                "changed"
            }
        ))),
        Err(e) if matches!(e.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            member_page(
                &req,
                signed,
                &id,
                false,
                Some(e.body.message.to_string()),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/transfers/{id}/accept`.
pub async fn accept_transfer(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let uuid = Uuid::parse_str(&id).map_err(|_| PageError::not_found())?;
    let member = changes::accept(&state, &signed.admin, &signed.admin.actor(&req), uuid).await?;
    Ok(see_other(&format!("/console/members/{member}")))
}

#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
}

/// `POST /console/transfers/{id}/refuse`.
pub async fn refuse_transfer(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let uuid = Uuid::parse_str(&id).map_err(|_| PageError::not_found())?;
    changes::refuse(
        &state,
        &signed.admin,
        &signed.admin.actor(&req),
        uuid,
        &form.reason,
    )
    .await?;
    Ok(see_other("/console/members"))
}
