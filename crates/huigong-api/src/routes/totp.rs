//! `/api/v1/auth/totp`: two-factor login of administrators (等保 2.0 level 3).
//!
//! An account with a password enrols an authenticator app (TOTP, RFC 6238): `enrol` hands out
//! a secret and ten recovery codes, `confirm` with a first valid code switches it on. From then
//! on its password login also needs a current code (or a recovery code, once each). Accounts of
//! the roles in `auth.require_totp_for` that have not enrolled get, at password login, a 403
//! with a short-lived enrolment ticket that works only on these two endpoints; confirming with
//! it completes the login.

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::guesses::reserve_second_factor;
use crate::routes::auth::LoginResponse;
use crate::routes::me::UserView;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use huigong_core::{Role, totp as otp};
use huigong_store::audit::{self, Actor, Entry, Outcome};
use huigong_store::users::{self, Credentials, User};
use huigong_store::{SessionRecord, totp};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// The name authenticator apps show for the account.
const ISSUER: &str = "Huigong";
/// How long an enrolment ticket from a password login lasts.
const TICKET_TTL: Duration = Duration::from_secs(600);
const TICKET_DOMAIN: &str = "totp_enrol_ticket";

fn totp_required() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "totp_required",
        "请输入身份验证器中的 6 位动态验证码",
    )
    .with_field("totp")
}

fn totp_invalid() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "totp_invalid",
        "动态验证码错误、已过期或已使用，请输入身份验证器当前显示的验证码",
    )
    .with_field("totp")
}

fn check_code_shape(field: &'static str, code: &str, max: usize) -> Result<(), ApiError> {
    if code.is_empty() || code.len() > max {
        return Err(ApiError::invalid_field(field, "验证码格式不正确"));
    }
    Ok(())
}

fn actor_for(user: &User, req: &HttpRequest) -> Actor {
    Actor {
        user_id: Some(user.id),
        role: user.role.as_str().to_owned(),
        client_ip: Some(crate::limits::client_ip(req)),
        request_id: req
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(ToString::to_string),
    }
}

/// Writes one audit event about `user` in a transaction of its own (for refusals, which change
/// nothing else).
async fn audit_alone(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    user: Uuid,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let txn = state.db.begin_write().await?;
    audit::record(&txn, actor, &entry(action, user, outcome), now).await?;
    txn.commit()
        .await
        .map_err(huigong_store::StoreError::from)?;
    Ok(())
}

