//! Redis implementation, through the `redis` crate's auto-reconnecting connection manager.

use super::{Ephemeral, EphemeralError};
use async_trait::async_trait;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// Keys are namespaced by a prefix, so several deployments (or test runs) can share a server.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
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
    /// Connects to `url` (`redis://…` or `rediss://…`). Fails when Redis cannot be reached now;
    /// after that, lost connections are re-established in the background.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, EphemeralError> {
        let client = redis::Client::open(url)
            .map_err(|e| EphemeralError::Unavailable(format!("bad redis.url: {:?}", e.kind())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Deletes KEYS[1] if its value is ARGV[1]; answers how many keys it deleted.
const DELETE_IF_EQUALS: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Takes one from the counter KEYS[1] if it exists and is above zero (DECR keeps the expiry);
/// answers the new value, 0 if there is no counter.
const DECREMENT_IF_POSITIVE: &str = "local v = tonumber(redis.call('GET', KEYS[1])) if v and v > 0 then return redis.call('DECR', KEYS[1]) else return 0 end";

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
