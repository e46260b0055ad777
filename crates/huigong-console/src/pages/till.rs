//! 商家核销: the merchant till. A barcode scanner types the card's QR token into one field
//! (Enter submits); the page shows the card's masked view and the discounts that apply, one
//! button per discount records the redemption. Both go through the JSON routes' own functions
//! (`verify_token`, `record_redemption`); each form carries its own idempotency key, so a double
//! click records once.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::html;
use crate::session::{Staff, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use huigong_api::routes::merchants::{
    MerchantCaller, RedeemRequest, VerifyView, record_redemption, verify_token,
};
use huigong_api::{ApiError, AppState};
use serde::Deserialize;
use uuid::Uuid;

/// What the result area shows.
#[derive(Default)]
pub struct TillResult {
    pub error: Option<String>,
    pub done: Option<String>,
    pub card: Option<CardShown>,
    /// The day's records, swapped in out of band after a redemption (htmx).
    pub today: Option<Today>,
}

pub struct CardShown {
    pub verification_id: Uuid,
    pub status: &'static str,
    pub holder: String,
    pub union_name: String,
    pub expires_at: String,
    pub discounts: Vec<DiscountShown>,
}

pub struct DiscountShown {
    pub id: Uuid,
    pub title: String,
    pub uses_left_today: i64,
    pub idempotency_key: String,
}

pub struct Today {
    pub oob: bool,
    pub count: i64,
    pub amount: String,
    pub discount: String,
    pub rows: Vec<TodayRow>,
}

pub struct TodayRow {
    pub time: String,
    pub title: String,
    pub amount: String,
    pub discount: String,
}

#[derive(Template)]
#[template(path = "till.html")]
struct TillPage {
    layout: Layout,
    merchant_name: String,
    result: TillResult,
    csrf: String,
    today: Today,
}

#[derive(Template)]
#[template(path = "till_partial.html")]
struct TillPartial {
    result: TillResult,
    csrf: String,
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

/// "12", "12.5", "12.50" yuan → fen; `None` for anything else.
fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = if text.is_empty() { "0" } else { text };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || whole.len() > 9
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(whole * 100 + frac)
}

fn beijing_time(t: DateTime<Utc>, format: &str) -> String {
    (t + chrono::Duration::hours(8)).format(format).to_string()
}

fn shown(view: VerifyView, now: DateTime<Utc>) -> CardShown {
    let expires_at = now + chrono::Duration::seconds(view.expires_in);
    CardShown {
        verification_id: view.verification_id,
        status: if view.card.status == "active" {
            "有效"
        } else {
            "不可用"
        },
        holder: view.card.holder,
        union_name: view.card.union_name,
        expires_at: beijing_time(expires_at, "%H:%M:%S"),
        discounts: view
            .discounts
            .into_iter()
            .map(|d| DiscountShown {
                id: d.id,
                title: d.title,
                uses_left_today: d.uses_left_today,
                idempotency_key: Uuid::now_v7().to_string(),
            })
            .collect(),
    }
}

/// The merchant's records of today (Beijing), from the same query as
/// `GET /api/v1/merchant/redemptions`.
async fn today(state: &AppState, staff: &MerchantCaller, oob: bool) -> Result<Today, ApiError> {
    let day = huigong_store::merchants::beijing_day(state.clock.now());
    let (items, totals) = huigong_store::merchants::list_for_merchant(
        &state.db.conn,
        staff.merchant.row.id,
        day,
        day,
        1,
        100,
    )
    .await?;
    Ok(Today {
        oob,
        count: totals.count,
        amount: yuan(totals.amount_fen),
        discount: yuan(totals.discount_fen),
        rows: items
            .into_iter()
            .map(|r| TodayRow {
                time: beijing_time(r.row.created_at, "%H:%M:%S"),
                title: r.discount_title,
                amount: yuan(r.row.amount_fen),
                discount: yuan(r.row.discount_fen),
            })
            .collect(),
    })
}

fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("hx-request")
}

