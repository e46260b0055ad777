//! Partner merchants (特约商家): onboarding by county and district administrators, the staff's
//! till (verify a card's live QR token, record a redemption), the worker's history and the
//! public list of merchants and their discounts.
//!
//! Grassroots administrators get 403 on the merchant-management endpoints: onboarding partners
//! is the county's and the districts' job. Within those roles, a merchant onboarded outside the
//! caller's subtree answers 404 like one that does not exist. A staff account sees only its own
//! merchant: another merchant's verification or record answers 404.

use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::password;
use crate::routes::params::{self, Page, parse};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use futures_util::future::LocalBoxFuture;
use huigong_core::Role;
use huigong_core::phone::ContactPhone;
use huigong_store::cards::{self, QrClaim, QrError};
use huigong_store::merchant_views::MerchantViews;
use huigong_store::merchants::{
    self, DiscountKind, Merchant, MerchantPatch, NewDiscount, NewMerchant, NewRedemption,
    RedeemError, Redemption, Totals, VerifyError, beijing_day,
};
use huigong_store::{StoreError, users};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The largest bill a redemption records: 1,000,000 yuan, in fen.
const MAX_AMOUNT_FEN: i64 = 100_000_000;
const MAX_DISCOUNTS: usize = 20;

/// A merchant's staff member and the merchant it works for.
#[derive(Debug, Clone)]
pub struct MerchantCaller {
    pub caller: Caller,
    /// The instance's current copy (`merchant_views`): an edit through any instance holds on
    /// the next request.
    pub merchant: std::sync::Arc<Merchant>,
}

fn merchant_suspended() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "merchant_suspended",
        "商家已暂停合作，暂不能核验惠工卡",
    )
}

impl FromRequest for MerchantCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    /// One round trip to the shared store: the session (with its account's epoch), and the
    /// generation of the merchant the account works for (the binding is kept once read per
    /// session; unbinding ends the sessions), which says whether this instance's copy of the
    /// merchant is current.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (state, verified) = Caller::token_of(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&"AppState missing"))?;
            MerchantCaller::resolve(&state, verified).await
        })
    }
}

impl MerchantCaller {
    /// The staff member whose verified token names `verified` (user id, session id), and its
    /// merchant: the bearer extractor and the console's cookie sessions both come here.
    pub async fn resolve(
        state: &AppState,
        verified: Option<(Uuid, Uuid)>,
    ) -> Result<MerchantCaller, ApiError> {
        let views = &state.merchant_views;
        let merchant_id = match verified {
            Some((user_id, session_id)) => {
                views
                    .merchant_of_staff(&state.db.conn, user_id, session_id)
                    .await?
            }
            None => None,
        };
        let generation = merchant_id.map(MerchantViews::generation_key);
        let others: Vec<&str> = generation.iter().map(String::as_str).collect();
        let (caller, mut values) = Caller::authenticate(state, verified, &others).await?;
        let merchant_id = merchant_id
            .filter(|_| caller.role == Role::MerchantStaff)
            .ok_or_else(ApiError::forbidden)?;
        let generation = values.pop().flatten();
        let merchant = views
            .get_at(&state.db.conn, merchant_id, generation)
            .await?
            .ok_or_else(ApiError::forbidden)?;
        Ok(MerchantCaller { caller, merchant })
    }
}

/// Merchant management is for county and district administrators.
fn manager(admin: &AdminCaller) -> Result<(), ApiError> {
    if matches!(admin.caller.role, Role::CountyAdmin | Role::DistrictAdmin) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn text(field: String, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid_field(
            field.clone(),
            format!("{field} 不能为空"),
        ));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid_field(
            field.clone(),
            format!("{field} 不能超过 {max} 个字"),
        ));
    }
    Ok(v.to_owned())
}

fn phone(value: &str) -> Result<String, ApiError> {
    ContactPhone::parse(value)
        .map(|p| p.as_str().to_owned())
        .map_err(|e| ApiError::invalid_field("phone", e.message_zh()))
}

fn status(value: &str) -> Result<String, ApiError> {
    match value {
        "active" | "suspended" => Ok(value.to_owned()),
        _ => Err(ApiError::invalid_field(
            "status",
            "status 须为 active 或 suspended",
        )),
    }
}

fn bad_id() -> ApiError {
    ApiError::not_found()
}

fn path_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| bad_id())
}

