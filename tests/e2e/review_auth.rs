//! Findings of the security review of issue 13 about addresses, guessing, keys and sessions
//! (review items 3, 8, 9, 10 and 11; item 2 is checked on the deploy files in
//! `crates/huigong-server/tests/cli.rs`).

use crate::helpers::{TestApp, send};
use crate::unions::{PASSWORD, created, id_number, member, world};
use futures_util::future::join_all;
use huigong_server::startup::Application;
use serde_json::{Value, json};

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

/// A preview whose ID number is malformed: counted for the address only (400).
async fn bad_preview(app: &TestApp, token: &str, xff: &str) -> u16 {
    preview(app, token, "王五", "not-an-id-number", Some(xff)).await
}

async fn login_from(app: &TestApp, username: &str, password: &str, xff: &str) -> (u16, Value) {
    send(
        app.http
            .post(app.url("/api/v1/auth/password/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({"username": username, "password": password})),
    )
    .await
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

async fn my_id(app: &TestApp, token: &str) -> uuid::Uuid {
    let (status, me) = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    me["id"]
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("no id: {me}"))
}

#[tokio::test]
async fn item8_the_addresses_of_one_ipv6_64_share_one_count() {
    let app = TestApp::spawn_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.card.max_previews_per_ip_per_hour = 2;
    })
    .await;
    let token = app.login("ipv6-rotator").await;
    // One subscriber's /64: a new address for every request changes nothing.
    assert_eq!(bad_preview(&app, &token, "2001:db8:1:2::1").await, 400);
    assert_eq!(bad_preview(&app, &token, "2001:db8:1:2:aaaa::9").await, 400);
    assert_eq!(bad_preview(&app, &token, "2001:db8:1:2:ffff::7").await, 429);
    // The next /64 is another client.
    assert_eq!(bad_preview(&app, &token, "2001:db8:1:3::1").await, 400);
    // An IPv4-mapped address is its IPv4 address.
    assert_eq!(bad_preview(&app, &token, "203.0.113.50").await, 400);
    assert_eq!(bad_preview(&app, &token, "::ffff:203.0.113.50").await, 400);
    assert_eq!(bad_preview(&app, &token, "203.0.113.50").await, 429);
    app.stop().await;
}

