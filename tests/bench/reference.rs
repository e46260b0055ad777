//! The reference endpoint of the benchmarks: one PostgreSQL primary-key select per request.
//!
//! Absolute figures drift by a third within an hour on the 2-core machine, so every bench
//! script (tests/bench.sh, tests/bench-merchant.sh, tests/bench-mixed.sh) also prints its
//! figures as a ratio to this program's throughput, measured in the same run. It is the
//! smallest thing that looks like a request of the service: actix-web with one worker per
//! core, the service's own pool (`huigong_store::Database::connect`, same options as
//! `config/default.toml`: 16 connections), and per request one prepared
//! `SELECT … WHERE id = $1` of a row of a 1,000-row table, answered as JSON.
//!
//!   BENCH_DATABASE_URL=postgres://… BENCH_REFERENCE_PORT=8090 bench_reference
//!   wrk -c64 -d10s http://127.0.0.1:8090/reference
//!
//! It creates its table (`bench_reference`) when missing and prints `ready` once it listens.

use actix_web::{App, HttpResponse, HttpServer, get, web};
use huigong_store::Database;
use huigong_store::db::DatabaseOptions;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

const ROWS: u64 = 1_000;

struct Shared {
    db: Database,
    next: AtomicU64,
}

#[get("/reference")]
async fn reference(shared: web::Data<Shared>) -> HttpResponse {
    let id = (shared.next.fetch_add(1, Ordering::Relaxed) % ROWS) as i64;
    let row = shared
        .db
        .conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, label FROM bench_reference WHERE id = $1",
            [id.into()],
        ))
        .await;
    match row {
        Ok(Some(row)) => {
            let label: String = row.try_get("", "label").unwrap_or_default();
            HttpResponse::Ok().json(serde_json::json!({ "id": id, "label": label }))
        }
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

#[actix_web::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("BENCH_DATABASE_URL").map_err(|_| "BENCH_DATABASE_URL is not set")?;
    let port: u16 = std::env::var("BENCH_REFERENCE_PORT")
        .map_err(|_| "BENCH_REFERENCE_PORT is not set")?
        .parse()?;
    let db = Database::connect(&DatabaseOptions {
        url,
        max_connections: 16,
        acquire_timeout: Duration::from_secs(3),
    })
    .await?;
    db.conn
        .execute_unprepared(
            "CREATE TABLE IF NOT EXISTS bench_reference (id BIGINT PRIMARY KEY, label TEXT NOT NULL)",
        )
        .await?;
    db.conn
        .execute_unprepared(&format!(
            "INSERT INTO bench_reference (id, label) \
             SELECT g, 'row ' || g FROM generate_series(0, {}) g ON CONFLICT (id) DO NOTHING",
            ROWS - 1
        ))
        .await?;
    let shared = web::Data::new(Shared {
        db,
        next: AtomicU64::new(0),
    });
    let server = HttpServer::new(move || App::new().app_data(shared.clone()).service(reference))
        .bind(("127.0.0.1", port))?
        .run();
    println!("ready");
    server.await?;
    Ok(())
}
