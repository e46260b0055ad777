//! The audit sealer: links the events writers inserted unlinked into the keyed chain, in
//! sequence order, one batch at a time, on exactly one instance.
//!
//! # Why
//!
//! An audited write used to claim the chain's head row inside its own transaction, so every
//! audited write in the system queued behind one row lock for the rest of the writer's
//! transaction. Now a writer inserts its event with a number from the database (the PostgreSQL
//! sequence `audit_events_seq`; on SQLite one past the highest, SQLite writers being serialised)
//! and an empty `prev_hash` and `hash`, and commits: nothing is locked but its own row. The
//! sealer then sets each event's `prev_hash`, key id and `hash` (HMAC-SHA256 over the key id,
//! the previous hash and every column, as [`crate::audit::event_hash`] always did) and moves
//! `audit_head` to the last one. The guards (triggers) allow this one update only: an event
//! without a hash may receive one, once, every other column unchanged; a sealed event is
//! immutable, and deletes are refused for 180 days as before.
//!
//! # One sealer: the lease and the fence
//!
//! Every instance runs [`run`]; the one holding the lease `audit:sealer` in the shared
//! ephemeral store (Redis in production) seals, renewing it on every round
//! ([`crate::Ephemeral::extend_if_equals`]); when it dies the lease expires and another
//! instance takes it. A lease alone is not enough: a leaseholder paused past its lease (a long
//! GC-like stall, a network partition) may wake up still believing it holds it. So whoever
//! takes the lease first raises `audit_head.fence` in the database and seals only while the
//! head still carries its number; each sealing transaction locks the head row and checks it.
//! Once a successor has raised the fence, the old holder's transactions are refused
//! ([`Step::Fenced`]) and it steps down. Independently of all that, a seal is a
//! compare-and-set: the head moves only from the number the batch started at, and an event is
//! updated only while it has no hash. Two sealers racing can therefore never seal one event
//! twice or fork the chain; the lease only keeps them from wasting work, the fence from
//! sealing on a view a successor has moved past.
//!
//! # Gaps: commit order is not sequence order
//!
//! On PostgreSQL a number is drawn when a writer inserts, not when it commits, and a drawn
//! number whose transaction rolls back is never used. So when the sealer sees events 5 and 7
//! but not 6, number 6 is either still in flight (its transaction will commit later) or gone
//! for good. The chain is in sequence order, so the sealer must not link 7 to 5 while 6 may
//! still arrive. It waits: a hole that stays open for the grace period (`audit.gap_grace_ms`,
//! a few seconds: far longer than an audited write's transaction) is taken to be a rollback,
//! and the sealer records it by inserting, at that number, an event of its own,
//! [`SKIPPED_ACTION`], sealed into the chain like any other. The grace period is only an
//! estimate; correctness does not rest on it: `audit_events.seq` is unique, so if the writer
//! holding 6 was merely slow, either its commit or the sealer's record of the skip fails (on
//! PostgreSQL the second inserter waits for the first to finish). If the writer wins, the
//! sealer's batch fails and is retried, finding the event; if the sealer wins, the writer's
//! whole transaction, the change with its event, fails, as if it had hit any other conflict.
//! Nothing is ever committed unrecorded and nothing is sealed out of order.
//!
//! Because every number up to the head is sealed (an event or a skip record), [`verify`]
//! keeps the simple rule that sealed numbers are consecutive: a deleted event is a hole in
//! the numbers (and a broken link), a rolled-back number is a sealed skip record, which only
//! the holder of the chain key could have written. Events after the head that are not sealed
//! yet are counted by [`verify`] with the age of the oldest, and `huigong audit verify` fails
//! when that age passes `audit.unsealed_alarm_secs` (the sealer is not running or cannot keep
//! up). A crash between a writer's commit and the seal loses nothing: the event is committed,
//! and whichever sealer runs next links it.
//!
//! SQLite numbers have no gaps (its writers are serialised and a rolled-back number is taken
//! again), but the same code handles them.
//!
//! [`verify`]: crate::audit::verify

use crate::audit::{Numbering, event_hash, insert_events};
use crate::db::WriteTxn;
use crate::entity::{audit_event, audit_head};
use crate::{Database, Ephemeral, StoreError};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The lease's key in the ephemeral store.
pub const LEASE_KEY: &str = "audit:sealer";

