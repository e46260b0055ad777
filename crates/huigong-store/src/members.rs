//! Memberships: a person in one grassroots union, with the roster's other fields. The
//! database allows one active membership per person in the whole county.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::card_views::{CardViews, StaleViews};
use crate::cards;
use crate::entity::{membership, org, person};
use crate::people::{self, Person, PersonInput};
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_vault::KeyRing;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// The roster's fields besides the person's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterFields {
    pub unit_name: String,
    pub nationality: String,
    pub education: String,
    pub household_type: String,
    pub employment_status: String,
    pub union_post: String,
}

/// A member, decrypted. Show it masked unless the reader may see it in full.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: Uuid,
    pub org_id: Uuid,
    pub status: String,
    /// 退休 (membership kept, still `active`) since this date.
    pub retired_on: Option<chrono::NaiveDate>,
    pub person: Person,
    pub fields: RosterFields,
    pub created_at: DateTime<Utc>,
}

/// Why a member could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    /// The person is already an active member (of this or another union). `name_matches`:
    /// whether the name given is the one recorded — without it, a caller outside that union
    /// must not be told the person is a member (issue 13, item 5).
    #[error("already an active member")]
    AlreadyMember {
        org_id: Uuid,
        org_name: String,
        name_matches: bool,
    },
    /// The person is on record (not an active member) with another name, or another mobile,
    /// and no [`Keep`] choice was made: nothing is overwritten silently (issue 13 review).
    #[error("the record's name or mobile differs")]
    RecordDiffers { name: bool, mobile: bool },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which details to keep when what is given for a person differs from their record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The name and mobile given replace the record's (audited `person.update`).
    Given,
    /// The record's name and mobile stay (a mobile not on record yet is filled in).
    Record,
}

impl Keep {
    fn audit_field(self) -> &'static str {
        match self {
            Keep::Given => "keep=given",
            Keep::Record => "keep=record",
        }
    }
}

/// Whether `name`, and `mobile`, differ from the person's record: the rule, written once, of
/// what may not be overwritten without a [`Keep`] choice. A mobile differs only when both are
/// given (one not on record yet is filled in).
pub fn record_differs(
    person: &Person,
    name: &str,
    mobile: Option<&huigong_core::phone::Mobile>,
) -> (bool, bool) {
    let mobile_differs = match (&person.mobile, mobile) {
        (Some(a), Some(b)) => a.as_str() != b.as_str(),
        _ => false,
    };
    (person.name.as_str() != name, mobile_differs)
}

async fn active_membership_of<C: ConnectionTrait>(
    conn: &C,
    person_id: Uuid,
) -> Result<Option<membership::Model>, StoreError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::PersonId.eq(person_id))
        .filter(membership::Column::Status.eq("active"))
        .one(conn)
        .await?)
}

async fn already_member<C: ConnectionTrait>(
    conn: &C,
    m: &membership::Model,
    name_matches: bool,
) -> AddMemberError {
    let org_name = match org::Entity::find_by_id(m.org_id).one(conn).await {
        Ok(Some(o)) => o.name,
        Ok(None) => String::new(),
        Err(e) => return AddMemberError::Store(e.into()),
    };
    AddMemberError::AlreadyMember {
        org_id: m.org_id,
        org_name,
        name_matches,
    }
}

