//! The audit log: append-only, each event's keyed hash covering all its columns and the
//! previous event's hash.
//!
//! Events are written with [`record`] inside the transaction of the change they describe, so a
//! change without its event (or the reverse) cannot be committed; events that record no change
//! of their own (a read) can go through the [`Appender`], which commits them in batches.
//! Writers insert events unlinked, numbered by the database, and take no lock beyond their
//! rows; one sealer across all instances links them into the chain in sequence order within
//! about a second ([`crate::audit_sealer`], which explains the lease, the fence and rolled-back
//! numbers), moving `audit_head` to the last sealed event. The chain is keyed: each event's hash is an HMAC-SHA256 under an audit chain key
//! derived from the vault's keys (`huigong_vault::derived`; the event records the key id), so
//! writing the database is not enough to rewrite it. [`verify`] walks the chain and reports the
//! first bad event. Database triggers refuse updates, and deletes of
//! events younger than 180 days; the chain catches whoever bypasses them.

use crate::entity::{audit_event, audit_head};
use crate::{Database, StoreError};
use chrono::{DateTime, SubsecRound, Utc};
use huigong_vault::ChainKeys;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Who acted. `role` is a role name, or `system` for commands run from the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub role: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// An operator's command (`huigong keys rotate`, …).
    pub fn system() -> Self {
        Self {
            user_id: None,
            role: "system".to_owned(),
            client_ip: None,
            request_id: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// What happened, to what, and which personal fields it read or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Dotted verb, for example `person.create`, `person.read_full`, `vault.rotate`.
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub fields: &'a [&'a str],
    pub outcome: Outcome,
}

