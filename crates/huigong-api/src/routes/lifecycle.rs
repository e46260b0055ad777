//! 建会、换届、撤销 and the half-year confirmation: a union submitted from below waits for
//! its parent; re-elections; dissolution; and the data-quality report.

use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::routes::orgs::{CreateOrgRequest, parse_union};
use crate::routes::params::required_text;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::Role;
use huigong_core::labels::OrgLevel;
use huigong_core::mask::mask_name;
use huigong_store::StoreError;
use huigong_store::orgs::NewOrg;
use huigong_store::quality;
use huigong_store::union_lifecycle::{self as lifecycle, Dissolution, LifecycleError, Term};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

fn lifecycle_error(e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::NotFound => ApiError::not_found(),
        LifecycleError::NotParent => {
            ApiError::new(StatusCode::FORBIDDEN, "parent_decides", "须由上级工会审批")
        }
        LifecycleError::WrongState(status) => ApiError::new(
            StatusCode::CONFLICT,
            "wrong_status",
            match status.as_str() {
                "pending" => "该工会尚待上级审批",
                "rejected" => "该工会的建会申请已被驳回",
                "dissolved" => "该工会已撤销",
                "active" => "该工会已批准",
                "term_approved" | "term_rejected" => "该换届申请已审批",
                _ => "该工会当前状态不允许此操作",
            },
        ),
        LifecycleError::NotGrassroots => ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_grassroots",
            "此操作只适用于基层工会",
        ),
        LifecycleError::HasActiveMembers(n) => ApiError::new(
            StatusCode::CONFLICT,
            "has_active_members",
            format!("该工会仍有 {n} 名会员，须先办理会员调出"),
        ),
        LifecycleError::UnitTaken => ApiError::new(
            StatusCode::CONFLICT,
            "unit_code_taken",
            "该单位已由另一经批准的工会登记，不能再批准此建会申请，请驳回",
        ),
        LifecycleError::Store(e) => e.into(),
    }
}

fn org_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found())
}

/// A union's lifecycle status after a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgStatusView {
    pub id: Uuid,
    /// `pending`, `active` (approved), `rejected`, `dissolved`, or `dissolution_requested`.
    pub status: String,
    /// For a dissolution with `unit_closed`: members moved to the parent union.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_members: Option<u64>,
}

