//! Lambda entry point of the connect function: wiring only.

/// mimalloc: glibc's malloc and free were 7 % of a warm sync's CPU (bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use shared::config::Needs;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let needs = Needs {
        oauth_client: true,
        signing_key: true,
        console_url: true,
        event_bus: true,
    };
    shared::lambda::run(needs, connect::Connect::new).await
}
