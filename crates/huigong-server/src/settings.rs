//! Configuration: `config/default.toml`, then `config/<profile>.toml`, then environment
//! variables `HUIGONG__SECTION__KEY` (for example `HUIGONG__DATABASE__URL`).
//! The profile is `development` unless `HUIGONG_PROFILE` (or `--profile`) says otherwise.

use huigong_core::Secret;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The development-only secrets of `config/development.toml`. Production refuses them.
pub const DEV_SECRET_MARKER: &str = "dev-only";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    Development,
    Test,
    Production,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Development => "development",
            Profile::Test => "test",
            Profile::Production => "production",
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "development" | "dev" => Ok(Profile::Development),
            "test" => Ok(Profile::Test),
            "production" | "prod" => Ok(Profile::Production),
            other => anyhow::bail!("unknown profile {other:?} (development, test or production)"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub wechat: WechatSettings,
    pub auth: AuthSettings,
    pub vault: VaultSettings,
    pub card: CardSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub applications: ApplicationsConfig,
    #[serde(default)]
    pub roster: RosterConfig,
    #[serde(default)]
    pub unions: UnionsConfig,
    #[serde(default)]
    pub reports: ReportsConfig,
    #[serde(default)]
    pub poster: PosterConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    /// Set from the profile the settings were loaded for, not from files.
    #[serde(skip, default = "default_profile")]
    pub profile: Profile,
}

fn default_profile() -> Profile {
    Profile::Development
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// CIDR blocks of the load balancers / reverse proxies in front of the service, whose
    /// `X-Forwarded-For` names the client (for the per-address limits and the audit log).
    /// Empty: the TCP peer is the client and the header is ignored. A list in the files; in the
    /// environment, comma-separated (`HUIGONG__SERVER__TRUSTED_PROXIES=10.0.0.0/8,fd00::/8`).
    #[serde(default, deserialize_with = "strings_list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// This is the only instance: sessions, rate limits and one-time tokens may live in its
    /// memory (no `redis.url`) even while it listens beyond loopback. Must be said explicitly:
    /// several instances without a shared Redis each count guesses of their own and do not
    /// see each other's logouts.
    #[serde(default)]
    pub single_instance: bool,
}

