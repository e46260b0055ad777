//! The access token: fetched with `stable_token`, shared by every instance through a
//! [`TokenCache`], refreshed by one instance at a time.
//!
//! * The token lives in the cache under `wechat:access_token:{appid}` for `expires_in − 300 s`,
//!   so it is dropped five minutes before WeChat lets it expire; the next caller fetches again in
//!   `stable_token`'s normal mode, which in that window hands out the next token while the old
//!   one keeps working.
//! * A cache miss is refilled under a lock key (`SET NX PX` in Redis) with a double-check after
//!   taking it; other instances poll the cache until the new token appears (or the lock lapses,
//!   when one of them takes over). Inside one process the refill is also serialised, so twenty
//!   concurrent requests make at most one lock attempt at a time.
//! * When WeChat rejects a token (40001/40014/42001) the caller removes it from the cache only if
//!   the cache still holds that very token (compare-and-delete), so a late failure of a stale
//!   token never drops the fresh one another instance has just stored; then it refills once and
//!   retries once.
//! * A cache that cannot be reached is an error, never a reason to fetch: an outage of Redis must
//!   not turn into a burst of `stable_token` calls against the daily quota.

use crate::{WechatClient, WechatError};
use async_trait::async_trait;
use huigong_core::Secret;
use rand::Rng as _;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The shared store the token lives in (the session backend: in process or Redis).
#[async_trait]
pub trait TokenCache: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    /// Stores `value` only if `key` holds nothing; returns whether it did.
    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError>;
    /// Removes `key` only if it holds `expected`, atomically; returns whether it did.
    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool, CacheError>;
}

/// The cache could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("token cache unavailable: {0}")]
pub struct CacheError(pub String);

/// A cache for one process only: right for a single instance and for tests.
#[derive(Debug, Default)]
pub struct LocalTokenCache {
    map: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
}

impl LocalTokenCache {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TokenCache for LocalTokenCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.lock()
            .insert(key.to_owned(), (value.to_vec(), Instant::now() + ttl));
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut map = self.lock();
        if map.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(false);
        }
        map.insert(key.to_owned(), (value.to_vec(), now + ttl));
        Ok(true)
    }

    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut map = self.lock();
        let matches = map
            .get(key)
            .is_some_and(|(v, until)| *until > now && v.as_slice() == expected);
        if matches {
            map.remove(key);
        }
        Ok(matches)
    }
}

/// What `stable_token` answered.
#[derive(Clone, serde::Deserialize)]
pub struct StableToken {
    pub access_token: Secret,
    /// Seconds the token stays valid.
    pub expires_in: u64,
}

impl std::fmt::Debug for StableToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StableToken")
            .field("access_token", &self.access_token)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// How long a fetched token stays in the cache: five minutes less than WeChat keeps it (the
/// window in which `stable_token` already hands out its successor), at least one second.
pub fn cache_ttl(expires_in: u64) -> Duration {
    let secs = if expires_in > 600 {
        expires_in - 300
    } else {
        expires_in / 2
    };
    Duration::from_secs(secs.max(1))
}

/// Timing of the cross-instance refresh.
#[derive(Debug, Clone, Copy)]
pub struct TokenTiming {
    /// How long the refresh lock is held at most (longer than one `stable_token` call).
    pub lock_ttl: Duration,
    /// How often a waiting instance looks for the new token.
    pub poll: Duration,
    /// How long a caller waits for another instance's refresh before giving up.
    pub max_wait: Duration,
}

impl TokenTiming {
    /// Timing for a client whose requests time out after `request_timeout`.
    pub fn for_request_timeout(request_timeout: Duration) -> Self {
        let lock_ttl = request_timeout + Duration::from_secs(2);
        Self {
            lock_ttl,
            poll: Duration::from_millis(50),
            max_wait: lock_ttl + Duration::from_secs(1),
        }
    }
}

/// The access-token manager of one client (one appid).
#[derive(Debug)]
pub struct AccessTokens {
    cache: std::sync::Arc<dyn TokenCache>,
    key: String,
    lock_key: String,
    timing: TokenTiming,
    /// One refill at a time within this process.
    local: tokio::sync::Mutex<()>,
}

fn cache_error(e: CacheError) -> WechatError {
    WechatError::TokenCache(e.0)
}

impl AccessTokens {
    pub fn new(cache: std::sync::Arc<dyn TokenCache>, appid: &str, timing: TokenTiming) -> Self {
        Self {
            cache,
            key: format!("wechat:access_token:{appid}"),
            lock_key: format!("wechat:access_token_lock:{appid}"),
            timing,
            local: tokio::sync::Mutex::new(()),
        }
    }

    /// The cache key of the token (tests read it to check what is cached).
    pub fn cache_key(&self) -> &str {
        &self.key
    }

    async fn cached(&self) -> Result<Option<Secret>, WechatError> {
        let bytes = self.cache.get(&self.key).await.map_err(cache_error)?;
        Ok(bytes
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| !s.is_empty())
            .map(Secret::new))
    }

    /// The current token: from the cache, or fetched by exactly one instance.
    pub async fn current(&self, client: &WechatClient) -> Result<Secret, WechatError> {
        if let Some(token) = self.cached().await? {
            return Ok(token);
        }
        let _one_in_process = self.local.lock().await;
        let deadline = Instant::now() + self.timing.max_wait;
        loop {
            if let Some(token) = self.cached().await? {
                return Ok(token);
            }
            let owner = lock_owner();
            let locked = self
                .cache
                .set_if_absent(&self.lock_key, owner.as_bytes(), self.timing.lock_ttl)
                .await
                .map_err(cache_error)?;
            if locked {
                let result = self.refill(client).await;
                // Release only our own lock (it may have lapsed and been taken by another).
                if let Err(e) = self
                    .cache
                    .delete_if_equals(&self.lock_key, owner.as_bytes())
                    .await
                {
                    tracing::warn!(error = %e, "could not release the access-token lock");
                }
                return result;
            }
            if Instant::now() >= deadline {
                tracing::warn!("gave up waiting for another instance's access-token refresh");
                return Err(WechatError::TokenBusy);
            }
            tokio::time::sleep(self.timing.poll).await;
        }
    }

    /// Under the lock: check once more, then fetch and store.
    async fn refill(&self, client: &WechatClient) -> Result<Secret, WechatError> {
        if let Some(token) = self.cached().await? {
            return Ok(token);
        }
        let fetched = client.stable_token(false).await?;
        self.cache
            .set(
                &self.key,
                fetched.access_token.expose().as_bytes(),
                cache_ttl(fetched.expires_in),
            )
            .await
            .map_err(cache_error)?;
        tracing::info!(
            expires_in = fetched.expires_in,
            "fetched a new wechat access token"
        );
        Ok(fetched.access_token)
    }

    /// Drops `failed` from the cache if it is still the cached token; returns whether it was.
    pub async fn invalidate(&self, failed: &Secret) -> Result<bool, WechatError> {
        self.cache
            .delete_if_equals(&self.key, failed.expose().as_bytes())
            .await
            .map_err(cache_error)
    }
}

fn lock_owner() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
