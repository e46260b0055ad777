//! Union services (惠工服务): managed by county and district administrators, listed for workers
//! by category with whether their card qualifies.

use crate::helpers::TestApp;
use crate::unions::{id_number, member, world};
use serde_json::{Value, json};

fn service(category: &str, title: &str, members_only: bool) -> Value {
    json!({
        "category": category, "title": title, "provider": "长兴县人民医院",
        "how_to_use": "凭惠工卡到服务窗口办理", "contact": "0572-6022447",
        "members_only": members_only
    })
}

/// A worker holding an active card of `union` (added to its roster by `admin`).
async fn card_holder(app: &TestApp, admin: &str, union: &str, openid: &str, seq: u32) -> String {
    let id = id_number("19860606", seq);
    let (status, body) = app
        .post_json(
            &format!("/api/v1/admin/orgs/{union}/members"),
            &member("吴一凡", &id, "男"),
            Some(admin),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let worker = app.login(openid).await;
    let (status, preview) = app
        .post_json(
            "/api/v1/card/activation/preview",
            &json!({"name": "吴一凡", "id_number": id}),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    let (status, _) = app
        .post_json(
            "/api/v1/card/activation/confirm",
            &json!({"preview_id": preview["preview_id"]}),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 201);
    worker
}

fn find<'a>(catalogue: &'a Value, title: &str) -> &'a Value {
    catalogue["categories"]
        .as_array()
        .and_then(|groups| {
            groups.iter().find_map(|g| {
                g["items"]
                    .as_array()
                    .and_then(|items| items.iter().find(|i| i["title"] == title))
            })
        })
        .unwrap_or_else(|| panic!("{title} not listed in {catalogue}"))
}

#[tokio::test]
async fn services_are_listed_by_category_and_members_only_ones_need_a_card_of_the_district() {
    let w = world().await;
    let app = &w.app;
    let (status, open) = app
        .post_json(
            "/api/v1/admin/benefits",
            &service("法律援助", "职工法律援助", false),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 201, "{open}");
    assert_eq!(open["offered_by"], "县总工会");
    let (status, checkup) = app
        .post_json(
            "/api/v1/admin/benefits",
            &service("职工医疗", "会员免费体检", true),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 201, "{checkup}");
    // Grassroots administrators do not manage services; categories are the notice's.
    let (status, _) = app
        .post_json(
            "/api/v1/admin/benefits",
            &service("职工医疗", "越权", false),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 403);
    let (status, bad) = app
        .post_json(
            "/api/v1/admin/benefits",
            &service("旅游", "不存在的类别", false),
            Some(&w.county_token),
        )
        .await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("category")));

    // A worker without a card sees every category and may use only the open service.
    let stranger = app.login("o_no_card").await;
    let (status, catalogue) = app.get("/api/v1/benefits", Some(&stranger)).await;
    assert_eq!(status, 200, "{catalogue}");
    let categories: Vec<&str> = catalogue["categories"]
        .as_array()
        .map(|g| g.iter().filter_map(|c| c["category"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        categories,
        [
            "职工医疗",
            "职工就业",
            "职工培训",
            "法律援助",
            "职工疗休养",
            "困难帮扶",
            "文体活动"
        ]
    );
    assert_eq!(catalogue["card_active"], false);
    assert_eq!(find(&catalogue, "职工法律援助")["qualifies"], true);
    assert_eq!(find(&catalogue, "会员免费体检")["qualifies"], false);

    // A card of a union under district A qualifies for district A's service.
    let holder = card_holder(app, &w.county_token, &w.union_a, "o_holder_a", 31).await;
    let (_, mine) = app
        .get("/api/v1/benefits?category=职工医疗", Some(&holder))
        .await;
    assert_eq!(mine["card_active"], true);
    assert_eq!(mine["categories"].as_array().map(Vec::len), Some(1));
    assert_eq!(find(&mine, "会员免费体检")["qualifies"], true);
    // A card of district B's union does not.
    let other = card_holder(app, &w.county_token, &w.union_b, "o_holder_b", 33).await;
    let (_, theirs) = app.get("/api/v1/benefits", Some(&other)).await;
    assert_eq!(find(&theirs, "会员免费体检")["qualifies"], false);
    let (status, bad) = app
        .get("/api/v1/benefits?category=旅游", Some(&other))
        .await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("category")));

    // District B's administrator cannot touch district A's service; the county can withdraw it.
    let path = format!(
        "/api/v1/admin/benefits/{}",
        checkup["id"].as_str().unwrap_or_default()
    );
    let district_b_token = crate::unions::login_new_district_b(&w).await;
    let put = |token: &str, body: Value| {
        crate::helpers::send(app.http.put(app.url(&path)).bearer_auth(token).json(&body))
    };
    let mut withdrawn = service("职工医疗", "会员免费体检", true);
    withdrawn["active"] = json!(false);
    assert_eq!(put(&district_b_token, withdrawn.clone()).await.0, 404);
    let (status, updated) = put(&w.county_token, withdrawn).await;
    assert_eq!((status, updated["active"].as_bool()), (200, Some(false)));
    let (_, after) = app.get("/api/v1/benefits", Some(&holder)).await;
    assert!(!after.to_string().contains("会员免费体检"));
    let (_, listed) = app
        .get("/api/v1/admin/benefits", Some(&w.district_a_token))
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    w.app.stop().await;
}