fn entry(action: &'static str, user: Uuid, outcome: Outcome) -> Entry<'static> {
    Entry {
        action,
        target_type: "user",
        target_id: Some(user.to_string()),
        fields: &[],
        outcome,
    }
}

/// A wrong code (already counted by its reservation, `crate::guesses`): audited.
async fn refuse_code(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<ApiError, ApiError> {
    audit_alone(state, actor, action, user, Outcome::Failure, now).await?;
    tracing::info!(action, "two-factor code refused");
    Ok(totp_invalid())
}

/// Checks a TOTP code against the active secret and spends its time step, with the audit event
/// in the same transaction. False: wrong, stale or already used.
async fn spend_code(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    enrolment: &totp::Enrolment,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let Some(key) = enrolment.active_key.as_ref() else {
        return Ok(false);
    };
    let Some(step) = otp::verify(key, code, now, enrolment.last_step) else {
        return Ok(false);
    };
    let txn = state.db.begin_write().await?;
    if !totp::accept_step(&txn, enrolment.user_id, step, now).await? {
        txn.rollback()
            .await
            .map_err(huigong_store::StoreError::from)?;
        return Ok(false);
    }
    audit::record(
        &txn,
        actor,
        &entry(action, enrolment.user_id, Outcome::Success),
        now,
    )
    .await?;
    txn.commit()
        .await
        .map_err(huigong_store::StoreError::from)?;
    Ok(true)
}

/// The 403 of a password login whose account must enrol first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentRequiredBody {
    #[schema(example = "totp_enrolment_required")]
    pub code: &'static str,
    pub message: &'static str,
    /// Bearer token for `POST /api/v1/auth/totp/enrol` and `/confirm` only.
    pub enrolment_token: String,
    /// Seconds the enrolment token lasts.
    pub expires_in: u64,
}

fn ticket_key(state: &AppState, ticket: &str) -> String {
    let index = state.vault.blind_index(TICKET_DOMAIN, ticket);
    format!("totp-enrol:{}", URL_SAFE_NO_PAD.encode(index.as_bytes()))
}

/// The second step of a password login, once the password was right. `None`: carry on and
/// open the session; `Some(ticket)`: the account must enrol first, with this ticket.
pub(crate) async fn second_factor(
    state: &AppState,
    req: &HttpRequest,
    account: &Credentials,
    code: Option<String>,
    recovery_code: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<String>, ApiError> {
    let user = &account.user;
    let actor = actor_for(user, req);
    let enrolment = totp::find(&state.db.conn, &state.vault, user.id).await?;
    if enrolment.as_ref().is_some_and(totp::Enrolment::is_active) {
        let Some(enrolment) = enrolment else {
            return Err(totp_required());
        };
        if let Some(recovery) = recovery_code.filter(|c| !c.trim().is_empty()) {
            check_code_shape("recovery_code", &recovery, 32)?;
            let attempt = reserve_second_factor(state, user.id, now).await?;
            let txn = state.db.begin_write().await?;
            if totp::use_recovery_code(&txn, user.id, &recovery, now).await? {
                audit::record(
                    &txn,
                    &actor,
                    &entry("auth.totp_recovery_login", user.id, Outcome::Success),
                    now,
                )
                .await?;
                txn.commit()
                    .await
                    .map_err(huigong_store::StoreError::from)?;
                tracing::info!("login with a recovery code");
                attempt.succeeded(state).await?;
                return Ok(None);
            }
            txn.rollback()
                .await
                .map_err(huigong_store::StoreError::from)?;
            let err = refuse_code(state, &actor, "auth.totp_recovery_login", user.id, now).await?;
            return Err(err.with_field("recovery_code"));
        }
        let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
            return Err(totp_required());
        };
        check_code_shape("totp", &code, 16)?;
        let attempt = reserve_second_factor(state, user.id, now).await?;
        if spend_code(state, &actor, "auth.totp_login", &enrolment, &code, now).await? {
            attempt.succeeded(state).await?;
            return Ok(None);
        }
        return Err(refuse_code(state, &actor, "auth.totp_login", user.id, now).await?);
    }
    if !state.auth.require_totp_for.contains(&user.role) {
        return Ok(None);
    }
    // Mandatory and not enrolled: a ticket that only enrols. The password was right, so this
    // gives away nothing a successful login would not.
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let ticket = URL_SAFE_NO_PAD.encode(bytes);
    state
        .sessions
        .store()
        .set(
            &ticket_key(state, &ticket),
            user.id.to_string().as_bytes(),
            TICKET_TTL,
        )
        .await?;
    audit_alone(
        state,
        &actor,
        "auth.totp_enrolment_required",
        user.id,
        Outcome::Failure,
        now,
    )
    .await?;
    tracing::info!("password right, two-factor enrolment required");
    Ok(Some(ticket))
}

/// The 403 `totp_enrolment_required` of the JSON password login, carrying the ticket.
pub(crate) fn enrolment_required_response(ticket: String) -> HttpResponse {
    HttpResponse::Forbidden()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(EnrolmentRequiredBody {
            code: "totp_enrolment_required",
            message: "该账户须先绑定身份验证器（双因素登录），请使用 enrolment_token 完成绑定",
            enrolment_token: ticket,
            expires_in: TICKET_TTL.as_secs(),
        })
}

/// How long an enrolment ticket from a password login lasts, in seconds.
pub const fn enrolment_ticket_secs() -> u64 {
    TICKET_TTL.as_secs()
}

/// Whoever may enrol: a logged-in account with a password (not a worker), or the holder of an
/// enrolment ticket from a password login.
struct Subject {
    user: User,
    /// The ticket the request came with, if it came with one rather than a session.
    ticket_key: Option<String>,
}

fn bearer_of(req: &HttpRequest) -> Result<String, ApiError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)
}

