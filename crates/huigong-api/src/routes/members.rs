//! Members and the roster under `/api/v1/admin`: masked by default; the full record is a
//! separate, audited read.

use crate::auth::AdminCaller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::params::{self, Page, required_text};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::ShownPerson;
use huigong_core::id_number::{IdNumber, Sex};
use huigong_core::labels::OrgLevel;
use huigong_core::phone::Mobile;
use huigong_store::entity::person;
use huigong_store::member_cards::{self, CardState};
use huigong_store::members::{self, AddMemberError, Member, PastMember, Reach, RosterFields};
use huigong_store::orgs;
use huigong_store::people::{self, PersonInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A member as the roster shows it. Masked unless `masked` is false: a masked view shows the
/// birth year only (the eight characters the masked ID number hides are the birth date).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: Uuid,
    pub org_id: Uuid,
    /// `active`, `transferred`, `left` or `deceased`.
    pub status: String,
    /// Whether this is the person's current membership. An ended one (transferred, left,
    /// deceased) shows its history only: the masked name and ID number and its own roster
    /// fields, never the mobile, never in full.
    pub current: bool,
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
    /// The year of birth (all that a masked view shows of the birth date).
    #[schema(example = 1990)]
    pub birth_year: i32,
    /// The birth date: only in a full view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    pub nationality: String,
    pub education: String,
    #[schema(example = "138****5678")]
    pub mobile: Option<String>,
    pub household_type: String,
    pub unit_name: String,
    pub employment_status: String,
    pub union_post: String,
    pub created_at: DateTime<Utc>,
    /// The state of the member's 惠工卡 (in the roster list and the single view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardView>,
}

/// The state of a member's card, so a union sees who still has to activate.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardView {
    /// `not_activated`, `active` or `suspended`.
    #[schema(example = "not_activated")]
    pub status: &'static str,
    /// 未激活, 已激活 or 已暂停.
    #[schema(example = "未激活")]
    pub label: &'static str,
}

impl From<CardState> for CardView {
    fn from(state: CardState) -> Self {
        CardView {
            status: state.as_str(),
            label: state.label_zh(),
        }
    }
}

/// The one view of a member: every field beside the person's is the membership's own; the
/// person's go through [`ShownPerson`], the rule of what a masked view may show.
#[allow(clippy::too_many_arguments)]
fn member_view(
    id: Uuid,
    org_id: Uuid,
    status: String,
    current: bool,
    retired_on: Option<NaiveDate>,
    shown: ShownPerson,
    fields: RosterFields,
    created_at: DateTime<Utc>,
) -> MemberView {
    MemberView {
        id,
        org_id,
        status,
        current,
        retired_on,
        masked: shown.masked,
        name: shown.name,
        sex: shown.sex.to_owned(),
        id_number: shown.id_number,
        birth_year: shown.birth_year,
        birth_date: shown.birth_date,
        nationality: fields.nationality,
        education: fields.education,
        mobile: shown.mobile,
        household_type: fields.household_type,
        unit_name: fields.unit_name,
        employment_status: fields.employment_status,
        union_post: fields.union_post,
        created_at,
        card: None,
    }
}

fn view(m: Member, full: bool) -> MemberView {
    let p = &m.person;
    let shown = ShownPerson::new(full, &p.name, &p.id_number, p.mobile.as_ref());
    member_view(
        m.id,
        m.org_id,
        m.status,
        true,
        m.retired_on,
        shown,
        m.fields,
        m.created_at,
    )
}

fn past_view(m: PastMember) -> MemberView {
    member_view(
        m.id,
        m.org_id,
        m.status,
        false,
        m.retired_on,
        m.shown,
        m.fields,
        m.created_at,
    )
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
    /// Required when the person is on record (a former member, say) with another name or
    /// mobile (409 `record_differs`): `roster` — the name and mobile given here replace the
    /// record's; `record` — the record's stay (a mobile not on record yet is filled in). The
    /// choice is audited (`person.record_choice`).
    #[serde(default)]
    pub keep: Option<KeepRecord>,
}

