//! The 惠工卡 over HTTP: activation (preview → confirm), one person one card, rate limits,
//! admin unbinding, the card and its live QR code, one-time redemption of QR tokens.

use crate::helpers::TestApp;
use crate::unions::{World, created, id_number, login_new_district_b, member, world};
use chrono::Utc;
use huigong_core::card_number::is_valid_card_number;
use huigong_store::audit::Actor;
use huigong_store::cards::{self, CardStatus, QrError};
use huigong_store::entity::card;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

const NAME: &str = "张三丰";

/// Adds 张三丰 to union A (through the admin API) and returns the member id and ID number.
async fn enrol(w: &World) -> (String, String) {
    let id = id_number("19900101", 1);
    let added = created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_a),
        &member(NAME, &id, "男"),
        &w.county_token,
    )
    .await;
    (added["id"].as_str().unwrap_or_default().to_owned(), id)
}

async fn preview(app: &TestApp, token: &str, name: &str, id: &str) -> (u16, Value) {
    app.post_json(
        "/api/v1/card/activation/preview",
        &json!({"name": name, "id_number": id}),
        Some(token),
    )
    .await
}

async fn confirm(app: &TestApp, token: &str, preview_id: &str) -> (u16, Value) {
    app.post_json(
        "/api/v1/card/activation/confirm",
        &json!({"preview_id": preview_id}),
        Some(token),
    )
    .await
}

/// Preview and confirm; returns the confirmation's answer.
async fn activate(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    let (status, p) = preview(app, token, NAME, id).await;
    assert_eq!(status, 200, "{p}");
    confirm(app, token, p["preview_id"].as_str().unwrap_or_default()).await
}

async fn user_id(app: &TestApp, token: &str) -> uuid::Uuid {
    let (status, me) = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    uuid::Uuid::parse_str(me["id"].as_str().unwrap_or_default()).unwrap_or_default()
}

async fn card_count(app: &TestApp) -> u64 {
    card::Entity::find()
        .count(&app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("count cards: {e}"))
}

#[tokio::test]
async fn a_rostered_worker_previews_confirms_and_sees_the_card() {
    let w = world().await;
    let (_, id) = enrol(&w).await;
    let worker = w.app.login("card-worker-1").await;

    let (status, p) = preview(&w.app, &worker, NAME, &id).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["holder"], "张**");
    assert_eq!(p["union_name"], "甲公司工会");
    assert_eq!(p["unit_name"], "长兴示范企业");
    assert!(!p.to_string().contains(&id), "no ID number in the preview");
    let preview_id = p["preview_id"].as_str().unwrap_or_default().to_owned();

    let (status, c) = confirm(&w.app, &worker, &preview_id).await;
    assert_eq!(status, 201, "{c}");
    let number = c["card_number"].as_str().unwrap_or_default().to_owned();
    assert!(is_valid_card_number(&number), "{number}");
    assert!(
        !id.contains(&number[6..15]),
        "the number is not taken from the ID number"
    );
    assert_eq!(c["status"], "active");
    assert_eq!(c["holder"], "张**");

    // A replayed confirmation is idempotent.
    let (status, again) = confirm(&w.app, &worker, &preview_id).await;
    assert_eq!((status, &again["card_number"]), (200, &c["card_number"]));

    let (status, shown) = w.app.get("/api/v1/card", Some(&worker)).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["card_number"], number.as_str());
    assert_eq!(shown["union_name"], "甲公司工会");
    assert_eq!(shown["unit_name"], "长兴示范企业");
    assert!(shown["activated_at"].is_string());
    assert_eq!(card_count(&w.app).await, 1);

    // The activation is in the audit log.
    let (status, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=card.activate",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["total"], 1, "{log}");
    assert_eq!(log["items"][0]["outcome"], "success");
    w.app.stop().await;
}