/// Feeds every column of an event but the hashes' key id to `part`, length-prefixed so no two
/// different events encode alike, the previous hash first.
fn encode_event(event: &audit_event::Model, mut feed: impl FnMut(&[u8])) {
    let mut part = |bytes: &[u8]| {
        feed(&(bytes.len() as u32).to_be_bytes());
        feed(bytes);
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    part(&event.prev_hash);
    part(event.id.as_bytes());
    part(&event.seq.to_be_bytes());
    part(&event.occurred_at.timestamp_micros().to_be_bytes());
    part(&event.occurred_at_unix.to_be_bytes());
    part(
        event
            .actor_user_id
            .map(|u| *u.as_bytes())
            .unwrap_or_default()
            .as_slice(),
    );
    part(event.actor_role.as_bytes());
    part(event.action.as_bytes());
    part(event.target_type.as_bytes());
    part(opt(&event.target_id).as_bytes());
    part(event.fields.as_bytes());
    part(event.outcome.as_bytes());
    part(opt(&event.client_ip).as_bytes());
    part(opt(&event.request_id).as_bytes());
}

/// The chain hash of an event written before keyed chaining (`chain_key_id` is `None`):
/// SHA-256 over the previous hash and every column. Anyone can compute it, so such events are
/// trusted only as the prefix that the first keyed event's MAC covers (see [`verify`]).
pub fn plain_hash(event: &audit_event::Model) -> [u8; 32] {
    let mut h = Sha256::new();
    encode_event(event, |b| h.update(b));
    h.finalize().into()
}

/// The chain hash of an event: HMAC-SHA256 under the audit chain key its `chain_key_id`
/// names, over the key id, the previous hash and every column; plain SHA-256 for events
/// without a key id. `Err` names a key the ring does not hold.
pub fn event_hash(
    event: &audit_event::Model,
    keys: Option<&ChainKeys>,
) -> Result<[u8; 32], String> {
    let Some(id) = event.chain_key_id else {
        return Ok(plain_hash(event));
    };
    let missing = || format!("chained with vault key id {id}, which is not configured here");
    let id = u16::try_from(id).map_err(|_| missing())?;
    let mut mac = keys.and_then(|k| k.hasher(id)).ok_or_else(missing)?;
    mac.update(&id.to_be_bytes());
    encode_event(event, |b| mac.update(b));
    Ok(mac.finalize())
}

/// A write transaction that can append audit events: it carries the database's audit chain
/// keys ([`crate::Database::with_chain_keys`]).
pub trait AuditTxn: ConnectionTrait {
    fn chain_keys(&self) -> Option<&ChainKeys>;
}

impl AuditTxn for crate::db::WriteTxn {
    fn chain_keys(&self) -> Option<&ChainKeys> {
        crate::db::WriteTxn::chain_keys(self)
    }
}

/// Appends an event. Call it with the transaction of the change it records.
pub async fn record<C: AuditTxn>(
    txn: &C,
    actor: &Actor,
    entry: &Entry<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    record_all(txn, &[(actor, entry, now)]).await
}

/// Appends events in order, unlinked: one statement on PostgreSQL (the sequence numbers come
/// from `audit_events_seq`), two on SQLite (the next number, then the insert; SQLite writers
/// are serialised, so the number is free). No lock is taken beyond the rows inserted: audited
/// writes no longer queue behind each other. The events become part of the chain when the
/// sealer links them ([`crate::audit_sealer`]), within about a second.
pub async fn record_all<C: AuditTxn>(
    txn: &C,
    events: &[(&Actor, &Entry<'_>, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    // Writers do not hash, but an instance that cannot seal or verify is misconfigured.
    if txn.chain_keys().is_none() {
        return Err(StoreError::Other(
            "the audit chain key is not configured (Database::with_chain_keys)".to_owned(),
        ));
    }
    let rows: Vec<audit_event::Model> = events
        .iter()
        .map(|(actor, entry, now)| {
            let occurred_at = now.trunc_subsecs(6);
            audit_event::Model {
                id: Uuid::now_v7(),
                seq: 0,
                occurred_at,
                occurred_at_unix: occurred_at.timestamp(),
                actor_user_id: actor.user_id,
                actor_role: actor.role.clone(),
                action: entry.action.to_owned(),
                target_type: entry.target_type.to_owned(),
                target_id: entry.target_id.clone(),
                fields: entry.fields.join(","),
                outcome: entry.outcome.as_str().to_owned(),
                client_ip: actor.client_ip.clone(),
                request_id: actor.request_id.clone(),
                prev_hash: Vec::new(),
                hash: Vec::new(),
                chain_key_id: None,
            }
        })
        .collect();
    insert_events(txn, rows, Numbering::FromDatabase).await
}

/// Whether [`insert_events`] keeps the rows' `seq` or numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbering {
    /// The rows carry their numbers (the sealer's records of skipped numbers).
    Given,
    /// The next numbers: the sequence on PostgreSQL, one past the highest on SQLite.
    FromDatabase,
}

/// The number after the highest event or the sealed head, on SQLite (whose writers are
/// serialised, so nobody takes it meanwhile).
async fn next_seq_sqlite<C: ConnectionTrait>(txn: &C) -> Result<i64, StoreError> {
    use sea_orm::{DbBackend, Statement};
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT MAX(m) AS m FROM (SELECT MAX(seq) AS m FROM audit_events \
             UNION ALL SELECT seq AS m FROM audit_head WHERE id = 1)",
        ))
        .await?;
    let last: Option<i64> = match row {
        Some(row) => row.try_get("", "m")?,
        None => None,
    };
    Ok(last.unwrap_or(0) + 1)
}