/// Adds a member to grassroots union `org_id`: records (or updates) the person and creates the
/// membership, with audit events, in one transaction. Nothing is written when it fails. A
/// person on record with another name or mobile needs `keep` (see [`add_in`]). A corrected
/// name changes the view of the person's card (say, one suspended when they left): it is
/// invalidated after the commit.
#[allow(clippy::too_many_arguments)]
pub async fn add(
    db: &Database,
    vault: &KeyRing,
    views: &CardViews,
    org_id: Uuid,
    person: PersonInput<'_>,
    fields: &RosterFields,
    keep: Option<Keep>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Member, AddMemberError> {
    let txn = db.begin_write().await?;
    match add_in(&txn, vault, org_id, person, fields, keep, actor, now).await {
        Ok(member) => {
            let mut stale = StaleViews::new();
            stale.holders_of([member.person.id]);
            txn.commit().await.map_err(StoreError::from)?;
            views.invalidate(&db.conn, stale).await;
            Ok(member)
        }
        // A concurrent add of the same person won the unique index (on PostgreSQL the
        // transaction is aborted: look again outside it).
        Err(AddMemberError::Store(StoreError::Conflict)) => {
            drop(txn);
            let id = person.id_number;
            let existing = match people::find_by_id_number(&db.conn, vault, id).await? {
                Some(p) => active_membership_of(&db.conn, p.id)
                    .await?
                    .map(|m| (m, p.name.as_str() == person.name)),
                None => None,
            };
            Err(match existing {
                Some((m, name_matches)) => already_member(&db.conn, &m, name_matches).await,
                None => AddMemberError::Store(StoreError::Conflict),
            })
        }
        Err(e) => Err(e),
    }
}

/// [`add`] in the caller's transaction. A concurrent add of the same person that won the
/// unique index is `AddMemberError::Store(StoreError::Conflict)`; the caller must then roll
/// back.
///
/// A person on record (a former member, say) whose recorded name or mobile differs from the
/// one given is never overwritten silently: without `keep` the add is refused
/// (`AddMemberError::RecordDiffers`); with it, the choice is audited (`person.record_choice`,
/// fields: the differing ones and `keep=given|record`).
#[allow(clippy::too_many_arguments)]
pub async fn add_in<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    person: PersonInput<'_>,
    fields: &RosterFields,
    keep: Option<Keep>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Member, AddMemberError> {
    let known = people::find_by_id_number(txn, vault, person.id_number).await?;
    // An active member is refused before anything is written (a name given for them is not
    // the clerk's to correct from here).
    if let Some(known) = &known
        && let Some(existing) = active_membership_of(txn, known.id).await?
    {
        let name_matches = known.name.as_str() == person.name;
        return Err(already_member(txn, &existing, name_matches).await);
    }
    let mut choice: Option<(Keep, Vec<&'static str>)> = None;
    let person = match &known {
        Some(record) => {
            let (name, mobile) = record_differs(record, person.name, person.mobile);
            if !name && !mobile {
                person
            } else {
                let Some(keep) = keep else {
                    return Err(AddMemberError::RecordDiffers { name, mobile });
                };
                let mut differing = Vec::new();
                if name {
                    differing.push("name");
                }
                if mobile {
                    differing.push("mobile");
                }
                differing.push(keep.audit_field());
                choice = Some((keep, differing));
                match keep {
                    Keep::Given => person,
                    Keep::Record => PersonInput {
                        id_number: person.id_number,
                        name: record.name.as_str(),
                        mobile: record.mobile.is_none().then_some(person.mobile).flatten(),
                    },
                }
            }
        }
        None => person,
    };
    let (person, _) = people::save(txn, vault, person, actor, now).await?;
    if let Some((_, differing)) = &choice {
        audit::record(
            txn,
            actor,
            &Entry {
                action: "person.record_choice",
                target_type: "person",
                target_id: Some(person.id.to_string()),
                fields: differing,
                outcome: Outcome::Success,
            },
            now,
        )
        .await?;
    }
    if let Some(existing) = active_membership_of(txn, person.id).await? {
        return Err(already_member(txn, &existing, true).await);
    }
    let id = Uuid::now_v7();
    membership::Entity::insert(membership::ActiveModel {
        id: Set(id),
        person_id: Set(person.id),
        org_id: Set(org_id),
        unit_name: Set(fields.unit_name.clone()),
        nationality: Set(fields.nationality.clone()),
        education: Set(fields.education.clone()),
        household_type: Set(fields.household_type.clone()),
        employment_status: Set(fields.employment_status.clone()),
        union_post: Set(fields.union_post.clone()),
        status: Set("active".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await
    .map_err(StoreError::from)?;
    cards::follow_rejoin(txn, &[person.id], actor, now).await?;
    audit::record(
        txn,
        actor,
        &Entry {
            action: "member.create",
            target_type: "member",
            target_id: Some(id.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    Ok(Member {
        id,
        org_id,
        status: "active".to_owned(),
        retired_on: None,
        person,
        fields: fields.clone(),
        created_at: now,
    })
}

/// The active membership of the person with this ID number, if any.
pub async fn active_of_id_number<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id_number: &huigong_core::id_number::IdNumber,
) -> Result<Option<(Uuid, Uuid)>, StoreError> {
    let Some(person) = people::find_by_id_number(conn, vault, id_number).await? else {
        return Ok(None);
    };
    Ok(active_membership_of(conn, person.id)
        .await?
        .map(|m| (m.id, m.org_id)))
}

fn roster_fields(m: &membership::Model) -> RosterFields {
    RosterFields {
        unit_name: m.unit_name.clone(),
        nationality: m.nationality.clone(),
        education: m.education.clone(),
        household_type: m.household_type.clone(),
        employment_status: m.employment_status.clone(),
        union_post: m.union_post.clone(),
    }
}

pub(crate) async fn with_people<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    rows: Vec<membership::Model>,
) -> Result<Vec<Member>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|m| m.person_id).collect();
    let persons = people::get_many(conn, vault, &ids).await?;
    rows.into_iter()
        .map(|m| {
            let person = persons
                .get(&m.person_id)
                .cloned()
                .ok_or_else(|| StoreError::Other(format!("membership {} without person", m.id)))?;
            Ok(Member {
                id: m.id,
                org_id: m.org_id,
                status: m.status.clone(),
                retired_on: m.retired_on,
                fields: roster_fields(&m),
                person,
                created_at: m.created_at,
            })
        })
        .collect()
}

/// What an administrator's scope reaches of a membership. **The scope rule, written once**:
///
/// - The person's *current* data (name, mobile, the full record, the card) is reached only
///   through their current membership: the active one, when its union lies in the caller's
///   subtree (or an open transfer of it leaves from the subtree).
/// - A membership that has ended (transferred, left, deceased) on a union of the subtree
///   reaches only its own history: its roster fields as they were, the masked name and ID
///   number, and the history entries that touch the subtree.
/// - Anything else is the same as not existing (404).
///
/// Administrators of a dissolved union have no scope at all ([`crate::orgs::admin_scope`]).
#[derive(Debug, Clone)]
pub enum Reach {
    /// The current membership: current data, full reads, card actions.
    Current(Member),
    /// A membership that has ended (or moved): its history only.
    Historical(PastMember),
}

/// A membership that has ended, as its former union may still see it: nothing current (no
/// mobile, no full read), the identity masked.
#[derive(Debug, Clone)]
pub struct PastMember {
    pub id: Uuid,
    pub org_id: Uuid,
    pub status: String,
    pub retired_on: Option<chrono::NaiveDate>,
    /// The person, masked, without the mobile (see [`huigong_core::ShownPerson`]).
    pub shown: huigong_core::ShownPerson,
    pub fields: RosterFields,
    pub created_at: DateTime<Utc>,
}

/// Whether `scope` reaches membership `m` as the person's current one: `m` is active and its
/// union lies in the scope, or an open transfer of it leaves from an org in the scope.
pub(crate) async fn reaches_current<C: ConnectionTrait>(
    conn: &C,
    m: &membership::Model,
    scope: &str,
) -> Result<bool, StoreError> {
    if m.status != "active" {
        return Ok(false);
    }
    if org_in_scope(conn, m.org_id, scope).await? {
        return Ok(true);
    }
    use crate::entity::transfer;
    let open_out = transfer::Entity::find()
        .filter(transfer::Column::MembershipId.eq(m.id))
        .filter(transfer::Column::Status.eq("pending"))
        .filter(transfer::Column::FromOrgId.in_subquery(crate::orgs::ids_in_scope(scope)))
        .count(conn)
        .await?;
    Ok(open_out > 0)
}

async fn org_in_scope<C: ConnectionTrait>(
    conn: &C,
    org_id: Uuid,
    scope: &str,
) -> Result<bool, StoreError> {
    Ok(org::Entity::find_by_id(org_id)
        .one(conn)
        .await?
        .is_some_and(|o| o.path.starts_with(scope)))
}

/// The membership row `id` and how `scope` reaches it (see [`Reach`]): `None` when it does
/// not (or does not exist). For the store's own writes, which then read what they need.
pub(crate) async fn row_in_reach<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    scope: &str,
) -> Result<Option<(membership::Model, bool)>, StoreError> {
    let Some(m) = membership::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    if reaches_current(conn, &m, scope).await? {
        return Ok(Some((m, true)));
    }
    if org_in_scope(conn, m.org_id, scope).await? {
        return Ok(Some((m, false)));
    }
    Ok(None)
}

/// Membership `id` as `scope` reaches it (see [`Reach`]), or `None` (404).
pub async fn reach<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
) -> Result<Option<Reach>, StoreError> {
    let Some((m, current)) = row_in_reach(conn, id, scope).await? else {
        return Ok(None);
    };
    let Some(member) = with_people(conn, vault, vec![m]).await?.pop() else {
        return Ok(None);
    };
    if current {
        return Ok(Some(Reach::Current(member)));
    }
    let p = &member.person;
    Ok(Some(Reach::Historical(PastMember {
        id: member.id,
        org_id: member.org_id,
        status: member.status,
        retired_on: member.retired_on,
        shown: huigong_core::ShownPerson::masked(&p.name, &p.id_number, None),
        fields: member.fields,
        created_at: member.created_at,
    })))
}

/// The member with this id if `scope` reaches it as the person's current membership (see
/// [`Reach`]): what every read of current data and every action on the person or the card
/// goes through. A historical membership is `None`.
pub async fn get_in_scope<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
) -> Result<Option<Member>, StoreError> {
    Ok(match reach(conn, vault, id, scope).await? {
        Some(Reach::Current(m)) => Some(m),
        _ => None,
    })
}

/// Members of `org_id`, oldest first, one page, with the total.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Member>, u64), StoreError> {
    let query = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::Status.eq("active"));
    let total = query.clone().count(conn).await?;
    let rows = query
        .order_by_asc(membership::Column::Id)
        .offset(page.saturating_sub(1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((with_people(conn, vault, rows).await?, total))
}

/// Active memberships in `scope` of the people with this blind index (ID number or mobile),
/// and whose name is `name` when given.
pub async fn find_in_scope<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    by: person::Column,
    index: Vec<u8>,
    name: Option<&str>,
    scope: &str,
) -> Result<Vec<Member>, StoreError> {
    let person_ids: Vec<Uuid> = person::Entity::find()
        .select_only()
        .column(person::Column::Id)
        .filter(by.eq(index))
        .into_tuple()
        .all(conn)
        .await?;
    if person_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = membership::Entity::find()
        .filter(membership::Column::PersonId.is_in(person_ids))
        .filter(membership::Column::Status.eq("active"))
        .all(conn)
        .await?;
    let org_ids: Vec<Uuid> = rows.iter().map(|m| m.org_id).collect();
    let in_scope: Vec<Uuid> = org::Entity::find()
        .select_only()
        .column(org::Column::Id)
        .filter(org::Column::Id.is_in(org_ids))
        .filter(org::Column::Path.starts_with(scope))
        .into_tuple()
        .all(conn)
        .await?;
    let rows = rows
        .into_iter()
        .filter(|m| in_scope.contains(&m.org_id))
        .collect();
    let found = with_people(conn, vault, rows).await?;
    Ok(match name.map(str::trim) {
        Some(n) => found
            .into_iter()
            .filter(|m| m.person.name.as_str() == n)
            .collect(),
        None => found,
    })
}

