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

/// A fresh, migrated database of the selected backend.
async fn database() -> (Database, Option<std::path::PathBuf>) {
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
        acquire_timeout: Duration::from_secs(3),
    })
    .await
    .unwrap_or_else(|e| panic!("connect: {e}"));
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
