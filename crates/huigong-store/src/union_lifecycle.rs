//! 建会、换届、撤销: a union submitted from below waits for its parent's approval; re-elections
//! keep every earlier term; dissolution is the parent's act, refused while the union still has
//! active members (unless its unit closed: then they move to the parent, one history entry
//! each); the half-year confirmation of a union's data. Nothing is deleted: a dissolved union
//! stays, marked `dissolved`.
//!
//! Org statuses: `active` (approved), `pending`, `rejected`, `dissolved`.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::card_views::{CardViews, StaleViews};
use crate::entity::{membership, org, org_term};
use crate::membership_changes::move_membership;
use crate::orgs::{self, NewOrg, Org};
use crate::sealed::{ORG_TERMS_LEADER_NAME, ORG_TERMS_PHONE, ORGS_LEADER_NAME, ORGS_PHONE};
use crate::{Database, StoreError};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use huigong_core::labels::OrgLevel;
use huigong_vault::KeyRing;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;
use uuid::Uuid;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No such org in the caller's scope.
    #[error("not found")]
    NotFound,
    /// Only an administrator above the union (its parent or higher) may do this.
    #[error("not the parent")]
    NotParent,
    /// The org is not in the state this needs (e.g. approving one already approved).
    #[error("wrong state: {0}")]
    WrongState(String),
    /// Only grassroots unions take part in this.
    #[error("not grassroots")]
    NotGrassroots,
    /// Approval refused: another approved union already holds one of its units' codes.
    #[error("unit code held by another union")]
    UnitTaken,
    /// Dissolution refused: active members remain.
    #[error("{0} active members")]
    HasActiveMembers(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for LifecycleError {
    fn from(e: sea_orm::DbErr) -> Self {
        LifecycleError::Store(e.into())
    }
}

async fn audit_org<C: crate::audit::AuditTxn>(
    txn: &C,
    actor: &Actor,
    action: &str,
    id: Uuid,
    fields: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit::record(
        txn,
        actor,
        &Entry {
            action,
            target_type: "org",
            target_id: Some(id.to_string()),
            fields,
            outcome: Outcome::Success,
        },
        now,
    )
    .await
}

async fn org_in_scope<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    scope: &str,
) -> Result<org::Model, LifecycleError> {
    org::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|o| o.path.starts_with(scope))
        .ok_or(LifecycleError::NotFound)
}

/// A grassroots union submitted from below (a unit's own applicant): created `pending` under
/// district `parent_id`, which must be an active district union (else `NotFound`).
pub async fn submit<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    parent_id: Uuid,
    new: &NewOrg<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Org, LifecycleError> {
    let parent = orgs::get_in_scope(txn, vault, parent_id, "/")
        .await?
        .filter(|p| p.level == OrgLevel::District && p.status == "active")
        .ok_or(LifecycleError::NotFound)?;
    let created = orgs::create_pending(txn, vault, &parent, new, actor, now).await?;
    audit_org(txn, actor, "org.submit", created.id, &[], now).await?;
    Ok(created)
}

