//! Building and running the service. Production and every test go through
//! [`Application::build`], which binds first (port 0 picks a free port) and then wires the rest.

use crate::settings::{Settings, WechatMode};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use huigong_api::app::AppOptions;
use huigong_api::wechat_tokens::EphemeralTokenCache;
use huigong_api::{AppState, AuthSettings, CardSettings, JwtKeys, build_app};
use huigong_core::{Clock, SystemClock};
use huigong_store::card_views::CardViews;
use huigong_store::db::DatabaseOptions;
use huigong_store::merchant_views::MerchantViews;
use huigong_store::{Database, Ephemeral, MemoryStore, RedisStore, Sessions};
use huigong_vault::qr::QrKey;
use huigong_wechat::{WechatClient, WechatConfig};
use miniprogram_stub::{MockConfig, MockWechat};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Where the service mounts the WeChat mock in mock mode.
pub const MOCK_PREFIX: &str = "/wechat-mock";

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    host: String,
    server: Server,
    /// The metrics listener's port and server, when `metrics.port` is set.
    metrics: Option<(u16, Server)>,
    mock: Option<MockWechat>,
    state: AppState,
}

/// Connects to the configured database (no migrations).
pub async fn connect_database(settings: &Settings) -> anyhow::Result<Database> {
    Database::connect(&DatabaseOptions {
        url: settings.database.url.expose().to_owned(),
        max_connections: settings.database.max_connections,
        acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
    })
    .await
    .map_err(anyhow::Error::from)
}

/// The session backend: Redis when `redis.url` is set, else a store in this process.
pub async fn session_store(settings: &Settings) -> anyhow::Result<Arc<dyn Ephemeral>> {
    let Some(target) = settings
        .redis
        .target()
        .map_err(|reason| anyhow::anyhow!(reason))?
    else {
        return Ok(Arc::new(MemoryStore::new()));
    };
    let store = RedisStore::connect_to(
        &target,
        &settings.redis.key_prefix,
        Duration::from_millis(settings.redis.timeout_ms),
    )
    .await
    .with_context(|| format!("cannot connect to Redis ({}, redis.*)", target.kind()))?;
    Ok(Arc::new(store))
}

impl Application {
    /// Connects to the database (migrating it unless disabled) and the session store, binds the
    /// listener and prepares the HTTP server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        settings
            .check_for_production()
            .map_err(|reason| anyhow::anyhow!("refusing to start: {reason}"))?;

