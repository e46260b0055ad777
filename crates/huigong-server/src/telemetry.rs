//! Logging: one subscriber for the process, pretty in development, JSON in production. Every
//! line written inside a request carries its request id (from the request span).

use crate::settings::{LogFormat, LogSettings};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber writing to `writer`. Returns false if one was already set.
pub fn init<W>(settings: &LogSettings, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(writer);
    match settings.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .try_init()
            .is_ok(),
        LogFormat::Pretty => builder.try_init().is_ok(),
    }
}
