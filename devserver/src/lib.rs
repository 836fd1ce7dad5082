//! The local stack behind `make dev` and `make demo`: moto (unless `AWS_ENDPOINT_URL`),
//! the fake Heroku (unless `HEROKU_API_URL`/`HEROKU_ID_URL`), the table and bootstrap
//! secrets, and every function's real handler behind the API Gateway emulator.

use axum::Router;
use axum::extract::Query;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use fake_heroku::FakeHeroku;
use local::gateway::Gateway;
use local::jwt::{Authorizer, DEFAULT_DEV_JWT_SECRET};
use local::moto::Moto;
use local::net::{self, Running};
use local::proxy::FaultProxy;
use reconcile::{Reconcile, SqsQueue};
use shared::config::{Config, Needs};
use shared::http::Function;
use shared::metrics::NoMetrics;
use shared::reconcile::ReconcileSettings;
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
    /// How often the reconciler runs a pass (`RECONCILE_INTERVAL_S`, default 60 s);
    /// `None`: only when asked (`LocalStack::reconcile_pass`).
    pub reconcile_every: Option<Duration>,
    /// Table name and secret prefix when the environment does not set them.
    pub table_name: String,
    pub secret_prefix: String,
}

impl Options {
    pub fn dev(port: u16) -> Options {
        Options {
            port,
            log_requests: true,
            reconcile_every: Some(reconcile_interval()),
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
    /// The reconciler's SQS queue in the emulator.
    pub reconcile_queue_url: String,
    sqs: aws_sdk_sqs::Client,
    _reconcile_loop: Option<AbortOnDrop>,
    _proxy: FaultProxy,
    _moto: Option<Moto>,
    _server: Running,
}

/// `RECONCILE_INTERVAL_S` (docs/contract.md, "Configuration"; local stack only), 60 s
/// when unset or not a positive number of seconds.
pub fn reconcile_interval() -> Duration {
    env("RECONCILE_INTERVAL_S")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

/// The reconcile queue's name in the local stack (SQS in moto).
pub const DEV_RECONCILE_QUEUE: &str = "heroku-db-url-sync-reconcile";

/// The change events' bus in the local stack unless `EVENT_BUS_NAME` says otherwise.
pub const DEV_EVENT_BUS: &str = "heroku-db-url-sync";

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
            ("EVENT_BUS_NAME", DEV_EVENT_BUS.to_owned()),
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
                event_bus: true,
            },
        )
        .map_err(|e| e.to_string())?;

        let sdk = shared::aws::local(&aws_endpoint).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        local::bootstrap::ensure_table(&dynamo, &config.table_name).await?;
        if let Some(bus) = &config.event_bus_name {
            local::bootstrap::ensure_event_bus(&sdk, bus).await?;
        }
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
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let reconcile_queue_url = local::bootstrap::ensure_queue(&sqs, DEV_RECONCILE_QUEUE).await?;
        let reconcile_loop = opts.reconcile_every.map(|every| {
            let reconciler = Reconcile::new(
                svc.clone(),
                SqsQueue::new(sqs.clone(), reconcile_queue_url.clone()),
                dev_reconcile_settings(every),
            );
            AbortOnDrop(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await; // the first tick is now: give the stack a moment
                loop {
                    tick.tick().await;
                    run_pass(&reconciler).await;
                }
            }))
        });
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
            reconcile_queue_url,
            sqs,
            _reconcile_loop: reconcile_loop,
            _proxy: proxy,
            _moto: moto,
            _server: server,
        })
    }

    /// One reconcile pass now, as the scheduler starts one: plan onto the queue, then
    /// drain it as Lambda's SQS trigger would. `grace`: how old a release must be before
    /// a missing delivery counts as lost (the demo's are seconds old).
    pub async fn reconcile_pass(&self, grace: Duration) -> Result<ReconcileSummary, String> {
        let mut settings = dev_reconcile_settings(reconcile_interval());
        settings.grace = grace;
        let reconciler = Reconcile::new(
            self.svc.clone(),
            SqsQueue::new(self.sqs.clone(), self.reconcile_queue_url.clone()),
            settings,
        );
        let planned = reconciler.plan().await?;
        let worked = reconcile::drain(&reconciler).await?;
        Ok(ReconcileSummary {
            apps: planned.apps,
            messages: worked,
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

/// What one local pass did.
#[derive(Clone, Debug)]
pub struct ReconcileSummary {
    pub apps: usize,
    pub messages: usize,
}

/// The production settings, but a subscription check every pass (calls cost nothing
/// here) and a grace of a few seconds, so a lost delivery shows up within one interval.
fn dev_reconcile_settings(interval: Duration) -> ReconcileSettings {
    ReconcileSettings {
        interval,
        subscription_check_every: 1,
        grace: Duration::from_secs(5).min(interval),
        ..ReconcileSettings::default()
    }
}

/// One pass of the background loop; failures are logged and the next tick tries again.
async fn run_pass(reconciler: &Reconcile) {
    match reconciler.plan().await {
        Ok(planned) => match reconcile::drain(reconciler).await {
            Ok(worked) => tracing::info!(
                apps = planned.apps,
                messages = worked,
                "reconcile pass done"
            ),
            Err(e) => tracing::warn!(error = %e, "reconcile pass: the queue failed"),
        },
        Err(e) => tracing::warn!(error = %e, "reconcile pass could not be planned"),
    }
}

/// Stops the background task when the stack is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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

/// The reference console: one static page and its script, compiled into the binary so
/// `target/debug/dev` serves it from anywhere. It uses only the public API and
/// `/_dev/token`, as a platform's own console would use the API and its own tokens.
const CONSOLE_HTML: &str = include_str!("../console/index.html");
const CONSOLE_JS: &str = include_str!("../console/console.js");

/// The role `/_dev/token` puts in `project_role` when none is asked for: the owner, who
/// may do everything the console offers (docs/contract.md, "Who may do what").
pub const DEFAULT_DEV_ROLE: &str = "owner";

/// Every function behind the API Gateway emulator, plus local-only helpers: `/console`
/// (the reference console, where the OAuth callback lands) and `/_dev/token` (mints a
/// JWT for curl and the console).
pub fn router(svc: Arc<Services>, jwt_secret: &str, log_requests: bool) -> Router {
    let gateway = mount_all(
        svc,
        Gateway::new(Authorizer::new(jwt_secret, None, None)).log_requests(log_requests),
    );
    let secret = jwt_secret.to_owned();
    Router::new()
        .route("/console", get(console_page))
        .route("/console/console.js", get(console_script))
        .route(
            "/_dev/token",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let secret = secret.clone();
                async move { dev_token(&secret, &q) }
            }),
        )
        .merge(gateway.router())
}

/// A token for `sub` (default `dev-user`) on `project_id` (default `demo`) with
/// `project_role` = `role` (default owner) and the space-separated `scope`, one hour.
fn dev_token(secret: &str, q: &HashMap<String, String>) -> String {
    let sub = q.get("sub").map_or("dev-user", String::as_str);
    let project = q.get("project_id").map_or("demo", String::as_str);
    let role = q
        .get("role")
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_DEV_ROLE);
    let scopes: Vec<&str> = q
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut extra = serde_json::Map::new();
    extra.insert("project_role".into(), role.into());
    local::jwt::mint_with_claims(
        secret,
        sub,
        project,
        &scopes,
        &extra,
        Duration::from_secs(3600),
    )
}