/// The action of the sealer's record of a number that was drawn and rolled back.
pub const SKIPPED_ACTION: &str = "audit.seq_skipped";

/// How the sealer runs (`[audit]` in the configuration).
#[derive(Debug, Clone)]
pub struct SealerSettings {
    /// Time between rounds when there is nothing left to seal.
    pub interval: Duration,
    /// Life of the lease; renewed every round.
    pub lease: Duration,
    /// How long a hole in the numbers stays open before it counts as a rollback.
    pub grace: Duration,
    /// Most events sealed per transaction.
    pub batch: u64,
}

impl Default for SealerSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(200),
            lease: Duration::from_secs(5),
            grace: Duration::from_secs(3),
            batch: 1000,
        }
    }
}

/// What one round of [`Sealer::seal_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `sealed` events linked, `skipped` of them records of rolled-back numbers; `more`: the
    /// batch was full, seal again at once.
    Sealed {
        sealed: u64,
        skipped: u64,
        more: bool,
    },
    /// Another sealer raised the fence: this one must stop.
    Fenced,
    /// The chain ends with events chained before keyed chaining that no keyed seal covers yet
    /// ([`crate::audit::seal_unkeyed`] runs at the first start with keys): linking keyed
    /// events after them would break the chain for good, so the sealer waits.
    UnkeyedHead,
}

/// A sealer holding a fencing number. Build it only while holding the lease (or in a test).
#[derive(Debug)]
pub struct Sealer {
    db: Database,
    fence: i64,
    grace: Duration,
    batch: u64,
    /// The first missing number seen and since when.
    gap: Option<(i64, Instant)>,
}

/// Raises the fence and returns the new number: every earlier sealer is refused from now on.
pub async fn take_fence(db: &Database) -> Result<i64, StoreError> {
    let txn = db.begin_write().await?;
    let head = audit_head::Entity::update_many()
        .col_expr(
            audit_head::Column::Fence,
            Expr::col(audit_head::Column::Fence).add(1),
        )
        .filter(audit_head::Column::Id.eq(1))
        .exec_with_returning(&txn)
        .await?
        .pop()
        .ok_or_else(|| StoreError::Other("audit_head row missing".to_owned()))?;
    txn.commit().await?;
    Ok(head.fence)
}

/// The head row, locked to the end of `txn` on PostgreSQL (SQLite's write transaction holds
/// the database already).
async fn lock_head(txn: &WriteTxn) -> Result<audit_head::Model, StoreError> {
    let mut query = audit_head::Entity::find_by_id(1);
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query
        .one(txn)
        .await?
        .ok_or_else(|| StoreError::Other("audit_head row missing".to_owned()))
}

/// The sealer's record of a skipped number, not hashed yet.
fn skip_record(seq: i64, now: DateTime<Utc>) -> audit_event::Model {
    let occurred_at = now.trunc_subsecs(6);
    audit_event::Model {
        id: Uuid::now_v7(),
        seq,
        occurred_at,
        occurred_at_unix: occurred_at.timestamp(),
        actor_user_id: None,
        actor_role: "system".to_owned(),
        action: SKIPPED_ACTION.to_owned(),
        target_type: "audit".to_owned(),
        target_id: Some(seq.to_string()),
        fields: String::new(),
        outcome: "success".to_owned(),
        client_ip: None,
        request_id: None,
        prev_hash: Vec::new(),
        hash: Vec::new(),
        chain_key_id: None,
    }
}

impl Sealer {
    /// Takes a new fencing number ([`take_fence`]) and seals with it.
    pub async fn start(db: Database, grace: Duration, batch: u64) -> Result<Self, StoreError> {
        let fence = take_fence(&db).await?;
        Ok(Self {
            db,
            fence,
            grace,
            batch: Ord::max(batch, 1),
            gap: None,
        })
    }

    /// The fencing number this sealer holds.
    pub fn fence(&self) -> i64 {
        self.fence
    }

