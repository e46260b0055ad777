//! Redis implementation: one server through the `redis` crate's auto-reconnecting connection
//! manager, a Sentinel-watched master or a Cluster ([`RedisTarget`]).
//!
//! On a Cluster every command must reach the node of its key's hash slot. Single-key commands
//! and scripts (one key each) are routed by the client; `MGET` is split by slot by the client.
//! Pipelines are not: a pipeline must stay in one slot, so [`Ephemeral::set_many`] sends one
//! pipeline per slot and [`Ephemeral::claim_then_get_many`] makes its claims first and reads
//! after (two round trips instead of one). Keys that belong together (a card's view and its
//! generation) share a hash tag `{…}` and so a slot.

use super::redis_target::{Conn, RedisTarget};
use super::{Ephemeral, EphemeralError};
use async_trait::async_trait;
use redis::AsyncCommands as _;
use redis::cluster_routing::Slot;
use std::collections::HashMap;
use std::time::Duration;

/// Keys are namespaced by a prefix, so several deployments (or test runs) can share a server.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    /// On a Cluster: pipelines are split by hash slot.
    cluster: bool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// Every failed Redis call goes through here: counted for the metrics endpoint
/// (`huigong_session_store_errors_total`, by the redis crate's error kind; never keys or values).
fn unavailable(err: redis::RedisError) -> EphemeralError {
    metrics::counter!("huigong_session_store_errors_total", "backend" => "redis", "kind" => error_kind(&err)).increment(1);
    EphemeralError::Unavailable(err.to_string())
}

