//! The roster in and out of Excel over HTTP.

use crate::helpers::{TestApp, county_org};
use crate::unions::id_number;
use huigong_core::Role;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::{Value, json};

pub(crate) async fn setup() -> (TestApp, String, String, String) {
    let app = TestApp::spawn().await;
    let (_, token) = app.token_for(Role::CountyAdmin).await;
    let (_, district) = app
        .post_json(
            "/api/v1/admin/orgs",
            &json!({"parent_id": county_org(), "level": "district", "name": "雉城街道总工会"}),
            Some(&token),
        )
        .await;
    let district = district["id"].as_str().unwrap_or_default().to_owned();
    let mut ids = Vec::new();
    for (name, code) in [
        ("甲公司工会", "91350100M000100Y43"),
        ("乙公司工会", "9135052155323005XL"),
    ] {
        let (status, org) = app
            .post_json("/api/v1/admin/orgs", &json!({
                "parent_id": district, "level": "grassroots", "name": name, "unit_name": name,
                "unit_code": code, "unit_nature": "私营经济", "unit_address": "长兴县", "employee_count": 50,
                "founded_on": "2010-01-01", "union_type": "单建", "member_count": 30,
                "leader_name": "王主席", "phone": "0572-6022447"}), Some(&token))
            .await;
        assert_eq!(status, 201, "{org}");
        ids.push(org["id"].as_str().unwrap_or_default().to_owned());
    }
    (app, token, ids[0].clone(), ids[1].clone())
}

/// A roster as a clerk makes one: title lines, header on row 5 with columns in their own
/// order, text and number cells mixed.
pub(crate) fn clerk_roster(
    rows: &[[&str; 10]],
    extra: impl FnOnce(&mut rust_xlsxwriter::Worksheet),
) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let _ = ws.write_string(0, 0, "长兴县基层工会会员花名册");
    let _ = ws.write_string(1, 0, "工会名称：甲公司工会");
    let _ = ws.write_string(2, 0, "联系人：王主席");
    let _ = ws.write_string(3, 0, "联系电话：6022447");
    let header = [
        "序号",
        "姓名",
        "身份证号码",
        "性别",
        "国籍",
        "学历",
        "手机号码",
        "户籍类型",
        "所属单位",
        "就业状况",
        "担任工会职务",
    ];
    for (c, h) in header.iter().enumerate() {
        let _ = ws.write_string(4, c as u16, *h);
    }
    for (i, r) in rows.iter().enumerate() {
        let row = 5 + i as u32;
        let _ = ws.write_number(row, 0, (i + 1) as f64);
        // name, id, sex, nationality, education, mobile, household, unit, employment, post
        for (c, v) in r.iter().enumerate() {
            let _ = ws.write_string(row, (c + 1) as u16, *v);
        }
    }
    extra(ws);
    wb.save_to_buffer().unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn row<'a>(name: &'a str, id: &'a str, sex: &'a str) -> [&'a str; 10] {
    [
        name,
        id,
        sex,
        "汉族",
        "大专",
        "13957200001",
        "农村",
        "甲公司",
        "在岗",
        "会员",
    ]
}

async fn upload(
    app: &TestApp,
    token: &str,
    org: &str,
    bytes: Vec<u8>,
    commit: bool,
) -> (u16, Value) {
    upload_to(
        app,
        token,
        &format!("/api/v1/admin/orgs/{org}/roster/import?commit={commit}"),
        bytes,
    )
    .await
}

/// Posts `bytes` as the multipart field `file`.
pub(crate) async fn upload_to(
    app: &TestApp,
    token: &str,
    path: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("导入.xlsx"),
    );
    crate::helpers::send(
        app.http
            .post(app.url(path))
            .bearer_auth(token)
            .multipart(form),
    )
    .await
}

/// Downloads an export.
pub(crate) async fn download(app: &TestApp, token: &str, path: &str) -> (u16, Vec<u8>) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap_or_default().to_vec())
}

