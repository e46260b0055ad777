//! Each instance's copy of the merchants its tills work for (the merchant's row and all its
//! discounts), so that a verification reads no merchant from the database, while an edit made
//! through *any* instance holds on the next scan everywhere.
//!
//! **Freshness: a shared generation per merchant.** The ephemeral store (Redis in production)
//! holds `merchant:gen:{id}`; an edit of the merchant (its status, its discounts, its name)
//! gives it a new random value after its commit ([`MerchantViews::invalidate`], called by
//! `merchants::update`). Every till request reads that key together with its session (one
//! `MGET`, `huigong_api`'s `MerchantCaller`) and uses the instance's copy only if the copy was loaded under the same generation; otherwise it loads the merchant
//! again (two queries). The generation is read *before* the load, so a copy loaded before an
//! edit committed is tagged with the old generation and never used once the edit's bump is
//! visible (the argument of `card_views`). A copy is also dropped after [`MAX_AGE`], which is
//! far shorter than a generation's life, so an expired generation key (absent again) can never
//! make a copy loaded under "absent" before the bump look current.
//!
//! **Staff bindings** (account → merchant, or "not staff") are kept per *session*: a binding
//! changes only by unbinding, which also ends every session of the account
//! (`Sessions::revoke_all`, checked with the session on every request), so a copy read for a
//! session can never outlive the binding it was read from; a new session reads it again. Both maps are bounded ([`MAX_ENTRIES`]; a county has hundreds of tills).
//!
//! **Failure.** The generation is read with the session, so a store that does not answer fails
//! the request (503) before any copy matters. A failed bump leaves other instances' copies
//! current for up to [`MAX_AGE`] (logged); the editing instance drops its own.

use crate::StoreError;
use crate::ephemeral::Ephemeral;
use crate::merchants::{self, Merchant};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The longest a copy is used, whatever the generation says.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// How long a generation lives after its last bump: far longer than [`MAX_AGE`].
const GENERATION_TTL: Duration = Duration::from_secs(60 + 600);

/// Beyond this many entries a map starts over.
const MAX_ENTRIES: usize = 10_000;

/// A merchant as loaded under a generation.
#[derive(Debug)]
struct Copy {
    generation: Option<String>,
    loaded: Instant,
    merchant: Arc<Merchant>,
}

/// The per-instance copies (see the module documentation).
#[derive(Debug)]
pub struct MerchantViews {
    store: Arc<dyn Ephemeral>,
    /// (Account, session) → the merchant it works for, or `None`: not staff (kept too, so that
    /// a worker's request to a till endpoint costs no query). Per session: unbinding ends the
    /// account's sessions, so no entry outlives its binding.
    staff: Mutex<HashMap<(Uuid, Uuid), Option<Uuid>>>,
    copies: Mutex<HashMap<Uuid, Arc<Copy>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bounded_insert<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

impl MerchantViews {
    pub fn new(store: Arc<dyn Ephemeral>) -> Self {
        Self {
            store,
            staff: Mutex::default(),
            copies: Mutex::default(),
        }
    }

    /// The id of the merchant staff account `user_id` works for, `None` if it is not staff
    /// (kept once read for this session, see `staff`).
    pub async fn merchant_of_staff<C: ConnectionTrait>(
        &self,
        conn: &C,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<Uuid>, StoreError> {
        if let Some(known) = locked(&self.staff).get(&(user_id, session_id)).copied() {
            return Ok(known);
        }
        let found = merchants::merchant_id_of_staff(conn, user_id).await?;
        bounded_insert(&mut locked(&self.staff), (user_id, session_id), found);
        Ok(found)
    }

    /// Forgets this instance's copies of `user_id`'s binding (after unbinding it; the other
    /// instances' copies die with the sessions they were read for).
    pub fn forget_staff(&self, user_id: Uuid) {
        locked(&self.staff).retain(|(user, _), _| *user != user_id);
    }

    /// The key of merchant `merchant_id`'s generation: read it in a round trip of the caller's
    /// and hand the value to [`MerchantViews::get_at`].
    pub fn generation_key(merchant_id: Uuid) -> String {
        format!("merchant:gen:{}", merchant_id.simple())
    }

    /// Merchant `merchant_id` with all its discounts, current, given the value of its
    /// generation key ([`MerchantViews::generation_key`]) as the caller read it just now (with
    /// the session: a request whose session cannot be read fails anyway); `None` if there is
    /// no such merchant.
    pub async fn get_at<C: ConnectionTrait>(
        &self,
        conn: &C,
        merchant_id: Uuid,
        generation: Option<Vec<u8>>,
    ) -> Result<Option<Arc<Merchant>>, StoreError> {
        let current = generation.map(|g| String::from_utf8_lossy(&g).into_owned());
        let copy = locked(&self.copies).get(&merchant_id).cloned();
        if let Some(copy) = copy
            && copy.generation == current
            && copy.loaded.elapsed() < MAX_AGE
        {
            return Ok(Some(copy.merchant.clone()));
        }
        let loaded = Instant::now();
        let Some(merchant) = merchants::get(conn, merchant_id).await? else {
            return Ok(None);
        };
        let merchant = Arc::new(merchant);
        let copy = Arc::new(Copy {
            generation: current,
            loaded,
            merchant: merchant.clone(),
        });
        bounded_insert(&mut locked(&self.copies), merchant_id, copy);
        Ok(Some(merchant))
    }

    /// Makes every instance's copy of `merchant_id` stale. Call it after the edit committed.
    /// Never fails: an error is logged (other instances may then use their copy for up to
    /// [`MAX_AGE`]; this one drops its own in any case, also one that a request which read the
    /// merchant before the commit put back meanwhile). Runs on a task of its own, so a dropped
    /// caller cannot cut it short.
    pub async fn invalidate(&self, merchant_id: Uuid) {
        locked(&self.copies).remove(&merchant_id);
        let store = self.store.clone();
        let done = tokio::spawn(async move {
            let generation = format!("{:016x}", rand::random::<u64>());
            store
                .set(
                    &Self::generation_key(merchant_id),
                    generation.as_bytes(),
                    GENERATION_TTL,
                )
                .await
        });
        let done = done.await;
        locked(&self.copies).remove(&merchant_id);
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(
                error = %e,
                max_age_secs = MAX_AGE.as_secs(),
                "merchant copies not invalidated: other instances may use the old one"
            ),
            Err(e) => tracing::warn!(error = %e, "merchant invalidation did not finish"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephemeral::MemoryStore;

    #[test]
    fn a_full_map_starts_over() {
        let mut map = HashMap::new();
        for i in 0..MAX_ENTRIES {
            bounded_insert(&mut map, i, ());
        }
        assert_eq!(map.len(), MAX_ENTRIES);
        bounded_insert(&mut map, MAX_ENTRIES, ());
        assert_eq!(map.len(), 1);
        assert!(map.contains_key(&MAX_ENTRIES));
    }

    #[tokio::test]
    async fn invalidation_gives_a_new_generation_each_time() {
        let store: Arc<dyn Ephemeral> = Arc::new(MemoryStore::new());
        let views = MerchantViews::new(store.clone());
        let id = Uuid::now_v7();
        let read = || async {
            store
                .get(&MerchantViews::generation_key(id))
                .await
                .ok()
                .flatten()
        };
        assert_eq!(read().await, None);
        views.invalidate(id).await;
        let first = read().await;
        assert!(first.is_some());
        views.invalidate(id).await;
        let second = read().await;
        assert!(second.is_some());
        assert_ne!(first, second);
    }
}
