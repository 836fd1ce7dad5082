//! The stack the bootstraps run against: moto behind the fault proxy (a fixed delay per
//! AWS call), the fake Heroku (a fixed delay per API call, deliveries held so the bench
//! hands them out), the table and bootstrap secrets, and projects linked the way the
//! connect function links them.

use crate::runtime::RuntimeApi;
use crate::tls::{Pki, TlsFront};
use axum::body::Bytes;
use fake_heroku::{App, DeliveryMode, FakeHeroku, HeldDelivery, User};
use local::gateway::{EventParts, build_event};
use local::moto::Moto;
use local::proxy::FaultProxy;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use shared::config::{Config, Needs};
use shared::domain::{ConfigVarName, EnvVarName, ProjectId};
use shared::heroku::TokenGrant;
use shared::http::ROUTES;
use shared::linking::{self, LinkRequest};
use shared::metrics::NoMetrics;
use shared::ports::SecretVault;
use shared::services::Services;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The dev stack's bus name, which the functions publish change events on.
pub const EVENT_BUS: &str = "heroku-db-url-sync";

pub const CLIENT_ID: &str = "bench-oauth-client";
pub const CLIENT_SECRET: &str = "bench-oauth-client-secret";
pub const TABLE: &str = "bench";
pub const PREFIX: &str = "bench";
pub const ENV_VAR: &str = "PG_DATABASE_URL";
pub const CONFIG_VAR: &str = "DATABASE_URL";
/// Never called: deliveries are held, and the bench hands them to the functions itself.
const PUBLIC_BASE_URL: &str = "http://127.0.0.1:9";

/// One linked app: a project whose env var follows the app's `DATABASE_URL`.
#[derive(Clone, Debug)]
pub struct Linked {
    pub project: ProjectId,
    pub app: App,
    /// The project's Heroku access token, for the bench's own timing calls.
    pub token: String,
}

pub struct Stack {
    /// Kept for its lifetime: dropping it stops moto.
    _moto: Moto,
    pub proxy: FaultProxy,
    pub heroku: FakeHeroku,
    pub config: Config,
    /// Services over the proxy, for setup (linking) the way the connect function does it.
    pub svc: Arc<Services>,
    /// Secrets Manager and DynamoDB without the proxy: reads for checks, never counted
    /// or delayed.
    pub direct: shared::adapters::SecretsManagerVault,
    pub direct_store: shared::adapters::DynamoStore,
    /// The DynamoDB client around the proxy, for item-level checks (sizes).
    pub direct_dynamo: aws_sdk_dynamodb::Client,
    pub user: User,
    /// Every configuration name, as the functions read them.
    pub config_env: Vec<(String, String)>,
    /// HTTPS in front of the proxy and of the fake Heroku: what the functions call.
    pub pki: Pki,
    pub aws_https: TlsFront,
    pub heroku_https: TlsFront,
}

