//! `/api/v1/admin/orgs` and `/api/v1/admin/users`: the hierarchy and its administrators.

use crate::auth::AdminCaller;
use crate::error::{ApiError, ErrorBody};
use crate::password;
use crate::routes::params::{self, Page, parse, required_text};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::Role;
use huigong_core::labels::{OrgLevel, UnionType, UnitNature};
use huigong_core::mask::shown_contact;
use huigong_core::phone::ContactPhone;
use huigong_core::unit_code::UnitCode;
use huigong_store::orgs::{self, NewUnion, NewUnit, Org};
use huigong_store::{StoreError, users};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitView {
    pub id: Uuid,
    pub name: String,
    /// Unified social credit code (or legacy organisation code).
    pub code: String,
    #[schema(value_type = String, example = "私营经济")]
    pub nature: UnitNature,
    /// What the nature is, when `nature` is 其他 (written `其他：…` in requests and workbooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nature_other: Option<String>,
    pub address: String,
    pub employee_count: u32,
}

/// A grassroots union's registration (the notice's 11 fields, units apart).
#[derive(Debug, Serialize, ToSchema)]
pub struct UnionView {
    pub founded_on: NaiveDate,
    #[schema(value_type = String, example = "单建")]
    pub union_type: UnionType,
    /// Declared by the union.
    pub member_count_declared: u32,
    /// The union's leader (工会负责人): masked (`王**`) unless read with `full=true` (audited).
    #[schema(example = "王**")]
    pub leader_name: String,
    /// Masked (`057*****2447`, `139****2345`) unless read with `full=true` (audited).
    #[schema(example = "057*****2447")]
    pub phone: String,
    pub units: Vec<UnitView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    /// `county`, `district` or `grassroots`.
    #[schema(value_type = String, example = "grassroots")]
    pub level: OrgLevel,
    pub name: String,
    pub status: String,
    /// Active members on the roster.
    pub member_count_registered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub union: Option<UnionView>,
    /// 附件1's 备注, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The view of an org; the leader's name and phone masked unless `full` (which the caller
/// audits with [`orgs::record_full_read`] first).
fn view(org: Org, registered: u64, full: bool) -> OrgView {
    OrgView {
        id: org.id,
        parent_id: org.parent_id,
        level: org.level,
        name: org.name,
        status: org.status,
        member_count_registered: registered,
        union: org.union.map(|u| {
            let (leader_name, phone) = shown_contact(full, &u.leader_name, &u.phone);
            UnionView {
                founded_on: u.founded_on,
                union_type: u.union_type,
                member_count_declared: u.member_count_declared,
                leader_name,
                phone,
                units: u
                    .units
                    .into_iter()
                    .map(|x| UnitView {
                        id: x.id,
                        name: x.name,
                        code: x.code,
                        nature: x.nature,
                        nature_other: x.nature_other,
                        address: x.address,
                        employee_count: x.employee_count,
                    })
                    .collect(),
            }
        }),
        remark: org.remark,
        created_at: org.created_at,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgListQuery {
    /// `district` or `grassroots` (or `county`).
    level: Option<String>,
    /// Part of the name.
    q: Option<String>,
    /// `active`, `pending` (awaiting approval), `rejected` or `dissolved`.
    status: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
    /// `true` for the leaders' names and phones unmasked (one `org.read_full` audit event per
    /// union listed).
    full: Option<bool>,
}

/// The caller's subtree of the hierarchy (its own org included), parents before children.
/// Leaders' names and phones masked unless `full=true` (audited).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(OrgListQuery),
    responses((status = 200, body = Page<OrgView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/api/v1/admin/orgs")]
pub async fn list_orgs(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: crate::query::Query<OrgListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let level = parse(
        "level",
        query.level.as_deref(),
        " county、district 或 grassroots",
        OrgLevel::parse_zh,
    )?;
    let status = parse(
        "status",
        query.status.as_deref(),
        " active、pending、rejected 或 dissolved",
        |s| {
            ["active", "pending", "rejected", "dissolved"]
                .contains(&s)
                .then(|| s.to_owned())
        },
    )?;
    let filter = orgs::ListFilter {
        level,
        name_contains: query.q.clone(),
        status,
    };
    let (items, total) = orgs::list(
        &state.db.conn,
        &state.vault,
        &admin.scope,
        &filter,
        page,
        per_page,
    )
    .await?;
    let ids: Vec<Uuid> = items.iter().map(|o| o.id).collect();
    let full = query.full.unwrap_or(false);
    if full {
        let unions: Vec<Uuid> = items
            .iter()
            .filter(|o| o.union.is_some())
            .map(|o| o.id)
            .collect();
        orgs::record_full_read(
            &state.db,
            &unions,
            CONTACT_FIELDS,
            &admin.actor(&req),
            state.clock.now(),
        )
        .await?;
    }
    let counts = orgs::registered_member_counts(&state.db.conn, &ids).await?;
    let items = items
        .into_iter()
        .map(|o| {
            let n = counts.get(&o.id).copied().unwrap_or(0);
            view(o, n, full)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        total,
        page,
        per_page,
    }))
}

/// The personal fields of a union's registration, as audit events name them.
const CONTACT_FIELDS: &[&str] = &["leader_name", "phone"];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// `true` for the leader's name and phone unmasked (recorded in the audit log).
    full: Option<bool>,
}

/// One org of the caller's subtree; anything else is 404, exactly as if it did not exist.
/// The leader's name and phone are masked unless `full=true` (audited `org.read_full`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(OrgQuery),
    responses((status = 200, body = OrgView), (status = 404, body = ErrorBody))
)]
#[get("/api/v1/admin/orgs/{id}")]
pub async fn get_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<OrgQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = org_in_scope(&state, &admin, &id).await?;
    let full = query.full.unwrap_or(false);
    if full && org.union.is_some() {
        orgs::record_full_read(
            &state.db,
            &[org.id],
            CONTACT_FIELDS,
            &admin.actor(&req),
            state.clock.now(),
        )
        .await?;
    }
    let counts = orgs::registered_member_counts(&state.db.conn, &[org.id]).await?;
    let n = counts.get(&org.id).copied().unwrap_or(0);
    Ok(HttpResponse::Ok().json(view(org, n, full)))
}

