//! In-memory world for the fast domain tests: the memory store and vault, a manual clock,
//! and a scripted Heroku (releases as version → config vars) that counts its calls and can
//! be told to fail, to answer slowly, or to reject tokens.

#![allow(dead_code)] // each test binary uses a different subset

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use shared::adapters::{MemoryEvents, MemoryStore, MemoryVault, SecretsEnvSink};
use shared::clock::{Clock, ManualClock};
use shared::domain::{
    AppId, AppRecord, ConfigVarName, EnvVarName, Integration, IntegrationStatus, Link, LinkKey,
    LinkStatus, ProjectId, Timestamp,
};
use shared::heroku::{AccessToken, ConfigVars, HerokuError, Release, TokenGrant};
use shared::metrics::RecordedMetrics;
use shared::ports::{
    AppStore, EnvVarSink, Guard, HerokuApi, HerokuOAuth, IntegrationStore, Saved, SecretVault,
    SecretVersion, VaultError,
};
use shared::sync::{SyncContext, SyncSettings};
use shared::tokens::{SecretNames, StoredTokens, TokenManager};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const CLIENT_SECRET_ID: &str = "test/heroku-oauth-client-secret";
pub const CLIENT_SECRET: &str = "client-secret";
pub const PREFIX: &str = "test";

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn start_time() -> Timestamp {
    time::macros::datetime!(2024-05-01 12:00 UTC)
}

pub fn project(p: &str) -> ProjectId {
    ProjectId::parse(p).expect("project id")
}

pub fn env_var(e: &str) -> EnvVarName {
    EnvVarName::parse(e).expect("env var")
}

pub fn key(p: &str, e: &str) -> LinkKey {
    LinkKey::new(&project(p), &env_var(e))
}

/// One call the sync core made to Heroku.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    ConfigVars {
        token: String,
        app: String,
        release: Option<u64>,
    },
    NewestRelease {
        token: String,
        app: String,
    },
}

/// A scripted Heroku: the Platform API the sync core needs and the OAuth token endpoint.
#[derive(Default)]
pub struct FakeHeroku {
    /// Release version → config vars at that release.
    pub releases: Mutex<BTreeMap<u64, BTreeMap<String, String>>>,
    pub calls: Mutex<Vec<Call>>,
    /// Errors the next API calls answer with, one per call, before any lookup.
    pub api_errors: Mutex<VecDeque<HerokuError>>,
    /// Every API call waits this long first.
    pub api_delay: Mutex<Duration>,
    /// When set, API calls with any other access token answer 401.
    pub accepted_tokens: Mutex<Option<HashSet<String>>>,

    // OAuth
    /// Refresh tokens the token endpoint accepts; each works once when rotating.
    pub refresh_tokens: Mutex<HashSet<String>>,
    pub rotate_refresh: std::sync::atomic::AtomicBool,
    pub refresh_calls: AtomicUsize,
    pub refresh_errors: Mutex<VecDeque<HerokuError>>,
    pub refresh_delay: Mutex<Duration>,
    issued: AtomicUsize,
    /// Refresh token → the refresh token of the grant it descends from (its connection).
    lineage: Mutex<HashMap<String, String>>,
}

impl FakeHeroku {
    pub fn new() -> Arc<Self> {
        let h = FakeHeroku::default();
        h.rotate_refresh.store(true, Ordering::SeqCst);
        Arc::new(h)
    }

    /// Adds release `version` with these config vars.
    pub fn release(&self, version: u64, vars: &[(&str, &str)]) {
        lock(&self.releases).insert(
            version,
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
    }

    pub fn fail_next(&self, e: HerokuError) {
        lock(&self.api_errors).push_back(e);
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    pub fn config_var_calls(&self) -> Vec<(String, Option<u64>)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::ConfigVars { token, release, .. } => Some((token, release)),
                Call::NewestRelease { .. } => None,
            })
            .collect()
    }

    pub fn reset_calls(&self) {
        lock(&self.calls).clear();
    }

    /// The refresh token of the connection `refresh` descends from through refreshes.
    pub fn root_of(&self, refresh: &str) -> String {
        lock(&self.lineage)
            .get(refresh)
            .cloned()
            .unwrap_or_else(|| refresh.to_owned())
    }

    async fn enter(&self, call: Call, token: &AccessToken) -> Result<(), HerokuError> {
        lock(&self.calls).push(call);
        let delay = *lock(&self.api_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(e) = lock(&self.api_errors).pop_front() {
            return Err(e);
        }
        if let Some(ok) = lock(&self.accepted_tokens).as_ref()
            && !ok.contains(token.expose())
        {
            return Err(HerokuError::Unauthorized);
        }
        Ok(())
    }
}