/// The parent (or an org above it) approves or rejects a pending union. Approval makes its
/// units hold their codes: `UnitTaken` when another approved union holds one already (another
/// submission for the same unit approved first, or an admin's registration).
#[allow(clippy::too_many_arguments)]
pub async fn review(
    db: &Database,
    id: Uuid,
    scope: &str,
    caller_org: Uuid,
    approve: bool,
    reason: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<String, LifecycleError> {
    let txn = db.begin_write().await?;
    let o = org_in_scope(&txn, id, scope).await?;
    if o.id == caller_org {
        return Err(LifecycleError::NotParent);
    }
    if o.status != "pending" {
        return Err(LifecycleError::WrongState(o.status));
    }
    let status = if approve { "active" } else { "rejected" };
    if approve {
        // Only now does the union hold its units' codes; one approved meanwhile for the same
        // unit wins.
        match orgs::hold_unit_codes(&txn, id, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(LifecycleError::UnitTaken),
            Err(e) => return Err(e.into()),
        }
    }
    org::Entity::update_many()
        .col_expr(org::Column::Status, Expr::value(status))
        .col_expr(
            org::Column::ReviewReason,
            Expr::value(reason.map(str::to_owned)),
        )
        .col_expr(org::Column::ReviewedAt, Expr::value(Some(now)))
        .col_expr(org::Column::UpdatedAt, Expr::value(now))
        .filter(org::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let action = if approve { "org.approve" } else { "org.reject" };
    audit_org(&txn, actor, action, id, &[], now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(status.to_owned())
}

/// One term of a union's committee.
#[derive(Debug, Clone)]
pub struct Term {
    pub id: Uuid,
    pub org_id: Uuid,
    pub leader_name: Zeroizing<String>,
    pub committee: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub review_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn open_term(vault: &KeyRing, t: org_term::Model) -> Result<Term, StoreError> {
    let leader_name = ORG_TERMS_LEADER_NAME
        .open(vault, t.id, &t.leader_name_enc)
        .map_err(|_| StoreError::Other(format!("org_terms {}: unreadable leader name", t.id)))?;
    Ok(Term {
        id: t.id,
        org_id: t.org_id,
        leader_name,
        committee: t.committee,
        starts_on: t.starts_on,
        ends_on: t.ends_on,
        status: t.status,
        review_reason: t.review_reason,
        created_at: t.created_at,
    })
}

/// Makes an approved term's leader (and phone, when it brings one) the union's registered ones.
async fn register_term<C: ConnectionTrait>(
    txn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    leader_name: &str,
    phone: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut update = org::Entity::update_many()
        .col_expr(
            org::Column::LeaderNameEnc,
            Expr::value(Some(ORGS_LEADER_NAME.seal(vault, org_id, leader_name))),
        )
        .col_expr(org::Column::UpdatedAt, Expr::value(now));
    if let Some(phone) = phone {
        update = update.col_expr(
            org::Column::PhoneEnc,
            Expr::value(Some(ORGS_PHONE.seal(vault, org_id, phone))),
        );
    }
    update.filter(org::Column::Id.eq(org_id)).exec(txn).await?;
    Ok(())
}

/// A new term (换届) for union `id` in scope. Submitted by the union itself (`caller_org` is
/// `id`) it waits for its parent (`pending`); recorded by an administrator above the union it
/// is approved at once. An approved term's leader (and `phone`, when given) become the union's
/// registered ones; earlier terms stay.
#[allow(clippy::too_many_arguments)]
pub async fn add_term(
    db: &Database,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
    caller_org: Uuid,
    leader_name: &str,
    phone: Option<&str>,
    committee: &str,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Term, LifecycleError> {
    let txn = db.begin_write().await?;
    let o = org_in_scope(&txn, id, scope).await?;
    if o.level != OrgLevel::Grassroots.label_zh() {
        return Err(LifecycleError::NotGrassroots);
    }
    if o.status != "active" {
        return Err(LifecycleError::WrongState(o.status));
    }
    let submitted = caller_org == id;
    let term_id = Uuid::now_v7();
    let row = org_term::Model {
        id: term_id,
        org_id: id,
        leader_name_enc: ORG_TERMS_LEADER_NAME.seal(vault, term_id, leader_name),
        committee: committee.to_owned(),
        starts_on,
        ends_on,
        created_by: actor.user_id,
        status: if submitted { "pending" } else { "approved" }.to_owned(),
        phone_enc: phone.map(|p| ORG_TERMS_PHONE.seal(vault, term_id, p)),
        review_reason: None,
        reviewed_at: (!submitted).then_some(now),
        created_at: now,
    };
    org_term::Entity::insert(org_term::ActiveModel::from(row.clone()))
        .exec_without_returning(&txn)
        .await?;
    let mut fields = vec!["leader_name"];
    if phone.is_some() {
        fields.push("phone");
    }
    if submitted {
        audit_org(&txn, actor, "org.term_submit", id, &fields, now).await?;
    } else {
        register_term(&txn, vault, id, leader_name, phone, now).await?;
        audit_org(&txn, actor, "org.term", id, &fields, now).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(open_term(vault, row)?)
}

/// The parent (or an org above it) approves or rejects term `term_id` submitted by its union.
/// Approval makes the term's leader and phone the union's registered ones. Of two reviews at
/// once one wins (a conditional update); the other is `WrongState`.
#[allow(clippy::too_many_arguments)]
pub async fn review_term(
    db: &Database,
    vault: &KeyRing,
    term_id: Uuid,
    scope: &str,
    caller_org: Uuid,
    approve: bool,
    reason: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Term, LifecycleError> {
    let txn = db.begin_write().await?;
    let t = org_term::Entity::find_by_id(term_id)
        .one(&txn)
        .await?
        .ok_or(LifecycleError::NotFound)?;
    let o = org_in_scope(&txn, t.org_id, scope).await?;
    if o.id == caller_org {
        return Err(LifecycleError::NotParent);
    }
    let status = if approve { "approved" } else { "rejected" };
    let closed = org_term::Entity::update_many()
        .col_expr(org_term::Column::Status, Expr::value(status))
        .col_expr(
            org_term::Column::ReviewReason,
            Expr::value(reason.map(str::to_owned)),
        )
        .col_expr(org_term::Column::ReviewedAt, Expr::value(Some(now)))
        .filter(org_term::Column::Id.eq(term_id))
        .filter(org_term::Column::Status.eq("pending"))
        .exec(&txn)
        .await?;
    if closed.rows_affected == 0 {
        return Err(LifecycleError::WrongState(format!("term_{}", t.status)));
    }
    let term = open_term(
        vault,
        org_term::Model {
            status: status.to_owned(),
            review_reason: reason.map(str::to_owned),
            reviewed_at: Some(now),
            ..t.clone()
        },
    )?;
    if approve {
        if o.status != "active" {
            return Err(LifecycleError::WrongState(o.status));
        }
        let phone = t
            .phone_enc
            .as_ref()
            .map(|p| ORG_TERMS_PHONE.open(vault, t.id, p))
            .transpose()
            .map_err(|_| StoreError::Other(format!("org_terms {}: unreadable phone", t.id)))?;
        register_term(
            &txn,
            vault,
            t.org_id,
            &term.leader_name,
            phone.as_deref().map(|p| p.as_str()),
            now,
        )
        .await?;
    }
    let action = if approve {
        "org.term_approve"
    } else {
        "org.term_reject"
    };
    audit_org(&txn, actor, action, t.org_id, &[], now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(term)
}

/// Terms of union `id` in scope, newest first (`None` if out of scope).
pub async fn terms<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
) -> Result<Option<Vec<Term>>, StoreError> {
    match org_in_scope(conn, id, scope).await {
        Ok(_) => {}
        Err(LifecycleError::NotFound) => return Ok(None),
        Err(LifecycleError::Store(e)) => return Err(e),
        Err(e) => return Err(StoreError::Other(e.to_string())),
    }
    org_term::Entity::find()
        .filter(org_term::Column::OrgId.eq(id))
        .order_by_desc(org_term::Column::StartsOn)
        .order_by_desc(org_term::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(|t| open_term(vault, t))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A union whose latest term has run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredTerm {
    pub org_id: Uuid,
    pub org_name: String,
    pub term_id: Uuid,
    pub ends_on: NaiveDate,
}

/// Active unions in scope whose latest term ended before `today`.
pub async fn expired_terms<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    today: NaiveDate,
) -> Result<Vec<ExpiredTerm>, StoreError> {
    let unions: HashMap<Uuid, String> = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .filter(org::Column::Status.eq("active"))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let mut latest: HashMap<Uuid, org_term::Model> = HashMap::new();
    let ids: Vec<Uuid> = unions.keys().copied().collect();
    for chunk in ids.chunks(500) {
        for t in org_term::Entity::find()
            .filter(org_term::Column::OrgId.is_in(chunk.to_vec()))
            .filter(org_term::Column::Status.eq("approved"))
            .all(conn)
            .await?
        {
            let newer = latest
                .get(&t.org_id)
                .is_none_or(|l| (t.starts_on, t.id) > (l.starts_on, l.id));
            if newer {
                latest.insert(t.org_id, t);
            }
        }
    }
    let mut out: Vec<ExpiredTerm> = latest
        .into_values()
        .filter(|t| t.ends_on < today)
        .map(|t| ExpiredTerm {
            org_name: unions.get(&t.org_id).cloned().unwrap_or_default(),
            org_id: t.org_id,
            term_id: t.id,
            ends_on: t.ends_on,
        })
        .collect();
    out.sort_by_key(|t| (t.ends_on, t.org_id));
    Ok(out)
}

/// What a dissolution request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dissolution {
    /// The union's own admin asked; its parent decides.
    Requested,
    /// Dissolved (by the parent or above); `moved` members went to the parent.
    Dissolved { moved: u64 },
}

/// Dissolution (撤销) of grassroots union `id` in scope. From the union's own admin it is a
/// request for the parent; from an admin above it, the decision. Refused while active members
/// remain, unless `unit_closed`: then the parent decides and each member moves to the parent
/// with a history entry (their cards' cached views are invalidated after the commit).
#[allow(clippy::too_many_arguments)]
pub async fn dissolve(
    db: &Database,
    views: &CardViews,
    id: Uuid,
    scope: &str,
    caller_org: Uuid,
    reason: &str,
    unit_closed: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Dissolution, LifecycleError> {
    let txn = db.begin_write().await?;
    let o = org_in_scope(&txn, id, scope).await?;
    if o.level != OrgLevel::Grassroots.label_zh() {
        return Err(LifecycleError::NotGrassroots);
    }
    if o.status != "active" {
        return Err(LifecycleError::WrongState(o.status));
    }
    let members = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(id))
        .filter(membership::Column::Status.eq("active"))
        .all(&txn)
        .await?;
    if !members.is_empty() && !unit_closed {
        return Err(LifecycleError::HasActiveMembers(members.len() as u64));
    }
    if o.id == caller_org {
        org::Entity::update_many()
            .col_expr(org::Column::DissolutionRequestedAt, Expr::value(Some(now)))
            .col_expr(
                org::Column::DissolutionReason,
                Expr::value(Some(reason.to_owned())),
            )
            .filter(org::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        audit_org(&txn, actor, "org.dissolve_request", id, &[], now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        return Ok(Dissolution::Requested);
    }
    let parent = o
        .parent_id
        .ok_or_else(|| LifecycleError::WrongState("no parent".to_owned()))?;
    let today = now.date_naive();
    // Every moving member's card before the audit chain's head, as a redemption takes them.
    let people: Vec<Uuid> = members.iter().map(|m| m.person_id).collect();
    crate::cards::lock_live_cards_of(&txn, &people).await?;
    let mut stale = StaleViews::new();
    for m in &members {
        move_membership(
            &txn,
            &mut stale,
            m,
            parent,
            None,
            "moved_to_parent",
            reason,
            today,
            actor,
            now,
        )
        .await?;
    }
    // Transfers waiting for this union cannot be accepted any more.
    crate::entity::transfer::Entity::update_many()
        .col_expr(
            crate::entity::transfer::Column::Status,
            Expr::value("refused"),
        )
        .col_expr(
            crate::entity::transfer::Column::RefuseReason,
            Expr::value(Some("接收工会已撤销".to_owned())),
        )
        .col_expr(
            crate::entity::transfer::Column::DecidedAt,
            Expr::value(Some(now)),
        )
        .filter(crate::entity::transfer::Column::ToOrgId.eq(id))
        .filter(crate::entity::transfer::Column::Status.eq("pending"))
        .exec(&txn)
        .await?;
    org::Entity::update_many()
        .col_expr(org::Column::Status, Expr::value("dissolved"))
        .col_expr(org::Column::DissolvedAt, Expr::value(Some(now)))
        .col_expr(
            org::Column::DissolutionReason,
            Expr::value(Some(reason.to_owned())),
        )
        .col_expr(org::Column::UpdatedAt, Expr::value(now))
        .filter(org::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit_org(&txn, actor, "org.dissolve", id, &[], now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    views.invalidate(&db.conn, stale).await;
    Ok(Dissolution::Dissolved {
        moved: members.len() as u64,
    })
}

/// The half-year cycles start on 1 January and 1 July, China time (UTC+8).
pub fn cycle_start(now: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
    let Some(china) = FixedOffset::east_opt(8 * 3600) else {
        return (now.date_naive(), now);
    };
    let local = now.with_timezone(&china).date_naive();
    let month = if local.month() >= 7 { 7 } else { 1 };
    let start = NaiveDate::from_ymd_opt(local.year(), month, 1).unwrap_or(local);
    let instant = china
        .from_local_datetime(&start.and_time(chrono::NaiveTime::MIN))
        .single()
        .map_or(now, |t| t.with_timezone(&Utc));
    (start, instant)
}

/// Today's date in China time (UTC+8), for terms that end on a date.
pub fn cycle_today(now: DateTime<Utc>) -> NaiveDate {
    FixedOffset::east_opt(8 * 3600).map_or(now.date_naive(), |c| now.with_timezone(&c).date_naive())
}

/// A union admin (or one above) confirms that union `id`'s data is current for this cycle:
/// the union's roster is archived for the half-year ([`crate::cycle::confirm`]); confirming
/// again in the same half-year changes nothing.
pub async fn confirm_current(
    db: &Database,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<crate::cycle::Confirmation, LifecycleError> {
    use crate::cycle::CycleError;
    crate::cycle::confirm(db, vault, id, scope, actor, now)
        .await
        .map_err(|e| match e {
            CycleError::NotFound => LifecycleError::NotFound,
            CycleError::NotGrassroots => LifecycleError::NotGrassroots,
            CycleError::WrongState(s) => LifecycleError::WrongState(s),
            CycleError::Store(e) => LifecycleError::Store(e),
        })
}

/// Something waiting for a parent's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingReview {
    pub org_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    /// `set_up` (a submission from below), `dissolution` (asked by the union's own admin) or
    /// `term` (a 换届 submitted by the union: decide it with its `term_id`).
    pub kind: &'static str,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    /// The submitted term, for `term`.
    pub term_id: Option<Uuid>,
}

/// Submissions (建会), terms (换届) and dissolution requests (撤销) of unions strictly below
/// the caller's org (in `scope`), oldest first: what the caller may decide.
pub async fn awaiting_review<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    caller_org: Uuid,
) -> Result<Vec<AwaitingReview>, StoreError> {
    let rows = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .filter(org::Column::Id.ne(caller_org))
        .filter(
            sea_orm::Condition::any()
                .add(org::Column::Status.eq("pending"))
                .add(
                    sea_orm::Condition::all()
                        .add(org::Column::Status.eq("active"))
                        .add(org::Column::DissolutionRequestedAt.is_not_null()),
                ),
        )
        .order_by_asc(org::Column::CreatedAt)
        .all(conn)
        .await?;
    let mut out: Vec<AwaitingReview> = rows
        .into_iter()
        .map(|o| {
            let set_up = o.status == "pending";
            AwaitingReview {
                org_id: o.id,
                parent_id: o.parent_id,
                name: o.name,
                kind: if set_up { "set_up" } else { "dissolution" },
                reason: if set_up { None } else { o.dissolution_reason },
                since: if set_up {
                    o.created_at
                } else {
                    o.dissolution_requested_at.unwrap_or(o.updated_at)
                },
                term_id: None,
            }
        })
        .collect();
    // Terms waiting for a parent: the union's own admin cannot decide its own (`NotParent`).
    let terms = org_term::Entity::find()
        .filter(org_term::Column::Status.eq("pending"))
        .filter(
            org_term::Column::OrgId.in_subquery(
                crate::orgs::ids_in_scope(scope)
                    .and_where(org::Column::Id.ne(caller_org))
                    .to_owned(),
            ),
        )
        .all(conn)
        .await?;
    if !terms.is_empty() {
        let names: HashMap<Uuid, (Option<Uuid>, String)> = org::Entity::find()
            .filter(org::Column::Id.is_in(terms.iter().map(|t| t.org_id)))
            .all(conn)
            .await?
            .into_iter()
            .map(|o| (o.id, (o.parent_id, o.name)))
            .collect();
        out.extend(terms.into_iter().map(|t| {
            let (parent_id, name) = names.get(&t.org_id).cloned().unwrap_or_default();
            AwaitingReview {
                org_id: t.org_id,
                parent_id,
                name,
                kind: "term",
                reason: None,
                since: t.created_at,
                term_id: Some(t.id),
            }
        }));
    }
    out.sort_by_key(|r| (r.since, r.org_id));
    Ok(out)
}
