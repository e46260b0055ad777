//! The federation's reports for county and district administrators: 进度通报 (monthly
//! progress, live for the current month, from snapshots for past ones), targets per district,
//! 建会补助 (the subsidy list, approval and payment), and the half-year cycle. Each covers the
//! caller's subtree only; an org outside it is a 404.

use crate::auth::AdminCaller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::Role;
use huigong_core::period::{HalfYear, Month};
use huigong_roster::reports::{
    Cell, PROGRESS_TITLE, SUBSIDY_TITLE, TitledTable, write_progress, write_titled,
};
use huigong_store::cycle;
use huigong_store::reports::{self as store, Figures, ReportError, Target, TargetError};
use huigong_store::subsidies::{self, Status, SubsidyError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Reports are for the county and district federations.
fn reporting(admin: &AdminCaller) -> Result<(), ApiError> {
    match admin.caller.role {
        Role::CountyAdmin | Role::DistrictAdmin => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "报表仅供县总工会和乡镇（街道、园区）总工会查看",
        )),
    }
}

fn org_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found())
}

fn county_only() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "county_only",
        "此操作须由县总工会办理",
    )
}

// ---- 进度通报 ------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// `YYYY-MM` (Beijing time); the current month if absent.
    month: Option<String>,
}

/// The figures of one row.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct FiguresView {
    /// Approved grassroots unions with all 11 registration fields.
    pub unions_registered: u64,
    /// Units (employers) covered by them.
    pub units_covered: u64,
    /// Active members on the rosters.
    pub members: u64,
    /// Members whose records are complete.
    pub members_complete: u64,
    /// Activated 惠工卡.
    pub cards_active: u64,
    /// `cards_active / members`, 0–1.
    pub activation_rate: f64,
    /// Online applications received in the month.
    pub applications_received: u64,
    pub applications_approved: u64,
    pub applications_rejected: u64,
    /// Waiting for a decision.
    pub applications_pending: u64,
    /// Waiting longer than `reports.pending_overdue_days` (default 7).
    pub applications_overdue: u64,
    /// Membership changes processed in the month.
    pub changes_processed: u64,
    /// Approved grassroots unions that have not confirmed the current half-year.
    pub unions_unconfirmed: u64,
}

impl From<Figures> for FiguresView {
    fn from(f: Figures) -> Self {
        Self {
            unions_registered: f.unions_registered,
            units_covered: f.units_covered,
            members: f.members,
            members_complete: f.members_complete,
            cards_active: f.cards_active,
            activation_rate: f.activation_rate(),
            applications_received: f.applications_received,
            applications_approved: f.applications_approved,
            applications_rejected: f.applications_rejected,
            applications_pending: f.applications_pending,
            applications_overdue: f.applications_overdue,
            changes_processed: f.changes_processed,
            unions_unconfirmed: f.unions_unconfirmed,
        }
    }
}

/// Each figure's change since the previous month (this month minus the previous one).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ChangeView {
    pub unions_registered: i64,
    pub units_covered: i64,
    pub members: i64,
    pub members_complete: i64,
    pub cards_active: i64,
    /// In rate points (0.05: five percentage points).
    pub activation_rate: f64,
    pub applications_received: i64,
    pub applications_approved: i64,
    pub applications_rejected: i64,
    pub applications_pending: i64,
    pub applications_overdue: i64,
    pub changes_processed: i64,
    pub unions_unconfirmed: i64,
}

fn d(a: u64, b: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
}

fn change(now: &Figures, before: &Figures) -> ChangeView {
    ChangeView {
        unions_registered: d(now.unions_registered, before.unions_registered),
        units_covered: d(now.units_covered, before.units_covered),
        members: d(now.members, before.members),
        members_complete: d(now.members_complete, before.members_complete),
        cards_active: d(now.cards_active, before.cards_active),
        activation_rate: now.activation_rate() - before.activation_rate(),
        applications_received: d(now.applications_received, before.applications_received),
        applications_approved: d(now.applications_approved, before.applications_approved),
        applications_rejected: d(now.applications_rejected, before.applications_rejected),
        applications_pending: d(now.applications_pending, before.applications_pending),
        applications_overdue: d(now.applications_overdue, before.applications_overdue),
        changes_processed: d(now.changes_processed, before.changes_processed),
        unions_unconfirmed: d(now.unions_unconfirmed, before.unions_unconfirmed),
    }
}

