//! Keeping the data true over time: membership changes (transfer, retire, leave, death) with
//! the card following, union set-up approval, re-election, dissolution, the data-quality report.

use crate::helpers::TestApp;
use crate::unions::{PASSWORD, World, created, grassroots, id_number, login, world};
use huigong_store::entity::{card, membership};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn uuid(v: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(v.as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("uuid {v}: {e}"))
}

/// A member whose unit is the union's own unit (as `grassroots()` registers it).
fn member_of(union_name: &str, name: &str, id: &str) -> Value {
    // GB 11643: the 17th digit is odd for men.
    let male = id.as_bytes().get(16).is_some_and(|d| (d - b'0') % 2 == 1);
    json!({
        "name": name, "sex": if male { "男" } else { "女" }, "id_number": id, "nationality": "汉族", "education": "大专",
        "mobile": "13957212345", "household_type": "农村",
        "unit_name": format!("{union_name}所在单位"),
        "employment_status": "在岗", "union_post": "会员"
    })
}

async fn admin(w: &World, username: &str, role: &str, org: &str) -> String {
    created(
        &w.app,
        "/api/v1/admin/users",
        &json!({"username": username, "password": PASSWORD, "role": role, "org_id": org}),
        &w.county_token,
    )
    .await;
    login(&w.app, username).await
}

async fn enrol(w: &World, org: &str, union_name: &str, name: &str, seq: u32) -> (String, String) {
    let id = id_number("19880808", seq);
    let added = created(
        &w.app,
        &format!("/api/v1/admin/orgs/{org}/members"),
        &member_of(union_name, name, &id),
        &w.county_token,
    )
    .await;
    (s(&added["id"]), id)
}

/// Activates the card of `name`/`id` for a new WeChat account; returns its card number.
async fn activate(app: &TestApp, openid: &str, name: &str, id: &str) -> String {
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
    s(&c["card_number"])
}

async fn card_of(app: &TestApp, number: &str) -> card::Model {
    card::Entity::find()
        .filter(card::Column::CardNumber.eq(number))
        .one(&app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("card: {e}"))
        .unwrap_or_else(|| panic!("card {number} missing"))
}

async fn change(w: &World, token: &str, member: &str, body: &Value) -> (u16, Value) {
    w.app
        .post_json(
            &format!("/api/v1/admin/members/{member}/changes"),
            body,
            Some(token),
        )
        .await
}

async fn roster_total(w: &World, org: &str) -> u64 {
    let (status, page) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{org}/members"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["total"].as_u64().unwrap_or(u64::MAX)
}

