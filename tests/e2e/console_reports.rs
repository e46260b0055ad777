//! The console's 进度通报 and 审计日志 (issue 15): the page shows the figures the JSON report
//! gives the same caller for the same month, the workbook downloads with the session cookie,
//! and both pages refuse whom the JSON routes refuse; the chain check from the page.

use crate::console::Browser;
use crate::helpers::county_org;
use crate::unions::{PASSWORD, World, created, id_number, member, world};
use huigong_core::Role;
use serde_json::Value;

/// `world()` with two members in 甲公司工会 (district A) and a county admin who signs in.
async fn reporting_world() -> World {
    let w = world().await;
    for (name, seq) in [("张三", 21), ("李四", 23)] {
        created(
            &w.app,
            &format!("/api/v1/admin/orgs/{}/members", w.union_a),
            &member(name, &id_number("19900101", seq), "男"),
            &w.county_token,
        )
        .await;
    }
    // The API creates admins only below the caller's org: the county's own goes in directly.
    let hash =
        huigong_api::password::hash_blocking(PASSWORD).unwrap_or_else(|e| panic!("hash: {e}"));
    huigong_store::users::create_account(
        &w.app.state.db.conn,
        huigong_store::users::NewAccount {
            role: Role::CountyAdmin,
            username: Some("county_x"),
            password_hash: Some(hash),
            org_id: Some(county_org()),
        },
        w.app.state.clock.now(),
    )
    .await
    .unwrap_or_else(|e| panic!("county admin: {e}"));
    w
}

/// The number in the cell `data-k="{key}"` of the table row that starts at `row_marker`.
fn cell(body: &str, row_marker: &str, key: &str) -> u64 {
    let row = body
        .find(row_marker)
        .map(|i| &body[i..])
        .unwrap_or_else(|| panic!("no row {row_marker}: {body}"));
    let row = &row[..row.find("</tr>").unwrap_or(row.len())];
    let marker = format!("data-k=\"{key}\">");
    let start = row
        .find(&marker)
        .map(|i| i + marker.len())
        .unwrap_or_else(|| panic!("no {key} in {row}"));
    row[start..]
        .split('<')
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} not a number in {row}"))
}