    /// Whether the hole starting at `seq` has been open for the grace period.
    fn gap_ripe(&mut self, seq: i64) -> bool {
        match self.gap {
            Some((open, since)) if open == seq => since.elapsed() >= self.grace,
            _ => {
                self.gap = Some((seq, Instant::now()));
                self.grace.is_zero()
            }
        }
    }

    /// Seals the next batch, in one transaction: the events after the head in sequence order,
    /// up to the first hole that may still fill (see the module documentation).
    pub async fn seal_once(&mut self) -> Result<Step, StoreError> {
        // Idle rounds read only: no write transaction (on SQLite, no turn at the write gate)
        // unless an event waits after the head.
        let head = audit_head::Entity::find_by_id(1)
            .one(&self.db.conn)
            .await?
            .ok_or_else(|| StoreError::Other("audit_head row missing".to_owned()))?;
        if head.fence != self.fence {
            return Ok(Step::Fenced);
        }
        let waiting = audit_event::Entity::find()
            .select_only()
            .column(audit_event::Column::Seq)
            .filter(audit_event::Column::Seq.gt(head.seq))
            .limit(1)
            .into_tuple::<i64>()
            .one(&self.db.conn)
            .await?;
        if waiting.is_none() {
            return Ok(Step::Sealed {
                sealed: 0,
                skipped: 0,
                more: false,
            });
        }
        let txn = self.db.begin_write().await?;
        let keys = txn.chain_keys().cloned().ok_or_else(|| {
            StoreError::Other(
                "the audit chain key is not configured (Database::with_chain_keys)".to_owned(),
            )
        })?;
        let head = lock_head(&txn).await?;
        if head.fence != self.fence {
            return Ok(Step::Fenced);
        }
        let rows = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.gte(head.seq))
            .order_by_asc(audit_event::Column::Seq)
            .limit(self.batch + 1)
            .all(&txn)
            .await?;
        let mut rows = rows.into_iter().peekable();
        if let Some(last) = rows.next_if(|e| e.seq == head.seq) {
            if last.hash != head.hash {
                return Err(StoreError::Other(format!(
                    "the audit head does not name event {}'s hash (run huigong audit verify)",
                    head.seq
                )));
            }
            if last.chain_key_id.is_none() {
                return Ok(Step::UnkeyedHead);
            }
        }
        let now = Utc::now();
        let key_id = keys.active_key_id();
        let mut expected = head.seq + 1;
        let mut prev = head.hash.clone();
        let mut sealed: Vec<audit_event::Model> = Vec::new();
        let mut skipped: Vec<audit_event::Model> = Vec::new();
        let batch = self.batch;
        let full =
            |sealed: &Vec<_>, skipped: &Vec<_>| (sealed.len() + skipped.len()) as u64 >= batch;
        let seal = |mut e: audit_event::Model,
                    prev: &mut Vec<u8>|
         -> Result<audit_event::Model, StoreError> {
            e.prev_hash = std::mem::take(prev);
            e.chain_key_id = Some(i32::from(key_id));
            e.hash = event_hash(&e, Some(&keys))
                .map_err(StoreError::Other)?
                .to_vec();
            prev.clone_from(&e.hash);
            Ok(e)
        };
        'events: for event in rows {
            if !event.hash.is_empty() {
                return Err(StoreError::Other(format!(
                    "audit event {} is sealed beyond the head ({}): run huigong audit verify",
                    event.seq, head.seq
                )));
            }
            if event.seq > expected {
                let (hole, ripe) = (expected, self.gap_ripe(expected));
                if !ripe {
                    break;
                }
                while expected < event.seq {
                    if full(&sealed, &skipped) {
                        break 'events;
                    }
                    skipped.push(seal(skip_record(expected, now), &mut prev)?);
                    expected += 1;
                }
                tracing::info!(
                    from = hole,
                    to = event.seq - 1,
                    "audit sequence numbers rolled back: recorded as skipped"
                );
            }
            if full(&sealed, &skipped) {
                break;
            }
            sealed.push(seal(event, &mut prev)?);
            expected += 1;
        }
        let (n_sealed, n_skipped) = (sealed.len() as u64, skipped.len() as u64);
        if n_sealed + n_skipped == 0 {
            return Ok(Step::Sealed {
                sealed: 0,
                skipped: 0,
                more: false,
            });
        }
        if expected > head.seq + 1 && self.gap.is_some_and(|(s, _)| s < expected) {
            self.gap = None;
        }
        if !skipped.is_empty() {
            insert_events(&txn, skipped, Numbering::Given).await?;
        }
        update_seals(&txn, &sealed).await?;
        let moved = audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::value(expected - 1))
            .col_expr(audit_head::Column::Hash, Expr::value(prev))
            .filter(audit_head::Column::Id.eq(1))
            .filter(audit_head::Column::Fence.eq(self.fence))
            .filter(audit_head::Column::Seq.eq(head.seq))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Ok(Step::Fenced);
        }
        txn.commit().await?;
        Ok(Step::Sealed {
            sealed: n_sealed + n_skipped,
            skipped: n_skipped,
            more: n_sealed + n_skipped >= self.batch,
        })
    }

    /// Seals until nothing more can be sealed now; the number sealed.
    pub async fn seal_all(&mut self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            match self.seal_once().await? {
                Step::Sealed { sealed, more, .. } => {
                    total += sealed;
                    if !more {
                        return Ok(total);
                    }
                }
                Step::UnkeyedHead => return Ok(total),
                Step::Fenced => {
                    return Err(StoreError::Other(
                        "another audit sealer took over".to_owned(),
                    ));
                }
            }
        }
    }
}