#[tokio::test]
async fn a_clerks_workbook_is_checked_row_by_row_and_a_bad_commit_writes_nothing() {
    let (app, token, union_a, _) = setup().await;
    let good = id_number("19900101", 11);
    let lower_x = {
        // Find a number whose check digit is X, written in lower case.
        (1..999)
            .map(|n| id_number("19880808", n))
            .find(|s| s.ends_with('X'))
            .unwrap_or_default()
            .to_lowercase()
    };
    let female = id_number("19920202", 22);
    let rows = [
        row("张三", &good, "男"),
        row(
            "李四",
            &lower_x,
            if lower_x.as_bytes()[16] % 2 == 1 {
                "男"
            } else {
                "女"
            },
        ),
        row("王五", &female, "男"), // sex mismatch: row 8
        row("赵六", &good, "男"),   // duplicate of row 6: row 9
    ];
    let bytes = clerk_roster(&rows, |ws| {
        // Row 10: an ID typed as a number (Excel kept 15 digits), a date in a text column.
        let _ = ws.write_string(9, 1, "钱七");
        let _ = ws.write_number(9, 2, 330522199001011000.0);
        let _ = ws.write_string(9, 3, "男");
        let _ = ws.write_string(9, 4, "汉族");
        let _ = ws.write_string(9, 5, "高中");
        let _ = ws.write_number(9, 6, 13957200002.0);
        let _ = ws.write_string(9, 7, "城镇");
        let _ = ws.write_string(9, 8, "甲公司");
        let date = ExcelDateTime::from_ymd(2020, 5, 6).unwrap_or_else(|e| panic!("{e}"));
        let _ =
            ws.write_datetime_with_format(9, 9, &date, &Format::new().set_num_format("yyyy-mm-dd"));
        let _ = ws.write_string(9, 10, "会员");
    });
    let (status, report) = upload(&app, &token, &union_a, bytes.clone(), false).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["committed"], false);
    assert_eq!(report["rows"], 5);
    assert_eq!(report["valid"], 2, "{report}");
    let problems: Vec<(i64, String, String)> = report["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap_or_default(),
                e["column"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        problems.contains(&(8, "性别".into(), "sex_mismatch".into())),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(9, "身份证号码".into(), "duplicate_in_file".into())),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(10, "身份证号码".into(), "id_number_as_number".into())),
        "{problems:?}"
    );
    // No message echoes a submitted value.
    let text = report.to_string();
    assert!(
        !text.contains(&good) && !text.contains("13957200001"),
        "{text}"
    );

    let (status, refused) = upload(&app, &token, &union_a, bytes, true).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["committed"], false);
    let (_, list) = app
        .get(
            &format!("/api/v1/admin/orgs/{union_a}/members"),
            Some(&token),
        )
        .await;
    assert_eq!(list["total"], 0, "a refused commit wrote something");
    app.stop().await;
}

