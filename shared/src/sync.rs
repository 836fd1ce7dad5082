//! The sync core: for every active link of a Heroku app, read the app's config vars as of
//! a release, and make each linked env var hold its config var's value.
//!
//! Correctness under duplicates, reordering and races rests on three rules:
//! 1. A link remembers the newest release version it has been checked against; a delivery
//!    for that version or an older one changes nothing (de-duplication and ordering).
//! 2. Values are read *as of the delivered release* (`/releases/{v}/config-vars`), so the
//!    value written always belongs to the version recorded with it.
//! 3. Secrets Manager cannot write conditionally, so only the holder of the app's lease
//!    writes env var secrets, and it re-checks versions under the lease. Heroku is called
//!    before the lease is taken: a slow Heroku never holds up an opt-out or another sync.

use crate::clock::Clock;
pub use crate::domain::plan::SyncReport;
use crate::domain::plan::{self, Fetched, Plan, WriteOutcome, note_error};
use crate::domain::{
    AppId, AppRecord, Fingerprint, Lease, Link, LinkKey, ProjectId, Repair, Timestamp,
};
use crate::heroku::HerokuError;
use crate::metrics::{MetricsSink, SyncMetrics};
use crate::ports::{
    AppStore, EnvVarSink, EnvVarSynced, EventPublisher, Guard, HerokuApi, PublishError, Saved,
    SecretVersion, StoreError, VaultError,
};
use crate::rmw::{self, Backoff, Edit, Updated};
use crate::tokens::{TokenError, TokenManager};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a sync waits for its change events to be published: the delivery's answer
/// (and Heroku's 5 s timeout for it) must not hang on a notification.
const PUBLISH_BUDGET: Duration = Duration::from_secs(2);

/// How many times one sync re-reads the app record after losing a race before giving up.
const MAX_ROUNDS: u32 = 50;

/// Tunables; the defaults are what production uses.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// How long a lease lasts. Must exceed `write_margin` plus the longest write.
    pub lease: Duration,
    /// A holder starts a secret write only with at least this much lease left. The
    /// Secrets Manager client's operation timeout is shorter, so no write can still be
    /// in flight when the lease expires and someone else takes over.
    pub write_margin: Duration,
    /// How long to wait for another holder's lease before answering "try again".
    pub wait_budget: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            lease: Duration::from_secs(20),
            write_margin: Duration::from_secs(8),
            wait_budget: Duration::from_secs(6),
        }
    }
}

/// Which release to sync to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A release Heroku told us about (a webhook delivery).
    Release(u64),
    /// Whatever the app's newest release is now (linking, catching up).
    Newest,
}

#[derive(Clone, Debug)]
pub struct SyncRequest {
    pub app_id: AppId,
    pub target: Target,
    /// Restrict the sync to one link (the connect path syncs only what it linked).
    pub only: Option<LinkKey>,
    /// When Heroku created the release, for the rotation-to-written latency metric.
    pub released_at: Option<Timestamp>,
    /// Heroku's delivery id, the same on every retry of one delivery; `None` for syncs
    /// that are not a delivery (linking, catching up).
    pub delivery_id: Option<String>,
    /// Set by the reconciler: what it is repairing (a release no delivery brought, a
    /// retry of a failed link), recorded on every link this sync writes.
    pub repair: Option<String>,
}

impl SyncRequest {
    /// One link to the app's newest release, outside any delivery: a resync asked for by
    /// the owner (docs/contract.md, `POST …/heroku-sync/resync`).
    pub fn newest_for_link(app_id: AppId, link: LinkKey) -> Self {
        SyncRequest {
            app_id,
            target: Target::Newest,
            only: Some(link),
            released_at: None,
            delivery_id: None,
            repair: None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// Heroku, DynamoDB or Secrets Manager is down, slow or throttling; nothing wrong was
    /// written and a retry (Heroku's redelivery) will finish the job.
    #[error("transient failure: {reason}")]
    Transient {
        reason: String,
        retry_after: Duration,
    },
    /// Stored state we cannot read; needs a human.
    #[error("internal error: {0}")]
    Internal(String),
}

impl SyncError {
    fn transient(reason: impl Into<String>) -> Self {
        SyncError::Transient {
            reason: reason.into(),
            retry_after: Duration::from_secs(5),
        }
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        match e {
            // AWS's text stays in the log: callers and Heroku see what happened, not it.
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "DynamoDB unavailable");
                SyncError::transient("DynamoDB is unavailable or throttling")
            }
            other => SyncError::Internal(other.to_string()),
        }
    }
}

