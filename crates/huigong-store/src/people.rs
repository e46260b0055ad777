//! People: one row per natural person, unique by the blind index of the ID number. The ID
//! number, name and mobile are stored only encrypted; sex and birth date are derived.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::entity::person;
use crate::sealed::{PEOPLE_ID_NUMBER, PEOPLE_MOBILE, PEOPLE_NAME};
use crate::{Database, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::id_number::{IdNumber, Sex};
use huigong_core::mask::mask_name;
use huigong_core::phone::Mobile;
use huigong_vault::{BlindIndex, KeyRing};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Blind-index domains of the people table.
pub const ID_NUMBER_DOMAIN: &str = "people.id_number";
pub const MOBILE_DOMAIN: &str = "people.mobile";

/// A person, decrypted. `Debug` shows masked values only.
#[derive(Clone)]
pub struct Person {
    pub id: Uuid,
    pub id_number: IdNumber,
    pub name: Zeroizing<String>,
    pub mobile: Option<Mobile>,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("id_number", &self.id_number)
            .field("name", &mask_name(&self.name))
            .field("mobile", &self.mobile)
            .finish_non_exhaustive()
    }
}

/// What a clerk or worker supplies about a person.
#[derive(Debug, Clone, Copy)]
pub struct PersonInput<'a> {
    pub id_number: &'a IdNumber,
    pub name: &'a str,
    pub mobile: Option<&'a Mobile>,
}

fn sex_name(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
    }
}

/// The blind index that identifies a person.
pub fn id_number_index(vault: &KeyRing, id_number: &IdNumber) -> BlindIndex {
    vault.blind_index(ID_NUMBER_DOMAIN, id_number.as_str())
}

pub(crate) fn decrypt(vault: &KeyRing, row: person::Model) -> Result<Person, StoreError> {
    let broken = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Other(format!("people {}: cannot read {what}: {e}", row.id))
    };
    let id_text = PEOPLE_ID_NUMBER
        .open(vault, row.id, &row.id_number_enc)
        .map_err(|e| broken("id_number", &e))?;
    // Stored numbers were valid when written; "today" only bounds the birth date.
    let id_number =
        IdNumber::parse(&id_text, Utc::now().date_naive()).map_err(|e| broken("id_number", &e))?;
    let name = PEOPLE_NAME
        .open(vault, row.id, &row.name_enc)
        .map_err(|e| broken("name", &e))?;
    let mobile = match &row.mobile_enc {
        None => None,
        Some(sealed) => {
            let text = PEOPLE_MOBILE
                .open(vault, row.id, sealed)
                .map_err(|e| broken("mobile", &e))?;
            Some(Mobile::parse(&text).map_err(|e| broken("mobile", &e))?)
        }
    };
    Ok(Person {
        id: row.id,
        sex: id_number.sex(),
        birth_date: id_number.birth_date(),
        id_number,
        name,
        mobile,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The person with this ID number, if any.
pub async fn find_by_id_number<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id_number: &IdNumber,
) -> Result<Option<Person>, StoreError> {
    person::Entity::find()
        .filter(person::Column::IdNumberBidx.eq(id_number_index(vault, id_number).to_vec()))
        .one(conn)
        .await?
        .map(|row| decrypt(vault, row))
        .transpose()
}

/// The person with this id, if any.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    id: Uuid,
) -> Result<Option<Person>, StoreError> {
    person::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(|row| decrypt(vault, row))
        .transpose()
}

/// The people with these ids (missing ones are left out), in batches small enough for any
/// backend's bind-parameter limit.
pub async fn get_many<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Person>, StoreError> {
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for row in person::Entity::find()
            .filter(person::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            let person = decrypt(vault, row)?;
            found.insert(person.id, person);
        }
    }
    Ok(found)
}

