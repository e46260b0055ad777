//! 进度通报: the monthly progress figures of the county's campaign.
//!
//! Figures are gathered per grassroots union by a handful of grouped aggregate queries (each
//! served by an index: see migration `m20261207_000101_reports`) and rolled up in memory to the
//! orgs directly under the caller. The current month is computed live; a past month is read
//! from its snapshot, taken once at the first minute of the next month (Beijing time) by
//! whichever instance inserts the month's row first (a lock in the shared store keeps the
//! others from even computing it).

use crate::audit::{self, Actor, Entry, Outcome};
use crate::entity::{
    application, card, cycle_confirmation, figures_refresh, membership, membership_event, org,
    org_figure, person, progress_snapshot, report_target, unit,
};
use crate::{Database, Ephemeral, StoreError};
use chrono::{DateTime, Utc};
use huigong_core::labels::OrgLevel;
use huigong_core::period::{HalfYear, Month};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use uuid::Uuid;

/// The figures of one org (or a roll-up of several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Figures {
    /// Approved grassroots unions with all 11 registration fields.
    pub unions_registered: u64,
    /// Units (employers) those unions cover.
    pub units_covered: u64,
    /// Active members on the rosters.
    pub members: u64,
    /// Of those, records with every roster field (and a mobile number).
    pub members_complete: u64,
    /// Live, activated 惠工卡 of active members.
    pub cards_active: u64,
    /// Online applications received in the month.
    pub applications_received: u64,
    /// Applications approved in the month.
    pub applications_approved: u64,
    /// Applications rejected in the month.
    pub applications_rejected: u64,
    /// Applications waiting for a decision (at the time of the figures).
    pub applications_pending: u64,
    /// Of those, waiting longer than the configured number of days.
    pub applications_overdue: u64,
    /// Membership changes (transfers, retirements, leaving, …) processed in the month.
    pub changes_processed: u64,
    /// Approved grassroots unions that have not confirmed the current half-year.
    pub unions_unconfirmed: u64,
}

impl std::ops::AddAssign for Figures {
    fn add_assign(&mut self, o: Self) {
        self.unions_registered += o.unions_registered;
        self.units_covered += o.units_covered;
        self.members += o.members;
        self.members_complete += o.members_complete;
        self.cards_active += o.cards_active;
        self.applications_received += o.applications_received;
        self.applications_approved += o.applications_approved;
        self.applications_rejected += o.applications_rejected;
        self.applications_pending += o.applications_pending;
        self.applications_overdue += o.applications_overdue;
        self.changes_processed += o.changes_processed;
        self.unions_unconfirmed += o.unions_unconfirmed;
    }
}

impl Figures {
    /// Cards activated per member, 0–1 (0 without members).
    pub fn activation_rate(&self) -> f64 {
        if self.members == 0 {
            0.0
        } else {
            self.cards_active as f64 / self.members as f64
        }
    }
}

/// A district's target, set by the county.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub members: Option<u64>,
    pub unions: Option<u64>,
}

fn n(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

async fn grouped<C: ConnectionTrait>(
    conn: &C,
    stmt: sea_orm::sea_query::SelectStatement,
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    let backend = conn.get_database_backend();
    let rows = conn.query_all_raw(backend.build(&stmt)).await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<Uuid>(0)?,
                r.try_get_by_index::<i64>(1)?,
            ))
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()
        .map_err(StoreError::from)
}

/// The roster's text fields: an empty one makes a record incomplete.
const TEXT_FIELDS: [membership::Column; 6] = [
    membership::Column::UnitName,
    membership::Column::Nationality,
    membership::Column::Education,
    membership::Column::HouseholdType,
    membership::Column::EmploymentStatus,
    membership::Column::UnionPost,
];

fn any_field_empty() -> Condition {
    TEXT_FIELDS.iter().fold(Condition::any(), |c, col| {
        c.add(Expr::col((membership::Entity, *col)).eq(""))
    })
}