/// Everything the sync core talks to.
pub struct SyncContext {
    pub apps: Arc<dyn AppStore>,
    pub env: Arc<dyn EnvVarSink>,
    pub heroku: Arc<dyn HerokuApi>,
    pub tokens: Arc<TokenManager>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<dyn MetricsSink>,
    /// Change events: one per env var written, after the commit (see `announce`).
    pub events: Arc<dyn EventPublisher>,
    pub settings: SyncSettings,
}

impl SyncContext {
    /// Syncs the app's links to `req.target`. Safe to call concurrently and repeatedly.
    pub async fn sync(&self, req: &SyncRequest) -> Result<SyncReport, SyncError> {
        let result = self.sync_inner(req).await;
        let mut m = SyncMetrics::default();
        match &result {
            Ok(report) => {
                m.syncs_done = report.written.len() as u64;
                m.syncs_failed = report.failed.len() as u64;
                if !report.written.is_empty() {
                    m.release_to_written = req
                        .released_at
                        .map(|at| (self.clock.now() - at).as_seconds_f64().max(0.0));
                }
            }
            Err(_) => m.syncs_failed = 1,
        }
        if m.syncs_done + m.syncs_failed > 0 {
            self.metrics.record(&m);
        }
        result
    }

    async fn sync_inner(&self, req: &SyncRequest) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        let Some(mut record) = self.apps.load_app(&req.app_id).await? else {
            tracing::info!(app_id = %req.app_id, "no links for this app");
            return Ok(report);
        };
        let version = match req.target {
            Target::Release(v) => v,
            Target::Newest => match self.newest_version(&record, req).await? {
                Some(v) => v,
                None => return Ok(report),
            },
        };
        report.version = Some(version);

        // Config vars as of `version`, fetched once per project (each has its own token).
        let mut fetched: BTreeMap<ProjectId, Fetched> = BTreeMap::new();
        let mut transient: Option<SyncError> = None;
        // Only the wait for another sync's lease is shared with `rmw`: this loop takes a
        // lease of its own and writes under it, which no plain read-modify-write does.
        let mut lease_wait = Backoff::Within(self.settings.wait_budget).start();
        let mut rounds = 0;
        loop {
            // Every round follows someone else's save; past this many, something keeps
            // changing the record and the redelivery can try again later.
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(SyncError::transient("the app's record kept changing"));
            }
            let wanted = plan::wanted(&record, version, req.only.as_ref());
            if wanted.is_empty() {
                tracing::info!(app_id = %req.app_id, version, "nothing to do: every link is at this release or newer");
                return match transient {
                    Some(e) => Err(e),
                    None => Ok(report),
                };
            }
            let now_ms = self.clock.now_ms();
            let delivery = delivery_of(req);
            if delivery.is_some_and(|(v, id)| record.covered_by_lease(v, id, now_ms)) {
                tracing::info!(app_id = %req.app_id, version, "nothing to do: a delivery of this release or a newer one is being handled");
                return match transient {
                    Some(e) => Err(e),
                    None => Ok(report),
                };
            }
            if let Some(lease) = record.live_lease(now_ms) {
                // Someone is writing right now; wait for them, then decide afresh.
                if !lease_wait.again().await {
                    return Err(SyncError::Transient {
                        reason: "another sync of this app is still running".into(),
                        retry_after: Duration::from_secs(
                            ((lease.until_ms - now_ms) / 1000).max(1) as u64
                        ),
                    });
                }
                record = self.reload(&req.app_id).await?;
                continue;
            }

            for project in plan::projects(&record, &wanted) {
                if fetched.contains_key(&project) {
                    continue;
                }
                match self.fetch(&project, &record.app_id, version).await {
                    Ok(f) => {
                        fetched.insert(project, f);
                    }
                    Err(e) => {
                        tracing::warn!(app_id = %req.app_id, project = %project, error = %e, "config vars unavailable");
                        transient.get_or_insert(e);
                    }
                }
            }