/// Records the person, creating them or updating their name and mobile, with its audit event,
/// in the caller's transaction. Returns the person and whether they were created.
/// Concurrent saves of the same new person make one row (the unique blind index decides).
pub async fn save<C: crate::audit::AuditTxn>(
    txn: &C,
    vault: &KeyRing,
    input: PersonInput<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Person, bool), StoreError> {
    let bidx = id_number_index(vault, input.id_number).to_vec();
    let mobile_bidx = input
        .mobile
        .map(|m| vault.blind_index(MOBILE_DOMAIN, m.as_str()).to_vec());
    let id = Uuid::now_v7();
    let inserted = person::Entity::insert(person::ActiveModel {
        id: Set(id),
        id_number_bidx: Set(bidx.clone()),
        id_number_enc: Set(PEOPLE_ID_NUMBER.seal(vault, id, input.id_number.as_str())),
        name_enc: Set(PEOPLE_NAME.seal(vault, id, input.name)),
        mobile_enc: Set(input
            .mobile
            .map(|m| PEOPLE_MOBILE.seal(vault, id, m.as_str()))),
        mobile_bidx: Set(mobile_bidx.clone()),
        sex: Set(sex_name(input.id_number.sex()).to_owned()),
        birth_date: Set(input.id_number.birth_date()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(person::Column::IdNumberBidx)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 1 {
        audit::record(
            txn,
            actor,
            &Entry {
                action: "person.create",
                target_type: "person",
                target_id: Some(id.to_string()),
                fields: if input.mobile.is_some() {
                    &["id_number", "name", "mobile"]
                } else {
                    &["id_number", "name"]
                },
                outcome: Outcome::Success,
            },
            now,
        )
        .await?;
        let person = get(txn, vault, id).await?.ok_or(StoreError::NotFound)?;
        return Ok((person, true));
    }

    let existing = find_by_id_number(txn, vault, input.id_number)
        .await?
        .ok_or(StoreError::NotFound)?;
    let changed = correct(txn, vault, &existing, input.name, input.mobile, now).await?;
    if changed.is_empty() {
        return Ok((existing, false));
    }
    audit::record(
        txn,
        actor,
        &Entry {
            action: "person.update",
            target_type: "person",
            target_id: Some(existing.id.to_string()),
            fields: &changed,
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    let person = get(txn, vault, existing.id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok((person, false))
}

/// Writes a known person's name and mobile where they differ from `existing` (a mobile of
/// `None` keeps the stored one) and returns the fields changed, for the caller's
/// `person.update` audit event — which the caller must record in the same transaction (a
/// roster import records its events together at the end, see `members::import`).
pub async fn correct<C: ConnectionTrait>(
    txn: &C,
    vault: &KeyRing,
    existing: &Person,
    name: &str,
    mobile: Option<&Mobile>,
    now: DateTime<Utc>,
) -> Result<Vec<&'static str>, StoreError> {
    let mut changed: Vec<&'static str> = Vec::new();
    let mut update = person::ActiveModel {
        id: Set(existing.id),
        ..Default::default()
    };
    if existing.name.as_str() != name {
        update.name_enc = Set(PEOPLE_NAME.seal(vault, existing.id, name));
        changed.push("name");
    }
    if let Some(m) = mobile
        && existing.mobile.as_ref().map(Mobile::as_str) != Some(m.as_str())
    {
        update.mobile_enc = Set(Some(PEOPLE_MOBILE.seal(vault, existing.id, m.as_str())));
        update.mobile_bidx = Set(Some(vault.blind_index(MOBILE_DOMAIN, m.as_str()).to_vec()));
        changed.push("mobile");
    }
    if !changed.is_empty() {
        update.updated_at = Set(now);
        person::Entity::update(update).exec(txn).await?;
    }
    Ok(changed)
}

/// Reads a person in full (unmasked) for someone entitled to see it, recording the read in the
/// audit log in the same transaction.
pub async fn reveal(
    db: &Database,
    vault: &KeyRing,
    id: Uuid,
    fields: &[&str],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Person>, StoreError> {
    let txn = db.begin_write().await?;
    let Some(person) = get(&txn, vault, id).await? else {
        return Ok(None);
    };
    audit::record(
        &txn,
        actor,
        &Entry {
            action: "person.read_full",
            target_type: "person",
            target_id: Some(id.to_string()),
            fields,
            outcome: Outcome::Success,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Some(person))
}

/// Number of people stored (for reports and tests).
pub async fn count<C: ConnectionTrait>(conn: &C) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(person::Entity::find().count(conn).await?)
}
