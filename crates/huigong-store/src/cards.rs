//! The 惠工卡: activation (one person, one card, one WeChat account), the holder's view,
//! admin unbinding, status changes that follow the membership, and one-time redemption of the
//! live QR code's tokens.
//!
//! The database enforces the rules: a partial unique index allows one card per person among
//! cards not cancelled, another one card per bound WeChat account. Activation runs in a write
//! transaction and, when a concurrent activation wins an index, starts over and sees its card.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::card_views::{CardViews, StaleViews};
use crate::entity::{card, membership, org, person};
use crate::ephemeral::{Ephemeral, EphemeralError};
use crate::people;
use crate::sealed::{PEOPLE_NAME, Sealed};
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_core::card_number::card_number_from_random;
use huigong_core::id_number::IdNumber;
use huigong_core::mask::mask_name;
use huigong_vault::KeyRing;
use huigong_vault::qr::{self, QrKey, QrTokenError};
use rand::RngCore as _;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QuerySelect, Select,
};
use std::time::Duration;
use uuid::Uuid;

/// A card's state. Only an active card shows a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Active,
    /// The membership is interrupted (for example the member left): the card is kept.
    Suspended,
    /// For good (for example the holder died); the person may get a new card later.
    Cancelled,
}

impl CardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Active => "active",
            CardStatus::Suspended => "suspended",
            CardStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(CardStatus::Active),
            "suspended" => Some(CardStatus::Suspended),
            "cancelled" => Some(CardStatus::Cancelled),
            _ => None,
        }
    }
}

/// A card as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub id: Uuid,
    pub card_number: String,
    pub person_id: Uuid,
    pub membership_id: Uuid,
    pub user_id: Option<Uuid>,
    pub status: CardStatus,
    pub activated_at: DateTime<Utc>,
    pub unbound_at: Option<DateTime<Utc>>,
}

impl TryFrom<card::Model> for Card {
    type Error = StoreError;

    fn try_from(m: card::Model) -> Result<Self, StoreError> {
        let status = CardStatus::parse(&m.status)
            .ok_or_else(|| StoreError::Other(format!("card {}: unknown status", m.id)))?;
        Ok(Card {
            id: m.id,
            card_number: m.card_number,
            person_id: m.person_id,
            membership_id: m.membership_id,
            user_id: m.user_id,
            status,
            activated_at: m.activated_at,
            unbound_at: m.unbound_at,
        })
    }
}

/// What the holder (and the confirmation screen) sees: masked name, union, unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub person_id: Uuid,
    pub membership_id: Uuid,
    /// `张*`: never the full name.
    pub holder_masked: String,
    pub union_name: String,
    pub unit_name: String,
}

/// What the holder's card shows (`GET /api/v1/card`, and what the card-view cache holds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShownCard {
    pub card_number: String,
    pub status: CardStatus,
    /// `张*`: the only form the card shows the name in (and the only one cached).
    pub holder_masked: String,
    pub union_name: String,
    pub unit_name: String,
    pub activated_at: DateTime<Utc>,
}

/// A card query joined to what a card shows: the membership it stands for, that membership's
/// union, and the holder (for the sealed name). The worker's card view and the merchant's till
/// view both read through these joins.
pub(crate) fn joined_to_holder(select: Select<card::Entity>) -> Select<card::Entity> {
    joined_to_membership(select)
        .join(
            JoinType::InnerJoin,
            membership::Entity::belongs_to(org::Entity)
                .from(membership::Column::OrgId)
                .to(org::Column::Id)
                .into(),
        )
        .join(
            JoinType::InnerJoin,
            card::Entity::belongs_to(person::Entity)
                .from(card::Column::PersonId)
                .to(person::Column::Id)
                .into(),
        )
}

/// A card query joined to the membership each card stands for.
pub(crate) fn joined_to_membership(select: Select<card::Entity>) -> Select<card::Entity> {
    select.join(
        JoinType::InnerJoin,
        card::Entity::belongs_to(membership::Entity)
            .from(card::Column::MembershipId)
            .to(membership::Column::Id)
            .into(),
    )
}

