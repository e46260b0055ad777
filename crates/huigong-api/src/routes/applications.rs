//! Online applications to join a union (网上申请入会, appendix 2): the worker applies from the
//! mini program, the grassroots union reviews.

use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::routes::members::{AddMemberRequest, roster_entry};
use crate::routes::params::{self, Page, required_text};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use huigong_core::Role;
use huigong_core::ShownPerson;
use huigong_core::labels::OrgLevel;
use huigong_store::applications::{self, Application, ApplyError, NewApplication, ReviewError};
use huigong_store::orgs;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The declaration an applicant agrees to: appendix 2, 中华全国总工会入会申请书.
pub const DECLARATION_VERSION: &str = "acftu-application-2018";
const DECLARATION_TITLE: &str = "中华全国总工会入会申请书";
pub const DECLARATION_TEXT: &str = "我自愿加入中华全国总工会，遵守工会章程，执行工会决议，积极参加工会活动，为把我国建设成为富强、民主、文明的社会主义国家而努力奋斗。";
/// The largest drawn signature accepted (PNG bytes, before base64).
pub const MAX_SIGNATURE_PNG: usize = 180 * 1024;
/// Room in an application's JSON body for everything besides the signature's base64.
const APPLICATION_FIELDS_ROOM: usize = 16 * 1024;
/// The smallest JSON body limit (`server.body_limit_bytes`) that admits an application with
/// the largest signature: derived from [`MAX_SIGNATURE_PNG`], and checked at start-up, so a
/// signature within its own limit is never refused by the body limit (256 KiB by default,
/// exactly this).
pub const MIN_BODY_LIMIT: usize = MAX_SIGNATURE_PNG.div_ceil(3) * 4 + APPLICATION_FIELDS_ROOM;

fn worker(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Worker {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Declaration {
    /// Send it back as `declaration_version` to record what was agreed to.
    pub version: &'static str,
    pub title: &'static str,
    pub text: &'static str,
}

/// The declaration of appendix 2 that an applicant agrees to.
#[utoipa::path(tag = "worker", responses((status = 200, body = Declaration)))]
#[get("/api/v1/applications/declaration")]
pub async fn declaration() -> HttpResponse {
    HttpResponse::Ok().json(Declaration {
        version: DECLARATION_VERSION,
        title: DECLARATION_TITLE,
        text: DECLARATION_TEXT,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnionQuery {
    /// Part of the union's name.
    q: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// A union a worker can apply to: public fields only.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUnion {
    pub id: Uuid,
    pub name: String,
    /// The units it covers.
    pub unit_names: Vec<String>,
}

/// Grassroots unions a logged-in worker can apply to.
#[utoipa::path(
    tag = "worker",
    security(("bearer" = [])),
    params(UnionQuery),
    responses((status = 200, body = Page<PublicUnion>), (status = 401, body = ErrorBody))
)]
#[get("/api/v1/unions")]
pub async fn unions(
    state: web::Data<AppState>,
    _caller: Caller,
    query: crate::query::Query<UnionQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let filter = orgs::ListFilter {
        level: Some(OrgLevel::Grassroots),
        name_contains: query.q.clone(),
        status: Some("active".to_owned()),
    };
    let (items, total) = orgs::list_public(&state.db.conn, "/", &filter, page, per_page).await?;
    let items = items
        .into_iter()
        .map(|o| PublicUnion {
            id: o.id,
            name: o.name,
            unit_names: o.unit_names,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        total,
        page,
        per_page,
    }))
}

/// An application: the roster's fields, the declaration and consents, the signature.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The grassroots union applied to (from `GET /api/v1/unions`).
    pub union_id: Uuid,
    pub name: String,
    /// 男 or 女; must agree with the ID number.
    pub sex: String,
    pub id_number: String,
    pub nationality: String,
    pub education: String,
    pub mobile: Option<String>,
    pub household_type: String,
    pub unit_name: String,
    pub employment_status: String,
    pub union_post: String,
    /// Must be `true`: the applicant agrees to the declaration.
    pub agree_declaration: bool,
    /// The declaration version shown; defaults to the current one.
    pub declaration_version: Option<String>,
    /// Must be `true`: separate consent to processing the ID number (PIPL art. 29).
    pub consent_sensitive: bool,
    /// The applicant's name typed as a signature; must equal `name`.
    pub signature_name: String,
    /// Optional drawn signature: a base64 PNG of at most 200 KB.
    pub signature_png: Option<String>,
}

/// An application as its applicant or a reviewer sees it (identity masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    pub id: Uuid,
    pub union_id: Uuid,
    pub union_name: String,
    #[schema(example = "张*")]
    pub name: String,
    pub sex: String,
    #[schema(example = "330522********1234")]
    pub id_number: String,
    pub mobile: Option<String>,
    pub nationality: String,
    pub education: String,
    pub household_type: String,
    pub unit_name: String,
    pub employment_status: String,
    pub union_post: String,
    pub declaration_version: String,
    pub has_drawn_signature: bool,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// The reviewer's reason for a rejection.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The membership an approval created.
    pub member_id: Option<Uuid>,
    /// Reviewers only, pending applications only: what else is known about this ID number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ApplicationConflict>,
    /// Reviewers only, pending applications only: the details on the person's record that
    /// differ from the application (`name`, `mobile`). When not empty, approving needs
    /// `{"keep": "roster" | "application"}`. Left out when `conflict` is `on_roster_elsewhere`
    /// or `pending_elsewhere` (it would confirm a guessed name or mobile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub differs_from_record: Option<Vec<String>>,
}

