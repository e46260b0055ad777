//! The two views of a card, cached in the shared ephemeral store — Redis in production, so
//! every instance reads the same entries and a write through any instance invalidates them for
//! all: the holder's view (`GET /api/v1/card`) and the till's (`POST /api/v1/merchant/verify`).
//!
//! **What is stored.** Exactly what the responses show. The holder's view: card number, status,
//! the holder's name *masked* (`张*`, the only form the card shows it in; never the full name,
//! sealed or not), union name, unit name, activation time — or that the account holds no card;
//! keyed by the WeChat account's user id. The till's view ([`TillCard`]): status, masked name,
//! union name, and the card's uses of each discount on one Beijing day; keyed by the card id
//! (what a QR token names), and served only for the day it counts. Both live
//! `card.view_cache_ttl_secs` (at most 60 s).
//!
//! **Invalidation: generations, bumped after the commit.** Beside each entry lives a
//! generation key (one per account, one per card); an entry records the generation that was current *before* its database
//! read, and is served only while that generation is still current. A write that changes what a
//! card shows notes in a [`StaleViews`], inside its transaction, the cards it updated, the
//! people whose name or unit it changed and the unions it renamed; after the commit,
//! [`CardViews::invalidate`] finds those people's and unions' cards and the accounts now
//! holding them (one query per batch of people, one per union) and gives each view a fresh
//! random generation (pipelined, 1,000 per round trip), so a union with 10,000 card holders is
//! one query and twenty pipelines — no per-union generation in the hot path is needed. A
//! redemption makes only the till's view of its card stale (uses left).
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
//! (`huigong_api::imports::orgs`, every holder of a card of that union); for the till's view
//! also a redemption (`merchants::redeem`). Key rotation changes no view: only the masked name
//! is cached, and re-encryption leaves it unchanged. Every test of an invalidation point in
//! `tests/e2e/card_view.rs` checks the till's view of the card against the database too.

use crate::StoreError;
use crate::cards::{self, Card, CardStatus, ShownCard};
use crate::entity::{card, membership};
use crate::ephemeral::{Ephemeral, EphemeralError};
use crate::merchants::{self, TillCard};

use chrono::NaiveDate;
use huigong_vault::KeyRing;
use sea_orm::DatabaseConnection;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::de::DeserializeOwned;
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

/// Generations per batch of bumps (one Redis pipeline each).
const BUMP_BATCH: usize = 1_000;

/// People per `IN (…)` list when looking up card holders.
const LOOKUP_BATCH: usize = 1_000;

/// A cached answer, valid while `generation` is its key's current generation. The holder's
/// view is an `Entry<Option<ShownCard>>` (the account may hold no card), the till's an
/// `Entry<TillCard>`.
#[derive(Debug, Serialize, Deserialize)]
struct Entry<T> {
    #[serde(rename = "g")]
    generation: Option<String>,
    #[serde(rename = "c")]
    value: T,
}

/// What the cache holds under a key.
#[derive(Debug, PartialEq, Eq)]
enum Lookup<T> {
    /// A current entry.
    Hit(T),
    /// Nothing current: read the database, then store under this generation.
    Miss { generation: Option<String> },
    /// The store did not answer: read the database, store nothing.
    Unavailable,
}

/// The keys of one cached answer: the entry and its generation. Both carry the same hash tag,
/// so a Redis Cluster serves them from one node (one `MGET`).
struct Keys {
    entry: String,
    generation: String,
}

impl Keys {
    /// The holder's view of account `user_id`.
    fn view(user_id: Uuid) -> Self {
        Self {
            entry: format!("card:view:{{{user_id}}}"),
            generation: Self::view_generation(user_id),
        }
    }

    fn view_generation(user_id: Uuid) -> String {
        format!("card:gen:{{{user_id}}}")
    }

    /// The till's view of card `card_id`.
    fn till(card_id: Uuid) -> Self {
        Self {
            entry: format!("card:till:{{{card_id}}}"),
            generation: Self::till_generation(card_id),
        }
    }

