//! 审计日志 (county administrators): the audit log filtered by actor, action and date, newest
//! first and paged, through `audit_events` (the function behind `GET /api/v1/admin/audit`), and
//! a button that walks the chain through `verify_audit_chain` (what `huigong audit verify`
//! checks). Who may read the log is decided there: anyone else gets its 403.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::html;
use crate::session::{Signed, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use huigong_api::routes::admin::{AuditEventView, audit_events, verify_audit_chain};
use huigong_api::{AppState, Caller};
use huigong_store::audit::Filter;
use serde::Deserialize;
use uuid::Uuid;

const PAGE_SIZE: u64 = 50;

/// The filter form (all optional): an actor's user id, an action, a date range (Beijing time,
/// both days included), and the page cursor.
#[derive(Debug, Default, Deserialize)]
pub struct AuditForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

pub struct EventRow {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub fields: String,
    pub outcome: &'static str,
    pub ip: String,
}

/// The chain check's outcome, as shown.
pub struct Verified {
    pub intact: bool,
    pub text: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    form: AuditForm,
    problem: Option<String>,
    rows: Vec<EventRow>,
    total: u64,
    /// The query string of the next page, if any.
    next: Option<String>,
    verified: Option<Verified>,
}

/// Beijing midnight of `day` (`YYYY-MM-DD`), plus `days`.
fn midnight(day: &str, days: i64) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").ok()?;
    let local = (date + chrono::Duration::days(days)).and_hms_opt(0, 0, 0)?;
    Some(local.and_utc() - chrono::Duration::hours(8))
}

fn filter_of(form: &AuditForm) -> Result<(Filter, Option<i64>), String> {
    let actor = match form.actor.trim() {
        "" => None,
        a => Some(Uuid::parse_str(a).map_err(|_| "操作人须为用户 ID（UUID）".to_owned())?),
    };
    let day = |v: &str, days: i64, what: &str| match v.trim() {
        "" => Ok(None),
        v => midnight(v, days)
            .map(Some)
            .ok_or_else(|| format!("{what}须为日期，如 2026-12-01")),
    };
    let before = match form.before.trim() {
        "" => None,
        b => Some(
            b.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| "分页参数无效".to_owned())?,
        ),
    };
    Ok((
        Filter {
            actor_user_id: actor,
            action: Some(form.action.trim().to_owned()).filter(|a| !a.is_empty()),
            from: day(&form.from, 0, "起始日期")?,
            to: day(&form.to, 1, "截止日期")?,
            ..Filter::default()
        },
        before,
    ))
}

fn event_row(e: AuditEventView) -> EventRow {
    EventRow {
        seq: e.seq,
        time: (e.occurred_at + chrono::Duration::hours(8))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        actor: e
            .actor_user_id
            .map_or_else(|| "系统".to_owned(), |id| id.to_string()),
        role: e.actor_role,
        action: e.action,
        target: match e.target_id {
            Some(id) => format!("{} {id}", e.target_type),
            None => e.target_type,
        },
        fields: e.fields.join("、"),
        outcome: if e.outcome == "success" {
            "成功"
        } else {
            "失败"
        },
        ip: e.client_ip.unwrap_or_default(),
    }
}

async fn render(
    state: &AppState,
    caller: &Caller,
    layout: Layout,
    form: AuditForm,
    verified: Option<Verified>,
) -> Result<HttpResponse, PageError> {
    let mut page = AuditPage {
        layout,
        form,
        problem: None,
        rows: Vec::new(),
        total: 0,
        next: None,
        verified,
    };
    match filter_of(&page.form) {
        Err(problem) => {
            // Still refuse a caller who may not read the log before saying anything else.
            audit_events(state, caller, &Filter::default(), None, 1).await?;
            page.problem = Some(problem);
            return Ok(html(StatusCode::BAD_REQUEST, page.render()?));
        }
        Ok((filter, before)) => {
            let found = audit_events(state, caller, &filter, before, PAGE_SIZE).await?;
            page.total = found.total;
            page.next = found.next_before.map(|b| {
                serde_urlencoded::to_string([
                    ("actor", page.form.actor.as_str()),
                    ("action", page.form.action.as_str()),
                    ("from", page.form.from.as_str()),
                    ("to", page.form.to.as_str()),
                    ("before", b.to_string().as_str()),
                ])
                .unwrap_or_default()
            });
            page.rows = found.items.into_iter().map(event_row).collect();
        }
    }
    Ok(html(StatusCode::OK, page.render()?))
}

/// `GET /console/audit?actor=&action=&from=&to=&before=`.
pub async fn page(
    req: HttpRequest,
    signed: Signed,
    form: web::Query<AuditForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    render(
        &state,
        &signed.caller,
        signed.layout,
        form.into_inner(),
        None,
    )
    .await
}

/// `POST /console/audit/verify` (CSRF checked by the middleware): walks the chain and shows
/// the outcome above the log.
pub async fn verify(req: HttpRequest, signed: Signed) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let result = verify_audit_chain(&state, &signed.caller).await?;
    let waiting = if result.unsealed > 0 {
        format!("；另有 {} 条最新记录等待封链", result.unsealed)
    } else {
        String::new()
    };
    let verified = match result.broken {
        None => Verified {
            intact: true,
            text: format!("审计链完整：已校验 {} 条记录{waiting}。", result.checked),
        },
        Some((seq, _)) => Verified {
            intact: false,
            text: format!(
                "审计链在第 {seq} 条记录处断开（此前 {} 条完整）。请立即报告系统管理员。",
                result.checked
            ),
        },
    };
    render(
        &state,
        &signed.caller,
        signed.layout,
        AuditForm::default(),
        Some(verified),
    )
    .await
}
