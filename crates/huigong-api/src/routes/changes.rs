//! 会籍管理 under `/api/v1/admin`: membership changes, transfers between unions (accepted or
//! refused by the receiving union), and a member's history.

use crate::auth::AdminCaller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::params::required_text;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::ShownPerson;
use huigong_store::membership_changes::{
    self as changes, Change, ChangeError, ChangeKind, Changed, DecideError, Direction, Event,
    Transfer,
};
use huigong_store::people;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A membership change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// `transfer_out` (调出), `retire` (退休), `leave` (离职) or `death` (死亡).
    pub kind: String,
    pub reason: String,
    /// YYYY-MM-DD.
    pub effective_on: String,
    /// For `transfer_out`: the receiving grassroots union, or — when the new employer has no
    /// union — the district union of the place of work.
    pub to_org_id: Option<Uuid>,
    /// For `transfer_out`: the new employer, if not the unit on the roster.
    pub to_unit_name: Option<String>,
}

/// One entry of a member's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub member_id: Uuid,
    /// `transfer_requested`, `transfer_in`, `transfer_refused`, `retire`, `leave`, `death`,
    /// `moved_to_parent`.
    pub kind: String,
    pub reason: String,
    pub effective_on: NaiveDate,
    pub from_org_id: Uuid,
    pub to_org_id: Option<Uuid>,
    pub actor_role: String,
    pub created_at: DateTime<Utc>,
}

fn event_view(e: Event) -> EventView {
    EventView {
        id: e.id,
        member_id: e.membership_id,
        kind: e.kind,
        reason: e.reason,
        effective_on: e.effective_on,
        from_org_id: e.from_org_id,
        to_org_id: e.to_org_id,
        actor_role: e.actor_role,
        created_at: e.created_at,
    }
}

/// A transfer between unions. The person is shown masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    pub id: Uuid,
    pub member_id: Uuid,
    #[schema(example = "张*")]
    pub name: String,
    #[schema(example = "330522********1234")]
    pub id_number: String,
    pub from_org_id: Uuid,
    pub from_org_name: String,
    pub to_org_id: Uuid,
    pub to_org_name: String,
    pub to_unit_name: Option<String>,
    pub reason: String,
    pub effective_on: NaiveDate,
    /// `pending`, `accepted`, `refused` or `cancelled`.
    pub status: String,
    pub refuse_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

async fn transfer_views(
    state: &AppState,
    items: Vec<Transfer>,
) -> Result<Vec<TransferView>, ApiError> {
    let person_ids: Vec<Uuid> = items.iter().map(|t| t.person_id).collect();
    let persons = people::get_many(&state.db.conn, &state.vault, &person_ids).await?;
    let mut org_ids: Vec<Uuid> = items.iter().map(|t| t.from_org_id).collect();
    org_ids.extend(items.iter().map(|t| t.to_org_id));
    let names: HashMap<Uuid, String> = changes::org_names(&state.db.conn, &org_ids).await?;
    Ok(items
        .into_iter()
        .map(|t| {
            // Masked, and never the mobile: the sending union may no longer reach the person.
            let shown = persons
                .get(&t.person_id)
                .map(|p| ShownPerson::masked(&p.name, &p.id_number, None));
            let (name, id_number) = shown.map(|s| (s.name, s.id_number)).unwrap_or_default();
            TransferView {
                id: t.id,
                member_id: t.membership_id,
                name,
                id_number,
                from_org_name: names.get(&t.from_org_id).cloned().unwrap_or_default(),
                to_org_name: names.get(&t.to_org_id).cloned().unwrap_or_default(),
                from_org_id: t.from_org_id,
                to_org_id: t.to_org_id,
                to_unit_name: t.to_unit_name,
                reason: t.reason,
                effective_on: t.effective_on,
                status: t.status,
                refuse_reason: t.refuse_reason,
                created_at: t.created_at,
                decided_at: t.decided_at,
            }
        })
        .collect())
}

