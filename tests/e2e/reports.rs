//! Issue 14, the reports: 进度通报 (live month, snapshots taken once, Beijing month boundary,
//! targets, workbook with charts), 建会补助 (rule, approval, paid once) and the half-year cycle
//! with its archived roster. Expected figures are computed from the data each test creates.

use crate::helpers::{TestApp, county_org, send};
use crate::roster::credit_code;
use crate::unions::id_number;
use chrono::{DateTime, Utc};
use huigong_core::period::{HalfYear, Month};
use huigong_core::{Clock, FixedClock, IdNumber, Mobile, Role};
use huigong_store::audit::Actor;
use huigong_store::members::RosterFields;
use huigong_store::people::PersonInput;
use huigong_store::reports::SnapshotOutcome;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// A token for a new account of `role` in `org`, its session dated by the service's clock.
async fn token_at(app: &TestApp, role: Role, org: Uuid) -> String {
    let now = app.state.clock.now();
    let user = huigong_store::users::create_account(
        &app.state.db.conn,
        huigong_store::users::NewAccount {
            role,
            username: None,
            password_hash: None,
            org_id: Some(org),
        },
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("account: {e}"));
    let expires_at = now + chrono::Duration::hours(2);
    let record = huigong_store::SessionRecord {
        user_id: user.id,
        role,
        openid: None,
        unionid: None,
        session_key: None,
        created_at: now,
        expires_at,
        password_change_required: false,
    };
    let sid = app
        .state
        .sessions
        .create(&record, now)
        .await
        .unwrap_or_else(|e| panic!("session: {e}"));
    app.state
        .jwt
        .issue(user.id, sid, now, expires_at)
        .unwrap_or_else(|e| panic!("token: {e}"))
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

async fn create_org(app: &TestApp, token: &str, body: &Value) -> Uuid {
    let (status, out) = app.post_json("/api/v1/admin/orgs", body, Some(token)).await;
    assert_eq!(status, 201, "{out}");
    Uuid::parse_str(&s(&out["id"])).unwrap_or_default()
}

fn district(name: &str) -> Value {
    json!({"parent_id": county_org(), "level": "district", "name": name})
}

fn union(parent: Uuid, name: &str, seed: u32, nature: &str, employees: u32) -> Value {
    json!({
        "parent_id": parent, "level": "grassroots", "name": name,
        "unit_name": format!("{name}所在单位"), "unit_code": credit_code(seed),
        "unit_nature": nature, "unit_address": "浙江省湖州市长兴县雉城街道金陵路88号",
        "employee_count": employees, "founded_on": "2026-03-01", "union_type": "单建",
        "member_count": 10, "leader_name": "王主席", "phone": "0572-6022447"
    })
}

fn fields(complete: bool) -> RosterFields {
    RosterFields {
        unit_name: "长兴示范企业".into(),
        nationality: "汉族".into(),
        education: if complete { "大专" } else { "" }.into(),
        household_type: "农村".into(),
        employment_status: "在岗".into(),
        union_post: "会员".into(),
    }
}

/// Adds a member to `org` at the service's clock; returns the person's id.
async fn add_member(app: &TestApp, org: Uuid, name: &str, seq: u32, complete: bool) -> Uuid {
    add_membership(app, org, name, seq, complete).await.0
}

/// As [`add_member`]; returns the person's and the membership's ids.
async fn add_membership(
    app: &TestApp,
    org: Uuid,
    name: &str,
    seq: u32,
    complete: bool,
) -> (Uuid, Uuid) {
    let now = app.state.clock.now();
    let id = IdNumber::parse(&id_number("19900101", seq), now.date_naive())
        .unwrap_or_else(|_| panic!("id number"));
    let mobile = Mobile::parse("13957212345").unwrap_or_else(|_| panic!("mobile"));
    let m = huigong_store::members::add(
        &app.state.db,
        &app.state.vault,
        &app.state.card_views,
        org,
        PersonInput {
            id_number: &id,
            name,
            mobile: Some(&mobile),
        },
        &fields(complete),
        None,
        &Actor::system(),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("add member: {e}"));
    (m.person.id, m.id)
}

async fn worker(app: &TestApp) -> Uuid {
    huigong_store::users::create_account(
        &app.state.db.conn,
        huigong_store::users::NewAccount {
            role: Role::Worker,
            username: None,
            password_hash: None,
            org_id: None,
        },
        app.state.clock.now(),
    )
    .await
    .unwrap_or_else(|e| panic!("worker: {e}"))
    .id
}

async fn activate(app: &TestApp, person: Uuid) {
    let user = worker(app).await;
    huigong_store::cards::activate(
        &app.state.db,
        &app.state.card_views,
        person,
        user,
        &Actor::system(),
        app.state.clock.now(),
    )
    .await
    .unwrap_or_else(|e| panic!("activate: {e}"));
}

/// An online application to `org` at the service's clock.
async fn apply(app: &TestApp, org: Uuid, seq: u32) {
    let user = worker(app).await;
    let now = app.state.clock.now();
    let id = IdNumber::parse(&id_number("19950101", seq), now.date_naive())
        .unwrap_or_else(|_| panic!("id number"));
    huigong_store::applications::submit(
        &app.state.db,
        &app.state.vault,
        huigong_store::applications::NewApplication {
            user_id: user,
            org_id: org,
            id_number: &id,
            name: "申请人",
            mobile: None,
            fields: &fields(true),
            declaration_version: "2018",
            consent_sensitive: true,
            signature_name: "申请人",
            signature_png: None,
            idempotency_key: None,
        },
        false,
        &Actor::system(),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("apply: {e}"));
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

/// Every sheet's cells as text (numbers as written by `f64::to_string`).
fn sheets(bytes: &[u8]) -> Vec<(String, Vec<Vec<String>>)> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec()))
        .unwrap_or_else(|e| panic!("{e}"));
    let names = book.sheet_names();
    names
        .into_iter()
        .map(|name| {
            let range = book
                .worksheet_range(&name)
                .unwrap_or_else(|e| panic!("{e}"));
            let rows = range
                .rows()
                .map(|r| {
                    r.iter()
                        .map(|c| match c {
                            Data::String(s) => s.clone(),
                            Data::Float(f) => f.to_string(),
                            Data::Int(i) => i.to_string(),
                            _ => String::new(),
                        })
                        .collect()
                })
                .collect();
            (name, rows)
        })
        .collect()
}

