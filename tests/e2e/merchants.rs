//! Partner merchants over HTTP: onboarding and scope, staff login, verifying a worker's live QR
//! code, redemptions (errors, idempotent retries, the per-card daily limit under concurrency),
//! the worker's history and the public merchant list.

use crate::helpers::{TestApp, send};
use crate::unions::{
    PASSWORD, World, created, id_number, login, login_new_district_b, member, world,
};
use chrono::{Duration, NaiveDate, Utc};
use huigong_store::audit::Actor;
use huigong_store::card_views::StaleViews;
use huigong_store::cards::{self, CardStatus};
use huigong_store::entity::{merchant, redemption};
use huigong_store::merchants::{VerificationRecord, beijing_day};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

const NAME: &str = "张三丰";

fn today() -> NaiveDate {
    beijing_day(Utc::now())
}

fn date(offset_days: i64) -> String {
    (today() + Duration::days(offset_days)).to_string()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A merchant body: a 10%-off discount (twice a day), 5 yuan off (limit `amount_limit`), and a
/// perk that ended yesterday.
fn merchant_body(name: &str, category: &str, amount_limit: u32) -> Value {
    json!({
        "name": name, "category": category,
        "address": "浙江省湖州市长兴县雉城街道人民路1号", "phone": "0572-6022448",
        "discounts": [
            {"title": "会员九折", "kind": "percent", "value": 10, "valid_from": date(-30),
             "valid_to": date(30), "daily_limit_per_card": 2},
            {"title": "立减5元", "kind": "amount", "value": 500, "valid_from": date(-30),
             "valid_to": date(30), "daily_limit_per_card": amount_limit},
            {"title": "赠饮一杯", "kind": "perk", "valid_from": date(-30),
             "valid_to": date(-1), "daily_limit_per_card": 1}
        ]
    })
}

/// A merchant with a logged-in staff member.
pub(crate) struct Shop {
    pub(crate) id: String,
    pub(crate) staff: String,
    pub(crate) percent: String,
    pub(crate) amount: String,
    pub(crate) perk: String,
}

pub(crate) async fn shop(
    app: &TestApp,
    admin: &str,
    name: &str,
    username: &str,
    amount_limit: u32,
) -> Shop {
    let m = created(
        app,
        "/api/v1/admin/merchants",
        &merchant_body(name, "餐饮", amount_limit),
        admin,
    )
    .await;
    let id = s(&m["id"]);
    let staff = created(
        app,
        &format!("/api/v1/admin/merchants/{id}/staff"),
        &json!({"username": username, "password": PASSWORD}),
        admin,
    )
    .await;
    assert_eq!(staff["role"], "merchant_staff");
    assert_eq!(staff["merchant_id"], id.as_str());
    Shop {
        staff: login(app, username).await,
        percent: s(&m["discounts"][0]["id"]),
        amount: s(&m["discounts"][1]["id"]),
        perk: s(&m["discounts"][2]["id"]),
        id,
    }
}

/// Enrols 张三丰 in `union`, logs `openid` in and activates the card; returns the worker token.
pub(crate) async fn card_holder(app: &TestApp, admin: &str, union: &str, openid: &str) -> String {
    let id = id_number("19900101", 1);
    created(
        app,
        &format!("/api/v1/admin/orgs/{union}/members"),
        &member(NAME, &id, "男"),
        admin,
    )
    .await;
    let worker = app.login(openid).await;
    let (status, p) = app
        .post_json(
            "/api/v1/card/activation/preview",
            &json!({"name": NAME, "id_number": id}),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let (status, c) = app
        .post_json(
            "/api/v1/card/activation/confirm",
            &json!({"preview_id": p["preview_id"]}),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    worker
}

pub(crate) async fn qr(app: &TestApp, worker: &str) -> String {
    let (status, qr) = app.get("/api/v1/card/qr", Some(worker)).await;
    assert_eq!(status, 200, "{qr}");
    s(&qr["token"])
}

async fn verify(app: &TestApp, staff: &str, token: &str) -> (u16, Value) {
    app.post_json(
        "/api/v1/merchant/verify",
        &json!({"token": token}),
        Some(staff),
    )
    .await
}

/// Verifies a fresh QR code of `worker`; returns the verification id.
async fn verified(app: &TestApp, staff: &str, worker: &str) -> String {
    let (status, v) = verify(app, staff, &qr(app, worker).await).await;
    assert_eq!(status, 200, "{v}");
    s(&v["verification_id"])
}

/// POST /api/v1/merchant/redemptions; returns status, body and the replay header.
async fn redeem(
    app: &TestApp,
    staff: &str,
    key: Option<&str>,
    verification: &str,
    discount: &str,
    amount_fen: i64,
) -> (u16, Value, Option<String>) {
    let mut req = app
        .http
        .post(app.url("/api/v1/merchant/redemptions"))
        .bearer_auth(staff)
        .json(&json!({"verification_id": verification, "discount_id": discount, "amount_fen": amount_fen}));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("redeem: {e}"));
    let replayed = res
        .headers()
        .get("idempotency-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, replayed)
}

async fn redemption_rows(app: &TestApp) -> u64 {
    redemption::Entity::find()
        .count(&app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("count: {e}"))
}

async fn audit_count(app: &TestApp, county: &str, action: &str) -> u64 {
    let (status, log) = app
        .get(
            &format!("/api/v1/admin/audit?action={action}"),
            Some(county),
        )
        .await;
    assert_eq!(status, 200, "{log}");
    log["total"].as_u64().unwrap_or_default()
}

async fn setup() -> (World, Shop, String) {
    let w = world().await;
    let shop = shop(&w.app, &w.county_token, "惠民餐厅", "shop_a", 20).await;
    let worker = card_holder(&w.app, &w.county_token, &w.union_a, "merchant-worker").await;
    (w, shop, worker)
}

#[tokio::test]
async fn a_worker_logs_in_activates_shows_the_code_and_redeems_a_discount() {
    let (w, shop, worker) = setup().await;
    let app = &w.app;

    let (status, v) = verify(app, &shop.staff, &qr(app, &worker).await).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["card"]["status"], "active");
    assert_eq!(v["card"]["holder"], "张**");
    assert_eq!(v["card"]["union_name"], "甲公司工会");
    assert_eq!(v["expires_in"], 300);
    let text = v.to_string();
    for secret in [
        NAME,
        &id_number("19900101", 1),
        "13957212345",
        "长兴示范企业",
    ] {
        assert!(!text.contains(secret), "the merchant learns nothing more");
    }
    // Today's discounts only (the perk ended yesterday), with the uses left.
    let discounts = v["discounts"].as_array().cloned().unwrap_or_default();
    assert_eq!(discounts.len(), 2, "{v}");
    assert_eq!(discounts[0]["id"], shop.percent.as_str());
    assert_eq!(discounts[0]["uses_left_today"], 2);
    assert_eq!(discounts[1]["uses_left_today"], 20);

    let vid = s(&v["verification_id"]);
    let (status, r, replayed) = redeem(
        app,
        &shop.staff,
        Some("till-1-0001"),
        &vid,
        &shop.percent,
        12_345,
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(replayed.as_deref(), Some("false"));
    assert_eq!(r["discount_fen"], 1_234);
    assert_eq!(r["amount_fen"], 12_345);
    assert_eq!(r["merchant_name"], "惠民餐厅");
    assert_eq!(r["discount_title"], "会员九折");
    assert_eq!(r["verification_id"], vid.as_str());
    assert_eq!(r["day"], today().to_string());
    let (status, r2, _) = redeem(
        app,
        &shop.staff,
        Some("till-1-0002"),
        &vid,
        &shop.amount,
        3_000,
    )
    .await;
    assert_eq!((status, &r2["discount_fen"]), (201, &json!(500)), "{r2}");

    // The next verification shows one use fewer.
    let (_, v2) = verify(app, &shop.staff, &qr(app, &worker).await).await;
    assert_eq!(v2["discounts"][0]["uses_left_today"], 1);

    let (status, list) = app
        .get("/api/v1/merchant/redemptions", Some(&shop.staff))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    assert_eq!(list["totals"]["amount_fen"], 15_345);
    assert_eq!(list["totals"]["discount_fen"], 1_734);
    assert_eq!(list["items"][0]["id"], r2["id"], "newest first");
    let (status, one) = app
        .get(
            &format!("/api/v1/merchant/redemptions/{}", s(&r["id"])),
            Some(&shop.staff),
        )
        .await;
    assert_eq!((status, &one["id"]), (200, &r["id"]));
    let (status, none) = app
        .get(
            &format!(
                "/api/v1/merchant/redemptions?from={}&to={}",
                date(-9),
                date(-8)
            ),
            Some(&shop.staff),
        )
        .await;
    assert_eq!((status, &none["total"]), (200, &json!(0)), "{none}");

    // The worker's own history.
    let (status, mine) = app.get("/api/v1/card/redemptions", Some(&worker)).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(mine["items"][1]["merchant_name"], "惠民餐厅");
    assert_eq!(mine["items"][1]["discount_fen"], 1_234);
    let (status, _) = app.get("/api/v1/card/redemptions", Some(&shop.staff)).await;
    assert_eq!(status, 403);

    // Every change is in the audit log.
    assert_eq!(
        audit_count(app, &w.county_token, "merchant.create").await,
        1
    );
    assert_eq!(
        audit_count(app, &w.county_token, "merchant.staff_create").await,
        1
    );
    assert_eq!(
        audit_count(app, &w.county_token, "merchant.verify").await,
        2
    );
    assert_eq!(
        audit_count(app, &w.county_token, "merchant.redeem").await,
        2
    );

    // The admins' summary.
    let (status, sum) = app
        .get("/api/v1/admin/redemptions/summary", Some(&w.county_token))
        .await;
    assert_eq!(status, 200, "{sum}");
    assert_eq!(sum["totals"]["count"], 2);
    assert_eq!(sum["by_merchant"][0]["merchant_id"], shop.id.as_str());
    assert_eq!(sum["by_merchant"][0]["amount_fen"], 15_345);
    assert_eq!(sum["by_category"][0]["category"], "餐饮");
    assert_eq!(sum["by_category"][0]["discount_fen"], 1_734);
    w.app.stop().await;
}

#[tokio::test]
async fn workers_browse_active_merchants_with_discounts_valid_today() {
    let (w, shop, worker) = setup().await;
    let app = &w.app;
    // A shop whose only discount has not started, and a suspended one.
    let later = created(
        app,
        "/api/v1/admin/merchants",
        &json!({"name": "未开业书店", "category": "购物", "address": "长兴县", "phone": "0572-6022449",
                "discounts": [{"title": "八折", "kind": "percent", "value": 20, "valid_from": date(5),
                               "valid_to": date(30), "daily_limit_per_card": 1}]}),
        &w.county_token,
    )
    .await;
    let shut = created(
        app,
        "/api/v1/admin/merchants",
        &merchant_body("暂停超市", "购物", 1),
        &w.county_token,
    )
    .await;
    let (status, _) = send(
        app.http
            .patch(app.url(&format!("/api/v1/admin/merchants/{}", s(&shut["id"]))))
            .bearer_auth(&w.county_token)
            .json(&json!({"status": "suspended"})),
    )
    .await;
    assert_eq!(status, 200);

    let (status, list) = app.get("/api/v1/merchants", Some(&worker)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    let m = &list["items"][0];
    assert_eq!(m["id"], shop.id.as_str());
    assert_eq!(
        m["discounts"].as_array().map(Vec::len),
        Some(2),
        "valid today only"
    );
    assert!(
        m.get("org_id").is_none() && m.get("status").is_none(),
        "public fields"
    );
    assert_ne!(m["id"], later["id"]);
    let (_, by_category) = app
        .get(
            "/api/v1/merchants?category=%E8%B4%AD%E7%89%A9",
            Some(&worker),
        )
        .await;
    assert_eq!(by_category["total"], 0, "{by_category}");
    let (_, by_name) = app
        .get("/api/v1/merchants?q=%E6%83%A0%E6%B0%91", Some(&worker))
        .await;
    assert_eq!(by_name["total"], 1, "{by_name}");
    // `%` and `_` are searched as characters, not as LIKE wildcards.
    for wildcard in ["%25", "_", "%E6%83%A0_"] {
        let (_, found) = app
            .get(&format!("/api/v1/merchants?q={wildcard}"), Some(&worker))
            .await;
        assert_eq!(found["total"], 0, "q={wildcard}: {found}");
    }
    let (status, _) = app.get("/api/v1/merchants", None).await;
    assert_eq!(status, 401);
    w.app.stop().await;
}

#[tokio::test]
async fn verify_names_each_failure() {
    let (w, shop, worker) = setup().await;
    let app = &w.app;
    let state = &app.state;

    let (status, out) = verify(app, &shop.staff, "not-a-token").await;
    assert_eq!(
        (status, s(&out["code"]), s(&out["field"])),
        (400, "invalid_token".into(), "token".into()),
        "{out}"
    );
    let card = cards::live_card_of_user(
        &state.db.conn,
        uuid::Uuid::parse_str(&s(&app.get("/api/v1/me", Some(&worker)).await.1["id"]))
            .unwrap_or_default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|| panic!("no card"));
    let other_key = huigong_vault::qr::QrKey::new(b"an-attacker-key-of-32-bytes-or-more")
        .unwrap_or_else(|e| panic!("{e}"));
    let forged = huigong_vault::qr::issue(&other_key, card.id, Utc::now().timestamp() + 30);
    let (status, out) = verify(app, &shop.staff, &forged).await;
    assert_eq!((status, s(&out["code"])), (400, "invalid_token".into()));

    let stale = huigong_vault::qr::issue(&state.card.qr_key, card.id, Utc::now().timestamp() - 1);
    let (status, out) = verify(app, &shop.staff, &stale).await;
    assert_eq!(
        (status, s(&out["code"])),
        (410, "token_expired".into()),
        "{out}"
    );

    let token = qr(app, &worker).await;
    assert_eq!(verify(app, &shop.staff, &token).await.0, 200);
    let (status, out) = verify(app, &shop.staff, &token).await;
    assert_eq!(
        (status, s(&out["code"])),
        (409, "token_used".into()),
        "{out}"
    );

    // Only merchant staff verify.
    let (status, _) = verify(app, &worker, &qr(app, &worker).await).await;
    assert_eq!(status, 403);
    let (status, _) = verify(app, &w.county_token, &qr(app, &worker).await).await;
    assert_eq!(status, 403);

    // A suspended merchant cannot verify; reactivated, it can.
    let path = app.url(&format!("/api/v1/admin/merchants/{}", shop.id));
    let patch = |status: &str| {
        app.http
            .patch(&path)
            .bearer_auth(&w.county_token)
            .json(&json!({"status": status}))
    };
    assert_eq!(send(patch("suspended")).await.0, 200);
    let (status, out) = verify(app, &shop.staff, &qr(app, &worker).await).await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "merchant_suspended".into())
    );
    assert_eq!(send(patch("active")).await.0, 200);
    assert_eq!(
        audit_count(app, &w.county_token, "merchant.suspend").await,
        1
    );

    // The redemption reads the merchant's status fresh: a suspension this instance's copy of
    // the merchant does not know of (written behind its back) already stops it.
    let (status, v) = verify(app, &shop.staff, &qr(app, &worker).await).await;
    assert_eq!(status, 200, "{v}");
    let shop_id = uuid::Uuid::parse_str(&shop.id).unwrap_or_default();
    let set_status = |status: &'static str| {
        merchant::Entity::update_many()
            .col_expr(merchant::Column::Status, Expr::value(status))
            .filter(merchant::Column::Id.eq(shop_id))
            .exec(&state.db.conn)
    };
    set_status("suspended")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, out, _) = redeem(
        app,
        &shop.staff,
        Some("elsewhere"),
        &s(&v["verification_id"]),
        &shop.amount,
        100,
    )
    .await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "merchant_suspended".into()),
        "{out}"
    );
    // Verification goes by the copy, which an edit through any instance makes stale after its
    // commit (the shared generation): here, what that edit's bump does.
    state.merchant_views.invalidate(shop_id).await;
    let (status, out) = verify(app, &shop.staff, &qr(app, &worker).await).await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "merchant_suspended".into()),
        "{out}"
    );
    // Suspended through the API too: a retry of a redemption recorded before is still answered
    // with its record.
    set_status("active").await.unwrap_or_else(|e| panic!("{e}"));
    let vid2 = s(&v["verification_id"]);
    let (status, first, _) =
        redeem(app, &shop.staff, Some("before"), &vid2, &shop.amount, 100).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(send(patch("suspended")).await.0, 200);
    let (status, again, replayed) =
        redeem(app, &shop.staff, Some("before"), &vid2, &shop.amount, 100).await;
    assert_eq!(
        (status, replayed.as_deref(), again["id"].clone()),
        (201, Some("true"), first["id"].clone()),
        "{again}"
    );
    assert_eq!(send(patch("active")).await.0, 200);

    // A suspended card: a token issued before the suspension no longer buys anything.
    let token = huigong_vault::qr::issue(&state.card.qr_key, card.id, Utc::now().timestamp() + 30);
    let txn = state
        .db
        .begin_write()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let suspended = cards::set_status_for_person(
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
    // As every caller does after its commit: the till's cached view of the card is stale.
    let mut stale = StaleViews::new();
    stale.card(suspended.as_ref());
    state.card_views.invalidate(&state.db.conn, stale).await;
    let (status, out) = verify(app, &shop.staff, &token).await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "card_inactive".into()),
        "{out}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn redemptions_refuse_what_is_not_theirs_expired_or_over_the_limit() {
    let (w, shop, worker) = setup().await;
    let app = &w.app;
    let other = shop_b(&w).await;
    let vid = verified(app, &shop.staff, &worker).await;

    let (status, out, _) = redeem(app, &shop.staff, None, &vid, &shop.percent, 100).await;
    assert_eq!(
        (status, s(&out["field"])),
        (400, "Idempotency-Key".into()),
        "{out}"
    );
    let (status, out, _) = redeem(app, &shop.staff, Some("k-neg"), &vid, &shop.percent, -1).await;
    assert_eq!(
        (status, s(&out["field"])),
        (400, "amount_fen".into()),
        "{out}"
    );
    // No such discount at all, another merchant's discount, a discount no longer valid,
    // another merchant's verification.
    let unknown = uuid::Uuid::now_v7().to_string();
    let (status, out, _) = redeem(app, &shop.staff, Some("k-0"), &vid, &unknown, 100).await;
    assert_eq!(
        (status, s(&out["code"]), s(&out["field"])),
        (404, "discount_not_found".into(), "discount_id".into()),
        "{out}"
    );
    let (status, out, _) = redeem(app, &shop.staff, Some("k-1"), &vid, &other.percent, 100).await;
    assert_eq!(
        (status, s(&out["code"])),
        (404, "discount_not_found".into()),
        "{out}"
    );
    let (status, out, _) = redeem(app, &shop.staff, Some("k-2"), &vid, &shop.perk, 0).await;
    assert_eq!(
        (status, s(&out["code"])),
        (400, "discount_not_applicable".into()),
        "{out}"
    );
    let (status, out, _) = redeem(app, &other.staff, Some("k-3"), &vid, &other.percent, 100).await;
    assert_eq!(
        (status, s(&out["code"])),
        (404, "verification_not_found".into()),
        "{out}"
    );

    // The limit: twice a day for the percent discount (one redemption per scan).
    let vid2 = verified(app, &shop.staff, &worker).await;
    for (key, v) in [("k-4", &vid), ("k-5", &vid2)] {
        let (status, out, _) = redeem(app, &shop.staff, Some(key), v, &shop.percent, 100).await;
        assert_eq!(status, 201, "{out}");
    }
    let vid3 = verified(app, &shop.staff, &worker).await;
    let (status, out, _) = redeem(app, &shop.staff, Some("k-6"), &vid3, &shop.percent, 100).await;
    assert_eq!(
        (status, s(&out["code"])),
        (409, "daily_limit_reached".into()),
        "{out}"
    );
    // A key used for another redemption.
    let (status, out, _) = redeem(app, &shop.staff, Some("k-4"), &vid, &shop.amount, 900).await;
    assert_eq!(
        (status, s(&out["code"])),
        (409, "idempotency_key_reused".into()),
        "{out}"
    );

    // Another merchant never reads these records.
    let (_, list) = app
        .get("/api/v1/merchant/redemptions", Some(&shop.staff))
        .await;
    let record = s(&list["items"][0]["id"]);
    let (status, out) = app
        .get(
            &format!("/api/v1/merchant/redemptions/{record}"),
            Some(&other.staff),
        )
        .await;
    assert_eq!(
        (status, s(&out["code"])),
        (404, "not_found".into()),
        "{out}"
    );
    let (_, theirs) = app
        .get("/api/v1/merchant/redemptions", Some(&other.staff))
        .await;
    assert_eq!(theirs["total"], 0);

    // The verification runs out after five minutes.
    // It lives in the shared ephemeral store; move its expiry into the past there.
    let store = app.state.sessions.store();
    let key = VerificationRecord::key(uuid::Uuid::parse_str(&vid).unwrap_or_default());
    let stored = store
        .get(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .as_deref()
        .and_then(VerificationRecord::decode)
        .unwrap_or_else(|| panic!("verification {vid} is not in the ephemeral store"));
    let expired = VerificationRecord {
        expires_at: Utc::now() - Duration::seconds(1),
        ..stored
    };
    store
        .set(&key, &expired.encode(), std::time::Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, out, _) = redeem(app, &shop.staff, Some("k-7"), &vid, &shop.amount, 100).await;
    assert_eq!(
        (status, s(&out["code"])),
        (410, "verification_expired".into()),
        "{out}"
    );
    // A replay of a recorded redemption still answers its record.
    let (status, out, replayed) =
        redeem(app, &shop.staff, Some("k-4"), &vid, &shop.percent, 100).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")), "{out}");
    assert_eq!(redemption_rows(app).await, 2);
    w.app.stop().await;
}