fn figure(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

#[tokio::test]
async fn console_reports_progress_page_shows_the_json_reports_figures_for_the_same_caller_and_month()
 {
    let w = reporting_world().await;
    let (status, json) = w
        .app
        .get("/api/v1/admin/reports/progress", Some(&w.county_token))
        .await;
    assert_eq!(status, 200, "{json}");
    let month = json["month"].as_str().unwrap_or_default().to_owned();
    assert_eq!(figure(&json["total"], "members"), 2, "{json}");

    let mut b = Browser::signed_in(&w.app, "county_x").await;
    let page = b
        .get(&format!("/console/reports/progress?month={month}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    for key in [
        "unions_registered:unions",
        "units_covered:units",
        "members:members",
        "members_complete:complete",
        "cards_active:cards",
        "applications_pending:pending",
        "unions_unconfirmed:unconfirmed",
    ] {
        let (json_key, page_key) = key.split_once(':').unwrap_or_default();
        assert_eq!(
            cell(&page.body, "<tr id=\"total\">", page_key),
            figure(&json["total"], json_key),
            "total {json_key}"
        );
    }
    let rows = json["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "{json}");
    for r in &rows {
        let name = r["org_name"].as_str().unwrap_or_default();
        let marker = format!("<th scope=\"row\">{name}</th>");
        assert_eq!(
            cell(&page.body, &marker, "members"),
            figure(&r["figures"], "members"),
            "{name}"
        );
    }
    assert!(
        page.body
            .contains("<img class=\"chart\" id=\"rate-chart\" src=\"data:image/svg+xml;base64,"),
        "no chart: {}",
        page.body
    );
    assert!(page.body.contains(&format!("value=\"{month}\"")));

    // The district admin sees its own subtree, as the JSON report gives it.
    let (_, json) = w
        .app
        .get("/api/v1/admin/reports/progress", Some(&w.district_a_token))
        .await;
    let mut d = Browser::signed_in(&w.app, "district_a").await;
    let page = d.get("/console/reports/progress").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        cell(&page.body, "<tr id=\"total\">", "members"),
        figure(&json["total"], "members")
    );
    assert!(page.body.contains("甲公司工会"), "{}", page.body);
    assert!(!page.body.contains("乙公司工会"), "{}", page.body);

    // The workbook downloads with the session cookie alone.
    let xlsx = b
        .get(&format!("/console/reports/progress.xlsx?month={month}"))
        .await;
    assert_eq!(xlsx.status, 200);
    assert!(
        xlsx.header("content-type").contains("spreadsheetml"),
        "{}",
        xlsx.header("content-type")
    );
    // A malformed month is said beside the picker, as the JSON route refuses it.
    let bad = b.get("/console/reports/progress?month=2026-13").await;
    let (status, _) = w
        .app
        .get(
            "/api/v1/admin/reports/progress?month=2026-13",
            Some(&w.county_token),
        )
        .await;
    assert_eq!((bad.status, status), (400, 400), "{}", bad.body);
    assert!(bad.body.contains("id=\"problem\""), "{}", bad.body);
}

#[tokio::test]
async fn console_reports_progress_refuses_a_grassroots_admin_as_the_json_route_does() {
    let w = reporting_world().await;
    let (json_status, _) = w
        .app
        .get("/api/v1/admin/reports/progress", Some(&w.union_a_token))
        .await;
    assert_eq!(json_status, 403);
    let mut b = Browser::signed_in(&w.app, "union_a").await;
    let page = b.get("/console/reports/progress").await;
    assert_eq!(page.status, json_status, "{}", page.body);
    assert!(!page.body.contains("data-k=\"members\""), "{}", page.body);
    let xlsx = b.get("/console/reports/progress.xlsx").await;
    assert_eq!(xlsx.status, json_status);
    assert!(!xlsx.body.starts_with("PK"));
}

#[tokio::test]
async fn console_reports_audit_page_is_for_county_admins_only_and_filters_like_the_json_log() {
    let w = reporting_world().await;
    // District and grassroots admins: refused as the JSON log refuses them.
    for (user, token) in [
        ("district_a", &w.district_a_token),
        ("union_a", &w.union_a_token),
    ] {
        let (json_status, _) = w.app.get("/api/v1/admin/audit", Some(token)).await;
        let mut b = Browser::signed_in(&w.app, user).await;
        let page = b.get("/console/audit").await;
        assert_eq!(
            (page.status, json_status),
            (403, 403),
            "{user}: {}",
            page.body
        );
        assert!(!page.body.contains("id=\"events\""), "{}", page.body);
    }

    let mut b = Browser::signed_in(&w.app, "county_x").await;
    let page = b.get("/console/audit").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (_, all) = w
        .app
        .get("/api/v1/admin/audit", Some(&w.county_token))
        .await;
    assert!(
        page.body
            .contains(&format!("共 {} 条记录", figure(&all, "total"))),
        "{}",
        page.body
    );
    // Filtered by an action: the JSON log's count for it, and only rows of it.
    let (_, filtered) = w
        .app
        .get(
            "/api/v1/admin/audit?action=person.create",
            Some(&w.county_token),
        )
        .await;
    let n = figure(&filtered, "total");
    assert!(n >= 2, "{filtered}");
    assert!(n < figure(&all, "total"), "{all}");
    let page = b
        .get("/console/audit?action=person.create&actor=&from=&to=")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("共 {n} 条记录")),
        "{}",
        page.body
    );
    let actions: Vec<&str> = page
        .body
        .split("data-k=\"action\">")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .collect();
    assert_eq!(actions.len() as u64, n);
    assert!(actions.iter().all(|a| *a == "person.create"), "{actions:?}");
    // The page cursor: the events below a sequence number, as the JSON log pages them.
    let cut = all["items"][2]["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("{all}"));
    let (_, below) = w
        .app
        .get(
            &format!("/api/v1/admin/audit?before={cut}"),
            Some(&w.county_token),
        )
        .await;
    let page = b.get(&format!("/console/audit?before={cut}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let seqs: Vec<i64> = page
        .body
        .split("data-k=\"seq\">")
        .skip(1)
        .filter_map(|s| s.split('<').next()?.parse().ok())
        .collect();
    let expected: Vec<i64> = below["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|e| e["seq"].as_i64()).collect())
        .unwrap_or_default();
    assert!(!expected.is_empty(), "{below}");
    assert_eq!(seqs, expected);
    assert!(seqs.iter().all(|s| *s < cut), "{seqs:?}");
    // A date range in the future holds nothing; a malformed actor is said on the page.
    let page = b.get("/console/audit?from=2999-01-01").await;
    assert!(page.body.contains("共 0 条记录"), "{}", page.body);
    let page = b.get("/console/audit?actor=nobody").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("id=\"problem\""), "{}", page.body);
}

#[tokio::test]
async fn console_reports_audit_verify_from_the_page_reports_the_chain_intact_and_needs_csrf() {
    let w = reporting_world().await;
    let mut b = Browser::signed_in(&w.app, "county_x").await;
    let page = b.get("/console/audit").await;
    let csrf = page.csrf();
    let refused = b.post("/console/audit/verify", &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(!refused.body.contains("审计链完整"));
    let verified = b
        .post("/console/audit/verify", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(
        verified.body.contains("id=\"verified\"") && verified.body.contains("审计链完整"),
        "{}",
        verified.body
    );

    let mut d = Browser::signed_in(&w.app, "district_a").await;
    let csrf = d.get("/console/").await.csrf();
    let refused = d
        .post("/console/audit/verify", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}