/// A discount as submitted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountInput {
    #[schema(example = "会员九折")]
    pub title: String,
    /// `percent` (value: 1–99 per cent taken off), `amount` (value: fen taken off) or `perk`
    /// (no value).
    #[schema(example = "percent")]
    pub kind: String,
    #[schema(example = 10)]
    pub value: Option<i64>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    /// Redemptions per card per (Beijing) day, 1–100.
    #[schema(example = 1)]
    pub daily_limit_per_card: i64,
}

fn discount_input(prefix: &str, i: usize, d: &DiscountInput) -> Result<NewDiscount, ApiError> {
    let field = |name: &str| format!("{prefix}[{i}].{name}");
    let title = text(field("title"), &d.title, 64)?;
    let kind = DiscountKind::parse(d.kind.trim()).ok_or_else(|| {
        ApiError::invalid_field(field("kind"), "kind 须为 percent、amount 或 perk")
    })?;
    let value = match kind {
        DiscountKind::Percent => match d.value {
            Some(v @ 1..=99) => Some(v),
            _ => {
                return Err(ApiError::invalid_field(
                    field("value"),
                    "折扣比例 value 须为 1–99（减免的百分比）",
                ));
            }
        },
        DiscountKind::Amount => match d.value {
            Some(v @ 1..=MAX_AMOUNT_FEN) => Some(v),
            _ => {
                return Err(ApiError::invalid_field(
                    field("value"),
                    "减免金额 value 须为正整数（单位：分）",
                ));
            }
        },
        DiscountKind::Perk => match d.value {
            None | Some(0) => None,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    field("value"),
                    "赠品/服务类优惠（perk）不填 value",
                ));
            }
        },
    };
    if d.valid_to < d.valid_from {
        return Err(ApiError::invalid_field(
            field("valid_to"),
            "valid_to 不能早于 valid_from",
        ));
    }
    let daily_limit_per_card = i32::try_from(d.daily_limit_per_card)
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| {
            ApiError::invalid_field(
                field("daily_limit_per_card"),
                "daily_limit_per_card 须为 1–100 的整数",
            )
        })?;
    Ok(NewDiscount {
        title,
        kind,
        value,
        valid_from: d.valid_from,
        valid_to: d.valid_to,
        daily_limit_per_card,
    })
}