/// A district's target and how far it has come.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct TargetView {
    pub members: Option<u64>,
    pub unions: Option<u64>,
    /// `members / target`, 0–1 and beyond.
    pub members_progress: Option<f64>,
    /// `unions_registered / target`.
    pub unions_progress: Option<f64>,
}

fn target_view(t: Target, f: &Figures) -> TargetView {
    let ratio =
        |done: u64, goal: Option<u64>| goal.filter(|g| *g > 0).map(|g| done as f64 / g as f64);
    TargetView {
        members: t.members,
        unions: t.unions,
        members_progress: ratio(f.members, t.members),
        unions_progress: ratio(f.unions_registered, t.unions),
    }
}

/// One org directly under the caller's.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressRowView {
    /// 1 for the highest activation rate.
    pub rank: u32,
    pub org_id: Uuid,
    pub org_name: String,
    pub figures: FiguresView,
    /// Absent when the previous month has no snapshot.
    pub change: Option<ChangeView>,
    pub target: Option<TargetView>,
}

/// The progress report (进度通报) of a month.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    /// `YYYY-MM`.
    pub month: String,
    /// `true`: the current month, computed now; `false`: a past month's snapshot.
    pub live: bool,
    pub taken_at: Option<DateTime<Utc>>,
    /// Ranked by activation rate, highest first.
    pub rows: Vec<ProgressRowView>,
    pub total: FiguresView,
    pub total_change: Option<ChangeView>,
}

fn report_error(e: ReportError) -> ApiError {
    match e {
        ReportError::FutureMonth => ApiError::invalid_field("month", "month 不能晚于本月"),
        ReportError::NoSnapshot => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_snapshot",
            "该月份没有进度快照（系统运行之前的月份）",
        ),
        ReportError::Store(e) => e.into(),
    }
}

fn parse_month(state: &AppState, month: Option<&str>) -> Result<Month, ApiError> {
    match month.map(str::trim).filter(|m| !m.is_empty()) {
        None => Ok(Month::of(state.clock.now())),
        Some(m) => Month::parse(m)
            .ok_or_else(|| ApiError::invalid_field("month", "month 须为 YYYY-MM 格式，如 2026-12")),
    }
}

/// The progress report of `month` (`YYYY-MM`, the current month if absent) for `admin`'s
/// subtree: what `GET /api/v1/admin/reports/progress` answers, and the console's 进度通报.
pub async fn progress_of(
    state: &AppState,
    admin: &AdminCaller,
    month: Option<&str>,
) -> Result<ProgressView, ApiError> {
    reporting(admin)?;
    let month = parse_month(state, month)?;
    let p = store::progress(
        &state.db,
        &admin.scope,
        month,
        state.clock.now(),
        state.reports.pending_overdue_days,
    )
    .await
    .map_err(report_error)?;
    Ok(ProgressView {
        month: p.month.to_string(),
        live: p.live,
        taken_at: p.taken_at,
        rows: p
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| ProgressRowView {
                rank: u32::try_from(i + 1).unwrap_or(u32::MAX),
                org_id: r.org_id,
                org_name: r.org_name,
                change: r.previous.map(|prev| change(&r.figures, &prev)),
                target: r.target.map(|t| target_view(t, &r.figures)),
                figures: r.figures.into(),
            })
            .collect(),
        total_change: p.total_previous.map(|prev| change(&p.total, &prev)),
        total: p.total.into(),
    })
}

