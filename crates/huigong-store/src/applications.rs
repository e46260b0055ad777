//! Online applications to join a grassroots union (网上申请入会).
//!
//! The applicant's identity stays sealed in the application until a union admin reviews it:
//! a stranger's application cannot change the name recorded for a person, and approving one
//! that differs from the record needs the reviewer's choice of which to keep. Several accounts
//! may apply for one ID number; the reviewer sees the conflicts ([`review_info`]). Approval makes the
//! person and the membership, marks the application, and queues the applicant's notification,
//! all in one transaction; two admins approving at once make one member.

use crate::StoreError;
use crate::audit::{self, Actor, Entry, Outcome};
use crate::card_views::{CardViews, StaleViews};
use crate::db::Database;
use crate::entity::{application, org};
use crate::members::{self, AddMemberError, RosterFields};
use crate::outbox;
use crate::people::{self, PersonInput};
use crate::sealed::{
    APPLICATIONS_ID_NUMBER, APPLICATIONS_MOBILE, APPLICATIONS_NAME, APPLICATIONS_SIGNATURE_NAME,
    APPLICATIONS_SIGNATURE_PNG,
};
use chrono::{DateTime, Utc};
use huigong_core::id_number::IdNumber;
use huigong_core::phone::Mobile;
use huigong_vault::KeyRing;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The outbox kind of the message telling an applicant the outcome.
pub const REVIEWED_KIND: &str = "application.reviewed";

/// A new application, validated.
#[derive(Debug, Clone, Copy)]
pub struct NewApplication<'a> {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub id_number: &'a IdNumber,
    pub name: &'a str,
    pub mobile: Option<&'a Mobile>,
    pub fields: &'a RosterFields,
    pub declaration_version: &'a str,
    pub consent_sensitive: bool,
    pub signature_name: &'a str,
    /// A drawn signature, base64 PNG.
    pub signature_png: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
}

/// An application, decrypted.
#[derive(Debug, Clone)]
pub struct Application {
    pub id: Uuid,
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub id_number: IdNumber,
    pub name: Zeroizing<String>,
    pub mobile: Option<Mobile>,
    pub fields: RosterFields,
    pub declaration_version: String,
    pub signature_name: Zeroizing<String>,
    pub has_signature_png: bool,
    pub status: String,
    pub reason: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub membership_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The person is an active member of a union and the applicant gave their recorded name
    /// (told only when the caller may be told, see [`submit`]).
    #[error("already an active member")]
    AlreadyMember,
    /// The same account has a pending application for this ID number.
    #[error("an application is pending")]
    Pending,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no such application in scope")]
    NotFound,
    /// Reviewed already (the current status).
    #[error("already {0}")]
    AlreadyReviewed(String),
    /// The applicant became a member elsewhere meanwhile.
    #[error("already an active member")]
    AlreadyMember,
    /// The union is no longer active (dissolved, say): it takes no members.
    #[error("the union does not take members")]
    UnionNotActive,
    /// The person is on record with another name or mobile than the application's: the
    /// reviewer must choose which to keep ([`Keep`]).
    #[error("the application differs from the record")]
    DetailsDiffer,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ApplyError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApplyError::Store(e.into())
    }
}

impl From<sea_orm::DbErr> for ReviewError {
    fn from(e: sea_orm::DbErr) -> Self {
        ReviewError::Store(e.into())
    }
}

