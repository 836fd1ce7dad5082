//! The local stack behind `make dev` and `make demo`: moto (unless `AWS_ENDPOINT_URL`),
//! the fake Heroku (unless `HEROKU_API_URL`/`HEROKU_ID_URL`), the table and bootstrap
//! secrets, and every function's real handler behind the API Gateway emulator.

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use fake_heroku::FakeHeroku;
use local::gateway::Gateway;
use local::jwt::{Authorizer, DEFAULT_DEV_JWT_SECRET};
use local::moto::Moto;
use local::net::{self, Running};
use local::proxy::FaultProxy;
use shared::config::{Config, Needs};
use shared::http::Function;
use shared::metrics::NoMetrics;
use shared::services::Services;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub mod events;

/// The OAuth client the fake Heroku knows us as (a UUID, like Heroku's client ids).
pub const DEV_CLIENT_ID: &str = "3b5f2c1e-8d4a-4f6b-9c2d-1a7e5f3b9d20";
pub const DEV_CLIENT_SECRET: &str = "dev-oauth-client-secret";

/// What to start; every field has the documented local default.
#[derive(Clone, Debug)]
pub struct Options {
    pub port: u16,
    /// Log each API request (method, path, status, time) — `make dev` does.
    pub log_requests: bool,
    /// Table name and secret prefix when the environment does not set them.
    pub table_name: String,
    pub secret_prefix: String,
}

impl Options {
    pub fn dev(port: u16) -> Options {
        Options {
            port,
            log_requests: true,
            table_name: "heroku-db-url-sync-dev".into(),
            secret_prefix: "heroku-db-url-sync-dev".into(),
        }
    }
}

/// The running stack; everything it started stops when it is dropped.
pub struct LocalStack {
    pub base_url: String,
    pub config: Config,
    pub svc: Arc<Services>,
    pub jwt_secret: String,
    /// Present when we started the fake Heroku ourselves.
    pub heroku: Option<FakeHeroku>,
    /// What the functions talk to: the serialising proxy in front of the emulator.
    pub aws_endpoint: String,
    /// moto's own URL (or `AWS_ENDPOINT_URL`).
    pub emulator: String,
    pub moto_started: bool,
    _proxy: FaultProxy,
    _moto: Option<Moto>,
    _server: Running,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl LocalStack {
    pub async fn start(opts: Options) -> Result<LocalStack, String> {
        // Bind first: a taken port is the most likely failure and should be the first said.
        let addr = SocketAddr::from(([127, 0, 0, 1], opts.port));
        let listener = net::bind(addr)
            .await
            .map_err(|e| format!("{e}. Set PORT to use another port."))?;
        let base_url = format!("http://{addr}");

        let (emulator, moto) = match env("AWS_ENDPOINT_URL") {
            Some(url) => (url, None),
            None => {
                let moto = Moto::start(0)?;
                (moto.url.clone(), Some(moto))
            }
        };
        // moto does not make conditional writes atomic under concurrent requests (the
        // sync's lease relies on that); the proxy forwards one request at a time.
        let proxy = FaultProxy::start(&emulator)
            .await
            .map_err(|e| format!("cannot start the proxy in front of {emulator}: {e}"))?;
        let aws_endpoint = proxy.url().to_owned();
        let heroku = match (env("HEROKU_API_URL"), env("HEROKU_ID_URL")) {
            (Some(_), Some(_)) => None,
            _ => Some(FakeHeroku::start().await),
        };
        let heroku_url = heroku.as_ref().map(FakeHeroku::url);
        let prefix = env("SECRET_PREFIX").unwrap_or_else(|| opts.secret_prefix.clone());
        let defaults: HashMap<&str, String> = HashMap::from([
            ("TABLE_NAME", opts.table_name.clone()),
            ("SECRET_PREFIX", prefix.clone()),
            ("PUBLIC_BASE_URL", base_url.clone()),
            ("CONSOLE_URL", format!("{base_url}/console")),
            ("HEROKU_OAUTH_CLIENT_ID", DEV_CLIENT_ID.to_owned()),
            (
                "HEROKU_OAUTH_CLIENT_SECRET_ID",
                format!("{prefix}/heroku-oauth-client-secret"),
            ),
            (
                "WEBHOOK_SIGNING_KEY_ID",
                format!("{prefix}/webhook-signing-key"),
            ),
        ]);
        let config = Config::from_lookup(
            |name| {
                // Our own fake wins over a half-set pair of Heroku URLs.
                if let Some(url) = &heroku_url
                    && (name == "HEROKU_API_URL" || name == "HEROKU_ID_URL")
                {
                    return Some(url.clone());
                }
                env(name).or_else(|| defaults.get(name).cloned())
            },
            Needs {
                oauth_client: true,
                signing_key: true,
                console_url: true,
            },
        )
        .map_err(|e| e.to_string())?;

        let sdk = shared::aws::local(&aws_endpoint).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        local::bootstrap::ensure_table(&dynamo, &config.table_name).await?;
        let vault =
            shared::adapters::SecretsManagerVault::new(aws_sdk_secretsmanager::Client::new(&sdk));
        // The documented local key, so the signed sample events in events/ verify here.
        local::bootstrap::ensure_secret(
            &vault,
            config.signing_key_id().map_err(|e| e.to_string())?,
            local::LOCAL_SIGNING_KEY,
        )
        .await?;
        let client_secret =
            env("HEROKU_OAUTH_CLIENT_SECRET").unwrap_or_else(|| DEV_CLIENT_SECRET.into());
        local::bootstrap::ensure_secret(
            &vault,
            config.oauth_client_secret_id().map_err(|e| e.to_string())?,
            &client_secret,
        )
        .await?;
        if let Some(h) = &heroku {
            h.register_client(
                config.oauth_client_id().map_err(|e| e.to_string())?,
                &client_secret,
                &format!(
                    "{}/integrations/heroku/callback",
                    config.public_base_url.as_deref().unwrap_or(&base_url)
                ),
            );
            h.set_retry_schedule(vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ]);
        }

        let svc = Arc::new(
            Services::new(config.clone(), &sdk, Arc::new(NoMetrics)).map_err(|e| e.to_string())?,
        );
        let jwt_secret = env("DEV_JWT_SECRET").unwrap_or_else(|| DEFAULT_DEV_JWT_SECRET.into());
        let router = router(svc.clone(), &jwt_secret, opts.log_requests);
        let server = net::spawn(listener, router);
        Ok(LocalStack {
            base_url,
            config,
            svc,
            jwt_secret,
            heroku,
            aws_endpoint,
            moto_started: moto.is_some(),
            emulator,
            _proxy: proxy,
            _moto: moto,
            _server: server,
        })
    }

