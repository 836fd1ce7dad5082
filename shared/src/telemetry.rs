//! Logging: JSON lines without a timestamp (CloudWatch adds one), level from `RUST_LOG`
//! or Lambda's `AWS_LAMBDA_LOG_LEVEL`, and never a secret (values are `SecretString`s).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .unwrap_or_else(|| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(filter))
        .without_time()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .flatten_event(true)
        .with_ansi(false)
        .try_init();
}