/// Up to `limit` active members of union `org_id` whose name contains `name`, oldest first.
/// Names are stored encrypted only, so the roster is read page by page (one union's).
pub async fn find_by_name<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    name: &str,
    limit: usize,
) -> Result<Vec<Member>, StoreError> {
    let name = name.trim();
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = page_of(conn, vault, org_id, after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for m in page {
            if m.person.name.contains(name) {
                found.push(m);
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
    }
    Ok(found)
}

// ---- roster import ------------------------------------------------------------------------

/// One validated roster row to import.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub id_number: huigong_core::id_number::IdNumber,
    pub name: String,
    pub mobile: Option<huigong_core::phone::Mobile>,
    pub fields: RosterFields,
}

/// A row whose person is already an active member of another union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElsewhereConflict {
    /// Index into the imported rows.
    pub index: usize,
    pub org_id: Uuid,
    pub org_name: String,
    /// Whether the row's name is the one recorded for the person. Only then may the importer
    /// be told the person is a member elsewhere (issue 13, item 5); otherwise the row reads
    /// like a new person's in a dry run, and a commit refuses it with a neutral message.
    pub name_matches: bool,
}

/// A row whose person is on record, without an active membership, with another name or
/// mobile: an import does not overwrite them (issue 13 review); the row needs review (a single
/// add with a `keep` choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffersFromRecord {
    /// Index into the imported rows.
    pub index: usize,
    pub name: bool,
    pub mobile: bool,
}

