//! The console's 入会申请, 会员 and 花名册 pages (issue 15): every action answers 404 out of the
//! caller's scope exactly as its JSON route does, and in scope does what the JSON route does
//! (through the same function): approve, reveal (audited), search by number without the
//! number in the URL, the dry run kept server-side by a one-use token and committed in the
//! background, the exports as workbooks.

use crate::helpers::TestApp;
use crate::roster::{clerk_roster, row};
use crate::unions::{PASSWORD, World, created, id_number, member, world};
use serde_json::{Value, json};

/// A browser stand-in keeping the console's cookies, never following redirects.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of the first `name="{field}" value="…"` of the page.
    fn field(&self, field: &str) -> String {
        let text = self.text();
        let marker = format!("name=\"{field}\" value=\"");
        let start = text
            .find(&marker)
            .map(|i| i + marker.len())
            .unwrap_or_else(|| panic!("no {field} field: {text}"));
        text[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Browser {
    async fn signed_in(app: &TestApp, username: &str) -> Browser {
        let mut b = Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|e| panic!("client: {e}")),
            base: app.url(""),
            cookies: Vec::new(),
        };
        let form = b.get("/console/login").await;
        let csrf = form.field("csrf");
        let answer = b
            .post(
                "/console/login",
                &[
                    ("csrf", csrf.as_str()),
                    ("username", username),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{}", answer.text());
        b
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie)
        };
        let res = req.send().await.unwrap_or_else(|e| panic!("send: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await.unwrap_or_default().to_vec();
        for c in headers.get_all("set-cookie").iter() {
            let c = c.to_str().unwrap_or_default();
            let pair = c.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !c.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// The session's CSRF token, read from a page.
    async fn csrf(&mut self) -> String {
        self.get("/console/").await.field("csrf")
    }

    /// A form POST with the session's CSRF token.
    async fn act(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let csrf = self.csrf().await;
        let mut with = vec![("csrf", csrf.as_str())];
        with.extend_from_slice(form);
        self.post(path, &with).await
    }

    /// An htmx multipart upload of `bytes` as the field `file` (CSRF in the header).
    async fn upload(&mut self, path: &str, bytes: Vec<u8>) -> Answer {
        let csrf = self.csrf().await;
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("花名册.xlsx"),
        );
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-csrf-token", csrf)
            .header("hx-request", "true")
            .multipart(form);
        self.send(req).await
    }
}

/// The first sheet's cells as text.
fn cells(bytes: Vec<u8>) -> Vec<Vec<String>> {
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
                    _ => String::new(),
                })
                .collect()
        })
        .collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The sex an ID number of sequence `seq` says.
fn sex(seq: u32) -> &'static str {
    if seq % 2 == 1 { "男" } else { "女" }
}

/// A worker's pending application to `union`; its id.
async fn applied(w: &World, openid: &str, union: &str, name: &str, seq: u32) -> String {
    let worker = w.app.login(openid).await;
    let body = crate::applications::application(union, name, &id_number("19900101", seq), sex(seq));
    let (status, out, _) = crate::applications::apply(&w.app, &worker, &body, None).await;
    assert_eq!(status, 201, "{out}");
    s(&out["id"])
}

/// A member of `union` added by the county; its id.
async fn enrolled(w: &World, union: &str, name: &str, seq: u32) -> String {
    let out = created(
        &w.app,
        &format!("/api/v1/admin/orgs/{union}/members"),
        &member(name, &id_number("19850505", seq), sex(seq)),
        &w.county_token,
    )
    .await;
    s(&out["id"])
}