            let now = self.clock.now();
            let plan = plan::plan(&record, version, req.only.as_ref(), &fetched);

            if !plan.needs_write() {
                if plan.steps.is_empty() {
                    return Err(transient
                        .unwrap_or_else(|| SyncError::transient("nothing could be fetched")));
                }
                plan::apply(
                    &mut record,
                    &plan,
                    now,
                    &WriteOutcome::default(),
                    &mut report,
                );
                note_cause(&mut record, &plan, req, &report, now);
                // Any lease left on the record has expired: drop it (its holder's late
                // commit also conflicts on the generation this save moves on).
                record.set_lease(None);
                match self
                    .apps
                    .save_app(
                        &record,
                        Guard::Unleased {
                            generation: record.generation,
                            now_ms,
                        },
                    )
                    .await?
                {
                    Saved::Ok { .. } => {
                        return match transient {
                            Some(e) => Err(e),
                            None => Ok(report),
                        };
                    }
                    Saved::Conflict => {
                        report = SyncReport {
                            version: Some(version),
                            ..SyncReport::default()
                        };
                        record = self.reload(&req.app_id).await?;
                        continue;
                    }
                }
            }

            // Take the lease at the generation we decided on: if anything changed since,
            // the condition fails and we decide again from fresh state.
            // Counted from now, not from the start of this round: the Heroku fetch above
            // may have taken seconds, and the writes need the whole margin.
            let taken_at = self.clock.now_ms();
            let owner = uuid::Uuid::new_v4().to_string();
            let lease = Lease {
                owner: owner.clone(),
                until_ms: taken_at + self.settings.lease.as_millis() as i64,
            };
            let mut leased = record.clone();
            leased.set_lease(Some(lease.clone()));
            // Write-ahead: from here until the commit, a write may land whatever happens
            // to this process; a later sync must not write an older release over it.
            for (key, _, _) in plan.writes() {
                if let Some(link) = leased.links.get_mut(key) {
                    link.writing_version = Some(version);
                }
            }
            leased.lease_version = delivery.map(|(v, _)| v);
            leased.lease_delivery = delivery.map(|(_, id)| id.to_owned());
            match self
                .apps
                .save_app(
                    &leased,
                    Guard::Unleased {
                        generation: record.generation,
                        now_ms: taken_at,
                    },
                )
                .await?
            {
                Saved::Ok { generation } => leased.generation = generation,
                Saved::Conflict => {
                    record = self.reload(&req.app_id).await?;
                    continue;
                }
            }

