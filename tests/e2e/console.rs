//! The web console (issue 15): security headers and cookie flags, CSRF refusal, sessions shared
//! with the JSON API (sign-out, guess limits), scope answered like the JSON route, and the till
//! recording once per idempotency key.

use crate::helpers::TestApp;
use crate::merchants::{card_holder, qr, shop};
use crate::unions::{PASSWORD, world};
use serde_json::Value;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// A browser stand-in: keeps the console's cookies, never follows redirects.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The `csrf` hidden field of the page.
    pub(crate) fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .map(|i| i + marker.len())
            .unwrap_or_else(|| panic!("no csrf field: {}", self.body));
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|e| panic!("client: {e}")),
            base: app.url(""),
            cookies: Vec::new(),
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let header = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if header.is_empty() {
            req
        } else {
            req.header("cookie", header)
        };
        let res = req.send().await.unwrap_or_else(|e| panic!("send: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        let answer = Answer {
            status,
            headers,
            body,
        };
        for c in answer.set_cookies() {
            let pair = c.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !c.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        answer
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
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

    /// Signs in through the console's form; returns the answer to the POST.
    async fn sign_in(&mut self, username: &str, password: &str) -> Answer {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/console/login",
            &[
                ("csrf", csrf.as_str()),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    pub(crate) async fn signed_in(app: &TestApp, username: &str) -> Browser {
        let mut b = Browser::new(app);
        let answer = b.sign_in(username, PASSWORD).await;
        assert_eq!(
            (answer.status, answer.header("location").as_str()),
            (303, "/console/"),
            "{}",
            answer.body
        );
        b
    }
}

/// Percent-encodes a form value (every byte but unreserved ASCII).
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

fn count(body: &str, needle: &str) -> usize {
    body.matches(needle).count()
}

#[tokio::test]
async fn console_pages_send_the_security_headers_and_cookies_are_httponly_strict_and_secure() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    let form = b.get("/console/login").await;
    assert_eq!(form.status, 200);
    assert_eq!(form.header("content-security-policy"), CSP);
    assert_eq!(form.header("x-frame-options"), "DENY");
    assert_eq!(form.header("referrer-policy"), "no-referrer");
    assert_eq!(form.header("x-content-type-options"), "nosniff");
    assert_eq!(form.header("cache-control"), "no-store");
    assert!(
        !form.body.contains("<script>"),
        "inline script: {}",
        form.body
    );
    assert!(!form.body.contains("style="), "inline style: {}", form.body);

    let signed = b.sign_in("district_a", PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let session = signed
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("hg_console="))
        .unwrap_or_else(|| panic!("no session cookie: {:?}", signed.set_cookies()));
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    let page = b.get("/console/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("工作台"), "{}", page.body);
    assert_eq!(page.header("content-security-policy"), CSP);
    assert_eq!(page.header("cache-control"), "no-store");

    // The assets: versioned path, cached for a year; another version is a 404.
    let css = page
        .body
        .split('"')
        .find(|s| s.starts_with("/console/assets/") && s.ends_with("/console.css"))
        .unwrap_or_else(|| panic!("no stylesheet link: {}", page.body))
        .to_owned();
    let asset = b.get(&css).await;
    assert_eq!(asset.status, 200);
    assert!(asset.header("cache-control").contains("immutable"));
    assert_eq!(b.get("/console/assets/0000/console.css").await.status, 404);

    // Development on plain HTTP: no Secure flag, and only there.
    let dev = TestApp::spawn_with(|s| s.console.secure_cookies = false).await;
    let mut plain = Browser::new(&dev);
    let form = plain.get("/console/login").await;
    let pre = form.set_cookies().join("\n");
    assert!(
        pre.contains("hg_console_pre=") && !pre.contains("Secure"),
        "{pre}"
    );
    dev.stop().await;
    w.app.stop().await;
}

#[tokio::test]
async fn console_posts_without_the_sessions_csrf_token_are_refused() {
    let w = world().await;
    // Sign-in itself needs the token of its form.
    let mut anon = Browser::new(&w.app);
    let _ = anon.get("/console/login").await;
    let refused = anon
        .post(
            "/console/login",
            &[("username", "district_a"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("页面已过期"), "{}", refused.body);
    assert!(anon.cookie("hg_console").is_none());

    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let page = b.get("/console/").await;
    let csrf = page.csrf();
    // No token, a wrong one, another session's: refused, and the session lives on.
    let other = Browser::signed_in(&w.app, "district_a").await;
    let mut other = other;
    let others_csrf = other.get("/console/").await.csrf();
    for token in [None, Some("forged"), Some(others_csrf.as_str())] {
        let form: Vec<(&str, &str)> = token.map(|t| vec![("csrf", t)]).unwrap_or_default();
        let answer = b.post("/console/logout", &form).await;
        assert_eq!(answer.status, 403, "{token:?}: {}", answer.body);
        assert_eq!(b.get("/console/").await.status, 200);
    }
    // A token in the header (htmx) is as good as the form field.
    let req = b
        .http
        .post(format!("{}/console/logout", b.base))
        .header("x-csrf-token", csrf.as_str())
        .header("hx-request", "true");
    let out = b.send(req).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.header("hx-redirect"), "/console/login");
    w.app.stop().await;
}

#[tokio::test]
async fn console_sign_out_ends_the_server_side_session_so_the_old_cookie_no_longer_works() {
    let w = world().await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let old = b.cookie("hg_console").unwrap_or_default();
    // The cookie carries an API session: the same token works as a bearer.
    assert_eq!(w.app.get("/api/v1/me", Some(&old)).await.0, 200);
    let csrf = b.get("/console/").await.csrf();
    let out = b.post("/console/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(
        (out.status, out.header("location").as_str()),
        (303, "/console/login")
    );
    assert!(b.cookie("hg_console").is_none());

    let mut replay = Browser::new(&w.app);
    replay.cookies.push(("hg_console".into(), old.clone()));
    let page = replay.get("/console/").await;
    assert_eq!(
        (page.status, page.header("location").as_str()),
        (303, "/console/login")
    );
    assert_eq!(w.app.get("/api/v1/me", Some(&old)).await.0, 401);
    w.app.stop().await;
}

#[tokio::test]
async fn console_sign_in_counts_toward_the_same_guess_limits_as_the_json_login() {
    let w = world().await;
    let mut b = Browser::new(&w.app);
    for n in 0..5 {
        let out = b.sign_in("union_a", "Wrong-Password-9").await;
        assert_eq!(out.status, 401, "attempt {n}");
        assert!(out.body.contains("用户名或密码错误"), "{}", out.body);
    }
    // The JSON login from the same address is locked by the console's failures...
    let (status, body) = w
        .app
        .post_json(
            "/api/v1/auth/password/login",
            &serde_json::json!({"username": "union_a", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("account_locked"))
    );
    // ...and so is the console, with when to retry.
    let out = b.sign_in("union_a", PASSWORD).await;
    assert_eq!(out.status, 429, "{}", out.body);
    assert!(!out.header("retry-after").is_empty());
    assert!(out.body.contains("分钟后再试"), "{}", out.body);
    w.app.stop().await;
}

#[tokio::test]
async fn console_org_page_out_of_scope_answers_404_exactly_as_the_json_route_does() {
    let w = world().await;
    let mut b = Browser::signed_in(&w.app, "district_a").await;
    let own = b.get(&format!("/console/orgs/{}", w.union_a)).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body.contains("甲公司工会"));

    let (json_status, _) = w
        .app
        .get(
            &format!("/api/v1/admin/orgs/{}", w.union_b),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(json_status, 404);
    let elsewhere = b.get(&format!("/console/orgs/{}", w.union_b)).await;
    assert_eq!(elsewhere.status, json_status);
    assert!(!elsewhere.body.contains("乙公司工会"));
    // The same page as for an org that does not exist, or a path that is no page at all.
    let missing = b
        .get("/console/orgs/01900000-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(elsewhere.body, missing.body);
    assert_eq!(b.get("/console/no-such-page").await.body, missing.body);
    assert!(missing.body.contains("页面不存在"));
    w.app.stop().await;
}

#[tokio::test]
async fn console_till_records_one_redemption_for_one_key_and_answers_another_merchants_verification_404_like_the_api()
 {
    let w = world().await;
    let shop_a = shop(&w.app, &w.district_a_token, "惠民餐厅", "till_a", 20).await;
    let shop_b = shop(&w.app, &w.district_a_token, "放心药房", "till_b", 20).await;
    let worker = card_holder(&w.app, &w.district_a_token, &w.union_a, "till-worker").await;

    let mut till = Browser::signed_in(&w.app, "till_a").await;
    let home = till.get("/console/").await;
    assert_eq!(home.header("location"), "/console/till");
    let page = till.get("/console/till").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    let token = qr(&w.app, &worker).await;
    let verified = till
        .post(
            "/console/till/verify",
            &[("csrf", csrf.as_str()), ("token", token.as_str())],
        )
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    assert!(
        verified.body.contains("张*"),
        "masked holder: {}",
        verified.body
    );
    assert!(!verified.body.contains("张三丰"));
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = verified.body.find(&marker).map(|i| i + marker.len());
        start
            .map(|i| {
                verified.body[i..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("no {name}: {}", verified.body))
    };
    let (verification, discount, key) = (
        field("verification_id"),
        field("discount_id"),
        field("idempotency_key"),
    );
    assert!(!key.is_empty());
    let form = [
        ("csrf", csrf.as_str()),
        ("verification_id", verification.as_str()),
        ("discount_id", discount.as_str()),
        ("idempotency_key", key.as_str()),
        ("amount", "58.50"),
    ];
    let first = till.post("/console/till/redeem", &form).await;
    let second = till.post("/console/till/redeem", &form).await;
    assert_eq!((first.status, second.status), (200, 200), "{}", second.body);
    assert!(second.body.contains("已记录核销"), "{}", second.body);
    assert_eq!(
        count(&second.body, "<tr class=\"redemption\">"),
        1,
        "{}",
        second.body
    );
    let (status, list) = w
        .app
        .get("/api/v1/merchant/redemptions", Some(&shop_a.staff))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], Value::from(1), "{list}");
    assert_eq!(list["items"][0]["amount_fen"], Value::from(5850));

    // Another merchant's staff: the JSON route and the console both answer 404.
    let res = w
        .app
        .http
        .post(w.app.url("/api/v1/merchant/redemptions"))
        .bearer_auth(&shop_b.staff)
        .header("idempotency-key", "other-till-1")
        .json(&serde_json::json!({"verification_id": verification, "discount_id": discount, "amount_fen": 100}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let json_status = res.status().as_u16();
    let json_body = res.json::<Value>().await.unwrap_or_default();
    assert_eq!(json_status, 404, "{json_body}");
    let mut other = Browser::signed_in(&w.app, "till_b").await;
    let csrf_b = other.get("/console/till").await.csrf();
    let out = other
        .post(
            "/console/till/redeem",
            &[
                ("csrf", csrf_b.as_str()),
                ("verification_id", verification.as_str()),
                ("discount_id", discount.as_str()),
                ("idempotency_key", "other-till-2"),
                ("amount", "1"),
            ],
        )
        .await;
    assert_eq!(out.status, json_status, "{}", out.body);
    assert!(out.body.contains("核验记录不存在"), "{}", out.body);
    w.app.stop().await;
}

#[tokio::test]
async fn console_session_whose_password_was_reset_sees_no_page_until_it_is_changed() {
    let w = world().await;
    let (status, page) = w
        .app
        .get("/api/v1/admin/users?per_page=100", Some(&w.county_token))
        .await;
    assert_eq!(status, 200, "{page}");
    let id = page["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|a| a["username"] == "union_a")
        .and_then(|a| a["id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("union_a not listed: {page}"));
    let (status, reset) = w
        .app
        .post_json(
            &format!("/api/v1/admin/users/{id}/password-reset"),
            &serde_json::json!({}),
            Some(&w.district_a_token),
        )
        .await;
    assert_eq!(status, 200, "{reset}");
    let temporary = reset["temporary_password"].as_str().unwrap_or_default();
    let mut b = Browser::new(&w.app);
    let signed = b.sign_in("union_a", temporary).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let home = b.get("/console/").await;
    assert_eq!(home.status, 403, "{}", home.body);
    assert!(!home.body.contains("fig-applications"), "{}", home.body);
    let org = b.get(&format!("/console/orgs/{}", w.union_a)).await;
    assert_eq!(org.status, 403);
    w.app.stop().await;
}
