//! Safe production defaults and bounds (issue 13, items 12 and 14): development keys never
//! listen beyond loopback, every instance proves it holds the database's keys, and numbers,
//! bodies and uploads are bounded where they are parsed.

use crate::helpers::{TestApp, base_settings, send, use_fresh_storage};
use huigong_core::Role;
use huigong_server::Application;
use huigong_server::settings::WechatMode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

fn start_error<E: std::fmt::Display>(built: Result<Application, E>) -> String {
    match built {
        Ok(_) => panic!("the service started"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn item12_development_keys_never_listen_beyond_loopback() {
    // Forgetting HUIGONG_PROFILE=production: real secrets, live WeChat, the address of a
    // server, and no vault keys configured.
    let mut settings = base_settings();
    let _dir = use_fresh_storage(&mut settings).await;
    settings.server.host = "0.0.0.0".into();
    settings.wechat.mode = WechatMode::Live;
    settings.auth.jwt_secret = "k3Jz0c7QxW1vYt8uN2mP5rS9aB4dE6fG-item12".to_owned().into();
    settings.card.qr_key = "Qm8sVh2nT7pLx4RzW9cJ1dYfK6gA3eUs-item12".to_owned().into();
    assert!(settings.vault.keys.is_empty());
    let err = start_error(Application::build(settings.clone()).await);
    assert!(
        err.contains("vault.keys") && err.contains("loopback") && err.contains("0.0.0.0"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&settings.vault.dev_key_file).exists(),
        "no development key was generated"
    );
    // On loopback the same settings start (the development and test set-up).
    settings.server.host = "127.0.0.1".into();
    let app = TestApp::spawn_on(settings, None).await;
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn item12_an_instance_with_other_keys_than_the_database_refuses_to_start() {
    let app = TestApp::spawn().await;
    // The first start recorded the fingerprints of its keys, never the keys.
    let rows = app
        .state
        .db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            app.state.db.conn.get_database_backend(),
            "SELECT key_name, fingerprint FROM vault_key_fingerprints ORDER BY key_name",
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("", "key_name").unwrap_or_default())
        .collect();
    assert_eq!(names, ["blind_index", "encryption:1"]);
    let key_file = std::fs::read_to_string(&app.settings.vault.dev_key_file).unwrap_or_default();
    for r in &rows {
        let fp: Vec<u8> = r.try_get("", "fingerprint").unwrap_or_default();
        assert_eq!(fp.len(), 32);
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&fp);
        assert!(!key_file.contains(&b64), "a key was stored");
    }

    // A second instance against the same database with development keys of its own (another
    // key file): refused, naming the key.
    let mut other = app.settings.clone();
    other.vault.dev_key_file = format!("{}.other", app.settings.vault.dev_key_file);
    let err = start_error(Application::build(other.clone()).await);
    assert!(
        err.contains("vault key id 1") && err.contains("refusing to start"),
        "{err}"
    );
    let _ = std::fs::remove_file(&other.vault.dev_key_file);
    // The same keys start (a second instance of the production shape).
    let same = TestApp::spawn_on(app.settings.clone(), None).await;
    let (status, _) = same.get("/healthz", None).await;
    assert_eq!(status, 200);
    same.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn item14_page_and_per_page_out_of_range_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let (_, county) = app.token_for(Role::CountyAdmin).await;
    for (query, field) in [
        ("page=18446744073709551615", "page"),
        ("page=9223372036854775807", "page"),
        ("page=100001", "page"),
        ("page=0", "page"),
        ("per_page=18446744073709551615", "per_page"),
        ("per_page=101", "per_page"),
    ] {
        for path in ["/api/v1/admin/orgs", "/api/v1/admin/merchants"] {
            let (status, err) = app.get(&format!("{path}?{query}"), Some(&county)).await;
            assert_eq!(
                (status, err["field"].as_str(), err["code"].as_str()),
                (400, Some(field), Some("invalid_field")),
                "{path}?{query}: {err}"
            );
        }
    }
    // The last page accepted is simply empty, and the service still answers.
    let (status, page) = app
        .get("/api/v1/admin/orgs?page=100000&per_page=100", Some(&county))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"], json!([]));
    let worker = app.login("o_item14_pages").await;
    let (status, err) = app
        .get("/api/v1/merchants?page=18446744073709551615", Some(&worker))
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("page")),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test]
async fn item14_union_counts_beyond_what_is_stored_are_refused() {
    let (app, county, _, _) = crate::roster::setup().await;
    let (_, district) = app
        .get("/api/v1/admin/orgs?level=district", Some(&county))
        .await;
    let district = district["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for field in ["employee_count", "member_count"] {
        let mut body =
            crate::unions::grassroots(&district, "丙公司工会", &crate::roster::credit_code(77));
        body[field] = json!(4_000_000_000u64);
        let (status, err) = app
            .post_json("/api/v1/admin/orgs", &body, Some(&county))
            .await;
        assert_eq!((status, err["field"].as_str()), (400, Some(field)), "{err}");
    }
    app.stop().await;
}

fn png_of(len: usize) -> String {
    use base64::Engine as _;
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(len, 0x42);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn item14_the_largest_signature_fits_the_body_limit_and_a_larger_one_is_a_field_error() {
    use huigong_api::routes::applications::{MAX_SIGNATURE_PNG, MIN_BODY_LIMIT};
    assert!(MIN_BODY_LIMIT <= base_settings().server.body_limit_bytes);
    let (app, _, union_a, _) = crate::roster::setup().await;
    let worker = app.login("o_item14_signature").await;
    let id = crate::unions::id_number("19880808", 41);
    let body = |png: String| {
        json!({
            "union_id": union_a, "name": "孙大圣", "sex": "男", "id_number": id,
            "nationality": "汉族", "education": "高中", "mobile": "13957200009",
            "household_type": "农村", "unit_name": "甲公司", "employment_status": "在岗",
            "union_post": "无", "agree_declaration": true, "consent_sensitive": true,
            "signature_name": "孙大圣", "signature_png": png
        })
    };
    // Just over its own limit, the body still within its limit: a 400 naming the field.
    let (status, err) = app
        .post_json(
            "/api/v1/applications",
            &body(png_of(MAX_SIGNATURE_PNG + 1)),
            Some(&worker),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("signature_png")),
        "{err}"
    );
    // At its limit: accepted, not refused by the body limit.
    let (status, ok) = app
        .post_json(
            "/api/v1/applications",
            &body(png_of(MAX_SIGNATURE_PNG)),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 201, "{ok}");
    assert_eq!(ok["has_drawn_signature"], true);
    app.stop().await;
}

#[tokio::test]
async fn item14_multipart_fields_besides_the_file_are_capped() {
    let (app, county, union_a, _) = crate::roster::setup().await;
    let path = format!("/api/v1/admin/orgs/{union_a}/roster/import");
    let id = crate::unions::id_number("19900303", 7);
    let workbook = crate::roster::clerk_roster(&[crate::roster::row("李四", &id, "男")], |_| {});
    let post = |form: reqwest::multipart::Form| {
        send(
            app.http
                .post(app.url(&path))
                .bearer_auth(&county)
                .multipart(form),
        )
    };
    // A huge text field before the file.
    let form = reqwest::multipart::Form::new()
        .text("comment", "x".repeat(2 * 1024 * 1024))
        .part(
            "file",
            reqwest::multipart::Part::bytes(workbook.clone()).file_name("导入.xlsx"),
        );
    let (status, err) = post(form).await;
    assert_eq!(
        (status, err["code"].as_str(), err["field"].as_str()),
        (413, Some("payload_too_large"), Some("comment")),
        "{err}"
    );
    // Many small fields.
    let mut form = reqwest::multipart::Form::new();
    for i in 0..40 {
        form = form.text(format!("f{i}"), "1");
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(workbook.clone()).file_name("导入.xlsx"),
    );
    let (status, err) = post(form).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (413, Some("payload_too_large")),
        "{err}"
    );
    // A small extra field is fine.
    let form = reqwest::multipart::Form::new().text("note", "花名册").part(
        "file",
        reqwest::multipart::Part::bytes(workbook).file_name("导入.xlsx"),
    );
    let (status, report): (u16, Value) = post(form).await;
    assert_eq!(status, 200, "{report}");
    app.stop().await;
}
