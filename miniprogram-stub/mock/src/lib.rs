//! A mock of the WeChat server API that behaves like WeChat where our code can tell.
//!
//! * `GET /sns/jscode2session` with WeChat's query parameters and JSON answers: it checks
//!   `appid`, `secret` and `grant_type`; login codes are single-use (40163 on reuse) and expire
//!   after five minutes (40029, as WeChat answers for an expired code); each openid is limited to
//!   100 calls a minute (45011). Answers are HTTP 200 with `errcode`/`errmsg`, like WeChat's.
//! * `POST /wx/login` stands in for the phone's `wx.login()`: `{"openid"?: "..."}` → `{"code"}`.
//!   Without an openid the code belongs to a stable test worker derived from the appid.
//! * `POST /cgi-bin/stable_token` (`{grant_type, appid, secret, force_refresh?}`): tokens live
//!   7200 s. Normal mode returns the token in force with its remaining lifetime; in its last
//!   five minutes a new token is issued and the old one keeps working until it expires (WeChat's
//!   overlap). `force_refresh: true` issues a new token and ends the old one at once, at most
//!   once per 30 s (sooner calls get the current token) and 20 times a day (then 45009).
//! * `POST /wxa/business/getuserphonenumber?access_token=…` (`{code, openid?}`): phone codes
//!   come from `POST /wx/phone` (standing in for the `getPhoneNumber` button), belong to the
//!   openid that asked for them, work once, expire after five minutes (40029 for unknown, used
//!   or expired codes, and for a code presented with another user's openid — that attempt does
//!   not use the code up).
//! * `POST /cgi-bin/message/subscribe/send?access_token=…`: checks the message's shape (40003
//!   no openid, 40037 no template, 47003 bad data: a field whose value is empty or breaks its
//!   type's rule — `thing` ≤ 20 characters, `phrase` ≤ 5 Chinese characters, `name` ≤ 10
//!   Chinese or ≤ 20 letters, `number`/`letter`/`character_string` ≤ 32 of their kind, `symbol`
//!   ≤ 5, `phone_number` ≤ 17, `car_number` ≤ 8, `amount`, `time`/`date` in WeChat's formats).
//!   Like WeChat, one acceptance of `wx.requestSubscribeMessage` allows one send:
//!   `POST /mock/subscribe/accept {"openid", "template_id", "times"?}` stands in for the user's
//!   acceptance (`times` acceptances at once, default 1), and a send without a grant left
//!   answers 43101. What was delivered is readable at `GET /mock/subscribe/messages`.
//! * `POST /wxa/getwxacodeunlimit?access_token=…` (`{scene, page?, check_path?, env_version?,
//!   width?}`): answers `image/png` — a QR code (not WeChat's round 小程序码, but a real image
//!   a scanner decodes) of `{page}?scene={scene}`, about `width` pixels wide (280–1280, default
//!   430) — or JSON `{errcode, errmsg}` like WeChat: 40169 for a scene that is empty, over 32
//!   characters or holds characters WeChat refuses, 41030 for a page that is not a page of the
//!   mini program (a leading `/`, or not `pages/…`), 40097 for an unknown `env_version`, and the
//!   access-token errcodes. `GET /mock/stats` counts the calls (`getwxacodeunlimit`).
//! * `code2session` reports a `unionid` only while the mini program is bound to an
//!   open-platform account: on by default, switched with [`MockWechat::set_unionid`],
//!   `POST /mock/unionid {"enabled": false}` or the binary's `--no-unionid`.
//! * Calls with an access token answer 41001 without one, 40001 for an unknown or invalidated
//!   token, 42001 for an expired one. `POST /mock/access_token/invalidate` invalidates every
//!   token (as another party's forced refresh would), so the next normal-mode `stable_token`
//!   issues a new one.
//! * `/mock/...` control endpoints for tests: move the mock's clock, force the next answers of
//!   an API to carry a given errcode (`POST /mock/errors {"api", "errcode", "times"}` with `api`
//!   one of `jscode2session`, `stable_token`, `getuserphonenumber`, `subscribe_send`,
//!   `getwxacodeunlimit`), read call
//!   counters and the number of access tokens issued (`GET /mock/stats`), issue many codes at
//!   once for load tests. `POST /mock/delay {"api", "ms", "times"}` makes the next `times` calls
//!   of an API wait `ms` milliseconds before they are answered (a WeChat that times out: the
//!   caller gives up first), for the fault tests (`tests/faults.sh`).
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

