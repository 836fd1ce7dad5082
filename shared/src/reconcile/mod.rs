//! The reconciler: the safety net under webhook deliveries (docs/contract.md, "The
//! promise, and what keeps it"). Every interval it visits each app with an active link,
//! asks Heroku for the app's newest succeeded release (one call), syncs the links behind
//! it, checks and repairs the app's webhook subscription, and retries what failed. It
//! spends at most a share of each Heroku account's rate limit and defers the rest.
//!
//! [`fanout`] lists the apps and spreads them over queue messages; [`Reconciler`] is
//! what a worker does with one message's apps.

mod app;
pub mod fanout;
mod subscription;

use crate::domain::ProjectId;
use crate::ports::{HerokuWebhooks, IntegrationStore, RateBudget, ReconcileIndex, StoreError};
use crate::signing::SigningKey;
use crate::sync::{SyncContext, SyncError};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// Tunables; the defaults are what production uses.
#[derive(Clone, Debug)]
pub struct ReconcileSettings {
    /// How often a pass starts (EventBridge Scheduler's rate in AWS).
    pub interval: Duration,
    /// Heroku calls the reconciler may spend per account and hour: a tenth of Heroku's
    /// 4,500, so the account's owner and our webhook path keep the rest.
    pub calls_per_hour: u32,
    /// Below this `RateLimit-Remaining` an account is busy (its owner, CI, other tools):
    /// its remaining apps wait for the next pass.
    pub rate_floor: u32,
    /// An app's subscription is checked every this many passes (and at once whenever a
    /// release was found undelivered): the steady state stays at one call per app.
    pub subscription_check_every: u64,
    /// A release younger than this is left to its delivery, which is likely on its way.
    pub grace: Duration,
    /// Apps per queue message.
    pub apps_per_message: usize,
    /// Apps a worker reconciles at once.
    pub concurrency: usize,
    /// When the invocation must be done (Lambda's deadline): no app is started within
    /// `DEADLINE_MARGIN` of it, and the unstarted ones wait for the next pass.
    pub deadline: Option<tokio::time::Instant>,
}

/// Time left for the apps already started when the deadline stops new ones: more than
/// one app's worst case (a few Heroku calls at their 8 s timeout, a lease wait).
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(40);

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            interval: Duration::from_secs(15 * 60),
            calls_per_hour: 450,
            rate_floor: 1000,
            subscription_check_every: 8,
            grace: Duration::from_secs(120),
            apps_per_message: 25,
            concurrency: 8,
            deadline: None,
        }
    }
}

/// What a worker needs. Built per batch: the account cache and the set of accounts out
/// of budget live as long as one batch.
pub struct Reconciler<'a> {
    pub sync: &'a SyncContext,
    pub index: &'a dyn ReconcileIndex,
    pub integrations: &'a dyn IntegrationStore,
    pub hooks: &'a dyn HerokuWebhooks,
    pub budget: &'a dyn RateBudget,
    pub signing_key: &'a SigningKey,
    /// `{PUBLIC_BASE_URL}/webhooks/heroku`; without it each subscription is checked
    /// against the URL it was created with.
    pub webhook_url: Option<String>,
    pub settings: ReconcileSettings,
    accounts: Mutex<HashMap<ProjectId, String>>,
    exhausted: Mutex<HashSet<String>>,
}

/// What reconciling one app found and did. Never holds a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppOutcome {
    /// Active links looked at.
    pub links_checked: u64,
    /// Links found behind the app's newest release (past the grace period) that were
    /// fine before: a delivery went missing.
    pub links_behind: u64,
    /// Links behind it whose last attempt had failed: retried, not counted as drift.
    pub links_failing: u64,
    /// Env vars written.
    pub links_written: u64,
    pub subscription_repaired: bool,
    /// Given the current signing key after a rotation.
    pub subscriptions_rekeyed: bool,
    /// The account's budget or pool ran out: the app waits for the next pass.
    pub deferred: bool,
    /// Seconds since the newest release, when links were behind it.
    pub oldest_behind_s: Option<f64>,
    /// Heroku calls made for this app (budgeted).
    pub heroku_calls: u32,
    /// What failed, if anything (recorded on the links when it is about them).
    pub error: Option<String>,
    /// The failure was transient (Heroku, DynamoDB or Secrets Manager down).
    pub transient: bool,
    /// The failure was ours (not transient, not about a link).
    pub broken: bool,
}

/// A batch's totals, for metrics and the benchmark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOutcome {
    pub apps: u64,
    pub links_checked: u64,
    pub links_behind: u64,
    pub links_failing: u64,
    pub links_written: u64,
    pub subscriptions_repaired: u64,
    pub subscriptions_rekeyed: u64,
    pub apps_deferred: u64,
    pub apps_failed: u64,
    /// Apps whose failure was transient: a message whose every app failed so is retried.
    pub apps_transient: u64,
    /// Apps that failed for a reason of ours (a store refusing, a corrupt record): a
    /// metric and an alarm, since retrying will not help.
    pub apps_broken: u64,
    pub heroku_calls: u64,
    pub oldest_behind_s: Option<f64>,
}