fn decrypt(
    vault: &KeyRing,
    row: application::Model,
    org_name: String,
) -> Result<Application, StoreError> {
    let broken =
        |what: &str| StoreError::Other(format!("applications {}: unreadable {what}", row.id));
    let id_text = APPLICATIONS_ID_NUMBER
        .open(vault, row.id, &row.id_number_enc)
        .map_err(|_| broken("id_number"))?;
    let id_number =
        IdNumber::parse(&id_text, Utc::now().date_naive()).map_err(|_| broken("id_number"))?;
    let mobile = match &row.mobile_enc {
        Some(sealed) => {
            let text = APPLICATIONS_MOBILE
                .open(vault, row.id, sealed)
                .map_err(|_| broken("mobile"))?;
            Some(Mobile::parse(&text).map_err(|_| broken("mobile"))?)
        }
        None => None,
    };
    Ok(Application {
        id: row.id,
        user_id: row.user_id,
        org_id: row.org_id,
        org_name,
        id_number,
        name: APPLICATIONS_NAME
            .open(vault, row.id, &row.name_enc)
            .map_err(|_| broken("name"))?,
        mobile,
        fields: RosterFields {
            unit_name: row.unit_name,
            nationality: row.nationality,
            education: row.education,
            household_type: row.household_type,
            employment_status: row.employment_status,
            union_post: row.union_post,
        },
        declaration_version: row.declaration_version,
        signature_name: APPLICATIONS_SIGNATURE_NAME
            .open(vault, row.id, &row.signature_name_enc)
            .map_err(|_| broken("signature_name"))?,
        has_signature_png: row.signature_png_enc.is_some(),
        status: row.status,
        reason: row.reason,
        reviewed_at: row.reviewed_at,
        membership_id: row.membership_id,
        created_at: row.created_at,
    })
}

async fn assemble<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    rows: Vec<application::Model>,
) -> Result<Vec<Application>, StoreError> {
    let mut org_ids: Vec<Uuid> = rows.iter().map(|r| r.org_id).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    let mut names: HashMap<Uuid, String> = HashMap::new();
    for chunk in org_ids.chunks(500) {
        for o in org::Entity::find()
            .filter(org::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            names.insert(o.id, o.name);
        }
    }
    rows.into_iter()
        .map(|r| {
            let name = names.get(&r.org_id).cloned().unwrap_or_default();
            decrypt(vault, r, name)
        })
        .collect()
}

/// The user's application made with this idempotency key, if any: a retry's answer.
pub async fn replayed<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    user_id: Uuid,
    key: &str,
) -> Result<Option<Application>, StoreError> {
    by_idempotency_key(conn, vault, user_id, key).await
}

async fn by_idempotency_key<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    user_id: Uuid,
    key: &str,
) -> Result<Option<Application>, StoreError> {
    let rows = application::Entity::find()
        .filter(application::Column::UserId.eq(user_id))
        .filter(application::Column::IdempotencyKey.eq(key))
        .all(conn)
        .await?;
    Ok(assemble(conn, vault, rows).await?.pop())
}

/// Whether the person with this ID number is an active member recorded under this very name.
async fn member_named<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id_number: &IdNumber,
    name: &str,
) -> Result<bool, StoreError> {
    let Some(person) = people::find_by_id_number(conn, vault, id_number).await? else {
        return Ok(false);
    };
    if person.name.as_str() != name {
        return Ok(false);
    }
    Ok(members::active_of_id_number(conn, vault, id_number)
        .await?
        .is_some())
}

