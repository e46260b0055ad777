//! The WeChat access token kept in the session backend ([`Ephemeral`]: in process or Redis), so
//! every instance shares one token. `huigong-wechat` knows only its own small [`TokenCache`]
//! trait; this adapter connects the two without making either crate depend on the other.

use async_trait::async_trait;
use huigong_store::{Ephemeral, EphemeralError};
use huigong_wechat::{CacheError, TokenCache};
use std::sync::Arc;
use std::time::Duration;

/// [`TokenCache`] over the shared [`Ephemeral`] store.
#[derive(Debug, Clone)]
pub struct EphemeralTokenCache(pub Arc<dyn Ephemeral>);

fn cache_error(e: EphemeralError) -> CacheError {
    CacheError(e.to_string())
}

#[async_trait]
impl TokenCache for EphemeralTokenCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.0.get(key).await.map_err(cache_error)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.0.set(key, value, ttl).await.map_err(cache_error)
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        self.0
            .set_if_absent(key, value, ttl)
            .await
            .map_err(cache_error)
    }

    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool, CacheError> {
        self.0
            .delete_if_equals(key, expected)
            .await
            .map_err(cache_error)
    }
}
