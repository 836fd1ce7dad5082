//! `fake-heroku`: the fake Heroku as a local server for the dev stack.

use std::net::SocketAddr;
use std::process::ExitCode;

use fake_heroku::FakeHeroku;

const USAGE: &str = "usage: fake-heroku [--listen 127.0.0.1:5001] [--client-id ID --client-secret SECRET --redirect-uri URI]";

struct Args {
    listen: SocketAddr,
    client: Option<(String, String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 5001));
    let (mut id, mut secret, mut uri) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--listen" => {
                listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e}"))?
            }
            "--client-id" => id = Some(value),
            "--client-secret" => secret = Some(value),
            "--redirect-uri" => uri = Some(value),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let client = match (id, secret, uri) {
        (Some(i), Some(s), Some(u)) => Some((i, s, u)),
        (None, None, None) => None,
        _ => {
            return Err(format!(
                "--client-id, --client-secret and --redirect-uri go together\n{USAGE}"
            ));
        }
    };
    Ok(Args { listen, client })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let heroku = match FakeHeroku::start_on(args.listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("fake-heroku: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    if let Some((id, secret, uri)) = &args.client {
        heroku.register_client(id, secret, uri);
        tracing::info!(client_id = %id, redirect_uri = %uri, "registered OAuth client");
    }
    // The one line on stdout: scripts wait for it to know the server is up.
    println!("fake-heroku listening on {}", heroku.url());
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("stopping");
    ExitCode::SUCCESS
}
