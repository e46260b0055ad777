//! Issue 15, "a county to look at": `huigong serve --demo` fills an empty database with a demo
//! county through the store functions the API uses, prints working sign-ins, and refuses a
//! database that already holds data. (The command itself, its printed text and its refusal in
//! production are tested as a process in the server crate's `cli` tests.)

use crate::helpers::{TestApp, send};
use huigong_core::{IdNumber, Role};
use huigong_server::demo::{self, DemoError};
use sea_orm::{EntityTrait, QuerySelect};
use serde_json::{Value, json};

async fn password_login(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    app.post_json(
        "/api/v1/auth/password/login",
        &json!({"username": username, "password": password}),
        None,
    )
    .await
}

#[tokio::test]
async fn demo_fills_a_county_whose_sign_ins_work_and_whose_id_numbers_are_valid() {
    let app = TestApp::spawn().await;
    let filled = demo::fill(&app.state)
        .await
        .unwrap_or_else(|e| panic!("demo: {e}"));
    assert_eq!(filled.unions, 12);
    assert!(
        (200..=600).contains(&filled.members),
        "a few hundred members, got {}",
        filled.members
    );

    // One sign-in per role, each one working.
    let roles: Vec<Role> = filled.sign_ins.iter().map(|s| s.role).collect();
    assert_eq!(
        roles,
        [
            Role::CountyAdmin,
            Role::DistrictAdmin,
            Role::GrassrootsAdmin,
            Role::MerchantStaff
        ]
    );
    let mut county_token = String::new();
    for s in &filled.sign_ins {
        let (status, body) = password_login(&app, &s.username, &s.password).await;
        assert_eq!(status, 200, "{}: {body}", s.username);
        if s.role == Role::CountyAdmin {
            county_token = body["token"].as_str().unwrap_or_default().to_owned();
        }
    }

    // The county sees the unions, all marked as demo data, and the figures the demo reports.
    let (status, page) = app
        .get(
            "/api/v1/admin/orgs?level=grassroots&per_page=100",
            Some(&county_token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 12, "{page}");
    let items = page["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 12);
    for u in &items {
        let name = u["name"].as_str().unwrap_or_default();
        assert!(name.ends_with(demo::ORG_MARK), "{name}");
    }
    let (status, report) = app
        .get("/api/v1/admin/reports/progress", Some(&county_token))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(4), "{report}");
    assert_eq!(report["total"]["members"], filled.members, "{report}");
    assert_eq!(report["total"]["cards_active"], filled.cards, "{report}");
    assert_eq!(report["total"]["unions_registered"], 12, "{report}");
    assert_eq!(
        report["total"]["applications_pending"], filled.pending_applications,
        "{report}"
    );
    assert!(filled.cards > 0 && filled.cards < filled.members);

    // Every generated ID number is valid (GB 11643 check character), every name marked.
    let ids: Vec<uuid::Uuid> = huigong_store::entity::person::Entity::find()
        .select_only()
        .column(huigong_store::entity::person::Column::Id)
        .into_tuple()
        .all(&app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids.len(), filled.members);
    let people = huigong_store::people::get_many(&app.state.db.conn, &app.state.vault, &ids)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let today = chrono::Utc::now().date_naive();
    for p in people.values() {
        assert!(
            IdNumber::parse(p.id_number.as_str(), today).is_ok(),
            "invalid demo ID number {:?}",
            p.id_number
        );
        assert!(p.name.ends_with(demo::NAME_MARK));
    }

    // The printed worker activates the printed member's card with the WeChat mock.
    let worker = app.login(demo::WORKER_OPENID).await;
    let (status, preview) = app
        .post_json(
            "/api/v1/card/activation/preview",
            &json!({"name": filled.holder.name, "id_number": filled.holder.id_number}),
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
    assert_eq!(status, 201, "{card}");

    // A second fill of the same database is refused, and writes nothing.
    let again = demo::fill(&app.state).await;
    assert!(matches!(again, Err(DemoError::NotEmpty(_))), "{again:?}");
    let (_, after) = send(
        app.http
            .get(app.url("/api/v1/admin/orgs?level=grassroots"))
            .bearer_auth(&county_token),
    )
    .await;
    assert_eq!(after["total"], 12);
    app.stop().await;
}
