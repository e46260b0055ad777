//! 建会补助: the facts the rule ([`huigong_core::subsidy`]) looks at, per grassroots union, and
//! the county's approval and payment. A union is approved once (primary key) and paid once
//! (unique index on the payments' `org_id`): a second payment is refused by the database,
//! whatever the callers race.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::entity::{org, subsidy, subsidy_payment, unit};
use crate::reports::{figures_by_org, is_county_scope};
use crate::{Database, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::labels::{OrgLevel, UnitNature};
use huigong_core::period::Month;
use huigong_core::subsidy::{Missing, SubsidyRule, UnionFacts, Verdict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Where a union stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Does not qualify (yet): see `missing`.
    NotEligible,
    Eligible,
    /// Approved by the county, not yet paid.
    Approved,
    Paid,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotEligible => "not_eligible",
            Status::Eligible => "eligible",
            Status::Approved => "approved",
            Status::Paid => "paid",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Status::NotEligible => "暂不符合",
            Status::Eligible => "符合条件",
            Status::Approved => "已审批",
            Status::Paid => "已发放",
        }
    }
}

/// A payment made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub paid_on: NaiveDate,
    pub voucher_no: String,
    pub amount: u32,
}

/// One grassroots union on the subsidy list.
#[derive(Debug, Clone)]
pub struct Line {
    pub org_id: Uuid,
    pub org_name: String,
    pub facts: UnionFacts,
    pub status: Status,
    /// The amount due (eligible), approved or paid, in 元.
    pub amount: Option<u32>,
    pub missing: Vec<Missing>,
    pub approved_at: Option<DateTime<Utc>>,
    pub payment: Option<Payment>,
}

async fn lines<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    only: Option<Uuid>,
    rule: &SubsidyRule,
    now: DateTime<Utc>,
) -> Result<Vec<Line>, StoreError> {
    let mut q = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .filter(org::Column::Level.eq(OrgLevel::Grassroots.label_zh()))
        .filter(org::Column::Status.is_in(["active", "pending", "dissolved"]));
    if let Some(id) = only {
        q = q.filter(org::Column::Id.eq(id));
    }
    let unions = q.order_by_asc(org::Column::Path).all(conn).await?;
    if unions.is_empty() {
        return Ok(Vec::new());
    }
    // Members and complete records, as the progress report counts them.
    let figures = figures_by_org(conn, scope, Month::of(now), now, 7).await?;
    let ids: Vec<Uuid> = unions.iter().map(|u| u.id).collect();
    let mut units: HashMap<Uuid, Vec<unit::Model>> = HashMap::new();
    let mut approvals: HashMap<Uuid, subsidy::Model> = HashMap::new();
    let mut payments: HashMap<Uuid, subsidy_payment::Model> = HashMap::new();
    for chunk in ids.chunks(500) {
        for u in unit::Entity::find()
            .filter(unit::Column::OrgId.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            units.entry(u.org_id).or_default().push(u);
        }
        for a in subsidy::Entity::find()
            .filter(subsidy::Column::OrgId.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            approvals.insert(a.org_id, a);
        }
        for p in subsidy_payment::Entity::find()
            .filter(subsidy_payment::Column::OrgId.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            payments.insert(p.org_id, p);
        }
    }
    let amount = |v: i32| u32::try_from(v).unwrap_or(0);
    Ok(unions
        .into_iter()
        .map(|o| {
            let us = units.remove(&o.id).unwrap_or_default();
            let f = figures.get(&o.id).copied().unwrap_or_default();
            let facts = UnionFacts {
                approved: o.status == "active",
                founded_on: o.founded_on,
                natures: us
                    .iter()
                    .filter_map(|u| UnitNature::parse_written(&u.nature).ok().map(|(n, _)| n))
                    .collect(),
                employees: us
                    .iter()
                    .map(|u| u64::try_from(u.employee_count).unwrap_or(0))
                    .sum(),
                members: f.members,
                complete_members: f.members_complete,
            };
            let verdict = rule.judge(&facts);
            let approval = approvals.remove(&o.id);
            let payment = payments.remove(&o.id).map(|p| Payment {
                paid_on: p.paid_on,
                voucher_no: p.voucher_no,
                amount: amount(p.amount),
            });
            let (status, amount, missing) = match (&payment, &approval, verdict) {
                (Some(p), _, _) => (Status::Paid, Some(p.amount), Vec::new()),
                (None, Some(a), _) => (Status::Approved, Some(amount(a.amount)), Vec::new()),
                (None, None, Verdict::Eligible { amount }) => {
                    (Status::Eligible, Some(amount), Vec::new())
                }
                (None, None, Verdict::NotYet { missing }) => (Status::NotEligible, None, missing),
            };
            Line {
                org_id: o.id,
                org_name: o.name,
                facts,
                status,
                amount,
                missing,
                approved_at: approval.map(|a| a.approved_at),
                payment,
            }
        })
        .collect())
}