#[tokio::test]
async fn item9_one_username_guessed_from_many_addresses_locks_all_but_the_owners_addresses() {
    let app = TestApp::spawn_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.auth.max_failed_logins_per_account = 6;
    })
    .await;
    admin_account(&app, "spread_target").await;
    // The owner has logged in from its office before.
    let office = "198.51.100.20";
    let (status, body) = login_from(&app, "spread_target", PASSWORD, office).await;
    assert_eq!(status, 200, "{body}");

    // A botnet: one guess per address, for the real account and for one that does not exist.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for n in 1..=8 {
        known.push(
            login_from(
                &app,
                "spread_target",
                "Botnet-Guess-1",
                &format!("203.0.113.{n}"),
            )
            .await,
        );
        unknown.push(
            login_from(
                &app,
                "spread_ghost",
                "Botnet-Guess-1",
                &format!("192.0.2.{n}"),
            )
            .await,
        );
    }
    assert_eq!(known, unknown, "the answers tell which username exists");
    let statuses: Vec<u16> = known.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 429, 429]);
    assert_eq!(known[6].1["code"], "account_locked", "{}", known[6].1);
    // Even the right password from an address the account has never used waits.
    let (status, body) = login_from(&app, "spread_target", PASSWORD, "203.0.113.99").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked"))
    );
    // The owner, from an address it logged in from before, is not locked out.
    let (status, body) = login_from(&app, "spread_target", PASSWORD, office).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn item8_successful_previews_are_capped_per_account_per_day_even_in_a_burst() {
    let w = world().await;
    let (name, id) = ("张三丰", id_number("19900101", 1));
    created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_a),
        &member(name, &id, "男"),
        &w.county_token,
    )
    .await;
    // Stand-ins for ten different members: a stranger with a list of (name, ID) pairs.
    let stranger = w.app.login("pair-holder").await;
    let statuses: Vec<u16> =
        join_all((0..14).map(|_| preview(&w.app, &stranger, name, &id, None))).await;
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 429)),
        "{statuses:?}"
    );
    let mut found = statuses.iter().filter(|s| **s == 200).count();
    assert!(found <= 10, "{statuses:?}");
    // One at a time, the rest of the day's ten (the default `card.max_previews_per_day`).
    for _ in 0..12 {
        match preview(&w.app, &stranger, name, &id, None).await {
            200 => found += 1,
            429 => break,
            other => panic!("preview answered {other}"),
        }
    }
    assert_eq!(found, 10, "successful previews in a day");
    let (status, body) = send(
        w.app
            .http
            .post(w.app.url("/api/v1/card/activation/preview"))
            .bearer_auth(&stranger)
            .json(&json!({"name": name, "id_number": id})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    // Another account has its own day.
    let other = w.app.login("pair-holder-2").await;
    assert_eq!(preview(&w.app, &other, name, &id, None).await, 200);
    w.app.stop().await;
}

#[tokio::test]
async fn item8_an_ipv4_mapped_trusted_proxy_block_works_and_panics_nothing() {
    let app = TestApp::spawn_with(|s| {
        s.server.trusted_proxies = vec!["::ffff:127.0.0.0/104".into()];
        s.card.max_previews_per_ip_per_hour = 1;
    })
    .await;
    let token = app.login("mapped-proxy").await;
    // The balancer (127.0.0.1) is trusted as 127.0.0.0/8: the header names the client.
    assert_eq!(bad_preview(&app, &token, "203.0.113.61").await, 400);
    assert_eq!(bad_preview(&app, &token, "203.0.113.61").await, 429);
    assert_eq!(bad_preview(&app, &token, "203.0.113.62").await, 400);
    // A mapped block of less than /96 is refused at start, with the reason.
    let mut settings = app.settings.clone();
    settings.server.trusted_proxies = vec!["::ffff:10.0.0.0/64".into()];
    let err = match Application::build(settings).await {
        Ok(_) => String::from("started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("server.trusted_proxies") && err.contains("96"),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test]
async fn item10_a_disabled_admin_is_refused_even_if_its_sessions_epoch_was_lost() {
    let w = world().await;
    let id = my_id(&w.app, &w.union_a_token).await;
    let org = format!("/api/v1/admin/orgs/{}", w.union_a);
    assert_eq!(w.app.get(&org, Some(&w.union_a_token)).await.0, 200);
    // Disabled in the database while the session store kept (or lost) no newer epoch.
    huigong_store::users::set_disabled(
        &w.app.state.db.conn,
        id,
        Some(chrono::Utc::now()),
        chrono::Utc::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = w.app.get(&org, Some(&w.union_a_token)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn item10_a_lost_epoch_never_revives_sessions_a_revoke_ended() {
    let w = world().await;
    let worker = w.app.login("evicted-epoch-worker").await;
    let worker_id = my_id(&w.app, &worker).await;
    let admin_id = my_id(&w.app, &w.union_a_token).await;
    for (id, token) in [(worker_id, &worker), (admin_id, &w.union_a_token)] {
        w.app
            .state
            .sessions
            .revoke_all(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.app.get("/api/v1/me", Some(token)).await.0, 401);
        // Redis evicts (or loses) the account's epoch.
        w.app
            .state
            .sessions
            .store()
            .delete(&format!("user:epoch:{id}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.app.get("/api/v1/me", Some(token)).await.0, 401);
    }
    // The worker's hot path (no database query) stays closed too.
    assert_eq!(w.app.get("/api/v1/card", Some(&worker)).await.0, 401);
    // A new login works, and survives until the next revoke.
    let again = w.app.login("evicted-epoch-worker").await;
    assert_eq!(w.app.get("/api/v1/me", Some(&again)).await.0, 200);
    w.app.stop().await;
}

#[tokio::test]
async fn item12_a_key_id_the_database_never_recorded_refuses_to_start() {
    let app = TestApp::spawn().await;
    let material =
        huigong_server::keys::load_material(&app.settings).unwrap_or_else(|e| panic!("{e:#}"));
    let blind = material.blind_index.to_base64();

    // An instance given a key id of its own with the right blind-index key.
    let stranger = huigong_vault::KeyMaterial::generate();
    let own_key = stranger.keys_text().replacen("1:", "2:", 1);
    let mut other = app.settings.clone();
    other.vault.keys = own_key.into();
    other.vault.blind_index_key = blind.as_str().to_owned().into();
    let err = match Application::build(other).await {
        Ok(_) => String::from("started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("refusing to start")
            && err.contains("vault key id 2")
            && err.contains("huigong keys rotate"),
        "{err}"
    );

    // The database's key plus a new one: refused too, until `huigong keys rotate` records it.
    let mut grown = material.clone();
    grown.add_new_active_key();
    let mut other = app.settings.clone();
    other.vault.keys = grown.keys_text().as_str().to_owned().into();
    other.vault.blind_index_key = blind.as_str().to_owned().into();
    let err = match Application::build(other.clone()).await {
        Ok(_) => String::from("started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("vault key id 2"), "{err}");
    let rows = fingerprint_names(&app).await;
    assert_eq!(
        rows,
        ["blind_index", "encryption:1"],
        "a start recorded a key"
    );
    app.stop().await;
}

async fn fingerprint_names(app: &TestApp) -> Vec<String> {
    use sea_orm::ConnectionTrait as _;
    let rows = app
        .state
        .db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            app.state.db.conn.get_database_backend(),
            "SELECT key_name FROM vault_key_fingerprints ORDER BY key_name",
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    rows.iter()
        .map(|r| r.try_get("", "key_name").unwrap_or_default())
        .collect()
}
