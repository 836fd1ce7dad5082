//! Times each step of a function's start-up (what `main.rs` does before the first poll),
//! so a slow init can be pinned to a step: `cargo run --release -p bench --example
//! init_steps` with the Lambda environment set (see bench/NOTES.md).

use shared::config::{Config, Needs};
use shared::metrics::NoMetrics;
use shared::services::Services;
use std::sync::Arc;
use std::time::Instant;

fn step(what: &str, since: &mut Instant) {
    eprintln!(
        "{what:<28} {:>8.3} ms",
        since.elapsed().as_secs_f64() * 1000.0
    );
    *since = Instant::now();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut t = Instant::now();
    shared::telemetry::init();
    step("telemetry::init", &mut t);
    let config = Config::from_env(Needs {
        oauth_client: true,
        signing_key: true,
        console_url: false,
        // Measured with the EventBridge client when EVENT_BUS_NAME is set.
        event_bus: false,
    })
    .expect("config");
    step("Config::from_env", &mut t);
    let sdk = shared::aws::from_env().await;
    step("aws::from_env", &mut t);
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    step("dynamodb::Client::new", &mut t);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    step("secretsmanager::Client::new", &mut t);
    let heroku = reqwest::Client::builder().build().expect("reqwest");
    step("reqwest::Client::build", &mut t);
    drop((dynamo, secrets, heroku));
    let services = Services::new(config, &sdk, Arc::new(NoMetrics)).expect("services");
    step("Services::new (all)", &mut t);
    drop(services);

    // Pieces of the above and of a first TLS handshake, alone.
    let certs = rustls_native_certs::load_native_certs();
    step(
        &format!("load_native_certs ({})", certs.certs.len()),
        &mut t,
    );
    let mut buf = [0u8; 32];
    aws_lc_rs::rand::fill(&mut buf).expect("rand");
    step("aws-lc first rand::fill", &mut t);
    aws_lc_rs::rand::fill(&mut buf).expect("rand");
    step("aws-lc second rand::fill", &mut t);
    std::thread::spawn(move || {
        let mut t = Instant::now();
        let mut buf = [0u8; 32];
        aws_lc_rs::rand::fill(&mut buf).expect("rand");
        step("aws-lc first fill, new thread", &mut t);
    })
    .join()
    .expect("thread");
}
