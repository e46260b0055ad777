//! Security headers and CSRF protection for the whole console scope.
//!
//! **Headers** ([`headers`]): a strict Content-Security-Policy (no inline script or style, no
//! framing, forms only to us), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
//! `X-Content-Type-Options: nosniff`, and `Cache-Control: no-store` on everything but the
//! versioned assets.
//!
//! **CSRF** ([`csrf`]): every request other than GET/HEAD must carry the CSRF token of its
//! session, in the `X-CSRF-Token` header (htmx: `assets/console.js` copies it from
//! `<meta name="csrf-token">`) or in a form field named `csrf` of an
//! `application/x-www-form-urlencoded` body. The token is a keyed HMAC
//! ([`huigong_vault`] blind index, domain `console_csrf`) of what it is bound to: the session
//! id when the session cookie carries a genuine token, otherwise a random pre-session cookie
//! (sign-in and enrolment forms). A handler never has to check it itself: a request without
//! it never reaches the handler.

use crate::error::PageError;
use crate::session;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use huigong_api::AppState;
use subtle::ConstantTimeEq;

/// The console's Content-Security-Policy.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The header htmx requests carry the token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field plain forms carry the token in.
pub const CSRF_FIELD: &str = "csrf";

/// Sets the security headers on every console answer.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let htmx = req.headers().contains_key("hx-request");
    let mut res = next.call(req).await?;
    // An htmx request whose session ended: a redirect would be swapped into the page, so ask
    // htmx to navigate instead.
    if htmx && res.status() == StatusCode::SEE_OTHER {
        let location = res.headers().get(header::LOCATION).cloned();
        if let Some(location) = location {
            *res.response_mut().status_mut() = StatusCode::OK;
            res.headers_mut()
                .insert(HeaderName::from_static("hx-redirect"), location);
        }
    }
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// The CSRF token for a binding (a session id or a pre-session cookie value).
pub fn token_for(state: &AppState, bound: &str) -> String {
    URL_SAFE_NO_PAD.encode(state.vault.blind_index("console_csrf", bound).as_bytes())
}

/// What the request's CSRF token is bound to: the session id of a genuine session cookie,
/// else the pre-session cookie.
pub fn bound_of(req: &HttpRequest, state: &AppState) -> Option<String> {
    if let Some((_, session_id)) = session::verified(req, state) {
        return Some(format!("session:{session_id}"));
    }
    req.cookie(session::PRE_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 16)
        .map(|v| format!("pre:{v}"))
}

/// The CSRF token a page must embed in its forms (and its `<meta name="csrf-token">`).
pub fn csrf_token(req: &HttpRequest, state: &AppState) -> String {
    bound_of(req, state)
        .map(|b| token_for(state, &b))
        .unwrap_or_default()
}

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// Refuses (403 page) any non-GET request without the CSRF token of its session.
pub async fn csrf(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req
            .into_response(PageError::internal().page())
            .map_into_right_body());
    };
    let expected = bound_of(req.request(), &state).map(|b| token_for(&state, &b));
    let header_value = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let supplied = match header_value {
        Some(v) => Some(v),
        None if is_form(&req) => {
            let body = req.extract::<web::Bytes>().await?;
            let value = form_urlencoded_field(&body, CSRF_FIELD);
            req.set_payload(actix_web::dev::Payload::from(body));
            value
        }
        None => None,
    };
    let ok = match (expected, supplied) {
        (Some(e), Some(s)) => !e.is_empty() && bool::from(e.as_bytes().ct_eq(s.as_bytes())),
        _ => false,
    };
    if ok {
        Ok(next.call(req).await?.map_into_left_body())
    } else {
        tracing::info!("console request refused: CSRF token missing or wrong");
        Ok(req
            .into_response(PageError::csrf().page())
            .map_into_right_body())
    }
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
