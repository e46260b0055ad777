//! A mock of the WeChat server API that behaves like WeChat where our code can tell.
//!
//! * `GET /sns/jscode2session` with WeChat's query parameters and JSON answers: it checks
//!   `appid`, `secret` and `grant_type`; login codes are single-use (40163 on reuse) and expire
//!   after five minutes (40029, as WeChat answers for an expired code); each openid is limited to
//!   100 calls a minute (45011). Answers are HTTP 200 with `errcode`/`errmsg`, like WeChat's.
//! * `POST /wx/login` stands in for the phone's `wx.login()`: `{"openid"?: "..."}` → `{"code"}`.
//!   Without an openid the code belongs to a stable test worker derived from the appid.
//! * `/mock/...` control endpoints for tests: move the mock's clock, force the next answers of
//!   an API to carry a given errcode, read call counters, issue many codes at once for load tests.
//!
//! [`configure`] mounts the routes into any actix-web scope (the Huigong service mounts them under
//! `/wechat-mock` in mock mode); [`MockServer::start`] runs them on their own port.

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a `wx.login` code stays valid, as WeChat documents.
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// WeChat's limit on jscode2session per user per minute.
pub const CALLS_PER_USER_PER_MINUTE: u32 = 100;

/// The app credentials the mock accepts.
#[derive(Clone)]
pub struct MockConfig {
    pub appid: String,
    pub secret: String,
}

impl std::fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockConfig")
            .field("appid", &self.appid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Debug)]
struct IssuedCode {
    openid: String,
    issued_at: Duration,
    used: bool,
}

#[derive(Debug, Default)]
struct Inner {
    codes: HashMap<String, IssuedCode>,
    /// Seconds added to the real clock by `/mock/clock/advance`.
    clock_offset: Duration,
    /// Errcodes to answer instead of doing the work, per API name, in order.
    forced: HashMap<String, VecDeque<i64>>,
    /// Per openid: (window start in seconds, calls in it).
    per_user_window: HashMap<String, (u64, u32)>,
    calls: HashMap<String, u64>,
    /// The session keys handed out (the most recent ones), so tests can prove none of them
    /// reaches a log.
    session_keys: VecDeque<String>,
    issued: u64,
}

/// How many codes are issued between sweeps of the expired ones.
const SWEEP_EVERY: u64 = 4096;
/// How many session keys the mock remembers for tests.
const KEEP_SESSION_KEYS: usize = 10_000;
/// Most codes one `/mock/codes` call may issue.
const MAX_BULK_CODES: usize = 200_000;

/// The mock's state, shared by its handlers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MockWechat {
    config: Arc<MockConfig>,
    inner: Arc<Mutex<Inner>>,
}

