//! Members and the roster under `/api/v1/admin`: masked by default; the full record is a
//! separate, audited read.

use crate::auth::AdminCaller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::params::{self, Page, required_text};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::id_number::{IdNumber, Sex};
use huigong_core::labels::OrgLevel;
use huigong_core::mask::mask_name;
use huigong_core::phone::Mobile;
use huigong_store::entity::person;
use huigong_store::members::{self, AddMemberError, Member, RosterFields};
use huigong_store::people::{self, PersonInput};
use huigong_store::{StoreError, orgs};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A member as the roster shows it. Masked unless `masked` is false.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: Uuid,
    pub org_id: Uuid,
    /// `active`, `transferred`, `left` or `deceased`.
    pub status: String,
    /// 退休: set when the member retired (the membership is kept, still `active`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_on: Option<NaiveDate>,
    /// Whether name, ID number and mobile are masked.
    pub masked: bool,
    #[schema(example = "张*")]
    pub name: String,
    #[schema(example = "男")]
    pub sex: String,
    #[schema(example = "330522********1234")]
    pub id_number: String,
    pub birth_date: chrono::NaiveDate,
    pub nationality: String,
    pub education: String,
    #[schema(example = "138****5678")]
    pub mobile: Option<String>,
    pub household_type: String,
    pub unit_name: String,
    pub employment_status: String,
    pub union_post: String,
    pub created_at: DateTime<Utc>,
}

fn view(m: Member, full: bool) -> MemberView {
    let p = &m.person;
    MemberView {
        id: m.id,
        org_id: m.org_id,
        status: m.status.clone(),
        retired_on: m.retired_on,
        masked: !full,
        name: if full {
            p.name.to_string()
        } else {
            mask_name(&p.name)
        },
        sex: p.sex.label_zh().to_owned(),
        id_number: if full {
            p.id_number.as_str().to_owned()
        } else {
            p.id_number.masked()
        },
        birth_date: p.birth_date,
        nationality: m.fields.nationality,
        education: m.fields.education,
        mobile: p.mobile.as_ref().map(|x| {
            if full {
                x.as_str().to_owned()
            } else {
                x.masked()
            }
        }),
        household_type: m.fields.household_type,
        unit_name: m.fields.unit_name,
        employment_status: m.fields.employment_status,
        union_post: m.fields.union_post,
        created_at: m.created_at,
    }
}

/// The roster's fields for one member (appendix 3).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub name: String,
    /// 男 or 女; must agree with the ID number.
    pub sex: String,
    pub id_number: String,
    pub nationality: String,
    pub education: String,
    pub mobile: Option<String>,
    /// 户籍类型, as the clerk writes it (城镇/农村, 农业/非农业 …).
    pub household_type: String,
    pub unit_name: String,
    pub employment_status: String,
    pub union_post: String,
}

/// A member's roster fields, validated.
pub(crate) struct RosterEntry {
    pub id_number: IdNumber,
    pub name: String,
    pub mobile: Option<Mobile>,
    pub fields: RosterFields,
}

/// Checks the roster's fields, naming the field of the first problem: the ID number, 性别 that
/// agrees with it, an optional mobile, and the clerk's texts.
pub(crate) fn roster_entry(
    b: &AddMemberRequest,
    today: NaiveDate,
) -> Result<RosterEntry, ApiError> {
    let id_number = IdNumber::parse(&b.id_number, today)
        .map_err(|e| ApiError::invalid_field("id_number", e.message_zh()))?;
    let stated =
        Sex::parse_zh(&b.sex).ok_or_else(|| ApiError::invalid_field("sex", "sex 须为 男 或 女"))?;
    if stated != id_number.sex() {
        return Err(ApiError::invalid_field(
            "sex",
            format!(
                "性别填写为{}，与身份证号码（{}）不一致",
                stated.label_zh(),
                id_number.sex().label_zh()
            ),
        ));
    }
    let mobile = match b.mobile.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => {
            Some(Mobile::parse(m).map_err(|e| ApiError::invalid_field("mobile", e.message_zh()))?)
        }
    };
    Ok(RosterEntry {
        id_number,
        name: required_text("name", &b.name, 64)?,
        mobile,
        fields: RosterFields {
            unit_name: required_text("unit_name", &b.unit_name, 128)?,
            nationality: required_text("nationality", &b.nationality, 32)?,
            education: required_text("education", &b.education, 32)?,
            household_type: required_text("household_type", &b.household_type, 32)?,
            employment_status: required_text("employment_status", &b.employment_status, 32)?,
            union_post: required_text("union_post", &b.union_post, 32)?,
        },
    })
}

async fn org_in_scope(
    state: &AppState,
    admin: &AdminCaller,
    id: &str,
) -> Result<orgs::Org, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    orgs::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// 409 for a union that is not approved (pending, rejected) or is dissolved.
pub(crate) fn union_not_active() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "union_not_active",
        "该工会尚未批准或已撤销，不能登记会员",
    )
}

