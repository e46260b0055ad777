//! What every handler can reach.

use crate::auth::JwtKeys;
use huigong_core::Clock;
use huigong_store::{Database, Sessions};
use huigong_vault::KeyRing;
use huigong_wechat::WechatClient;
use std::sync::Arc;
use std::time::Duration;

/// Login settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a session (and its token) lives.
    pub session_ttl: Duration,
}

/// Shared by every worker; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Database,
    pub sessions: Sessions,
    pub wechat: WechatClient,
    pub jwt: Arc<JwtKeys>,
    /// Encryption and blind-index keys for personal data.
    pub vault: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
    pub auth: AuthSettings,
    /// Upper bound for each `/readyz` check.
    pub readiness_timeout: Duration,
}
