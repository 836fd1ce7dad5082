//! A whole local stack for one test: moto (shared per process) behind a fault proxy, a
//! fresh table and secret prefix, the fake Heroku, and an API Gateway emulator on which
//! the test mounts the real handlers.

use crate::bootstrap;
use crate::gateway::Gateway;
use crate::jwt::{Authorizer, DEFAULT_DEV_JWT_SECRET};
use crate::moto::Moto;
use crate::net::{self, Running};
use crate::proxy::FaultProxy;
use fake_heroku::{FakeHeroku, User};
use secrecy::ExposeSecret;
use shared::clock::ShiftedClock;
use shared::config::{Config, Needs};
use shared::domain::{AppId, AppRecord, ConfigVarName, EnvVarName, ProjectId};
use shared::heroku::TokenGrant;
use shared::linking::{self, LinkRequest, Linked};
use shared::metrics::RecordedMetrics;
use shared::ports::{AppStore, SecretVault};
use shared::services::Services;
use std::net::SocketAddr;
use std::sync::Arc;

pub const CLIENT_ID: &str = "local-oauth-client";
pub const CLIENT_SECRET: &str = "local-oauth-client-secret";

pub struct Stack {
    pub heroku: FakeHeroku,
    pub proxy: FaultProxy,
    pub config: Config,
    pub svc: Arc<Services>,
    pub metrics: Arc<RecordedMetrics>,
    pub gateway: Running,
    /// Clients that bypass the proxy, for assertions while faults are injected.
    pub dynamo: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// EventBridge in moto, bypassing the proxy; this stack's bus is
    /// `config.event_bus_name`.
    pub events: aws_sdk_eventbridge::Client,
    /// SQS in moto, through the proxy, and this stack's own reconcile queue.
    pub sqs: aws_sdk_sqs::Client,
    pub reconcile_queue_url: String,
    pub signing_key: String,
    pub jwt_secret: String,
    /// The services' clock (`svc.clock`): real time, which a test can move forward (a
    /// confirmation expiring). The sync core and token manager keep real time.
    pub clock: Arc<ShiftedClock>,
}

/// How a test wires handlers onto the gateway once the services exist.
pub type Mount = Box<dyn FnOnce(Arc<Services>, Gateway) -> Gateway + Send>;

impl Stack {
    pub async fn start(mount: Mount) -> Stack {
        Self::start_with(mount, |g| g).await
    }

    pub async fn start_with(mount: Mount, tweak: impl FnOnce(Gateway) -> Gateway) -> Stack {
        Self::start_full(mount, tweak, |_| {}).await
    }

    /// A stack whose configuration `configure` adjusts (quotas, say) before the services
    /// are built from it.
    pub async fn start_configured(mount: Mount, configure: impl FnOnce(&mut Config)) -> Stack {
        Self::start_full(mount, |g| g, configure).await
    }

    async fn start_full(
        mount: Mount,
        tweak: impl FnOnce(Gateway) -> Gateway,
        configure: impl FnOnce(&mut Config),
    ) -> Stack {
        crate::logs::init_from_env();
        let moto = Moto::shared().to_owned();
        let proxy = FaultProxy::start(&moto).await.expect("fault proxy");
        let heroku = FakeHeroku::start().await;
        let listener = net::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("gateway port");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let run = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("test/{run}");
        let signing_key_id = format!("{prefix}/webhook-signing-key");
        let client_secret_id = format!("{prefix}/heroku-oauth-client-secret");
        let env = [
            ("TABLE_NAME", format!("t-{run}")),
            ("SECRET_PREFIX", prefix.clone()),
            ("PUBLIC_BASE_URL", base.clone()),
            (
                "CONSOLE_URL",
                "https://console.example.com/projects".to_owned(),
            ),
            ("HEROKU_API_URL", heroku.url()),
            ("HEROKU_ID_URL", heroku.url()),
            ("HEROKU_OAUTH_CLIENT_ID", CLIENT_ID.to_owned()),
            ("HEROKU_OAUTH_CLIENT_SECRET_ID", client_secret_id.clone()),
            ("WEBHOOK_SIGNING_KEY_ID", signing_key_id.clone()),
            // A bus of its own, so a test's rules see only its own change events.
            ("EVENT_BUS_NAME", format!("bus-{run}")),
        ];
        let mut config = Config::from_lookup(
            |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()),
            Needs {
                oauth_client: true,
                signing_key: true,
                console_url: true,
                event_bus: true,
            },
        )
        .expect("test config");
        configure(&mut config);

