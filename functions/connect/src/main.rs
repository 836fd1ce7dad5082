//! Lambda entry point of the connect function: wiring only.

use lambda_http::{Error, service_fn};
use shared::config::{Config, Needs};
use shared::metrics::EmfStdout;
use shared::services::Services;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env(Needs {
        oauth_client: true,
        signing_key: true,
        console_url: true,
    })?;
    let sdk = shared::aws::from_env().await;
    let services = Services::new(config, &sdk, Arc::new(EmfStdout))?;
    let connect = connect::Connect::new(Arc::new(services));
    let connect = &connect;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(connect.handle(req).await)
    }))
    .await
}
