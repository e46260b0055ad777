//! Logging: one subscriber for the process, pretty in development, JSON in production. Every
//! line written inside a request carries its request id (from the request span).

use crate::settings::{LogFormat, LogSettings};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt};

/// The subscriber for `settings`, writing to `writer`. `RUST_LOG`, when set, wins over
/// `log.filter`.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    subscriber_with_filter(settings, filter, writer)
}

/// As [`subscriber`], with the filter given (tests must not depend on `RUST_LOG`).
pub fn subscriber_with_filter<W>(
    settings: &LogSettings,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = fmt().with_env_filter(filter).with_writer(writer);
    match settings.format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(false)
                .with_span_list(true)
                .finish(),
        ),
        LogFormat::Pretty => Box::new(builder.finish()),
    }
}

/// Installs the global subscriber writing to `writer`. Returns false if one was already set.
pub fn init<W>(settings: &LogSettings, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing::subscriber::set_global_default(subscriber(settings, writer)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_request_id_of_their_span() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let settings = LogSettings {
            format: LogFormat::Json,
            filter: "info".into(),
        };
        tracing::subscriber::with_default(subscriber(&settings, move || writer.clone()), || {
            let span = tracing::info_span!("request", request_id = "0190-test-id");
            span.in_scope(|| {
                let inner = tracing::info_span!("inner");
                inner.in_scope(|| tracing::info!(status = 200, "request finished"));
            });
        });
        let text = String::from_utf8_lossy(&buffer.0.lock().unwrap_or_else(|p| p.into_inner()))
            .into_owned();
        let line: serde_json::Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON: {e}: {text}"));
        assert_eq!(line["fields"]["message"], "request finished");
        assert_eq!(line["spans"][0]["request_id"], "0190-test-id");
    }
}
