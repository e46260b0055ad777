//! 会籍管理: changes of membership after the first collection, each one transaction with one
//! history entry, the card following in the same transaction.
//!
//! Statuses of a membership: `active`; `transferred` (it continues as a new membership of the
//! receiving union); `left` (离职: membership ends, card suspended); `deceased` (card
//! cancelled). Retirement keeps the membership (保留会籍): it stays `active` with `retired_on`
//! set, so the one-active-membership index and the card keep working.
//!
//! A transfer (调出) waits for the receiving union: until it accepts, the member stays where
//! they were. The target is an approved grassroots union, or — when the new employer has no
//! union — the district union of the place of work, which then holds the membership.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::card_views::{CardViews, StaleViews};
use crate::cards::{self, CardStatus};
use crate::entity::{membership, membership_event, org, transfer};
use crate::{Database, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::labels::OrgLevel;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// What happened to a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// 调出: to another union, once it accepts.
    TransferOut,
    /// 退休: membership kept, card stays active.
    Retire,
    /// 离职: membership ends, card suspended.
    Leave,
    /// 死亡: membership ends, card cancelled.
    Death,
}

impl ChangeKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "transfer_out" => Some(Self::TransferOut),
            "retire" => Some(Self::Retire),
            "leave" => Some(Self::Leave),
            "death" => Some(Self::Death),
            _ => None,
        }
    }
}

/// A change as the admin states it, validated.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub kind: ChangeKind,
    pub reason: &'a str,
    pub effective_on: NaiveDate,
    /// For a transfer: the receiving union (grassroots, or a district holding the membership).
    pub to_org_id: Option<Uuid>,
    /// For a transfer: the new employer, if not the unit on the roster.
    pub to_unit_name: Option<&'a str>,
}

/// One entry of a member's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    pub membership_id: Uuid,
    pub kind: String,
    pub reason: String,
    pub effective_on: NaiveDate,
    pub from_org_id: Uuid,
    pub to_org_id: Option<Uuid>,
    pub actor_role: String,
    pub created_at: DateTime<Utc>,
}

impl From<membership_event::Model> for Event {
    fn from(m: membership_event::Model) -> Self {
        Event {
            id: m.id,
            membership_id: m.membership_id,
            kind: m.kind,
            reason: m.reason,
            effective_on: m.effective_on,
            from_org_id: m.from_org_id,
            to_org_id: m.to_org_id,
            actor_role: m.actor_role,
            created_at: m.created_at,
        }
    }
}

/// A transfer between unions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: Uuid,
    pub membership_id: Uuid,
    pub person_id: Uuid,
    pub from_org_id: Uuid,
    pub to_org_id: Uuid,
    pub to_unit_name: Option<String>,
    pub reason: String,
    pub effective_on: NaiveDate,
    pub status: String,
    pub refuse_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<transfer::Model> for Transfer {
    fn from(m: transfer::Model) -> Self {
        Transfer {
            id: m.id,
            membership_id: m.membership_id,
            person_id: m.person_id,
            from_org_id: m.from_org_id,
            to_org_id: m.to_org_id,
            to_unit_name: m.to_unit_name,
            reason: m.reason,
            effective_on: m.effective_on,
            status: m.status,
            refuse_reason: m.refuse_reason,
            created_at: m.created_at,
            decided_at: m.decided_at,
        }
    }
}