#[tokio::test]
async fn export_then_import_is_unchanged_and_people_stay_in_one_union() {
    let (app, token, union_a, union_b) = setup().await;
    let ids: Vec<String> = (0..6).map(|n| id_number("19850505", n * 2 + 1)).collect();
    let rows: Vec<[&str; 10]> = ids.iter().map(|id| row("孙悟空", id, "男")).collect();
    let (status, report) = upload(&app, &token, &union_a, clerk_roster(&rows, |_| {}), true).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["committed"].as_bool(), report["created"].as_u64()),
        (Some(true), Some(6))
    );

    // Full export → import: nothing changes.
    let res = app
        .http
        .get(app.url(&format!(
            "/api/v1/admin/orgs/{union_a}/roster.xlsx?full=true"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .contains("spreadsheetml")
    );
    let exported = res.bytes().await.unwrap_or_default().to_vec();
    let (status, again) = upload(&app, &token, &union_a, exported, true).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            again["created"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(6))
    );
    let (_, audit) = app
        .get(
            "/api/v1/admin/audit?action=roster.export_full",
            Some(&token),
        )
        .await;
    assert_eq!(audit["total"], 1);

    // The masked export shows no full ID number.
    let masked = app
        .http
        .get(app.url(&format!("/api/v1/admin/orgs/{union_a}/roster.xlsx")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .bytes()
        .await
        .unwrap_or_default();
    let parsed = huigong_roster::parse_roster(
        &masked,
        chrono::Utc::now().date_naive(),
        &huigong_roster::Limits::default(),
    );
    let parsed = parsed.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        parsed.rows.len(),
        0,
        "masked IDs must not parse as valid numbers"
    );

    // The same people into another union: each row is an error naming them masked.
    let (status, other) = upload(
        &app,
        &token,
        &union_b,
        clerk_roster(&rows[..2], |_| {}),
        true,
    )
    .await;
    assert_eq!(status, 422, "{other}");
    let errors = other["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["code"], "member_elsewhere");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("孙**")
    );
    assert!(!other.to_string().contains(&ids[0]));
    app.stop().await;
}

#[tokio::test]
async fn hostile_or_foreign_uploads_are_refused() {
    let (app, token, union_a, _) = setup().await;
    let (status, body) = upload(
        &app,
        &token,
        &union_a,
        b"not a workbook at all".to_vec(),
        false,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (400, Some("invalid_workbook"), Some("file")),
        "{body}"
    );
    let (status, _) = upload(&app, &token, &union_a, vec![0u8; 11 * 1024 * 1024], false).await;
    assert_eq!(status, 413);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_overlapping_imports_leave_one_membership_per_person() {
    let (app, token, union_a, union_b) = setup().await;
    let ids: Vec<String> = (0..20).map(|n| id_number("19770707", n * 2 + 1)).collect();
    let rows: Vec<[&str; 10]> = ids.iter().map(|id| row("周八", id, "男")).collect();
    let a = clerk_roster(&rows[..15], |_| {});
    let b = clerk_roster(&rows[5..], |_| {});
    let (ra, rb) = tokio::join!(
        upload(&app, &token, &union_a, a, true),
        upload(&app, &token, &union_b, b, true)
    );
    let committed = [&ra, &rb]
        .iter()
        .filter(|(s, r)| *s == 200 && r["committed"] == true)
        .count();
    assert!(committed >= 1, "{ra:?} {rb:?}");
    let (_, la) = app
        .get(
            &format!("/api/v1/admin/orgs/{union_a}/members?per_page=100"),
            Some(&token),
        )
        .await;
    let (_, lb) = app
        .get(
            &format!("/api/v1/admin/orgs/{union_b}/members?per_page=100"),
            Some(&token),
        )
        .await;
    let total = la["total"].as_u64().unwrap_or_default() + lb["total"].as_u64().unwrap_or_default();
    // Either one import won whole (15) and the other wrote nothing, or both won disjointly.
    assert!(
        total == 15 || total == 20,
        "{total} memberships for 20 people: {ra:?} {rb:?}"
    );
    for id in &ids {
        let (_, found) = app
            .post_json(
                "/api/v1/admin/members/search",
                &json!({"id_number": id}),
                Some(&token),
            )
            .await;
        assert!(
            found.as_array().map(Vec::len).unwrap_or(0) <= 1,
            "{id} has two memberships"
        );
    }
    app.stop().await;
}

/// A valid unified social credit code made from `seed` (Huzhou, enterprise).
pub(crate) fn credit_code(seed: u32) -> String {
    const CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    for org_check in "0123456789X".chars() {
        for check in CHARS.chars() {
            let code = format!("91330522{seed:08}{org_check}{check}");
            if huigong_core::unit_code::UnitCode::parse(&code).is_ok() {
                return code;
            }
        }
    }
    panic!("no credit code for {seed}")
}

/// One row of appendix 1: unit name, code, nature, address, employees, union name, founded,
/// union type, members, leader, phone.
pub(crate) type OrgLine<'a> = [&'a str; 11];

/// An organisation table as a district clerk makes one: a title line, a blank line, the
/// header, a founding date as an Excel date in the first row and as text elsewhere.
pub(crate) fn clerk_orgs(rows: &[OrgLine<'_>]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let _ = ws.write_string(0, 0, "长兴县基层工会组织信息采集汇总表");
    let header = [
        "序号",
        "单位名称",
        "单位组织机构代码证",
        "单位性质",
        "单位地址",
        "职工人数",
        "工会名称",
        "建会时间",
        "工会类型",
        "会员人数",
        "工会负责人",
        "联系电话",
        "备注",
    ];
    for (c, h) in header.iter().enumerate() {
        let _ = ws.write_string(2, c as u16, *h);
    }
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (i, r) in rows.iter().enumerate() {
        let row = 3 + i as u32;
        let _ = ws.write_number(row, 0, (i + 1) as f64);
        for (c, v) in r.iter().enumerate() {
            let col = (c + 1) as u16;
            if c == 6 && i == 0 {
                let parts: Vec<u16> = v.split('-').filter_map(|p| p.parse().ok()).collect();
                let when = ExcelDateTime::from_ymd(parts[0], parts[1] as u8, parts[2] as u8)
                    .unwrap_or_else(|e| panic!("{e}"));
                let _ = ws.write_datetime_with_format(row, col, &when, &date);
            } else if c == 4 || c == 8 {
                let _ = ws.write_number(row, col, v.parse::<f64>().unwrap_or_default());
            } else {
                let _ = ws.write_string(row, col, *v);
            }
        }
    }
    wb.save_to_buffer().unwrap_or_else(|e| panic!("{e}"))
}

async fn district(app: &TestApp, token: &str, name: &str) -> String {
    let (status, d) = app
        .post_json(
            "/api/v1/admin/orgs",
            &json!({"parent_id": county_org(), "level": "district", "name": name}),
            Some(token),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    d["id"].as_str().unwrap_or_default().to_owned()
}

async fn grassroots_under(app: &TestApp, token: &str, district: &str) -> Vec<Value> {
    let (_, list) = app
        .get(
            "/api/v1/admin/orgs?level=grassroots&per_page=100",
            Some(token),
        )
        .await;
    list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o["parent_id"] == district)
        .collect()
}

#[tokio::test]
async fn an_org_table_creates_unions_joint_ones_with_their_units_and_round_trips() {
    let app = TestApp::spawn().await;
    let (_, token) = app.token_for(Role::CountyAdmin).await;
    let zhicheng = district(&app, &token, "雉城街道总工会").await;
    let (a, b, c, d) = (
        credit_code(1),
        credit_code(2),
        credit_code(3),
        credit_code(4),
    );
    let rows: Vec<OrgLine<'_>> = vec![
        [
            "甲公司",
            &a,
            "私营经济",
            "长兴县雉城街道1号",
            "120",
            "甲公司工会",
            "2010-05-06",
            "单建",
            "100",
            "王建国",
            "0572-6022447",
        ],
        [
            "乙商店",
            &b,
            "个体经济",
            "长兴县雉城街道2号",
            "8",
            "雉城商圈联合工会",
            "2015-01-01",
            "联合工会",
            "20",
            "李红",
            "13957200001",
        ],
        [
            "丙饭店",
            &c,
            "个体经济",
            "长兴县雉城街道3号",
            "12",
            "雉城商圈联合工会",
            "2015/1/1",
            "联合工会",
            "20",
            "李红",
            "13957200001",
        ],
        [
            "丁学校",
            &d,
            "事业单位",
            "长兴县雉城街道4号",
            "60",
            "丁学校工会",
            "2001年9月1日",
            "单建",
            "55",
            "赵老师",
            "0572-6000001",
        ],
    ];
    let file = clerk_orgs(&rows);
    let path = format!("/api/v1/admin/orgs/{zhicheng}/children/import");
    let (status, dry) = upload_to(&app, &token, &path, file.clone()).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (
            dry["rows"].as_u64(),
            dry["valid"].as_u64(),
            dry["committed"].as_bool()
        ),
        (Some(4), Some(4), Some(false)),
        "{dry}"
    );
    assert!(
        grassroots_under(&app, &token, &zhicheng).await.is_empty(),
        "a dry run writes nothing"
    );

    let (status, done) = upload_to(&app, &token, &format!("{path}?commit=true"), file).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["committed"].as_bool(), done["created"].as_u64()),
        (Some(true), Some(3)),
        "{done}"
    );
    let unions = grassroots_under(&app, &token, &zhicheng).await;
    assert_eq!(unions.len(), 3);
    let joint = unions
        .iter()
        .find(|u| u["name"] == "雉城商圈联合工会")
        .unwrap_or_else(|| panic!("no joint union in {unions:?}"));
    assert_eq!(joint["union"]["union_type"], "联合工会");
    assert_eq!(joint["union"]["units"].as_array().map(Vec::len), Some(2));
    assert_eq!(joint["union"]["member_count_declared"], 20);
    let school = unions
        .iter()
        .find(|u| u["name"] == "丁学校工会")
        .cloned()
        .unwrap_or_default();
    assert_eq!(school["union"]["founded_on"], "2001-09-01");

    // The full export imports back unchanged; the masked one hides leaders' names.
    let (status, full) = download(
        &app,
        &token,
        &format!("/api/v1/admin/orgs/{zhicheng}/units.xlsx?full=true"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, again) = upload_to(&app, &token, &format!("{path}?commit=true"), full).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            again["created"].as_u64(),
            again["updated"].as_u64(),
            again["unchanged"].as_u64()
        ),
        (Some(0), Some(0), Some(3)),
        "{again}"
    );
    let (_, masked) = download(
        &app,
        &token,
        &format!("/api/v1/admin/orgs/{zhicheng}/units.xlsx"),
    )
    .await;
    let today = chrono::Utc::now().date_naive();
    let parsed = huigong_roster::parse_orgs(&masked, today, &huigong_roster::Limits::default())
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(parsed.total_rows, 4);
    assert!(
        parsed.rows.iter().all(|r| r.leader_name.contains('*')),
        "{:?}",
        parsed.rows
    );
    let (_, audit) = app
        .get("/api/v1/admin/audit?action=units.export_full", Some(&token))
        .await;
    assert_eq!(audit["total"], 1);

    // January's update: a new leader and one more unit in the joint union.
    let e = credit_code(5);
    let mut updated = rows.clone();
    updated[0][9] = "钱多多";
    updated.push([
        "戊超市",
        &e,
        "私营经济",
        "长兴县雉城街道5号",
        "30",
        "雉城商圈联合工会",
        "2015-01-01",
        "联合工会",
        "20",
        "李红",
        "13957200001",
    ]);
    let (status, refresh) = upload_to(
        &app,
        &token,
        &format!("{path}?commit=true"),
        clerk_orgs(&updated),
    )
    .await;
    assert_eq!(status, 200, "{refresh}");
    assert_eq!(
        (
            refresh["created"].as_u64(),
            refresh["updated"].as_u64(),
            refresh["unchanged"].as_u64()
        ),
        (Some(0), Some(2), Some(1)),
        "{refresh}"
    );
    let unions = grassroots_under(&app, &token, &zhicheng).await;
    let joint = unions
        .iter()
        .find(|u| u["name"] == "雉城商圈联合工会")
        .cloned()
        .unwrap_or_default();
    assert_eq!(joint["union"]["units"].as_array().map(Vec::len), Some(3));
    let first = unions
        .iter()
        .find(|u| u["name"] == "甲公司工会")
        .cloned()
        .unwrap_or_default();
    // Masked in the list (item 2); the workbook round trip above compares full values.
    assert_eq!(first["union"]["leader_name"], "钱**");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_org_table_names_rows_and_columns_and_commits_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = app.token_for(Role::CountyAdmin).await;
    let zhicheng = district(&app, &token, "雉城街道总工会").await;
    let meishan = district(&app, &token, "煤山镇总工会").await;
    let taken = credit_code(10);
    let first: Vec<OrgLine<'_>> = vec![[
        "煤山厂",
        &taken,
        "集体经济",
        "长兴县煤山镇",
        "40",
        "煤山厂工会",
        "2012-03-04",
        "单建",
        "30",
        "周厂长",
        "0572-6000002",
    ]];
    let (status, r) = upload_to(
        &app,
        &token,
        &format!("/api/v1/admin/orgs/{meishan}/children/import?commit=true"),
        clerk_orgs(&first),
    )
    .await;
    assert_eq!(status, 200, "{r}");

    let (good, other, joint2, future) = (
        credit_code(11),
        credit_code(12),
        credit_code(13),
        credit_code(14),
    );
    let rows: Vec<OrgLine<'_>> = vec![
        [
            "好公司",
            &good,
            "私营经济",
            "长兴县",
            "10",
            "好公司工会",
            "2010-05-06",
            "单建",
            "9",
            "吴一",
            "0572-6022447",
        ],
        [
            "煤山厂",
            &taken,
            "集体经济",
            "长兴县煤山镇",
            "40",
            "煤山厂工会",
            "2012-03-04",
            "单建",
            "30",
            "周厂长",
            "0572-6000002",
        ],
        [
            "坏代码",
            "91330522000000XX",
            "私营经济",
            "长兴县",
            "10",
            "坏代码工会",
            "2010-05-06",
            "单建",
            "9",
            "吴二",
            "0572-6022447",
        ],
        [
            "联一",
            &other,
            "个体经济",
            "长兴县",
            "5",
            "某联合工会",
            "2016-01-01",
            "联合工会",
            "12",
            "郑三",
            "13957200002",
        ],
        [
            "联二",
            &joint2,
            "个体经济",
            "长兴县",
            "5",
            "某联合工会",
            "2016-01-01",
            "联合工会",
            "15",
            "郑三",
            "13957200002",
        ],
        [
            "未来",
            &future,
            "外资",
            "长兴县",
            "5",
            "未来工会",
            "2999-01-01",
            "单建",
            "3",
            "冯四",
            "6022447",
        ],
    ];
    let path = format!("/api/v1/admin/orgs/{zhicheng}/children/import?commit=true");
    let (status, report) = upload_to(&app, &token, &path, clerk_orgs(&rows)).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["committed"], false);
    assert_eq!(
        (report["rows"].as_u64(), report["valid"].as_u64()),
        (Some(6), Some(2)),
        "{report}"
    );
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    let has = |row: u64, column: &str, code: &str| {
        errors
            .iter()
            .any(|e| e["row"] == row && e["column"] == column && e["code"] == code)
    };
    assert!(has(5, "单位组织机构代码证", "unit_elsewhere"), "{report}");
    assert!(
        errors
            .iter()
            .any(|e| e["row"] == 6 && e["column"] == "单位组织机构代码证"),
        "{report}"
    );
    assert!(has(8, "会员人数", "union_fields_differ"), "{report}");
    assert!(has(9, "单位性质", "unit_nature_invalid"), "{report}");
    assert!(has(9, "建会时间", "date_in_future"), "{report}");
    assert!(
        errors
            .iter()
            .any(|e| e["row"] == 9 && e["column"] == "联系电话"),
        "{report}"
    );
    assert!(
        grassroots_under(&app, &token, &zhicheng).await.is_empty(),
        "a refused commit wrote something"
    );

    // Import targets a district union.
    let (status, body) = upload_to(
        &app,
        &token,
        &format!("/api/v1/admin/orgs/{}/children/import", county_org()),
        clerk_orgs(&first),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("not_district")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_roster_of_several_pages_exports_whole_and_in_order() {
    let (app, token, union_a, _) = setup().await;
    // 2,500 members: more than one page of the export's reads.
    let ids: Vec<String> = (0..2500u32)
        .map(|n| id_number(&format!("198001{:02}", n / 500 + 1), (n % 500) * 2 + 1))
        .collect();
    let rows: Vec<[&str; 10]> = ids.iter().map(|id| row("郑九", id, "男")).collect();
    let (status, report) = upload(&app, &token, &union_a, clerk_roster(&rows, |_| {}), true).await;
    assert_eq!(
        (status, report["created"].as_u64()),
        (200, Some(2500)),
        "{report}"
    );
    let (status, bytes) = download(
        &app,
        &token,
        &format!("/api/v1/admin/orgs/{union_a}/roster.xlsx?full=true"),
    )
    .await;
    assert_eq!(status, 200);
    let parsed = huigong_roster::parse_roster(
        &bytes,
        chrono::Utc::now().date_naive(),
        &huigong_roster::Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let exported: Vec<&str> = parsed.rows.iter().map(|r| r.id_number.as_str()).collect();
    let expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        exported, expected,
        "every member once, in the order imported"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_second_import_updates_changed_fields_and_names_in_place() {
    let (app, token, union_a, _) = setup().await;
    let ids: Vec<String> = (0..3).map(|n| id_number("19830303", n * 2 + 1)).collect();
    let first: Vec<[&str; 10]> = ids.iter().map(|id| row("冯十", id, "男")).collect();
    let (status, _) = upload(&app, &token, &union_a, clerk_roster(&first, |_| {}), true).await;
    assert_eq!(status, 200);
    // July's roster: one member has a new degree, another a corrected name.
    let mut second = first.clone();
    second[0][4] = "本科";
    second[1][0] = "冯拾";
    let (status, report) =
        upload(&app, &token, &union_a, clerk_roster(&second, |_| {}), true).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (
            report["created"].as_u64(),
            report["updated"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(0), Some(1), Some(2)),
        "{report}"
    );
    let (_, found) = app
        .post_json(
            "/api/v1/admin/members/search",
            &json!({"id_number": ids[1]}),
            Some(&token),
        )
        .await;
    let member = found[0]["id"].as_str().unwrap_or_default().to_owned();
    let (_, full) = app
        .get(
            &format!("/api/v1/admin/members/{member}?full=true"),
            Some(&token),
        )
        .await;
    assert_eq!(full["name"], "冯拾", "{full}");
    let (_, list) = app
        .get(
            &format!("/api/v1/admin/orgs/{union_a}/members"),
            Some(&token),
        )
        .await;
    assert_eq!(list["total"], 3);
    app.stop().await;
}

/// The first sheet's cells as text.
pub(crate) fn sheet_cells(bytes: Vec<u8>) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("{e}"));
    let range = book
        .worksheet_range_at(0)
        .unwrap_or_else(|| panic!("no sheet"))
        .unwrap_or_else(|e| panic!("{e}"));
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Float(f) => f.to_string(),
                    _ => String::new(),
                })
                .collect()
        })
        .collect()
}