async fn holder_of<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    person_id: Uuid,
    m: &membership::Model,
) -> Result<Holder, StoreError> {
    let person = people::get(conn, vault, person_id)
        .await?
        .ok_or_else(|| StoreError::Other(format!("card holder {person_id} missing")))?;
    let union_name = org::Entity::find_by_id(m.org_id)
        .one(conn)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    Ok(Holder {
        person_id,
        membership_id: m.id,
        holder_masked: mask_name(&person.name),
        union_name,
        unit_name: m.unit_name.clone(),
    })
}

async fn active_membership<C: ConnectionTrait>(
    conn: &C,
    person_id: Uuid,
) -> Result<Option<membership::Model>, StoreError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::PersonId.eq(person_id))
        .filter(membership::Column::Status.eq("active"))
        .one(conn)
        .await?)
}

/// The person with this ID number and exactly this name, if they are an active member: what
/// the activation preview shows. `None` alike for an unknown number, another name, or no
/// active membership, so the answer reveals nothing about who exists.
pub async fn find_eligible<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id_number: &IdNumber,
    name: &str,
) -> Result<Option<Holder>, StoreError> {
    let Some(person) = people::find_by_id_number(conn, vault, id_number).await? else {
        return Ok(None);
    };
    let given = name.trim();
    if given.is_empty() || person.name.as_str() != given {
        return Ok(None);
    }
    let Some(m) = active_membership(conn, person.id).await? else {
        return Ok(None);
    };
    Ok(Some(holder_of(conn, vault, person.id, &m).await?))
}

/// The person's card that is not cancelled, if any.
pub async fn live_card_of_person<C: ConnectionTrait>(
    conn: &C,
    person_id: Uuid,
) -> Result<Option<Card>, StoreError> {
    card::Entity::find()
        .filter(card::Column::PersonId.eq(person_id))
        .filter(card::Column::Status.ne(CardStatus::Cancelled.as_str()))
        .one(conn)
        .await?
        .map(Card::try_from)
        .transpose()
}

/// Locks the live cards of these people (`SELECT … FOR UPDATE`, in id order; nothing on
/// SQLite, whose write transactions are serialised anyway). A transaction that will change
/// cards after it has written an audit event must call this first: a redemption locks its card
/// and then the audit chain's head, so taking the head before the card would deadlock with it.
pub async fn lock_live_cards_of<C: ConnectionTrait>(
    txn: &C,
    person_ids: &[Uuid],
) -> Result<(), StoreError> {
    use sea_orm::QueryOrder;
    for chunk in person_ids.chunks(500) {
        card::Entity::find()
            .select_only()
            .column(card::Column::Id)
            .filter(card::Column::PersonId.is_in(chunk.iter().copied()))
            .filter(card::Column::Status.ne(CardStatus::Cancelled.as_str()))
            .order_by_asc(card::Column::Id)
            .lock_exclusive()
            .into_tuple::<Uuid>()
            .all(txn)
            .await?;
    }
    Ok(())
}

/// The card bound to this WeChat account (not cancelled), if any.
pub async fn live_card_of_user<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
) -> Result<Option<Card>, StoreError> {
    card::Entity::find()
        .filter(card::Column::UserId.eq(user_id))
        .filter(card::Column::Status.ne(CardStatus::Cancelled.as_str()))
        .one(conn)
        .await?
        .map(Card::try_from)
        .transpose()
}

/// The card with this id.
pub async fn get<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Card>, StoreError> {
    card::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(Card::try_from)
        .transpose()
}

/// What [`get_for_user`] reads in its one round trip.
#[derive(Debug, FromQueryResult)]
struct ShownRow {
    id: Uuid,
    card_number: String,
    person_id: Uuid,
    status: String,
    activated_at: DateTime<Utc>,
    unit_name: String,
    union_name: String,
    name_enc: Sealed,
}