#[tokio::test]
async fn unknown_number_and_wrong_name_get_the_same_404() {
    let w = world().await;
    let (_, id) = enrol(&w).await;
    let worker = w.app.login("card-worker-2").await;

    let (status, unknown) = preview(&w.app, &worker, NAME, &id_number("19850505", 2)).await;
    assert_eq!(status, 404, "{unknown}");
    assert_eq!(unknown["code"], "not_on_roster");
    assert!(
        unknown["message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/v1/applications")),
        "{unknown}"
    );
    let (status, mismatch) = preview(&w.app, &worker, "李四", &id).await;
    assert_eq!(status, 404);
    assert_eq!(mismatch, unknown, "no oracle: the same body either way");

    let (status, bad) = preview(&w.app, &worker, NAME, "330522199001011230").await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("id_number")),
        "{bad}"
    );

    let (status, none) = w.app.get("/api/v1/card", Some(&worker)).await;
    assert_eq!((status, none["code"].as_str()), (404, Some("no_card")));
    let (status, none) = w.app.get("/api/v1/card/qr", Some(&worker)).await;
    assert_eq!((status, none["code"].as_str()), (404, Some("no_card")));
    // Only workers hold cards.
    let (status, _) = preview(&w.app, &w.county_token, NAME, &id).await;
    assert_eq!(status, 403);
    w.app.stop().await;
}

#[tokio::test]
async fn a_second_wechat_account_gets_409_until_an_admin_unbinds() {
    let w = world().await;
    let (member_id, id) = enrol(&w).await;
    let first = w.app.login("card-first-phone").await;
    let second = w.app.login("card-second-phone").await;
    let (status, c) = activate(&w.app, &first, &id).await;
    assert_eq!(status, 201, "{c}");

    let (status, p) = preview(&w.app, &second, NAME, &id).await;
    assert_eq!(status, 200, "{p}");
    let second_preview = p["preview_id"].as_str().unwrap_or_default().to_owned();
    let (status, refused) = confirm(&w.app, &second, &second_preview).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "card_bound_elsewhere");
    // A preview belongs to the account that made it.
    let (status, _) = confirm(&w.app, &first, &second_preview).await;
    assert_eq!(status, 404);

    // Outside the member's subtree the member does not exist.
    let district_b = login_new_district_b(&w).await;
    let unbind = format!("/api/v1/admin/members/{member_id}/card/unbind");
    let (status, out) = w
        .app
        .post_json(&unbind, &json!({}), Some(&district_b))
        .await;
    assert_eq!(
        (status, out["code"].as_str()),
        (404, Some("not_found")),
        "{out}"
    );
    // The member's own union unbinds it.
    let (status, out) = w
        .app
        .post_json(&unbind, &json!({}), Some(&w.union_a_token))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["bound"], false);
    assert_eq!(out["card_number"], c["card_number"]);
    let (status, _) = w.app.get("/api/v1/card", Some(&first)).await;
    assert_eq!(status, 404, "the old account no longer holds the card");

    // The new phone now activates the same card.
    let (status, rebound) = confirm(&w.app, &second, &second_preview).await;
    assert_eq!(status, 201, "{rebound}");
    assert_eq!(rebound["card_number"], c["card_number"]);
    assert_eq!(card_count(&w.app).await, 1);

    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=card.unbind",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");
    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=card.activate",
            Some(&w.county_token),
        )
        .await;
    let outcomes: Vec<&str> = log["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["outcome"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        outcomes.contains(&"failure"),
        "the refused attempt is recorded: {log}"
    );
    w.app.stop().await;
}

