//! Organisations and the units grassroots unions cover. Scope is a path prefix: an
//! administrator of an org sees every org whose path starts with its own.

use crate::StoreError;
use crate::audit::{self, Actor, Entry, Outcome};
use crate::entity::{membership, org, unit};
use crate::sealed::{ORGS_LEADER_NAME, ORGS_PHONE};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::labels::{OrgLevel, UnionType, UnitNature};
use huigong_core::phone::ContactPhone;
use huigong_core::unit_code::UnitCode;
use huigong_vault::KeyRing;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;
use zeroize::Zeroizing;

/// An employer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: Uuid,
    pub name: String,
    pub code: String,
    pub nature: UnitNature,
    /// What the nature is, for 其他 (stored as `其他：…` in `units.nature`).
    pub nature_other: Option<String>,
    pub address: String,
    pub employee_count: u32,
}

/// The notice's registration fields of a grassroots union.
#[derive(Debug, Clone)]
pub struct UnionDetails {
    pub founded_on: NaiveDate,
    pub union_type: UnionType,
    pub member_count_declared: u32,
    pub leader_name: Zeroizing<String>,
    pub phone: String,
    pub units: Vec<Unit>,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub level: OrgLevel,
    pub name: String,
    pub path: String,
    pub status: String,
    pub union: Option<UnionDetails>,
    /// 附件1's 备注, if any.
    pub remark: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A child org: its level, name, and for a grassroots union its registration.
#[derive(Debug, Clone, Copy)]
pub struct NewOrg<'a> {
    pub level: OrgLevel,
    pub name: &'a str,
    pub union: Option<&'a NewUnion<'a>>,
}

/// A unit (employer) a grassroots union covers, validated.
#[derive(Debug, Clone)]
pub struct NewUnit<'a> {
    pub name: &'a str,
    pub code: &'a UnitCode,
    pub nature: UnitNature,
    /// What the nature is, for 其他 (required then; see `UnitNature::parse_written`).
    pub nature_other: Option<&'a str>,
    pub address: &'a str,
    pub employee_count: u32,
}

/// A grassroots union's registration, validated: a 单建 union covers one unit, a 联合工会 or
/// 工会联合会 several.
#[derive(Debug, Clone)]
pub struct NewUnion<'a> {
    pub founded_on: NaiveDate,
    pub union_type: UnionType,
    pub member_count: u32,
    pub leader_name: &'a str,
    pub phone: &'a ContactPhone,
    pub units: Vec<NewUnit<'a>>,
}

fn bad(what: &str, id: Uuid) -> StoreError {
    StoreError::Other(format!("orgs {id}: unreadable {what}"))
}