/// The subsidy list of the unions in `scope`: eligible, approved and paid ones with their
/// amounts, and the ones that do not qualify yet with what they lack.
pub async fn list(
    db: &Database,
    scope: &str,
    rule: &SubsidyRule,
    now: DateTime<Utc>,
) -> Result<Vec<Line>, StoreError> {
    crate::reports::refresh_counters(db, now).await?;
    lines(&db.conn, scope, None, rule, now).await
}

#[derive(Debug, thiserror::Error)]
pub enum SubsidyError {
    #[error("not found")]
    NotFound,
    /// Only the county federation approves and pays.
    #[error("county only")]
    CountyOnly,
    /// The union does not qualify: what it lacks.
    #[error("not eligible")]
    NotEligible(Vec<Missing>),
    #[error("already approved")]
    AlreadyApproved,
    /// Payment before approval.
    #[error("not approved")]
    NotApproved,
    #[error("already paid")]
    AlreadyPaid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for SubsidyError {
    fn from(e: sea_orm::DbErr) -> Self {
        SubsidyError::Store(e.into())
    }
}

async fn audit_step<C: crate::audit::AuditTxn>(
    txn: &C,
    actor: &Actor,
    action: &str,
    org_id: Uuid,
    fields: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    audit::record(
        txn,
        actor,
        &Entry {
            action,
            target_type: "org",
            target_id: Some(org_id.to_string()),
            fields,
            outcome: Outcome::Success,
        },
        now,
    )
    .await
}

/// The county approves union `org_id`'s subsidy at the amount the rule gives now.
pub async fn approve(
    db: &Database,
    scope: &str,
    org_id: Uuid,
    rule: &SubsidyRule,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Line, SubsidyError> {
    if !is_county_scope(scope) {
        return Err(SubsidyError::CountyOnly);
    }
    crate::reports::refresh_counters(db, now).await?;
    let txn = db.begin_write().await?;
    let mut line = lines(&*txn, scope, Some(org_id), rule, now)
        .await?
        .pop()
        .ok_or(SubsidyError::NotFound)?;
    let amount = match line.status {
        Status::Eligible => line.amount.unwrap_or(0),
        Status::NotEligible => return Err(SubsidyError::NotEligible(line.missing)),
        Status::Approved | Status::Paid => return Err(SubsidyError::AlreadyApproved),
    };
    let inserted = subsidy::Entity::insert(subsidy::ActiveModel {
        org_id: Set(org_id),
        amount: Set(i32::try_from(amount).unwrap_or(i32::MAX)),
        employee_count: Set(i32::try_from(line.facts.employees).unwrap_or(i32::MAX)),
        approved_by: Set(actor.user_id),
        approved_at: Set(now),
    })
    .exec_without_returning(&*txn)
    .await
    .map_err(StoreError::from);
    match inserted {
        Ok(_) => {}
        Err(StoreError::Conflict) => return Err(SubsidyError::AlreadyApproved),
        Err(e) => return Err(e.into()),
    }
    audit_step(&txn, actor, "subsidy.approve", org_id, &["amount"], now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    line.status = Status::Approved;
    line.approved_at = Some(now);
    Ok(line)
}

/// The county records the payment of union `org_id`'s approved subsidy: once.
pub async fn pay(
    db: &Database,
    scope: &str,
    org_id: Uuid,
    paid_on: NaiveDate,
    voucher_no: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Payment, SubsidyError> {
    if !is_county_scope(scope) {
        return Err(SubsidyError::CountyOnly);
    }
    let txn = db.begin_write().await?;
    org::Entity::find_by_id(org_id)
        .one(&*txn)
        .await?
        .filter(|o| o.path.starts_with(scope))
        .ok_or(SubsidyError::NotFound)?;
    let approval = subsidy::Entity::find_by_id(org_id)
        .one(&*txn)
        .await?
        .ok_or(SubsidyError::NotApproved)?;
    let inserted = subsidy_payment::Entity::insert(subsidy_payment::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        amount: Set(approval.amount),
        paid_on: Set(paid_on),
        voucher_no: Set(voucher_no.to_owned()),
        paid_by: Set(actor.user_id),
        created_at: Set(now),
    })
    .exec_without_returning(&*txn)
    .await
    .map_err(StoreError::from);
    match inserted {
        Ok(_) => {}
        Err(StoreError::Conflict) => return Err(SubsidyError::AlreadyPaid),
        Err(e) => return Err(e.into()),
    }
    audit_step(
        &txn,
        actor,
        "subsidy.pay",
        org_id,
        &["paid_on", "voucher_no"],
        now,
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Payment {
        paid_on,
        voucher_no: voucher_no.to_owned(),
        amount: u32::try_from(approval.amount).unwrap_or(0),
    })
}
