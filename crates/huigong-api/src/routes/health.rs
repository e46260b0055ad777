//! Liveness and readiness for load balancers and orchestrators.

use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// The process is alive (it does not look at its dependencies).
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `not_ready` with the failing dependencies in `code`/`message`.
    #[schema(example = "ready")]
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// `ok` or `unavailable` for `database` and `session_store`.
    checks: BTreeMap<&'static str, &'static str>,
}

async fn check<E>(timeout: std::time::Duration, f: impl Future<Output = Result<(), E>>) -> bool {
    matches!(tokio::time::timeout(timeout, f).await, Ok(Ok(())))
}

/// The database and the session store both answer. 503 names the one that does not.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = Readiness),
        (status = 503, body = Readiness, description = "a dependency is unreachable"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (db_ok, store_ok) = tokio::join!(
        check(state.readiness_timeout, state.db.ping()),
        check(state.readiness_timeout, state.sessions.store().ping()),
    );
    let label = |ok| if ok { "ok" } else { "unavailable" };
    let checks = BTreeMap::from([
        ("database", label(db_ok)),
        ("session_store", label(store_ok)),
    ]);
    if db_ok && store_ok {
        return HttpResponse::Ok().json(Readiness {
            status: "ready",
            code: None,
            message: None,
            checks,
        });
    }
    let (code, message) = match (db_ok, store_ok) {
        (false, false) => ("dependencies_unavailable", "数据库和会话存储均不可用"),
        (false, true) => ("database_unavailable", "数据库不可用"),
        _ => ("session_store_unavailable", "会话存储不可用"),
    };
    tracing::warn!(code, "not ready");
    HttpResponse::ServiceUnavailable().json(Readiness {
        status: "not_ready",
        code: Some(code),
        message: Some(message.to_owned()),
        checks,
    })
}