/// The monthly progress report (进度通报) of the caller's subtree: one row per org directly
/// under the caller's (districts for the county, grassroots unions for a district), ranked by
/// card activation rate, with each figure's change since the previous month and the district's
/// target. The current month is computed live; a past month comes from its snapshot, taken at
/// the first minute of the next month (Beijing time).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ProgressQuery),
    responses(
        (status = 200, body = ProgressView),
        (status = 400, body = ErrorBody, description = "`month` malformed or in the future"),
        (status = 403, body = ErrorBody, description = "not a county or district admin"),
        (status = 404, body = ErrorBody, description = "a past month without a snapshot (`no_snapshot`)"),
    )
)]
#[get("/api/v1/admin/reports/progress")]
pub async fn progress(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: web::Query<ProgressQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(progress_of(&state, &admin, query.month.as_deref()).await?))
}

const PROGRESS_HEADERS: [&str; 19] = [
    "排名",
    "单位",
    "已登记基层工会",
    "覆盖单位数",
    "会员数",
    "信息完整会员数",
    "已激活会员卡",
    "激活率",
    "会员数较上月",
    "激活卡较上月",
    "收到入会申请",
    "批准",
    "驳回",
    "待审核",
    "超期待审核",
    "会籍变更",
    "本期未确认工会",
    "目标会员数",
    "目标完成率",
];

fn figures_cells(
    rank: Option<u32>,
    name: &str,
    f: &FiguresView,
    c: Option<&ChangeView>,
    t: Option<&TargetView>,
) -> Vec<Cell> {
    let num = |v: u64| Cell::Number(v as f64);
    let delta = |v: Option<i64>| v.map_or(Cell::Empty, |v| Cell::Number(v as f64));
    vec![
        rank.map_or(Cell::Empty, |r| Cell::Number(f64::from(r))),
        Cell::Text(name.to_owned()),
        num(f.unions_registered),
        num(f.units_covered),
        num(f.members),
        num(f.members_complete),
        num(f.cards_active),
        Cell::Percent(f.activation_rate),
        delta(c.map(|c| c.members)),
        delta(c.map(|c| c.cards_active)),
        num(f.applications_received),
        num(f.applications_approved),
        num(f.applications_rejected),
        num(f.applications_pending),
        num(f.applications_overdue),
        num(f.changes_processed),
        num(f.unions_unconfirmed),
        t.and_then(|t| t.members).map_or(Cell::Empty, num),
        t.and_then(|t| t.members_progress)
            .map_or(Cell::Empty, Cell::Percent),
    ]
}

/// The progress report as the workbook a county office sends round: the title row
/// (长兴县工会会员实名制工作进度通报 and the month), the table with a total row, a column chart of
/// the activation rate per org and a line chart of members per month over the last 12 months
/// (native Excel charts; the monthly figures on a second sheet).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ProgressQuery),
    responses(
        (status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the workbook"),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "a past month without a snapshot"),
    )
)]
#[get("/api/v1/admin/reports/progress.xlsx")]
pub async fn progress_xlsx(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: web::Query<ProgressQuery>,
) -> Result<HttpResponse, ApiError> {
    progress_workbook(&state, &admin, query.month.as_deref()).await
}

/// Members per month over the 12 months ending with the report's month (the live total for
/// the current month): the trend of the workbook's line chart and the console's.
pub async fn progress_trend(
    state: &AppState,
    admin: &AdminCaller,
    view: &ProgressView,
) -> Result<Vec<(String, u64)>, ApiError> {
    let month = Month::parse(&view.month).ok_or_else(ApiError::not_found)?;
    let by_month = store::members_by_month(
        &state.db.conn,
        &admin.scope,
        month,
        view.live.then_some(view.total.members),
    )
    .await?;
    Ok(by_month
        .into_iter()
        .map(|(m, n)| (m.to_string(), n))
        .collect())
}