    fn till_generation(card_id: Uuid) -> String {
        format!("card:till-gen:{{{card_id}}}")
    }
}

/// Whose card views a transaction changes. Fill it inside the transaction; hand it to
/// [`CardViews::invalidate`] after the commit (never before: see the module documentation).
///
/// Accounts and cards known from a card row the transaction updated are taken as they are (the
/// row lock keeps its binding from changing under us). People and unions are resolved to the
/// cards (and the accounts holding them) only *after* the commit: a card bound or moved into
/// the union by a concurrent transaction committing just before ours would be missed by a
/// lookup inside ours, while one committing after our lookup bumps its own views after our
/// commit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StaleViews {
    users: BTreeSet<Uuid>,
    cards: BTreeSet<Uuid>,
    people: BTreeSet<Uuid>,
    unions: BTreeSet<Uuid>,
}

impl StaleViews {
    pub fn new() -> Self {
        Self::default()
    }

    /// Both views of this card (as updated by the transaction) change: the till's, and the
    /// holder's of the account it is bound to.
    pub fn card(&mut self, card: Option<&Card>) {
        if let Some(card) = card {
            self.cards.insert(card.id);
            self.users.extend(card.user_id);
        }
    }

    /// Both views of card `card_id`, bound to `user_id`, change (it was bound or unbound).
    pub fn binding(&mut self, user_id: Uuid, card_id: Uuid) {
        self.users.insert(user_id);
        self.cards.insert(card_id);
    }

    /// The till's view of this card changes: it was used (today's uses of a discount).
    pub fn uses_of(&mut self, card_id: Uuid) {
        self.cards.insert(card_id);
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
        self.users.is_empty()
            && self.cards.is_empty()
            && self.people.is_empty()
            && self.unions.is_empty()
    }

    /// The generation keys to bump: those of the accounts and cards named, and of the cards
    /// (not cancelled) of the people and unions named with the accounts now holding them.
    async fn generations<C: ConnectionTrait>(self, conn: &C) -> Result<Vec<String>, StoreError> {
        let (mut users, mut cards) = (self.users, self.cards);
        let mut add = |found: Vec<(Uuid, Option<Uuid>)>| {
            for (card_id, user_id) in found {
                cards.insert(card_id);
                users.extend(user_id);
            }
        };
        let holders = || {
            card::Entity::find()
                .select_only()
                .column(card::Column::Id)
                .column(card::Column::UserId)
                .filter(card::Column::Status.ne(CardStatus::Cancelled.as_str()))
        };
        let people: Vec<Uuid> = self.people.into_iter().collect();
        for chunk in people.chunks(LOOKUP_BATCH) {
            add(holders()
                .filter(card::Column::PersonId.is_in(chunk.to_vec()))
                .into_tuple()
                .all(conn)
                .await?);
        }
        for org_id in self.unions {
            add(cards::joined_to_membership(holders())
                .filter(membership::Column::OrgId.eq(org_id))
                .into_tuple()
                .all(conn)
                .await?);
        }
        Ok(keys_of(&users, &cards))
    }
}

fn keys_of(users: &BTreeSet<Uuid>, cards: &BTreeSet<Uuid>) -> Vec<String> {
    users
        .iter()
        .map(|u| Keys::view_generation(*u))
        .chain(cards.iter().map(|c| Keys::till_generation(*c)))
        .collect()
}