/// A unit's own applicant (a worker logged in through the mini program) submits its
/// grassroots union for set-up: same fields as `POST /api/v1/admin/orgs` with
/// `level: "grassroots"` and `parent_id` the district union. It waits, `pending`, for that
/// district to approve or reject it; until then it takes no members.
#[utoipa::path(
    tag = "worker",
    security(("bearer" = [])),
    request_body = CreateOrgRequest,
    responses(
        (status = 202, body = OrgStatusView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 403, body = ErrorBody, description = "not a worker account"),
        (status = 404, body = ErrorBody, description = "no such district union"),
        (status = 409, body = ErrorBody, description = "`unit_code_taken`: an approved union already holds the unit code (a pending or rejected submission holds none)"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`: per account per day (`unions.max_submissions_per_account_per_day`) or per client address per hour (`unions.max_submissions_per_ip_per_hour`), with `Retry-After`"),
    )
)]
#[post("/api/v1/union-submissions")]
pub async fn submit_union(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: crate::json::Json<CreateOrgRequest>,
) -> Result<HttpResponse, ApiError> {
    if caller.role != Role::Worker {
        return Err(ApiError::forbidden());
    }
    let b = body.into_inner();
    if OrgLevel::parse_zh(&b.level) != Some(OrgLevel::Grassroots) {
        return Err(ApiError::invalid_field("level", "level 须为 grassroots"));
    }
    let name = required_text("name", &b.name, 128)?;
    let now = state.clock.now();
    let parsed = parse_union(&b, now.date_naive())?;
    let union = parsed.new_union();
    // Valid submissions count (an invalid one is answered from its fields alone).
    crate::membership_checks::count_submission(
        &state,
        &req,
        "union-submissions",
        caller.user_id,
        state.checks.union_submissions_per_account_per_day,
        state.checks.union_submissions_per_ip_per_hour,
    )
    .await?;
    let txn = state.db.begin_write().await?;
    let submitted = lifecycle::submit(
        &txn,
        &state.vault,
        b.parent_id,
        &NewOrg {
            level: OrgLevel::Grassroots,
            name: &name,
            union: Some(&union),
        },
        &caller.actor(&req),
        now,
    )
    .await;
    let org = match submitted {
        Err(LifecycleError::Store(StoreError::Conflict)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "unit_code_taken",
                "该单位（统一社会信用代码）已登记",
            )
            .with_field("unit_code"));
        }
        Err(LifecycleError::NotFound) => {
            return Err(ApiError::invalid_field(
                "parent_id",
                "parent_id 须为乡镇（街道、园区）总工会或县直属产业（行业）工会",
            ));
        }
        other => other.map_err(lifecycle_error)?,
    };
    txn.commit().await.map_err(StoreError::from)?;
    Ok(HttpResponse::Accepted().json(OrgStatusView {
        id: org.id,
        status: org.status,
        moved_members: None,
    }))
}

/// The parent (or an org above it) approves a pending union: from now on it takes members,
/// and it holds its units' codes.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = OrgStatusView),
        (status = 403, body = ErrorBody, description = "the union's own admin"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`wrong_status` (not pending), or `unit_code_taken` (another approved union holds one of its units' codes: reject it)"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/approve")]
pub async fn approve_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let status = lifecycle::review(
        &state.db,
        id,
        &admin.scope,
        admin.org_id,
        true,
        None,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(lifecycle_error)?;
    Ok(HttpResponse::Ok().json(OrgStatusView {
        id,
        status,
        moved_members: None,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgReasonRequest {
    pub reason: String,
}

/// The parent rejects a pending union, with a reason; the record stays, `rejected`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = OrgReasonRequest,
    responses(
        (status = 200, body = OrgStatusView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    )
)]
#[post("/api/v1/admin/orgs/{id}/reject")]
pub async fn reject_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<OrgReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let reason = required_text("reason", &body.reason, 500)?;
    let status = lifecycle::review(
        &state.db,
        id,
        &admin.scope,
        admin.org_id,
        false,
        Some(&reason),
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(lifecycle_error)?;
    Ok(HttpResponse::Ok().json(OrgStatusView {
        id,
        status,
        moved_members: None,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AwaitingReviewView {
    pub org_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    /// `set_up` (approve or reject it), `dissolution` (decide with `.../dissolve`) or `term`
    /// (a 换届: `POST /api/v1/admin/terms/{term_id}/approve` or `/reject`).
    pub kind: String,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    /// The submitted term, for `term`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term_id: Option<Uuid>,
}

/// What waits for the caller's decision: unions submitted from below (`set_up`), terms (换届)
/// submitted by a union (`term`) and dissolutions asked by a union's own admin
/// (`dissolution`), in the caller's subtree below its own org, oldest first.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<AwaitingReviewView>))
)]
#[get("/api/v1/admin/org-reviews")]
pub async fn org_reviews(
    state: web::Data<AppState>,
    admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    let items: Vec<AwaitingReviewView> =
        lifecycle::awaiting_review(&state.db.conn, &admin.scope, admin.org_id)
            .await?
            .into_iter()
            .map(|r| AwaitingReviewView {
                org_id: r.org_id,
                parent_id: r.parent_id,
                name: r.name,
                kind: r.kind.to_owned(),
                reason: r.reason,
                since: r.since,
                term_id: r.term_id,
            })
            .collect();
    Ok(HttpResponse::Ok().json(items))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermRequest {
    /// The new chair (工会主席/负责人); becomes the union's registered leader.
    pub leader_name: String,
    /// The new contact phone (mobile, or landline with area code), if it changes.
    pub phone: Option<String>,
    /// The committee, as the union writes it.
    pub committee: String,
    /// YYYY-MM-DD.
    pub starts_on: String,
    /// YYYY-MM-DD, after `starts_on`.
    pub ends_on: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TermView {
    pub id: Uuid,
    pub org_id: Uuid,
    /// The chair: masked (`赵**`) unless read with `full=true` (audited).
    #[schema(example = "赵**")]
    pub leader_name: String,
    /// The committee as the union wrote it (it names people): only with `full=true`
    /// (audited); `null` in masked views.
    pub committee: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// `pending` (submitted by the union, waiting for its parent), `approved` or `rejected`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn term_view(t: Term, full: bool) -> TermView {
    TermView {
        id: t.id,
        org_id: t.org_id,
        leader_name: if full {
            t.leader_name.to_string()
        } else {
            mask_name(&t.leader_name)
        },
        committee: full.then_some(t.committee),
        starts_on: t.starts_on,
        ends_on: t.ends_on,
        status: t.status,
        review_reason: t.review_reason,
        created_at: t.created_at,
    }
}

fn date(field: &'static str, v: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid_field(field, format!("{field} 须为日期，格式如 2026-07-01")))
}

/// Records a re-election (换届) of a grassroots union of the caller's subtree; earlier terms
/// stay in its history. Submitted by the union itself, the term is `pending` until its parent
/// approves it (`POST /api/v1/admin/terms/{id}/approve`); recorded by an administrator above
/// the union it is `approved` at once. An approved term's leader (and phone, when given)
/// become the union's registered ones.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = TermRequest,
    responses(
        (status = 201, body = TermView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "union not approved or dissolved"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/terms")]
pub async fn add_term(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<TermRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let b = body.into_inner();
    let leader_name = required_text("leader_name", &b.leader_name, 32)?;
    let committee = required_text("committee", &b.committee, 2000)?;
    let phone = b
        .phone
        .as_deref()
        .map(huigong_core::phone::ContactPhone::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_field("phone", e.message_zh()))?;
    let starts_on = date("starts_on", &b.starts_on)?;
    let ends_on = date("ends_on", &b.ends_on)?;
    if ends_on <= starts_on {
        return Err(ApiError::invalid_field(
            "ends_on",
            "ends_on 须晚于 starts_on",
        ));
    }
    let term = lifecycle::add_term(
        &state.db,
        &state.vault,
        id,
        &admin.scope,
        admin.org_id,
        &leader_name,
        phone.as_ref().map(|p| p.as_str()),
        &committee,
        starts_on,
        ends_on,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(lifecycle_error)?;
    Ok(HttpResponse::Created().json(term_view(term, false)))
}

/// The parent (or an org above it) approves a term submitted by its union: the term's leader
/// and phone become the union's registered ones.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TermView),
        (status = 403, body = ErrorBody, description = "`parent_decides`: the union's own admin"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`wrong_status`: already reviewed, or the union is not active"),
    )
)]
#[post("/api/v1/admin/terms/{id}/approve")]
pub async fn approve_term(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let term = lifecycle::review_term(
        &state.db,
        &state.vault,
        id,
        &admin.scope,
        admin.org_id,
        true,
        None,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(lifecycle_error)?;
    Ok(HttpResponse::Ok().json(term_view(term, false)))
}

/// The parent rejects a term submitted by its union, with a reason; the registration stays.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = OrgReasonRequest,
    responses(
        (status = 200, body = TermView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`parent_decides`: the union's own admin"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`wrong_status`: already reviewed"),
    )
)]
#[post("/api/v1/admin/terms/{id}/reject")]
pub async fn reject_term(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<OrgReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let reason = required_text("reason", &body.reason, 200)?;
    let term = lifecycle::review_term(
        &state.db,
        &state.vault,
        id,
        &admin.scope,
        admin.org_id,
        false,
        Some(&reason),
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(lifecycle_error)?;
    Ok(HttpResponse::Ok().json(term_view(term, false)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TermsQuery {
    /// `true` for the chairs' names unmasked and the committees (recorded in the audit log).
    full: Option<bool>,
}

/// The terms of a union of the caller's subtree, newest first; the chairs' names masked and
/// the committees left out unless `full=true` (audited `org.read_full`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(TermsQuery),
    responses((status = 200, body = Vec<TermView>), (status = 404, body = ErrorBody))
)]
#[get("/api/v1/admin/orgs/{id}/terms")]
pub async fn list_terms(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<TermsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let terms = lifecycle::terms(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let full = query.full.unwrap_or(false);
    if full {
        huigong_store::orgs::record_full_read(
            &state.db,
            &[id],
            &["term_leader_name", "term_committee"],
            &admin.actor(&req),
            state.clock.now(),
        )
        .await?;
    }
    Ok(HttpResponse::Ok().json(
        terms
            .into_iter()
            .map(|t| term_view(t, full))
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiredTermView {
    pub org_id: Uuid,
    pub org_name: String,
    pub term_id: Uuid,
    pub ends_on: NaiveDate,
}

/// Unions of the caller's subtree whose latest term has run out (换届到期), longest overdue
/// first.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ExpiredTermView>))
)]
#[get("/api/v1/admin/terms/expired")]
pub async fn expired_terms(
    state: web::Data<AppState>,
    admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    let today = lifecycle::cycle_today(state.clock.now());
    let items: Vec<ExpiredTermView> = lifecycle::expired_terms(&state.db.conn, &admin.scope, today)
        .await?
        .into_iter()
        .map(|t| ExpiredTermView {
            org_id: t.org_id,
            org_name: t.org_name,
            term_id: t.term_id,
            ends_on: t.ends_on,
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DissolveRequest {
    pub reason: String,
    /// The unit closed (单位关闭): the members move to the parent union, one history entry
    /// each, instead of the 409.
    #[serde(default)]
    pub unit_closed: bool,
}

/// Dissolution (撤销) of a grassroots union. Refused with 409 while it has active members
/// (transfer them first), unless `unit_closed`. Asked by the union's own admin it is recorded
/// as a request (202, `dissolution_requested`); an admin above it (its parent) decides (200,
/// `dissolved`). The record stays, marked dissolved.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = DissolveRequest,
    responses(
        (status = 200, body = OrgStatusView, description = "dissolved"),
        (status = 202, body = OrgStatusView, description = "requested, for the parent to decide"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "active members remain, or not an active union"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/dissolve")]
pub async fn dissolve_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<DissolveRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let reason = required_text("reason", &body.reason, 500)?;
    let done = lifecycle::dissolve(
        &state.db,
        &state.card_views,
        id,
        &admin.scope,
        admin.org_id,
        &reason,
        body.unit_closed,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(lifecycle_error)?;
    Ok(match done {
        Dissolution::Requested => HttpResponse::Accepted().json(OrgStatusView {
            id,
            status: "dissolution_requested".to_owned(),
            moved_members: None,
        }),
        Dissolution::Dissolved { moved } => HttpResponse::Ok().json(OrgStatusView {
            id,
            status: "dissolved".to_owned(),
            moved_members: Some(moved),
        }),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmedView {
    pub org_id: Uuid,
    pub confirmed_at: DateTime<Utc>,
    /// The half-year cycle confirmed: it starts on 1 January or 1 July.
    pub cycle_start: NaiveDate,
    /// The half-year confirmed, `2026H2`: its roster is archived, exportable with
    /// `GET /api/v1/admin/orgs/{id}/roster.xlsx?period=2026H2`.
    pub period: String,
    /// Members in the archived roster.
    pub archived_members: u64,
}

/// The union's admin (or one above) confirms that the union's data is current for this
/// half-year cycle (每年1月、7月): its roster is archived as it stands (入库归档). Confirming again
/// in the same half-year answers the first confirmation and leaves the archive as it was.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ConfirmedView),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "union not approved or dissolved"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/confirm-current")]
pub async fn confirm_current(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&id)?;
    let now = state.clock.now();
    let done = lifecycle::confirm_current(
        &state.db,
        &state.vault,
        id,
        &admin.scope,
        &admin.actor(&req),
        now,
    )
    .await
    .map_err(lifecycle_error)?;
    let period = huigong_core::period::HalfYear::parse(&done.period);
    Ok(HttpResponse::Ok().json(ConfirmedView {
        org_id: id,
        confirmed_at: done.confirmed_at,
        cycle_start: period.map_or_else(|| lifecycle::cycle_start(now).0, |p| p.first_day()),
        period: done.period,
        archived_members: done.member_count,
    }))
}

// ---- data-quality report -----------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberRefView {
    pub member_id: Uuid,
    /// Nil when the union lies outside the caller's scope.
    pub org_id: Uuid,
    pub org_name: String,
    #[schema(example = "张*")]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateView {
    pub person_id: Uuid,
    pub memberships: Vec<MemberRefView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DanglingView {
    pub member: MemberRefView,
    /// `union_dissolved`, `union_not_approved` or `unit_not_covered`.
    pub problem: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncompleteView {
    pub member: MemberRefView,
    /// Roster fields left empty (`mobile`, `education`, …).
    pub missing: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountGapView {
    pub org_id: Uuid,
    pub org_name: String,
    pub declared: u64,
    pub registered: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnconfirmedView {
    pub org_id: Uuid,
    pub org_name: String,
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// The data-quality report of the caller's subtree.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityView {
    /// The current half-year cycle (1 January or 1 July).
    pub cycle_start: NaiveDate,
    /// A member list held more than 5,000 entries and was cut there.
    pub truncated: bool,
    /// People with more than one active membership (the database forbids it: should be empty).
    pub duplicates: Vec<DuplicateView>,
    /// 空挂会员: on a dissolved or unapproved union, or on a unit the union does not cover.
    pub dangling: Vec<DanglingView>,
    /// Records with empty roster fields.
    pub incomplete: Vec<IncompleteView>,
    /// Declared member count far from the roster: more than 5 people and more than 20 % apart.
    pub count_gaps: Vec<CountGapView>,
    /// Approved grassroots unions not confirmed since the cycle started.
    pub unconfirmed: Vec<UnconfirmedView>,
}

fn member_ref(m: quality::MemberRef) -> MemberRefView {
    MemberRefView {
        member_id: m.member_id,
        org_id: m.org_id,
        org_name: m.org_name,
        name: m.name_masked,
    }
}

fn quality_view(r: quality::Report) -> QualityView {
    QualityView {
        cycle_start: r.cycle_start,
        truncated: r.truncated,
        duplicates: r
            .duplicates
            .into_iter()
            .map(|d| DuplicateView {
                person_id: d.person_id,
                memberships: d.memberships.into_iter().map(member_ref).collect(),
            })
            .collect(),
        dangling: r
            .dangling
            .into_iter()
            .map(|d| DanglingView {
                member: member_ref(d.member),
                problem: d.problem.to_owned(),
            })
            .collect(),
        incomplete: r
            .incomplete
            .into_iter()
            .map(|i| IncompleteView {
                member: member_ref(i.member),
                missing: i.missing.into_iter().map(str::to_owned).collect(),
            })
            .collect(),
        count_gaps: r
            .count_gaps
            .into_iter()
            .map(|g| CountGapView {
                org_id: g.org_id,
                org_name: g.org_name,
                declared: g.declared,
                registered: g.registered,
            })
            .collect(),
        unconfirmed: r
            .unconfirmed
            .into_iter()
            .map(|u| UnconfirmedView {
                org_id: u.org_id,
                org_name: u.org_name,
                confirmed_at: u.confirmed_at,
            })
            .collect(),
    }
}

fn tables(q: &QualityView) -> Vec<huigong_roster::Table> {
    let s = |v: &str| v.to_owned();
    let member_row =
        |m: &MemberRefView| vec![m.org_name.clone(), m.name.clone(), m.member_id.to_string()];
    vec![
        huigong_roster::Table {
            name: s("重复会员"),
            headers: vec![s("人员编号"), s("工会"), s("姓名"), s("会员编号")],
            rows: q
                .duplicates
                .iter()
                .flat_map(|d| {
                    d.memberships.iter().map(move |m| {
                        let mut row = vec![d.person_id.to_string()];
                        row.extend(member_row(m));
                        row
                    })
                })
                .collect(),
        },
        huigong_roster::Table {
            name: s("空挂会员"),
            headers: vec![s("工会"), s("姓名"), s("会员编号"), s("问题")],
            rows: q
                .dangling
                .iter()
                .map(|d| {
                    let mut row = member_row(&d.member);
                    row.push(
                        match d.problem.as_str() {
                            "union_dissolved" => "工会已撤销",
                            "union_not_approved" => "工会未经批准",
                            _ => "所在单位不在本工会覆盖范围",
                        }
                        .to_owned(),
                    );
                    row
                })
                .collect(),
        },
        huigong_roster::Table {
            name: s("信息不全"),
            headers: vec![s("工会"), s("姓名"), s("会员编号"), s("缺少字段")],
            rows: q
                .incomplete
                .iter()
                .map(|i| {
                    let mut row = member_row(&i.member);
                    row.push(i.missing.join("、"));
                    row
                })
                .collect(),
        },
        huigong_roster::Table {
            name: s("人数差异"),
            headers: vec![s("工会"), s("申报会员数"), s("登记会员数")],
            rows: q
                .count_gaps
                .iter()
                .map(|g| {
                    vec![
                        g.org_name.clone(),
                        g.declared.to_string(),
                        g.registered.to_string(),
                    ]
                })
                .collect(),
        },
        huigong_roster::Table {
            name: s("本期未确认"),
            headers: vec![s("工会"), s("上次确认时间")],
            rows: q
                .unconfirmed
                .iter()
                .map(|u| {
                    vec![
                        u.org_name.clone(),
                        u.confirmed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ]
                })
                .collect(),
        },
    ]
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QualityQuery {
    /// `json` (default) or `xlsx`.
    format: Option<String>,
}

/// The data-quality report (数据清、情况明) of the caller's subtree, as JSON or, with
/// `?format=xlsx`, a workbook with one sheet per check. Names are masked.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(QualityQuery),
    responses(
        (status = 200, body = QualityView, description = "JSON, or with `format=xlsx` the workbook (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet)"),
        (status = 400, body = ErrorBody),
    )
)]
#[get("/api/v1/admin/quality")]
pub async fn quality_report(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: crate::query::Query<QualityQuery>,
) -> Result<HttpResponse, ApiError> {
    let xlsx = match query.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => false,
        Some("xlsx") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "format",
                "format 须为 json 或 xlsx",
            ));
        }
    };
    let report = quality::report(
        &state.db.conn,
        &state.vault,
        &admin.scope,
        state.clock.now(),
    )
    .await?;
    let view = quality_view(report);
    if !xlsx {
        return Ok(HttpResponse::Ok().json(view));
    }
    let sheets = tables(&view);
    crate::routes::roster::xlsx_written("数据质量报告", move || {
        huigong_roster::write_tables(&sheets)
    })
    .await
}