/// The progress workbook of `month` for `admin`: the answer of `GET
/// /api/v1/admin/reports/progress.xlsx` and of the console's download.
pub async fn progress_workbook(
    state: &AppState,
    admin: &AdminCaller,
    month: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let view = progress_of(state, admin, month).await?;
    let series = progress_trend(state, admin, &view).await?;
    let month = Month::parse(&view.month).ok_or_else(ApiError::not_found)?;
    let mut rows: Vec<Vec<Cell>> = view
        .rows
        .iter()
        .map(|r| {
            figures_cells(
                Some(r.rank),
                &r.org_name,
                &r.figures,
                r.change.as_ref(),
                r.target.as_ref(),
            )
        })
        .collect();
    rows.push(figures_cells(
        None,
        "合计",
        &view.total,
        view.total_change.as_ref(),
        None,
    ));
    let subtitle = match view.taken_at {
        Some(at) => format!(
            "{}（{} 快照）",
            month.label_zh(),
            at.with_timezone(
                &chrono::FixedOffset::east_opt(8 * 3600).unwrap_or(chrono::Offset::fix(&Utc))
            )
            .format("%Y-%m-%d %H:%M")
        ),
        None => format!("{}（实时统计）", month.label_zh()),
    };
    let table = TitledTable {
        sheet: "进度通报".to_owned(),
        title: format!("{PROGRESS_TITLE}（{}）", month.label_zh()),
        subtitle,
        headers: PROGRESS_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    };
    crate::routes::roster::xlsx_written(&format!("进度通报{month}"), move || {
        write_progress(&table, 1, 7, &series)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    /// Members the district should have registered; null: none.
    pub members: Option<u64>,
    /// Grassroots unions the district should have registered; null: none.
    pub unions: Option<u64>,
}

/// The county sets a district's target (members, unions); the progress report shows the
/// district's progress against it. Audited.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = TargetRequest,
    responses(
        (status = 200, body = TargetView),
        (status = 403, body = ErrorBody, description = "not the county federation (`county_only`)"),
        (status = 404, body = ErrorBody, description = "no such district union"),
    )
)]
#[put("/api/v1/admin/reports/targets/{org_id}")]
pub async fn set_target(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    org: web::Path<String>,
    body: crate::json::Json<TargetRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&org)?;
    let b = body.into_inner();
    let target = store::set_target(
        &state.db,
        &admin.scope,
        id,
        Target {
            members: b.members,
            unions: b.unions,
        },
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        TargetError::NotFound => ApiError::not_found(),
        TargetError::CountyOnly => county_only(),
        TargetError::Store(e) => e.into(),
    })?;
    Ok(HttpResponse::Ok().json(target_view(target, &Figures::default())))
}

// ---- 建会补助 ------------------------------------------------------------------------------

/// Why a union does not qualify yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingView {
    /// `not_approved`, `founded_before_campaign`, `unit_nature`, `no_employees`, `no_members`
    /// or `incomplete_members`.
    pub code: String,
    pub message: String,
}

/// A payment recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub paid_on: NaiveDate,
    pub voucher_no: String,
    /// 元.
    pub amount: u32,
}

/// One grassroots union on the subsidy list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubsidyView {
    pub org_id: Uuid,
    pub org_name: String,
    /// `not_eligible`, `eligible`, `approved` or `paid`.
    pub status: String,
    /// 元: due (eligible), approved or paid.
    pub amount: Option<u32>,
    /// Why (the rule's facts).
    pub unit_natures: Vec<String>,
    /// Employees of its units (a 联合工会: their sum).
    pub employee_count: u64,
    pub founded_on: Option<NaiveDate>,
    pub members: u64,
    pub members_complete: u64,
    /// For `not_eligible`: what is missing.
    pub missing: Vec<MissingView>,
    pub approved_at: Option<DateTime<Utc>>,
    pub payment: Option<PaymentView>,
}

