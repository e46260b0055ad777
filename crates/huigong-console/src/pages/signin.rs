//! 登录 / 退出: password (and TOTP) sign-in through the JSON login's own code.

use crate::error::PageError;
use crate::pages::{html, see_other};
use crate::security::{bound_of, token_for};
use crate::session::{self, ENROL_COOKIE, PRE_COOKIE, SESSION_COOKIE, settings_of, state_of};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use huigong_api::AppState;
use huigong_api::routes::auth::{PasswordLoginRequest, SignIn, password_sign_in};
use rand::RngCore as _;
use serde::Deserialize;

/// How long the pre-session cookie lives (a sign-in form left open this long must be reloaded).
const PRE_COOKIE_SECS: u64 = 12 * 3600;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    assets: String,
    csrf: String,
    error: Option<String>,
    username: String,
    /// Only on the second step, carried to the next submission.
    password: String,
    /// Asking for the TOTP or a recovery code.
    second_step: bool,
}

/// The pre-session cookie's value, and the cookie to set when the request had none.
pub(crate) fn pre_session(
    req: &HttpRequest,
    settings: &crate::ConsoleSettings,
) -> (String, Option<actix_web::cookie::Cookie<'static>>) {
    if let Some(c) = req.cookie(PRE_COOKIE).filter(|c| c.value().len() >= 16) {
        return (c.value().to_owned(), None);
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let value = URL_SAFE_NO_PAD.encode(bytes);
    let cookie = session::cookie(settings, PRE_COOKIE, value.clone(), PRE_COOKIE_SECS);
    (value, Some(cookie))
}

/// The CSRF token for a form shown before a session exists, and the pre-session cookie to set
/// with it when the request had none.
pub(crate) fn pre_session_csrf(
    req: &HttpRequest,
    state: &AppState,
    settings: &crate::ConsoleSettings,
) -> (String, Option<actix_web::cookie::Cookie<'static>>) {
    if let Some(bound) = bound_of(req, state) {
        return (token_for(state, &bound), None);
    }
    let (value, cookie) = pre_session(req, settings);
    (token_for(state, &format!("pre:{value}")), cookie)
}

/// `GET /console/login`: the sign-in form (or the 工作台 when already signed in).
pub async fn form(req: HttpRequest) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let settings = settings_of(&req)?;
    if let Some(verified) = session::verified(&req, &state)
        && huigong_api::Caller::authenticate_any(&state, Some(verified), &[])
            .await
            .is_ok()
    {
        return Ok(see_other("/console/"));
    }
    let (csrf, cookie) = pre_session_csrf(&req, &state, &settings);
    let page = SignInPage {
        assets: crate::assets::base(),
        csrf,
        error: None,
        username: String::new(),
        password: String::new(),
        second_step: false,
    };
    let mut res = html(StatusCode::OK, page.render()?);
    if let Some(cookie) = cookie {
        res.add_cookie(&cookie).map_err(|_| PageError::internal())?;
    }
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: Option<String>,
    #[serde(default)]
    recovery_code: Option<String>,
}

/// `POST /console/login`: `huigong_api::routes::auth::password_sign_in`, the JSON login's own
/// code, then the session token into the cookie.
pub async fn submit(
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let settings = settings_of(&req)?;
    let SignInForm {
        username,
        password,
        totp,
        recovery_code,
    } = form.into_inner();
    let request = PasswordLoginRequest {
        username: username.clone(),
        password: password.clone(),
        totp,
        recovery_code,
    };
    match password_sign_in(&state, &req, request).await {
        Ok(SignIn::Session(login)) => {
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
        Ok(SignIn::EnrolmentRequired { ticket }) => {
            let mut res = see_other("/console/totp/enrol");
            res.add_cookie(&session::cookie(
                &settings,
                ENROL_COOKIE,
                ticket,
                huigong_api::routes::totp::enrolment_ticket_secs(),
            ))
            .map_err(|_| PageError::internal())?;
            Ok(res)
        }
        Err(e) if e.status.is_server_error() => Err(e.into()),
        Err(e) => {
            let second_step = matches!(e.body.code, "totp_required" | "totp_invalid");
            let error = (e.body.code != "totp_required").then(|| e.body.message.to_string());
            let status = if e.body.code == "totp_required" {
                StatusCode::OK
            } else {
                e.status
            };
            let page = SignInPage {
                assets: crate::assets::base(),
                csrf: crate::security::csrf_token(&req, &state),
                error,
                username: username.trim().to_owned(),
                password: if second_step { password } else { String::new() },
                second_step,
            };
            let mut res = html(status, page.render()?);
            if let Some(secs) = e.retry_after_secs {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            }
            Ok(res)
        }
    }
}

/// `POST /console/logout`: ends the session in the shared store (on every instance) and
/// removes the cookie.
pub async fn sign_out(req: HttpRequest) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let settings = settings_of(&req)?;
    if let Some((_, session_id)) = session::verified(&req, &state) {
        state
            .sessions
            .delete(session_id)
            .await
            .map_err(huigong_api::ApiError::from)?;
        tracing::info!("console sign-out");
    }
    let mut res = see_other("/console/login");
    res.add_cookie(&session::removal(&settings, SESSION_COOKIE))
        .map_err(|_| PageError::internal())?;
    Ok(res)
}
