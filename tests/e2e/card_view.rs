//! `GET /api/v1/card` through the card-view cache in the session backend: what it holds, and
//! that every write changing what a card shows is seen by the very next request — unbinding,
//! membership changes, a union renamed or dissolved, a name or unit corrected — also through
//! another instance sharing Redis; and that a failing store falls back to the database.

use crate::helpers::{TestApp, captured_logs, county_org};
use crate::roster::{OrgLine, clerk_orgs, clerk_roster, row, upload_to};
use crate::unions::{World, created, grassroots, id_number, member, world};
use async_trait::async_trait;
use huigong_store::card_views::{CardViews, StaleViews};
use huigong_store::entity::{card, org};
use huigong_store::merchants;
use huigong_store::{Ephemeral, EphemeralError};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "张三丰";

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Adds 张三丰-like member `name` (ID number `seq`, odd: a man) to `org`; returns the member id
/// and the ID number.
async fn enrol_in(app: &TestApp, token: &str, org: &str, name: &str, seq: u32) -> (String, String) {
    let id = id_number("19900101", seq);
    let added = created(
        app,
        &format!("/api/v1/admin/orgs/{org}/members"),
        &member(name, &id, "男"),
        token,
    )
    .await;
    (s(&added["id"]), id)
}

/// Activates the card of `name`/`id` for WeChat account `openid`; returns its session token.
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
    assert!(matches!(status, 200 | 201), "{c}");
    worker
}

/// `GET /api/v1/card`, asked twice so the second answer comes from the cache: both must agree.
/// The till's view of the account's card (cached by card, invalidated at the same points) is
/// asked twice too, and must agree with the database.
async fn card(app: &TestApp, token: &str) -> (u16, Value) {
    let first = app.get("/api/v1/card", Some(token)).await;
    let second = app.get("/api/v1/card", Some(token)).await;
    assert_eq!(first, second, "a cached answer equals the database's");
    till_agrees(app, user_of(app, token).await).await;
    first
}

/// The till's cached view of the card bound to `user` (if any) equals the database's.
async fn till_agrees(app: &TestApp, user: uuid::Uuid) {
    let st = &app.state;
    let bound: Option<card::Model> = card::Entity::find()
        .filter(card::Column::UserId.eq(user))
        .one(&st.db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(bound) = bound else { return };
    let day = merchants::beijing_day(chrono::Utc::now());
    let truth = merchants::read_till(&st.db.conn, &st.vault, bound.id, day)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..2 {
        let cached = st
            .card_views
            .till(&st.db.conn, &st.vault, bound.id, day)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cached, truth, "the till's view equals the database's");
    }
}

async fn user_of(app: &TestApp, token: &str) -> uuid::Uuid {
    let (status, me) = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    uuid::Uuid::parse_str(me["id"].as_str().unwrap_or_default()).unwrap_or_default()
}

async fn change(app: &TestApp, token: &str, member: &str, body: &Value) -> (u16, Value) {
    app.post_json(
        &format!("/api/v1/admin/members/{member}/changes"),
        body,
        Some(token),
    )
    .await
}

fn change_body(kind: &str) -> Value {
    json!({"kind": kind, "reason": "依《工会会员会籍管理办法》", "effective_on": "2026-10-31"})
}

/// Renames a union behind the service's back (no invalidation): only a cached answer still
/// shows the old name.
async fn rename_directly(app: &TestApp, union: &str, name: &str) {
    org::Entity::update_many()
        .col_expr(org::Column::Name, Expr::value(name))
        .filter(org::Column::Id.eq(uuid::Uuid::parse_str(union).unwrap_or_default()))
        .exec(&app.state.db.conn)
        .await
        .unwrap_or_else(|e| panic!("rename: {e}"));
}

