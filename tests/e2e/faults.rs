//! WeChat faults one instance shows (the multi-instance faults are `tests/faults.sh`'s): a
//! WeChat that does not answer in time is a clean 502 with its code, and the next login works.

use crate::helpers::TestApp;

#[tokio::test]
async fn a_wechat_that_times_out_is_a_clean_502_and_the_next_login_works() {
    let app = TestApp::spawn_with(|s| s.wechat.timeout_ms = 300).await;
    // The mock's control (`POST /mock/delay`): the next code2session answers after 1.5 s.
    let (status, _) = app
        .post_json(
            "/wechat-mock/mock/delay",
            &serde_json::json!({"api": "jscode2session", "ms": 1500, "times": 1}),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let code = app.wx_code(Some("o_wechat_timeout")).await;
    let (status, body) = app.login_with_code(&code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("wechat_unavailable")),
        "{body}"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    // Nothing is stuck: the next attempt, with a new code, logs in.
    app.login("o_wechat_timeout").await;
    app.stop().await;
}
