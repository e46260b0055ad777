//! Load generator for the merchant till: `POST /api/v1/merchant/verify` followed by
//! `POST /api/v1/merchant/redemptions`, the pair a cashier makes per customer.
//!
//! Run by `tests/bench-merchant.sh`, against a running service in mock mode with a county
//! administrator `bench_county` (password in `BENCH_PASSWORD`). It sets up a district, a
//! grassroots union, `BENCH_CARDS` members who log in through the WeChat mock and activate
//! their cards, and a merchant with one staff account. Two runs, each with live QR tokens
//! fetched beforehand (the service should run with `card.qr_ttl_secs = 60`): `BENCH_VERIFIES`
//! verifications alone, then `BENCH_PAIRS` verify+redeem pairs, each driven by
//! `BENCH_CONNECTIONS` concurrent tills. Prints verifies/s, pairs/s and the latency
//! percentiles of each call. Any answer other than 200/201 is counted and printed: a run with
//! any is not a valid figure.

use futures_util::StreamExt as _;
use futures_util::stream;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        key: Option<&str>,
    ) -> Result<(u16, Value), Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
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
            .call(reqwest::Method::POST, path, token, Some(body), None)
            .await?;
        if !(200..300).contains(&status) {
            return Err(format!("POST {path}: {status} {out}").into());
        }
        Ok(out)
    }

    async fn get(&self, path: &str, token: &str) -> Result<Value, Error> {
        let (status, out) = self
            .call(reqwest::Method::GET, path, Some(token), None, None)
            .await?;
        if status != 200 {
            return Err(format!("GET {path}: {status} {out}").into());
        }
        Ok(out)
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A valid ID number for region 330522 (GB 11643 check digit).
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

fn percentile(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "-".to_owned();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.2}ms", sorted[i].as_secs_f64() * 1000.0)
}

