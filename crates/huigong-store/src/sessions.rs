//! Login sessions, kept server-side in the ephemeral store so logout takes effect at once on
//! every instance. The client only holds a signed token naming the session.

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
}

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
}

/// Sessions on top of an [`Ephemeral`] store.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Arc<dyn Ephemeral>,
}

fn key(id: Uuid) -> String {
    format!("session:{id}")
}

impl Sessions {
    pub fn new(store: Arc<dyn Ephemeral>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn Ephemeral> {
        &self.store
    }

    /// Stores a new session and returns its id. It lives until `record.expires_at`.
    pub async fn create(
        &self,
        record: &SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<Uuid, EphemeralError> {
        let id = Uuid::now_v7();
        let stored = Stored {
            user_id: record.user_id,
            role: record.role,
            openid: record.openid.clone(),
            unionid: record.unionid.clone(),
            session_key: record.session_key.as_ref().map(|s| s.expose().to_owned()),
            created_at: record.created_at,
            expires_at: record.expires_at,
        };
        let bytes = serde_json::to_vec(&stored)
            .map_err(|e| EphemeralError::Unavailable(format!("encode session: {e}")))?;
        let ttl = (record.expires_at - now).to_std().unwrap_or(Duration::ZERO);
        self.store.set(&key(id), &bytes, ttl).await?;
        Ok(id)
    }

    /// The live session with this id. A record that cannot be read counts as absent.
    pub async fn get(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, EphemeralError> {
        let bytes = self.store.get(&key(id)).await?;
        Ok(decode(id, bytes.as_deref(), now))
    }

    /// [`Sessions::get`], and the values under `others` in the same round trip (what the
    /// request needs next, such as a generation to check a cached copy against).
    pub async fn get_with(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        others: &[&str],
    ) -> Result<(Option<SessionRecord>, Vec<Option<Vec<u8>>>), EphemeralError> {
        let session = key(id);
        let keys: Vec<&str> = std::iter::once(session.as_str())
            .chain(others.iter().copied())
            .collect();
        let mut values = self.store.get_many(&keys).await?.into_iter();
        let record = decode(id, values.next().flatten().as_deref(), now);
        Ok((record, values.collect()))
    }

    /// Ends the session; returns whether it existed.
    pub async fn delete(&self, id: Uuid) -> Result<bool, EphemeralError> {
        self.store.delete(&key(id)).await
    }
}

fn decode(id: Uuid, bytes: Option<&[u8]>, now: DateTime<Utc>) -> Option<SessionRecord> {
    let Ok(s) = serde_json::from_slice::<Stored>(bytes?) else {
        tracing::warn!(session = %id, "unreadable session record ignored");
        return None;
    };
    if s.expires_at <= now {
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
    })
}
