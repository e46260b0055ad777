//! Issue 13, item 7: scope comes from the person's current membership only. After a transfer or
//! a leave the old union's admin sees the history and nothing current; the admins of a
//! dissolved union lose every access.

use crate::helpers::TestApp;
use crate::unions::{PASSWORD, World, created, grassroots, id_number, login, world};
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

async fn admin_of(w: &World, username: &str, role: &str, org: &str) -> String {
    created(
        &w.app,
        "/api/v1/admin/users",
        &json!({"username": username, "password": PASSWORD, "role": role, "org_id": org}),
        &w.county_token,
    )
    .await;
    login(&w.app, username).await
}

fn entry(name: &str, id: &str, mobile: &str, union_name: &str) -> Value {
    let male = id.as_bytes().get(16).is_some_and(|d| (d - b'0') % 2 == 1);
    json!({
        "name": name, "sex": if male { "男" } else { "女" }, "id_number": id, "nationality": "汉族",
        "education": "大专", "mobile": mobile, "household_type": "农村",
        "unit_name": format!("{union_name}所在单位"), "employment_status": "在岗", "union_post": "会员"
    })
}

/// Activates the card of `name`/`id` for WeChat account `openid`.
async fn activate(app: &TestApp, worker: &str, name: &str, id: &str) {
    let (status, p) = app
        .post_json(
            "/api/v1/card/activation/preview",
            &json!({"name": name, "id_number": id}),
            Some(worker),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let (status, c) = app
        .post_json(
            "/api/v1/card/activation/confirm",
            &json!({"preview_id": p["preview_id"]}),
            Some(worker),
        )
        .await;
    assert_eq!(status, 201, "{c}");
}

/// Sends `method path` with a JSON body (POST) or none (GET); a path ending in `/import` gets
/// a multipart upload.
async fn call(app: &TestApp, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let url = app.url(path);
    let req = match method {
        "GET" => app.http.get(url),
        _ if path.contains("/import") => {
            let part =
                reqwest::multipart::Part::bytes(b"PK not a workbook".to_vec()).file_name("x.xlsx");
            app.http
                .post(url)
                .multipart(reqwest::multipart::Form::new().part("file", part))
        }
        _ => app.http.post(url).json(body),
    };
    let res = req
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    let bytes = res.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Every admin route that takes a member id.
fn member_routes(member: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        ("GET", format!("/api/v1/admin/members/{member}"), json!({})),
        (
            "GET",
            format!("/api/v1/admin/members/{member}?full=true"),
            json!({}),
        ),
        (
            "GET",
            format!("/api/v1/admin/members/{member}/history"),
            json!({}),
        ),
        (
            "POST",
            format!("/api/v1/admin/members/{member}/card/unbind"),
            json!({}),
        ),
        (
            "POST",
            format!("/api/v1/admin/members/{member}/changes"),
            json!({"kind": "retire", "reason": "退休", "effective_on": "2026-11-01"}),
        ),
    ]
}

/// Every admin route that takes an org id.
fn org_routes(org: &str) -> Vec<(&'static str, String, Value)> {
    let p = |tail: &str| format!("/api/v1/admin/orgs/{org}{tail}");
    vec![
        ("GET", p(""), json!({})),
        ("GET", p("?full=true"), json!({})),
        ("GET", p("/members"), json!({})),
        (
            "POST",
            p("/members"),
            entry("路人甲", &id_number("19700101", 901), "13957200999", "x"),
        ),
        ("POST", p("/roster/import"), json!({})),
        ("GET", p("/roster.xlsx"), json!({})),
        ("GET", p("/roster.xlsx?full=true"), json!({})),
        ("POST", p("/children/import"), json!({})),
        ("GET", p("/units.xlsx"), json!({})),
        ("GET", p("/applications.xlsx"), json!({})),
        ("POST", p("/approve"), json!({})),
        ("POST", p("/reject"), json!({"reason": "x"})),
        (
            "POST",
            p("/terms"),
            json!({"leader_name": "x", "committee": "y", "starts_on": "2020-01-01", "ends_on": "2025-01-01"}),
        ),
        ("GET", p("/terms"), json!({})),
        ("POST", p("/dissolve"), json!({"reason": "x"})),
        ("POST", p("/confirm-current"), json!({})),
    ]
}

/// What an ended membership may still show its former union: the history, masked, without
/// the mobile — and nothing else.
fn assert_history_only(path: &str, status: u16, body: &Value, mobile: &str) {
    let text = body.to_string();
    assert!(!text.contains(mobile), "{path}: the current mobile: {text}");
    let masked = format!("{}****{}", &mobile[..3], &mobile[7..]);
    assert!(
        !text.contains(&masked),
        "{path}: the mobile, masked: {text}"
    );
    match (status, s(&body["code"]).as_str()) {
        (404, _) => {}
        // The record as it was: masked, marked not current, no mobile.
        (200, _) if path.ends_with("/history") => {}
        (200, _) if !path.contains("full=true") => {
            assert_eq!(body["current"], false, "{path}: {text}");
            assert_eq!(body["masked"], true, "{path}: {text}");
            assert!(body["mobile"].is_null(), "{path}: {text}");
        }
        // The membership ended: what its history says.
        (409, "membership_ended") if path.ends_with("/changes") => {}
        _ => panic!("{path}: {status} {text}"),
    }
}

#[tokio::test]
async fn item7_old_union_admin_reaches_only_history_after_transfer_leave_or_dissolution() {
    let w = world().await;
    let app = &w.app;
    let a = w.union_a_token.clone();
    let b = admin_of(&w, "reach_union_b", "grassroots_admin", &w.union_b).await;

    // Transfer: joined union A by an approved application, card activated, moved to union B.
    let mover_id = id_number("19850505", 11);
    let mover = app.login("reach-mover").await;
    let (status, applied) = app
        .post_json(
            "/api/v1/applications",
            &json!({
                "union_id": w.union_a, "name": "钟离远山", "sex": "男", "id_number": mover_id,
                "nationality": "汉族", "education": "高中", "mobile": "13957200111",
                "household_type": "农村", "unit_name": "甲公司工会所在单位",
                "employment_status": "在岗", "union_post": "无", "agree_declaration": true,
                "consent_sensitive": true, "signature_name": "钟离远山"
            }),
            Some(&mover),
        )
        .await;
    assert_eq!(status, 201, "{applied}");
    let application = s(&applied["id"]);
    let (status, approved) = app
        .post_json(
            &format!("/api/v1/admin/applications/{application}/approve"),
            &json!({}),
            Some(&a),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let moved_old = s(&approved["member_id"]);
    activate(app, &mover, "钟离远山", &mover_id).await;
    let (status, out) = app
        .post_json(
            &format!("/api/v1/admin/members/{moved_old}/changes"),
            &json!({"kind": "transfer_out", "reason": "调动", "effective_on": "2026-11-01", "to_org_id": w.union_b}),
            Some(&a),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    let transfer = s(&out["transfer"]["id"]);
    let (status, accepted) = app
        .post_json(
            &format!("/api/v1/admin/transfers/{transfer}/accept"),
            &json!({}),
            Some(&b),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    let moved_new = s(&accepted["member_id"]);

    // Leave: a member of union A with a card leaves, then joins union B with a new mobile.
    let leaver_id = id_number("19860606", 13);
    let added = created(
        app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_a),
        &entry("公孙晓月", &leaver_id, "13957200133", "甲公司工会"),
        &a,
    )
    .await;
    let left_old = s(&added["id"]);
    let leaver = app.login("reach-leaver").await;
    activate(app, &leaver, "公孙晓月", &leaver_id).await;
    let (status, out) = app
        .post_json(
            &format!("/api/v1/admin/members/{left_old}/changes"),
            &json!({"kind": "leave", "reason": "离职", "effective_on": "2026-10-31"}),
            Some(&a),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    // (The new mobile differs from the record's: union B chooses it, `keep: roster`.)
    let mut rejoin = entry("公孙晓月", &leaver_id, "13957200144", "乙公司工会");
    rejoin["keep"] = json!("roster");
    let rejoined = created(
        app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_b),
        &rejoin,
        &b,
    )
    .await;
    let left_new = s(&rejoined["id"]);

    // As union A's admin: the old memberships show their history only; the current ones,
    // and union B's org, do not exist.
    for (old, new, mobile) in [
        (&moved_old, &moved_new, "13957200111"),
        (&left_old, &left_new, "13957200144"),
    ] {
        for (method, path, body) in member_routes(old) {
            let (status, answer) = call(app, &a, method, &path, &body).await;
            assert_history_only(&path, status, &answer, mobile);
        }
        for (method, path, body) in member_routes(new) {
            let (status, answer) = call(app, &a, method, &path, &body).await;
            assert_eq!(status, 404, "{path}: {answer}");
        }
    }
    for (method, path, body) in org_routes(&w.union_b) {
        let (status, answer) = call(app, &a, method, &path, &body).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    for path in [
        format!("/api/v1/admin/transfers/{transfer}/accept"),
        format!("/api/v1/admin/transfers/{transfer}/refuse"),
    ] {
        let (status, answer) = call(app, &a, "POST", &path, &json!({"reason": "x"})).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    // The application that made the old membership: reviewed already, which is history.
    for path in [
        format!("/api/v1/admin/applications/{application}/approve"),
        format!("/api/v1/admin/applications/{application}/reject"),
    ] {
        let (status, answer) = call(app, &a, "POST", &path, &json!({"reason": "x"})).await;
        assert!(
            status == 404 || (status, s(&answer["code"]).as_str()) == (409, "already_reviewed"),
            "{path}: {status} {answer}"
        );
    }
    // Searches of union A find neither person.
    for key in [
        json!({"id_number": mover_id}),
        json!({"id_number": leaver_id}),
        json!({"mobile": "13957200111"}),
        json!({"mobile": "13957200144"}),
    ] {
        let (status, found) = app
            .post_json("/api/v1/admin/members/search", &key, Some(&a))
            .await;
        assert_eq!((status, found.as_array().map(Vec::len)), (200, Some(0)));
    }

    // Union A's attempts changed nothing: both cards are still on their holders' WeChat.
    for worker in [&mover, &leaver] {
        let (status, card) = app.get("/api/v1/card", Some(worker)).await;
        assert_eq!(status, 200, "{card}");
    }
    // Union B, which holds the current memberships, reaches them in full and the cards.
    for new in [&moved_new, &left_new] {
        let (status, full) = app
            .get(&format!("/api/v1/admin/members/{new}?full=true"), Some(&b))
            .await;
        assert_eq!(
            (status, full["current"].as_bool()),
            (200, Some(true)),
            "{full}"
        );
        let (status, unbound) = app
            .post_json(
                &format!("/api/v1/admin/members/{new}/card/unbind"),
                &json!({}),
                Some(&b),
            )
            .await;
        assert_eq!(
            (status, unbound["bound"].as_bool()),
            (200, Some(false)),
            "{unbound}"
        );
    }

    // Dissolution: union C's admin, whose union was dissolved (its member moved up), loses
    // every access.
    let union_c = s(&created(
        app,
        "/api/v1/admin/orgs",
        &grassroots(&w.district_a, "丙公司工会", "91330522MA2B3C4D1T"),
        &w.county_token,
    )
    .await["id"]);
    let c = admin_of(&w, "reach_union_c", "grassroots_admin", &union_c).await;
    let stayer_id = id_number("19870707", 15);
    let added = created(
        app,
        &format!("/api/v1/admin/orgs/{union_c}/members"),
        &entry("慕容子衿", &stayer_id, "13957200155", "丙公司工会"),
        &c,
    )
    .await;
    let stayer_old = s(&added["id"]);
    let (status, dissolved) = app
        .post_json(
            &format!("/api/v1/admin/orgs/{union_c}/dissolve"),
            &json!({"reason": "单位关闭", "unit_closed": true}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 200, "{dissolved}");
    let mut routes = member_routes(&stayer_old);
    routes.extend(org_routes(&union_c));
    for (method, path) in [
        ("GET", "/api/v1/admin/orgs"),
        ("GET", "/api/v1/admin/applications"),
        ("GET", "/api/v1/admin/transfers?status=outgoing"),
        ("GET", "/api/v1/admin/quality"),
        ("POST", "/api/v1/admin/members/search"),
    ] {
        routes.push((method, path.to_owned(), json!({"id_number": stayer_id})));
    }
    for (method, path, body) in routes {
        let (status, answer) = call(app, &c, method, &path, &body).await;
        let text = answer.to_string();
        assert!(
            status == 404 || (status, s(&answer["code"]).as_str()) == (403, "org_dissolved"),
            "{path}: {status} {text}"
        );
        assert!(
            !text.contains("13957200155") && !text.contains("139****0155"),
            "{path}"
        );
    }
    w.app.stop().await;
}
