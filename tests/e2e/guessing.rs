//! Guess limits that must hold under concurrency and behind a load balancer (issue 13, items 8
//! and 9): activation previews, password and two-factor login.

use crate::helpers::TestApp;
use crate::unions::{World, created, id_number, member, world};
use futures_util::future::join_all;
use serde_json::json;

const NAME: &str = "张三丰";

async fn enrol(w: &World) -> String {
    let id = id_number("19900101", 1);
    created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_a),
        &member(NAME, &id, "男"),
        &w.county_token,
    )
    .await;
    id
}

async fn preview(app: &TestApp, token: &str, name: &str, id: &str, xff: Option<&str>) -> u16 {
    let mut req = app
        .http
        .post(app.url("/api/v1/card/activation/preview"))
        .bearer_auth(token)
        .json(&json!({"name": name, "id_number": id}));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("preview: {e}"))
        .status()
        .as_u16()
}

fn tally(statuses: &[u16], of: u16) -> usize {
    statuses.iter().filter(|s| **s == of).count()
}

#[tokio::test]
async fn item8_a_burst_of_thirty_concurrent_failed_previews_gets_at_most_the_daily_limit_through() {
    let w = world().await;
    let guesser = w.app.login("burst-guesser").await;
    let ids: Vec<String> = (0..30).map(|n| id_number("19700101", 100 + n)).collect();
    let statuses: Vec<u16> = join_all(
        ids.iter()
            .map(|id| preview(&w.app, &guesser, "王五", id, None)),
    )
    .await;
    assert_eq!(
        tally(&statuses, 404) + tally(&statuses, 429),
        30,
        "{statuses:?}"
    );
    assert_eq!(tally(&statuses, 404), 5, "looked up: {statuses:?}");
    // And the day stays closed.
    let status = preview(&w.app, &guesser, "王五", &id_number("19700101", 200), None).await;
    assert_eq!(status, 429);
    w.app.stop().await;
}

#[tokio::test]
async fn item8_a_preview_that_finds_its_member_does_not_use_up_the_failure_budget() {
    let w = world().await;
    let id = enrol(&w).await;
    let worker = w.app.login("budget-worker").await;
    for n in 0..4 {
        let status = preview(
            &w.app,
            &worker,
            "王五",
            &id_number("19700101", 300 + n),
            None,
        )
        .await;
        assert_eq!(status, 404, "failure {n}");
    }
    // Concurrent successful previews each reserve an attempt and give it back.
    let statuses: Vec<u16> =
        join_all((0..3).map(|_| preview(&w.app, &worker, NAME, &id, None))).await;
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 429)),
        "{statuses:?}"
    );
    for _ in 0..3 {
        assert_eq!(preview(&w.app, &worker, NAME, &id, None).await, 200);
    }
    // The fifth failure is still allowed; the sixth is not.
    let status = preview(&w.app, &worker, "王五", &id_number("19700101", 310), None).await;
    assert_eq!(status, 404);
    let status = preview(&w.app, &worker, "王五", &id_number("19700101", 311), None).await;
    assert_eq!(status, 429);
    w.app.stop().await;
}

/// A preview whose ID number is malformed: it counts for the address (400), not the account.
async fn bad_preview(app: &TestApp, token: &str, xff: Option<&str>) -> u16 {
    preview(app, token, "王五", "not-an-id-number", xff).await
}

#[tokio::test]
async fn item8_forwarded_for_names_the_client_only_through_a_trusted_proxy() {
    // The test client reaches the service from 127.0.0.1: here that is the load balancer.
    let app = TestApp::spawn_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.card.max_previews_per_ip_per_hour = 2;
    })
    .await;
    let token = app.login("behind-the-balancer").await;
    // One client; what it forged to the left of the balancer's entry changes nothing.
    assert_eq!(
        bad_preview(&app, &token, Some("198.51.100.1, 203.0.113.7")).await,
        400
    );
    assert_eq!(
        bad_preview(&app, &token, Some("198.51.100.2, 203.0.113.7")).await,
        400
    );
    assert_eq!(
        bad_preview(&app, &token, Some("198.51.100.3, 203.0.113.7")).await,
        429
    );
    assert_eq!(bad_preview(&app, &token, Some("203.0.113.7")).await, 429);
    // Another client behind the same balancer has its own count (before: all shared one).
    assert_eq!(bad_preview(&app, &token, Some("203.0.113.8")).await, 400);
    // A chain of trusted proxies is skipped from the right.
    assert_eq!(
        bad_preview(&app, &token, Some("203.0.113.8, 127.0.0.1")).await,
        400
    );
    assert_eq!(bad_preview(&app, &token, Some("203.0.113.8")).await, 429);
    app.stop().await;

    // Without trusted proxies the header is ignored: rotating it does not dodge the limit.
    let app = TestApp::spawn_with(|s| s.card.max_previews_per_ip_per_hour = 2).await;
    assert!(app.settings.server.trusted_proxies.is_empty());
    let token = app.login("direct-client").await;
    let statuses = [
        bad_preview(&app, &token, Some("203.0.113.1")).await,
        bad_preview(&app, &token, Some("203.0.113.2")).await,
        bad_preview(&app, &token, Some("203.0.113.3")).await,
    ];
    assert_eq!(statuses, [400, 400, 429]);
    app.stop().await;
}
