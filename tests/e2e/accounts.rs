//! Taking accounts away (issue 13, item 10): disable/enable, password reset and change, the
//! accounts in scope, ending all sessions, unbinding merchant staff — at once, on every
//! instance, audited, and only within the caller's scope.

use crate::helpers::{TestApp, send};
use crate::unions::{PASSWORD, World, created, login, world};
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/me", Some(token)).await.0
}

async fn post(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    app.post_json(path, &json!({}), Some(token)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> u16 {
    send(app.http.delete(app.url(path)).bearer_auth(token))
        .await
        .0
}

async fn password_login(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    app.post_json(
        "/api/v1/auth/password/login",
        &json!({"username": username, "password": password}),
        None,
    )
    .await
}

/// The ids of the world's accounts, from the county's list.
async fn account_id(w: &World, username: &str) -> String {
    let (status, page) = w
        .app
        .get("/api/v1/admin/users?per_page=100", Some(&w.county_token))
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .find(|a| a["username"] == username)
        .map(|a| s(&a["id"]))
        .unwrap_or_else(|| panic!("{username} not listed: {page}"))
}

/// Audit actions about `target`, oldest first.
async fn audit_actions(w: &World, target: &str) -> Vec<String> {
    let (status, page) = w
        .app
        .get(
            &format!("/api/v1/admin/audit?target_type=user&target_id={target}&limit=100"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let mut actions: Vec<String> = page["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    actions.reverse();
    actions
}

#[tokio::test]
async fn item10_disabling_ends_every_session_at_once_and_refuses_login_until_enabled() {
    let w = world().await;
    let id = account_id(&w, "union_a").await;
    let second = login(&w.app, "union_a").await;
    assert_eq!(me(&w.app, &w.union_a_token).await, 200);

    let (status, out) = post(
        &w.app,
        &format!("/api/v1/admin/users/{id}/disable"),
        &w.district_a_token,
    )
    .await;
    assert_eq!(
        (status, out["disabled"].as_bool()),
        (200, Some(true)),
        "{out}"
    );
    for token in [&w.union_a_token, &second] {
        assert_eq!(me(&w.app, token).await, 401);
        let (status, _) = w
            .app
            .get(&format!("/api/v1/admin/orgs/{}", w.union_a), Some(token))
            .await;
        assert_eq!(status, 401);
    }
    let (status, out) = password_login(&w.app, "union_a", PASSWORD).await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "account_disabled".into()),
        "{out}"
    );
    // A wrong password still answers like any wrong password.
    let (status, _) = password_login(&w.app, "union_a", "Wrong-Password-1").await;
    assert_eq!(status, 401);

    let (status, out) = post(
        &w.app,
        &format!("/api/v1/admin/users/{id}/enable"),
        &w.district_a_token,
    )
    .await;
    assert_eq!(
        (status, out["disabled"].as_bool()),
        (200, Some(false)),
        "{out}"
    );
    let token = login(&w.app, "union_a").await;
    assert_eq!(me(&w.app, &token).await, 200);
    assert_eq!(
        audit_actions(&w, &id)
            .await
            .iter()
            .filter(|a| a.starts_with("account."))
            .cloned()
            .collect::<Vec<_>>(),
        ["account.create", "account.disable", "account.enable"]
    );
    w.app.stop().await;
}

#[tokio::test]
async fn item10_an_admin_acts_only_on_accounts_strictly_below_it_and_everything_else_is_404() {
    let w = world().await;
    let union_a = account_id(&w, "union_a").await;
    let district_a = account_id(&w, "district_a").await;
    // An admin of district B and its union.
    for (username, role, org) in [
        ("district_b", "district_admin", &w.district_b),
        ("union_b", "grassroots_admin", &w.union_b),
    ] {
        created(
            &w.app,
            "/api/v1/admin/users",
            &json!({"username": username, "password": PASSWORD, "role": role, "org_id": org}),
            &w.county_token,
        )
        .await;
    }
    let union_b = account_id(&w, "union_b").await;
    let worker = w.app.login("scope-worker").await;
    let (_, me_out) = w.app.get("/api/v1/me", Some(&worker)).await;
    let worker_id = s(&me_out["id"]);

    // District A: its own union's admin yes; itself, district B's accounts, a worker: 404.
    for id in [
        &district_a,
        &union_b,
        &worker_id,
        &uuid::Uuid::now_v7().to_string(),
    ] {
        for action in ["disable", "enable", "password-reset"] {
            let (status, out) = post(
                &w.app,
                &format!("/api/v1/admin/users/{id}/{action}"),
                &w.district_a_token,
            )
            .await;
            assert_eq!(
                (status, s(&out["code"])),
                (404, "not_found".into()),
                "{action} {id}: {out}"
            );
        }
        assert_eq!(
            delete(
                &w.app,
                &format!("/api/v1/admin/users/{id}/sessions"),
                &w.district_a_token
            )
            .await,
            404
        );
        assert_eq!(
            w.app
                .get(
                    &format!("/api/v1/admin/users/{id}"),
                    Some(&w.district_a_token)
                )
                .await
                .0,
            404
        );
    }
    assert_eq!(
        w.app
            .get(
                &format!("/api/v1/admin/users/{union_a}"),
                Some(&w.district_a_token)
            )
            .await
            .0,
        200
    );
    // A grassroots admin manages nobody: not even its district's admin.
    let (status, _) = post(
        &w.app,
        &format!("/api/v1/admin/users/{district_a}/disable"),
        &w.union_a_token,
    )
    .await;
    assert_eq!(status, 404);
    let (status, page) = w
        .app
        .get("/api/v1/admin/users", Some(&w.union_a_token))
        .await;
    assert_eq!((status, page["total"].as_u64()), (200, Some(0)), "{page}");
    // The list is the scope, paginated.
    let (status, page) = w
        .app
        .get("/api/v1/admin/users?per_page=1", Some(&w.district_a_token))
        .await;
    assert_eq!((status, page["total"].as_u64()), (200, Some(1)), "{page}");
    assert_eq!(page["items"][0]["username"], "union_a");
    let (_, page) = w
        .app
        .get(
            "/api/v1/admin/users?per_page=2&page=2",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(page["total"].as_u64(), Some(4), "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");
    let (status, _) = w
        .app
        .get("/api/v1/admin/users?page=0", Some(&w.county_token))
        .await;
    assert_eq!(status, 400);
    // A worker is no administrator.
    assert_eq!(w.app.get("/api/v1/admin/users", Some(&worker)).await.0, 403);
    w.app.stop().await;
}

#[tokio::test]
async fn item10_a_reset_password_must_be_changed_before_anything_else() {
    let w = world().await;
    let id = account_id(&w, "union_a").await;
    let (status, out) = post(
        &w.app,
        &format!("/api/v1/admin/users/{id}/password-reset"),
        &w.county_token,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let temporary = s(&out["temporary_password"]);
    assert!(temporary.len() >= 10);
    // The old sessions and the old password are gone.
    assert_eq!(me(&w.app, &w.union_a_token).await, 401);
    assert_eq!(password_login(&w.app, "union_a", PASSWORD).await.0, 401);

    let (status, out) = password_login(&w.app, "union_a", &temporary).await;
    assert_eq!(
        (status, out["password_change_required"].as_bool()),
        (200, Some(true)),
        "{out}"
    );
    let restricted = s(&out["token"]);
    for path in ["/api/v1/me", &format!("/api/v1/admin/orgs/{}", w.union_a)] {
        let (status, body) = w.app.get(path, Some(&restricted)).await;
        assert_eq!(
            (status, s(&body["code"])),
            (403, "password_change_required".into()),
            "{path}: {body}"
        );
    }
    // Wrong old password, or a weak new one: refused, named.
    let change = |old: &str, new: &str| json!({"old_password": old, "new_password": new});
    let (status, body) = w
        .app
        .post_json(
            "/api/v1/me/password",
            &change("Nope-Nope-123", "New-Password-2027"),
            Some(&restricted),
        )
        .await;
    assert_eq!(
        (status, s(&body["field"])),
        (400, "old_password".into()),
        "{body}"
    );
    let (status, body) = w
        .app
        .post_json(
            "/api/v1/me/password",
            &change(&temporary, "short"),
            Some(&restricted),
        )
        .await;
    assert_eq!(
        (status, s(&body["field"])),
        (400, "new_password".into()),
        "{body}"
    );

    let (status, body) = w
        .app
        .post_json(
            "/api/v1/me/password",
            &change(&temporary, "New-Password-2027"),
            Some(&restricted),
        )
        .await;
    assert_eq!(
        (status, body["password_change_required"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    let fresh = s(&body["token"]);
    assert_eq!(me(&w.app, &fresh).await, 200);
    assert_eq!(
        me(&w.app, &restricted).await,
        401,
        "the restricted session ended"
    );
    assert_eq!(password_login(&w.app, "union_a", &temporary).await.0, 401);
    let (status, body) = password_login(&w.app, "union_a", "New-Password-2027").await;
    assert_eq!(
        (status, body["password_change_required"].as_bool()),
        (200, Some(false)),
        "{body}"
    );

    // One's own password, without a reset.
    let (status, body) = w
        .app
        .post_json(
            "/api/v1/me/password",
            &change(PASSWORD, "Another-Pass-2028"),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        me(&w.app, &w.district_a_token).await,
        401,
        "other sessions end"
    );
    assert_eq!(
        password_login(&w.app, "district_a", "Another-Pass-2028")
            .await
            .0,
        200
    );

    let actions = audit_actions(&w, &id).await;
    assert!(
        actions.contains(&"account.password_reset".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"account.password_change".to_owned()),
        "{actions:?}"
    );
    let raw = w
        .app
        .get(
            &format!("/api/v1/admin/audit?target_type=user&target_id={id}&limit=100"),
            Some(&w.county_token),
        )
        .await
        .1
        .to_string();
    assert!(!raw.contains(&temporary) && !raw.contains("New-Password-2027"));
    w.app.stop().await;
}

#[tokio::test]
async fn item10_revoking_sessions_ends_them_all_and_a_new_login_works() {
    let w = world().await;
    let id = account_id(&w, "district_a").await;
    let second = login(&w.app, "district_a").await;
    assert_eq!(
        delete(
            &w.app,
            &format!("/api/v1/admin/users/{id}/sessions"),
            &w.county_token
        )
        .await,
        204
    );
    assert_eq!(me(&w.app, &w.district_a_token).await, 401);
    assert_eq!(me(&w.app, &second).await, 401);
    let fresh = login(&w.app, "district_a").await;
    assert_eq!(me(&w.app, &fresh).await, 200);
    assert!(
        audit_actions(&w, &id)
            .await
            .contains(&"account.sessions_revoke".to_owned())
    );
    w.app.stop().await;
}

fn merchant_body() -> Value {
    let today = chrono::Utc::now().date_naive();
    json!({
        "name": "惠民餐厅", "category": "餐饮",
        "address": "浙江省湖州市长兴县雉城街道人民路1号", "phone": "0572-6022448",
        "discounts": [{"title": "会员九折", "kind": "percent", "value": 10,
            "valid_from": (today - chrono::Duration::days(30)).to_string(),
            "valid_to": (today + chrono::Duration::days(30)).to_string(),
            "daily_limit_per_card": 2}]
    })
}

/// On two instances sharing PostgreSQL and Redis: a disabling through one ends the sessions
/// on the other at its next request, and unbinding a staff member holds at once on the
/// instance that had its binding cached.
#[tokio::test]
async fn item10_disabling_and_unbinding_hold_at_once_on_another_instance() {
    let (a, b) = TestApp::two_sharing_services().await;
    let (_, county) = a.token_for(huigong_core::Role::CountyAdmin).await;
    let district = created(
        &a,
        "/api/v1/admin/orgs",
        &json!({"parent_id": crate::helpers::county_org(), "level": "district", "name": "雉城街道总工会"}),
        &county,
    )
    .await;
    let admin = created(
        &a,
        "/api/v1/admin/users",
        &json!({"username": "district_x", "password": PASSWORD, "role": "district_admin", "org_id": s(&district["id"])}),
        &county,
    )
    .await;
    let admin_token = login(&a, "district_x").await;
    assert_eq!(me(&a, &admin_token).await, 200);
    let (status, _) = post(
        &b,
        &format!("/api/v1/admin/users/{}/disable", s(&admin["id"])),
        &county,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        me(&a, &admin_token).await,
        401,
        "instance a still lets the disabled in"
    );

    let merchant = created(&a, "/api/v1/admin/merchants", &merchant_body(), &county).await;
    let staff = created(
        &a,
        &format!("/api/v1/admin/merchants/{}/staff", s(&merchant["id"])),
        &json!({"username": "till_x", "password": PASSWORD}),
        &county,
    )
    .await;
    let till = login(&a, "till_x").await;
    // Instance a reads (and keeps) the binding.
    assert_eq!(
        a.get("/api/v1/merchant/redemptions", Some(&till)).await.0,
        200
    );
    let path = format!(
        "/api/v1/admin/merchants/{}/staff/{}",
        s(&merchant["id"]),
        s(&staff["id"])
    );
    assert_eq!(delete(&b, &path, &county).await, 204);
    assert_eq!(
        a.get("/api/v1/merchant/redemptions", Some(&till)).await.0,
        401
    );
    let (status, out) = password_login(&a, "till_x", PASSWORD).await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "account_disabled".into()),
        "{out}"
    );
    assert_eq!(delete(&b, &path, &county).await, 404, "already unbound");
    a.stop().await;
    b.stop().await;
}