/// The answer to a change: the history entry, or the transfer now waiting.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<EventView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferView>,
}

fn parse_date(field: &'static str, v: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid_field(field, format!("{field} 须为日期，格式如 2026-07-01")))
}

/// Records a change of a member of the caller's subtree: retire (membership kept, card stays
/// active), leave (membership ends, card suspended), death (card cancelled) — each in force at
/// once, 201 — or transfer_out, which waits for the receiving union, 202.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = ChangeRequest,
    responses(
        (status = 201, body = ChangeResult, description = "recorded: `event`"),
        (status = 202, body = ChangeResult, description = "transfer waiting for the receiving union: `transfer`"),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "membership ended, already retired, or a transfer already waiting"),
    )
)]
#[post("/api/v1/admin/members/{id}/changes")]
pub async fn change_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<ChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let result = change(&state, &admin, &admin.actor(&req), id, body.into_inner()).await?;
    Ok(if result.event.is_some() {
        HttpResponse::Created().json(result)
    } else {
        HttpResponse::Accepted().json(result)
    })
}

/// Records change `b` of member `id` of the caller's subtree (the JSON route and the console):
/// `event` when in force at once, `transfer` when waiting for the receiving union.
pub async fn change(
    state: &AppState,
    admin: &AdminCaller,
    actor: &huigong_store::audit::Actor,
    id: Uuid,
    b: ChangeRequest,
) -> Result<ChangeResult, ApiError> {
    let kind = ChangeKind::parse(b.kind.trim()).ok_or_else(|| {
        ApiError::invalid_field("kind", "kind 须为 transfer_out、retire、leave 或 death")
    })?;
    let reason = required_text("reason", &b.reason, 500)?;
    let effective_on = parse_date("effective_on", &b.effective_on)?;
    let to_unit_name = match b.to_unit_name.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => Some(required_text("to_unit_name", u, 128)?),
        _ => None,
    };
    if kind == ChangeKind::TransferOut && b.to_org_id.is_none() {
        return Err(ApiError::invalid_field(
            "to_org_id",
            "调出须填写接收工会 to_org_id",
        ));
    }
    let change = Change {
        kind,
        reason: &reason,
        effective_on,
        to_org_id: b.to_org_id,
        to_unit_name: to_unit_name.as_deref(),
    };
    let done = changes::change(
        &state.db,
        &state.card_views,
        id,
        &admin.scope,
        &change,
        actor,
        state.clock.now(),
    )
    .await;
    match done {
        Ok(Changed::Done(event)) => Ok(ChangeResult {
            event: Some(event_view(event)),
            transfer: None,
        }),
        Ok(Changed::TransferRequested(t)) => {
            let transfer = transfer_views(state, vec![t]).await?.pop();
            Ok(ChangeResult {
                event: None,
                transfer,
            })
        }
        Err(ChangeError::NotFound) => Err(ApiError::not_found()),
        Err(ChangeError::NotActive) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "membership_ended",
            "该会员的会籍已转出或终止",
        )),
        Err(ChangeError::AlreadyRetired) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_retired",
            "该会员已登记退休",
        )),
        Err(ChangeError::TransferPending) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "transfer_pending",
            "该会员已有待接收的调出申请",
        )),
        Err(ChangeError::BadTarget) => Err(ApiError::invalid_field(
            "to_org_id",
            "接收工会不存在或不能接收会员（须为已批准的其他基层工会，或新单位未建会时所在地的乡镇（街道、园区）总工会）",
        )),
        Err(ChangeError::Store(e)) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransferQuery {
    /// `incoming` (waiting for a union of the caller's subtree, default) or `outgoing`
    /// (from one, any status).
    status: Option<String>,
}

