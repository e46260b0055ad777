//! Login sessions, kept server-side in the ephemeral store so logout takes effect at once on
//! every instance. The client only holds a signed token naming the session.
//!
//! **Ending all sessions of an account at once** (disabling it, resetting or changing its
//! password): each account may have an *epoch* in the store, `user:epoch:{id}`, a random value
//! replaced by [`Sessions::revoke_all`]. A session remembers the epoch it was opened under and
//! is alive only while that is still the account's epoch. The epoch is read in the same round
//! trip as the session ([`Sessions::get_with`]), so the check costs no query and no extra round
//! trip, and holds on every instance at its next request. Epochs live [`EPOCH_TTL`] after their
//! last change, far longer than any session.
//!
//! Every session is opened under an epoch: an account without one gets one first. So a lost
//! epoch (Redis evicting or losing keys) **ends** the account's sessions instead of bringing
//! back those a revoke had ended; Redis must still not evict keys (`maxmemory-policy
//! noeviction`, docs/operations.md), or accounts are logged out at random.

use crate::ephemeral::{Ephemeral, EphemeralError};
use chrono::{DateTime, Utc};
use huigong_core::{Role, Secret};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What the server knows about a logged-in caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: Uuid,
    pub role: Role,
    pub openid: Option<String>,
    pub unionid: Option<String>,
    /// WeChat's session key for this login; replaced at every login, never leaves the server.
    pub session_key: Option<Secret>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The account's password was set by an administrator: this session may only change it
    /// (every other route answers 403 `password_change_required`).
    pub password_change_required: bool,
}

/// How long an account's epoch is kept after its last change: far longer than any session.
pub const EPOCH_TTL: Duration = Duration::from_secs(400 * 86_400);

/// The stored form. Kept apart from [`SessionRecord`] so the secret is only ever serialised here.
#[derive(Serialize, Deserialize)]
struct Stored {
    user_id: Uuid,
    role: Role,
    openid: Option<String>,
    unionid: Option<String>,
    session_key: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// The account's epoch when the session was opened (absent: none yet).
    #[serde(default)]
    epoch: Option<String>,
    #[serde(default)]
    password_change_required: bool,
}

/// Sessions on top of an [`Ephemeral`] store.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Arc<dyn Ephemeral>,
}

fn key(id: Uuid) -> String {
    format!("session:{id}")
}

fn epoch_key(user_id: Uuid) -> String {
    format!("user:epoch:{user_id}")
}

/// An account's epoch as read from the store (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch(Option<String>);