    /// A platform token for `sub` on `project` (what the platform would mint).
    pub fn token(&self, sub: &str, project: &str, scopes: &[&str]) -> String {
        local::jwt::mint_for(
            &self.jwt_secret,
            sub,
            project,
            scopes,
            Duration::from_secs(3600),
        )
    }
}

/// Mounts every function's real handler on its routes.
pub fn mount_all(svc: Arc<Services>, gateway: Gateway) -> Gateway {
    gateway
        .mount_handler(
            Function::Webhook,
            Arc::new(webhook::Webhook::new(svc.clone())),
        )
        .mount_handler(
            Function::Connect,
            Arc::new(connect::Connect::new(svc.clone())),
        )
        .mount_handler(Function::OptOut, Arc::new(opt_out::OptOut::new(svc)))
}

/// Every function behind the API Gateway emulator, plus two local-only helpers:
/// `/console` (where the OAuth callback lands) and `/_dev/token` (mints a JWT for curl).
pub fn router(svc: Arc<Services>, jwt_secret: &str, log_requests: bool) -> Router {
    let gateway = mount_all(
        svc,
        Gateway::new(Authorizer::new(jwt_secret, None, None)).log_requests(log_requests),
    );
    let secret = jwt_secret.to_owned();
    Router::new()
        .route("/console", get(console))
        .route(
            "/_dev/token",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let secret = secret.clone();
                async move {
                    let sub = q.get("sub").map_or("dev-user", String::as_str);
                    let project = q.get("project_id").map_or("demo", String::as_str);
                    let scopes: Vec<&str> = q
                        .get("scope")
                        .map(|s| s.split(' ').collect())
                        .unwrap_or_default();
                    local::jwt::mint_for(&secret, sub, project, &scopes, Duration::from_secs(3600))
                }
            }),
        )
        .merge(gateway.router())
}

async fn console(Query(q): Query<HashMap<String, String>>) -> axum::response::Html<String> {
    let mut rows: Vec<String> = q
        .iter()
        .map(|(k, v)| {
            format!(
                "<li><code>{}</code> = <code>{}</code></li>",
                escape(k),
                escape(v)
            )
        })
        .collect();
    rows.sort();
    axum::response::Html(format!(
        "<!doctype html><title>Console</title><h1>Back in the console</h1><ul>{}</ul>",
        rows.join("")
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Human-readable logs for the terminal.
pub fn init_logs(default: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_owned());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .compact()
        .try_init();
}