impl MockWechat {
    pub fn new(config: MockConfig) -> Self {
        Self {
            config: Arc::new(config),
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(inner: &Inner) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + inner.clock_offset
    }

    /// The openid of the default test worker: stable for a given appid, like WeChat's.
    pub fn default_openid(&self) -> String {
        derive_id("o", &self.config.appid, "default-test-worker")
    }

    /// The unionid WeChat would report for an openid of this app.
    pub fn unionid_for(&self, openid: &str) -> String {
        derive_id("u", "huigong-open-platform", openid)
    }

    /// Issues a fresh single-use login code for `openid` (the default test worker if `None`).
    pub fn issue_code(&self, openid: Option<&str>) -> String {
        let openid = openid
            .map(str::to_owned)
            .unwrap_or_else(|| self.default_openid());
        let code = random_token(24);
        let mut inner = self.lock();
        let issued_at = Self::now(&inner);
        inner.issued += 1;
        if inner.issued.is_multiple_of(SWEEP_EVERY) {
            // Forget codes that can no longer be used, so a long-running mock does not grow.
            inner
                .codes
                .retain(|_, c| issued_at.saturating_sub(c.issued_at) <= CODE_TTL * 2);
        }
        inner.codes.insert(
            code.clone(),
            IssuedCode {
                openid,
                issued_at,
                used: false,
            },
        );
        code
    }

    /// Issues `count` codes spread over `users` openids (`{prefix}{n}`), for load tests.
    pub fn issue_codes(&self, count: usize, users: usize, prefix: &str) -> Vec<String> {
        let users = users.max(1);
        (0..count)
            .map(|i| self.issue_code(Some(&format!("{prefix}{:07}", i % users))))
            .collect()
    }

    /// Moves the mock's clock forward.
    pub fn advance_clock(&self, by: Duration) {
        let mut inner = self.lock();
        inner.clock_offset = inner.clock_offset.saturating_add(by);
    }

    /// The next `times` calls to `api` (for example `"jscode2session"`) answer `errcode`.
    pub fn force_error(&self, api: &str, errcode: i64, times: u32) {
        let mut inner = self.lock();
        let queue = inner.forced.entry(api.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(errcode, times as usize));
    }

    /// How many times `api` was called.
    pub fn calls(&self, api: &str) -> u64 {
        self.lock().calls.get(api).copied().unwrap_or(0)
    }

    /// Every session_key the mock has handed out.
    pub fn issued_session_keys(&self) -> Vec<String> {
        self.lock().session_keys.iter().cloned().collect()
    }

    /// The app secret the mock checks (tests use it to prove the secret never reaches a log).
    pub fn secret(&self) -> &str {
        &self.config.secret
    }

    fn code2session(&self, q: &Code2SessionQuery) -> serde_json::Value {
        let mut inner = self.lock();
        *inner.calls.entry("jscode2session".to_owned()).or_default() += 1;
        if let Some(errcode) = inner
            .forced
            .get_mut("jscode2session")
            .and_then(VecDeque::pop_front)
        {
            return error(errcode);
        }
        if q.appid.as_deref() != Some(self.config.appid.as_str()) {
            return error(40013);
        }
        if q.secret.as_deref() != Some(self.config.secret.as_str()) {
            return error(40125);
        }
        if q.grant_type.as_deref() != Some("authorization_code") {
            return error(40002);
        }
        let Some(code) = q.js_code.as_deref().filter(|c| !c.is_empty()) else {
            return error(41008);
        };
        let now = Self::now(&inner);
        let openid = match inner.codes.get_mut(code) {
            None => return error(40029),
            Some(c) if now.saturating_sub(c.issued_at) > CODE_TTL => return error(40029),
            Some(c) if c.used => return error(40163),
            Some(c) => {
                c.used = true;
                c.openid.clone()
            }
        };
        // A one-minute window that opens with the user's first call.
        let now_secs = now.as_secs();
        let window = inner
            .per_user_window
            .entry(openid.clone())
            .or_insert((now_secs, 0));
        if now_secs.saturating_sub(window.0) >= 60 {
            *window = (now_secs, 0);
        }
        window.1 += 1;
        if window.1 > CALLS_PER_USER_PER_MINUTE {
            return error(45011);
        }
        let session_key =
            base64::engine::general_purpose::STANDARD.encode(rand::rng().random::<[u8; 16]>());
        if inner.session_keys.len() == KEEP_SESSION_KEYS {
            inner.session_keys.pop_front();
        }
        inner.session_keys.push_back(session_key.clone());
        json!({
            "openid": openid,
            "session_key": session_key,
            "unionid": self.unionid_for(&openid),
        })
    }
}

fn derive_id(prefix: &str, scope: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{scope}\n{name}").as_bytes());
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    // WeChat openids are 28 characters long.
    format!("{prefix}{}", &body[..27])
}

fn random_token(len: usize) -> String {
    let bytes: Vec<u8> = (0..len).map(|_| rand::rng().random()).collect();
    let mut s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    s.truncate(len);
    s
}

/// WeChat's errmsg for the errcodes the mock produces.
pub fn errmsg(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system error",
        40002 => "invalid grant_type",
        40013 => "invalid appid",
        40029 => "invalid code",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40226 => "high risk user",
        41008 => "missing code",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        _ => "mock forced error",
    }
}

