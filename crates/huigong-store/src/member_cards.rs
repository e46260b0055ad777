//! Members with the state of their 惠工卡, for the admin views and the notice's 附件2: who
//! still has to activate. One query joins each membership to the person's live card (at most
//! one per person: `ux_cards_live_person`), so a page costs one query plus the people's.

use crate::StoreError;
use crate::entity::{card, membership};
use crate::members::{self, Member};
use chrono::{DateTime, Utc};
use huigong_vault::KeyRing;
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, RelationDef, Select,
};
use uuid::Uuid;

/// The state of a member's card as an administrator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// No live card: the member has not activated one (or it was cancelled).
    NotActivated,
    Active,
    /// Kept, but not usable while the membership is interrupted.
    Suspended,
}

impl CardState {
    pub const ALL: [CardState; 3] = [
        CardState::NotActivated,
        CardState::Active,
        CardState::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CardState::NotActivated => "not_activated",
            CardState::Active => "active",
            CardState::Suspended => "suspended",
        }
    }

    /// The label a clerk reads.
    pub fn label_zh(self) -> &'static str {
        match self {
            CardState::NotActivated => "未激活",
            CardState::Active => "已激活",
            CardState::Suspended => "已暂停",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        CardState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    fn of(card: Option<&card::Model>) -> Self {
        match card.map(|c| c.status.as_str()) {
            Some("active") => CardState::Active,
            Some("suspended") => CardState::Suspended,
            _ => CardState::NotActivated,
        }
    }
}

/// A member and their card.
#[derive(Debug, Clone)]
pub struct MemberCard {
    pub member: Member,
    pub card: CardState,
    /// Whether the card is bound to a WeChat account (有无微信).
    pub wechat_bound: bool,
    pub activated_at: Option<DateTime<Utc>>,
}

/// memberships LEFT JOIN cards ON the person's card that is not cancelled.
fn live_card() -> RelationDef {
    membership::Entity::belongs_to(card::Entity)
        .from(membership::Column::PersonId)
        .to(card::Column::PersonId)
        .on_condition(|_, right| {
            ExprTrait::ne(Expr::col((right, card::Column::Status)), "cancelled").into_condition()
        })
        .into()
}

/// The active members of union `org_id` joined to their live card, narrowed to `state`.
fn query(org_id: Uuid, state: Option<CardState>) -> Select<membership::Entity> {
    let mut query = membership::Entity::find()
        .join(JoinType::LeftJoin, live_card())
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::Status.eq("active"));
    query = match state {
        None => query,
        Some(CardState::NotActivated) => query.filter(card::Column::Id.is_null()),
        Some(CardState::Active) => query.filter(card::Column::Status.eq("active")),
        Some(CardState::Suspended) => query.filter(card::Column::Status.eq("suspended")),
    };
    query
}

async fn with_people<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    rows: Vec<(membership::Model, Option<card::Model>)>,
) -> Result<Vec<MemberCard>, StoreError> {
    let cards: Vec<Option<card::Model>> = rows.iter().map(|(_, c)| c.clone()).collect();
    let members =
        members::with_people(conn, vault, rows.into_iter().map(|(m, _)| m).collect()).await?;
    Ok(members
        .into_iter()
        .zip(cards)
        .map(|(member, card)| MemberCard {
            member,
            card: CardState::of(card.as_ref()),
            wechat_bound: card.as_ref().is_some_and(|c| c.user_id.is_some()),
            activated_at: card.map(|c| c.activated_at),
        })
        .collect())
}

/// Members of `org_id` whose card is in `state` (all when `None`), oldest first, one page,
/// with the total.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
    state: Option<CardState>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<MemberCard>, u64), StoreError> {
    let total = query(org_id, state).count(conn).await?;
    let rows = query(org_id, state)
        .select_also(card::Entity)
        .order_by_asc(membership::Column::Id)
        .offset(page.saturating_sub(1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((with_people(conn, vault, rows).await?, total))
}

/// Every active member of `org_id` with their card, in the roster's order (for 附件2).
pub async fn all<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
) -> Result<Vec<MemberCard>, StoreError> {
    let rows = query(org_id, None)
        .select_also(card::Entity)
        .order_by_asc(membership::Column::CreatedAt)
        .order_by_asc(membership::Column::Id)
        .all(conn)
        .await?;
    with_people(conn, vault, rows).await
}

/// The state of the live card of `person_id`.
pub async fn state_of<C: ConnectionTrait>(
    conn: &C,
    person_id: Uuid,
) -> Result<CardState, StoreError> {
    let card = card::Entity::find()
        .filter(card::Column::PersonId.eq(person_id))
        .filter(card::Column::Status.ne("cancelled"))
        .one(conn)
        .await?;
    Ok(CardState::of(card.as_ref()))
}

/// A member on the notice's 附件2 list.
#[derive(Debug, Clone)]
pub struct SigningEntry {
    pub member: MemberCard,
    /// When the member signed the declaration online (their approved application); `None`
    /// when they joined on paper (a roster entry or an import).
    pub signed_online_at: Option<DateTime<Utc>>,
    /// Whether the member applied online, through a WeChat account.
    pub applied_online: bool,
}

/// Every active member of `org_id` for 附件2: their card, and the online signature of the
/// approved application that made the membership. Three queries whatever the size.
pub async fn signing_list<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    org_id: Uuid,
) -> Result<Vec<SigningEntry>, StoreError> {
    use crate::entity::application;
    use sea_orm::sea_query::Query;
    let members = all(conn, vault, org_id).await?;
    let memberships = Query::select()
        .column(membership::Column::Id)
        .from(membership::Entity)
        .and_where(Expr::col(membership::Column::OrgId).eq(org_id))
        .and_where(Expr::col(membership::Column::Status).eq("active"))
        .to_owned();
    let signed: std::collections::HashMap<Uuid, DateTime<Utc>> = application::Entity::find()
        .select_only()
        .column(application::Column::MembershipId)
        .column(application::Column::CreatedAt)
        .filter(application::Column::Status.eq("approved"))
        .filter(application::Column::MembershipId.in_subquery(memberships))
        .into_tuple::<(Option<Uuid>, DateTime<Utc>)>()
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|(id, at)| id.map(|id| (id, at)))
        .collect();
    Ok(members
        .into_iter()
        .map(|member| {
            let signed_online_at = signed.get(&member.member.id).copied();
            SigningEntry {
                applied_online: signed_online_at.is_some(),
                signed_online_at,
                member,
            }
        })
        .collect())
}
