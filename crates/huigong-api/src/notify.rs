//! Delivery of the outbox's messages as WeChat subscribe messages.
//!
//! Every instance runs one deliverer ([`run`]). It claims due messages with a lease (so two
//! instances never hold the same one), sends each, and marks it sent, to be retried with
//! backoff after a transient failure, or failed for good after a permanent one. On WeChat one
//! acceptance of `wx.requestSubscribeMessage` allows one send: without one left WeChat answers
//! 43101, and the message is recorded `refused` (undeliverable, not an error) and never tried
//! again. Template values are fitted to WeChat's limits per type ([`huigong_wechat::fit_value`]:
//! `thing` 20 characters, `phrase` 5 …), cut at character boundaries, never empty.
//! A WeChat failure never undoes the change the message announces:
//! that was committed before the message could be claimed. Handlers call
//! [`Notifier::wake`] after committing, so a message normally leaves at once; otherwise the
//! deliverer looks every `poll` interval.

use crate::state::AppState;
use chrono::{DateTime, Utc};
use huigong_store::applications::REVIEWED_KIND;
use huigong_store::outbox::{self, Message};
use huigong_store::{StoreError, users};
use huigong_wechat::{SubscribeMessage, WechatError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Where subscribe messages go and what they look like.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// The template of the 审核结果 message (fields `thing1` 申请事项, `phrase2` 审核结果,
    /// `thing3` 备注). Messages are not sent while it is empty.
    pub review_template_id: String,
    /// The mini-program page a message opens.
    pub review_page: String,
    /// How often the deliverer looks for due messages when nobody wakes it.
    pub poll: Duration,
    /// How long a claimed message is held before another instance may try it.
    pub lease: Duration,
    /// The wait before the first retry; it doubles with each failure, up to an hour.
    pub retry_base: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            review_template_id: String::new(),
            review_page: "pages/applications/index".to_owned(),
            poll: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(10),
        }
    }
}

/// Wakes the deliverer; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    wake: Arc<Notify>,
}

impl Notifier {
    /// Asks the deliverer to look for due messages now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn wait(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.wake.notified()).await;
    }
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
    /// The recipient had no subscription left (43101): recorded, not retried.
    pub refused: u32,
}

/// Backoff before attempt `attempts + 1`: `base`, twice that, four times … at most an hour.
fn backoff(base: Duration, attempts: i32) -> chrono::Duration {
    let exp = u32::try_from(attempts.clamp(0, 16)).unwrap_or(0);
    let wait = base.saturating_mul(1 << exp).min(Duration::from_secs(3600));
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(3600))
}

enum Failure {
    Transient(String),
    Permanent(String),
    /// 43101: the user has not accepted (or has used up) the subscription.
    Refused,
}

fn classify(e: &WechatError) -> Failure {
    if matches!(e, WechatError::UserRefused) {
        Failure::Refused
    } else if e.is_permanent() {
        Failure::Permanent(e.to_string())
    } else {
        Failure::Transient(e.to_string())
    }
}

async fn message_for(state: &AppState, m: &Message) -> Result<SubscribeMessage, Failure> {
    let settings = &state.notify;
    if m.kind != REVIEWED_KIND {
        return Err(Failure::Permanent(format!("unknown kind {}", m.kind)));
    }
    if settings.review_template_id.is_empty() {
        return Err(Failure::Permanent(
            "notify.review_template_id is not configured".to_owned(),
        ));
    }
    let payload: serde_json::Value = serde_json::from_str(&m.payload)
        .map_err(|_| Failure::Permanent("unreadable payload".to_owned()))?;
    let user = users::find(&state.db, m.user_id)
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
    let Some(openid) = user.and_then(|u| u.wechat_openid) else {
        return Err(Failure::Permanent("recipient has no openid".to_owned()));
    };
    let union = payload["union_name"].as_str().unwrap_or_default();
    let approved = payload["status"] == "approved";
    let note = match payload["reason"].as_str() {
        Some(reason) if !approved => reason.to_owned(),
        _ => "请在惠工卡中激活会员卡".to_owned(),
    };
    let mut message = SubscribeMessage::new(openid, settings.review_template_id.clone())
        .fitted("thing1", &format!("申请加入{union}"))
        .fitted("phrase2", if approved { "已通过" } else { "未通过" })
        .fitted("thing3", &note);
    message.page = Some(format!(
        "{}?id={}",
        settings.review_page,
        payload["application_id"].as_str().unwrap_or_default()
    ));
    Ok(message)
}

/// Claims and delivers the due messages once.
pub async fn deliver_due(state: &AppState) -> Result<Round, StoreError> {
    let mut round = Round::default();
    let now: DateTime<Utc> = state.clock.now();
    // The outbox writes are autocommit statements: on SQLite each takes a turn at the write
    // gate (never held across the delivery itself).
    let claimed = {
        let _turn = state.db.write_turn().await?;
        outbox::claim_due(&state.db.conn, now, state.notify.lease, 20).await?
    };
    for m in claimed {
        let sent = match message_for(state, &m).await {
            Ok(message) => state
                .wechat
                .send_subscribe_message(&message)
                .await
                .map_err(|e| classify(&e)),
            Err(f) => Err(f),
        };
        match sent {
            Ok(_) => {
                let _turn = state.db.write_turn().await?;
                outbox::mark_sent(&state.db.conn, m.id, state.clock.now()).await?;
                round.sent += 1;
                crate::metrics::outbox_delivery("sent");
            }
            Err(Failure::Transient(why)) => {
                let at = state.clock.now() + backoff(state.notify.retry_base, m.attempts);
                tracing::warn!(message = %m.id, attempt = m.attempts + 1, error = %why, "notification delivery failed; will retry");
                let _turn = state.db.write_turn().await?;
                outbox::mark_failed(&state.db.conn, &m, &why, Some(at)).await?;
                round.retried += 1;
                crate::metrics::outbox_delivery("retried");
            }
            Err(Failure::Refused) => {
                // The user's choice, not a fault: no warning, no retry.
                tracing::info!(message = %m.id, "notification not allowed by the recipient (43101)");
                let _turn = state.db.write_turn().await?;
                outbox::mark_refused(&state.db.conn, &m).await?;
                round.refused += 1;
                crate::metrics::outbox_delivery("refused");
            }
            Err(Failure::Permanent(why)) => {
                tracing::warn!(message = %m.id, error = %why, "notification given up");
                let _turn = state.db.write_turn().await?;
                outbox::mark_failed(&state.db.conn, &m, &why, None).await?;
                round.failed += 1;
                crate::metrics::outbox_delivery("failed");
            }
        }
    }
    Ok(round)
}

/// Delivers messages until the process ends.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = deliver_due(&state).await {
            tracing::warn!(error = %e, "outbox delivery round failed");
            crate::metrics::outbox_delivery("round_failed");
        }
        state.notifier.wait(state.notify.poll).await;
    }
}