pub mod template;

/// How long a `wx.login` code stays valid, as WeChat documents.
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// WeChat's limit on jscode2session per user per minute.
pub const CALLS_PER_USER_PER_MINUTE: u32 = 100;
/// How long an access token lives.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(7200);
/// In its last five minutes normal-mode `stable_token` hands out the next token.
pub const ACCESS_TOKEN_OVERLAP: Duration = Duration::from_secs(300);
/// Forced refreshes closer together than this return the current token.
pub const FORCE_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Forced refreshes allowed per day.
pub const FORCE_REFRESHES_PER_DAY: usize = 20;
/// How many subscribe messages the mock remembers.
const KEEP_MESSAGES: usize = 10_000;

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

#[derive(Debug)]
struct PhoneCode {
    /// The user who pressed the button: the code works for this openid only.
    openid: String,
    phone: String,
    country_code: String,
    issued_at: Duration,
    used: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Access tokens that work, with their expiry.
    tokens: HashMap<String, Duration>,
    /// The token normal-mode `stable_token` hands out.
    current_token: Option<String>,
    tokens_issued: u64,
    /// When forced refreshes happened (the last day's).
    force_refreshes: VecDeque<Duration>,
    phone_codes: HashMap<String, PhoneCode>,
    /// Subscribe messages delivered, oldest first.
    messages: VecDeque<serde_json::Value>,
    /// Sends left per (openid, template_id): one per acceptance of `wx.requestSubscribeMessage`.
    grants: HashMap<(String, String), u32>,
    /// Whether code2session reports a unionid (the mini program is bound to an open-platform
    /// account). Stored inverted so that `Default` means bound.
    unionid_off: bool,
    msgids: u64,
    codes: HashMap<String, IssuedCode>,
    /// Seconds added to the real clock by `/mock/clock/advance`.
    clock_offset: Duration,
    /// Errcodes to answer instead of doing the work, per API name, in order.
    forced: HashMap<String, VecDeque<i64>>,
    /// Delays before answering, per API name, in order.
    delays: HashMap<String, VecDeque<Duration>>,
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

    /// The next `times` calls to `api` wait `by` before they are answered.
    pub fn force_delay(&self, api: &str, by: Duration, times: u32) {
        let mut inner = self.lock();
        let queue = inner.delays.entry(api.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(by, times as usize));
    }

    /// Waits out the next forced delay of `api`, if any.
    async fn delayed(&self, api: &str) {
        let delay = self
            .lock()
            .delays
            .get_mut(api)
            .and_then(VecDeque::pop_front);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
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

    /// How many access tokens `stable_token` has issued (a repeat of a token in force does not
    /// count).
    pub fn access_tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }

    /// Ends every access token at once, as another party's forced refresh would: calls with them
    /// answer 40001 and the next normal-mode `stable_token` issues a new one.
    pub fn invalidate_access_tokens(&self) {
        let mut inner = self.lock();
        inner.tokens.clear();
        inner.current_token = None;
    }

    /// Whether `token` is an access token that works now.
    pub fn access_token_valid(&self, token: &str) -> bool {
        let inner = self.lock();
        let now = Self::now(&inner);
        inner.tokens.get(token).is_some_and(|exp| *exp > now)
    }