/// The org `id` (as written in a path) if it is in `admin`'s subtree; 404 otherwise, exactly as
/// for an org that does not exist (the JSON route and the console).
pub async fn org_in_scope(
    state: &AppState,
    admin: &AdminCaller,
    id: &str,
) -> Result<orgs::Org, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    orgs::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A child org. For `level: "grassroots"` the notice's registration fields are required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    pub parent_id: Uuid,
    /// `district` or `grassroots`.
    pub level: String,
    /// The union's name (工会名称).
    pub name: String,
    pub unit_name: Option<String>,
    /// 18-character unified social credit code or 9-character organisation code.
    pub unit_code: Option<String>,
    /// One of 党政机关、事业单位、国有经济、集体经济、私营经济、个体经济、联营经济、股份制、外商投资、港澳台投资,
    /// or 其他 with what it is (at most 13 characters): `其他：民办非企业单位`.
    pub unit_nature: Option<String>,
    pub unit_address: Option<String>,
    #[schema(maximum = 10_000_000)]
    pub employee_count: Option<u32>,
    /// YYYY-MM-DD.
    pub founded_on: Option<String>,
    /// 单建、联合工会 or 工会联合会.
    pub union_type: Option<String>,
    #[schema(maximum = 10_000_000)]
    pub member_count: Option<u32>,
    pub leader_name: Option<String>,
    /// Mobile, or landline with area code (0572-6022447).
    pub phone: Option<String>,
}

fn need<'a>(field: &'static str, v: &'a Option<String>) -> Result<&'a str, ApiError> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_field(field, format!("基层工会须填写 {field}")))
}

/// The largest employee or member count of one union: stored as a 32-bit integer, so a larger
/// number would otherwise be cut silently.
const MAX_HEADCOUNT: u32 = 10_000_000;

/// A grassroots union's registration fields, validated (owned; see [`ParsedUnion::new_union`]).
pub(crate) struct ParsedUnion {
    unit_name: String,
    unit_code: UnitCode,
    unit_nature: UnitNature,
    unit_nature_other: Option<String>,
    unit_address: String,
    employee_count: u32,
    founded_on: NaiveDate,
    union_type: UnionType,
    member_count: u32,
    leader_name: String,
    phone: ContactPhone,
}

impl ParsedUnion {
    pub(crate) fn new_union(&self) -> NewUnion<'_> {
        NewUnion {
            founded_on: self.founded_on,
            union_type: self.union_type,
            member_count: self.member_count,
            leader_name: &self.leader_name,
            phone: &self.phone,
            units: vec![NewUnit {
                name: &self.unit_name,
                code: &self.unit_code,
                nature: self.unit_nature,
                nature_other: self.unit_nature_other.as_deref(),
                address: &self.unit_address,
                employee_count: self.employee_count,
            }],
        }
    }
}

