//! Subscribe messages as WeChat really behaves (item 16): one acceptance of
//! `wx.requestSubscribeMessage` allows one send, a send without one is 43101 (recorded in the
//! outbox as refused, never retried), and every template value fits its type's limit.

use crate::applications::{application, apply};
use crate::helpers::{TestApp, county_org};
use crate::unions::id_number;
use huigong_core::Role;
use huigong_store::entity::outbox;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;

/// The user `openid` accepts the review-result template once, through the mock's control
/// endpoint (standing in for the mini program's `wx.requestSubscribeMessage`).
pub(crate) async fn accept(app: &TestApp, openid: &str) {
    let (status, body) = app
        .post_json(
            "/wechat-mock/mock/subscribe/accept",
            &json!({
                "openid": openid,
                "template_id": app.settings.wechat.apply_result_template_id,
            }),
            None,
        )
        .await;
    assert_eq!(status, 200, "subscribe/accept: {body}");
}

/// A district and one grassroots union named `name`; returns (county token, union id).
async fn union_named(app: &TestApp, name: &str) -> (String, String) {
    let (_, county) = app.token_for(Role::CountyAdmin).await;
    let (status, district) = app
        .post_json(
            "/api/v1/admin/orgs",
            &json!({"parent_id": county_org(), "level": "district", "name": "雉城街道总工会"}),
            Some(&county),
        )
        .await;
    assert_eq!(status, 201, "{district}");
    let (status, org) = app
        .post_json(
            "/api/v1/admin/orgs",
            &json!({
                "parent_id": district["id"], "level": "grassroots", "name": name,
                "unit_name": "甲公司", "unit_code": "91350100M000100Y43",
                "unit_nature": "私营经济", "unit_address": "长兴县", "employee_count": 50,
                "founded_on": "2010-01-01", "union_type": "单建", "member_count": 30,
                "leader_name": "王主席", "phone": "0572-6022447"}),
            Some(&county),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    (county, org["id"].as_str().unwrap_or_default().to_owned())
}

/// `openid` logs in, applies to `union` and the county admin approves: returns the user id.
async fn applied_and_approved(
    app: &TestApp,
    county: &str,
    union: &str,
    openid: &str,
    seq: u32,
) -> uuid::Uuid {
    let worker = app.login(openid).await;
    let id = id_number("19920304", seq);
    let (status, created, _) =
        apply(app, &worker, &application(union, "赵小明", &id, "男"), None).await;
    assert_eq!(status, 201, "{created}");
    let (status, approved) = app
        .post_json(
            &format!(
                "/api/v1/admin/applications/{}/approve",
                created["id"].as_str().unwrap_or_default()
            ),
            &json!({}),
            Some(county),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let (_, me) = app.get("/api/v1/me", Some(&worker)).await;
    uuid::Uuid::parse_str(me["id"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("user id: {e}"))
}

/// Runs delivery rounds over several retry periods (the background deliverer runs too), so
/// that any retry would have happened; returns the messages `openid` received.
async fn settle(app: &TestApp, openid: &str) -> Vec<Value> {
    for _ in 0..6 {
        huigong_api::notify::deliver_due(&app.state)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(app.state.notify.retry_base * 2).await;
    }
    app.mock
        .subscribe_messages()
        .into_iter()
        .filter(|m| m["touser"] == openid)
        .collect()
}

/// The outbox rows of `user`: (status, attempts, last_error).
async fn outbox_of(app: &TestApp, user: uuid::Uuid) -> Vec<(String, i32, Option<String>)> {
    outbox::Entity::find()
        .filter(outbox::Column::UserId.eq(user))
        .all(&app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("outbox: {e}"))
        .into_iter()
        .map(|m| (m.status, m.attempts, m.last_error))
        .collect()
}

#[tokio::test]
async fn item16_an_approval_with_a_grant_sends_exactly_one_message() {
    let app = TestApp::spawn().await;
    let (county, union) = union_named(&app, "甲公司工会").await;
    accept(&app, "o_item16_granted").await;
    let user = applied_and_approved(&app, &county, &union, "o_item16_granted", 31).await;
    let sent = settle(&app, "o_item16_granted").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["thing1"]["value"], "申请加入甲公司工会");
    assert_eq!(sent[0]["data"]["phrase2"]["value"], "已通过");
    assert_eq!(
        outbox_of(&app, user).await,
        vec![("sent".to_owned(), 1, None)]
    );
    // The grant is used up.
    let template = &app.settings.wechat.apply_result_template_id;
    assert_eq!(
        app.mock.subscription_grants("o_item16_granted", template),
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn item16_without_a_grant_the_43101_is_recorded_refused_and_never_retried() {
    let app = TestApp::spawn().await;
    let (county, union) = union_named(&app, "甲公司工会").await;
    let user = applied_and_approved(&app, &county, &union, "o_item16_no_grant", 35).await;
    let sent = settle(&app, "o_item16_no_grant").await;
    assert!(sent.is_empty(), "{sent:?}");
    // WeChat was asked once, answered 43101, and was not asked again.
    assert_eq!(app.mock.calls("subscribe_send"), 1);
    let rows = outbox_of(&app, user).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("refused", 1), "{rows:?}");
    assert!(
        rows[0].2.as_deref().is_some_and(|e| e.contains("43101")),
        "{rows:?}"
    );
    // A later acceptance does not revive the refused message (it was for that send).
    accept(&app, "o_item16_no_grant").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(settle(&app, "o_item16_no_grant").await.is_empty());
    assert_eq!(app.mock.calls("subscribe_send"), 1);
    // Refusals are not warnings in the log.
    let logs = crate::helpers::captured_logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("WARN") && l.contains("43101") && l.contains("given up")),
        "43101 logged as a failure"
    );
    app.stop().await;
}

#[tokio::test]
async fn item16_a_long_union_name_is_cut_to_twenty_characters_and_accepted() {
    let app = TestApp::spawn().await;
    let long = "长兴县经济技术开发区某某新能源科技股份有限公司联合工会委员会";
    let (county, union) = union_named(&app, long).await;
    accept(&app, "o_item16_long").await;
    let user = applied_and_approved(&app, &county, &union, "o_item16_long", 33).await;
    let sent = settle(&app, "o_item16_long").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let thing1 = sent[0]["data"]["thing1"]["value"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(thing1.chars().count(), 20, "{thing1}");
    assert!(
        thing1.starts_with("申请加入长兴县") && thing1.ends_with('…'),
        "{thing1}"
    );
    for (key, field) in sent[0]["data"].as_object().into_iter().flatten() {
        let value = field["value"].as_str().unwrap_or_default();
        assert!(!value.is_empty(), "{key}");
        if let Some(limit) = huigong_wechat::value_limit(key) {
            assert!(value.chars().count() <= limit, "{key}: {value}");
        }
    }
    assert_eq!(
        outbox_of(&app, user).await,
        vec![("sent".to_owned(), 1, None)]
    );
    app.stop().await;
}

#[tokio::test]
async fn item16_a_long_rejection_reason_fits_and_is_delivered() {
    let app = TestApp::spawn().await;
    let (county, union) = union_named(&app, "甲公司工会").await;
    accept(&app, "o_item16_reason").await;
    let worker = app.login("o_item16_reason").await;
    let (status, created, _) = apply(
        &app,
        &worker,
        &application(&union, "钱小红", &id_number("19950607", 34), "女"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let reason =
        "经核实，申请人 不是本单位职工，\n请向现工作单位工会提出申请。如有疑问请联系工会办公室";
    let (status, rejected) = app
        .post_json(
            &format!(
                "/api/v1/admin/applications/{}/reject",
                created["id"].as_str().unwrap_or_default()
            ),
            &json!({ "reason": reason }),
            Some(&county),
        )
        .await;
    assert_eq!(status, 200, "{rejected}");
    let sent = settle(&app, "o_item16_reason").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let thing3 = sent[0]["data"]["thing3"]["value"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(thing3.chars().count(), 20, "{thing3}");
    assert!(!thing3.contains('\n'), "{thing3}");
    assert_eq!(sent[0]["data"]["phrase2"]["value"], "未通过");
    app.stop().await;
}
