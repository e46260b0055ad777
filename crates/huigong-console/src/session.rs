//! Console sessions: the API's own sessions, carried in a cookie.
//!
//! Signing in (`pages::signin`) goes through `huigong_api::routes::auth::password_sign_in`,
//! the JSON login's own code (guess limits, TOTP, disabled accounts, the account's epoch), and
//! puts the session token it returns into the `hg_console` cookie (`HttpOnly`,
//! `SameSite=Strict`, `Path=/console`, `Secure` unless `console.secure_cookies = false`). Each
//! request checks the token and the session in the shared store exactly as a bearer token is
//! checked, so signing out, disabling the account or "sign out everywhere" end a console session
//! at once on every instance.
//!
//! Handlers take one of the extractors here; each answers a missing or ended session with a
//! redirect to the sign-in page:
//! - [`Signed`]: anyone signed in;
//! - [`Admin`]: a county, district or grassroots administrator, with its scope;
//! - [`Staff`]: a merchant's staff member, with its merchant.

use crate::ConsoleSettings;
use crate::error::PageError;
use crate::layout::Layout;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use huigong_api::routes::merchants::MerchantCaller;
use huigong_api::{AdminCaller, AppState, Caller};
use uuid::Uuid;

/// The session cookie: the session's signed token.
pub const SESSION_COOKIE: &str = "hg_console";
/// A random value the sign-in and enrolment forms' CSRF token is bound to before a session.
pub const PRE_COOKIE: &str = "hg_console_pre";
/// The two-factor enrolment ticket of a sign-in that must enrol first.
pub const ENROL_COOKIE: &str = "hg_console_enrol";

/// A console cookie: `HttpOnly`, `SameSite=Strict`, `Path=/console`, `Secure` per settings.
pub fn cookie(
    settings: &ConsoleSettings,
    name: &'static str,
    value: String,
    max_age_secs: u64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(crate::PREFIX)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(settings.secure_cookies)
        .max_age(time::Duration::seconds(
            i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// A cookie that removes `name`.
pub fn removal(settings: &ConsoleSettings, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(settings, name, String::new(), 0);
    c.make_removal();
    c
}

/// The (user id, session id) the session cookie names, if its token is genuine and current
/// (signature, issuer, expiry; no I/O: whether the session is alive is checked by the
/// extractors).
pub fn verified(req: &HttpRequest, state: &AppState) -> Option<(Uuid, Uuid)> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    state.jwt.verify(cookie.value())
}

pub(crate) fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(PageError::internal)
}

pub(crate) fn settings_of(req: &HttpRequest) -> Result<web::Data<ConsoleSettings>, PageError> {
    req.app_data::<web::Data<ConsoleSettings>>()
        .cloned()
        .ok_or_else(PageError::internal)
}

/// Anyone signed in. A session that must change its password first is refused (403 page), as
/// the JSON API refuses it.
pub struct Signed {
    pub caller: Caller,
    pub layout: Layout,
}

impl FromRequest for Signed {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state_of(&req)?;
            let verified = verified(&req, &state).ok_or_else(PageError::sign_in)?;
            let (caller, _) = Caller::authenticate(&state, Some(verified), &[]).await?;
            let layout = Layout::new(&req, &state, caller.role);
            Ok(Signed { caller, layout })
        })
    }
}

/// An administrator (county, district, grassroots) and its scope.
pub struct Admin {
    pub admin: AdminCaller,
    pub layout: Layout,
}

impl FromRequest for Admin {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            // A signed-in caller first (the same checks as `Signed`), then its admin scope.
            let Signed { caller, layout } = Signed::from_request(&req, &mut Payload::None).await?;
            let state = state_of(&req)?;
            let admin = AdminCaller::resolve(&state, caller).await?;
            Ok(Admin { admin, layout })
        })
    }
}

/// A merchant's staff member and its merchant.
pub struct Staff {
    pub staff: MerchantCaller,
    pub layout: Layout,
}

impl FromRequest for Staff {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state_of(&req)?;
            let verified = verified(&req, &state).ok_or_else(PageError::sign_in)?;
            let staff = MerchantCaller::resolve(&state, Some(verified)).await?;
            let layout = Layout::new(&req, &state, staff.caller.role);
            Ok(Staff { staff, layout })
        })
    }
}
