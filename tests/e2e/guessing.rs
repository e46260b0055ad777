//! Guess limits that must hold under concurrency and behind a load balancer (issue 13, items 8
//! and 9): activation previews, password and two-factor login.

use crate::helpers::TestApp;
use crate::unions::{World, created, id_number, member, world};
use futures_util::future::join_all;
use serde_json::{Value, json};

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

const PASSWORD: &str = "Union-Admin-2026";

async fn login_from(
    app: &TestApp,
    username: &str,
    password: &str,
    xff: Option<&str>,
) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/api/v1/auth/password/login"))
        .json(&json!({"username": username, "password": password}));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    crate::helpers::send(req).await
}

/// An administrator account with [`PASSWORD`], made directly in the store.
async fn admin_account(app: &TestApp, username: &str) {
    let hash = huigong_api::password::hash_blocking(PASSWORD).unwrap_or_else(|e| panic!("{e}"));
    huigong_store::users::create_account(
        &app.state.db.conn,
        huigong_store::users::NewAccount {
            role: huigong_core::Role::GrassrootsAdmin,
            username: Some(username),
            password_hash: Some(hash),
            org_id: Some(crate::helpers::county_org()),
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("create account: {e}"));
}

#[tokio::test]
async fn item9_twenty_concurrent_wrong_passwords_get_only_five_checked() {
    let app = TestApp::spawn().await;
    admin_account(&app, "burst_admin").await;
    let guesses: Vec<String> = (0..20).map(|n| format!("Wrong-Pass-{n:04}")).collect();
    let answers: Vec<(u16, Value)> = join_all(
        guesses
            .iter()
            .map(|g| login_from(&app, "burst_admin", g, None)),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(tally(&statuses, 401), 5, "checked: {statuses:?}");
    assert_eq!(tally(&statuses, 429), 15, "{statuses:?}");
    // Now even the right password waits, from this address.
    let (status, body) = login_from(&app, "burst_admin", PASSWORD, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn item9_unknown_usernames_are_answered_exactly_like_known_ones_locks_included() {
    let app = TestApp::spawn().await;
    admin_account(&app, "known_admin").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..7 {
        known.push(login_from(&app, "known_admin", "Wrong-Password-1", None).await);
        unknown.push(login_from(&app, "unknown_admin", "Wrong-Password-1", None).await);
    }
    assert_eq!(known, unknown, "the answers tell which username exists");
    assert_eq!(known[4].0, 401);
    assert_eq!(
        (known[5].0, known[5].1["code"].as_str()),
        (429, Some("account_locked"))
    );
    // (Both go through Argon2: unknown usernames verify against a dummy hash, which
    // `password::verify_off_thread` keeps; timing is never asserted in tests.)
    app.stop().await;
}

#[tokio::test]
async fn item9_a_lock_from_one_address_does_not_lock_the_owner_out_from_another() {
    let app = TestApp::spawn_with(|s| s.server.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    admin_account(&app, "victim_admin").await;
    let attacker = Some("203.0.113.66");
    for n in 0..5 {
        let (status, _) =
            login_from(&app, "victim_admin", &format!("Guess-{n}-Abcdef"), attacker).await;
        assert_eq!(status, 401);
    }
    let (status, body) = login_from(&app, "victim_admin", PASSWORD, attacker).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| !m.contains("victim"))
    );
    // The owner, from its own address, logs in.
    let (status, body) = login_from(&app, "victim_admin", PASSWORD, Some("198.51.100.7")).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn item9_one_address_guessing_across_usernames_is_limited_separately() {
    let app = TestApp::spawn_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.auth.max_failed_logins_per_address = 8;
    })
    .await;
    admin_account(&app, "spray_target").await;
    let sprayer = Some("203.0.113.77");
    for n in 0..8 {
        let (status, body) =
            login_from(&app, &format!("spray_{n}"), "Spray-Password-1", sprayer).await;
        assert_eq!(status, 401, "{n}: {body}");
    }
    let (status, body) = login_from(&app, "spray_target", PASSWORD, sprayer).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts")),
        "{body}"
    );
    // Other addresses are not affected; successes do not count against an address.
    for _ in 0..10 {
        let (status, body) = login_from(&app, "spray_target", PASSWORD, Some("198.51.100.8")).await;
        assert_eq!(status, 200, "{body}");
    }
    app.stop().await;
}
