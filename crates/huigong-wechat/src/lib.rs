//! Typed client for the WeChat server API (see `shared/WECHAT.md` for shapes and errcodes).
//!
//! The base URL is configurable: the real API, or the mock in `miniprogram-stub`.
//! Neither the app secret nor any `session_key` is ever logged: requests carrying the secret are
//! not instrumented with their URL, and transport errors are stripped of it.

use huigong_core::Secret;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod api;
mod token;

pub use api::{
    EnvVersion, MiniprogramState, PhoneInfo, SubscribeMessage, TemplateValue, fit_value,
    value_limit,
};
pub use token::{
    AccessTokens, CacheError, LocalTokenCache, StableToken, TokenCache, TokenTiming, cache_ttl,
};

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
    /// 40001 / 40014 / 42001: WeChat rejected the access token, also after one refresh.
    #[error("wechat: access token rejected ({errcode})")]
    AccessTokenRejected { errcode: i64 },
    /// 43101: the user refused the subscribe message or has no subscription left. Permanent.
    #[error("wechat: user refused the subscribe message (43101)")]
    UserRefused,
    /// 40169: WeChat refused the mini-program code's `scene` (empty, over 32 characters or
    /// with characters it does not take).
    #[error("wechat: invalid scene (40169)")]
    InvalidScene,
    /// 41030: the page does not exist in the mini program's released version (or is malformed).
    #[error("wechat: invalid page (41030)")]
    InvalidPage,
    /// 45009: the app's daily quota of this API is used up.
    #[error("wechat: daily quota reached (45009)")]
    QuotaExceeded,
    /// The shared cache of the access token could not be reached (nothing was fetched).
    #[error("wechat: access-token cache unavailable: {0}")]
    TokenCache(String),
    /// Another instance was refreshing the access token and did not finish in time.
    #[error("wechat: timed out waiting for the access-token refresh")]
    TokenBusy,
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
            40001 | 40014 | 42001 => Self::AccessTokenRejected { errcode },
            43101 => Self::UserRefused,
            40169 => Self::InvalidScene,
            41030 => Self::InvalidPage,
            45009 => Self::QuotaExceeded,
            _ => Self::Api { errcode, errmsg },
        }
    }

    /// WeChat's errcode behind this error; `None` when WeChat gave none (the call failed on the
    /// way, or on our side).
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::InvalidCode => Some(40029),
            Self::CodeUsed => Some(40163),
            Self::RateLimited => Some(45011),
            Self::HighRiskUser => Some(40226),
            Self::Busy => Some(-1),
            Self::BadCredentials { errcode }
            | Self::AccessTokenRejected { errcode }
            | Self::Api { errcode, .. } => Some(*errcode),
            Self::UserRefused => Some(43101),
            Self::QuotaExceeded => Some(45009),
            Self::InvalidScene => Some(40169),
            Self::InvalidPage => Some(41030),
            Self::TokenCache(_) | Self::TokenBusy | Self::Transport(_) | Self::Decode(_) => None,
        }
    }

    /// A short label of how a call failed: `errcode` (WeChat answered with one), `transport`,
    /// `decode`, `token_cache` or `token_busy`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Transport(_) => "transport",
            Self::Decode(_) => "decode",
            Self::TokenCache(_) => "token_cache",
            Self::TokenBusy => "token_busy",
            _ => "errcode",
        }
    }

    /// Whether trying again later may succeed: WeChat busy (-1), timeouts and other transport
    /// failures, rate limits and quotas, access-token trouble. Everything else — the user
    /// refused (43101), a bad openid, template, page or data, our credentials — fails the same
    /// way every time, so an outbox records it and stops.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Busy
            | Self::Transport(_)
            | Self::RateLimited
            | Self::QuotaExceeded
            | Self::AccessTokenRejected { .. }
            | Self::TokenCache(_)
            | Self::TokenBusy => true,
            Self::InvalidCode
            | Self::CodeUsed
            | Self::HighRiskUser
            | Self::BadCredentials { .. }
            | Self::UserRefused
            | Self::InvalidScene
            | Self::InvalidPage
            | Self::Decode(_)
            | Self::Api { .. } => false,
        }
    }

    /// The negation of [`WechatError::is_transient`].
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
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