async fn raw_preview(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/card/activation/preview"))
        .bearer_auth(token)
        .json(&json!({"name": "王五", "id_number": id}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("preview: {e}"))
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After on {}", res.status()))
}

#[tokio::test]
async fn the_sixth_failed_preview_of_a_day_is_refused_with_retry_after() {
    let w = world().await;
    let (_, id) = enrol(&w).await;
    let guesser = w.app.login("card-guesser").await;
    for seq in 0..5 {
        let res = raw_preview(&w.app, &guesser, &id_number("19700101", 10 + seq)).await;
        assert_eq!(res.status(), 404, "failure {seq}");
    }
    let res = raw_preview(&w.app, &guesser, &id_number("19700101", 20)).await;
    assert_eq!(res.status(), 429);
    let wait = retry_after(&res);
    assert!((1..=86_400).contains(&wait), "{wait}");
    let body: Value = res.json().await.unwrap_or_default();
    assert_eq!(body["code"], "too_many_attempts");
    // Even a right answer waits until tomorrow.
    let (status, _) = preview(&w.app, &guesser, NAME, &id).await;
    assert_eq!(status, 429);
    // Other accounts are not affected.
    let other = w.app.login("card-honest").await;
    let (status, p) = preview(&w.app, &other, NAME, &id).await;
    assert_eq!(status, 200, "{p}");
    w.app.stop().await;
}

#[tokio::test]
async fn previews_from_one_address_are_limited_per_hour() {
    let app = TestApp::spawn_with(|s| s.card.max_previews_per_ip_per_hour = 3).await;
    for n in 0..3 {
        let token = app.login(&format!("card-nat-{n}")).await;
        let res = raw_preview(&app, &token, &id_number("19800101", 30)).await;
        assert_eq!(res.status(), 404, "preview {n}");
    }
    let token = app.login("card-nat-3").await;
    let res = raw_preview(&app, &token, &id_number("19800101", 30)).await;
    assert_eq!(res.status(), 429);
    let wait = retry_after(&res);
    assert!((1..=3_600).contains(&wait), "{wait}");
    // A forged X-Forwarded-For does not get around it.
    let res = app
        .http
        .post(app.url("/api/v1/card/activation/preview"))
        .bearer_auth(&token)
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"name": "王五", "id_number": id_number("19800101", 30)}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 429);
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_confirms_from_two_phones_make_one_card() {
    let w = world().await;
    let (_, id) = enrol(&w).await;
    let a = w.app.login("card-race-a").await;
    let b = w.app.login("card-race-b").await;
    let (_, pa) = preview(&w.app, &a, NAME, &id).await;
    let (_, pb) = preview(&w.app, &b, NAME, &id).await;
    let pa = pa["preview_id"].as_str().unwrap_or_default().to_owned();
    let pb = pb["preview_id"].as_str().unwrap_or_default().to_owned();
    let calls = (0..50).map(|i| {
        let (token, preview_id, who) = if i % 2 == 0 {
            (a.clone(), pa.clone(), 'a')
        } else {
            (b.clone(), pb.clone(), 'b')
        };
        let app = &w.app;
        async move {
            let (status, body) = confirm(app, &token, &preview_id).await;
            (who, status, body)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let created: Vec<char> = results
        .iter()
        .filter(|(_, s, _)| *s == 201)
        .map(|(who, _, _)| *who)
        .collect();
    assert_eq!(created.len(), 1, "exactly one activation: {results:?}");
    let winner = created[0];
    for (who, status, body) in &results {
        if *who == winner {
            assert!(matches!(status, 200 | 201), "{status} {body}");
        } else {
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["code"], "card_bound_elsewhere");
        }
    }
    assert_eq!(card_count(&w.app).await, 1);
    w.app.stop().await;
}

#[tokio::test]
async fn qr_tokens_are_redeemed_once_expire_and_cannot_be_forged() {
    let w = world().await;
    let (_, id) = enrol(&w).await;
    let worker = w.app.login("card-qr").await;
    let (status, c) = activate(&w.app, &worker, &id).await;
    assert_eq!(status, 201, "{c}");
    let holder = user_id(&w.app, &worker).await;
    let card = cards::live_card_of_user(&w.app.state.db.conn, holder)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no card"));

    let (status, qr) = w.app.get("/api/v1/card/qr", Some(&worker)).await;
    assert_eq!(status, 200, "{qr}");
    assert_eq!(qr["expires_in"], 30);
    let token = qr["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(token.len(), 60);

    let store = w.app.state.sessions.store().as_ref();
    let key = &w.app.state.card.qr_key;
    let now = Utc::now();
    let first = cards::redeem_qr_token(store, key, &token, now).await;
    assert_eq!(first.ok(), Some(card.id));
    let second = cards::redeem_qr_token(store, key, &token, now).await;
    assert!(matches!(second, Err(QrError::Used)), "{second:?}");

    // A screenshot shown after its expiry.
    let (_, qr) = w.app.get("/api/v1/card/qr", Some(&worker)).await;
    let fresh = qr["token"].as_str().unwrap_or_default().to_owned();
    assert_ne!(fresh, token);
    let later = Utc::now() + chrono::Duration::seconds(31);
    let expired = cards::redeem_qr_token(store, key, &fresh, later).await;
    assert!(matches!(expired, Err(QrError::Expired)), "{expired:?}");

    // Forged: signed with another key, or altered.
    let other = huigong_vault::qr::QrKey::new(b"an-attacker-key-of-32-bytes-or-more")
        .unwrap_or_else(|e| panic!("{e}"));
    let forged = huigong_vault::qr::issue(&other, card.id, Utc::now().timestamp() + 30);
    let refused = cards::redeem_qr_token(store, key, &forged, Utc::now()).await;
    assert!(matches!(refused, Err(QrError::Invalid)), "{refused:?}");
    let mut altered = fresh.clone().into_bytes();
    altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap_or_default();
    let refused = cards::redeem_qr_token(store, key, &altered, Utc::now()).await;
    assert!(matches!(refused, Err(QrError::Invalid)), "{refused:?}");
    let refused = cards::redeem_qr_token(store, key, "not-a-token", Utc::now()).await;
    assert!(matches!(refused, Err(QrError::Invalid)), "{refused:?}");
    // The fresh one, in time, still works once.
    let ok = cards::redeem_qr_token(store, key, &fresh, Utc::now()).await;
    assert_eq!(ok.ok(), Some(card.id));

    // The PNG variant.
    let res = w
        .app
        .http
        .get(w.app.url("/api/v1/card/qr.png"))
        .bearer_auth(&worker)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let png = res.bytes().await.unwrap_or_default();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    w.app.stop().await;
}

#[tokio::test]
async fn a_suspended_card_shows_its_status_and_no_qr_code() {
    let w = world().await;
    let (_, id) = enrol(&w).await;
    let worker = w.app.login("card-suspended").await;
    let (status, c) = activate(&w.app, &worker, &id).await;
    assert_eq!(status, 201, "{c}");
    let holder = user_id(&w.app, &worker).await;
    let card = cards::live_card_of_user(&w.app.state.db.conn, holder)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no card"));

    // What the membership-change issue will call when a member leaves.
    let txn = w
        .app
        .state
        .db
        .begin_write()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let changed = cards::set_status_for_person(
        &txn,
        card.person_id,
        CardStatus::Suspended,
        None,
        &Actor::system(),
        Utc::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(changed.map(|c| c.status), Some(CardStatus::Suspended));

    let (status, shown) = w.app.get("/api/v1/card", Some(&worker)).await;
    assert_eq!((status, shown["status"].as_str()), (200, Some("suspended")));
    for path in ["/api/v1/card/qr", "/api/v1/card/qr.png"] {
        let (status, out) = w.app.get(path, Some(&worker)).await;
        assert_eq!(
            (status, out["code"].as_str()),
            (403, Some("card_inactive")),
            "{path}"
        );
    }
    w.app.stop().await;
}

#[tokio::test]
async fn a_qr_token_from_one_instance_is_redeemed_once_across_instances() {
    use crate::helpers::county_org;
    let (a, b) = TestApp::two_sharing_services().await;

    let (_, county) = a.token_for(huigong_core::Role::CountyAdmin).await;
    let district = created(
        &a,
        "/api/v1/admin/orgs",
        &json!({"parent_id": county_org(), "level": "district", "name": "雉城街道总工会"}),
        &county,
    )
    .await;
    let grassroots = created(
        &a,
        "/api/v1/admin/orgs",
        &crate::unions::grassroots(
            district["id"].as_str().unwrap_or_default(),
            "甲公司工会",
            "91350100M000100Y43",
        ),
        &county,
    )
    .await;
    let id = id_number("19900101", 1);
    created(
        &a,
        &format!(
            "/api/v1/admin/orgs/{}/members",
            grassroots["id"].as_str().unwrap_or_default()
        ),
        &member(NAME, &id, "男"),
        &county,
    )
    .await;
    let worker = a.login("card-two-instances").await;
    // Preview on one instance, confirm on the other: the preview is shared too.
    let (status, p) = preview(&a, &worker, NAME, &id).await;
    assert_eq!(status, 200, "{p}");
    let (status, c) = confirm(&b, &worker, p["preview_id"].as_str().unwrap_or_default()).await;
    assert_eq!(status, 201, "{c}");

    let (status, qr) = a.get("/api/v1/card/qr", Some(&worker)).await;
    assert_eq!(status, 200, "{qr}");
    let token = qr["token"].as_str().unwrap_or_default();
    let now = Utc::now();
    let on_b = cards::redeem_qr_token(
        b.state.sessions.store().as_ref(),
        &b.state.card.qr_key,
        token,
        now,
    )
    .await;
    assert!(on_b.is_ok(), "{on_b:?}");
    let on_a = cards::redeem_qr_token(
        a.state.sessions.store().as_ref(),
        &a.state.card.qr_key,
        token,
        now,
    )
    .await;
    assert!(matches!(on_a, Err(QrError::Used)), "{on_a:?}");
    a.stop().await;
    b.stop().await;
}
