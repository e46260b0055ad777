//! The OpenAPI document, built from the same route registration the server uses.

use crate::error::ErrorBody;
use crate::routes;
use actix_web::App;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    doc
}
