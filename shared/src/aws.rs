//! AWS SDK configuration with timeouts that fit a Lambda and the sync lease.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// Every AWS call finishes (or fails) within this, retries included. The sync core's
/// write margin relies on it being well under the lease's remaining time.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Stalled-stream protection watches every body's throughput, which costs about 3 % of a
/// warm sync's CPU (bench/NOTES.md, the warm profile); our bodies are small and every
/// call is already bounded by the attempt and operation timeouts above, which is what
/// the protection would otherwise give a stalled call.
fn no_stall_watch() -> StalledStreamProtectionConfig {
    StalledStreamProtectionConfig::disabled()
}

/// The SDK config from the environment (region, credentials, and `AWS_ENDPOINT_URL`,
/// which points every client at a local emulator).
pub async fn from_env() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .stalled_stream_protection(no_stall_watch())
        .load()
        .await
}

/// An SDK config for a local emulator (moto), with dummy credentials and a fixed region,
/// so nothing is looked up from the machine.
pub async fn local(endpoint_url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint_url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "local",
        ))
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .stalled_stream_protection(no_stall_watch())
        .load()
        .await
}
