//! Issue 13, items 1–3: personal data that leaked past the mask. Every admin answer about
//! people is checked against the one rule (`huigong_core::ShownPerson`): no full ID number, no
//! full mobile, no full name, and never a masked ID number beside its birth date; union
//! leaders masked unless read in full (audited); no ID number or mobile in a URL.

use crate::helpers::TestApp;
use crate::unions::{PASSWORD, World, created, id_number, login, world};
use serde_json::{Value, json};

/// A person planted for the walk: what a masked answer must never hold.
struct Planted {
    name: &'static str,
    id: String,
    mobile: Option<&'static str>,
    /// `1988-08-08`, `19880808`, `1988年8月8日`, `1988年08月08日`.
    birth: [String; 4],
}

fn planted(name: &'static str, birth: &str, seq: u32, mobile: Option<&'static str>) -> Planted {
    let (y, m, d) = (&birth[0..4], &birth[4..6], &birth[6..8]);
    let (mn, dn) = (
        m.trim_start_matches('0').to_owned(),
        d.trim_start_matches('0').to_owned(),
    );
    Planted {
        name,
        id: id_number(birth, seq),
        mobile,
        birth: [
            format!("{y}-{m}-{d}"),
            birth.to_owned(),
            format!("{y}年{mn}月{dn}日"),
            format!("{y}年{m}月{d}日"),
        ],
    }
}

fn roster_entry(p: &Planted, union_name: &str) -> Value {
    let male = p.id.as_bytes().get(16).is_some_and(|d| (d - b'0') % 2 == 1);
    json!({
        "name": p.name, "sex": if male { "男" } else { "女" }, "id_number": p.id,
        "nationality": "汉族", "education": "大专", "mobile": p.mobile, "household_type": "农村",
        "unit_name": format!("{union_name}所在单位"), "employment_status": "在岗", "union_post": "会员"
    })
}

/// The leader and phone every union of `world()` registers.
const LEADER: &str = "王主席";
const LEADER_PHONE: [&str; 2] = ["0572-6022447", "6022447"];

/// Fails if `text` (one answer, `what`) holds anything the mask hid.
fn assert_masked(what: &str, text: &str, people: &[Planted]) {
    for p in people {
        assert!(
            !text.contains(&p.id),
            "{what}: full ID number of {}",
            p.name
        );
        assert!(!text.contains(p.name), "{what}: full name {}", p.name);
        if let Some(m) = p.mobile {
            assert!(!text.contains(m), "{what}: full mobile of {}", p.name);
        }
        for b in &p.birth {
            assert!(
                !text.contains(b.as_str()),
                "{what}: birth date {b} of {} (the masked ID number hides exactly it)",
                p.name
            );
        }
    }
    assert!(
        !text.contains(LEADER),
        "{what}: the union leader's full name"
    );
    for phone in LEADER_PHONE {
        assert!(!text.contains(phone), "{what}: the union's full phone");
    }
}

async fn get_bytes(app: &TestApp, path: &str, token: &str) -> (u16, Vec<u8>) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap_or_default().to_vec())
}

/// Every cell of every sheet of a workbook, as text.
fn workbook_text(bytes: Vec<u8>) -> String {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("not a workbook: {e}"));
    let mut text = String::new();
    for name in book.sheet_names() {
        let range = book
            .worksheet_range(&name)
            .unwrap_or_else(|e| panic!("sheet {name}: {e}"));
        for row in range.rows() {
            for cell in row {
                text.push_str(&cell.to_string());
                text.push('\t');
            }
            text.push('\n');
        }
    }
    text
}

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

