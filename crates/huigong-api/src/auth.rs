//! Tokens and the caller.
//!
//! A token is a JWT (HS256) naming a server-side session: `{"iss", "sub": user id, "sid":
//! session id, "iat", "exp"}`. Every instance with the same `auth.jwt_secret` verifies it; the
//! session must also still exist in the shared store, so logout takes effect at once everywhere.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use huigong_core::{Role, Secret};
use huigong_store::SessionRecord;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "huigong";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
}

/// The signing and verification keys for session tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys([redacted])")
    }
}

impl JwtKeys {
    pub fn new(secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }

    /// Signs a token for `session_id` of `user_id`, valid until `expires_at`.
    pub fn issue(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: user_id,
            sid: session_id,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(&e))
    }

    /// Checks signature, issuer and expiry; returns (user id, session id).
    pub fn verify(&self, token: &str) -> Option<(Uuid, Uuid)> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| (data.claims.sub, data.claims.sid))
    }
}

/// The authenticated caller of a request: a valid token whose session is still alive.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
    pub session: SessionRecord,
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl Caller {
    /// The request's state, and the (user id, session id) its bearer token names if the token
    /// is genuine and current (no I/O).
    pub(crate) fn token_of(
        req: &HttpRequest,
    ) -> (Option<web::Data<AppState>>, Option<(Uuid, Uuid)>) {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let verified = state
            .as_ref()
            .zip(bearer(req))
            .and_then(|(state, token)| state.jwt.verify(token));
        (state, verified)
    }

    /// The caller whose token named `verified`, if its session is alive (and was opened under
    /// the account's current epoch: disabling, a password reset or "sign out everywhere" end
    /// it at once); and the values under `others`, read in the same round trip as the session.
    /// A session that must change its password first answers 403 `password_change_required`.
    pub async fn authenticate(
        state: &AppState,
        verified: Option<(Uuid, Uuid)>,
        others: &[&str],
    ) -> Result<(Caller, Vec<Option<Vec<u8>>>), ApiError> {
        let (caller, values) = Caller::authenticate_any(state, verified, others).await?;
        if caller.session.password_change_required {
            return Err(password_change_required());
        }
        Ok((caller, values))
    }

    /// [`Caller::authenticate`], also for a session that must change its password first (the
    /// routes that change it and log out).
    pub async fn authenticate_any(
        state: &AppState,
        verified: Option<(Uuid, Uuid)>,
        others: &[&str],
    ) -> Result<(Caller, Vec<Option<Vec<u8>>>), ApiError> {
        let (user_id, session_id) = verified.ok_or_else(ApiError::unauthorized)?;
        let (session, values) = state
            .sessions
            .get_with(session_id, user_id, state.clock.now(), others)
            .await?;
        let session = session.ok_or_else(ApiError::unauthorized)?;
        let caller = Caller {
            user_id,
            session_id,
            role: session.role,
            session,
        };
        Ok((caller, values))
    }
}

/// 403 `password_change_required`: the password was set by an administrator.
pub fn password_change_required() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "password_change_required",
        "密码已由管理员重置，请先修改密码（POST /api/v1/me/password）",
    )
}

/// Any caller with a live session, also one that must change its password before anything
/// else: for changing it, and for logging out.
#[derive(Debug, Clone)]
pub struct SessionCaller(pub Caller);

impl FromRequest for SessionCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (state, verified) = Caller::token_of(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&"AppState missing"))?;
            Ok(SessionCaller(
                Caller::authenticate_any(&state, verified, &[]).await?.0,
            ))
        })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (state, verified) = Caller::token_of(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&"AppState missing"))?;
            Ok(Caller::authenticate(&state, verified, &[]).await?.0)
        })
    }
}

/// An administrator and the scope it may see: its org's subtree (a path prefix).
#[derive(Debug, Clone)]
pub struct AdminCaller {
    pub caller: Caller,
    pub org_id: Uuid,
    /// The path of the administrator's org: every org in scope has a path starting with it.
    pub scope: String,
}

impl AdminCaller {
    pub fn actor(&self, req: &HttpRequest) -> huigong_store::audit::Actor {
        self.caller.actor(req)
    }
}

impl Caller {
    /// The audit actor for this caller and request.
    pub fn actor(&self, req: &HttpRequest) -> huigong_store::audit::Actor {
        huigong_store::audit::Actor {
            user_id: Some(self.user_id),
            role: self.role.as_str().to_owned(),
            client_ip: Some(crate::limits::client_ip(req)),
            request_id: req
                .extensions()
                .get::<tracing_actix_web::RequestId>()
                .map(ToString::to_string),
        }
    }
}

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let caller = caller.await?;
            let state = state.ok_or_else(|| ApiError::internal(&"AppState missing"))?;
            AdminCaller::resolve(&state, caller).await
        })
    }
}

impl AdminCaller {
    /// The administrator behind an authenticated `caller` and its scope (the bearer extractor
    /// and the console's cookie sessions both come here): 403 for another role, 401 for a
    /// disabled account.
    pub async fn resolve(state: &AppState, caller: Caller) -> Result<AdminCaller, ApiError> {
        if !matches!(
            caller.role,
            Role::CountyAdmin | Role::DistrictAdmin | Role::GrassrootsAdmin
        ) {
            return Err(ApiError::forbidden());
        }
        let user = huigong_store::users::find(&state.db, caller.user_id)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        // The row is read anyway: a disabled account's session ends here even if the
        // session store lost the account's epoch.
        if user.disabled_at.is_some() {
            return Err(ApiError::unauthorized());
        }
        let org_id = user.org_id.ok_or_else(ApiError::forbidden)?;
        let scope = match huigong_store::orgs::admin_scope(&state.db.conn, org_id).await? {
            huigong_store::orgs::AdminScope::Subtree(path) => path,
            huigong_store::orgs::AdminScope::Dissolved => {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "org_dissolved",
                    "所属工会已撤销，本账号不再有管理权限",
                ));
            }
            huigong_store::orgs::AdminScope::NoOrg => return Err(ApiError::forbidden()),
        };
        Ok(AdminCaller {
            caller,
            org_id,
            scope,
        })
    }
}