async fn history_kinds(w: &World, token: &str, member: &str) -> Vec<String> {
    let (status, h) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{member}/history"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{h}");
    h.as_array()
        .map(|a| a.iter().map(|e| s(&e["kind"])).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_transfer_waits_for_the_receiving_union_which_accepts_or_refuses() {
    let w = world().await;
    let union_b_token = admin(&w, "union_b", "grassroots_admin", &w.union_b).await;
    let (member, id) = enrol(&w, &w.union_a, "甲公司工会", "李四", 1).await;
    let number = activate(&w.app, "transfer-worker", "李四", &id).await;

    let transfer = json!({"kind": "transfer_out", "reason": "调动到乙公司", "effective_on": "2026-11-01", "to_org_id": w.union_b});
    let (status, out) = change(&w, &w.union_a_token, &member, &transfer).await;
    assert_eq!(status, 202, "{out}");
    assert_eq!(out["transfer"]["status"], "pending");
    assert_eq!(out["transfer"]["name"], "李*", "masked");
    let transfer_id = s(&out["transfer"]["id"]);
    // A second transfer of the same member while one waits is refused.
    let (status, again) = change(&w, &w.union_a_token, &member, &transfer).await;
    assert_eq!(
        (status, s(&again["code"])),
        (409, "transfer_pending".into())
    );

    // Until accepted, the member stays where they were.
    assert_eq!(roster_total(&w, &w.union_a).await, 1);
    assert_eq!(roster_total(&w, &w.union_b).await, 0);

    // The sender cannot accept its own transfer: the receiving union is outside its scope.
    let (status, _) = w
        .app
        .post_json(
            &format!("/api/v1/admin/transfers/{transfer_id}/accept"),
            &json!({}),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 404);
    let (_, incoming_a) = w
        .app
        .get(
            "/api/v1/admin/transfers?status=incoming",
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(incoming_a.as_array().map(Vec::len), Some(0));

    let (status, incoming) = w
        .app
        .get(
            "/api/v1/admin/transfers?status=incoming",
            Some(&union_b_token),
        )
        .await;
    assert_eq!(status, 200, "{incoming}");
    assert_eq!(incoming.as_array().map(Vec::len), Some(1), "{incoming}");
    assert_eq!(incoming[0]["from_org_name"], "甲公司工会");
    assert!(!incoming.to_string().contains(&id), "no full ID number");

    let (status, accepted) = w
        .app
        .post_json(
            &format!("/api/v1/admin/transfers/{transfer_id}/accept"),
            &json!({}),
            Some(&union_b_token),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    let new_member = s(&accepted["member_id"]);
    assert_ne!(new_member, member);
    assert_eq!(roster_total(&w, &w.union_a).await, 0);
    assert_eq!(roster_total(&w, &w.union_b).await, 1);
    // The old record stays, marked transferred.
    let (_, old) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{member}"),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(old["status"], "transferred");
    // The card moved with the member and stays active.
    let c = card_of(&w.app, &number).await;
    assert_eq!(c.status, "active");
    assert_eq!(c.membership_id, uuid(&accepted["member_id"]));
    // Deciding twice is refused.
    let (status, _) = w
        .app
        .post_json(
            &format!("/api/v1/admin/transfers/{transfer_id}/accept"),
            &json!({}),
            Some(&union_b_token),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        history_kinds(&w, &union_b_token, &new_member).await,
        vec!["transfer_requested", "transfer_in"]
    );

    // A refused transfer: the member stays.
    let (member2, _) = enrol(&w, &w.union_a, "甲公司工会", "王五", 2).await;
    let (status, out) = change(&w, &w.union_a_token, &member2, &transfer).await;
    assert_eq!(status, 202, "{out}");
    let t2 = s(&out["transfer"]["id"]);
    let (status, e) = w
        .app
        .post_json(
            &format!("/api/v1/admin/transfers/{t2}/refuse"),
            &json!({"reason": ""}),
            Some(&union_b_token),
        )
        .await;
    assert_eq!((status, s(&e["field"])), (400, "reason".into()));
    let (status, _) = w
        .app
        .post_json(
            &format!("/api/v1/admin/transfers/{t2}/refuse"),
            &json!({"reason": "此人未在本单位就业"}),
            Some(&union_b_token),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(roster_total(&w, &w.union_a).await, 1);
    let (_, outgoing) = w
        .app
        .get(
            "/api/v1/admin/transfers?status=outgoing",
            Some(&w.union_a_token),
        )
        .await;
    let refused = outgoing
        .as_array()
        .and_then(|a| a.iter().find(|t| s(&t["id"]) == t2))
        .cloned()
        .unwrap_or_default();
    assert_eq!(refused["status"], "refused", "{outgoing}");
    assert_eq!(refused["refuse_reason"], "此人未在本单位就业");
    assert_eq!(
        history_kinds(&w, &w.union_a_token, &member2).await,
        vec!["transfer_requested", "transfer_refused"]
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_transfer_targets_only_approved_unions_or_a_district_when_the_employer_has_none() {
    let w = world().await;
    let (member, _) = enrol(&w, &w.union_a, "甲公司工会", "赵六", 3).await;
    for target in [
        json!(uuid::Uuid::now_v7()),
        json!(w.union_a),
        json!(w.county),
    ] {
        let (status, e) = change(
            &w,
            &w.union_a_token,
            &member,
            &json!({"kind": "transfer_out", "reason": "调动", "effective_on": "2026-11-01", "to_org_id": target}),
        )
        .await;
        assert_eq!(
            (status, s(&e["field"])),
            (400, "to_org_id".into()),
            "{target}: {e}"
        );
    }
    let (status, e) = change(
        &w,
        &w.union_a_token,
        &member,
        &json!({"kind": "promote", "reason": "x", "effective_on": "2026-11-01"}),
    )
    .await;
    assert_eq!((status, s(&e["field"])), (400, "kind".into()));

    // New employer without a union: the district union of the place of work holds the membership.
    let (status, out) = change(
        &w,
        &w.union_a_token,
        &member,
        &json!({"kind": "transfer_out", "reason": "调入未建会企业", "effective_on": "2026-11-01", "to_org_id": w.district_b, "to_unit_name": "煤山某小微企业"}),
    )
    .await;
    assert_eq!(status, 202, "{out}");
    let district_b_token = admin(&w, "district_b_admin", "district_admin", &w.district_b).await;
    let (status, accepted) = w
        .app
        .post_json(
            &format!(
                "/api/v1/admin/transfers/{}/accept",
                s(&out["transfer"]["id"])
            ),
            &json!({}),
            Some(&district_b_token),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(roster_total(&w, &w.district_b).await, 1);
    let (_, held) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{}", s(&accepted["member_id"])),
            Some(&district_b_token),
        )
        .await;
    assert_eq!(held["org_id"], w.district_b.as_str());
    assert_eq!(held["unit_name"], "煤山某小微企业");
    w.app.stop().await;
}

#[tokio::test]
async fn retire_keeps_the_card_leave_suspends_it_death_cancels_it() {
    let w = world().await;
    let mut cards = Vec::new();
    for (seq, name) in [(11, "钱一"), (12, "孙二"), (13, "周三")] {
        let (member, id) = enrol(&w, &w.union_a, "甲公司工会", name, seq).await;
        let number = activate(&w.app, &format!("life-worker-{seq}"), name, &id).await;
        cards.push((member, number));
    }
    let body = |kind: &str| json!({"kind": kind, "reason": "依《工会会员会籍管理办法》", "effective_on": "2026-10-31"});

    let (status, out) = change(&w, &w.union_a_token, &cards[0].0, &body("retire")).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["event"]["kind"], "retire");
    assert_eq!(card_of(&w.app, &cards[0].1).await.status, "active");
    let (_, m) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{}", cards[0].0),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(
        (s(&m["status"]), s(&m["retired_on"])),
        ("active".into(), "2026-10-31".into())
    );
    let (status, _) = change(&w, &w.union_a_token, &cards[0].0, &body("retire")).await;
    assert_eq!(status, 409, "retired once");

    let (status, out) = change(&w, &w.union_a_token, &cards[1].0, &body("leave")).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(card_of(&w.app, &cards[1].1).await.status, "suspended");
    let (_, m) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{}", cards[1].0),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(m["status"], "left");

    let (status, out) = change(&w, &w.union_a_token, &cards[2].0, &body("death")).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(card_of(&w.app, &cards[2].1).await.status, "cancelled");
    let (_, m) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{}", cards[2].0),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(m["status"], "deceased");

    // An ended membership takes no further change; the roster keeps only the retired member.
    let (status, e) = change(&w, &w.union_a_token, &cards[1].0, &body("death")).await;
    assert_eq!((status, s(&e["code"])), (409, "membership_ended".into()));
    assert_eq!(roster_total(&w, &w.union_a).await, 1);
    for (member, kind) in [
        (&cards[0].0, "retire"),
        (&cards[1].0, "leave"),
        (&cards[2].0, "death"),
    ] {
        assert_eq!(
            history_kinds(&w, &w.union_a_token, member).await,
            vec![kind]
        );
    }
    // Each change is in the audit log with the card's.
    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=card.cancel",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");
    w.app.stop().await;
}

/// A member who left (card suspended) and joins again, here or in another union, has their
/// card back: it follows the new membership and is active. A roster re-add, an import and an
/// approved application all create memberships; the first two are exercised here.
#[tokio::test]
async fn a_member_who_left_and_rejoins_gets_the_card_back() {
    let w = world().await;
    let leave = json!({"kind": "leave", "reason": "离职", "effective_on": "2026-10-31"});
    let (member, id) = enrol(&w, &w.union_a, "甲公司工会", "郑十", 31).await;
    let number = activate(&w.app, "rejoin-worker", "郑十", &id).await;
    let (status, out) = change(&w, &w.union_a_token, &member, &leave).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(card_of(&w.app, &number).await.status, "suspended");
    let worker = w.app.login("rejoin-worker").await;
    let (_, shown) = w.app.get("/api/v1/card", Some(&worker)).await;
    assert_eq!(shown["status"], "suspended", "{shown}");

    // Re-entered on the roster of another union.
    let again = created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_b),
        &member_of("乙公司工会", "郑十", &id),
        &w.county_token,
    )
    .await;
    let card = card_of(&w.app, &number).await;
    assert_eq!(card.status, "active");
    assert_eq!(card.membership_id.to_string(), s(&again["id"]));
    let (_, shown) = w.app.get("/api/v1/card", Some(&worker)).await;
    assert_eq!(
        (s(&shown["status"]), s(&shown["union_name"])),
        ("active".into(), "乙公司工会".into()),
        "{shown}"
    );
    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=card.reactivate",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");

    // Leaves again, and comes back through a roster import of the first union.
    let (status, out) = change(&w, &w.county_token, &s(&again["id"]), &leave).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(card_of(&w.app, &number).await.status, "suspended");
    let (status, report) = crate::roster::upload_to(
        &w.app,
        &w.county_token,
        &format!("/api/v1/admin/orgs/{}/roster/import?commit=true", w.union_a),
        // (With the mobile on record: an import never overwrites a former member's.)
        crate::roster::clerk_roster(
            &[{
                let mut r = crate::roster::row("郑十", &id, "男");
                r[5] = "13957212345";
                r
            }],
            |_| {},
        ),
    )
    .await;
    assert_eq!(
        (status, report["created"].clone()),
        (200, json!(1)),
        "{report}"
    );
    let card = card_of(&w.app, &number).await;
    let now_in: membership::Model = membership::Entity::find_by_id(card.membership_id)
        .one(&w.app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the card's membership is missing"));
    assert_eq!(
        (
            card.status.as_str(),
            now_in.status.as_str(),
            now_in.org_id.to_string()
        ),
        ("active", "active", w.union_a.clone())
    );
    let (_, shown) = w.app.get("/api/v1/card", Some(&worker)).await;
    assert_eq!(
        (s(&shown["status"]), s(&shown["union_name"])),
        ("active".into(), "甲公司工会".into()),
        "{shown}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn dissolution_is_refused_with_members_and_decided_by_the_parent_after_transfers() {
    let w = world().await;
    let (member, _) = enrol(&w, &w.union_a, "甲公司工会", "吴七", 21).await;
    let dissolve = json!({"reason": "企业改制"});
    let path = format!("/api/v1/admin/orgs/{}/dissolve", w.union_a);
    for token in [&w.union_a_token, &w.district_a_token] {
        let (status, e) = w.app.post_json(&path, &dissolve, Some(token)).await;
        assert_eq!(
            (status, s(&e["code"])),
            (409, "has_active_members".into()),
            "{e}"
        );
    }
    let (status, out) = change(
        &w,
        &w.union_a_token,
        &member,
        &json!({"kind": "transfer_out", "reason": "调出", "effective_on": "2026-11-01", "to_org_id": w.union_b}),
    )
    .await;
    assert_eq!(status, 202, "{out}");
    let (status, _) = w
        .app
        .post_json(
            &format!(
                "/api/v1/admin/transfers/{}/accept",
                s(&out["transfer"]["id"])
            ),
            &json!({}),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200);

    // The union's own admin asks; its parent decides.
    let (status, asked) = w
        .app
        .post_json(&path, &dissolve, Some(&w.union_a_token))
        .await;
    assert_eq!(
        (status, s(&asked["status"])),
        (202, "dissolution_requested".into())
    );
    let (_, reviews) = w
        .app
        .get("/api/v1/admin/org-reviews", Some(&w.district_a_token))
        .await;
    assert_eq!(reviews[0]["kind"], "dissolution", "{reviews}");
    assert_eq!(reviews[0]["reason"], "企业改制");
    let (_, own) = w
        .app
        .get("/api/v1/admin/org-reviews", Some(&w.union_a_token))
        .await;
    assert_eq!(
        own.as_array().map(Vec::len),
        Some(0),
        "not its own decision"
    );
    let (status, done) = w
        .app
        .post_json(&path, &dissolve, Some(&w.district_a_token))
        .await;
    assert_eq!(
        (status, s(&done["status"])),
        (200, "dissolved".into()),
        "{done}"
    );
    let (_, org) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}", w.union_a),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(org["status"], "dissolved", "the record stays");
    let (_, reviews) = w
        .app
        .get("/api/v1/admin/org-reviews", Some(&w.district_a_token))
        .await;
    assert_eq!(reviews.as_array().map(Vec::len), Some(0), "decided");
    let (status, e) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/members", w.union_a),
            &member_of("甲公司工会", "郑八", &id_number("19880808", 22)),
            Some(&w.county_token),
        )
        .await;
    assert_eq!((status, s(&e["code"])), (409, "union_not_active".into()));

    // A unit that closed: its union's members move to the parent, one history entry each.
    let union_c = s(&created(
        &w.app,
        "/api/v1/admin/orgs",
        &grassroots(&w.district_a, "丙公司工会", "91330522MA2B3C4D1T"),
        &w.county_token,
    )
    .await["id"]);
    let (m1, _) = enrol(&w, &union_c, "丙公司工会", "冯九", 23).await;
    let (_m2, _) = enrol(&w, &union_c, "丙公司工会", "陈十", 24).await;
    let (status, done) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{union_c}/dissolve"),
            &json!({"reason": "单位关闭", "unit_closed": true}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["moved_members"], 2);
    assert_eq!(roster_total(&w, &w.district_a).await, 2);
    assert_eq!(roster_total(&w, &union_c).await, 0);
    assert_eq!(
        history_kinds(&w, &w.district_a_token, &m1).await,
        vec!["moved_to_parent"]
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_union_submitted_from_below_takes_members_only_once_its_parent_approves() {
    let w = world().await;
    let worker = w.app.login("unit-applicant").await;
    let body = grassroots(&w.district_a, "丁公司工会", "91330522MA2B3C4EXJ");
    let (status, sub) = w
        .app
        .post_json("/api/v1/union-submissions", &body, Some(&worker))
        .await;
    assert_eq!(status, 202, "{sub}");
    assert_eq!(sub["status"], "pending");
    let union_d = s(&sub["id"]);
    // Admins may not use the workers' submission route.
    let (status, _) = w
        .app
        .post_json("/api/v1/union-submissions", &body, Some(&w.county_token))
        .await;
    assert_eq!(status, 403);

    let (status, e) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{union_d}/members"),
            &member_of("丁公司工会", "褚一", &id_number("19880808", 31)),
            Some(&w.county_token),
        )
        .await;
    assert_eq!((status, s(&e["code"])), (409, "union_not_active".into()));
    let (_, unions) = w
        .app
        .get("/api/v1/unions?per_page=100", Some(&worker))
        .await;
    assert!(
        !unions.to_string().contains(&union_d),
        "not offered to applicants"
    );

    let (_, reviews) = w
        .app
        .get("/api/v1/admin/org-reviews", Some(&w.district_a_token))
        .await;
    assert_eq!(reviews.as_array().map(Vec::len), Some(1), "{reviews}");
    assert_eq!(
        (s(&reviews[0]["org_id"]), s(&reviews[0]["kind"])),
        (union_d.clone(), "set_up".into())
    );

    // Not the parent of anything: the other district sees nothing.
    let district_b_token = admin(&w, "district_b_admin", "district_admin", &w.district_b).await;
    let approve = format!("/api/v1/admin/orgs/{union_d}/approve");
    let (status, _) = w
        .app
        .post_json(&approve, &json!({}), Some(&district_b_token))
        .await;
    assert_eq!(status, 404);
    let (status, ok) = w
        .app
        .post_json(&approve, &json!({}), Some(&w.district_a_token))
        .await;
    assert_eq!((status, s(&ok["status"])), (200, "active".into()), "{ok}");
    let (status, _) = w
        .app
        .post_json(&approve, &json!({}), Some(&w.district_a_token))
        .await;
    assert_eq!(status, 409, "approved once");
    created(
        &w.app,
        &format!("/api/v1/admin/orgs/{union_d}/members"),
        &member_of("丁公司工会", "褚一", &id_number("19880808", 31)),
        &w.county_token,
    )
    .await;

    // Rejected with a reason: the record stays, rejected.
    let (status, sub) = w
        .app
        .post_json(
            "/api/v1/union-submissions",
            &grassroots(&w.district_a, "戊公司工会", "91330522MA2B3C4F8J"),
            Some(&worker),
        )
        .await;
    assert_eq!(status, 202, "{sub}");
    let (status, no) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/reject", s(&sub["id"])),
            &json!({"reason": "材料不全"}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!((status, s(&no["status"])), (200, "rejected".into()));
    let (status, e) = w
        .app
        .post_json(
            "/api/v1/union-submissions",
            &grassroots(&w.county, "己公司工会", "91330522MA2B3C4G6D"),
            Some(&worker),
        )
        .await;
    assert_eq!((status, s(&e["field"])), (400, "parent_id".into()), "{e}");
    w.app.stop().await;
}

/// The district above approves a term its union submitted.
async fn approve_term(w: &World, term: &Value) {
    let (status, t) = w
        .app
        .post_json(
            &format!("/api/v1/admin/terms/{}/approve", s(&term["id"])),
            &json!({}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!((status, s(&t["status"])), (200, "approved".into()), "{t}");
}

#[tokio::test]
async fn re_elections_keep_their_history_and_expired_terms_are_listed() {
    let w = world().await;
    let terms = format!("/api/v1/admin/orgs/{}/terms", w.union_a);
    let (status, e) = w
        .app
        .post_json(
            &terms,
            &json!({"leader_name": "李主席", "committee": "委员：张、王", "starts_on": "2020-01-01", "ends_on": "2019-01-01"}),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!((status, s(&e["field"])), (400, "ends_on".into()));
    let first = created(
        &w.app,
        &terms,
        &json!({"leader_name": "李主席", "committee": "委员：张、王", "starts_on": "2018-01-01", "ends_on": "2023-01-01"}),
        &w.union_a_token,
    )
    .await;
    approve_term(&w, &first).await;
    let (_, expired) = w
        .app
        .get("/api/v1/admin/terms/expired", Some(&w.district_a_token))
        .await;
    assert_eq!(expired.as_array().map(Vec::len), Some(1), "{expired}");
    assert_eq!(expired[0]["org_id"], w.union_a.as_str());

    let second = created(
        &w.app,
        &terms,
        &json!({"leader_name": "赵主席", "committee": "委员：钱、孙", "starts_on": "2023-01-01", "ends_on": "2028-01-01"}),
        &w.union_a_token,
    )
    .await;
    approve_term(&w, &second).await;
    let (_, expired) = w
        .app
        .get("/api/v1/admin/terms/expired", Some(&w.district_a_token))
        .await;
    assert_eq!(expired.as_array().map(Vec::len), Some(0), "{expired}");
    let (status, list) = w
        .app
        .get(&format!("{terms}?full=true"), Some(&w.union_a_token))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(list[0]["leader_name"], "赵主席", "newest first");
    assert_eq!(list[1]["leader_name"], "李主席", "the previous term stays");
    let (_, org) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}?full=true", w.union_a),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(org["union"]["leader_name"], "赵主席");
    w.app.stop().await;
}

#[tokio::test]
async fn the_quality_report_finds_each_planted_case() {
    let w = world().await;
    let db = &w.app.state.db.conn;
    let union_c = s(&created(
        &w.app,
        "/api/v1/admin/orgs",
        &grassroots(&w.district_a, "丙公司工会", "91330522MA2B3C4D1T"),
        &w.county_token,
    )
    .await["id"]);
    let (good, _) = enrol(&w, &w.union_a, "甲公司工会", "蒋一", 41).await;
    let (incomplete, _) = enrol(&w, &w.union_a, "甲公司工会", "沈二", 42).await;
    membership::Entity::update_many()
        .col_expr(membership::Column::Education, Expr::value(""))
        .filter(membership::Column::Id.eq(uuid(&json!(incomplete))))
        .exec(db)
        .await
        .unwrap_or_else(|e| panic!("plant: {e}"));
    // Added on a unit the union does not cover.
    let uncovered = s(&created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_a),
        &crate::unions::member("韩三", &id_number("19880808", 43), "男"),
        &w.county_token,
    )
    .await["id"]);
    // A member on a union that the database says is dissolved (the API refuses it).
    let (on_dissolved, _) = enrol(&w, &union_c, "丙公司工会", "杨四", 44).await;
    huigong_store::entity::org::Entity::update_many()
        .col_expr(
            huigong_store::entity::org::Column::Status,
            Expr::value("dissolved"),
        )
        .filter(huigong_store::entity::org::Column::Id.eq(uuid(&json!(union_c))))
        .exec(db)
        .await
        .unwrap_or_else(|e| panic!("plant: {e}"));
    // A duplicate: the same person active in a second union (only past the unique index).
    db.execute_unprepared("DROP INDEX ux_memberships_active_person")
        .await
        .unwrap_or_else(|e| panic!("drop index: {e}"));
    let original = membership::Entity::find_by_id(uuid(&json!(good)))
        .one(db)
        .await
        .unwrap_or_else(|e| panic!("load: {e}"))
        .unwrap_or_else(|| panic!("member missing"));
    let dup_id = uuid::Uuid::now_v7();
    membership::Entity::insert(membership::ActiveModel {
        id: Set(dup_id),
        org_id: Set(uuid(&json!(w.union_b))),
        ..membership::ActiveModel::from(original.clone())
    })
    .exec_without_returning(db)
    .await
    .unwrap_or_else(|e| panic!("plant duplicate: {e}"));

    let (status, r) = w
        .app
        .get("/api/v1/admin/quality", Some(&w.county_token))
        .await;
    assert_eq!(status, 200, "{r}");
    let dups = r["duplicates"].as_array().cloned().unwrap_or_default();
    assert_eq!(dups.len(), 1, "{r}");
    assert_eq!(dups[0]["memberships"].as_array().map(Vec::len), Some(2));
    let dangling: Vec<(String, String)> = r["dangling"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| (s(&d["member"]["member_id"]), s(&d["problem"])))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        dangling.contains(&(uncovered.clone(), "unit_not_covered".into())),
        "{dangling:?}"
    );
    assert!(
        dangling.contains(&(on_dissolved.clone(), "union_dissolved".into())),
        "{dangling:?}"
    );
    assert!(!dangling.iter().any(|(m, _)| *m == good), "{dangling:?}");
    let incomplete_found = r["incomplete"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|i| s(&i["member"]["member_id"]) == incomplete)
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(incomplete_found["missing"], json!(["education"]), "{r}");
    assert_eq!(incomplete_found["member"]["name"], "沈*", "masked");
    let gaps: Vec<String> = r["count_gaps"]
        .as_array()
        .map(|a| a.iter().map(|g| s(&g["org_id"])).collect())
        .unwrap_or_default();
    assert!(gaps.contains(&w.union_a), "declared 80, registered 4: {r}");
    let unconfirmed = |r: &Value| -> Vec<String> {
        r["unconfirmed"]
            .as_array()
            .map(|a| a.iter().map(|u| s(&u["org_id"])).collect())
            .unwrap_or_default()
    };
    assert!(unconfirmed(&r).contains(&w.union_a));
    let cycle = s(&r["cycle_start"]);
    assert!(
        cycle.ends_with("-01-01") || cycle.ends_with("-07-01"),
        "{cycle}"
    );

    // Confirming takes the union off the list for this cycle.
    let (status, c) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/confirm-current", w.union_a),
            &json!({}),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["cycle_start"], cycle.as_str());
    let (_, r) = w
        .app
        .get("/api/v1/admin/quality", Some(&w.county_token))
        .await;
    assert!(!unconfirmed(&r).contains(&w.union_a));
    assert!(unconfirmed(&r).contains(&w.union_b));

    // A district sees its own subtree only.
    let (_, rd) = w
        .app
        .get("/api/v1/admin/quality", Some(&w.district_a_token))
        .await;
    assert!(!unconfirmed(&rd).contains(&w.union_b), "{rd}");

    // The workbook.
    let resp = w
        .app
        .http
        .get(w.app.url("/api/v1/admin/quality?format=xlsx"))
        .bearer_auth(&w.county_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("xlsx: {e}"));
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    let bytes = resp.bytes().await.unwrap_or_else(|e| panic!("body: {e}"));
    assert!(bytes.starts_with(b"PK"), "a zip container");
    w.app.stop().await;
}