/// What a reviewer must know about an application's ID number before deciding.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationConflict {
    /// Nothing else is known about it.
    None,
    /// Already an active member of the union applied to.
    OnRosterHere,
    /// An active member of another union (not named).
    OnRosterElsewhere,
    /// Another application for it is pending (another account's, or to another union).
    PendingElsewhere,
}

impl From<applications::Conflict> for ApplicationConflict {
    fn from(c: applications::Conflict) -> Self {
        match c {
            applications::Conflict::None => Self::None,
            applications::Conflict::OnRosterHere => Self::OnRosterHere,
            applications::Conflict::OnRosterElsewhere => Self::OnRosterElsewhere,
            applications::Conflict::PendingElsewhere => Self::PendingElsewhere,
        }
    }
}

/// The reviewer's view: [`view`] with the conflict and the differences from the record.
fn review_view(a: Application, info: Option<&applications::ReviewInfo>) -> ApplicationView {
    let mut v = view(a);
    if let Some(info) = info {
        v.conflict = Some(info.conflict.into());
        v.differs_from_record = info.differs.map(|(name, mobile)| {
            let mut differs = Vec::new();
            if name {
                differs.push("name".to_owned());
            }
            if mobile {
                differs.push("mobile".to_owned());
            }
            differs
        });
    }
    v
}

fn view(a: Application) -> ApplicationView {
    let shown = ShownPerson::masked(&a.name, &a.id_number, a.mobile.as_ref());
    ApplicationView {
        id: a.id,
        union_id: a.org_id,
        union_name: a.org_name,
        name: shown.name,
        sex: shown.sex.to_owned(),
        id_number: shown.id_number,
        mobile: shown.mobile,
        nationality: a.fields.nationality,
        education: a.fields.education,
        household_type: a.fields.household_type,
        unit_name: a.fields.unit_name,
        employment_status: a.fields.employment_status,
        union_post: a.fields.union_post,
        declaration_version: a.declaration_version,
        has_drawn_signature: a.has_signature_png,
        status: a.status,
        reason: a.reason,
        created_at: a.created_at,
        reviewed_at: a.reviewed_at,
        member_id: a.membership_id,
        conflict: None,
        differs_from_record: None,
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| {
            ApiError::invalid_field("Idempotency-Key", "Idempotency-Key 须为 1–128 个可见字符")
        })
}

fn signature_png(b64: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = b64.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::invalid_field(
            "signature_png",
            format!(
                "手写签名须为 {} KB 以内的 PNG 图片（base64）",
                MAX_SIGNATURE_PNG / 1024
            ),
        )
    };
    // Refuse early what cannot decode to at most the limit.
    if text.len() > MAX_SIGNATURE_PNG.div_ceil(3) * 4 {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| invalid())?;
    if bytes.len() > MAX_SIGNATURE_PNG || !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(invalid());
    }
    Ok(Some(text.to_owned()))
}