#[tokio::test]
async fn the_card_is_served_from_a_cache_that_holds_only_what_it_shows() {
    let w = world().await;
    let (_, id) = enrol_in(&w.app, &w.county_token, &w.union_a, NAME, 1).await;
    let worker = activate(&w.app, "view-cached", NAME, &id).await;

    let (status, c) = card(&w.app, &worker).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (
            s(&c["status"]),
            s(&c["holder"]),
            s(&c["union_name"]),
            s(&c["unit_name"])
        ),
        (
            "active".into(),
            "张**".into(),
            "甲公司工会".into(),
            "长兴示范企业".into()
        )
    );
    assert!(c["activated_at"].is_string());

    // The entry in the session backend (Redis on the services backend) shows the name masked
    // only, and no ID number.
    let user = user_of(&w.app, &worker).await;
    let stored = w
        .app
        .state
        .sessions
        .store()
        .get(&format!("card:view:{{{user}}}"))
        .await
        .unwrap_or_else(|e| panic!("store: {e}"))
        .unwrap_or_else(|| panic!("the view is cached"));
    let stored = String::from_utf8_lossy(&stored).into_owned();
    assert!(stored.contains("张**"), "{stored}");
    assert!(!stored.contains(NAME), "no full name: {stored}");
    assert!(!stored.contains(&id[..]), "no ID number: {stored}");

    // Served from the cache: a change made behind the service's back is not seen ...
    rename_directly(&w.app, &w.union_a, "背后改名工会").await;
    let (_, c) = w.app.get("/api/v1/card", Some(&worker)).await;
    assert_eq!(c["union_name"], "甲公司工会");
    // ... until the union's holders' views are invalidated.
    let mut stale = StaleViews::new();
    stale.holders_in(uuid::Uuid::parse_str(&w.union_a).unwrap_or_default());
    w.app
        .state
        .card_views
        .invalidate(&w.app.state.db.conn, stale)
        .await;
    let (_, c) = card(&w.app, &worker).await;
    assert_eq!(c["union_name"], "背后改名工会");

    // "No card" is cached as well, and activation ends it.
    let (_, other_id) = enrol_in(&w.app, &w.county_token, &w.union_a, "李四", 3).await;
    let later = w.app.login("view-later").await;
    let (status, none) = card(&w.app, &later).await;
    assert_eq!((status, s(&none["code"])), (404, "no_card".into()));
    let later = activate(&w.app, "view-later", "李四", &other_id).await;
    let (status, c) = card(&w.app, &later).await;
    assert_eq!((status, s(&c["holder"])), (200, "李*".into()), "{c}");
    w.app.stop().await;
}

#[tokio::test]
async fn an_admin_unbinding_ends_the_cached_view_at_once() {
    let w = world().await;
    let (member_id, id) = enrol_in(&w.app, &w.county_token, &w.union_a, NAME, 5).await;
    let first = activate(&w.app, "view-unbind-1", NAME, &id).await;
    let (status, before) = card(&w.app, &first).await;
    assert_eq!(status, 200, "{before}");

    let (status, out) = w
        .app
        .post_json(
            &format!("/api/v1/admin/members/{member_id}/card/unbind"),
            &json!({}),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, gone) = card(&w.app, &first).await;
    assert_eq!(
        (status, s(&gone["code"])),
        (404, "no_card".into()),
        "{gone}"
    );

    let second = activate(&w.app, "view-unbind-2", NAME, &id).await;
    let (status, after) = card(&w.app, &second).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["card_number"], before["card_number"]);
    let (status, _) = card(&w.app, &first).await;
    assert_eq!(status, 404, "the old account still holds nothing");
    w.app.stop().await;
}

