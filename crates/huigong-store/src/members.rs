//! Memberships: a person in one grassroots union, with the roster's other fields. The
//! database allows one active membership per person in the whole county.

use crate::audit::{self, Actor, Entry, Outcome};
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
    pub person: Person,
    pub fields: RosterFields,
    pub created_at: DateTime<Utc>,
}

/// Why a member could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    /// The person is already an active member (of this or another union).
    #[error("already an active member")]
    AlreadyMember { org_id: Uuid, org_name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
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

async fn already_member<C: ConnectionTrait>(conn: &C, m: &membership::Model) -> AddMemberError {
    let org_name = match org::Entity::find_by_id(m.org_id).one(conn).await {
        Ok(Some(o)) => o.name,
        Ok(None) => String::new(),
        Err(e) => return AddMemberError::Store(e.into()),
    };
    AddMemberError::AlreadyMember {
        org_id: m.org_id,
        org_name,
    }
}

/// Adds a member to grassroots union `org_id`: records (or updates) the person and creates the
/// membership, with audit events, in one transaction. Nothing is written when it fails.
pub async fn add(
    db: &Database,
    vault: &KeyRing,
    org_id: Uuid,
    person: PersonInput<'_>,
    fields: &RosterFields,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Member, AddMemberError> {
    let txn = db.begin_write().await?;
    let (person, _) = people::save(&txn, vault, person, actor, now).await?;
    if let Some(existing) = active_membership_of(&txn, person.id).await? {
        return Err(already_member(&txn, &existing).await);
    }
    let id = Uuid::now_v7();
    let inserted = membership::Entity::insert(membership::ActiveModel {
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
    })
    .exec_without_returning(&txn)
    .await;
    match inserted {
        Ok(_) => {}
        // A concurrent add of the same person won the unique index.
        Err(e) if matches!(StoreError::from(e.clone()), StoreError::Conflict) => {
            drop(txn);
            let conflict = match active_membership_of(&db.conn, person.id).await? {
                Some(m) => already_member(&db.conn, &m).await,
                None => AddMemberError::Store(StoreError::Conflict),
            };
            return Err(conflict);
        }
        Err(e) => return Err(AddMemberError::Store(e.into())),
    }
    audit::record(
        &txn,
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
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Member {
        id,
        org_id,
        status: "active".to_owned(),
        person,
        fields: fields.clone(),
        created_at: now,
    })
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

async fn with_people<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    rows: Vec<membership::Model>,
) -> Result<Vec<Member>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|m| m.person_id).collect();
    let mut persons = std::collections::HashMap::new();
    if !ids.is_empty() {
        for row in person::Entity::find()
            .filter(person::Column::Id.is_in(ids))
            .all(conn)
            .await?
        {
            let person = people::decrypt(vault, row)?;
            persons.insert(person.id, person);
        }
    }
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
                fields: roster_fields(&m),
                person,
                created_at: m.created_at,
            })
        })
        .collect()
}

/// The member with this id, if it belongs to an org in `scope` (a path prefix).
pub async fn get_in_scope<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
) -> Result<Option<Member>, StoreError> {
    let Some(m) = membership::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    let in_scope = org::Entity::find_by_id(m.org_id)
        .one(conn)
        .await?
        .is_some_and(|o| o.path.starts_with(scope));
    if !in_scope {
        return Ok(None);
    }
    Ok(with_people(conn, vault, vec![m]).await?.pop())
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

/// Active memberships in `scope` of the people with this blind index (ID number or mobile).
pub async fn find_in_scope<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    by: person::Column,
    index: Vec<u8>,
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
    with_people(conn, vault, rows).await
}
