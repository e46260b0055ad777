//! Load generator for the mixed day (issue 18): what a county's morning looks like, against a
//! running service in mock mode with a county administrator `bench_county` (password in
//! `BENCH_PASSWORD`). Run by `tests/bench-mixed.sh` over a database of generated members.
//!
//! Set-up over the API: a district and a grassroots union, `BENCH_CARDS` workers who log in
//! through the WeChat mock and activate their cards, a merchant with one till account, and one
//! pending application to join per approval the run will make. Then `BENCH_OPS` operations
//! from `BENCH_CONNECTIONS` concurrent clients, in this mix (by operation number, so the mix is
//! exact and the same every run):
//!
//! | share | operation | requests |
//! |---|---|---|
//! | 60 % | card view | `GET /api/v1/card` |
//! | 20 % | verification | the worker's `GET /api/v1/card/qr`, the till's `POST /api/v1/merchant/verify` |
//! | 10 % | redemption | QR, verify, then `POST /api/v1/merchant/redemptions` |
//! | 5 % | WeChat login | `POST /api/v1/auth/wechat/login` with a fresh mock code |
//! | 5 % | administration | alternately `POST /api/v1/admin/members/search` (by name in the union) and `POST /api/v1/admin/applications/{id}/approve` |
//!
//! Prints the throughput (operations and requests per second), p50/p99 per path, and the
//! answers other than the expected ones by path and status. A run with any is not a valid
//! figure.

