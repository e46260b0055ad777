//! Issue 13, the security review of main: what items 2, 4, 5 and 10 still let through. Each
//! test names the item and the review's finding (`item5_f1_…`: item 5, finding 1).

use crate::oracle::{Setup, admin_of, application, pending_applications, setup};
use crate::roster::{clerk_roster, download, row, upload_to};
use crate::unions::{PASSWORD, id_number, member};
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

async fn audit_events(w: &Setup, action: &str) -> Vec<Value> {
    let (status, page) = w
        .app
        .get(
            &format!("/api/v1/admin/audit?action={action}&per_page=100"),
            Some(&w.county),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn members_of(w: &Setup, org: &str) -> u64 {
    let (status, page) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{org}/members"),
            Some(&w.county),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["total"].as_u64().unwrap_or(u64::MAX)
}

/// The name and mobile on record for member `id`, read in full by the county.
async fn record_of(w: &Setup, id: &str) -> (String, String) {
    let (status, full) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{id}?full=true"),
            Some(&w.county),
        )
        .await;
    assert_eq!(status, 200, "{full}");
    (s(&full["name"]), s(&full["mobile"]))
}

async fn add(w: &Setup, token: &str, org: &str, body: &Value) -> (u16, Value) {
    w.app
        .post_json(
            &format!("/api/v1/admin/orgs/{org}/members"),
            body,
            Some(token),
        )
        .await
}

/// Adds `name`/`id` to union A (by the county), then records that they left.
async fn former_member(w: &Setup, name: &str, id: &str) {
    let (status, added) = add(w, &w.county, &w.union_a, &member(name, id, "男")).await;
    assert_eq!(status, 201, "{added}");
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let (status, out) = w
        .app
        .post_json(
            &format!("/api/v1/admin/members/{}/changes", s(&added["id"])),
            &json!({"kind": "leave", "reason": "离职", "effective_on": yesterday}),
            Some(&w.county),
        )
        .await;
    assert!(status < 300, "{out}");
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

#[tokio::test]
async fn item5_f1_a_refused_roster_commit_names_no_row_and_the_budget_is_per_union_too() {
    let w = setup(|s| s.roster.max_checked_rows_per_day = 6).await;
    let app = &w.app;
    let known = id_number("19850505", 41);
    let (status, out) = add(&w, &w.county, &w.union_a, &member("钱多多", &known, "男")).await;
    assert_eq!(status, 201, "{out}");
    let clerk = admin_of(app, &w.county, &w.union_b, "f1_union_b", "grassroots_admin").await;
    let import = |commit: bool| {
        format!(
            "/api/v1/admin/orgs/{}/roster/import?commit={commit}",
            w.union_b
        )
    };
    // Made-up names around one known number: the commit is refused as a whole, naming no row.
    let (a, b) = (id_number("19920101", 43), id_number("19920102", 45));
    let file = [
        row("甲一", &a, "男"),
        row("冒名者", &known, "男"),
        row("甲二", &b, "男"),
    ];
    let (status, out) = upload_to(app, &clerk, &import(true), clerk_roster(&file, |_| {})).await;
    assert_eq!(
        (status, s(&out["code"])),
        (409, "id_number_unavailable".to_owned()),
        "{out}"
    );
    assert!(
        out.get("errors").is_none() && out.get("valid").is_none() && out.get("field").is_none(),
        "the refusal must not say which rows: {out}"
    );
    assert!(!out.to_string().contains("其他工会"), "{out}");
    assert_eq!(members_of(&w, &w.union_b).await, 0, "nothing written");
    // Audited, counts only.
    let refused = audit_events(&w, "roster.import_refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0]["fields"],
        json!(["id_number", "name", "rows_checked=3", "conflicts=1"])
    );
    assert!(!format!("{refused:?}").contains(&known));

    // The refusal counted (3 rows), and the budget is the union's as well as the admin's: a
    // second admin of the same union shares it.
    let second = admin_of(
        app,
        &w.county,
        &w.union_b,
        "f1_union_b_2",
        "grassroots_admin",
    )
    .await;
    let more = [
        id_number("19920103", 47),
        id_number("19920104", 49),
        id_number("19920105", 51),
    ];
    let rows: Vec<_> = more.iter().map(|id| row("乙一", id, "男")).collect();
    let (status, out) = upload_to(app, &second, &import(false), clerk_roster(&rows, |_| {})).await;
    assert_eq!(status, 200, "{out}");
    let (status, out) = add(
        &w,
        &second,
        &w.union_b,
        &member("乙四", &id_number("19920106", 53), "男"),
    )
    .await;
    assert_eq!(
        (status, s(&out["code"])),
        (429, "too_many_attempts".to_owned()),
        "the union's budget is used up whoever asks: {out}"
    );
    // The default is what a real grassroots union needs, not 200,000.
    assert!(huigong_server::settings::RosterConfig::default().max_checked_rows_per_day <= 20_000);
    w.app.stop().await;
}

#[tokio::test]
async fn item10_f5_an_admin_cannot_create_an_admin_at_its_own_level() {
    let w = setup(|_| {}).await;
    let app = &w.app;
    let district = admin_of(app, &w.county, &w.district, "f5_district", "district_admin").await;
    let union_a = admin_of(app, &w.county, &w.union_a, "f5_union_a", "grassroots_admin").await;
    let create = |token: String, username: &'static str, role: &'static str, org: String| async move {
        app.post_json(
            "/api/v1/admin/users",
            &json!({"username": username, "password": PASSWORD, "role": role, "org_id": org}),
            Some(&token),
        )
        .await
    };
    // Peers at one's own level: refused, and nothing is kept.
    for (token, username, role, org) in [
        (
            district.clone(),
            "f5_peer_d",
            "district_admin",
            w.district.clone(),
        ),
        (
            union_a.clone(),
            "f5_peer_u",
            "grassroots_admin",
            w.union_a.clone(),
        ),
        (
            w.county.clone(),
            "f5_peer_c",
            "county_admin",
            w.district.clone(),
        ),
    ] {
        let (status, out) = create(token, username, role, org).await;
        if role == "county_admin" {
            // (The role must match the org's level: a 400 before anything else.)
            assert_eq!(status, 400, "{out}");
            continue;
        }
        assert_eq!(
            (status, s(&out["code"])),
            (403, "forbidden".to_owned()),
            "{username}: {out}"
        );
    }
    let county_org = crate::helpers::county_org().to_string();
    let (status, out) = create(w.county.clone(), "f5_peer_c", "county_admin", county_org).await;
    assert_eq!(
        (status, s(&out["code"])),
        (403, "forbidden".to_owned()),
        "{out}"
    );
    // The refused accounts were rolled back: their usernames are free for the level above.
    let (status, out) = create(
        w.county.clone(),
        "f5_peer_d",
        "district_admin",
        w.district.clone(),
    )
    .await;
    assert_eq!(status, 201, "{out}");
    // Below one's own level: still allowed.
    let (status, out) = create(district, "f5_below", "grassroots_admin", w.union_a.clone()).await;
    assert_eq!(status, 201, "{out}");
    w.app.stop().await;
}

#[tokio::test]
async fn item4_f6_the_reviewer_is_not_told_whether_a_guess_matches_a_member_elsewhere() {
    let w = setup(|_| {}).await;
    let app = &w.app;
    let known = id_number("19860606", 55);
    let (status, out) = add(&w, &w.county, &w.union_a, &member("钱多多", &known, "男")).await;
    assert_eq!(status, 201, "{out}");
    // The member activates the card.
    let holder = app.login("f6_holder").await;
    let (status, p) = app
        .post_json(
            "/api/v1/card/activation/preview",
            &json!({"name": "钱多多", "id_number": known}),
            Some(&holder),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let (status, c) = app
        .post_json(
            "/api/v1/card/activation/confirm",
            &json!({"preview_id": p["preview_id"]}),
            Some(&holder),
        )
        .await;
    assert!(matches!(status, 200 | 201), "{c}");

    // Union B's admin applies to its own union with the number and a guessed name.
    let reviewer = admin_of(app, &w.county, &w.union_b, "f6_union_b", "grassroots_admin").await;
    let guesser = app.login("f6_guesser").await;
    let (status, out) = app
        .post_json(
            "/api/v1/applications",
            &application(&w.union_b, "钱多", &known),
            Some(&guesser),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let pending = pending_applications(app, &reviewer).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["conflict"], "on_roster_elsewhere");
    assert!(
        pending[0].get("differs_from_record").is_none(),
        "whether the guess matches the record must not show: {}",
        pending[0]
    );
    // The appendix-2 export says nothing of the card of a pending application.
    let (status, bytes) = download(
        app,
        &reviewer,
        &format!("/api/v1/admin/orgs/{}/applications.xlsx", w.union_b),
    )
    .await;
    assert_eq!(status, 200);
    let text = workbook_text(bytes);
    assert!(text.contains("钱*"), "{text}");
    // Two in the header, one for 有无微信.
    assert_eq!(
        text.matches('√').count(),
        3,
        "only 有无微信 is ticked, not 是否注册电子会员卡: {text}"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn item4_f7_a_former_members_record_is_not_overwritten_by_an_add_or_an_import() {
    let w = setup(|_| {}).await;
    let app = &w.app;
    let clerk = admin_of(app, &w.county, &w.union_b, "f7_union_b", "grassroots_admin").await;

    // One at a time: another name for a former member needs a choice.
    let left = id_number("19870707", 57);
    former_member(&w, "周正", &left).await;
    let (status, out) = add(&w, &clerk, &w.union_b, &member("冒名者", &left, "男")).await;
    assert_eq!(
        (status, s(&out["code"]), s(&out["field"])),
        (409, "record_differs".to_owned(), "keep".to_owned()),
        "{out}"
    );
    assert!(!out.to_string().contains("周"), "{out}");
    let mut body = member("冒名者", &left, "男");
    body["keep"] = json!("sideways");
    let (status, _) = add(&w, &clerk, &w.union_b, &body).await;
    assert_eq!(status, 400);
    body["keep"] = json!("record");
    let (status, added) = add(&w, &clerk, &w.union_b, &body).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(
        record_of(&w, &s(&added["id"])).await,
        ("周正".to_owned(), "13957212345".to_owned()),
        "the record stays"
    );
    let chosen = audit_events(&w, "person.record_choice").await;
    assert_eq!(chosen.len(), 1, "{chosen:?}");
    assert_eq!(chosen[0]["fields"], json!(["name", "keep=record"]));

    // An import: the row needs review, nothing is overwritten.
    let other = id_number("19880808", 59);
    former_member(&w, "吴用", &other).await;
    let import = |commit: bool| {
        format!(
            "/api/v1/admin/orgs/{}/roster/import?commit={commit}",
            w.union_b
        )
    };
    let file = || clerk_roster(&[row("冒名二", &other, "男")], |_| {});
    let (status, report) = upload_to(app, &clerk, &import(false), file()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["errors"][0]["code"], "record_differs", "{report}");
    let (status, report) = upload_to(app, &clerk, &import(true), file()).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["errors"][0]["code"], "record_differs", "{report}");
    assert_eq!(members_of(&w, &w.union_b).await, 1, "only the one added");
    let updates = audit_events(&w, "person.update").await;
    assert!(updates.is_empty(), "{updates:?}");
    w.app.stop().await;
}

#[tokio::test]
async fn item2_f4_a_terms_committee_shows_only_in_full_and_audited() {
    let w = setup(|_| {}).await;
    let app = &w.app;
    let union_a = admin_of(app, &w.county, &w.union_a, "f4_union_a", "grassroots_admin").await;
    let committee = "主席：赵主席；委员：钱多多、孙小美";
    let (status, term) = app
        .post_json(
            &format!("/api/v1/admin/orgs/{}/terms", w.union_a),
            &json!({"leader_name": "赵主席", "committee": committee, "starts_on": "2023-01-01", "ends_on": "2028-01-01"}),
            Some(&union_a),
        )
        .await;
    assert_eq!(status, 201, "{term}");
    assert!(!term.to_string().contains("钱多多"), "{term}");
    let terms = format!("/api/v1/admin/orgs/{}/terms", w.union_a);
    let (status, masked) = app.get(&terms, Some(&union_a)).await;
    assert_eq!(status, 200, "{masked}");
    assert!(masked[0]["committee"].is_null(), "{masked}");
    assert!(!masked.to_string().contains("钱多多"), "{masked}");
    assert!(audit_events(&w, "org.read_full").await.is_empty());
    let (status, full) = app.get(&format!("{terms}?full=true"), Some(&union_a)).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full[0]["committee"], committee);
    let reads = audit_events(&w, "org.read_full").await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(
        reads[0]["fields"],
        json!(["term_leader_name", "term_committee"])
    );
    // Scope-checked: another union's terms in full are 404.
    let (status, _) = app
        .get(
            &format!("/api/v1/admin/orgs/{}/terms?full=true", w.union_b),
            Some(&union_a),
        )
        .await;
    assert_eq!(status, 404);
    w.app.stop().await;
}