/// Inserts events. On PostgreSQL in one statement of fixed text whatever their number (the
/// rows travel as one JSON parameter), so each connection prepares it once and a batch costs
/// one round trip: a multi-row `VALUES` list has fifteen parameters per row and a new text for
/// every batch size, which PostgreSQL parsed and planned again for most batches of the
/// [`Appender`]. SQLite, in process, keeps the multi-row insert.
pub(crate) async fn insert_events<C: ConnectionTrait>(
    txn: &C,
    mut rows: Vec<audit_event::Model>,
    numbering: Numbering,
) -> Result<(), StoreError> {
    use base64::Engine as _;
    use sea_orm::{DbBackend, Statement};
    if txn.get_database_backend() != DbBackend::Postgres {
        if numbering == Numbering::FromDatabase {
            let first = next_seq_sqlite(txn).await?;
            for (seq, row) in (first..).zip(rows.iter_mut()) {
                row.seq = seq;
            }
        }
        let rows = rows.into_iter().map(audit_event::ActiveModel::from);
        audit_event::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
        return Ok(());
    }
    #[derive(serde::Serialize)]
    struct Row<'a> {
        id: Uuid,
        seq: i64,
        occurred_at: DateTime<Utc>,
        occurred_at_unix: i64,
        actor_user_id: Option<Uuid>,
        actor_role: &'a str,
        action: &'a str,
        target_type: &'a str,
        target_id: Option<&'a str>,
        fields: &'a str,
        outcome: &'a str,
        client_ip: Option<&'a str>,
        request_id: Option<&'a str>,
        prev_hash: String,
        hash: String,
        chain_key_id: Option<i32>,
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let json: Vec<Row<'_>> = rows
        .iter()
        .map(|e| Row {
            id: e.id,
            seq: e.seq,
            occurred_at: e.occurred_at,
            occurred_at_unix: e.occurred_at_unix,
            actor_user_id: e.actor_user_id,
            actor_role: &e.actor_role,
            action: &e.action,
            target_type: &e.target_type,
            target_id: e.target_id.as_deref(),
            fields: &e.fields,
            outcome: &e.outcome,
            client_ip: e.client_ip.as_deref(),
            request_id: e.request_id.as_deref(),
            prev_hash: b64.encode(&e.prev_hash),
            hash: b64.encode(&e.hash),
            chain_key_id: e.chain_key_id,
        })
        .collect();
    let json = serde_json::to_string(&json).map_err(|e| StoreError::Other(e.to_string()))?;
    // `seq` from the JSON, or its default: the next number of `audit_events_seq`.
    const GIVEN: &str = "INSERT INTO audit_events (id, seq, occurred_at, \
        occurred_at_unix, actor_user_id, actor_role, action, target_type, target_id, fields, \
        outcome, client_ip, request_id, prev_hash, hash, chain_key_id) \
        SELECT id, seq, occurred_at, occurred_at_unix, actor_user_id, actor_role, action, \
        target_type, target_id, fields, outcome, client_ip, request_id, \
        decode(prev_hash, 'base64'), decode(hash, 'base64'), chain_key_id \
        FROM json_to_recordset($1::json) AS r(id uuid, seq bigint, occurred_at timestamptz, \
        occurred_at_unix bigint, actor_user_id uuid, actor_role text, action text, \
        target_type text, target_id text, fields text, outcome text, client_ip text, \
        request_id text, prev_hash text, hash text, chain_key_id integer)";
    const NUMBERED: &str = "INSERT INTO audit_events (id, occurred_at, \
        occurred_at_unix, actor_user_id, actor_role, action, target_type, target_id, fields, \
        outcome, client_ip, request_id, prev_hash, hash, chain_key_id) \
        SELECT id, occurred_at, occurred_at_unix, actor_user_id, actor_role, action, \
        target_type, target_id, fields, outcome, client_ip, request_id, \
        decode(prev_hash, 'base64'), decode(hash, 'base64'), chain_key_id \
        FROM json_to_recordset($1::json) AS r(id uuid, occurred_at timestamptz, \
        occurred_at_unix bigint, actor_user_id uuid, actor_role text, action text, \
        target_type text, target_id text, fields text, outcome text, client_ip text, \
        request_id text, prev_hash text, hash text, chain_key_id integer)";
    let text = match numbering {
        Numbering::Given => GIVEN,
        Numbering::FromDatabase => NUMBERED,
    };
    let n = u64::try_from(rows.len()).map_err(|e| StoreError::Other(e.to_string()))?;
    let done = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            text,
            [json.into()],
        ))
        .await?;
    if done.rows_affected() != n {
        return Err(StoreError::Other(format!(
            "audit append of {n} events did not complete"
        )));
    }
    Ok(())
}

