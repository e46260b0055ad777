//! Spawning the service for a test, on the backend `tests/run.sh` selects.
//!
//! `HUIGONG_TEST_BACKEND=embedded` (the default): SQLite file in a temporary directory and the
//! in-process session store. `HUIGONG_TEST_BACKEND=services`: a fresh PostgreSQL database per
//! test (`HUIGONG_TEST_PG_URL`) and Redis (`HUIGONG_TEST_REDIS_URL`) with a key prefix per test.
//! A test that needs a service which is not configured fails loudly: it never skips.

use huigong_server::settings::{Profile, Settings};
use huigong_server::{Application, telemetry};
use miniprogram_stub::MockWechat;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Everything the service logged during this test binary's run.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured log so far, as text.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

fn init_logging(settings: &Settings) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // The filter comes from the test profile alone: RUST_LOG must not change what the
        // log-content tests see.
        let filter = tracing_subscriber::EnvFilter::new(&settings.log.filter);
        let _ = tracing::subscriber::set_global_default(telemetry::subscriber_with_filter(
            &settings.log,
            filter,
            || CaptureWriter,
        ));
    });
}

/// The county federation created by the first migration.
pub fn county_org() -> uuid::Uuid {
    uuid::Uuid::parse_str(huigong_store::migration::COUNTY_ORG_ID).unwrap_or_default()
}

pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// The settings every test starts from: `config/default.toml` + `config/test.toml`.
pub fn base_settings() -> Settings {
    let mut s = match Settings::load_files(&config_dir(), Profile::Test) {
        Ok(s) => s,
        Err(e) => panic!("test configuration does not load: {e:#}"),
    };
    s.server.host = "127.0.0.1".into();
    s.server.port = 0;
    s.server.workers = 1;
    s.database.max_connections = 4;
    s.database.acquire_timeout_ms = 1500;
    s.redis.timeout_ms = 500;
    // Development keys in a file of this test's own (instances given these settings share it).
    s.vault.dev_key_file = std::env::temp_dir()
        .join(format!(
            "huigong-test-keys-{}.toml",
            uuid::Uuid::now_v7().simple()
        ))
        .display()
        .to_string();
    s
}

/// The networked services, which `tests/run.sh` always starts.
#[derive(Clone, Debug)]
pub struct Services {
    pub pg_url: String,
    pub redis_url: String,
}

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs PostgreSQL and Redis. Run the suite with tests/run.sh, which starts them."
        ),
    }
}

/// PostgreSQL and Redis; panics when they are not configured.
pub fn services() -> Services {
    Services {
        pg_url: required_env("HUIGONG_TEST_PG_URL"),
        redis_url: required_env("HUIGONG_TEST_REDIS_URL"),
    }
}

