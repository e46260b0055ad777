//! The administrators' API.

use crate::helpers::TestApp;
use huigong_core::Role;
use huigong_store::audit::{self, Actor, Entry, Outcome};

async fn write_events(app: &TestApp, actor: uuid::Uuid, n: usize) {
    for i in 0..n {
        let txn = app
            .state
            .db
            .begin_write()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let who = Actor {
            user_id: Some(actor),
            role: "county_admin".into(),
            client_ip: Some("10.1.2.3".into()),
            request_id: Some(format!("req-{i}")),
        };
        let entry = Entry {
            action: if i % 2 == 0 {
                "person.read_full"
            } else {
                "person.update"
            },
            target_type: "person",
            target_id: Some(format!("p{i}")),
            fields: &["id_number", "mobile"],
            outcome: Outcome::Success,
        };
        audit::record(&txn, &who, &entry, chrono::Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn county_admin_reads_the_audit_log_filtered_and_paged() {
    let app = TestApp::spawn().await;
    let (admin, token) = app.token_for(Role::CountyAdmin).await;
    write_events(&app, admin, 5).await;

    let (status, page) = app.get("/api/v1/admin/audit?limit=2", Some(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 5);
    let items = page["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["seq"], 5);
    assert_eq!(
        items[0]["fields"],
        serde_json::json!(["id_number", "mobile"])
    );
    assert_eq!(items[0]["actor_user_id"], admin.to_string());
    let next = page["next_before"].as_i64().unwrap_or_default();
    assert_eq!(next, 4);

    let (_, second) = app
        .get(
            &format!("/api/v1/admin/audit?limit=2&before={next}"),
            Some(&token),
        )
        .await;
    let seqs: Vec<i64> = second["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(seqs, vec![3, 2]);

    let (_, reads) = app
        .get("/api/v1/admin/audit?action=person.read_full", Some(&token))
        .await;
    assert_eq!(reads["total"], 3);
    assert!(reads["next_before"].is_null());
    let (_, one) = app
        .get(
            "/api/v1/admin/audit?target_type=person&target_id=p3",
            Some(&token),
        )
        .await;
    assert_eq!(one["total"], 1);
    let (_, none) = app
        .get(
            &format!("/api/v1/admin/audit?actor={}", uuid::Uuid::now_v7()),
            Some(&token),
        )
        .await;
    assert_eq!(none["total"], 0);
    let (_, future) = app
        .get(
            "/api/v1/admin/audit?from=2999-01-01T00:00:00%2B08:00",
            Some(&token),
        )
        .await;
    assert_eq!(future["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn malformed_audit_filters_name_their_field() {
    let app = TestApp::spawn().await;
    let (_, token) = app.token_for(Role::CountyAdmin).await;
    for (query, field) in [
        ("actor=not-a-uuid", "actor"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("before=-1", "before"),
    ] {
        let (status, body) = app
            .get(&format!("/api/v1/admin/audit?{query}"), Some(&token))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], "invalid_field", "{query}");
        assert_eq!(body["field"], field, "{query}");
    }
    app.stop().await;
}

#[tokio::test]
async fn only_the_county_admin_reads_the_audit_log() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/api/v1/admin/audit", None).await.0, 401);
    let worker = app.login("o_curious_worker").await;
    let (status, body) = app.get("/api/v1/admin/audit", Some(&worker)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    for role in [
        Role::DistrictAdmin,
        Role::GrassrootsAdmin,
        Role::MerchantStaff,
    ] {
        let (_, token) = app.token_for(role).await;
        assert_eq!(
            app.get("/api/v1/admin/audit", Some(&token)).await.0,
            403,
            "{role}"
        );
    }
    app.stop().await;
}
