//! Lambda entry point of the reconcile function: wiring only.

/// mimalloc: glibc's malloc and free were about 12 % of a warm sync's CPU samples; with
/// mimalloc a sync uses 15–20 % less CPU (bench/NOTES.md, the allocator A/B).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::config::{Config, Needs};
use shared::metrics::EmfStdout;
use shared::reconcile::ReconcileSettings;
use shared::services::Services;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let needs = Needs {
        oauth_client: true,
        signing_key: true,
        console_url: false,
        event_bus: true,
    };
    let config = Config::from_env(needs)?;
    let queue_url = std::env::var(reconcile::QUEUE_URL_VAR)
        .map_err(|_| format!("{} is not set", reconcile::QUEUE_URL_VAR))?;
    let sdk = shared::aws::from_env().await;
    let svc = Arc::new(Services::new(config, &sdk, Arc::new(EmfStdout))?);
    let queue = reconcile::SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url);
    let handler = reconcile::Reconcile::new(svc, queue, ReconcileSettings::default())
        .with_rotation(aws_sdk_secretsmanager::Client::new(&sdk));
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Lambda's deadline (ms since the epoch) as a point on the monotonic clock.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let left_ms = event.context.deadline as i64 - now_ms;
        let deadline =
            tokio::time::Instant::now() + std::time::Duration::from_millis(left_ms.max(0) as u64);
        handler
            .handle_until(event.payload, Some(deadline))
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
