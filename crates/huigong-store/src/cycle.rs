//! The half-year cycle (每年1月、7月更新, 及时入库归档): a grassroots union confirms its data for
//! the current half-year, and its roster is archived as it stood — a frozen copy whose personal
//! data is sealed under the archive's own table context, like the live rows, so "who were the
//! members of union X on 2026-07-01" has an answer long after they changed.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::entity::{cycle_confirmation, membership, membership_event, org, roster_archive};
use crate::members::{self, RosterFields};
use crate::sealed::{ROSTER_ARCHIVES_ID_NUMBER, ROSTER_ARCHIVES_MOBILE, ROSTER_ARCHIVES_NAME};
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_core::labels::OrgLevel;
use huigong_core::period::HalfYear;
use huigong_core::{IdNumber, Mobile, Sex};
use huigong_vault::KeyRing;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// No such org in the caller's scope.
    #[error("not found")]
    NotFound,
    #[error("not grassroots")]
    NotGrassroots,
    /// The union is pending, rejected or dissolved.
    #[error("wrong state: {0}")]
    WrongState(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for CycleError {
    fn from(e: sea_orm::DbErr) -> Self {
        CycleError::Store(e.into())
    }
}

/// A union's confirmation of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub id: Uuid,
    pub org_id: Uuid,
    pub period: String,
    pub confirmed_at: DateTime<Utc>,
    /// Members archived with it.
    pub member_count: u64,
}

fn confirmation(c: cycle_confirmation::Model) -> Confirmation {
    Confirmation {
        id: c.id,
        org_id: c.org_id,
        period: c.period,
        confirmed_at: c.confirmed_at,
        member_count: u64::try_from(c.member_count).unwrap_or(0),
    }
}