/// Transfers touching the caller's subtree, newest first (at most 500).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(TransferQuery),
    responses((status = 200, body = Vec<TransferView>), (status = 400, body = ErrorBody))
)]
#[get("/api/v1/admin/transfers")]
pub async fn list_transfers(
    state: web::Data<AppState>,
    admin: AdminCaller,
    query: crate::query::Query<TransferQuery>,
) -> Result<HttpResponse, ApiError> {
    let direction = match query.status.as_deref().map(str::trim) {
        None | Some("") | Some("incoming") => Direction::Incoming,
        Some("outgoing") => Direction::Outgoing,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "status",
                "status 须为 incoming 或 outgoing",
            ));
        }
    };
    Ok(HttpResponse::Ok().json(transfers(&state, &admin, direction).await?))
}

/// Transfers touching the caller's subtree, newest first (the JSON list and the console).
pub async fn transfers(
    state: &AppState,
    admin: &AdminCaller,
    direction: Direction,
) -> Result<Vec<TransferView>, ApiError> {
    let items = changes::transfers(&state.db.conn, &admin.scope, direction).await?;
    transfer_views(state, items).await
}

fn decide_error(e: DecideError) -> ApiError {
    match e {
        DecideError::NotFound => ApiError::not_found(),
        DecideError::Decided => ApiError::new(
            StatusCode::CONFLICT,
            "transfer_decided",
            "该调出申请已处理或会员会籍已变化",
        ),
        DecideError::CannotReceive => ApiError::new(
            StatusCode::CONFLICT,
            "union_not_active",
            "接收工会当前不能接收会员",
        ),
        DecideError::Store(e) => e.into(),
    }
}

/// The new membership after an accepted transfer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedView {
    pub member_id: Uuid,
}

/// The receiving union accepts a transfer: in one transaction the member moves, the history
/// records it and the card follows (stays active).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AcceptedView),
        (status = 404, body = ErrorBody, description = "no transfer to a union of the caller's subtree"),
        (status = 409, body = ErrorBody, description = "already decided"),
    )
)]
#[post("/api/v1/admin/transfers/{id}/accept")]
pub async fn accept_transfer(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let member_id = accept(&state, &admin, &admin.actor(&req), id).await?;
    Ok(HttpResponse::Ok().json(AcceptedView { member_id }))
}

/// Accepts transfer `id` into a union of the caller's subtree (the JSON route and the
/// console); the new membership's id.
pub async fn accept(
    state: &AppState,
    admin: &AdminCaller,
    actor: &huigong_store::audit::Actor,
    id: Uuid,
) -> Result<Uuid, ApiError> {
    changes::accept(
        &state.db,
        &state.card_views,
        id,
        &admin.scope,
        actor,
        state.clock.now(),
    )
    .await
    .map_err(decide_error)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

/// The receiving union refuses a transfer; the member stays where they were.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = ReasonRequest,
    responses(
        (status = 204),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already decided"),
    )
)]
#[post("/api/v1/admin/transfers/{id}/refuse")]
pub async fn refuse_transfer(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    body: crate::json::Json<ReasonRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    refuse(&state, &admin, &admin.actor(&req), id, &body.reason).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Refuses transfer `id` into a union of the caller's subtree with `reason` (the JSON route
/// and the console).
pub async fn refuse(
    state: &AppState,
    admin: &AdminCaller,
    actor: &huigong_store::audit::Actor,
    id: Uuid,
    reason: &str,
) -> Result<(), ApiError> {
    let reason = required_text("reason", reason, 500)?;
    changes::refuse(
        &state.db,
        id,
        &admin.scope,
        &reason,
        actor,
        state.clock.now(),
    )
    .await
    .map_err(decide_error)
}

/// A member's history, oldest first: the entries of the person's memberships that touch the
/// caller's subtree.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<EventView>), (status = 404, body = ErrorBody))
)]
#[get("/api/v1/admin/members/{id}/history")]
pub async fn member_history(
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(history(&state, &admin, &id).await?))
}

/// The history of member `id` of the caller's subtree (the JSON route and the console).
pub async fn history(
    state: &AppState,
    admin: &AdminCaller,
    id: &str,
) -> Result<Vec<EventView>, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    let events = changes::history(&state.db.conn, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(events.into_iter().map(event_view).collect())
}
