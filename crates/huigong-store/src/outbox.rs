//! The transactional outbox: a message is written in the same transaction as the change it
//! announces, and delivered afterwards by whichever instance claims it first.
//!
//! Claiming takes a lease (`lease_until`) with a conditional update, so two instances never
//! hold the same message at once; a deliverer that dies mid-delivery loses its lease and the
//! message is tried again later. A message is marked `sent` once delivered and never claimed
//! again; after [`MAX_ATTEMPTS`] transient failures, or one permanent failure, it is `failed`;
//! when the recipient does not allow it (WeChat's 43101: no subscription accepted, or used up)
//! it is `refused` — undeliverable by the user's choice, never tried again.

use crate::StoreError;
use crate::entity::outbox;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::time::Duration;
use uuid::Uuid;

/// Deliveries tried before a message is given up.
pub const MAX_ATTEMPTS: i32 = 8;

/// A message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Uuid,
    pub kind: String,
    pub user_id: Uuid,
    pub payload: String,
    /// Deliveries tried before this one.
    pub attempts: i32,
}

/// Queues a message in the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(
    txn: &C,
    kind: &str,
    user_id: Uuid,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(id),
        kind: Set(kind.to_owned()),
        user_id: Set(user_id),
        payload: Set(payload.to_owned()),
        status: Set("pending".to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(id)
}

fn lease_free(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(outbox::Column::LeaseUntil.is_null())
        .add(outbox::Column::LeaseUntil.lt(now))
}

/// Claims up to `limit` due messages for `lease`: each returned message is held by the caller
/// alone until the lease runs out or it is marked.
pub async fn claim_due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<Message>, StoreError> {
    let due = outbox::Entity::find()
        .filter(outbox::Column::Status.eq("pending"))
        .filter(outbox::Column::NextAttemptAt.lte(now))
        .filter(lease_free(now))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .limit(limit)
        .all(conn)
        .await?;
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let mut claimed = Vec::new();
    for row in due {
        let won = outbox::Entity::update_many()
            .col_expr(outbox::Column::LeaseUntil, Expr::value(Some(until)))
            .filter(outbox::Column::Id.eq(row.id))
            .filter(outbox::Column::Status.eq("pending"))
            .filter(lease_free(now))
            .exec(conn)
            .await?;
        if won.rows_affected == 1 {
            claimed.push(Message {
                id: row.id,
                kind: row.kind,
                user_id: row.user_id,
                payload: row.payload,
                attempts: row.attempts,
            });
        }
    }
    Ok(claimed)
}

/// Records a delivery.
pub async fn mark_sent<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value("sent"))
        .col_expr(outbox::Column::SentAt, Expr::value(Some(now)))
        .col_expr(
            outbox::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .filter(outbox::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records a failed delivery: tried again at `retry_at`, or given up (`failed`) when
/// `retry_at` is `None` or the attempts are used up. `error` must hold no personal data.
pub async fn mark_failed<C: ConnectionTrait>(
    conn: &C,
    message: &Message,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let attempts = message.attempts + 1;
    let give_up = retry_at.is_none() || attempts >= MAX_ATTEMPTS;
    let error: String = error.chars().take(255).collect();
    let mut update = outbox::Entity::update_many()
        .col_expr(outbox::Column::Attempts, Expr::value(attempts))
        .col_expr(outbox::Column::LastError, Expr::value(Some(error)))
        .col_expr(
            outbox::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        );
    if give_up {
        update = update.col_expr(outbox::Column::Status, Expr::value("failed"));
    } else if let Some(at) = retry_at {
        update = update.col_expr(outbox::Column::NextAttemptAt, Expr::value(at));
    }
    update
        .filter(outbox::Column::Id.eq(message.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Status of a message the recipient did not allow (WeChat 43101).
pub const REFUSED: &str = "refused";

/// Records that the recipient does not allow the message (no subscription accepted, or used
/// up): it is `refused` and never claimed again.
pub async fn mark_refused<C: ConnectionTrait>(
    conn: &C,
    message: &Message,
) -> Result<(), StoreError> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(REFUSED))
        .col_expr(outbox::Column::Attempts, Expr::value(message.attempts + 1))
        .col_expr(
            outbox::Column::LastError,
            Expr::value(Some("43101: recipient has no subscription".to_owned())),
        )
        .col_expr(
            outbox::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(outbox::Column::Id.eq(message.id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A message's delivery state: `(status, attempts, last_error)`.
pub async fn state<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
) -> Result<Option<(String, i32, Option<String>)>, StoreError> {
    Ok(outbox::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(|m| (m.status, m.attempts, m.last_error)))
}

/// Messages waiting for delivery (`pending`), and the age of the oldest one: what the metrics
/// endpoint reports as the outbox backlog.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    pub pending: u64,
    /// Seconds since the oldest pending message was queued; 0 when none waits.
    pub oldest_pending_secs: f64,
}

/// The outbox's [`Backlog`] at `now`.
pub async fn backlog<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Backlog, StoreError> {
    use sea_orm::PaginatorTrait as _;
    let pending = outbox::Entity::find()
        .filter(outbox::Column::Status.eq("pending"))
        .count(conn)
        .await?;
    let oldest = outbox::Entity::find()
        .filter(outbox::Column::Status.eq("pending"))
        .order_by_asc(outbox::Column::CreatedAt)
        .one(conn)
        .await?;
    let oldest_pending_secs = oldest
        .map(|m| std::cmp::max((now - m.created_at).num_milliseconds(), 0) as f64 / 1000.0)
        .unwrap_or(0.0);
    Ok(Backlog {
        pending,
        oldest_pending_secs,
    })
}