impl Stack {
    pub async fn start() -> Result<Stack, String> {
        let moto = Moto::start(0)?;
        let proxy = FaultProxy::start(&moto.url)
            .await
            .map_err(|e| format!("fault proxy: {e}"))?;
        let heroku = FakeHeroku::start().await;
        heroku.set_delivery_mode(DeliveryMode::Hold);
        // The fake's per-user pools never refill; thousands of deliveries would drain one.
        heroku.set_rate_limit(u32::MAX / 2);
        let config_env: Vec<(String, String)> = [
            ("TABLE_NAME", TABLE.to_owned()),
            ("SECRET_PREFIX", PREFIX.to_owned()),
            ("PUBLIC_BASE_URL", PUBLIC_BASE_URL.to_owned()),
            (
                "CONSOLE_URL",
                "https://console.example.com/projects".to_owned(),
            ),
            ("HEROKU_API_URL", heroku.url()),
            ("HEROKU_ID_URL", heroku.url()),
            ("HEROKU_OAUTH_CLIENT_ID", CLIENT_ID.to_owned()),
            (
                "HEROKU_OAUTH_CLIENT_SECRET_ID",
                format!("{PREFIX}/heroku-oauth-client-secret"),
            ),
            (
                "WEBHOOK_SIGNING_KEY_ID",
                format!("{PREFIX}/webhook-signing-key"),
            ),
            ("EVENT_BUS_NAME", EVENT_BUS.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config = Config::from_lookup(
            |k| {
                config_env
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            },
            Needs {
                oauth_client: true,
                signing_key: true,
                console_url: true,
                event_bus: true,
            },
        )
        .map_err(|e| e.to_string())?;

        let direct_sdk = shared::aws::local(&moto.url).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&direct_sdk);
        local::bootstrap::ensure_table(&dynamo, TABLE).await?;
        if let Some(bus) = &config.event_bus_name {
            local::bootstrap::ensure_event_bus(&direct_sdk, bus).await?;
        }
        let direct_store = shared::adapters::DynamoStore::new(dynamo.clone(), TABLE.to_owned());
        let direct = shared::adapters::SecretsManagerVault::new(
            aws_sdk_secretsmanager::Client::new(&direct_sdk),
        );
        let key_id = config.signing_key_id().map_err(|e| e.to_string())?;
        local::bootstrap::ensure_secret(&direct, key_id, local::LOCAL_SIGNING_KEY).await?;
        let secret_id = config.oauth_client_secret_id().map_err(|e| e.to_string())?;
        local::bootstrap::ensure_secret(&direct, secret_id, CLIENT_SECRET).await?;
        heroku.register_client(
            CLIENT_ID,
            CLIENT_SECRET,
            &format!("{PUBLIC_BASE_URL}/integrations/heroku/callback"),
        );
        let proxied = shared::aws::local(proxy.url()).await;
        let svc = Arc::new(
            Services::new(config.clone(), &proxied, Arc::new(NoMetrics))
                .map_err(|e| e.to_string())?,
        );
        let user = heroku.create_user("bench@example.com");
        let pki = Pki::create()?;
        let proxy_addr = proxy
            .url()
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| format!("proxy address: {e}"))?;
        let aws_https = pki
            .front(proxy_addr)
            .await
            .map_err(|e| format!("TLS in front of the proxy: {e}"))?;
        let heroku_https = pki
            .front(heroku.addr())
            .await
            .map_err(|e| format!("TLS in front of the fake Heroku: {e}"))?;
        Ok(Stack {
            pki,
            aws_https,
            heroku_https,
            _moto: moto,
            proxy,
            heroku,
            config,
            svc,
            direct,
            direct_store,
            direct_dynamo: dynamo,
            user,
            config_env,
        })
    }

    /// The same fixed delay on every AWS call and every Heroku API call.
    pub fn set_delay(&self, d: Duration) {
        self.proxy.set_delay(d);
        self.heroku.set_api_latency(d);
    }

    /// Connects `project` to the bench user's Heroku account the way the confirm step
    /// does (no OAuth round trip); returns the access token it was granted.
    pub async fn connect(&self, project: &ProjectId) -> Result<String, String> {
        let tokens = self.heroku.issue_tokens(&self.user, CLIENT_ID);
        let grant: TokenGrant = serde_json::from_value(json!({
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in,
            "user_id": self.user.id,
        }))
        .map_err(|e| e.to_string())?;
        linking::record_connection(&self.svc, project, "bench-user", &grant)
            .await
            .map_err(|e| format!("connect {project}: {e}"))?;
        Ok(tokens.access_token)
    }

