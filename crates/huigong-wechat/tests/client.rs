//! The WeChat client against the mock on its own port: every errcode the client types.

use async_trait::async_trait;
use huigong_core::Secret;
use huigong_wechat::{
    CacheError, LocalTokenCache, MiniprogramState, SubscribeMessage, TokenCache, WechatClient,
    WechatConfig, WechatError,
};
use miniprogram_stub::{MockConfig, MockServer};
use std::sync::Arc;
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

// ---- access token -------------------------------------------------------------------------

#[tokio::test]
async fn stable_token_normal_mode_repeats_the_token_in_force() {
    let server = mock();
    let c = client(&server);
    let first = c
        .stable_token(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.expires_in, 7200);
    server.mock.advance_clock(Duration::from_secs(1000));
    let again = c
        .stable_token(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.access_token.expose(), first.access_token.expose());
    // The remaining lifetime (whole seconds, truncated).
    assert!(
        (6199..=6200).contains(&again.expires_in),
        "{}",
        again.expires_in
    );
    assert_eq!(server.mock.access_tokens_issued(), 1);
    // The token never shows in Debug output.
    assert!(!format!("{again:?}").contains(first.access_token.expose()));
    server.stop().await;
}

#[tokio::test]
async fn stable_token_rolls_over_in_the_last_five_minutes_and_the_old_one_keeps_working() {
    let server = mock();
    let c = client(&server);
    let old = c
        .stable_token(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    server.mock.advance_clock(Duration::from_secs(7200 - 200));
    let new = c
        .stable_token(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(new.access_token.expose(), old.access_token.expose());
    assert_eq!(new.expires_in, 7200);
    assert!(server.mock.access_token_valid(old.access_token.expose()));
    server.mock.advance_clock(Duration::from_secs(201));
    assert!(!server.mock.access_token_valid(old.access_token.expose()));
    assert!(server.mock.access_token_valid(new.access_token.expose()));
    server.stop().await;
}

#[tokio::test]
async fn force_refresh_ends_the_old_token_at_most_every_30_seconds_and_20_a_day() {
    let server = mock();
    let c = client(&server);
    let old = c
        .stable_token(false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let forced = c.stable_token(true).await.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(forced.access_token.expose(), old.access_token.expose());
    assert!(!server.mock.access_token_valid(old.access_token.expose()));
    // Within 30 s a second forced refresh changes nothing.
    let soon = c.stable_token(true).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(soon.access_token.expose(), forced.access_token.expose());
    for _ in 1..20 {
        server.mock.advance_clock(Duration::from_secs(31));
        assert!(c.stable_token(true).await.is_ok());
    }
    server.mock.advance_clock(Duration::from_secs(31));
    let err = c.stable_token(true).await.err();
    assert!(matches!(err, Some(WechatError::QuotaExceeded)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn stable_token_with_wrong_secret_is_ours_and_does_not_leak_it() {
    let server = mock();
    let err = client_for(&server.base_url, APPID, "wrong-secret-value")
        .access_token()
        .await
        .err();
    assert!(
        matches!(err, Some(WechatError::BadCredentials { errcode: 40125 })),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("wrong-secret-value"));
    server.stop().await;
}

#[tokio::test]
async fn two_clients_sharing_a_cache_fetch_the_token_once_under_concurrency() {
    let server = mock();
    let cache: Arc<dyn TokenCache> = Arc::new(LocalTokenCache::new());
    let a = client(&server).with_token_cache(cache.clone());
    let b = client(&server).with_token_cache(cache.clone());
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { c.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        let token = t
            .await
            .unwrap_or_else(|e| panic!("join: {e}"))
            .unwrap_or_else(|e| panic!("token: {e}"));
        tokens.push(token.expose().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "everyone got the same token");
    assert_eq!(server.mock.access_tokens_issued(), 1);
    assert_eq!(server.mock.calls("stable_token"), 1);
    server.stop().await;
}

/// A cache that is down, like Redis during an outage.
#[derive(Debug)]
struct DownCache;

#[async_trait]
impl TokenCache for DownCache {
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Err(CacheError("down".into()))
    }
    async fn set(&self, _: &str, _: &[u8], _: Duration) -> Result<(), CacheError> {
        Err(CacheError("down".into()))
    }
    async fn set_if_absent(&self, _: &str, _: &[u8], _: Duration) -> Result<bool, CacheError> {
        Err(CacheError("down".into()))
    }
    async fn delete_if_equals(&self, _: &str, _: &[u8]) -> Result<bool, CacheError> {
        Err(CacheError("down".into()))
    }
}

#[tokio::test]
async fn a_cache_outage_fetches_nothing() {
    let server = mock();
    let c = client(&server).with_token_cache(Arc::new(DownCache));
    for _ in 0..5 {
        let err = c
            .user_phone_number(
                &server.mock.issue_phone_code(None, None),
                &server.mock.default_openid(),
            )
            .await
            .err();
        assert!(matches!(err, Some(WechatError::TokenCache(_))), "{err:?}");
        assert!(err.is_some_and(|e| e.is_transient()));
    }
    assert_eq!(server.mock.calls("stable_token"), 0);
    server.stop().await;
}

#[tokio::test]
async fn an_invalidated_token_is_refreshed_once_and_the_call_retried_once() {
    let server = mock();
    let c = client(&server);
    let before = c.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    server.mock.invalidate_access_tokens();
    let phone = c
        .user_phone_number(
            &server.mock.issue_phone_code(None, Some("13812345678")),
            &server.mock.default_openid(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(phone.pure_phone_number, "13812345678");
    assert_eq!(server.mock.access_tokens_issued(), 2);
    assert_eq!(server.mock.calls("stable_token"), 2);
    assert_eq!(server.mock.calls("getuserphonenumber"), 2);
    let after = c.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(after.expose(), before.expose());

    // A token that keeps failing is not refreshed in a loop: one refresh, one retry.
    server.mock.force_error("getuserphonenumber", 40001, 2);
    let err = c
        .user_phone_number(
            &server.mock.issue_phone_code(None, None),
            &server.mock.default_openid(),
        )
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(WechatError::AccessTokenRejected { errcode: 40001 })
        ),
        "{err:?}"
    );
    assert_eq!(server.mock.calls("getuserphonenumber"), 4);
    assert!(server.mock.calls("stable_token") <= 3);
    server.stop().await;
}

#[tokio::test]
async fn a_stale_token_failing_late_does_not_drop_the_fresh_one() {
    let server = mock();
    let cache: Arc<dyn TokenCache> = Arc::new(LocalTokenCache::new());
    let a = client(&server).with_token_cache(cache.clone());
    let b = client(&server).with_token_cache(cache.clone());
    // Instance A holds T1 for a call in flight; WeChat ends it; B meets 40001 first and
    // refreshes to T2.
    let t1 = a.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    server.mock.invalidate_access_tokens();
    assert!(
        b.user_phone_number(
            &server.mock.issue_phone_code(None, None),
            &server.mock.default_openid()
        )
        .await
        .is_ok()
    );
    assert_eq!(server.mock.access_tokens_issued(), 2);
    let t2 = b.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(t1.expose(), t2.expose());
    // A's late failure of T1 must not remove T2.
    let dropped = a
        .access_tokens()
        .invalidate(&t1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!dropped);
    let cached = cache
        .get(a.access_tokens().cache_key())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cached.as_deref(), Some(t2.expose().as_bytes()));
    // And A's next call uses T2 without another fetch.
    assert!(
        a.user_phone_number(
            &server.mock.issue_phone_code(None, None),
            &server.mock.default_openid()
        )
        .await
        .is_ok()
    );
    assert_eq!(server.mock.access_tokens_issued(), 2);
    assert_eq!(server.mock.calls("stable_token"), 2);
    // Dropping the token actually cached works.
    assert!(
        a.access_tokens()
            .invalidate(&t2)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    );
    server.stop().await;
}

// ---- phone number -------------------------------------------------------------------------

#[tokio::test]
async fn phone_codes_are_single_use_and_expire_after_five_minutes() {
    let server = mock();
    let c = client(&server);
    let code = server.mock.issue_phone_code(Some("o_phone"), None);
    let phone = c
        .user_phone_number(&code, "o_phone")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        phone.pure_phone_number,
        server.mock.default_phone_for("o_phone")
    );
    assert_eq!(phone.phone_number, phone.pure_phone_number);
    assert_eq!(phone.country_code, "86");
    assert!(!format!("{phone:?}").contains(&phone.pure_phone_number));

    let err = c.user_phone_number(&code, "o_phone").await.err();
    assert!(matches!(err, Some(WechatError::InvalidCode)), "{err:?}");
    let err = c.user_phone_number("invented", "o_phone").await.err();
    assert!(matches!(err, Some(WechatError::InvalidCode)), "{err:?}");

    let old = server.mock.issue_phone_code(None, None);
    server.mock.advance_clock(Duration::from_secs(5 * 60 + 1));
    let err = c
        .user_phone_number(&old, &server.mock.default_openid())
        .await
        .err();
    assert!(matches!(err, Some(WechatError::InvalidCode)), "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_expired_access_token_is_42001_and_refreshed() {
    let server = mock();
    let cache: Arc<dyn TokenCache> = Arc::new(LocalTokenCache::new());
    let c = client(&server).with_token_cache(cache.clone());
    let t1 = c.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    // The mock's clock runs past the token's life while our cache still holds it.
    server.mock.advance_clock(Duration::from_secs(7201));
    let code = server.mock.issue_phone_code(None, None);
    assert!(
        c.user_phone_number(&code, &server.mock.default_openid())
            .await
            .is_ok()
    );
    assert_eq!(server.mock.access_tokens_issued(), 2);
    let t2 = c.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(t1.expose(), t2.expose());
    server.stop().await;
}

// ---- subscribe messages -------------------------------------------------------------------

fn message() -> SubscribeMessage {
    let mut m = SubscribeMessage::new("o_recipient", "tmpl-apply-result")
        .field("thing1", "入会申请")
        .field("phrase2", "已通过");
    m.page = Some("pages/applications/index?id=1".into());
    m.miniprogram_state = Some(MiniprogramState::Developer);
    m.lang = Some("zh_CN".into());
    m
}

#[tokio::test]
async fn a_subscribe_message_is_delivered_as_sent() {
    let server = mock();
    let c = client(&server);
    server
        .mock
        .accept_subscription("o_recipient", "tmpl-apply-result", 1);
    let msgid = c
        .send_subscribe_message(&message())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!msgid.is_empty());
    let got = server.mock.subscribe_messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["touser"], "o_recipient");
    assert_eq!(got[0]["template_id"], "tmpl-apply-result");
    assert_eq!(got[0]["page"], "pages/applications/index?id=1");
    assert_eq!(got[0]["data"]["phrase2"]["value"], "已通过");
    assert_eq!(got[0]["miniprogram_state"], "developer");
    assert_eq!(got[0]["lang"], "zh_CN");
    assert_eq!(got[0]["msgid"].to_string(), msgid);
    server.stop().await;
}

#[tokio::test]
async fn subscribe_failures_say_whether_to_try_again() {
    let server = mock();
    let c = client(&server);
    server.mock.force_error("subscribe_send", 43101, 1);
    let err = c.send_subscribe_message(&message()).await.err();
    assert!(matches!(err, Some(WechatError::UserRefused)), "{err:?}");
    assert!(err.is_some_and(|e| e.is_permanent()));

    // Busy is transient, and not retried here (a send is not idempotent).
    let before = server.mock.calls("subscribe_send");
    server.mock.force_error("subscribe_send", -1, 1);
    let err = c.send_subscribe_message(&message()).await.err();
    assert!(matches!(err, Some(WechatError::Busy)), "{err:?}");
    assert!(err.is_some_and(|e| e.is_transient()));
    assert_eq!(server.mock.calls("subscribe_send"), before + 1);

    let mut no_user = message();
    no_user.touser.clear();
    let err = c.send_subscribe_message(&no_user).await.err();
    assert!(
        matches!(err, Some(WechatError::Api { errcode: 40003, .. })),
        "{err:?}"
    );
    assert!(err.is_some_and(|e| e.is_permanent()));
    let mut no_data = message();
    no_data.data.clear();
    let err = c.send_subscribe_message(&no_data).await.err();
    assert!(
        matches!(err, Some(WechatError::Api { errcode: 47003, .. })),
        "{err:?}"
    );
    // None of the failures was recorded as delivered.
    assert!(server.mock.subscribe_messages().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_timeout_is_transient_and_the_access_token_never_shows_in_errors() {
    // A listener that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = silent.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let cache = Arc::new(LocalTokenCache::new());
    let token = "at-that-must-not-leak-1234567890";
    cache
        .set(
            &format!("wechat:access_token:{APPID}"),
            token.as_bytes(),
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let c = WechatClient::new(WechatConfig {
        base_url: format!("http://{addr}"),
        appid: APPID.into(),
        secret: Secret::new(SECRET),
        timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(300),
    })
    .unwrap_or_else(|e| panic!("{e}"))
    .with_token_cache(cache);
    let err = c.send_subscribe_message(&message()).await.err();
    assert!(
        matches!(&err, Some(WechatError::Transport(m)) if m.starts_with("timeout")),
        "{err:?}"
    );
    let text = format!(
        "{err:?} {}",
        err.as_ref().map(ToString::to_string).unwrap_or_default()
    );
    assert!(!text.contains(token), "{text}");
    assert!(err.is_some_and(|e| e.is_transient()));
    drop(silent);
}

// ---- items 15–17: WeChat as it really behaves -------------------------------------------------

#[tokio::test]
async fn item15_a_phone_code_works_only_for_the_openid_that_asked() {
    let server = mock();
    let c = client(&server);
    let code = server
        .mock
        .issue_phone_code(Some("o_owner"), Some("13812345678"));
    let err = c.user_phone_number(&code, "o_someone_else").await.err();
    assert!(matches!(err, Some(WechatError::InvalidCode)), "{err:?}");
    // The refused attempt did not use the code up.
    let info = c
        .user_phone_number(&code, "o_owner")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.pure_phone_number, "13812345678");
    server.stop().await;
}

#[tokio::test]
async fn item16_one_acceptance_allows_one_send_then_43101() {
    let server = mock();
    let c = client(&server);
    let err = c.send_subscribe_message(&message()).await.err();
    assert!(matches!(err, Some(WechatError::UserRefused)), "{err:?}");
    assert!(err.is_some_and(|e| e.is_permanent()));

    server
        .mock
        .accept_subscription("o_recipient", "tmpl-apply-result", 2);
    for _ in 0..2 {
        assert!(c.send_subscribe_message(&message()).await.is_ok());
    }
    let err = c.send_subscribe_message(&message()).await.err();
    assert!(matches!(err, Some(WechatError::UserRefused)), "{err:?}");
    // A grant is per user and per template.
    server
        .mock
        .accept_subscription("o_recipient", "another-template", 1);
    let err = c.send_subscribe_message(&message()).await.err();
    assert!(matches!(err, Some(WechatError::UserRefused)), "{err:?}");
    assert_eq!(server.mock.subscribe_messages().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn item16_empty_or_over_limit_values_are_47003_and_keep_the_grant() {
    let server = mock();
    let c = client(&server);
    server
        .mock
        .accept_subscription("o_recipient", "tmpl-apply-result", 1);
    let base = || SubscribeMessage::new("o_recipient", "tmpl-apply-result");
    for bad in [
        base().field("thing1", ""),
        base().field("thing1", "工".repeat(21)),
        base().field("phrase2", "审核结果未通过"),
        base().field("phrase2", "ok"),
        base().field("name3", "张".repeat(11)),
        base().field("number4", "1".repeat(33)),
        base().field("character_string5", "x".repeat(33)),
        base().field("letter6", "a".repeat(33)),
        base().field("time7", "昨天"),
    ] {
        let err = c.send_subscribe_message(&bad).await.err();
        assert!(
            matches!(err, Some(WechatError::Api { errcode: 47003, .. })),
            "{bad:?}: {err:?}"
        );
    }
    // None of them used the grant: a good message still goes.
    let ok = base()
        .field("thing1", "工".repeat(20))
        .field("phrase2", "已通过");
    assert!(c.send_subscribe_message(&ok).await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn item16_fitted_values_are_accepted_whatever_their_length() {
    let server = mock();
    let c = client(&server);
    let long = "长兴县经济技术开发区某某新能源科技股份有限公司😀联合工会委员会";
    for (key, value) in [
        ("thing1", long),
        ("thing1", "  \n\t "),
        ("thing1", "a\u{301}".repeat(30).as_str()),
        ("phrase2", "审核结果未通过"),
        ("name3", "欧阳张三李四王五赵六钱七"),
        ("character_string4", &"x".repeat(40)),
    ] {
        let fitted = huigong_wechat::fit_value(key, value);
        if let Some(limit) = huigong_wechat::value_limit(key) {
            assert!(fitted.chars().count() <= limit, "{key}: {fitted}");
        }
        server
            .mock
            .accept_subscription("o_recipient", "tmpl-apply-result", 1);
        let m = SubscribeMessage::new("o_recipient", "tmpl-apply-result").fitted(key, value);
        let sent = c.send_subscribe_message(&m).await;
        assert!(sent.is_ok(), "{key}={fitted:?}: {sent:?}");
    }
    let thing = huigong_wechat::fit_value("thing1", long);
    assert_eq!(thing.chars().count(), 20);
    assert!(thing.ends_with('…') && long.starts_with(thing.trim_end_matches('…')));
    server.stop().await;
}

#[tokio::test]
async fn item17_code2session_carries_a_unionid_only_while_bound() {
    let server = mock();
    let c = client(&server);
    let bound = c
        .code2session(&server.mock.issue_code(Some("o_item17")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        bound.unionid.as_deref(),
        Some(server.mock.unionid_for("o_item17").as_str())
    );
    server.mock.set_unionid(false);
    let unbound = c
        .code2session(&server.mock.issue_code(Some("o_item17")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unbound.openid, "o_item17");
    assert_eq!(unbound.unionid, None);
    server.stop().await;
}

#[tokio::test]
async fn wxacode_is_a_png_and_its_errors_are_typed_from_json() {
    use huigong_wechat::EnvVersion;
    let server = mock();
    let c = client(&server);
    let png = c
        .get_unlimited_wxacode("abc123XYZ", "pages/apply/index", 430, EnvVersion::Release)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");

    let long = "x".repeat(33);
    let e = c
        .get_unlimited_wxacode(&long, "pages/apply/index", 430, EnvVersion::Release)
        .await;
    assert!(matches!(e, Err(WechatError::InvalidScene)), "{e:?}");
    let e = c
        .get_unlimited_wxacode("abc", "/pages/apply/index", 430, EnvVersion::Release)
        .await;
    assert!(matches!(e, Err(WechatError::InvalidPage)), "{e:?}");
    server.mock.force_error("getwxacodeunlimit", 45009, 1);
    let e = c
        .get_unlimited_wxacode("abc", "pages/apply/index", 430, EnvVersion::Trial)
        .await;
    assert!(matches!(e, Err(WechatError::QuotaExceeded)), "{e:?}");
    assert_eq!(server.mock.calls("getwxacodeunlimit"), 4);
}

#[tokio::test]
async fn wxacode_with_a_rejected_token_refreshes_once_and_retries() {
    use huigong_wechat::EnvVersion;
    let server = mock();
    let c = client(&server);
    c.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    server.mock.invalidate_access_tokens();
    let png = c
        .get_unlimited_wxacode("abc", "pages/apply/index", 280, EnvVersion::Develop)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(png.starts_with(b"\x89PNG"));
    assert_eq!(server.mock.calls("getwxacodeunlimit"), 2);
    assert_eq!(server.mock.access_tokens_issued(), 2);
}
