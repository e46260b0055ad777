//! The actix-web application: routes, JSON limits and errors, request ids, tracing.

use crate::error::{ApiError, json_error, path_error, query_error};
use crate::routes;
use crate::state::AppState;
use crate::telemetry::HuigongRootSpan;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpMessage, HttpRequest, HttpResponse, web};
use std::sync::Arc;
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::AppExt as _;
use utoipa_scalar::{Scalar, Servable as _};

/// The OpenAPI document, rendered once at start-up.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<String>);

/// Everything the application needs besides its state.
#[derive(Clone)]
pub struct AppOptions {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    pub openapi: OpenApiJson,
}

impl AppOptions {
    pub fn new(body_limit: usize) -> Self {
        let doc = crate::openapi::document();
        let json = doc.to_json().unwrap_or_else(|_| "{}".to_owned());
        Self {
            body_limit,
            openapi: OpenApiJson(Arc::new(json)),
        }
    }
}

async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.as_str().to_owned())
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let _ = req;
    Err(ApiError::not_found())
}

async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// Builds the application for one worker. `extra` mounts routes that exist only in some
/// deployments (the WeChat mock in mock mode).
pub fn build_app(
    state: web::Data<AppState>,
    options: AppOptions,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(options.body_limit)
        .error_handler(json_error);
    let (app, _) = App::new()
        .into_utoipa_app()
        .app_data(state)
        .app_data(json)
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::PayloadConfig::new(options.body_limit))
        .configure(routes::configure)
        .split_for_parts();
    let docs_source = options.openapi.0.clone();
    app.app_data(web::Data::new(options.openapi))
        .route("/api/openapi.json", web::get().to(openapi_json))
        .service(Scalar::with_url(
            "/api/docs",
            serde_json::from_str::<serde_json::Value>(&docs_source).unwrap_or_default(),
        ))
        .configure(extra)
        .default_service(web::to(not_found))
        .wrap(from_fn(request_id_header))
        .wrap(from_fn(crate::metrics::track_requests))
        .wrap(TracingLogger::<HuigongRootSpan>::new())
}