async fn setup_card(c: &Client, union: &str, admin: &str, i: usize) -> Result<String, Error> {
    let id = id_number(i);
    // The ID number's 17th digit: odd for men.
    let sex = if (100 + i % 900) % 2 == 1 {
        "男"
    } else {
        "女"
    };
    c.post(
        &format!("/api/v1/admin/orgs/{union}/members"),
        Some(admin),
        &json!({"name": "张三", "sex": sex, "id_number": id, "nationality": "汉族",
                "education": "大专", "mobile": "13957212345", "household_type": "农村",
                "unit_name": "长兴示范企业", "employment_status": "在岗", "union_post": "会员"}),
    )
    .await?;
    let code = c
        .post(
            "/wechat-mock/wx/login",
            None,
            &json!({"openid": format!("bench-worker-{i}")}),
        )
        .await?;
    let login = c.post("/api/v1/auth/wechat/login", None, &code).await?;
    let worker = text(&login["token"]);
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

/// One live QR token per customer visit, fetched beforehand (they live 60 s).
async fn fetch_tokens(
    c: &Client,
    workers: &[String],
    n: usize,
    connections: usize,
) -> Result<Vec<String>, Error> {
    let fetch = Instant::now();
    let tokens: Vec<String> = stream::iter(0..n)
        .map(|i| {
            let (c, worker) = (c.clone(), workers[i % workers.len()].clone());
            async move {
                c.get("/api/v1/card/qr", &worker)
                    .await
                    .map(|v| text(&v["token"]))
            }
        })
        .buffer_unordered(connections)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    eprintln!(
        "{n} QR tokens fetched in {:.1} s",
        fetch.elapsed().as_secs_f64()
    );
    Ok(tokens)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    huigong_wechat::install_crypto_provider();
    let base = std::env::var("BENCH_BASE").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let password = std::env::var("BENCH_PASSWORD").map_err(|_| "BENCH_PASSWORD is not set")?;
    let cards = env_or("BENCH_CARDS", 300);
    let pairs = env_or("BENCH_PAIRS", 8_000);
    let verifies = env_or("BENCH_VERIFIES", 30_000);
    let connections = env_or("BENCH_CONNECTIONS", 64);
    let c = Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(connections * 2)
            .timeout(Duration::from_secs(30))
            .build()?,
        base,
    };

    // Set-up: orgs, members with active cards, a merchant and its staff.
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
            &json!({"parent_id": county, "level": "district", "name": "压测街道总工会"}),
        )
        .await?;
    let union = c
        .post(
            "/api/v1/admin/orgs",
            Some(&admin),
            &json!({"parent_id": district["id"], "level": "grassroots", "name": "压测公司工会",
                    "unit_name": "压测公司", "unit_code": "91350100M000100Y43", "unit_nature": "私营经济",
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
            &json!({"name": "压测商家", "category": "餐饮", "address": "长兴县",
                    "phone": "0572-6022448", "discounts": discounts}),
        )
        .await?;
    let username = format!("bench_till_{}", std::process::id());
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
    let staff = Arc::new(text(&staff["token"]));

    // Verifications alone first (a till scanning without redeeming), then the pairs.
    let tokens = fetch_tokens(&c, &workers, verifies, connections).await?;
    if let Ok(script) = std::env::var("BENCH_WRK_SCRIPT") {
        verify_with_wrk(&c.base, &script, &tokens, &staff, connections)?;
    } else {
        verify_alone(&c, tokens, &staff, connections).await?;
    }
    pairs_run(&c, &workers, &staff, pairs, connections).await
}

/// The verifications alone, driven by wrk (a load generator in C, as `tests/bench.sh` uses,
/// so that the generator takes less of the two cores than reqwest does) for
/// `BENCH_VERIFY_SECONDS` (5): `tests/bench/verify.lua` sends each token once. Prints wrk's
/// figures.
fn verify_with_wrk(
    base: &str,
    script: &str,
    tokens: &[String],
    staff: &str,
    connections: usize,
) -> Result<(), Error> {
    let threads = std::env::var("WRK_THREADS").unwrap_or_else(|_| "2".into());
    let seconds = env_or("BENCH_VERIFY_SECONDS", 5).to_string() + "s";
    let file = std::env::temp_dir().join(format!("bench-verify-tokens-{}", std::process::id()));
    std::fs::write(&file, tokens.join("\n") + "\n")?;
    let out = std::process::Command::new("wrk")
        .args([
            "-t",
            &threads,
            "-c",
            &connections.to_string(),
            "-d",
            &seconds,
            "--latency",
        ])
        .args(["-s", script, base])
        .env("TOKENS_FILE", &file)
        .env("STAFF_TOKEN", staff)
        .env("WRK_THREADS", &threads)
        .env("WRK_CONNECTIONS", connections.to_string())
        .output();
    let _ = std::fs::remove_file(&file);
    let out = out.map_err(|e| format!("wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("verifies in") || l.starts_with("INVALID"))
        .collect();
    if figures.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("wrk printed no figures: {stdout} {stderr}").into());
    }
    println!("{}", figures.join("\n"));
    Ok(())
}

/// The verifications alone, from this program.
async fn verify_alone(
    c: &Client,
    tokens: Vec<String>,
    staff: &Arc<String>,
    connections: usize,
) -> Result<(), Error> {
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tills = (0..connections).map(|_| {
        let (c, tokens, next, failures, staff) = (
            c.clone(),
            tokens.clone(),
            next.clone(),
            failures.clone(),
            staff.clone(),
        );
        tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else { break };
                let t = Instant::now();
                let verified = c
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/merchant/verify",
                        Some(&staff),
                        Some(&json!({"token": token})),
                        None,
                    )
                    .await;
                times.push(t.elapsed());
                match verified {
                    Ok((200, _)) => {}
                    Ok((status, body)) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("verify: {status} {body}");
                        }
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("verify: {e}");
                    }
                }
            }
            times
        })
    });
    let mut verify_times = Vec::new();
    for till in futures_util::future::join_all(tills).await {
        verify_times.extend(till?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    verify_times.sort_unstable();
    println!(
        "{} verifies in {elapsed:.1} s with {connections} connections: {:.0} verifies/s; \
         p50 {} p99 {}; failures {}",
        verify_times.len(),
        verify_times.len() as f64 / elapsed,
        percentile(&verify_times, 0.5),
        percentile(&verify_times, 0.99),
        failures.load(Ordering::Relaxed),
    );

    Ok(())
}

/// Verify+redeem pairs: each till takes the next customer, verifies, redeems the first
/// discount left.
async fn pairs_run(
    c: &Client,
    workers: &[String],
    staff: &Arc<String>,
    pairs: usize,
    connections: usize,
) -> Result<(), Error> {
    let tokens = fetch_tokens(c, workers, pairs, connections).await?;
    let tokens = Arc::new(tokens);
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tills = (0..connections).map(|_| {
        let (c, tokens, next, failures, staff) = (
            c.clone(),
            tokens.clone(),
            next.clone(),
            failures.clone(),
            staff.clone(),
        );
        tokio::spawn(async move {
            let mut verify_times = Vec::new();
            let mut redeem_times = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else { break };
                let t = Instant::now();
                let verified = c
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/merchant/verify",
                        Some(&staff),
                        Some(&json!({"token": token})),
                        None,
                    )
                    .await;
                verify_times.push(t.elapsed());
                let v = match verified {
                    Ok((200, v)) => v,
                    Ok((status, body)) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("verify: {status} {body}");
                        }
                        continue;
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("verify: {e}");
                        continue;
                    }
                };
                let discount = v["discounts"]
                    .as_array()
                    .and_then(|ds| ds.iter().find(|d| d["uses_left_today"].as_i64() > Some(0)))
                    .map(|d| d["id"].clone())
                    .unwrap_or(Value::Null);
                let t = Instant::now();
                let redeemed = c
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/merchant/redemptions",
                        Some(&staff),
                        Some(&json!({"verification_id": v["verification_id"],
                                     "discount_id": discount, "amount_fen": 5_000})),
                        Some(&format!("bench-{i}")),
                    )
                    .await;
                redeem_times.push(t.elapsed());
                match redeemed {
                    Ok((201, _)) => {}
                    Ok((status, body)) => {
                        if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("redeem: {status} {body}");
                        }
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("redeem: {e}");
                    }
                }
            }
            (verify_times, redeem_times)
        })
    });
    let mut verify_times = Vec::new();
    let mut redeem_times = Vec::new();
    for till in futures_util::future::join_all(tills).await {
        let (v, r) = till?;
        verify_times.extend(v);
        redeem_times.extend(r);
    }
    let elapsed = started.elapsed().as_secs_f64();
    verify_times.sort_unstable();
    redeem_times.sort_unstable();
    let mut pair_count = verify_times.len();
    pair_count = pair_count.min(redeem_times.len());
    println!(
        "{pair_count} verify+redeem pairs in {elapsed:.1} s with {connections} connections: \
         {:.0} pairs/s ({:.0} req/s); verify p50 {} p99 {}; redeem p50 {} p99 {}; failures {}",
        pair_count as f64 / elapsed,
        (verify_times.len() + redeem_times.len()) as f64 / elapsed,
        percentile(&verify_times, 0.5),
        percentile(&verify_times, 0.99),
        percentile(&redeem_times, 0.5),
        percentile(&redeem_times, 0.99),
        failures.load(Ordering::Relaxed),
    );
    Ok(())
}
