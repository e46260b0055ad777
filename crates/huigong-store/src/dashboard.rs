//! The figures of an administrator's 工作台 (the console's first page), for one scope.

use crate::StoreError;
use crate::entity::{application, card, membership, transfer};
use chrono::{DateTime, Utc};
use huigong_core::period::{HalfYear, Month};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

/// What waits for the administrators of one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dashboard {
    /// Applications to join a union in scope, waiting for a decision.
    pub applications_pending: u64,
    /// Transfers of members into a union in scope, waiting to be accepted or refused.
    pub transfers_incoming: u64,
    /// Approved grassroots unions in scope that have not confirmed the current half-year's
    /// update and whose update month is over.
    pub unions_overdue: u64,
    /// 惠工卡 of members in scope activated since the start of the (Beijing) month.
    pub cards_activated_this_month: u64,
}

/// The 工作台 figures of `scope` (an org path: its whole subtree) at `now`.
pub async fn figures<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Dashboard, StoreError> {
    let in_scope = || crate::orgs::ids_in_scope(scope);
    let applications_pending = application::Entity::find()
        .filter(application::Column::OrgId.in_subquery(in_scope()))
        .filter(application::Column::Status.eq("pending"))
        .count(conn)
        .await?;
    let transfers_incoming = transfer::Entity::find()
        .filter(transfer::Column::ToOrgId.in_subquery(in_scope()))
        .filter(transfer::Column::Status.eq("pending"))
        .count(conn)
        .await?;
    let unions_overdue = crate::cycle::report(conn, scope, HalfYear::of(now), now)
        .await?
        .iter()
        .filter(|line| line.overdue)
        .count() as u64;
    let members_in_scope = sea_orm::sea_query::Query::select()
        .column(membership::Column::Id)
        .from(membership::Entity)
        .and_where(membership::Column::OrgId.in_subquery(in_scope()))
        .to_owned();
    let cards_activated_this_month = card::Entity::find()
        .select_only()
        .column(card::Column::Id)
        .filter(card::Column::MembershipId.in_subquery(members_in_scope))
        .filter(card::Column::ActivatedAt.gte(Month::of(now).start()))
        .count(conn)
        .await?;
    Ok(Dashboard {
        applications_pending,
        transfers_incoming,
        unions_overdue,
        cards_activated_this_month,
    })
}
