//! `/api/v1/card`: the worker's 惠工卡 — activation (preview, then confirm), the card, its live
//! QR code — and the administrators' unbinding.
//!
//! Guessing ID numbers through the preview is limited in the shared ephemeral store, so every
//! instance counts the same attempts: failed previews per WeChat account per (Beijing) day, and
//! previews per client IP per hour. A preview that finds nothing answers the same 404 whether
//! the ID number is unknown, the name differs or the person is not an active member.

use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::limits::{BEIJING_OFFSET, DAY, HOUR, client_ip, too_many, window};
use crate::routes::params::required_text;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use huigong_core::Role;
use huigong_core::id_number::IdNumber;
use huigong_store::cards::{self, ActivateError, Card, CardStatus, ShownCard};
use huigong_store::members;
use huigong_vault::qr;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

fn not_on_roster() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_on_roster",
        "未找到与该姓名和身份证号匹配的在册会员。请核对后重试，或通过「网上申请入会」（/api/v1/applications）申请加入工会",
    )
}

fn no_card() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_card",
        "尚未激活惠工卡，请先核验身份并激活",
    )
}

/// Only WeChat workers hold cards.
fn worker(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Worker {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn preview_key(id: Uuid) -> String {
    format!("card:preview:{id}")
}

/// The counter of an account's activation guesses for a day (also taken by an application that
/// may answer "already a member", see `crate::membership_checks::may_tell_member`).
pub(crate) fn failures_key(user: Uuid, day: i64) -> String {
    format!("card:preview-failures:{user}:{day}")
}

/// The counter of an account's successful activation previews on Beijing day `day`.
fn successes_key(user: Uuid, day: i64) -> String {
    format!("card:preview-successes:{user}:{day}")
}

/// What a preview remembers until it is confirmed (or expires).
#[derive(Debug, Serialize, Deserialize)]
struct StoredPreview {
    user_id: Uuid,
    person_id: Uuid,
}

/// The worker's name and ID number, as on the union's roster.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(example = "张三")]
    pub name: String,
    pub id_number: String,
}

/// Who the card will belong to, for the worker to confirm.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewView {
    /// Pass to `/api/v1/card/activation/confirm`; valid for `card.preview_ttl_secs`.
    pub preview_id: Uuid,
    /// The name, masked.
    #[schema(example = "张*")]
    pub holder: String,
    pub union_name: String,
    pub unit_name: String,
    pub expires_in: u64,
}