/// What the card bound to this WeChat account shows: one query from the user to everything
/// the card shows ([`joined_to_holder`]), and only the holder's name decrypted (and masked).
pub async fn get_for_user<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    user_id: Uuid,
) -> Result<Option<ShownCard>, StoreError> {
    let row = joined_to_holder(card::Entity::find().select_only())
        .columns([
            card::Column::Id,
            card::Column::CardNumber,
            card::Column::PersonId,
            card::Column::Status,
            card::Column::ActivatedAt,
        ])
        .column_as(membership::Column::UnitName, "unit_name")
        .column_as(org::Column::Name, "union_name")
        .column_as(person::Column::NameEnc, "name_enc")
        .filter(card::Column::UserId.eq(user_id))
        .filter(card::Column::Status.ne(CardStatus::Cancelled.as_str()))
        .into_model::<ShownRow>()
        .one(conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status = CardStatus::parse(&row.status)
        .ok_or_else(|| StoreError::Other(format!("card {}: unknown status", row.id)))?;
    let name = PEOPLE_NAME
        .open(vault, row.person_id, &row.name_enc)
        .map_err(|_| StoreError::Other(format!("card {}: unreadable holder name", row.id)))?;
    Ok(Some(ShownCard {
        card_number: row.card_number,
        status,
        holder_masked: mask_name(&name),
        union_name: row.union_name,
        unit_name: row.unit_name,
        activated_at: row.activated_at,
    }))
}

/// Why a card could not be activated.
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    /// The person's card is bound to another WeChat account (an admin can unbind it).
    #[error("the card is bound to another WeChat account")]
    BoundElsewhere,
    /// This WeChat account already holds another person's card.
    #[error("this account already holds another card")]
    UserHasOtherCard,
    /// The person is not (or no longer) an active member.
    #[error("not an active member")]
    NotEligible,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ActivateError {
    fn from(e: sea_orm::DbErr) -> Self {
        ActivateError::Store(e.into())
    }
}

/// The result of an activation: the card, and whether this call bound it (`false` when it was
/// already bound to this same account: a replayed confirmation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activated {
    pub card: Card,
    pub newly_bound: bool,
}

enum Attempt {
    Done(Activated),
    /// A concurrent activation won a unique index: start over.
    Raced,
}

