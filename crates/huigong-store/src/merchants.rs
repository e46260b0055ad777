//! Partner merchants (特约商家): onboarding and editing (scoped to the onboarding org's
//! subtree), staff bindings, card verification at the till and redemptions.
//!
//! Concurrency. A redemption runs in one write transaction that first locks the card's row
//! (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite `begin_write` is `BEGIN IMMEDIATE`, which
//! serialises every writer anyway). Under that lock one conditional insert counts the card's
//! redemptions of the discount that day and inserts only below the limit; so two redemptions
//! with the same card never count at the same time, on READ COMMITTED too (a statement after
//! the lock sees what the previous holder committed). The unique index on `(merchant_id,
//! idempotency_key)` recognises retries, also those that race the first request.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::card_views::{CardViews, StaleViews};
use crate::cards::{CardStatus, QrClaim};
use crate::entity::{card, discount, merchant, merchant_staff, org, person, redemption};
use crate::ephemeral::{Ephemeral, EphemeralError};
use crate::merchant_views::MerchantViews;
use crate::sealed::{PEOPLE_NAME, Sealed};
use crate::{Database, StoreError};
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use huigong_core::mask::mask_name;
use huigong_vault::KeyRing;
use sea_orm::sea_query::{Expr, Query, SelectStatement, SubQueryStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

/// How long a verification can be redeemed against.
pub const VERIFICATION_TTL_SECS: i64 = 300;

/// The Beijing local date of an instant: what daily limits and reports count by.
pub fn beijing_day(now: DateTime<Utc>) -> NaiveDate {
    (now + Duration::hours(8)).date_naive()
}

/// The kind of a discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountKind {
    /// `value` per cent taken off the bill (1–99).
    Percent,
    /// `value` fen taken off the bill.
    Amount,
    /// Something extra (a drink, a service); no value.
    Perk,
}

impl DiscountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscountKind::Percent => "percent",
            DiscountKind::Amount => "amount",
            DiscountKind::Perk => "perk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "percent" => Some(DiscountKind::Percent),
            "amount" => Some(DiscountKind::Amount),
            "perk" => Some(DiscountKind::Perk),
            _ => None,
        }
    }

    /// What this discount takes off a bill of `amount_fen`.
    pub fn discount_fen(self, value: Option<i64>, amount_fen: i64) -> i64 {
        let v = value.unwrap_or(0).max(0);
        match self {
            DiscountKind::Percent => amount_fen.saturating_mul(v) / 100,
            DiscountKind::Amount => v.min(amount_fen),
            DiscountKind::Perk => 0,
        }
    }
}

/// A discount, validated.
#[derive(Debug, Clone)]
pub struct NewDiscount {
    pub title: String,
    pub kind: DiscountKind,
    pub value: Option<i64>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub daily_limit_per_card: i32,
}

/// A merchant, validated.
#[derive(Debug, Clone)]
pub struct NewMerchant {
    pub org_id: Uuid,
    pub name: String,
    pub category: String,
    pub address: String,
    pub phone: String,
    pub discounts: Vec<NewDiscount>,
}

/// A discount as stored.
pub type Discount = discount::Model;

/// A merchant with its discounts.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub row: merchant::Model,
    pub discounts: Vec<Discount>,
}

/// Whether a discount can be redeemed on `day`.
pub fn applies_on(d: &Discount, day: NaiveDate) -> bool {
    d.active && d.valid_from <= day && day <= d.valid_to
}

fn merchants_in(scope: &str) -> SelectStatement {
    Query::select()
        .column(merchant::Column::Id)
        .from(merchant::Entity)
        .and_where(merchant::Column::OrgId.in_subquery(crate::orgs::ids_in_scope(scope)))
        .to_owned()
}

