//! Proof that this process holds the database's keys. The table `vault_key_fingerprints`
//! holds one fingerprint per vault key (HMAC-SHA256 of a fixed label under the key, never the
//! key: `huigong_vault::derived`), written by the first start that uses the key. Every start
//! checks its key ring against it: a key whose fingerprint differs refuses the start, naming
//! the key id — for example a second instance that generated its own development keys against
//! a shared database, whose rows the other instances could not read.
//!
//! A key the database has not recorded is refused as well ([`KeyCheckError::Unrecorded`]):
//! only the first start (nothing recorded yet) and `huigong keys rotate` record keys. Else an
//! instance given a key id of its own (`HUIGONG__VAULT__KEYS=2:…` with the right blind-index
//! key) would record it and seal rows no other instance can open.

use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_vault::{KeyName, KeyRing};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, OnConflict, Query};
use subtle::ConstantTimeEq as _;

const TABLE: &str = "vault_key_fingerprints";

/// The ring and the database disagree.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    /// The database's data was written with another key under this name.
    #[error(
        "{0} differs from the key this database was written with (its fingerprint does not match vault_key_fingerprints): this instance has other keys than the others; configure the same vault keys everywhere"
    )]
    Mismatch(KeyName),
    /// The ring holds a key the database has never recorded, outside `huigong keys rotate`.
    #[error(
        "{0} is not recorded for this database (vault_key_fingerprints): a new key is recorded only by `huigong keys rotate`, run once with the new key ring before any instance starts with it (docs/operations.md, Keys)"
    )]
    Unrecorded(KeyName),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for KeyCheckError {
    fn from(e: sea_orm::DbErr) -> Self {
        KeyCheckError::Store(e.into())
    }
}

/// What [`check_and_record`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyCheck {
    /// Keys of the ring seen for the first time, now recorded.
    pub recorded: Vec<KeyName>,
    /// Keys the database knows that the ring lacks (retired after a rotation, or not yet
    /// configured here): values sealed with them do not open on this instance.
    pub missing_here: Vec<KeyName>,
    /// No fingerprint was recorded before: the first start with keys of this database.
    pub first: bool,
}

async fn stored(db: &Database) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let select = Query::select()
        .columns([Alias::new("key_name"), Alias::new("fingerprint")])
        .from(Alias::new(TABLE))
        .to_owned();
    let rows = db.conn.query_all(&select).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "key_name")?, r.try_get("", "fingerprint")?)))
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(StoreError::from)
}

/// Checks every key of `ring` against the recorded fingerprints. Keys not seen before are
/// recorded only at the first start (nothing recorded yet: all of them) or when `record_new`
/// (`huigong keys rotate`); otherwise they refuse ([`KeyCheckError::Unrecorded`]). Concurrent
/// first starts with different keys: one records, the other finds the mismatch.
pub async fn check_and_record(
    db: &Database,
    ring: &KeyRing,
    now: DateTime<Utc>,
    record_new: bool,
) -> Result<KeyCheck, KeyCheckError> {
    let mut known = stored(db).await?;
    let mut check = KeyCheck {
        first: known.is_empty(),
        ..KeyCheck::default()
    };
    let mut inserted = false;
    for (name, fingerprint) in ring.fingerprints() {
        let key = name.as_stored();
        if known.iter().any(|(k, _)| *k == key) {
            continue;
        }
        if !check.first && !record_new {
            return Err(KeyCheckError::Unrecorded(*name));
        }
        let insert = Query::insert()
            .into_table(Alias::new(TABLE))
            .columns([
                Alias::new("key_name"),
                Alias::new("fingerprint"),
                Alias::new("created_at"),
            ])
            .values_panic([key.into(), fingerprint.to_vec().into(), now.into()])
            .on_conflict(
                OnConflict::column(Alias::new("key_name"))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        let turn = db.write_turn().await?;
        let done = db.conn.execute(&insert).await?;
        drop(turn);
        if done.rows_affected() == 1 {
            check.recorded.push(*name);
        }
        inserted = true;
    }
    if inserted {
        // Read back what won, in case another instance recorded the same key meanwhile.
        known = stored(db).await?;
    }
    for (name, fingerprint) in ring.fingerprints() {
        let key = name.as_stored();
        let Some((_, recorded)) = known.iter().find(|(k, _)| *k == key) else {
            return Err(KeyCheckError::Store(StoreError::Other(format!(
                "the fingerprint of {name} was not recorded"
            ))));
        };
        if !bool::from(recorded.as_slice().ct_eq(fingerprint.as_slice())) {
            return Err(KeyCheckError::Mismatch(*name));
        }
    }
    check.missing_here = known
        .iter()
        .filter_map(|(k, _)| KeyName::parse(k))
        .filter(|n| !ring.fingerprints().iter().any(|(m, _)| m == n))
        .collect();
    Ok(check)
}
