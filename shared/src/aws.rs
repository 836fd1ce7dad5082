//! AWS SDK configuration with timeouts that fit a Lambda and the sync lease.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
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

/// The SDK config from the environment (region, credentials, and `AWS_ENDPOINT_URL`,
/// which points every client at a local emulator).
pub async fn from_env() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
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
        .load()
        .await
}
