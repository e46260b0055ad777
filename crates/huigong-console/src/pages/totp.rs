//! 绑定身份验证器: two-factor enrolment with the QR code drawn on the server, for a signed-in
//! account or for a sign-in that must enrol first (its ticket is in the `hg_console_enrol`
//! cookie). Through the JSON routes' own `start_enrolment` and `confirm_enrolment`.

use crate::error::PageError;
use crate::pages::signin::pre_session_csrf;
use crate::pages::{html, see_other};
use crate::session::{self, ENROL_COOKIE, SESSION_COOKIE, settings_of, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use huigong_api::routes::totp::{ConfirmRequest, EnrolRequest, confirm_enrolment, start_enrolment};
use huigong_api::{ApiError, AppState};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    assets: String,
    csrf: String,
    /// `start`, `scan`, `confirm` or `done`.
    stage: &'static str,
    error: Option<String>,
    /// An authenticator is active: replacing it needs its current code.
    active: bool,
    /// Arrived from a sign-in that must enrol first.
    required: bool,
    qr: Option<String>,
    secret: String,
    recovery_codes: Vec<String>,
}

/// Who enrols: the session token of the cookie, or the enrolment ticket of a sign-in.
fn credential(req: &HttpRequest, state: &AppState) -> Option<(String, bool)> {
    if session::verified(req, state).is_some() {
        return req
            .cookie(SESSION_COOKIE)
            .map(|c| (c.value().to_owned(), false));
    }
    req.cookie(ENROL_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
        .map(|v| (v, true))
}

/// `text` as a QR code, an SVG `data:` URL (the CSP allows `data:` images, not inline markup).
fn qr_data_url(text: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|_| PageError::internal())?;
    let width = code.width();
    let side = width + 8;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % width + 4, i / width + 4));
        }
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    );
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(svg)
    ))
}

impl EnrolPage {
    fn new(csrf: String, stage: &'static str, required: bool) -> Self {
        Self {
            assets: crate::assets::base(),
            csrf,
            stage,
            error: None,
            active: false,
            required,
            qr: None,
            secret: String::new(),
            recovery_codes: Vec::new(),
        }
    }
}

/// Whether the signed-in account already has an active authenticator.
async fn active(state: &AppState, req: &HttpRequest, ticket: bool) -> Result<bool, PageError> {
    let Some((user_id, _)) = session::verified(req, state).filter(|_| !ticket) else {
        return Ok(false);
    };
    let enrolment = huigong_store::totp::find(&state.db.conn, &state.vault, user_id)
        .await
        .map_err(ApiError::from)?;
    Ok(enrolment.is_some_and(|e| e.is_active()))
}

/// `GET /console/totp/enrol`.
pub async fn start_page(req: HttpRequest) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let settings = settings_of(&req)?;
    let (_, ticket) = credential(&req, &state).ok_or_else(PageError::sign_in)?;
    let (csrf, cookie) = pre_session_csrf(&req, &state, &settings);
    let mut page = EnrolPage::new(csrf, "start", ticket);
    page.active = active(&state, &req, ticket).await?;
    let mut res = html(StatusCode::OK, page.render()?);
    if let Some(cookie) = cookie {
        res.add_cookie(&cookie).map_err(|_| PageError::internal())?;
    }
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    totp: Option<String>,
}

/// `POST /console/totp/enrol`: a new secret, shown as a QR code with the recovery codes.
pub async fn start(req: HttpRequest, form: web::Form<CodeForm>) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let (credential, ticket) = credential(&req, &state).ok_or_else(PageError::sign_in)?;
    let csrf = crate::security::csrf_token(&req, &state);
    let body = EnrolRequest {
        totp: form.into_inner().totp,
    };
    match start_enrolment(&state, &req, &credential, body).await {
        Ok(answer) => {
            let mut page = EnrolPage::new(csrf, "scan", ticket);
            page.qr = Some(qr_data_url(&answer.otpauth_url)?);
            page.secret = answer.secret;
            page.recovery_codes = answer.recovery_codes;
            Ok(html(StatusCode::OK, page.render()?))
        }
        Err(e)
            if matches!(
                e.body.code,
                "totp_required" | "totp_invalid" | "invalid_field"
            ) =>
        {
            let mut page = EnrolPage::new(csrf, "start", ticket);
            page.active = true;
            page.error = Some(e.body.message.into_owned());
            Ok(html(e.status, page.render()?))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    totp: String,
}

/// `POST /console/totp/confirm`: switches two-factor login on; after a sign-in that had to
/// enrol, also opens the session.
pub async fn confirm(
    req: HttpRequest,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let settings = settings_of(&req)?;
    let (credential, ticket) = credential(&req, &state).ok_or_else(PageError::sign_in)?;
    let csrf = crate::security::csrf_token(&req, &state);
    let body = ConfirmRequest {
        totp: form.into_inner().totp,
    };
    match confirm_enrolment(&state, &req, &credential, body).await {
        Ok(answer) => match answer.login {
            Some(login) => {
                let mut res = see_other("/console/");
                res.add_cookie(&session::cookie(
                    &settings,
                    SESSION_COOKIE,
                    login.token,
                    login.expires_in,
                ))
                .map_err(|_| PageError::internal())?;
                res.add_cookie(&session::removal(&settings, ENROL_COOKIE))
                    .map_err(|_| PageError::internal())?;
                Ok(res)
            }
            None => Ok(html(
                StatusCode::OK,
                EnrolPage::new(csrf, "done", ticket).render()?,
            )),
        },
        Err(e) if matches!(e.body.code, "totp_invalid" | "invalid_field") => {
            let mut page = EnrolPage::new(csrf, "confirm", ticket);
            page.error = Some(e.body.message.into_owned());
            Ok(html(e.status, page.render()?))
        }
        Err(e) if e.body.code == "totp_not_pending" => {
            let mut page = EnrolPage::new(csrf, "start", ticket);
            page.error = Some(e.body.message.into_owned());
            Ok(html(e.status, page.render()?))
        }
        Err(e) => Err(e.into()),
    }
}