#[tokio::test]
async fn item1_masked_admin_answers_never_restore_what_the_mask_hid() {
    let w = world().await;
    let union_b_token = admin_of(&w, "union_b_1", "grassroots_admin", &w.union_b).await;
    let people = [
        planted("欧阳娜娜", "19880808", 1, Some("13957200011")),
        planted("司马明远", "19900315", 3, Some("13957200022")),
        planted("诸葛云霄", "19950505", 5, None),
        planted("端木青禾", "19921120", 8, Some("13957200044")),
    ];
    let mut answers: Vec<(String, String)> = Vec::new();
    // Members of union A; the answer to each addition is a masked view too.
    let mut members = Vec::new();
    for p in &people[..3] {
        let added = created(
            &w.app,
            &format!("/api/v1/admin/orgs/{}/members", w.union_a),
            &roster_entry(p, "甲公司工会"),
            &w.union_a_token,
        )
        .await;
        answers.push((format!("add {}", p.name), added.to_string()));
        members.push(s(&added["id"]));
    }
    // An application (the fourth person) waiting for union A.
    let worker = w.app.login("exposure-applicant").await;
    let p = &people[3];
    let (status, applied) = w
        .app
        .post_json(
            "/api/v1/applications",
            &json!({
                "union_id": w.union_a, "name": p.name, "sex": "女", "id_number": p.id,
                "nationality": "汉族", "education": "高中", "mobile": p.mobile,
                "household_type": "农村", "unit_name": "甲公司", "employment_status": "在岗",
                "union_post": "无", "agree_declaration": true, "consent_sensitive": true,
                "signature_name": p.name
            }),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 201, "{applied}");
    // The second person is transferred to union B (waiting, then listed both ways).
    let (status, transfer) = w
        .app
        .post_json(
            &format!("/api/v1/admin/members/{}/changes", members[1]),
            &json!({"kind": "transfer_out", "reason": "调动", "effective_on": "2026-11-01", "to_org_id": w.union_b}),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 202, "{transfer}");
    answers.push(("transfer request".into(), transfer.to_string()));
    // A re-election, so that the union's terms name a chair.
    created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/terms", w.union_a),
        // The committee names people: a masked view must not show it.
        &json!({"leader_name": LEADER, "committee": format!("主席：{LEADER}；委员：{}、{}", people[0].name, people[1].name), "starts_on": "2023-01-01", "ends_on": "2028-01-01"}),
        &w.union_a_token,
    )
    .await;

    // Every admin route that answers people, as the county and as the union.
    let ua = &w.union_a;
    let mut json_routes: Vec<(String, &str)> = vec![
        (format!("/api/v1/admin/orgs/{ua}/members"), &w.union_a_token),
        ("/api/v1/admin/applications".into(), &w.union_a_token),
        ("/api/v1/admin/applications".into(), &w.county_token),
        (
            "/api/v1/admin/transfers?status=outgoing".into(),
            &w.union_a_token,
        ),
        (
            "/api/v1/admin/transfers?status=incoming".into(),
            &union_b_token,
        ),
        ("/api/v1/admin/quality".into(), &w.county_token),
        ("/api/v1/admin/quality".into(), &w.union_a_token),
        ("/api/v1/admin/audit?limit=200".into(), &w.county_token),
        ("/api/v1/admin/orgs?per_page=100".into(), &w.county_token),
        (format!("/api/v1/admin/orgs/{ua}"), &w.union_a_token),
        (format!("/api/v1/admin/orgs/{ua}/terms"), &w.union_a_token),
    ];
    for m in &members {
        json_routes.push((format!("/api/v1/admin/members/{m}"), &w.union_a_token));
        json_routes.push((format!("/api/v1/admin/members/{m}"), &w.county_token));
        json_routes.push((
            format!("/api/v1/admin/members/{m}/history"),
            &w.union_a_token,
        ));
    }
    for (path, token) in &json_routes {
        let (status, body) = w.app.get(path, Some(token)).await;
        assert_eq!(status, 200, "{path}: {body}");
        answers.push((path.clone(), body.to_string()));
    }
    // The masked member view says the birth year, nothing more of the birth date.
    let (_, one) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{}", members[0]),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(one["birth_year"], 1988, "{one}");
    assert!(
        s(&one["id_number"]).starts_with("330522********001") && one.get("birth_date").is_none(),
        "{one}"
    );
    // Searches (by body), for each kind of key.
    for p in &people[..3] {
        let mut keys = vec![json!({"id_number": p.id})];
        if let Some(m) = p.mobile {
            keys.push(json!({"mobile": m}));
        }
        for key in keys {
            let (status, found) = w
                .app
                .post_json("/api/v1/admin/members/search", &key, Some(&w.county_token))
                .await;
            assert_eq!(status, 200, "{found}");
            answers.push((format!("search {}", p.name), found.to_string()));
        }
    }
    // The workbooks, masked.
    let district = w.district_a.clone();
    for path in [
        format!("/api/v1/admin/orgs/{ua}/roster.xlsx"),
        format!("/api/v1/admin/orgs/{ua}/applications.xlsx"),
        format!("/api/v1/admin/orgs/{district}/units.xlsx"),
        "/api/v1/admin/quality?format=xlsx".to_owned(),
    ] {
        let (status, bytes) = get_bytes(&w.app, &path, &w.county_token).await;
        assert_eq!(status, 200, "{path}");
        answers.push((path, workbook_text(bytes)));
    }
    for (what, text) in &answers {
        assert_masked(what, text, &people);
    }
    // The walk saw the people (masked), not empty answers.
    let all: String = answers.iter().map(|(_, t)| t.as_str()).collect();
    for masked in ["欧阳**", "司马**", "诸葛**", "端木**", "139****0011"] {
        assert!(all.contains(masked), "{masked} never shown");
    }
    w.app.stop().await;
}

