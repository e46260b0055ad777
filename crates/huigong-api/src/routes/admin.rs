//! `/api/v1/admin`: the administrators' console API.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::params::parse;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use huigong_core::Role;
use huigong_store::audit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 200;

/// Filters of the audit log. All optional; times are RFC 3339.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events by this user id.
    actor: Option<String>,
    /// Events about this kind of record (`person`, `vault`, …).
    target_type: Option<String>,
    /// Events about this record.
    target_id: Option<String>,
    /// Events of this action (`person.create`, `person.read_full`, …).
    action: Option<String>,
    /// Events at or after this time.
    from: Option<String>,
    /// Events before this time.
    to: Option<String>,
    /// Page cursor: events with a sequence number below this (`next_before` of the last page).
    before: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    pub actor_role: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// Personal fields read or changed (names only, never values).
    pub fields: Vec<String>,
    /// `success` or `failure`.
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    /// Events matching the filters, over all pages.
    pub total: u64,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

fn time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The audit log, newest first, filtered and paged.
///
/// Only the county federation's administrators see the whole log. District and grassroots
/// administrators will see their own subtree once the organisation hierarchy exists.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = ErrorBody, description = "a filter is malformed; `field` names it"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not an administrator entitled to the log"),
    )
)]
#[get("/api/v1/admin/audit")]
pub async fn audit_log(
    state: web::Data<AppState>,
    caller: Caller,
    query: crate::query::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    audit_reader(&caller)?;
    let q = query.into_inner();
    let filter = audit::Filter {
        actor_user_id: parse("actor", q.actor.as_deref(), "用户 ID（UUID）", |v| {
            Uuid::parse_str(v).ok()
        })?,
        target_type: q.target_type.filter(|v| !v.is_empty()),
        target_id: q.target_id.filter(|v| !v.is_empty()),
        action: q.action.filter(|v| !v.is_empty()),
        from: parse(
            "from",
            q.from.as_deref(),
            " RFC 3339 时间，如 2026-01-01T00:00:00+08:00",
            time,
        )?,
        to: parse(
            "to",
            q.to.as_deref(),
            " RFC 3339 时间，如 2026-07-01T00:00:00+08:00",
            time,
        )?,
    };
    let before = parse("before", q.before.as_deref(), "正整数", |v| {
        v.parse::<i64>().ok().filter(|n| *n > 0)
    })?;
    let limit = parse(
        "limit",
        q.limit.as_deref(),
        " 1 到 200 之间的整数",
        |v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
        },
    )?
    .unwrap_or(DEFAULT_LIMIT);
    Ok(HttpResponse::Ok().json(audit_events(&state, &caller, &filter, before, limit).await?))
}

/// Only the county federation's administrators read the audit log.
fn audit_reader(caller: &Caller) -> Result<(), ApiError> {
    if caller.role != Role::CountyAdmin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "仅县总工会管理员可查看审计日志",
        ));
    }
    Ok(())
}

/// One page of the audit log for `caller`, newest first: the answer of `GET
/// /api/v1/admin/audit` and the console's 审计日志.
pub async fn audit_events(
    state: &AppState,
    caller: &Caller,
    filter: &audit::Filter,
    before: Option<i64>,
    limit: u64,
) -> Result<AuditPage, ApiError> {
    audit_reader(caller)?;
    let limit = limit.clamp(1, MAX_LIMIT);
    let (events, total) = audit::list(&state.db, filter, before, limit).await?;
    let next_before = (events.len() as u64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let items = events
        .into_iter()
        .map(|e| AuditEventView {
            seq: e.seq,
            occurred_at: e.occurred_at,
            actor_user_id: e.actor_user_id,
            actor_role: e.actor_role,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            fields: e
                .fields
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            outcome: e.outcome,
            client_ip: e.client_ip,
            request_id: e.request_id,
        })
        .collect();
    Ok(AuditPage {
        items,
        total,
        next_before,
    })
}

/// Walks the audit chain for `caller` (county administrators): what `huigong audit verify`
/// checks, from the console's 审计日志.
pub async fn verify_audit_chain(
    state: &AppState,
    caller: &Caller,
) -> Result<audit::Verification, ApiError> {
    audit_reader(caller)?;
    Ok(audit::verify(&state.db).await?)
}
