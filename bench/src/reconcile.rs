//! The reconcile family: the real pass planner and workers (`shared::reconcile`) at
//! production size — 100,000 links over 10,000 apps and 1,000 Heroku accounts — over the
//! in-memory adapters and a simulated Heroku, each remote call costing a fixed latency.
//!
//! Moto and the fake Heroku cannot hold this size in a bench's minutes, and a real
//! 15-minute pass is mostly waiting. So it runs on tokio's paused clock: a sleep of 60 ms
//! (a Heroku call) or 5 ms (a DynamoDB call) advances virtual time as soon as every task
//! waits, and the virtual time a pass takes is what workers making those calls would
//! take. The CPU the pass used is measured separately on the real clock.

use secrecy::SecretString;
use shared::adapters::SecretsEnvSink;
use shared::adapters::{MemoryBudget, MemoryEvents, MemoryQueue, MemoryStore, MemoryVault};
use shared::clock::{Clock, SystemClock};
use shared::domain::{
    AppId, AppRecord, ConfigVarName, EnvVarName, Fingerprint, Integration, IntegrationStatus, Link,
    LinkStatus, ProjectId, Subscription, Timestamp,
};
use shared::heroku::{
    AccessToken, ConfigVars, HerokuError, Release, TokenGrant, Webhook, WebhookRequest,
};
use shared::metrics::NoMetrics;
use shared::ports::{
    AppStore, DirectoryEntry, Guard, HerokuApi, HerokuOAuth, HerokuWebhooks, IntegrationStore,
    ProjectItems, RateBudget, ReconcileIndex, Saved, SecretVault, StoreError,
};
use shared::reconcile::fanout::{self, WorkMessage};
use shared::reconcile::{BatchOutcome, ReconcileSettings, Reconciler};
use shared::signing::SigningKey;
use shared::sync::{SyncContext, SyncSettings};
use shared::tokens::{SecretNames, StoredTokens, TokenManager};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sizes and latencies of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub accounts: usize,
    pub apps_per_account: usize,
    pub links_per_app: usize,
    /// Share of apps whose newest release no delivery brought, before the drift pass.
    pub drift_share: f64,
    /// One more account, with this many apps (one link each): more release checks an
    /// hour than its budget allows, so the budget must bite.
    pub heavy_apps: usize,
    pub heroku_latency: Duration,
    pub dynamo_latency: Duration,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            accounts: 1_000,
            apps_per_account: 10,
            links_per_app: 10,
            drift_share: 0.1,
            heavy_apps: 300,
            heroku_latency: Duration::from_millis(60),
            dynamo_latency: Duration::from_millis(5),
        }
    }

    pub fn quick() -> Plan {
        Plan {
            accounts: 50,
            apps_per_account: 10,
            links_per_app: 10,
            heavy_apps: 150,
            ..Plan::full()
        }
    }

    fn apps(&self) -> usize {
        self.accounts * self.apps_per_account
    }

    /// Links of the ordinary accounts.
    fn links(&self) -> usize {
        self.apps() * self.links_per_app
    }
}

/// One pass as measured.
#[derive(Clone, Debug, Default)]
pub struct Pass {
    pub name: String,
    pub workers: usize,
    pub messages: usize,
    /// Virtual time from the first message taken to the last one done.
    pub virtual_s: f64,
    /// Real time the whole pass took on this machine (CPU-bound: the waits are virtual).
    pub real_s: f64,
    pub outcome: BatchOutcome,
}

#[derive(Clone, Debug, Default)]
pub struct ReconcileRun {
    pub plan_text: String,
    pub links: usize,
    pub apps: usize,
    pub accounts: usize,
    pub passes: Vec<Pass>,
    /// Workers one interval needs, from the one-worker pass.
    pub workers_needed: usize,
    /// Heroku calls per ordinary account over the hour (four passes): max and mean.
    pub calls_per_account_hour_max: u64,
    pub calls_per_account_hour_mean: f64,
    /// The heavy account: its apps, its calls in the hour, its app checks deferred.
    pub heavy_apps: usize,
    pub heavy_calls: u64,
    pub heavy_deferred: u64,
    /// Correctness: after the drift pass, links not at their app's newest value.
    pub links_stale_after_drift: usize,
    pub drifted_links: usize,
}

const INTERVAL_S: f64 = 900.0;
const CONFIG_VAR: &str = "DATABASE_URL";