#[tokio::test]
async fn item2_union_leaders_are_masked_unless_read_in_full_which_is_audited() {
    let w = world().await;
    let ua = w.union_a.clone();
    let count_reads = |token: String| {
        let app = &w.app;
        async move {
            let (_, log) = app
                .get("/api/v1/admin/audit?action=org.read_full", Some(&token))
                .await;
            log["total"].as_u64().unwrap_or(u64::MAX)
        }
    };
    // Masked by default: the union itself, the list, the roster's header.
    for (path, token) in [
        (format!("/api/v1/admin/orgs/{ua}"), &w.union_a_token),
        (
            "/api/v1/admin/orgs?per_page=100".to_owned(),
            &w.county_token,
        ),
        (
            "/api/v1/admin/orgs?level=grassroots".to_owned(),
            &w.district_a_token,
        ),
    ] {
        let (status, body) = w.app.get(&path, Some(token)).await;
        assert_eq!(status, 200, "{path}: {body}");
        let text = body.to_string();
        assert!(!text.contains(LEADER), "{path}: {text}");
        assert!(!text.contains("6022447"), "{path}: {text}");
        assert!(
            text.contains("王**") && text.contains("057*****2447"),
            "{path}: {text}"
        );
    }
    let (_, bytes) = get_bytes(
        &w.app,
        &format!("/api/v1/admin/orgs/{ua}/roster.xlsx"),
        &w.union_a_token,
    )
    .await;
    let header = workbook_text(bytes);
    assert!(
        !header.contains(LEADER) && !header.contains("6022447"),
        "{header}"
    );
    assert_eq!(count_reads(w.county_token.clone()).await, 0);

    // In full on request, each read audited (one event per union shown in full).
    let (status, one) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{ua}?full=true"),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        (s(&one["union"]["leader_name"]), s(&one["union"]["phone"])),
        (LEADER.to_owned(), "0572-6022447".to_owned())
    );
    assert_eq!(count_reads(w.county_token.clone()).await, 1);
    let (status, list) = w
        .app
        .get("/api/v1/admin/orgs?full=true", Some(&w.county_token))
        .await;
    assert_eq!(status, 200, "{list}");
    assert!(list.to_string().contains(LEADER));
    // The county's list shows two unions (and districts, which have no leader here).
    assert_eq!(count_reads(w.county_token.clone()).await, 3);
    let (_, log) = w
        .app
        .get(
            &format!("/api/v1/admin/audit?action=org.read_full&target_id={ua}"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["items"][0]["fields"], json!(["leader_name", "phone"]));

    // Scope-checked: another union's org in full is 404, and nothing is recorded.
    let (status, _) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}?full=true", w.union_b),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(count_reads(w.county_token.clone()).await, 3);
    w.app.stop().await;
}

#[tokio::test]
async fn item3_member_search_takes_personal_data_in_the_body_not_the_url() {
    let w = world().await;
    let p = planted("上官晴川", "19870707", 7, Some("13957200077"));
    let added = created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_a),
        &roster_entry(&p, "甲公司工会"),
        &w.county_token,
    )
    .await;
    let member = s(&added["id"]);

    // The old search by URL is refused, naming the parameter, never echoing its value.
    for (query, field) in [
        (format!("id_number={}", p.id), "id_number"),
        ("mobile=13957200077".to_owned(), "mobile"),
    ] {
        let (status, e) = w
            .app
            .get(
                &format!("/api/v1/admin/members?{query}"),
                Some(&w.county_token),
            )
            .await;
        assert_eq!(
            (status, s(&e["code"]), s(&e["field"])),
            (400, "use_post_search".into(), field.into()),
            "{e}"
        );
        assert!(!e.to_string().contains(&p.id) && !e.to_string().contains("13957200077"));
    }

    let search = |body: Value, token: String| {
        let app = &w.app;
        async move {
            app.post_json("/api/v1/admin/members/search", &body, Some(&token))
                .await
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|m| s(&m["id"])).collect())
            .unwrap_or_default()
    };
    // By ID number, by mobile, narrowed by the exact name, by part of the name in one union.
    for body in [
        json!({"id_number": p.id}),
        json!({"mobile": "13957200077"}),
        json!({"id_number": p.id, "name": p.name}),
        json!({"name": "晴川", "org_id": w.union_a}),
    ] {
        let (status, found) = search(body.clone(), w.district_a_token.clone()).await;
        assert_eq!(status, 200, "{body}: {found}");
        assert_eq!(ids(&found), vec![member.clone()], "{body}");
        assert_eq!(found[0]["name"], "上官**", "masked");
    }
    // A name that does not match, and a caller outside the subtree, find nobody.
    let (_, none) = search(
        json!({"id_number": p.id, "name": "上官雨"}),
        w.district_a_token.clone(),
    )
    .await;
    assert_eq!(ids(&none), Vec::<String>::new());
    let district_b_token = admin_of(&w, "district_b_3", "district_admin", &w.district_b).await;
    let (_, none) = search(json!({"id_number": p.id}), district_b_token.clone()).await;
    assert_eq!(ids(&none), Vec::<String>::new());
    let (status, _) = search(
        json!({"name": "晴川", "org_id": w.union_a}),
        district_b_token,
    )
    .await;
    assert_eq!(status, 404, "another subtree's union");
    // Bad requests name the field.
    for (body, field) in [
        (json!({}), "id_number"),
        (json!({"id_number": "330522"}), "id_number"),
        (json!({"mobile": "123"}), "mobile"),
        (json!({"name": "晴川"}), "org_id"),
        (
            json!({"id_number": p.id, "mobile": "13957200077"}),
            "mobile",
        ),
    ] {
        let (status, e) = search(body.clone(), w.county_token.clone()).await;
        assert_eq!((status, s(&e["field"])), (400, field.into()), "{body}: {e}");
        assert!(!e.to_string().contains(&p.id));
    }
    w.app.stop().await;
}
