//! Issue 14's remainders on the registration (附件1): 单位性质 其他 with its text, 换届 in the
//! parent's review queue beside 建会 and 撤销, and a union editing its own registration (all
//! fields but its type and its units, audited) — the rule in the store, one function.

use crate::helpers::send;
use crate::roster::{credit_code, sheet_cells};
use crate::unions::{created, grassroots, patch_org, world};
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn other_unit_nature_needs_its_text_and_is_kept_and_exported() {
    let w = world().await;
    let mut body = grassroots(&w.district_a, "阳光培训学校工会", &credit_code(7701));
    // 其他 alone: refused, naming the field.
    body["unit_nature"] = json!("其他");
    let (status, err) = w
        .app
        .post_json("/api/v1/admin/orgs", &body, Some(&w.county_token))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["field"], "unit_nature", "{err}");
    // 其他 with what it is: stored and shown as the label plus the text.
    body["unit_nature"] = json!("其他（民办非企业单位）");
    let org = created(&w.app, "/api/v1/admin/orgs", &body, &w.county_token).await;
    let unit = &org["union"]["units"][0];
    assert_eq!(unit["nature"], "其他", "{org}");
    assert_eq!(unit["nature_other"], "民办非企业单位", "{org}");
    let (status, read) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}", s(&org["id"])),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["union"]["units"][0]["nature_other"], "民办非企业单位");
    // 附件1 writes it as one cell, as a clerk would.
    let res = w
        .app
        .http
        .get(
            w.app
                .url(&format!("/api/v1/admin/orgs/{}/units.xlsx", w.district_a)),
        )
        .bearer_auth(&w.county_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap_or_default().to_vec();
    let cells = sheet_cells(bytes);
    assert!(
        cells
            .iter()
            .any(|row| row.iter().any(|c| c == "其他：民办非企业单位")),
        "{cells:?}"
    );
    // A listed nature carries no text.
    let (status, edited) = patch_org(
        &w,
        &w.county_token,
        &s(&org["id"]),
        &json!({"unit_nature": "私营经济"}),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["union"]["units"][0]["nature"], "私营经济");
    assert!(edited["union"]["units"][0].get("nature_other").is_none());
    w.app.stop().await;
}

#[tokio::test]
async fn a_submitted_term_waits_in_the_parents_review_queue() {
    let w = world().await;
    let term = created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/terms", w.union_a),
        &json!({"leader_name": "钱新任", "committee": "钱新任、孙委员",
                "starts_on": "2026-07-01", "ends_on": "2031-06-30"}),
        &w.union_a_token,
    )
    .await;
    assert_eq!(term["status"], "pending");
    let (status, queue) = w
        .app
        .get("/api/v1/admin/org-reviews", Some(&w.district_a_token))
        .await;
    assert_eq!(status, 200, "{queue}");
    let items = queue.as_array().cloned().unwrap_or_default();
    let waiting = items
        .iter()
        .find(|i| i["kind"] == "term")
        .unwrap_or_else(|| panic!("no term in {queue}"));
    assert_eq!(waiting["org_id"], w.union_a.as_str());
    assert_eq!(waiting["term_id"], term["id"]);
    assert_eq!(waiting["parent_id"], w.district_a.as_str());
    // Not the union's own to decide: absent from its queue.
    let (_, own) = w
        .app
        .get("/api/v1/admin/org-reviews", Some(&w.union_a_token))
        .await;
    assert!(
        !own.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .any(|i| i["kind"] == "term"),
        "{own}"
    );
    // Decided: it leaves the queue.
    let (status, _) = w
        .app
        .post_json(
            &format!("/api/v1/admin/terms/{}/approve", s(&term["id"])),
            &json!({}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 200);
    let (_, after) = w
        .app
        .get("/api/v1/admin/org-reviews", Some(&w.district_a_token))
        .await;
    assert!(
        !after
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .any(|i| i["kind"] == "term"),
        "{after}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_union_edits_its_own_registration_but_not_its_type_or_units() {
    let w = world().await;
    // Allowed: its fields (here member count, address, leader), audited as the union's admin.
    let (status, edited) = patch_org(
        &w,
        &w.union_a_token,
        &w.union_a,
        &json!({"member_count": 95, "unit_address": "浙江省湖州市长兴县雉城街道金陵路90号",
                "leader_name": "李新主席"}),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["union"]["member_count_declared"], 95, "{edited}");
    let (status, audit) = w
        .app
        .get(
            &format!(
                "/api/v1/admin/audit?target_type=org&target_id={}&limit=100",
                w.union_a
            ),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let events = audit["items"].as_array().cloned().unwrap_or_default();
    let update = events
        .iter()
        .find(|e| e["action"] == "org.update")
        .unwrap_or_else(|| panic!("no org.update in {audit}"));
    assert_eq!(update["actor_role"], "grassroots_admin", "{update}");
    assert!(
        update.to_string().contains("member_count=80→95"),
        "{update}"
    );
    // The leader's name is personal: named as changed, never shown.
    assert!(!update.to_string().contains("李新主席"), "{update}");

    // Refused: its type and its units are its parent's to change (403, the field named);
    // nothing written.
    for (body, field) in [
        (json!({"union_type": "联合工会"}), "union_type"),
        (
            json!({"union_type": "联合工会", "member_count": 1}),
            "union_type",
        ),
        (
            json!({"add_units": [{"unit_name": "丙", "unit_code": credit_code(7702),
                "unit_nature": "私营经济", "unit_address": "长兴县", "employee_count": 5}]}),
            "add_units",
        ),
    ] {
        let (status, err) = patch_org(&w, &w.union_a_token, &w.union_a, &body).await;
        assert_eq!(status, 403, "{body}: {err}");
        assert_eq!(err["code"], "needs_parent", "{err}");
        assert_eq!(err["field"], field, "{err}");
    }
    let (_, read) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}", w.union_a),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(read["union"]["union_type"], "单建");
    assert_eq!(read["union"]["member_count_declared"], 95);
    // The same type given unchanged is no change: allowed.
    let (status, _) = patch_org(
        &w,
        &w.union_a_token,
        &w.union_a,
        &json!({"union_type": "单建", "member_count": 96}),
    )
    .await;
    assert_eq!(status, 200);
    // The parent may change the type.
    let (status, by_parent) = patch_org(
        &w,
        &w.district_a_token,
        &w.union_a,
        &json!({"union_type": "联合工会"}),
    )
    .await;
    assert_eq!(status, 200, "{by_parent}");
    // Another union stays out of reach: 404.
    let (status, _) = patch_org(
        &w,
        &w.union_a_token,
        &w.union_b,
        &json!({"member_count": 1}),
    )
    .await;
    assert_eq!(status, 404);
    let _ = send(w.app.http.get(w.app.url("/healthz"))).await;
    w.app.stop().await;
}
