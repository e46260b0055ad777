//! `huigong`: the Huigong service and its operations commands.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use huigong_server::settings::{LogFormat, Profile, WechatMode};
use huigong_server::{Application, Settings, startup, telemetry};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "huigong",
    version,
    about = "惠工卡 — county trade-union membership service"
)]
struct Cli {
    /// Configuration profile: development, test or production.
    #[arg(
        long,
        global = true,
        env = "HUIGONG_PROFILE",
        default_value = "development"
    )]
    profile: String,
    /// Directory holding default.toml and <profile>.toml.
    #[arg(
        long,
        global = true,
        env = "HUIGONG_CONFIG_DIR",
        default_value = "config"
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let profile = Profile::parse(&cli.profile)?;
    let settings = Settings::load(&cli.config_dir, profile)
        .with_context(|| format!("loading configuration from {}", cli.config_dir.display()))?;
    if let Err(reason) = settings.check_for_production() {
        eprintln!("huigong: refusing to start: {reason}");
        std::process::exit(2);
    }
    telemetry::init(&settings.log, std::io::stdout);
    huigong_wechat::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(settings).await,
            Command::Migrate => {
                let db = startup::connect_database(&settings).await?;
                db.migrate().await?;
                println!("migrations applied");
                Ok(())
            }
        }
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let mock = settings.wechat.mode == WechatMode::Mock;
    let pretty = settings.log.format == LogFormat::Pretty;
    let app = Application::build(settings).await?;
    let base = app.base_url();
    tracing::info!(address = %base, "huigong listening");
    if pretty {
        println!("惠工卡 service listening on {base}");
        println!("  API docs:      {base}/api/docs   (OpenAPI: {base}/api/openapi.json)");
        println!("  health:        {base}/healthz   {base}/readyz");
        if mock {
            println!("  log a test worker in (WeChat mock):");
            println!(
                "    curl -s -XPOST {base}/wechat-mock/wx/login | curl -s {base}/api/v1/auth/wechat/login -H 'content-type: application/json' -d @-"
            );
        }
    }
    app.run_until_stopped().await?;
    Ok(())
}
