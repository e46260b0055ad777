//! `GET /metrics` (issue 17): Prometheus text on a listen address of its own, off by default,
//! labelled by route pattern, never by a path's ids or a person's data.

use crate::helpers::{TestApp, county_org};
use crate::roster::{clerk_roster, row, upload_to};
use crate::unions::id_number;
use huigong_core::Role;
use serde_json::json;

async fn scrape(app: &TestApp) -> String {
    let port = app
        .metrics_port
        .unwrap_or_else(|| panic!("metrics.port was set but no listener"));
    let res = app
        .http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("scrape: {e}"));
    assert_eq!(res.status(), 200, "scrape");
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    res.text().await.unwrap_or_default()
}

/// The value of the sample `name{…}` whose labels include every one of `labels`, summed over
/// the series that match (0 when none does).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every label value of every sample.
fn label_values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut rest = line;
        while let Some(at) = rest.find("=\"") {
            let key_start = rest[..at]
                .rfind(['{', ','])
                .map(|i| i + 1)
                .unwrap_or_default();
            let key = rest[key_start..at].to_owned();
            let tail = &rest[at + 2..];
            let end = tail.find('"').unwrap_or(tail.len());
            out.push((key, tail[..end].to_owned()));
            rest = &tail[end..];
        }
    }
    out
}

#[tokio::test]
async fn metrics_are_off_by_default_and_never_on_the_public_port() {
    let app = TestApp::spawn().await;
    assert_eq!(app.settings.metrics.port, None, "off by default");
    assert_eq!(app.metrics_port, None, "no metrics listener by default");
    let (status, body) = app.get("/metrics", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_without_ids_or_personal_data() {
    let app = TestApp::spawn_with(|s| s.metrics.port = Some(0)).await;
    let port = app.metrics_port.unwrap_or_default();
    assert!(port != 0 && port != app.settings.server.port);

    // The public port never answers /metrics, also while the metrics listener runs.
    let (status, _) = app.get("/metrics", None).await;
    assert_eq!(status, 404);

    let member_route = [("route", "/api/v1/admin/members/{id}"), ("status", "404")];
    let before = scrape(&app).await;
    let (_, token) = app.token_for(Role::CountyAdmin).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let (status, _) = app
        .get(&format!("/api/v1/admin/members/{missing}"), Some(&token))
        .await;
    assert_eq!(status, 404);
    let stray = format!("/no-such-page/{}", uuid::Uuid::now_v7().simple());
    assert_eq!(app.get(&stray, None).await.0, 404);

    // A worker's login (code2session answers), then the same code again (WeChat's 40163).
    let openid = format!("o_metrics_{}", uuid::Uuid::now_v7().simple());
    let code = app.wx_code(Some(&openid)).await;
    assert_eq!(app.login_with_code(&code).await.0, 200);
    assert_ne!(app.login_with_code(&code).await.0, 200);

    // A roster dry run with a person's name, ID number and mobile in it.
    let (_, district) = app
        .post_json(
            "/api/v1/admin/orgs",
            &json!({"parent_id": county_org(), "level": "district", "name": "画溪街道总工会"}),
            Some(&token),
        )
        .await;
    let district = district["id"].as_str().unwrap_or_default().to_owned();
    let (status, union) = app
        .post_json("/api/v1/admin/orgs", &json!({
            "parent_id": district, "level": "grassroots", "name": "丙公司工会", "unit_name": "丙公司",
            "unit_code": "91350100M000100Y43", "unit_nature": "私营经济", "unit_address": "长兴县",
            "employee_count": 50, "founded_on": "2010-01-01", "union_type": "单建",
            "member_count": 30, "leader_name": "王主席", "phone": "0572-6022447"}), Some(&token))
        .await;
    assert_eq!(status, 201, "{union}");
    let union = union["id"].as_str().unwrap_or_default().to_owned();
    let person_id = id_number("19900101", 417);
    let workbook = clerk_roster(&[row("钱多多", &person_id, "男")], |_| {});
    let (status, report) = upload_to(
        &app,
        &token,
        &format!("/api/v1/admin/orgs/{union}/roster/import?commit=false"),
        workbook,
    )
    .await;
    assert_eq!(status, 200, "{report}");

    let text = scrape(&app).await;
    // The request counter of the route pattern just called went up.
    let (was, now) = (
        sample(&before, "huigong_http_requests_total", &member_route),
        sample(&text, "huigong_http_requests_total", &member_route),
    );
    assert!(now >= was + 1.0, "requests_total {was} -> {now}\n{text}");
    assert!(
        sample(
            &text,
            "huigong_http_request_duration_seconds_count",
            &[("route", "/api/v1/admin/members/{id}")]
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "huigong_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 1.0
    );
    // WeChat's answers by API and errcode.
    let code2session = [("api", "/sns/jscode2session")];
    assert!(
        sample(
            &text,
            "huigong_wechat_calls_total",
            &[code2session[0], ("outcome", "ok")]
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "huigong_wechat_calls_total",
            &[code2session[0], ("errcode", "40163")]
        ) >= 1.0,
        "{text}"
    );
    // The import's duration, the pool and the outbox backlog.
    assert!(
        sample(
            &text,
            "huigong_import_duration_seconds_count",
            &[("kind", "roster"), ("mode", "dry_run"), ("outcome", "done")]
        ) >= 1.0,
        "{text}"
    );
    assert!(sample(&text, "huigong_db_pool_max_connections", &[]) >= 1.0);
    assert!(text.contains("huigong_db_pool_connections{state=\"in_use\"}"));
    assert!(text.contains("\nhuigong_outbox_pending "), "{text}");

    // Label values: route patterns and fixed words, never an id, a path, a token or a person.
    let values = label_values(&text);
    assert!(values.iter().any(|(k, _)| k == "route"));
    for (key, value) in &values {
        for secret in [
            missing.as_str(),
            stray.as_str(),
            openid.as_str(),
            person_id.as_str(),
            "钱多多",
            "13957200001",
            union.as_str(),
            token.as_str(),
        ] {
            assert!(!value.contains(secret), "{key}={value:?} holds {secret:?}");
        }
        if key == "route" {
            assert!(
                value == "unmatched" || value.starts_with('/'),
                "route label {value:?}"
            );
        }
    }

    // The metrics listener serves /metrics and nothing else.
    let other = app
        .http
        .get(format!("http://127.0.0.1:{port}/api/v1/card"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_default();
    assert_eq!(other, 404);
    app.stop().await;
}