/// Applies to join a grassroots union. Retries with the same `Idempotency-Key` header answer
/// the first application and write nothing.
///
/// The answer does not depend on whether the ID number is on a roster or has other accounts'
/// applications pending: the reviewer sees those. Only an applicant who gives an active
/// member's recorded name is told `already_member`, and that takes one of the account's daily
/// activation guesses (`card.max_failed_previews_per_day`). Limited per account per day
/// (`applications.max_per_account_per_day`) and per client address per hour
/// (`applications.max_per_ip_per_hour`).
#[utoipa::path(
    tag = "worker",
    security(("bearer" = [])),
    request_body = ApplyRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    responses(
        (status = 201, body = ApplicationView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 409, body = ErrorBody, description = "`already_member` (an active member's ID number and recorded name: activate the card instead), or `application_pending` (this account's own application for this ID number is pending)"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`, with `Retry-After`"),
    )
)]
#[post("/api/v1/applications")]
pub async fn apply(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: crate::json::Json<ApplyRequest>,
) -> Result<HttpResponse, ApiError> {
    worker(&caller)?;
    // A retry answers the first application, and counts for nothing.
    let key = idempotency_key(&req)?;
    if let Some(key) = key.as_deref()
        && let Some(first) =
            applications::replayed(&state.db.conn, &state.vault, caller.user_id, key).await?
    {
        return Ok(HttpResponse::Created()
            .insert_header(("Idempotency-Replayed", "true"))
            .json(view(first)));
    }
    let b = body.into_inner();
    let entry = roster_entry(
        &AddMemberRequest {
            name: b.name.clone(),
            sex: b.sex.clone(),
            id_number: b.id_number.clone(),
            nationality: b.nationality.clone(),
            education: b.education.clone(),
            mobile: b.mobile.clone(),
            household_type: b.household_type.clone(),
            unit_name: b.unit_name.clone(),
            employment_status: b.employment_status.clone(),
            union_post: b.union_post.clone(),
            keep: None,
        },
        state.clock.now().date_naive(),
    )?;
    if !b.agree_declaration {
        return Err(ApiError::invalid_field(
            "agree_declaration",
            "须阅读并同意《中华全国总工会入会申请书》",
        ));
    }
    if b.declaration_version
        .as_deref()
        .is_some_and(|v| v != DECLARATION_VERSION)
    {
        return Err(ApiError::invalid_field(
            "declaration_version",
            "申请书已更新，请重新阅读后提交",
        ));
    }
    if !b.consent_sensitive {
        return Err(ApiError::invalid_field(
            "consent_sensitive",
            "须单独同意工会处理您的身份证号码等敏感个人信息",
        ));
    }
    let signature = required_text("signature_name", &b.signature_name, 64)?;
    if signature != entry.name {
        return Err(ApiError::invalid_field(
            "signature_name",
            "签名须与姓名一致",
        ));
    }
    let png = signature_png(b.signature_png.as_deref())?;
    let union = orgs::get_in_scope(&state.db.conn, &state.vault, b.union_id, "/")
        .await?
        .filter(|o| o.level == OrgLevel::Grassroots && o.status == "active")
        .ok_or_else(|| ApiError::invalid_field("union_id", "所选工会不存在或不接受入会申请"))?;
    // Valid submissions count (an invalid one is answered from its fields alone).
    crate::membership_checks::count_submission(
        &state,
        &req,
        "applications",
        caller.user_id,
        state.checks.applications_per_account_per_day,
        state.checks.applications_per_ip_per_hour,
    )
    .await?;
    let may_tell_member = crate::membership_checks::may_tell_member(&state, caller.user_id).await?;
    let submitted = applications::submit(
        &state.db,
        &state.vault,
        NewApplication {
            user_id: caller.user_id,
            org_id: union.id,
            id_number: &entry.id_number,
            name: &entry.name,
            mobile: entry.mobile.as_ref(),
            fields: &entry.fields,
            declaration_version: DECLARATION_VERSION,
            consent_sensitive: true,
            signature_name: &signature,
            signature_png: png.as_deref(),
            idempotency_key: key.as_deref(),
        },
        may_tell_member,
        &caller.actor(&req),
        state.clock.now(),
    )
    .await;
    match submitted {
        Ok((application, created)) => Ok(HttpResponse::Created()
            .insert_header((
                "Idempotency-Replayed",
                if created { "false" } else { "true" },
            ))
            .json(view(application))),
        Err(ApplyError::AlreadyMember) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_member",
            "您已是工会会员，可直接激活惠工卡",
        )
        .with_field("id_number")),
        Err(ApplyError::Pending) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "application_pending",
            "您已为该身份证号码提交的入会申请正在审核中，请耐心等待",
        )
        .with_field("id_number")),
        Err(ApplyError::Store(e)) => Err(e.into()),
    }
}

/// The caller's own applications, newest first, with the reviewer's reason.
#[utoipa::path(
    tag = "worker",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ApplicationView>), (status = 401, body = ErrorBody))
)]
#[get("/api/v1/applications/mine")]
pub async fn mine(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let own = applications::mine(&state.db.conn, &state.vault, caller.user_id).await?;
    Ok(HttpResponse::Ok().json(own.into_iter().map(view).collect::<Vec<_>>()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// `pending`, `approved` or `rejected`; all when absent.
    status: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// Applications to the unions of the caller's subtree, oldest first. Pending ones carry
/// `conflict` and `differs_from_record` for the reviewer.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ReviewQuery),
    responses((status = 200, body = Page<ApplicationView>), (status = 400, body = ErrorBody))
)]
#[get("/api/v1/admin/applications")]
pub async fn list_applications(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: crate::query::Query<ReviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let filter = applications::QueueFilter {
        status: query.status.as_deref(),
        ..Default::default()
    };
    let page = review_queue(&state, &admin, filter, page, per_page).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The review queue of the caller's subtree (the JSON list and the console's 入会申请): one
/// status (`pending`, `approved`, `rejected`; all when `None` or empty), optionally one union
/// and a period, oldest first, pending ones with `conflict` and `differs_from_record`.
pub async fn review_queue(
    state: &AppState,
    admin: &AdminCaller,
    filter: applications::QueueFilter<'_>,
    page: u64,
    per_page: u64,
) -> Result<Page<ApplicationView>, ApiError> {
    let status = match filter.status {
        None | Some("") => None,
        Some(s @ ("pending" | "approved" | "rejected")) => Some(s),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "status",
                "status 须为 pending、approved 或 rejected",
            ));
        }
    };
    let filter = applications::QueueFilter { status, ..filter };
    let (items, total) = applications::list_filtered(
        &state.db.conn,
        &state.vault,
        &admin.scope,
        &filter,
        page,
        per_page,
    )
    .await?;
    let info = applications::review_info(&state.db.conn, &state.vault, &items).await?;
    Ok(Page {
        items: items
            .into_iter()
            .map(|a| {
                let i = info.get(&a.id).copied();
                review_view(a, i.as_ref())
            })
            .collect(),
        total,
        page,
        per_page,
    })
}

/// One application of the caller's subtree as its reviewer sees it (masked, with the conflict
/// and the differences from the record while pending); 404 for another subtree's or a
/// malformed id, exactly like a missing one.
pub async fn review_one(
    state: &AppState,
    admin: &AdminCaller,
    id: &str,
) -> Result<ApplicationView, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    let a = applications::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let info =
        applications::review_info(&state.db.conn, &state.vault, std::slice::from_ref(&a)).await?;
    let i = info.get(&a.id).copied();
    Ok(review_view(a, i.as_ref()))
}

fn review_error(e: ReviewError) -> ApiError {
    match e {
        ReviewError::NotFound => ApiError::not_found(),
        ReviewError::AlreadyReviewed(status) => ApiError::new(
            StatusCode::CONFLICT,
            "already_reviewed",
            match status.as_str() {
                "approved" => "该申请已被批准",
                "rejected" => "该申请已被驳回",
                _ => "该申请已处理",
            },
        ),
        ReviewError::AlreadyMember => ApiError::new(
            StatusCode::CONFLICT,
            "already_member",
            "申请人已是工会会员，请驳回此申请",
        ),
        ReviewError::UnionNotActive => ApiError::new(
            StatusCode::CONFLICT,
            "union_not_active",
            "该工会已撤销或尚未批准，不能接收会员，请驳回此申请",
        ),
        ReviewError::DetailsDiffer => ApiError::new(
            StatusCode::CONFLICT,
            "record_differs",
            "申请人填写的姓名或手机号与已登记的信息不一致，请核实后选择保留哪一份（keep: roster 保留已登记的，application 采用申请的）",
        )
        .with_field("keep"),
        ReviewError::Store(e) => e.into(),
    }
}

/// What an approval keeps when the application differs from the person's record.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeepChoice {
    /// The name and mobile on record stay (a mobile not on record is filled in).
    Roster,
    /// The application's name and mobile replace the record's.
    Application,
}

/// Optional body of an approval. Other fields are ignored (the approval took no body before).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApproveRequest {
    /// Required when the application's name or mobile differs from the person's record
    /// (`differs_from_record` not empty); otherwise ignored.
    pub keep: Option<KeepChoice>,
}

/// Approves an application: the applicant becomes a member (and can activate the card at
/// once) and is notified. Two admins approving at once make one member. A name or mobile on
/// the person's record is never overwritten silently: when the application differs, the body
/// must say which to keep.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body(content = Option<ApproveRequest>, description = "optional; `keep` is required when the application differs from the record"),
    responses(
        (status = 200, body = ApplicationView),
        (status = 400, body = ErrorBody, description = "invalid body, named in `field`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_reviewed`, `already_member`, `union_not_active`, or `record_differs` (choose `keep`)"),
    )
)]
#[post("/api/v1/admin/applications/{id}/approve")]
pub async fn approve_application(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let keep = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        crate::json::decode::<ApproveRequest>(&body)?.keep
    }
    .map(|k| match k {
        KeepChoice::Roster => applications::Keep::Roster,
        KeepChoice::Application => applications::Keep::Application,
    });
    let approved = approve(&state, &admin, &admin.actor(&req), id, keep).await?;
    Ok(HttpResponse::Ok().json(approved))
}