#[tokio::test]
async fn item11_one_verification_redeems_each_discount_at_most_once() {
    let (w, shop, worker) = setup().await;
    let app = &w.app;
    // The amount discount allows 20 uses a day; one scan still gives one.
    let vid = verified(app, &shop.staff, &worker).await;
    let (status, first, _) = redeem(app, &shop.staff, Some("i11-1"), &vid, &shop.amount, 900).await;
    assert_eq!(status, 201, "{first}");
    let (status, out, _) = redeem(app, &shop.staff, Some("i11-2"), &vid, &shop.amount, 900).await;
    assert_eq!(
        (status, s(&out["code"]), s(&out["field"])),
        (409, "verification_used".into(), "verification_id".into()),
        "{out}"
    );
    // Concurrent attempts on the same scan: none gets through.
    let keys: Vec<String> = (0..8).map(|i| format!("i11-burst-{i}")).collect();
    let answers = futures_util::future::join_all(
        keys.iter()
            .map(|k| redeem(app, &shop.staff, Some(k), &vid, &shop.amount, 900)),
    )
    .await;
    for (status, body, _) in &answers {
        assert_eq!(
            (*status, s(&body["code"])),
            (409, "verification_used".into()),
            "{body}"
        );
    }
    // The retry of the recorded one still answers its record; another discount of the same
    // scan is a redemption of its own.
    let (status, again, replayed) =
        redeem(app, &shop.staff, Some("i11-1"), &vid, &shop.amount, 900).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("true")),
        "{again}"
    );
    assert_eq!(again["id"], first["id"]);
    let (status, out, _) = redeem(app, &shop.staff, Some("i11-3"), &vid, &shop.percent, 900).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(redemption_rows(app).await, 2);

    // The database holds the rule whatever the code above it: a second row for the pair is
    // refused by the unique index.
    let twin = redemption::Entity::find()
        .filter(redemption::Column::IdempotencyKey.eq("i11-1"))
        .one(&app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no redemption i11-1"));
    let copy = redemption::ActiveModel {
        id: sea_orm::ActiveValue::Set(uuid::Uuid::now_v7()),
        idempotency_key: sea_orm::ActiveValue::Set("i11-direct".into()),
        ..redemption::ActiveModel::from(twin)
    };
    let inserted = redemption::Entity::insert(copy)
        .exec_without_returning(&app.state.db.conn)
        .await;
    assert!(
        inserted.is_err(),
        "a second redemption of one scan's discount was stored"
    );
    w.app.stop().await;
}

