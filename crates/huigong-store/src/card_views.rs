//! The holder's card view (`GET /api/v1/card`), cached in the shared ephemeral store — Redis in
//! production, so every instance reads the same entries and a write through any instance
//! invalidates them for all.
//!
//! **What is stored.** Exactly what the response shows: card number, status, the holder's name
//! *masked* (`张*`, the only form the card shows it in; never the full name, sealed or not),
//! union name, unit name, activation time — or that the account holds no card. Keyed by the
//! WeChat account's user id, for `card.view_cache_ttl_secs` (at most 60 s).
//!
//! **Invalidation: generations, bumped after the commit.** Beside each entry lives a
//! generation key; an entry records the generation that was current *before* its database
//! read, and is served only while that generation is still current. A write that changes what a
//! card shows notes in a [`StaleViews`], inside its transaction, the cards it updated, the
//! people whose name or unit it changed and the unions it renamed; after the commit, [`CardViews::invalidate`] finds
//! the accounts now holding those cards (one query per batch of people, one per union) and gives
//! each a fresh random generation (pipelined, 1,000 per round trip), so a union with 10,000 card
//! holders is one query and ten pipelines — no per-union generation in the hot path is needed.
//! Entry and generation are read together in one round trip (`MGET`; both keys carry the user id
//! as hash tag, so a Redis Cluster serves them from one node).
//!
//! Why not simply delete the entry after the commit: a reader that read the database just
//! before the commit can store its (old) view just after the delete, and that stale view would
//! then be served until it expires. With generations that reader's entry carries the generation
//! it saw before the bump, so it is never served. Deleting *before* the commit is worse (any
//! reader in between refills the old state). A reader that sees the new generation read the
//! database after the commit, so what it stores is current. Generations are random, never
//! reused, and outlive any entry (`GENERATION_TTL` > the longest entry TTL plus a request's
//! time), so an expired generation key can never make an old entry look current again.
//!
//! **Failure.** Any error of the ephemeral store on the read path falls back to the database
//! (with a warning that names no person and no account): a Redis hiccup never fails the
//! request. If the holder lookup or the bump fails after the commit, the old view can be
//! served until its entry expires (≤ the TTL); that is logged.
//!
//! **Invalidation points** (every write that changes what some card shows; each calls
//! [`CardViews::invalidate`] after its commit): activation or binding (`cards::activate`), an
//! admin's unbinding (`cards::unbind_person`), a card's status or membership following a
//! membership change (`membership_changes::change`: leave, death, retirement that reactivates;
//! `membership_changes::accept`: the card moves with a transfer; `union_lifecycle::dissolve`
//! with the unit closed: members and their cards move to the parent), a person's name corrected
//! (`members::add`, `applications::approve`, `members::import`), a membership's unit changed by
//! a roster import (`members::import`), and a union renamed by the organisation-table import
//! (`huigong_api::imports::orgs`, every holder of a card of that union). Key rotation changes
//! no view: only the masked name is cached, and re-encryption leaves it unchanged.

use crate::StoreError;
use crate::cards::{self, Card, CardStatus, ShownCard};
use crate::entity::{card, membership};
use crate::ephemeral::Ephemeral;

use huigong_vault::KeyRing;
use sea_orm::DatabaseConnection;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The longest an entry may live (`card.view_cache_ttl_secs` is capped to it).
pub const MAX_TTL: Duration = Duration::from_secs(60);

/// How long a generation lives after its last bump: far longer than any entry plus the time a
/// request can take between reading the generation and storing its entry.
const GENERATION_TTL: Duration = Duration::from_secs(60 + 600);

/// Accounts per batch of generation bumps (one Redis pipeline each).
const BUMP_BATCH: usize = 1_000;

/// People per `IN (…)` list when looking up card holders.
const LOOKUP_BATCH: usize = 1_000;

/// A cached answer: the account's card view (or that it holds none), valid while `generation`
/// is the account's current generation.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "g")]
    generation: Option<String>,
    #[serde(rename = "c")]
    card: Option<ShownCard>,
}

/// What the cache holds for an account.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    /// A current entry: the view, or that the account holds no card.
    Hit(Option<ShownCard>),
    /// Nothing current: read the database, then store under this generation.
    Miss { generation: Option<String> },
    /// The store did not answer: read the database, store nothing.
    Unavailable,
}