/// Activates the card of a rostered person for a new WeChat account.
async fn activate_card(app: &TestApp, openid: &str, name: &str, id: &str) {
    let worker = app.login(openid).await;
    let (status, p) = app
        .post_json(
            "/api/v1/card/activation/preview",
            &json!({"name": name, "id_number": id}),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let (status, c) = app
        .post_json(
            "/api/v1/card/activation/confirm",
            &json!({"preview_id": p["preview_id"]}),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 201, "{c}");
}

#[tokio::test]
async fn item3_appendix2_lists_every_member_two_per_row_with_card_wechat_and_signature() {
    let (app, token, union_a, union_b) = setup().await;
    // 钱一 on paper, no card; 孙二 on paper with a card; 赵小明 applied online.
    let qian = id_number("19880808", 31);
    let sun = id_number("19880808", 33);
    for (name, id) in [("钱一", &qian), ("孙二", &sun)] {
        let (status, out) = app
            .post_json(
                &format!("/api/v1/admin/orgs/{union_a}/members"),
                &crate::unions::member(name, id, "男"),
                Some(&token),
            )
            .await;
        assert_eq!(status, 201, "{out}");
    }
    activate_card(&app, "item3-sun", "孙二", &sun).await;
    let worker = app.login("item3-zhao").await;
    let zhao = id_number("19920304", 35);
    let (status, applied, _) = crate::applications::apply(
        &app,
        &worker,
        &crate::applications::application(&union_a, "赵小明", &zhao, "男"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{applied}");
    let (status, approved) = app
        .post_json(
            &format!(
                "/api/v1/admin/applications/{}/approve",
                applied["id"].as_str().unwrap_or_default()
            ),
            &json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();

    let path = format!("/api/v1/admin/orgs/{union_a}/signing-list.xlsx");
    let (status, bytes) = download(&app, &token, &path).await;
    assert_eq!(status, 200);
    let sheet = sheet_cells(bytes);
    assert_eq!(sheet[0][0], "中华全国总工会入会申请书");
    assert!(sheet[1][0].starts_with("我自愿加入中华全国总工会"));
    assert_eq!(sheet[2][0], "工会名称：甲公司工会");
    let group = [
        "序号",
        "姓名",
        "签名",
        "是否注册电子会员卡(√)",
        "有无微信(√)",
    ];
    assert_eq!(sheet[3], [group, group].concat());
    assert_eq!(
        sheet[4],
        ["1", "钱*", "", "", "", "2", "孙*", "", "√", "√"],
        "paper members: blank signature; the card's holder has WeChat bound"
    );
    assert_eq!(
        sheet[5],
        [
            "3",
            "赵**",
            &format!("已在线签名 {today}"),
            "",
            "√",
            "",
            "",
            "",
            "",
            ""
        ]
    );
    assert!(sheet[6][0].starts_with("备注：《中华全国总工会入会申请书》一式两份"));
    assert_eq!(sheet.len(), 7);

    // In full only when asked, and audited.
    let (status, bytes) = download(&app, &token, &format!("{path}?full=true")).await;
    assert_eq!(status, 200);
    let sheet = sheet_cells(bytes);
    assert_eq!(
        (sheet[4][1].as_str(), sheet[5][1].as_str()),
        ("钱一", "赵小明")
    );
    let (_, log) = app
        .get(
            "/api/v1/admin/audit?action=members.signing_list_full",
            Some(&token),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");
    // Another union's admin does not see that the union exists.
    crate::unions::created(
        &app,
        "/api/v1/admin/users",
        &json!({"username": "item3_b", "password": crate::unions::PASSWORD,
                "role": "grassroots_admin", "org_id": union_b}),
        &token,
    )
    .await;
    let other = crate::unions::login(&app, "item3_b").await;
    let (status, _) = download(&app, &other, &path).await;
    assert_eq!(status, 404);
    app.stop().await;
}