/// Runs the family on a thread of its own: a current-thread runtime with a paused clock.
pub fn run(plan: Plan) -> Result<ReconcileRun, String> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(run_paused(plan))
    })
    .join()
    .map_err(|_| "the reconcile bench panicked".to_owned())?
}

/// A simulated Heroku: one app per id, its newest release and DATABASE_URL, our webhook.
struct SimHeroku {
    apps: Mutex<HashMap<String, SimApp>>,
    calls: Mutex<HashMap<String, u64>>,
    latency: Duration,
}

struct SimApp {
    version: u64,
    value: String,
    released_at: Timestamp,
    webhook_url: String,
}

impl SimHeroku {
    async fn call(&self, token: &AccessToken) {
        let account = token.expose().trim_start_matches("at-").to_owned();
        *lock(&self.calls).entry(account).or_default() += 1;
        tokio::time::sleep(self.latency).await;
    }

    fn app<T>(&self, app: &str, f: impl FnOnce(&mut SimApp) -> T) -> Result<T, HerokuError> {
        lock(&self.apps)
            .get_mut(app)
            .map(f)
            .ok_or_else(|| HerokuError::NotFound(format!("app {app}")))
    }
}

#[async_trait::async_trait]
impl HerokuApi for SimHeroku {
    async fn config_vars(
        &self,
        token: &AccessToken,
        app: &str,
        _release: Option<u64>,
    ) -> Result<ConfigVars, HerokuError> {
        self.call(token).await;
        self.app(app, |a| {
            [(CONFIG_VAR.to_owned(), a.value.clone())]
                .into_iter()
                .collect()
        })
    }

    async fn newest_release(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Option<Release>, HerokuError> {
        self.call(token).await;
        self.app(app, |a| {
            Some(Release {
                id: None,
                version: a.version,
                status: Some("succeeded".into()),
                created_at: a
                    .released_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .ok(),
            })
        })
    }
}

#[async_trait::async_trait]
impl HerokuWebhooks for SimHeroku {
    async fn webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, HerokuError> {
        self.call(token).await;
        self.app(app, |a| {
            Some(Webhook {
                id: webhook_id.to_owned(),
                url: a.webhook_url.clone(),
                include: vec!["api:release".into()],
                level: Some("sync".into()),
            })
        })
    }

    async fn list_webhooks(
        &self,
        token: &AccessToken,
        _app: &str,
    ) -> Result<Vec<Webhook>, HerokuError> {
        self.call(token).await;
        Ok(Vec::new())
    }

    async fn create_webhook(
        &self,
        token: &AccessToken,
        _app: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        self.call(token).await;
        Ok(Webhook {
            id: uuid::Uuid::new_v4().to_string(),
            url: request.url.to_owned(),
            include: vec!["api:release".into()],
            level: Some("sync".into()),
        })
    }

    async fn update_webhook(
        &self,
        token: &AccessToken,
        _app: &str,
        webhook_id: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        self.call(token).await;
        Ok(Webhook {
            id: webhook_id.to_owned(),
            url: request.url.to_owned(),
            include: vec!["api:release".into()],
            level: Some("sync".into()),
        })
    }

    async fn delete_webhook(
        &self,
        token: &AccessToken,
        _app: &str,
        _webhook_id: &str,
    ) -> Result<(), HerokuError> {
        self.call(token).await;
        Ok(())
    }
}

/// Tokens never expire here: a refresh would be a bug in the bench.
#[async_trait::async_trait]
impl HerokuOAuth for SimHeroku {
    async fn exchange_code(
        &self,
        _code: &str,
        _client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        Err(HerokuError::Decode("not used by the bench".into()))
    }

