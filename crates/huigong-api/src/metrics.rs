//! Prometheus metrics, served on a listen address of their own (`metrics.host`/`metrics.port`),
//! never on the public port: the `metrics` facade, rendered by `metrics-exporter-prometheus`.
//!
//! Labels carry bounded, non-personal values only: a route's *pattern* (`/api/v1/admin/members/{id}`,
//! never the path with the id), an HTTP method and status, a WeChat API path and errcode, an
//! outcome. docs/operations.md (`## Metrics`) lists every metric and example alerts.

use crate::imports::{ImportFailure, Imported};
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, get, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// Buckets (seconds) of every `…_seconds` histogram: from a cached card view (well under a
/// millisecond) to a 100,000-row roster import.
const BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The label of requests that matched no route (scanners, typos): never their path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
/// `None` if another recorder was installed first. Until this is called, the counters of this
/// crate and the others cost next to nothing and record nothing.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    metrics::gauge!("huigong_build_info", "version" => env!("CARGO_PKG_VERSION"))
                        .set(1.0);
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed");
                    None
                }
            }
        })
        .clone()
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware of the public application: counts every request and times it, by method, route
/// pattern and status (`huigong_http_requests_total`, `huigong_http_request_duration_seconds`).
pub async fn track_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await;
    let (route, status) = match &res {
        Ok(r) => (r.request().match_pattern(), r.status().as_u16()),
        Err(e) => (None, e.as_response_error().status_code().as_u16()),
    };
    let route = route.unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    metrics::histogram!(
        "huigong_http_request_duration_seconds",
        "method" => method,
        "route" => route.clone(),
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "huigong_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status.to_string(),
    )
    .increment(1);
    res
}

/// One delivery attempt of the outbox ended: `sent`, `retried`, `refused`, `failed` (given up)
/// or `round_failed` (the deliverer could not even claim or mark messages).
pub fn outbox_delivery(outcome: &'static str) {
    metrics::counter!("huigong_outbox_deliveries_total", "outcome" => outcome).increment(1);
}

/// A roster or org-table import ended: its duration by kind, mode and outcome.
pub fn import_finished(
    kind: &'static str,
    commit: bool,
    started: Instant,
    result: &Result<Imported, ImportFailure>,
) {
    let outcome = match result {
        Ok(Imported::Done(_)) => "done",
        Ok(Imported::Refused(_)) => "refused",
        Ok(Imported::Unavailable) => "unavailable",
        Err(ImportFailure::Refused(_)) => "limited",
        Err(ImportFailure::Workbook(_)) => "bad_workbook",
        Err(ImportFailure::Conflict) => "conflict",
        Err(ImportFailure::Store(_) | ImportFailure::Internal(_)) => "error",
    };
    metrics::histogram!(
        "huigong_import_duration_seconds",
        "kind" => kind,
        "mode" => if commit { "commit" } else { "dry_run" },
        "outcome" => outcome,
    )
    .record(started.elapsed().as_secs_f64());
}

/// Samples what is a level rather than an event, just before a scrape: the database pool and
/// the outbox backlog (one indexed count; bounded by the readiness timeout).
pub async fn sample(state: &AppState) {
    let pool = state.db.pool_stats();
    metrics::gauge!("huigong_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("huigong_db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.open.saturating_sub(pool.idle)));
    metrics::gauge!("huigong_db_pool_max_connections").set(f64::from(pool.max));
    let now = state.clock.now();
    let backlog = tokio::time::timeout(
        state.readiness_timeout,
        huigong_store::outbox::backlog(&state.db.conn, now),
    )
    .await;
    match backlog {
        Ok(Ok(b)) => {
            metrics::gauge!("huigong_outbox_pending").set(b.pending as f64);
            metrics::gauge!("huigong_outbox_oldest_pending_seconds").set(b.oldest_pending_secs);
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: outbox backlog not read");
            metrics::counter!("huigong_metrics_sample_errors_total", "what" => "outbox")
                .increment(1);
        }
        Err(_) => {
            tracing::warn!("metrics: outbox backlog timed out");
            metrics::counter!("huigong_metrics_sample_errors_total", "what" => "outbox")
                .increment(1);
        }
    }
}

/// The recorder's handle, for the metrics application.
#[derive(Clone)]
pub struct Exporter(pub PrometheusHandle);

/// Every metric of this instance in Prometheus' text format. Served only on the metrics
/// listener (`metrics.host`:`metrics.port`), not on the public port, so it is not part of the
/// public API document.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String, description = "Prometheus text exposition format 0.0.4"))
)]
#[get("/metrics")]
pub async fn metrics_endpoint(
    state: web::Data<AppState>,
    exporter: web::Data<Exporter>,
) -> HttpResponse {
    sample(&state).await;
    exporter.0.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(exporter.0.render())
}

/// The metrics listener's routes: `GET /metrics`, nothing else.
pub fn configure(exporter: Exporter) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(exporter))
            .service(metrics_endpoint);
    }
}