fn discount_inputs(prefix: &str, list: &[DiscountInput]) -> Result<Vec<NewDiscount>, ApiError> {
    if list.len() > MAX_DISCOUNTS {
        return Err(ApiError::invalid_field(
            prefix.to_owned(),
            format!("{prefix} 最多 {MAX_DISCOUNTS} 项"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, d)| discount_input(prefix, i, d))
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantRequest {
    #[schema(example = "长兴惠民超市")]
    pub name: String,
    #[schema(example = "购物")]
    pub category: String,
    pub address: String,
    /// A landline with its area code, or a mobile.
    #[schema(example = "0572-6022447")]
    pub phone: String,
    #[serde(default)]
    pub discounts: Vec<DiscountInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiscountView {
    pub id: Uuid,
    pub title: String,
    /// `percent`, `amount` or `perk`.
    pub kind: String,
    /// percent: per cent taken off; amount: fen taken off; perk: null.
    pub value: Option<i64>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub daily_limit_per_card: i32,
    pub active: bool,
}

impl From<merchants::Discount> for DiscountView {
    fn from(d: merchants::Discount) -> Self {
        Self {
            id: d.id,
            title: d.title,
            kind: d.kind,
            value: d.value,
            valid_from: d.valid_from,
            valid_to: d.valid_to,
            daily_limit_per_card: d.daily_limit_per_card,
            active: d.active,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantView {
    pub id: Uuid,
    /// The org whose administrator onboarded it.
    pub org_id: Uuid,
    pub name: String,
    pub category: String,
    pub address: String,
    pub phone: String,
    /// `active` or `suspended`.
    pub status: String,
    pub discounts: Vec<DiscountView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Merchant> for MerchantView {
    fn from(m: Merchant) -> Self {
        Self {
            id: m.row.id,
            org_id: m.row.org_id,
            name: m.row.name,
            category: m.row.category,
            address: m.row.address,
            phone: m.row.phone,
            status: m.row.status,
            discounts: m.discounts.into_iter().map(DiscountView::from).collect(),
            created_at: m.row.created_at,
            updated_at: m.row.updated_at,
        }
    }
}

/// Onboards a partner merchant with its discounts, for the caller's org.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    request_body = CreateMerchantRequest,
    responses(
        (status = 201, body = MerchantView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field` (e.g. `discounts[0].value`)"),
        (status = 403, body = ErrorBody, description = "not a county or district administrator"),
    )
)]
#[post("/api/v1/admin/merchants")]
pub async fn create_merchant(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    body: crate::json::Json<CreateMerchantRequest>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let b = body.into_inner();
    let new = NewMerchant {
        org_id: admin.org_id,
        name: text("name".into(), &b.name, 64)?,
        category: text("category".into(), &b.category, 32)?,
        address: text("address".into(), &b.address, 128)?,
        phone: phone(&b.phone)?,
        discounts: discount_inputs("discounts", &b.discounts)?,
    };
    let created = merchants::create(&state.db, &new, &admin.actor(&req), state.clock.now()).await?;
    Ok(HttpResponse::Created().json(MerchantView::from(created)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminMerchantQuery {
    /// `active` or `suspended`.
    status: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// Merchants onboarded within the caller's subtree, by name.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    params(AdminMerchantQuery),
    responses((status = 200, body = Page<MerchantView>), (status = 403, body = ErrorBody))
)]
#[get("/api/v1/admin/merchants")]
pub async fn list_merchants(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: crate::query::Query<AdminMerchantQuery>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let status = query.status.as_deref().map(status).transpose()?;
    let (items, total) = merchants::list_in_scope(
        &state.db.conn,
        &admin.scope,
        status.as_deref(),
        page,
        per_page,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: items.into_iter().map(MerchantView::from).collect(),
        total,
        page,
        per_page,
    }))
}

/// One merchant of the caller's subtree.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MerchantView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such merchant in scope"),
    )
)]
#[get("/api/v1/admin/merchants/{id}")]
pub async fn get_merchant(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let m = merchants::get_in_scope(&state.db.conn, path_id(&id)?, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(MerchantView::from(m)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMerchantRequest {
    pub name: Option<String>,
    pub category: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    /// `active` or `suspended` (a suspended merchant cannot verify cards).
    pub status: Option<String>,
    /// New discounts.
    pub add_discounts: Option<Vec<DiscountInput>>,
    /// Discounts of this merchant to switch off.
    pub deactivate_discounts: Option<Vec<Uuid>>,
}

/// Edits a merchant of the caller's subtree: its fields, its status (suspend or reactivate),
/// its discounts (add, switch off). Audited.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    request_body = PatchMerchantRequest,
    responses(
        (status = 200, body = MerchantView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such merchant in scope"),
    )
)]
#[patch("/api/v1/admin/merchants/{id}")]
pub async fn update_merchant(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<PatchMerchantRequest>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let id = path_id(&id)?;
    let b = body.into_inner();
    let patch = MerchantPatch {
        name: b.name.map(|v| text("name".into(), &v, 64)).transpose()?,
        category: b
            .category
            .map(|v| text("category".into(), &v, 32))
            .transpose()?,
        address: b
            .address
            .map(|v| text("address".into(), &v, 128))
            .transpose()?,
        phone: b.phone.as_deref().map(phone).transpose()?,
        status: b.status.as_deref().map(status).transpose()?,
        add_discounts: discount_inputs("add_discounts", &b.add_discounts.unwrap_or_default())?,
        deactivate_discounts: b.deactivate_discounts.unwrap_or_default(),
    };
    let m = merchants::update(
        &state.db,
        &state.merchant_views,
        id,
        &admin.scope,
        &patch,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await?
    .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(MerchantView::from(m)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffRequest {
    /// 3–32 characters: letters, digits, `_`, `.`, `-`.
    pub username: String,
    /// 10–128 characters with three of: lower case, upper case, digits, symbols.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    pub id: Uuid,
    pub username: String,
    /// Always `merchant_staff`.
    pub role: String,
    pub merchant_id: Uuid,
}

/// A staff account bound to this merchant; it logs in with `POST /api/v1/auth/password/login`.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    request_body = StaffRequest,
    responses(
        (status = 201, body = StaffView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such merchant in scope"),
        (status = 409, body = ErrorBody, description = "`username_taken`"),
    )
)]
#[post("/api/v1/admin/merchants/{id}/staff")]
pub async fn create_staff(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<StaffRequest>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let m = merchants::get_in_scope(&state.db.conn, path_id(&id)?, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let b = body.into_inner();
    let (username, hash) = password::new_credentials(&b.username, b.password).await?;
    let now = state.clock.now();
    let txn = state.db.begin_write().await?;
    let user = password::create_account(
        &txn,
        users::NewAccount {
            role: Role::MerchantStaff,
            username: Some(&username),
            password_hash: Some(hash),
            org_id: None,
        },
        now,
    )
    .await?;
    merchants::bind_staff(&txn, user.id, m.row.id, now).await?;
    huigong_store::audit::record(
        &txn,
        &admin.actor(&req),
        &huigong_store::audit::Entry {
            action: "merchant.staff_create",
            target_type: "user",
            target_id: Some(user.id.to_string()),
            fields: &[],
            outcome: huigong_store::audit::Outcome::Success,
        },
        now,
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(HttpResponse::Created().json(StaffView {
        id: user.id,
        username,
        role: Role::MerchantStaff.as_str().to_owned(),
        merchant_id: m.row.id,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First Beijing date, `YYYY-MM-DD` (default: the first of this month).
    from: Option<String>,
    /// Last Beijing date, inclusive (default: today).
    to: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

fn period(q: &PeriodQuery, now: DateTime<Utc>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let date = |v: &str| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok();
    let today = beijing_day(now);
    let to = parse("to", q.to.as_deref(), "日期（YYYY-MM-DD）", date)?.unwrap_or(today);
    let from = parse("from", q.from.as_deref(), "日期（YYYY-MM-DD）", date)?
        .unwrap_or_else(|| to.with_day(1).unwrap_or(to));
    if from > to {
        return Err(ApiError::invalid_field("from", "from 不能晚于 to"));
    }
    Ok((from, to))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsView {
    pub count: i64,
    /// Sum of the bills, fen.
    pub amount_fen: i64,
    /// Sum of what the discounts took off, fen.
    pub discount_fen: i64,
}

impl From<Totals> for TotalsView {
    fn from(t: Totals) -> Self {
        Self {
            count: t.count,
            amount_fen: t.amount_fen,
            discount_fen: t.discount_fen,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantTotalsView {
    pub merchant_id: Uuid,
    pub name: String,
    pub category: String,
    #[serde(flatten)]
    pub totals: TotalsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryTotalsView {
    pub category: String,
    #[serde(flatten)]
    pub totals: TotalsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub totals: TotalsView,
    pub by_merchant: Vec<MerchantTotalsView>,
    pub by_category: Vec<CategoryTotalsView>,
}

/// Redemptions at the merchants of the caller's subtree, per merchant and per category.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    params(PeriodQuery),
    responses((status = 200, body = SummaryView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/api/v1/admin/redemptions/summary")]
pub async fn redemption_summary(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: crate::query::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    manager(&admin)?;
    let (from, to) = period(&query, state.clock.now())?;
    let (per_merchant, per_category, overall) =
        merchants::summary(&state.db.conn, &admin.scope, from, to).await?;
    Ok(HttpResponse::Ok().json(SummaryView {
        from,
        to,
        totals: overall.into(),
        by_merchant: per_merchant
            .into_iter()
            .map(|m| MerchantTotalsView {
                merchant_id: m.merchant_id,
                name: m.name,
                category: m.category,
                totals: m.totals.into(),
            })
            .collect(),
        by_category: per_category
            .into_iter()
            .map(|(category, t)| CategoryTotalsView {
                category,
                totals: t.into(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The live QR token the worker's card shows.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedCardView {
    /// `active`.
    pub status: String,
    /// The holder's name, masked.
    #[schema(example = "张*")]
    pub holder: String,
    pub union_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedDiscountView {
    pub id: Uuid,
    pub title: String,
    pub kind: String,
    pub value: Option<i64>,
    pub valid_to: NaiveDate,
    pub daily_limit_per_card: i32,
    /// How many more times this card can redeem it today.
    pub uses_left_today: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    /// Pass to `POST /api/v1/merchant/redemptions`; valid for `expires_in` seconds.
    pub verification_id: Uuid,
    pub expires_in: i64,
    pub card: VerifiedCardView,
    /// This merchant's discounts that apply today.
    pub discounts: Vec<VerifiedDiscountView>,
}

/// Verifies a worker's live QR token (consuming it, on every instance) and shows what the
/// till needs: the card's status, the masked holder, the union, and today's discounts.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    request_body = VerifyRequest,
    responses(
        (status = 200, body = VerifyView),
        (status = 400, body = ErrorBody, description = "`invalid_token`: malformed or forged"),
        (status = 403, body = ErrorBody, description = "`card_inactive`, `merchant_suspended`, or not merchant staff"),
        (status = 409, body = ErrorBody, description = "`token_used`"),
        (status = 410, body = ErrorBody, description = "`token_expired`"),
    )
)]
#[post("/api/v1/merchant/verify")]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: MerchantCaller,
    body: crate::json::Json<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = verify_token(&state, &staff, staff.caller.actor(&req), &body.token).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Verifies a live QR token for `staff`'s merchant: the JSON route and the console till.
pub async fn verify_token(
    state: &AppState,
    staff: &MerchantCaller,
    actor: huigong_store::audit::Actor,
    token: &str,
) -> Result<VerifyView, ApiError> {
    let now = state.clock.now();
    let claim = QrClaim::check(&state.card.qr_key, token, now).map_err(|e| match e {
        QrError::Invalid => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "无效的惠工卡动态码，请让持卡人重新出示",
        )
        .with_field("token"),
        QrError::Expired => ApiError::new(
            StatusCode::GONE,
            "token_expired",
            "动态码已过期，请让持卡人刷新后重新出示",
        ),
        QrError::Used => token_used(),
        QrError::Unavailable(e) => e.into(),
    })?;
    let verified = merchants::verify_card(&state.till(), &staff.merchant, &claim, actor, now)
        .await
        .map_err(|e| match e {
            VerifyError::TokenUsed => token_used(),
            VerifyError::CardInactive => card_inactive(),
            VerifyError::MerchantSuspended => merchant_suspended(),
            VerifyError::Store(e) => e.into(),
            VerifyError::Ephemeral(e) => e.into(),
        })?;
    Ok(VerifyView {
        verification_id: verified.verification_id,
        expires_in: (verified.expires_at - now).num_seconds(),
        card: VerifiedCardView {
            status: verified.card_status,
            holder: verified.holder_masked,
            union_name: verified.union_name,
        },
        discounts: verified
            .discounts
            .into_iter()
            .map(|(d, left)| VerifiedDiscountView {
                id: d.id,
                title: d.title,
                kind: d.kind,
                value: d.value,
                valid_to: d.valid_to,
                daily_limit_per_card: d.daily_limit_per_card,
                uses_left_today: left,
            })
            .collect(),
    })
}

fn token_used() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "token_used",
        "该动态码已被使用，请让持卡人刷新后重新出示",
    )
}

fn card_inactive() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "card_inactive",
        "该惠工卡当前不可用（已暂停或注销），不能享受优惠",
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    pub verification_id: Uuid,
    pub discount_id: Uuid,
    /// The bill, in fen (0 for a perk without a purchase).
    pub amount_fen: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub merchant_name: String,
    pub discount_id: Uuid,
    pub discount_title: String,
    pub amount_fen: i64,
    /// What the discount took off, fen.
    pub discount_fen: i64,
    /// Beijing date.
    pub day: NaiveDate,
    pub created_at: DateTime<Utc>,
}

impl From<Redemption> for RedemptionView {
    fn from(r: Redemption) -> Self {
        Self {
            id: r.row.id,
            merchant_id: r.row.merchant_id,
            merchant_name: r.merchant_name,
            discount_id: r.row.discount_id,
            discount_title: r.discount_title,
            amount_fen: r.row.amount_fen,
            discount_fen: r.row.discount_fen,
            day: r.row.day,
            created_at: r.row.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantRedemptionView {
    #[serde(flatten)]
    pub redemption: RedemptionView,
    pub verification_id: Uuid,
}

impl From<Redemption> for MerchantRedemptionView {
    fn from(r: Redemption) -> Self {
        let verification_id = r.row.verification_id;
        Self {
            redemption: r.into(),
            verification_id,
        }
    }
}

fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::invalid_field(
            "Idempotency-Key",
            "请求头 Idempotency-Key 须为 1–128 个可见字符",
        )
    };
    req.headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .map(str::to_owned)
        .ok_or_else(invalid)
}

/// Records a redemption against a verification of this merchant. The `Idempotency-Key` header
/// is required: the same key again answers the first record (`Idempotency-Replayed: true`)
/// and writes nothing. Per-card daily limits hold under concurrent requests.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    request_body = RedeemRequest,
    params(("Idempotency-Key" = String, Header, description = "one key per redemption; retries reuse it")),
    responses(
        (status = 201, body = MerchantRedemptionView, description = "recorded, or the replayed first record (`Idempotency-Replayed: true`)"),
        (status = 400, body = ErrorBody, description = "invalid field, or `discount_not_applicable` (switched off or not valid today)"),
        (status = 403, body = ErrorBody, description = "`card_inactive`, `merchant_suspended`"),
        (status = 404, body = ErrorBody, description = "no such verification or discount of this merchant"),
        (status = 409, body = ErrorBody, description = "`daily_limit_reached`; `verification_used` when this verification already redeemed this discount (one scan, at most one redemption per discount); or `idempotency_key_reused` for another redemption"),
        (status = 410, body = ErrorBody, description = "`verification_expired`"),
    )
)]
#[post("/api/v1/merchant/redemptions")]
pub async fn redeem(
    req: HttpRequest,
    state: web::Data<AppState>,
    staff: MerchantCaller,
    body: crate::json::Json<RedeemRequest>,
) -> Result<HttpResponse, ApiError> {
    // No check of the caller's copy of the merchant: the store reads its status fresh, after
    // looking for a recorded retry (which is answered even once suspended).
    let key = idempotency_key(&req)?;
    let (record, created) = record_redemption(
        &state,
        &staff,
        &staff.caller.actor(&req),
        &key,
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Idempotency-Replayed",
            if created { "false" } else { "true" },
        ))
        .json(record))
}

/// Records a redemption for `staff`'s merchant under idempotency key `key`: the record, and
/// whether this call created it (false: the replayed first record). The JSON route and the
/// console till.
pub async fn record_redemption(
    state: &AppState,
    staff: &MerchantCaller,
    actor: &huigong_store::audit::Actor,
    key: &str,
    b: RedeemRequest,
) -> Result<(MerchantRedemptionView, bool), ApiError> {
    if !(0..=MAX_AMOUNT_FEN).contains(&b.amount_fen) {
        return Err(ApiError::invalid_field(
            "amount_fen",
            "amount_fen 须为 0 到 100000000 之间的整数（单位：分）",
        ));
    }
    let new = NewRedemption {
        merchant_id: staff.merchant.row.id,
        verification_id: b.verification_id,
        discount_id: b.discount_id,
        amount_fen: b.amount_fen,
        idempotency_key: key,
        merchant_name: &staff.merchant.row.name,
    };
    let result = merchants::redeem(&state.till(), &new, actor, state.clock.now()).await;
    let (record, created) = result.map_err(|e| {
        let (status, code, message): (StatusCode, &'static str, Cow<'static, str>) = match e {
            RedeemError::VerificationNotFound => {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    "verification_not_found",
                    "核验记录不存在，请重新扫码核验",
                )
                .with_field("verification_id");
            }
            RedeemError::VerificationExpired => (
                StatusCode::GONE,
                "verification_expired",
                "核验已超时，请重新扫码核验".into(),
            ),
            RedeemError::DiscountNotFound => {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    "discount_not_found",
                    "本商家没有该优惠",
                )
                .with_field("discount_id");
            }
            RedeemError::DiscountNotApplicable => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "discount_not_applicable",
                    "该优惠已停用或今日不在有效期内",
                )
                .with_field("discount_id");
            }
            RedeemError::CardInactive => return card_inactive(),
            RedeemError::MerchantSuspended => return merchant_suspended(),
            RedeemError::DailyLimitReached => (
                StatusCode::CONFLICT,
                "daily_limit_reached",
                "该卡今日已达到本优惠的使用次数上限".into(),
            ),
            RedeemError::VerificationUsed => {
                return ApiError::new(
                    StatusCode::CONFLICT,
                    "verification_used",
                    "本次核验已使用过该优惠，请让会员重新出示会员卡二维码",
                )
                .with_field("verification_id");
            }
            RedeemError::KeyReused => {
                return ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_reused",
                    "Idempotency-Key 已用于另一笔核销，请为新的核销使用新的 Idempotency-Key",
                )
                .with_field("Idempotency-Key");
            }
            RedeemError::Store(e) => return e.into(),
            RedeemError::Ephemeral(e) => return e.into(),
        };
        ApiError::new(status, code, message)
    })?;
    Ok((MerchantRedemptionView::from(record), created))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantRedemptionsPage {
    pub items: Vec<MerchantRedemptionView>,
    /// Records in the period (all pages).
    pub total: i64,
    pub page: u64,
    pub per_page: u64,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Over the whole period.
    pub totals: TotalsView,
}

/// This merchant's redemptions in a period (Beijing dates, default this month), newest first,
/// with totals.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    params(PeriodQuery),
    responses((status = 200, body = MerchantRedemptionsPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody))
)]
#[get("/api/v1/merchant/redemptions")]
pub async fn merchant_redemptions(
    state: web::Data<AppState>,
    staff: MerchantCaller,
    query: crate::query::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let (from, to) = period(&query, state.clock.now())?;
    let (items, totals) = merchants::list_for_merchant(
        &state.db.conn,
        staff.merchant.row.id,
        from,
        to,
        page,
        per_page,
    )
    .await?;
    Ok(HttpResponse::Ok().json(MerchantRedemptionsPage {
        items: items.into_iter().map(Into::into).collect(),
        total: totals.count,
        page,
        per_page,
        from,
        to,
        totals: totals.into(),
    }))
}

/// One redemption of this merchant; another merchant's answers 404.
#[utoipa::path(
    tag = "merchant",
    security(("bearer" = [])),
    responses((status = 200, body = MerchantRedemptionView), (status = 404, body = ErrorBody))
)]
#[get("/api/v1/merchant/redemptions/{id}")]
pub async fn merchant_redemption(
    state: web::Data<AppState>,
    staff: MerchantCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = merchants::get_for_merchant(&state.db.conn, staff.merchant.row.id, path_id(&id)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(MerchantRedemptionView::from(r)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CardRedemptionsView {
    /// Newest first, at most 100.
    pub items: Vec<RedemptionView>,
}

/// The worker's own redemptions with its card, newest first.
#[utoipa::path(
    tag = "card",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CardRedemptionsView),
        (status = 403, body = ErrorBody, description = "not a WeChat worker"),
        (status = 404, body = ErrorBody, description = "`no_card`"),
    )
)]
#[get("/api/v1/card/redemptions")]
pub async fn card_redemptions(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    if caller.role != Role::Worker {
        return Err(ApiError::forbidden());
    }
    let card = cards::live_card_of_user(&state.db.conn, caller.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_card",
                "尚未激活惠工卡，请先核验身份并激活",
            )
        })?;
    let items = merchants::list_for_card(&state.db.conn, card.id, 100).await?;
    Ok(HttpResponse::Ok().json(CardRedemptionsView {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicMerchantQuery {
    /// Exact category, e.g. `餐饮`.
    category: Option<String>,
    /// Part of the merchant's name.
    q: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicDiscountView {
    pub id: Uuid,
    pub title: String,
    pub kind: String,
    pub value: Option<i64>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub daily_limit_per_card: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicMerchantView {
    pub id: Uuid,
    pub name: String,
    pub category: String,
    pub address: String,
    pub phone: String,
    /// Discounts valid today.
    pub discounts: Vec<PublicDiscountView>,
}

/// Partner merchants with discounts valid today (active merchants only), by name.
#[utoipa::path(
    tag = "card",
    security(("bearer" = [])),
    params(PublicMerchantQuery),
    responses((status = 200, body = Page<PublicMerchantView>), (status = 401, body = ErrorBody))
)]
#[get("/api/v1/merchants")]
pub async fn public_merchants(
    state: web::Data<AppState>,
    _caller: Caller,
    query: crate::query::Query<PublicMerchantQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, per_page) = params::page(query.page.as_deref(), query.per_page.as_deref())?;
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(64).collect::<String>())
    };
    let (items, total) = merchants::public_list(
        &state.db.conn,
        nonempty(&query.category).as_deref(),
        nonempty(&query.q).as_deref(),
        beijing_day(state.clock.now()),
        page,
        per_page,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: items
            .into_iter()
            .map(|m| PublicMerchantView {
                id: m.row.id,
                name: m.row.name,
                category: m.row.category,
                address: m.row.address,
                phone: m.row.phone,
                discounts: m
                    .discounts
                    .into_iter()
                    .map(|d| PublicDiscountView {
                        id: d.id,
                        title: d.title,
                        kind: d.kind,
                        value: d.value,
                        valid_from: d.valid_from,
                        valid_to: d.valid_to,
                        daily_limit_per_card: d.daily_limit_per_card,
                    })
                    .collect(),
            })
            .collect(),
        total,
        page,
        per_page,
    }))
}