#[tokio::test]
async fn lifecycle_endpoints_answer_404_outside_the_callers_subtree() {
    let w = world().await;
    let (member_b, _) = enrol(&w, &w.union_b, "乙公司工会", "秦一", 51).await;
    let (member_a, _) = enrol(&w, &w.union_a, "甲公司工会", "尤二", 52).await;
    let (status, out) = change(
        &w,
        &w.county_token,
        &member_b,
        &json!({"kind": "transfer_out", "reason": "调动", "effective_on": "2026-11-01", "to_org_id": w.union_b}),
    )
    .await;
    assert_eq!(status, 400, "same union: {out}");
    let (status, out) = change(
        &w,
        &w.union_a_token,
        &member_a,
        &json!({"kind": "transfer_out", "reason": "调动", "effective_on": "2026-11-01", "to_org_id": w.union_b}),
    )
    .await;
    assert_eq!(status, 202, "{out}");
    let transfer = s(&out["transfer"]["id"]);
    let ub = &w.union_b;
    let t = &w.union_a_token;
    for (path, body) in [
        (
            format!("/api/v1/admin/members/{member_b}/changes"),
            json!({"kind": "leave", "reason": "离职", "effective_on": "2026-11-01"}),
        ),
        (
            format!("/api/v1/admin/transfers/{transfer}/accept"),
            json!({}),
        ),
        (
            format!("/api/v1/admin/transfers/{transfer}/refuse"),
            json!({"reason": "不接收"}),
        ),
        (format!("/api/v1/admin/orgs/{ub}/approve"), json!({})),
        (
            format!("/api/v1/admin/orgs/{ub}/reject"),
            json!({"reason": "x"}),
        ),
        (
            format!("/api/v1/admin/orgs/{ub}/terms"),
            json!({"leader_name": "x", "committee": "y", "starts_on": "2020-01-01", "ends_on": "2025-01-01"}),
        ),
        (
            format!("/api/v1/admin/orgs/{ub}/dissolve"),
            json!({"reason": "x"}),
        ),
        (
            format!("/api/v1/admin/orgs/{ub}/confirm-current"),
            json!({}),
        ),
    ] {
        let (status, e) = w.app.post_json(&path, &body, Some(t)).await;
        assert_eq!(status, 404, "{path}: {e}");
    }
    for path in [
        format!("/api/v1/admin/members/{member_b}/history"),
        format!("/api/v1/admin/orgs/{ub}/terms"),
    ] {
        let (status, _) = w.app.get(&path, Some(t)).await;
        assert_eq!(status, 404, "{path}");
    }
    // Its own union: the union admin cannot approve itself, only its parent.
    let (status, _) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/approve", w.union_a),
            &json!({}),
            Some(t),
        )
        .await;
    assert_eq!(status, 403);
    w.app.stop().await;
}

