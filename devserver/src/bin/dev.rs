//! `make dev`: the local stack in the foreground on 127.0.0.1:${PORT:-8787}.

use devserver::{LocalStack, Options};

#[tokio::main]
async fn main() {
    devserver::init_logs("info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn");
    let port = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(8787);
    let stack = match LocalStack::start(Options::dev(port)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let base = &stack.base_url;
    println!();
    println!("  API (API Gateway emulator)   {base}");
    println!("  webhook URL                  {base}/webhooks/heroku");
    println!("  OAuth callback               {base}/integrations/heroku/callback");
    println!(
        "  console (open in a browser)  {}   (the reference console; the OAuth callback lands there)",
        stack.config.console_url.as_deref().unwrap_or("-")
    );
    println!(
        "  DynamoDB / Secrets Manager   {} ({}; the functions use {}, which serialises requests)",
        stack.emulator,
        if stack.moto_started {
            "moto_server, started here"
        } else {
            "AWS_ENDPOINT_URL"
        },
        stack.aws_endpoint
    );
    match &stack.heroku {
        Some(h) => {
            let user = h.create_user("dev@example.com");
            let app = h.create_app(&user, "dev-app");
            h.add_postgres(&app, "heroku-postgresql:essential-0");
            h.set_browser_user(&user);
            println!(
                "  Heroku (fake)                {} — control API under /_fake/ (see fake-heroku/README.md)",
                h.url()
            );
            println!(
                "                               user dev@example.com owns app `dev-app` with Postgres; it approves OAuth"
            );
        }
        None => println!(
            "  Heroku                       {}",
            stack.config.heroku_api_url
        ),
    }
    println!(
        "  table / secret prefix        {} / {}",
        stack.config.table_name, stack.config.secret_prefix
    );
    println!(
        "  reconciler                   a pass every {} s (RECONCILE_INTERVAL_S) via SQS queue {}",
        devserver::reconcile_interval().as_secs(),
        stack.reconcile_queue_url
    );
    println!(
        "  change events (EventBridge)  bus {} at {}",
        stack.config.event_bus_name.as_deref().unwrap_or("-"),
        stack.aws_endpoint
    );
    println!();
    println!(
        "  A token for project `demo`:  TOKEN=$(curl -s '{base}/_dev/token?sub=dev-user&project_id=demo')"
    );
    println!(
        "  then e.g.                    curl -s -X POST -H \"Authorization: Bearer $TOKEN\" {base}/projects/demo/integrations/heroku/authorize"
    );
    match write_env_file(&stack) {
        Ok(path) => println!("  for cargo lambda watch        --env-file {path}"),
        Err(e) => eprintln!("  (could not write .stack/dev.env: {e})"),
    }
    println!();
    println!("ready: {base} (Ctrl-C stops everything)");
    let _ = tokio::signal::ctrl_c().await;
    println!("stopping");
}

/// The running stack's settings as an env file, so `cargo lambda watch --env-file` runs
/// the real function binaries against it.
fn write_env_file(stack: &LocalStack) -> std::io::Result<String> {
    let c = &stack.config;
    let lines = [
        ("TABLE_NAME", c.table_name.clone()),
        ("SECRET_PREFIX", c.secret_prefix.clone()),
        (
            "PUBLIC_BASE_URL",
            c.public_base_url.clone().unwrap_or_default(),
        ),
        ("CONSOLE_URL", c.console_url.clone().unwrap_or_default()),
        ("HEROKU_API_URL", c.heroku_api_url.clone()),
        ("HEROKU_ID_URL", c.heroku_id_url.clone()),
        (
            "HEROKU_OAUTH_CLIENT_ID",
            c.heroku_oauth_client_id.clone().unwrap_or_default(),
        ),
        (
            "HEROKU_OAUTH_CLIENT_SECRET_ID",
            c.heroku_oauth_client_secret_id.clone().unwrap_or_default(),
        ),
        (
            "WEBHOOK_SIGNING_KEY_ID",
            c.webhook_signing_key_id.clone().unwrap_or_default(),
        ),
        (
            "EVENT_BUS_NAME",
            c.event_bus_name.clone().unwrap_or_default(),
        ),
        ("RECONCILE_QUEUE_URL", stack.reconcile_queue_url.clone()),
        ("AWS_ENDPOINT_URL", stack.aws_endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    let text: String = lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::create_dir_all(".stack")?;
    std::fs::write(".stack/dev.env", text)?;
    Ok(".stack/dev.env".to_owned())
}