fn error(errcode: i64) -> serde_json::Value {
    json!({ "errcode": errcode, "errmsg": errmsg(errcode) })
}

#[derive(Debug, Deserialize)]
struct Code2SessionQuery {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WxLoginBody {
    openid: Option<String>,
}

#[derive(Debug, Serialize)]
struct WxLoginAnswer {
    code: String,
}

#[derive(Debug, Deserialize)]
struct AdvanceBody {
    seconds: u64,
}

#[derive(Debug, Deserialize)]
struct ForceBody {
    api: String,
    errcode: i64,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
struct BulkCodesBody {
    count: usize,
    #[serde(default = "one_user")]
    users: usize,
    #[serde(default = "bulk_prefix")]
    openid_prefix: String,
}

fn one_user() -> usize {
    1
}

fn bulk_prefix() -> String {
    "o_load_".to_owned()
}

async fn jscode2session(
    mock: web::Data<MockWechat>,
    q: web::Query<Code2SessionQuery>,
) -> HttpResponse {
    HttpResponse::Ok().json(mock.code2session(&q))
}

async fn wx_login(
    mock: web::Data<MockWechat>,
    body: Option<web::Json<WxLoginBody>>,
) -> HttpResponse {
    let openid = body
        .and_then(|b| b.into_inner().openid)
        .filter(|o| !o.is_empty());
    HttpResponse::Ok().json(WxLoginAnswer {
        code: mock.issue_code(openid.as_deref()),
    })
}

async fn advance_clock(mock: web::Data<MockWechat>, body: web::Json<AdvanceBody>) -> HttpResponse {
    mock.advance_clock(Duration::from_secs(body.seconds));
    HttpResponse::NoContent().finish()
}

async fn force_error(mock: web::Data<MockWechat>, body: web::Json<ForceBody>) -> HttpResponse {
    mock.force_error(&body.api, body.errcode, body.times);
    HttpResponse::NoContent().finish()
}

/// Many codes at once, one per line (text/plain), for load tests such as `tests/bench.sh`.
async fn bulk_codes(mock: web::Data<MockWechat>, body: web::Json<BulkCodesBody>) -> HttpResponse {
    if body.count > MAX_BULK_CODES {
        return HttpResponse::BadRequest()
            .json(json!({ "errcode": 40097, "errmsg": "count too large" }));
    }
    let codes = mock.issue_codes(body.count, body.users, &body.openid_prefix);
    let mut text = codes.join("\n");
    text.push('\n');
    HttpResponse::Ok().content_type("text/plain").body(text)
}

async fn stats(mock: web::Data<MockWechat>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "jscode2session": mock.calls("jscode2session") }))
}

/// Registers the mock's routes (WeChat's own paths, `/wx/login` and `/mock/...`).
pub fn configure(mock: MockWechat) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(mock))
            .route("/sns/jscode2session", web::get().to(jscode2session))
            .route("/wx/login", web::post().to(wx_login))
            .route("/mock/clock/advance", web::post().to(advance_clock))
            .route("/mock/errors", web::post().to(force_error))
            .route("/mock/codes", web::post().to(bulk_codes))
            .route("/mock/stats", web::get().to(stats));
    }
}

/// The mock running on its own port, for client tests and the standalone binary.
pub struct MockServer {
    pub base_url: String,
    pub mock: MockWechat,
    handle: actix_web::dev::ServerHandle,
}

impl MockServer {
    /// Binds `addr` (use port 0 for a free one) and serves the mock on the current Tokio runtime.
    pub fn start(config: MockConfig, addr: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let mock = MockWechat::new(config);
        let for_app = mock.clone();
        let server = HttpServer::new(move || App::new().configure(configure(for_app.clone())))
            .workers(1)
            .listen(listener)?
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            base_url: format!("http://{local}"),
            mock,
            handle,
        })
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