fn subsidy_view(l: subsidies::Line) -> SubsidyView {
    SubsidyView {
        org_id: l.org_id,
        org_name: l.org_name,
        status: l.status.as_str().to_owned(),
        amount: l.amount,
        unit_natures: l
            .facts
            .natures
            .iter()
            .map(|n| n.label_zh().to_owned())
            .collect(),
        employee_count: l.facts.employees,
        founded_on: l.facts.founded_on,
        members: l.facts.members,
        members_complete: l.facts.complete_members,
        missing: l
            .missing
            .iter()
            .map(|m| MissingView {
                code: m.code().to_owned(),
                message: m.message_zh().to_owned(),
            })
            .collect(),
        approved_at: l.approved_at,
        payment: l.payment.map(|p| PaymentView {
            paid_on: p.paid_on,
            voucher_no: p.voucher_no,
            amount: p.amount,
        }),
    }
}

async fn subsidy_list(state: &AppState, admin: &AdminCaller) -> Result<Vec<SubsidyView>, ApiError> {
    reporting(admin)?;
    let lines = subsidies::list(
        &state.db,
        &admin.scope,
        &state.reports.subsidy,
        state.clock.now(),
    )
    .await?;
    Ok(lines.into_iter().map(subsidy_view).collect())
}

/// The 建会补助 list of the caller's subtree: every grassroots union with its status — eligible
/// (with the amount: 1–49 employees 600 元, 50–500 1000 元, 501 and more 2000 元; a 联合工会 by
/// the sum of its units' employees), approved or paid by the county — and the facts behind it;
/// unions that do not qualify yet say what is missing.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<SubsidyView>),
        (status = 403, body = ErrorBody, description = "not a county or district admin"),
    )
)]
#[get("/api/v1/admin/reports/subsidies")]
pub async fn list_subsidies(
    state: web::Data<AppState>,
    admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(subsidy_list(&state, &admin).await?))
}

const SUBSIDY_HEADERS: [&str; 12] = [
    "序号",
    "工会名称",
    "状态",
    "补助金额（元）",
    "单位性质",
    "职工人数",
    "建会时间",
    "会员数",
    "信息完整会员数",
    "尚缺条件",
    "发放日期",
    "凭证号",
];

/// The subsidy list as a workbook, in the JSON's layout under a title row.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the workbook"),
        (status = 403, body = ErrorBody),
    )
)]
#[get("/api/v1/admin/reports/subsidies.xlsx")]
pub async fn subsidies_xlsx(
    state: web::Data<AppState>,
    admin: AdminCaller,
) -> Result<HttpResponse, ApiError> {
    let list = subsidy_list(&state, &admin).await?;
    let status_zh = |s: &str| match s {
        "eligible" => Status::Eligible.label_zh(),
        "approved" => Status::Approved.label_zh(),
        "paid" => Status::Paid.label_zh(),
        _ => Status::NotEligible.label_zh(),
    };
    let rows = list
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                Cell::Number((i + 1) as f64),
                Cell::Text(s.org_name.clone()),
                Cell::Text(status_zh(&s.status).to_owned()),
                s.amount.map_or(Cell::Empty, |a| Cell::Number(f64::from(a))),
                Cell::Text(s.unit_natures.join("、")),
                Cell::Number(s.employee_count as f64),
                Cell::Text(s.founded_on.map(|d| d.to_string()).unwrap_or_default()),
                Cell::Number(s.members as f64),
                Cell::Number(s.members_complete as f64),
                Cell::Text(
                    s.missing
                        .iter()
                        .map(|m| m.message.as_str())
                        .collect::<Vec<_>>()
                        .join("；"),
                ),
                Cell::Text(
                    s.payment
                        .as_ref()
                        .map(|p| p.paid_on.to_string())
                        .unwrap_or_default(),
                ),
                Cell::Text(
                    s.payment
                        .as_ref()
                        .map(|p| p.voucher_no.clone())
                        .unwrap_or_default(),
                ),
            ]
        })
        .collect();
    let table = TitledTable {
        sheet: "建会补助".to_owned(),
        title: SUBSIDY_TITLE.to_owned(),
        subtitle: format!(
            "截至 {}",
            huigong_store::union_lifecycle::cycle_today(state.clock.now())
        ),
        headers: SUBSIDY_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    };
    crate::routes::roster::xlsx_written("建会补助名单", move || write_titled(&table)).await
}