/// Which details to keep when a member added is on record with another name or mobile.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeepRecord {
    /// The name and mobile given replace the record's.
    Roster,
    /// The record's name and mobile stay.
    Record,
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
        (status = 409, body = ErrorBody, description = "`already_member` (of a union in the caller's subtree, or of another union when the name given is the one recorded), `id_number_unavailable` (the ID number cannot be registered here: neutral), `record_differs` (field `keep`: the person is on record with another name or mobile; say which to keep), or `union_not_active`"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`: the admin's or the union's daily budget of people checked (`roster.max_checked_rows_per_day`) is used up"),
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
        .charge(org.id, 1, state.clock.now())
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
        b.keep.map(|k| match k {
            KeepRecord::Roster => members::Keep::Given,
            KeepRecord::Record => members::Keep::Record,
        }),
        &admin.actor(&req),
        state.clock.now(),
    )
    .await;
    match added {
        Ok(member) => Ok(HttpResponse::Created().json(view(member, false))),
        Err(AddMemberError::RecordDiffers { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "record_differs",
            "此身份证号码已有登记信息，姓名或手机号与之不一致；请核实后选择保留哪一份（keep: roster 采用本次填写的，record 保留已登记的）",
        )
        .with_field("keep")),
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
    /// Only the members whose card is `not_activated`, `active` or `suspended`.
    card: Option<String>,
}

/// The roster of a grassroots union of the caller's subtree, masked, each member with the
/// state of their card; `?card=not_activated` lists who still has to activate.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<MemberView>),
        (status = 400, body = ErrorBody, description = "`card` is not `not_activated`, `active` or `suspended`"),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/api/v1/admin/orgs/{id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = org_in_scope(&state, &admin, &id).await?;
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let card = match query.card.as_deref() {
        None => None,
        Some(text) => Some(CardState::parse(text).ok_or_else(|| {
            ApiError::invalid_field("card", "card 须为 not_activated、active 或 suspended")
        })?),
    };
    let (items, total) =
        member_cards::list(&state.db.conn, &state.vault, org.id, card, page, per_page).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: items
            .into_iter()
            .map(|m| MemberView {
                card: Some(m.card.into()),
                ..view(m.member, false)
            })
            .collect(),
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

/// One member, masked; `?full=true` reads the full record and records that read. Only the
/// person's current membership answers current data: an ended membership of the caller's
/// subtree (transferred, left, deceased) answers its history only (`current: false`, no
/// mobile), and 404 with `?full=true`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(MemberQuery),
    responses(
        (status = 200, body = MemberView),
        (status = 404, body = ErrorBody, description = "no such member in the caller's subtree, or `full=true` on an ended membership"),
    )
)]
#[get("/api/v1/admin/members/{id}")]
pub async fn get_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = member_in_scope(
        &state,
        &admin,
        &admin.actor(&req),
        &id,
        query.full.unwrap_or(false),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Member `id` of the caller's subtree as `GET /api/v1/admin/members/{id}` answers it (the
/// JSON route and the console): masked, or with `full` the unmasked record, that read
/// recorded in the audit log; an ended membership answers its history only, and 404 with
/// `full`; 404 for another subtree's or a malformed id.
pub async fn member_in_scope(
    state: &AppState,
    admin: &AdminCaller,
    actor: &huigong_store::audit::Actor,
    id: &str,
    full: bool,
) -> Result<MemberView, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    let member = match members::reach(&state.db.conn, &state.vault, id, &admin.scope).await? {
        Some(Reach::Current(m)) => m,
        Some(Reach::Historical(past)) if !full => {
            return Ok(past_view(past));
        }
        _ => return Err(ApiError::not_found()),
    };
    if full {
        people::reveal(
            &state.db,
            &state.vault,
            member.person.id,
            &["name", "id_number", "mobile"],
            actor,
            state.clock.now(),
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    }
    let card = member_cards::state_of(&state.db.conn, member.person.id).await?;
    Ok(MemberView {
        card: Some(card.into()),
        ..view(member, full)
    })
}

/// Query parameters the old search took. They are refused: an ID number or a mobile in a URL
/// ends up in proxy logs and browser history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Refused (400 `use_post_search`): send it in the body of `POST /api/v1/admin/members/search`.
    #[allow(dead_code)]
    id_number: Option<String>,
    /// Refused (400 `use_post_search`): send it in the body of `POST /api/v1/admin/members/search`.
    #[allow(dead_code)]
    mobile: Option<String>,
}

/// Retired: personal data never goes in a URL. Always 400 `use_post_search`; search with
/// `POST /api/v1/admin/members/search` instead.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 400, body = ErrorBody, description = "`use_post_search`: search with `POST /api/v1/admin/members/search`"))
)]
#[get("/api/v1/admin/members")]
pub async fn search_members(
    req: HttpRequest,
    _admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    // Name the parameter that was sent (by name only: its value is never echoed).
    let field = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()
        .and_then(|q| {
            q.iter().find_map(|(k, _)| match k.as_str() {
                "mobile" => Some("mobile"),
                "id_number" => Some("id_number"),
                _ => None,
            })
        })
        .unwrap_or("id_number");
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "use_post_search",
        "身份证号码、手机号不得放在网址中：请改用 POST /api/v1/admin/members/search，在请求体中提交",
    )
    .with_field(field))
}

/// A search of the members of the caller's subtree. Exactly one of `id_number` and `mobile`
/// (exact, by blind index), optionally narrowed by the exact `name`; or `name` with `org_id`:
/// the members of that union whose name contains it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Exact ID number.
    pub id_number: Option<String>,
    /// Exact mobile number.
    pub mobile: Option<String>,
    /// With `id_number`/`mobile`: the exact name. With `org_id`: part of the name.
    pub name: Option<String>,
    /// With `name` alone: the grassroots union whose roster to search.
    pub org_id: Option<Uuid>,
}

/// At most this many members answer a search by name.
const NAME_SEARCH_LIMIT: usize = 50;

fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// Searches the members of the caller's subtree, masked: by ID number or mobile (exact, by
/// blind index, optionally with the exact name), or by part of the name within one union
/// (`name` + `org_id`, at most 50). Personal data travels in the body, never in the URL.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses(
        (status = 200, body = Vec<MemberView>),
        (status = 400, body = ErrorBody, description = "invalid field, or none of the combinations above; `field` names it"),
        (status = 404, body = ErrorBody, description = "`org_id` outside the caller's subtree"),
    )
)]
#[post("/api/v1/admin/members/search")]
pub async fn search_members_by_body(
    state: web::Data<AppState>,
    admin: AdminCaller,
    body: crate::json::Json<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let items = search(&state, &admin, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(items))
}

/// The search of `POST /api/v1/admin/members/search` (the JSON route and the console's form):
/// masked members of the caller's subtree.
pub async fn search(
    state: &AppState,
    admin: &AdminCaller,
    b: SearchRequest,
) -> Result<Vec<MemberView>, ApiError> {
    let today = state.clock.now().date_naive();
    let name = match given(b.name.as_deref()) {
        Some(n) => Some(required_text("name", n, 64)?),
        None => None,
    };
    let by_index = match (given(b.id_number.as_deref()), given(b.mobile.as_deref())) {
        (Some(id), None) => {
            let id = IdNumber::parse(id, today)
                .map_err(|e| ApiError::invalid_field("id_number", e.message_zh()))?;
            Some((
                person::Column::IdNumberBidx,
                people::id_number_index(&state.vault, &id).to_vec(),
            ))
        }
        (None, Some(m)) => {
            let m =
                Mobile::parse(m).map_err(|e| ApiError::invalid_field("mobile", e.message_zh()))?;
            Some((
                person::Column::MobileBidx,
                state
                    .vault
                    .blind_index(people::MOBILE_DOMAIN, m.as_str())
                    .to_vec(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "mobile",
                "id_number 与 mobile 只能提供其一",
            ));
        }
        (None, None) => None,
    };
    let found = match (by_index, name, b.org_id) {
        (Some((column, index)), name, _) => {
            members::find_in_scope(
                &state.db.conn,
                &state.vault,
                column,
                index,
                name.as_deref(),
                &admin.scope,
            )
            .await?
        }
        (None, Some(name), Some(org_id)) => {
            let org = org_in_scope(state, admin, &org_id.to_string()).await?;
            members::find_by_name(
                &state.db.conn,
                &state.vault,
                org.id,
                &name,
                NAME_SEARCH_LIMIT,
            )
            .await?
        }
        (None, Some(_), None) => {
            return Err(ApiError::invalid_field(
                "org_id",
                "按姓名查找须指定工会 org_id",
            ));
        }
        (None, None, _) => {
            return Err(ApiError::invalid_field(
                "id_number",
                "请提供 id_number 或 mobile 之一，或 name 与 org_id",
            ));
        }
    };
    Ok(found.into_iter().map(|m| view(m, false)).collect())
}