/// A short, bounded label for a Redis error.
fn error_kind(err: &redis::RedisError) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
        "connection"
    } else if err.is_cluster_error() {
        "cluster"
    } else {
        "other"
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://…`, `rediss://…`, `redis+sentinel://…` or
    /// `redis+cluster://…`, see [`RedisTarget`]). Fails when Redis cannot be reached now;
    /// after that, lost connections are re-established in the background.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, EphemeralError> {
        let target = RedisTarget::from_settings(url, &[], "", &[])
            .map_err(|e| EphemeralError::Unavailable(e.to_string()))?
            .ok_or_else(|| EphemeralError::Unavailable("redis.url is empty".to_owned()))?;
        Self::connect_to(&target, prefix, timeout).await
    }

    /// Connects to `target`, as [`RedisStore::connect`].
    pub async fn connect_to(
        target: &RedisTarget,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, EphemeralError> {
        if prefix.contains(['{', '}']) {
            // The prefix would become every key's hash tag: one slot for everything.
            return Err(EphemeralError::Unavailable(
                "redis.key_prefix must not contain { or }".to_owned(),
            ));
        }
        let conn = Conn::open(target, timeout).await.map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            cluster: matches!(target, RedisTarget::Cluster { .. }),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Deletes KEYS[1] if its value is ARGV[1]; answers how many keys it deleted.
const DELETE_IF_EQUALS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Sets the expiry of KEYS[1] to ARGV[2] milliseconds if it holds ARGV[1]; answers 1 if it did.
const EXTEND_IF_EQUALS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Takes one from the counter KEYS[1] if it exists and is above zero (DECR keeps the expiry);
/// answers the new value, 0 if there is no counter.
const DECREMENT_IF_POSITIVE: &str = "local v = tonumber(redis.call('GET', KEYS[1])) if v and v > 0 then return redis.call('DECR', KEYS[1]) else return 0 end";

/// `get_or_init_then_set_around`: the value under KEYS[1] (ARGV[1] stored first, for ARGV[2] ms,
/// if there was none), and ARGV[3] .. value .. ARGV[4] stored under KEYS[2] for ARGV[5] ms.
const GET_OR_INIT_THEN_SET_AROUND: &str = "local v = redis.call('GET', KEYS[1]) if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) v = ARGV[1] end redis.call('SET', KEYS[2], ARGV[3] .. v .. ARGV[4], 'PX', ARGV[5]) return v";

/// Redis takes expiries in whole milliseconds, at least one.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Ephemeral for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let mut conn = self.conn.clone();
        conn.get(self.key(key)).await.map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        conn.pset_ex(self.key(key), value, millis(ttl))
            .await
            .map_err(unavailable)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn set_many(
        &self,
        entries: &[(&str, &[u8])],
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        if self.cluster {
            // One pipeline per hash slot (a pipeline may not cross slots), sent concurrently.
            let mut by_slot: HashMap<Slot, redis::Pipeline> = HashMap::new();
            for (key, value) in entries {
                let key = self.key(key);
                let slot = Slot::for_key(&key);
                by_slot
                    .entry(slot)
                    .or_insert_with(redis::pipe)
                    .pset_ex(key, *value, millis(ttl))
                    .ignore();
            }
            let sends = by_slot.into_values().map(|pipe| {
                let mut conn = self.conn.clone();
                async move { pipe.query_async::<()>(&mut conn).await }
            });
            for sent in futures_util::future::join_all(sends).await {
                sent.map_err(unavailable)?;
            }
            return Ok(());
        }
        // Bounded pipelines, so a large invalidation does not build one huge request.
        for chunk in entries.chunks(1_000) {
            let mut pipe = redis::pipe();
            for (key, value) in chunk {
                pipe.pset_ex(self.key(key), *value, millis(ttl)).ignore();
            }
            let () = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let mut conn = self.conn.clone();
        let answer: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(answer.is_some())
    }

    async fn claim_then_get_many(
        &self,
        claims: &[(&str, &[u8], Duration)],
        keys: &[&str],
    ) -> Result<(Vec<bool>, Result<Vec<Option<Vec<u8>>>, EphemeralError>), EphemeralError> {
        if self.cluster {
            // The claims' keys and the reads' lie in different slots: the claims first (each
            // to its node, concurrently), then the reads (MGET, split by slot by the client).
            let claiming = claims.iter().map(|(key, value, ttl)| {
                let mut conn = self.conn.clone();
                let key = self.key(key);
                async move {
                    redis::cmd("SET")
                        .arg(key)
                        .arg(*value)
                        .arg("NX")
                        .arg("PX")
                        .arg(millis(*ttl))
                        .query_async::<Option<String>>(&mut conn)
                        .await
                }
            });
            let mut made = Vec::with_capacity(claims.len());
            for claimed in futures_util::future::join_all(claiming).await {
                made.push(claimed.map_err(unavailable)?.is_some());
            }
            return Ok((made, self.get_many(keys).await));
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        // Each reply on its own: an error of a read must not hide a claim's outcome.
        pipe.ignore_errors();
        for (key, value, ttl) in claims {
            pipe.cmd("SET")
                .arg(self.key(key))
                .arg(*value)
                .arg("NX")
                .arg("PX")
                .arg(millis(*ttl));
        }
        for k in keys {
            pipe.get(self.key(k));
        }
        // An error here (no answer, a timeout after sending) leaves the claims unknown.
        let mut answers: Vec<redis::Value> =
            pipe.query_async(&mut conn).await.map_err(unavailable)?;
        if answers.len() != claims.len() + keys.len() {
            return Err(EphemeralError::Unavailable(format!(
                "pipeline answered {} of {} commands",
                answers.len(),
                claims.len() + keys.len()
            )));
        }
        let reads = answers.split_off(claims.len());
        let mut made = Vec::with_capacity(claims.len());
        for answer in answers {
            match answer {
                redis::Value::Nil => made.push(false),
                redis::Value::ServerError(e) => {
                    return Err(EphemeralError::Unavailable(format!("SET NX: {e:?}")));
                }
                _ => made.push(true),
            }
        }
        let values = reads
            .into_iter()
            .map(|v| {
                redis::from_redis_value::<Option<Vec<u8>>>(v)
                    .map_err(|e| EphemeralError::Unavailable(e.to_string()))
            })
            .collect();
        Ok((made, values))
    }

    async fn delete(&self, key: &str) -> Result<bool, EphemeralError> {
        let mut conn = self.conn.clone();
        let removed: u64 = conn.del(self.key(key)).await.map_err(unavailable)?;
        Ok(removed > 0)
    }

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
        if self.cluster && Slot::for_key(self.key(key)) != Slot::for_key(self.key(target)) {
            // A script may touch one hash slot only: the account's epoch and the session are
            // in two, so they go in steps (as on any store without scripts).
            return super::get_or_init_then_set_around_in_steps(
                self, key, fresh, ttl, target, before, after, target_ttl,
            )
            .await;
        }
        let mut conn = self.conn.clone();
        // One script: the epoch and the session in one trip, nothing in between.
        let value: Vec<u8> = redis::cmd("EVAL")
            .arg(GET_OR_INIT_THEN_SET_AROUND)
            .arg(2)
            .arg(self.key(key))
            .arg(self.key(target))
            .arg(fresh)
            .arg(millis(ttl))
            .arg(before)
            .arg(after)
            .arg(millis(target_ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(Some(value))
    }

    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool, EphemeralError> {
        let mut conn = self.conn.clone();
        // GET, compare and DEL in one script: nothing can change the key in between.
        let removed: u64 = redis::cmd("EVAL")
            .arg(DELETE_IF_EQUALS)
            .arg(1)
            .arg(self.key(key))
            .arg(expected)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn extend_if_equals(
        &self,
        key: &str,
        expected: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let mut conn = self.conn.clone();
        // GET, compare and PEXPIRE in one script: a lease taken over meanwhile is not extended.
        let extended: u64 = redis::cmd("EVAL")
            .arg(EXTEND_IF_EQUALS)
            .arg(1)
            .arg(self.key(key))
            .arg(expected)
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(extended > 0)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, EphemeralError> {
        self.increment_by(key, 1, ttl).await
    }

    async fn increment_by(&self, key: &str, by: u64, ttl: Duration) -> Result<u64, EphemeralError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        // INCR and a PEXPIRE that only applies to a new counter, atomically.
        let (count, _): (u64, bool) = redis::pipe()
            .atomic()
            .incr(&key, by)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl))
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    async fn decrement(&self, key: &str) -> Result<u64, EphemeralError> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("EVAL")
            .arg(DECREMENT_IF_POSITIVE)
            .arg(1)
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), EphemeralError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