/// Checks a grassroots union's registration fields, naming the first bad one.
pub(crate) fn parse_union(b: &CreateOrgRequest, today: NaiveDate) -> Result<ParsedUnion, ApiError> {
    let unit_code = UnitCode::parse(need("unit_code", &b.unit_code)?)
        .map_err(|e| ApiError::invalid_field("unit_code", e.message_zh()))?;
    let (unit_nature, unit_nature_other) =
        UnitNature::parse_written(need("unit_nature", &b.unit_nature)?)
            .map_err(|e| ApiError::invalid_field("unit_nature", e.message_zh("unit_nature ")))?;
    let union_type = UnionType::parse_zh(need("union_type", &b.union_type)?).ok_or_else(|| {
        ApiError::invalid_field(
            "union_type",
            format!("union_type 须为：{}", UnionType::labels_zh()),
        )
    })?;
    let founded_on = NaiveDate::parse_from_str(need("founded_on", &b.founded_on)?, "%Y-%m-%d")
        .ok()
        .filter(|d| *d <= today)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "founded_on",
                "founded_on 须为不晚于今天的日期，格式如 2001-05-06",
            )
        })?;
    let phone = ContactPhone::parse(need("phone", &b.phone)?)
        .map_err(|e| ApiError::invalid_field("phone", e.message_zh()))?;
    let employee_count = b.employee_count.ok_or_else(|| {
        ApiError::invalid_field("employee_count", "基层工会须填写 employee_count")
    })?;
    let member_count = b
        .member_count
        .ok_or_else(|| ApiError::invalid_field("member_count", "基层工会须填写 member_count"))?;
    for (field, n) in [
        ("employee_count", employee_count),
        ("member_count", member_count),
    ] {
        if n > MAX_HEADCOUNT {
            return Err(ApiError::invalid_field(
                field,
                format!("{field} 须为 0 到 {MAX_HEADCOUNT} 之间的整数"),
            ));
        }
    }
    Ok(ParsedUnion {
        unit_name: required_text("unit_name", need("unit_name", &b.unit_name)?, 128)?,
        unit_code,
        unit_nature,
        unit_nature_other,
        unit_address: required_text("unit_address", need("unit_address", &b.unit_address)?, 255)?,
        employee_count,
        founded_on,
        union_type,
        member_count,
        leader_name: required_text("leader_name", need("leader_name", &b.leader_name)?, 32)?,
        phone,
    })
}

