//! `POST /api/v1/me/phone` through the WeChat mock, and the shared access token behind it: one
//! `stable_token` for many concurrent calls (across two instances sharing Redis on the services
//! backend), one refresh after the mock invalidates the token, no fresh token dropped by a stale
//! failure.

use crate::helpers::{TestApp, use_services};
use huigong_api::wechat_tokens::EphemeralTokenCache;
use huigong_core::{Role, Secret};
use huigong_store::{Ephemeral, MemoryStore, RedisStore};
use huigong_wechat::{WechatClient, WechatConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A `getPhoneNumber` code from the instance's mock, over HTTP like the phone gets one.
async fn phone_code(app: &TestApp, openid: &str, phone: &str) -> String {
    let (status, body) = app
        .post_json(
            "/wechat-mock/wx/phone",
            &json!({ "openid": openid, "phone": phone }),
            None,
        )
        .await;
    assert_eq!(status, 200, "wx/phone: {body}");
    body["code"].as_str().unwrap_or_default().to_owned()
}

async fn confirm(app: &TestApp, token: &str, code: &str) -> (u16, Value) {
    app.post_json("/api/v1/me/phone", &json!({ "code": code }), Some(token))
        .await
}

async fn mock_stats(app: &TestApp) -> Value {
    let (status, stats) = app.get("/wechat-mock/mock/stats", None).await;
    assert_eq!(status, 200);
    stats
}

#[tokio::test]
async fn a_worker_confirms_the_mobile_through_wechat() {
    let app = TestApp::spawn().await;
    let token = app.login("o_phone_worker").await;
    let code = phone_code(&app, "o_phone_worker", "13812345678").await;
    let (status, body) = confirm(&app, &token, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mobile"], "138****5678");
    assert!(body["confirmed_at"].is_string());

    // Stored sealed on the account, readable with the keys.
    let (_, me) = app.get("/api/v1/me", Some(&token)).await;
    let user_id = uuid::Uuid::parse_str(me["id"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("user id: {e}"));
    let stored = huigong_store::user_phones::get(&app.state.db.conn, &app.state.vault, user_id)
        .await
        .unwrap_or_else(|e| panic!("read: {e}"))
        .unwrap_or_else(|| panic!("no confirmed phone stored"));
    assert_eq!(stored.mobile.as_str(), "13812345678");

    // A later confirmation replaces it.
    let code = phone_code(&app, "o_phone_worker", "13900001111").await;
    let (status, body) = confirm(&app, &token, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mobile"], "139****1111");

    // Audited, and the number never reaches the log.
    let (_, admin) = app.token_for(Role::CountyAdmin).await;
    let (status, events) = app
        .get(
            "/api/v1/admin/audit?action=user.phone_confirm",
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(events["total"], 2);
    assert_eq!(events["items"][0]["target_id"], user_id.to_string());
    assert_eq!(events["items"][0]["fields"], json!(["mobile"]));
    let logs = crate::helpers::captured_logs();
    assert!(!logs.contains("13812345678") && !logs.contains("13900001111"));
    app.stop().await;
}

#[tokio::test]
async fn a_reused_or_invented_phone_code_is_rejected_on_the_code_field() {
    let app = TestApp::spawn().await;
    let token = app.login("o_phone_reuse").await;
    let code = phone_code(&app, "o_phone_reuse", "13812345678").await;
    let (status, _) = confirm(&app, &token, &code).await;
    assert_eq!(status, 200);
    for bad in [code.as_str(), "invented-code"] {
        let (status, body) = confirm(&app, &token, bad).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "phone_code_invalid");
        assert_eq!(body["field"], "code");
    }
    let (status, body) = confirm(&app, &token, "").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "code");
    app.stop().await;
}

#[tokio::test]
async fn only_logged_in_wechat_workers_confirm_a_phone() {
    let app = TestApp::spawn().await;
    let code = phone_code(&app, "o_any", "13812345678").await;
    let (status, _) = confirm(&app, "not-a-token", &code).await;
    assert_eq!(status, 401);
    let (_, admin) = app.token_for(Role::CountyAdmin).await;
    let (status, body) = confirm(&app, &admin, &code).await;
    assert_eq!(status, 403, "{body}");
    // The refused calls never reached WeChat.
    assert_eq!(app.mock.calls("getuserphonenumber"), 0);
    app.stop().await;
}

#[tokio::test]
async fn wechat_trouble_is_503_in_chinese() {
    let app = TestApp::spawn().await;
    let token = app.login("o_phone_busy").await;
    let (status, _) = app
        .post_json(
            "/wechat-mock/mock/errors",
            &json!({ "api": "getuserphonenumber", "errcode": -1 }),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let code = phone_code(&app, "o_phone_busy", "13812345678").await;
    let (status, body) = confirm(&app, &token, &code).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "wechat_unavailable");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("微信")
    );

    // stable_token failing is 503 too, and the code still works afterwards.
    app.mock.invalidate_access_tokens();
    app.mock.force_error("getuserphonenumber", 40001, 1);
    app.mock.force_error("stable_token", -1, 1);
    let (status, body) = confirm(&app, &token, &code).await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = confirm(&app, &token, &code).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

/// Twenty confirmations at once by four workers, spread over `apps`; codes from `issuer`'s mock.
async fn concurrent_confirmations(apps: &[&TestApp], issuer: &TestApp) {
    let mut tokens = Vec::new();
    for i in 0..4 {
        tokens.push(issuer.login(&format!("o_concurrent_{i}")).await);
    }
    let mut requests = Vec::new();
    for n in 0..20 {
        let openid = format!("o_concurrent_{}", n % 4);
        let code = phone_code(issuer, &openid, &format!("1381234{n:04}")).await;
        let app = apps[n % apps.len()];
        let url = app.url("/api/v1/me/phone");
        let req = app
            .http
            .post(url)
            .bearer_auth(&tokens[n % 4])
            .json(&json!({ "code": code }));
        requests.push(tokio::spawn(crate::helpers::send(req)));
    }
    for r in requests {
        let (status, body) = r.await.unwrap_or_else(|e| panic!("join: {e}"));
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn the_access_token_is_fetched_once_for_concurrent_calls_across_instances() {
    let a = TestApp::spawn().await;
    if use_services() {
        // A second instance on the same PostgreSQL database and Redis prefix, calling the first
        // instance's mock as its WeChat.
        let mut settings = a.settings.clone();
        settings.wechat.mode = huigong_server::settings::WechatMode::Live;
        settings.wechat.base_url = a.url("/wechat-mock");
        let b = TestApp::spawn_on(settings, None).await;
        concurrent_confirmations(&[&a, &b], &a).await;
        b.stop().await;
    } else {
        // One instance: the in-process store is not shared across processes (the test below
        // runs two managers on one store instead).
        concurrent_confirmations(&[&a], &a).await;
    }
    let stats = mock_stats(&a).await;
    assert_eq!(stats["access_tokens_issued"], 1, "{stats}");
    assert_eq!(stats["stable_token"], 1, "{stats}");
    assert_eq!(stats["getuserphonenumber"], 20, "{stats}");
    a.stop().await;
}

/// The session backend of the selected run, with a prefix of its own.
async fn shared_store() -> Arc<dyn Ephemeral> {
    if use_services() {
        let url = crate::helpers::services().redis_url;
        let prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
        Arc::new(
            RedisStore::connect(&url, &prefix, Duration::from_secs(2))
                .await
                .unwrap_or_else(|e| panic!("redis: {e}")),
        )
    } else {
        Arc::new(MemoryStore::new())
    }
}

#[tokio::test]
async fn two_managers_on_one_session_store_fetch_the_token_once() {
    let app = TestApp::spawn().await;
    let store = shared_store().await;
    let make = || {
        WechatClient::new(WechatConfig {
            base_url: app.url("/wechat-mock"),
            appid: app.settings.wechat.appid.clone(),
            secret: Secret::new(app.settings.wechat.secret.expose()),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        })
        .unwrap_or_else(|e| panic!("client: {e}"))
        .with_token_cache(Arc::new(EphemeralTokenCache(store.clone())))
    };
    let (one, two) = (make(), make());
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let client = if i % 2 == 0 { one.clone() } else { two.clone() };
            let code = app.mock.issue_phone_code(None, Some("13812345678"));
            let openid = app.mock.default_openid();
            tokio::spawn(async move { client.user_phone_number(&code, &openid).await })
        })
        .collect();
    for c in calls {
        let info = c
            .await
            .unwrap_or_else(|e| panic!("join: {e}"))
            .unwrap_or_else(|e| panic!("phone: {e}"));
        assert_eq!(info.pure_phone_number, "13812345678");
    }
    assert_eq!(app.mock.access_tokens_issued(), 1);
    assert_eq!(app.mock.calls("stable_token"), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_invalidated_token_is_refreshed_once_and_the_confirmation_succeeds() {
    let app = TestApp::spawn().await;
    let token = app.login("o_phone_refresh").await;
    let code = phone_code(&app, "o_phone_refresh", "13812345678").await;
    assert_eq!(confirm(&app, &token, &code).await.0, 200);
    assert_eq!(app.mock.access_tokens_issued(), 1);

    let (status, _) = app
        .post_json(
            "/wechat-mock/mock/access_token/invalidate",
            &json!({}),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let code = phone_code(&app, "o_phone_refresh", "13912345678").await;
    let (status, body) = confirm(&app, &token, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mobile"], "139****5678");
    let stats = mock_stats(&app).await;
    assert_eq!(stats["access_tokens_issued"], 2, "{stats}");
    assert_eq!(stats["stable_token"], 2, "{stats}");
    // First call with the old token (40001), the retry with the new one.
    assert_eq!(stats["getuserphonenumber"], 3, "{stats}");
    app.stop().await;
}

#[tokio::test]
async fn a_stale_token_failing_late_does_not_drop_the_fresh_one() {
    let app = TestApp::spawn().await;
    let token = app.login("o_phone_stale").await;
    let stale = app
        .state
        .wechat
        .access_token()
        .await
        .unwrap_or_else(|e| panic!("token: {e}"));
    app.mock.invalidate_access_tokens();
    // Another request meets 40001 first and refreshes.
    let code = phone_code(&app, "o_phone_stale", "13812345678").await;
    assert_eq!(confirm(&app, &token, &code).await.0, 200);
    let fresh = app
        .state
        .wechat
        .access_token()
        .await
        .unwrap_or_else(|e| panic!("token: {e}"));
    assert_ne!(fresh.expose(), stale.expose());
    // The slow request's failure with the stale token arrives now: nothing is dropped.
    let dropped = app
        .state
        .wechat
        .access_tokens()
        .invalidate(&stale)
        .await
        .unwrap_or_else(|e| panic!("invalidate: {e}"));
    assert!(!dropped);
    let still = app
        .state
        .sessions
        .store()
        .get(app.state.wechat.access_tokens().cache_key())
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(still.as_deref(), Some(fresh.expose().as_bytes()));
    let code = phone_code(&app, "o_phone_stale", "13812345678").await;
    assert_eq!(confirm(&app, &token, &code).await.0, 200);
    assert_eq!(app.mock.access_tokens_issued(), 2);
    assert_eq!(app.mock.calls("stable_token"), 2);
    app.stop().await;
}

#[tokio::test]
async fn the_access_token_is_cached_in_the_session_store_under_the_appid() {
    // The token is cached in the session backend under a key naming the appid, and never
    // reaches the log.
    let app = TestApp::spawn().await;
    let token = app.login("o_phone_key").await;
    let code = phone_code(&app, "o_phone_key", "13812345678").await;
    assert_eq!(confirm(&app, &token, &code).await.0, 200);
    let key = format!("wechat:access_token:{}", app.settings.wechat.appid);
    assert_eq!(app.state.wechat.access_tokens().cache_key(), key);
    let cached = app
        .state
        .sessions
        .store()
        .get(&key)
        .await
        .unwrap_or_else(|e| panic!("get: {e}"))
        .unwrap_or_else(|| panic!("token not cached in the session store"));
    let cached = String::from_utf8(cached).unwrap_or_default();
    assert!(app.mock.access_token_valid(&cached));
    assert!(!crate::helpers::captured_logs().contains(&cached));
    app.stop().await;
}

#[tokio::test]
async fn item15_a_phone_code_from_another_user_is_refused_and_left_to_its_owner() {
    let app = TestApp::spawn().await;
    let owner = app.login("o_item15_owner").await;
    let thief = app.login("o_item15_thief").await;
    // The owner's getPhoneNumber code, presented by someone else's session.
    let code = phone_code(&app, "o_item15_owner", "13812345678").await;
    let (status, body) = confirm(&app, &thief, &code).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "phone_code_invalid");
    assert_eq!(body["field"], "code");
    // Nothing was attached to the thief's account.
    let (_, me) = app.get("/api/v1/me", Some(&thief)).await;
    let thief_id = uuid::Uuid::parse_str(me["id"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("user id: {e}"));
    let stored = huigong_store::user_phones::get(&app.state.db.conn, &app.state.vault, thief_id)
        .await
        .unwrap_or_else(|e| panic!("read: {e}"));
    assert!(stored.is_none(), "another user's number was attached");
    // The owner still confirms with it.
    let (status, body) = confirm(&app, &owner, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mobile"], "138****5678");
    app.stop().await;
}
