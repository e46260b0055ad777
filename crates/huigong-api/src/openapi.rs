//! The OpenAPI document, built from the same route registration the server uses.

use crate::error::ErrorBody;
use crate::routes;
use actix_web::App;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt as _;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Huigong API",
        description = "县总工会基层工会组织和工会会员实名制管理、惠工卡服务接口。\n\n\
            Errors are always `{\"code\", \"message\"}` (message in Chinese), with `field` for \
            invalid input.",
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerSecurity),
    tags(
        (name = "auth", description = "登录与退出"),
        (name = "me", description = "当前用户"),
        (name = "operations", description = "健康检查"),
        (name = "admin", description = "管理后台"),
        (name = "card", description = "惠工卡：激活、查看、动态码"),
    )
)]
struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The complete document: every route registered by [`routes::configure`].
pub fn document() -> OpenApiDoc {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    let mut doc = doc;
    CommonResponses.modify(&mut doc);
    doc
}

/// The answers any API operation can give besides its own, added in one place so that every
/// operation documents them: 503 (a store or WeChat unavailable) everywhere; 401 and 403 where
/// a token is required; 400 where there are parameters or a body; 413 and 415 where there is a
/// body; 404 where the path names something. An operation's own description of a status wins.
struct CommonResponses;

impl CommonResponses {
    fn error(description: &str) -> RefOr<Response> {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                        .build(),
                )
                .build(),
        )
    }

    fn add(op: &mut Operation, path: &str) {
        let mut common: Vec<(&str, &str)> = vec![(
            "503",
            "`database_unavailable`, `session_store_unavailable` or `wechat_unavailable`: a service this one needs is down",
        )];
        if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
            common.push(("401", "`unauthorized`: no valid session"));
            common.push(("403", "`forbidden`: the caller's role may not do this"));
        }
        if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some() {
            common.push((
                "400",
                "`invalid_field` (named in `field`) or `invalid_json`",
            ));
        }
        if op.request_body.is_some() {
            common.push(("413", "`payload_too_large`"));
            common.push(("415", "`unsupported_media_type`"));
        }
        if path.contains('{') {
            common.push((
                "404",
                "`not_found`: nothing with this id in the caller's reach",
            ));
        }
        for (status, description) in common {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| Self::error(description));
        }
    }
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                Self::add(op, path);
            }
        }
    }
}