/// A second merchant, onboarded by the county, with its own staff.
async fn shop_b(w: &World) -> Shop {
    shop(&w.app, &w.county_token, "乙便利店", "shop_b", 20).await
}

#[tokio::test]
async fn retries_with_one_key_write_once_also_when_concurrent() {
    let (w, shop, worker) = setup().await;
    let app = &w.app;
    let vid = verified(app, &shop.staff, &worker).await;
    let (status, first, replayed) =
        redeem(app, &shop.staff, Some("retry-1"), &vid, &shop.amount, 2_000).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("false")),
        "{first}"
    );
    let (status, again, replayed) =
        redeem(app, &shop.staff, Some("retry-1"), &vid, &shop.amount, 2_000).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")));
    assert_eq!(again, first, "the same record");
    assert_eq!(redemption_rows(app).await, 1);

    let vid2 = verified(app, &shop.staff, &worker).await;
    let attempts =
        (0..12).map(|_| redeem(app, &shop.staff, Some("retry-2"), &vid2, &shop.amount, 700));
    let answers = futures_util::future::join_all(attempts).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|(status, body, _)| {
            assert_eq!(*status, 201, "{body}");
            s(&body["id"])
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry got the same record");
    let fresh = answers
        .iter()
        .filter(|(_, _, r)| r.as_deref() == Some("false"))
        .count();
    assert_eq!(fresh, 1, "one of them wrote it");
    assert_eq!(redemption_rows(app).await, 2);
    assert_eq!(
        audit_count(app, &w.county_token, "merchant.redeem").await,
        2
    );
    w.app.stop().await;
}