#[tokio::test]
async fn leave_death_and_retirement_show_on_the_cached_view_at_once() {
    let w = world().await;
    let mut holders = Vec::new();
    for (seq, name) in [(7, "钱一"), (9, "孙二"), (11, "周三")] {
        let (member_id, id) = enrol_in(&w.app, &w.county_token, &w.union_a, name, seq).await;
        let token = activate(&w.app, &format!("view-life-{seq}"), name, &id).await;
        let (status, c) = card(&w.app, &token).await;
        assert_eq!((status, s(&c["status"])), (200, "active".into()), "{c}");
        holders.push((member_id, token));
    }
    let (retired, left, died) = (&holders[0], &holders[1], &holders[2]);

    let (status, out) = change(&w.app, &w.union_a_token, &retired.0, &change_body("retire")).await;
    assert_eq!(status, 201, "{out}");
    let (status, c) = card(&w.app, &retired.1).await;
    assert_eq!(
        (status, s(&c["status"])),
        (200, "active".into()),
        "保留会籍"
    );

    let (status, out) = change(&w.app, &w.union_a_token, &left.0, &change_body("leave")).await;
    assert_eq!(status, 201, "{out}");
    let (status, c) = card(&w.app, &left.1).await;
    assert_eq!((status, s(&c["status"])), (200, "suspended".into()), "{c}");

    let (status, out) = change(&w.app, &w.union_a_token, &died.0, &change_body("death")).await;
    assert_eq!(status, 201, "{out}");
    let (status, c) = card(&w.app, &died.1).await;
    assert_eq!(
        (status, s(&c["code"])),
        (404, "no_card".into()),
        "cancelled: {c}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn an_accepted_transfer_moves_the_cached_view_to_the_new_union_at_once() {
    let w = world().await;
    let (member_id, id) = enrol_in(&w.app, &w.county_token, &w.union_a, NAME, 13).await;
    let worker = activate(&w.app, "view-transfer", NAME, &id).await;
    let (_, c) = card(&w.app, &worker).await;
    assert_eq!(c["union_name"], "甲公司工会");

    let mut body = change_body("transfer_out");
    body["to_org_id"] = json!(w.union_b);
    body["to_unit_name"] = json!("乙公司");
    let (status, t) = change(&w.app, &w.union_a_token, &member_id, &body).await;
    assert_eq!(status, 202, "{t}");
    // Waiting for the receiving union: nothing changes yet.
    let (_, c) = card(&w.app, &worker).await;
    assert_eq!(c["union_name"], "甲公司工会");

    let (status, out) = w
        .app
        .post_json(
            &format!("/api/v1/admin/transfers/{}/accept", s(&t["transfer"]["id"])),
            &json!({}),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, c) = card(&w.app, &worker).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (s(&c["union_name"]), s(&c["unit_name"]), s(&c["status"])),
        ("乙公司工会".into(), "乙公司".into(), "active".into())
    );
    w.app.stop().await;
}

/// Union A of the world as a row of the organisation table, under `name`.
fn union_a_row(name: &str) -> OrgLine<'_> {
    [
        "甲公司工会所在单位",
        "91350100M000100Y43",
        "私营经济",
        "浙江省湖州市长兴县雉城街道金陵路88号",
        "120",
        name,
        "2001-05-06",
        "单建",
        "80",
        "王主席",
        "0572-6022447",
    ]
}