/// Approves application `id` of the caller's subtree (the JSON route and the console).
pub async fn approve(
    state: &AppState,
    admin: &AdminCaller,
    actor: &huigong_store::audit::Actor,
    id: Uuid,
    keep: Option<applications::Keep>,
) -> Result<ApplicationView, ApiError> {
    let approved = applications::approve(
        &state.db,
        &state.vault,
        &state.card_views,
        id,
        &admin.scope,
        keep,
        actor,
        state.clock.now(),
    )
    .await
    .map_err(review_error)?;
    state.notifier.wake();
    Ok(view(approved))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Shown to the applicant; 1–200 characters.
    pub reason: String,
}

/// Rejects an application with a reason the applicant sees.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = RejectRequest,
    responses(
        (status = 200, body = ApplicationView),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_reviewed`"),
    )
)]
#[post("/api/v1/admin/applications/{id}/reject")]
pub async fn reject_application(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<RejectRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let rejected = reject(&state, &admin, &admin.actor(&req), id, &body.reason).await?;
    Ok(HttpResponse::Ok().json(rejected))
}

/// Rejects application `id` of the caller's subtree with `reason` (1–200 characters; the JSON
/// route and the console).
pub async fn reject(
    state: &AppState,
    admin: &AdminCaller,
    actor: &huigong_store::audit::Actor,
    id: Uuid,
    reason: &str,
) -> Result<ApplicationView, ApiError> {
    let reason = required_text("reason", reason, 200)?;
    let rejected = applications::reject(
        &state.db,
        &state.vault,
        id,
        &admin.scope,
        &reason,
        actor,
        state.clock.now(),
    )
    .await
    .map_err(review_error)?;
    state.notifier.wake();
    Ok(view(rejected))
}