async fn assemble<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    rows: Vec<org::Model>,
) -> Result<Vec<Org>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut units: HashMap<Uuid, Vec<Unit>> = HashMap::new();
    if !ids.is_empty() {
        for u in unit::Entity::find()
            .filter(unit::Column::OrgId.is_in(ids))
            .order_by_asc(unit::Column::CreatedAt)
            .all(conn)
            .await?
        {
            let (nature, nature_other) =
                UnitNature::parse_written(&u.nature).map_err(|_| bad("unit nature", u.org_id))?;
            units.entry(u.org_id).or_default().push(Unit {
                id: u.id,
                name: u.name,
                code: u.code,
                nature,
                nature_other,
                address: u.address,
                employee_count: u32::try_from(u.employee_count).unwrap_or_default(),
            });
        }
    }
    rows.into_iter()
        .map(|r| {
            let level = OrgLevel::parse_zh(&r.level).ok_or_else(|| bad("level", r.id))?;
            let union = match (
                r.founded_on,
                r.union_type.as_deref(),
                &r.leader_name_enc,
                &r.phone_enc,
            ) {
                (Some(founded_on), Some(union_type), Some(leader), Some(phone)) => {
                    Some(UnionDetails {
                        founded_on,
                        union_type: UnionType::parse_zh(union_type)
                            .ok_or_else(|| bad("union type", r.id))?,
                        member_count_declared: r
                            .member_count_declared
                            .and_then(|n| u32::try_from(n).ok())
                            .unwrap_or(0),
                        leader_name: ORGS_LEADER_NAME
                            .open(vault, r.id, leader)
                            .map_err(|_| bad("leader name", r.id))?,
                        phone: ORGS_PHONE
                            .open(vault, r.id, phone)
                            .map_err(|_| bad("phone", r.id))?
                            .to_string(),
                        units: units.remove(&r.id).unwrap_or_default(),
                    })
                }
                _ => None,
            };
            Ok(Org {
                id: r.id,
                parent_id: r.parent_id,
                level,
                name: r.name,
                path: r.path,
                status: r.status,
                union,
                remark: r.remark,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// The org, if it exists and lies within `scope` (a path prefix). Outside the scope is the
/// same answer as not existing.
pub async fn get_in_scope<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
) -> Result<Option<Org>, StoreError> {
    let Some(row) = org::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    if !row.path.starts_with(scope) {
        return Ok(None);
    }
    Ok(assemble(conn, vault, vec![row]).await?.pop())
}

/// A subquery of the ids of the orgs in `scope` (a path prefix), for `col.in_subquery(…)`: how
/// every table that points at an org is limited to an administrator's subtree.
pub fn ids_in_scope(scope: &str) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(org::Column::Id)
        .from(org::Entity)
        .and_where(org::Column::Path.starts_with(scope))
        .to_owned()
}

/// The path of an org (the scope of its administrators).
pub async fn path_of<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<String>, StoreError> {
    Ok(org::Entity::find_by_id(id).one(conn).await?.map(|o| o.path))
}

/// The scope an administrator of org `id` holds (see [`AdminScope`]).
pub async fn admin_scope<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<AdminScope, StoreError> {
    Ok(match org::Entity::find_by_id(id).one(conn).await? {
        None => AdminScope::NoOrg,
        Some(o) if o.status == "dissolved" => AdminScope::Dissolved,
        Some(o) => AdminScope::Subtree(o.path),
    })
}

/// What an administrator's account reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminScope {
    /// The org's subtree: every org whose path starts with this one.
    Subtree(String),
    /// The account's union was dissolved: its administrators lose every access.
    Dissolved,
    /// The account's org does not exist.
    NoOrg,
}

/// Records that `actor` read the leader's name and phone of these unions in full
/// (`org.read_full`, one event each), in one transaction. Call it before answering them.
pub async fn record_full_read(
    db: &crate::Database,
    ids: &[Uuid],
    fields: &'static [&'static str],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let targets: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let entries: Vec<Entry<'_>> = targets
        .iter()
        .map(|id| Entry {
            action: "org.read_full",
            target_type: "org",
            target_id: Some(id.clone()),
            fields,
            outcome: Outcome::Success,
        })
        .collect();
    let events: Vec<_> = entries.iter().map(|e| (actor, e, now)).collect();
    let txn = db.begin_write().await?;
    audit::record_all(&txn, &events).await?;
    txn.commit().await?;
    Ok(())
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub level: Option<OrgLevel>,
    /// Part of the name.
    pub name_contains: Option<String>,
    /// Only orgs with this status (`active`, `pending`, `rejected`, `dissolved`).
    pub status: Option<String>,
}

/// Orgs in `scope`, by path (parents before children), one page, with the total.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    scope: &str,
    filter: &ListFilter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Org>, u64), StoreError> {
    let (rows, total) = rows_page(conn, scope, filter, page, per_page).await?;
    Ok((assemble(conn, vault, rows).await?, total))
}

/// A union as anyone logged in may see it (what a worker picks when applying): no leader, no
/// phone — those stay sealed, not even decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUnion {
    pub id: Uuid,
    pub name: String,
    pub unit_names: Vec<String>,
}

