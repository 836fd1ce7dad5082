//! Wiring: the clients and adapters a function builds once per container from its
//! configuration. Every function (and the dev server) goes through here.

use crate::adapters::{
    DynamoStore, EventBridgePublisher, NoEvents, SecretsEnvSink, SecretsManagerVault,
};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::heroku::{HerokuClient, HerokuClientOptions, HerokuError};
use crate::metrics::MetricsSink;
use crate::ports::{EventPublisher, Heroku, RateBudget, SecretVault, Store};
use crate::signing::SigningKey;
use crate::sync::{SyncContext, SyncSettings};
use crate::tokens::{SecretNames, TokenManager};
use std::sync::Arc;

/// The long-lived parts of a function, behind ports. Cheap to share by reference across
/// requests; in-memory adapters wire in through [`Services::assemble`].
pub struct Services {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub budget: Arc<dyn RateBudget>,
    pub vault: Arc<dyn SecretVault>,
    pub heroku: Arc<dyn Heroku>,
    pub tokens: Arc<TokenManager>,
    pub names: SecretNames,
    pub clock: Arc<dyn Clock>,
    pub sync: SyncContext,
    pub signing_key: SigningKey,
    pub metrics: Arc<dyn MetricsSink>,
}

/// The adapters [`Services`] is wired from.
pub struct Adapters {
    pub store: Arc<dyn Store>,
    pub budget: Arc<dyn RateBudget>,
    pub vault: Arc<dyn SecretVault>,
    pub heroku: Arc<dyn Heroku>,
    pub events: Arc<dyn EventPublisher>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<dyn MetricsSink>,
}

impl Services {
    /// Builds every client. Nothing here touches the network: SDK and reqwest clients
    /// connect on first use, which keeps cold starts short.
    pub fn new(
        config: Config,
        sdk: &aws_config::SdkConfig,
        metrics: Arc<dyn MetricsSink>,
    ) -> Result<Self, HerokuError> {
        Self::new_at(config, sdk, metrics, Arc::new(SystemClock))
    }

    /// [`Services::new`] with its time from `clock` everywhere (use cases, token expiry,
    /// leases): local stacks that move time on.
    pub fn new_at(
        config: Config,
        sdk: &aws_config::SdkConfig,
        metrics: Arc<dyn MetricsSink>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, HerokuError> {
        let store = Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
        ));
        let heroku = Arc::new(HerokuClient::new(
            &config.heroku_api_url,
            &config.heroku_id_url,
            HerokuClientOptions::default(),
        )?);
        // Functions that write env vars require EVENT_BUS_NAME (`Needs::event_bus`).
        let events: Arc<dyn EventPublisher> = match &config.event_bus_name {
            Some(bus) => Arc::new(EventBridgePublisher::new(
                aws_sdk_eventbridge::Client::new(sdk),
                bus.clone(),
            )),
            None => Arc::new(NoEvents),
        };
        let adapters = Adapters {
            store: store.clone(),
            budget: store,
            vault: Arc::new(SecretsManagerVault::new(
                aws_sdk_secretsmanager::Client::new(sdk),
            )),
            heroku,
            events,
            clock,
            metrics,
        };
        Ok(Self::assemble(config, adapters))
    }

    /// Wires the use cases' parts (token manager, sync context, signing key) from
    /// `adapters`: AWS and Heroku in functions, in memory in fast tests.
    pub fn assemble(config: Config, adapters: Adapters) -> Self {
        let Adapters {
            store,
            budget,
            vault,
            heroku,
            events,
            clock,
            metrics,
        } = adapters;
        let names = SecretNames::new(&config.secret_prefix);
        let tokens = Arc::new(TokenManager::new(
            vault.clone(),
            store.clone(),
            heroku.clone(),
            clock.clone(),
            names.clone(),
            config.heroku_oauth_client_secret_id.clone(),
        ));
        let sync = SyncContext {
            apps: store.clone(),
            env: Arc::new(SecretsEnvSink::new(vault.clone(), names.clone())),
            heroku: heroku.clone(),
            tokens: tokens.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            events,
            settings: SyncSettings::default(),
        };
        let signing_key = SigningKey::new(
            vault.clone(),
            "WEBHOOK_SIGNING_KEY_ID",
            config.webhook_signing_key_id.clone(),
        );
        Services {
            signing_key,
            config,
            store,
            budget,
            vault,
            heroku,
            tokens,
            names,
            clock,
            sync,
            metrics,
        }
    }
}

impl Services {
    /// Where Heroku delivers: `{PUBLIC_BASE_URL}/webhooks/heroku`, or, when no public base
    /// URL is configured, the API's own URL as the request that asks says it is.
    pub fn webhook_url(&self, request_base: Option<&str>) -> Option<String> {
        self.public_base(request_base)
            .map(|b| format!("{b}/webhooks/heroku"))
    }

    /// The OAuth redirect URI: `{PUBLIC_BASE_URL}/integrations/heroku/callback`.
    pub fn callback_url(&self, request_base: Option<&str>) -> Option<String> {
        self.public_base(request_base)
            .map(|b| format!("{b}/integrations/heroku/callback"))
    }

    fn public_base(&self, request_base: Option<&str>) -> Option<String> {
        self.config
            .public_base_url
            .clone()
            .or_else(|| request_base.map(|b| b.trim_end_matches('/').to_owned()))
    }
}
