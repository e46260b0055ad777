//! `miniprogram-stub`: the WeChat mock on its own port.

use clap::Parser;
use miniprogram_stub::{MockConfig, MockServer};

#[derive(Parser)]
#[command(about = "A mock of the WeChat server API for development and tests")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100", env = "MOCK_BIND")]
    bind: String,
    /// The appid the mock accepts.
    #[arg(long, default_value = "wx-dev-appid", env = "MOCK_APPID")]
    appid: String,
    /// The app secret the mock accepts.
    #[arg(long, default_value = "dev-only-wechat-secret", env = "MOCK_SECRET")]
    secret: String,
    /// Answer code2session without a unionid, as for a mini program not bound to an
    /// open-platform account.
    #[arg(long, env = "MOCK_NO_UNIONID")]
    no_unionid: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let server = MockServer::start(
        MockConfig {
            appid: args.appid,
            secret: args.secret,
        },
        &args.bind,
    )?;
    server.mock.set_unionid(!args.no_unionid);
    println!("WeChat mock listening on {}", server.base_url);
    // Stop on Ctrl-C or SIGTERM (what `deploy/local.sh stop` and service managers send).
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    server.stop().await;
    Ok(())
}