    /// A new app with Postgres, a project connected to the bench user's Heroku account,
    /// and the project's `PG_DATABASE_URL` linked to the app's `DATABASE_URL` (which
    /// writes the current value at once and subscribes to the app's releases).
    pub async fn link_new(&self, project: &str, app_name: &str) -> Result<Linked, String> {
        let app = self.heroku.create_app(&self.user, app_name);
        self.heroku
            .add_postgres(&app, "heroku-postgresql:essential-0");
        let project = ProjectId::parse(project).map_err(|e| e.to_string())?;
        let access_token = self.connect(&project).await?;
        linking::link(
            &self.svc,
            &LinkRequest {
                project: project.clone(),
                env_var: EnvVarName::parse(ENV_VAR).map_err(|e| e.to_string())?,
                app: app.id.clone(),
                config_var: ConfigVarName::parse(CONFIG_VAR).map_err(|e| e.to_string())?,
                sub: "bench-user".into(),
                allow_missing: false,
                request_base: None,
            },
        )
        .await
        .map_err(|e| format!("link {project}: {e}"))?;
        Ok(Linked {
            project,
            app,
            token: access_token,
        })
    }

    /// The env var's value now, read around the proxy.
    pub async fn env_value(&self, project: &ProjectId) -> Option<String> {
        self.read_secret(&self.svc.names.env_var(project, ENV_VAR))
            .await
    }

    /// A secret's value now, read around the proxy.
    pub async fn read_secret(&self, name: &str) -> Option<String> {
        self.direct
            .read(name)
            .await
            .ok()
            .flatten()
            .map(|s| s.expose_secret().to_owned())
    }

    /// What a function needs in its environment: Lambda's own variables, credentials
    /// and region for the SDK, every config name, and HTTPS endpoints (the proxy's and
    /// the fake Heroku's TLS fronts) with a root bundle that includes the bench CA.
    pub fn lambda_env(&self, runtime: &RuntimeApi, function: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", format!("bench-{function}")),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/bench-{function}"),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]bench".into(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("TZ", ":UTC".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
            ("AWS_ENDPOINT_URL", self.aws_https.url()),
            ("SSL_CERT_FILE", self.pki.bundle.display().to_string()),
            ("SSL_CERT_DIR", self.pki.empty_dir.display().to_string()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_SESSION_TOKEN", "test".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in &self.config_env {
            let v = match k.as_str() {
                "HEROKU_API_URL" | "HEROKU_ID_URL" => self.heroku_https.url(),
                _ => v.clone(),
            };
            env.push((k.clone(), v));
        }
        env
    }

    /// Rotates the app's credentials and returns the delivery Heroku would send.
    pub fn rotate(&self, app: &App) -> Result<HeldDelivery, String> {
        self.heroku.rotate_credentials(app);
        self.one_held()
    }

    /// A code deploy: a release that changes no config var.
    pub fn deploy(&self, app: &App) -> Result<HeldDelivery, String> {
        self.heroku.deploy(app);
        self.one_held()
    }

    fn one_held(&self) -> Result<HeldDelivery, String> {
        let mut held = self.heroku.take_held();
        match held.len() {
            1 => Ok(held.remove(0)),
            n => Err(format!("expected one held delivery, found {n}")),
        }
    }
}

/// The API Gateway (HTTP API, payload 2.0) event for a delivery, exactly as the webhook
/// function receives it in AWS: Heroku's headers and body, untouched.
pub fn webhook_event(held: &HeldDelivery, request_id: &str) -> Bytes {
    let route = ROUTES
        .iter()
        .find(|r| r.matches("POST", "/webhooks/heroku").is_some())
        .expect("the webhook route");
    let mut headers = Map::new();
    for (k, v) in &held.headers {
        headers.insert(k.to_ascii_lowercase(), Value::String(v.clone()));
    }
    headers.insert(
        "host".into(),
        json!("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    headers
        .entry("content-type")
        .or_insert(json!("application/json"));
    let event = build_event(EventParts {
        route,
        path: "/webhooks/heroku",
        query: "",
        headers,
        cookies: vec![],
        params: HashMap::new(),
        jwt: None,
        body: &held.body,
        base64: false,
        request_id: request_id.to_owned(),
        time: time::OffsetDateTime::now_utc(),
    });
    Bytes::from(event.to_string())
}