/// Looks the worker up on the roster by ID number and name; answers who the card would
/// belong to. Limited: failed previews per account per day (`card.max_failed_previews_per_day`),
/// successful ones per account per day (`card.max_previews_per_day`), previews per IP per hour.
#[utoipa::path(
    tag = "card",
    security(("bearer" = [])),
    request_body = PreviewRequest,
    responses(
        (status = 200, body = PreviewView),
        (status = 400, body = ErrorBody, description = "invalid field, named in `field`"),
        (status = 404, body = ErrorBody, description = "`not_on_roster`: no active member with this name and ID number"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`, with `Retry-After`: failed previews, successful previews (`card.max_previews_per_day`) or previews from this address"),
    )
)]
#[post("/api/v1/card/activation/preview")]
pub async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: crate::json::Json<PreviewRequest>,
) -> Result<HttpResponse, ApiError> {
    worker(&caller)?;
    let store = state.sessions.store();
    let now = state.clock.now();

    let (hour, hour_left) = window(now, HOUR, 0);
    let ip_key = format!("card:preview-ip:{}:{hour}", client_ip(&req));
    let from_ip = store
        .increment(&ip_key, Duration::from_secs(hour_left + 1))
        .await?;
    if from_ip > state.card.max_previews_per_ip_per_hour {
        return Err(too_many("当前网络的核验请求过多，请稍后再试", hour_left));
    }
    let name = required_text("name", &body.name, 64)?;
    let id_number = IdNumber::parse(&body.id_number, now.date_naive())
        .map_err(|e| ApiError::invalid_field("id_number", e.message_zh()))?;

    // Reserve a failure first, atomically: of any number of concurrent previews, at most the
    // daily limit get to look anyone up. A preview that finds its member gives it back.
    let (day, day_left) = window(now, DAY, BEIJING_OFFSET);
    let failures_key = failures_key(caller.user_id, day);
    let reserved = store
        .increment(&failures_key, Duration::from_secs(day_left + 1))
        .await?;
    if reserved > state.card.max_failed_previews_per_day {
        // Refused without a lookup: not a failure either (the count stays at the limit).
        store.decrement(&failures_key).await?;
        return Err(too_many("今日核验失败次数过多，请明天再试", day_left));
    }
    // A success tells who the pair works for, so successes are reserved too (their own daily
    // budget): a preview holds one of each until the lookup says which it was.
    let successes_key = successes_key(caller.user_id, day);
    let reserved = store
        .increment(&successes_key, Duration::from_secs(day_left + 1))
        .await?;
    if reserved > state.card.max_previews_per_day {
        store.decrement(&successes_key).await?;
        store.decrement(&failures_key).await?;
        return Err(too_many("今日核验次数已达上限，请明天再试", day_left));
    }
    let found = cards::find_eligible(&state.db.conn, &state.vault, &id_number, &name).await;
    let holder = match found {
        Ok(Some(holder)) => holder,
        Ok(None) => {
            store.decrement(&successes_key).await?;
            return Err(not_on_roster());
        }
        Err(e) => {
            // Not a guess at all: give both back (best effort; the store may be down).
            let _ = store.decrement(&successes_key).await;
            let _ = store.decrement(&failures_key).await;
            return Err(e.into());
        }
    };
    store.decrement(&failures_key).await?;
    let preview_id = Uuid::now_v7();
    let stored = serde_json::to_vec(&StoredPreview {
        user_id: caller.user_id,
        person_id: holder.person_id,
    })
    .map_err(|e| ApiError::internal(&e))?;
    store
        .set(&preview_key(preview_id), &stored, state.card.preview_ttl)
        .await?;
    Ok(HttpResponse::Ok().json(PreviewView {
        preview_id,
        holder: holder.holder_masked,
        union_name: holder.union_name,
        unit_name: holder.unit_name,
        expires_in: state.card.preview_ttl.as_secs(),
    }))
}

/// The preview to confirm.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub preview_id: String,
}

/// A card as its holder sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardView {
    /// 16 digits, the last a Luhn check digit; not derived from the ID number.
    #[schema(example = "8330521234567897")]
    pub card_number: String,
    /// `active`, `suspended` or `cancelled`.
    #[schema(example = "active")]
    pub status: String,
    /// The holder's name, masked.
    #[schema(example = "张*")]
    pub holder: String,
    pub union_name: String,
    pub unit_name: String,
    pub activated_at: DateTime<Utc>,
}

impl From<ShownCard> for CardView {
    fn from(c: ShownCard) -> Self {
        Self {
            card_number: c.card_number,
            status: c.status.as_str().to_owned(),
            holder: c.holder_masked,
            union_name: c.union_name,
            unit_name: c.unit_name,
            activated_at: c.activated_at,
        }
    }
}

/// Confirms a preview: the card is active and bound to this WeChat account. Repeating the
/// confirmation answers 200 with the same card.
#[utoipa::path(
    tag = "card",
    security(("bearer" = [])),
    request_body = ConfirmRequest,
    responses(
        (status = 201, body = CardView, description = "activated and bound to this account"),
        (status = 200, body = CardView, description = "already bound to this account"),
        (status = 404, body = ErrorBody, description = "`preview_not_found` (expired or another account's) or `not_on_roster`"),
        (status = 409, body = ErrorBody, description = "`card_bound_elsewhere` or `already_has_card`"),
    )
)]
#[post("/api/v1/card/activation/confirm")]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: crate::json::Json<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    worker(&caller)?;
    let preview_id = Uuid::parse_str(body.preview_id.trim())
        .map_err(|_| ApiError::invalid_field("preview_id", "preview_id 格式不正确"))?;
    let expired = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "preview_not_found",
            "核验信息已过期，请重新输入身份证号核验",
        )
    };
    let stored: StoredPreview = state
        .sessions
        .store()
        .get(&preview_key(preview_id))
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .ok_or_else(expired)?;
    if stored.user_id != caller.user_id {
        return Err(expired());
    }
    let now = state.clock.now();
    let activated = match cards::activate(
        &state.db,
        &state.card_views,
        stored.person_id,
        caller.user_id,
        &caller.actor(&req),
        now,
    )
    .await
    {
        Ok(a) => a,
        Err(ActivateError::BoundElsewhere) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "card_bound_elsewhere",
                "该会员的惠工卡已绑定其他微信账号。如需更换微信账号，请联系所在工会解绑",
            ));
        }
        Err(ActivateError::UserHasOtherCard) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_has_card",
                "本微信账号已绑定一张惠工卡，一个微信账号只能绑定一张卡",
            ));
        }
        Err(ActivateError::NotEligible) => return Err(not_on_roster()),
        Err(ActivateError::Store(e)) => return Err(e.into()),
    };
    let shown = cards::get_for_user(&state.db.conn, &state.vault, caller.user_id)
        .await?
        .ok_or_else(|| ApiError::internal(&"activated card not found"))?;
    let status = if activated.newly_bound {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(CardView::from(shown)))
}

// Served from the card-view cache in the session backend (shared by every instance, invalidated
// after every write that changes what a card shows: `huigong_store::card_views`), else from one
// database query.
/// The caller's card, as of the last change to it.
#[utoipa::path(
    tag = "card",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CardView),
        (status = 404, body = ErrorBody, description = "`no_card`: not activated yet"),
    )
)]
#[get("/api/v1/card")]
pub async fn get_card(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    worker(&caller)?;
    let shown = state
        .card_views
        .get(&state.db.conn, &state.vault, caller.user_id)
        .await?
        .ok_or_else(no_card)?;
    Ok(HttpResponse::Ok().json(CardView::from(shown)))
}

/// A live QR token for the caller's active card.
#[derive(Debug, Serialize, ToSchema)]
pub struct QrView {
    /// Signed, base64url, 60 characters; render it as a QR code and refresh before it expires.
    pub token: String,
    /// Seconds the token stays valid (at most 60).
    pub expires_in: u64,
}

async fn qr_token(state: &AppState, caller: &Caller) -> Result<QrView, ApiError> {
    worker(caller)?;
    let card: Card = cards::live_card_of_user(&state.db.conn, caller.user_id)
        .await?
        .ok_or_else(no_card)?;
    if card.status != CardStatus::Active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "card_inactive",
            "惠工卡当前不可用（已暂停或注销），无法出示动态码",
        ));
    }
    let ttl = state.card.qr_ttl.as_secs();
    let expires_at = state.clock.now().timestamp() + i64::try_from(ttl).unwrap_or(60);
    Ok(QrView {
        token: qr::issue(&state.card.qr_key, card.id, expires_at),
        expires_in: ttl,
    })
}

fn no_store(res: &mut HttpResponse) {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A fresh live QR token for the caller's card; each token can be redeemed once.
#[utoipa::path(
    tag = "card",
    security(("bearer" = [])),
    responses(
        (status = 200, body = QrView),
        (status = 403, body = ErrorBody, description = "`card_inactive`: suspended or cancelled"),
        (status = 404, body = ErrorBody, description = "`no_card`"),
    )
)]
#[get("/api/v1/card/qr")]
pub async fn qr_json(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let view = qr_token(&state, &caller).await?;
    let mut res = HttpResponse::Ok().json(view);
    no_store(&mut res);
    Ok(res)
}

/// Modules of quiet zone around the code, and pixels per module.
const QUIET_ZONE: usize = 4;
const MODULE_PX: usize = 8;

/// Renders `text` as a black-on-white QR code in a 1-bit greyscale PNG.
fn qr_png(text: &str) -> Result<Vec<u8>, ApiError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::internal(&e))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * MODULE_PX;
    let row_bytes = side.div_ceil(8);
    let mut pixels = vec![0xffu8; row_bytes * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules, i / modules);
        for dy in 0..MODULE_PX {
            let y = (my + QUIET_ZONE) * MODULE_PX + dy;
            for dx in 0..MODULE_PX {
                let x = (mx + QUIET_ZONE) * MODULE_PX + dx;
                pixels[y * row_bytes + x / 8] &= !(0x80 >> (x % 8));
            }
        }
    }
    let side = u32::try_from(side).map_err(|e| ApiError::internal(&e))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut writer = encoder.write_header().map_err(|e| ApiError::internal(&e))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| ApiError::internal(&e))?;
    writer.finish().map_err(|e| ApiError::internal(&e))?;
    Ok(out)
}

/// The same live QR token, rendered as a PNG image (`X-Expires-In` gives its lifetime).
#[utoipa::path(
    tag = "card",
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "image/png", description = "the QR code"),
        (status = 403, body = ErrorBody, description = "`card_inactive`"),
        (status = 404, body = ErrorBody, description = "`no_card`"),
    )
)]
#[get("/api/v1/card/qr.png")]
pub async fn qr_image(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let view = qr_token(&state, &caller).await?;
    let png = qr_png(&view.token)?;
    let mut res = HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("x-expires-in", view.expires_in.to_string()))
        .body(png);
    no_store(&mut res);
    Ok(res)
}

/// A card after an administrator unbound it from its WeChat account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnboundView {
    pub card_number: String,
    pub status: String,
    /// Always false after unbinding: the holder can activate with another WeChat account.
    pub bound: bool,
    pub unbound_at: Option<DateTime<Utc>>,
}

/// Unbinds a member's card from its WeChat account (audited), so the member can activate it
/// with another account. Members outside the caller's subtree answer 404.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UnboundView),
        (status = 404, body = ErrorBody, description = "`not_found` (no such member in scope, or a membership that is not the person's current one) or `no_card`"),
    )
)]
#[post("/api/v1/admin/members/{id}/card/unbind")]
pub async fn unbind(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let member = members::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let card = cards::unbind_person(
        &state.db,
        &state.card_views,
        member.person.id,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await?
    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no_card", "该会员尚未激活惠工卡"))?;
    Ok(HttpResponse::Ok().json(UnboundView {
        card_number: card.card_number,
        status: card.status.as_str().to_owned(),
        bound: card.user_id.is_some(),
        unbound_at: card.unbound_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_end_at_the_hour_and_at_beijing_midnight() {
        // 2026-11-27 15:59:30 UTC = 23:59:30 in Beijing.
        let now = DateTime::parse_from_rfc3339("2026-11-27T15:59:30Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(window(now, HOUR, 0).1, 30);
        assert_eq!(window(now, DAY, BEIJING_OFFSET).1, 30);
        let later = now + chrono::Duration::seconds(31);
        assert_eq!(
            window(later, DAY, BEIJING_OFFSET).0,
            window(now, DAY, BEIJING_OFFSET).0 + 1
        );
    }

    #[test]
    fn the_png_is_a_png() {
        let png = qr_png(&"A".repeat(60)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