#[tokio::test]
async fn concurrent_accepts_of_one_transfer_move_the_member_once() {
    let w = world().await;
    let (member, _) = enrol(&w, &w.union_a, "甲公司工会", "许三", 61).await;
    let (status, out) = change(
        &w,
        &w.union_a_token,
        &member,
        &json!({"kind": "transfer_out", "reason": "调动", "effective_on": "2026-11-01", "to_org_id": w.union_b}),
    )
    .await;
    assert_eq!(status, 202, "{out}");
    let path = format!(
        "/api/v1/admin/transfers/{}/accept",
        s(&out["transfer"]["id"])
    );
    let empty = json!({});
    let accepts = (0..6).map(|_| w.app.post_json(&path, &empty, Some(&w.county_token)));
    let mut statuses: Vec<u16> = futures_util::future::join_all(accepts)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409, 409, 409, 409, 409]);
    assert_eq!(roster_total(&w, &w.union_a).await, 0);
    assert_eq!(roster_total(&w, &w.union_b).await, 1);
    let active = membership::Entity::find()
        .filter(membership::Column::Status.eq("active"))
        .all(&w.app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("memberships: {e}"));
    assert_eq!(active.len(), 1);
    w.app.stop().await;
}

/// The ids and card statuses of a roster page.
async fn roster_cards(w: &World, token: &str, query: &str) -> (u16, Value) {
    w.app
        .get(
            &format!("/api/v1/admin/orgs/{}/members{query}", w.union_a),
            Some(token),
        )
        .await
}