        let vault = Arc::new(crate::keys::load_key_ring(&settings)?);
        let db = connect_database(&settings)
            .await?
            .with_chain_keys(vault.chain_keys().clone());
        if settings.database.migrate_on_start {
            db.migrate().await.context("applying migrations")?;
        }
        crate::keys::prove(&db, &vault).await?;
        let store = session_store(&settings).await?;

        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}",
                    settings.server.host, settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();

        let (mock, base_url) = match settings.wechat.mode {
            WechatMode::Mock => {
                let mock = MockWechat::new(MockConfig {
                    appid: settings.wechat.appid.clone(),
                    secret: settings.wechat.secret.expose().to_owned(),
                })
                .with_unionid(settings.wechat.mock_unionid);
                let host = loopback_for(&settings.server.host);
                (Some(mock), format!("http://{host}:{port}{MOCK_PREFIX}"))
            }
            WechatMode::Live => (None, settings.wechat.base_url.clone()),
        };
        let wechat = WechatClient::new(WechatConfig {
            base_url,
            appid: settings.wechat.appid.clone(),
            secret: settings.wechat.secret.clone(),
            timeout: Duration::from_millis(settings.wechat.timeout_ms),
            connect_timeout: Duration::from_millis(settings.wechat.timeout_ms.min(3_000)),
        })?
        // The access token lives in the session backend, shared by every instance.
        .with_token_cache(Arc::new(EphemeralTokenCache(store.clone())));

        let card_views = CardViews::new(
            store.clone(),
            Duration::from_secs(settings.card.view_cache_ttl_secs),
        );
        let state = AppState {
            audit: huigong_store::audit::Appender::start(db.clone()),
            merchant_views: Arc::new(MerchantViews::new(store.clone())),
            db,
            sessions: Sessions::new(store),
            card_views,
            wechat,
            jwt: Arc::new(JwtKeys::new(&settings.auth.jwt_secret)),
            vault,
            clock,
            auth: AuthSettings {
                session_ttl: settings.session_ttl(),
                require_totp_for: settings.auth.require_totp_for.clone(),
                login: huigong_api::guesses::LoginLimits {
                    window_secs: settings.auth.login_window_secs.max(1),
                    max_failures_per_account_address: settings
                        .auth
                        .max_failed_logins_per_account_address,
                    max_failures_per_address: settings.auth.max_failed_logins_per_address,
                    max_second_factor_failures: settings.auth.max_failed_second_factor,
                    max_failures_per_account: settings.auth.max_failed_logins_per_account,
                },
            },
            card: CardSettings {
                qr_key: Arc::new(
                    QrKey::new(settings.card.qr_key.expose().as_bytes())
                        .map_err(|e| anyhow::anyhow!("card.qr_key: {e}"))?,
                ),
                qr_ttl: Duration::from_secs(settings.card.qr_ttl_secs),
                preview_ttl: Duration::from_secs(settings.card.preview_ttl_secs),
                max_failed_previews_per_day: settings.card.max_failed_previews_per_day,
                max_previews_per_day: settings.card.max_previews_per_day,
                max_previews_per_ip_per_hour: settings.card.max_previews_per_ip_per_hour,
            },
            readiness_timeout: Duration::from_secs(2),
            notifier: huigong_api::notify::Notifier::default(),
            notify: huigong_api::notify::NotifySettings {
                review_template_id: settings.wechat.apply_result_template_id.clone(),
                review_page: settings.notify.review_page.clone(),
                poll: Duration::from_millis(settings.notify.poll_ms.max(100)),
                lease: Duration::from_secs(60),
                retry_base: Duration::from_millis(settings.notify.retry_base_ms),
            },
            checks: settings.check_limits(),
            trusted_proxies: Arc::new(
                huigong_api::limits::TrustedProxies::parse(&settings.server.trusted_proxies)
                    .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))?,
            ),
            reports: huigong_api::reports::ReportSettings {
                pending_overdue_days: settings.reports.pending_overdue_days,
                subsidy: settings.reports.subsidy_rule()?,
                snapshots: settings.reports.snapshots,
                ..Default::default()
            },
            poster: settings.poster.settings()?,
        };
        tokio::spawn(huigong_api::notify::run(state.clone()));
        tokio::spawn(huigong_api::reports::run_snapshots(state.clone()));
        // Links audited writes' events into the chain; one instance at a time (a lease).
        tokio::spawn(huigong_store::audit_sealer::run(
            state.db.clone(),
            state.sessions.store().clone(),
            settings.audit.sealer(),
        ));
        let options = AppOptions::new(settings.server.body_limit_bytes);
        let data = web::Data::new(state.clone());
        let mock_for_app = mock.clone();
        let console = huigong_console::ConsoleSettings {
            secure_cookies: settings.console.secure_cookies,
        };
        let mut server = HttpServer::new(move || {
            let mock = mock_for_app.clone();
            let console = console.clone();
            build_app(data.clone(), options.clone(), move |cfg| {
                huigong_console::configure(console)(cfg);
                if let Some(mock) = mock {
                    cfg.service(
                        web::scope(MOCK_PREFIX).configure(miniprogram_stub::configure(mock)),
                    );
                }
            })
        })
        .shutdown_timeout(10);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();
        let metrics = metrics_server(&settings, &state)?;
        Ok(Self {
            port,
            host: settings.server.host.clone(),
            server,
            metrics,
            mock,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `metrics.port` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The address to reach the service on this machine.
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", loopback_for(&self.host), self.port)
    }

    /// The in-process WeChat mock, in mock mode.
    pub fn mock(&self) -> Option<&MockWechat> {
        self.mock.as_ref()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM), then drains connections.
    /// The metrics listener, when there is one, stops with the service.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some((_, metrics)) = self.metrics else {
            return self.server.await;
        };
        let metrics_handle = metrics.handle();
        let metrics_task = tokio::spawn(metrics);
        let served = self.server.await;
        metrics_handle.stop(true).await;
        let _ = metrics_task.await;
        served
    }
}

/// `GET /metrics` on `metrics.host`:`metrics.port`, a listener apart from the public one (one
/// worker: a scrape every few seconds). `None` while no port is set.
fn metrics_server(settings: &Settings, state: &AppState) -> anyhow::Result<Option<(u16, Server)>> {
    let Some(port) = settings.metrics.port else {
        return Ok(None);
    };
    let exporter = huigong_api::metrics::install()
        .map(huigong_api::metrics::Exporter)
        .context("cannot install the metrics recorder")?;
    let host = settings.metrics.host.as_str();
    let listener = TcpListener::bind((host, port))
        .with_context(|| format!("cannot listen on {host}:{port} (metrics.host, metrics.port)"))?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(huigong_api::metrics::configure(exporter.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    tracing::info!(host, port, "metrics listener");
    Ok(Some((port, server)))
}

/// An address a local client can reach a listener bound to `host` on.
fn loopback_for(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        other => other,
    }
}