use futures_util::StreamExt as _;
use futures_util::stream;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Result<Value, Error> {
        let (status, out) = self
            .call(reqwest::Method::POST, path, token, Some(body))
            .await?;
        if !(200..300).contains(&status) {
            return Err(format!("POST {path}: {status} {out}").into());
        }
        Ok(out)
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A valid ID number for region 330522 (GB 11643 check digit), distinct for `i` < 226,800.
fn id_number(i: usize) -> String {
    let day = 1 + (i / 900) % 28;
    let body = format!(
        "33052219900{}{day:02}{:03}",
        1 + (i / 25_200) % 9,
        100 + i % 900
    );
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// The ID number's 17th digit: odd for men.
fn sex(i: usize) -> &'static str {
    if (100 + i % 900) % 2 == 1 {
        "男"
    } else {
        "女"
    }
}

async fn worker_login(c: &Client, openid: &str) -> Result<String, Error> {
    let code = c
        .post("/wechat-mock/wx/login", None, &json!({"openid": openid}))
        .await?;
    let login = c.post("/api/v1/auth/wechat/login", None, &code).await?;
    Ok(text(&login["token"]))
}

async fn setup_card(c: &Client, union: &str, admin: &str, i: usize) -> Result<String, Error> {
    let id = id_number(i);
    c.post(
        &format!("/api/v1/admin/orgs/{union}/members"),
        Some(admin),
        &json!({"name": "张三", "sex": sex(i), "id_number": id, "nationality": "汉族",
                "education": "大专", "mobile": "13957212345", "household_type": "农村",
                "unit_name": "长兴示范企业", "employment_status": "在岗", "union_post": "会员"}),
    )
    .await?;
    let worker = worker_login(c, &format!("mixed-worker-{i}")).await?;
    let preview = c
        .post(
            "/api/v1/card/activation/preview",
            Some(&worker),
            &json!({"name": "张三", "id_number": id}),
        )
        .await?;
    c.post(
        "/api/v1/card/activation/confirm",
        Some(&worker),
        &json!({"preview_id": preview["preview_id"]}),
    )
    .await?;
    Ok(worker)
}

/// A pending application to join `union` from a new worker account; its id.
async fn setup_application(c: &Client, union: &str, i: usize) -> Result<String, Error> {
    let worker = worker_login(c, &format!("mixed-applicant-{i}")).await?;
    let application = c
        .post(
            "/api/v1/applications",
            Some(&worker),
            &json!({"union_id": union, "name": "李四", "sex": sex(i), "id_number": id_number(i),
                    "nationality": "汉族", "education": "高中", "mobile": "13957200009",
                    "household_type": "农村", "unit_name": "长兴示范企业",
                    "employment_status": "在岗", "union_post": "无", "agree_declaration": true,
                    "consent_sensitive": true, "signature_name": "李四"}),
        )
        .await?;
    Ok(text(&application["id"]))
}

/// Latencies per path and unexpected answers per path and status.
#[derive(Default)]
struct Figures {
    times: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<(&'static str, String), usize>,
}

impl Figures {
    fn merge(&mut self, other: Figures) {
        for (path, times) in other.times {
            self.times.entry(path).or_default().extend(times);
        }
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
    }
}

struct Run {
    c: Client,
    union: String,
    admin: String,
    staff: String,
    workers: Vec<String>,
    codes: Vec<String>,
    applications: Vec<String>,
    next_code: AtomicUsize,
    next_application: AtomicUsize,
    first_errors: Mutex<usize>,
}

impl Run {
    /// One request of `path`: its time, and the answer if its status is `expected`.
    #[allow(clippy::too_many_arguments)]
    async fn request(
        &self,
        figures: &mut Figures,
        path: &'static str,
        method: reqwest::Method,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
        expected: u16,
    ) -> Option<Value> {
        let t = Instant::now();
        let answer = self.c.call(method, url, token, body).await;
        figures.times.entry(path).or_default().push(t.elapsed());
        let (code, detail) = match answer {
            Ok((status, v)) if status == expected => return Some(v),
            Ok((status, v)) => (status.to_string(), v.to_string()),
            Err(e) => ("transport".to_owned(), e.to_string()),
        };
        {
            let mut shown = self
                .first_errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *shown < 5 {
                *shown += 1;
                eprintln!(
                    "{path}: {code} {}",
                    detail.chars().take(200).collect::<String>()
                );
            }
        }
        *figures.errors.entry((path, code)).or_default() += 1;
        None
    }

    async fn op(&self, i: usize, figures: &mut Figures) {
        use reqwest::Method;
        let worker = &self.workers[i % self.workers.len()];
        match i % 20 {
            0..12 => {
                self.request(
                    figures,
                    "GET /api/v1/card",
                    Method::GET,
                    "/api/v1/card",
                    Some(worker),
                    None,
                    200,
                )
                .await;
            }
            12..18 => {
                let Some(qr) = self
                    .request(
                        figures,
                        "GET /api/v1/card/qr",
                        Method::GET,
                        "/api/v1/card/qr",
                        Some(worker),
                        None,
                        200,
                    )
                    .await
                else {
                    return;
                };
                let Some(v) = self
                    .request(
                        figures,
                        "POST /api/v1/merchant/verify",
                        Method::POST,
                        "/api/v1/merchant/verify",
                        Some(&self.staff),
                        Some(&json!({"token": qr["token"]})),
                        200,
                    )
                    .await
                else {
                    return;
                };
                // Two in six verifications are followed by a redemption: 10 % of the operations.
                if i % 20 < 16 {
                    return;
                }
                let discount = v["discounts"]
                    .as_array()
                    .and_then(|ds| ds.iter().find(|d| d["uses_left_today"].as_i64() > Some(0)))
                    .map(|d| d["id"].clone())
                    .unwrap_or(Value::Null);
                self.request(
                    figures,
                    "POST /api/v1/merchant/redemptions",
                    Method::POST,
                    "/api/v1/merchant/redemptions",
                    Some(&self.staff),
                    Some(&json!({"verification_id": v["verification_id"],
                                 "discount_id": discount, "amount_fen": 5_000})),
                    201,
                )
                .await;
            }
            18 => {
                let n = self.next_code.fetch_add(1, Ordering::Relaxed);
                let code = self.codes.get(n).map(String::as_str).unwrap_or("exhausted");
                self.request(
                    figures,
                    "POST /api/v1/auth/wechat/login",
                    Method::POST,
                    "/api/v1/auth/wechat/login",
                    None,
                    Some(&json!({ "code": code })),
                    200,
                )
                .await;
            }
            _ if (i / 20).is_multiple_of(2) => {
                self.request(
                    figures,
                    "POST /api/v1/admin/members/search",
                    Method::POST,
                    "/api/v1/admin/members/search",
                    Some(&self.admin),
                    Some(&json!({"name": "张", "org_id": self.union})),
                    200,
                )
                .await;
            }
            _ => {
                let n = self.next_application.fetch_add(1, Ordering::Relaxed);
                let id = self
                    .applications
                    .get(n)
                    .map(String::as_str)
                    .unwrap_or("exhausted");
                self.request(
                    figures,
                    "POST /api/v1/admin/applications/{id}/approve",
                    Method::POST,
                    &format!("/api/v1/admin/applications/{id}/approve"),
                    Some(&self.admin),
                    None,
                    200,
                )
                .await;
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    ms(sorted[i])
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    huigong_wechat::install_crypto_provider();
    let base = std::env::var("BENCH_BASE").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let password = std::env::var("BENCH_PASSWORD").map_err(|_| "BENCH_PASSWORD is not set")?;
    let cards = env_or("BENCH_CARDS", 300);
    let ops = env_or("BENCH_OPS", 40_000);
    let connections = env_or("BENCH_CONNECTIONS", 128);
    let c = Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(connections * 2)
            .timeout(Duration::from_secs(30))
            .build()?,
        base,
    };
    let setup = Instant::now();
    let admin = c
        .post(
            "/api/v1/auth/password/login",
            None,
            &json!({"username": "bench_county", "password": password}),
        )
        .await?;
    let admin = text(&admin["token"]);
    let county = "00000000-0000-7000-8000-000000000001";
    let district = c
        .post(
            "/api/v1/admin/orgs",
            Some(&admin),
            &json!({"parent_id": county, "level": "district", "name": "早高峰街道总工会"}),
        )
        .await?;
    let union = c
        .post(
            "/api/v1/admin/orgs",
            Some(&admin),
            &json!({"parent_id": district["id"], "level": "grassroots", "name": "早高峰公司工会",
                    "unit_name": "早高峰公司", "unit_code": "91350100M000100Y43", "unit_nature": "私营经济",
                    "unit_address": "浙江省湖州市长兴县雉城街道金陵路88号", "employee_count": 1000,
                    "founded_on": "2001-05-06", "union_type": "单建", "member_count": 1000,
                    "leader_name": "王主席", "phone": "0572-6022447"}),
        )
        .await?;
    let union = text(&union["id"]);
    let workers: Vec<String> = stream::iter(0..cards)
        .map(|i| {
            let (c, union, admin) = (c.clone(), union.clone(), admin.clone());
            async move { setup_card(&c, &union, &admin, i).await }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    // One approval per 40 operations; a few spare.
    let approvals = ops / 40 + 10;
    let applications: Vec<String> = stream::iter(0..approvals)
        .map(|i| {
            let (c, union) = (c.clone(), union.clone());
            async move { setup_application(&c, &union, 100_000 + i).await }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let today = chrono::Utc::now().date_naive();
    let discounts: Vec<Value> = (0..10)
        .map(|i| {
            json!({"title": format!("立减{}元", i + 1), "kind": "amount", "value": 100 * (i + 1),
                   "valid_from": (today - chrono::Duration::days(1)).to_string(),
                   "valid_to": (today + chrono::Duration::days(30)).to_string(),
                   "daily_limit_per_card": 100})
        })
        .collect();
    let merchant = c
        .post(
            "/api/v1/admin/merchants",
            Some(&admin),
            &json!({"name": "早高峰商家", "category": "餐饮", "address": "长兴县",
                    "phone": "0572-6022448", "discounts": discounts}),
        )
        .await?;
    let username = format!("mixed_till_{}", std::process::id());
    c.post(
        &format!("/api/v1/admin/merchants/{}/staff", text(&merchant["id"])),
        Some(&admin),
        &json!({"username": username, "password": password}),
    )
    .await?;
    let staff = c
        .post(
            "/api/v1/auth/password/login",
            None,
            &json!({"username": username, "password": password}),
        )
        .await?;
    // Login codes: one per login of the run, 50 logins per openid (returning users, inside
    // WeChat's 100 calls per user per minute).
    let logins = ops / 20 + 10;
    let codes = c
        .http
        .post(format!("{}/wechat-mock/mock/codes", c.base))
        .json(&json!({"count": logins, "users": logins / 50 + 1}))
        .send()
        .await?
        .text()
        .await?;
    let codes: Vec<String> = codes.lines().map(str::to_owned).collect();
    eprintln!(
        "set-up: {cards} cards, {approvals} pending applications, {} login codes in {:.0} s",
        codes.len(),
        setup.elapsed().as_secs_f64()
    );

    let run = Arc::new(Run {
        c,
        union,
        admin,
        staff: text(&staff["token"]),
        workers,
        codes,
        applications,
        next_code: AtomicUsize::new(0),
        next_application: AtomicUsize::new(0),
        first_errors: Mutex::new(0),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients = (0..connections).map(|_| {
        let (run, next) = (run.clone(), next.clone());
        tokio::spawn(async move {
            let mut figures = Figures::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    break;
                }
                run.op(i, &mut figures).await;
            }
            figures
        })
    });
    let mut figures = Figures::default();
    for client in futures_util::future::join_all(clients).await {
        figures.merge(client?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests: usize = figures.times.values().map(Vec::len).sum();
    let errors: usize = figures.errors.values().sum();
    println!(
        "mixed day: {ops} operations ({requests} requests) in {elapsed:.1} s with {connections} connections: \
         {:.0} ops/s, {:.0} req/s; errors {errors}",
        ops as f64 / elapsed,
        requests as f64 / elapsed,
    );
    for (path, times) in &mut figures.times {
        times.sort_unstable();
        println!(
            "  {path:<46} {:>7} requests  p50 {:>7.2} ms  p99 {:>7.2} ms",
            times.len(),
            percentile(times, 0.5),
            percentile(times, 0.99)
        );
    }
    for ((path, code), n) in &figures.errors {
        println!("  error {code} on {path}: {n}");
    }
    Ok(())
}
