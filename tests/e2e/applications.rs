//! Online applications to join a union, from the worker's WeChat login to the union's review
//! and the applicant's notification.

use crate::helpers::{TestApp, send};
use crate::unions::id_number;
use huigong_core::Role;
use serde_json::{Value, json};
use std::time::Duration;

/// The first sheet's cells as text.
fn cells(bytes: Vec<u8>) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("{e}"));
    let range = book
        .worksheet_range_at(0)
        .unwrap_or_else(|| panic!("no sheet"))
        .unwrap_or_else(|e| panic!("{e}"));
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Float(f) => f.to_string(),
                    _ => String::new(),
                })
                .collect()
        })
        .collect()
}

pub(crate) fn application(union: &str, name: &str, id: &str, sex: &str) -> Value {
    json!({
        "union_id": union, "name": name, "sex": sex, "id_number": id, "nationality": "汉族",
        "education": "高中", "mobile": "13957200009", "household_type": "农村",
        "unit_name": "甲公司", "employment_status": "在岗", "union_post": "无",
        "agree_declaration": true, "consent_sensitive": true, "signature_name": name
    })
}

pub(crate) async fn apply(
    app: &TestApp,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let mut req = app
        .http
        .post(app.url("/api/v1/applications"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{e}"));
    let replayed = res
        .headers()
        .get("idempotency-replayed")
        .is_some_and(|v| v == "true");
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body, replayed)
}

async fn grassroots_admin(app: &TestApp, county: &str, union: &str, username: &str) -> String {
    let (status, body) = app
        .post_json(
            "/api/v1/admin/users",
            &json!({"username": username, "password": crate::unions::PASSWORD, "role": "grassroots_admin", "org_id": union}),
            Some(county),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    crate::unions::login(app, username).await
}

/// Runs the outbox (beside the background deliverer) until `openid` has been sent something,
/// then a few retry periods more, so that a second delivery would show; returns what `openid`
/// received.
async fn delivered_to(app: &TestApp, openid: &str) -> Vec<Value> {
    let received = || -> Vec<Value> {
        app.mock
            .subscribe_messages()
            .into_iter()
            .filter(|m| m["touser"] == openid)
            .collect()
    };
    for _ in 0..100 {
        huigong_api::notify::deliver_due(&app.state)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if !received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..5 {
        tokio::time::sleep(app.state.notify.retry_base * 2).await;
        huigong_api::notify::deliver_due(&app.state)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    received()
}

#[tokio::test]
async fn apply_then_approve_makes_a_member_and_notifies_once_despite_a_failed_delivery() {
    let (app, county, union_a, _) = crate::roster::setup().await;
    let worker = app.login("o_applicant_1").await;
    // The applicant accepts the review-result subscription (one send).
    crate::notifications::accept(&app, "o_applicant_1").await;

    let (status, declaration) = app.get("/api/v1/applications/declaration", None).await;
    assert_eq!(status, 200);
    assert!(
        declaration["text"]
            .as_str()
            .unwrap_or_default()
            .contains("我自愿加入中华全国总工会")
    );
    let (status, unions) = app.get("/api/v1/unions?q=甲公司", Some(&worker)).await;
    assert_eq!(status, 200, "{unions}");
    assert_eq!(unions["total"], 1);
    assert_eq!(unions["items"][0]["id"], union_a.as_str());
    assert!(
        unions["items"][0].get("union").is_none(),
        "public fields only"
    );
    assert!(
        unions["items"][0]["unit_names"]
            .as_array()
            .is_some_and(|names| !names.is_empty() && names.iter().all(|n| n.is_string())),
        "the union's units by name: {unions}"
    );

    let id = id_number("19920304", 21);
    let body = application(&union_a, "赵小明", &id, "男");
    let (status, first, replayed) = apply(&app, &worker, &body, Some("k-1")).await;
    assert_eq!(status, 201, "{first}");
    assert!(!replayed);
    assert_eq!(
        (
            first["status"].as_str(),
            first["name"].as_str(),
            first["declaration_version"].as_str()
        ),
        (
            Some("pending"),
            Some("赵**"),
            Some(huigong_api::routes::applications::DECLARATION_VERSION)
        )
    );
    assert!(!first.to_string().contains(&id), "the answer is masked");
    // A retry with the same key answers the first application and writes nothing.
    let (status, again, replayed) = apply(&app, &worker, &body, Some("k-1")).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again["id"], first["id"]);
    // A second application of the same person (new key) waits for the first.
    let (status, pending, _) = apply(&app, &worker, &body, Some("k-2")).await;
    assert_eq!(
        (status, pending["code"].as_str()),
        (409, Some("application_pending"))
    );

    // The union sees it; the deliveries of its answer will fail once.
    let admin_a = grassroots_admin(&app, &county, &union_a, "union_a_admin").await;
    let (_, queue) = app
        .get("/api/v1/admin/applications?status=pending", Some(&admin_a))
        .await;
    assert_eq!(queue["total"], 1, "{queue}");
    app.mock.force_error("subscribe_send", -1, 1);
    let path = format!(
        "/api/v1/admin/applications/{}/approve",
        first["id"].as_str().unwrap_or_default()
    );
    let (status, approved) = app.post_json(&path, &json!({}), Some(&admin_a)).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    let member = approved["member_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, m) = app
        .get(&format!("/api/v1/admin/members/{member}"), Some(&admin_a))
        .await;
    assert_eq!(
        (status, m["org_id"].as_str()),
        (200, Some(union_a.as_str()))
    );
    // Approving again is refused; so is applying again, now as a member.
    let (status, twice) = app.post_json(&path, &json!({}), Some(&admin_a)).await;
    assert_eq!(
        (status, twice["code"].as_str()),
        (409, Some("already_reviewed"))
    );
    let (status, member_again, _) = apply(&app, &worker, &body, Some("k-3")).await;
    assert_eq!(
        (status, member_again["code"].as_str()),
        (409, Some("already_member"))
    );

    // The applicant can activate the card at once, and show its live QR code.
    let (status, preview) = app
        .post_json(
            "/api/v1/card/activation/preview",
            &json!({"name": "赵小明", "id_number": id}),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    let (status, card) = app
        .post_json(
            "/api/v1/card/activation/confirm",
            &json!({"preview_id": preview["preview_id"]}),
            Some(&worker),
        )
        .await;
    assert_eq!(
        (status, card["status"].as_str()),
        (201, Some("active")),
        "{card}"
    );
    let (status, qr) = app.get("/api/v1/card/qr", Some(&worker)).await;
    assert_eq!(status, 200, "{qr}");
    assert!(qr["token"].as_str().is_some_and(|t| !t.is_empty()));

    // Appendix 2's list: masked by default, in full (audited) on request; the card is marked.
    let path = format!("/api/v1/admin/orgs/{union_a}/applications.xlsx");
    let (status, masked) = crate::roster::download(&app, &admin_a, &path).await;
    assert_eq!(status, 200);
    let sheet = cells(masked);
    assert_eq!(
        sheet[3],
        [
            "序号",
            "姓名",
            "签名",
            "是否注册电子会员卡(√)",
            "有无微信(√)"
        ]
    );
    assert_eq!(sheet[4], ["1", "赵**", "赵**", "√", "√"]);
    let (_, full) = crate::roster::download(&app, &admin_a, &format!("{path}?full=true")).await;
    assert_eq!(cells(full)[4][1], "赵小明");
    let (_, audit) = app
        .get(
            "/api/v1/admin/audit?action=applications.export_full",
            Some(&county),
        )
        .await;
    assert_eq!(audit["total"], 1, "{audit}");

    // The WeChat failure did not undo the approval, and the message left exactly once.
    let sent = delivered_to(&app, "o_applicant_1").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"]["phrase2"]["value"], "已通过");
    assert!(
        app.mock.calls("subscribe_send") >= 2,
        "the failed delivery was retried"
    );
    let (_, mine) = app.get("/api/v1/applications/mine", Some(&worker)).await;
    assert_eq!(mine[0]["status"], "approved", "{mine}");
    app.stop().await;
}

#[tokio::test]
async fn a_rejection_reason_reaches_the_applicant_and_reviews_are_scoped() {
    let (app, county, union_a, union_b) = crate::roster::setup().await;
    let worker = app.login("o_applicant_2").await;
    crate::notifications::accept(&app, "o_applicant_2").await;
    let id = id_number("19950607", 22);
    let (status, created, _) = apply(
        &app,
        &worker,
        &application(&union_a, "钱小红", &id, "女"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap_or_default().to_owned();

    // The admin of another union sees nothing of it and cannot review it.
    let admin_b = grassroots_admin(&app, &county, &union_b, "union_b_admin").await;
    let (_, queue_b) = app.get("/api/v1/admin/applications", Some(&admin_b)).await;
    assert_eq!(queue_b["total"], 0);
    for action in ["approve", "reject"] {
        let (status, _) = app
            .post_json(
                &format!("/api/v1/admin/applications/{app_id}/{action}"),
                &json!({"reason": "不在本单位"}),
                Some(&admin_b),
            )
            .await;
        assert_eq!(status, 404, "{action}");
    }
    // Workers are not reviewers.
    let (status, _) = app.get("/api/v1/admin/applications", Some(&worker)).await;
    assert_eq!(status, 403);

    let admin_a = grassroots_admin(&app, &county, &union_a, "union_a_admin2").await;
    let reject = format!("/api/v1/admin/applications/{app_id}/reject");
    let (status, missing) = app
        .post_json(&reject, &json!({"reason": " "}), Some(&admin_a))
        .await;
    assert_eq!((status, missing["field"].as_str()), (400, Some("reason")));
    let (status, rejected) = app
        .post_json(
            &reject,
            &json!({"reason": "经核实不是本单位职工"}),
            Some(&admin_a),
        )
        .await;
    assert_eq!(status, 200, "{rejected}");
    let (_, mine) = app.get("/api/v1/applications/mine", Some(&worker)).await;
    assert_eq!(
        (mine[0]["status"].as_str(), mine[0]["reason"].as_str()),
        (Some("rejected"), Some("经核实不是本单位职工"))
    );
    let sent = delivered_to(&app, "o_applicant_2").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["data"]["phrase2"]["value"], "未通过");
    // After a rejection the person may apply again.
    let (status, _, _) = apply(
        &app,
        &worker,
        &application(&union_a, "钱小红", &id, "女"),
        None,
    )
    .await;
    assert_eq!(status, 201);
    app.stop().await;
}

#[tokio::test]
async fn application_fields_and_consents_are_checked_by_name() {
    let (app, _, union_a, _) = crate::roster::setup().await;
    let worker = app.login("o_applicant_3").await;
    let id = id_number("19880808", 23);
    let good = application(&union_a, "孙大圣", &id, "男");
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b
    };
    let tiny_png = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\n0000")
    };
    for (body, field) in [
        (with("agree_declaration", json!(false)), "agree_declaration"),
        (with("consent_sensitive", json!(false)), "consent_sensitive"),
        (with("signature_name", json!("别人")), "signature_name"),
        (with("sex", json!("女")), "sex"),
        (with("id_number", json!("330522199901011234")), "id_number"),
        (with("union_id", json!(uuid::Uuid::now_v7())), "union_id"),
        (
            with("signature_png", json!("bm90IGEgcG5n")),
            "signature_png",
        ),
        (
            with("declaration_version", json!("old")),
            "declaration_version",
        ),
        (with("mobile", json!("123")), "mobile"),
    ] {
        let (status, err, _) = apply(&app, &worker, &body, None).await;
        assert_eq!((status, err["field"].as_str()), (400, Some(field)), "{err}");
    }
    let (status, ok, _) = apply(&app, &worker, &with("signature_png", json!(tiny_png)), None).await;
    assert_eq!(status, 201, "{ok}");
    assert_eq!(ok["has_drawn_signature"], true);
    // Administrators do not apply.
    let (_, county) = app.token_for(Role::CountyAdmin).await;
    let (status, _, _) = apply(&app, &county, &good, None).await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test]
async fn two_admins_approving_at_once_make_one_member() {
    let (app, county, union_a, _) = crate::roster::setup().await;
    let worker = app.login("o_applicant_4").await;
    let (status, created, _) = apply(
        &app,
        &worker,
        &application(&union_a, "周星星", &id_number("19900909", 25), "男"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let path = format!(
        "/api/v1/admin/applications/{}/approve",
        created["id"].as_str().unwrap_or_default()
    );
    let admin_a = grassroots_admin(&app, &county, &union_a, "union_a_admin3").await;
    let attempts = (0..8).map(|i| {
        let token = if i % 2 == 0 { &admin_a } else { &county };
        send(
            app.http
                .post(app.url(&path))
                .bearer_auth(token)
                .json(&json!({})),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let refused = results
        .iter()
        .filter(|(s, b)| *s == 409 && b["code"] == "already_reviewed")
        .count();
    assert_eq!((ok, refused), (1, 7), "{results:?}");
    let (_, members) = app
        .get(
            &format!("/api/v1/admin/orgs/{union_a}/members"),
            Some(&county),
        )
        .await;
    assert_eq!(members["total"], 1);
    app.stop().await;
}

#[tokio::test]
async fn an_application_to_a_union_dissolved_meanwhile_cannot_be_approved() {
    let (app, county, union_a, _) = crate::roster::setup().await;
    let worker = app.login("o_applicant_5").await;
    let (status, created, _) = apply(
        &app,
        &worker,
        &application(&union_a, "吴用", &id_number("19780707", 27), "男"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, dissolved) = app
        .post_json(
            &format!("/api/v1/admin/orgs/{union_a}/dissolve"),
            &json!({"reason": "企业注销"}),
            Some(&county),
        )
        .await;
    assert_eq!(status, 200, "{dissolved}");
    let path = format!(
        "/api/v1/admin/applications/{}/approve",
        created["id"].as_str().unwrap_or_default()
    );
    let (status, refused) = app.post_json(&path, &json!({}), Some(&county)).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("union_not_active")),
        "{refused}"
    );
    let (_, mine) = app.get("/api/v1/applications/mine", Some(&worker)).await;
    assert_eq!(mine[0]["status"], "pending", "nothing changed: {mine}");
    // Workers no longer find it; administrators find it among the dissolved.
    let (_, unions) = app.get("/api/v1/unions?q=甲公司", Some(&worker)).await;
    assert_eq!(unions["total"], 0, "{unions}");
    let (_, dissolved) = app
        .get("/api/v1/admin/orgs?status=dissolved", Some(&county))
        .await;
    assert_eq!(dissolved["total"], 1, "{dissolved}");
    let (status, bad) = app
        .get("/api/v1/admin/orgs?status=gone", Some(&county))
        .await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("status")));
    app.stop().await;
}