fn view_key(user_id: Uuid) -> String {
    format!("card:view:{{{user_id}}}")
}

fn generation_key(user_id: Uuid) -> String {
    format!("card:gen:{{{user_id}}}")
}

/// Whose card views a transaction changes. Fill it inside the transaction; hand it to
/// [`CardViews::invalidate`] after the commit (never before: see the module documentation).
///
/// Accounts known from a card row the transaction updated are taken as they are (the row lock
/// keeps its binding from changing under us). People and unions are resolved to the accounts
/// holding their cards only *after* the commit: a card bound or moved into the union by a
/// concurrent transaction committing just before ours would be missed by a lookup inside ours,
/// while one committing after our lookup bumps its own account after our commit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StaleViews {
    users: BTreeSet<Uuid>,
    people: BTreeSet<Uuid>,
    unions: BTreeSet<Uuid>,
}

impl StaleViews {
    pub fn new() -> Self {
        Self::default()
    }

    /// The view of this account (if any) changes.
    pub fn user(&mut self, user_id: Option<Uuid>) {
        if let Some(user_id) = user_id {
            self.users.insert(user_id);
        }
    }

    /// The view of the account this card (as updated by the transaction) is bound to changes.
    pub fn card(&mut self, card: Option<&Card>) {
        self.user(card.and_then(|c| c.user_id));
    }

    /// The views of these people's cards change: a name corrected, a membership's unit changed.
    pub fn holders_of(&mut self, people: impl IntoIterator<Item = Uuid>) {
        self.people.extend(people);
    }

    /// The views of every card standing for a membership of union `org_id` change: it was
    /// renamed.
    pub fn holders_in(&mut self, org_id: Uuid) {
        self.unions.insert(org_id);
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.people.is_empty() && self.unions.is_empty()
    }

    /// The accounts: those named, and those now holding a card (not cancelled) of the people
    /// and unions named.
    async fn accounts<C: ConnectionTrait>(self, conn: &C) -> Result<BTreeSet<Uuid>, StoreError> {
        let mut users = self.users;
        let people: Vec<Uuid> = self.people.into_iter().collect();
        for chunk in people.chunks(LOOKUP_BATCH) {
            let bound: Vec<Option<Uuid>> = card::Entity::find()
                .select_only()
                .column(card::Column::UserId)
                .filter(card::Column::PersonId.is_in(chunk.to_vec()))
                .filter(card::Column::UserId.is_not_null())
                .filter(card::Column::Status.ne(CardStatus::Cancelled.as_str()))
                .into_tuple()
                .all(conn)
                .await?;
            users.extend(bound.into_iter().flatten());
        }
        for org_id in self.unions {
            let bound: Vec<Option<Uuid>> = card::Entity::find()
                .select_only()
                .column(card::Column::UserId)
                .join(
                    JoinType::InnerJoin,
                    card::Entity::belongs_to(membership::Entity)
                        .from(card::Column::MembershipId)
                        .to(membership::Column::Id)
                        .into(),
                )
                .filter(membership::Column::OrgId.eq(org_id))
                .filter(card::Column::UserId.is_not_null())
                .filter(card::Column::Status.ne(CardStatus::Cancelled.as_str()))
                .into_tuple()
                .all(conn)
                .await?;
            users.extend(bound.into_iter().flatten());
        }
        Ok(users)
    }
}

/// The cache of card views in the shared ephemeral store.
#[derive(Debug, Clone)]
pub struct CardViews {
    store: Arc<dyn Ephemeral>,
    ttl: Duration,
}