/// What checking rows against the county's records found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportConflicts {
    /// Rows whose people are active members of another union.
    pub elsewhere: Vec<ElsewhereConflict>,
    /// Rows whose people are on record, not members, with another name or mobile.
    pub differs: Vec<DiffersFromRecord>,
}

impl ImportConflicts {
    pub fn is_empty(&self) -> bool {
        self.elsewhere.is_empty() && self.differs.is_empty()
    }
}

/// What a committed import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOutcome {
    /// New memberships.
    pub created: u64,
    /// Memberships of this union whose roster fields changed.
    pub updated: u64,
    /// Rows identical to what was stored.
    pub unchanged: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Some people are active members elsewhere, or on record with other details; nothing
    /// was written.
    #[error("{} rows belong to other unions, {} differ from the record", .0.elsewhere.len(), .0.differs.len())]
    Conflicts(ImportConflicts),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ImportError {
    fn from(e: sea_orm::DbErr) -> Self {
        ImportError::Store(e.into())
    }
}

/// Rows per batch of an import: per `IN (…)` list and per multi-row `INSERT`. A membership row
/// binds 13 values, so 2,000 rows stay well under SQLite's 32,766 and PostgreSQL's 65,535
/// bound parameters per statement, while a 100,000-row roster takes 50 round trips per step.
const CHUNK: usize = 2_000;