/// Creates a district union under the county, or a grassroots union under a district.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = CreateOrgRequest,
    responses(
        (status = 201, body = OrgView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 404, body = ErrorBody, description = "parent outside the caller's scope"),
        (status = 409, body = ErrorBody, description = "the unit code is already registered"),
    )
)]
#[post("/api/v1/admin/orgs")]
pub async fn create_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    body: crate::json::Json<CreateOrgRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let parent = orgs::get_in_scope(&state.db.conn, &state.vault, b.parent_id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let level = OrgLevel::parse_zh(&b.level)
        .filter(|l| *l != OrgLevel::County)
        .ok_or_else(|| ApiError::invalid_field("level", "level 须为 district 或 grassroots"))?;
    let expected_parent = match level {
        OrgLevel::District => OrgLevel::County,
        _ => OrgLevel::District,
    };
    if parent.level != expected_parent {
        return Err(ApiError::invalid_field(
            "parent_id",
            match level {
                OrgLevel::District => {
                    "乡镇（街道、园区）总工会或县直属产业（行业）工会须建在县总工会之下"
                }
                _ => "基层工会须建在乡镇（街道、园区）总工会或县直属产业（行业）工会之下",
            },
        ));
    }
    let name = required_text("name", &b.name, 128)?;
    let today = state.clock.now().date_naive();
    let parsed = if level == OrgLevel::Grassroots {
        Some(parse_union(&b, today)?)
    } else {
        None
    };
    let union = parsed.as_ref().map(ParsedUnion::new_union);
    let txn = state.db.begin_write().await?;
    let created = orgs::create(
        &txn,
        &state.vault,
        &parent,
        &orgs::NewOrg {
            level,
            name: &name,
            union: union.as_ref(),
        },
        &admin.actor(&req),
        state.clock.now(),
    )
    .await;
    let org = match created {
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "unit_code_taken",
                "该单位（统一社会信用代码）已登记",
            )
            .with_field("unit_code"));
        }
        other => other?,
    };
    txn.commit().await.map_err(StoreError::from)?;
    Ok(HttpResponse::Created().json(view(org, 0, false)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 3–32 characters: letters, digits, `_`, `.`, `-`.
    pub username: String,
    /// 10–128 characters with three of: lower case, upper case, digits, symbols.
    pub password: String,
    /// `county_admin`, `district_admin` or `grassroots_admin`, matching the org's level.
    pub role: String,
    pub org_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub username: String,
    pub role: String,
    pub org_id: Uuid,
}

/// An administrator account for an org strictly below the caller's (an account at the caller's
/// own level would be a peer it cannot manage).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = AccountView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`forbidden`: the caller would not manage the account (its own org at its own level; see `users::managed_in_scope`)"),
        (status = 404, body = ErrorBody, description = "org outside the caller's scope"),
        (status = 409, body = ErrorBody, description = "username taken"),
    )
)]
#[post("/api/v1/admin/users")]
pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    body: crate::json::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let org = orgs::get_in_scope(&state.db.conn, &state.vault, b.org_id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let role: Role = b
        .role
        .parse()
        .ok()
        .filter(|r| {
            matches!(
                r,
                Role::CountyAdmin | Role::DistrictAdmin | Role::GrassrootsAdmin
            )
        })
        .ok_or_else(|| {
            ApiError::invalid_field(
                "role",
                "role 须为 county_admin、district_admin 或 grassroots_admin",
            )
        })?;
    let level_of_role = match role {
        Role::CountyAdmin => OrgLevel::County,
        Role::DistrictAdmin => OrgLevel::District,
        _ => OrgLevel::Grassroots,
    };
    if org.level != level_of_role {
        return Err(ApiError::invalid_field(
            "role",
            "角色须与所属组织的层级一致",
        ));
    }
    let (username, hash) = password::new_credentials(&b.username, b.password).await?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let user = password::create_account(
        &txn,
        users::NewAccount {
            role,
            username: Some(&username),
            password_hash: Some(hash),
            org_id: Some(org.id),
        },
        now,
    )
    .await?;
    // Only an account the caller will manage may be created (issue 13 review): an org strictly
    // below the caller's, or the caller's own org with a lower role — the one rule of
    // `users::managed_in_scope`, asked of the new row before the transaction commits (dropping
    // it rolls the account back).
    if users::managed_in_scope(&txn, &crate::accounts::manager(&admin), user.id)
        .await?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "只能为下级组织创建管理员账号，或在本组织创建低于自己角色的账号",
        )
        .with_field("org_id"));
    }
    huigong_store::audit::record(
        &txn,
        &admin.actor(&req),
        &huigong_store::audit::Entry {
            action: "account.create",
            target_type: "user",
            target_id: Some(user.id.to_string()),
            fields: &[],
            outcome: huigong_store::audit::Outcome::Success,
        },
        now,
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(HttpResponse::Created().json(AccountView {
        id: user.id,
        username,
        role: role.as_str().to_owned(),
        org_id: org.id,
    }))
}

/// A unit added to a 联合工会 or 工会联合会.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitRequest {
    pub unit_name: String,
    pub unit_code: String,
    pub unit_nature: String,
    pub unit_address: String,
    #[schema(maximum = 10_000_000)]
    pub employee_count: u32,
}

/// Changes to a grassroots union's registration: any of the 11 fields of 附件1 (the `unit_*`
/// fields are those of its first unit), units added to or removed (by code) from a 联合工会.
/// Absent fields keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchOrgRequest {
    pub name: Option<String>,
    pub unit_name: Option<String>,
    pub unit_code: Option<String>,
    pub unit_nature: Option<String>,
    pub unit_address: Option<String>,
    #[schema(maximum = 10_000_000)]
    pub employee_count: Option<u32>,
    pub founded_on: Option<String>,
    pub union_type: Option<String>,
    #[schema(maximum = 10_000_000)]
    pub member_count: Option<u32>,
    pub leader_name: Option<String>,
    pub phone: Option<String>,
    /// Units to add (联合工会 and 工会联合会 only).
    pub add_units: Option<Vec<UnitRequest>>,
    /// Codes of units to remove; the first unit (the one the `unit_*` fields edit) stays.
    pub remove_units: Option<Vec<String>>,
    /// 附件1's 备注 (at most 500 characters); `""` clears it.
    pub remark: Option<String>,
}

