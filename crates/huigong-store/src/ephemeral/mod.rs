//! Short-lived state every instance must share: sessions, rate-limit counters, one-time tokens,
//! the WeChat access token and the cached card views (`crate::card_views`). One small trait, two implementations that pass the
//! same tests: [`MemoryStore`] (embedded default, one instance) and [`RedisStore`] (production).

use async_trait::async_trait;
use std::time::Duration;

mod memory;
mod redis_store;
mod redis_target;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;
pub use redis_target::{RedisTarget, TargetError};

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    /// The backing service is unreachable or timed out.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
}

/// Key/value storage where every entry has a time to live.
#[async_trait]
pub trait Ephemeral: Send + Sync + std::fmt::Debug {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError>;
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError>;
    /// The values under `keys`, in order, in one round trip (Redis `MGET`). On a Redis Cluster
    /// keys of several hash slots (a session with its account's epoch) are split by slot by the
    /// client, one request per node; keys that share a hash tag (`…{id}…`) go to one node.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }
    /// Stores each `(key, value)` for `ttl`, replacing previous values, in as few round trips
    /// as the backend allows (a Redis pipeline). Not atomic: on an error some may be stored.
    async fn set_many(
        &self,
        entries: &[(&str, &[u8])],
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        for (key, value) in entries {
            self.set(key, value, ttl).await?;
        }
        Ok(())
    }
    /// Stores `value` only if `key` holds nothing; returns whether it did.
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError>;
    /// [`Ephemeral::set_if_absent`] for each of `claims` (`(key, value, ttl)`), in order, then
    /// the values under `keys` as they are after them, in one round trip (a Redis pipeline):
    /// claiming a one-time token and reading what its use needs. Whether each claim was made,
    /// and the reads with their own result, so that a failed read never hides whether a claim
    /// was made (a claim made and then lost would use the token up for nothing). The outer
    /// error means the claims' outcome is unknown (the store did not answer).
    async fn claim_then_get_many(
        &self,
        claims: &[(&str, &[u8], Duration)],
        keys: &[&str],
    ) -> Result<(Vec<bool>, Result<Vec<Option<Vec<u8>>>, EphemeralError>), EphemeralError> {
        let mut made = Vec::with_capacity(claims.len());
        for (key, value, ttl) in claims {
            made.push(self.set_if_absent(key, value, *ttl).await?);
        }
        Ok((made, self.get_many(keys).await))
    }
    /// The value under `key`, after storing `fresh` there for `ttl` if it held nothing; and
    /// `before`, that value and `after`, concatenated, stored under `target` for `target_ttl`
    /// (replacing any previous value). A session opened under its account's current epoch, in
    /// one round trip (a Redis script) where the backend allows. `None` when the value could not
    /// be settled (it vanished between two steps of the default, which is not atomic): then
    /// nothing was stored under `target`.
    #[allow(clippy::too_many_arguments)]
    async fn get_or_init_then_set_around(
        &self,
        key: &str,
        fresh: &[u8],
        ttl: Duration,
        target: &str,
        before: &[u8],
        after: &[u8],
        target_ttl: Duration,
    ) -> Result<Option<Vec<u8>>, EphemeralError> {
        get_or_init_then_set_around_in_steps(
            self, key, fresh, ttl, target, before, after, target_ttl,
        )
        .await
    }
    /// Removes `key`; returns whether something was removed.
    async fn delete(&self, key: &str) -> Result<bool, EphemeralError>;
    /// Adds one to the counter under `key` and returns the new value; a new counter lives for
    /// `ttl` (the window of a rate limit), an existing one keeps its expiry.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, EphemeralError>;
    /// Adds `by` to the counter under `key` and returns the new value, atomically, like
    /// [`Ephemeral::increment`] (a new counter lives for `ttl`). Counting many at once: the rows
    /// of a roster checked. The default adds one at a time; both stores do it in one step.
    async fn increment_by(&self, key: &str, by: u64, ttl: Duration) -> Result<u64, EphemeralError> {
        let mut last = self.increment(key, ttl).await?;
        for _ in 1..by {
            last = self.increment(key, ttl).await?;
        }
        Ok(last)
    }
    /// Takes one back from the counter under `key` (an attempt reserved with
    /// [`Ephemeral::increment`] that turned out not to count), atomically; never below zero,
    /// never creates the counter, keeps its expiry. Returns the new value (0 if absent).
    async fn decrement(&self, key: &str) -> Result<u64, EphemeralError>;
    /// Removes `key` only if it holds exactly `expected`, atomically; returns whether it did.
    /// (Releasing a lock one still owns; dropping a cached token only if it is the one that
    /// failed.)
    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool, EphemeralError>;
    /// Sets a new expiry `ttl` on `key` only if it holds exactly `expected`, atomically;
    /// returns whether it did (renewing a lease one still holds: the audit sealer's). The
    /// default reads then writes, which is atomic only where nothing else writes the key
    /// between; both stores do it in one step.
    async fn extend_if_equals(
        &self,
        key: &str,
        expected: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        if self.get(key).await?.as_deref() != Some(expected) {
            return Ok(false);
        }
        self.set(key, expected, ttl).await?;
        Ok(true)
    }
    /// Checks that the backing service answers: used by `/readyz`.
    async fn ping(&self) -> Result<(), EphemeralError>;
    /// A short name for logs and `/readyz`: `memory` or `redis`.
    fn kind(&self) -> &'static str;
}

/// [`Ephemeral::get_or_init_then_set_around`] in separate steps (not atomic): the trait's
/// default, and what a Redis Cluster does when the two keys live in different hash slots (one
/// script may only touch keys of one slot).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn get_or_init_then_set_around_in_steps<E: Ephemeral + ?Sized>(
    store: &E,
    key: &str,
    fresh: &[u8],
    ttl: Duration,
    target: &str,
    before: &[u8],
    after: &[u8],
    target_ttl: Duration,
) -> Result<Option<Vec<u8>>, EphemeralError> {
    let current = match store.get(key).await? {
        Some(value) => value,
        None if store.set_if_absent(key, fresh, ttl).await? => fresh.to_vec(),
        None => match store.get(key).await? {
            Some(value) => value,
            None => return Ok(None),
        },
    };
    let value = [before, &current, after].concat();
    store.set(target, &value, target_ttl).await?;
    Ok(Some(current))
}