#[async_trait]
impl HerokuApi for FakeHeroku {
    async fn config_vars(
        &self,
        token: &AccessToken,
        app: &str,
        release: Option<u64>,
    ) -> Result<ConfigVars, HerokuError> {
        self.enter(
            Call::ConfigVars {
                token: token.expose().to_owned(),
                app: app.to_owned(),
                release,
            },
            token,
        )
        .await?;
        let releases = lock(&self.releases);
        let vars = match release {
            Some(v) => releases.get(&v),
            None => releases.values().next_back(),
        }
        .ok_or_else(|| HerokuError::NotFound("release".into()))?;
        Ok(vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    async fn newest_release(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Option<Release>, HerokuError> {
        self.enter(
            Call::NewestRelease {
                token: token.expose().to_owned(),
                app: app.to_owned(),
            },
            token,
        )
        .await?;
        let newest = lock(&self.releases).keys().next_back().copied();
        Ok(newest.map(|version| {
            serde_json::from_value(serde_json::json!({ "version": version, "status": "succeeded" }))
                .expect("release")
        }))
    }
}

fn grant(access: &str, refresh: Option<&str>, expires_in: i64) -> TokenGrant {
    serde_json::from_value(serde_json::json!({
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": expires_in,
        "user_id": "heroku-user-1",
    }))
    .expect("grant")
}

#[async_trait]
impl HerokuOAuth for FakeHeroku {
    async fn exchange_code(
        &self,
        _code: &str,
        _client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        Err(HerokuError::Rejected {
            status: 400,
            id: "invalid_grant".into(),
            message: "not scripted".into(),
        })
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        self.refresh_calls.fetch_add(1, Ordering::SeqCst);
        let delay = *lock(&self.refresh_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(e) = lock(&self.refresh_errors).pop_front() {
            return Err(e);
        }
        if client_secret.expose_secret() != CLIENT_SECRET {
            return Err(HerokuError::Unauthorized);
        }
        let rotate = self.rotate_refresh.load(Ordering::SeqCst);
        {
            let mut valid = lock(&self.refresh_tokens);
            if !valid.contains(refresh_token.expose_secret()) {
                return Err(HerokuError::Rejected {
                    status: 400,
                    id: "invalid_grant".into(),
                    message: "Invalid refresh token.".into(),
                });
            }
            if rotate {
                valid.remove(refresh_token.expose_secret());
            }
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let access = format!("at-fresh-{n}");
        if let Some(ok) = lock(&self.accepted_tokens).as_mut() {
            ok.insert(access.clone());
        }
        if rotate {
            let refresh = format!("rt-fresh-{n}");
            lock(&self.refresh_tokens).insert(refresh.clone());
            let root = self.root_of(refresh_token.expose_secret());
            lock(&self.lineage).insert(refresh.clone(), root);
            Ok(grant(&access, Some(&refresh), 28_800))
        } else {
            Ok(grant(&access, None, 28_800))
        }
    }
}

/// An env var sink that sleeps around each write (to widen race windows), can be held
/// until released, and logs every write in the order it landed.
pub struct SlowSink {
    pub inner: SecretsEnvSink,
    pub before: Duration,
    pub after: Duration,
    /// (link key, value) per landed write.
    pub landed: Mutex<Vec<(String, String)>>,
    /// When set, each write waits for a permit first.
    pub gate: Option<Arc<tokio::sync::Semaphore>>,
    pub started: tokio::sync::Notify,
}

impl SlowSink {
    pub fn new(vault: Arc<MemoryVault>, before: Duration, after: Duration) -> Self {
        SlowSink {
            inner: SecretsEnvSink::new(vault, SecretNames::new(PREFIX)),
            before,
            after,
            landed: Mutex::new(Vec::new()),
            gate: None,
            started: tokio::sync::Notify::new(),
        }
    }
}

#[async_trait]
impl EnvVarSink for SlowSink {
    async fn write_env_var(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
        value: &SecretString,
        idempotency_token: &str,
    ) -> Result<SecretVersion, VaultError> {
        self.started.notify_one();
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate").forget();
        }
        tokio::time::sleep(self.before).await;
        let version = self
            .inner
            .write_env_var(project, env_var, value, idempotency_token)
            .await?;
        lock(&self.landed).push((
            LinkKey::new(project, env_var).to_string(),
            value.expose_secret().to_owned(),
        ));
        tokio::time::sleep(self.after).await;
        Ok(version)
    }
}

/// An env var sink that always answers with one error.
pub struct FailingSink(pub VaultError);

#[async_trait]
impl EnvVarSink for FailingSink {
    async fn write_env_var(
        &self,
        _: &ProjectId,
        _: &EnvVarName,
        _: &SecretString,
        _: &str,
    ) -> Result<SecretVersion, VaultError> {
        Err(self.0.clone())
    }
}

/// Everything one domain test needs, in memory.
pub struct World {
    pub store: Arc<MemoryStore>,
    pub vault: Arc<MemoryVault>,
    pub heroku: Arc<FakeHeroku>,
    pub clock: Arc<ManualClock>,
    pub names: SecretNames,
    pub metrics: Arc<RecordedMetrics>,
    pub tokens: Arc<TokenManager>,
    pub app: AppId,
    pub settings: SyncSettings,
    /// The change events every context of this world publishes.
    pub events: Arc<MemoryEvents>,
}

impl World {
    pub fn new() -> World {
        let store = Arc::new(MemoryStore::default());
        let vault = Arc::new(MemoryVault::default());
        vault.insert(CLIENT_SECRET_ID, CLIENT_SECRET);
        let heroku = FakeHeroku::new();
        let clock = Arc::new(ManualClock::new(start_time()));
        let tokens = Arc::new(Self::token_manager_for(&store, &vault, &heroku, &clock));
        World {
            store,
            vault,
            heroku,
            clock,
            names: SecretNames::new(PREFIX),
            metrics: Arc::new(RecordedMetrics::default()),
            tokens,
            app: AppId::parse(uuid::Uuid::new_v4().to_string()).expect("app id"),
            settings: SyncSettings::default(),
            events: Arc::new(MemoryEvents::default()),
        }
    }

    fn token_manager_for(
        store: &Arc<MemoryStore>,
        vault: &Arc<MemoryVault>,
        heroku: &Arc<FakeHeroku>,
        clock: &Arc<ManualClock>,
    ) -> TokenManager {
        TokenManager::new(
            vault.clone() as Arc<dyn SecretVault>,
            store.clone() as Arc<dyn IntegrationStore>,
            heroku.clone() as Arc<dyn HerokuOAuth>,
            clock.clone() as Arc<dyn Clock>,
            SecretNames::new(PREFIX),
            Some(CLIENT_SECRET_ID.to_owned()),
        )
    }

    /// Another container: its own token cache over the same store, vault and Heroku.
    pub fn another_token_manager(&self) -> TokenManager {
        Self::token_manager_for(&self.store, &self.vault, &self.heroku, &self.clock)
    }

    pub fn ctx(&self) -> SyncContext {
        self.ctx_with(Arc::new(SecretsEnvSink::new(
            self.vault.clone(),
            self.names.clone(),
        )))
    }

    pub fn ctx_with(&self, env: Arc<dyn EnvVarSink>) -> SyncContext {
        SyncContext {
            apps: self.store.clone() as Arc<dyn AppStore>,
            env,
            heroku: self.heroku.clone() as Arc<dyn HerokuApi>,
            tokens: self.tokens.clone(),
            clock: self.clock.clone() as Arc<dyn Clock>,
            metrics: self.metrics.clone(),
            events: self.events.clone(),
            settings: self.settings.clone(),
        }
    }

    /// Stores tokens `at-{p}` / `rt-{p}` (never expiring) and a connected integration.
    pub async fn connect(&self, p: &str) {
        self.connect_with(
            p,
            StoredTokens {
                access_token: format!("at-{p}"),
                refresh_token: Some(format!("rt-{p}")),
                expires_at: None,
                authorization_id: Some(format!("auth-{p}")),
                heroku_user_id: Some("heroku-user-1".into()),
            },
        )
        .await;
    }

    pub async fn connect_with(&self, p: &str, tokens: StoredTokens) {
        if let Some(rt) = &tokens.refresh_token {
            lock(&self.heroku.refresh_tokens).insert(rt.clone());
        }
        self.vault
            .write(
                &self.names.heroku_tokens(&project(p)),
                &tokens.to_secret(),
                None,
            )
            .await
            .expect("store tokens");
        let mut integration = Integration::new(project(p));
        integration.status = IntegrationStatus::Connected;
        integration.authorization_id = tokens.authorization_id.clone();
        let saved = self
            .store
            .save_integration(&integration, None)
            .await
            .expect("save integration");
        assert!(matches!(saved, Saved::Ok { .. }), "integration is new");
    }

    pub fn link(&self, p: &str, e: &str, config_var: &str) -> Link {
        Link {
            project_id: project(p),
            env_var: env_var(e),
            app_id: self.app.clone(),
            app_name: "sample-app".into(),
            config_var: ConfigVarName::parse(config_var).expect("config var"),
            status: LinkStatus::Active,
            fingerprint: None,
            last_release_version: None,
            writing_version: None,
            last_synced_at: None,
            last_checked_at: None,
            last_delivery_at: None,
            last_repair: None,
            last_error: None,
            linked_at: start_time(),
            linked_by: "user-1".into(),
            history: vec![],
        }
    }

    /// Saves a new app record holding `links`.
    pub async fn save_links(&self, links: Vec<Link>) {
        let mut record = AppRecord::new(self.app.clone(), "sample-app");
        for l in links {
            record.links.insert(l.key(), l);
        }
        let saved = self
            .store
            .save_app(&record, Guard::New)
            .await
            .expect("save app");
        assert!(matches!(saved, Saved::Ok { .. }));
    }

    /// Connects `p` and links its `PG_DATABASE_URL` to `DATABASE_URL`.
    pub async fn one_link(&self, p: &str) -> LinkKey {
        self.connect(p).await;
        let l = self.link(p, "PG_DATABASE_URL", "DATABASE_URL");
        let k = l.key();
        self.save_links(vec![l]).await;
        k
    }

    pub async fn record(&self) -> AppRecord {
        self.store
            .load_app(&self.app)
            .await
            .expect("load")
            .expect("app record exists")
    }

    pub async fn link_state(&self, k: &LinkKey) -> Link {
        self.record().await.links[k].clone()
    }

    /// The env var's current value in the vault, under the public naming contract.
    pub fn env(&self, p: &str, e: &str) -> Option<String> {
        self.vault.current(&self.names.env_var(&project(p), e))
    }

    pub fn env_versions(&self, p: &str, e: &str) -> usize {
        self.vault.versions(&self.names.env_var(&project(p), e))
    }

    /// Puts a lease on the stored record, as another holder would.
    pub async fn hold_lease(&self, owner: &str, until_ms: i64) {
        let mut r = self.record().await;
        r.set_lease(Some(shared::domain::Lease {
            owner: owner.into(),
            until_ms,
        }));
        let saved = self
            .store
            .save_app(
                &r,
                Guard::Unleased {
                    generation: r.generation,
                    now_ms: self.clock.now_ms(),
                },
            )
            .await
            .expect("save");
        assert!(matches!(saved, Saved::Ok { .. }), "lease taken");
    }

    /// Releases a lease as its holder would.
    pub async fn release_lease(&self, owner: &str) {
        let mut r = self.record().await;
        r.set_lease(None);
        let saved = self
            .store
            .save_app(
                &r,
                Guard::LeaseHolder {
                    owner: owner.into(),
                    generation: r.generation,
                },
            )
            .await
            .expect("save");
        assert!(matches!(saved, Saved::Ok { .. }), "lease released");
    }
}

/// Polls `done` until it holds. Under a paused clock the 1 ms naps are virtual, so this
/// follows the code under test step by step; `limit` only catches code that stopped
/// making progress (liveness), it says nothing about speed.
pub async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Reads one of the in-memory adapters' counters.
pub fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

pub fn url(n: u64) -> String {
    format!("postgres://u{n}:secret-{n}@db.example.com:5432/d1")
}
pub mod platform;