/// Renders the result: the partial for htmx (always 200, so htmx swaps it in), the whole page
/// otherwise (with the error's status).
async fn answer(
    req: &HttpRequest,
    state: &AppState,
    signed: Staff,
    mut result: TillResult,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let csrf = signed.layout.csrf.clone();
    if is_htmx(req) {
        if result.today.is_none() && result.done.is_some() {
            result.today = Some(today(state, &signed.staff, true).await?);
        }
        return Ok(html(StatusCode::OK, TillPartial { result, csrf }.render()?));
    }
    result.today = None;
    let page = TillPage {
        merchant_name: signed.staff.merchant.row.name.clone(),
        today: today(state, &signed.staff, false).await?,
        layout: signed.layout,
        result,
        csrf,
    };
    Ok(html(status, page.render()?))
}

/// Errors a clerk can act on are shown in the result area; the rest are error pages.
fn shown_error(e: ApiError) -> Result<(TillResult, StatusCode), PageError> {
    if e.status.is_server_error() || e.status == StatusCode::UNAUTHORIZED {
        return Err(e.into());
    }
    Ok((
        TillResult {
            error: Some(e.body.message.into_owned()),
            ..TillResult::default()
        },
        e.status,
    ))
}

/// `GET /console/till`.
pub async fn page(req: HttpRequest, signed: Staff) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    answer(&req, &state, signed, TillResult::default(), StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/till/verify`: the scanned token.
pub async fn verify(
    req: HttpRequest,
    signed: Staff,
    form: web::Form<VerifyForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let now = state.clock.now();
    let actor = signed.staff.caller.actor(&req);
    let (result, status) = match verify_token(&state, &signed.staff, actor, form.token.trim()).await
    {
        Ok(view) => (
            TillResult {
                card: Some(shown(view, now)),
                ..TillResult::default()
            },
            StatusCode::OK,
        ),
        Err(e) => shown_error(e)?,
    };
    answer(&req, &state, signed, result, status).await
}

#[derive(Debug, Deserialize)]
pub struct RedeemForm {
    #[serde(default)]
    verification_id: String,
    #[serde(default)]
    discount_id: String,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    amount: String,
}

/// `POST /console/till/redeem`: records the redemption once per idempotency key.
pub async fn redeem(
    req: HttpRequest,
    signed: Staff,
    form: web::Form<RedeemForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let form = form.into_inner();
    let Some(amount_fen) = parse_yuan(&form.amount) else {
        let result = TillResult {
            error: Some("消费金额须为不超过两位小数的金额（元），如 58 或 58.50".to_owned()),
            ..TillResult::default()
        };
        return answer(&req, &state, signed, result, StatusCode::BAD_REQUEST).await;
    };
    let (Ok(verification_id), Ok(discount_id)) = (
        Uuid::parse_str(&form.verification_id),
        Uuid::parse_str(&form.discount_id),
    ) else {
        return Err(PageError::not_found());
    };
    let key = form.idempotency_key.trim();
    if key.is_empty() || key.len() > 128 {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "无法完成操作",
            "请重新扫码核验后再记录核销。",
        ));
    }
    let request = RedeemRequest {
        verification_id,
        discount_id,
        amount_fen,
    };
    let actor = signed.staff.caller.actor(&req);
    let (result, status) =
        match record_redemption(&state, &signed.staff, &actor, key, request).await {
            Ok((record, _created)) => (
                TillResult {
                    done: Some(format!(
                        "已记录核销：{}，消费 {} 元，优惠 {} 元。",
                        record.redemption.discount_title,
                        yuan(record.redemption.amount_fen),
                        yuan(record.redemption.discount_fen)
                    )),
                    ..TillResult::default()
                },
                StatusCode::OK,
            ),
            Err(e) => shown_error(e)?,
        };
    answer(&req, &state, signed, result, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_yuan_become_fen() {
        assert_eq!(parse_yuan("58"), Some(5800));
        assert_eq!(parse_yuan("58.5"), Some(5850));
        assert_eq!(parse_yuan("0.05"), Some(5));
        assert_eq!(parse_yuan(""), Some(0));
        assert_eq!(parse_yuan("1.234"), None);
        assert_eq!(parse_yuan("-1"), None);
        assert_eq!(parse_yuan("."), None);
        assert_eq!(yuan(5850), "58.50");
    }
}
