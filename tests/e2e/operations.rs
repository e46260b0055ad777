//! Health, readiness through outages, request ids, and what reaches the logs.

use crate::helpers::{TestApp, base_settings, captured_logs, fresh_pg_database, services};
use crate::proxy::{Proxy, through};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn healthz_and_readyz_answer_when_all_is_well() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["session_store"], "ok");
    app.stop().await;
}

/// Polls `/readyz` until it answers `want` (bounded), returning the last body.
async fn readyz_until(app: &TestApp, want: u16) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..40 {
        let (status, body) = app.get("/readyz", None).await;
        if status == want {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("/readyz never answered {want}; last body: {last}");
}

#[tokio::test]
async fn readyz_reports_a_database_outage_and_recovers() {
    let svc = services();
    let db_url = fresh_pg_database(&svc.pg_url).await;
    let proxy = Proxy::start(crate::proxy::host_port(&db_url)).await;
    let mut settings = base_settings();
    settings.database.url = through(&db_url, &proxy).into();
    settings.redis.url = svc.redis_url.clone().into();
    settings.redis.key_prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
    let app = TestApp::spawn_on(settings, None).await;
    let token = app.login("o_db_outage").await;

    proxy.cut();
    let body = readyz_until(&app, 503).await;
    assert_eq!(body["code"], "database_unavailable", "{body}");
    assert_eq!(body["checks"]["session_store"], "ok");
    // A request that needs the database is a clean 503, not a 500.
    let (status, me) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 503, "{me}");
    assert_eq!(me["code"], "database_unavailable");

    proxy.restore();
    readyz_until(&app, 200).await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn readyz_reports_a_redis_outage_and_recovers() {
    let svc = services();
    let proxy = Proxy::start(crate::proxy::host_port(&svc.redis_url)).await;
    let mut settings = base_settings();
    settings.database.url = fresh_pg_database(&svc.pg_url).await.into();
    settings.redis.url = through(&svc.redis_url, &proxy).into();
    settings.redis.key_prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
    let app = TestApp::spawn_on(settings, None).await;
    let token = app.login("o_redis_outage").await;

    proxy.cut();
    let body = readyz_until(&app, 503).await;
    assert_eq!(body["code"], "session_store_unavailable", "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    let (status, me) = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, 503, "{me}");
    assert_eq!(me["code"], "session_store_unavailable");

    proxy.restore();
    readyz_until(&app, 200).await;
    // The session written before the outage is still there.
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_the_logs_carry_too() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/api/v1/no-such-route"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(id.len(), 36, "request id {id:?}");
    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains(&id) && l.contains("request finished")),
        "no log line carries request id {id}"
    );
    app.stop().await;
}

#[tokio::test]
async fn no_log_line_contains_a_session_key_or_the_app_secret() {
    let app = TestApp::spawn().await;
    // Successful logins, a failed one, a logout: the paths that touch the secret and keys.
    let token = app.login("o_log_check_worker").await;
    app.login("o_log_check_worker").await;
    app.login_with_code("invented-code-for-log-check").await;
    app.post_json("/api/v1/auth/logout", &json!({}), Some(&token))
        .await;
    // Unreachable WeChat: transport errors must not print the URL (its query holds the secret).
    let mut settings = base_settings();
    let _dir = crate::helpers::use_fresh_storage(&mut settings).await;
    settings.wechat.mode = huigong_server::settings::WechatMode::Live;
    settings.wechat.base_url = "http://127.0.0.1:9".into();
    settings.wechat.timeout_ms = 500;
    let offline = TestApp::spawn_on(settings, None).await;
    let (status, body) = offline.login_with_code("any-code-at-all").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("wechat_unavailable"))
    );

    let keys = app.mock.issued_session_keys();
    assert!(keys.len() >= 2, "the mock issued {} keys", keys.len());
    let logs = captured_logs();
    assert!(
        logs.contains("wechat login"),
        "the login path logged nothing"
    );
    for key in &keys {
        assert!(
            !logs.contains(key.as_str()),
            "a session_key reached the log"
        );
    }
    assert!(
        !logs.contains(app.mock.secret()),
        "the app secret reached the log"
    );
    assert!(!logs.contains(&token), "a bearer token reached the log");
    offline.stop().await;
    app.stop().await;
}
