//! Typed client for the WeChat server API (see `shared/WECHAT.md` for shapes and errcodes).
//!
//! The base URL is configurable: the real API, or the mock in `miniprogram-stub`.
//! Neither the app secret nor any `session_key` is ever logged: requests carrying the secret are
//! not instrumented with their URL, and transport errors are stripped of it.

use huigong_core::Secret;
use serde::Deserialize;
use std::time::Duration;

/// The real WeChat API host.
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";

/// How to reach WeChat and as which mini program.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    pub base_url: String,
    pub appid: String,
    pub secret: Secret,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
}

/// What `jscode2session` tells us about the user behind a login code.
#[derive(Clone, Deserialize)]
pub struct CodeSession {
    pub openid: String,
    #[serde(default)]
    pub unionid: Option<String>,
    /// The user's session key: server-side only, never logged, never sent to the client.
    pub session_key: Secret,
}

impl std::fmt::Debug for CodeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeSession")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .field("session_key", &self.session_key)
            .finish()
    }
}

/// A failed WeChat call, typed by WeChat's errcode where it matters to the caller.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// 40029: the code is unknown or expired. The mini program must call `wx.login` again.
    #[error("wechat: invalid or expired login code (40029)")]
    InvalidCode,
    /// 40163: the code was already exchanged once.
    #[error("wechat: login code already used (40163)")]
    CodeUsed,
    /// 45011: WeChat's per-user or per-app rate limit.
    #[error("wechat: rate limited (45011)")]
    RateLimited,
    /// 40226: WeChat blocked a high-risk user.
    #[error("wechat: high-risk user blocked (40226)")]
    HighRiskUser,
    /// -1: WeChat was busy, also after one retry.
    #[error("wechat: system busy (-1)")]
    Busy,
    /// 40013 / 40125 / 40002: our own configuration is wrong (appid, secret, grant type).
    #[error("wechat: rejected our app credentials ({errcode})")]
    BadCredentials { errcode: i64 },
    /// Any other errcode.
    #[error("wechat: errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    /// WeChat could not be reached or did not answer in time.
    #[error("wechat: transport error: {0}")]
    Transport(String),
    /// WeChat answered something we could not read.
    #[error("wechat: unreadable answer: {0}")]
    Decode(String),
}

impl WechatError {
    fn from_errcode(errcode: i64, errmsg: String) -> Self {
        match errcode {
            40029 => Self::InvalidCode,
            40163 => Self::CodeUsed,
            45011 => Self::RateLimited,
            40226 => Self::HighRiskUser,
            -1 => Self::Busy,
            40013 | 40125 | 40002 => Self::BadCredentials { errcode },
            _ => Self::Api { errcode, errmsg },
        }
    }

    fn transport(err: reqwest::Error) -> Self {
        // reqwest's message includes the URL, whose query carries the app secret: drop it, and
        // say what kind of failure it was (the message alone is only "error sending request").
        let kind = if err.is_timeout() {
            "timeout"
        } else if err.is_connect() {
            "connect"
        } else if err.is_decode() {
            "decode"
        } else {
            "request"
        };
        Self::Transport(format!("{kind}: {}", err.without_url()))
    }
}

/// The envelope of every WeChat answer: `errcode` absent or 0 means success.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// A client for one mini program. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    config: std::sync::Arc<WechatConfig>,
}

/// Makes sure rustls has its process-wide crypto provider (ring) before any client is built.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl WechatClient {
    pub fn new(config: WechatConfig) -> Result<Self, WechatError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("huigong/", env!("CARGO_PKG_VERSION")))
            // Requests carry the app secret in their query: never follow them elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(WechatError::transport)?;
        Ok(Self {
            http,
            config: std::sync::Arc::new(config),
        })
    }

    pub fn appid(&self) -> &str {
        &self.config.appid
    }

    /// Exchanges a `wx.login` code for the user's openid and session key.
    ///
    /// A busy answer (-1) is retried once: WeChat did not consume the code then. Every other
    /// error is final — a code is single-use, so retrying would only turn 40029 into 40163.
    pub async fn code2session(&self, code: &str) -> Result<CodeSession, WechatError> {
        match self.code2session_once(code).await {
            Err(WechatError::Busy) => {
                tracing::warn!("wechat jscode2session busy, retrying once");
                // 100–199 ms, so instances that met the same busy WeChat do not retry in step.
                let jitter = u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .subsec_nanos(),
                ) % 100;
                tokio::time::sleep(Duration::from_millis(100 + jitter)).await;
                self.code2session_once(code).await
            }
            other => other,
        }
    }

    async fn code2session_once(&self, code: &str) -> Result<CodeSession, WechatError> {
        let url = format!(
            "{}/sns/jscode2session",
            self.config.base_url.trim_end_matches('/')
        );
        let response = self
            .http
            .get(url)
            .query(&[
                ("appid", self.config.appid.as_str()),
                ("secret", self.config.secret.expose()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(WechatError::transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(WechatError::transport)?;
        if !status.is_success() {
            return Err(WechatError::Transport(format!("HTTP status {status}")));
        }
        let envelope: Envelope =
            serde_json::from_slice(&body).map_err(|e| WechatError::Decode(e.to_string()))?;
        if envelope.errcode != 0 {
            return Err(WechatError::from_errcode(envelope.errcode, envelope.errmsg));
        }
        // Decode errors from serde name positions and fields, never values.
        serde_json::from_slice(&body).map_err(|e| WechatError::Decode(e.to_string()))
    }
}
