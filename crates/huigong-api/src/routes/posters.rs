//! Union posters: `GET /api/v1/admin/orgs/{id}/poster.png` for the union's administrators, and
//! `GET /api/v1/unions/scene/{code}` for the mini program that a poster's code opened. The
//! rules are in [`crate::posters`].

use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::posters;
use crate::state::AppState;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A printable poster (A4 at 150 dpi, 1240 × 1754 PNG) for grassroots union `{id}`: its name,
/// the campaign line (`poster.campaign_text`) and the mini-program code from WeChat
/// (`getwxacodeunlimit`, `scene` = the union's scene code, page = 申请入会). Kept in the
/// session backend until the name changes; every download is audited (`org.poster`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "image/png", description = "the poster"),
        (status = 400, body = ErrorBody, description = "`invalid_field`: not an active grassroots union"),
        (status = 404, body = ErrorBody, description = "not in the caller's subtree"),
        (status = 429, body = ErrorBody, description = "`wechat_rate_limited`"),
        (status = 502, body = ErrorBody, description = "`wechat_wxacode_refused`, `wechat_unavailable`, `wechat_misconfigured`"),
        (status = 503, body = ErrorBody, description = "`poster_font_missing` (no CJK font at `poster.font_path`), `wechat_quota_exceeded`, `wechat_busy`, `wechat_unavailable`"),
    )
)]
#[get("/api/v1/admin/orgs/{id}/poster.png")]
pub async fn org_poster(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let png = posters::poster(&state, &admin.scope, id, &admin.actor(&req)).await?;
    let mut res = HttpResponse::Ok().content_type("image/png").body(png);
    let headers = res.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    headers.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_static("inline; filename=\"poster.png\""),
    );
    Ok(res)
}

/// The union a poster's scene code names: public fields only.
#[derive(Debug, Serialize, ToSchema)]
pub struct SceneUnionView {
    pub id: Uuid,
    pub name: String,
    /// Its parent (乡镇/街道/园区总工会, 县直属产业工会).
    pub district: Option<String>,
}

/// The grassroots union whose poster carries scene `{code}` (the mini program reads it from
/// `query.scene` when a poster's code opened it). 404 `not_found` for a code of no active
/// union; limited per client address (`poster.scene_lookups_per_ip_per_hour`).
#[utoipa::path(
    tag = "worker",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SceneUnionView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no active union has this code"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`"),
    )
)]
#[get("/api/v1/unions/scene/{code}")]
pub async fn union_by_scene(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let union = posters::union_by_scene(&state, &req, &code).await?;
    Ok(HttpResponse::Ok().json(SceneUnionView {
        id: union.id,
        name: union.name,
        district: union.district,
    }))
}
