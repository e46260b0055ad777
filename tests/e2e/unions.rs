//! The unions' side: hierarchy, scoped administrators, password login, members.

use crate::helpers::{TestApp, county_org};
use huigong_core::Role;
use serde_json::{Value, json};

pub(crate) const PASSWORD: &str = "Union-Admin-2026";

pub(crate) fn grassroots(parent: &str, name: &str, code: &str) -> Value {
    json!({
        "parent_id": parent, "level": "grassroots", "name": name,
        "unit_name": format!("{name}所在单位"), "unit_code": code, "unit_nature": "私营经济",
        "unit_address": "浙江省湖州市长兴县雉城街道金陵路88号", "employee_count": 120,
        "founded_on": "2001-05-06", "union_type": "单建", "member_count": 80,
        "leader_name": "王主席", "phone": "0572-6022447"
    })
}

/// A valid ID number for region 330522 (check digit per GB 11643).
pub fn id_number(birth: &str, seq: u32) -> String {
    let body = format!("330522{birth}{seq:03}");
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

pub(crate) fn member(name: &str, id: &str, sex: &str) -> Value {
    json!({
        "name": name, "sex": sex, "id_number": id, "nationality": "汉族", "education": "大专",
        "mobile": "13957212345", "household_type": "农村", "unit_name": "长兴示范企业",
        "employment_status": "在岗", "union_post": "会员"
    })
}

/// County → two districts → one grassroots union each, and an admin for each level.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) county: String,
    pub(crate) district_a: String,
    pub(crate) district_b: String,
    pub(crate) union_a: String,
    pub(crate) union_b: String,
    pub(crate) county_token: String,
    pub(crate) district_a_token: String,
    pub(crate) union_a_token: String,
}

pub(crate) async fn created(app: &TestApp, path: &str, body: &Value, token: &str) -> Value {
    let (status, out) = app.post_json(path, body, Some(token)).await;
    assert_eq!(status, 201, "{path}: {out}");
    out
}