/// A client for one mini program. Cheap to clone (the connection pool and the access-token
/// manager are shared).
#[derive(Debug, Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    config: Arc<WechatConfig>,
    tokens: Arc<AccessTokens>,
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
        let tokens = Arc::new(AccessTokens::new(
            Arc::new(LocalTokenCache::new()),
            &config.appid,
            TokenTiming::for_request_timeout(config.timeout),
        ));
        Ok(Self {
            http,
            config: Arc::new(config),
            tokens,
        })
    }

    /// Keeps the access token in `cache` (the session backend every instance shares) instead of
    /// this process's memory.
    pub fn with_token_cache(mut self, cache: Arc<dyn TokenCache>) -> Self {
        self.tokens = Arc::new(AccessTokens::new(
            cache,
            &self.config.appid,
            TokenTiming::for_request_timeout(self.config.timeout),
        ));
        self
    }

    /// As [`WechatClient::with_token_cache`], with explicit timing (tests).
    pub fn with_token_cache_timing(
        mut self,
        cache: Arc<dyn TokenCache>,
        timing: TokenTiming,
    ) -> Self {
        self.tokens = Arc::new(AccessTokens::new(cache, &self.config.appid, timing));
        self
    }

    /// The access-token manager.
    pub fn access_tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// The current access token (cached, or fetched by one instance).
    pub async fn access_token(&self) -> Result<Secret, WechatError> {
        self.tokens.current(self).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    /// `POST /cgi-bin/stable_token`. Normal mode (`force_refresh: false`) returns the token in
    /// force with its remaining lifetime; callers should go through [`WechatClient::access_token`].
    pub async fn stable_token(&self, force_refresh: bool) -> Result<StableToken, WechatError> {
        #[derive(Serialize)]
        struct Request<'a> {
            grant_type: &'a str,
            appid: &'a str,
            secret: &'a str,
            force_refresh: bool,
        }
        const API: &str = "/cgi-bin/stable_token";
        let started = Instant::now();
        let answer = async {
            let response = self
                .http
                .post(self.url(API))
                .json(&Request {
                    grant_type: "client_credential",
                    appid: &self.config.appid,
                    secret: self.config.secret.expose(),
                    force_refresh,
                })
                .send()
                .await
                .map_err(WechatError::transport)?;
            read_answer(response).await
        }
        .await;
        record_call(API, started, &answer);
        answer
    }

    /// POSTs `body` as JSON to `path?access_token=…`. A rejected token (40001/40014/42001) is
    /// dropped from the cache if it is still the cached one, refilled once, and the call retried
    /// once.
    async fn post_with_token<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, WechatError> {
        let token = self.access_token().await?;
        match self.post_once(path, &token, body).await {
            Err(WechatError::AccessTokenRejected { errcode }) => {
                let dropped = self.tokens.invalidate(&token).await?;
                tracing::warn!(
                    errcode,
                    dropped,
                    path,
                    "wechat rejected the access token, retrying once"
                );
                let fresh = self.access_token().await?;
                self.post_once(path, &fresh, body).await
            }
            other => other,
        }
    }

    /// As [`WechatClient::post_with_token`], for calls that answer an image on success: the
    /// image's bytes, told from a JSON error by the answer's `Content-Type`.
    async fn post_for_image_with_token(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Vec<u8>, WechatError> {
        let token = self.access_token().await?;
        match self.post_for_image_once(path, &token, body).await {
            Err(WechatError::AccessTokenRejected { errcode }) => {
                let dropped = self.tokens.invalidate(&token).await?;
                tracing::warn!(
                    errcode,
                    dropped,
                    path,
                    "wechat rejected the access token, retrying once"
                );
                let fresh = self.access_token().await?;
                self.post_for_image_once(path, &fresh, body).await
            }
            other => other,
        }
    }

    async fn post_for_image_once(
        &self,
        path: &str,
        token: &Secret,
        body: &impl Serialize,
    ) -> Result<Vec<u8>, WechatError> {
        let response = self
            .http
            .post(self.url(path))
            .query(&[("access_token", token.expose())])
            .json(body)
            .send()
            .await
            .map_err(WechatError::transport)?;
        let is_image = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("image/"));
        if is_image && response.status().is_success() {
            let bytes = response.bytes().await.map_err(WechatError::transport)?;
            return Ok(bytes.to_vec());
        }
        // JSON: an error (or, unexpectedly, a success without an image).
        read_answer::<serde_json::Value>(response).await?;
        Err(WechatError::Decode("no image in the answer".to_owned()))
    }

    async fn post_once<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &Secret,
        body: &impl Serialize,
    ) -> Result<T, WechatError> {
        let started = Instant::now();
        let answer = async {
            let response = self
                .http
                .post(self.url(path))
                .query(&[("access_token", token.expose())])
                .json(body)
                .send()
                .await
                .map_err(WechatError::transport)?;
            read_answer(response).await
        }
        .await;
        record_call(path, started, &answer);
        answer
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
        const API: &str = "/sns/jscode2session";
        let started = Instant::now();
        let answer = async {
            let response = self
                .http
                .get(self.url(API))
                .query(&[
                    ("appid", self.config.appid.as_str()),
                    ("secret", self.config.secret.expose()),
                    ("js_code", code),
                    ("grant_type", "authorization_code"),
                ])
                .send()
                .await
                .map_err(WechatError::transport)?;
            read_answer(response).await
        }
        .await;
        record_call(API, started, &answer);
        answer
    }
}

/// Counts one call to WeChat's `api` (a fixed path, never a query string) for the metrics
/// endpoint: `huigong_wechat_calls_total{api, outcome, errcode}` and its duration.
fn record_call<T>(api: &str, started: Instant, answer: &Result<T, WechatError>) {
    let (outcome, errcode) = match answer {
        Ok(_) => ("ok", "0".to_owned()),
        Err(e) => (
            e.outcome(),
            e.errcode().map(|c| c.to_string()).unwrap_or_default(),
        ),
    };
    metrics::counter!(
        "huigong_wechat_calls_total",
        "api" => api.to_owned(),
        "outcome" => outcome,
        "errcode" => errcode,
    )
    .increment(1);
    metrics::histogram!("huigong_wechat_call_duration_seconds", "api" => api.to_owned())
        .record(started.elapsed().as_secs_f64());
}

/// Reads a WeChat answer: HTTP errors are transport errors, a non-zero errcode is typed, the
/// rest is decoded as `T`. Decode errors from serde name positions and fields, never values.
async fn read_answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, WechatError> {
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
    serde_json::from_slice(&body).map_err(|e| WechatError::Decode(e.to_string()))
}