/// Adds one member to a grassroots union of the caller's subtree.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = AddMemberRequest,
    responses(
        (status = 201, body = MemberView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_member` (of a union in the caller's subtree, or of another union when the name given is the one recorded), `id_number_unavailable` (the ID number cannot be registered here: neutral), or `union_not_active`"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`: the admin's daily budget of people checked (`roster.max_checked_rows_per_day`) is used up"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/members")]
pub async fn add_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<AddMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let org = org_in_scope(&state, &admin, &id).await?;
    if org.level != OrgLevel::Grassroots {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_grassroots",
            "会员只能登记在基层工会",
        ));
    }
    if org.status != "active" {
        return Err(union_not_active());
    }
    let b = body.into_inner();
    let RosterEntry {
        id_number,
        name,
        mobile,
        fields,
    } = roster_entry(&b, state.clock.now().date_naive())?;
    // One person checked against the county's membership: one row of the daily budget.
    crate::membership_checks::RowBudget::of(&state, admin.caller.user_id)
        .charge(1, state.clock.now())
        .await?;
    let added = members::add(
        &state.db,
        &state.vault,
        &state.card_views,
        org.id,
        PersonInput {
            id_number: &id_number,
            name: &name,
            mobile: mobile.as_ref(),
        },
        &fields,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await;
    match added {
        Ok(member) => Ok(HttpResponse::Created().json(view(member, false))),
        Err(AddMemberError::AlreadyMember {
            org_id,
            org_name,
            name_matches,
        }) => {
            // Within the caller's scope the union is named; outside it, only that one exists,
            // and only to a caller who gave the person's recorded name (issue 13, item 5).
            let visible = orgs::get_in_scope(&state.db.conn, &state.vault, org_id, &admin.scope)
                .await?
                .is_some();
            let message = if visible {
                format!("此人已是「{org_name}」的会员")
            } else if name_matches {
                "此人已是本县其他工会的会员".to_owned()
            } else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "id_number_unavailable",
                    crate::imports::ID_NUMBER_UNAVAILABLE,
                )
                .with_field("id_number"));
            };
            Err(
                ApiError::new(StatusCode::CONFLICT, "already_member", message)
                    .with_field("id_number"),
            )
        }
        Err(AddMemberError::Store(e)) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    page: Option<String>,
    per_page: Option<String>,
}

/// The roster of a grassroots union of the caller's subtree, masked.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<MemberView>), (status = 404, body = ErrorBody))
)]
#[get("/api/v1/admin/orgs/{id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = org_in_scope(&state, &admin, &id).await?;
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let (items, total) =
        members::list(&state.db.conn, &state.vault, org.id, page, per_page).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: items.into_iter().map(|m| view(m, false)).collect(),
        total,
        page,
        per_page,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// `true` for the unmasked record (recorded in the audit log).
    full: Option<bool>,
}

/// One member, masked; `?full=true` reads the full record and records that read.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(MemberQuery),
    responses((status = 200, body = MemberView), (status = 404, body = ErrorBody))
)]
#[get("/api/v1/admin/members/{id}")]
pub async fn get_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let member = members::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let full = query.full.unwrap_or(false);
    if full {
        people::reveal(
            &state.db,
            &state.vault,
            member.person.id,
            &["name", "id_number", "mobile"],
            &admin.actor(&req),
            state.clock.now(),
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    }
    Ok(HttpResponse::Ok().json(view(member, full)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Exact ID number.
    id_number: Option<String>,
    /// Exact mobile number.
    mobile: Option<String>,
}

/// Exact search in the caller's subtree by ID number or mobile (blind index), masked.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = Vec<MemberView>), (status = 400, body = ErrorBody))
)]
#[get("/api/v1/admin/members")]
pub async fn search_members(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let today = state.clock.now().date_naive();
    let (column, index) = match (query.id_number.as_deref(), query.mobile.as_deref()) {
        (Some(id), None) => {
            let id = IdNumber::parse(id, today)
                .map_err(|e| ApiError::invalid_field("id_number", e.message_zh()))?;
            (
                person::Column::IdNumberBidx,
                people::id_number_index(&state.vault, &id).to_vec(),
            )
        }
        (None, Some(m)) => {
            let m =
                Mobile::parse(m).map_err(|e| ApiError::invalid_field("mobile", e.message_zh()))?;
            (
                person::Column::MobileBidx,
                state
                    .vault
                    .blind_index(people::MOBILE_DOMAIN, m.as_str())
                    .to_vec(),
            )
        }
        _ => {
            return Err(ApiError::invalid_field(
                "id_number",
                "请提供 id_number 或 mobile 之一",
            ));
        }
    };
    let found = members::find_in_scope(&state.db.conn, &state.vault, column, index, &admin.scope)
        .await
        .map_err(|e: StoreError| ApiError::from(e))?;
    let items: Vec<MemberView> = found.into_iter().map(|m| view(m, false)).collect();
    Ok(HttpResponse::Ok().json(items))
}