/// An event waiting in the [`Appender`]'s queue.
struct Pending {
    actor: Actor,
    entry: Entry<'static>,
    now: DateTime<Utc>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Most events written by one transaction of the [`Appender`] (16 bound values each, well
/// within both backends' limits).
const APPEND_BATCH: usize = 256;

/// Group commit for events that record no change of their own, such as a merchant verifying a
/// card (a read): each caller waits until its event is committed, but the events that arrive
/// while one batch is being written go together in the next transaction, so a burst of them
/// costs one transaction per batch instead of one per event. Events that describe a
/// change go through [`record`] in that change's transaction instead.
///
/// The batch is a write transaction (on SQLite it queues at the write gate), so never await
/// [`Appender::append`] while holding a [`crate::db::WriteTxn`]: on SQLite that waits for
/// itself until the gate's timeout.
#[derive(Debug, Clone)]
pub struct Appender {
    queue: mpsc::Sender<Pending>,
}

impl Appender {
    /// Starts the writer task on the current Tokio runtime. It stops when every `Appender`
    /// clone is dropped. One batch is written at a time; the next collects every event that
    /// arrived meanwhile. (Two batches at once, the second waiting at the chain's head while
    /// the first commits, were measured on the till, PostgreSQL, 64 tills, 2026-11-27: smaller
    /// batches cost PostgreSQL 59–61 µs per verification instead of 39–45 and lowered the rate
    /// from 7.4–7.9k to 6.8–7.0k per second.)
    pub fn start(db: Database) -> Self {
        let (queue, mut rx) = mpsc::channel::<Pending>(4 * APPEND_BATCH);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(APPEND_BATCH);
            while rx.recv_many(&mut batch, APPEND_BATCH).await > 0 {
                // On a task of its own: a panic while writing fails this batch, not the writer.
                let events: Vec<_> = batch
                    .iter()
                    .map(|p| (p.actor.clone(), p.entry.clone(), p.now))
                    .collect();
                let db = db.clone();
                let result = tokio::spawn(async move { write_batch(&db, &events).await })
                    .await
                    .unwrap_or_else(|e| {
                        Err(StoreError::Other(format!("audit batch writer failed: {e}")))
                    });
                if let Err(e) = &result {
                    tracing::error!(error = %e, events = batch.len(), "audit batch not written");
                }
                for p in batch.drain(..) {
                    // A caller that gave up (its request was cancelled) no longer listens.
                    let _ = p.done.send(result.clone());
                }
            }
        });
        Self { queue }
    }

    /// Appends an event and waits until it is committed.
    pub async fn append(
        &self,
        actor: Actor,
        entry: Entry<'static>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let gone = || StoreError::Unavailable("the audit writer has stopped".to_owned());
        let (done, wait) = oneshot::channel();
        self.queue
            .send(Pending {
                actor,
                entry,
                now,
                done,
            })
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }
}