        let direct = shared::aws::local(&moto).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&direct);
        let secrets = aws_sdk_secretsmanager::Client::new(&direct);
        let events = aws_sdk_eventbridge::Client::new(&direct);
        bootstrap::ensure_table(&dynamo, &config.table_name)
            .await
            .expect("table");
        if let Some(bus) = &config.event_bus_name {
            bootstrap::ensure_event_bus(&direct, bus)
                .await
                .expect("event bus");
        }
        let vault = shared::adapters::SecretsManagerVault::new(secrets.clone());
        let signing_key = crate::LOCAL_SIGNING_KEY.to_owned();
        bootstrap::ensure_secret(&vault, &signing_key_id, &signing_key)
            .await
            .expect("signing key");
        bootstrap::ensure_secret(&vault, &client_secret_id, CLIENT_SECRET)
            .await
            .expect("client secret");
        heroku.register_client(
            CLIENT_ID,
            CLIENT_SECRET,
            &format!("{base}/integrations/heroku/callback"),
        );

        let proxied = shared::aws::local(proxy.url()).await;
        let sqs = aws_sdk_sqs::Client::new(&proxied);
        let reconcile_queue_url = bootstrap::ensure_queue(&sqs, &format!("reconcile-{run}"))
            .await
            .expect("reconcile queue");
        let metrics = Arc::new(RecordedMetrics::default());
        let clock = Arc::new(ShiftedClock::default());
        // One clock for everything: moving it on expires tokens and leases too.
        let svc = Services::new_at(config.clone(), &proxied, metrics.clone(), clock.clone())
            .expect("services");
        let svc = Arc::new(svc);
        let gateway = tweak(mount(
            svc.clone(),
            Gateway::new(Authorizer::new(DEFAULT_DEV_JWT_SECRET, None, None)),
        ));
        let gateway = net::spawn(listener, gateway.router());
        Stack {
            heroku,
            proxy,
            config,
            svc,
            metrics,
            gateway,
            dynamo,
            secrets,
            events,
            sqs,
            reconcile_queue_url,
            signing_key,
            jwt_secret: DEFAULT_DEV_JWT_SECRET.to_owned(),
            clock,
        }
    }

    pub fn url(&self) -> String {
        self.gateway.url()
    }

    /// Connects `project` to `user`'s Heroku account at once, with tokens the fake Heroku
    /// issues directly: what the OAuth callback and the confirm step end in, for tests
    /// that need a connected project (`client::Client::connect_via_oauth` goes through
    /// the HTTP routes instead).
    pub async fn connect(&self, project: &str, sub: &str, user: &User) {
        let tokens = self.heroku.issue_tokens(user, CLIENT_ID);
        let grant: TokenGrant = serde_json::from_value(serde_json::json!({
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in,
            "user_id": user.id,
        }))
        .expect("grant");
        linking::record_connection(
            &self.svc,
            &ProjectId::parse(project).expect("project"),
            sub,
            &grant,
        )
        .await
        .expect("record connection");
    }

    /// Links an env var the way the connect function does.
    pub async fn link(&self, project: &str, env_var: &str, app: &str, config_var: &str) -> Linked {
        linking::link(
            &self.svc,
            &LinkRequest {
                project: ProjectId::parse(project).expect("project"),
                env_var: EnvVarName::parse(env_var).expect("env var"),
                app: app.to_owned(),
                config_var: ConfigVarName::parse(config_var).expect("config var"),
                sub: "user-1".into(),
                allow_missing: false,
                request_base: None,
            },
        )
        .await
        .expect("link")
    }

    /// The env var's current value, read from moto directly.
    pub async fn env_value(&self, project: &str, env_var: &str) -> Option<String> {
        let vault = shared::adapters::SecretsManagerVault::new(self.secrets.clone());
        let name = self
            .svc
            .names
            .env_var(&ProjectId::parse(project).expect("project"), env_var);
        vault
            .read(&name)
            .await
            .expect("read env var")
            .map(|s| s.expose_secret().to_owned())
    }

    /// How many versions the env var secret has (each write of a new value adds one).
    pub async fn env_versions(&self, project: &str, env_var: &str) -> usize {
        let name = self
            .svc
            .names
            .env_var(&ProjectId::parse(project).expect("project"), env_var);
        match self
            .secrets
            .list_secret_version_ids()
            .secret_id(name)
            .include_deprecated(true)
            .send()
            .await
        {
            Ok(out) => out.versions().len(),
            Err(_) => 0,
        }
    }

    pub async fn app_record(&self, app_id: &str) -> Option<AppRecord> {
        let store =
            shared::adapters::DynamoStore::new(self.dynamo.clone(), self.config.table_name.clone());
        store
            .load_app(&AppId::parse(app_id).expect("app id"))
            .await
            .expect("load app")
    }

    /// Every item in the table, for "nothing changed" assertions.
    pub async fn table_snapshot(&self) -> Vec<String> {
        let out = self
            .dynamo
            .scan()
            .table_name(&self.config.table_name)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        // Through serde_json's sorted maps, so equal items print equal.
        let mut items: Vec<String> = out
            .items()
            .iter()
            .map(|i| {
                serde_dynamo::from_item::<_, serde_json::Value>(i.clone())
                    .expect("item as JSON")
                    .to_string()
            })
            .collect();
        items.sort();
        items
    }

    /// Every secret under our prefix with its current value, for "nothing changed".
    pub async fn secrets_snapshot(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let mut pages = self.secrets.list_secrets().into_paginator().send();
        while let Some(page) = pages.next().await {
            for s in page.expect("list secrets").secret_list() {
                let name = s.name().unwrap_or_default().to_owned();
                if !name.starts_with(&self.config.secret_prefix) {
                    continue;
                }
                let value = self
                    .secrets
                    .get_secret_value()
                    .secret_id(&name)
                    .send()
                    .await
                    .ok()
                    .and_then(|v| v.secret_string().map(str::to_owned));
                out.push((name, value));
            }
        }
        out.sort();
        out
    }
}