/// `bearer`: a session token, or an enrolment ticket of a password login.
async fn subject(state: &AppState, bearer: &str) -> Result<Subject, ApiError> {
    let (user_id, ticket_key) = if bearer.contains('.') {
        // A session token (JWT).
        let (caller, _) = Caller::authenticate(state, state.jwt.verify(bearer), &[]).await?;
        (caller.user_id, None)
    } else {
        let key = ticket_key(state, bearer);
        let id = state
            .sessions
            .store()
            .get(&key)
            .await?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| Uuid::parse_str(&s).ok())
            .ok_or_else(ApiError::unauthorized)?;
        (id, Some(key))
    };
    let user = users::find(&state.db, user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if user.role == Role::Worker || user.username.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "仅使用用户名和密码登录的管理员和商家账户可以绑定身份验证器",
        ));
    }
    Ok(Subject { user, ticket_key })
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// A current code of the authenticator already enrolled; needed only to replace an active
    /// enrolment.
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolResponse {
    /// The secret, base32, for typing into the authenticator app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as a `otpauth://` URI, for a QR code.
    pub otpauth_url: String,
    /// Ten single-use recovery codes, shown this once; they replace earlier ones on confirmation.
    pub recovery_codes: Vec<String>,
    /// `pending` until confirmed with a first code.
    #[schema(example = "pending")]
    pub status: &'static str,
}

/// Starts enrolling an authenticator app (TOTP: SHA-1, 6 digits, 30 s).
///
/// Answers the secret, its `otpauth://` URI and ten recovery codes; nothing changes for login
/// until `POST /api/v1/auth/totp/confirm` with a first valid code. Enrolling again before that
/// replaces the pending secret and codes. An account that already has an active authenticator
/// must send a current code of it (`{"totp"}`) to replace it; until the new one is confirmed
/// the old one stays in force. Accepts a session token or the enrolment ticket of a password
/// login.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = EnrolRequest,
    responses(
        (status = 200, body = EnrolResponse),
        (status = 401, body = ErrorBody, description = "not logged in; or an active enrolment and no (`totp_required`) or a wrong (`totp_invalid`) current code"),
        (status = 403, body = ErrorBody, description = "not an account with a password"),
        (status = 429, body = ErrorBody, description = "account locked after repeated failures"),
    )
)]
#[post("/api/v1/auth/totp/enrol")]
pub async fn enrol(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: crate::json::Json<EnrolRequest>,
) -> Result<HttpResponse, ApiError> {
    let credential = bearer_of(&req)?;
    let answer = start_enrolment(&state, &req, &credential, body.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(answer))
}

/// Starts an enrolment for the holder of `credential` (a session token or an enrolment
/// ticket): the JSON route and the console.
pub async fn start_enrolment(
    state: &AppState,
    req: &HttpRequest,
    credential: &str,
    body: EnrolRequest,
) -> Result<EnrolResponse, ApiError> {
    let now = state.clock.now();
    let Subject { user, .. } = subject(state, credential).await?;
    let actor = actor_for(&user, req);
    if let Some(enrolment) = totp::find(&state.db.conn, &state.vault, user.id)
        .await?
        .filter(totp::Enrolment::is_active)
    {
        let code = body
            .totp
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(totp_required)?;
        check_code_shape("totp", &code, 16)?;
        let attempt = reserve_second_factor(state, user.id, now).await?;
        if !spend_code(
            state,
            &actor,
            "auth.totp_reenrol_check",
            &enrolment,
            &code,
            now,
        )
        .await?
        {
            return Err(refuse_code(state, &actor, "auth.totp_reenrol_check", user.id, now).await?);
        }
        attempt.succeeded(state).await?;
    }
    let secret = totp::new_secret();
    let codes = totp::new_recovery_codes();
    let txn = state.db.begin_write().await?;
    totp::begin_enrolment(&txn, &state.vault, user.id, &secret, &codes, now).await?;
    audit::record(
        &txn,
        &actor,
        &entry("auth.totp_enrol", user.id, Outcome::Success),
        now,
    )
    .await?;
    txn.commit()
        .await
        .map_err(huigong_store::StoreError::from)?;
    tracing::info!("two-factor enrolment started");
    let account = user.username.as_deref().unwrap_or_default();
    Ok(EnrolResponse {
        otpauth_url: otp::otpauth_url(ISSUER, account, &secret),
        secret: secret.to_string(),
        recovery_codes: codes,
        status: "pending",
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The code the authenticator app shows now.
    #[schema(example = "123456")]
    pub totp: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmResponse {
    /// `active`: password login now needs a code.
    #[schema(example = "active")]
    pub status: &'static str,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u64,
    /// With an enrolment ticket: the login it completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginResponse>,
}

/// Confirms the pending enrolment with a first valid code: two-factor login is on.
///
/// With the enrolment ticket of a password login, this also completes that login (`login`
/// holds the session token) and the ticket is spent. A wrong code counts toward the lockout.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = ConfirmRequest,
    responses(
        (status = 200, body = ConfirmResponse),
        (status = 401, body = ErrorBody, description = "not logged in, or `totp_invalid`"),
        (status = 403, body = ErrorBody, description = "not an account with a password"),
        (status = 409, body = ErrorBody, description = "`totp_not_pending`: nothing to confirm"),
        (status = 429, body = ErrorBody, description = "account locked after repeated failures"),
    )
)]
#[post("/api/v1/auth/totp/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: crate::json::Json<ConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let credential = bearer_of(&req)?;
    let answer = confirm_enrolment(&state, &req, &credential, body.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(answer))
}

