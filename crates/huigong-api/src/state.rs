//! What every handler can reach.

use crate::auth::JwtKeys;
use huigong_core::Clock;
use huigong_store::card_views::CardViews;
use huigong_store::merchant_views::MerchantViews;
use huigong_store::merchants::Till;
use huigong_store::{Database, Sessions};
use huigong_vault::KeyRing;
use huigong_vault::qr::QrKey;
use huigong_wechat::WechatClient;
use std::sync::Arc;
use std::time::Duration;

/// Login settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a session (and its token) lives.
    pub session_ttl: Duration,
    /// Roles whose password login needs a TOTP code too (`auth.require_totp_for`).
    pub require_totp_for: Vec<huigong_core::Role>,
    /// Guess limits of password and two-factor login (`crate::guesses`).
    pub login: crate::guesses::LoginLimits,
}

/// The 惠工卡's settings.
#[derive(Debug, Clone)]
pub struct CardSettings {
    /// HMAC key of the live QR tokens (its own key).
    pub qr_key: Arc<QrKey>,
    /// How long a QR token is valid (at most 60 s).
    pub qr_ttl: Duration,
    /// How long an activation preview can be confirmed.
    pub preview_ttl: Duration,
    /// Failed activation previews per WeChat account per day.
    pub max_failed_previews_per_day: u64,
    /// Successful activation previews per WeChat account per day.
    pub max_previews_per_day: u64,
    /// Activation previews per client IP per hour.
    pub max_previews_per_ip_per_hour: u64,
}

/// Shared by every worker; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Database,
    /// Group commit for audit events that record no change of their own (see
    /// [`huigong_store::audit::Appender`]).
    pub audit: huigong_store::audit::Appender,
    /// This instance's copies of the merchants its tills work for, kept current through a
    /// shared generation per merchant.
    pub merchant_views: Arc<MerchantViews>,
    pub sessions: Sessions,
    pub wechat: WechatClient,
    pub jwt: Arc<JwtKeys>,
    /// Encryption and blind-index keys for personal data.
    pub vault: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
    pub auth: AuthSettings,
    pub card: CardSettings,
    /// The holders' card views, cached in the session backend (shared by every instance).
    pub card_views: CardViews,
    /// Upper bound for each `/readyz` check.
    pub readiness_timeout: Duration,
    /// Wakes the outbox deliverer after a commit that queued a message.
    pub notifier: crate::notify::Notifier,
    pub notify: crate::notify::NotifySettings,
    /// Limits on applications, roster checks and union submissions (issue 13, items 4–6).
    pub checks: crate::membership_checks::CheckLimits,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Arc<crate::limits::TrustedProxies>,
    /// 进度通报, 建会补助 and the half-year cycle.
    pub reports: crate::reports::ReportSettings,
    /// Union posters (issue 16).
    pub poster: crate::posters::PosterSettings,
}

impl AppState {
    /// What the merchant till's requests work with.
    pub fn till(&self) -> Till<'_> {
        Till {
            db: &self.db,
            store: self.sessions.store().as_ref(),
            audit: &self.audit,
            vault: &self.vault,
            views: &self.card_views,
        }
    }
}
