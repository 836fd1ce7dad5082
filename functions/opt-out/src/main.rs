//! Lambda entry point of the opt-out function: wiring only.

use lambda_http::{Error, service_fn};
use shared::config::{Config, Needs};
use shared::metrics::EmfStdout;
use shared::services::Services;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Refreshing a token (to delete a subscription or revoke) needs the client secret.
    let config = Config::from_env(Needs {
        oauth_client: true,
        signing_key: false,
        console_url: false,
    })?;
    let sdk = shared::aws::from_env().await;
    let services = Services::new(config, &sdk, Arc::new(EmfStdout))?;
    let opt_out = opt_out::OptOut::new(Arc::new(services));
    let opt_out = &opt_out;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(opt_out.handle(req).await)
    }))
    .await
}