/// The per-org figures of every org in `scope` for `month`, as they stand at `now`: flows
/// (applications, changes) counted within the month, stocks (members, cards, unions) at `now`
/// — members and cards from the maintained counters, so call [`refresh_counters`] first.
pub async fn figures_by_org<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    month: Month,
    now: DateTime<Utc>,
    overdue_days: u32,
) -> Result<HashMap<Uuid, Figures>, StoreError> {
    let (start, end) = (month.start(), month.end());
    // Waiting "now" for the current month, at the month's end for a past one.
    let as_of = std::cmp::min(now, end);
    let mut out: HashMap<Uuid, Figures> = HashMap::new();
    // Every org is in the county's scope: no filter then (the aggregates read indexes alone).
    let whole = is_county_scope(scope);
    let in_scope = || crate::orgs::ids_in_scope(scope);
    let scoped = |col: Expr| {
        if whole {
            Condition::all()
        } else {
            Condition::all().add(col.in_subquery(in_scope()))
        }
    };

    // Unions and their registration.
    let orgs = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .filter(org::Column::Level.eq(OrgLevel::Grassroots.label_zh()))
        .filter(org::Column::Status.eq("active"))
        .all(conn)
        .await?;
    let unit_counts: HashMap<Uuid, i64> = grouped(
        conn,
        Query::select()
            .column(unit::Column::OrgId)
            .expr(Expr::col(unit::Column::Id).count())
            .from(unit::Entity)
            .cond_where(scoped(Expr::col(unit::Column::OrgId)))
            .group_by_col(unit::Column::OrgId)
            .to_owned(),
    )
    .await?
    .into_iter()
    .collect();
    let period = HalfYear::of(as_of - chrono::Duration::seconds(1));
    let confirmed: std::collections::HashSet<Uuid> = cycle_confirmation::Entity::find()
        .select_only()
        .column(cycle_confirmation::Column::OrgId)
        .filter(cycle_confirmation::Column::Period.eq(period.to_string()))
        .filter(cycle_confirmation::Column::OrgId.in_subquery(in_scope()))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    for o in &orgs {
        let units = unit_counts.get(&o.id).copied().unwrap_or(0);
        let complete = o.founded_on.is_some()
            && o.union_type.is_some()
            && o.member_count_declared.is_some()
            && o.leader_name_enc.is_some()
            && o.phone_enc.is_some()
            && units > 0;
        let f = out.entry(o.id).or_default();
        if complete {
            f.unions_registered = 1;
            f.units_covered = n(units);
        }
        if !confirmed.contains(&o.id) {
            f.unions_unconfirmed = 1;
        }
    }

    // Members, complete records and cards: the maintained counters (see `refresh_counters`).
    let counters = org_figure::Entity::find()
        .filter(scoped(Expr::col(org_figure::Column::OrgId)))
        .all(conn)
        .await?;
    for c in counters {
        let f = out.entry(c.org_id).or_default();
        f.members = u64::try_from(c.members).unwrap_or(0);
        f.members_complete = u64::try_from(c.members_complete).unwrap_or(0);
        f.cards_active = u64::try_from(c.cards_active).unwrap_or(0);
    }

    // Applications: received, decided in the month; waiting now.
    let apps = |cond: Condition| {
        Query::select()
            .column(application::Column::OrgId)
            .expr(Expr::col(application::Column::Id).count())
            .from(application::Entity)
            .cond_where(cond.add(scoped(Expr::col(application::Column::OrgId))))
            .group_by_col(application::Column::OrgId)
            .to_owned()
    };
    let within = |col: application::Column| {
        Condition::all()
            .add(Expr::col(col).gte(start))
            .add(Expr::col(col).lt(end))
    };
    for (id, c) in grouped(conn, apps(within(application::Column::CreatedAt))).await? {
        out.entry(id).or_default().applications_received = n(c);
    }
    for (status, setter) in [
        (
            "approved",
            (|f: &mut Figures, v| f.applications_approved = v) as fn(&mut Figures, u64),
        ),
        ("rejected", |f: &mut Figures, v| f.applications_rejected = v),
    ] {
        let cond =
            within(application::Column::ReviewedAt).add(application::Column::Status.eq(status));
        for (id, c) in grouped(conn, apps(cond)).await? {
            setter(out.entry(id).or_default(), n(c));
        }
    }
    let pending = || Condition::all().add(application::Column::Status.eq("pending"));
    for (id, c) in grouped(
        conn,
        apps(pending().add(Expr::col(application::Column::CreatedAt).lt(end))),
    )
    .await?
    {
        out.entry(id).or_default().applications_pending = n(c);
    }
    let overdue_before = as_of - chrono::Duration::days(i64::from(overdue_days));
    for (id, c) in grouped(
        conn,
        apps(pending().add(Expr::col(application::Column::CreatedAt).lt(overdue_before))),
    )
    .await?
    {
        out.entry(id).or_default().applications_overdue = n(c);
    }

    // Membership changes processed in the month, counted for the union they left.
    let changes = Query::select()
        .column(membership_event::Column::FromOrgId)
        .expr(Expr::col(membership_event::Column::Id).count())
        .from(membership_event::Entity)
        .cond_where(scoped(Expr::col(membership_event::Column::FromOrgId)))
        .and_where(Expr::col(membership_event::Column::CreatedAt).gte(start))
        .and_where(Expr::col(membership_event::Column::CreatedAt).lt(end))
        .and_where(membership_event::Column::Kind.ne("transfer_requested"))
        .group_by_col(membership_event::Column::FromOrgId)
        .to_owned();
    for (id, c) in grouped(conn, changes).await? {
        out.entry(id).or_default().changes_processed = n(c);
    }
    Ok(out)
}

