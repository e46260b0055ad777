//! Redis beyond one server (issue 17): the service on a real Sentinel set-up and a real 3-node
//! Cluster, which tests/redis-ha.sh starts (`HUIGONG_TEST_REDIS_SENTINEL_URL`,
//! `HUIGONG_TEST_REDIS_CLUSTER_URL`). The database is the selected backend's.

use crate::helpers::TestApp;
use serde_json::json;

fn required(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs Redis Sentinel and Cluster. Run the suite with tests/run.sh, which starts them (tests/redis-ha.sh)."
        ),
    }
}

async fn spawn_on(url: &str) -> TestApp {
    let url = url.to_owned();
    TestApp::spawn_with(move |s| {
        s.redis.url = url.into();
        s.redis.key_prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
        s.redis.timeout_ms = 1000;
        s.card.max_previews_per_ip_per_hour = 2;
    })
    .await
}

async fn preview(app: &TestApp, token: &str) -> u16 {
    app.post_json(
        "/api/v1/card/activation/preview",
        &json!({"name": "王五", "id_number": crate::unions::id_number("19800101", 31)}),
        Some(token),
    )
    .await
    .0
}

/// Logs in, reads the session back, logs out (the session gone), and spends the per-address
/// preview limit: sessions, login and limits through this Redis.
async fn sessions_logins_and_limits_work(app: &TestApp, tag: &str) -> String {
    let token = app
        .login(&format!("o_{tag}_{}", uuid::Uuid::now_v7().simple()))
        .await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.0, 200);
    let other = app.login(&format!("o_{tag}_out")).await;
    let (status, _) = app
        .post_json("/api/v1/auth/logout", &json!({}), Some(&other))
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.get("/api/v1/me", Some(&other)).await.0, 401);
    // Two previews per address per hour: the third is refused.
    assert_eq!(preview(app, &token).await, 404);
    assert_eq!(preview(app, &token).await, 404);
    assert_eq!(preview(app, &token).await, 429);
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    token
}

/// The sentinel's own connection (plain RESP, no auth).
async fn sentinel(url: &str) -> redis::aio::MultiplexedConnection {
    let hosts = url
        .trim_start_matches("redis+sentinel://")
        .split('/')
        .next()
        .unwrap_or_default();
    let first = hosts.split(',').next().unwrap_or_default();
    let client = redis::Client::open(format!("redis://{first}/"))
        .unwrap_or_else(|e| panic!("sentinel address: {e}"));
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("sentinel: {e}"))
}

async fn master_port(conn: &mut redis::aio::MultiplexedConnection) -> String {
    let addr: Vec<String> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg("huigong-test")
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("get-master-addr-by-name: {e}"));
    addr.get(1).cloned().unwrap_or_default()
}

#[tokio::test]
async fn sentinel_sessions_logins_and_limits_work_and_survive_a_failover() {
    let url = required("HUIGONG_TEST_REDIS_SENTINEL_URL");
    let app = spawn_on(&url).await;
    let token = sessions_logins_and_limits_work(&app, "sentinel").await;

    // Fail over: the replica becomes the master, the old master its replica.
    let mut sentinel = sentinel(&url).await;
    let before = master_port(&mut sentinel).await;
    // Asked again while the sentinel refuses (NOGOODSLAVE while the replica still syncs after an
    // earlier failover, INPROG) or a failover was aborted on a busy machine.
    let mut switched = false;
    'asking: for _ in 0..40 {
        let _: redis::RedisResult<String> = redis::cmd("SENTINEL")
            .arg("FAILOVER")
            .arg("huigong-test")
            .query_async(&mut sentinel)
            .await;
        for _ in 0..30 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if master_port(&mut sentinel).await != before {
                switched = true;
                break 'asking;
            }
        }
    }
    assert!(switched, "the master did not change");

    // The same instance, not restarted: after at most a few 503s while it finds the new
    // master, the session made before the failover is read from it, and never a 500.
    let mut statuses = Vec::new();
    for _ in 0..150 {
        let (status, body) = app.get("/api/v1/me", Some(&token)).await;
        assert_ne!(status, 500, "{body}");
        statuses.push(status);
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    // Writes go to the new master: a new login, a logout, and the limit counted before.
    let fresh = app.login("o_sentinel_after_failover").await;
    assert_eq!(app.get("/api/v1/me", Some(&fresh)).await.0, 200);
    let (status, _) = app
        .post_json("/api/v1/auth/logout", &json!({}), Some(&fresh))
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.get("/api/v1/me", Some(&fresh)).await.0, 401);
    assert_eq!(preview(&app, &token).await, 429);
    let (status, ready) = app.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    app.stop().await;
}

#[tokio::test]
async fn cluster_sessions_logins_and_limits_work_across_slots() {
    let url = required("HUIGONG_TEST_REDIS_CLUSTER_URL");
    let app = spawn_on(&url).await;
    // Many sessions: their keys spread over the three nodes' slots.
    let mut tokens = Vec::new();
    for n in 0..12 {
        tokens.push(app.login(&format!("o_cluster_many_{n}")).await);
    }
    for token in &tokens {
        assert_eq!(app.get("/api/v1/me", Some(token)).await.0, 200);
    }
    sessions_logins_and_limits_work(&app, "cluster").await;
    app.stop().await;
}