fn subsidy_error(e: SubsidyError) -> ApiError {
    match e {
        SubsidyError::NotFound => ApiError::not_found(),
        SubsidyError::CountyOnly => county_only(),
        SubsidyError::NotEligible(missing) => ApiError::new(
            StatusCode::CONFLICT,
            "not_eligible",
            format!(
                "该工会暂不符合补助条件：{}",
                missing
                    .iter()
                    .map(|m| m.message_zh())
                    .collect::<Vec<_>>()
                    .join("；")
            ),
        ),
        SubsidyError::AlreadyApproved => ApiError::new(
            StatusCode::CONFLICT,
            "already_approved",
            "该工会的补助已审批",
        ),
        SubsidyError::NotApproved => ApiError::new(
            StatusCode::CONFLICT,
            "not_approved",
            "该工会的补助尚未审批，不能发放",
        ),
        SubsidyError::AlreadyPaid => ApiError::new(
            StatusCode::CONFLICT,
            "already_paid",
            "该工会的建会补助已发放，每个工会只能发放一次",
        ),
        SubsidyError::Store(e) => e.into(),
    }
}

/// The county approves an eligible union's subsidy at the amount the rule gives. Audited.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SubsidyView),
        (status = 403, body = ErrorBody, description = "not the county federation (`county_only`)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_eligible` (the message says what is missing) or `already_approved`"),
    )
)]
#[post("/api/v1/admin/reports/subsidies/{org_id}/approve")]
pub async fn approve_subsidy(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&org)?;
    let line = subsidies::approve(
        &state.db,
        &admin.scope,
        id,
        &state.reports.subsidy,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(subsidy_error)?;
    Ok(HttpResponse::Ok().json(subsidy_view(line)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// The payment date.
    pub paid_on: NaiveDate,
    /// The accounting voucher (凭证号), 1–64 characters.
    pub voucher_no: String,
}

/// The county records the payment of an approved subsidy, with its date and voucher number.
/// A union is paid at most once: the database refuses a second payment. Audited.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = PayRequest,
    responses(
        (status = 200, body = PaymentView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not the county federation (`county_only`)"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`already_paid` or `not_approved`"),
    )
)]
#[post("/api/v1/admin/reports/subsidies/{org_id}/pay")]
pub async fn pay_subsidy(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    org: web::Path<String>,
    body: crate::json::Json<PayRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = org_id(&org)?;
    let b = body.into_inner();
    let voucher = crate::routes::params::required_text("voucher_no", &b.voucher_no, 64)?;
    let paid = subsidies::pay(
        &state.db,
        &admin.scope,
        id,
        b.paid_on,
        &voucher,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    .map_err(subsidy_error)?;
    Ok(HttpResponse::Ok().json(PaymentView {
        paid_on: paid.paid_on,
        voucher_no: paid.voucher_no,
        amount: paid.amount,
    }))
}

// ---- the half-year cycle -------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CycleQuery {
    /// `2026H2` (1 July – 31 December) or `2026H1`; the current half-year if absent.
    period: Option<String>,
}

/// A grassroots union in the half-year report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CycleLineView {
    pub org_id: Uuid,
    pub org_name: String,
    /// When it confirmed its data for the period (`POST /api/v1/admin/orgs/{id}/confirm-current`).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Members archived with the confirmation.
    pub archived_members: Option<u64>,
    /// Not confirmed, and the update month (January or July) is over.
    pub overdue: bool,
    /// Members who joined during the period.
    pub joined: u64,
    /// Membership changes processed during the period.
    pub changes: u64,
}

/// The half-year report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CycleView {
    pub period: String,
    pub starts_on: NaiveDate,
    pub unions: Vec<CycleLineView>,
    pub confirmed: u64,
    pub overdue: u64,
}