fn ids_of(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .map(|a| a.iter().map(|m| s(&m["id"])).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn item2_member_views_show_the_card_status_and_the_roster_filters_by_it() {
    let w = world().await;
    let mut members = Vec::new();
    for (seq, name) in [(21, "钱一"), (22, "孙二"), (23, "周三"), (24, "吴四")] {
        members.push(enrol(&w, &w.union_a, "甲公司工会", name, seq).await);
    }
    // 钱一 activates; 孙二 activates and the card is then suspended; 周三 and 吴四 do not.
    activate(&w.app, "item2-a", "钱一", &members[0].1).await;
    let suspended = activate(&w.app, "item2-b", "孙二", &members[1].1).await;
    card::Entity::update_many()
        .col_expr(card::Column::Status, Expr::value("suspended"))
        .filter(card::Column::CardNumber.eq(suspended))
        .exec(&w.app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let (status, all) = roster_cards(&w, &w.union_a_token, "").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 4);
    let shown: Vec<(String, String, String)> = all["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| (s(&m["id"]), s(&m["card"]["status"]), s(&m["card"]["label"])))
                .collect()
        })
        .unwrap_or_default();
    for (i, (status, label)) in [
        ("active", "已激活"),
        ("suspended", "已暂停"),
        ("not_activated", "未激活"),
        ("not_activated", "未激活"),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(
            shown.contains(&(members[i].0.clone(), status.into(), label.into())),
            "{i}: {shown:?}"
        );
    }
    // Masked as before.
    assert!(
        all["items"][0]["name"]
            .as_str()
            .is_some_and(|n| n.contains('*'))
    );

    let (status, waiting) = roster_cards(&w, &w.union_a_token, "?card=not_activated").await;
    assert_eq!(status, 200, "{waiting}");
    assert_eq!(waiting["total"], 2);
    assert_eq!(
        ids_of(&waiting),
        sorted(vec![members[2].0.clone(), members[3].0.clone()])
    );
    let (_, active) = roster_cards(&w, &w.district_a_token, "?card=active").await;
    assert_eq!(
        (active["total"].clone(), ids_of(&active)),
        (json!(1), vec![members[0].0.clone()])
    );
    let (_, paused) = roster_cards(&w, &w.county_token, "?card=suspended&per_page=1").await;
    assert_eq!(
        (paused["total"].clone(), ids_of(&paused)),
        (json!(1), vec![members[1].0.clone()])
    );
    let (status, bad) = roster_cards(&w, &w.union_a_token, "?card=cancelled").await;
    assert_eq!((status, s(&bad["field"])), (400, "card".into()), "{bad}");

    // The single view too.
    let (status, one) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{}", members[1].0),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        one["card"],
        json!({"status": "suspended", "label": "已暂停"})
    );
    w.app.stop().await;
}

