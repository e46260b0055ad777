//! The store on the backend `HUIGONG_TEST_BACKEND` selects: `embedded` (SQLite + memory) or
//! `services` (PostgreSQL + Redis, from `HUIGONG_TEST_PG_URL` / `HUIGONG_TEST_REDIS_URL`).
//! The same contract runs against both ephemeral stores and both databases.

use chrono::{Duration as ChronoDuration, Utc};
use huigong_core::{Role, Secret};
use huigong_store::db::DatabaseOptions;
use huigong_store::{
    Backend, Database, Ephemeral, MemoryStore, RedisStore, SessionRecord, Sessions, users,
};
use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::time::Duration;

fn use_services() -> bool {
    std::env::var("HUIGONG_TEST_BACKEND").as_deref() == Ok("services")
}

fn required_env(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{name} is not set: run the suite with tests/run.sh"))
}

fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The ephemeral store of the selected backend, with its own key prefix.
async fn ephemeral() -> Arc<dyn Ephemeral> {
    if use_services() {
        let url = required_env("HUIGONG_TEST_REDIS_URL");
        let store =
            RedisStore::connect(&url, &format!("test:{}:", unique()), Duration::from_secs(2))
                .await
                .unwrap_or_else(|e| panic!("redis: {e}"));
        Arc::new(store)
    } else {
        Arc::new(MemoryStore::new())
    }
}

/// Audit chain keys of a fresh key set.
fn chain_keys() -> huigong_vault::ChainKeys {
    huigong_vault::ChainKeys::from_material(&huigong_vault::KeyMaterial::generate())
}

/// A fresh, migrated database of the selected backend.
async fn database() -> (Database, Option<std::path::PathBuf>) {
    database_with(Duration::from_secs(3)).await
}