/// Union `id` (in `scope`) confirms its data for the current half-year at `now`, in the
/// caller's transaction: its roster is archived and `orgs.confirmed_at` set, audited. A second
/// confirmation of the same period changes nothing and answers the first (the archive stays
/// as it was first confirmed).
pub async fn confirm_in<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Confirmation, CycleError> {
    let o = org::Entity::find_by_id(id)
        .one(txn)
        .await?
        .filter(|o| o.path.starts_with(scope))
        .ok_or(CycleError::NotFound)?;
    if o.level != OrgLevel::Grassroots.label_zh() {
        return Err(CycleError::NotGrassroots);
    }
    if o.status != "active" {
        return Err(CycleError::WrongState(o.status));
    }
    let period = HalfYear::of(now).to_string();
    if let Some(done) = cycle_confirmation::Entity::find()
        .filter(cycle_confirmation::Column::OrgId.eq(id))
        .filter(cycle_confirmation::Column::Period.eq(period.clone()))
        .one(txn)
        .await?
    {
        return Ok(confirmation(done));
    }
    let confirmation_id = Uuid::now_v7();
    // The header row first: the archive's rows point at it.
    cycle_confirmation::Entity::insert(cycle_confirmation::ActiveModel {
        id: Set(confirmation_id),
        org_id: Set(id),
        period: Set(period.clone()),
        confirmed_at: Set(now),
        confirmed_by: Set(actor.user_id),
        member_count: Set(0),
    })
    .exec_without_returning(txn)
    .await?;
    // Page by page, in roster order (the export's order).
    let mut seq: i32 = 0;
    let mut after = None;
    loop {
        let page = members::page_of(txn, vault, id, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let rows: Vec<roster_archive::ActiveModel> = page
            .iter()
            .map(|m| {
                seq += 1;
                let row = Uuid::now_v7();
                let p = &m.person;
                roster_archive::ActiveModel {
                    id: Set(row),
                    confirmation_id: Set(confirmation_id),
                    seq: Set(seq),
                    person_id: Set(p.id),
                    id_number_enc: Set(ROSTER_ARCHIVES_ID_NUMBER.seal(
                        vault,
                        row,
                        p.id_number.as_str(),
                    )),
                    name_enc: Set(ROSTER_ARCHIVES_NAME.seal(vault, row, &p.name)),
                    mobile_enc: Set(p
                        .mobile
                        .as_ref()
                        .map(|x| ROSTER_ARCHIVES_MOBILE.seal(vault, row, x.as_str()))),
                    sex: Set(match p.sex {
                        Sex::Male => "male",
                        Sex::Female => "female",
                    }
                    .to_owned()),
                    nationality: Set(m.fields.nationality.clone()),
                    education: Set(m.fields.education.clone()),
                    household_type: Set(m.fields.household_type.clone()),
                    unit_name: Set(m.fields.unit_name.clone()),
                    employment_status: Set(m.fields.employment_status.clone()),
                    union_post: Set(m.fields.union_post.clone()),
                    created_at: Set(now),
                }
            })
            .collect();
        roster_archive::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    cycle_confirmation::Entity::update_many()
        .col_expr(cycle_confirmation::Column::MemberCount, Expr::value(seq))
        .filter(cycle_confirmation::Column::Id.eq(confirmation_id))
        .exec(txn)
        .await?;
    org::Entity::update_many()
        .col_expr(org::Column::ConfirmedAt, Expr::value(Some(now)))
        .filter(org::Column::Id.eq(id))
        .exec(txn)
        .await?;
    audit::record(
        txn,
        actor,
        &Entry {
            action: "org.confirm_current",
            target_type: "org",
            target_id: Some(id.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    Ok(Confirmation {
        id: confirmation_id,
        org_id: id,
        period,
        confirmed_at: now,
        member_count: u64::try_from(seq).unwrap_or(0),
    })
}

/// [`confirm_in`] in a write transaction of its own.
pub async fn confirm(
    db: &Database,
    vault: &KeyRing,
    id: Uuid,
    scope: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Confirmation, CycleError> {
    let txn = db.begin_write().await?;
    let done = confirm_in(&txn, vault, id, scope, actor, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(done)
}

/// A grassroots union in the cycle report.
#[derive(Debug, Clone)]
pub struct CycleLine {
    pub org_id: Uuid,
    pub org_name: String,
    pub confirmation: Option<Confirmation>,
    /// Not confirmed and the update month (January or July) is over.
    pub overdue: bool,
    /// Members who joined during the period.
    pub joined: u64,
    /// Membership changes (transfers out, retirements, leaving, …) during the period.
    pub changes: u64,
}

/// Every approved grassroots union of `scope` with its confirmation of `period` (or overdue),
/// and the changes of its roster during the period.
pub async fn report<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    period: HalfYear,
    now: DateTime<Utc>,
) -> Result<Vec<CycleLine>, StoreError> {
    let unions = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .filter(org::Column::Level.eq(OrgLevel::Grassroots.label_zh()))
        .filter(org::Column::Status.eq("active"))
        .order_by_asc(org::Column::Path)
        .all(conn)
        .await?;
    let in_scope = || crate::orgs::ids_in_scope(scope);
    let mut confirmations: HashMap<Uuid, Confirmation> = cycle_confirmation::Entity::find()
        .filter(cycle_confirmation::Column::Period.eq(period.to_string()))
        .filter(cycle_confirmation::Column::OrgId.in_subquery(in_scope()))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.org_id, confirmation(c)))
        .collect();
    let (start, end) = (period.start(), period.end());
    let joined: HashMap<Uuid, i64> = membership::Entity::find()
        .select_only()
        .column(membership::Column::OrgId)
        .column_as(membership::Column::Id.count(), "n")
        .filter(membership::Column::OrgId.in_subquery(in_scope()))
        .filter(membership::Column::CreatedAt.gte(start))
        .filter(membership::Column::CreatedAt.lt(end))
        .group_by(membership::Column::OrgId)
        .into_tuple::<(Uuid, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let changes: HashMap<Uuid, i64> = membership_event::Entity::find()
        .select_only()
        .column(membership_event::Column::FromOrgId)
        .column_as(membership_event::Column::Id.count(), "n")
        .filter(membership_event::Column::FromOrgId.in_subquery(in_scope()))
        .filter(membership_event::Column::CreatedAt.gte(start))
        .filter(membership_event::Column::CreatedAt.lt(end))
        .filter(membership_event::Column::Kind.ne("transfer_requested"))
        .group_by(membership_event::Column::FromOrgId)
        .into_tuple::<(Uuid, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let due = period.due();
    Ok(unions
        .into_iter()
        .map(|o| {
            let confirmation = confirmations.remove(&o.id);
            CycleLine {
                overdue: confirmation.is_none() && now >= due,
                joined: u64::try_from(joined.get(&o.id).copied().unwrap_or(0)).unwrap_or(0),
                changes: u64::try_from(changes.get(&o.id).copied().unwrap_or(0)).unwrap_or(0),
                confirmation,
                org_id: o.id,
                org_name: o.name,
            }
        })
        .collect())
}

/// A member of an archived roster, decrypted.
pub struct ArchivedMember {
    pub seq: u32,
    pub id_number: IdNumber,
    pub name: Zeroizing<String>,
    pub mobile: Option<Mobile>,
    pub sex: Sex,
    pub fields: RosterFields,
}

fn unreadable(id: Uuid) -> StoreError {
    StoreError::Other(format!("roster_archives {id}: unreadable"))
}

/// The roster union `org_id` archived when it confirmed `period` (`None`: not confirmed).
pub async fn archived_roster<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    period: HalfYear,
) -> Result<Option<(Confirmation, Vec<ArchivedMember>)>, StoreError> {
    let Some(c) = cycle_confirmation::Entity::find()
        .filter(cycle_confirmation::Column::OrgId.eq(org_id))
        .filter(cycle_confirmation::Column::Period.eq(period.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let rows = roster_archive::Entity::find()
        .filter(roster_archive::Column::ConfirmationId.eq(c.id))
        .order_by_asc(roster_archive::Column::Seq)
        .all(conn)
        .await?;
    let confirmed_on = c.confirmed_at.date_naive();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id_text = ROSTER_ARCHIVES_ID_NUMBER
            .open(vault, r.id, &r.id_number_enc)
            .map_err(|_| unreadable(r.id))?;
        let id_number = IdNumber::parse(&id_text, confirmed_on).map_err(|_| unreadable(r.id))?;
        let mobile = match &r.mobile_enc {
            Some(m) => Some(
                Mobile::parse(
                    &ROSTER_ARCHIVES_MOBILE
                        .open(vault, r.id, m)
                        .map_err(|_| unreadable(r.id))?,
                )
                .map_err(|_| unreadable(r.id))?,
            ),
            None => None,
        };
        out.push(ArchivedMember {
            seq: u32::try_from(r.seq).unwrap_or(0),
            name: ROSTER_ARCHIVES_NAME
                .open(vault, r.id, &r.name_enc)
                .map_err(|_| unreadable(r.id))?,
            id_number,
            mobile,
            sex: if r.sex == "female" {
                Sex::Female
            } else {
                Sex::Male
            },
            fields: RosterFields {
                unit_name: r.unit_name,
                nationality: r.nationality,
                education: r.education,
                household_type: r.household_type,
                employment_status: r.employment_status,
                union_post: r.union_post,
            },
        });
    }
    Ok(Some((confirmation(c), out)))
}