impl Sessions {
    pub fn new(store: Arc<dyn Ephemeral>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn Ephemeral> {
        &self.store
    }

    /// The current epoch of `user_id`. Read it *before* checking in the database that the
    /// account may log in, and open the session under it ([`Sessions::create_under`]): a
    /// disabling that commits after the check bumps the epoch after this read, so the session
    /// is dead on arrival.
    /// An account without an epoch gets one here, so every session has one to lose.
    pub async fn epoch(&self, user_id: Uuid) -> Result<Epoch, EphemeralError> {
        let key = epoch_key(user_id);
        if let Some(value) = self.store.get(&key).await? {
            return Ok(Epoch(Some(String::from_utf8_lossy(&value).into_owned())));
        }
        let fresh = new_epoch();
        if self
            .store
            .set_if_absent(&key, fresh.as_bytes(), EPOCH_TTL)
            .await?
        {
            return Ok(Epoch(Some(fresh)));
        }
        // Another login or a revoke set one meanwhile: that one is current.
        let value = self.store.get(&key).await?;
        Ok(Epoch(
            value.map(|v| String::from_utf8_lossy(&v).into_owned()),
        ))
    }

    /// Stores a new session under the account's current epoch and returns its id. It lives
    /// until `record.expires_at`. One round trip to the store: the epoch is read (or set) and
    /// the session stored under it in one step (see
    /// [`Ephemeral::get_or_init_then_set_around`]).
    pub async fn create(
        &self,
        record: &SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<Uuid, EphemeralError> {
        let id = Uuid::now_v7();
        // The stored form around a placeholder epoch (128 random bits, in no other field), cut
        // where the store puts the account's epoch in.
        let placeholder = new_epoch();
        let bytes = encode(record, Some(placeholder.clone()))?;
        let marker = format!("\"{placeholder}\"");
        if let Some(at) = bytes
            .windows(marker.len())
            .position(|w| w == marker.as_bytes())
        {
            let (before, after) = (&bytes[..=at], &bytes[at + 1 + placeholder.len()..]);
            let epoch = self
                .store
                .get_or_init_then_set_around(
                    &epoch_key(record.user_id),
                    new_epoch().as_bytes(),
                    EPOCH_TTL,
                    &key(id),
                    before,
                    after,
                    ttl(record, now),
                )
                .await?;
            match epoch {
                // Epochs are hex (`new_epoch`): spliced into JSON as they are.
                Some(e) if e.iter().all(u8::is_ascii_alphanumeric) => return Ok(id),
                // Anything else is written again, serialised properly.
                Some(e) => {
                    let epoch = Epoch(Some(String::from_utf8_lossy(&e).into_owned()));
                    return self.create_with_id(id, record, &epoch, now).await;
                }
                None => {}
            }
        }
        let epoch = self.epoch(record.user_id).await?;
        self.create_with_id(id, record, &epoch, now).await
    }

    /// Stores a new session under `epoch` (read earlier with [`Sessions::epoch`]).
    pub async fn create_under(
        &self,
        record: &SessionRecord,
        epoch: &Epoch,
        now: DateTime<Utc>,
    ) -> Result<Uuid, EphemeralError> {
        self.create_with_id(Uuid::now_v7(), record, epoch, now)
            .await
    }

    async fn create_with_id(
        &self,
        id: Uuid,
        record: &SessionRecord,
        epoch: &Epoch,
        now: DateTime<Utc>,
    ) -> Result<Uuid, EphemeralError> {
        let bytes = encode(record, epoch.0.clone())?;
        self.store.set(&key(id), &bytes, ttl(record, now)).await?;
        Ok(id)
    }

    /// The live session with this id (two round trips: the session, then its account's epoch;
    /// requests use [`Sessions::get_with`]). A record that cannot be read counts as absent.
    pub async fn get(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, EphemeralError> {
        let bytes = self.store.get(&key(id)).await?;
        let Some(stored) = parse(id, bytes.as_deref()) else {
            return Ok(None);
        };
        let epoch = self.epoch(stored.user_id).await?;
        Ok(decode(stored, epoch.0, now))
    }

    /// The live session with this id of account `user_id` (as the token names it), and the
    /// values under `others`, in one round trip with the account's epoch (what the request
    /// needs next, such as a generation to check a cached copy against). A session of another
    /// account, or opened under an older epoch, is absent.
    pub async fn get_with(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
        others: &[&str],
    ) -> Result<(Option<SessionRecord>, Vec<Option<Vec<u8>>>), EphemeralError> {
        let session = key(id);
        let epoch = epoch_key(user_id);
        let keys: Vec<&str> = [session.as_str(), epoch.as_str()]
            .into_iter()
            .chain(others.iter().copied())
            .collect();
        let mut values = self.store.get_many(&keys).await?.into_iter();
        let stored = parse(id, values.next().flatten().as_deref());
        let current = values
            .next()
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        let record = stored
            .filter(|s| s.user_id == user_id)
            .and_then(|s| decode(s, current, now));
        Ok((record, values.collect()))
    }

    /// Ends every session of `user_id` at once, on every instance, and any opened under an
    /// epoch read before this call.
    pub async fn revoke_all(&self, user_id: Uuid) -> Result<(), EphemeralError> {
        self.store
            .set(&epoch_key(user_id), new_epoch().as_bytes(), EPOCH_TTL)
            .await
    }

    /// Ends the session; returns whether it existed.
    pub async fn delete(&self, id: Uuid) -> Result<bool, EphemeralError> {
        self.store.delete(&key(id)).await
    }
}

/// The stored form of `record` under `epoch`.
fn encode(record: &SessionRecord, epoch: Option<String>) -> Result<Vec<u8>, EphemeralError> {
    let stored = Stored {
        user_id: record.user_id,
        role: record.role,
        openid: record.openid.clone(),
        unionid: record.unionid.clone(),
        session_key: record.session_key.as_ref().map(|s| s.expose().to_owned()),
        created_at: record.created_at,
        expires_at: record.expires_at,
        epoch,
        password_change_required: record.password_change_required,
    };
    serde_json::to_vec(&stored)
        .map_err(|e| EphemeralError::Unavailable(format!("encode session: {e}")))
}

/// How long the session of `record` has left at `now`.
fn ttl(record: &SessionRecord, now: DateTime<Utc>) -> Duration {
    (record.expires_at - now).to_std().unwrap_or(Duration::ZERO)
}

fn parse(id: Uuid, bytes: Option<&[u8]>) -> Option<Stored> {
    let Ok(s) = serde_json::from_slice::<Stored>(bytes?) else {
        tracing::warn!(session = %id, "unreadable session record ignored");
        return None;
    };
    Some(s)
}

fn new_epoch() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// A session is alive only under its account's current epoch; one without an epoch (or whose
/// account lost its epoch) never is.
fn decode(s: Stored, epoch: Option<String>, now: DateTime<Utc>) -> Option<SessionRecord> {
    if s.expires_at <= now || s.epoch.is_none() || s.epoch != epoch {
        return None;
    }
    Some(SessionRecord {
        user_id: s.user_id,
        role: s.role,
        openid: s.openid,
        unionid: s.unionid,
        session_key: s.session_key.map(Secret::from),
        created_at: s.created_at,
        expires_at: s.expires_at,
        password_change_required: s.password_change_required,
    })
}