pub(crate) fn parse_period(state: &AppState, text: Option<&str>) -> Result<HalfYear, ApiError> {
    match text.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(HalfYear::of(state.clock.now())),
        Some(p) => HalfYear::parse(p).ok_or_else(|| {
            ApiError::invalid_field("period", "period 须为 年份+H1 或 H2，如 2026H2")
        }),
    }
}

/// The half-year cycle (每年1月、7月更新) of the caller's subtree: each approved grassroots union
/// with the date it confirmed its data for the period (or overdue once January/July is over),
/// and the changes of its roster during the period.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(CycleQuery),
    responses(
        (status = 200, body = CycleView),
        (status = 400, body = ErrorBody, description = "`period` malformed"),
        (status = 403, body = ErrorBody, description = "not a county or district admin"),
    )
)]
#[get("/api/v1/admin/reports/cycle")]
pub async fn cycle_report(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: web::Query<CycleQuery>,
) -> Result<HttpResponse, ApiError> {
    reporting(&admin)?;
    let period = parse_period(&state, query.period.as_deref())?;
    let lines = cycle::report(&state.db.conn, &admin.scope, period, state.clock.now()).await?;
    let unions: Vec<CycleLineView> = lines
        .into_iter()
        .map(|l| CycleLineView {
            org_id: l.org_id,
            org_name: l.org_name,
            confirmed_at: l.confirmation.as_ref().map(|c| c.confirmed_at),
            archived_members: l.confirmation.as_ref().map(|c| c.member_count),
            overdue: l.overdue,
            joined: l.joined,
            changes: l.changes,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CycleView {
        period: period.to_string(),
        starts_on: period.first_day(),
        confirmed: unions.iter().filter(|u| u.confirmed_at.is_some()).count() as u64,
        overdue: unions.iter().filter(|u| u.overdue).count() as u64,
        unions,
    }))
}

/// The roster union `org` archived when it confirmed `period`, as an .xlsx in appendix 3's
/// layout, masked unless `full` (audited): `GET /api/v1/admin/orgs/{id}/roster.xlsx?period=`.
pub(crate) async fn archived_roster_xlsx(
    state: &AppState,
    actor: &huigong_store::audit::Actor,
    org: &huigong_store::orgs::Org,
    period: &str,
    full: bool,
) -> Result<HttpResponse, ApiError> {
    use huigong_core::mask::{ShownPerson, shown_contact};
    use huigong_roster::{RosterExportRow, RosterHeader, Spill};
    let period = parse_period(state, Some(period))?;
    let Some((_, members)) =
        cycle::archived_roster(&state.db.conn, &state.vault, org.id, period).await?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_archived",
            format!("该工会没有确认 {period} 的数据，没有归档花名册"),
        ));
    };
    if full {
        crate::routes::roster::audit_full_export(
            state,
            actor,
            "roster.export_archived_full",
            org.id,
            &["name", "id_number", "mobile", "leader_name", "phone"],
        )
        .await?;
    }
    let rows: Vec<RosterExportRow> = members
        .iter()
        .map(|m| {
            crate::routes::roster::export_row(
                ShownPerson::new(full, &m.name, &m.id_number, m.mobile.as_ref()),
                &m.fields,
            )
        })
        .collect();
    // The header's contact is the union's leader: masked like the rows unless full.
    let contact = org
        .union
        .as_ref()
        .map(|u| shown_contact(full, &u.leader_name, &u.phone));
    let header = RosterHeader {
        union_name: Some(org.name.clone()),
        contact: contact.as_ref().map(|c| c.0.clone()),
        phone: contact.map(|c| c.1),
    };
    let spill = if full {
        Spill::Never
    } else {
        Spill::ToTempFile
    };
    crate::routes::roster::xlsx_written(&format!("{}花名册{period}", org.name), move || {
        huigong_roster::write_roster_with(&header, &rows, spill)
    })
    .await
}