/// Sets the link and hash of each of `events` (sealed in memory), each only if it has none:
/// on PostgreSQL in one statement of fixed text (the values as one JSON parameter).
async fn update_seals(txn: &WriteTxn, events: &[audit_event::Model]) -> Result<(), StoreError> {
    use base64::Engine as _;
    use sea_orm::{DbBackend, Statement};
    if events.is_empty() {
        return Ok(());
    }
    let refused = |seq: i64| {
        StoreError::Other(format!(
            "audit event {seq} was sealed meanwhile (another sealer)"
        ))
    };
    if txn.get_database_backend() != DbBackend::Postgres {
        for e in events {
            let done = audit_event::Entity::update_many()
                .col_expr(
                    audit_event::Column::PrevHash,
                    Expr::value(e.prev_hash.clone()),
                )
                .col_expr(audit_event::Column::Hash, Expr::value(e.hash.clone()))
                .col_expr(audit_event::Column::ChainKeyId, Expr::value(e.chain_key_id))
                .filter(audit_event::Column::Seq.eq(e.seq))
                .filter(audit_event::Column::Hash.eq(Vec::<u8>::new()))
                .exec(txn)
                .await?;
            if done.rows_affected != 1 {
                return Err(refused(e.seq));
            }
        }
        return Ok(());
    }
    #[derive(serde::Serialize)]
    struct Seal {
        seq: i64,
        prev_hash: String,
        hash: String,
        chain_key_id: Option<i32>,
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let json: Vec<Seal> = events
        .iter()
        .map(|e| Seal {
            seq: e.seq,
            prev_hash: b64.encode(&e.prev_hash),
            hash: b64.encode(&e.hash),
            chain_key_id: e.chain_key_id,
        })
        .collect();
    let json = serde_json::to_string(&json).map_err(|e| StoreError::Other(e.to_string()))?;
    const SEAL: &str = "UPDATE audit_events AS e SET prev_hash = decode(r.prev_hash, 'base64'), \
        hash = decode(r.hash, 'base64'), chain_key_id = r.chain_key_id \
        FROM json_to_recordset($1::json) AS r(seq bigint, prev_hash text, hash text, \
        chain_key_id integer) WHERE e.seq = r.seq AND length(e.hash) = 0";
    let done = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SEAL,
            [json.into()],
        ))
        .await?;
    if done.rows_affected() != events.len() as u64 {
        return Err(refused(events[0].seq));
    }
    Ok(())
}

/// Seals everything that can be sealed now, with a fresh fence and no grace period (holes are
/// recorded as skipped at once): for tests and operators, never beside a running service's
/// writers (a slow writer's number would be skipped under it, failing its transaction).
pub async fn seal_now(db: &Database) -> Result<u64, StoreError> {
    Sealer::start(db.clone(), Duration::ZERO, 1000)
        .await?
        .seal_all()
        .await
}