    async fn refresh(
        &self,
        _refresh_token: &SecretString,
        _client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        Err(HerokuError::Decode("not used by the bench".into()))
    }
}

/// The memory store and budget with DynamoDB's latency on every call.
struct SlowStore {
    inner: Arc<MemoryStore>,
    budget: MemoryBudget,
    latency: Duration,
    calls: AtomicU64,
}

impl SlowStore {
    async fn pause(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(self.latency).await;
    }
}

#[async_trait::async_trait]
impl AppStore for SlowStore {
    async fn load_app(&self, app: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.pause().await;
        self.inner.load_app(app).await
    }
    async fn load_project_links(
        &self,
        app: &AppId,
        project: &shared::domain::ProjectId,
    ) -> Result<shared::ports::LinksOnApp, StoreError> {
        self.pause().await;
        self.inner.load_project_links(app, project).await
    }
    async fn load_link(
        &self,
        app: &AppId,
        key: &shared::domain::LinkKey,
    ) -> Result<Option<shared::domain::Link>, StoreError> {
        self.pause().await;
        self.inner.load_link(app, key).await
    }
    async fn save_app(&self, record: &AppRecord, guard: Guard) -> Result<Saved, StoreError> {
        self.pause().await;
        self.inner.save_app(record, guard).await
    }
    async fn save_app_with_entry(
        &self,
        record: &AppRecord,
        guard: Guard,
        entry: &DirectoryEntry,
        replacing: Option<&DirectoryEntry>,
    ) -> Result<Saved, StoreError> {
        self.pause().await;
        self.inner
            .save_app_with_entry(record, guard, entry, replacing)
            .await
    }
    async fn directory_entry(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        self.pause().await;
        self.inner.directory_entry(project, env_var).await
    }
    async fn directory(&self, project: &ProjectId) -> Result<Vec<DirectoryEntry>, StoreError> {
        self.pause().await;
        self.inner.directory(project).await
    }
    async fn load_project(&self, project: &ProjectId) -> Result<ProjectItems, StoreError> {
        self.pause().await;
        self.inner.load_project(project).await
    }
}

#[async_trait::async_trait]
impl IntegrationStore for SlowStore {
    async fn load_integration(
        &self,
        project: &ProjectId,
    ) -> Result<Option<Integration>, StoreError> {
        self.pause().await;
        self.inner.load_integration(project).await
    }
    async fn save_integration(
        &self,
        integration: &Integration,
        expected_generation: Option<u64>,
    ) -> Result<Saved, StoreError> {
        self.pause().await;
        self.inner
            .save_integration(integration, expected_generation)
            .await
    }
}

#[async_trait::async_trait]
impl ReconcileIndex for SlowStore {
    async fn apps_with_active_links(&self) -> Result<Vec<AppId>, StoreError> {
        self.pause().await;
        self.inner.apps_with_active_links().await
    }
    async fn projects_with_cleanup(&self) -> Result<Vec<ProjectId>, StoreError> {
        self.pause().await;
        self.inner.projects_with_cleanup().await
    }
    async fn mark_checked(
        &self,
        app: &AppId,
        at: Timestamp,
        release: u64,
    ) -> Result<(), StoreError> {
        self.pause().await;
        self.inner.mark_checked(app, at, release).await
    }
    async fn checked_at(&self, app: &AppId) -> Result<Option<Timestamp>, StoreError> {
        self.pause().await;
        self.inner.checked_at(app).await
    }
    async fn expired_pending_grants(&self, now_s: i64) -> Result<Vec<String>, StoreError> {
        self.pause().await;
        self.inner.expired_pending_grants(now_s).await
    }
    async fn reindex(&self, now_ms: i64) -> Result<shared::ports::Reindexed, StoreError> {
        self.pause().await;
        self.inner.reindex(now_ms).await
    }
}

#[async_trait::async_trait]
impl RateBudget for SlowStore {
    async fn take(
        &self,
        account: &str,
        n: u32,
        limit: u32,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        self.pause().await;
        self.budget.take(account, n, limit, now_s).await
    }
}

struct World {
    store: Arc<SlowStore>,
    vault: Arc<MemoryVault>,
    heroku: Arc<SimHeroku>,
    sync: SyncContext,
    signing_key: SigningKey,
    names: SecretNames,
    /// (project, env var, app) of every link.
    links: Vec<(ProjectId, EnvVarName, String)>,
    /// The heavy account's apps.
    heavy: Vec<String>,
}

const WEBHOOK_URL: &str = "https://sync.example.com/webhooks/heroku";

fn value(app: &str, version: u64) -> String {
    format!("postgres://u:p{version}@{app}.db.example.com:5432/d")
}

/// One connected account (project `bp{name}`, Heroku user `acct{name}`) with `apps`
/// apps of `links_per_app` links each, every link at release 1.
#[allow(clippy::too_many_arguments)]
async fn add_account(
    memory: &MemoryStore,
    vault: &MemoryVault,
    heroku: &SimHeroku,
    names: &SecretNames,
    now: Timestamp,
    name: &str,
    apps: usize,
    links_per_app: usize,
    links: &mut Vec<(ProjectId, EnvVarName, String)>,
) -> Result<Vec<String>, String> {
    let mut created = Vec::with_capacity(apps);
    let project = ProjectId::parse(format!("bp{name}")).map_err(|e| e.to_string())?;
    let account = format!("acct{name}");
    let stored = StoredTokens {
        access_token: format!("at-{account}"),
        refresh_token: Some(format!("rt-{account}")),
        expires_at: None,
        authorization_id: None,
        heroku_user_id: Some(account.clone()),
    };
    vault
        .write(&names.heroku_tokens(&project), &stored.to_secret(), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut integration = Integration::new(project.clone());
    integration.status = IntegrationStatus::Connected;
    integration.heroku_user_id = Some(account.clone());
    memory
        .save_integration(&integration, None)
        .await
        .map_err(|e| e.to_string())?;
    for j in 0..apps {
        let app_id = AppId::parse(uuid::Uuid::new_v4().to_string()).map_err(|e| e.to_string())?;
        let app = app_id.to_string();
        let v = value(&app, 1);
        let mut record = AppRecord::new(app_id.clone(), format!("app-{app}"));
        record.subscription = Some(Subscription {
            webhook_id: uuid::Uuid::new_v4().to_string(),
            created_by: project.clone(),
            created_at: now,
            url: Some(WEBHOOK_URL.into()),
            // The signing key's version in the memory vault (one value: "v1").
            key_version: Some("v1".into()),
        });
        for k in 0..links_per_app {
            let env_var =
                EnvVarName::parse(format!("DB{j:03}_URL_{k}")).map_err(|e| e.to_string())?;
            let link = Link {
                project_id: project.clone(),
                env_var: env_var.clone(),
                app_id: app_id.clone(),
                app_name: format!("app-{app}"),
                config_var: ConfigVarName::parse(CONFIG_VAR).map_err(|e| e.to_string())?,
                status: LinkStatus::Active,
                fingerprint: None,
                last_release_version: Some(1),
                writing_version: None,
                last_synced_at: Some(now),
                last_checked_at: Some(now),
                last_error: None,
                last_delivery_at: Some(now),
                last_repair: None,
                linked_at: now,
                linked_by: "bench".into(),
                history: Vec::new(),
            };
            let mut link = link;
            link.fingerprint = Some(Fingerprint::of(link.key().as_str(), &v));
            vault.insert(&names.env_var(&project, env_var.as_str()), &v);
            record.links.insert(link.key(), link);
            links.push((project.clone(), env_var, app.clone()));
        }
        memory
            .save_app(&record, Guard::New)
            .await
            .map_err(|e| e.to_string())?;
        created.push(app.clone());
        lock(&heroku.apps).insert(
            app,
            SimApp {
                version: 1,
                value: v,
                released_at: now,
                webhook_url: WEBHOOK_URL.into(),
            },
        );
    }
    Ok(created)
}

async fn world(plan: &Plan) -> Result<World, String> {
    let memory = Arc::new(MemoryStore::default());
    let store = Arc::new(SlowStore {
        inner: memory.clone(),
        budget: MemoryBudget::default(),
        latency: plan.dynamo_latency,
        calls: AtomicU64::new(0),
    });
    let vault = Arc::new(MemoryVault::default());
    vault.insert("bench/signing-key", "bench-signing-key");
    vault.insert("bench/client-secret", "bench-client-secret");
    let heroku = Arc::new(SimHeroku {
        apps: Mutex::new(HashMap::new()),
        calls: Mutex::new(HashMap::new()),
        latency: plan.heroku_latency,
    });
    let names = SecretNames::new("bench");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let tokens = Arc::new(TokenManager::new(
        vault.clone() as Arc<dyn SecretVault>,
        store.clone() as Arc<dyn IntegrationStore>,
        heroku.clone() as Arc<dyn HerokuOAuth>,
        clock.clone(),
        names.clone(),
        Some("bench/client-secret".into()),
    ));
    let mut links = Vec::with_capacity(plan.links());
    for a in 0..plan.accounts {
        add_account(
            &memory,
            &vault,
            &heroku,
            &names,
            now,
            &format!("{a:04}"),
            plan.apps_per_account,
            plan.links_per_app,
            &mut links,
        )
        .await?;
    }
    let mut heavy = Vec::new();
    if plan.heavy_apps > 0 {
        heavy = add_account(
            &memory,
            &vault,
            &heroku,
            &names,
            now,
            "heavy",
            plan.heavy_apps,
            1,
            &mut links,
        )
        .await?;
    }
    let sync = SyncContext {
        apps: store.clone() as Arc<dyn AppStore>,
        env: Arc::new(SecretsEnvSink::new(vault.clone(), names.clone())),
        heroku: heroku.clone() as Arc<dyn HerokuApi>,
        tokens,
        clock,
        metrics: Arc::new(NoMetrics),
        events: Arc::new(MemoryEvents::default()),
        settings: SyncSettings::default(),
    };
    let signing_key = SigningKey::new(
        vault.clone() as Arc<dyn SecretVault>,
        "WEBHOOK_SIGNING_KEY_ID",
        Some("bench/signing-key".into()),
    );
    Ok(World {
        store,
        vault,
        heroku,
        sync,
        signing_key,
        names,
        links,
        heavy,
    })
}

fn settings() -> ReconcileSettings {
    ReconcileSettings {
        // The drift pass's releases are minutes old in production; here seconds.
        grace: Duration::ZERO,
        ..ReconcileSettings::default()
    }
}

/// Plans one pass (`pass_at` picks the interval) and drains it with `workers` workers,
/// each taking up to 10 messages per invocation as Lambda's SQS trigger does.
async fn pass(w: &World, name: &str, workers: usize, pass_at: Timestamp) -> Result<Pass, String> {
    let queue = MemoryQueue::default();
    let s = settings();
    let planned = fanout::plan_pass(w.store.as_ref(), &queue, &s, pass_at)
        .await
        .map_err(|e| e.to_string())?;
    let real = Instant::now();
    let start = tokio::time::Instant::now();
    let queue = &queue;
    let total = Mutex::new(BatchOutcome::default());
    let total_ref = &total;
    let worker = |_: usize| async move {
        loop {
            let bodies = queue.receive(10);
            if bodies.is_empty() {
                return Ok::<(), String>(());
            }
            // One invocation: one Reconciler, as the function builds per message batch.
            let r = Reconciler::new(
                &w.sync,
                w.store.as_ref(),
                w.store.as_ref(),
                w.heroku.as_ref(),
                w.store.as_ref(),
                &w.signing_key,
                Some(WEBHOOK_URL.into()),
                settings(),
            );
            for body in bodies {
                match WorkMessage::parse(&body)? {
                    WorkMessage::Apps { pass, apps } => {
                        let o = r.run(pass, &apps).await;
                        lock(total_ref).merge(&o);
                    }
                    WorkMessage::Cleanup { .. } | WorkMessage::ExpiredGrants { .. } => {}
                }
            }
        }
    };
    let results = futures_util::future::join_all((0..workers).map(worker)).await;
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    let outcome = lock(&total).clone();
    Ok(Pass {
        name: name.to_owned(),
        workers,
        messages: planned.messages,
        virtual_s: start.elapsed().as_secs_f64(),
        real_s: real.elapsed().as_secs_f64(),
        outcome,
    })
}

/// The stack's `MaximumConcurrency` for the reconcile queue (template.yaml).
const STACK_WORKERS: usize = 10;

async fn run_paused(plan: Plan) -> Result<ReconcileRun, String> {
    let w = world(&plan).await?;
    let now = SystemClock.now();
    let interval = time::Duration::seconds(INTERVAL_S as i64);
    let total_links = plan.links() + plan.heavy_apps;
    let mut run = ReconcileRun {
        plan_text: format!(
            "{} links over {} apps and {} accounts, plus one heavy account with {} apps of \
             one link (more release checks an hour than its budget); Heroku {} ms and \
             DynamoDB {} ms per call; {} apps per message, {} apps at once per worker",
            plan.links(),
            plan.apps(),
            plan.accounts,
            plan.heavy_apps,
            plan.heroku_latency.as_millis(),
            plan.dynamo_latency.as_millis(),
            settings().apps_per_message,
            settings().concurrency,
        ),
        links: total_links,
        apps: plan.apps() + plan.heavy_apps,
        accounts: plan.accounts,
        heavy_apps: plan.heavy_apps,
        ..ReconcileRun::default()
    };

    // 1. Nothing changed, one worker: how fast one worker goes.
    let one = pass(&w, "steady, 1 worker", 1, now).await?;
    run.workers_needed = ((one.virtual_s / INTERVAL_S).ceil() as usize).max(1);
    run.passes.push(one);

    // 2. The same with the stack's workers, in the next interval.
    let workers_used = STACK_WORKERS.max(run.workers_needed);
    let sized = pass(
        &w,
        &format!("steady, {}", workers(workers_used)),
        workers_used,
        now + interval,
    )
    .await?;
    run.passes.push(sized);

    // 3. A share of the ordinary apps released with no delivery: the pass must bring
    // every one of their links up.
    let drifted: Vec<String> = {
        let mut apps = lock(&w.heroku.apps);
        let mut ids: Vec<String> = apps
            .keys()
            .filter(|id| !w.heavy.contains(id))
            .cloned()
            .collect();
        ids.sort();
        let n = (ids.len() as f64 * plan.drift_share).round() as usize;
        let every = (1.0 / plan.drift_share).round().max(1.0) as usize;
        let chosen: Vec<String> = ids.into_iter().step_by(every).take(n).collect();
        for id in &chosen {
            if let Some(a) = apps.get_mut(id) {
                a.version += 1;
                a.value = value(id, a.version);
                a.released_at = now - time::Duration::minutes(20);
            }
        }
        chosen
    };
    run.drifted_links = drifted.len() * plan.links_per_app;
    let drift = pass(
        &w,
        &format!(
            "{:.0} % of apps drifted, {}",
            plan.drift_share * 100.0,
            workers(workers_used)
        ),
        workers_used,
        now + interval * 2,
    )
    .await?;
    run.passes.push(drift);
    let want: HashMap<String, String> = lock(&w.heroku.apps)
        .iter()
        .map(|(id, a)| (id.clone(), a.value.clone()))
        .collect();
    run.links_stale_after_drift = w
        .links
        .iter()
        .filter(|(p, e, app)| {
            !w.heavy.contains(app)
                && w.vault.current(&w.names.env_var(p, e.as_str())).as_deref()
                    != want.get(app).map(String::as_str)
        })
        .count();

    // 4. A fourth pass closes the hour: Heroku calls per account over four passes.
    let last = pass(
        &w,
        &format!("steady again, {}", workers(workers_used)),
        workers_used,
        now + interval * 3,
    )
    .await?;
    run.passes.push(last);
    let calls = lock(&w.heroku.calls);
    let ordinary: Vec<u64> = calls
        .iter()
        .filter(|(a, _)| a.as_str() != "accheavy" && a.as_str() != "acctheavy")
        .map(|(_, c)| *c)
        .collect();
    run.calls_per_account_hour_max = ordinary.iter().copied().max().unwrap_or(0);
    run.calls_per_account_hour_mean =
        ordinary.iter().sum::<u64>() as f64 / plan.accounts.max(1) as f64;
    run.heavy_calls = calls.get("acctheavy").copied().unwrap_or(0);
    drop(calls);
    run.heavy_deferred = run.passes.iter().map(|p| p.outcome.apps_deferred).sum();
    Ok(run)
}

/// What is wrong with this run (empty when all holds).
pub fn wrong(r: &ReconcileRun) -> Vec<String> {
    let mut out = Vec::new();
    if r.links_stale_after_drift > 0 {
        out.push(format!(
            "reconcile: {} links not at their app's newest value after the drift pass",
            r.links_stale_after_drift
        ));
    }
    if let Some(drift) = r.passes.get(2)
        && drift.outcome.links_written as usize != r.drifted_links
    {
        out.push(format!(
            "reconcile: the drift pass wrote {} env vars, {} had drifted",
            drift.outcome.links_written, r.drifted_links
        ));
    }
    for p in &r.passes {
        // Only the heavy account's apps (one link each) may wait for the next hour.
        // (an app checked and then deferred at its subscription check counts twice).
        let accounted = p.outcome.links_checked + p.outcome.apps_deferred;
        if (accounted as usize) < r.links
            || p.outcome.links_checked as usize > r.links
            || p.outcome.apps_failed > 0
        {
            out.push(format!(
                "reconcile: pass \"{}\" checked {} links and deferred {} apps of {} links; {} apps failed",
                p.name, p.outcome.links_checked, p.outcome.apps_deferred, r.links, p.outcome.apps_failed
            ));
        }
    }
    if let Some(sized) = r.passes.get(1)
        && sized.virtual_s > INTERVAL_S
    {
        out.push(format!(
            "reconcile: {} workers took {:.0} s, more than the {INTERVAL_S} s interval",
            sized.workers, sized.virtual_s
        ));
    }
    let budget = u64::from(settings().calls_per_hour);
    if r.calls_per_account_hour_max > budget || r.heavy_calls > budget {
        out.push(format!(
            "reconcile: an account spent {} Heroku calls in an hour (budget {budget})",
            r.calls_per_account_hour_max.max(r.heavy_calls)
        ));
    }
    if r.heavy_apps as u64 * 4 > budget && r.heavy_deferred == 0 {
        out.push("reconcile: the heavy account's budget never bit (no app deferred)".into());
    }
    out
}

/// The summary's sentence.
pub fn summary(r: &ReconcileRun) -> String {
    let one = r.passes.first().map(|p| p.virtual_s).unwrap_or_default();
    format!(
        "a reconcile pass over {} links on {} apps of {} accounts checks {:.0} links/s per worker \
         (so {} worker{} finish{} within the 15-minute interval) and spends at most {} \
         Heroku calls per account per hour (budget 450)",
        r.links,
        r.apps,
        r.accounts,
        r.links as f64 / one.max(f64::EPSILON),
        r.workers_needed,
        if r.workers_needed == 1 { "" } else { "s" },
        if r.workers_needed == 1 { "es" } else { "" },
        r.calls_per_account_hour_max,
    )
}

pub fn render(s: &mut String, r: Option<&ReconcileRun>) {
    let _ = writeln!(s, "## 5. Reconcile\n");
    let Some(r) = r else {
        let _ = writeln!(s, "Not run.\n");
        return;
    };
    let _ = writeln!(
        s,
        "The reconciler's own code (`shared::reconcile`: the planner, the SQS message \
         format, the workers, the per-account budget) over the in-memory adapters and a \
         simulated Heroku: {}. Each pass is planned onto a queue and drained by the \
         workers, 10 messages per invocation as Lambda's SQS trigger hands them. Remote \
         calls sleep their latency on tokio's paused clock, so **virtual time** is what \
         the pass would take waiting on real services, and real time is this machine's \
         CPU for the same pass (`bench/src/reconcile.rs`).\n",
        r.plan_text
    );
    let _ = writeln!(
        s,
        "| pass | workers | messages | virtual time | links checked / s per worker | real (CPU) time | links checked | behind | written | subscriptions repaired | deferred apps |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for p in &r.passes {
        let per_worker =
            p.outcome.links_checked as f64 / p.virtual_s.max(f64::EPSILON) / p.workers as f64;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} s | {:.0} | {:.2} s | {} | {} | {} | {} | {} |",
            p.name,
            p.workers,
            p.messages,
            p.virtual_s,
            per_worker,
            p.real_s,
            p.outcome.links_checked,
            p.outcome.links_behind,
            p.outcome.links_written,
            p.outcome.subscriptions_repaired,
            p.outcome.apps_deferred,
        );
    }
    let _ = writeln!(
        s,
        "\n**Workers needed** to finish {} links within one 15-minute interval: **{}** \
         (from the one-worker pass; the stack allows {STACK_WORKERS} at once). **Heroku \
         calls per account per hour** (four passes): at most {}, {:.1} on average, \
         against the reconciler's budget of 450 (a tenth of Heroku's 4,500). A steady \
         pass costs one call per app plus a subscription check for one app in eight; the \
         drift pass adds a config-vars read, a subscription check and a PATCH putting our \
         key again per drifted app. \
         **The heavy account** ({} apps, so {} release checks an hour wanted) spent {} \
         calls in the hour; {} of its app checks waited for the next hour. After the drift \
         pass, {} of {} drifted links were stale.\n",
        r.links,
        r.workers_needed,
        r.calls_per_account_hour_max,
        r.calls_per_account_hour_mean,
        r.heavy_apps,
        r.heavy_apps * 4,
        r.heavy_calls,
        r.heavy_deferred,
        r.links_stale_after_drift,
        r.drifted_links,
    );
}

fn workers(n: usize) -> String {
    format!("{n} worker{}", if n == 1 { "" } else { "s" })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