/// As [`list`], in the public form: name and unit names only.
pub async fn list_public<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    filter: &ListFilter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<PublicUnion>, u64), StoreError> {
    let (rows, total) = rows_page(conn, scope, filter, page, per_page).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut units: HashMap<Uuid, Vec<String>> = HashMap::new();
    if !ids.is_empty() {
        let names: Vec<(Uuid, String)> = unit::Entity::find()
            .select_only()
            .column(unit::Column::OrgId)
            .column(unit::Column::Name)
            .filter(unit::Column::OrgId.is_in(ids))
            .order_by_asc(unit::Column::CreatedAt)
            .into_tuple()
            .all(conn)
            .await?;
        for (org_id, name) in names {
            units.entry(org_id).or_default().push(name);
        }
    }
    let unions = rows
        .into_iter()
        .map(|r| PublicUnion {
            unit_names: units.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
        })
        .collect();
    Ok((unions, total))
}

async fn rows_page<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    filter: &ListFilter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<org::Model>, u64), StoreError> {
    let mut query = org::Entity::find().filter(org::Column::Path.starts_with(scope));
    if let Some(level) = filter.level {
        query = query.filter(org::Column::Level.eq(level.label_zh()));
    }
    if let Some(q) = filter.name_contains.as_deref().filter(|q| !q.is_empty()) {
        query = query.filter(crate::like::contains_literally(org::Column::Name, q));
    }
    if let Some(status) = filter.status.as_deref() {
        query = query.filter(org::Column::Status.eq(status));
    }
    let total = query.clone().count(conn).await?;
    let rows = query
        .order_by_asc(org::Column::Path)
        .offset(page.saturating_sub(1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((rows, total))
}

/// Active members registered in each of `ids`.
pub async fn registered_member_counts<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, u64>, StoreError> {
    let mut counts = HashMap::new();
    if ids.is_empty() {
        return Ok(counts);
    }
    let rows: Vec<(Uuid, i64)> = membership::Entity::find()
        .select_only()
        .column(membership::Column::OrgId)
        .column_as(membership::Column::Id.count(), "n")
        .filter(membership::Column::OrgId.is_in(ids.to_vec()))
        .filter(membership::Column::Status.eq("active"))
        .group_by(membership::Column::OrgId)
        .into_tuple()
        .all(conn)
        .await?;
    for (id, n) in rows {
        counts.insert(id, u64::try_from(n).unwrap_or_default());
    }
    Ok(counts)
}

/// Creates a child org of `parent` in the caller's transaction, with its audit event.
/// A grassroots union comes with its first unit; a unit code already held by an approved
/// union is `StoreError::Conflict`.
pub async fn create<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    parent: &Org,
    new: &NewOrg<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Org, StoreError> {
    create_as(txn, vault, parent, new, "active", actor, now).await
}

/// [`create`] for a union submitted from below, `pending`: its units hold no unit code until
/// it is approved ([`hold_unit_codes`]), so a submission never blocks the unit's registration.
/// A unit code already held by an approved union is still `StoreError::Conflict`.
pub async fn create_pending<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    parent: &Org,
    new: &NewOrg<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Org, StoreError> {
    if let Some(u) = new.union {
        let codes: Vec<String> = u.units.iter().map(|u| u.code.as_str().to_owned()).collect();
        if !units_by_code(txn, &codes).await?.is_empty() {
            return Err(StoreError::Conflict);
        }
    }
    create_as(txn, vault, parent, new, "pending", actor, now).await
}

/// Whether an org of this status holds its units' codes: approved ones (active, or dissolved
/// since).
fn holds_codes(status: &str) -> bool {
    !matches!(status, "pending" | "rejected")
}

/// Makes union `org_id`'s units hold their codes (on approval). A code already held by
/// another (approved) union is `StoreError::Conflict`: the caller must roll back.
pub async fn hold_unit_codes<C: ConnectionTrait>(
    txn: &C,
    org_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let units = unit::Entity::find()
        .filter(unit::Column::OrgId.eq(org_id))
        .all(txn)
        .await?;
    let codes: Vec<String> = units.iter().map(|u| u.code.clone()).collect();
    if units_by_code(txn, &codes)
        .await?
        .values()
        .any(|p| p.org_id != org_id)
    {
        return Err(StoreError::Conflict);
    }
    for u in units {
        unit::Entity::update(unit::ActiveModel {
            id: Set(u.id),
            held_code: Set(Some(u.code)),
            updated_at: Set(now),
            ..Default::default()
        })
        .exec(txn)
        .await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn create_as<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    parent: &Org,
    new: &NewOrg<'_>,
    status: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Org, StoreError> {
    let NewOrg { level, name, union } = *new;
    let id = Uuid::now_v7();
    let path = format!("{}{id}/", parent.path);
    org::Entity::insert(org::ActiveModel {
        id: Set(id),
        parent_id: Set(Some(parent.id)),
        level: Set(level.label_zh().to_owned()),
        name: Set(name.to_owned()),
        path: Set(path),
        status: Set(status.to_owned()),
        founded_on: Set(union.map(|u| u.founded_on)),
        union_type: Set(union.map(|u| u.union_type.label_zh().to_owned())),
        member_count_declared: Set(union.map(|u| i32::try_from(u.member_count).unwrap_or(i32::MAX))),
        leader_name_enc: Set(union.map(|u| ORGS_LEADER_NAME.seal(vault, id, u.leader_name))),
        phone_enc: Set(union.map(|u| ORGS_PHONE.seal(vault, id, u.phone.as_str()))),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    if let Some(u) = union {
        insert_units(txn, id, &u.units, holds_codes(status), now).await?;
    }
    audit::record(
        txn,
        actor,
        &Entry {
            action: "org.create",
            target_type: "org",
            target_id: Some(id.to_string()),
            fields: if union.is_some() {
                &["leader_name", "phone"]
            } else {
                &[]
            },
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    let row = org::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    assemble(txn, vault, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

async fn insert_units<C: ConnectionTrait>(
    txn: &C,
    org_id: Uuid,
    units: &[NewUnit<'_>],
    held: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for u in units {
        unit::Entity::insert(unit::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(org_id),
            name: Set(u.name.to_owned()),
            code: Set(u.code.as_str().to_owned()),
            held_code: Set(held.then(|| u.code.as_str().to_owned())),
            nature: Set(u.nature.written(u.nature_other)),
            address: Set(u.address.to_owned()),
            employee_count: Set(i32::try_from(u.employee_count).unwrap_or(i32::MAX)),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// Where a registered unit is: its union and that union's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedUnit {
    pub org_id: Uuid,
    pub parent_id: Option<Uuid>,
}

/// The registered units among `codes` (normalised unit codes), by code: those of approved
/// unions (pending and rejected submissions hold no code).
pub async fn units_by_code<C: ConnectionTrait>(
    conn: &C,
    codes: &[String],
) -> Result<HashMap<String, PlacedUnit>, StoreError> {
    let mut placed = HashMap::new();
    for chunk in codes.chunks(500) {
        let units = unit::Entity::find()
            .filter(unit::Column::HeldCode.is_in(chunk.to_vec()))
            .all(conn)
            .await?;
        let org_ids: Vec<Uuid> = units.iter().map(|u| u.org_id).collect();
        let parents: HashMap<Uuid, Option<Uuid>> = org::Entity::find()
            .filter(org::Column::Id.is_in(org_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|o| (o.id, o.parent_id))
            .collect();
        for u in units {
            let parent_id = parents.get(&u.org_id).copied().flatten();
            placed.insert(
                u.code,
                PlacedUnit {
                    org_id: u.org_id,
                    parent_id,
                },
            );
        }
    }
    Ok(placed)
}

/// Replaces a grassroots union's registration: its name, the union fields, and its units
/// (a unit already covered is updated by code, a new one added; none is removed). Records
/// an `org.update` audit event. A unit code registered to another union is
/// `StoreError::Conflict`.
pub async fn update_union<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    name: &str,
    union: &NewUnion<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    org::Entity::update(org::ActiveModel {
        id: Set(org_id),
        name: Set(name.to_owned()),
        founded_on: Set(Some(union.founded_on)),
        union_type: Set(Some(union.union_type.label_zh().to_owned())),
        member_count_declared: Set(Some(i32::try_from(union.member_count).unwrap_or(i32::MAX))),
        leader_name_enc: Set(Some(ORGS_LEADER_NAME.seal(
            vault,
            org_id,
            union.leader_name,
        ))),
        phone_enc: Set(Some(ORGS_PHONE.seal(vault, org_id, union.phone.as_str()))),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    let codes: Vec<String> = union
        .units
        .iter()
        .map(|u| u.code.as_str().to_owned())
        .collect();
    let held = org::Entity::find_by_id(org_id)
        .one(txn)
        .await?
        .is_some_and(|o| holds_codes(&o.status));
    // The union's own units, and the units of approved unions (which hold their codes).
    let existing: HashMap<String, unit::Model> = unit::Entity::find()
        .filter(unit::Column::Code.is_in(codes))
        .filter(
            sea_orm::Condition::any()
                .add(unit::Column::OrgId.eq(org_id))
                .add(unit::Column::HeldCode.is_not_null()),
        )
        .all(txn)
        .await?
        .into_iter()
        .fold(HashMap::new(), |mut by_code, u| {
            // Another union's unit wins: the code is taken.
            let other = u.org_id != org_id;
            match by_code.entry(u.code.clone()) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(u);
                }
                std::collections::hash_map::Entry::Occupied(mut slot) if other => {
                    slot.insert(u);
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
            }
            by_code
        });
    let mut added = Vec::new();
    for u in &union.units {
        match existing.get(u.code.as_str()) {
            Some(current) if current.org_id != org_id => return Err(StoreError::Conflict),
            Some(current) => {
                unit::Entity::update(unit::ActiveModel {
                    id: Set(current.id),
                    name: Set(u.name.to_owned()),
                    nature: Set(u.nature.written(u.nature_other)),
                    address: Set(u.address.to_owned()),
                    employee_count: Set(i32::try_from(u.employee_count).unwrap_or(i32::MAX)),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .exec(txn)
                .await?;
            }
            None => added.push(u.clone()),
        }
    }
    insert_units(txn, org_id, &added, held, now).await?;
    audit::record(
        txn,
        actor,
        &Entry {
            action: "org.update",
            target_type: "org",
            target_id: Some(org_id.to_string()),
            fields: &["leader_name", "phone"],
            outcome: Outcome::Success,
        },
        now,
    )
    .await
}

/// Every grassroots union in `scope`, by path, with its units.
pub async fn grassroots_in<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    scope: &str,
) -> Result<Vec<Org>, StoreError> {
    let rows = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .filter(org::Column::Level.eq(OrgLevel::Grassroots.label_zh()))
        .order_by_asc(org::Column::Path)
        .all(conn)
        .await?;
    let mut orgs = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(500) {
        orgs.extend(assemble(conn, vault, chunk.to_vec()).await?);
    }
    Ok(orgs)
}

/// Who edits a grassroots union's registration (`PATCH /api/v1/admin/orgs/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    /// An administrator of an org above the union: its district, the county.
    Above,
    /// The union's own administrator.
    Own,
}

/// The registration fields only an administrator above a union may change: its type (单建,
/// 联合工会, 工会联合会) and which units it covers — what decides whether it is the union that
/// was approved. Its parent is changed by no edit at all.
pub const FIELDS_FOR_ABOVE_ONLY: &[&str] = &["union_type", "add_units", "remove_units"];

impl Editor {
    /// The first of `changed` (names of request fields) this editor may not change, if any.
    pub fn refused<'a>(self, changed: &[&'a str]) -> Option<&'a str> {
        match self {
            Editor::Above => None,
            Editor::Own => changed
                .iter()
                .copied()
                .find(|f| FIELDS_FOR_ABOVE_ONLY.contains(f)),
        }
    }
}

/// Org `id` as the registration an administrator of `scope` may edit, and as whom: an org
/// strictly below the scope (`Above`), or the administrator's own org when it is a grassroots
/// union (`Own`: the union keeps its own registration, except [`FIELDS_FOR_ABOVE_ONLY`]).
/// Anything else is `None` (outside the scope, or a district's own org): answered as absent.
pub async fn for_registration_edit<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
) -> Result<Option<(Org, Editor)>, StoreError> {
    let Some(org) = get_in_scope(conn, vault, id, scope).await? else {
        return Ok(None);
    };
    let editor = if org.path.len() > scope.len() {
        Editor::Above
    } else if org.level == OrgLevel::Grassroots {
        Editor::Own
    } else {
        return Ok(None);
    };
    Ok(Some((org, editor)))
}

/// A unit of an edited registration: an existing one (by id) with its new fields, or a new one.
#[derive(Debug, Clone)]
pub struct EditedUnit<'a> {
    pub id: Option<Uuid>,
    pub unit: NewUnit<'a>,
}

/// Sets grassroots union `org_id`'s registration to `union` (whose `units` are ignored) with
/// exactly the units `units`: an existing unit (by id, of this union) is updated, code
/// included; a new one is added; a unit of the union not listed is removed. A code held by
/// another union is `StoreError::Conflict` (the caller rolls back). Records `org.update` with
/// `changes`: the before/after of the non-personal fields (`member_count=80→90`), after the
/// names of the sealed fields written (`leader_name`, `phone`), which are never shown.
#[allow(clippy::too_many_arguments)]
pub async fn edit_union<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    name: &str,
    union: &NewUnion<'_>,
    units: &[EditedUnit<'_>],
    remark: Option<&str>,
    changes: &[String],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(row) = org::Entity::find_by_id(org_id).one(txn).await? else {
        return Err(StoreError::NotFound);
    };
    let held = holds_codes(&row.status);
    org::Entity::update(org::ActiveModel {
        id: Set(org_id),
        name: Set(name.to_owned()),
        founded_on: Set(Some(union.founded_on)),
        union_type: Set(Some(union.union_type.label_zh().to_owned())),
        member_count_declared: Set(Some(i32::try_from(union.member_count).unwrap_or(i32::MAX))),
        leader_name_enc: Set(Some(ORGS_LEADER_NAME.seal(
            vault,
            org_id,
            union.leader_name,
        ))),
        phone_enc: Set(Some(ORGS_PHONE.seal(vault, org_id, union.phone.as_str()))),
        remark: Set(remark.map(str::to_owned)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    let codes: Vec<String> = units
        .iter()
        .map(|u| u.unit.code.as_str().to_owned())
        .collect();
    if units_by_code(txn, &codes)
        .await?
        .values()
        .any(|p| p.org_id != org_id)
    {
        return Err(StoreError::Conflict);
    }
    let kept: Vec<Uuid> = units.iter().filter_map(|u| u.id).collect();
    // Removed units go first, so that a code moving between two of the union's units is free.
    unit::Entity::delete_many()
        .filter(unit::Column::OrgId.eq(org_id))
        .filter(unit::Column::Id.is_not_in(kept))
        .exec(txn)
        .await?;
    let mut added = Vec::new();
    for u in units {
        let Some(id) = u.id else {
            added.push(u.unit.clone());
            continue;
        };
        let code = u.unit.code.as_str().to_owned();
        let updated = unit::Entity::update_many()
            .set(unit::ActiveModel {
                name: Set(u.unit.name.to_owned()),
                code: Set(code.clone()),
                held_code: Set(held.then_some(code)),
                nature: Set(u.unit.nature.written(u.unit.nature_other)),
                address: Set(u.unit.address.to_owned()),
                employee_count: Set(i32::try_from(u.unit.employee_count).unwrap_or(i32::MAX)),
                updated_at: Set(now),
                ..Default::default()
            })
            .filter(unit::Column::Id.eq(id))
            .filter(unit::Column::OrgId.eq(org_id))
            .exec(txn)
            .await?;
        if updated.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
    }
    insert_units(txn, org_id, &added, held, now).await?;
    let mut fields: Vec<&str> = vec!["leader_name", "phone"];
    fields.extend(changes.iter().map(String::as_str));
    audit::record(
        txn,
        actor,
        &Entry {
            action: "org.update",
            target_type: "org",
            target_id: Some(org_id.to_string()),
            fields: &fields,
            outcome: Outcome::Success,
        },
        now,
    )
    .await
}

/// Sets the 备注 of org `org_id` (附件1), `None` to clear it.
pub async fn set_remark<C: ConnectionTrait>(
    txn: &C,
    org_id: Uuid,
    remark: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    org::Entity::update(org::ActiveModel {
        id: Set(org_id),
        remark: Set(remark.map(str::to_owned)),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    Ok(())
}