async fn with_discounts<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<merchant::Model>,
    only_on: Option<NaiveDate>,
) -> Result<Vec<Merchant>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    let mut by_merchant: HashMap<Uuid, Vec<Discount>> = HashMap::new();
    for chunk in ids.chunks(500) {
        for d in discount::Entity::find()
            .filter(discount::Column::MerchantId.is_in(chunk.to_vec()))
            .order_by_asc(discount::Column::CreatedAt)
            .order_by_asc(discount::Column::Id)
            .all(conn)
            .await?
        {
            if only_on.is_none_or(|day| applies_on(&d, day)) {
                by_merchant.entry(d.merchant_id).or_default().push(d);
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| Merchant {
            discounts: by_merchant.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

async fn insert_discounts<C: ConnectionTrait>(
    conn: &C,
    merchant_id: Uuid,
    discounts: &[NewDiscount],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for d in discounts {
        discount::Entity::insert(discount::ActiveModel {
            id: Set(Uuid::now_v7()),
            merchant_id: Set(merchant_id),
            title: Set(d.title.clone()),
            kind: Set(d.kind.as_str().to_owned()),
            value: Set(d.value),
            valid_from: Set(d.valid_from),
            valid_to: Set(d.valid_to),
            daily_limit_per_card: Set(d.daily_limit_per_card),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

fn entry<'a>(action: &'a str, target_type: &'a str, id: Uuid, outcome: Outcome) -> Entry<'a> {
    Entry {
        action,
        target_type,
        target_id: Some(id.to_string()),
        fields: &[],
        outcome,
    }
}

/// Onboards a merchant with its discounts, audited (`merchant.create`), in one transaction.
pub async fn create(
    db: &Database,
    new: &NewMerchant,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Merchant, StoreError> {
    let txn = db.begin_write().await?;
    let id = Uuid::now_v7();
    merchant::Entity::insert(merchant::ActiveModel {
        id: Set(id),
        org_id: Set(new.org_id),
        name: Set(new.name.clone()),
        category: Set(new.category.clone()),
        address: Set(new.address.clone()),
        phone: Set(new.phone.clone()),
        status: Set("active".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    insert_discounts(&txn, id, &new.discounts, now).await?;
    audit::record(
        &txn,
        actor,
        &entry("merchant.create", "merchant", id, Outcome::Success),
        now,
    )
    .await?;
    let created = get(&txn, id).await?.ok_or(StoreError::NotFound)?;
    txn.commit().await?;
    Ok(created)
}

/// The merchant with this id, with all its discounts.
pub async fn get<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<Merchant>, StoreError> {
    let Some(row) = merchant::Entity::find_by_id(id).one(conn).await? else {
        return Ok(None);
    };
    Ok(with_discounts(conn, vec![row], None).await?.pop())
}

/// The merchant, if it was onboarded within `scope`; outside it is the same as missing.
pub async fn get_in_scope<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    scope: &str,
) -> Result<Option<Merchant>, StoreError> {
    let Some(row) = merchant::Entity::find_by_id(id)
        .filter(merchant::Column::OrgId.in_subquery(crate::orgs::ids_in_scope(scope)))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(with_discounts(conn, vec![row], None).await?.pop())
}

/// Merchants onboarded within `scope`, by name, one page, with the total.
pub async fn list_in_scope<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    status: Option<&str>,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Merchant>, u64), StoreError> {
    let mut query = merchant::Entity::find()
        .filter(merchant::Column::OrgId.in_subquery(crate::orgs::ids_in_scope(scope)));
    if let Some(s) = status {
        query = query.filter(merchant::Column::Status.eq(s));
    }
    let total = query.clone().count(conn).await?;
    let rows = query
        .order_by_asc(merchant::Column::Name)
        .order_by_asc(merchant::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((with_discounts(conn, rows, None).await?, total))
}

/// What an edit changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MerchantPatch {
    pub name: Option<String>,
    pub category: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
    pub add_discounts: Vec<NewDiscount>,
    /// Discounts of this merchant to switch off (unknown ids are ignored).
    pub deactivate_discounts: Vec<Uuid>,
}

/// Edits a merchant in scope (audited `merchant.update`, and `merchant.suspend` /
/// `merchant.reactivate` when the status changes). `None` when it is not in scope. After the
/// commit every instance's copy of the merchant is made stale (see `merchant_views`).
pub async fn update(
    db: &Database,
    views: &MerchantViews,
    id: Uuid,
    scope: &str,
    patch: &MerchantPatch,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Merchant>, StoreError> {
    let txn = db.begin_write().await?;
    let Some(current) = get_in_scope(&txn, id, scope).await? else {
        return Ok(None);
    };
    let mut update = merchant::Entity::update_many()
        .col_expr(merchant::Column::UpdatedAt, Expr::value(now))
        .filter(merchant::Column::Id.eq(id));
    for (col, value) in [
        (merchant::Column::Name, &patch.name),
        (merchant::Column::Category, &patch.category),
        (merchant::Column::Address, &patch.address),
        (merchant::Column::Phone, &patch.phone),
        (merchant::Column::Status, &patch.status),
    ] {
        if let Some(v) = value {
            update = update.col_expr(col, Expr::value(v.clone()));
        }
    }
    update.exec(&txn).await?;
    insert_discounts(&txn, id, &patch.add_discounts, now).await?;
    if !patch.deactivate_discounts.is_empty() {
        discount::Entity::update_many()
            .col_expr(discount::Column::Active, Expr::value(false))
            .col_expr(discount::Column::UpdatedAt, Expr::value(now))
            .filter(discount::Column::MerchantId.eq(id))
            .filter(discount::Column::Id.is_in(patch.deactivate_discounts.clone()))
            .exec(&txn)
            .await?;
    }
    audit::record(
        &txn,
        actor,
        &entry("merchant.update", "merchant", id, Outcome::Success),
        now,
    )
    .await?;
    if let Some(status) = patch.status.as_deref()
        && status != current.row.status
    {
        let action = if status == "suspended" {
            "merchant.suspend"
        } else {
            "merchant.reactivate"
        };
        audit::record(
            &txn,
            actor,
            &entry(action, "merchant", id, Outcome::Success),
            now,
        )
        .await?;
    }
    let updated = get(&txn, id).await?;
    txn.commit().await?;
    views.invalidate(id).await;
    Ok(updated)
}

/// Binds a new staff account to a merchant, in the caller's transaction.
pub async fn bind_staff<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    merchant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    merchant_staff::Entity::insert(merchant_staff::ActiveModel {
        user_id: Set(user_id),
        merchant_id: Set(merchant_id),
        created_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Unbinds staff account `user_id` from merchant `merchant_id`, in the caller's transaction;
/// false if it was not bound to it.
pub async fn unbind_staff<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
    merchant_id: Uuid,
) -> Result<bool, StoreError> {
    let done = merchant_staff::Entity::delete_many()
        .filter(merchant_staff::Column::UserId.eq(user_id))
        .filter(merchant_staff::Column::MerchantId.eq(merchant_id))
        .exec(conn)
        .await?;
    Ok(done.rows_affected > 0)
}

/// The merchant a staff account works for.
pub async fn merchant_id_of_staff<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    Ok(merchant_staff::Entity::find_by_id(user_id)
        .one(conn)
        .await?
        .map(|b| b.merchant_id))
}

/// Active merchants with at least one discount valid on `day`, with those discounts only:
/// what workers browse. Optional exact category and part of the name.
pub async fn public_list<C: ConnectionTrait>(
    conn: &C,
    category: Option<&str>,
    q: Option<&str>,
    day: NaiveDate,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Merchant>, u64), StoreError> {
    let valid = Query::select()
        .column(discount::Column::MerchantId)
        .from(discount::Entity)
        .and_where(discount::Column::Active.eq(true))
        .and_where(discount::Column::ValidFrom.lte(day))
        .and_where(discount::Column::ValidTo.gte(day))
        .to_owned();
    let mut query = merchant::Entity::find()
        .filter(merchant::Column::Status.eq("active"))
        .filter(merchant::Column::Id.in_subquery(valid));
    if let Some(c) = category {
        query = query.filter(merchant::Column::Category.eq(c));
    }
    if let Some(q) = q {
        query = query.filter(crate::like::contains_literally(merchant::Column::Name, q));
    }
    let total = query.clone().count(conn).await?;
    let rows = query
        .order_by_asc(merchant::Column::Name)
        .order_by_asc(merchant::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((with_discounts(conn, rows, Some(day)).await?, total))
}

/// A discount with its merchant's current status (see [`merchant_status_of`]).
#[derive(Debug, FromQueryResult)]
struct DiscountOf {
    #[sea_orm(nested)]
    discount: Discount,
    merchant_status: Option<String>,
}

/// How many times `card` redeemed `discount` on `day`, as a scalar subquery (on the
/// card/discount/day index): what the till shows as uses left, and what the redemption's
/// conditional insert compares with the limit.
fn uses_on_day(card: Expr, discount: Expr, day: NaiveDate) -> Expr {
    use sea_orm::sea_query::ExprTrait as _;
    let count = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from(redemption::Entity)
        .and_where(Expr::col((redemption::Entity, redemption::Column::CardId)).eq(card))
        .and_where(Expr::col((redemption::Entity, redemption::Column::DiscountId)).eq(discount))
        .and_where(Expr::col((redemption::Entity, redemption::Column::Day)).eq(day))
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(count)))
}

/// A verification as the till holds it between the scan and the redemption. It lives in the
/// shared ephemeral store (Redis in production), like an activation preview: it records no
/// change, so it needs no table; the redemption that uses it is the durable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationRecord {
    pub merchant_id: Uuid,
    pub card_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// How long a verification is kept after it expires, so that a late redemption is told
/// `VerificationExpired` rather than `VerificationNotFound`.
const VERIFICATION_KEPT_SECS: i64 = 600;

/// How long a verification record lives in the store: its validity and the grace after it.
fn verification_kept() -> std::time::Duration {
    std::time::Duration::from_secs(
        u64::try_from(VERIFICATION_TTL_SECS + VERIFICATION_KEPT_SECS).unwrap_or(900),
    )
}

impl VerificationRecord {
    /// The ephemeral-store key of verification `id`.
    pub fn key(id: Uuid) -> String {
        format!("merchant:verification:{}", id.simple())
    }

    /// 40 bytes: merchant id, card id, expiry (Unix seconds, big-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(self.merchant_id.as_bytes());
        out.extend_from_slice(self.card_id.as_bytes());
        out.extend_from_slice(&self.expires_at.timestamp().to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let merchant_id = Uuid::from_slice(bytes.get(..16)?).ok()?;
        let card_id = Uuid::from_slice(bytes.get(16..32)?).ok()?;
        let secs = i64::from_be_bytes(bytes.get(32..40)?.try_into().ok()?);
        Some(Self {
            merchant_id,
            card_id,
            expires_at: DateTime::from_timestamp(secs, 0)?,
        })
    }
}

/// `merchants.status` of `merchant_id`, as a scalar subquery: the till's statements read the
/// merchant's status fresh (a suspension holds at once on every instance) without a round
/// trip of its own.
fn merchant_status_of(merchant_id: Uuid) -> Expr {
    let status = Query::select()
        .column(merchant::Column::Status)
        .from(merchant::Entity)
        .and_where(merchant::Column::Id.eq(merchant_id))
        .to_owned();
    Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(status)))
}

/// What the till shows of a card, and what the till's cache (`card_views`) holds: the status,
/// the holder's name masked (never the full name), the union's name, and the card's uses of
/// each discount (of any merchant) on one Beijing day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TillCard {
    pub status: CardStatus,
    /// `张*`.
    pub holder_masked: String,
    pub union_name: String,
    /// The day `uses` counts.
    pub day: NaiveDate,
    /// `(discount_id, redemptions)` of the card on `day`; a discount not listed is unused.
    pub uses: Vec<(Uuid, i64)>,
}

impl TillCard {
    /// The card's uses of discount `id` on [`TillCard::day`].
    pub fn uses_of(&self, id: Uuid) -> i64 {
        self.uses
            .iter()
            .find(|(d, _)| *d == id)
            .map_or(0, |(_, n)| *n)
    }
}

#[derive(Debug, FromQueryResult)]
struct TillRow {
    status: String,
    person_id: Uuid,
    union_name: String,
    name_enc: Sealed,
}

/// [`TillCard`] of card `card_id` on `day` from the database (`None`: no such card): the card
/// joined to its union and holder, and its redemptions that day counted per discount (on the
/// card/discount/day index), the two queries at once. What the till's cache holds, and what it
/// must agree with.
pub async fn read_till<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    card_id: Uuid,
    day: NaiveDate,
) -> Result<Option<TillCard>, StoreError> {
    let card = crate::cards::joined_to_holder(card::Entity::find_by_id(card_id).select_only())
        .column(card::Column::Status)
        .column(card::Column::PersonId)
        .column_as(org::Column::Name, "union_name")
        .column_as(person::Column::NameEnc, "name_enc")
        .into_model::<TillRow>()
        .one(conn);
    let uses = redemption::Entity::find()
        .select_only()
        .column(redemption::Column::DiscountId)
        .expr(Expr::cust("COUNT(*)"))
        .filter(redemption::Column::CardId.eq(card_id))
        .filter(redemption::Column::Day.eq(day))
        .group_by(redemption::Column::DiscountId)
        .into_tuple::<(Uuid, i64)>()
        .all(conn);
    let (row, uses) = tokio::try_join!(card, uses)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status = CardStatus::parse(&row.status)
        .ok_or_else(|| StoreError::Other(format!("card {card_id}: unknown status")))?;
    let name = PEOPLE_NAME
        .open(vault, row.person_id, &row.name_enc)
        .map_err(|_| StoreError::Other(format!("card {card_id}: unreadable holder name")))?;
    Ok(Some(TillCard {
        status,
        holder_masked: mask_name(&name),
        union_name: row.union_name,
        day,
        uses,
    }))
}

/// What a merchant learns about a verified card: no ID number, mobile or full name.
#[derive(Debug, Clone)]
pub struct Verified {
    pub verification_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub card_status: String,
    /// `张*`.
    pub holder_masked: String,
    pub union_name: String,
    /// This merchant's discounts that apply today, with the uses left today.
    pub discounts: Vec<(Discount, i64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The worker's QR token was used before (by this or any other instance).
    #[error("QR token already used")]
    TokenUsed,
    /// Suspended, cancelled, or gone.
    #[error("card not active")]
    CardInactive,
    /// The merchant is suspended.
    #[error("merchant suspended")]
    MerchantSuspended,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
}

/// What the till's requests work with.
#[derive(Clone, Copy)]
pub struct Till<'a> {
    pub db: &'a Database,
    /// The shared ephemeral store: verifications live there.
    pub store: &'a dyn Ephemeral,
    pub audit: &'a audit::Appender,
    pub vault: &'a KeyRing,
    /// The till's view of a card is cached with the card views, and a redemption makes it
    /// stale (uses left).
    pub views: &'a CardViews,
}

/// Uses the worker's QR token (`claim`, checked by the caller) for `merchant`, answers what the
/// till shows for its card, and keeps the verification (five minutes) for the redemption.
/// `merchant` is the caller's current copy (`merchant_views`): its discounts are what the till
/// lists. The card's part comes from the till's cache of the card (`card_views`), read in the
/// same round trip that sets the token's one-time mark; so a verification usually reads
/// nothing from the database. Audited (`merchant.verify`) through the [`audit::Appender`]: the
/// answer waits for the event's commit, but concurrent verifications share one transaction.
pub async fn verify_card(
    till: &Till<'_>,
    merchant: &Merchant,
    claim: &QrClaim,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Verified, VerifyError> {
    if merchant.row.status != "active" {
        return Err(VerifyError::MerchantSuspended);
    }
    let (day, card_id, id) = (beijing_day(now), claim.card_id, claim.verification_id);
    let expires_at = now + Duration::seconds(VERIFICATION_TTL_SECS);
    let record = VerificationRecord {
        merchant_id: merchant.row.id,
        card_id,
        expires_at,
    }
    .encode();
    let (key, kept) = (VerificationRecord::key(id), verification_kept());
    let [view, generation] = CardViews::till_keys(card_id);
    // One round trip: the token's mark, the verification it makes (its id derived from the
    // token, so only the first claimer's record can be stored), the till's view of the card.
    let (made, found) = till
        .store
        .claim_then_get_many(
            &[(&claim.mark, b"1", claim.ttl), (&key, &record, kept)],
            &[&view, &generation],
        )
        .await?;
    match made.as_slice() {
        [true, true] => {}
        [false, _] => return Err(VerifyError::TokenUsed),
        _ => {
            return Err(VerifyError::Store(StoreError::Other(
                "the verification of a token claimed just now already exists".to_owned(),
            )));
        }
    }
    // A failed read of the cache (the claim stands) falls back to the database. A refusal
    // below leaves the verification stored but unknown to anyone: its id is only ever given
    // in a successful answer, and a redemption checks the card again under its lock.
    let card = till
        .views
        .till_from(&till.db.conn, till.vault, card_id, day, found)
        .await?
        .filter(|c| c.status == CardStatus::Active)
        .ok_or(VerifyError::CardInactive)?;
    let discounts = merchant
        .discounts
        .iter()
        .filter(|d| applies_on(d, day))
        .map(|d| {
            let left = i64::from(d.daily_limit_per_card) - card.uses_of(d.id);
            (d.clone(), Ord::max(left, 0))
        })
        .collect();
    till.audit
        .append(
            actor,
            entry("merchant.verify", "card", card_id, Outcome::Success),
            now,
        )
        .await?;
    Ok(Verified {
        verification_id: id,
        expires_at,
        card_status: card.status.as_str().to_owned(),
        holder_masked: card.holder_masked,
        union_name: card.union_name,
        discounts,
    })
}

/// A redemption to record, validated.
#[derive(Debug, Clone)]
pub struct NewRedemption<'a> {
    pub merchant_id: Uuid,
    pub verification_id: Uuid,
    pub discount_id: Uuid,
    pub amount_fen: i64,
    pub idempotency_key: &'a str,
    /// Shown in the answer.
    pub merchant_name: &'a str,
}

/// A redemption with the names that make it readable.
#[derive(Debug, Clone)]
pub struct Redemption {
    pub row: redemption::Model,
    pub merchant_name: String,
    pub discount_title: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// No such verification of this merchant.
    #[error("verification not found")]
    VerificationNotFound,
    #[error("verification expired")]
    VerificationExpired,
    /// No such discount of this merchant.
    #[error("discount not found")]
    DiscountNotFound,
    /// Switched off, or not valid today.
    #[error("discount not applicable today")]
    DiscountNotApplicable,
    #[error("card not active")]
    CardInactive,
    /// The merchant was suspended (read fresh, whatever the caller's view of it).
    #[error("merchant suspended")]
    MerchantSuspended,
    #[error("daily limit reached")]
    DailyLimitReached,
    /// This verification already redeemed this discount: one scan, at most one redemption per
    /// discount (the unique index on `(verification_id, discount_id)` enforces it).
    #[error("verification already used for this discount")]
    VerificationUsed,
    /// The idempotency key was used before for a different redemption.
    #[error("idempotency key reused")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
}

impl From<sea_orm::DbErr> for RedeemError {
    fn from(e: sea_orm::DbErr) -> Self {
        RedeemError::Store(e.into())
    }
}

async fn assemble<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<redemption::Model>,
) -> Result<Vec<Redemption>, StoreError> {
    let mut merchant_ids: Vec<Uuid> = rows.iter().map(|r| r.merchant_id).collect();
    merchant_ids.sort_unstable();
    merchant_ids.dedup();
    let mut discount_ids: Vec<Uuid> = rows.iter().map(|r| r.discount_id).collect();
    discount_ids.sort_unstable();
    discount_ids.dedup();
    let mut merchants = HashMap::new();
    for chunk in merchant_ids.chunks(500) {
        for m in merchant::Entity::find()
            .filter(merchant::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            merchants.insert(m.id, m.name);
        }
    }
    let mut discounts = HashMap::new();
    for chunk in discount_ids.chunks(500) {
        for d in discount::Entity::find()
            .filter(discount::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            discounts.insert(d.id, d.title);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| Redemption {
            merchant_name: merchants.get(&row.merchant_id).cloned().unwrap_or_default(),
            discount_title: discounts.get(&row.discount_id).cloned().unwrap_or_default(),
            row,
        })
        .collect())
}

async fn by_key<C: ConnectionTrait>(
    conn: &C,
    merchant_id: Uuid,
    key: &str,
) -> Result<Option<redemption::Model>, StoreError> {
    Ok(redemption::Entity::find()
        .filter(redemption::Column::MerchantId.eq(merchant_id))
        .filter(redemption::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await?)
}

/// The stored record for a retry: the same one, or `KeyReused` if the key named another.
async fn replay<C: ConnectionTrait>(
    conn: &C,
    first: redemption::Model,
    new: &NewRedemption<'_>,
) -> Result<(Redemption, bool), RedeemError> {
    if first.verification_id != new.verification_id
        || first.discount_id != new.discount_id
        || first.amount_fen != new.amount_fen
    {
        return Err(RedeemError::KeyReused);
    }
    let r = assemble(conn, vec![first])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)?;
    Ok((r, false))
}

/// Records a redemption. Returns it and whether it was written now: a retry with the same
/// idempotency key (by the same merchant) returns the first record and writes nothing. The
/// per-card daily limit of the discount holds under concurrent calls (see the module docs).
///
/// The common path is short, because every redemption of the system queues for the audit
/// chain's head: the verification (ephemeral store) and the discount with its merchant's
/// status are read before the write transaction; inside it, the card's row lock, then one
/// conditional insert that counts the card's uses of the discount today and inserts only below
/// the limit, then the audit event, which takes the head's lock last. A retry is recognised by
/// the unique index on the key; every refusal first looks for a record under the key, so a
/// retry of a recorded redemption is answered with it whatever changed since.
pub async fn redeem(
    till: &Till<'_>,
    new: &NewRedemption<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Redemption, bool), RedeemError> {
    let (db, store) = (till.db, till.store);
    let refuse = |why: RedeemError| async move {
        match by_key(&db.conn, new.merchant_id, new.idempotency_key).await? {
            Some(first) => replay(&db.conn, first, new).await,
            None => Err(why),
        }
    };
    let Some(v) = store
        .get(&VerificationRecord::key(new.verification_id))
        .await?
        .as_deref()
        .and_then(VerificationRecord::decode)
        .filter(|v| v.merchant_id == new.merchant_id)
    else {
        return refuse(RedeemError::VerificationNotFound).await;
    };
    let found = discount::Entity::find_by_id(new.discount_id)
        .column_as(merchant_status_of(new.merchant_id), "merchant_status")
        .into_model::<DiscountOf>()
        .one(&db.conn)
        .await?;
    let Some(found) = found.filter(|f| f.discount.merchant_id == new.merchant_id) else {
        return refuse(RedeemError::DiscountNotFound).await;
    };
    if found.merchant_status.as_deref() != Some("active") {
        return refuse(RedeemError::MerchantSuspended).await;
    }
    let d = found.discount;
    let kind = DiscountKind::parse(&d.kind)
        .ok_or_else(|| StoreError::Other(format!("discount {}: unknown kind", d.id)))?;
    let day = beijing_day(now);
    let row = redemption::Model {
        id: Uuid::now_v7(),
        merchant_id: new.merchant_id,
        discount_id: d.id,
        card_id: v.card_id,
        verification_id: new.verification_id,
        amount_fen: new.amount_fen,
        discount_fen: kind.discount_fen(d.value, new.amount_fen),
        day,
        idempotency_key: new.idempotency_key.to_owned(),
        // As stored (microseconds), so the first answer and a replay's are alike.
        created_at: now.trunc_subsecs(6),
    };
    let txn = db.begin_write().await?;
    // The lock every redemption with this card takes first (a no-op clause on SQLite, where
    // the transaction already holds the database's write lock).
    let card = card::Entity::find_by_id(v.card_id)
        .lock_exclusive()
        .one(&txn)
        .await?;
    let refusal = if v.expires_at <= now {
        Some(RedeemError::VerificationExpired)
    } else if card.is_none_or(|c| c.status != "active") {
        Some(RedeemError::CardInactive)
    } else if !applies_on(&d, day) {
        Some(RedeemError::DiscountNotApplicable)
    } else {
        None
    };
    if let Some(why) = refusal {
        drop(txn);
        return refuse(why).await;
    }
    match insert_below_limit(&txn, &row, d.daily_limit_per_card).await {
        Ok(Inserted::Yes) => {}
        Ok(Inserted::LimitReached) => {
            drop(txn);
            return refuse(RedeemError::DailyLimitReached).await;
        }
        Ok(Inserted::VerificationUsed) => {
            drop(txn);
            return refuse(RedeemError::VerificationUsed).await;
        }
        // The key is taken (a retry, committed before or meanwhile under another card's lock),
        // or the verification's redemption of this discount exists (one the card's lock did
        // not order: the unique index is what holds the rule in the end).
        Err(StoreError::Conflict) => {
            drop(txn);
            return refuse(RedeemError::VerificationUsed).await;
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &txn,
        actor,
        &entry("merchant.redeem", "redemption", row.id, Outcome::Success),
        now,
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    let mut stale = StaleViews::new();
    stale.uses_of(row.card_id);
    till.views.invalidate(&db.conn, stale).await;
    Ok((
        Redemption {
            row,
            merchant_name: new.merchant_name.to_owned(),
            discount_title: d.title,
        },
        true,
    ))
}

/// What [`insert_below_limit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inserted {
    Yes,
    /// The card used the discount `limit` times that day already.
    LimitReached,
    /// The verification redeemed this discount already.
    VerificationUsed,
}

/// Whether verification `verification` already has a redemption of `discount`, as an
/// `EXISTS` condition (on the unique index of the pair).
fn redeemed_by(verification: Uuid, discount: Uuid) -> Expr {
    use sea_orm::sea_query::ExprTrait as _;
    let one = Query::select()
        .expr(Expr::val(1))
        .from(redemption::Entity)
        .and_where(
            Expr::col((redemption::Entity, redemption::Column::VerificationId)).eq(verification),
        )
        .and_where(Expr::col((redemption::Entity, redemption::Column::DiscountId)).eq(discount))
        .to_owned();
    Expr::exists(one)
}

/// Inserts `row` only if its verification has no redemption of the discount yet and the card
/// has used the discount fewer than `limit` times that day: `INSERT … SELECT $values WHERE NOT
/// EXISTS (…) AND (SELECT COUNT(*) …) < $limit`. Run it under the card's lock (see the module
/// docs); a redemption of the pair that got in anyway is a unique violation
/// ([`StoreError::Conflict`]).
async fn insert_below_limit<C: ConnectionTrait>(
    txn: &C,
    row: &redemption::Model,
    limit: i32,
) -> Result<Inserted, StoreError> {
    use sea_orm::sea_query::ExprTrait as _;
    let used = uses_on_day(Expr::val(row.card_id), Expr::val(row.discount_id), row.day);
    let again = redeemed_by(row.verification_id, row.discount_id);
    let values = Query::select()
        .exprs([
            Expr::val(row.id),
            Expr::val(row.merchant_id),
            Expr::val(row.discount_id),
            Expr::val(row.card_id),
            Expr::val(row.verification_id),
            Expr::val(row.amount_fen),
            Expr::val(row.discount_fen),
            Expr::val(row.day),
            Expr::val(row.idempotency_key.clone()),
            Expr::val(row.created_at),
        ])
        .and_where(again.clone().not())
        .and_where(used.lt(i64::from(limit)))
        .to_owned();
    let insert = Query::insert()
        .into_table(redemption::Entity)
        .columns([
            redemption::Column::Id,
            redemption::Column::MerchantId,
            redemption::Column::DiscountId,
            redemption::Column::CardId,
            redemption::Column::VerificationId,
            redemption::Column::AmountFen,
            redemption::Column::DiscountFen,
            redemption::Column::Day,
            redemption::Column::IdempotencyKey,
            redemption::Column::CreatedAt,
        ])
        .select_from(values)
        .map_err(|e| StoreError::Other(e.to_string()))?
        .to_owned();
    let done = txn.execute(&insert).await?;
    if done.rows_affected() == 1 {
        return Ok(Inserted::Yes);
    }
    // Refused: say why (the refusal's path only).
    let check = Query::select().expr_as(again, "used").to_owned();
    let used_here = match txn.query_one(&check).await? {
        Some(r) => r.try_get::<bool>("", "used").unwrap_or(false),
        None => false,
    };
    Ok(if used_here {
        Inserted::VerificationUsed
    } else {
        Inserted::LimitReached
    })
}

/// A merchant's redemption by id; another merchant's is `None`.
pub async fn get_for_merchant<C: ConnectionTrait>(
    conn: &C,
    merchant_id: Uuid,
    id: Uuid,
) -> Result<Option<Redemption>, StoreError> {
    let Some(row) = redemption::Entity::find_by_id(id)
        .filter(redemption::Column::MerchantId.eq(merchant_id))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(assemble(conn, vec![row]).await?.pop())
}

/// Count and sums of some redemptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub count: i64,
    pub amount_fen: i64,
    pub discount_fen: i64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.count += other.count;
        self.amount_fen += other.amount_fen;
        self.discount_fen += other.discount_fen;
    }
}

const SUMS: [&str; 3] = [
    "CAST(COUNT(*) AS BIGINT)",
    "CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT)",
    "CAST(COALESCE(SUM(discount_fen), 0) AS BIGINT)",
];

/// A merchant's redemptions between two Beijing dates (inclusive), newest first, one page,
/// with the total count and the totals over the whole range.
pub async fn list_for_merchant<C: ConnectionTrait>(
    conn: &C,
    merchant_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Redemption>, Totals), StoreError> {
    let query = redemption::Entity::find()
        .filter(redemption::Column::MerchantId.eq(merchant_id))
        .filter(redemption::Column::Day.gte(from))
        .filter(redemption::Column::Day.lte(to));
    let (count, amount_fen, discount_fen): (i64, i64, i64) = query
        .clone()
        .select_only()
        .column_as(Expr::cust(SUMS[0]), "n")
        .column_as(Expr::cust(SUMS[1]), "a")
        .column_as(Expr::cust(SUMS[2]), "d")
        .into_tuple()
        .one(conn)
        .await?
        .unwrap_or_default();
    let rows = query
        .order_by_desc(redemption::Column::CreatedAt)
        .order_by_desc(redemption::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((
        assemble(conn, rows).await?,
        Totals {
            count,
            amount_fen,
            discount_fen,
        },
    ))
}

/// A card's redemptions, newest first (at most `limit`).
pub async fn list_for_card<C: ConnectionTrait>(
    conn: &C,
    card_id: Uuid,
    limit: u64,
) -> Result<Vec<Redemption>, StoreError> {
    let rows = redemption::Entity::find()
        .filter(redemption::Column::CardId.eq(card_id))
        .order_by_desc(redemption::Column::CreatedAt)
        .order_by_desc(redemption::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    assemble(conn, rows).await
}

/// Redemptions at one merchant over a period.
#[derive(Debug, Clone)]
pub struct MerchantSummary {
    pub merchant_id: Uuid,
    pub name: String,
    pub category: String,
    pub totals: Totals,
}

/// Redemptions between two Beijing dates at the merchants onboarded within `scope`: per
/// merchant (those with any), per category, and overall.
pub async fn summary<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<MerchantSummary>, Vec<(String, Totals)>, Totals), StoreError> {
    let rows: Vec<(Uuid, i64, i64, i64)> = redemption::Entity::find()
        .select_only()
        .column(redemption::Column::MerchantId)
        .column_as(Expr::cust(SUMS[0]), "n")
        .column_as(Expr::cust(SUMS[1]), "a")
        .column_as(Expr::cust(SUMS[2]), "d")
        .filter(redemption::Column::MerchantId.in_subquery(merchants_in(scope)))
        .filter(redemption::Column::Day.gte(from))
        .filter(redemption::Column::Day.lte(to))
        .group_by(redemption::Column::MerchantId)
        .into_tuple()
        .all(conn)
        .await?;
    let mut merchants = HashMap::new();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    for chunk in ids.chunks(500) {
        for m in merchant::Entity::find()
            .filter(merchant::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            merchants.insert(m.id, m);
        }
    }
    let mut per_merchant: Vec<MerchantSummary> = rows
        .into_iter()
        .map(|(id, count, amount_fen, discount_fen)| {
            let m = merchants.get(&id);
            MerchantSummary {
                merchant_id: id,
                name: m.map(|m| m.name.clone()).unwrap_or_default(),
                category: m.map(|m| m.category.clone()).unwrap_or_default(),
                totals: Totals {
                    count,
                    amount_fen,
                    discount_fen,
                },
            }
        })
        .collect();
    per_merchant.sort_by(|a, b| a.name.cmp(&b.name).then(a.merchant_id.cmp(&b.merchant_id)));
    let mut per_category: Vec<(String, Totals)> = Vec::new();
    let mut overall = Totals::default();
    for m in &per_merchant {
        overall.add(m.totals);
        match per_category.iter_mut().find(|(c, _)| *c == m.category) {
            Some((_, t)) => t.add(m.totals),
            None => per_category.push((m.category.clone(), m.totals)),
        }
    }
    per_category.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((per_merchant, per_category, overall))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_take_off_what_their_kind_says() {
        assert_eq!(DiscountKind::Percent.discount_fen(Some(12), 10_000), 1_200);
        assert_eq!(DiscountKind::Amount.discount_fen(Some(500), 10_000), 500);
        assert_eq!(DiscountKind::Amount.discount_fen(Some(500), 300), 300);
        assert_eq!(DiscountKind::Perk.discount_fen(None, 10_000), 0);
    }

    #[test]
    fn days_are_beijing_days() {
        let late = DateTime::parse_from_rfc3339("2026-11-28T16:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(
            beijing_day(late),
            NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default()
        );
    }
}
