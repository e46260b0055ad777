//! WeChat login through the HTTP API, with the in-process WeChat mock.

use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn login_happy_path_creates_the_worker_once() {
    let app = TestApp::spawn().await;
    let code = app.wx_code(Some("o_happy_path_worker")).await;
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap_or_default();
    assert!(!token.is_empty());
    assert_eq!(body["expires_in"], app.settings.auth.session_ttl_secs);
    assert_eq!(body["user"]["role"], "worker");
    assert_eq!(body["user"]["wechat_unionid_bound"], true);
    assert!(body.get("session_key").is_none() && body["user"].get("openid").is_none());

    let (status, me) = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], body["user"]["id"]);

    // The same WeChat user logging in again is the same account.
    let again = app.wx_code(Some("o_happy_path_worker")).await;
    let (status, second) = app.login_with_code(&again).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["user"]["id"], body["user"]["id"]);
    assert_ne!(second["token"], body["token"]);
    app.stop().await;
}

#[tokio::test]
async fn reused_code_is_rejected_with_a_reuse_code() {
    let app = TestApp::spawn().await;
    let code = app.wx_code(None).await;
    assert_eq!(app.login_with_code(&code).await.0, 200);
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "wechat_code_used");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    app.stop().await;
}

#[tokio::test]
async fn invented_code_is_rejected() {
    let app = TestApp::spawn().await;
    let (status, body) = app.login_with_code("0a1B2c3D4e5F6g7H8i9J0k1L2m3N").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "wechat_code_invalid");
    app.stop().await;
}

#[tokio::test]
async fn expired_code_is_rejected() {
    let app = TestApp::spawn().await;
    let code = app.wx_code(None).await;
    let (status, _) = app
        .post_json(
            "/wechat-mock/mock/clock/advance",
            &json!({ "seconds": 301 }),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "wechat_code_invalid");
    app.stop().await;
}

#[tokio::test]
async fn code_still_valid_just_before_five_minutes() {
    let app = TestApp::spawn().await;
    let code = app.wx_code(None).await;
    app.mock.advance_clock(std::time::Duration::from_secs(290));
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn empty_or_oversized_code_names_the_field() {
    let app = TestApp::spawn().await;
    for bad in ["", "   ", &"x".repeat(300), "含中文"] {
        let (status, body) = app.login_with_code(bad).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "invalid_field");
        assert_eq!(body["field"], "code");
    }
    // Nothing reached WeChat for input that cannot be a code.
    assert_eq!(app.mock.calls("jscode2session"), 0);
    app.stop().await;
}

#[tokio::test]
async fn wechat_errcodes_map_to_clear_answers() {
    let app = TestApp::spawn().await;
    let cases: [(i64, u16, &str); 4] = [
        (45011, 429, "wechat_rate_limited"),
        (40226, 403, "wechat_user_blocked"),
        (40125, 502, "wechat_misconfigured"),
        (40164, 502, "wechat_unavailable"),
    ];
    for (errcode, status, code) in cases {
        app.mock.force_error("jscode2session", errcode, 1);
        let login = app.wx_code(None).await;
        let (got, body) = app.login_with_code(&login).await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "errcode {errcode}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn rate_limited_login_says_when_to_retry() {
    let app = TestApp::spawn().await;
    app.mock.force_error("jscode2session", 45011, 1);
    let code = app.wx_code(None).await;
    let res = app
        .http
        .post(app.url("/api/v1/auth/wechat/login"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 429);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("60")
    );
    app.stop().await;
}

#[tokio::test]
async fn busy_wechat_is_retried_once() {
    let app = TestApp::spawn().await;
    // Busy once: the retry succeeds.
    app.mock.force_error("jscode2session", -1, 1);
    let code = app.wx_code(None).await;
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.mock.calls("jscode2session"), 2);

    // Busy twice: one retry, then 503.
    app.mock.force_error("jscode2session", -1, 2);
    let code = app.wx_code(None).await;
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "wechat_busy");
    assert_eq!(app.mock.calls("jscode2session"), 4);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_first_logins_make_one_account() {
    let app = TestApp::spawn().await;
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(app.wx_code(Some("o_concurrent_first_login")).await);
    }
    let logins = codes.iter().map(|c| app.login_with_code(c));
    let results = futures_util::future::join_all(logins).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["user"]["id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    app.stop().await;
}

async fn set_unionid(app: &TestApp, enabled: bool) {
    let (status, body) = app
        .post_json(
            "/wechat-mock/mock/unionid",
            &json!({ "enabled": enabled }),
            None,
        )
        .await;
    assert_eq!(status, 204, "mock/unionid: {body}");
}

#[tokio::test]
async fn item17_login_works_with_and_without_a_unionid_and_finds_the_account_by_openid() {
    let app = TestApp::spawn().await;
    // Not bound to an open-platform account: code2session carries no unionid.
    set_unionid(&app, false).await;
    let code = app.wx_code(Some("o_item17_unbound")).await;
    let (status, first) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["user"]["wechat_unionid_bound"], false);
    let token = first["token"].as_str().unwrap_or_default();
    let (status, me) = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["wechat_unionid_bound"], false);
    let user_id = uuid::Uuid::parse_str(me["id"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("user id: {e}"));
    let unbound = huigong_store::users::find(&app.state.db, user_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no account"));
    assert_eq!(unbound.wechat_openid.as_deref(), Some("o_item17_unbound"));
    assert_eq!(unbound.wechat_unionid, None);

    // A second unbound login is the same account (found by openid).
    let code = app.wx_code(Some("o_item17_unbound")).await;
    let (status, again) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["user"]["id"], first["user"]["id"]);

    // Once the mini program is bound, the same account gains its unionid.
    set_unionid(&app, true).await;
    let code = app.wx_code(Some("o_item17_unbound")).await;
    let (status, bound) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{bound}");
    assert_eq!(bound["user"]["id"], first["user"]["id"]);
    assert_eq!(bound["user"]["wechat_unionid_bound"], true);
    let stored = huigong_store::users::find(&app.state.db, user_id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no account"));
    assert_eq!(
        stored.wechat_unionid.as_deref(),
        Some(app.mock.unionid_for("o_item17_unbound").as_str())
    );

    // A user created while bound still logs in after the binding is gone.
    let code = app.wx_code(Some("o_item17_bound_first")).await;
    let (status, made_bound) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{made_bound}");
    assert_eq!(made_bound["user"]["wechat_unionid_bound"], true);
    set_unionid(&app, false).await;
    let code = app.wx_code(Some("o_item17_bound_first")).await;
    let (status, later) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{later}");
    assert_eq!(later["user"]["id"], made_bound["user"]["id"]);
    let token = later["token"].as_str().unwrap_or_default();
    assert_eq!(app.get("/api/v1/me", Some(token)).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn item17_the_mock_switch_comes_from_configuration_too() {
    let app = TestApp::spawn_with(|s| s.wechat.mock_unionid = false).await;
    assert!(!app.mock.unionid_enabled());
    let code = app.wx_code(Some("o_item17_config")).await;
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["wechat_unionid_bound"], false);
    app.stop().await;
}