pub(crate) async fn login(app: &TestApp, username: &str) -> String {
    let (status, out) = app
        .post_json(
            "/api/v1/auth/password/login",
            &json!({"username": username, "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out["token"].as_str().unwrap_or_default().to_owned()
}

pub(crate) async fn world() -> World {
    let app = TestApp::spawn().await;
    let (_, county_token) = app.token_for(Role::CountyAdmin).await;
    let county = county_org().to_string();
    let district = |name: &str| json!({"parent_id": county, "level": "district", "name": name});
    let district_a = created(
        &app,
        "/api/v1/admin/orgs",
        &district("雉城街道总工会"),
        &county_token,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let district_b = created(
        &app,
        "/api/v1/admin/orgs",
        &district("煤山镇总工会"),
        &county_token,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let union_a = created(
        &app,
        "/api/v1/admin/orgs",
        &grassroots(&district_a, "甲公司工会", "91350100M000100Y43"),
        &county_token,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let union_b = created(
        &app,
        "/api/v1/admin/orgs",
        &grassroots(&district_b, "乙公司工会", "9135052155323005XL"),
        &county_token,
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for (username, role, org) in [
        ("district_a", "district_admin", &district_a),
        ("union_a", "grassroots_admin", &union_a),
    ] {
        created(
            &app,
            "/api/v1/admin/users",
            &json!({"username": username, "password": PASSWORD, "role": role, "org_id": org}),
            &county_token,
        )
        .await;
    }
    let district_a_token = login(&app, "district_a").await;
    let union_a_token = login(&app, "union_a").await;
    World {
        app,
        county,
        district_a,
        district_b,
        union_a,
        union_b,
        county_token,
        district_a_token,
        union_a_token,
    }
}

#[tokio::test]
async fn grassroots_unions_carry_the_notices_fields() {
    let w = world().await;
    let (status, org) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}", w.union_a),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["level"], "grassroots");
    assert_eq!(org["parent_id"], w.district_a.as_str());
    let u = &org["union"];
    assert_eq!(u["union_type"], "单建");
    assert_eq!(u["founded_on"], "2001-05-06");
    assert_eq!(u["member_count_declared"], 80);
    // Item 2: the leader's name and phone are masked unless read in full.
    assert_eq!(u["leader_name"], "王**");
    assert_eq!(u["phone"], "057*****2447");
    assert_eq!(u["units"][0]["code"], "91350100M000100Y43");
    assert_eq!(u["units"][0]["nature"], "私营经济");
    assert_eq!(org["member_count_registered"], 0);
    w.app.stop().await;
}

#[tokio::test]
async fn invalid_org_fields_are_named() {
    let w = world().await;
    let cases = [
        ("unit_code", json!("91350100M000100Y44")),
        ("unit_nature", json!("民营")),
        ("union_type", json!("单独")),
        ("founded_on", json!("2999-01-01")),
        ("phone", json!("6022447")),
        ("leader_name", json!("  ")),
    ];
    for (field, value) in cases {
        let mut body = grassroots(&w.district_a, "丙公司工会", "9135052155323005XL");
        body[field] = value;
        let (status, out) = w
            .app
            .post_json("/api/v1/admin/orgs", &body, Some(&w.county_token))
            .await;
        assert_eq!(
            (status, out["field"].as_str()),
            (400, Some(field)),
            "{field}: {out}"
        );
    }
    // A grassroots union directly under the county, or a district under a district: refused.
    let (status, out) = w
        .app
        .post_json(
            "/api/v1/admin/orgs",
            &grassroots(&w.county, "丁", "91350100M000100Y43"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(
        (status, out["field"].as_str()),
        (400, Some("parent_id")),
        "{out}"
    );
    // The same unit registered twice.
    let (status, out) = w
        .app
        .post_json(
            "/api/v1/admin/orgs",
            &grassroots(&w.district_a, "戊", "91350100M000100Y43"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(
        (status, out["code"].as_str()),
        (409, Some("unit_code_taken")),
        "{out}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn each_admin_sees_only_its_subtree_and_the_rest_is_404() {
    let w = world().await;
    let (_, county_list) = w
        .app
        .get("/api/v1/admin/orgs?per_page=100", Some(&w.county_token))
        .await;
    assert_eq!(county_list["total"], 5);
    let (_, district_list) = w
        .app
        .get("/api/v1/admin/orgs", Some(&w.district_a_token))
        .await;
    let ids: Vec<&str> = district_list["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![w.district_a.as_str(), w.union_a.as_str()]);
    let (_, union_list) = w
        .app
        .get("/api/v1/admin/orgs", Some(&w.union_a_token))
        .await;
    assert_eq!(union_list["total"], 1);

    // Outside the subtree: 404 for reading, creating under, members of, accounts in.
    for (token, foreign) in [
        (&w.district_a_token, &w.union_b),
        (&w.district_a_token, &w.county),
        (&w.union_a_token, &w.district_a),
        (&w.union_a_token, &w.union_b),
    ] {
        let (status, body) = w
            .app
            .get(&format!("/api/v1/admin/orgs/{foreign}"), Some(token))
            .await;
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
        let (status, _) = w
            .app
            .get(
                &format!("/api/v1/admin/orgs/{foreign}/members"),
                Some(token),
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = w
            .app
            .post_json(
                &format!("/api/v1/admin/orgs/{foreign}/members"),
                &member("张三", &id_number("19900101", 11), "男"),
                Some(token),
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = w
            .app
            .post_json(
                "/api/v1/admin/orgs",
                &grassroots(foreign, "越界工会", "9135052155323005XL"),
                Some(token),
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = w.app.post_json("/api/v1/admin/users", &json!({"username": "intruder", "password": PASSWORD, "role": "grassroots_admin", "org_id": foreign}), Some(token)).await;
        assert_eq!(status, 404);
        // Workbooks in and out.
        for export in [
            "roster.xlsx",
            "units.xlsx",
            "roster.xlsx?full=true",
            "applications.xlsx",
        ] {
            let path = format!("/api/v1/admin/orgs/{foreign}/{export}");
            assert_eq!(
                crate::roster::download(&w.app, token, &path).await.0,
                404,
                "{path}"
            );
        }
        for import in ["roster/import", "children/import?commit=true"] {
            let path = format!("/api/v1/admin/orgs/{foreign}/{import}");
            let (status, _) = crate::roster::upload_to(&w.app, token, &path, b"PK".to_vec()).await;
            assert_eq!(status, 404, "{path}");
        }
    }
    // A nonexistent id answers exactly like a foreign one.
    let (status, body) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}", uuid::Uuid::now_v7()),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    // Workers are not administrators.
    let worker = w.app.login("o_worker_at_admin").await;
    assert_eq!(w.app.get("/api/v1/admin/orgs", Some(&worker)).await.0, 403);
    w.app.stop().await;
}

#[tokio::test]
async fn members_are_added_masked_and_read_in_full_with_an_audit_event() {
    let w = world().await;
    let id = id_number("19900307", 21);
    let (status, added) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/members", w.union_a),
            &member("张三丰", &id, "男"),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["name"], "张**");
    assert_eq!(added["masked"], true);
    assert_eq!(
        added["id_number"],
        format!("{}********{}", &id[..6], &id[14..])
    );
    assert_eq!(added["mobile"], "139****2345");
    assert_eq!(added["sex"], "男");
    let member_id = added["id"].as_str().unwrap_or_default().to_owned();

    let (_, list) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}/members", w.union_a),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["name"], "张**");
    let (_, org) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}", w.union_a),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(org["member_count_registered"], 1);

    let (status, full) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{member_id}?full=true"),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(
        (
            full["name"].as_str(),
            full["id_number"].as_str(),
            full["masked"].as_bool()
        ),
        (Some("张三丰"), Some(id.as_str()), Some(false))
    );
    let (_, audit) = w
        .app
        .get(
            "/api/v1/admin/audit?action=person.read_full",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(
        audit["items"][0]["fields"],
        json!(["name", "id_number", "mobile"])
    );

    // Exact search by ID number or mobile, within scope only.
    let (_, found) = w
        .app
        .post_json(
            "/api/v1/admin/members/search",
            &json!({"id_number": id}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    let (_, found) = w
        .app
        .post_json(
            "/api/v1/admin/members/search",
            &json!({"mobile": "13957212345"}),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    let district_b_token = login_new_district_b(&w).await;
    let (_, none) = w
        .app
        .post_json(
            "/api/v1/admin/members/search",
            &json!({"id_number": id}),
            Some(&district_b_token),
        )
        .await;
    assert_eq!(none.as_array().map(Vec::len), Some(0));
    let (status, _) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{member_id}"),
            Some(&district_b_token),
        )
        .await;
    assert_eq!(status, 404);
    w.app.stop().await;
}

pub(crate) async fn login_new_district_b(w: &World) -> String {
    created(&w.app, "/api/v1/admin/users", &json!({"username": "district_b", "password": PASSWORD, "role": "district_admin", "org_id": w.district_b}), &w.county_token).await;
    login(&w.app, "district_b").await
}

#[tokio::test]
async fn one_person_one_active_membership_in_the_county() {
    let w = world().await;
    let id = id_number("19851111", 31);
    let path_a = format!("/api/v1/admin/orgs/{}/members", w.union_a);
    let path_b = format!("/api/v1/admin/orgs/{}/members", w.union_b);
    assert_eq!(
        w.app
            .post_json(&path_a, &member("李四", &id, "男"), Some(&w.county_token))
            .await
            .0,
        201
    );
    let (status, out) = w
        .app
        .post_json(&path_b, &member("李四", &id, "男"), Some(&w.county_token))
        .await;
    assert_eq!(
        (status, out["code"].as_str()),
        (409, Some("already_member")),
        "{out}"
    );
    assert!(
        out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("甲公司工会")
    );
    // Concurrent adds of one new person to both unions: exactly one wins.
    let id2 = id_number("19851111", 33);
    let body = member("王五", &id2, "男");
    let (a, b) = tokio::join!(
        w.app.post_json(&path_a, &body, Some(&w.county_token)),
        w.app.post_json(&path_b, &body, Some(&w.county_token)),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.1, b.1);
    w.app.stop().await;
}

#[tokio::test]
async fn member_fields_are_validated_by_name() {
    let w = world().await;
    let path = format!("/api/v1/admin/orgs/{}/members", w.union_a);
    let id = id_number("19900101", 12); // even sequence: female
    let (status, out) = w
        .app
        .post_json(&path, &member("赵六", &id, "男"), Some(&w.county_token))
        .await;
    assert_eq!((status, out["field"].as_str()), (400, Some("sex")), "{out}");
    assert!(
        out["message"].as_str().unwrap_or_default().contains("女"),
        "{out}"
    );
    let mut bad = member("赵六", &id, "女");
    bad["id_number"] = json!("330522199001010120");
    let (status, out) = w.app.post_json(&path, &bad, Some(&w.county_token)).await;
    assert_eq!((status, out["field"].as_str()), (400, Some("id_number")));
    assert!(
        !out["message"]
            .as_str()
            .unwrap_or_default()
            .contains("330522199001010120")
    );
    let mut bad = member("赵六", &id, "女");
    bad["household_type"] = json!(" ");
    assert_eq!(
        w.app.post_json(&path, &bad, Some(&w.county_token)).await.1["field"],
        "household_type"
    );
    // Clerks' own words are kept as written.
    let mut ok = member("赵六", &id.to_lowercase(), "女");
    ok["household_type"] = json!("非农业");
    ok["union_post"] = json!("工会主席");
    let (status, out) = w.app.post_json(&path, &ok, Some(&w.county_token)).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(
        (out["household_type"].as_str(), out["union_post"].as_str()),
        (Some("非农业"), Some("工会主席"))
    );
    // Members only belong to grassroots unions.
    let (status, out) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/members", w.district_a),
            &member("钱七", &id_number("19900101", 13), "男"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(
        (status, out["code"].as_str()),
        (400, Some("not_grassroots"))
    );
    w.app.stop().await;
}

async fn attempt(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    app.post_json(
        "/api/v1/auth/password/login",
        &json!({"username": username, "password": password}),
        None,
    )
    .await
}

#[tokio::test]
async fn password_login_locks_after_five_failures_and_hides_which_usernames_exist() {
    let w = world().await;
    let (status, unknown) = attempt(&w.app, "nobody", "Wrong-Password-1").await;
    let (_, wrong) = attempt(&w.app, "union_a", "Wrong-Password-1").await;
    assert_eq!(status, 401);
    assert_eq!(
        unknown, wrong,
        "unknown user and wrong password must look the same"
    );
    for _ in 0..4 {
        assert_eq!(attempt(&w.app, "union_a", "Wrong-Password-1").await.0, 401);
    }
    // Locked now, even with the right password.
    let (status, body) = attempt(&w.app, "union_a", "Union-Admin-2026").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked")),
        "{body}"
    );
    // Another account is unaffected, and a successful login resets its count.
    assert_eq!(
        attempt(&w.app, "district_a", "Union-Admin-2026").await.0,
        200
    );
    // The session is a normal one: /me and logout work.
    let token = login(&w.app, "district_a").await;
    let (_, me) = w.app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me["role"], "district_admin");
    w.app.stop().await;
}

#[tokio::test]
async fn accounts_match_their_orgs_level_and_usernames_are_unique() {
    let w = world().await;
    let mk = |username: &str, role: &str, org: &str| json!({"username": username, "password": PASSWORD, "role": role, "org_id": org});
    let (status, out) = w
        .app
        .post_json(
            "/api/v1/admin/users",
            &mk("x_admin", "county_admin", &w.union_a),
            Some(&w.county_token),
        )
        .await;
    assert_eq!((status, out["field"].as_str()), (400, Some("role")));
    let (status, out) = w
        .app
        .post_json(
            "/api/v1/admin/users",
            &mk("weak", "grassroots_admin", &w.union_a),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let (status, out) = w
        .app
        .post_json(
            "/api/v1/admin/users",
            &mk("weak", "grassroots_admin", &w.union_a),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(
        (status, out["code"].as_str()),
        (409, Some("username_taken"))
    );
    let mut weak_password = mk("weak2", "grassroots_admin", &w.union_a);
    weak_password["password"] = json!("password");
    assert_eq!(
        w.app
            .post_json("/api/v1/admin/users", &weak_password, Some(&w.county_token))
            .await
            .1["field"],
        "password"
    );
    // A district admin creates a grassroots admin below it.
    let (status, _) = w
        .app
        .post_json(
            "/api/v1/admin/users",
            &mk("union_a2", "grassroots_admin", &w.union_a),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 201);
    w.app.stop().await;
}

pub(crate) async fn patch_org(w: &World, token: &str, org: &str, body: &Value) -> (u16, Value) {
    crate::helpers::send(
        w.app
            .http
            .patch(w.app.url(&format!("/api/v1/admin/orgs/{org}")))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn item4_a_registration_is_edited_by_the_admins_above_validated_and_audited() {
    let w = world().await;
    let code_c = "91330522MA2B3C4D1T";
    // Out of scope: 404, as if it did not exist. (The union itself edits all but its type and
    // units: `registration::a_union_edits_its_own_registration_but_not_its_type_or_units`.)
    let (status, _) = patch_org(
        &w,
        &w.district_a_token,
        &w.union_b,
        &json!({"member_count": 1}),
    )
    .await;
    assert_eq!(status, 404);
    // Validated like the import, naming the field; nothing written.
    for (body, field) in [
        (json!({"unit_code": "123"}), "unit_code"),
        (json!({"founded_on": "2999-01-01"}), "founded_on"),
        (json!({"unit_nature": "外星经济"}), "unit_nature"),
        (json!({"phone": "12"}), "phone"),
        (
            json!({"add_units": [{"unit_name": "丙", "unit_code": "91350100M000100Y43",
            "unit_nature": "私营经济", "unit_address": "长兴县", "employee_count": 5}]}),
            "add_units",
        ),
    ] {
        let (status, e) = patch_org(&w, &w.district_a_token, &w.union_a, &body).await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some(field)),
            "{body}: {e}"
        );
    }
    // A unit code registered to another union.
    let (status, e) = patch_org(
        &w,
        &w.county_token,
        &w.union_a,
        &json!({"unit_code": "9135052155323005XL"}),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("unit_code_taken")),
        "{e}"
    );

    // The district above edits: a 联合工会 now, a second unit, new counts and leader.
    let (status, org) = patch_org(
        &w,
        &w.district_a_token,
        &w.union_a,
        &json!({"union_type": "联合工会", "member_count": 90, "employee_count": 130,
                "leader_name": "李新主席",
                "add_units": [{"unit_name": "丙公司", "unit_code": code_c, "unit_nature": "集体经济",
                               "unit_address": "长兴县林城镇", "employee_count": 20}]}),
    )
    .await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["union"]["union_type"], "联合工会");
    assert_eq!(org["union"]["member_count_declared"], 90);
    assert_eq!(
        org["union"]["leader_name"], "李***",
        "sealed and masked as before"
    );
    let units = org["union"]["units"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(units.len(), 2, "{org}");
    assert_eq!(units[0]["employee_count"], 130);
    assert_eq!(units[1]["code"], code_c);
    let (_, full) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}?full=true", w.union_a),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(full["union"]["leader_name"], "李新主席");
    // Audited with the before/after of the non-personal fields, never the leader's name.
    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=org.update",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");
    let fields = log["items"][0]["fields"].to_string();
    for expected in [
        "union_type=单建→联合工会",
        "member_count=80→90",
        "employee_count=120→130",
        "unit_added=91330522MA2B3C4D1T",
    ] {
        assert!(fields.contains(expected), "{expected}: {fields}");
    }
    assert!(
        !fields.contains("李新") && !fields.contains("王主席"),
        "{fields}"
    );

    // 附件1's 备注 is stored, shown and exported.
    let (status, org) = patch_org(
        &w,
        &w.district_a_token,
        &w.union_a,
        &json!({"remark": "覆盖三家单位"}),
    )
    .await;
    assert_eq!(
        (status, org["remark"].as_str()),
        (200, Some("覆盖三家单位")),
        "{org}"
    );
    let res = w
        .app
        .http
        .get(
            w.app
                .url(&format!("/api/v1/admin/orgs/{}/units.xlsx", w.district_a)),
        )
        .bearer_auth(&w.district_a_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bytes = res.bytes().await.unwrap_or_default().to_vec();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("{e}"));
    let range = calamine::Reader::worksheet_range_at(&mut book, 0)
        .unwrap_or_else(|| panic!("no sheet"))
        .unwrap_or_else(|e| panic!("{e}"));
    let remarks = range
        .used_cells()
        .filter(|(_, _, c)| *c == "覆盖三家单位")
        .count();
    assert_eq!(remarks, 1, "once, on the union's first row");

    // The unit leaves the 联合工会 again; the first unit stays.
    let (status, e) = patch_org(
        &w,
        &w.county_token,
        &w.union_a,
        &json!({"remove_units": ["91350100M000100Y43"]}),
    )
    .await;
    assert_eq!((status, e["field"].as_str()), (400, Some("remove_units")));
    let (status, org) = patch_org(
        &w,
        &w.county_token,
        &w.union_a,
        &json!({"remove_units": [code_c]}),
    )
    .await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["union"]["units"].as_array().map(Vec::len), Some(1));
    // A 单建 union covers one unit.
    let (status, e) = patch_org(
        &w,
        &w.county_token,
        &w.union_a,
        &json!({"union_type": "单建", "add_units": [{"unit_name": "丙公司", "unit_code": code_c,
            "unit_nature": "集体经济", "unit_address": "长兴县", "employee_count": 20}]}),
    )
    .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("add_units")),
        "{e}"
    );
    w.app.stop().await;
}
