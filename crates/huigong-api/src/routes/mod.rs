//! Routes, one module per audience.

pub mod admin;
pub mod auth;
pub mod health;
pub mod me;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route. The OpenAPI document is built from this same registration,
/// so a route cannot exist without appearing in it.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(auth::wechat_login)
        .service(auth::logout)
        .service(me::me)
        .service(admin::audit_log);
}
