//! Union services (惠工服务): what the county federation and the district unions offer workers,
//! by the notice's categories, and whether a worker's card qualifies.

use crate::StoreError;
use crate::audit::{self, Actor, Entry, Outcome};
use crate::cards::{self, CardStatus};
use crate::db::Database;
use crate::entity::{benefit, membership, org};
use chrono::{DateTime, Utc};
use huigong_core::labels::BenefitCategory;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use std::collections::HashMap;
use uuid::Uuid;

/// A service, with the org offering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Benefit {
    pub id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    /// The offering org's path: members of unions under it qualify.
    pub org_path: String,
    pub category: BenefitCategory,
    pub title: String,
    pub provider: String,
    pub how_to_use: String,
    pub contact: String,
    pub members_only: bool,
    pub active: bool,
    pub updated_at: DateTime<Utc>,
}

/// A service's editable fields, validated.
#[derive(Debug, Clone, Copy)]
pub struct BenefitInput<'a> {
    pub category: BenefitCategory,
    pub title: &'a str,
    pub provider: &'a str,
    pub how_to_use: &'a str,
    pub contact: &'a str,
    pub members_only: bool,
    pub active: bool,
}

async fn assemble<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<benefit::Model>,
) -> Result<Vec<Benefit>, StoreError> {
    let mut ids: Vec<Uuid> = rows.iter().map(|r| r.org_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let orgs: HashMap<Uuid, org::Model> = org::Entity::find()
        .filter(org::Column::Id.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    rows.into_iter()
        .map(|r| {
            let category = BenefitCategory::parse_zh(&r.category)
                .ok_or_else(|| StoreError::Other(format!("benefits {}: unknown category", r.id)))?;
            let offering = orgs.get(&r.org_id);
            Ok(Benefit {
                id: r.id,
                org_id: r.org_id,
                org_name: offering.map(|o| o.name.clone()).unwrap_or_default(),
                org_path: offering.map(|o| o.path.clone()).unwrap_or_default(),
                category,
                title: r.title,
                provider: r.provider,
                how_to_use: r.how_to_use,
                contact: r.contact,
                members_only: r.members_only,
                active: r.active,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

fn audit_entry(action: &'static str, id: Uuid) -> Entry<'static> {
    Entry {
        action,
        target_type: "benefit",
        target_id: Some(id.to_string()),
        fields: &[],
        outcome: Outcome::Success,
    }
}

/// Adds a service offered by `org_id`, with its audit event.
pub async fn create(
    db: &Database,
    org_id: Uuid,
    input: BenefitInput<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Benefit, StoreError> {
    let txn = db.begin_write().await?;
    let id = Uuid::now_v7();
    benefit::Entity::insert(benefit::ActiveModel {
        id: Set(id),
        org_id: Set(org_id),
        category: Set(input.category.label_zh().to_owned()),
        title: Set(input.title.to_owned()),
        provider: Set(input.provider.to_owned()),
        how_to_use: Set(input.how_to_use.to_owned()),
        contact: Set(input.contact.to_owned()),
        members_only: Set(input.members_only),
        active: Set(input.active),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    audit::record(&txn, actor, &audit_entry("benefit.create", id), now).await?;
    let row = benefit::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let created = assemble(&txn, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(created)
}

/// Replaces the fields of service `id` if its offering org is in `scope`; `None` otherwise.
pub async fn update(
    db: &Database,
    id: Uuid,
    scope: &str,
    input: BenefitInput<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Benefit>, StoreError> {
    let txn = db.begin_write().await?;
    let Some(current) = get_in_scope(&txn, id, scope).await? else {
        return Ok(None);
    };
    benefit::Entity::update(benefit::ActiveModel {
        id: Set(current.id),
        category: Set(input.category.label_zh().to_owned()),
        title: Set(input.title.to_owned()),
        provider: Set(input.provider.to_owned()),
        how_to_use: Set(input.how_to_use.to_owned()),
        contact: Set(input.contact.to_owned()),
        members_only: Set(input.members_only),
        active: Set(input.active),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    audit::record(&txn, actor, &audit_entry("benefit.update", id), now).await?;
    let updated = get_in_scope(&txn, id, scope).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(updated)
}

/// Service `id`, if its offering org is in `scope`.
pub async fn get_in_scope<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    scope: &str,
) -> Result<Option<Benefit>, StoreError> {
    let Some(row) = benefit::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    Ok(assemble(conn, vec![row])
        .await?
        .pop()
        .filter(|b| b.org_path.starts_with(scope)))
}

/// The services offered by orgs in `scope` (for their administrators), by category and title.
pub async fn list_in_scope<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
) -> Result<Vec<Benefit>, StoreError> {
    let rows = benefit::Entity::find()
        .filter(benefit::Column::OrgId.in_subquery(crate::orgs::ids_in_scope(scope)))
        .order_by_asc(benefit::Column::Category)
        .order_by_asc(benefit::Column::Title)
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

/// The active services, optionally of one category, by category and title.
pub async fn active<C: ConnectionTrait>(
    conn: &C,
    category: Option<BenefitCategory>,
) -> Result<Vec<Benefit>, StoreError> {
    let mut query = benefit::Entity::find().filter(benefit::Column::Active.eq(true));
    if let Some(category) = category {
        query = query.filter(benefit::Column::Category.eq(category.label_zh()));
    }
    let rows = query
        .order_by_asc(benefit::Column::Category)
        .order_by_asc(benefit::Column::Title)
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

/// The path of the union holding the user's active card, if the user has one.
pub async fn card_union_path<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
) -> Result<Option<String>, StoreError> {
    let Some(card) = cards::live_card_of_user(conn, user_id).await? else {
        return Ok(None);
    };
    if card.status != CardStatus::Active {
        return Ok(None);
    }
    let Some(m) = membership::Entity::find_by_id(card.membership_id)
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(org::Entity::find_by_id(m.org_id)
        .one(conn)
        .await?
        .map(|o| o.path))
}

impl Benefit {
    /// Whether a worker whose active card belongs to the union at `card_union_path` (none: no
    /// active card) may use this service: open services to everyone; members-only ones to
    /// holders of an active card in the offering org's subtree.
    pub fn qualifies(&self, card_union_path: Option<&str>) -> bool {
        !self.members_only || card_union_path.is_some_and(|p| p.starts_with(&self.org_path))
    }
}