/// Records an application. Returns it and whether it was created now: a retry with the same
/// `idempotency_key` by the same user returns the first one and writes nothing.
///
/// The answer never depends on whether the ID number is on a roster or has applications of
/// other accounts pending: several accounts may apply for one ID number, and the reviewer
/// sees the conflict ([`review_info`]). Only when `may_tell_member` (the caller had a guess
/// left for the day) and the applicant gave the person's recorded name is an active member
/// told `AlreadyMember`. One account has at most one pending application per ID number
/// (`Pending`).
pub async fn submit(
    db: &Database,
    vault: &KeyRing,
    new: NewApplication<'_>,
    may_tell_member: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Application, bool), ApplyError> {
    if let Some(key) = new.idempotency_key
        && let Some(first) = by_idempotency_key(&db.conn, vault, new.user_id, key).await?
    {
        return Ok((first, false));
    }
    let txn = db.begin_write().await?;
    if may_tell_member && member_named(&txn, vault, new.id_number, new.name).await? {
        return Err(ApplyError::AlreadyMember);
    }
    let bidx = people::id_number_index(vault, new.id_number).to_vec();
    let pending = application::Entity::find()
        .filter(application::Column::UserId.eq(new.user_id))
        .filter(application::Column::IdNumberBidx.eq(bidx.clone()))
        .filter(application::Column::Status.eq("pending"))
        .count(&txn)
        .await?;
    if pending > 0 {
        return Err(ApplyError::Pending);
    }
    let id = Uuid::now_v7();
    let inserted = application::Entity::insert(application::ActiveModel {
        id: Set(id),
        user_id: Set(new.user_id),
        org_id: Set(new.org_id),
        id_number_bidx: Set(bidx),
        id_number_enc: Set(APPLICATIONS_ID_NUMBER.seal(vault, id, new.id_number.as_str())),
        name_enc: Set(APPLICATIONS_NAME.seal(vault, id, new.name)),
        mobile_enc: Set(new
            .mobile
            .map(|m| APPLICATIONS_MOBILE.seal(vault, id, m.as_str()))),
        nationality: Set(new.fields.nationality.clone()),
        education: Set(new.fields.education.clone()),
        household_type: Set(new.fields.household_type.clone()),
        unit_name: Set(new.fields.unit_name.clone()),
        employment_status: Set(new.fields.employment_status.clone()),
        union_post: Set(new.fields.union_post.clone()),
        declaration_version: Set(new.declaration_version.to_owned()),
        consent_sensitive: Set(new.consent_sensitive),
        signature_name_enc: Set(APPLICATIONS_SIGNATURE_NAME.seal(vault, id, new.signature_name)),
        signature_png_enc: Set(new
            .signature_png
            .map(|png| APPLICATIONS_SIGNATURE_PNG.seal(vault, id, png))),
        idempotency_key: Set(new.idempotency_key.map(str::to_owned)),
        status: Set("pending".to_owned()),
        reason: Set(None),
        reviewed_by: Set(None),
        reviewed_at: Set(None),
        membership_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(StoreError::from);
    match inserted {
        Ok(_) => {}
        // A concurrent request won a unique index: the same retry, or the same account's
        // application for the same person.
        Err(StoreError::Conflict) => {
            drop(txn);
            if let Some(key) = new.idempotency_key
                && let Some(first) = by_idempotency_key(&db.conn, vault, new.user_id, key).await?
            {
                return Ok((first, false));
            }
            return Err(ApplyError::Pending);
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &txn,
        actor,
        &Entry {
            action: "application.create",
            target_type: "application",
            target_id: Some(id.to_string()),
            fields: &["id_number", "name", "mobile", "signature"],
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    let row = application::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let created = assemble(&txn, vault, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok((created, true))
}

/// The user's own applications, newest first.
pub async fn mine<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    user_id: Uuid,
) -> Result<Vec<Application>, StoreError> {
    let rows = application::Entity::find()
        .filter(application::Column::UserId.eq(user_id))
        .order_by_desc(application::Column::CreatedAt)
        .limit(100)
        .all(conn)
        .await?;
    assemble(conn, vault, rows).await
}

/// Applications to unions in `scope`, optionally of one status, oldest first (a queue).
pub async fn list_in_scope<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    scope: &str,
    status: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Application>, u64), StoreError> {
    let filter = QueueFilter {
        status,
        ..QueueFilter::default()
    };
    list_filtered(conn, vault, scope, &filter, page, per_page).await
}

/// What a review queue may be narrowed to besides the scope.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueFilter<'a> {
    pub status: Option<&'a str>,
    /// One union (of the scope: another subtree's union simply matches nothing).
    pub org_id: Option<Uuid>,
    /// Submitted at or after.
    pub from: Option<DateTime<Utc>>,
    /// Submitted before.
    pub until: Option<DateTime<Utc>>,
}

/// [`list_in_scope`] narrowed by a [`QueueFilter`], oldest first.
pub async fn list_filtered<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    scope: &str,
    filter: &QueueFilter<'_>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Application>, u64), StoreError> {
    let mut query = application::Entity::find()
        .filter(application::Column::OrgId.in_subquery(crate::orgs::ids_in_scope(scope)));
    if let Some(status) = filter.status {
        query = query.filter(application::Column::Status.eq(status));
    }
    if let Some(org_id) = filter.org_id {
        query = query.filter(application::Column::OrgId.eq(org_id));
    }
    if let Some(from) = filter.from {
        query = query.filter(application::Column::CreatedAt.gte(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(application::Column::CreatedAt.lt(until));
    }
    let total = query.clone().count(conn).await?;
    let rows = query
        .order_by_asc(application::Column::CreatedAt)
        .offset(page.saturating_sub(1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((assemble(conn, vault, rows).await?, total))
}

/// The application with this id, if its union is in `scope`.
pub async fn get_in_scope<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
) -> Result<Option<Application>, StoreError> {
    let rows = application::Entity::find_by_id(id)
        .filter(application::Column::OrgId.in_subquery(crate::orgs::ids_in_scope(scope)))
        .all(conn)
        .await?;
    Ok(assemble(conn, vault, rows).await?.pop())
}

/// Marks a pending application reviewed; `AlreadyReviewed` if someone else was first.
async fn close<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    status: &str,
    reason: Option<&str>,
    reviewer: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<(), ReviewError> {
    let closed = application::Entity::update_many()
        .col_expr(application::Column::Status, status.into())
        .col_expr(
            application::Column::Reason,
            reason.map(str::to_owned).into(),
        )
        .col_expr(application::Column::ReviewedBy, reviewer.into())
        .col_expr(application::Column::ReviewedAt, Some(now).into())
        .col_expr(application::Column::UpdatedAt, now.into())
        .filter(application::Column::Id.eq(id))
        .filter(application::Column::Status.eq("pending"))
        .exec(txn)
        .await?;
    if closed.rows_affected == 0 {
        let current = application::Entity::find_by_id(id)
            .one(txn)
            .await?
            .map(|a| a.status)
            .unwrap_or_default();
        return Err(ReviewError::AlreadyReviewed(current));
    }
    Ok(())
}

fn reviewed_message(application: &Application, status: &str, reason: Option<&str>) -> String {
    serde_json::json!({
        "application_id": application.id,
        "status": status,
        "union_name": application.org_name,
        "reason": reason,
    })
    .to_string()
}

/// Approves a pending application of a union in `scope`: the person and the membership are
/// created, the application marked, the applicant's notification queued, and an audit event
/// recorded, in one transaction. If the person existed with another name, the name is corrected
/// and the view of their card (say, suspended when they left) invalidated after the commit.
#[allow(clippy::too_many_arguments)]
pub async fn approve(
    db: &Database,
    vault: &KeyRing,
    views: &CardViews,
    id: Uuid,
    scope: &str,
    keep: Option<Keep>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Application, ReviewError> {
    let txn = db.begin_write().await?;
    let Some(application) = get_in_scope(&txn, vault, id, scope).await? else {
        return Err(ReviewError::NotFound);
    };
    let union_active = org::Entity::find_by_id(application.org_id)
        .one(&txn)
        .await?
        .is_some_and(|o| o.status == "active");
    if !union_active {
        return Err(ReviewError::UnionNotActive);
    }
    // Marked first (a second reviewer learns `AlreadyReviewed`); any refusal below rolls back.
    close(&txn, id, "approved", None, actor.user_id, now).await?;
    if members::active_of_id_number(&txn, vault, &application.id_number)
        .await?
        .is_some()
    {
        return Err(ReviewError::AlreadyMember);
    }
    // Never overwrite a recorded name or mobile silently: the reviewer chooses (the rule of
    // `members::add_in`).
    let added = members::add_in(
        &txn,
        vault,
        application.org_id,
        PersonInput {
            id_number: &application.id_number,
            name: &application.name,
            mobile: application.mobile.as_ref(),
        },
        &application.fields,
        keep.map(|k| match k {
            Keep::Roster => members::Keep::Record,
            Keep::Application => members::Keep::Given,
        }),
        actor,
        now,
    )
    .await;
    let member = match added {
        Ok(member) => member,
        Err(AddMemberError::RecordDiffers { .. }) => return Err(ReviewError::DetailsDiffer),
        Err(AddMemberError::AlreadyMember { .. } | AddMemberError::Store(StoreError::Conflict)) => {
            return Err(ReviewError::AlreadyMember);
        }
        Err(AddMemberError::Store(e)) => return Err(e.into()),
    };
    application::Entity::update_many()
        .col_expr(application::Column::MembershipId, Some(member.id).into())
        .filter(application::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    outbox::enqueue(
        &txn,
        REVIEWED_KIND,
        application.user_id,
        &reviewed_message(&application, "approved", None),
        now,
    )
    .await?;
    review_audit(&txn, actor, "application.approve", id, now).await?;
    let mut stale = StaleViews::new();
    stale.holders_of([member.person.id]);
    txn.commit().await.map_err(StoreError::from)?;
    views.invalidate(&db.conn, stale).await;
    Ok(Application {
        status: "approved".to_owned(),
        reviewed_at: Some(now),
        membership_id: Some(member.id),
        ..application
    })
}

/// Which details to keep when an application differs from the person's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The name and mobile on record stay (a mobile not on record is filled in).
    Roster,
    /// The application's name and mobile replace the record's (audited `person.update`).
    Application,
}

/// Whether the application's name, and its mobile, differ from the person's record (a mobile
/// differs only when both are given).
fn differences(person: &people::Person, application: &Application) -> (bool, bool) {
    members::record_differs(person, &application.name, application.mobile.as_ref())
}

/// What a reviewer must know about a pending application's ID number before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Nothing else is known about this ID number.
    None,
    /// An active member of the union applied to.
    OnRosterHere,
    /// An active member of another union (which one is not said).
    OnRosterElsewhere,
    /// Another application for the same ID number is pending (another account's, or to
    /// another union).
    PendingElsewhere,
}

impl Conflict {
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::None => "none",
            Conflict::OnRosterHere => "on_roster_here",
            Conflict::OnRosterElsewhere => "on_roster_elsewhere",
            Conflict::PendingElsewhere => "pending_elsewhere",
        }
    }
}

/// A pending application as its reviewer sees it besides the application itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewInfo {
    pub conflict: Conflict,
    /// Whether the person is on record with another name, and with another mobile (approving
    /// then needs a [`Keep`] choice). `None` — not said — when the number is on a roster
    /// elsewhere or pending elsewhere: otherwise an admin could apply to its own union with a
    /// guessed name and mobile and read whether they are another union's member's (issue 13
    /// review).
    pub differs: Option<(bool, bool)>,
}

/// [`ReviewInfo`] of each pending application among `applications`, by application id.
pub async fn review_info<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    applications: &[Application],
) -> Result<HashMap<Uuid, ReviewInfo>, StoreError> {
    let mut info = HashMap::new();
    for a in applications.iter().filter(|a| a.status == "pending") {
        let member_of = members::active_of_id_number(conn, vault, &a.id_number)
            .await?
            .map(|(_, org_id)| org_id);
        let conflict = match member_of {
            Some(org_id) if org_id == a.org_id => Conflict::OnRosterHere,
            Some(_) => Conflict::OnRosterElsewhere,
            None => {
                let others = application::Entity::find()
                    .filter(
                        application::Column::IdNumberBidx.eq(people::id_number_index(
                            vault,
                            &a.id_number,
                        )
                        .to_vec()),
                    )
                    .filter(application::Column::Status.eq("pending"))
                    .filter(application::Column::Id.ne(a.id))
                    .count(conn)
                    .await?;
                if others > 0 {
                    Conflict::PendingElsewhere
                } else {
                    Conflict::None
                }
            }
        };
        let differs = match conflict {
            Conflict::OnRosterElsewhere | Conflict::PendingElsewhere => None,
            Conflict::None | Conflict::OnRosterHere => Some(
                people::find_by_id_number(conn, vault, &a.id_number)
                    .await?
                    .as_ref()
                    .map_or((false, false), |p| differences(p, a)),
            ),
        };
        info.insert(a.id, ReviewInfo { conflict, differs });
    }
    Ok(info)
}

/// Rejects a pending application of a union in `scope`, with the reason the applicant sees.
pub async fn reject(
    db: &Database,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Application, ReviewError> {
    let txn = db.begin_write().await?;
    let Some(application) = get_in_scope(&txn, vault, id, scope).await? else {
        return Err(ReviewError::NotFound);
    };
    close(&txn, id, "rejected", Some(reason), actor.user_id, now).await?;
    outbox::enqueue(
        &txn,
        REVIEWED_KIND,
        application.user_id,
        &reviewed_message(&application, "rejected", Some(reason)),
        now,
    )
    .await?;
    review_audit(&txn, actor, "application.reject", id, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Application {
        status: "rejected".to_owned(),
        reason: Some(reason.to_owned()),
        reviewed_at: Some(now),
        ..application
    })
}

async fn review_audit<C: crate::audit::AuditTxn>(
    txn: &C,
    actor: &Actor,
    action: &'static str,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit::record(
        txn,
        actor,
        &Entry {
            action,
            target_type: "application",
            target_id: Some(id.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        },
        now,
    )
    .await
}

/// An application on appendix 2's list: whether the applicant now has an active card, and the
/// drawn signature (base64 PNG) when asked for.
#[derive(Debug, Clone)]
pub struct ListedApplication {
    pub application: Application,
    /// Approved applications only: a pending one's ID number is the applicant's word, and its
    /// card status would tell an admin who applied with a guessed number whether that person
    /// holds a card (issue 13 review). Always `false` for a pending application.
    pub card_active: bool,
    pub signature_png: Option<Zeroizing<String>>,
}

/// The applications to union `org_id` that were not rejected, oldest first, for appendix 2's
/// list; drawn signatures are decrypted only `with_signatures`.
pub async fn signed_list<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    with_signatures: bool,
) -> Result<Vec<ListedApplication>, StoreError> {
    let rows = application::Entity::find()
        .filter(application::Column::OrgId.eq(org_id))
        .filter(application::Column::Status.ne("rejected"))
        .order_by_asc(application::Column::CreatedAt)
        .all(conn)
        .await?;
    let mut pngs = HashMap::new();
    if with_signatures {
        for row in &rows {
            if let Some(sealed) = &row.signature_png_enc {
                let png = APPLICATIONS_SIGNATURE_PNG
                    .open(vault, row.id, sealed)
                    .map_err(|_| {
                        StoreError::Other(format!("applications {}: unreadable signature", row.id))
                    })?;
                pngs.insert(row.id, png);
            }
        }
    }
    let mut listed = Vec::with_capacity(rows.len());
    for application in assemble(conn, vault, rows).await? {
        let card_active = application.status == "approved"
            && match people::find_by_id_number(conn, vault, &application.id_number).await? {
                Some(person) => crate::cards::live_card_of_person(conn, person.id)
                    .await?
                    .is_some_and(|c| c.status == crate::cards::CardStatus::Active),
                None => false,
            };
        listed.push(ListedApplication {
            signature_png: pngs.remove(&application.id),
            card_active,
            application,
        });
    }
    Ok(listed)
}