    /// The phone number the mock reports for an openid when the test did not choose one.
    pub fn default_phone_for(&self, openid: &str) -> String {
        let digest = Sha256::digest(format!("phone\n{openid}").as_bytes());
        let n = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]) % 100_000_000;
        format!("139{n:08}")
    }

    /// Issues a single-use phone-number code for `openid` (the default test worker if `None`)
    /// reporting `phone` (derived from the openid if `None`), as the `getPhoneNumber` button does.
    pub fn issue_phone_code(&self, openid: Option<&str>, phone: Option<&str>) -> String {
        let openid = openid
            .map(str::to_owned)
            .unwrap_or_else(|| self.default_openid());
        let phone = phone
            .map(str::to_owned)
            .unwrap_or_else(|| self.default_phone_for(&openid));
        let code = random_token(32);
        let mut inner = self.lock();
        let issued_at = Self::now(&inner);
        inner
            .phone_codes
            .retain(|_, c| issued_at.saturating_sub(c.issued_at) <= CODE_TTL * 2);
        inner.phone_codes.insert(
            code.clone(),
            PhoneCode {
                openid,
                phone,
                country_code: "86".to_owned(),
                issued_at,
                used: false,
            },
        );
        code
    }

    /// The user accepts `times` subscriptions to `template_id` (as tapping "allow" in
    /// `wx.requestSubscribeMessage` does, once per acceptance): each allows one send.
    pub fn accept_subscription(&self, openid: &str, template_id: &str, times: u32) {
        let mut inner = self.lock();
        let left = inner
            .grants
            .entry((openid.to_owned(), template_id.to_owned()))
            .or_default();
        *left = left.saturating_add(times);
    }

    /// Sends `openid` still allows for `template_id`.
    pub fn subscription_grants(&self, openid: &str, template_id: &str) -> u32 {
        self.lock()
            .grants
            .get(&(openid.to_owned(), template_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Whether code2session reports a unionid: the mini program bound to an open-platform
    /// account (`true`, the default) or not.
    pub fn set_unionid(&self, enabled: bool) {
        self.lock().unionid_off = !enabled;
    }

    /// As [`MockWechat::set_unionid`], for building.
    pub fn with_unionid(self, enabled: bool) -> Self {
        self.set_unionid(enabled);
        self
    }

    /// Whether code2session reports a unionid now.
    pub fn unionid_enabled(&self) -> bool {
        !self.lock().unionid_off
    }

    /// The subscribe messages delivered so far, oldest first, as received (plus `msgid`).
    pub fn subscribe_messages(&self) -> Vec<serde_json::Value> {
        self.lock().messages.iter().cloned().collect()
    }

    fn count_and_forced(inner: &mut Inner, api: &str) -> Option<i64> {
        *inner.calls.entry(api.to_owned()).or_default() += 1;
        inner.forced.get_mut(api).and_then(VecDeque::pop_front)
    }

    fn issue_access_token(inner: &mut Inner, now: Duration) -> String {
        let token = format!("mock_at_{}", random_token(40));
        inner.tokens.retain(|_, exp| *exp > now);
        inner.tokens.insert(token.clone(), now + ACCESS_TOKEN_TTL);
        inner.current_token = Some(token.clone());
        inner.tokens_issued += 1;
        token
    }

    fn stable_token(&self, body: &[u8]) -> serde_json::Value {
        let mut inner = self.lock();
        if let Some(errcode) = Self::count_and_forced(&mut inner, "stable_token") {
            return error(errcode);
        }
        let Ok(q) = serde_json::from_slice::<StableTokenBody>(body) else {
            return error(47001);
        };
        if q.grant_type.as_deref() != Some("client_credential") {
            return error(40002);
        }
        if q.appid.as_deref() != Some(self.config.appid.as_str()) {
            return error(40013);
        }
        if q.secret.as_deref() != Some(self.config.secret.as_str()) {
            return error(40125);
        }
        let now = Self::now(&inner);
        let current = inner
            .current_token
            .clone()
            .and_then(|t| inner.tokens.get(&t).map(|exp| (t, *exp)))
            .filter(|(_, exp)| *exp > now);
        let answer = |token: String, expires_at: Duration| {
            json!({
                "access_token": token,
                "expires_in": expires_at.saturating_sub(now).as_secs(),
            })
        };
        if q.force_refresh {
            inner
                .force_refreshes
                .retain(|t| now.saturating_sub(*t) < Duration::from_secs(86_400));
            let recent = inner
                .force_refreshes
                .back()
                .is_some_and(|t| now.saturating_sub(*t) < FORCE_REFRESH_INTERVAL);
            if let (true, Some((token, exp))) = (recent, current.clone()) {
                return answer(token, exp);
            }
            if inner.force_refreshes.len() >= FORCE_REFRESHES_PER_DAY {
                return error(45009);
            }
            inner.force_refreshes.push_back(now);
            // A forced refresh ends the previous token at once.
            if let Some((old, _)) = current {
                inner.tokens.remove(&old);
            }
            let token = Self::issue_access_token(&mut inner, now);
            return answer(token, now + ACCESS_TOKEN_TTL);
        }
        match current {
            Some((token, exp)) if exp.saturating_sub(now) > ACCESS_TOKEN_OVERLAP => {
                answer(token, exp)
            }
            // In its last five minutes (or when there is none) a new token is issued; the old
            // one keeps working until its own expiry.
            _ => {
                let token = Self::issue_access_token(&mut inner, now);
                answer(token, now + ACCESS_TOKEN_TTL)
            }
        }
    }

    fn check_access_token(inner: &Inner, token: Option<&str>) -> Result<(), i64> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(41001);
        };
        let now = Self::now(inner);
        match inner.tokens.get(token) {
            None => Err(40001),
            Some(exp) if *exp <= now => Err(42001),
            Some(_) => Ok(()),
        }
    }

    fn user_phone_number(&self, token: Option<&str>, body: &[u8]) -> serde_json::Value {
        let mut inner = self.lock();
        if let Some(errcode) = Self::count_and_forced(&mut inner, "getuserphonenumber") {
            return error(errcode);
        }
        if let Err(errcode) = Self::check_access_token(&inner, token) {
            return error(errcode);
        }
        let Ok(q) = serde_json::from_slice::<PhoneBody>(body) else {
            return error(47001);
        };
        let Some(code) = q.code.filter(|c| !c.is_empty()) else {
            return error(41008);
        };
        let asker = q.openid.filter(|o| !o.is_empty());
        let now = Self::now(&inner);
        let appid = self.config.appid.clone();
        match inner.phone_codes.get_mut(&code) {
            // Another user's code: refused, and left for its owner.
            Some(c) if asker.as_ref().is_some_and(|o| *o != c.openid) => error(40029),
            Some(c) if !c.used && now.saturating_sub(c.issued_at) <= CODE_TTL => {
                c.used = true;
                let phone_number = if c.country_code == "86" {
                    c.phone.clone()
                } else {
                    format!("+{}{}", c.country_code, c.phone)
                };
                json!({
                    "errcode": 0,
                    "errmsg": "ok",
                    "phone_info": {
                        "phoneNumber": phone_number,
                        "purePhoneNumber": c.phone,
                        "countryCode": c.country_code,
                        "watermark": { "timestamp": now.as_secs(), "appid": appid },
                    }
                })
            }
            // Unknown, used or expired: WeChat answers 40029 for all three.
            _ => error(40029),
        }
    }

    fn subscribe_send(&self, token: Option<&str>, body: &[u8]) -> serde_json::Value {
        let mut inner = self.lock();
        if let Some(errcode) = Self::count_and_forced(&mut inner, "subscribe_send") {
            return error(errcode);
        }
        if let Err(errcode) = Self::check_access_token(&inner, token) {
            return error(errcode);
        }
        let Ok(serde_json::Value::Object(mut message)) =
            serde_json::from_slice::<serde_json::Value>(body)
        else {
            return error(47001);
        };
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        if text(message.get("touser")).is_empty() {
            return error(40003);
        }
        if text(message.get("template_id")).is_empty() {
            return error(40037);
        }
        let Some(fields) = message
            .get("data")
            .and_then(serde_json::Value::as_object)
            .filter(|f| !f.is_empty())
        else {
            return error(47003);
        };
        for (key, field) in fields {
            let Some(value) = field.get("value").and_then(serde_json::Value::as_str) else {
                return error(47003);
            };
            if let Err(why) = template::check(key, value) {
                return json!({
                    "errcode": 47003,
                    "errmsg": format!("argument invalid! data.{key}.value {why}"),
                });
            }
        }
        if let Some(state) = message.get("miniprogram_state")
            && !matches!(state.as_str(), Some("developer" | "trial" | "formal"))
        {
            return error(47003);
        }
        // One acceptance, one send.
        let grant = (
            text(message.get("touser")),
            text(message.get("template_id")),
        );
        match inner.grants.get_mut(&grant) {
            Some(left) if *left > 0 => *left -= 1,
            _ => return error(43101),
        }
        inner.msgids += 1;
        let msgid = 1_000_000_000_u64 + inner.msgids;
        message.insert("msgid".to_owned(), json!(msgid));
        if inner.messages.len() == KEEP_MESSAGES {
            inner.messages.pop_front();
        }
        inner.messages.push_back(serde_json::Value::Object(message));
        json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid })
    }

    /// `getwxacodeunlimit`: the PNG on success, WeChat's JSON error otherwise.
    fn wxacode(&self, token: Option<&str>, body: &[u8]) -> Result<Vec<u8>, serde_json::Value> {
        {
            let mut inner = self.lock();
            if let Some(errcode) = Self::count_and_forced(&mut inner, "getwxacodeunlimit") {
                return Err(error(errcode));
            }
            Self::check_access_token(&inner, token).map_err(error)?;
        }
        let Ok(q) = serde_json::from_slice::<WxacodeBody>(body) else {
            return Err(error(47001));
        };
        let scene = q.scene.unwrap_or_default();
        if scene.is_empty() || scene.chars().count() > 32 || !scene.chars().all(scene_char) {
            return Err(error(40169));
        }
        let page = q.page.unwrap_or_default();
        if !page.is_empty()
            && (!page.starts_with("pages/")
                || !page
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-')))
        {
            return Err(error(41030));
        }
        if !matches!(
            q.env_version.as_deref(),
            None | Some("release" | "trial" | "develop")
        ) {
            return Err(error(40097));
        }
        let width = q.width.unwrap_or(430).clamp(280, 1280);
        let page = if page.is_empty() {
            "pages/index/index"
        } else {
            page.as_str()
        };
        qr_png(&format!("{page}?scene={scene}"), width).map_err(|_| error(-1))
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
        if inner.unionid_off {
            return json!({ "openid": openid, "session_key": session_key });
        }
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
        40001 => "invalid credential, access_token is invalid or not latest",
        40003 => "invalid openid",
        40014 => "invalid access_token",
        40037 => "invalid template_id",
        41001 => "access_token missing",
        41030 => "invalid page",
        40097 => "invalid args",
        40169 => "invalid length for scene, or the data is not json",
        41008 => "missing code",
        42001 => "access_token expired",
        43101 => "user refuse to accept the msg",
        45009 => "reach max api daily quota limit",
        47001 => "data format error",
        47003 => "argument invalid!",
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

#[derive(Debug, Deserialize)]
struct StableTokenBody {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

#[derive(Debug, Deserialize)]
struct PhoneBody {
    code: Option<String>,
    /// Optional at WeChat; when given, the code must be this user's.
    #[serde(default)]
    openid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WxacodeBody {
    scene: Option<String>,
    page: Option<String>,
    // `check_path` (whether WeChat checks that `page` exists in the released version) is
    // accepted and ignored: the mock takes any page of the right shape.
    env_version: Option<String>,
    width: Option<u32>,
}

/// The characters WeChat accepts in a scene: letters, digits and ``!#$&'()*+,/:;=?@-._~``.
fn scene_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$&'()*+,/:;=?@-._~".contains(c)
}

/// `text` as a black-on-white QR code in an 8-bit greyscale PNG `width` pixels square (or a
/// little less when the modules do not divide it: whole pixels per module, centred).
fn qr_png(text: &str, width: u32) -> Result<Vec<u8>, String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = width as usize;
    // Four modules of quiet zone on each side.
    let module_px = (side / (modules + 8)).max(1);
    let offset = (side - module_px * modules) / 2;
    let mut pixels = vec![0xffu8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules, i / modules);
        for dy in 0..module_px {
            let row = (offset + my * module_px + dy) * side;
            let x = offset + mx * module_px;
            pixels[row + x..row + x + module_px].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, width);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WxPhoneBody {
    openid: Option<String>,
    phone: Option<String>,
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
struct AcceptBody {
    openid: String,
    template_id: String,
    #[serde(default = "one")]
    times: u32,
}

#[derive(Debug, Deserialize)]
struct UnionidBody {
    enabled: bool,
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
struct DelayBody {
    api: String,
    ms: u64,
    #[serde(default = "one")]
    times: u32,
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
    mock.delayed("jscode2session").await;
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

async fn stable_token(mock: web::Data<MockWechat>, body: web::Bytes) -> HttpResponse {
    mock.delayed("stable_token").await;
    HttpResponse::Ok().json(mock.stable_token(&body))
}

async fn getuserphonenumber(
    mock: web::Data<MockWechat>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> HttpResponse {
    mock.delayed("getuserphonenumber").await;
    HttpResponse::Ok().json(mock.user_phone_number(q.access_token.as_deref(), &body))
}

/// An image on success, JSON on error: callers tell them apart by `Content-Type`, as with
/// WeChat.
async fn wxacode(
    mock: web::Data<MockWechat>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> HttpResponse {
    match mock.wxacode(q.access_token.as_deref(), &body) {
        Ok(png) => HttpResponse::Ok().content_type("image/png").body(png),
        Err(answer) => HttpResponse::Ok().json(answer),
    }
}

async fn subscribe_send(
    mock: web::Data<MockWechat>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> HttpResponse {
    mock.delayed("subscribe_send").await;
    HttpResponse::Ok().json(mock.subscribe_send(q.access_token.as_deref(), &body))
}

/// Stands in for the `getPhoneNumber` button: `{"openid"?, "phone"?}` → `{"code"}`.
async fn wx_phone(
    mock: web::Data<MockWechat>,
    body: Option<web::Json<WxPhoneBody>>,
) -> HttpResponse {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let openid = body.openid.filter(|o| !o.is_empty());
    let phone = body.phone.filter(|p| !p.is_empty());
    HttpResponse::Ok().json(WxLoginAnswer {
        code: mock.issue_phone_code(openid.as_deref(), phone.as_deref()),
    })
}

async fn invalidate_tokens(mock: web::Data<MockWechat>) -> HttpResponse {
    mock.invalidate_access_tokens();
    HttpResponse::NoContent().finish()
}

async fn subscribe_messages(mock: web::Data<MockWechat>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "messages": mock.subscribe_messages() }))
}

/// Stands in for the user accepting `wx.requestSubscribeMessage` (`times` times).
async fn accept_subscription(
    mock: web::Data<MockWechat>,
    body: web::Json<AcceptBody>,
) -> HttpResponse {
    if body.openid.is_empty() || body.template_id.is_empty() {
        return HttpResponse::BadRequest().json(error(47001));
    }
    mock.accept_subscription(&body.openid, &body.template_id, body.times);
    HttpResponse::Ok().json(json!({
        "grants": mock.subscription_grants(&body.openid, &body.template_id),
    }))
}

/// Binds (`{"enabled": true}`) or unbinds the mini program from its open-platform account.
async fn set_unionid(mock: web::Data<MockWechat>, body: web::Json<UnionidBody>) -> HttpResponse {
    mock.set_unionid(body.enabled);
    HttpResponse::NoContent().finish()
}

async fn advance_clock(mock: web::Data<MockWechat>, body: web::Json<AdvanceBody>) -> HttpResponse {
    mock.advance_clock(Duration::from_secs(body.seconds));
    HttpResponse::NoContent().finish()
}

async fn force_error(mock: web::Data<MockWechat>, body: web::Json<ForceBody>) -> HttpResponse {
    mock.force_error(&body.api, body.errcode, body.times);
    HttpResponse::NoContent().finish()
}

async fn force_delay(mock: web::Data<MockWechat>, body: web::Json<DelayBody>) -> HttpResponse {
    mock.force_delay(&body.api, Duration::from_millis(body.ms), body.times);
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
    HttpResponse::Ok().json(json!({
        "jscode2session": mock.calls("jscode2session"),
        "stable_token": mock.calls("stable_token"),
        "access_tokens_issued": mock.access_tokens_issued(),
        "getuserphonenumber": mock.calls("getuserphonenumber"),
        "subscribe_send": mock.calls("subscribe_send"),
        "getwxacodeunlimit": mock.calls("getwxacodeunlimit"),
    }))
}

/// Registers the mock's routes (WeChat's own paths, `/wx/login` and `/mock/...`).
pub fn configure(mock: MockWechat) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(mock))
            .route("/sns/jscode2session", web::get().to(jscode2session))
            .route("/cgi-bin/stable_token", web::post().to(stable_token))
            .route(
                "/wxa/business/getuserphonenumber",
                web::post().to(getuserphonenumber),
            )
            .route(
                "/cgi-bin/message/subscribe/send",
                web::post().to(subscribe_send),
            )
            .route("/wxa/getwxacodeunlimit", web::post().to(wxacode))
            .route("/wx/login", web::post().to(wx_login))
            .route("/wx/phone", web::post().to(wx_phone))
            .route(
                "/mock/access_token/invalidate",
                web::post().to(invalidate_tokens),
            )
            .route(
                "/mock/subscribe/messages",
                web::get().to(subscribe_messages),
            )
            .route(
                "/mock/subscribe/accept",
                web::post().to(accept_subscription),
            )
            .route("/mock/unionid", web::post().to(set_unionid))
            .route("/mock/clock/advance", web::post().to(advance_clock))
            .route("/mock/errors", web::post().to(force_error))
            .route("/mock/delay", web::post().to(force_delay))
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
