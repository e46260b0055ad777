//! The API's contract: error shape, limits, OpenAPI document.

use crate::helpers::{TestApp, send};

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/nothing-here", "/", "/api/v2/me"] {
        let (status, body) = app.get(path, None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["code"], "not_found", "{path}: {body}");
        assert!(body["message"].is_string());
    }
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_is_a_json_400() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/wechat/login"))
            .header("content-type", content_type)
            .body(body)
    };
    let (status, body) = send(post("{\"code\": ", "application/json")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );

    let (status, body) = send(post("{}", "application/json")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field")),
        "{body}"
    );
    assert_eq!(body["field"], "code");

    let (status, body) = send(post("{\"code\": 12345}", "application/json")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_field")),
        "{body}"
    );
    assert!(
        !body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("12345")
    );

    let (status, body) = send(post("code=abc", "application/x-www-form-urlencoded")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    // The smallest limit the service accepts (an application with the largest signature).
    let limit = huigong_api::routes::applications::MIN_BODY_LIMIT;
    let app = TestApp::spawn_with(|s| s.server.body_limit_bytes = limit).await;
    let big = format!("{{\"code\": \"{}\"}}", "a".repeat(limit));
    let (status, body) = send(
        app.http
            .post(app.url("/api/v1/auth/wechat/login"))
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/api/v1/auth/wechat/login", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/admin/audit", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    let res = app
        .http
        .get(app.url("/api/docs"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap_or_default();
    assert!(html.contains("<html"), "docs page is not HTML");
    app.stop().await;
}

#[tokio::test]
async fn mock_routes_exist_only_in_mock_mode() {
    let mock = TestApp::spawn().await;
    let (status, body) = mock
        .post_json("/wechat-mock/wx/login", &serde_json::json!({}), None)
        .await;
    assert_eq!(status, 200, "{body}");
    mock.stop().await;

    let live = TestApp::spawn_with(|s| {
        s.wechat.mode = huigong_server::settings::WechatMode::Live;
        s.wechat.base_url = "http://127.0.0.1:9".into();
    })
    .await;
    for path in ["/wechat-mock/wx/login", "/wechat-mock/mock/clock/advance"] {
        let (status, body) = live.post_json(path, &serde_json::json!({}), None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, _) = live.get("/wechat-mock/sns/jscode2session", None).await;
    assert_eq!(status, 404);
    live.stop().await;
}

#[tokio::test]
async fn item18_query_string_and_path_errors_answer_json_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.token_for(huigong_core::Role::CountyAdmin).await;
    let org = crate::helpers::county_org();
    let res = app
        .http
        .post(app.url(&format!(
            "/api/v1/admin/orgs/{org}/roster/import?commit=maybe"
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 400);
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_eq!(body["code"], "invalid_field", "{body}");
    assert_eq!(body["field"], "commit", "{body}");
    assert!(
        !body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("maybe")
    );

    // A malformed id in the path names nothing: a JSON 404, not actix's text.
    let (status, body) = app
        .get("/api/v1/admin/members/not-a-uuid", Some(&admin))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    app.stop().await;
}