/// Confirms the pending enrolment of the holder of `credential` (a session token or an
/// enrolment ticket, which this spends and turns into a session): the JSON route and the
/// console.
pub async fn confirm_enrolment(
    state: &AppState,
    req: &HttpRequest,
    credential: &str,
    body: ConfirmRequest,
) -> Result<ConfirmResponse, ApiError> {
    let now = state.clock.now();
    let Subject { user, ticket_key } = subject(state, credential).await?;
    let code = body.totp;
    check_code_shape("totp", &code, 16)?;
    let actor = actor_for(&user, req);
    let not_pending = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "totp_not_pending",
            "没有待确认的身份验证器绑定，请先发起绑定",
        )
    };
    let pending = totp::find(&state.db.conn, &state.vault, user.id)
        .await?
        .and_then(|e| e.pending)
        .ok_or_else(not_pending)?;
    let attempt = reserve_second_factor(state, user.id, now).await?;
    let Some(step) = otp::verify(&pending.key, &code, now, None) else {
        return Err(refuse_code(state, &actor, "auth.totp_confirm", user.id, now).await?);
    };
    attempt.succeeded(state).await?;
    let txn = state.db.begin_write().await?;
    if !totp::activate(&txn, &state.vault, user.id, &pending, step, now).await? {
        txn.rollback()
            .await
            .map_err(huigong_store::StoreError::from)?;
        return Err(not_pending());
    }
    audit::record(
        &txn,
        &actor,
        &entry("auth.totp_confirm", user.id, Outcome::Success),
        now,
    )
    .await?;
    txn.commit()
        .await
        .map_err(huigong_store::StoreError::from)?;
    tracing::info!("two-factor enrolment confirmed");
    let recovery_codes_left = totp::recovery_codes_left(&state.db.conn, user.id).await?;
    let login = match ticket_key {
        Some(key) => {
            // Single use: only the request that removes the ticket logs in.
            if !state.sessions.store().delete(&key).await? {
                return Err(ApiError::unauthorized());
            }
            Some(open_session(state, &user, now).await?)
        }
        None => None,
    };
    Ok(ConfirmResponse {
        status: "active",
        recovery_codes_left,
        login,
    })
}

/// Opens a session after a completed password + TOTP login (the enrolment-ticket path).
async fn open_session(
    state: &AppState,
    user: &User,
    now: DateTime<Utc>,
) -> Result<LoginResponse, ApiError> {
    // The epoch before the account's fresh state (see `huigong_store::sessions`).
    let epoch = state.sessions.epoch(user.id).await?;
    let user = users::find(&state.db, user.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if user.disabled_at.is_some() {
        return Err(crate::routes::auth::account_disabled());
    }
    users::record_login_success(&state.db, user.id, now).await?;
    let ttl =
        chrono::Duration::from_std(state.auth.session_ttl).map_err(|e| ApiError::internal(&e))?;
    let expires_at = now + ttl;
    let record = SessionRecord {
        user_id: user.id,
        role: user.role,
        openid: None,
        unionid: None,
        session_key: None,
        created_at: now,
        expires_at,
        password_change_required: user.must_change_password,
    };
    let session_id = state.sessions.create_under(&record, &epoch, now).await?;
    let token = state.jwt.issue(user.id, session_id, now, expires_at)?;
    tracing::info!("password login after two-factor enrolment");
    let mut user = user.clone();
    user.last_login_at = Some(now);
    Ok(LoginResponse {
        token,
        expires_in: state.auth.session_ttl.as_secs(),
        user: UserView::from(&user),
        password_change_required: user.must_change_password,
    })
}
