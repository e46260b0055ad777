//! Scene codes of union posters (issue 16). A grassroots union's poster carries a mini-program
//! code whose `scene` is a short random code of the union — ten characters of an alphabet
//! without look-alikes (31¹⁰ ≈ 8·10¹⁴ codes), never its id — kept in `union_scenes`, one per
//! union, made the first time a poster is asked for. The mini program sends the scene back and
//! [`union_by_scene`] resolves it to the union's public fields.

use crate::audit::{self, Actor, Entry, Outcome};
use crate::entity::org;
use crate::{Database, StoreError};
use chrono::{DateTime, Utc};
use huigong_core::labels::OrgLevel;
use rand::Rng as _;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

const TABLE: &str = "union_scenes";
/// Characters of a scene code: digits and lower-case letters without 0/o, 1/l/i.
pub const SCENE_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Characters in a scene code (WeChat allows 32).
pub const SCENE_LEN: usize = 10;

/// Whether `code` has the shape of a scene code (checked before any lookup).
pub fn is_scene_code(code: &str) -> bool {
    code.len() == SCENE_LEN && code.bytes().all(|b| SCENE_ALPHABET.contains(&b))
}

fn new_code() -> String {
    let mut rng = rand::rng();
    (0..SCENE_LEN)
        .map(|_| char::from(SCENE_ALPHABET[rng.random_range(0..SCENE_ALPHABET.len())]))
        .collect()
}

async fn code_of<C: ConnectionTrait>(conn: &C, org_id: Uuid) -> Result<Option<String>, StoreError> {
    let select = Query::select()
        .column(Alias::new("code"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
        .to_owned();
    match conn.query_one(&select).await? {
        Some(row) => Ok(Some(row.try_get("", "code")?)),
        None => Ok(None),
    }
}

/// The scene code of union `org_id`, made and stored the first time. Concurrent first calls
/// agree: one insert wins, the others read it back.
pub async fn scene_code(
    db: &Database,
    org_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    if let Some(code) = code_of(&db.conn, org_id).await? {
        return Ok(code);
    }
    // A clash of two random codes is all but impossible; try a few before giving up.
    for _ in 0..3 {
        let insert = Query::insert()
            .into_table(Alias::new(TABLE))
            .columns([
                Alias::new("org_id"),
                Alias::new("code"),
                Alias::new("created_at"),
            ])
            .values_panic([org_id.into(), new_code().into(), now.into()])
            .on_conflict(
                OnConflict::column(Alias::new("org_id"))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        let turn = db.write_turn().await?;
        let done = db.conn.execute(&insert).await;
        drop(turn);
        match done.map_err(StoreError::from) {
            Ok(_) => {}
            // The code (not the org) was taken: draw another.
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
        if let Some(code) = code_of(&db.conn, org_id).await? {
            return Ok(code);
        }
    }
    Err(StoreError::Other(
        "could not store a scene code for the union".to_owned(),
    ))
}

/// What a scene code tells anyone who holds the poster: the union's public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SceneUnion {
    pub id: Uuid,
    pub name: String,
    /// The union's parent (乡镇/街道/园区总工会 or 县直属产业工会).
    pub district: Option<String>,
}

/// The active grassroots union whose poster carries `code`; `None` for a code of no union, of a
/// union no longer active, or of the wrong shape.
pub async fn union_by_scene<C: ConnectionTrait>(
    conn: &C,
    code: &str,
) -> Result<Option<SceneUnion>, StoreError> {
    if !is_scene_code(code) {
        return Ok(None);
    }
    let select = Query::select()
        .column(Alias::new("org_id"))
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("code")).eq(code))
        .to_owned();
    let Some(row) = conn.query_one(&select).await? else {
        return Ok(None);
    };
    let org_id: Uuid = row.try_get("", "org_id")?;
    let Some(union) = org::Entity::find_by_id(org_id).one(conn).await? else {
        return Ok(None);
    };
    if union.status != "active" || OrgLevel::parse_zh(&union.level) != Some(OrgLevel::Grassroots) {
        return Ok(None);
    }
    let district = match union.parent_id {
        Some(parent) => org::Entity::find_by_id(parent)
            .one(conn)
            .await?
            .map(|p| p.name),
        None => None,
    };
    Ok(Some(SceneUnion {
        id: union.id,
        name: union.name,
        district,
    }))
}

/// Records that `actor` downloaded the poster of union `org_id` (`org.poster`).
pub async fn record_poster(
    db: &Database,
    org_id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let entry = Entry {
        action: "org.poster",
        target_type: "org",
        target_id: Some(org_id.to_string()),
        fields: &[],
        outcome: Outcome::Success,
    };
    let txn = db.begin_write().await?;
    audit::record(&txn, actor, &entry, now).await?;
    txn.commit().await?;
    Ok(())
}
