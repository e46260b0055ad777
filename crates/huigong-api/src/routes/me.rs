//! `/api/v1/me`: the caller.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use huigong_store::users::{self, User};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// An account as its owner sees it. No WeChat identifiers or keys leave the server.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    /// `worker`, `county_admin`, `district_admin`, `grassroots_admin` or `merchant_staff`.
    #[schema(example = "worker")]
    pub role: String,
    /// Whether WeChat reported a unionid (the mini program is bound to an open-platform account).
    pub wechat_unionid_bound: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            role: user.role.as_str().to_owned(),
            wechat_unionid_bound: user.wechat_unionid.is_some(),
            created_at: user.created_at,
            last_login_at: user.last_login_at,
        }
    }
}

/// The logged-in caller.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody))
)]
#[get("/api/v1/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let user = users::find(&state.db, caller.user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}