/// Members, complete records and live cards of one union.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stock {
    members: i64,
    incomplete: i64,
    cards: i64,
}

/// The stock figures of the unions in `only` (every union if `None`), counted from the
/// memberships, people and cards themselves.
async fn count_stock<C: ConnectionTrait>(
    conn: &C,
    only: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Stock>, StoreError> {
    let active = || {
        let c = Condition::all()
            .add(Expr::col((membership::Entity, membership::Column::Status)).eq("active"));
        match only {
            Some(ids) => c.add(
                Expr::col((membership::Entity, membership::Column::OrgId)).is_in(ids.to_vec()),
            ),
            None => c,
        }
    };
    let count_by_org = |cond: Condition| {
        Query::select()
            .column((membership::Entity, membership::Column::OrgId))
            .expr(Expr::col((membership::Entity, membership::Column::Id)).count())
            .from(membership::Entity)
            .cond_where(cond)
            .group_by_col((membership::Entity, membership::Column::OrgId))
            .to_owned()
    };
    let mut out: HashMap<Uuid, Stock> = HashMap::new();
    for (id, c) in grouped(conn, count_by_org(active())).await? {
        out.entry(id).or_default().members = c;
    }
    // Incomplete: an empty roster field, or (fields complete) no mobile.
    for (id, c) in grouped(conn, count_by_org(active().add(any_field_empty()))).await? {
        out.entry(id).or_default().incomplete += c;
    }
    let no_mobile = Query::select()
        .column((membership::Entity, membership::Column::OrgId))
        .expr(Expr::col((membership::Entity, membership::Column::Id)).count())
        .from(person::Entity)
        .inner_join(
            membership::Entity,
            Expr::col((membership::Entity, membership::Column::PersonId))
                .equals((person::Entity, person::Column::Id)),
        )
        .cond_where(
            active()
                .add(Expr::col((person::Entity, person::Column::MobileEnc)).is_null())
                .add(any_field_empty().not()),
        )
        .group_by_col((membership::Entity, membership::Column::OrgId))
        .to_owned();
    for (id, c) in grouped(conn, no_mobile).await? {
        out.entry(id).or_default().incomplete += c;
    }
    let cards = Query::select()
        .column((membership::Entity, membership::Column::OrgId))
        .expr(Expr::col((card::Entity, card::Column::Id)).count())
        .from(card::Entity)
        .inner_join(
            membership::Entity,
            Expr::col((membership::Entity, membership::Column::Id))
                .equals((card::Entity, card::Column::MembershipId)),
        )
        .cond_where(active().add(Expr::col((card::Entity, card::Column::Status)).eq("active")))
        .group_by_col((membership::Entity, membership::Column::OrgId))
        .to_owned();
    for (id, c) in grouped(conn, cards).await? {
        out.entry(id).or_default().cards = c;
    }
    Ok(out)
}

/// How far back each refresh looks again: a write committed later than the time it stamped
/// (a long transaction, another instance's clock) is still seen.
const REFRESH_OVERLAP: chrono::Duration = chrono::Duration::minutes(10);

/// How often a union whose newest write is older than its last count (a write that may have
/// committed after that count: a long transaction, another instance's clock) is counted again
/// while that write is within [`REFRESH_OVERLAP`]. A write stamped after the union's last count
/// is always counted at the next report.
const RECOUNT_EVERY: chrono::Duration = chrono::Duration::seconds(30);

/// The unions whose counters may have changed since `since`, each with the newest stamp of its
/// rows written since then: memberships, cards or people (every write stamps `updated_at`;
/// nothing is deleted).
async fn changed_unions<C: ConnectionTrait>(
    conn: &C,
    since: DateTime<Utc>,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    // No DISTINCT: with it SQLite scans the org index instead of the range of `updated_at`.
    let mut stamps: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    let mut note = |id: Uuid, at: DateTime<Utc>| {
        let newest = stamps.entry(id).or_insert(at);
        if at > *newest {
            *newest = at;
        }
    };
    let rows: Vec<(Uuid, DateTime<Utc>)> = membership::Entity::find()
        .select_only()
        .column(membership::Column::OrgId)
        .column(membership::Column::UpdatedAt)
        .filter(membership::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(conn)
        .await?;
    for (id, at) in rows {
        note(id, at);
    }
    let backend = conn.get_database_backend();
    for stmt in [
        Query::select()
            .column((membership::Entity, membership::Column::OrgId))
            .column((card::Entity, card::Column::UpdatedAt))
            .from(card::Entity)
            .inner_join(
                membership::Entity,
                Expr::col((membership::Entity, membership::Column::Id))
                    .equals((card::Entity, card::Column::MembershipId)),
            )
            .and_where(Expr::col((card::Entity, card::Column::UpdatedAt)).gte(since))
            .to_owned(),
        // A person's mobile counts for their active membership (its partial unique index).
        Query::select()
            .column((membership::Entity, membership::Column::OrgId))
            .column((person::Entity, person::Column::UpdatedAt))
            .from(person::Entity)
            .inner_join(
                membership::Entity,
                Expr::col((membership::Entity, membership::Column::PersonId))
                    .equals((person::Entity, person::Column::Id)),
            )
            .and_where(Expr::col((person::Entity, person::Column::UpdatedAt)).gte(since))
            .and_where(Expr::col((membership::Entity, membership::Column::Status)).eq("active"))
            .to_owned(),
    ] {
        for row in conn.query_all_raw(backend.build(&stmt)).await? {
            note(
                row.try_get_by_index::<Uuid>(0)?,
                row.try_get_by_index::<DateTime<Utc>>(1)?,
            );
        }
    }
    Ok(stamps)
}

/// Of the unions written within the overlap (`changed`: newest write stamp each), those to
/// count again at `now`: a union never counted, one written at or after its last count began,
/// and one whose newest write is older than its last count (it may have committed after it)
/// when that count is [`RECOUNT_EVERY`] old. Without the last rule every report within
/// [`REFRESH_OVERLAP`] of a write counted its union again (issue 14, item 5: over 1M members
/// the recounts were most of the report's time).
async fn to_recount<C: ConnectionTrait>(
    conn: &C,
    changed: HashMap<Uuid, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = changed.keys().copied().collect();
    let mut counted: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(Uuid, DateTime<Utc>)> = org_figure::Entity::find()
            .select_only()
            .column(org_figure::Column::OrgId)
            .column(org_figure::Column::RefreshedAt)
            .filter(org_figure::Column::OrgId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(conn)
            .await?;
        counted.extend(rows);
    }
    let mut out: Vec<Uuid> = changed
        .into_iter()
        .filter(|(id, newest)| match counted.get(id) {
            None => true,
            Some(last) => newest >= last || now - *last >= RECOUNT_EVERY,
        })
        .map(|(id, _)| id)
        .collect();
    out.sort();
    Ok(out)
}

/// Brings the maintained counters (`org_figures`: members, complete records, live cards per
/// union) up to date: the first time by counting everything, then only the unions whose
/// memberships, cards or people were written since the last refresh (less an overlap). Any
/// number of instances may refresh at once: each writes what it counted, and a union written
/// during a refresh is counted again by the next one. Called before every report.
pub async fn refresh_counters(db: &Database, now: DateTime<Utc>) -> Result<(), StoreError> {
    let last = figures_refresh::Entity::find_by_id(1)
        .one(&db.conn)
        .await?
        .map(|r| r.refreshed_from);
    let (dirty, counts) = match last {
        None => {
            let counts = count_stock(&db.conn, None).await?;
            let mut ids: Vec<Uuid> = counts.keys().copied().collect();
            ids.sort();
            (ids, counts)
        }
        Some(at) => {
            let changed = changed_unions(&db.conn, at - REFRESH_OVERLAP).await?;
            let ids = to_recount(&db.conn, changed, now).await?;
            let mut counts = HashMap::new();
            for chunk in ids.chunks(500) {
                counts.extend(count_stock(&db.conn, Some(chunk)).await?);
            }
            (ids, counts)
        }
    };
    if dirty.is_empty() && last.is_some() {
        return Ok(());
    }
    let txn = db.begin_write().await?;
    for chunk in dirty.chunks(500) {
        let rows: Vec<org_figure::ActiveModel> = chunk
            .iter()
            .map(|id| {
                let s = counts.get(id).copied().unwrap_or_default();
                let to_i32 = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
                org_figure::ActiveModel {
                    org_id: Set(*id),
                    members: Set(to_i32(s.members)),
                    members_complete: Set(to_i32(std::cmp::max(s.members - s.incomplete, 0))),
                    cards_active: Set(to_i32(s.cards)),
                    refreshed_at: Set(now),
                }
            })
            .collect();
        org_figure::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(org_figure::Column::OrgId)
                    .update_columns([
                        org_figure::Column::Members,
                        org_figure::Column::MembersComplete,
                        org_figure::Column::CardsActive,
                        org_figure::Column::RefreshedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*txn)
            .await?;
    }
    figures_refresh::Entity::insert(figures_refresh::ActiveModel {
        id: Set(1),
        refreshed_from: Set(now),
    })
    .on_conflict(
        OnConflict::column(figures_refresh::Column::Id)
            .update_column(figures_refresh::Column::RefreshedFrom)
            .to_owned(),
    )
    .exec_without_returning(&*txn)
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// One org directly under the report's org, with its subtree's figures.
#[derive(Debug, Clone)]
pub struct ProgressRow {
    pub org_id: Uuid,
    pub org_name: String,
    pub figures: Figures,
    /// The previous month's figures (its snapshot), when there is one.
    pub previous: Option<Figures>,
    pub target: Option<Target>,
}

/// The report of `month` for the org whose subtree is `scope`.
#[derive(Debug, Clone)]
pub struct Progress {
    pub month: Month,
    /// Computed now (the current month) rather than read from a snapshot.
    pub live: bool,
    /// When the snapshot was taken (past months).
    pub taken_at: Option<DateTime<Utc>>,
    /// Ranked by activation rate, highest first.
    pub rows: Vec<ProgressRow>,
    pub total: Figures,
    pub total_previous: Option<Figures>,
}

/// Why a report cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A month after the current one.
    #[error("future month")]
    FutureMonth,
    /// A past month without a snapshot (before the service ran).
    #[error("no snapshot")]
    NoSnapshot,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ReportError {
    fn from(e: sea_orm::DbErr) -> Self {
        ReportError::Store(e.into())
    }
}

async fn snapshot<C: ConnectionTrait>(
    conn: &C,
    month: Month,
) -> Result<Option<(HashMap<Uuid, Figures>, DateTime<Utc>)>, StoreError> {
    let Some(row) = progress_snapshot::Entity::find_by_id(month.to_string())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let figures: HashMap<Uuid, Figures> = serde_json::from_str(&row.figures)
        .map_err(|e| StoreError::Other(format!("snapshot {month}: {e}")))?;
    Ok(Some((figures, row.taken_at)))
}

/// Rolls per-org figures up to the orgs directly under the org with path `scope`.
fn roll_up(
    scope: &str,
    paths: &HashMap<Uuid, String>,
    figures: &HashMap<Uuid, Figures>,
) -> HashMap<Uuid, Figures> {
    let mut out: HashMap<Uuid, Figures> = HashMap::new();
    for (id, f) in figures {
        let Some(rest) = paths.get(id).and_then(|p| p.strip_prefix(scope)) else {
            continue;
        };
        let Some(child) = rest.split('/').next().and_then(|s| Uuid::parse_str(s).ok()) else {
            continue;
        };
        *out.entry(child).or_default() += *f;
    }
    out
}

/// The progress report of `month` for the org with path `scope`: one row per org directly
/// under it, ranked by activation rate, each with the previous month's figures when a snapshot
/// of it exists.
pub async fn progress(
    db: &Database,
    scope: &str,
    month: Month,
    now: DateTime<Utc>,
    overdue_days: u32,
) -> Result<Progress, ReportError> {
    let current = Month::of(now);
    if month > current {
        return Err(ReportError::FutureMonth);
    }
    let conn = &db.conn;
    if month == current {
        refresh_counters(db, now).await?;
    }
    let (figures, live, taken_at) = if month == current {
        (
            figures_by_org(conn, scope, month, now, overdue_days).await?,
            true,
            None,
        )
    } else {
        let (f, at) = snapshot(conn, month)
            .await?
            .ok_or(ReportError::NoSnapshot)?;
        (f, false, Some(at))
    };
    let previous = snapshot(conn, month.prev()).await?.map(|(f, _)| f);

    let Some(own) = org::Entity::find()
        .filter(org::Column::Path.eq(scope))
        .one(conn)
        .await?
    else {
        return Err(StoreError::NotFound.into());
    };
    let paths: HashMap<Uuid, String> = org::Entity::find()
        .select_only()
        .column(org::Column::Id)
        .column(org::Column::Path)
        .filter(org::Column::Path.starts_with(scope))
        .into_tuple::<(Uuid, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let children = org::Entity::find()
        .filter(org::Column::ParentId.eq(own.id))
        .filter(org::Column::Status.ne("rejected"))
        .order_by_asc(org::Column::Name)
        .all(conn)
        .await?;
    let targets: HashMap<Uuid, Target> = report_target::Entity::find()
        .filter(report_target::Column::OrgId.is_in(children.iter().map(|c| c.id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|t| {
            (
                t.org_id,
                Target {
                    members: t.members.and_then(|v| u64::try_from(v).ok()),
                    unions: t.unions.and_then(|v| u64::try_from(v).ok()),
                },
            )
        })
        .collect();
    let rolled = roll_up(scope, &paths, &figures);
    let rolled_prev = previous.as_ref().map(|p| roll_up(scope, &paths, p));
    let mut rows: Vec<ProgressRow> = children
        .into_iter()
        .map(|c| ProgressRow {
            figures: rolled.get(&c.id).copied().unwrap_or_default(),
            previous: rolled_prev
                .as_ref()
                .map(|p| p.get(&c.id).copied().unwrap_or_default()),
            target: targets.get(&c.id).copied(),
            org_id: c.id,
            org_name: c.name,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.figures
            .activation_rate()
            .total_cmp(&a.figures.activation_rate())
            .then(b.figures.members.cmp(&a.figures.members))
    });
    let mut total = Figures::default();
    for f in rolled.values() {
        total += *f;
    }
    let total_previous = rolled_prev.map(|p| {
        let mut t = Figures::default();
        for f in p.values() {
            t += *f;
        }
        t
    });
    Ok(Progress {
        month,
        live,
        taken_at,
        rows,
        total,
        total_previous,
    })
}

/// Active members of the scope at the end of each of the 12 months up to `month` (snapshots for
/// past months, `live` for the current one); months without a snapshot are left out.
pub async fn members_by_month<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    month: Month,
    live: Option<u64>,
) -> Result<Vec<(Month, u64)>, StoreError> {
    let mut months = vec![month];
    for _ in 0..11 {
        let m = months[months.len() - 1].prev();
        months.push(m);
    }
    months.reverse();
    let keys: Vec<String> = months.iter().map(ToString::to_string).collect();
    let rows = progress_snapshot::Entity::find()
        .filter(progress_snapshot::Column::Month.is_in(keys))
        .all(conn)
        .await?;
    let paths: HashMap<Uuid, String> = org::Entity::find()
        .select_only()
        .column(org::Column::Id)
        .column(org::Column::Path)
        .filter(org::Column::Path.starts_with(scope))
        .into_tuple::<(Uuid, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let mut by_month: BTreeMap<Month, u64> = BTreeMap::new();
    for r in rows {
        let (Some(m), Ok(f)) = (
            Month::parse(&r.month),
            serde_json::from_str::<HashMap<Uuid, Figures>>(&r.figures),
        ) else {
            continue;
        };
        let members = f
            .iter()
            .filter(|(id, _)| paths.contains_key(id))
            .map(|(_, f)| f.members)
            .sum();
        by_month.insert(m, members);
    }
    if let Some(v) = live {
        by_month.insert(month, v);
    }
    Ok(by_month.into_iter().collect())
}

/// What [`take_snapshot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOutcome {
    Taken,
    /// Another instance holds the month's lock or had already written it.
    AlreadyTaken,
}

/// Takes the snapshot of `month` (a month that has ended) unless one exists: exactly one
/// caller across instances takes it — the shared store's lock lets one compute, the month's
/// primary key refuses a second row whatever happens.
pub async fn take_snapshot(
    db: &Database,
    store: &dyn Ephemeral,
    month: Month,
    now: DateTime<Utc>,
    overdue_days: u32,
    taken_by: &str,
) -> Result<SnapshotOutcome, ReportError> {
    if month >= Month::of(now) {
        return Err(ReportError::FutureMonth);
    }
    if progress_snapshot::Entity::find_by_id(month.to_string())
        .one(&db.conn)
        .await?
        .is_some()
    {
        return Ok(SnapshotOutcome::AlreadyTaken);
    }
    let lock = format!("reports:snapshot:{month}");
    let locked = store
        .set_if_absent(&lock, taken_by.as_bytes(), Duration::from_secs(600))
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    if !locked {
        return Ok(SnapshotOutcome::AlreadyTaken);
    }
    refresh_counters(db, now).await?;
    let figures = figures_by_org(&db.conn, "/", month, now, overdue_days).await?;
    let json = serde_json::to_string(&figures).map_err(|e| StoreError::Other(e.to_string()))?;
    let txn = db.begin_write().await?;
    let inserted = progress_snapshot::Entity::insert(progress_snapshot::ActiveModel {
        month: Set(month.to_string()),
        figures: Set(json),
        taken_at: Set(now),
        taken_by: Set(taken_by.to_owned()),
    })
    .exec_without_returning(&*txn)
    .await
    .map_err(StoreError::from);
    match inserted {
        Ok(_) => {}
        Err(StoreError::Conflict) => return Ok(SnapshotOutcome::AlreadyTaken),
        Err(e) => return Err(e.into()),
    }
    txn.commit().await.map_err(StoreError::from)?;
    Ok(SnapshotOutcome::Taken)
}

/// Why a target cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not a district union in the caller's scope.
    #[error("not found")]
    NotFound,
    /// Only the county federation sets targets.
    #[error("county only")]
    CountyOnly,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The county (its admins' scope is the root: one org deep) sets district `org_id`'s target.
pub async fn set_target(
    db: &Database,
    scope: &str,
    org_id: Uuid,
    target: Target,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Target, TargetError> {
    if !is_county_scope(scope) {
        return Err(TargetError::CountyOnly);
    }
    let txn = db.begin_write().await?;
    let o = org::Entity::find_by_id(org_id)
        .one(&*txn)
        .await
        .map_err(StoreError::from)?
        .filter(|o| o.path.starts_with(scope) && o.level == OrgLevel::District.label_zh())
        .ok_or(TargetError::NotFound)?;
    let to_i32 = |v: Option<u64>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    report_target::Entity::insert(report_target::ActiveModel {
        org_id: Set(o.id),
        members: Set(to_i32(target.members)),
        unions: Set(to_i32(target.unions)),
        updated_by: Set(actor.user_id),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(report_target::Column::OrgId)
            .update_columns([
                report_target::Column::Members,
                report_target::Column::Unions,
                report_target::Column::UpdatedBy,
                report_target::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&*txn)
    .await
    .map_err(StoreError::from)?;
    audit::record(
        &txn,
        actor,
        &Entry {
            action: "report.target",
            target_type: "org",
            target_id: Some(o.id.to_string()),
            fields: &["members", "unions"],
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(target)
}

/// The scope of the county federation's administrators (`/county-id/`).
pub fn is_county_scope(scope: &str) -> bool {
    scope.matches('/').count() == 2
}