/// The JSON route's status for district A's admin.
async fn json_status(w: &World, method: &str, path: &str, body: &Value) -> u16 {
    if method == "GET" {
        let res = w
            .app
            .http
            .get(w.app.url(path))
            .bearer_auth(&w.district_a_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        res.status().as_u16()
    } else {
        w.app
            .post_json(path, body, Some(&w.district_a_token))
            .await
            .0
    }
}

#[tokio::test]
async fn console_application_actions_out_of_scope_answer_404_exactly_as_the_json_routes_do() {
    let w = world().await;
    let elsewhere = applied(&w, "o_console_b", &w.union_b, "赵六", 11).await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let missing = b
        .get("/console/applications/01900000-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status, 404);

    let page = b.get(&format!("/console/applications/{elsewhere}")).await;
    assert_eq!(page.status, 404);
    assert_eq!(page.body, missing.body, "like a missing application");
    let json = json_status(
        &w,
        "POST",
        &format!("/api/v1/admin/applications/{elsewhere}/approve"),
        &json!({}),
    )
    .await;
    assert_eq!(json, 404);
    let approve = b
        .act(&format!("/console/applications/{elsewhere}/approve"), &[])
        .await;
    assert_eq!(approve.status, json);
    let json = json_status(
        &w,
        "POST",
        &format!("/api/v1/admin/applications/{elsewhere}/reject"),
        &json!({"reason": "不符合条件"}),
    )
    .await;
    assert_eq!(json, 404);
    let reject = b
        .act(
            &format!("/console/applications/{elsewhere}/reject"),
            &[("reason", "不符合条件")],
        )
        .await;
    assert_eq!(reject.status, json);
    // Nothing happened to it: the county still sees it pending, and district A's queue
    // does not list it.
    let (_, queue) = w
        .app
        .get(
            "/api/v1/admin/applications?status=pending",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(queue["total"], 1, "{queue}");
    let listed = b.get("/console/applications").await;
    assert!(!listed.text().contains(&elsewhere));
    assert!(listed.text().contains("没有符合条件的入会申请"));
    w.app.stop().await;
}

#[tokio::test]
async fn console_approves_an_application_of_its_subtree_like_the_json_route() {
    let w = world().await;
    let id = applied(&w, "o_console_a", &w.union_a, "孙七", 12).await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let queue = b.get("/console/applications").await;
    assert_eq!(queue.status, 200);
    assert!(
        queue
            .text()
            .contains(&format!("/console/applications/{id}"))
    );
    let page = b.get(&format!("/console/applications/{id}")).await;
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(text.contains("孙*"), "masked: {text}");
    assert!(!text.contains("孙七"), "never the full name");
    assert!(text.contains("未发现冲突"));

    let done = b
        .act(&format!("/console/applications/{id}/approve"), &[])
        .await;
    assert_eq!(done.status, 303, "{}", done.text());
    let (_, listed) = w
        .app
        .get(
            "/api/v1/admin/applications?status=approved",
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert!(listed["items"][0]["member_id"].is_string());
    // Twice is refused on the page, as the JSON route refuses it (409).
    let again = b
        .act(&format!("/console/applications/{id}/approve"), &[])
        .await;
    assert_eq!(again.status, 409);
    assert!(again.text().contains("该申请已被批准"));
    w.app.stop().await;
}

#[tokio::test]
async fn console_member_actions_out_of_scope_answer_404_exactly_as_the_json_routes_do() {
    let w = world().await;
    let elsewhere = enrolled(&w, &w.union_b, "周八", 21).await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let missing = b
        .get("/console/members/01900000-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status, 404);

    let json = json_status(
        &w,
        "GET",
        &format!("/api/v1/admin/members/{elsewhere}"),
        &Value::Null,
    )
    .await;
    assert_eq!(json, 404);
    let page = b.get(&format!("/console/members/{elsewhere}")).await;
    assert_eq!((page.status, &page.body), (json, &missing.body));
    let json = json_status(
        &w,
        "GET",
        &format!("/api/v1/admin/members/{elsewhere}?full=true"),
        &Value::Null,
    )
    .await;
    let reveal = b
        .act(&format!("/console/members/{elsewhere}/reveal"), &[])
        .await;
    assert_eq!((reveal.status, json), (404, 404));
    let change = json!({"kind": "leave", "reason": "离职", "effective_on": "2026-11-01"});
    let json = json_status(
        &w,
        "POST",
        &format!("/api/v1/admin/members/{elsewhere}/changes"),
        &change,
    )
    .await;
    let form = b
        .act(
            &format!("/console/members/{elsewhere}/changes"),
            &[
                ("kind", "leave"),
                ("reason", "离职"),
                ("effective_on", "2026-11-01"),
            ],
        )
        .await;
    assert_eq!((form.status, json), (404, 404));
    // A union outside the subtree for the name search is a 404 too.
    let json = w
        .app
        .post_json(
            "/api/v1/admin/members/search",
            &json!({"name": "周", "org_id": w.union_b}),
            Some(&w.district_a_token),
        )
        .await
        .0;
    let by_name = b
        .get(&format!(
            "/console/members?org={}&name=%E5%91%A8",
            w.union_b
        ))
        .await;
    assert_eq!((by_name.status, json), (404, 404));
    // And the member is untouched: the county still sees an active member.
    let (_, seen) = w
        .app
        .get(
            &format!("/api/v1/admin/members/{elsewhere}"),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(seen["status"], "active");
    w.app.stop().await;
}

#[tokio::test]
async fn console_transfer_decisions_out_of_scope_answer_404_exactly_as_the_json_routes_do() {
    let w = world().await;
    // A transfer from union A to union B: only B's side may decide; district A may not.
    let m = enrolled(&w, &w.union_a, "吴九", 22).await;
    let (status, out) = w
        .app
        .post_json(
            &format!("/api/v1/admin/members/{m}/changes"),
            &json!({"kind": "transfer_out", "reason": "调动", "effective_on": "2026-11-01", "to_org_id": w.union_b}),
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    let t = s(&out["transfer"]["id"]);
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let json = json_status(
        &w,
        "POST",
        &format!("/api/v1/admin/transfers/{t}/accept"),
        &Value::Null,
    )
    .await;
    let accept = b.act(&format!("/console/transfers/{t}/accept"), &[]).await;
    assert_eq!((accept.status, json), (404, 404));
    let json = json_status(
        &w,
        "POST",
        &format!("/api/v1/admin/transfers/{t}/refuse"),
        &json!({"reason": "不接收"}),
    )
    .await;
    let refuse = b
        .act(
            &format!("/console/transfers/{t}/refuse"),
            &[("reason", "不接收")],
        )
        .await;
    assert_eq!((refuse.status, json), (404, 404));
    let (_, incoming) = w
        .app
        .get(
            "/api/v1/admin/transfers?status=outgoing",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(incoming[0]["status"], "pending", "{incoming}");
    w.app.stop().await;
}

#[tokio::test]
async fn console_member_reveal_is_audited_and_the_number_search_never_puts_the_number_in_the_url() {
    let w = world().await;
    let number = id_number("19850505", 23);
    let m = enrolled(&w, &w.union_a, "郑十", 23).await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;

    let found = b
        .act("/console/members/search", &[("id_number", number.as_str())])
        .await;
    assert_eq!(found.status, 200, "{}", found.text());
    assert!(found.text().contains(&format!("/console/members/{m}")));
    assert!(!found.text().contains(&number), "the result is masked");
    // A GET with the number in the URL finds nothing (it is not a search parameter).
    let by_url = b.get(&format!("/console/members?id_number={number}")).await;
    assert!(!by_url.text().contains(&format!("/console/members/{m}")));

    let masked = b.get(&format!("/console/members/{m}")).await;
    assert_eq!(masked.status, 200);
    assert!(!masked.text().contains(&number));
    assert!(masked.text().contains("郑*"));
    let full = b.act(&format!("/console/members/{m}/reveal"), &[]).await;
    assert_eq!(full.status, 200);
    assert!(full.text().contains(&number));
    assert!(full.text().contains("郑十"));
    let (status, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=person.read_full",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let items = log["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "one audited read: {log}");
    w.app.stop().await;
}

#[tokio::test]
async fn console_roster_actions_out_of_scope_answer_404_exactly_as_the_json_routes_do() {
    let w = world().await;
    let other = w.union_b.clone();
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let workbook = clerk_roster(&[row("钱一", &id_number("19900101", 31), "男")], |_| {});
    let (json, _) = crate::roster::upload_to(
        &w.app,
        &w.district_a_token,
        &format!("/api/v1/admin/orgs/{other}/roster/import"),
        workbook.clone(),
    )
    .await;
    assert_eq!(json, 404);
    assert_eq!(
        b.upload(&format!("/console/roster/{other}/upload"), workbook)
            .await
            .status,
        json
    );
    let commit = b
        .act(
            &format!("/console/roster/{other}/commit"),
            &[("token", "01900000-0000-7000-8000-000000000000")],
        )
        .await;
    assert_eq!(commit.status, 404);
    assert_eq!(b.get(&format!("/console/roster/{other}")).await.status, 404);
    let job = b
        .get(&format!(
            "/console/roster/{other}/jobs/01900000-0000-7000-8000-000000000000"
        ))
        .await;
    assert_eq!(job.status, 404);
    for (console, api) in [
        ("roster.xlsx", "roster.xlsx"),
        ("applications.xlsx", "applications.xlsx"),
        ("signing-list.xlsx", "signing-list.xlsx"),
        ("units.xlsx", "units.xlsx"),
    ] {
        let json = crate::roster::download(
            &w.app,
            &w.district_a_token,
            &format!("/api/v1/admin/orgs/{other}/{api}"),
        )
        .await
        .0;
        let page = b.get(&format!("/console/roster/{other}/{console}")).await;
        assert_eq!((page.status, json), (404, 404), "{console}");
    }
    let json = crate::roster::download(
        &w.app,
        &w.district_a_token,
        &format!("/api/v1/admin/orgs/{other}/roster.xlsx?full=true"),
    )
    .await
    .0;
    let full = b
        .act(
            &format!("/console/roster/{other}/roster.xlsx"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!((full.status, json), (404, 404));
    w.app.stop().await;
}

/// Polls the commit's progress partial until it has finished.
async fn finished(b: &mut Browser, partial: &Answer) -> String {
    let text = partial.text();
    let marker = "hx-get=\"";
    let Some(start) = text.find(marker).map(|i| i + marker.len()) else {
        return text;
    };
    let path = text[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned();
    for _ in 0..300 {
        let now = b.get(&path).await;
        assert_eq!(now.status, 200, "{}", now.text());
        if !now.text().contains("job-running") {
            return now.text();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the commit did not finish");
}

#[tokio::test]
async fn console_roster_dry_run_reports_rows_then_commits_the_kept_workbook_once_in_the_background()
{
    let w = world().await;
    let union = w.union_a.clone();
    let mut b = Browser::signed_in(&w.app, "union_a").await;
    let page = b.get("/console/roster").await;
    assert_eq!(page.status, 303, "a clerk goes to its own union");
    let page = b.get(&format!("/console/roster/{union}")).await;
    assert!(page.text().contains("全部成功才写入"));

    let good = id_number("19900101", 41);
    let bad = clerk_roster(
        &[
            row("王一", &good, "男"),
            row("王二", "330522199001010000", "男"),
        ],
        |_| {},
    );
    let report = b
        .upload(&format!("/console/roster/{union}/upload"), bad)
        .await;
    assert_eq!(report.status, 200, "{}", report.text());
    let text = report.text();
    assert!(text.contains("id=\"problems\""), "{text}");
    assert!(
        text.contains("<td>7</td><td>身份证号码</td>"),
        "row and column: {text}"
    );
    assert!(!text.contains("commit-form"), "no commit with errors");

    let fixed = clerk_roster(
        &[
            row("王一", &good, "男"),
            row("王二", &id_number("19900101", 42), "女"),
        ],
        |_| {},
    );
    let report = b
        .upload(&format!("/console/roster/{union}/upload"), fixed)
        .await;
    assert!(report.text().contains("预检通过"), "{}", report.text());
    let token = report.field("token");
    let (_, before) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{union}/members"),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(before["total"], 0, "a dry run writes nothing");

    let started = b
        .act(
            &format!("/console/roster/{union}/commit"),
            &[("token", token.as_str())],
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text());
    let outcome = finished(&mut b, &started).await;
    assert!(outcome.contains("导入完成"), "{outcome}");
    assert!(outcome.contains("新登记 2 人"), "{outcome}");
    let (_, after) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{union}/members"),
            Some(&w.union_a_token),
        )
        .await;
    assert_eq!(after["total"], 2, "{after}");
    // The token is used up.
    let again = b
        .act(
            &format!("/console/roster/{union}/commit"),
            &[("token", token.as_str())],
        )
        .await;
    assert_eq!(again.status, 410);
    w.app.stop().await;
}

#[tokio::test]
async fn console_exports_are_workbooks_and_the_full_roster_needs_confirmation_and_is_audited() {
    let w = world().await;
    let union = w.union_a.clone();
    enrolled(&w, &union, "冯一", 51).await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    for name in [
        "roster.xlsx",
        "applications.xlsx",
        "signing-list.xlsx",
        "units.xlsx",
    ] {
        let file = b.get(&format!("/console/roster/{union}/{name}")).await;
        assert_eq!(file.status, 200, "{name}: {}", file.text());
        assert!(
            file.header("content-type").contains("spreadsheetml"),
            "{name}"
        );
        assert!(file.body.starts_with(b"PK"), "{name} is a zip (xlsx)");
    }
    let masked = b.get(&format!("/console/roster/{union}/roster.xlsx")).await;
    let rows = cells(masked.body.clone());
    assert!(rows.iter().flatten().any(|c| c == "冯*"), "{rows:?}");

    let unconfirmed = b
        .act(&format!("/console/roster/{union}/roster.xlsx"), &[])
        .await;
    assert_eq!(unconfirmed.status, 400);
    let full = b
        .act(
            &format!("/console/roster/{union}/roster.xlsx"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(full.status, 200);
    let rows = cells(full.body.clone());
    assert!(rows.iter().flatten().any(|c| c == "冯一"), "{rows:?}");
    let (_, log) = w
        .app
        .get(
            "/api/v1/admin/audit?action=roster.export_full",
            Some(&w.county_token),
        )
        .await;
    assert_eq!(log["items"].as_array().map(Vec::len), Some(1), "{log}");
    w.app.stop().await;
}

#[tokio::test]
async fn console_application_queue_filters_by_union_and_day_within_the_scope() {
    let w = world().await;
    let second = created(
        &w.app,
        "/api/v1/admin/orgs",
        &crate::unions::grassroots(&w.district_a, "丙公司工会", &crate::roster::credit_code(77)),
        &w.county_token,
    )
    .await;
    let second = s(&second["id"]);
    let here = applied(&w, "o_filter_a", &w.union_a, "陈甲", 61).await;
    let there = applied(&w, "o_filter_c", &second, "陈乙", 63).await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let all = b.get("/console/applications").await.text();
    assert!(all.contains(&here) && all.contains(&there), "{all}");
    let one = b
        .get(&format!(
            "/console/applications?status=pending&org={}",
            w.union_a
        ))
        .await
        .text();
    assert!(one.contains(&here) && !one.contains(&there), "{one}");
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m-%d");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::hours(32)).format("%Y-%m-%d");
    let on_day = b
        .get(&format!(
            "/console/applications?status=pending&from={today}&to={today}"
        ))
        .await
        .text();
    assert!(on_day.contains(&here) && on_day.contains(&there));
    let later = b
        .get(&format!(
            "/console/applications?status=pending&from={tomorrow}"
        ))
        .await
        .text();
    assert!(!later.contains(&here) && later.contains("没有符合条件的入会申请"));
    // Another district's union as the filter shows nothing of it (and no error that
    // would confirm it exists).
    let foreign = b
        .get(&format!(
            "/console/applications?status=pending&org={}",
            w.union_b
        ))
        .await;
    assert_eq!(foreign.status, 200);
    assert!(foreign.text().contains("没有符合条件的入会申请"));
    w.app.stop().await;
}