impl CardViews {
    /// Views live `ttl` (capped at [`MAX_TTL`]); zero turns the cache off (reads go to the
    /// database; invalidations are still made, for instances configured otherwise).
    pub fn new(store: Arc<dyn Ephemeral>, ttl: Duration) -> Self {
        Self {
            store,
            ttl: ttl.min(MAX_TTL),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The card view of account `user_id` (`None`: it holds no card), from the cache when the
    /// entry there is current, else from the database (one query) and then cached.
    pub async fn get<C: ConnectionTrait>(
        &self,
        conn: &C,
        vault: &KeyRing,
        user_id: Uuid,
    ) -> Result<Option<ShownCard>, StoreError> {
        if self.ttl.is_zero() {
            return read(conn, vault, user_id).await;
        }
        let generation = match self.lookup(user_id).await {
            Lookup::Hit(card) => return Ok(card),
            Lookup::Miss { generation } => Some(generation),
            Lookup::Unavailable => None,
        };
        let card = read(conn, vault, user_id).await?;
        if let Some(generation) = generation {
            self.fill(user_id, generation, card.clone()).await;
        }
        Ok(card)
    }

    /// The cached view if it is current; else the generation to store a fresh one under. The
    /// generation is read before the database is, so a write committed after this read bumps
    /// it past the generation the fresh entry will carry, and that entry is never served.
    async fn lookup(&self, user_id: Uuid) -> Lookup {
        let (view, generation) = (view_key(user_id), generation_key(user_id));
        match self.store.get_many(&[&view, &generation]).await {
            Ok(values) => {
                let mut values = values.into_iter();
                let entry = values.next().flatten();
                let current = values
                    .next()
                    .flatten()
                    .map(|g| String::from_utf8_lossy(&g).into_owned());
                match entry.and_then(|e| serde_json::from_slice::<Entry>(&e).ok()) {
                    Some(entry) if entry.generation == current => Lookup::Hit(entry.card),
                    _ => Lookup::Miss {
                        generation: current,
                    },
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "card view cache unreadable; reading the database");
                Lookup::Unavailable
            }
        }
    }

    /// Stores a view read from the database under the generation [`Self::lookup`] saw.
    async fn fill(&self, user_id: Uuid, generation: Option<String>, card: Option<ShownCard>) {
        let entry = Entry { generation, card };
        let stored = match serde_json::to_vec(&entry) {
            Ok(bytes) => self
                .store
                .set(&view_key(user_id), &bytes, self.ttl)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "card view not cached");
        }
    }

    /// Makes the cached views in `stale` stale on every instance: resolves its people and unions
    /// to the accounts holding their cards (through `conn`, outside the transaction) and gives
    /// each account a new generation. Call it after the transaction that changed them
    /// committed. Never fails: an error is logged (those views may then show the old state until
    /// they expire). The work runs on a task of its own, awaited here: if the caller is dropped
    /// meanwhile (a client that disconnects after the commit), the invalidation still finishes.
    pub async fn invalidate(&self, conn: &DatabaseConnection, stale: StaleViews) {
        if stale.is_empty() {
            return;
        }
        let (views, conn) = (self.clone(), conn.clone());
        let done = tokio::spawn(async move {
            let mut known = stale.users.clone();
            match stale.accounts(&conn).await {
                Ok(accounts) => known = accounts,
                Err(e) => tracing::warn!(
                    error = %e,
                    ttl_secs = views.ttl.as_secs(),
                    "card holders not found: their views may show the old state until they expire"
                ),
            }
            views.bump(&known).await;
        });
        if let Err(e) = done.await {
            tracing::warn!(error = %e, "card view invalidation did not finish");
        }
    }

    /// [`CardViews::invalidate`] for one account.
    pub async fn invalidate_user(&self, user_id: Uuid) {
        let views = self.clone();
        let done = tokio::spawn(async move { views.bump(&BTreeSet::from([user_id])).await });
        if let Err(e) = done.await {
            tracing::warn!(error = %e, "card view invalidation did not finish");
        }
    }

    async fn bump(&self, accounts: &BTreeSet<Uuid>) {
        if accounts.is_empty() {
            return;
        }
        let generation = format!("{:016x}", rand::random::<u64>());
        let keys: Vec<String> = accounts.iter().map(|u| generation_key(*u)).collect();
        for batch in keys.chunks(BUMP_BATCH) {
            let entries: Vec<(&str, &[u8])> = batch
                .iter()
                .map(|k| (k.as_str(), generation.as_bytes()))
                .collect();
            if let Err(e) = self.store.set_many(&entries, GENERATION_TTL).await {
                tracing::warn!(
                    error = %e,
                    accounts = accounts.len(),
                    ttl_secs = self.ttl.as_secs(),
                    "card views not invalidated: they may show the old state until they expire"
                );
                return;
            }
        }
    }
}

async fn read<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    user_id: Uuid,
) -> Result<Option<ShownCard>, StoreError> {
    cards::get_for_user(conn, vault, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephemeral::MemoryStore;

    fn shown(union_name: &str) -> ShownCard {
        ShownCard {
            card_number: "8330520000000000".to_owned(),
            status: CardStatus::Active,
            holder_masked: "张*".to_owned(),
            union_name: union_name.to_owned(),
            unit_name: "甲公司".to_owned(),
            activated_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default(),
        }
    }

    fn views() -> CardViews {
        CardViews::new(Arc::new(MemoryStore::new()), Duration::from_secs(30))
    }

    #[test]
    fn both_keys_of_an_account_share_its_hash_tag() {
        let id = Uuid::now_v7();
        let tag = format!("{{{id}}}");
        assert!(view_key(id).ends_with(&tag));
        assert!(generation_key(id).ends_with(&tag));
        assert_ne!(view_key(id), generation_key(id));
    }

    #[test]
    fn an_entry_holds_the_masked_name_only() {
        let entry = Entry {
            generation: None,
            card: Some(shown("甲公司工会")),
        };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        assert!(json.contains("\"holder_masked\":\"张*\""), "{json}");
        assert!(json.contains("\"status\":\"active\""), "{json}");
    }

    #[tokio::test]
    async fn a_filled_view_is_served_until_its_account_is_invalidated() {
        let views = views();
        let user = Uuid::now_v7();
        let Lookup::Miss { generation } = views.lookup(user).await else {
            panic!("an empty cache misses");
        };
        views
            .fill(user, generation, Some(shown("甲公司工会")))
            .await;
        assert_eq!(
            views.lookup(user).await,
            Lookup::Hit(Some(shown("甲公司工会")))
        );
        // Another account is not affected by this one's invalidation, and vice versa.
        let other = Uuid::now_v7();
        views.invalidate_user(other).await;
        assert!(matches!(views.lookup(user).await, Lookup::Hit(_)));
        views.invalidate_user(user).await;
        assert!(matches!(views.lookup(user).await, Lookup::Miss { .. }));
        // "No card" is cached too, and invalidated the same way.
        let Lookup::Miss { generation } = views.lookup(user).await else {
            panic!("miss after invalidation");
        };
        views.fill(user, generation, None).await;
        assert_eq!(views.lookup(user).await, Lookup::Hit(None));
        views.invalidate_user(user).await;
        assert!(matches!(views.lookup(user).await, Lookup::Miss { .. }));
    }

    /// The race that deleting the entry after the commit would lose: a reader looks up and reads
    /// the database before a write commits, the write commits and invalidates, and only then
    /// does the reader store what it read. That stale entry must never be served.
    #[tokio::test]
    async fn a_view_read_before_a_commit_and_stored_after_its_invalidation_is_not_served() {
        let views = views();
        let user = Uuid::now_v7();
        for _ in 0..2 {
            // Twice: once with no generation yet, once after an earlier bump.
            let Lookup::Miss { generation: seen } = views.lookup(user).await else {
                panic!("miss");
            };
            views.invalidate_user(user).await;
            views.fill(user, seen, Some(shown("旧名称工会"))).await;
            let Lookup::Miss { generation } = views.lookup(user).await else {
                panic!("the stale entry was served");
            };
            // The next reader reads the committed state and stores it under the new generation.
            views
                .fill(user, generation, Some(shown("新名称工会")))
                .await;
            assert_eq!(
                views.lookup(user).await,
                Lookup::Hit(Some(shown("新名称工会")))
            );
            views.invalidate_user(user).await;
        }
    }

    #[tokio::test]
    async fn invalidating_many_accounts_bumps_each() {
        let views = views();
        let users: Vec<Uuid> = (0..2_500).map(|_| Uuid::now_v7()).collect();
        for u in &users {
            views.fill(*u, None, None).await;
        }
        views.bump(&users.iter().copied().collect()).await;
        for u in &users {
            assert!(matches!(views.lookup(*u).await, Lookup::Miss { .. }));
        }
    }

    #[tokio::test]
    async fn a_zero_ttl_and_the_cap() {
        let store: Arc<dyn Ephemeral> = Arc::new(MemoryStore::new());
        assert_eq!(
            CardViews::new(store.clone(), Duration::from_secs(600)).ttl(),
            MAX_TTL
        );
        assert!(CardViews::new(store, Duration::ZERO).ttl().is_zero());
    }
}