fn row_named<'a>(rows: &'a [Vec<String>], name: &str) -> &'a Vec<String> {
    rows.iter()
        .find(|r| r.get(1).is_some_and(|c| c == name))
        .unwrap_or_else(|| panic!("no row {name}: {rows:?}"))
}

/// One minute before the next month starts in Beijing (a month boundary after the real time,
/// so tokens dated by the test clock are still valid).
fn just_before_next_beijing_month() -> DateTime<Utc> {
    Month::of(Utc::now()).end() - chrono::Duration::seconds(60)
}

#[tokio::test]
async fn item14_progress_counts_months_in_beijing_time_and_keeps_past_months_as_snapshots() {
    let t0 = just_before_next_beijing_month();
    let clock = Arc::new(FixedClock::new(t0));
    let app = TestApp::spawn_with_clock(|_| {}, clock.clone()).await;
    let last = Month::of(t0);
    let county = token_at(&app, Role::CountyAdmin, county_org()).await;
    let da = create_org(&app, &county, &district("雉城街道总工会")).await;
    let db = create_org(&app, &county, &district("煤山镇总工会")).await;
    let ua = create_org(
        &app,
        &county,
        &union(da, "甲公司工会", 7001, "私营经济", 120),
    )
    .await;
    let ub = create_org(
        &app,
        &county,
        &union(db, "乙公司工会", 7002, "私营经济", 30),
    )
    .await;

    // Last month (Beijing): A has 2 members, one with a card and one incomplete; B has 1.
    let a1 = add_member(&app, ua, "张三", 1, true).await;
    add_member(&app, ua, "李四", 2, false).await;
    add_member(&app, ub, "王五", 3, true).await;
    activate(&app, a1).await;
    apply(&app, ua, 11).await; // 23:59 Beijing: last month's
    // 00:00:30 on the 1st in Beijing, still the previous day in UTC.
    clock.advance(chrono::Duration::seconds(90));
    assert_eq!(Month::of(clock.now()), last.next());
    let snapshot = huigong_api::reports::snapshot(&app.state, last, "test").await;
    assert!(
        matches!(snapshot, Ok(SnapshotOutcome::Taken)),
        "{snapshot:?}"
    );
    let again = huigong_api::reports::snapshot(&app.state, last, "test").await;
    assert!(
        matches!(again, Ok(SnapshotOutcome::AlreadyTaken)),
        "{again:?}"
    );
    // This month: one more member in B, one more application to A.
    add_member(&app, ub, "赵六", 4, true).await;
    apply(&app, ua, 12).await;

    let (status, past) = app
        .get(
            &format!("/api/v1/admin/reports/progress?month={last}"),
            Some(&county),
        )
        .await;
    assert_eq!(status, 200, "{past}");
    assert_eq!(past["live"], false);
    assert_eq!(past["total"]["members"], 3);
    assert_eq!(past["total"]["members_complete"], 2);
    assert_eq!(past["total"]["cards_active"], 1);
    assert_eq!(past["total"]["applications_received"], 1);
    assert_eq!(past["total"]["applications_pending"], 1);
    assert_eq!(past["total"]["unions_registered"], 2);
    // Ranked by activation rate: A (1 of 2) before B (0 of 1).
    assert_eq!(past["rows"][0]["org_id"], da.to_string());
    assert_eq!(past["rows"][0]["rank"], 1);
    assert_eq!(past["rows"][0]["figures"]["activation_rate"], 0.5);
    assert_eq!(past["rows"][1]["org_id"], db.to_string());

    let (status, live) = app
        .get("/api/v1/admin/reports/progress", Some(&county))
        .await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["month"], last.next().to_string());
    assert_eq!(live["live"], true);
    assert_eq!(live["total"]["members"], 4);
    assert_eq!(live["total"]["applications_received"], 1);
    assert_eq!(live["total"]["applications_pending"], 2);
    assert_eq!(live["total_change"]["members"], 1);
    assert_eq!(live["total_change"]["applications_received"], 0);
    let row_b = live["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["org_id"] == db.to_string()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(row_b["figures"]["members"], 2);
    assert_eq!(row_b["change"]["members"], 1);

    // A month not yet begun, and a past one without a snapshot.
    let (status, e) = app
        .get(
            &format!(
                "/api/v1/admin/reports/progress?month={}",
                last.next().next()
            ),
            Some(&county),
        )
        .await;
    assert_eq!((status, s(&e["field"])), (400, "month".to_owned()), "{e}");
    let (status, e) = app
        .get(
            "/api/v1/admin/reports/progress?month=2001-01",
            Some(&county),
        )
        .await;
    assert_eq!(
        (status, s(&e["code"])),
        (404, "no_snapshot".to_owned()),
        "{e}"
    );

    // Targets: the county sets one per district; a district may not.
    let district_a = token_at(&app, Role::DistrictAdmin, da).await;
    let (status, e) = send(
        app.http
            .put(app.url(&format!("/api/v1/admin/reports/targets/{da}")))
            .bearer_auth(&district_a)
            .json(&json!({"members": 4, "unions": 2})),
    )
    .await;
    assert_eq!(
        (status, s(&e["code"])),
        (403, "county_only".to_owned()),
        "{e}"
    );
    let (status, e) = send(
        app.http
            .put(app.url(&format!("/api/v1/admin/reports/targets/{ua}")))
            .bearer_auth(&county)
            .json(&json!({"members": 4, "unions": 2})),
    )
    .await;
    assert_eq!(status, 404, "a grassroots union has no target: {e}");
    let (status, t) = send(
        app.http
            .put(app.url(&format!("/api/v1/admin/reports/targets/{da}")))
            .bearer_auth(&county)
            .json(&json!({"members": 4, "unions": 2})),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let (_, live) = app
        .get("/api/v1/admin/reports/progress", Some(&county))
        .await;
    assert_eq!(live["rows"][0]["target"]["members"], 4);
    assert_eq!(live["rows"][0]["target"]["members_progress"], 0.5);
    assert_eq!(live["rows"][0]["target"]["unions_progress"], 0.5);

    // A district sees its own unions only; a grassroots admin sees no report.
    let (status, mine) = app
        .get("/api/v1/admin/reports/progress", Some(&district_a))
        .await;
    assert_eq!(status, 200, "{mine}");
    let ids: Vec<String> = mine["rows"]
        .as_array()
        .map(|r| r.iter().map(|x| s(&x["org_id"])).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![ua.to_string()]);
    assert_eq!(mine["total"]["members"], 2);
    let union_admin = token_at(&app, Role::GrassrootsAdmin, ua).await;
    let (status, _) = app
        .get("/api/v1/admin/reports/progress", Some(&union_admin))
        .await;
    assert_eq!(status, 403);

    // The workbook: title row with the month, the table with its total, two native charts.
    let (status, bytes) = get_bytes(
        &app,
        &format!("/api/v1/admin/reports/progress.xlsx?month={last}"),
        &county,
    )
    .await;
    assert_eq!(status, 200);
    let book = sheets(&bytes);
    let (name, rows) = &book[0];
    assert_eq!(name, "进度通报");
    assert_eq!(
        rows[0][0],
        format!("长兴县工会会员实名制工作进度通报（{}）", last.label_zh())
    );
    assert_eq!(rows[2][1], "单位");
    assert_eq!(rows[2][7], "激活率");
    let first = &rows[3];
    assert_eq!(
        (first[0].as_str(), first[1].as_str()),
        ("1", "雉城街道总工会")
    );
    assert_eq!(first[7], "0.5");
    let total = row_named(rows, "合计");
    assert_eq!(total[4], "3", "members");
    assert_eq!(total[6], "1", "cards");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("xl/charts/chart1.xml") && text.contains("xl/charts/chart2.xml"));
    let (months_sheet, months) = &book[1];
    assert_eq!(months_sheet, "月度会员数");
    assert!(
        months
            .iter()
            .any(|r| r == &vec![last.to_string(), "3".to_owned()]),
        "{months:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn item14_a_month_is_snapshotted_by_exactly_one_of_two_instances() {
    let (a, b) = TestApp::two_sharing_services().await;
    use huigong_store::entity::progress_snapshot;
    // Both instances started and both tried the last ended month: one row.
    let last = Month::of(Utc::now()).prev();
    let mut rows = 0;
    for _ in 0..50 {
        rows = progress_snapshot::Entity::find()
            .filter(progress_snapshot::Column::Month.eq(last.to_string()))
            .count(&a.state.db.conn)
            .await
            .unwrap_or_default();
        if rows > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rows, 1);
    // Both race for an earlier month, at the same time: exactly one takes it.
    let month = last.prev().prev();
    let (ra, rb) = tokio::join!(
        huigong_api::reports::snapshot(&a.state, month, "instance-a"),
        huigong_api::reports::snapshot(&b.state, month, "instance-b"),
    );
    let outcomes = [
        ra.unwrap_or_else(|e| panic!("{e}")),
        rb.unwrap_or_else(|e| panic!("{e}")),
    ];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == SnapshotOutcome::Taken)
            .count(),
        1,
        "{outcomes:?}"
    );
    let taken = progress_snapshot::Entity::find()
        .filter(progress_snapshot::Column::Month.eq(month.to_string()))
        .all(&b.state.db.conn)
        .await
        .unwrap_or_default();
    assert_eq!(taken.len(), 1);
    let winner = if outcomes[0] == SnapshotOutcome::Taken {
        "instance-a"
    } else {
        "instance-b"
    };
    assert_eq!(taken[0].taken_by, winner);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn item14_subsidy_of_fifty_employees_is_1000_yuan_approved_and_paid_once() {
    let app = TestApp::spawn().await;
    let county = token_at(&app, Role::CountyAdmin, county_org()).await;
    let d = create_org(&app, &county, &district("雉城街道总工会")).await;
    let fifty = create_org(
        &app,
        &county,
        &union(d, "五十人公司工会", 7101, "私营经济", 50),
    )
    .await;
    let state_owned = create_org(
        &app,
        &county,
        &union(d, "国有公司工会", 7102, "国有经济", 600),
    )
    .await;
    let empty = create_org(
        &app,
        &county,
        &union(d, "新建公司工会", 7103, "股份制", 501),
    )
    .await;
    add_member(&app, fifty, "张三", 21, true).await;
    add_member(&app, state_owned, "李四", 22, true).await;
    let _ = empty;

    let (status, list) = app
        .get("/api/v1/admin/reports/subsidies", Some(&county))
        .await;
    assert_eq!(status, 200, "{list}");
    let line = |list: &Value, id: Uuid| {
        list.as_array()
            .and_then(|l| l.iter().find(|x| x["org_id"] == id.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    let f = line(&list, fifty);
    assert_eq!(
        (s(&f["status"]), f["amount"].clone()),
        ("eligible".to_owned(), json!(1000))
    );
    assert_eq!(f["employee_count"], 50);
    assert_eq!(f["unit_natures"], json!(["私营经济"]));
    let so = line(&list, state_owned);
    assert_eq!(s(&so["status"]), "not_eligible");
    assert_eq!(so["missing"][0]["code"], "unit_nature");
    let e = line(&list, empty);
    assert_eq!(e["missing"][0]["code"], "no_members");

    // Only the county approves; an ineligible union is refused with what it lacks.
    let district_admin = token_at(&app, Role::DistrictAdmin, d).await;
    let approve = |id: Uuid| format!("/api/v1/admin/reports/subsidies/{id}/approve");
    let (status, err) = app
        .post_json(&approve(fifty), &json!({}), Some(&district_admin))
        .await;
    assert_eq!((status, s(&err["code"])), (403, "county_only".to_owned()));
    let (status, err) = app
        .post_json(&approve(state_owned), &json!({}), Some(&county))
        .await;
    assert_eq!((status, s(&err["code"])), (409, "not_eligible".to_owned()));
    let pay = format!("/api/v1/admin/reports/subsidies/{fifty}/pay");
    let body = json!({"paid_on": "2026-12-05", "voucher_no": "记-2026-1205"});
    let (status, err) = app.post_json(&pay, &body, Some(&county)).await;
    assert_eq!((status, s(&err["code"])), (409, "not_approved".to_owned()));
    let (status, ok) = app
        .post_json(&approve(fifty), &json!({}), Some(&county))
        .await;
    assert_eq!(
        (status, s(&ok["status"])),
        (200, "approved".to_owned()),
        "{ok}"
    );
    let (status, paid) = app.post_json(&pay, &body, Some(&county)).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["amount"], 1000);
    // Paid twice: the database's unique index refuses it.
    let (status, err) = app
        .post_json(
            &pay,
            &json!({"paid_on": "2026-12-06", "voucher_no": "记-2026-1206"}),
            Some(&county),
        )
        .await;
    assert_eq!(
        (status, s(&err["code"])),
        (409, "already_paid".to_owned()),
        "{err}"
    );
    let payments = huigong_store::entity::subsidy_payment::Entity::find()
        .all(&app.state.db.conn)
        .await
        .unwrap_or_default();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].voucher_no, "记-2026-1205");
    // Each step audited, without personal data.
    use huigong_store::entity::audit_event;
    for action in ["subsidy.approve", "subsidy.pay"] {
        let n = audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq(action))
            .filter(audit_event::Column::TargetId.eq(fifty.to_string()))
            .count(&app.state.db.conn)
            .await
            .unwrap_or_default();
        assert_eq!(n, 1, "{action}");
    }
    let (_, list) = app
        .get("/api/v1/admin/reports/subsidies", Some(&county))
        .await;
    let f = line(&list, fifty);
    assert_eq!(s(&f["status"]), "paid");
    assert_eq!(f["payment"]["voucher_no"], "记-2026-1205");

    // Out of scope: another district's union is a 404.
    let other = create_org(&app, &county, &district("煤山镇总工会")).await;
    let other_admin = token_at(&app, Role::DistrictAdmin, other).await;
    let (_, theirs) = app
        .get("/api/v1/admin/reports/subsidies", Some(&other_admin))
        .await;
    assert_eq!(theirs, json!([]));

    // The workbook: title, and the paid union with its amount and voucher.
    let (status, bytes) = get_bytes(&app, "/api/v1/admin/reports/subsidies.xlsx", &county).await;
    assert_eq!(status, 200);
    let book = sheets(&bytes);
    let rows = &book[0].1;
    assert_eq!(rows[0][0], "长兴县基层工会建会补助名单");
    let r = row_named(rows, "五十人公司工会");
    assert_eq!(
        (r[2].as_str(), r[3].as_str(), r[5].as_str()),
        ("已发放", "1000", "50")
    );
    assert_eq!(r[11], "记-2026-1205");
    let r = row_named(rows, "国有公司工会");
    assert_eq!(r[2], "暂不符合");
    assert!(r[9].contains("单位性质"), "{r:?}");
    app.stop().await;
}

