//! Lambda entry point of the webhook function: wiring only.

/// mimalloc: glibc's malloc and free were about 12 % of a warm sync's CPU samples; with
/// mimalloc a sync uses 15–20 % less CPU (bench/NOTES.md, the allocator A/B).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