/// New memberships from one import above which PostgreSQL's statistics are refreshed.
const ANALYZE_AFTER: u64 = 5_000;

/// Person ids by blind index, for the rows' ID numbers.
async fn people_by_index<C: ConnectionTrait>(
    conn: &C,
    indexes: &[Vec<u8>],
) -> Result<std::collections::HashMap<Vec<u8>, Uuid>, StoreError> {
    let mut found = std::collections::HashMap::new();
    for chunk in indexes.chunks(CHUNK) {
        let rows: Vec<(Uuid, Vec<u8>)> = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .column(person::Column::IdNumberBidx)
            .filter(person::Column::IdNumberBidx.is_in(chunk.to_vec()))
            .into_tuple()
            .all(conn)
            .await?;
        for (id, bidx) in rows {
            found.insert(bidx, id);
        }
    }
    Ok(found)
}

/// Active memberships of these people.
async fn active_by_person<C: ConnectionTrait>(
    conn: &C,
    person_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, membership::Model>, StoreError> {
    let mut found = std::collections::HashMap::new();
    for chunk in person_ids.chunks(CHUNK) {
        for m in membership::Entity::find()
            .filter(membership::Column::PersonId.is_in(chunk.to_vec()))
            .filter(membership::Column::Status.eq("active"))
            .all(conn)
            .await?
        {
            found.insert(m.person_id, m);
        }
    }
    Ok(found)
}

/// The rows in conflict, the rows' blind indexes, and the people already known (by blind
/// index).
type Placement = (
    ImportConflicts,
    Vec<Vec<u8>>,
    std::collections::HashMap<Vec<u8>, Uuid>,
);

async fn elsewhere<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    rows: &[ImportRow],
) -> Result<Placement, StoreError> {
    let indexes: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| people::id_number_index(vault, &r.id_number).to_vec())
        .collect();
    let people = people_by_index(conn, &indexes).await?;
    let ids: Vec<Uuid> = people.values().copied().collect();
    // Only where each person is a member: a roster's worth of whole memberships is not needed.
    let mut union_of = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows: Vec<(Uuid, Uuid)> = membership::Entity::find()
            .select_only()
            .column(membership::Column::PersonId)
            .column(membership::Column::OrgId)
            .filter(membership::Column::PersonId.is_in(chunk.to_vec()))
            .filter(membership::Column::Status.eq("active"))
            .into_tuple()
            .all(conn)
            .await?;
        union_of.extend(rows);
    }
    // The recorded names of the people who are members elsewhere, and the records of the
    // people who are members nowhere (only those are decrypted).
    let decrypted_ids: Vec<Uuid> = people
        .values()
        .filter(|p| union_of.get(p).is_none_or(|&o| o != org_id))
        .copied()
        .collect();
    let recorded = crate::people::get_many(conn, vault, &decrypted_ids).await?;
    let mut names = std::collections::HashMap::new();
    let mut conflicts = Vec::new();
    let mut differs = Vec::new();
    for (index, bidx) in indexes.iter().enumerate() {
        let Some(person_id) = people.get(bidx) else {
            continue;
        };
        let Some(&member_of) = union_of.get(person_id) else {
            // On record, a member nowhere: its details are not overwritten by an import.
            if let Some(record) = recorded.get(person_id) {
                let row = &rows[index];
                let (name, mobile) = record_differs(record, &row.name, row.mobile.as_ref());
                if name || mobile {
                    differs.push(DiffersFromRecord {
                        index,
                        name,
                        mobile,
                    });
                }
            }
            continue;
        };
        if member_of == org_id {
            continue;
        }
        let name_matches = recorded
            .get(person_id)
            .is_some_and(|p| p.name.as_str() == rows[index].name);
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(member_of) {
            let name = org::Entity::find_by_id(member_of)
                .one(conn)
                .await?
                .map(|o| o.name)
                .unwrap_or_default();
            slot.insert(name);
        }
        conflicts.push(ElsewhereConflict {
            index,
            org_id: member_of,
            org_name: names.get(&member_of).cloned().unwrap_or_default(),
            name_matches,
        });
    }
    Ok((
        ImportConflicts {
            elsewhere: conflicts,
            differs,
        },
        indexes,
        people,
    ))
}