// `no-store`: the page is the binary's, so a browser kept open across a rebuild must not
// run a stale copy against a newer API.
async fn console_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        CONSOLE_HTML,
    )
}

async fn console_script() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        CONSOLE_JS,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(q: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
        let q: HashMap<String, String> = q
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Authorizer::new("s", None, None)
            .verify(&dev_token("s", &q))
            .expect("a dev token verifies")
    }

    #[test]
    fn dev_tokens_carry_the_role_asked_for_and_owner_by_default() {
        let c = claims(&[]);
        assert_eq!(c["sub"], "dev-user");
        assert_eq!(c["project_id"], "demo");
        assert_eq!(c["project_role"], DEFAULT_DEV_ROLE);
        assert!(!c.contains_key("scope"));

        let c = claims(&[
            ("sub", "kim"),
            ("project_id", "p1"),
            ("role", "collaborator"),
            ("scope", "integrations/admin"),
        ]);
        assert_eq!(c["sub"], "kim");
        assert_eq!(c["project_role"], "collaborator");
        assert_eq!(c["scope"], "integrations/admin");
        // An empty role is no role asked for, not an empty claim.
        assert_eq!(claims(&[("role", " ")])["project_role"], DEFAULT_DEV_ROLE);
    }

    /// Every `api(METHOD, projectPath(PATH))` call in the console's script, with each
    /// `${…}` interpolation replaced by `X`.
    fn console_calls() -> Vec<(String, String)> {
        let mut calls = Vec::new();
        for chunk in CONSOLE_JS.split("api(").skip(1) {
            let Some((head, rest)) = chunk.split_once("projectPath(") else {
                continue;
            };
            let method = head.trim().trim_matches(|c| c == '"' || c == ',').trim();
            let quote = rest.chars().next().expect("a quoted path");
            let raw = rest[1..].split(quote).next().expect("a closed quote");
            let mut path = String::new();
            let mut left = raw;
            while let Some((before, after)) = left.split_once("${") {
                path.push_str(before);
                path.push('X');
                left = after.split_once('}').map_or("", |(_, a)| a);
            }
            path.push_str(left);
            calls.push((method.trim_matches('"').to_owned(), path));
        }
        calls
    }

    #[test]
    fn the_console_calls_only_routes_of_the_api() {
        assert!(CONSOLE_HTML.contains(r#"<script src="/console/console.js">"#));
        assert!(CONSOLE_HTML.contains(r#"aria-live="polite""#));
        let calls = console_calls();
        assert!(calls.len() >= 7, "{calls:?}");
        for (method, path) in &calls {
            let full = format!("/projects/demo{path}");
            let served = shared::http::ROUTES
                .iter()
                .any(|r| r.matches(method, &full).is_some());
            assert!(
                served,
                "the console calls {method} {full}, which is no route"
            );
        }
        // The confirm step (docs/contract.md): the console redeems the callback's
        // confirmation, or nothing would ever connect through it.
        assert!(
            calls.contains(&("POST".into(), "/integrations/heroku/confirm".into())),
            "{calls:?}"
        );
    }
}
