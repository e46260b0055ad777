//! The in-process store of the embedded default. Valid for a single instance only.

use super::{Ephemeral, EphemeralError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many writes between sweeps of expired entries.
const SWEEP_EVERY: u64 = 1024;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at: Instant,
}

/// A `HashMap` behind a mutex, with expiry checked on read and swept now and then on write.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Entry>>,
    writes: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The map, locked, after an occasional sweep of expired entries.
    fn lock_for_write(&self, now: Instant) -> MutexGuard<'_, HashMap<String, Entry>> {
        let mut map = self.lock();
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            map.retain(|_, e| e.expires_at > now);
        }
        map
    }

    /// Number of entries held, expired ones included until swept (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn live(entry: Option<&Entry>, now: Instant) -> Option<&Entry> {
    entry.filter(|e| e.expires_at > now)
}

#[async_trait]
impl Ephemeral for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let now = Instant::now();
        Ok(live(self.lock().get(key), now).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        let now = Instant::now();
        self.lock_for_write(now).insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at: now + ttl,
            },
        );
        Ok(())
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        let now = Instant::now();
        let map = self.lock();
        Ok(keys
            .iter()
            .map(|key| live(map.get(*key), now).map(|e| e.value.clone()))
            .collect())
    }

    async fn set_many(
        &self,
        entries: &[(&str, &[u8])],
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        let now = Instant::now();
        let mut map = self.lock_for_write(now);
        for (key, value) in entries {
            map.insert(
                (*key).to_owned(),
                Entry {
                    value: value.to_vec(),
                    expires_at: now + ttl,
                },
            );
        }
        Ok(())
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let now = Instant::now();
        let mut map = self.lock_for_write(now);
        if live(map.get(key), now).is_some() {
            return Ok(false);
        }
        map.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at: now + ttl,
            },
        );
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool, EphemeralError> {
        let now = Instant::now();
        Ok(self.lock().remove(key).is_some_and(|e| e.expires_at > now))
    }

    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool, EphemeralError> {
        let now = Instant::now();
        let mut map = self.lock();
        let matches = live(map.get(key), now).is_some_and(|e| e.value == expected);
        if matches {
            map.remove(key);
        }
        Ok(matches)
    }

    async fn extend_if_equals(
        &self,
        key: &str,
        expected: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(entry) = map
            .get_mut(key)
            .filter(|e| e.expires_at > now && e.value == expected)
        else {
            return Ok(false);
        };
        entry.expires_at = now + ttl;
        Ok(true)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, EphemeralError> {
        self.increment_by(key, 1, ttl).await
    }

    async fn increment_by(&self, key: &str, by: u64, ttl: Duration) -> Result<u64, EphemeralError> {
        let now = Instant::now();
        let mut map = self.lock_for_write(now);
        let current = live(map.get(key), now).map(|e| {
            let n = std::str::from_utf8(&e.value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            (n, e.expires_at)
        });
        let (next, expires_at) = match current {
            Some((n, expires_at)) => (n.saturating_add(by), expires_at),
            None => (by, now + ttl),
        };
        map.insert(
            key.to_owned(),
            Entry {
                value: next.to_string().into_bytes(),
                expires_at,
            },
        );
        Ok(next)
    }

    async fn decrement(&self, key: &str) -> Result<u64, EphemeralError> {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(entry) = map.get_mut(key).filter(|e| e.expires_at > now) else {
            return Ok(0);
        };
        let n = std::str::from_utf8(&entry.value)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            .saturating_sub(1);
        entry.value = n.to_string().into_bytes();
        Ok(n)
    }

    async fn ping(&self) -> Result<(), EphemeralError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
