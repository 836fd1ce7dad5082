//! Logging: JSON lines without a timestamp (CloudWatch adds one), level from `RUST_LOG`
//! or Lambda's `AWS_LAMBDA_LOG_LEVEL`, and never a secret (values are `SecretString`s).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber once, on stdout; later calls are no-ops.
pub fn init() {
    install(&filter_from_env(), std::io::stdout);
}

/// The filter `init` uses: `RUST_LOG`, else Lambda's log level, else `info`.
pub fn filter_from_env() -> String {
    std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .unwrap_or_else(|| "info".into())
}

/// What `init` installs, with any filter and writer: a test that checks what the logs
/// hold captures exactly the lines a function would print. Returns false when a global
/// subscriber was already set (this one is then not installed).
pub fn install<W>(filter: &str, writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(filter))
        .without_time()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .flatten_event(true)
        .with_ansi(false)
        .with_writer(writer)
        .try_init()
        .is_ok()
}