impl BatchOutcome {
    pub fn add(&mut self, o: &AppOutcome) {
        self.apps += 1;
        self.links_checked += o.links_checked;
        self.links_behind += o.links_behind;
        self.links_failing += o.links_failing;
        self.links_written += o.links_written;
        self.subscriptions_repaired += u64::from(o.subscription_repaired);
        self.subscriptions_rekeyed += u64::from(o.subscriptions_rekeyed);
        self.apps_deferred += u64::from(o.deferred);
        self.apps_failed += u64::from(o.error.is_some());
        self.apps_transient += u64::from(o.transient);
        self.apps_broken += u64::from(o.broken);
        self.heroku_calls += u64::from(o.heroku_calls);
        self.oldest_behind_s = match (self.oldest_behind_s, o.oldest_behind_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn merge(&mut self, other: &BatchOutcome) {
        self.apps += other.apps;
        self.links_checked += other.links_checked;
        self.links_behind += other.links_behind;
        self.links_failing += other.links_failing;
        self.links_written += other.links_written;
        self.subscriptions_repaired += other.subscriptions_repaired;
        self.subscriptions_rekeyed += other.subscriptions_rekeyed;
        self.apps_deferred += other.apps_deferred;
        self.apps_failed += other.apps_failed;
        self.apps_transient += other.apps_transient;
        self.apps_broken += other.apps_broken;
        self.heroku_calls += other.heroku_calls;
        self.oldest_behind_s = match (self.oldest_behind_s, other.oldest_behind_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

impl<'a> Reconciler<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sync: &'a SyncContext,
        index: &'a dyn ReconcileIndex,
        integrations: &'a dyn IntegrationStore,
        hooks: &'a dyn HerokuWebhooks,
        budget: &'a dyn RateBudget,
        signing_key: &'a SigningKey,
        webhook_url: Option<String>,
        settings: ReconcileSettings,
    ) -> Self {
        Reconciler {
            sync,
            index,
            integrations,
            hooks,
            budget,
            signing_key,
            webhook_url,
            settings,
            accounts: Mutex::new(HashMap::new()),
            exhausted: Mutex::new(HashSet::new()),
        }
    }

    /// The Heroku account whose rate limit `project`'s calls spend (its integration's
    /// Heroku user; the project itself when that is unknown).
    async fn account(&self, project: &ProjectId) -> Result<String, StoreError> {
        if let Some(a) = lock(&self.accounts).get(project) {
            return Ok(a.clone());
        }
        let account = self
            .integrations
            .load_integration(project)
            .await?
            .and_then(|i| i.heroku_user_id)
            .unwrap_or_else(|| format!("project:{project}"));
        lock(&self.accounts).insert(project.clone(), account.clone());
        Ok(account)
    }

    /// Takes `n` calls from the account's budget; `false` (and the account is skipped
    /// for the rest of this batch) when its hour is spent.
    async fn take(&self, account: &str, n: u32) -> Result<bool, SyncError> {
        if lock(&self.exhausted).contains(account) {
            return Ok(false);
        }
        let now_s = self.sync.clock.now().unix_timestamp();
        let ok = self
            .budget
            .take(account, n, self.settings.calls_per_hour, now_s)
            .await?;
        if !ok {
            tracing::info!(account, "reconcile budget for this hour spent; deferring");
            lock(&self.exhausted).insert(account.to_owned());
        }
        Ok(ok)
    }

    /// Marks an account busy for the rest of the batch.
    fn exhaust(&self, account: &str) {
        lock(&self.exhausted).insert(account.to_owned());
    }

    /// Reconciles `apps`, several at once; one app's failure never stops the others.
    pub async fn run(&self, pass: u64, apps: &[crate::domain::AppId]) -> BatchOutcome {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        // A plain loop over FuturesUnordered rather than `buffer_unordered` over a
        // closure: the closure's borrowed future is not provably `Send`, and the local
        // stack runs this on a spawned task.
        let mut running = FuturesUnordered::new();
        let mut next = apps.iter();
        let mut outcomes = Vec::with_capacity(apps.len());
        let mut unstarted = 0u64;
        loop {
            while running.len() < self.settings.concurrency.max(1) {
                if self.settings.deadline.is_some_and(|d| {
                    d.saturating_duration_since(tokio::time::Instant::now()) < DEADLINE_MARGIN
                }) {
                    unstarted = next.by_ref().count() as u64;
                    break;
                }
                match next.next() {
                    Some(app) => running.push(self.one(app, pass)),
                    None => break,
                }
            }
            match running.next().await {
                Some(o) => outcomes.push(o),
                None => break,
            }
        }
        let mut total = BatchOutcome::default();
        for o in &outcomes {
            total.add(o);
        }
        if unstarted > 0 {
            tracing::warn!(
                unstarted,
                "the invocation's deadline is near; these apps wait for the next pass"
            );
            total.apps += unstarted;
            total.apps_deferred += unstarted;
        }
        total
    }

    async fn one(&self, app: &crate::domain::AppId, pass: u64) -> AppOutcome {
        match self.reconcile_app(app, pass).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(app_id = %app, error = %e, "reconcile failed; the next pass retries");
                AppOutcome {
                    error: Some(e.to_string()),
                    transient: matches!(e, SyncError::Transient { .. }),
                    broken: matches!(e, SyncError::Internal(_)),
                    ..AppOutcome::default()
                }
            }
        }
    }

    /// The batch's metrics (emitted even when all is well, so drift alarms see each pass).
    pub fn metrics(total: &BatchOutcome) -> crate::metrics::SyncMetrics {
        crate::metrics::SyncMetrics {
            reconcile: Some(crate::metrics::ReconcileMetrics {
                links_checked: total.links_checked,
                links_behind: total.links_behind,
                links_failing: total.links_failing,
                apps_failed: total.apps_transient + total.apps_broken,
                subscriptions_repaired: total.subscriptions_repaired,
                apps_deferred: total.apps_deferred,
                oldest_unsynced_release_s: total.oldest_behind_s,
            }),
            ..Default::default()
        }
    }
}

/// FNV-1a of `bytes` and `salt`: a cheap, stable spread (subscription-check slots, the
/// order a pass visits apps in).
pub(crate) fn fnv(bytes: &[u8], salt: u64) -> u64 {
    salt.to_be_bytes()
        .iter()
        .chain(bytes)
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
        })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