/// `field=before→after` for each non-personal field that changes.
fn change(changes: &mut Vec<String>, field: &str, before: &str, after: &str) {
    if before != after {
        changes.push(format!("{field}={before}→{after}"));
    }
}

/// Edits the registration of grassroots union `{id}`: by an administrator above it, or by the
/// union's own administrator, who may change every field but the union type and the units it
/// covers (`add_units`, `remove_units`: 403 `needs_parent`); anything else is 404. Each field
/// is validated as on creation and import; the leader's name and phone stay sealed. Audited
/// `org.update` with the before/after of the non-personal fields.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = PatchOrgRequest,
    responses(
        (status = 200, body = OrgView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`; units added to a 单建 union; not a grassroots union"),
        (status = 403, body = ErrorBody, description = "`needs_parent`: the union's own admin changing its type or units, named in `field`"),
        (status = 404, body = ErrorBody, description = "neither below the caller's org nor the caller's own union"),
        (status = 409, body = ErrorBody, description = "a unit code is registered to another union"),
    )
)]
#[patch("/api/v1/admin/orgs/{id}")]
pub async fn patch_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<PatchOrgRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut p = body.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let (org, editor) = orgs::for_registration_edit(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let (Some(current), OrgLevel::Grassroots) = (org.union.as_ref(), org.level) else {
        return Err(ApiError::invalid_field("id", "只能修改基层工会的登记信息"));
    };
    let mut changed: Vec<&str> = Vec::new();
    if p.union_type
        .as_deref()
        .is_some_and(|t| t.trim() != current.union_type.label_zh())
    {
        changed.push("union_type");
    }
    if p.add_units.as_ref().is_some_and(|u| !u.is_empty()) {
        changed.push("add_units");
    }
    if p.remove_units.as_ref().is_some_and(|u| !u.is_empty()) {
        changed.push("remove_units");
    }
    if let Some(field) = editor.refused(&changed) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "needs_parent",
            "工会类型和所覆盖的单位须由上级工会修改",
        )
        .with_field(field));
    }
    let Some(first) = current.units.first() else {
        return Err(ApiError::invalid_field("id", "该工会没有登记单位"));
    };
    let pick = |v: Option<String>, old: &str| Some(v.unwrap_or_else(|| old.to_owned()));
    let merged = CreateOrgRequest {
        parent_id: org.parent_id.unwrap_or_default(),
        level: "grassroots".to_owned(),
        name: p.name.clone().unwrap_or_else(|| org.name.clone()),
        unit_name: pick(p.unit_name, &first.name),
        unit_code: pick(p.unit_code, &first.code),
        unit_nature: pick(
            p.unit_nature,
            &first.nature.written(first.nature_other.as_deref()),
        ),
        unit_address: pick(p.unit_address, &first.address),
        employee_count: Some(p.employee_count.unwrap_or(first.employee_count)),
        founded_on: pick(p.founded_on, &current.founded_on.to_string()),
        union_type: pick(p.union_type, current.union_type.label_zh()),
        member_count: Some(p.member_count.unwrap_or(current.member_count_declared)),
        leader_name: pick(p.leader_name, &current.leader_name),
        phone: pick(p.phone, &current.phone),
    };
    let name = required_text("name", &merged.name, 128)?;
    let today = state.clock.now().date_naive();
    let parsed = parse_union(&merged, today)?;
    let union = parsed.new_union();
    // The added units, validated like the first one.
    let added: Vec<ParsedUnion> = p
        .add_units
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            parse_union(
                &CreateOrgRequest {
                    unit_name: Some(u.unit_name),
                    unit_code: Some(u.unit_code),
                    unit_nature: Some(u.unit_nature),
                    unit_address: Some(u.unit_address),
                    employee_count: Some(u.employee_count),
                    ..merged.clone_registration()
                },
                today,
            )
        })
        .collect::<Result<_, _>>()?;
    let mut removed: Vec<String> = Vec::new();
    for code in p.remove_units.unwrap_or_default() {
        let code = UnitCode::parse(&code)
            .map_err(|e| ApiError::invalid_field("remove_units", e.message_zh()))?
            .as_str()
            .to_owned();
        if code == first.code || !current.units.iter().any(|u| u.code == code) {
            return Err(ApiError::invalid_field(
                "remove_units",
                "remove_units 只能是本工会第一个单位以外的已登记单位代码",
            ));
        }
        removed.push(code);
    }
    let mut units: Vec<orgs::EditedUnit<'_>> = vec![orgs::EditedUnit {
        id: Some(first.id),
        unit: union.units[0].clone(),
    }];
    let others: Vec<(&orgs::Unit, UnitCode)> = current
        .units
        .iter()
        .skip(1)
        .filter(|u| !removed.contains(&u.code))
        .map(|u| other_code(&u.code).map(|code| (u, code)))
        .collect::<Result<_, _>>()?;
    units.extend(others.iter().map(|(other, code)| orgs::EditedUnit {
        id: Some(other.id),
        unit: NewUnit {
            name: &other.name,
            code,
            nature: other.nature,
            nature_other: other.nature_other.as_deref(),
            address: &other.address,
            employee_count: other.employee_count,
        },
    }));
    units.extend(added.iter().map(|a| orgs::EditedUnit {
        id: None,
        unit: a.new_union().units[0].clone(),
    }));
    if union.union_type == UnionType::Single && units.len() > 1 {
        return Err(ApiError::invalid_field(
            "add_units",
            "单建工会只覆盖一个单位；联合工会、工会联合会才能增加单位",
        ));
    }
    let mut codes: Vec<&str> = units.iter().map(|u| u.unit.code.as_str()).collect();
    codes.sort_unstable();
    if codes.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::invalid_field(
            "add_units",
            "同一单位代码出现了两次",
        ));
    }

    let remark = match p.remark.take() {
        None => org.remark.clone(),
        Some(text) if text.trim().is_empty() => None,
        Some(text) if text.trim().chars().count() > 500 => {
            return Err(ApiError::invalid_field(
                "remark",
                "remark 不能超过 500 个字符",
            ));
        }
        Some(text) => Some(text.trim().to_owned()),
    };
    let mut changes = Vec::new();
    change(&mut changes, "name", &org.name, &name);
    if remark != org.remark {
        changes.push("remark".to_owned());
    }
    change(
        &mut changes,
        "founded_on",
        &current.founded_on.to_string(),
        &union.founded_on.to_string(),
    );
    change(
        &mut changes,
        "union_type",
        current.union_type.label_zh(),
        union.union_type.label_zh(),
    );
    change(
        &mut changes,
        "member_count",
        &current.member_count_declared.to_string(),
        &union.member_count.to_string(),
    );
    let now_first = &union.units[0];
    change(&mut changes, "unit_name", &first.name, now_first.name);
    change(
        &mut changes,
        "unit_code",
        &first.code,
        now_first.code.as_str(),
    );
    change(
        &mut changes,
        "unit_nature",
        &first.nature.written(first.nature_other.as_deref()),
        &now_first.nature.written(now_first.nature_other),
    );
    change(
        &mut changes,
        "unit_address",
        &first.address,
        now_first.address,
    );
    change(
        &mut changes,
        "employee_count",
        &first.employee_count.to_string(),
        &now_first.employee_count.to_string(),
    );
    for a in &added {
        changes.push(format!("unit_added={}", a.unit_code.as_str()));
    }
    for code in &removed {
        changes.push(format!("unit_removed={code}"));
    }

    let txn = state.db.begin_write().await?;
    let edited = orgs::edit_union(
        &txn,
        &state.vault,
        org.id,
        &name,
        &union,
        &units,
        remark.as_deref(),
        &changes,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await;
    match edited {
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "unit_code_taken",
                "该单位（统一社会信用代码）已登记在其他工会",
            )
            .with_field("unit_code"));
        }
        other => other?,
    }
    txn.commit().await.map_err(StoreError::from)?;
    let org = orgs::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let counts = orgs::registered_member_counts(&state.db.conn, &[org.id]).await?;
    let n = counts.get(&org.id).copied().unwrap_or(0);
    Ok(HttpResponse::Ok().json(view(org, n, false)))
}

/// A stored unit code, parsed again (it was validated when stored).
fn other_code(code: &str) -> Result<UnitCode, ApiError> {
    UnitCode::parse(code).map_err(|_| ApiError::internal(&"stored unit code unreadable"))
}

impl CreateOrgRequest {
    /// The union's fields, for validating one more unit with them.
    fn clone_registration(&self) -> CreateOrgRequest {
        CreateOrgRequest {
            parent_id: self.parent_id,
            level: self.level.clone(),
            name: self.name.clone(),
            unit_name: None,
            unit_code: None,
            unit_nature: None,
            unit_address: None,
            employee_count: None,
            founded_on: self.founded_on.clone(),
            union_type: self.union_type.clone(),
            member_count: self.member_count,
            leader_name: self.leader_name.clone(),
            phone: self.phone.clone(),
        }
    }
}