            let mut versions = BTreeMap::new();
            let (outcome, write_error) = self
                .write_values(&leased, &plan, &lease, &mut versions)
                .await;
            let now = self.clock.now();
            plan::apply(&mut leased, &plan, now, &outcome, &mut report);
            note_cause(&mut leased, &plan, req, &report, now);
            // A write in doubt keeps the lease until it expires: no other writer may start
            // before that write can no longer land (write_margin > the client's timeout).
            leased.set_lease(outcome.in_doubt.then(|| lease.clone()));
            // This delivery has answered by now: if it failed, its retry is Heroku's and
            // must not be taken for this still-running one.
            leased.lease_version = None;
            leased.lease_delivery = None;
            match self
                .apps
                .save_app(
                    &leased,
                    Guard::LeaseHolder {
                        owner,
                        generation: leased.generation,
                    },
                )
                .await
            {
                Ok(Saved::Ok { .. }) => {}
                Ok(Saved::Conflict) => {
                    tracing::error!(app_id = %req.app_id, "lease lost before commit; the redelivery will finish");
                    return Err(SyncError::transient("lease lost before commit"));
                }
                Err(e) => return Err(e.into()),
            }
            for key in &report.written {
                tracing::info!(app_id = %req.app_id, link = %key, version, "env var updated");
            }
            self.announce(&leased, version, &report.written, &versions)
                .await;
            return match write_error.or(transient) {
                Some(e) => Err(e),
                None => Ok(report),
            };
        }
    }

    async fn reload(&self, app: &AppId) -> Result<AppRecord, SyncError> {
        self.apps
            .load_app(app)
            .await?
            .ok_or_else(|| SyncError::Internal(format!("app record {app} vanished")))
    }

    /// The newest release, asked with the token of a project whose link we sync.
    async fn newest_version(
        &self,
        record: &AppRecord,
        req: &SyncRequest,
    ) -> Result<Option<u64>, SyncError> {
        let Some(link) = record
            .active_links()
            .find(|l| req.only.as_ref().is_none_or(|k| *k == l.key()))
        else {
            return Ok(None);
        };
        let project = link.project_id.clone();
        let result = self
            .with_token(&project, |token| {
                let heroku = self.heroku.clone();
                let app = record.app_id.to_string();
                async move { heroku.newest_release(&token, &app).await }
            })
            .await;
        match result {
            Ok(Ok(release)) => Ok(Some(release.map(|r| r.version).unwrap_or(0))),
            Ok(Err(reason)) => {
                // Permanent: record it on the link so the status page explains.
                self.record_failure(record.app_id.clone(), req.only.clone(), None, reason)
                    .await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Shows a permanent failure on the app's active links (`only` that one; `project`
    /// only that project's: another project's grant says nothing about this one).
    pub(crate) async fn record_failure(
        &self,
        app: AppId,
        only: Option<LinkKey>,
        project: Option<&ProjectId>,
        reason: String,
    ) -> Result<(), SyncError> {
        // At once and five times at most, then given up: this note rides on the
        // answer to a delivery, and the next sync that meets the failure notes it again.
        let updated = rmw::update_app(
            self.apps.as_ref(),
            self.clock.as_ref(),
            &app,
            Backoff::AtOnce(5),
            |record, now| {
                let keys: Vec<LinkKey> = record
                    .active_links()
                    .filter(|l| only.as_ref().is_none_or(|k| *k == l.key()))
                    .filter(|l| project.is_none_or(|p| *p == l.project_id))
                    .map(Link::key)
                    .collect();
                for key in keys {
                    if let Some(link) = record.links.get_mut(&key) {
                        note_error(link, &reason, now, None);
                    }
                }
                Edit::Save(())
            },
        )
        .await?;
        match updated {
            Updated::Done(()) | Updated::Exhausted => Ok(()),
            Updated::Absent => Err(SyncError::Internal(format!("app record {app} vanished"))),
        }
    }

    /// Runs `call` with the project's token, refreshing once on a 401. The outer `Err` is
    /// transient; `Ok(Err(reason))` is a permanent failure to record on the links.
    pub(crate) async fn with_token<T, F, Fut>(
        &self,
        project: &ProjectId,
        call: F,
    ) -> Result<Result<T, String>, SyncError>
    where
        F: Fn(crate::heroku::AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, HerokuError>>,
    {
        let token = match self.tokens.access_token(project).await {
            Ok(t) => t,
            Err(e) => return token_failure(e),
        };
        match call(token.clone()).await {
            Ok(v) => return Ok(Ok(v)),
            Err(HerokuError::Unauthorized) => {}
            Err(e) => return heroku_failure(e),
        }
        let token = match self.tokens.refresh(project, &token).await {
            Ok(t) => t,
            Err(e) => return token_failure(e),
        };
        match call(token).await {
            Ok(v) => Ok(Ok(v)),
            Err(HerokuError::Unauthorized) => Ok(Err(
                "Heroku rejected a freshly refreshed token; reconnect Heroku".into(),
            )),
            Err(e) => heroku_failure(e),
        }
    }

    async fn fetch(
        &self,
        project: &ProjectId,
        app: &AppId,
        version: u64,
    ) -> Result<Fetched, SyncError> {
        let result = self
            .with_token(project, |token| {
                let heroku = self.heroku.clone();
                let app = app.to_string();
                async move { heroku.config_vars(&token, &app, Some(version)).await }
            })
            .await?;
        Ok(match result {
            Ok(vars) => Fetched::Vars(vars),
            Err(reason) => Fetched::Failed(reason),
        })
    }

    /// Publishes a change event (docs/contract.md, "Change events") for each link this
    /// sync wrote and committed, naming the secret version the write made.
    ///
    /// Called after the lease commit, never before it: an event then never announces a
    /// write the link's status does not show (when the commit fails, the write is redone
    /// by the retry, and that one is announced). The price is at most once: a process
    /// that dies between the commit and this call loses those events. A failure is
    /// logged and counted (`ChangeEventsFailed`), not retried beyond the publisher's own
    /// second try, and given at most `PUBLISH_BUDGET`: the env var already holds the right
    /// value, and the delivery's answer must neither wait long nor fail for a notification.
    async fn announce(
        &self,
        record: &AppRecord,
        version: u64,
        written: &[LinkKey],
        versions: &BTreeMap<LinkKey, SecretVersion>,
    ) {
        let events: Vec<EnvVarSynced> = written
            .iter()
            .filter_map(|key| {
                let link = record.links.get(key)?;
                let secret = versions.get(key)?;
                Some(EnvVarSynced {
                    project_id: link.project_id.clone(),
                    env_var: link.env_var.clone(),
                    secret_arn: secret.arn.clone(),
                    secret_version_id: secret.version_id.clone(),
                    app_id: record.app_id.clone(),
                    release_version: version,
                    synced_at: link.last_synced_at.unwrap_or_else(|| self.clock.now()),
                })
            })
            .collect();
        if events.is_empty() {
            return;
        }
        let published = tokio::time::timeout(PUBLISH_BUDGET, self.events.publish(&events))
            .await
            .unwrap_or_else(|_| {
                Err(PublishError {
                    failed: events.len(),
                    reason: "EventBridge did not answer in time".into(),
                })
            });
        if let Err(e) = published {
            tracing::error!(
                app_id = %record.app_id,
                version,
                failed = e.failed,
                reason = %e.reason,
                "change events not published; the env vars themselves are synced"
            );
            self.metrics.record(&SyncMetrics {
                change_events_failed: e.failed as u64,
                ..SyncMetrics::default()
            });
        }
    }

    /// Writes every `Write` decision while the lease has time left. Stops at the first
    /// transient failure; what was written stays written and is committed. Each write's
    /// secret version goes into `versions`, for its change event.
    async fn write_values(
        &self,
        record: &AppRecord,
        plan: &Plan,
        lease: &Lease,
        versions: &mut BTreeMap<LinkKey, SecretVersion>,
    ) -> (WriteOutcome, Option<SyncError>) {
        let mut outcome = WriteOutcome::default();
        let version = plan.version;
        for (key, value, fingerprint) in plan.writes() {
            let link = &record.links[key];
            let left = lease.until_ms - self.clock.now_ms();
            if left < self.settings.write_margin.as_millis() as i64 {
                return (
                    outcome,
                    Some(SyncError::transient(
                        "lease too close to expiry to write safely",
                    )),
                );
            }
            let token = idempotency_token(&lease.owner, key, version, fingerprint);
            match self
                .env
                .write_env_var(&link.project_id, &link.env_var, value, &token)
                .await
            {
                Ok(secret) => {
                    outcome.written.insert(key.clone());
                    versions.insert(key.clone(), secret);
                }
                Err(VaultError::PendingDeletion(_)) => {
                    // Someone deleted the env var secret; recreating it behind their back
                    // would be wrong, so the link says so instead.
                    outcome.refused.insert(
                        key.clone(),
                        "the env var secret is scheduled for deletion; restore it to resume the sync".into(),
                    );
                }
                Err(VaultError::InDoubt(e)) => {
                    // The write may still land (a timeout after sending, a dropped
                    // connection): the lease must not be freed for someone else's write
                    // until this one can no longer arrive.
                    outcome.in_doubt = true;
                    tracing::warn!(error = %e, "Secrets Manager did not answer a write");
                    return (
                        outcome,
                        Some(SyncError::transient("Secrets Manager did not answer")),
                    );
                }
                Err(VaultError::Unavailable(e)) => {
                    // Answered with an error (5xx, throttling): nothing was written.
                    tracing::warn!(error = %e, "Secrets Manager unavailable");
                    return (
                        outcome,
                        Some(SyncError::transient(
                            "Secrets Manager is unavailable or throttling",
                        )),
                    );
                }
                Err(refused) => {
                    // Permanent for this secret (permissions, its KMS key, a request it
                    // will never accept): shown on this link, and the app's other links
                    // still sync. Only the error code: AWS's message can name the
                    // function's role ARN and the account.
                    let code = refused_code(&refused);
                    tracing::error!(link = %key, code = %code, "Secrets Manager refused the write");
                    outcome.refused.insert(
                        key.clone(),
                        format!(
                            "Secrets Manager refused to write the env var secret ({code}); the \
                             operator must fix the function's permissions or the secret's KMS \
                             key, then resync"
                        ),
                    );
                }
            }
        }
        (outcome, None)
    }
}

/// The error code of a refused write ("AccessDeniedException"), never AWS's message.
fn refused_code(e: &VaultError) -> String {
    match e {
        VaultError::Refused(code) => code.clone(),
        // `Other` carries "Code: message".
        VaultError::Other(m) => m.split(':').next().unwrap_or("Unknown").trim().to_owned(),
        VaultError::Unavailable(_) => "Unavailable".into(),
        VaultError::InDoubt(_) => "InDoubt".into(),
        VaultError::PendingDeletion(_) => "PendingDeletion".into(),
    }
}

/// One token per write attempt: the lease owner (new for every lease taken), link,
/// version and value. Secrets Manager's own retries of one call reuse it (no duplicate
/// version); a later attempt, even of the same value, gets a new one. Secrets Manager
/// silently ignores a write whose token it has seen, so a token reused across attempts
/// could leave an older value current after the newer write was redone.
fn idempotency_token(
    lease_owner: &str,
    key: &LinkKey,
    version: u64,
    fingerprint: &Fingerprint,
) -> String {
    let mut h = Sha256::new();
    h.update(lease_owner.as_bytes());
    h.update(b"\0");
    h.update(key.as_str().as_bytes());
    h.update(version.to_be_bytes());
    h.update(fingerprint.as_str().as_bytes());
    hex::encode(&h.finalize()[..24])
}

/// Records on the links what brought this sync: a delivery reaching them, or the
/// reconciler's repair of the ones it wrote.
fn note_cause(
    record: &mut AppRecord,
    plan: &Plan,
    req: &SyncRequest,
    report: &SyncReport,
    now: Timestamp,
) {
    for (key, _) in &plan.steps {
        let Some(link) = record.links.get_mut(key) else {
            continue;
        };
        if req.delivery_id.is_some() {
            link.last_delivery_at = Some(now);
        }
        if let Some(what) = &req.repair
            && report.written.contains(key)
        {
            link.last_repair = Some(Repair {
                at: now,
                what: what.clone(),
            });
        }
    }
}

/// The release and id of a webhook delivery: Heroku retries it until it succeeds. Other
/// syncs (linking, catching up) are nobody's retry, so they never cover a delivery.
fn delivery_of(req: &SyncRequest) -> Option<(u64, &str)> {
    match (req.target, &req.only, req.delivery_id.as_deref()) {
        (Target::Release(v), None, Some(id)) => Some((v, id)),
        _ => None,
    }
}

fn token_failure<T>(e: TokenError) -> Result<Result<T, String>, SyncError> {
    match e {
        TokenError::Transient(m) => Err(SyncError::transient(m)),
        // The operator's to fix; Heroku's redeliveries sync once it is.
        e @ TokenError::ClientRejected(_) => Err(SyncError::Transient {
            reason: e.to_string(),
            retry_after: Duration::from_secs(60),
        }),
        TokenError::Internal(m) => Err(SyncError::Internal(m)),
        other => Ok(Err(other.to_string())),
    }
}

fn heroku_failure<T>(e: HerokuError) -> Result<Result<T, String>, SyncError> {
    if e.is_transient() {
        return Err(SyncError::Transient {
            retry_after: e.retry_after().unwrap_or(Duration::from_secs(5)),
            reason: e.to_string(),
        });
    }
    Ok(Err(match e {
        HerokuError::Forbidden(_) | HerokuError::NotFound(_) => {
            format!("the connected Heroku account cannot read this app's config vars ({e})")
        }
        other => other.to_string(),
    }))
}
