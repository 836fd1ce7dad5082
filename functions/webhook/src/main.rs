//! Lambda entry point of the webhook function: wiring only.

use shared::config::Needs;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let needs = Needs {
        oauth_client: true,
        signing_key: true,
        console_url: false,
        event_bus: true,
    };
    shared::lambda::run(needs, webhook::Webhook::new).await
}
