//! Lambda entry point of the reconcile function: wiring only.

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
    let handler = reconcile::Reconcile::new(svc, queue, ReconcileSettings::default());
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