/// Seals on this instance whenever it holds the lease, until the process ends. Every instance
/// runs it; exactly one seals at a time.
pub async fn run(db: Database, store: Arc<dyn Ephemeral>, settings: SealerSettings) {
    let me = Uuid::now_v7().to_string();
    let mut sealer: Option<Sealer> = None;
    let mut warned_unkeyed = false;
    let mut tick = tokio::time::interval(settings.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hurry = false;
    loop {
        if !hurry {
            tick.tick().await;
        }
        hurry = false;
        let held = match &sealer {
            Some(_) => {
                store
                    .extend_if_equals(LEASE_KEY, me.as_bytes(), settings.lease)
                    .await
            }
            None => {
                store
                    .set_if_absent(LEASE_KEY, me.as_bytes(), settings.lease)
                    .await
            }
        };
        match held {
            Ok(true) => {}
            Ok(false) => {
                if sealer.take().is_some() {
                    tracing::info!("audit sealer: lease lost, another instance seals");
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit sealer: the lease cannot be checked");
                sealer = None;
                continue;
            }
        }
        if sealer.is_none() {
            match Sealer::start(db.clone(), settings.grace, settings.batch).await {
                Ok(s) => {
                    tracing::info!(fence = s.fence(), "audit sealer: this instance seals");
                    sealer = Some(s);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "audit sealer: could not take the fence");
                    let _ = store.delete_if_equals(LEASE_KEY, me.as_bytes()).await;
                    continue;
                }
            }
        }
        let Some(s) = sealer.as_mut() else {
            continue;
        };
        match s.seal_once().await {
            Ok(Step::Sealed { more, .. }) => hurry = more,
            Ok(Step::Fenced) => {
                tracing::info!("audit sealer: fenced off by a newer sealer, stepping down");
                sealer = None;
                let _ = store.delete_if_equals(LEASE_KEY, me.as_bytes()).await;
            }
            Ok(Step::UnkeyedHead) => {
                if !warned_unkeyed {
                    tracing::warn!(
                        "audit sealer: the chain ends with events from before keyed chaining; \
                         waiting for their keyed seal (first start with keys)"
                    );
                    warned_unkeyed = true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit sealer: batch not sealed, retrying");
            }
        }
    }
}

/// [`crate::audit::seal_unkeyed`]: appends the keyed seal of an unkeyed chain directly after
/// the head, sealed, in the head's transaction.
pub(crate) async fn seal_unkeyed(
    db: &Database,
    event: audit_event::Model,
) -> Result<bool, StoreError> {
    let txn = db.begin_write().await?;
    let keys = txn.chain_keys().cloned().ok_or_else(|| {
        StoreError::Other(
            "the audit chain key is not configured (Database::with_chain_keys)".to_owned(),
        )
    })?;
    let head = lock_head(&txn).await?;
    let last = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Seq)
        .one(&txn)
        .await?;
    let Some(last) = last.filter(|e| e.chain_key_id.is_none() && !e.hash.is_empty()) else {
        return Ok(false);
    };
    if last.seq != head.seq || last.hash != head.hash {
        return Err(StoreError::Other(
            "the audit head does not name the last event (run huigong audit verify)".to_owned(),
        ));
    }
    let mut event = event;
    event.seq = head.seq + 1;
    event.target_id = Some(head.seq.to_string());
    event.prev_hash = head.hash.clone();
    event.chain_key_id = Some(i32::from(keys.active_key_id()));
    event.hash = event_hash(&event, Some(&keys))
        .map_err(StoreError::Other)?
        .to_vec();
    let hash = event.hash.clone();
    insert_events(&txn, vec![event], Numbering::Given).await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // The sequence must not hand out the number just used.
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT setval('audit_events_seq', GREATEST((SELECT last_value FROM audit_events_seq), $1))",
            [(head.seq + 1).into()],
        ))
        .await?;
    }
    audit_head::Entity::update_many()
        .col_expr(audit_head::Column::Seq, Expr::value(head.seq + 1))
        .col_expr(audit_head::Column::Hash, Expr::value(hash))
        .filter(audit_head::Column::Id.eq(1))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}
