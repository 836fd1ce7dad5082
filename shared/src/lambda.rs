//! The Lambda entry point every function shares: read the configuration once, build the
//! clients once, then serve API Gateway events with the function's handler.

use crate::config::{Config, Needs};
use crate::metrics::EmfStdout;
use crate::services::Services;
use lambda_http::{Body, Request, Response, service_fn};
use std::future::Future;
use std::sync::Arc;

/// A function's request handler: every outcome is an HTTP answer, never an `Err`.
pub trait Handler: Send + Sync {
    fn handle(&self, req: Request) -> impl Future<Output = Response<Body>> + Send;
}

/// Runs `build`'s handler on the Lambda runtime. Fails fast, naming the variable, when
/// configuration is missing.
pub async fn run<H: Handler>(
    needs: Needs,
    build: impl FnOnce(Arc<Services>) -> H,
) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let config = Config::from_env(needs)?;
    let sdk = crate::aws::from_env().await;
    let services = Services::new(config, &sdk, Arc::new(EmfStdout))?;
    let handler = build(Arc::new(services));
    let handler = &handler;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handler.handle(req).await)
    }))
    .await
}
