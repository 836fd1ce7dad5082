//! Lambda entry point of the opt-out function: wiring only.

/// mimalloc: glibc's malloc and free were about 12 % of a warm sync's CPU samples; with
/// mimalloc a sync uses 15–20 % less CPU (bench/NOTES.md, the allocator A/B).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use shared::config::Needs;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    // Refreshing a token (to delete a subscription or revoke) needs the client secret.
    let needs = Needs {
        oauth_client: true,
        signing_key: false,
        console_url: false,
        event_bus: false,
    };
    shared::lambda::run(needs, opt_out::OptOut::new).await
}