/// Which backend this run tests.
pub fn use_services() -> bool {
    match std::env::var("HUIGONG_TEST_BACKEND").as_deref() {
        Ok("services") => true,
        Ok("embedded") | Err(_) => false,
        Ok(other) => panic!("HUIGONG_TEST_BACKEND={other:?}: expected embedded or services"),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// Creates an empty PostgreSQL database and returns its URL.
pub async fn fresh_pg_database(admin_url: &str) -> String {
    let name = unique("t_");
    let admin = match sea_orm::Database::connect(admin_url).await {
        Ok(c) => c,
        Err(e) => panic!("cannot connect to HUIGONG_TEST_PG_URL: {e}"),
    };
    if let Err(e) = admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
    {
        panic!("cannot create test database: {e}");
    }
    let _ = admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap_or((admin_url, ""));
    format!("{base}/{name}")
}

/// Points `settings` at fresh storage of the selected backend.
pub async fn use_fresh_storage(settings: &mut Settings) -> Option<tempdir::TempDir> {
    if use_services() {
        let svc = services();
        settings.database.url = fresh_pg_database(&svc.pg_url).await.into();
        settings.redis.url = svc.redis_url.into();
        settings.redis.key_prefix = unique("test:") + ":";
        None
    } else {
        let dir = tempdir::TempDir::new();
        settings.database.url = format!("sqlite://{}/huigong.sqlite", dir.path().display()).into();
        settings.redis.url = "".into();
        Some(dir)
    }
}

/// A running service and a client for it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub mock: MockWechat,
    pub settings: Settings,
    /// The service's own state (database, session store, keys), for arranging test data.
    pub state: huigong_api::AppState,
    /// The metrics listener's port, when `metrics.port` was set.
    pub metrics_port: Option<u16>,
    handle: actix_web::dev::ServerHandle,
    _dir: Option<tempdir::TempDir>,
}

impl TestApp {
    /// Spawns the service on fresh storage of the selected backend.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// As [`TestApp::spawn`], with the settings adjusted first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = base_settings();
        let dir = use_fresh_storage(&mut settings).await;
        adjust(&mut settings);
        Self::spawn_on(settings, dir).await
    }

    /// As [`TestApp::spawn_with`], with time from `clock` (a `huigong_core::FixedClock` for
    /// rules that depend on time). Token expiry is checked against the real time, so start the
    /// clock near it.
    pub async fn spawn_with_clock(
        adjust: impl FnOnce(&mut Settings),
        clock: std::sync::Arc<dyn huigong_core::Clock>,
    ) -> Self {
        let mut settings = base_settings();
        let dir = use_fresh_storage(&mut settings).await;
        adjust(&mut settings);
        Self::spawn_on_with_clock(settings, dir, clock).await
    }

    /// Two instances sharing a fresh PostgreSQL database and Redis (under a key prefix of their
    /// own): the production shape. Runs on the services whichever backend this run tests (the
    /// embedded backend's in-process store is one instance's by design).
    pub async fn two_sharing_services() -> (Self, Self) {
        let svc = services();
        let mut settings = base_settings();
        settings.database.url = fresh_pg_database(&svc.pg_url).await.into();
        settings.redis.url = svc.redis_url.clone().into();
        settings.redis.key_prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
        let a = Self::spawn_on(settings.clone(), None).await;
        let b = Self::spawn_on(settings, None).await;
        (a, b)
    }

    /// Spawns the service with exactly these settings.
    pub async fn spawn_on(settings: Settings, dir: Option<tempdir::TempDir>) -> Self {
        Self::spawn_on_with_clock(
            settings,
            dir,
            std::sync::Arc::new(huigong_core::SystemClock),
        )
        .await
    }

    /// As [`TestApp::spawn_on`], with time from `clock`.
    pub async fn spawn_on_with_clock(
        settings: Settings,
        dir: Option<tempdir::TempDir>,
        clock: std::sync::Arc<dyn huigong_core::Clock>,
    ) -> Self {
        init_logging(&settings);
        let app = match Application::build_with_clock(settings.clone(), clock).await {
            Ok(app) => app,
            Err(e) => panic!("service failed to start: {e:#}"),
        };
        let base = app.base_url();
        // In live mode (pointed at an unreachable WeChat) the service has no mock: tests get a
        // detached one that nothing calls.
        let mock = app.mock().cloned().unwrap_or_else(|| {
            MockWechat::new(miniprogram_stub::MockConfig {
                appid: settings.wechat.appid.clone(),
                secret: settings.wechat.secret.expose().to_owned(),
            })
        });
        let handle = app.handle();
        let state = app.state().clone();
        let metrics_port = app.metrics_port();
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap_or_else(|e| panic!("http client: {e}")),
            mock,
            settings,
            state,
            metrics_port,
            handle,
            _dir: dir,
        }
    }

    /// A token for a new account with `role`, made directly in the service's stores (the
    /// password login of administrators comes with the accounts issue).
    pub async fn token_for(&self, role: huigong_core::Role) -> (uuid::Uuid, String) {
        let now = chrono::Utc::now();
        let account = huigong_store::users::NewAccount {
            role,
            username: None,
            password_hash: None,
            org_id: Some(county_org()),
        };
        let user = huigong_store::users::create_account(&self.state.db.conn, account, now)
            .await
            .unwrap_or_else(|e| panic!("create account: {e}"));
        let expires_at = now + chrono::Duration::hours(1);
        let record = huigong_store::SessionRecord {
            user_id: user.id,
            role,
            openid: None,
            unionid: None,
            session_key: None,
            created_at: now,
            expires_at,
            password_change_required: false,
        };
        let sid = self
            .state
            .sessions
            .create(&record, now)
            .await
            .unwrap_or_else(|e| panic!("session: {e}"));
        let token = self
            .state
            .jwt
            .issue(user.id, sid, now, expires_at)
            .unwrap_or_else(|e| panic!("token: {e}"));
        (user.id, token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh `wx.login` code from the in-process mock, over HTTP like the phone would get one.
    pub async fn wx_code(&self, openid: Option<&str>) -> String {
        let body = match openid {
            Some(o) => serde_json::json!({ "openid": o }),
            None => serde_json::json!({}),
        };
        let res = self
            .http
            .post(self.url("/wechat-mock/wx/login"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("wx/login: {e}"));
        assert_eq!(res.status(), 200, "wx/login");
        let v: Value = res.json().await.unwrap_or_default();
        v["code"].as_str().unwrap_or_default().to_owned()
    }

    /// POST /api/v1/auth/wechat/login with `code`; returns status and body.
    pub async fn login_with_code(&self, code: &str) -> (u16, Value) {
        self.post_json(
            "/api/v1/auth/wechat/login",
            &serde_json::json!({ "code": code }),
            None,
        )
        .await
    }

    /// Logs `openid` in and returns its token.
    pub async fn login(&self, openid: &str) -> String {
        let code = self.wx_code(Some(openid)).await;
        let (status, body) = self.login_with_code(&code).await;
        assert_eq!(status, 200, "login failed: {body}");
        body["token"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        send(req).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        send(req).await
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
        // Shared by instances spawned from the same settings: the first to stop removes it.
        let _ = std::fs::remove_file(&self.settings.vault.dev_key_file);
    }
}

/// Sends and returns (status, JSON body or Null).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = res.status().as_u16();
    let bytes = res.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A directory removed on drop.
pub mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            let path = std::env::temp_dir()
                .join(format!("huigong-test-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("temp dir: {e}"));
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