/// What a change did.
#[derive(Debug, Clone)]
pub enum Changed {
    /// Recorded and in force.
    Done(Event),
    /// A transfer now waiting for the receiving union.
    TransferRequested(Transfer),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Not in the caller's scope, or no such member.
    #[error("not found")]
    NotFound,
    /// The membership has ended already (transferred, left, deceased).
    #[error("membership not active")]
    NotActive,
    /// Retiring a member already retired.
    #[error("already retired")]
    AlreadyRetired,
    /// A transfer of this member is already waiting.
    #[error("transfer pending")]
    TransferPending,
    /// The target is not an approved grassroots union or district union (or is the current one).
    #[error("bad target")]
    BadTarget,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ChangeError {
    fn from(e: sea_orm::DbErr) -> Self {
        ChangeError::Store(e.into())
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_event<C: ConnectionTrait>(
    txn: &C,
    m: &membership::Model,
    kind: &str,
    reason: &str,
    effective_on: NaiveDate,
    to_org_id: Option<Uuid>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Event, StoreError> {
    let row = membership_event::Model {
        id: Uuid::now_v7(),
        membership_id: m.id,
        person_id: m.person_id,
        kind: kind.to_owned(),
        reason: reason.to_owned(),
        effective_on,
        from_org_id: m.org_id,
        to_org_id,
        actor_user_id: actor.user_id,
        actor_role: actor.role.clone(),
        created_at: now,
    };
    membership_event::Entity::insert(membership_event::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await?;
    Ok(row.into())
}

async fn audit_change<C: crate::audit::AuditTxn>(
    txn: &C,
    actor: &Actor,
    action: &str,
    target_type: &str,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit::record(
        txn,
        actor,
        &Entry {
            action,
            target_type,
            target_id: Some(id.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        },
        now,
    )
    .await
}

/// Ends an active membership. A membership that a concurrent change ended first is
/// `StoreError::Conflict` (the caller rolls back).
async fn set_status<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    status: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let done = membership::Entity::update_many()
        .col_expr(membership::Column::Status, Expr::value(status))
        .col_expr(membership::Column::UpdatedAt, Expr::value(now))
        .filter(membership::Column::Id.eq(id))
        .filter(membership::Column::Status.eq("active"))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

/// Closes the pending transfer of a membership that ended another way.
async fn cancel_pending<C: ConnectionTrait>(
    txn: &C,
    membership_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transfer::Entity::update_many()
        .col_expr(transfer::Column::Status, Expr::value("cancelled"))
        .col_expr(transfer::Column::DecidedAt, Expr::value(Some(now)))
        .filter(transfer::Column::MembershipId.eq(membership_id))
        .filter(transfer::Column::Status.eq("pending"))
        .exec(txn)
        .await?;
    Ok(())
}

/// Whether org `id` may receive members: an approved grassroots union, or a district union
/// (holding members whose new employer has no union).
pub async fn can_receive<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<bool, StoreError> {
    Ok(org::Entity::find_by_id(id)
        .one(conn)
        .await?
        .is_some_and(|o| {
            o.status == "active"
                && (o.level == OrgLevel::Grassroots.label_zh()
                    || o.level == OrgLevel::District.label_zh())
        }))
}

/// Moves an active membership to `to_org` in the caller's transaction: the old one becomes
/// `transferred`, a new active one continues at `to_org` (same roster fields, the unit
/// replaced if given), the card follows to the new membership and stays active (its view goes
/// into `stale`), and one history entry of `kind` is written on the new membership.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_membership<C: crate::audit::AuditTxn>(
    txn: &C,
    stale: &mut StaleViews,
    m: &membership::Model,
    to_org: Uuid,
    to_unit_name: Option<&str>,
    kind: &str,
    reason: &str,
    effective_on: NaiveDate,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Uuid, Event), StoreError> {
    cancel_pending(txn, m.id, now).await?;
    set_status(txn, m.id, "transferred", now).await?;
    let new_id = Uuid::now_v7();
    let moved = membership::Model {
        id: new_id,
        org_id: to_org,
        unit_name: to_unit_name.map_or_else(|| m.unit_name.clone(), str::to_owned),
        status: "active".to_owned(),
        created_at: now,
        updated_at: now,
        ..m.clone()
    };
    membership::Entity::insert(membership::ActiveModel::from(moved.clone()))
        .exec_without_returning(txn)
        .await?;
    // The event names the old union as `from`, and hangs on the new membership.
    let mut event_row = moved.clone();
    event_row.org_id = m.org_id;
    let event = record_event(
        txn,
        &event_row,
        kind,
        reason,
        effective_on,
        Some(to_org),
        actor,
        now,
    )
    .await?;
    if cards::live_card_of_person(txn, m.person_id)
        .await?
        .is_some()
    {
        let card = cards::set_status_for_person(
            txn,
            m.person_id,
            CardStatus::Active,
            Some(new_id),
            actor,
            now,
        )
        .await?;
        stale.card(card.as_ref());
    }
    audit_change(txn, actor, "member.move", "member", new_id, now).await?;
    Ok((new_id, event))
}

/// Records a change of member `id` (in `scope`), in one transaction with its history entry,
/// its audit event and the card's new status; the card's cached view is invalidated after the
/// commit.
pub async fn change(
    db: &Database,
    views: &CardViews,
    id: Uuid,
    scope: &str,
    change: &Change<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Changed, ChangeError> {
    let txn = db.begin_write().await?;
    // Only the person's current membership takes a change; an ended one in scope says so
    // (its history shows as much), anything else is not found.
    let (m, current) = crate::members::row_in_reach(&txn, id, scope)
        .await?
        .ok_or(ChangeError::NotFound)?;
    if !current {
        return Err(ChangeError::NotActive);
    }
    let mut stale = StaleViews::new();
    let changed = match change.kind {
        ChangeKind::TransferOut => {
            let to = change.to_org_id.ok_or(ChangeError::BadTarget)?;
            if to == m.org_id || !can_receive(&txn, to).await? {
                return Err(ChangeError::BadTarget);
            }
            let row = transfer::Model {
                id: Uuid::now_v7(),
                membership_id: m.id,
                person_id: m.person_id,
                from_org_id: m.org_id,
                to_org_id: to,
                to_unit_name: change.to_unit_name.map(str::to_owned),
                reason: change.reason.to_owned(),
                effective_on: change.effective_on,
                status: "pending".to_owned(),
                refuse_reason: None,
                requested_by: actor.user_id,
                decided_by: None,
                created_at: now,
                decided_at: None,
            };
            let inserted = transfer::Entity::insert(transfer::ActiveModel::from(row.clone()))
                .exec_without_returning(&txn)
                .await
                .map_err(StoreError::from);
            match inserted {
                Err(StoreError::Conflict) => return Err(ChangeError::TransferPending),
                other => other?,
            };
            record_event(
                &txn,
                &m,
                "transfer_requested",
                change.reason,
                change.effective_on,
                Some(to),
                actor,
                now,
            )
            .await?;
            audit_change(&txn, actor, "transfer.request", "transfer", row.id, now).await?;
            Changed::TransferRequested(row.into())
        }
        ChangeKind::Retire => {
            if m.retired_on.is_some() {
                return Err(ChangeError::AlreadyRetired);
            }
            membership::Entity::update_many()
                .col_expr(
                    membership::Column::RetiredOn,
                    Expr::value(Some(change.effective_on)),
                )
                .col_expr(membership::Column::UpdatedAt, Expr::value(now))
                .filter(membership::Column::Id.eq(m.id))
                .exec(&txn)
                .await?;
            let event = record_event(
                &txn,
                &m,
                "retire",
                change.reason,
                change.effective_on,
                None,
                actor,
                now,
            )
            .await?;
            // 保留会籍: the card stays (or becomes again) active.
            if let Some(card) = cards::live_card_of_person(&txn, m.person_id).await?
                && card.status != CardStatus::Active
            {
                let card = cards::set_status_for_person(
                    &txn,
                    m.person_id,
                    CardStatus::Active,
                    None,
                    actor,
                    now,
                )
                .await?;
                stale.card(card.as_ref());
            }
            audit_change(&txn, actor, "member.retire", "member", m.id, now).await?;
            Changed::Done(event)
        }
        ChangeKind::Leave | ChangeKind::Death => {
            let (status, kind, card_status, action) = if change.kind == ChangeKind::Leave {
                ("left", "leave", CardStatus::Suspended, "member.leave")
            } else {
                ("deceased", "death", CardStatus::Cancelled, "member.death")
            };
            cancel_pending(&txn, m.id, now).await?;
            set_status(&txn, m.id, status, now).await?;
            let event = record_event(
                &txn,
                &m,
                kind,
                change.reason,
                change.effective_on,
                None,
                actor,
                now,
            )
            .await?;
            let card =
                cards::set_status_for_person(&txn, m.person_id, card_status, None, actor, now)
                    .await?;
            stale.card(card.as_ref());
            audit_change(&txn, actor, action, "member", m.id, now).await?;
            Changed::Done(event)
        }
    };
    txn.commit().await.map_err(StoreError::from)?;
    views.invalidate(&db.conn, stale).await;
    Ok(changed)
}

/// Which transfers to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Pending transfers to an org in scope.
    Incoming,
    /// Transfers (any status) from an org in scope.
    Outgoing,
}

fn in_scope_ids(scope: &str) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(org::Column::Id)
        .from(org::Entity)
        .and_where(org::Column::Path.starts_with(scope))
        .to_owned()
}

/// Transfers touching the caller's scope, newest first.
pub async fn transfers<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    direction: Direction,
) -> Result<Vec<Transfer>, StoreError> {
    let query = match direction {
        Direction::Incoming => transfer::Entity::find()
            .filter(transfer::Column::ToOrgId.in_subquery(in_scope_ids(scope)))
            .filter(transfer::Column::Status.eq("pending")),
        Direction::Outgoing => transfer::Entity::find()
            .filter(transfer::Column::FromOrgId.in_subquery(in_scope_ids(scope))),
    };
    Ok(query
        .order_by_desc(transfer::Column::Id)
        .limit(500)
        .all(conn)
        .await?
        .into_iter()
        .map(Transfer::from)
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// No pending transfer to an org in the caller's scope.
    #[error("not found")]
    NotFound,
    /// Already accepted, refused or cancelled.
    #[error("already decided")]
    Decided,
    /// The receiving org cannot take members any more (dissolved meanwhile).
    #[error("cannot receive")]
    CannotReceive,
    #[error(transparent)]
    Store(StoreError),
}

impl From<sea_orm::DbErr> for DecideError {
    fn from(e: sea_orm::DbErr) -> Self {
        StoreError::from(e).into()
    }
}

impl From<StoreError> for DecideError {
    /// A conflict means a concurrent decision or change won.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => DecideError::Decided,
            e => DecideError::Store(e),
        }
    }
}

async fn incoming<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    scope: &str,
) -> Result<transfer::Model, DecideError> {
    let t = transfer::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(DecideError::NotFound)?;
    let to_in_scope = org::Entity::find_by_id(t.to_org_id)
        .one(txn)
        .await?
        .is_some_and(|o| o.path.starts_with(scope));
    if !to_in_scope {
        return Err(DecideError::NotFound);
    }
    if t.status != "pending" {
        return Err(DecideError::Decided);
    }
    Ok(t)
}

async fn close<C: ConnectionTrait>(
    txn: &C,
    t: &transfer::Model,
    status: &str,
    refuse_reason: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let done = transfer::Entity::update_many()
        .col_expr(transfer::Column::Status, Expr::value(status))
        .col_expr(
            transfer::Column::RefuseReason,
            Expr::value(refuse_reason.map(str::to_owned)),
        )
        .col_expr(transfer::Column::DecidedBy, Expr::value(actor.user_id))
        .col_expr(transfer::Column::DecidedAt, Expr::value(Some(now)))
        .filter(transfer::Column::Id.eq(t.id))
        .filter(transfer::Column::Status.eq("pending"))
        .exec(txn)
        .await?;
    // Decided concurrently by someone else.
    if done.rows_affected == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

/// The receiving union accepts: the member moves, the card follows (its cached view is
/// invalidated after the commit). Returns the new membership's id.
pub async fn accept(
    db: &Database,
    views: &CardViews,
    id: Uuid,
    scope: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Uuid, DecideError> {
    let txn = db.begin_write().await?;
    let t = incoming(&txn, id, scope).await?;
    if !can_receive(&txn, t.to_org_id).await? {
        return Err(DecideError::CannotReceive);
    }
    let m = membership::Entity::find_by_id(t.membership_id)
        .one(&txn)
        .await?
        .filter(|m| m.status == "active" && m.org_id == t.from_org_id)
        .ok_or(DecideError::Decided)?;
    // The card before the audit chain's head, as a redemption takes them.
    cards::lock_live_cards_of(&txn, &[m.person_id]).await?;
    close(&txn, &t, "accepted", None, actor, now).await?;
    let mut stale = StaleViews::new();
    let (new_id, _) = move_membership(
        &txn,
        &mut stale,
        &m,
        t.to_org_id,
        t.to_unit_name.as_deref(),
        "transfer_in",
        &t.reason,
        t.effective_on,
        actor,
        now,
    )
    .await?;
    audit_change(&txn, actor, "transfer.accept", "transfer", t.id, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    views.invalidate(&db.conn, stale).await;
    Ok(new_id)
}

/// The receiving union refuses: the member stays where they were; the refusal is in the
/// member's history.
pub async fn refuse(
    db: &Database,
    id: Uuid,
    scope: &str,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), DecideError> {
    let txn = db.begin_write().await?;
    let t = incoming(&txn, id, scope).await?;
    close(&txn, &t, "refused", Some(reason), actor, now).await?;
    if let Some(m) = membership::Entity::find_by_id(t.membership_id)
        .one(&txn)
        .await?
    {
        record_event(
            &txn,
            &m,
            "transfer_refused",
            reason,
            now.date_naive(),
            Some(t.to_org_id),
            actor,
            now,
        )
        .await?;
    }
    audit_change(&txn, actor, "transfer.refuse", "transfer", t.id, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// The history of member `id` (in `scope`): every entry of that person's memberships whose
/// `from` or `to` union lies in the scope, oldest first. `None` if the member is not in scope.
pub async fn history<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    scope: &str,
) -> Result<Option<Vec<Event>>, StoreError> {
    // A historical membership shows its history too (see `members::Reach`).
    let Some((m, _)) = crate::members::row_in_reach(conn, id, scope).await? else {
        return Ok(None);
    };
    let rows = membership_event::Entity::find()
        .filter(membership_event::Column::PersonId.eq(m.person_id))
        .order_by_asc(membership_event::Column::CreatedAt)
        .order_by_asc(membership_event::Column::Id)
        .all(conn)
        .await?;
    let mut orgs: Vec<Uuid> = rows.iter().map(|e| e.from_org_id).collect();
    orgs.extend(rows.iter().filter_map(|e| e.to_org_id));
    orgs.sort();
    orgs.dedup();
    let visible: Vec<Uuid> = org::Entity::find()
        .filter(org::Column::Id.is_in(orgs))
        .filter(org::Column::Path.starts_with(scope))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| o.id)
        .collect();
    Ok(Some(
        rows.into_iter()
            .filter(|e| {
                visible.contains(&e.from_org_id)
                    || e.to_org_id.is_some_and(|t| visible.contains(&t))
            })
            .map(Event::from)
            .collect(),
    ))
}

/// The names of these orgs (for lists that name both ends of a transfer).
pub async fn org_names<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, StoreError> {
    let mut names = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        for o in org::Entity::find()
            .filter(org::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            names.insert(o.id, o.name);
        }
    }
    Ok(names)
}