#[tokio::test]
async fn the_daily_limit_holds_under_twenty_concurrent_redemptions() {
    let w = world().await;
    let app = &w.app;
    let shop = shop(app, &w.county_token, "限量餐厅", "shop_limit", 3).await;
    let worker = card_holder(app, &w.county_token, &w.union_a, "limit-worker").await;
    // Twenty verifications (one scan per redemption), twenty requests with distinct keys.
    let mut scans = Vec::new();
    for _ in 0..20 {
        scans.push(verified(app, &shop.staff, &worker).await);
    }
    let keys: Vec<String> = (0..20).map(|i| format!("burst-{i}")).collect();
    let attempts = keys
        .iter()
        .zip(&scans)
        .map(|(k, v)| redeem(app, &shop.staff, Some(k), v, &shop.amount, 1_000));
    let answers = futures_util::future::join_all(attempts).await;
    let ok = answers
        .iter()
        .filter(|(status, _, _)| *status == 201)
        .count();
    let limited = answers
        .iter()
        .filter(|(status, body, _)| *status == 409 && body["code"] == "daily_limit_reached")
        .count();
    assert_eq!((ok, limited), (3, 17), "{answers:?}");
    assert_eq!(redemption_rows(app).await, 3);
    let (_, v) = verify(app, &shop.staff, &qr(app, &worker).await).await;
    assert_eq!(v["discounts"][1]["uses_left_today"], 0);
    w.app.stop().await;
}