#[tokio::test]
async fn item14_confirming_the_half_year_archives_the_roster_exportable_by_period() {
    let app = TestApp::spawn().await;
    let county = token_at(&app, Role::CountyAdmin, county_org()).await;
    let d = create_org(&app, &county, &district("雉城街道总工会")).await;
    let ua = create_org(&app, &county, &union(d, "甲公司工会", 7201, "私营经济", 80)).await;
    let ub = create_org(&app, &county, &union(d, "乙公司工会", 7202, "私营经济", 80)).await;
    add_member(&app, ua, "张三", 31, true).await;
    add_member(&app, ua, "李四", 32, true).await;
    let period = HalfYear::of(app.state.clock.now());
    let union_admin = token_at(&app, Role::GrassrootsAdmin, ua).await;

    let (status, c) = app
        .post_json(
            &format!("/api/v1/admin/orgs/{ua}/confirm-current"),
            &json!({}),
            Some(&union_admin),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["period"], period.to_string());
    assert_eq!(c["archived_members"], 2);
    // The roster changes afterwards; the archive does not.
    add_member(&app, ua, "王五", 33, true).await;
    let (status, again) = app
        .post_json(
            &format!("/api/v1/admin/orgs/{ua}/confirm-current"),
            &json!({}),
            Some(&union_admin),
        )
        .await;
    assert_eq!((status, again["archived_members"].clone()), (200, json!(2)));

    let (status, bytes) = get_bytes(
        &app,
        &format!("/api/v1/admin/orgs/{ua}/roster.xlsx?period={period}&full=true"),
        &county,
    )
    .await;
    assert_eq!(status, 200);
    let rows = &sheets(&bytes)[0].1;
    let names: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.get(1).map(String::as_str))
        .filter(|n| ["张三", "李四", "王五"].contains(n))
        .collect();
    assert_eq!(names, vec!["张三", "李四"], "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.iter().any(|c| c == &id_number("19900101", 31))),
        "full export shows the ID number"
    );
    // Masked by default.
    let (_, bytes) = get_bytes(
        &app,
        &format!("/api/v1/admin/orgs/{ua}/roster.xlsx?period={period}"),
        &county,
    )
    .await;
    let masked = &sheets(&bytes)[0].1;
    assert!(
        masked.iter().any(|r| r.iter().any(|c| c == "张*")),
        "{masked:?}"
    );
    // The header's contact (the union's leader) is masked like the rows (issue 13 item 2).
    let text = format!("{masked:?}");
    assert!(
        !text.contains("王主席") && !text.contains("6022447"),
        "masked archive shows the leader: {text}"
    );
    // Sealed at rest: the plaintext is nowhere in the archive's rows.
    let archived = huigong_store::entity::roster_archive::Entity::find()
        .all(&app.state.db.conn)
        .await
        .unwrap_or_default();
    assert_eq!(archived.len(), 2);
    let id31 = id_number("19900101", 31);
    for r in &archived {
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("张三") && !dbg.contains(&id31));
    }
    // A period not confirmed has no archive; a union outside the caller's scope is a 404.
    let (status, _) = get_bytes(
        &app,
        &format!("/api/v1/admin/orgs/{ua}/roster.xlsx?period=2020H1"),
        &county,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get_bytes(
        &app,
        &format!("/api/v1/admin/orgs/{ua}/roster.xlsx?period={period}"),
        &token_at(&app, Role::GrassrootsAdmin, ub).await,
    )
    .await;
    assert_eq!(status, 404);

    // The cycle report: A confirmed with its archive, B not (overdue once the month is over).
    let (status, r) = app
        .get(
            &format!("/api/v1/admin/reports/cycle?period={period}"),
            Some(&county),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let find = |id: Uuid| {
        r["unions"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["org_id"] == id.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    let a = find(ua);
    assert!(a["confirmed_at"].is_string(), "{a}");
    assert_eq!(a["archived_members"], 2);
    assert_eq!(a["joined"], 3);
    assert_eq!(a["overdue"], false);
    let b = find(ub);
    assert!(b["confirmed_at"].is_null());
    assert_eq!(b["overdue"], app.state.clock.now() >= period.due());
    assert_eq!(r["confirmed"], 1);
    let (status, e) = app
        .get("/api/v1/admin/reports/cycle?period=2026H3", Some(&county))
        .await;
    assert_eq!((status, s(&e["field"])), (400, "period".to_owned()));
    app.stop().await;
}

/// The county's live (members, complete records, activated cards).
async fn totals(app: &TestApp, county: &str) -> (u64, u64, u64) {
    let (status, r) = app
        .get("/api/v1/admin/reports/progress", Some(county))
        .await;
    assert_eq!(status, 200, "{r}");
    let n = |v: &Value| v.as_u64().unwrap_or(99);
    (
        n(&r["total"]["members"]),
        n(&r["total"]["members_complete"]),
        n(&r["total"]["cards_active"]),
    )
}

#[tokio::test]
async fn item14_live_figures_follow_each_write_after_the_counters_were_first_counted() {
    let app = TestApp::spawn().await;
    let county = token_at(&app, Role::CountyAdmin, county_org()).await;
    let d = create_org(&app, &county, &district("雉城街道总工会")).await;
    let u = create_org(&app, &county, &union(d, "甲公司工会", 7301, "私营经济", 80)).await;
    assert_eq!(totals(&app, &county).await, (0, 0, 0));
    let (p1, m1) = add_membership(&app, u, "张三", 41, true).await;
    add_member(&app, u, "李四", 42, false).await;
    assert_eq!(totals(&app, &county).await, (2, 1, 0));
    activate(&app, p1).await;
    assert_eq!(totals(&app, &county).await, (2, 1, 1));
    // Leaving ends the membership and suspends the card: both counters follow.
    let (status, e) = app
        .post_json(
            &format!("/api/v1/admin/members/{m1}/changes"),
            &json!({"kind": "leave", "reason": "离职", "effective_on": "2026-12-01"}),
            Some(&county),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(totals(&app, &county).await, (1, 0, 0));
    app.stop().await;
}