/// The rows whose people are already active members of another union, or on record with
/// other details (a dry run's check).
pub async fn import_conflicts<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    rows: &[ImportRow],
) -> Result<ImportConflicts, StoreError> {
    Ok(elsewhere(conn, vault, org_id, rows).await?.0)
}

/// Imports a validated roster into grassroots union `org_id` in one transaction: creates the
/// people not yet known, updates the names and mobiles of this union's members that changed
/// (people on record who are members nowhere keep theirs: a difference refuses the import,
/// see [`ImportConflicts::differs`]; a mobile not on record yet is filled in), creates or updates the
/// memberships, and records one audit event. Any conflict writes nothing. The cached card
/// views of the people whose name or membership changed are invalidated after the commit.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    db: &Database,
    vault: &KeyRing,
    views: &CardViews,
    org_id: Uuid,
    rows: &[ImportRow],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ImportOutcome, ImportError> {
    let txn = db.begin_write().await?;
    let started = std::time::Instant::now();
    let (conflicts, indexes, known) = elsewhere(&txn, vault, org_id, rows).await?;
    if !conflicts.is_empty() {
        return Err(ImportError::Conflicts(conflicts));
    }
    tracing::debug!(
        rows = rows.len(),
        ms = started.elapsed().as_millis(),
        "roster import: placed"
    );
    // People: insert the unknown ones in batches (the blind index decides who is known), each
    // batch built just before it is written.
    let mut ids = known.clone();
    let unknown: Vec<usize> = indexes
        .iter()
        .enumerate()
        .filter(|(_, bidx)| !known.contains_key(*bidx))
        .map(|(i, _)| i)
        .collect();
    for batch in unknown.chunks(CHUNK) {
        let mut models = Vec::with_capacity(batch.len());
        for &i in batch {
            let (row, bidx) = (&rows[i], &indexes[i]);
            let id = Uuid::now_v7();
            ids.insert(bidx.clone(), id);
            models.push(person::ActiveModel {
                id: Set(id),
                id_number_bidx: Set(bidx.clone()),
                id_number_enc: Set(crate::sealed::PEOPLE_ID_NUMBER.seal(
                    vault,
                    id,
                    row.id_number.as_str(),
                )),
                name_enc: Set(crate::sealed::PEOPLE_NAME.seal(vault, id, &row.name)),
                mobile_enc: Set(row
                    .mobile
                    .as_ref()
                    .map(|m| crate::sealed::PEOPLE_MOBILE.seal(vault, id, m.as_str()))),
                mobile_bidx: Set(row.mobile.as_ref().map(|m| {
                    vault
                        .blind_index(people::MOBILE_DOMAIN, m.as_str())
                        .to_vec()
                })),
                sex: Set(match row.id_number.sex() {
                    huigong_core::id_number::Sex::Male => "male".to_owned(),
                    huigong_core::id_number::Sex::Female => "female".to_owned(),
                }),
                birth_date: Set(row.id_number.birth_date()),
                created_at: Set(now),
                updated_at: Set(now),
            });
        }
        person::Entity::insert_many(models)
            .exec_without_returning(&txn)
            .await?;
    }
    tracing::debug!(
        new = unknown.len(),
        ms = started.elapsed().as_millis(),
        "roster import: people inserted"
    );
    // Then batch by batch, so that only one batch of people is decrypted at a time: the known
    // people whose name or mobile changed, and the memberships.
    let mut outcome = ImportOutcome::default();
    let mut new_members = Vec::with_capacity(CHUNK);
    // Known people whose name or membership this import changes: their cards show it.
    let mut touched: Vec<Uuid> = Vec::new();
    // Known people without an active membership who get one now.
    let mut rejoined: Vec<Uuid> = Vec::new();
    // Known people whose name or mobile this import corrects, with the fields: their
    // `person.update` events are recorded with the import's own at the end, so that the audit
    // chain's head is taken only just before the commit (every audited write in the system
    // waits for it while this transaction holds it).
    let mut corrected: Vec<(Uuid, Vec<&'static str>)> = Vec::new();
    for start in (0..rows.len()).step_by(CHUNK) {
        let batch = start..(start + CHUNK).min(rows.len());
        let known_ids: Vec<Uuid> = batch
            .clone()
            .filter_map(|i| known.get(&indexes[i]).copied())
            .collect();
        let current_people = people::get_many(&txn, vault, &known_ids).await?;
        for i in batch.clone() {
            let row = &rows[i];
            let Some(current) = known.get(&indexes[i]).and_then(|id| current_people.get(id)) else {
                continue;
            };
            let mobile_changed = row.mobile.is_some()
                && current.mobile.as_ref().map(|m| m.as_str())
                    != row.mobile.as_ref().map(|m| m.as_str());
            if current.name.as_str() != row.name {
                touched.push(current.id);
            }
            if current.name.as_str() != row.name || mobile_changed {
                let fields =
                    people::correct(&txn, vault, current, &row.name, row.mobile.as_ref(), now)
                        .await?;
                corrected.push((current.id, fields));
            }
        }
        // Only people known before this import can hold a membership already. (Asking for
        // the new ones too would scan a table this very loop is filling, before PostgreSQL's
        // statistics know it has grown.)
        let active = active_by_person(&txn, &known_ids).await?;
        for i in batch {
            let row = &rows[i];
            let person_id = *ids
                .get(&indexes[i])
                .ok_or_else(|| StoreError::Other("imported person not found".to_owned()))?;
            match active.get(&person_id) {
                Some(m) if roster_fields(m) == row.fields => outcome.unchanged += 1,
                Some(m) => {
                    touched.push(person_id);
                    membership::Entity::update(membership::ActiveModel {
                        id: Set(m.id),
                        unit_name: Set(row.fields.unit_name.clone()),
                        nationality: Set(row.fields.nationality.clone()),
                        education: Set(row.fields.education.clone()),
                        household_type: Set(row.fields.household_type.clone()),
                        employment_status: Set(row.fields.employment_status.clone()),
                        union_post: Set(row.fields.union_post.clone()),
                        updated_at: Set(now),
                        ..Default::default()
                    })
                    .exec(&txn)
                    .await?;
                    outcome.updated += 1;
                }
                None => {
                    // Someone known before: perhaps a member who left and now rejoins.
                    if known.contains_key(&indexes[i]) {
                        rejoined.push(person_id);
                    }
                    new_members.push(membership::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        person_id: Set(person_id),
                        org_id: Set(org_id),
                        unit_name: Set(row.fields.unit_name.clone()),
                        nationality: Set(row.fields.nationality.clone()),
                        education: Set(row.fields.education.clone()),
                        household_type: Set(row.fields.household_type.clone()),
                        employment_status: Set(row.fields.employment_status.clone()),
                        union_post: Set(row.fields.union_post.clone()),
                        status: Set("active".to_owned()),
                        created_at: Set(now),
                        updated_at: Set(now),
                        ..Default::default()
                    });
                    outcome.created += 1;
                }
            }
        }
        if !new_members.is_empty() {
            membership::Entity::insert_many(std::mem::take(&mut new_members))
                .exec_without_returning(&txn)
                .await?;
        }
    }
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        "roster import: memberships written"
    );
    let mut stale = StaleViews::new();
    for card in cards::follow_rejoin(&txn, &rejoined, actor, now).await? {
        stale.card(Some(&card));
    }
    stale.holders_of(touched);
    let updates: Vec<Entry<'_>> = corrected
        .iter()
        .map(|(id, fields)| Entry {
            action: "person.update",
            target_type: "person",
            target_id: Some(id.to_string()),
            fields,
            outcome: Outcome::Success,
        })
        .collect();
    let import = Entry {
        action: "roster.import",
        target_type: "org",
        target_id: Some(org_id.to_string()),
        fields: &["id_number", "name", "mobile"],
        outcome: Outcome::Success,
    };
    let events: Vec<_> = updates
        .iter()
        .chain(std::iter::once(&import))
        .map(|e| (actor, e, now))
        .collect();
    for chunk in events.chunks(256) {
        audit::record_all(&txn, chunk).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    views.invalidate(&db.conn, stale).await;
    // A large import changes the tables' sizes at once; let the planner know now rather than
    // when autovacuum gets to it, or the next reads of the roster may scan instead of seek.
    if outcome.created >= ANALYZE_AFTER
        && db.backend == crate::Backend::Postgres
        && let Err(e) = db
            .conn
            .execute_unprepared("ANALYZE people, memberships")
            .await
    {
        tracing::warn!(error = %e, "ANALYZE after a roster import failed");
    }
    Ok(outcome)
}

/// Up to `limit` active members of `org_id` after member `after` (by id, oldest first): a
/// roster read page by page, so that a large one is never held whole.
pub async fn page_of<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Member>, StoreError> {
    let mut query = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::Status.eq("active"));
    if let Some(after) = after {
        query = query.filter(membership::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(membership::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    with_people(conn, vault, rows).await
}