async fn write_batch(
    db: &Database,
    batch: &[(Actor, Entry<'static>, DateTime<Utc>)],
) -> Result<(), StoreError> {
    let events: Vec<_> = batch.iter().map(|(a, e, now)| (a, e, *now)).collect();
    let txn = db.begin_write().await?;
    record_all(&txn, &events).await?;
    txn.commit().await.map_err(StoreError::from)
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verification {
    /// Sealed events checked.
    pub checked: u64,
    /// The first bad event: its sequence number and why (naming its id when it exists).
    pub broken: Option<(i64, String)>,
    /// Events written but not linked into the chain yet (after the sealed ones).
    pub unsealed: u64,
    /// When the oldest of them happened.
    pub oldest_unsealed: Option<DateTime<Utc>>,
}

impl Verification {
    /// Whether an event has waited for the sealer longer than `threshold` at `now` (the sealer
    /// is not running, or cannot keep up).
    pub fn seal_overdue(&self, now: DateTime<Utc>, threshold: chrono::Duration) -> bool {
        self.oldest_unsealed.is_some_and(|t| now - t > threshold)
    }
}

const VERIFY_PAGE: u64 = 1000;

/// Walks the whole chain in sequence order with the database's audit chain keys
/// ([`crate::Database::with_chain_keys`]) and reports the first bad event.
///
/// Events are chained with HMAC-SHA256 under a key derived from the vault's keys (the key id
/// is recorded per event), so only a holder of the keys can write a chain that verifies.
/// Events from before keyed chaining (plain SHA-256, no key id) are accepted only as the
/// chain's prefix, sealed by a keyed [`SEAL_ACTION`] event (written by the first start with
/// keys), whose MAC covers them through the previous hash: after the first keyed event none may
/// follow, the first keyed event after them must be that seal, and the chain must end keyed. So a chain recomputed with plain SHA-256 fails, and so
/// does an altered, inserted or removed event; removing events from the very end, with the
/// head rewritten to match, is the one change a chain alone cannot show.
///
/// Events not sealed yet (no hash: written, not yet linked by [`crate::audit_sealer`]) are
/// counted, not checked; they may only follow the sealed ones, and the head names the last
/// sealed event. A number the sealer found rolled back is a sealed event of its own
/// ([`crate::audit_sealer::SKIPPED_ACTION`]), so the sealed numbers have no holes and a
/// missing one is a removed event.
pub async fn verify(db: &Database) -> Result<Verification, StoreError> {
    let keys = db.chain_keys();
    let mut checked = 0u64;
    // The last good event: its sequence number, hash and whether it was keyed.
    let mut previous: Option<(i64, Vec<u8>, bool)> = None;
    let mut keyed_seen = false;
    let mut unsealed = 0u64;
    let mut oldest_unsealed: Option<DateTime<Utc>> = None;
    let mut after = i64::MIN;
    loop {
        let page = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.gt(after))
            .order_by_asc(audit_event::Column::Seq)
            .limit(VERIFY_PAGE)
            .all(&db.conn)
            .await?;
        let last_page = (page.len() as u64) < VERIFY_PAGE;
        for event in page {
            after = event.seq;
            let broken = |why: &str| Verification {
                checked,
                broken: Some((event.seq, format!("event {}: {why}", event.id))),
                ..Verification::default()
            };
            if event.hash.is_empty() {
                unsealed += 1;
                oldest_unsealed = Some(
                    oldest_unsealed.map_or(event.occurred_at, |t| Ord::min(t, event.occurred_at)),
                );
                continue;
            }
            if unsealed > 0 {
                return Ok(broken(
                    "sealed after an event that is not sealed (the chain was rewritten)",
                ));
            }
            // The first remaining event may come after 1 only where old events were pruned
            // (after 180 days); its predecessor's hash is then taken on trust.
            match &previous {
                None => {}
                Some((seq, _, _)) if event.seq != seq + 1 => {
                    return Ok(broken(&format!(
                        "sequence jumps from {seq} (events missing)"
                    )));
                }
                Some((_, hash, _)) if &event.prev_hash != hash => {
                    return Ok(broken("does not name the previous event's hash"));
                }
                Some(_) => {}
            }
            if event.seq == 1 && event.prev_hash != vec![0u8; 32] {
                return Ok(broken("first event does not start the chain"));
            }
            let keyed = event.chain_key_id.is_some();
            if keyed_seen && !keyed {
                return Ok(broken(
                    "not keyed, after keyed events (rewritten without the key)",
                ));
            }
            if let Some((seq, _, false)) = &previous
                && keyed
                && (event.action != SEAL_ACTION
                    || event.target_id.as_deref() != Some(seq.to_string().as_str()))
            {
                return Ok(broken(
                    "keyed event after unkeyed events that were never sealed (they were rewritten without the key)",
                ));
            }
            match event_hash(&event, keys) {
                Err(why) => return Ok(broken(&why)),
                Ok(hash) if hash.as_slice() != event.hash.as_slice() => {
                    return Ok(broken(if keyed {
                        "content does not match its keyed hash (altered, or chained without the key)"
                    } else {
                        "content does not match its hash (altered)"
                    }));
                }
                Ok(_) => {}
            }
            keyed_seen |= keyed;
            checked += 1;
            previous = Some((event.seq, event.hash, keyed));
        }
        if last_page {
            break;
        }
    }
    // The head must name the last event: otherwise events were cut off the end.
    let head = audit_head::Entity::find_by_id(1)
        .one(&db.conn)
        .await?
        .ok_or_else(|| StoreError::Other("audit_head row missing".to_owned()))?;
    let (last_seq, last_hash, last_keyed) = previous.unwrap_or((0, vec![0u8; 32], true));
    if head.seq != last_seq || head.hash != last_hash {
        return Ok(Verification {
            checked,
            unsealed,
            oldest_unsealed,
            broken: Some((
                last_seq + 1,
                format!(
                    "the head names event {} but the log ends at {last_seq} (events removed from the end)",
                    head.seq
                ),
            )),
        });
    }
    if !last_keyed {
        return Ok(Verification {
            checked,
            unsealed,
            oldest_unsealed,
            broken: Some((
                last_seq,
                format!(
                    "the chain ends with events not keyed: rewritten without the key, or written \
                     before keyed chaining and not sealed yet (start the service once; event \
                     {last_seq} is the last)"
                ),
            )),
        });
    }
    Ok(Verification {
        checked,
        broken: None,
        unsealed,
        oldest_unsealed,
    })
}

/// The action of the event that seals the events chained before keyed chaining.
pub const SEAL_ACTION: &str = "audit.chain_keyed";

/// Seals events written before keyed chaining: when the chain ends with an unkeyed event,
/// appends [`SEAL_ACTION`] (system; its target is the last unkeyed sequence number) chained
/// with the active key: its MAC covers the unkeyed prefix, and [`verify`] accepts unkeyed
/// events only before it. The service calls it at its first start with keys only (when no key
/// fingerprint was recorded yet), never later: a later start must not seal a chain someone
/// rewrote meanwhile.
pub async fn seal_unkeyed(db: &Database, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let occurred_at = now.trunc_subsecs(6);
    let actor = Actor::system();
    // Numbered, linked and hashed right after the head by the sealer's code, in one
    // transaction: no other event may come between the unkeyed chain and its seal.
    let event = audit_event::Model {
        id: Uuid::now_v7(),
        seq: 0,
        occurred_at,
        occurred_at_unix: occurred_at.timestamp(),
        actor_user_id: actor.user_id,
        actor_role: actor.role,
        action: SEAL_ACTION.to_owned(),
        target_type: "audit".to_owned(),
        target_id: None,
        fields: String::new(),
        outcome: Outcome::Success.as_str().to_owned(),
        client_ip: None,
        request_id: None,
        prev_hash: Vec::new(),
        hash: Vec::new(),
        chain_key_id: None,
    };
    crate::audit_sealer::seal_unkeyed(db, event).await
}

/// Filters for [`list`]; every field optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor_user_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Events matching `filter`, newest first, `limit` at a time before sequence `before` (for
/// keyset pagination), with the total count of matches.
pub async fn list(
    db: &Database,
    filter: &Filter,
    before: Option<i64>,
    limit: u64,
) -> Result<(Vec<audit_event::Model>, u64), StoreError> {
    let mut query = audit_event::Entity::find();
    if let Some(actor) = filter.actor_user_id {
        query = query.filter(audit_event::Column::ActorUserId.eq(actor));
    }
    if let Some(t) = &filter.target_type {
        query = query.filter(audit_event::Column::TargetType.eq(t.as_str()));
    }
    if let Some(t) = &filter.target_id {
        query = query.filter(audit_event::Column::TargetId.eq(t.as_str()));
    }
    if let Some(a) = &filter.action {
        query = query.filter(audit_event::Column::Action.eq(a.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_event::Column::OccurredAtUnix.gte(from.timestamp()));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_event::Column::OccurredAtUnix.lt(to.timestamp()));
    }
    let total = query.clone().count(&db.conn).await?;
    if let Some(before) = before {
        query = query.filter(audit_event::Column::Seq.lt(before));
    }
    let events = query
        .order_by_desc(audit_event::Column::Seq)
        .limit(limit)
        .all(&db.conn)
        .await?;
    Ok((events, total))
}