/// Strings from a list or from one comma-separated string (an environment variable); an empty
/// string is an empty list.
fn strings_list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Items {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match Items::deserialize(d)? {
        Items::List(items) => items,
        Items::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://data/huigong.sqlite` or `postgres://user:pass@host/db`.
    pub url: Secret,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub migrate_on_start: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Empty (and no `sentinels` or `cluster_nodes`): sessions in process (one instance only).
    /// Otherwise `redis://host:port/db`, `redis+sentinel://host:port,…/master_name[/db]` or
    /// `redis+cluster://host:port,…` (`huigong_store::RedisTarget`).
    pub url: Secret,
    pub key_prefix: String,
    pub timeout_ms: u64,
    /// Sentinels (`host:port`) watching the master `master_name`; `url` may still give the
    /// password and database as `redis://:password@/db`. A list, or comma-separated in the
    /// environment.
    #[serde(default, deserialize_with = "strings_list_or_csv")]
    pub sentinels: Vec<String>,
    #[serde(default)]
    pub master_name: String,
    /// Nodes (`host:port`) of a Redis Cluster, some or all; `url` may give the password.
    #[serde(default, deserialize_with = "strings_list_or_csv")]
    pub cluster_nodes: Vec<String>,
}

impl RedisSettings {
    /// Where Redis is, if anywhere (`None`: sessions in process).
    pub fn target(&self) -> Result<Option<huigong_store::RedisTarget>, String> {
        huigong_store::RedisTarget::from_settings(
            self.url.expose(),
            &self.sentinels,
            &self.master_name,
            &self.cluster_nodes,
        )
        .map_err(|e| e.to_string())
    }

    /// Whether any of `url`, `sentinels`, `cluster_nodes` is set.
    pub fn is_configured(&self) -> bool {
        !self.url.is_empty()
            || self.sentinels.iter().any(|s| !s.trim().is_empty())
            || self.cluster_nodes.iter().any(|s| !s.trim().is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WechatMode {
    /// The mock in `miniprogram-stub`, served by this process under `/wechat-mock`.
    Mock,
    /// The real WeChat API at `wechat.base_url`.
    Live,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatSettings {
    pub mode: WechatMode,
    pub appid: String,
    pub secret: Secret,
    pub base_url: String,
    pub timeout_ms: u64,
    /// Subscribe-message template for the result of an application to join (approved or
    /// rejected); empty: no notification is sent.
    #[serde(default)]
    pub apply_result_template_id: String,
    /// Mock mode only: whether the mock's code2session reports a unionid (the mini program
    /// bound to an open-platform account). Switchable at run time: `POST /wechat-mock/mock/unionid`.
    #[serde(default = "default_true")]
    pub mock_unionid: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 key for session tokens: every instance needs the same one.
    pub jwt_secret: Secret,
    pub session_ttl_secs: u64,
    /// Roles that must log in with a TOTP code as well as the password (等保 2.0 level 3);
    /// an account of such a role without one is sent to enrol at its next password login.
    /// A list in the files; in the environment, comma-separated
    /// (`HUIGONG__AUTH__REQUIRE_TOTP_FOR=county_admin,district_admin`).
    #[serde(default, deserialize_with = "roles_list_or_csv")]
    pub require_totp_for: Vec<huigong_core::Role>,
    /// Password and two-factor guessing is counted in windows of this many seconds (the
    /// longest a lock lasts).
    pub login_window_secs: u64,
    /// Wrong passwords per (username, client address) per window; then 429 `account_locked`
    /// for that address only.
    pub max_failed_logins_per_account_address: u64,
    /// Wrong passwords per client address per window, whatever the usernames.
    pub max_failed_logins_per_address: u64,
    /// Wrong TOTP or recovery codes per account per window.
    pub max_failed_second_factor: u64,
    /// Wrong passwords per username per window from all addresses together; beyond it only
    /// addresses that logged in to the account before (remembered 90 days) may try.
    pub max_failed_logins_per_account: u64,
}

/// Roles from a list (`["county_admin"]`) or from one comma-separated string (an environment
/// variable); an empty string is no role.
fn roles_list_or_csv<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<huigong_core::Role>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Roles {
        List(Vec<huigong_core::Role>),
        Csv(String),
    }
    match Roles::deserialize(d)? {
        Roles::List(roles) => Ok(roles),
        Roles::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| r.parse().map_err(serde::de::Error::custom))
            .collect(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    /// AES-256 keys for personal data, `ID:BASE64[,ID:BASE64…]` (`huigong keys generate`).
    /// Empty outside production: development keys are generated into `dev_key_file`.
    pub keys: Secret,
    /// The key that seals new values; 0 means the highest id.
    pub active_key_id: u16,
    /// HMAC key for blind indexes, BASE64 of 32 bytes. Never the same as an encryption key.
    pub blind_index_key: Secret,
    /// Where development keys live; empty means beside the SQLite file (or under `data/`).
    pub dev_key_file: String,
}

/// The 惠工卡: live QR tokens and the activation's guessing limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSettings {
    /// HMAC key of the live QR tokens, at least 32 bytes; the same on every instance and
    /// different from every other key.
    pub qr_key: Secret,
    /// How long a QR token is valid, 1–60 seconds.
    pub qr_ttl_secs: u64,
    /// How long an activation preview can be confirmed.
    pub preview_ttl_secs: u64,
    /// Failed activation previews a WeChat account may make per day (Beijing time).
    pub max_failed_previews_per_day: u64,
    /// Successful activation previews a WeChat account may make per day (Beijing time): each
    /// tells who a (name, ID number) pair works for.
    pub max_previews_per_day: u64,
    /// Activation previews per client IP per hour (workers of one factory share a NAT).
    pub max_previews_per_ip_per_hour: u64,
    /// How long a holder's card view stays cached in the session backend, 0–60 seconds (0: not
    /// cached). Every write that changes a view invalidates it at once; this bounds how long a
    /// view can be stale only when that invalidation fails.
    pub view_cache_ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,huigong_api=debug`; `RUST_LOG` wins if set.
    pub filter: String,
}

/// WeChat subscribe messages sent from the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The mini-program page the message opens.
    pub review_page: String,
    /// How often each instance looks for due messages when not woken.
    pub poll_ms: u64,
    /// Wait before the first retry; doubles per failure, up to an hour.
    pub retry_base_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            review_page: "pages/applications/index".to_owned(),
            poll_ms: 5000,
            retry_base_ms: 10_000,
        }
    }
}

/// Online applications to join (issue 13, item 4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplicationsConfig {
    /// Applications one WeChat account may submit per day (Beijing time).
    pub max_per_account_per_day: u64,
    /// Applications per client address per hour.
    pub max_per_ip_per_hour: u64,
}

impl Default for ApplicationsConfig {
    fn default() -> Self {
        let d = huigong_api::membership_checks::CheckLimits::default();
        Self {
            max_per_account_per_day: d.applications_per_account_per_day,
            max_per_ip_per_hour: d.applications_per_ip_per_hour,
        }
    }
}

/// 进度通报, 建会补助 and the half-year cycle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Applications waiting longer than this many days count as overdue in the progress report.
    pub pending_overdue_days: u32,
    /// 单位性质 labels whose new unions receive the 建会补助 (collective and non-public).
    pub subsidy_natures: Vec<String>,
    /// Unions founded on or after this date count as set up during the campaign.
    pub subsidy_founded_from: chrono::NaiveDate,
    /// Whether this instance takes the monthly progress snapshots (any number may: one wins).
    pub snapshots: bool,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        let rule = huigong_core::subsidy::SubsidyRule::default();
        Self {
            pending_overdue_days: 7,
            subsidy_natures: rule
                .natures
                .iter()
                .map(|n| n.label_zh().to_owned())
                .collect(),
            subsidy_founded_from: rule.founded_from,
            snapshots: true,
        }
    }
}

/// The audit sealer (issue 18; `huigong_store::audit_sealer`) and `huigong audit verify`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Time between the sealer's rounds when nothing is waiting.
    pub seal_interval_ms: u64,
    /// Life of the sealer's lease in the shared store (renewed every round).
    pub lease_secs: u64,
    /// How long a hole in the sequence numbers stays open before it counts as a rollback.
    pub gap_grace_ms: u64,
    /// Most events sealed per transaction.
    pub seal_batch: u64,
    /// `huigong audit verify` fails when an event has waited longer than this to be sealed.
    pub unsealed_alarm_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        let d = huigong_store::audit_sealer::SealerSettings::default();
        Self {
            seal_interval_ms: u64::try_from(d.interval.as_millis()).unwrap_or(200),
            lease_secs: d.lease.as_secs(),
            gap_grace_ms: u64::try_from(d.grace.as_millis()).unwrap_or(3000),
            seal_batch: d.batch,
            unsealed_alarm_secs: 60,
        }
    }
}

impl AuditConfig {
    /// The sealer's settings.
    pub fn sealer(&self) -> huigong_store::audit_sealer::SealerSettings {
        huigong_store::audit_sealer::SealerSettings {
            interval: Duration::from_millis(self.seal_interval_ms.max(10)),
            lease: Duration::from_secs(self.lease_secs.max(1)),
            grace: Duration::from_millis(self.gap_grace_ms),
            batch: self.seal_batch.max(1),
        }
    }
}

/// The Prometheus endpoint (`GET /metrics`), on a listen address of its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where the metrics listener binds: loopback unless a scraper elsewhere must reach it.
    pub host: String,
    /// Its port; `None` (an empty value) turns metrics off. Never the public port. 0 picks a
    /// free port (tests).
    #[serde(deserialize_with = "optional_port")]
    pub port: Option<u16>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: None,
        }
    }
}

/// A port from a number or a string (an environment variable); empty means none.
fn optional_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Option::<Port>::deserialize(d)? {
        None => Ok(None),
        Some(Port::Number(n)) => Ok(Some(n)),
        Some(Port::Text(t)) if t.trim().is_empty() => Ok(None),
        Some(Port::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("metrics.port: {t:?} is not a port"))),
    }
}

/// The web console at `/console` (issue 15).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Mark the console's cookies `Secure` (sent over HTTPS only). `config/development.toml`
    /// turns it off for plain HTTP on loopback.
    pub secure_cookies: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            secure_cookies: true,
        }
    }
}

/// Roster checks against the county's membership (issue 13, item 5).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RosterConfig {
    /// Rows (roster dry runs and commits, single members added) one admin, and one grassroots
    /// union, may check per day.
    pub max_checked_rows_per_day: u64,
}

impl Default for RosterConfig {
    fn default() -> Self {
        Self {
            max_checked_rows_per_day: huigong_api::membership_checks::CheckLimits::default()
                .roster_checked_rows_per_day,
        }
    }
}

/// Union posters (issue 16).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PosterConfig {
    /// A font with Chinese glyphs (`.ttf`, `.otf`, `.ttc`); Debian's `fonts-wqy-microhei`.
    pub font_path: String,
    /// The line under the union's name.
    pub campaign_text: String,
    /// Which version of the mini program the posters' codes open: release, trial or develop.
    pub env_version: String,
    /// How long a rendered poster is kept in the session backend.
    pub cache_ttl_secs: u64,
    /// Scene look-ups (`GET /api/v1/unions/scene/{code}`) per client address per hour.
    pub scene_lookups_per_ip_per_hour: u64,
}

impl Default for PosterConfig {
    fn default() -> Self {
        let d = huigong_api::posters::PosterSettings::default();
        Self {
            font_path: d.font_path.display().to_string(),
            campaign_text: d.campaign_text,
            env_version: "release".to_owned(),
            cache_ttl_secs: d.cache_ttl.as_secs(),
            scene_lookups_per_ip_per_hour: d.scene_lookups_per_ip_per_hour,
        }
    }
}

impl PosterConfig {
    /// The service's poster settings; an unknown `env_version` is an error naming it.
    pub fn settings(&self) -> anyhow::Result<huigong_api::posters::PosterSettings> {
        let env_version =
            huigong_wechat::EnvVersion::parse(&self.env_version).ok_or_else(|| {
                anyhow::anyhow!(
                    "poster.env_version: {:?} is not release, trial or develop",
                    self.env_version
                )
            })?;
        Ok(huigong_api::posters::PosterSettings {
            font_path: self.font_path.clone().into(),
            campaign_text: self.campaign_text.clone(),
            env_version,
            cache_ttl: std::time::Duration::from_secs(self.cache_ttl_secs),
            scene_lookups_per_ip_per_hour: self.scene_lookups_per_ip_per_hour,
            ..Default::default()
        })
    }
}

/// Unions submitted for set-up from below (issue 13, item 6).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnionsConfig {
    /// Set-up submissions one WeChat account may make per day (Beijing time).
    pub max_submissions_per_account_per_day: u64,
    /// Set-up submissions per client address per hour.
    pub max_submissions_per_ip_per_hour: u64,
}

impl Default for UnionsConfig {
    fn default() -> Self {
        let d = huigong_api::membership_checks::CheckLimits::default();
        Self {
            max_submissions_per_account_per_day: d.union_submissions_per_account_per_day,
            max_submissions_per_ip_per_hour: d.union_submissions_per_ip_per_hour,
        }
    }
}

impl ReportsConfig {
    /// The subsidy rule these settings give; an unknown nature is an error naming it.
    pub fn subsidy_rule(&self) -> anyhow::Result<huigong_core::subsidy::SubsidyRule> {
        let natures = self
            .subsidy_natures
            .iter()
            .map(|n| {
                huigong_core::labels::UnitNature::parse_zh(n).ok_or_else(|| {
                    anyhow::anyhow!(
                        "reports.subsidy_natures: {n:?} is not one of {}",
                        huigong_core::labels::UnitNature::labels_zh()
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(huigong_core::subsidy::SubsidyRule {
            natures,
            founded_from: self.subsidy_founded_from,
        })
    }
}

impl Settings {
    /// The limits of `[applications]`, `[roster]` and `[unions]`.
    pub fn check_limits(&self) -> huigong_api::membership_checks::CheckLimits {
        huigong_api::membership_checks::CheckLimits {
            applications_per_account_per_day: self.applications.max_per_account_per_day,
            applications_per_ip_per_hour: self.applications.max_per_ip_per_hour,
            roster_checked_rows_per_day: self.roster.max_checked_rows_per_day,
            union_submissions_per_account_per_day: self.unions.max_submissions_per_account_per_day,
            union_submissions_per_ip_per_hour: self.unions.max_submissions_per_ip_per_hour,
        }
    }

    /// Loads the settings of `profile` from `config_dir` and the environment.
    pub fn load(config_dir: &Path, profile: Profile) -> anyhow::Result<Self> {
        let env = config::Environment::with_prefix("HUIGONG")
            .prefix_separator("__")
            .separator("__");
        Self::load_layers(config_dir, profile, Some(env))
    }

    /// The files, then the given `HUIGONG__SECTION__KEY` variables in place of the process
    /// environment (parsed exactly as [`Settings::load`] parses the environment): checks of the
    /// deployment files' keys, tests.
    pub fn load_with_vars(
        config_dir: &Path,
        profile: Profile,
        vars: std::collections::HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let env = config::Environment::with_prefix("HUIGONG")
            .prefix_separator("__")
            .separator("__")
            .source(Some(vars));
        Self::load_layers(config_dir, profile, Some(env))
    }

    /// The files alone, without environment overrides (for tests).
    pub fn load_files(config_dir: &Path, profile: Profile) -> anyhow::Result<Self> {
        Self::load_layers(config_dir, profile, None)
    }

    fn load_layers(
        config_dir: &Path,
        profile: Profile,
        env: Option<config::Environment>,
    ) -> anyhow::Result<Self> {
        let base = config_dir.join("default.toml");
        anyhow::ensure!(
            base.is_file(),
            "configuration file {} not found (run from the repository root or set HUIGONG_CONFIG_DIR)",
            base.display()
        );
        let mut builder = config::Config::builder()
            .add_source(config::File::from(base))
            .add_source(
                config::File::from(config_dir.join(format!("{}.toml", profile.as_str())))
                    .required(true),
            );
        if let Some(env) = env {
            builder = builder.add_source(env);
        }
        let layered = builder.build()?;
        let mut settings: Settings = layered.try_deserialize()?;
        settings.profile = profile;
        Ok(settings)
    }

    /// Refuses settings that must never reach production: returns the one-line reason.
    pub fn check_for_production(&self) -> Result<(), String> {
        let dev = |s: &Secret| s.expose().contains(DEV_SECRET_MARKER);
        // In every profile: tokens need a real key, and a service anyone can log in to (the mock
        // mints codes for any openid) or whose key is public must not listen beyond loopback.
        if self.auth.jwt_secret.expose().len() < 32 {
            return Err("auth.jwt_secret must be at least 32 bytes".into());
        }
        if self.card.qr_key.expose().len() < 32 {
            return Err("card.qr_key must be at least 32 bytes: set HUIGONG__CARD__QR_KEY".into());
        }
        if !(1..=60).contains(&self.card.qr_ttl_secs) {
            return Err("card.qr_ttl_secs must be between 1 and 60".into());
        }
        if self.card.view_cache_ttl_secs > 60 {
            return Err("card.view_cache_ttl_secs must be between 0 and 60".into());
        }
        let min_body = huigong_api::routes::applications::MIN_BODY_LIMIT;
        if self.server.body_limit_bytes < min_body {
            return Err(format!(
                "server.body_limit_bytes must be at least {min_body}: an application with the largest signature must fit"
            ));
        }
        let public_door = self.wechat.mode == WechatMode::Mock
            || dev(&self.auth.jwt_secret)
            || dev(&self.card.qr_key);
        let loopback = matches!(self.server.host.as_str(), "127.0.0.1" | "::1" | "localhost");
        if public_door && !loopback {
            return Err(format!(
                "wechat mock mode and dev-only secrets may only listen on loopback, not {}",
                self.server.host
            ));
        }
        // A console session cookie without `Secure` travels over plain HTTP: never in production
        // (behind its TLS proxy the browser sees HTTPS), elsewhere only on loopback.
        let plain_cookies_refused = match self.profile {
            Profile::Production => true,
            Profile::Test => !loopback,
            Profile::Development => false,
        };
        if !self.console.secure_cookies && plain_cookies_refused {
            return Err(format!(
                "console.secure_cookies = false sends the console's session cookie over plain HTTP: refused in production ({})",
                self.server.host
            ));
        }
        // Without vault.keys every instance generates development keys of its own (a key file
        // beside its database): rows another instance cannot read, blind indexes that diverge.
        if self.vault.keys.is_empty() && !loopback {
            return Err(format!(
                "vault.keys is empty, so development vault keys (generated per instance in a key file) would be used while listening on {}: they may only listen on loopback; create keys with `huigong keys generate` and set HUIGONG__VAULT__KEYS and HUIGONG__VAULT__BLIND_INDEX_KEY (or HUIGONG_PROFILE=production)",
                self.server.host
            ));
        }
        // Without Redis every instance keeps sessions, guess counters and one-time tokens of
        // its own: behind a load balancer each gets its own share of every limit.
        self.redis.target()?;
        if !self.redis.is_configured() && !loopback && !self.server.single_instance {
            return Err(format!(
                "redis.url is empty while listening on {}: several instances must share sessions and rate limits through Redis (set HUIGONG__REDIS__URL); for exactly one instance set server.single_instance = true (HUIGONG__SERVER__SINGLE_INSTANCE=true)",
                self.server.host
            ));
        }
        if self
            .metrics
            .port
            .is_some_and(|p| p != 0 && p == self.server.port)
        {
            return Err(
                "metrics.port must differ from server.port: metrics never go on the public port"
                    .into(),
            );
        }
        if self.profile != Profile::Production {
            return Ok(());
        }
        if self.auth.jwt_secret.is_empty() || dev(&self.auth.jwt_secret) {
            return Err("auth.jwt_secret is missing or a development default: set HUIGONG__AUTH__JWT_SECRET".into());
        }
        if self.auth.jwt_secret.expose().len() < 32 {
            return Err("auth.jwt_secret is shorter than 32 bytes".into());
        }
        if self.wechat.mode != WechatMode::Live {
            return Err("wechat.mode must be \"live\" in production".into());
        }
        if !self.wechat.base_url.starts_with("https://") {
            return Err("wechat.base_url must be https:// in production".into());
        }
        if self.wechat.appid.is_empty()
            || self.wechat.appid.contains(DEV_SECRET_MARKER)
            || self.wechat.appid == "wx-dev-appid"
        {
            return Err(
                "wechat.appid is missing or a development default: set HUIGONG__WECHAT__APPID"
                    .into(),
            );
        }
        if self.wechat.secret.is_empty() || dev(&self.wechat.secret) {
            return Err(
                "wechat.secret is missing or a development default: set HUIGONG__WECHAT__SECRET"
                    .into(),
            );
        }
        if self.vault.keys.is_empty() || self.vault.blind_index_key.is_empty() {
            return Err("vault.keys or vault.blind_index_key is missing: create them with `huigong keys generate` and set HUIGONG__VAULT__KEYS and HUIGONG__VAULT__BLIND_INDEX_KEY".into());
        }
        if dev(&self.card.qr_key) {
            return Err("card.qr_key is a development default: set HUIGONG__CARD__QR_KEY".into());
        }
        if self.card.qr_key.expose() == self.auth.jwt_secret.expose() {
            return Err("card.qr_key must differ from auth.jwt_secret".into());
        }
        if self.database.url.is_empty() {
            return Err("database.url is empty: set HUIGONG__DATABASE__URL".into());
        }
        if !self.redis.is_configured() {
            return Err("redis.url is empty: production runs several instances, which must share sessions through Redis".into());
        }
        Ok(())
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.session_ttl_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn config_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    fn with_env(profile: Profile, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = config::Environment::with_prefix("HUIGONG")
            .prefix_separator("__")
            .separator("__")
            .source(Some(map));
        Settings::load_layers(&config_dir(), profile, Some(env))
    }

    fn load(profile: Profile, vars: &[(&str, &str)]) -> Settings {
        with_env(profile, vars).unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    fn item14_reports_section_of_default_toml_matches_the_code_defaults() {
        let s = load(Profile::Development, &[]);
        let d = ReportsConfig::default();
        assert_eq!(s.reports.pending_overdue_days, d.pending_overdue_days);
        assert_eq!(s.reports.subsidy_natures, d.subsidy_natures);
        assert_eq!(s.reports.subsidy_founded_from, d.subsidy_founded_from);
        assert_eq!(s.reports.snapshots, d.snapshots);
        assert!(s.reports.subsidy_rule().is_ok());
        let custom = load(
            Profile::Development,
            &[("HUIGONG__REPORTS__PENDING_OVERDUE_DAYS", "3")],
        );
        assert_eq!(custom.reports.pending_overdue_days, 3);
    }

    #[test]
    fn issue16_poster_section_of_default_toml_matches_the_code_defaults() {
        let s = load(Profile::Development, &[]);
        let d = PosterConfig::default();
        assert_eq!(s.poster.font_path, d.font_path);
        assert_eq!(s.poster.campaign_text, d.campaign_text);
        assert_eq!(s.poster.env_version, d.env_version);
        assert_eq!(s.poster.cache_ttl_secs, d.cache_ttl_secs);
        assert_eq!(
            s.poster.scene_lookups_per_ip_per_hour,
            d.scene_lookups_per_ip_per_hour
        );
        assert!(s.poster.settings().is_ok());
        let bad = load(
            Profile::Development,
            &[("HUIGONG__POSTER__ENV_VERSION", "formal")],
        );
        let err = bad.poster.settings().err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("poster.env_version")),
            "{err:?}"
        );
    }

    #[test]
    fn audit_section_of_default_toml_matches_the_code_defaults() {
        let s = load(Profile::Development, &[]);
        let d = AuditConfig::default();
        assert_eq!(s.audit.seal_interval_ms, d.seal_interval_ms);
        assert_eq!(s.audit.lease_secs, d.lease_secs);
        assert_eq!(s.audit.gap_grace_ms, d.gap_grace_ms);
        assert_eq!(s.audit.seal_batch, d.seal_batch);
        assert_eq!(s.audit.unsealed_alarm_secs, d.unsealed_alarm_secs);
    }

    #[test]
    fn console_cookies_are_secure_except_in_development() {
        assert!(ConsoleConfig::default().secure_cookies);
        assert!(load(Profile::Test, &[]).console.secure_cookies);
        assert!(!load(Profile::Development, &[]).console.secure_cookies);
        let on = load(
            Profile::Development,
            &[("HUIGONG__CONSOLE__SECURE_COOKIES", "true")],
        );
        assert!(on.console.secure_cookies);
    }

    #[test]
    fn console_cookies_without_secure_are_refused_beyond_loopback() {
        let dev = load(Profile::Development, &[]);
        assert!(!dev.console.secure_cookies);
        assert_eq!(
            dev.check_for_production(),
            Ok(()),
            "loopback may use plain HTTP"
        );
        let mut prod = load(Profile::Production, &PRODUCTION_ENV);
        assert_eq!(prod.check_for_production(), Ok(()));
        prod.console.secure_cookies = false;
        let err = prod.check_for_production().err().unwrap_or_default();
        assert!(err.contains("console.secure_cookies"), "{err}");
    }

    const PRODUCTION_ENV: [(&str, &str); 8] = [
        ("HUIGONG__CARD__QR_KEY", "Qm8sVh2nT7pLx4RzW9cJ1dYfK6gA3eUs"),
        ("HUIGONG__DATABASE__URL", "postgres://huigong@db/huigong"),
        ("HUIGONG__REDIS__URL", "redis://redis:6379/0"),
        ("HUIGONG__WECHAT__APPID", "wx1234567890abcdef"),
        (
            "HUIGONG__WECHAT__SECRET",
            "0123456789abcdef0123456789abcdef",
        ),
        (
            "HUIGONG__AUTH__JWT_SECRET",
            "k3Jz0c7QxW1vYt8uN2mP5rS9aB4dE6fG",
        ),
        (
            "HUIGONG__VAULT__KEYS",
            "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
        (
            "HUIGONG__VAULT__BLIND_INDEX_KEY",
            "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=",
        ),
    ];

    #[test]
    fn development_is_the_embedded_default() {
        let s = load(Profile::Development, &[]);
        assert!(s.database.url.expose().starts_with("sqlite://data/"));
        assert!(s.redis.url.is_empty());
        assert_eq!(s.wechat.mode, WechatMode::Mock);
        assert!(s.auth.jwt_secret.expose().contains(DEV_SECRET_MARKER));
        assert_eq!(s.server.port, 8080);
        assert!(s.check_for_production().is_ok());
    }

    #[test]
    fn environment_variables_override_every_section() {
        let s = load(
            Profile::Development,
            &[
                ("HUIGONG__SERVER__HOST", "0.0.0.0"),
                ("HUIGONG__SERVER__PORT", "9090"),
                ("HUIGONG__DATABASE__URL", "postgres://u@h/db"),
                ("HUIGONG__REDIS__URL", "redis://127.0.0.1:6379/"),
                ("HUIGONG__WECHAT__MODE", "live"),
                ("HUIGONG__WECHAT__APPID", "wx-from-env"),
                ("HUIGONG__WECHAT__SECRET", "secret-from-env"),
                ("HUIGONG__AUTH__JWT_SECRET", "jwt-from-env"),
            ],
        );
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.server.port, 9090);
        assert_eq!(s.database.url.expose(), "postgres://u@h/db");
        assert_eq!(s.redis.url.expose(), "redis://127.0.0.1:6379/");
        assert_eq!(s.wechat.mode, WechatMode::Live);
        assert_eq!(s.wechat.appid, "wx-from-env");
        assert_eq!(s.wechat.secret.expose(), "secret-from-env");
        assert_eq!(s.auth.jwt_secret.expose(), "jwt-from-env");
    }

    #[test]
    fn two_factor_login_is_mandatory_for_county_and_district_admins_in_production_only() {
        use huigong_core::Role;
        let production = load(Profile::Production, &PRODUCTION_ENV);
        assert_eq!(
            production.auth.require_totp_for,
            vec![Role::CountyAdmin, Role::DistrictAdmin]
        );
        for profile in [Profile::Development, Profile::Test] {
            assert!(load(profile, &[]).auth.require_totp_for.is_empty());
        }
    }

    #[test]
    fn two_factor_roles_can_be_set_from_the_environment_comma_separated() {
        use huigong_core::Role;
        let s = load(
            Profile::Development,
            &[(
                "HUIGONG__AUTH__REQUIRE_TOTP_FOR",
                "county_admin, grassroots_admin",
            )],
        );
        assert_eq!(
            s.auth.require_totp_for,
            vec![Role::CountyAdmin, Role::GrassrootsAdmin]
        );
        // Empty turns it off, even where the profile file sets it.
        let mut production_off = PRODUCTION_ENV.to_vec();
        production_off.push(("HUIGONG__AUTH__REQUIRE_TOTP_FOR", ""));
        assert!(
            load(Profile::Production, &production_off)
                .auth
                .require_totp_for
                .is_empty()
        );
        let err = with_env(
            Profile::Development,
            &[("HUIGONG__AUTH__REQUIRE_TOTP_FOR", "county_admin,root")],
        )
        .err();
        assert!(err.is_some_and(|e| format!("{e:#}").contains("root")));
    }

    #[test]
    fn trusted_proxies_are_empty_by_default_and_settable_from_the_environment() {
        assert!(
            load(Profile::Development, &[])
                .server
                .trusted_proxies
                .is_empty()
        );
        let s = load(
            Profile::Development,
            &[("HUIGONG__SERVER__TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8")],
        );
        assert_eq!(s.server.trusted_proxies, vec!["10.0.0.0/8", "fd00::/8"]);
    }

    #[test]
    fn metrics_are_off_by_default_and_on_with_a_port_from_the_environment() {
        let s = load(Profile::Development, &[]);
        assert_eq!(s.metrics.port, None);
        assert_eq!(s.metrics.host, MetricsConfig::default().host);
        assert_eq!(s.metrics.port, MetricsConfig::default().port);
        let on = load(
            Profile::Development,
            &[
                ("HUIGONG__METRICS__PORT", "9091"),
                ("HUIGONG__METRICS__HOST", "0.0.0.0"),
            ],
        );
        assert_eq!(on.metrics.port, Some(9091));
        assert_eq!(on.metrics.host, "0.0.0.0");
        assert_eq!(on.check_for_production(), Ok(()));
        let off = load(Profile::Development, &[("HUIGONG__METRICS__PORT", "")]);
        assert_eq!(off.metrics.port, None);
        assert!(with_env(Profile::Development, &[("HUIGONG__METRICS__PORT", "http")]).is_err());
        let public = load(Profile::Development, &[("HUIGONG__METRICS__PORT", "8080")]);
        let err = public.check_for_production().err().unwrap_or_default();
        assert!(err.contains("metrics.port"), "{err}");
    }

    #[test]
    fn redis_sentinel_and_cluster_come_from_the_url_or_their_own_keys() {
        use huigong_store::RedisTarget;
        let s = load(Profile::Development, &[]);
        assert!(s.redis.sentinels.is_empty() && s.redis.cluster_nodes.is_empty());
        assert!(s.redis.master_name.is_empty());
        assert!(!s.redis.is_configured());
        assert_eq!(s.redis.target(), Ok(None));
        let keys = load(
            Profile::Development,
            &[
                ("HUIGONG__REDIS__SENTINELS", "s1:26379, s2:26379"),
                ("HUIGONG__REDIS__MASTER_NAME", "huigong"),
            ],
        );
        assert!(keys.redis.is_configured());
        assert!(matches!(
            keys.redis.target(),
            Ok(Some(RedisTarget::Sentinel { ref sentinels, .. })) if sentinels.len() == 2
        ));
        let cluster = load(
            Profile::Development,
            &[("HUIGONG__REDIS__URL", "redis+cluster://:pw@n1:6379,n2:6379")],
        );
        assert!(matches!(
            cluster.redis.target(),
            Ok(Some(RedisTarget::Cluster { .. }))
        ));
        // A sentinel list without the master's name does not start.
        let unnamed = load(
            Profile::Development,
            &[("HUIGONG__REDIS__SENTINELS", "s1:26379")],
        );
        let err = unnamed.check_for_production().err().unwrap_or_default();
        assert!(err.contains("master_name"), "{err}");
        // Production accepts Redis given by the separate keys alone.
        let mut vars: Vec<(&str, &str)> = PRODUCTION_ENV.to_vec();
        vars.retain(|(k, _)| *k != "HUIGONG__REDIS__URL");
        vars.push(("HUIGONG__REDIS__CLUSTER_NODES", "n1:6379,n2:6379,n3:6379"));
        assert_eq!(
            load(Profile::Production, &vars).check_for_production(),
            Ok(())
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = with_env(Profile::Development, &[("HUIGONG__SERVER__PROT", "1")]).err();
        assert!(err.is_some_and(|e| format!("{e:#}").contains("prot")));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = load(Profile::Production, &PRODUCTION_ENV);
        let shown = format!("{s:?}");
        for (_, value) in PRODUCTION_ENV
            .iter()
            .filter(|(k, _)| k.contains("SECRET") || k.contains("KEY"))
        {
            assert!(!shown.contains(value), "{value} printed");
        }
    }

    #[test]
    fn mock_mode_or_dev_secrets_never_listen_beyond_loopback() {
        let s = load(
            Profile::Development,
            &[("HUIGONG__SERVER__HOST", "0.0.0.0")],
        );
        let err = s.check_for_production().err().unwrap_or_default();
        assert!(err.contains("loopback"), "{err}");
        let short = load(
            Profile::Development,
            &[("HUIGONG__AUTH__JWT_SECRET", "short")],
        );
        assert!(short.check_for_production().is_err());
        assert!(
            load(Profile::Development, &[])
                .check_for_production()
                .is_ok()
        );
    }

    #[test]
    fn item12_beyond_loopback_without_redis_only_a_declared_single_instance_starts() {
        // Forgetting HUIGONG_PROFILE=production: real secrets, a server's address, no Redis.
        let mut vars: Vec<(&str, &str)> = PRODUCTION_ENV.to_vec();
        vars.retain(|(k, _)| *k != "HUIGONG__REDIS__URL");
        vars.push(("HUIGONG__SERVER__HOST", "0.0.0.0"));
        vars.push(("HUIGONG__WECHAT__MODE", "live"));
        let s = load(Profile::Development, &vars);
        let err = s.check_for_production().err().unwrap_or_default();
        assert!(
            err.contains("redis.url") && err.contains("single_instance"),
            "{err}"
        );
        vars.push(("HUIGONG__SERVER__SINGLE_INSTANCE", "true"));
        let one = load(Profile::Development, &vars);
        assert!(one.server.single_instance);
        assert_eq!(one.check_for_production(), Ok(()));
        // Loopback (development, tests) needs neither.
        let mut local = vars.clone();
        local.retain(|(k, _)| !k.starts_with("HUIGONG__SERVER__"));
        local.push(("HUIGONG__SERVER__HOST", "127.0.0.1"));
        assert_eq!(
            load(Profile::Development, &local).check_for_production(),
            Ok(())
        );
    }

    #[test]
    fn card_views_are_cached_thirty_seconds_and_never_over_a_minute() {
        assert_eq!(load(Profile::Development, &[]).card.view_cache_ttl_secs, 30);
        let off = load(
            Profile::Development,
            &[("HUIGONG__CARD__VIEW_CACHE_TTL_SECS", "0")],
        );
        assert!(off.check_for_production().is_ok());
        let long = load(
            Profile::Development,
            &[("HUIGONG__CARD__VIEW_CACHE_TTL_SECS", "61")],
        );
        let err = long.check_for_production().err().unwrap_or_default();
        assert!(err.contains("view_cache_ttl_secs"), "{err}");
    }

    #[test]
    fn production_starts_with_real_secrets() {
        let s = load(Profile::Production, &PRODUCTION_ENV);
        assert_eq!(s.profile, Profile::Production);
        assert_eq!(s.check_for_production(), Ok(()));
    }

    #[test]
    fn production_refuses_missing_or_development_secrets() {
        let cases: [(&str, &str, &str); 10] = [
            ("HUIGONG__CARD__QR_KEY", "", "card.qr_key"),
            (
                "HUIGONG__CARD__QR_KEY",
                "dev-only-qr-key-not-for-production-use",
                "loopback",
            ),
            (
                "HUIGONG__CARD__QR_KEY",
                "k3Jz0c7QxW1vYt8uN2mP5rS9aB4dE6fG",
                "differ",
            ),
            ("HUIGONG__AUTH__JWT_SECRET", "", "32 bytes"),
            (
                "HUIGONG__AUTH__JWT_SECRET",
                "dev-only-jwt-secret-not-for-production-use",
                "loopback",
            ),
            ("HUIGONG__AUTH__JWT_SECRET", "short", "32 bytes"),
            ("HUIGONG__WECHAT__SECRET", "", "wechat.secret"),
            (
                "HUIGONG__WECHAT__SECRET",
                "dev-only-wechat-secret",
                "wechat.secret",
            ),
            ("HUIGONG__WECHAT__APPID", "wx-dev-appid", "wechat.appid"),
            ("HUIGONG__WECHAT__MODE", "mock", "loopback"),
        ];
        for (key, value, reason) in cases {
            let mut vars: Vec<(&str, &str)> = PRODUCTION_ENV.to_vec();
            vars.retain(|(k, _)| *k != key);
            vars.push((key, value));
            let s = load(Profile::Production, &vars);
            let err = s.check_for_production().err().unwrap_or_default();
            assert!(err.contains(reason), "{key}={value:?}: {err:?}");
            assert!(!err.contains('\n'), "the reason is one line");
        }
        let mut no_keys: Vec<(&str, &str)> = PRODUCTION_ENV.to_vec();
        no_keys.retain(|(k, _)| *k != "HUIGONG__VAULT__KEYS");
        let s = load(Profile::Production, &no_keys);
        assert!(
            s.check_for_production()
                .err()
                .unwrap_or_default()
                .contains("vault.keys")
        );
        let mut no_redis: Vec<(&str, &str)> = PRODUCTION_ENV.to_vec();
        no_redis.retain(|(k, _)| *k != "HUIGONG__REDIS__URL");
        let s = load(Profile::Production, &no_redis);
        assert!(
            s.check_for_production()
                .err()
                .unwrap_or_default()
                .contains("redis.url")
        );
    }
}