#[tokio::test]
async fn two_merchants_racing_for_one_token_one_wins() {
    let (w, shop, worker) = setup().await;
    let app = &w.app;
    let other = shop_b(&w).await;
    for _ in 0..3 {
        let token = qr(app, &worker).await;
        let (a, b) = tokio::join!(
            verify(app, &shop.staff, &token),
            verify(app, &other.staff, &token)
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let loser = if a.0 == 409 { a.1 } else { b.1 };
        assert_eq!(loser["code"], "token_used");
    }
    w.app.stop().await;
}

/// Two instances sharing PostgreSQL and Redis, a county admin, a union with a card holder and
/// a merchant with its staff: `(a, b, county, worker, shop)`.
async fn two_instances(openid: &str, username: &str) -> (TestApp, TestApp, String, String, Shop) {
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
    let union = created(
        &a,
        "/api/v1/admin/orgs",
        &crate::unions::grassroots(&s(&district["id"]), "甲公司工会", "91350100M000100Y43"),
        &county,
    )
    .await;
    let worker = card_holder(&a, &county, &s(&union["id"]), openid).await;
    let shop = shop(&a, &county, "惠民餐厅", username, 20).await;
    (a, b, county, worker, shop)
}

/// Each instance keeps a copy of the merchant for its tills; an edit through another instance
/// (suspension, reactivation, a new discount) holds on the very next scan, and a suspended
/// till does not use up the worker's code.
#[tokio::test]
async fn an_edit_of_a_merchant_through_one_instance_holds_at_once_on_another() {
    let (a, b, county, worker, shop) = two_instances("two-instance-edit", "shop_edit").await;
    let path = format!("/api/v1/admin/merchants/{}", shop.id);
    let patch = |body: Value| b.http.patch(b.url(&path)).bearer_auth(&county).json(&body);
    // Instance a holds a current copy.
    let (status, v) = verify(&a, &shop.staff, &qr(&a, &worker).await).await;
    assert_eq!(
        (status, v["discounts"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{v}"
    );

    assert_eq!(send(patch(json!({"status": "suspended"}))).await.0, 200);
    let token = qr(&a, &worker).await;
    let (status, out) = verify(&a, &shop.staff, &token).await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "merchant_suspended".into()),
        "{out}"
    );
    let new_discount = json!([{"title": "满百减十", "kind": "amount", "value": 1000,
        "valid_from": date(0), "valid_to": date(1), "daily_limit_per_card": 1}]);
    let (status, edited) = send(patch(
        json!({"status": "active", "add_discounts": new_discount}),
    ))
    .await;
    assert_eq!(status, 200, "{edited}");
    // The refused scan left the code unused.
    let (status, v) = verify(&a, &shop.staff, &token).await;
    assert_eq!(status, 200, "{v}");
    let titles: Vec<String> = v["discounts"]
        .as_array()
        .map(|d| d.iter().map(|d| s(&d["title"])).collect())
        .unwrap_or_default();
    assert_eq!(titles, ["会员九折", "立减5元", "满百减十"], "{v}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_token_verified_on_one_instance_is_refused_on_another() {
    let (a, b, _, worker, shop) = two_instances("two-instance-worker", "shop_two").await;
    let token = qr(&a, &worker).await;
    let (status, v) = verify(&a, &shop.staff, &token).await;
    assert_eq!(status, 200, "{v}");
    let (status, out) = verify(&b, &shop.staff, &token).await;
    assert_eq!(
        (status, s(&out["code"])),
        (409, "token_used".into()),
        "{out}"
    );
    // The redemption may land on either instance; its retry on the other one is a replay.
    let vid = s(&v["verification_id"]);
    let (status, first, _) = redeem(&b, &shop.staff, Some("two-1"), &vid, &shop.amount, 900).await;
    assert_eq!(status, 201, "{first}");
    let (status, again, replayed) =
        redeem(&a, &shop.staff, Some("two-1"), &vid, &shop.amount, 900).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")));
    assert_eq!(again["id"], first["id"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn merchant_management_is_scoped_validated_and_for_county_and_district_admins() {
    let w = world().await;
    let app = &w.app;
    // Invalid fields are named, down to the discount.
    let cases = [
        ("name", "/name", json!(" ")),
        ("phone", "/phone", json!("6022447")),
        ("discounts[0].value", "/discounts/0/value", json!(150)),
        ("discounts[1].value", "/discounts/1/value", json!(0)),
        ("discounts[0].kind", "/discounts/0/kind", json!("free")),
        (
            "discounts[2].valid_from",
            "/discounts/2/valid_from",
            json!("soon"),
        ),
        (
            "discounts[1].valid_to",
            "/discounts/1/valid_to",
            json!(date(-60)),
        ),
    ];
    for (field, pointer, value) in cases {
        let mut body = merchant_body("校验商家", "餐饮", 1);
        if let Some(slot) = body.pointer_mut(pointer) {
            *slot = value;
        }
        let (status, out) = app
            .post_json("/api/v1/admin/merchants", &body, Some(&w.county_token))
            .await;
        assert_eq!((status, s(&out["field"])), (400, field.to_owned()), "{out}");
    }

    // A district admin onboards a merchant in its own subtree.
    let mine = created(
        app,
        "/api/v1/admin/merchants",
        &merchant_body("雉城小吃", "餐饮", 1),
        &w.district_a_token,
    )
    .await;
    assert_eq!(mine["org_id"], w.district_a.as_str());
    let id = s(&mine["id"]);
    let district_b = login_new_district_b(&w).await;
    let path = format!("/api/v1/admin/merchants/{id}");
    assert_eq!(app.get(&path, Some(&w.district_a_token)).await.0, 200);
    assert_eq!(app.get(&path, Some(&w.county_token)).await.0, 200);
    let (status, out) = app.get(&path, Some(&district_b)).await;
    assert_eq!((status, s(&out["code"])), (404, "not_found".into()));
    let (_, list) = app.get("/api/v1/admin/merchants", Some(&district_b)).await;
    assert_eq!(list["total"], 0);
    let (_, list) = app
        .get("/api/v1/admin/merchants", Some(&w.county_token))
        .await;
    assert_eq!(list["total"], 1);
    let (status, _) = send(
        app.http
            .patch(app.url(&path))
            .bearer_auth(&district_b)
            .json(&json!({"status": "suspended"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post_json(
            &format!("{path}/staff"),
            &json!({"username": "intruder", "password": PASSWORD}),
            Some(&district_b),
        )
        .await;
    assert_eq!(status, 404);
    // Grassroots admins do not manage merchants.
    for (status, what) in [
        (
            app.get("/api/v1/admin/merchants", Some(&w.union_a_token))
                .await
                .0,
            "list",
        ),
        (app.get(&path, Some(&w.union_a_token)).await.0, "get"),
        (
            app.post_json(
                "/api/v1/admin/merchants",
                &merchant_body("x", "餐饮", 1),
                Some(&w.union_a_token),
            )
            .await
            .0,
            "create",
        ),
        (
            app.get("/api/v1/admin/redemptions/summary", Some(&w.union_a_token))
                .await
                .0,
            "summary",
        ),
    ] {
        assert_eq!(status, 403, "{what}");
    }

    // Edits: fields, new discounts, switching one off; the password policy for staff.
    let (status, edited) = send(
        app.http
            .patch(app.url(&path))
            .bearer_auth(&w.district_a_token)
            .json(&json!({"address": "长兴县雉城街道新址", "deactivate_discounts": [mine["discounts"][0]["id"]],
                          "add_discounts": [{"title": "满百减十", "kind": "amount", "value": 1000,
                                             "valid_from": date(0), "valid_to": date(10), "daily_limit_per_card": 1}]})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["address"], "长兴县雉城街道新址");
    assert_eq!(edited["discounts"].as_array().map(Vec::len), Some(4));
    assert_eq!(edited["discounts"][0]["active"], false);
    let (status, bad) = send(
        app.http
            .patch(app.url(&path))
            .bearer_auth(&w.district_a_token)
            .json(
                &json!({"add_discounts": [{"title": "x", "kind": "percent", "value": 0,
                          "valid_from": date(0), "valid_to": date(1), "daily_limit_per_card": 1}]}),
            ),
    )
    .await;
    assert_eq!(
        (status, s(&bad["field"])),
        (400, "add_discounts[0].value".into())
    );
    let (status, out) = app
        .post_json(
            &format!("{path}/staff"),
            &json!({"username": "weak_staff", "password": "password"}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!((status, s(&out["field"])), (400, "password".into()));

    // The summary of each admin covers its own subtree.
    let staff = created(
        app,
        &format!("{path}/staff"),
        &json!({"username": "xiaochi", "password": PASSWORD}),
        &w.district_a_token,
    )
    .await;
    assert_eq!(staff["merchant_id"], id.as_str());
    let staff = login(app, "xiaochi").await;
    let worker = card_holder(app, &w.county_token, &w.union_a, "scope-worker").await;
    let vid = verified(app, &staff, &worker).await;
    let discount = s(&edited["discounts"][1]["id"]);
    let (status, out, _) = redeem(app, &staff, Some("s-1"), &vid, &discount, 5_000).await;
    assert_eq!(status, 201, "{out}");
    let (_, mine_sum) = app
        .get(
            "/api/v1/admin/redemptions/summary",
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(mine_sum["totals"]["count"], 1, "{mine_sum}");
    assert_eq!(mine_sum["by_merchant"][0]["name"], "雉城小吃");
    let (_, other_sum) = app
        .get(
            &format!(
                "/api/v1/admin/redemptions/summary?from={}&to={}",
                date(-1),
                date(0)
            ),
            Some(&district_b),
        )
        .await;
    assert_eq!(other_sum["totals"]["count"], 0, "{other_sum}");
    assert_eq!(other_sum["by_merchant"].as_array().map(Vec::len), Some(0));
    let (status, out) = app
        .get(
            "/api/v1/admin/redemptions/summary?from=2026-13-01",
            Some(&w.county_token),
        )
        .await;
    assert_eq!((status, s(&out["field"])), (400, "from".into()));
    w.app.stop().await;
}