/// What `found` (an entry and its generation, as read) holds: the entry if it is current (and
/// `usable`); else the generation to store a fresh one under. The generation is read before
/// the database is, so a write committed after this read bumps it past the generation the
/// fresh entry will carry, and that entry is never served.
fn decode<T: DeserializeOwned>(
    found: Result<Vec<Option<Vec<u8>>>, EphemeralError>,
    usable: impl Fn(&T) -> bool,
) -> Lookup<T> {
    match found {
        Ok(values) => {
            let mut values = values.into_iter();
            let entry = values.next().flatten();
            let current = values
                .next()
                .flatten()
                .map(|g| String::from_utf8_lossy(&g).into_owned());
            match entry.and_then(|e| serde_json::from_slice::<Entry<T>>(&e).ok()) {
                Some(entry) if entry.generation == current && usable(&entry.value) => {
                    Lookup::Hit(entry.value)
                }
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
        let keys = Keys::view(user_id);
        let found = self.read(&keys).await;
        self.cached(
            &keys,
            found,
            |_| true,
            || cards::get_for_user(conn, vault, user_id),
        )
        .await
    }

    /// What the till shows of card `card_id` on Beijing day `day` (`None`: no such card), from
    /// the cache when the entry there is current and counts that day's uses, else from the
    /// database (two queries) and then cached.
    pub async fn till<C: ConnectionTrait>(
        &self,
        conn: &C,
        vault: &KeyRing,
        card_id: Uuid,
        day: NaiveDate,
    ) -> Result<Option<TillCard>, StoreError> {
        let found = self.read(&Keys::till(card_id)).await;
        self.till_from(conn, vault, card_id, day, found).await
    }

    /// The keys whose values [`CardViews::till_from`] takes, in order: to read them in a round
    /// trip of the caller's (the till's, which also uses the worker's QR token).
    pub fn till_keys(card_id: Uuid) -> [String; 2] {
        let keys = Keys::till(card_id);
        [keys.entry, keys.generation]
    }

    /// [`CardViews::till`] from the values of [`CardViews::till_keys`] as read by the caller
    /// (or the error reading them).
    pub async fn till_from<C: ConnectionTrait>(
        &self,
        conn: &C,
        vault: &KeyRing,
        card_id: Uuid,
        day: NaiveDate,
        found: Result<Vec<Option<Vec<u8>>>, EphemeralError>,
    ) -> Result<Option<TillCard>, StoreError> {
        self.cached(
            &Keys::till(card_id),
            found,
            |t: &Option<TillCard>| t.as_ref().is_some_and(|t| t.day == day),
            || merchants::read_till(conn, vault, card_id, day),
        )
        .await
    }

    /// The entry and generation under `keys`, in one round trip (nothing is read with the
    /// cache off).
    async fn read(&self, keys: &Keys) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        if self.ttl.is_zero() {
            return Ok(Vec::new());
        }
        self.store.get_many(&[&keys.entry, &keys.generation]).await
    }

    /// The answer under `keys` if the entry and generation read (`found`) hold a current one
    /// that `usable` accepts; else `read`'s, which is then stored under the generation found
    /// (read before the database).
    async fn cached<T, R, F>(
        &self,
        keys: &Keys,
        found: Result<Vec<Option<Vec<u8>>>, EphemeralError>,
        usable: impl Fn(&T) -> bool,
        read: R,
    ) -> Result<T, StoreError>
    where
        T: Serialize + DeserializeOwned,
        R: FnOnce() -> F,
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        if self.ttl.is_zero() {
            return read().await;
        }
        let generation = match decode(found, usable) {
            Lookup::Hit(value) => return Ok(value),
            Lookup::Miss { generation } => Some(generation),
            Lookup::Unavailable => None,
        };
        let value = read().await?;
        if let Some(generation) = generation {
            self.fill(keys, generation, &value).await;
        }
        Ok(value)
    }

    /// Stores an answer read from the database under the generation [`decode`] found.
    async fn fill<T: Serialize>(&self, keys: &Keys, generation: Option<String>, value: &T) {
        let entry = Entry { generation, value };
        let stored = match serde_json::to_vec(&entry) {
            Ok(bytes) => self
                .store
                .set(&keys.entry, &bytes, self.ttl)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "card view not cached");
        }
    }

    /// Makes the cached views in `stale` stale on every instance: resolves its people and
    /// unions to their cards and the accounts holding them (through `conn`, outside the
    /// transaction) and gives each view a new generation. Call it after the transaction that
    /// changed them committed. Never fails: an error is logged (those views may then show the
    /// old state until they expire). The work runs on a task of its own, awaited here: if the
    /// caller is dropped meanwhile (a client that disconnects after the commit), the
    /// invalidation still finishes.
    pub async fn invalidate(&self, conn: &DatabaseConnection, stale: StaleViews) {
        if stale.is_empty() {
            return;
        }
        let (views, conn) = (self.clone(), conn.clone());
        let done = tokio::spawn(async move {
            let known = keys_of(&stale.users, &stale.cards);
            let keys = match stale.generations(&conn).await {
                Ok(keys) => keys,
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        ttl_secs = views.ttl.as_secs(),
                        "card holders not found: their views may show the old state until they expire"
                    );
                    known
                }
            };
            views.bump(&keys).await;
        });
        if let Err(e) = done.await {
            tracing::warn!(error = %e, "card view invalidation did not finish");
        }
    }

    async fn bump(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        let generation = format!("{:016x}", rand::random::<u64>());
        for batch in keys.chunks(BUMP_BATCH) {
            let entries: Vec<(&str, &[u8])> = batch
                .iter()
                .map(|k| (k.as_str(), generation.as_bytes()))
                .collect();
            if let Err(e) = self.store.set_many(&entries, GENERATION_TTL).await {
                tracing::warn!(
                    error = %e,
                    views = keys.len(),
                    ttl_secs = self.ttl.as_secs(),
                    "card views not invalidated: they may show the old state until they expire"
                );
                return;
            }
        }
    }
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

    type Shown = Option<ShownCard>;

    impl CardViews {
        async fn lookup<T: DeserializeOwned>(
            &self,
            keys: &Keys,
            usable: impl Fn(&T) -> bool,
        ) -> Lookup<T> {
            decode(
                self.store.get_many(&[&keys.entry, &keys.generation]).await,
                usable,
            )
        }

        async fn view_of(&self, user_id: Uuid) -> Lookup<Shown> {
            self.lookup(&Keys::view(user_id), |_| true).await
        }

        async fn fill_view(&self, user_id: Uuid, generation: Option<String>, card: Shown) {
            self.fill(&Keys::view(user_id), generation, &card).await;
        }

        async fn invalidate_user(&self, user_id: Uuid) {
            self.bump(&keys_of(&BTreeSet::from([user_id]), &BTreeSet::new()))
                .await;
        }
    }

    #[test]
    fn both_keys_of_a_view_share_its_hash_tag_and_the_two_views_differ() {
        let id = Uuid::now_v7();
        let tag = format!("{{{id}}}");
        for keys in [Keys::view(id), Keys::till(id)] {
            assert!(keys.entry.ends_with(&tag));
            assert!(keys.generation.ends_with(&tag));
            assert_ne!(keys.entry, keys.generation);
        }
        assert_ne!(Keys::view(id).entry, Keys::till(id).entry);
        assert_ne!(Keys::view(id).generation, Keys::till(id).generation);
    }

    #[test]
    fn an_entry_holds_the_masked_name_only() {
        let entry = Entry {
            generation: None,
            value: Some(shown("甲公司工会")),
        };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        assert!(json.contains("\"holder_masked\":\"张*\""), "{json}");
        assert!(json.contains("\"status\":\"active\""), "{json}");
    }

    /// The till's entry is exactly these fields: the name only masked, nothing else personal.
    #[test]
    fn a_till_entry_holds_the_masked_name_only() {
        let entry = Entry {
            generation: None,
            value: Some(till(NaiveDate::MIN, 1)),
        };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        assert!(json.contains("\"holder_masked\":\"张*\""), "{json}");
        let fields: Vec<&str> = json
            .match_indices("\":")
            .map(|(i, _)| {
                let start = json[..i].rfind('"').map_or(0, |s| s + 1);
                &json[start..i]
            })
            .collect();
        assert_eq!(
            fields,
            [
                "g",
                "c",
                "status",
                "holder_masked",
                "union_name",
                "day",
                "uses"
            ]
        );
    }

    #[tokio::test]
    async fn a_filled_view_is_served_until_its_account_is_invalidated() {
        let views = views();
        let user = Uuid::now_v7();
        let Lookup::Miss { generation } = views.view_of(user).await else {
            panic!("an empty cache misses");
        };
        views
            .fill_view(user, generation, Some(shown("甲公司工会")))
            .await;
        assert_eq!(
            views.view_of(user).await,
            Lookup::Hit(Some(shown("甲公司工会")))
        );
        // Another account is not affected by this one's invalidation, and vice versa.
        let other = Uuid::now_v7();
        views.invalidate_user(other).await;
        assert!(matches!(views.view_of(user).await, Lookup::Hit(_)));
        views.invalidate_user(user).await;
        assert!(matches!(views.view_of(user).await, Lookup::Miss { .. }));
        // "No card" is cached too, and invalidated the same way.
        let Lookup::Miss { generation } = views.view_of(user).await else {
            panic!("miss after invalidation");
        };
        views.fill_view(user, generation, None).await;
        assert_eq!(views.view_of(user).await, Lookup::Hit(None));
        views.invalidate_user(user).await;
        assert!(matches!(views.view_of(user).await, Lookup::Miss { .. }));
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
            let Lookup::Miss { generation: seen } = views.view_of(user).await else {
                panic!("miss");
            };
            views.invalidate_user(user).await;
            views.fill_view(user, seen, Some(shown("旧名称工会"))).await;
            let Lookup::Miss { generation } = views.view_of(user).await else {
                panic!("the stale entry was served");
            };
            // The next reader reads the committed state and stores it under the new generation.
            views
                .fill_view(user, generation, Some(shown("新名称工会")))
                .await;
            assert_eq!(
                views.view_of(user).await,
                Lookup::Hit(Some(shown("新名称工会")))
            );
            views.invalidate_user(user).await;
        }
    }

    fn till(day: NaiveDate, uses: i64) -> TillCard {
        TillCard {
            status: CardStatus::Active,
            holder_masked: "张*".to_owned(),
            union_name: "甲公司工会".to_owned(),
            day,
            uses: vec![(Uuid::nil(), uses)],
        }
    }

    /// The till's entry of a card follows the card's own generation (a redemption bumps only
    /// that one), and an entry counting another day's uses is never served.
    #[tokio::test]
    async fn a_till_entry_is_served_for_its_day_until_its_card_is_invalidated() {
        let views = views();
        let (card, user) = (Uuid::now_v7(), Uuid::now_v7());
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default();
        let tomorrow = today.succ_opt().unwrap_or_default();
        let for_day =
            |day: NaiveDate| move |t: &Option<TillCard>| t.as_ref().is_some_and(|t| t.day == day);
        let keys = Keys::till(card);
        let Lookup::Miss { generation } = views.lookup(&keys, for_day(today)).await else {
            panic!("an empty cache misses");
        };
        views.fill(&keys, generation, &Some(till(today, 1))).await;
        assert_eq!(
            views.lookup(&keys, for_day(today)).await,
            Lookup::Hit(Some(till(today, 1)))
        );
        assert!(matches!(
            views.lookup(&keys, for_day(tomorrow)).await,
            Lookup::Miss { .. }
        ));
        // The holder's view of the account is a separate entry: bumping it leaves the till's.
        views.invalidate_user(user).await;
        assert!(matches!(
            views.lookup(&keys, for_day(today)).await,
            Lookup::Hit(_)
        ));
        let mut stale = StaleViews::new();
        stale.uses_of(card);
        views.bump(&keys_of(&stale.users, &stale.cards)).await;
        assert!(matches!(
            views.lookup(&keys, for_day(today)).await,
            Lookup::Miss { .. }
        ));
    }

    #[tokio::test]
    async fn invalidating_many_accounts_bumps_each() {
        let views = views();
        let users: Vec<Uuid> = (0..2_500).map(|_| Uuid::now_v7()).collect();
        for u in &users {
            views.fill_view(*u, None, None).await;
        }
        views
            .bump(&keys_of(&users.iter().copied().collect(), &BTreeSet::new()))
            .await;
        for u in &users {
            assert!(matches!(views.view_of(*u).await, Lookup::Miss { .. }));
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