/// [`database`] with its own acquire timeout (pool and, on SQLite, the write gate).
async fn database_with(acquire_timeout: Duration) -> (Database, Option<std::path::PathBuf>) {
    let (url, dir) = if use_services() {
        let admin_url = required_env("HUIGONG_TEST_PG_URL");
        let name = format!("s_{}", unique());
        let admin = sea_orm::Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("postgres: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        (format!("{base}/{name}"), None)
    } else {
        let dir = std::env::temp_dir().join(format!("huigong-store-{}", unique()));
        (
            format!("sqlite://{}/nested/db.sqlite", dir.display()),
            Some(dir),
        )
    };
    let db = Database::connect(&DatabaseOptions {
        url,
        max_connections: 4,
        acquire_timeout,
    })
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"))
    .with_chain_keys(chain_keys());
    let expected = if use_services() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    assert_eq!(db.backend, expected);
    db.migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    (db, dir)
}

#[tokio::test]
async fn set_get_delete_round_trip() {
    let s = ephemeral().await;
    assert_eq!(s.get("k").await.ok().flatten(), None);
    s.set("k", b"v1", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get("k").await.ok().flatten().as_deref(), Some(&b"v1"[..]));
    s.set("k", b"v2", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get("k").await.ok().flatten().as_deref(), Some(&b"v2"[..]));
    assert_eq!(s.delete("k").await.ok(), Some(true));
    assert_eq!(s.delete("k").await.ok(), Some(false));
    assert_eq!(s.get("k").await.ok().flatten(), None);
    assert!(s.ping().await.is_ok());
}

#[tokio::test]
async fn get_many_and_set_many_round_trip() {
    let s = ephemeral().await;
    assert_eq!(
        s.get_many(&["a{1}", "b{1}"]).await.ok(),
        Some(vec![None, None])
    );
    s.set_many(&[("a{1}", b"x"), ("c{1}", b"z")], Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.get_many(&["a{1}", "b{1}", "c{1}"]).await.ok(),
        Some(vec![Some(b"x".to_vec()), None, Some(b"z".to_vec())])
    );
    // Replaces, like set.
    s.set_many(&[("a{1}", b"y")], Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get("a{1}").await.ok().flatten(), Some(b"y".to_vec()));
    assert_eq!(s.get_many(&[]).await.ok(), Some(vec![]));
    // Expire like set's.
    s.set_many(&[("short{1}", b"1")], Duration::from_millis(50))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(s.get_many(&["short{1}"]).await.ok(), Some(vec![None]));
}

#[tokio::test]
async fn delete_if_equals_removes_only_the_expected_value() {
    let s = ephemeral().await;
    s.set("tok", b"fresh", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.delete_if_equals("tok", b"stale").await.ok(), Some(false));
    assert_eq!(
        s.get("tok").await.ok().flatten().as_deref(),
        Some(&b"fresh"[..])
    );
    assert_eq!(s.delete_if_equals("tok", b"fresh").await.ok(), Some(true));
    assert_eq!(s.get("tok").await.ok().flatten(), None);
    assert_eq!(s.delete_if_equals("tok", b"fresh").await.ok(), Some(false));
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let s = ephemeral().await;
    s.set("short", b"x", Duration::from_millis(150))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.set("long", b"y", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.get("short").await.ok().flatten(), None);
    assert_eq!(
        s.get("long").await.ok().flatten().as_deref(),
        Some(&b"y"[..])
    );
}

#[tokio::test]
async fn set_if_absent_lets_exactly_one_writer_win() {
    let s = ephemeral().await;
    let attempts = (0..20).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.set_if_absent("lock", format!("{i}").as_bytes(), Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let mut winners = 0;
    for a in attempts {
        if a.await.unwrap_or(false) {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    // After expiry the key can be taken again.
    s.set_if_absent("brief", b"a", Duration::from_millis(100))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.set_if_absent("brief", b"b", Duration::from_secs(5))
            .await
            .ok(),
        Some(true)
    );
}

/// A QR token's use and the till's read in one round trip: of twenty concurrent claimers of the
/// same two keys exactly one makes both claims, every claimer reads the values as they are
/// after its claims, and a lost claim leaves each key as the winner set it.
#[tokio::test]
async fn claims_and_the_reads_that_follow_them_go_together() {
    let s = ephemeral().await;
    s.set("view", b"cached", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let attempts = (0..20).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let (mark, record) = (format!("m{i}"), format!("r{i}"));
            let claims: [(&str, &[u8], Duration); 2] = [
                ("mark", mark.as_bytes(), Duration::from_secs(30)),
                ("record", record.as_bytes(), Duration::from_secs(60)),
            ];
            s.claim_then_get_many(&claims, &["view", "mark", "missing"])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let mut winners = Vec::new();
    for a in attempts {
        let (made, values) = a.await.unwrap_or_else(|e| panic!("{e}"));
        let values = values.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(values.len(), 3);
        assert_eq!(values[0].as_deref(), Some(&b"cached"[..]));
        assert!(values[1].is_some(), "the mark is read after the claim");
        assert_eq!(values[2], None);
        match made.as_slice() {
            [true, true] => winners.push(values[1].clone()),
            [false, false] => {}
            other => panic!("claims made apart: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let winner = winners[0].clone().unwrap_or_default();
    assert_eq!(s.get("mark").await.ok().flatten(), Some(winner.clone()));
    let record = String::from_utf8_lossy(&winner).replace('m', "r");
    assert_eq!(
        s.get("record").await.ok().flatten(),
        Some(record.into_bytes()),
        "both keys hold the winner's values"
    );
    // No keys to read: only the claim.
    let (made, values) = s
        .claim_then_get_many(&[("other", b"x", Duration::from_secs(30))], &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made, [true]);
    assert_eq!(values.ok(), Some(Vec::new()));
}

#[tokio::test]
async fn increment_counts_within_a_window_that_does_not_slide() {
    let s = ephemeral().await;
    for expected in 1..=5u64 {
        assert_eq!(
            s.increment("n", Duration::from_millis(500)).await.ok(),
            Some(expected)
        );
    }
    // Incrementing does not extend the window: it ends 500 ms after the first increment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.increment("n", Duration::from_millis(500)).await.ok(),
        Some(6)
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        s.increment("n", Duration::from_millis(500)).await.ok(),
        Some(1)
    );
}

#[tokio::test]
async fn item8_decrement_gives_back_a_reserved_attempt_and_never_creates_or_goes_below_zero() {
    let s = ephemeral().await;
    assert_eq!(s.decrement("absent").await.ok(), Some(0));
    assert_eq!(s.get("absent").await.ok(), Some(None), "not created");
    for _ in 0..3 {
        let _ = s.increment("d", Duration::from_millis(600)).await;
    }
    assert_eq!(s.decrement("d").await.ok(), Some(2));
    assert_eq!(
        s.increment("d", Duration::from_secs(60)).await.ok(),
        Some(3)
    );
    for expected in [2, 1, 0, 0] {
        assert_eq!(s.decrement("d").await.ok(), Some(expected));
    }
    // The window of the first increment is kept.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(s.get("d").await.ok(), Some(None), "expired with its window");
}

fn record(user: uuid::Uuid, ttl_secs: i64) -> SessionRecord {
    let now = Utc::now();
    SessionRecord {
        user_id: user,
        role: Role::Worker,
        openid: Some("o_store_test".into()),
        unionid: None,
        session_key: Some(Secret::new("c2Vzc2lvbi1rZXk=")),
        created_at: now,
        expires_at: now + ChronoDuration::seconds(ttl_secs),
        password_change_required: false,
    }
}

#[tokio::test]
async fn sessions_round_trip_and_end() {
    let sessions = Sessions::new(ephemeral().await);
    let user = uuid::Uuid::now_v7();
    let rec = record(user, 60);
    let id = sessions
        .create(&rec, Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let got = sessions.get(id, Utc::now()).await.ok().flatten();
    assert_eq!(got, Some(rec));
    assert_eq!(sessions.delete(id).await.ok(), Some(true));
    assert_eq!(sessions.get(id, Utc::now()).await.ok().flatten(), None);
}

#[tokio::test]
async fn a_session_past_its_expiry_is_gone_even_if_the_store_still_holds_it() {
    let sessions = Sessions::new(ephemeral().await);
    let rec = record(uuid::Uuid::now_v7(), 60);
    let id = sessions
        .create(&rec, Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let later = Utc::now() + ChronoDuration::seconds(61);
    assert_eq!(sessions.get(id, later).await.ok().flatten(), None);
}

/// Concurrent logins are written in batches (`users::upsert_wechat_login`): each caller still
/// gets the account of its own openid, one account per openid however many logins of it meet in
/// a batch, a unionid reported by any of them is kept, a login without one does not erase it,
/// and the last login time is one of theirs.
#[tokio::test]
async fn concurrent_wechat_logins_each_get_their_own_account() {
    let (db, dir) = database().await;
    let t0 = Utc::now();
    // A unionid on record, that logins without one must keep.
    let bound = users::upsert_wechat_login(&db, "o_batch_0", Some("u_batch_0"), t0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let logins = (0..300).map(|i| {
        let db = db.clone();
        async move {
            let openid = format!("o_batch_{}", i % 40);
            let unionid = (i % 40 == 7).then(|| "u_batch_7".to_owned());
            let at = t0 + ChronoDuration::milliseconds(i);
            let user = users::upsert_wechat_login(&db, &openid, unionid.as_deref(), at).await;
            (openid, user)
        }
    });
    let handles: Vec<_> = logins.map(tokio::spawn).collect();
    let mut ids = std::collections::HashMap::new();
    for handle in handles {
        let (openid, user) = handle.await.unwrap_or_else(|e| panic!("{e}"));
        let user = user.unwrap_or_else(|e| panic!("{openid}: {e}"));
        assert_eq!(user.wechat_openid.as_deref(), Some(openid.as_str()));
        assert_eq!(user.role, Role::Worker);
        let first = *ids.entry(openid.clone()).or_insert(user.id);
        assert_eq!(user.id, first, "{openid} got two accounts");
    }
    assert_eq!(ids.len(), 40);
    assert_eq!(ids["o_batch_0"], bound.id);
    let kept = users::find(&db, bound.id).await.ok().flatten();
    assert_eq!(
        kept.as_ref().and_then(|u| u.wechat_unionid.as_deref()),
        Some("u_batch_0")
    );
    // o_batch_0's logins were i = 0, 40, …, 280: the one written last has its time on record.
    let last = kept
        .and_then(|u| u.last_login_at)
        .map(|t| t.timestamp_micros());
    assert!(
        (0..8)
            .any(|k| last == Some((t0 + ChronoDuration::milliseconds(40 * k)).timestamp_micros())),
        "{last:?}"
    );
    let seventh = users::find(&db, ids["o_batch_7"]).await.ok().flatten();
    assert_eq!(
        seventh.and_then(|u| u.wechat_unionid),
        Some("u_batch_7".to_owned())
    );
    let accounts = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM users WHERE wechat_openid LIKE 'o_batch_%'",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get::<i64>("", "n").ok());
    assert_eq!(accounts, Some(40));
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn wechat_login_upsert_keeps_one_account_per_openid() {
    let (db, dir) = database().await;
    let t0 = Utc::now();
    let first = users::upsert_wechat_login(&db, "o_upsert", None, t0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.role, Role::Worker);
    assert_eq!(first.wechat_unionid, None);
    assert_eq!(first.id.get_version_num(), 7);
    let t1 = t0 + ChronoDuration::seconds(10);
    let second = users::upsert_wechat_login(&db, "o_upsert", Some("u_bound"), t1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.id, first.id);
    assert_eq!(second.wechat_unionid.as_deref(), Some("u_bound"));
    assert_eq!(
        second.created_at.timestamp_micros(),
        first.created_at.timestamp_micros()
    );
    assert_eq!(
        second.last_login_at.map(|t| t.timestamp_micros()),
        Some(t1.timestamp_micros())
    );
    let found = users::find(&db, first.id).await.ok().flatten();
    assert_eq!(found.map(|u| u.id), Some(first.id));
    assert_eq!(
        users::find(&db, uuid::Uuid::now_v7()).await.ok().flatten(),
        None
    );
    // Running the migrations again changes nothing.
    db.migrate()
        .await
        .unwrap_or_else(|e| panic!("second migrate: {e}"));
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ---- people, encryption at rest, rotation, audit ------------------------------------------

mod personal_data {
    use super::*;
    use huigong_core::id_number::{IdNumber, Sex};
    use huigong_core::phone::Mobile;
    use huigong_store::audit::{self, Actor, Entry, Outcome};
    use huigong_store::people::{self, PersonInput};
    use huigong_store::sealed::SEALED_COLUMNS;
    use huigong_store::{StoreError, rotation};
    use huigong_vault::{KeyMaterial, KeyRing};

    /// A valid ID number for region 330522, the given birth date and sequence (check digit
    /// computed per GB 11643).
    pub fn id_number(birth: &str, seq: u32) -> IdNumber {
        let body = format!("330522{birth}{seq:03}");
        const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = body
            .bytes()
            .zip(W)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        let check = b"10X98765432"[(sum % 11) as usize] as char;
        IdNumber::parse(&format!("{body}{check}"), Utc::now().date_naive())
            .unwrap_or_else(|e| panic!("test ID number: {e}"))
    }

    fn mobile(n: u32) -> Mobile {
        Mobile::parse(&format!("139{n:08}")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn actor() -> Actor {
        Actor {
            user_id: Some(uuid::Uuid::now_v7()),
            role: "county_admin".into(),
            client_ip: Some("127.0.0.1".into()),
            request_id: Some("req-1".into()),
        }
    }

    async fn save(
        db: &Database,
        vault: &KeyRing,
        id: &IdNumber,
        name: &str,
        m: Option<&Mobile>,
    ) -> (people::Person, bool) {
        let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
        let saved = people::save(
            &txn,
            vault,
            PersonInput {
                id_number: id,
                name,
                mobile: m,
            },
            &actor(),
            Utc::now(),
        )
        .await
        .unwrap_or_else(|e| panic!("save: {e}"));
        txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
        saved
    }

    fn ring() -> (KeyMaterial, KeyRing) {
        let material = KeyMaterial::generate();
        let ring = KeyRing::new(&material);
        (material, ring)
    }

    #[tokio::test]
    async fn people_are_found_by_id_number_and_decrypted() {
        let (db, _dir) = database().await;
        let (_, vault) = ring();
        let id = id_number("19900101", 123);
        let m = mobile(12345678);
        let (saved, created) = save(&db, &vault, &id, "张三丰", Some(&m)).await;
        assert!(created);
        assert_eq!(saved.sex, Sex::Male);
        assert_eq!(saved.birth_date.to_string(), "1990-01-01");
        let found = people::find_by_id_number(&db.conn, &vault, &id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("not found"));
        assert_eq!(found.id, saved.id);
        assert_eq!(found.name.as_str(), "张三丰");
        assert_eq!(found.mobile.as_ref().map(Mobile::as_str), Some(m.as_str()));
        assert_eq!(found.id_number.as_str(), id.as_str());
        // Debug output is masked.
        let shown = format!("{found:?}");
        assert!(
            !shown.contains(id.as_str())
                && !shown.contains("张三丰")
                && !shown.contains(m.as_str()),
            "{shown}"
        );
        let other = id_number("19900101", 124);
        assert!(
            people::find_by_id_number(&db.conn, &vault, &other)
                .await
                .ok()
                .flatten()
                .is_none()
        );
    }

    #[tokio::test]
    async fn saving_the_same_person_again_updates_and_audits_the_change() {
        let (db, _dir) = database().await;
        let (_, vault) = ring();
        let id = id_number("19851231", 2);
        let (first, created) = save(&db, &vault, &id, "李四", None).await;
        assert!(created);
        let (same, created) = save(&db, &vault, &id, "李四", None).await;
        assert!(!created);
        assert_eq!(same.id, first.id);
        let (renamed, _) = save(&db, &vault, &id, "李斯", Some(&mobile(1))).await;
        assert_eq!(renamed.id, first.id);
        assert_eq!(renamed.name.as_str(), "李斯");
        assert_eq!(people::count(&db.conn).await.ok(), Some(1));
        let (events, total) = audit::list(
            &db,
            &audit::Filter {
                target_id: Some(first.id.to_string()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            total, 2,
            "create and one update; the unchanged save writes nothing"
        );
        assert_eq!(events[0].action, "person.update");
        assert_eq!(events[0].fields, "name,mobile");
        assert_eq!(events[1].action, "person.create");
        assert_eq!(events[1].fields, "id_number,name");
        assert_eq!(events[1].actor_role, "county_admin");
        assert_eq!(events[1].request_id.as_deref(), Some("req-1"));
    }

    #[tokio::test]
    async fn concurrent_saves_of_one_new_person_make_one_row() {
        let (db, _dir) = database().await;
        let (_, vault) = ring();
        let vault = Arc::new(vault);
        let id = id_number("20000229", 77);
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (db, vault, id) = (db.clone(), vault.clone(), id.clone());
                tokio::spawn(async move { save(&db, &vault, &id, "王五", None).await.0.id })
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        for t in tasks {
            ids.insert(t.await.unwrap_or_else(|e| panic!("{e}")));
        }
        assert_eq!(ids.len(), 1);
        assert_eq!(people::count(&db.conn).await.ok(), Some(1));
    }

    #[tokio::test]
    async fn a_ciphertext_copied_onto_another_row_does_not_decrypt() {
        let (db, _dir) = database().await;
        let (_, vault) = ring();
        let (a, _) = save(&db, &vault, &id_number("19700101", 1), "赵六", None).await;
        let (b, _) = save(&db, &vault, &id_number("19700101", 3), "钱七", None).await;
        let backend = db.conn.get_database_backend();
        let copy = sea_orm::Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => {
                    "UPDATE people SET name_enc = (SELECT name_enc FROM people WHERE id = $1) WHERE id = $2"
                }
                _ => {
                    "UPDATE people SET name_enc = (SELECT name_enc FROM people WHERE id = ?) WHERE id = ?"
                }
            },
            [a.id.into(), b.id.into()],
        );
        db.conn
            .execute_raw(copy)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let err = people::get(&db.conn, &vault, b.id).await.err();
        assert!(
            matches!(&err, Some(StoreError::Other(m)) if m.contains("cannot read name")),
            "{err:?}"
        );
        // The original row still reads.
        assert!(people::get(&db.conn, &vault, a.id).await.is_ok());
    }

    #[tokio::test]
    async fn rotation_reseals_everything_and_old_keys_can_then_go() {
        let (db, _dir) = database().await;
        let (mut material, old) = ring();
        let mut ids = Vec::new();
        for i in 0..23u32 {
            let id = id_number("19880808", i * 2 + 1);
            let m = (i % 2 == 0).then(|| mobile(i));
            save(&db, &old, &id, &format!("测试{i}"), m.as_ref()).await;
            ids.push(id);
        }
        material.add_new_active_key();
        let new = KeyRing::new(&material);
        let mut batches = 0;
        let report = rotation::rotate(&db, &new, 5, |_| batches += 1)
            .await
            .unwrap_or_else(|e| panic!("rotate: {e}"));
        let resealed: u64 = report.iter().map(|p| p.resealed).sum();
        assert_eq!(resealed, 23 + 23 + 12, "{report:?}");
        assert!(batches >= 12, "{batches} batches of at most 5");
        // Nothing sealed with key 1 is left in any encrypted column.
        for column in SEALED_COLUMNS {
            let sql = format!(
                "SELECT {} FROM {} WHERE {} IS NOT NULL",
                column.column, column.table, column.column
            );
            let rows = db
                .conn
                .query_all_raw(sea_orm::Statement::from_string(
                    db.conn.get_database_backend(),
                    sql,
                ))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            for row in rows {
                let bytes: Vec<u8> = row.try_get_by_index(0).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    u16::from_be_bytes([bytes[1], bytes[2]]),
                    2,
                    "{}.{}",
                    column.table,
                    column.column
                );
            }
        }
        // Without key 1 at all, everyone still reads.
        material.encryption.remove(&1);
        let only_new = KeyRing::new(&material);
        for id in &ids {
            let p = people::find_by_id_number(&db.conn, &only_new, id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(p.is_some());
        }
        // A second run (or a resumed one) has nothing left to do.
        let again = rotation::rotate(&db, &only_new, 5, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.iter().map(|p| p.resealed).sum::<u64>(), 0);
    }

    async fn record_events(db: &Database, n: usize) {
        for i in 0..n {
            let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
            audit::record(
                &txn,
                &actor(),
                &Entry {
                    action: "test.event",
                    target_type: "person",
                    target_id: Some(format!("t{i}")),
                    fields: &["name"],
                    outcome: if i % 3 == 0 {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    },
                },
                Utc::now(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
        }
        seal(db).await;
    }

    /// Links every event written so far into the chain (what the running sealer does).
    async fn seal(db: &Database) -> u64 {
        huigong_store::audit_sealer::seal_now(db)
            .await
            .unwrap_or_else(|e| panic!("seal: {e}"))
    }

    fn sql(db: &Database, sqlite: &str, postgres: &str) -> sea_orm::Statement {
        let backend = db.conn.get_database_backend();
        let text = if backend == sea_orm::DatabaseBackend::Postgres {
            postgres
        } else {
            sqlite
        };
        sea_orm::Statement::from_string(backend, text.to_owned())
    }

    #[tokio::test]
    async fn the_audit_log_refuses_updates_and_young_deletes() {
        let (db, _dir) = database().await;
        record_events(&db, 2).await;
        let update = db
            .conn
            .execute_raw(sql(
                &db,
                "UPDATE audit_events SET action = 'x'",
                "UPDATE audit_events SET action = 'x'",
            ))
            .await;
        assert!(update.is_err(), "update was allowed");
        let delete = db
            .conn
            .execute_raw(sql(
                &db,
                "DELETE FROM audit_events",
                "DELETE FROM audit_events",
            ))
            .await;
        assert!(delete.is_err(), "delete of a fresh event was allowed");
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v,
            audit::Verification {
                checked: 2,
                ..audit::Verification::default()
            }
        );
    }

    #[tokio::test]
    async fn the_appender_commits_concurrent_events_into_one_unbroken_chain() {
        let (db, _dir) = database().await;
        record_events(&db, 3).await;
        let appender = audit::Appender::start(db.clone());
        // 300 callers at once, interleaved with in-transaction records: every event lands
        // once, with consecutive sequence numbers, and the chain verifies.
        let appended: Vec<_> = (0..300)
            .map(|i| {
                let appender = appender.clone();
                tokio::spawn(async move {
                    appender
                        .append(
                            actor(),
                            Entry {
                                action: "test.appended",
                                target_type: "card",
                                target_id: Some(format!("c{i}")),
                                fields: &[],
                                outcome: Outcome::Success,
                            },
                            Utc::now(),
                        )
                        .await
                })
            })
            .collect();
        record_events(&db, 5).await;
        for r in appended {
            r.await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("append failed: {e}"));
        }
        seal(&db).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v,
            audit::Verification {
                checked: 308,
                ..audit::Verification::default()
            }
        );
        let appended_only = audit::Filter {
            action: Some("test.appended".to_owned()),
            ..audit::Filter::default()
        };
        let (events, total) = audit::list(&db, &appended_only, None, 1000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(total, 300);
        let mut targets: Vec<_> = events.into_iter().filter_map(|e| e.target_id).collect();
        targets.sort();
        targets.dedup();
        assert_eq!(targets.len(), 300, "an event was written twice or lost");
    }

    #[tokio::test]
    async fn verify_finds_the_first_tampered_event() {
        let (db, _dir) = database().await;
        record_events(&db, 6).await;
        assert_eq!(audit::verify(&db).await.ok().and_then(|v| v.broken), None);
        // Someone with database rights removes the guard and edits event 3.
        db.conn
            .execute_raw(sql(
                &db,
                "DROP TRIGGER audit_events_no_update",
                "DROP TRIGGER audit_events_guard ON audit_events",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        db.conn
            .execute_raw(sql(
                &db,
                "UPDATE audit_events SET outcome = 'failure' WHERE seq = 3",
                "UPDATE audit_events SET outcome = 'failure' WHERE seq = 3",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.checked, 2);
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains("altered")),
            "{v:?}"
        );
    }

    #[tokio::test]
    async fn verify_finds_removed_events() {
        let (db, _dir) = database().await;
        record_events(&db, 5).await;
        db.conn
            .execute_raw(sql(
                &db,
                "DROP TRIGGER audit_events_retention",
                "DROP TRIGGER audit_events_guard ON audit_events",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        db.conn
            .execute_raw(sql(
                &db,
                "DELETE FROM audit_events WHERE seq = 5",
                "DELETE FROM audit_events WHERE seq = 5",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&v.broken, Some((5, why)) if why.contains("end")),
            "{v:?}"
        );
        db.conn
            .execute_raw(sql(
                &db,
                "DELETE FROM audit_events WHERE seq = 2",
                "DELETE FROM audit_events WHERE seq = 2",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains("missing")),
            "{v:?}"
        );
    }

    /// Drops the guards that keep `audit_events` append-only (someone with database rights).
    async fn drop_audit_guards(db: &Database) {
        let drops: &[(&str, &str)] = &[
            (
                "DROP TRIGGER audit_events_no_update",
                "DROP TRIGGER audit_events_guard ON audit_events",
            ),
            ("DROP TRIGGER audit_events_retention", "SELECT 1"),
        ];
        for (sqlite, postgres) in drops {
            db.conn
                .execute_raw(sql(db, sqlite, postgres))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// The events in order.
    async fn events(db: &Database) -> Vec<huigong_store::entity::audit_event::Model> {
        use sea_orm::{EntityTrait, QueryOrder};
        huigong_store::entity::audit_event::Entity::find()
            .order_by_asc(huigong_store::entity::audit_event::Column::Seq)
            .all(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Writes `events` over the stored ones (same ids) and points the head at the last.
    async fn overwrite(db: &Database, events: &[huigong_store::entity::audit_event::Model]) {
        use huigong_store::entity::{audit_event, audit_head};
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        for e in events {
            audit_event::Entity::update_many()
                .col_expr(
                    audit_event::Column::TargetId,
                    Expr::value(e.target_id.clone()),
                )
                .col_expr(
                    audit_event::Column::PrevHash,
                    Expr::value(e.prev_hash.clone()),
                )
                .col_expr(audit_event::Column::Hash, Expr::value(e.hash.clone()))
                .col_expr(audit_event::Column::ChainKeyId, Expr::value(e.chain_key_id))
                .filter(audit_event::Column::Id.eq(e.id))
                .exec(&db.conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let last = events.last().map(|e| e.hash.clone()).unwrap_or_default();
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Hash, Expr::value(last))
            .filter(audit_head::Column::Id.eq(1))
            .exec(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Recomputes the chain from `events` as the old, unkeyed scheme did (what anyone can do).
    fn rechain_plain(events: &mut [huigong_store::entity::audit_event::Model]) {
        let mut prev = vec![0u8; 32];
        for e in events.iter_mut() {
            e.prev_hash = prev;
            e.chain_key_id = None;
            e.hash = audit::plain_hash(e).to_vec();
            prev = e.hash.clone();
        }
    }

    #[tokio::test]
    async fn item13_events_are_chained_with_a_vault_key_and_verify_names_the_tampered_one() {
        let (db, _dir) = database().await;
        record_events(&db, 5).await;
        let all = events(&db).await;
        let active = db
            .chain_keys()
            .map(|k| i32::from(k.active_key_id()))
            .unwrap_or_default();
        assert!(
            all.iter().all(|e| e.chain_key_id == Some(active)),
            "keyed with the active key"
        );
        assert!(
            all.iter()
                .all(|e| audit::plain_hash(e).as_slice() != e.hash.as_slice()),
            "not plain SHA-256"
        );
        drop_audit_guards(&db).await;
        // The details of event 3 changed in the database: verify names that event.
        let mut edited = all.clone();
        edited[2].target_id = Some("forged".into());
        overwrite(&db, &edited[2..3]).await;
        overwrite(&db, &all[4..5]).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        let id = all[2].id.to_string();
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains(&id) && why.contains("altered")),
            "{v:?}"
        );
        // Deleted instead: found.
        overwrite(&db, &all).await;
        assert_eq!(audit::verify(&db).await.ok().and_then(|v| v.broken), None);
        db.conn
            .execute_raw(sql(
                &db,
                "DELETE FROM audit_events WHERE seq = 2",
                "DELETE FROM audit_events WHERE seq = 2",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains("missing")),
            "{v:?}"
        );
    }

    #[tokio::test]
    async fn item13_a_chain_recomputed_without_the_key_does_not_verify() {
        let (db, _dir) = database().await;
        record_events(&db, 4).await;
        drop_audit_guards(&db).await;
        let mut forged = events(&db).await;
        forged[1].target_id = Some("forged".into());
        // As plain SHA-256, the old scheme.
        rechain_plain(&mut forged);
        overwrite(&db, &forged).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            v.broken.is_some(),
            "a chain rewritten without the key verified: {v:?}"
        );
        // Keyed with the attacker's own key under the same key id.
        let theirs = huigong_vault::ChainKeys::from_material(&KeyMaterial::generate());
        let mut prev = vec![0u8; 32];
        for e in &mut forged {
            e.prev_hash = prev;
            e.chain_key_id = Some(i32::from(theirs.active_key_id()));
            e.hash = audit::event_hash(e, Some(&theirs))
                .unwrap_or_else(|e| panic!("{e}"))
                .to_vec();
            prev = e.hash.clone();
        }
        overwrite(&db, &forged).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&v.broken, Some((1, why)) if why.contains("keyed hash")),
            "{v:?}"
        );
    }

    #[tokio::test]
    async fn item13_events_chained_before_keying_verify_once_sealed_and_only_then() {
        let (db, _dir) = database().await;
        record_events(&db, 3).await;
        drop_audit_guards(&db).await;
        // What the log of a database from before keyed chaining looks like.
        let mut legacy = events(&db).await;
        rechain_plain(&mut legacy);
        overwrite(&db, &legacy).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains("not keyed")),
            "an unsealed unkeyed end: {v:?}"
        );
        // The sealer does not link a new event after them (that would break the chain for
        // good): it waits for their keyed seal.
        record_events(&db, 1).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.unsealed, 1, "{v:?}");
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains("not keyed")),
            "{v:?}"
        );
        // An ordinary keyed event after them (linked by hand) does not make them trusted.
        let mut fourth = events(&db).await[3].clone();
        fourth.prev_hash = legacy[2].hash.clone();
        fourth.chain_key_id = db.chain_keys().map(|k| i32::from(k.active_key_id()));
        fourth.hash = audit::event_hash(&fourth, db.chain_keys())
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec();
        overwrite(&db, &[fourth]).await;
        db.conn
            .execute_raw(sql(
                &db,
                "UPDATE audit_head SET seq = 4",
                "UPDATE audit_head SET seq = 4",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&v.broken, Some((4, why)) if why.contains("never sealed")),
            "{v:?}"
        );
        // The seal (first start with keys) does.
        overwrite(&db, &legacy).await;
        db.conn
            .execute_raw(sql(
                &db,
                "DELETE FROM audit_events WHERE seq = 4",
                "DELETE FROM audit_events WHERE seq = 4",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        db.conn
            .execute_raw(sql(
                &db,
                "UPDATE audit_head SET seq = 3",
                "UPDATE audit_head SET seq = 3",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(audit::seal_unkeyed(&db, Utc::now()).await.ok(), Some(true));
        assert_eq!(audit::seal_unkeyed(&db, Utc::now()).await.ok(), Some(false));
        record_events(&db, 2).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.broken, None, "{v:?}");
        assert_eq!(v.checked, 6);
        // An unkeyed event after keyed ones is refused.
        let mut all = events(&db).await;
        let last = all.len() - 1;
        all[last].chain_key_id = None;
        all[last].hash = audit::plain_hash(&all[last]).to_vec();
        overwrite(&db, &all[last..]).await;
        let v = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(&v.broken, Some((6, why)) if why.contains("after keyed")),
            "{v:?}"
        );
    }

    #[tokio::test]
    async fn audit_list_filters_and_pages() {
        let (db, _dir) = database().await;
        record_events(&db, 7).await;
        let all = audit::Filter::default();
        let (page1, total) = audit::list(&db, &all, None, 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(total, 7);
        assert_eq!(
            page1.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![7, 6, 5]
        );
        let (page2, _) = audit::list(&db, &all, Some(5), 3)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            page2.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![4, 3, 2]
        );
        let one = audit::Filter {
            target_id: Some("t4".into()),
            ..Default::default()
        };
        let (found, total) = audit::list(&db, &one, None, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((total, found.len()), (1, 1));
        let later = audit::Filter {
            from: Some(Utc::now() + ChronoDuration::hours(1)),
            ..Default::default()
        };
        assert_eq!(
            audit::list(&db, &later, None, 10)
                .await
                .ok()
                .map(|(_, t)| t),
            Some(0)
        );
    }

    #[tokio::test]
    async fn every_encrypted_column_of_the_schema_is_registered_for_rotation() {
        let (db, _dir) = database().await;
        let query = sql(
            &db,
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema()",
        );
        let rows = db
            .conn
            .query_all_raw(query)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut encrypted = Vec::new();
        for row in rows {
            let table: String = row.try_get_by_index(0).unwrap_or_else(|e| panic!("{e}"));
            let column: String = row.try_get_by_index(1).unwrap_or_else(|e| panic!("{e}"));
            if column.ends_with("_enc") {
                encrypted.push((table, column));
            }
        }
        assert!(encrypted.len() >= 3, "{encrypted:?}");
        for (table, column) in encrypted {
            assert!(
                SEALED_COLUMNS
                    .iter()
                    .any(|c| c.table == table && c.column == column),
                "{table}.{column} is encrypted but missing from SEALED_COLUMNS"
            );
        }
    }

    /// After people are stored, neither the raw database files nor a dump contain any ID
    /// number, mobile or name in clear text.
    #[tokio::test]
    async fn no_personal_data_in_clear_text_at_rest() {
        let (db, dir) = database().await;
        let (_, vault) = ring();
        let mut secrets = Vec::new();
        for i in 0..20u32 {
            let id = id_number("19950615", i * 7 + 1);
            let m = mobile(87654000 + i);
            let name = format!("明文检查{i}");
            save(&db, &vault, &id, &name, Some(&m)).await;
            secrets.push(id.as_str().to_owned());
            secrets.push(m.as_str().to_owned());
            secrets.push(name);
        }
        let raw: Vec<u8> = match &dir {
            Some(dir) => {
                db.conn
                    .close_by_ref()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut all = Vec::new();
                for entry in std::fs::read_dir(dir.join("nested")).unwrap_or_else(|e| panic!("{e}"))
                {
                    let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
                    all.extend(
                        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                    );
                }
                all
            }
            None => {
                let pg_dump = required_env("HUIGONG_TEST_PG_DUMP");
                let url = db_url_of(&db).await;
                let out = std::process::Command::new(pg_dump)
                    .arg("--dbname")
                    .arg(&url)
                    .output()
                    .unwrap_or_else(|e| panic!("pg_dump: {e}"));
                assert!(
                    out.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        };
        assert!(raw.len() > 1000, "nothing was read ({} bytes)", raw.len());
        // The search works on these bytes: the table name, stored in clear, is found.
        assert!(raw.windows(6).any(|w| w == b"people"));
        for secret in &secrets {
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a stored value appears in clear text"
            );
        }
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    async fn db_url_of(db: &Database) -> String {
        let row = db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                db.conn.get_database_backend(),
                "SELECT current_database()".to_owned(),
            ))
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("current_database"));
        let name: String = row.try_get_by_index(0).unwrap_or_else(|e| panic!("{e}"));
        let admin = required_env("HUIGONG_TEST_PG_URL");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        format!("{base}/{name}")
    }
}

// ---- the SQLite write gate -------------------------------------------------------------------

mod write_gate {
    use super::*;
    use huigong_store::audit::{self, Actor, Entry, Outcome};
    use huigong_store::entity::user;
    use huigong_store::users::{self, NewAccount};
    use huigong_store::{StoreError, WriteTxn};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    /// A fresh, migrated SQLite database whatever the selected backend: the gate is SQLite's.
    async fn sqlite(acquire_timeout: Duration) -> (Database, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("huigong-gate-{}", unique()));
        let db = Database::connect(&DatabaseOptions {
            url: format!("sqlite://{}/db.sqlite", dir.display()),
            max_connections: 4,
            acquire_timeout,
        })
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
        .with_chain_keys(chain_keys());
        assert_eq!(db.backend, Backend::Sqlite);
        db.migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate: {e}"));
        (db, dir)
    }

    fn actor() -> Actor {
        Actor {
            user_id: None,
            role: "system".into(),
            client_ip: None,
            request_id: None,
        }
    }

    /// One account and its audit event in `txn`: the audit event bumps the chain's head row,
    /// a read-modify-write that lost updates or interleaving would break.
    async fn write_account(txn: &WriteTxn, username: &str) {
        let created = users::create_account(
            txn,
            NewAccount {
                role: Role::Worker,
                username: Some(username),
                password_hash: None,
                org_id: None,
            },
            Utc::now(),
        )
        .await
        .unwrap_or_else(|e| panic!("create {username}: {e}"));
        audit::record(
            txn,
            &actor(),
            &Entry {
                action: "test.gate",
                target_type: "user",
                target_id: Some(created.id.to_string()),
                fields: &[],
                outcome: Outcome::Success,
            },
            Utc::now(),
        )
        .await
        .unwrap_or_else(|e| panic!("audit {username}: {e}"));
    }

    async fn accounts_named(db: &Database, prefix: &str) -> u64 {
        user::Entity::find()
            .filter(user::Column::Username.starts_with(prefix))
            .count(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("count: {e}"))
    }

    /// 64 concurrent write transactions all commit (no "database is locked" on SQLite, where
    /// they queue at the gate; row locks order them on PostgreSQL), and nothing is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sixty_four_concurrent_writers_all_commit() {
        let (db, dir) = database_with(Duration::from_secs(20)).await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..64 {
            let db = db.clone();
            tasks.spawn(async move {
                let txn = db.begin_write().await?;
                write_account(&txn, &format!("gate-{i}")).await;
                txn.commit().await.map_err(StoreError::from)
            });
        }
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e.to_string()),
                Err(e) => failures.push(format!("task: {e}")),
            }
        }
        assert!(failures.is_empty(), "writers failed: {failures:?}");
        assert_eq!(accounts_named(&db, "gate-").await, 64);
        huigong_store::audit_sealer::seal_now(&db)
            .await
            .unwrap_or_else(|e| panic!("seal: {e}"));
        let chain = audit::verify(&db).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            chain,
            audit::Verification {
                checked: 64,
                ..audit::Verification::default()
            }
        );
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// A write transaction dropped without commit — an early `?` return, or a request future
    /// cancelled halfway — rolls back and gives the gate back: the next writer gets its turn
    /// well within a short gate timeout, and nothing of the abandoned writes remains.
    #[tokio::test]
    async fn an_abandoned_write_transaction_releases_the_gate() {
        let (db, dir) = sqlite(Duration::from_secs(2)).await;

        // An error path: the transaction is dropped by `?`.
        async fn fails_halfway(db: &Database) -> Result<(), StoreError> {
            let txn = db.begin_write().await?;
            write_account(&txn, "dropped-1").await;
            Err(StoreError::Conflict)
        }
        assert!(matches!(
            fails_halfway(&db).await,
            Err(StoreError::Conflict)
        ));
        let txn = db
            .begin_write()
            .await
            .unwrap_or_else(|e| panic!("after a dropped transaction: {e}"));
        write_account(&txn, "kept-1").await;
        txn.commit().await.unwrap_or_else(|e| panic!("{e}"));

        // A cancelled future: it holds an open transaction and waits forever; the timeout
        // drops it.
        let stuck = async {
            let txn = db.begin_write().await?;
            write_account(&txn, "dropped-2").await;
            std::future::pending::<()>().await;
            Ok::<_, StoreError>(txn)
        };
        assert!(
            tokio::time::timeout(Duration::from_millis(200), stuck)
                .await
                .is_err()
        );
        let txn = db
            .begin_write()
            .await
            .unwrap_or_else(|e| panic!("after a cancelled transaction: {e}"));
        write_account(&txn, "kept-2").await;
        txn.commit().await.unwrap_or_else(|e| panic!("{e}"));

        // An explicit rollback.
        let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
        write_account(&txn, "dropped-3").await;
        txn.rollback().await.unwrap_or_else(|e| panic!("{e}"));
        let _turn = db
            .write_turn()
            .await
            .unwrap_or_else(|e| panic!("after a rollback: {e}"));

        assert_eq!(accounts_named(&db, "dropped-").await, 0);
        assert_eq!(accounts_named(&db, "kept-").await, 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A writer that does not get its turn within the acquire timeout gets `Unavailable`
    /// (503), not an endless wait; once the holder commits, writing works again.
    #[tokio::test]
    async fn waiting_for_the_gate_past_the_timeout_is_unavailable() {
        let (db, dir) = sqlite(Duration::from_millis(300)).await;
        let holder = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
        write_account(&holder, "holder").await;

        // Refused by the gate, not by SQLite's busy timeout ("database is locked").
        let waiting = db.begin_write().await;
        assert!(
            matches!(&waiting, Err(StoreError::Unavailable(why)) if why.contains("no turn to write")),
            "{waiting:?}"
        );
        // A single-statement write waits at the same gate.
        let login = users::upsert_wechat_login(&db, "o_gate", None, Utc::now()).await;
        assert!(
            matches!(&login, Err(StoreError::Unavailable(why)) if why.contains("no turn to write")),
            "{login:?}"
        );

        holder.commit().await.unwrap_or_else(|e| panic!("{e}"));
        let txn = db
            .begin_write()
            .await
            .unwrap_or_else(|e| panic!("after the holder committed: {e}"));
        write_account(&txn, "next").await;
        txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
        users::upsert_wechat_login(&db, "o_gate", None, Utc::now())
            .await
            .unwrap_or_else(|e| panic!("login after the holder committed: {e}"));
        assert_eq!(accounts_named(&db, "holder").await, 1);
        assert_eq!(accounts_named(&db, "next").await, 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// 建会补助 of a 联合工会: its units' employees are summed (30 + 25 = 55 → 1000 元), every unit
/// must be of a qualifying nature, and a complete roster is required.
#[tokio::test]
async fn item14_a_joint_union_is_subsidised_by_the_sum_of_its_units_employees() {
    use huigong_core::labels::{OrgLevel, UnionType, UnitNature};
    use huigong_core::phone::ContactPhone;
    use huigong_core::subsidy::SubsidyRule;
    use huigong_core::unit_code::UnitCode;
    use huigong_core::{IdNumber, Mobile};
    use huigong_store::audit::Actor;
    use huigong_store::members::RosterFields;
    use huigong_store::orgs::{self, NewOrg, NewUnion, NewUnit};
    use huigong_store::subsidies::{self, Status};
    use huigong_vault::{KeyMaterial, KeyRing};

    let (db, _dir) = database().await;
    let vault = KeyRing::new(&KeyMaterial::generate());
    let actor = Actor::system();
    let now = Utc::now();
    let county_id = uuid::Uuid::parse_str(huigong_store::migration::COUNTY_ORG_ID)
        .unwrap_or_else(|e| panic!("{e}"));
    let county = orgs::get_in_scope(&db.conn, &vault, county_id, "/")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("county"));
    let code = |seed: u32| {
        const CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        for org_check in "0123456789X".chars() {
            for check in CHARS.chars() {
                if let Ok(c) = UnitCode::parse(&format!("91330522{seed:08}{org_check}{check}")) {
                    return c;
                }
            }
        }
        panic!("no code for {seed}")
    };
    let (c1, c2, c3) = (code(8101), code(8102), code(8103));
    let phone = ContactPhone::parse("0572-6022447").unwrap_or_else(|_| panic!("phone"));
    let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
    let district = orgs::create(
        &txn,
        &vault,
        &county,
        &NewOrg {
            level: OrgLevel::District,
            name: "雉城街道总工会",
            union: None,
        },
        &actor,
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let unit = |name: &'static str, code: &'static UnitCode, nature, employees| NewUnit {
        name,
        code,
        nature,
        nature_other: None,
        address: "长兴县",
        employee_count: employees,
    };
    // Leaked so the units can borrow them for the test's life.
    let (c1, c2, c3): (&'static UnitCode, &'static UnitCode, &'static UnitCode) = (
        Box::leak(Box::new(c1)),
        Box::leak(Box::new(c2)),
        Box::leak(Box::new(c3)),
    );
    let joint = |units| NewUnion {
        founded_on: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default(),
        union_type: UnionType::Joint,
        member_count: 2,
        leader_name: "王主席",
        phone: &phone,
        units,
    };
    let private = joint(vec![
        unit("甲个体店", c1, UnitNature::Individual, 30),
        unit("乙私营厂", c2, UnitNature::Private, 25),
    ]);
    let union_ok = orgs::create(
        &txn,
        &vault,
        &district,
        &NewOrg {
            level: OrgLevel::Grassroots,
            name: "雉城联合工会",
            union: Some(&private),
        },
        &actor,
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mixed = joint(vec![unit("丙国企", c3, UnitNature::StateOwned, 10)]);
    let union_mixed = orgs::create(
        &txn,
        &vault,
        &district,
        &NewOrg {
            level: OrgLevel::Grassroots,
            name: "煤山联合工会",
            union: Some(&mixed),
        },
        &actor,
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    txn.commit().await.unwrap_or_else(|e| panic!("{e}"));

    let views =
        huigong_store::card_views::CardViews::new(ephemeral().await, Duration::from_secs(0));
    let mobile = Mobile::parse("13957212345").unwrap_or_else(|_| panic!("mobile"));
    for (org, seq) in [(union_ok.id, 1u32), (union_mixed.id, 2)] {
        let id = IdNumber::parse(&format!("33052219900101{seq:03}"), now.date_naive())
            .or_else(|_| {
                // The check digit: find the one GB 11643 accepts.
                "0123456789X"
                    .chars()
                    .find_map(|c| {
                        IdNumber::parse(&format!("33052219900101{seq:03}{c}"), now.date_naive())
                            .ok()
                    })
                    .ok_or(())
            })
            .unwrap_or_else(|_| panic!("id number"));
        huigong_store::members::add(
            &db,
            &vault,
            &views,
            org,
            huigong_store::people::PersonInput {
                id_number: &id,
                name: "张三",
                mobile: Some(&mobile),
            },
            &RosterFields {
                unit_name: "甲个体店".into(),
                nationality: "汉族".into(),
                education: "大专".into(),
                household_type: "农村".into(),
                employment_status: "在岗".into(),
                union_post: "会员".into(),
            },
            None,
            &actor,
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    let list = subsidies::list(&db, &district.path, &SubsidyRule::default(), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ok = list
        .iter()
        .find(|l| l.org_id == union_ok.id)
        .unwrap_or_else(|| panic!("joint union listed"));
    assert_eq!(ok.facts.employees, 55);
    assert_eq!((ok.status, ok.amount), (Status::Eligible, Some(1000)));
    let mixed = list
        .iter()
        .find(|l| l.org_id == union_mixed.id)
        .unwrap_or_else(|| panic!("mixed union listed"));
    assert_eq!(mixed.status, Status::NotEligible);
    assert_eq!(
        mixed.missing,
        vec![huigong_core::subsidy::Missing::Nature],
        "a state-owned unit disqualifies"
    );
}

// ---- the audit sealer (issue 18) ------------------------------------------------------------

mod sealer {
    use super::*;
    use huigong_store::audit::{self, Actor, Entry, Outcome};
    use huigong_store::audit_sealer::{
        self, LEASE_KEY, SKIPPED_ACTION, Sealer, SealerSettings, Step,
    };
    use huigong_store::entity::audit_event;
    use sea_orm::{EntityTrait, QueryOrder};

    fn entry(i: usize) -> Entry<'static> {
        Entry {
            action: "test.sealed",
            target_type: "card",
            target_id: Some(format!("s{i}")),
            fields: &[],
            outcome: Outcome::Success,
        }
    }

    /// `n` audited writes, each in its own committed transaction, not sealed.
    async fn write(db: &Database, from: usize, n: usize) {
        for i in from..from + n {
            let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
            audit::record(&txn, &Actor::system(), &entry(i), Utc::now())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    async fn verify(db: &Database) -> audit::Verification {
        audit::verify(db).await.unwrap_or_else(|e| panic!("{e}"))
    }

    async fn all_events(db: &Database) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .order_by_asc(audit_event::Column::Seq)
            .all(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn sql(db: &Database, sqlite: &str, postgres: &str) -> sea_orm::Statement {
        let backend = db.conn.get_database_backend();
        let text = if backend == sea_orm::DatabaseBackend::Postgres {
            postgres
        } else {
            sqlite
        };
        sea_orm::Statement::from_string(backend, text.to_owned())
    }

    async fn start(db: &Database, grace: Duration, batch: u64) -> Sealer {
        Sealer::start(db.clone(), grace, batch)
            .await
            .unwrap_or_else(|e| panic!("sealer: {e}"))
    }

    #[tokio::test]
    async fn audited_writes_commit_unsealed_and_verify_counts_them() {
        let (db, _dir) = database().await;
        write(&db, 0, 3).await;
        let v = verify(&db).await;
        assert_eq!(
            (v.checked, v.unsealed, v.broken.clone()),
            (0, 3, None),
            "{v:?}"
        );
        assert!(v.oldest_unsealed.is_some());
        assert!(v.seal_overdue(
            Utc::now() + ChronoDuration::minutes(5),
            ChronoDuration::seconds(60)
        ));
        assert!(!v.seal_overdue(Utc::now(), ChronoDuration::seconds(60)));
        assert!(all_events(&db).await.iter().all(|e| e.hash.is_empty()));
    }

    #[tokio::test]
    async fn a_crash_between_insert_and_seal_loses_no_event() {
        let (db, _dir) = database().await;
        write(&db, 0, 5).await;
        // A sealer seals part (batches of 2), then dies; more events arrive while none runs.
        let mut first = start(&db, Duration::ZERO, 2).await;
        assert_eq!(
            first.seal_once().await.ok(),
            Some(Step::Sealed {
                sealed: 2,
                skipped: 0,
                more: true
            })
        );
        drop(first);
        write(&db, 5, 4).await;
        let v = verify(&db).await;
        assert_eq!(
            (v.checked, v.unsealed, v.broken.clone()),
            (2, 7, None),
            "{v:?}"
        );
        // The next sealer links every committed event, in order, into one valid chain.
        let mut next = start(&db, Duration::ZERO, 3).await;
        assert_eq!(next.seal_all().await.ok(), Some(7));
        let v = verify(&db).await;
        assert_eq!(
            (v.checked, v.unsealed, v.broken.clone()),
            (9, 0, None),
            "{v:?}"
        );
        let targets: Vec<_> = all_events(&db)
            .await
            .into_iter()
            .filter_map(|e| e.target_id)
            .collect();
        let expected: Vec<_> = (0..9).map(|i| format!("s{i}")).collect();
        assert_eq!(targets, expected, "lost, duplicated or reordered");
    }

    #[tokio::test]
    async fn a_sealer_fenced_off_by_a_newer_one_cannot_seal() {
        let (db, _dir) = database().await;
        write(&db, 0, 2).await;
        let mut stale = start(&db, Duration::ZERO, 100).await;
        let mut fresh = start(&db, Duration::ZERO, 100).await;
        assert!(fresh.fence() > stale.fence());
        assert_eq!(stale.seal_once().await.ok(), Some(Step::Fenced));
        assert_eq!(verify(&db).await.unsealed, 2, "the stale sealer sealed");
        assert_eq!(fresh.seal_all().await.ok(), Some(2));
        write(&db, 2, 1).await;
        assert_eq!(stale.seal_once().await.ok(), Some(Step::Fenced));
        let v = verify(&db).await;
        assert_eq!((v.checked, v.unsealed, v.broken), (2, 1, None));
    }

    /// Two sealers that both believe they hold the lease (each takes the fence back whenever
    /// it was fenced off) race while 4 writers write: no event is sealed twice (the guards
    /// would refuse it and the sealer's batch would fail), none is skipped, and the result is
    /// one chain.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_sealers_running_concurrently_never_seal_the_same_event_twice() {
        let (db, _dir) = database_with(Duration::from_secs(20)).await;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut sealers = tokio::task::JoinSet::new();
        for _ in 0..2 {
            let (db, done) = (db.clone(), done.clone());
            sealers.spawn(async move {
                let mut sealed = 0u64;
                let mut sealer = start(&db, Duration::from_secs(600), 7).await;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    match sealer.seal_once().await {
                        Ok(Step::Sealed {
                            sealed: n, skipped, ..
                        }) => {
                            assert_eq!(skipped, 0, "a number was skipped under a writer");
                            sealed += n;
                        }
                        Ok(Step::Fenced) => sealer = start(&db, Duration::from_secs(600), 7).await,
                        Ok(Step::UnkeyedHead) => panic!("unkeyed head"),
                        // Lost a race on the head (PostgreSQL): the batch rolled back.
                        Err(_) => {}
                    }
                    tokio::task::yield_now().await;
                }
                sealed
            });
        }
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..4 {
            let db = db.clone();
            writers.spawn(async move { write(&db, w * 100, 25).await });
        }
        while let Some(r) = writers.join_next().await {
            r.unwrap_or_else(|e| panic!("writer: {e}"));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut by_racers = 0;
        while let Some(r) = sealers.join_next().await {
            by_racers += r.unwrap_or_else(|e| panic!("sealer: {e}"));
        }
        let rest = audit_sealer::seal_now(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(by_racers + rest, 100, "sealed counts add up to the events");
        let v = verify(&db).await;
        assert_eq!(
            (v.checked, v.unsealed, v.broken.clone()),
            (100, 0, None),
            "{v:?}"
        );
        let events = all_events(&db).await;
        assert!(events.iter().all(|e| e.action != SKIPPED_ACTION));
        let mut ids: Vec<_> = events.iter().map(|e| e.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 100);
    }

    #[tokio::test]
    async fn a_sealed_event_cannot_be_sealed_again_and_an_unsealed_one_only_sealed() {
        let (db, _dir) = database().await;
        write(&db, 0, 1).await;
        // Not a seal: other columns change along.
        let forged = db
            .conn
            .execute_raw(sql(
                &db,
                "UPDATE audit_events SET target_id = 'x', prev_hash = zeroblob(32), hash = zeroblob(32), chain_key_id = 1",
                "UPDATE audit_events SET target_id = 'x', prev_hash = decode(repeat('00', 32), 'hex'), hash = decode(repeat('00', 32), 'hex'), chain_key_id = 1",
            ))
            .await;
        assert!(forged.is_err(), "an update beyond the seal was allowed");
        assert_eq!(audit_sealer::seal_now(&db).await.ok(), Some(1));
        // Sealed: the seal cannot be redone.
        let again = db
            .conn
            .execute_raw(sql(
                &db,
                "UPDATE audit_events SET hash = zeroblob(32)",
                "UPDATE audit_events SET hash = decode(repeat('00', 32), 'hex')",
            ))
            .await;
        assert!(again.is_err(), "a sealed event was sealed again");
        assert_eq!(verify(&db).await.broken, None);
    }

    #[tokio::test]
    async fn verify_finds_a_tampered_and_a_deleted_sealed_event() {
        let (db, _dir) = database().await;
        write(&db, 0, 4).await;
        audit_sealer::seal_now(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for drop in [
            (
                "DROP TRIGGER audit_events_no_update",
                "DROP TRIGGER audit_events_guard ON audit_events",
            ),
            ("DROP TRIGGER audit_events_retention", "SELECT 1"),
        ] {
            db.conn
                .execute_raw(sql(&db, drop.0, drop.1))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        db.conn
            .execute_raw(sql(
                &db,
                "UPDATE audit_events SET outcome = 'failure' WHERE seq = 2",
                "UPDATE audit_events SET outcome = 'failure' WHERE seq = 2",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = verify(&db).await;
        assert!(
            matches!(&v.broken, Some((2, why)) if why.contains("altered")),
            "{v:?}"
        );
        db.conn
            .execute_raw(sql(
                &db,
                "DELETE FROM audit_events WHERE seq = 2",
                "DELETE FROM audit_events WHERE seq = 2",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = verify(&db).await;
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains("missing")),
            "{v:?}"
        );
    }

    /// A number drawn by a transaction that rolled back: on PostgreSQL a hole, which the
    /// sealer records as skipped (a sealed event of its own) once it has stayed open; removing
    /// that record is found like any removal. SQLite hands the number out again: no hole.
    #[tokio::test]
    async fn a_rolled_back_number_is_recorded_as_skipped_not_mistaken_for_a_deletion() {
        let (db, _dir) = database().await;
        write(&db, 0, 1).await;
        let txn = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
        audit::record(&txn, &Actor::system(), &entry(99), Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        txn.rollback().await.unwrap_or_else(|e| panic!("{e}"));
        write(&db, 1, 1).await;
        // With a grace period, the hole holds the sealer up: only the event before it.
        let mut patient = start(&db, Duration::from_secs(600), 100).await;
        assert_eq!(
            patient.seal_all().await.ok(),
            Some(if use_services() { 1 } else { 2 })
        );
        drop(patient);
        audit_sealer::seal_now(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = verify(&db).await;
        let events = all_events(&db).await;
        let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
        if !use_services() {
            assert_eq!(actions, ["test.sealed", "test.sealed"]);
            assert_eq!((v.checked, v.broken), (2, None));
            return;
        }
        assert_eq!(actions, ["test.sealed", SKIPPED_ACTION, "test.sealed"]);
        assert_eq!(events[1].target_id.as_deref(), Some("2"));
        assert_eq!((v.checked, v.unsealed, v.broken), (3, 0, None));
        db.conn
            .execute_raw(sql(
                &db,
                "",
                "DROP TRIGGER audit_events_guard ON audit_events",
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        db.conn
            .execute_raw(sql(&db, "", "DELETE FROM audit_events WHERE seq = 2"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let v = verify(&db).await;
        assert!(
            matches!(&v.broken, Some((3, why)) if why.contains("missing")),
            "{v:?}"
        );
    }

    /// On PostgreSQL an audited write no longer waits for another one in flight (they used to
    /// queue on the chain's head row). SQLite serialises all writers by design.
    #[tokio::test]
    async fn an_audited_write_does_not_wait_for_another_in_flight() {
        let (db, _dir) = database().await;
        if !use_services() {
            return;
        }
        let first = db.begin_write().await.unwrap_or_else(|e| panic!("{e}"));
        audit::record(&first, &Actor::system(), &entry(0), Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The first is not committed; the second commits (it would wait forever on the head).
        let second = tokio::time::timeout(Duration::from_secs(30), write(&db, 1, 1)).await;
        assert!(
            second.is_ok(),
            "the second audited write waited for the first"
        );
        let v = verify(&db).await;
        assert_eq!((v.checked, v.unsealed), (0, 1));
        // The sealer waits for the hole the first leaves, then seals both in number order.
        let mut sealer = start(&db, Duration::from_secs(600), 100).await;
        assert_eq!(sealer.seal_all().await.ok(), Some(0));
        first.commit().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sealer.seal_all().await.ok(), Some(2));
        let targets: Vec<_> = all_events(&db)
            .await
            .into_iter()
            .filter_map(|e| e.target_id)
            .collect();
        assert_eq!(targets, ["s0", "s1"]);
        assert_eq!(verify(&db).await.broken, None);
    }

    /// Polls `verify` until nothing waits to be sealed (a bounded wait, not a timing claim).
    async fn until_sealed(db: &Database, events: u64) -> audit::Verification {
        for _ in 0..600 {
            let v = verify(db).await;
            if v.unsealed == 0 && v.checked == events {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not sealed in 30 s: {:?}", verify(db).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_instance_takes_over_when_the_lease_holder_dies() {
        let (db, _dir) = database().await;
        let store = ephemeral().await;
        let settings = SealerSettings {
            interval: Duration::from_millis(20),
            lease: Duration::from_millis(500),
            grace: Duration::from_secs(1),
            batch: 100,
        };
        let holder = tokio::spawn(audit_sealer::run(
            db.clone(),
            store.clone(),
            settings.clone(),
        ));
        write(&db, 0, 3).await;
        assert_eq!(until_sealed(&db, 3).await.broken, None);
        let lease = store.get(LEASE_KEY).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(lease.is_some(), "the sealer holds no lease");
        // The holder dies (no clean release); a second instance waits for the lease to expire.
        holder.abort();
        let _ = holder.await;
        let second = tokio::spawn(audit_sealer::run(db.clone(), store.clone(), settings));
        write(&db, 3, 4).await;
        let v = until_sealed(&db, 7).await;
        assert_eq!(v.broken, None, "{v:?}");
        let now = store.get(LEASE_KEY).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            now.is_some() && now != lease,
            "the lease did not change hands"
        );
        second.abort();
    }
}

/// The ephemeral contract on the real 3-node Redis Cluster of tests/redis-ha.sh, with keys in
/// many hash slots: what one pipeline or `MGET` would carry on one server is split by slot.
#[tokio::test]
async fn redis_cluster_keeps_the_ephemeral_contract_across_hash_slots() {
    let url = required_env("HUIGONG_TEST_REDIS_CLUSTER_URL");
    let s = RedisStore::connect(&url, &format!("test:{}:", unique()), Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("cluster: {e}"));
    let ttl = Duration::from_secs(30);
    // 64 keys without a shared tag land on all three nodes.
    let keys: Vec<String> = (0..64).map(|n| format!("spread:{n}")).collect();
    let values: Vec<Vec<u8>> = (0..64).map(|n| format!("v{n}").into_bytes()).collect();
    let entries: Vec<(&str, &[u8])> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    s.set_many(&entries, ttl)
        .await
        .unwrap_or_else(|e| panic!("set_many: {e}"));
    let mut asked: Vec<&str> = keys.iter().map(String::as_str).collect();
    asked.push("spread:absent");
    let got = s
        .get_many(&asked)
        .await
        .unwrap_or_else(|e| panic!("get_many: {e}"));
    let mut expected: Vec<Option<Vec<u8>>> = values.iter().cloned().map(Some).collect();
    expected.push(None);
    assert_eq!(got, expected);

    // Claims and reads in different slots: each claim made once, the reads after them.
    let claims: [(&str, &[u8], Duration); 2] = [("mark:{a}", b"1", ttl), ("record:{b}", b"r", ttl)];
    let (made, read) = s
        .claim_then_get_many(&claims, &["mark:{a}", "spread:1", "spread:absent"])
        .await
        .unwrap_or_else(|e| panic!("claim_then_get_many: {e}"));
    assert_eq!(made, vec![true, true]);
    assert_eq!(
        read.ok(),
        Some(vec![Some(b"1".to_vec()), Some(b"v1".to_vec()), None])
    );
    let (again, _) = s
        .claim_then_get_many(&claims, &[])
        .await
        .unwrap_or_else(|e| panic!("claim again: {e}"));
    assert_eq!(again, vec![false, false]);

    // Counters (an atomic INCR + PEXPIRE pipeline in one slot), scripts with one key.
    assert_eq!(s.increment_by("count:{c}", 3, ttl).await.ok(), Some(3));
    assert_eq!(s.increment("count:{c}", ttl).await.ok(), Some(4));
    assert_eq!(s.decrement("count:{c}").await.ok(), Some(3));
    assert_eq!(
        s.set_if_absent("once:{d}", b"x", ttl).await.ok(),
        Some(true)
    );
    assert_eq!(
        s.set_if_absent("once:{d}", b"y", ttl).await.ok(),
        Some(false)
    );
    assert_eq!(s.delete_if_equals("once:{d}", b"y").await.ok(), Some(false));
    assert_eq!(s.delete_if_equals("once:{d}", b"x").await.ok(), Some(true));
    assert_eq!(s.get("once:{d}").await.ok(), Some(None));
    assert_eq!(s.delete("spread:2").await.ok(), Some(true));
    assert!(s.ping().await.is_ok());
}

/// `redis+sentinel://` reaches the master the sentinels name, for reads and writes.
#[tokio::test]
async fn redis_sentinel_url_reaches_the_master() {
    let url = required_env("HUIGONG_TEST_REDIS_SENTINEL_URL");
    let s = RedisStore::connect(&url, &format!("test:{}:", unique()), Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("sentinel: {e}"));
    let ttl = Duration::from_secs(30);
    assert!(s.set("k", b"v", ttl).await.is_ok());
    assert_eq!(s.get("k").await.ok(), Some(Some(b"v".to_vec())));
    assert_eq!(s.increment("n", ttl).await.ok(), Some(1));
    assert!(s.ping().await.is_ok());
    // A name the sentinels do not watch is refused at start, as an unreachable server is.
    let wrong = url.replace("/huigong-test", "/no-such-master");
    assert!(
        RedisStore::connect(&wrong, "test:", Duration::from_secs(2))
            .await
            .is_err()
    );
}
