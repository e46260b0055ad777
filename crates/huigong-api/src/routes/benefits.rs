//! Union services (惠工服务): listed for workers by the notice's categories; managed by county
//! and district administrators.

use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::routes::params::{parse, required_text};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use huigong_core::Role;
use huigong_core::labels::BenefitCategory;
use huigong_store::benefits::{self, Benefit, BenefitInput};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A service as a worker sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BenefitView {
    pub id: Uuid,
    #[schema(value_type = String, example = "法律援助")]
    pub category: BenefitCategory,
    pub title: String,
    /// Who provides it.
    pub provider: String,
    /// The union offering it (县总工会 or a district union).
    pub offered_by: String,
    pub how_to_use: String,
    pub contact: String,
    /// Only for holders of an active 惠工卡 of a union under `offered_by`.
    pub members_only: bool,
    /// Whether the caller may use it now.
    pub qualifies: bool,
}

/// One category of services.
#[derive(Debug, Serialize, ToSchema)]
pub struct BenefitGroup {
    #[schema(value_type = String, example = "职工医疗")]
    pub category: BenefitCategory,
    pub items: Vec<BenefitView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BenefitCatalogue {
    /// Whether the caller holds an active 惠工卡.
    pub card_active: bool,
    /// Every category of the notice, in its order, each with its services (possibly none).
    pub categories: Vec<BenefitGroup>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    /// One of 职工医疗、职工就业、职工培训、法律援助、职工疗休养、困难帮扶、文体活动.
    category: Option<String>,
}

/// Union services by category, each marked with whether the caller's card qualifies.
#[utoipa::path(
    tag = "worker",
    security(("bearer" = [])),
    params(CatalogueQuery),
    responses((status = 200, body = BenefitCatalogue), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/api/v1/benefits")]
pub async fn catalogue(
    state: web::Data<AppState>,
    caller: Caller,
    query: crate::query::Query<CatalogueQuery>,
) -> Result<HttpResponse, ApiError> {
    let category = parse(
        "category",
        query.category.as_deref(),
        &BenefitCategory::labels_zh(),
        BenefitCategory::parse_zh,
    )?;
    let path = benefits::card_union_path(&state.db.conn, caller.user_id).await?;
    let all = benefits::active(&state.db.conn, category).await?;
    let categories = BenefitCategory::ALL
        .iter()
        .copied()
        .filter(|c| category.is_none_or(|only| only == *c))
        .map(|c| BenefitGroup {
            category: c,
            items: all
                .iter()
                .filter(|b| b.category == c)
                .map(|b| BenefitView {
                    id: b.id,
                    category: b.category,
                    title: b.title.clone(),
                    provider: b.provider.clone(),
                    offered_by: b.org_name.clone(),
                    how_to_use: b.how_to_use.clone(),
                    contact: b.contact.clone(),
                    members_only: b.members_only,
                    qualifies: b.qualifies(path.as_deref()),
                })
                .collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(BenefitCatalogue {
        card_active: path.is_some(),
        categories,
    }))
}

/// A service as its administrators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminBenefitView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub offered_by: String,
    #[schema(value_type = String, example = "法律援助")]
    pub category: BenefitCategory,
    pub title: String,
    pub provider: String,
    pub how_to_use: String,
    pub contact: String,
    pub members_only: bool,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

fn admin_view(b: Benefit) -> AdminBenefitView {
    AdminBenefitView {
        id: b.id,
        org_id: b.org_id,
        offered_by: b.org_name,
        category: b.category,
        title: b.title,
        provider: b.provider,
        how_to_use: b.how_to_use,
        contact: b.contact,
        members_only: b.members_only,
        active: b.active,
        updated_at: b.updated_at,
    }
}

/// A service's fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BenefitRequest {
    /// One of 职工医疗、职工就业、职工培训、法律援助、职工疗休养、困难帮扶、文体活动.
    pub category: String,
    /// At most 64 characters.
    pub title: String,
    pub provider: String,
    /// How to use it, at most 1000 characters.
    pub how_to_use: String,
    pub contact: String,
    /// Only for holders of an active 惠工卡 (default: false).
    pub members_only: Option<bool>,
    /// Listed for workers (default: true).
    pub active: Option<bool>,
}

/// County and district administrators manage services; grassroots administrators do not.
fn manager(admin: &AdminCaller) -> Result<(), ApiError> {
    match admin.caller.role {
        Role::CountyAdmin | Role::DistrictAdmin => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

struct Checked {
    category: BenefitCategory,
    title: String,
    provider: String,
    how_to_use: String,
    contact: String,
    members_only: bool,
    active: bool,
}

impl Checked {
    fn input(&self) -> BenefitInput<'_> {
        BenefitInput {
            category: self.category,
            title: &self.title,
            provider: &self.provider,
            how_to_use: &self.how_to_use,
            contact: &self.contact,
            members_only: self.members_only,
            active: self.active,
        }
    }
}

fn check(b: &BenefitRequest) -> Result<Checked, ApiError> {
    Ok(Checked {
        category: BenefitCategory::parse_zh(&b.category).ok_or_else(|| {
            ApiError::invalid_field(
                "category",
                format!("category 须为：{}", BenefitCategory::labels_zh()),
            )
        })?,
        title: required_text("title", &b.title, 64)?,
        provider: required_text("provider", &b.provider, 128)?,
        how_to_use: required_text("how_to_use", &b.how_to_use, 1000)?,
        contact: required_text("contact", &b.contact, 64)?,
        members_only: b.members_only.unwrap_or(false),
        active: b.active.unwrap_or(true),
    })
}

/// The services offered by the orgs of the caller's subtree.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<AdminBenefitView>), (status = 403, body = ErrorBody))
)]
#[get("/api/v1/admin/benefits")]
pub async fn list_benefits(
    state: web::Data<AppState>,
    admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let list = benefits::list_in_scope(&state.db.conn, &admin.scope).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(admin_view).collect::<Vec<_>>()))
}

/// Adds a service offered by the caller's own org.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = BenefitRequest,
    responses((status = 201, body = AdminBenefitView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[post("/api/v1/admin/benefits")]
pub async fn create_benefit(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    body: crate::json::Json<BenefitRequest>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let checked = check(&body)?;
    let created = benefits::create(
        &state.db,
        admin.org_id,
        checked.input(),
        &admin.actor(&req),
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(admin_view(created)))
}

/// Replaces a service's fields (`active: false` withdraws it); outside the caller's subtree
/// it is 404.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = BenefitRequest,
    responses((status = 200, body = AdminBenefitView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[put("/api/v1/admin/benefits/{id}")]
pub async fn update_benefit(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<BenefitRequest>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let checked = check(&body)?;
    let updated = benefits::update(
        &state.db,
        id,
        &admin.scope,
        checked.input(),
        &admin.actor(&req),
        state.clock.now(),
    )
    .await?
    .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(admin_view(updated)))
}