/// The registered leader and phone of union A, in full.
async fn leader(w: &World) -> (String, String) {
    let path = format!("/api/v1/admin/orgs/{}?full=true", w.union_a);
    let (_, org) = w.app.get(&path, Some(&w.county_token)).await;
    (s(&org["union"]["leader_name"]), s(&org["union"]["phone"]))
}

#[tokio::test]
async fn item5_a_re_election_submitted_by_the_union_waits_for_its_parent() {
    let w = world().await;
    let terms = format!("/api/v1/admin/orgs/{}/terms", w.union_a);
    let before = leader(&w).await;
    assert_eq!(before.0, "王主席");

    // Submitted by the union: pending, the registration unchanged.
    let (status, e) = w
        .app
        .post_json(
            &terms,
            &json!({"leader_name": "李主席", "phone": "12", "committee": "委员：张、王",
                    "starts_on": "2026-01-01", "ends_on": "2031-01-01"}),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!((status, s(&e["field"])), (400, "phone".into()), "{e}");
    let term = created(
        &w.app,
        &terms,
        &json!({"leader_name": "李主席", "phone": "13957200001", "committee": "委员：张、王",
                "starts_on": "2026-01-01", "ends_on": "2031-01-01"}),
        &w.union_a_token,
    )
    .await;
    assert_eq!(term["status"], "pending");
    assert_eq!(leader(&w).await, before);
    let approve = format!("/api/v1/admin/terms/{}/approve", s(&term["id"]));
    let reject = format!("/api/v1/admin/terms/{}/reject", s(&term["id"]));

    // The union cannot approve its own term; another district does not see it.
    let (status, e) = w
        .app
        .post_json(&approve, &json!({}), Some(&w.union_a_token))
        .await;
    assert_eq!((status, s(&e["code"])), (403, "parent_decides".into()));
    let other = admin(&w, "district_b_admin", "district_admin", &w.district_b).await;
    let (status, _) = w.app.post_json(&approve, &json!({}), Some(&other)).await;
    assert_eq!(status, 404);

    // The parent approves: the registration takes the term's leader and phone.
    let (status, t) = w
        .app
        .post_json(&approve, &json!({}), Some(&w.district_a_token))
        .await;
    assert_eq!((status, s(&t["status"])), (200, "approved".into()), "{t}");
    assert_eq!(
        leader(&w).await,
        ("李主席".to_owned(), "13957200001".to_owned())
    );
    let (status, e) = w
        .app
        .post_json(
            &reject,
            &json!({"reason": "迟了"}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(
        (status, s(&e["code"])),
        (409, "wrong_status".into()),
        "reviewed once"
    );

    // A rejected term leaves the registration as it was, with the reason on the term.
    let second = created(
        &w.app,
        &terms,
        &json!({"leader_name": "赵主席", "committee": "委员：钱", "starts_on": "2027-01-01",
                "ends_on": "2032-01-01"}),
        &w.union_a_token,
    )
    .await;
    let (status, t) = w
        .app
        .post_json(
            &format!("/api/v1/admin/terms/{}/reject", s(&second["id"])),
            &json!({"reason": "委员人数不足"}),
            Some(&w.county_token),
        )
        .await;
    assert_eq!((status, s(&t["status"])), (200, "rejected".into()), "{t}");
    assert_eq!(t["review_reason"], "委员人数不足");
    assert_eq!(leader(&w).await.0, "李主席");
    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=org.term_approve",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");
    w.app.stop().await;
}