/// Activates the person's card for WeChat account `user_id`: creates it, or binds an unbound
/// one, or returns it when it is already bound to this account. One transaction with its audit
/// event; concurrent calls make one card. The account's cached card view ("no card") is
/// invalidated after the commit.
pub async fn activate(
    db: &Database,
    views: &CardViews,
    person_id: Uuid,
    user_id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Activated, ActivateError> {
    for _ in 0..5 {
        match activate_once(db, person_id, user_id, actor, now).await? {
            Attempt::Done(done) => {
                if done.newly_bound {
                    let mut stale = StaleViews::new();
                    stale.binding(user_id, done.card.id);
                    views.invalidate(&db.conn, stale).await;
                }
                return Ok(done);
            }
            Attempt::Raced => continue,
        }
    }
    Err(ActivateError::Store(StoreError::Conflict))
}

async fn activate_once(
    db: &Database,
    person_id: Uuid,
    user_id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Attempt, ActivateError> {
    let txn = db.begin_write().await?;
    let m = active_membership(&txn, person_id)
        .await?
        .ok_or(ActivateError::NotEligible)?;
    let existing = live_card_of_person(&txn, person_id).await?;
    if let Some(card) = &existing {
        match card.user_id {
            Some(bound) if bound == user_id => {
                return Ok(Attempt::Done(Activated {
                    card: card.clone(),
                    newly_bound: false,
                }));
            }
            Some(_) => {
                // Recorded: someone else's WeChat account tried to take this person's card.
                audit::record(
                    &txn,
                    actor,
                    &Entry {
                        action: "card.activate",
                        target_type: "card",
                        target_id: Some(card.id.to_string()),
                        fields: &[],
                        outcome: Outcome::Failure,
                    },
                    now,
                )
                .await?;
                txn.commit().await.map_err(StoreError::from)?;
                return Err(ActivateError::BoundElsewhere);
            }
            None => {}
        }
    }
    if let Some(held) = live_card_of_user(&txn, user_id).await? {
        // Under READ COMMITTED a concurrent confirmation of this very card may have committed
        // between the two reads above: then it is this person's card, not another one.
        if held.person_id == person_id {
            return Ok(Attempt::Raced);
        }
        return Err(ActivateError::UserHasOtherCard);
    }
    let (card_id, action) = match existing {
        // An admin unbound it: bind it to this account (unless someone else just did).
        Some(card) => {
            let updated = card::Entity::update_many()
                .col_expr(card::Column::UserId, Expr::value(Some(user_id)))
                .col_expr(card::Column::ActivatedAt, Expr::value(now))
                .col_expr(
                    card::Column::UnboundAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(card::Column::UpdatedAt, Expr::value(now))
                .filter(card::Column::Id.eq(card.id))
                .filter(card::Column::UserId.is_null())
                .exec(&txn)
                .await;
            match updated {
                Ok(r) if r.rows_affected == 1 => {}
                Ok(_) => return Ok(Attempt::Raced),
                Err(e) if matches!(StoreError::from(e.clone()), StoreError::Conflict) => {
                    return Ok(Attempt::Raced);
                }
                Err(e) => return Err(e.into()),
            }
            (card.id, "card.bind")
        }
        None => {
            let id = Uuid::now_v7();
            let inserted = card::Entity::insert(card::ActiveModel {
                id: Set(id),
                card_number: Set(card_number_from_random(rand::rng().next_u64())),
                person_id: Set(person_id),
                membership_id: Set(m.id),
                user_id: Set(Some(user_id)),
                status: Set(CardStatus::Active.as_str().to_owned()),
                activated_at: Set(now),
                unbound_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await;
            match inserted {
                Ok(_) => {}
                // The person's card, this account's card or (rarely) the card number was
                // taken by a concurrent transaction: start over and look again.
                Err(e) if matches!(StoreError::from(e.clone()), StoreError::Conflict) => {
                    return Ok(Attempt::Raced);
                }
                Err(e) => return Err(e.into()),
            }
            (id, "card.activate")
        }
    };
    audit::record(
        &txn,
        actor,
        &Entry {
            action,
            target_type: "card",
            target_id: Some(card_id.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    let card = get(&txn, card_id).await?.ok_or(StoreError::NotFound)?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Attempt::Done(Activated {
        card,
        newly_bound: true,
    }))
}

/// Unbinds the person's card from its WeChat account (an administrator's act, audited), so the
/// person can activate it with another account. `None` if the person has no card. The old
/// account's cached card view is invalidated after the commit.
pub async fn unbind_person(
    db: &Database,
    views: &CardViews,
    person_id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Card>, StoreError> {
    let txn = db.begin_write().await?;
    let Some(card) = live_card_of_person(&txn, person_id).await? else {
        return Ok(None);
    };
    card::Entity::update_many()
        .col_expr(card::Column::UserId, Expr::value(Option::<Uuid>::None))
        .col_expr(card::Column::UnboundAt, Expr::value(Some(now)))
        .col_expr(card::Column::UpdatedAt, Expr::value(now))
        .filter(card::Column::Id.eq(card.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        actor,
        &Entry {
            action: "card.unbind",
            target_type: "card",
            target_id: Some(card.id.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    let unbound = get(&txn, card.id).await?.ok_or(StoreError::NotFound)?;
    txn.commit().await?;
    let mut stale = StaleViews::new();
    stale.card(Some(&card));
    views.invalidate(&db.conn, stale).await;
    Ok(Some(unbound))
}

/// Sets the status of the person's card when their membership changes (leaving suspends,
/// death cancels, rejoining reactivates), in the caller's transaction, with an audit event.
/// `membership_id`, when given, is the membership the card now stands for (a transfer keeps
/// the card and only moves it). Returns the updated card, or `None` if the person has none;
/// the caller adds it to its `StaleViews` and invalidates them after its commit.
pub async fn set_status_for_person<C: crate::audit::AuditTxn>(
    txn: &C,
    person_id: Uuid,
    status: CardStatus,
    membership_id: Option<Uuid>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Card>, StoreError> {
    let Some(card) = live_card_of_person(txn, person_id).await? else {
        return Ok(None);
    };
    let mut update = card::Entity::update_many()
        .col_expr(card::Column::Status, Expr::value(status.as_str()))
        .col_expr(card::Column::UpdatedAt, Expr::value(now));
    if let Some(m) = membership_id {
        update = update.col_expr(card::Column::MembershipId, Expr::value(m));
    }
    update
        .filter(card::Column::Id.eq(card.id))
        .exec(txn)
        .await?;
    let action = match status {
        CardStatus::Active => "card.reactivate",
        CardStatus::Suspended => "card.suspend",
        CardStatus::Cancelled => "card.cancel",
    };
    audit::record(
        txn,
        actor,
        &Entry {
            action,
            target_type: "card",
            target_id: Some(card.id.to_string()),
            fields: &[],
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    get(txn, card.id).await
}

/// A card left suspended when its holder left a union points at that ended membership. When
/// the holder rejoins (a new active membership: added to a roster, imported, or an application
/// approved), the card follows the new membership and is active again, audited
/// (`card.reactivate`). A card suspended while its membership is still current (a deliberate
/// suspension) is not touched, nor a cancelled one (death). Returns the cards changed, for the
/// card views. Call it in the transaction that created the memberships.
pub async fn follow_rejoin<C: crate::audit::AuditTxn>(
    txn: &C,
    person_ids: &[Uuid],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Card>, StoreError> {
    use sea_orm::sea_query::ExprTrait as _;
    let mut changed = Vec::new();
    for chunk in person_ids.chunks(500) {
        let rejoined: Vec<(Uuid, Uuid)> = card::Entity::find()
            .select_only()
            .column(card::Column::PersonId)
            .column_as(membership::Column::Id, "membership_id_now")
            .join(
                JoinType::InnerJoin,
                card::Entity::belongs_to(membership::Entity)
                    .from(card::Column::PersonId)
                    .to(membership::Column::PersonId)
                    .into(),
            )
            .filter(card::Column::PersonId.is_in(chunk.iter().copied()))
            .filter(card::Column::Status.eq(CardStatus::Suspended.as_str()))
            .filter(membership::Column::Status.eq("active"))
            .filter(
                Expr::col((card::Entity, card::Column::MembershipId))
                    .ne(Expr::col((membership::Entity, membership::Column::Id))),
            )
            .into_tuple()
            .all(txn)
            .await?;
        for (person_id, membership_id) in rejoined {
            if let Some(card) = set_status_for_person(
                txn,
                person_id,
                CardStatus::Active,
                Some(membership_id),
                actor,
                now,
            )
            .await?
            {
                changed.push(card);
            }
        }
    }
    Ok(changed)
}

/// Why a QR token was not redeemed.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// Not a token of ours (malformed or forged).
    #[error("invalid QR token")]
    Invalid,
    /// Genuine but expired (a screenshot, or a code shown too long).
    #[error("expired QR token")]
    Expired,
    /// Already redeemed (by this or any other instance).
    #[error("QR token already used")]
    Used,
    /// The shared store could not be reached: nothing was redeemed.
    #[error(transparent)]
    Unavailable(#[from] EphemeralError),
}

/// A live QR token, checked (signature, expiry) but not yet used: the card it names and its
/// one-time mark, which lives in the shared ephemeral store under the token's nonce for as long
/// as the token would have been valid. Setting the mark uses the token (see
/// [`redeem_qr_token`]; the till sets it together with its first read, `merchants::verify_card`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrClaim {
    pub card_id: Uuid,
    /// The ephemeral-store key whose first setter uses the token.
    pub mark: String,
    /// How long the mark must live.
    pub ttl: Duration,
    /// The verification this token makes at the till (`qr::verification_id`).
    pub verification_id: Uuid,
}

impl QrClaim {
    /// Checks `token`: `Invalid` or `Expired`, else its claim.
    pub fn check(key: &QrKey, token: &str, now: DateTime<Utc>) -> Result<Self, QrError> {
        let claims = qr::verify(key, token.trim(), now.timestamp()).map_err(|e| match e {
            QrTokenError::Invalid => QrError::Invalid,
            QrTokenError::Expired => QrError::Expired,
        })?;
        let remaining = u64::try_from(claims.expires_at - now.timestamp()).unwrap_or(1);
        Ok(Self {
            card_id: claims.card_id,
            mark: format!("card:qr-used:{}:{}", claims.card_id, claims.nonce_hex()),
            ttl: Duration::from_secs(remaining.max(1)),
            verification_id: qr::verification_id(key, &claims),
        })
    }
}

/// Verifies a live QR token and consumes it: the first call anywhere gets the card id, every
/// later one `Used`.
pub async fn redeem_qr_token(
    store: &dyn Ephemeral,
    key: &QrKey,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, QrError> {
    let claim = QrClaim::check(key, token, now)?;
    if !store.set_if_absent(&claim.mark, b"1", claim.ttl).await? {
        return Err(QrError::Used);
    }
    Ok(claim.card_id)
}
