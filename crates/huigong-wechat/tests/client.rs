//! The WeChat client against the mock on its own port: every errcode the client types.

use huigong_core::Secret;
use huigong_wechat::{WechatClient, WechatConfig, WechatError};
use miniprogram_stub::{MockConfig, MockServer};
use std::time::Duration;

const APPID: &str = "wx-client-test";
const SECRET: &str = "client-test-secret-value";

fn mock() -> MockServer {
    MockServer::start(
        MockConfig {
            appid: APPID.into(),
            secret: SECRET.into(),
        },
        "127.0.0.1:0",
    )
    .unwrap_or_else(|e| panic!("mock: {e}"))
}

fn client_for(base_url: &str, appid: &str, secret: &str) -> WechatClient {
    WechatClient::new(WechatConfig {
        base_url: base_url.into(),
        appid: appid.into(),
        secret: Secret::new(secret),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    })
    .unwrap_or_else(|e| panic!("client: {e}"))
}

fn client(server: &MockServer) -> WechatClient {
    client_for(&server.base_url, APPID, SECRET)
}

#[tokio::test]
async fn a_fresh_code_gives_a_stable_openid_and_a_new_session_key() {
    let server = mock();
    let c = client(&server);
    let first = c
        .code2session(&server.mock.issue_code(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let second = c
        .code2session(&server.mock.issue_code(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.openid, second.openid);
    assert_eq!(first.openid, server.mock.default_openid());
    assert_eq!(first.openid.len(), 28);
    assert_eq!(
        first.unionid.as_deref(),
        Some(server.mock.unionid_for(&first.openid).as_str())
    );
    assert_ne!(first.session_key.expose(), second.session_key.expose());
    // The key never shows in Debug output.
    assert!(!format!("{first:?}").contains(first.session_key.expose()));
    server.stop().await;
}

#[tokio::test]
async fn a_given_openid_is_returned_as_is() {
    let server = mock();
    let got = client(&server)
        .code2session(&server.mock.issue_code(Some("o_chosen_by_test")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.openid, "o_chosen_by_test");
    server.stop().await;
}

#[tokio::test]
async fn invented_code_is_40029() {
    let server = mock();
    let err = client(&server).code2session("nonexistent").await.err();
    assert!(matches!(err, Some(WechatError::InvalidCode)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn reused_code_is_40163() {
    let server = mock();
    let c = client(&server);
    let code = server.mock.issue_code(None);
    assert!(c.code2session(&code).await.is_ok());
    let err = c.code2session(&code).await.err();
    assert!(matches!(err, Some(WechatError::CodeUsed)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn code_older_than_five_minutes_is_40029() {
    let server = mock();
    let code = server.mock.issue_code(None);
    server.mock.advance_clock(Duration::from_secs(5 * 60 + 1));
    let err = client(&server).code2session(&code).await.err();
    assert!(matches!(err, Some(WechatError::InvalidCode)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn forced_errcodes_are_typed() {
    let server = mock();
    let c = client(&server);
    type IsExpected = fn(&WechatError) -> bool;
    let cases: [(i64, IsExpected); 4] = [
        (45011, |e| matches!(e, WechatError::RateLimited)),
        (40226, |e| matches!(e, WechatError::HighRiskUser)),
        (40029, |e| matches!(e, WechatError::InvalidCode)),
        (40163, |e| matches!(e, WechatError::CodeUsed)),
    ];
    for (errcode, is_expected) in cases {
        server.mock.force_error("jscode2session", errcode, 1);
        let before = server.mock.calls("jscode2session");
        let err = c.code2session(&server.mock.issue_code(None)).await.err();
        assert!(err.as_ref().is_some_and(is_expected), "{errcode}: {err:?}");
        // None of these is retried: a code is single-use.
        assert_eq!(
            server.mock.calls("jscode2session"),
            before + 1,
            "{errcode} was retried"
        );
    }
    server.mock.force_error("jscode2session", 40164, 1);
    let err = c.code2session(&server.mock.issue_code(None)).await.err();
    assert!(
        matches!(err, Some(WechatError::Api { errcode: 40164, .. })),
        "{err:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn busy_is_retried_exactly_once() {
    let server = mock();
    let c = client(&server);
    server.mock.force_error("jscode2session", -1, 1);
    let ok = c.code2session(&server.mock.issue_code(None)).await;
    assert!(ok.is_ok(), "{:?}", ok.err());
    assert_eq!(server.mock.calls("jscode2session"), 2);

    server.mock.force_error("jscode2session", -1, 2);
    let err = c.code2session(&server.mock.issue_code(None)).await.err();
    assert!(matches!(err, Some(WechatError::Busy)), "{err:?}");
    assert_eq!(server.mock.calls("jscode2session"), 4);
    server.stop().await;
}

#[tokio::test]
async fn wrong_credentials_are_reported_as_ours() {
    let server = mock();
    let bad_secret = client_for(&server.base_url, APPID, "wrong-secret");
    let err = bad_secret
        .code2session(&server.mock.issue_code(None))
        .await
        .err();
    assert!(
        matches!(err, Some(WechatError::BadCredentials { errcode: 40125 })),
        "{err:?}"
    );
    let bad_appid = client_for(&server.base_url, "wx-other", SECRET);
    let err = bad_appid
        .code2session(&server.mock.issue_code(None))
        .await
        .err();
    assert!(
        matches!(err, Some(WechatError::BadCredentials { errcode: 40013 })),
        "{err:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn more_than_100_calls_a_minute_for_one_user_is_45011() {
    let server = mock();
    let c = client(&server);
    for i in 0..100 {
        let r = c
            .code2session(&server.mock.issue_code(Some("o_busy_user")))
            .await;
        assert!(r.is_ok(), "call {i}: {:?}", r.err());
    }
    let err = c
        .code2session(&server.mock.issue_code(Some("o_busy_user")))
        .await
        .err();
    assert!(matches!(err, Some(WechatError::RateLimited)), "{err:?}");
    // Another user is not affected, and the limit resets the next minute.
    assert!(
        c.code2session(&server.mock.issue_code(Some("o_calm_user")))
            .await
            .is_ok()
    );
    server.mock.advance_clock(Duration::from_secs(60));
    assert!(
        c.code2session(&server.mock.issue_code(Some("o_busy_user")))
            .await
            .is_ok()
    );
    server.stop().await;
}

#[tokio::test]
async fn unreachable_wechat_is_a_transport_error_without_the_secret() {
    // Port 9 (discard) is closed on loopback: the connection is refused at once.
    let c = client_for("http://127.0.0.1:9", APPID, SECRET);
    let err = c.code2session("any").await.err();
    let Some(WechatError::Transport(message)) = &err else {
        panic!("expected a transport error, got {err:?}");
    };
    assert!(!message.contains(SECRET), "{message}");
    assert!(!format!("{err:?}").contains(SECRET));
}