async fn rename_union_a(w: &World, name: &str) {
    let (status, report) = upload_to(
        &w.app,
        &w.county_token,
        &format!(
            "/api/v1/admin/orgs/{}/children/import?commit=true",
            w.district_a
        ),
        clerk_orgs(&[union_a_row(name)]),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
}

#[tokio::test]
async fn renaming_a_union_shows_on_every_cached_card_of_it_at_once() {
    let w = world().await;
    let mut workers = Vec::new();
    for (seq, name) in [(15, "吴一"), (17, "郑二")] {
        let (_, id) = enrol_in(&w.app, &w.county_token, &w.union_a, name, seq).await;
        let token = activate(&w.app, &format!("view-rename-{seq}"), name, &id).await;
        let (_, c) = card(&w.app, &token).await;
        assert_eq!(c["union_name"], "甲公司工会");
        workers.push(token);
    }
    // A holder of another union, whose view stays as it is.
    let (_, id_b) = enrol_in(&w.app, &w.county_token, &w.union_b, "王五", 19).await;
    let other = activate(&w.app, "view-rename-other", "王五", &id_b).await;
    let (_, before) = card(&w.app, &other).await;

    rename_union_a(&w, "甲公司联合工会").await;
    for token in &workers {
        let (status, c) = card(&w.app, token).await;
        assert_eq!(
            (status, s(&c["union_name"])),
            (200, "甲公司联合工会".into())
        );
    }
    assert_eq!(card(&w.app, &other).await.1, before);
    w.app.stop().await;
}

#[tokio::test]
async fn dissolving_a_union_whose_unit_closed_moves_cached_views_to_the_parent_at_once() {
    let w = world().await;
    let (_, id) = enrol_in(&w.app, &w.county_token, &w.union_a, NAME, 21).await;
    let worker = activate(&w.app, "view-dissolve", NAME, &id).await;
    let (_, c) = card(&w.app, &worker).await;
    assert_eq!(c["union_name"], "甲公司工会");

    let (status, out) = w
        .app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/dissolve", w.union_a),
            &json!({"reason": "企业注销", "unit_closed": true}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["moved_members"], 1, "{out}");
    let (status, c) = card(&w.app, &worker).await;
    assert_eq!(
        (status, s(&c["union_name"]), s(&c["status"])),
        (200, "雉城街道总工会".into(), "active".into())
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_name_or_unit_corrected_by_roster_import_or_re_entry_shows_at_once() {
    let w = world().await;
    let (member_id, id) = enrol_in(&w.app, &w.county_token, &w.union_a, NAME, 23).await;
    let worker = activate(&w.app, "view-corrected", NAME, &id).await;
    let (_, c) = card(&w.app, &worker).await;
    assert_eq!(
        (s(&c["holder"]), s(&c["unit_name"])),
        ("张**".into(), "长兴示范企业".into())
    );

    // The roster corrects the name (章三丰 → 章**) and the unit (甲公司).
    let (status, report) = upload_to(
        &w.app,
        &w.county_token,
        &format!("/api/v1/admin/orgs/{}/roster/import?commit=true", w.union_a),
        clerk_roster(&[row("章三", &id, "男")], |_| {}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    // The correction is audited, in the import's transaction, naming the field.
    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=person.update",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");
    assert!(
        log["items"][0]["fields"].to_string().contains("name"),
        "{log}"
    );
    let (status, c) = card(&w.app, &worker).await;
    assert_eq!(
        (status, s(&c["holder"]), s(&c["unit_name"])),
        (200, "章*".into(), "甲公司".into())
    );

    // After leaving (card suspended), re-entered under yet another spelling of the name.
    let (status, out) = change(&w.app, &w.union_a_token, &member_id, &change_body("leave")).await;
    assert_eq!(status, 201, "{out}");
    let (_, c) = card(&w.app, &worker).await;
    assert_eq!(
        (s(&c["status"]), s(&c["holder"])),
        ("suspended".into(), "章*".into())
    );
    // (The record's name differs: the clerk chooses the name given, `keep: roster`.)
    let mut again = member("张三", &id, "男");
    again["keep"] = serde_json::json!("roster");
    created(
        &w.app,
        &format!("/api/v1/admin/orgs/{}/members", w.union_b),
        &again,
        &w.county_token,
    )
    .await;
    let (status, c) = card(&w.app, &worker).await;
    assert_eq!((status, s(&c["holder"])), (200, "张*".into()), "{c}");
    w.app.stop().await;
}

/// A session backend that is down for the card views (the sessions themselves live elsewhere).
#[derive(Debug)]
struct Down;

#[async_trait]
impl Ephemeral for Down {
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    async fn set(&self, _: &str, _: &[u8], _: Duration) -> Result<(), EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    async fn set_if_absent(&self, _: &str, _: &[u8], _: Duration) -> Result<bool, EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    async fn delete(&self, _: &str) -> Result<bool, EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    async fn increment(&self, _: &str, _: Duration) -> Result<u64, EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    async fn delete_if_equals(&self, _: &str, _: &[u8]) -> Result<bool, EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    async fn decrement(&self, _: &str) -> Result<u64, EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    async fn ping(&self) -> Result<(), EphemeralError> {
        Err(EphemeralError::Unavailable("connection refused".into()))
    }
    fn kind(&self) -> &'static str {
        "down"
    }
}

#[tokio::test]
async fn a_cache_that_does_not_answer_falls_back_to_the_database() {
    let w = world().await;
    let (_, id) = enrol_in(&w.app, &w.county_token, &w.union_a, NAME, 25).await;
    let worker = activate(&w.app, "view-down", NAME, &id).await;
    let user = user_of(&w.app, &worker).await;

    let views = CardViews::new(Arc::new(Down), Duration::from_secs(30));
    let shown = views
        .get(&w.app.state.db.conn, &w.app.state.vault, user)
        .await
        .unwrap_or_else(|e| panic!("no fallback: {e}"))
        .unwrap_or_else(|| panic!("the card is in the database"));
    assert_eq!(
        (shown.holder_masked.as_str(), shown.union_name.as_str()),
        ("张**", "甲公司工会")
    );
    // An invalidation that cannot reach the store does not fail either.
    let mut stale = StaleViews::new();
    stale.holders_in(uuid::Uuid::parse_str(&w.union_a).unwrap_or_default());
    views.invalidate(&w.app.state.db.conn, stale).await;
    let logs = captured_logs();
    assert!(logs.contains("card view cache unreadable"), "warned");
    assert!(logs.contains("card views not invalidated"), "warned");
    assert!(
        !logs.contains(NAME) && !logs.contains(&id[..]),
        "no personal data in logs"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_change_through_one_instance_is_seen_at_once_through_another_sharing_redis() {
    let (a, b) = TestApp::two_sharing_services().await;

    let (_, county) = a.token_for(huigong_core::Role::CountyAdmin).await;
    let district = created(
        &a,
        "/api/v1/admin/orgs",
        &json!({"parent_id": county_org(), "level": "district", "name": "雉城街道总工会"}),
        &county,
    )
    .await;
    let union = created(
        &a,
        "/api/v1/admin/orgs",
        &grassroots(&s(&district["id"]), "甲公司工会", "91350100M000100Y43"),
        &county,
    )
    .await;
    let (member_id, id) = enrol_in(&a, &county, &s(&union["id"]), NAME, 27).await;
    let worker = activate(&a, "view-two-instances", NAME, &id).await;

    // Both instances cache the view in the shared Redis.
    let (status, on_b) = card(&b, &worker).await;
    assert_eq!(
        (status, s(&on_b["status"])),
        (200, "active".into()),
        "{on_b}"
    );
    assert_eq!(card(&a, &worker).await.1, on_b);

    // Unbinding through B is seen through A at once.
    let (status, out) = b
        .post_json(
            &format!("/api/v1/admin/members/{member_id}/card/unbind"),
            &json!({}),
            Some(&county),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (status, on_a) = card(&a, &worker).await;
    assert_eq!(
        (status, s(&on_a["code"])),
        (404, "no_card".into()),
        "{on_a}"
    );

    // Activated again, cached by both; leaving, recorded through A, is seen through B at once.
    // (Once the membership has ended no admin reaches the card: issue 13 item 7.)
    let worker = activate(&a, "view-two-instances", NAME, &id).await;
    let (status, on_b) = card(&b, &worker).await;
    assert_eq!(
        (status, s(&on_b["status"])),
        (200, "active".into()),
        "{on_b}"
    );
    assert_eq!(card(&a, &worker).await.1, on_b);
    let (status, out) = change(&a, &county, &member_id, &change_body("leave")).await;
    assert_eq!(status, 201, "{out}");
    let (status, on_b) = card(&b, &worker).await;
    assert_eq!(
        (status, s(&on_b["status"])),
        (200, "suspended".into()),
        "{on_b}"
    );
    a.stop().await;
    b.stop().await;
}
