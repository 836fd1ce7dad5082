//! Writing the planned values under the lease, and announcing what was written.

use super::{SyncContext, SyncError};
use crate::domain::plan::{Plan, WriteOutcome};
use crate::domain::{AppRecord, Fingerprint, Lease, LinkKey};
use crate::metrics::SyncMetrics;
use crate::ports::{EnvVarSynced, PublishError, SecretVersion, VaultError};
use futures_util::stream::{self, StreamExt};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Secret writes in flight at once for one sync: a thousand links of one app written one
/// after another outlast the function's timeout, and Secrets Manager allows 50
/// `PutSecretValue` calls a second per account.
const WRITES_AT_ONCE: usize = 10;

/// How long a sync waits for its change events to be published: the delivery's answer
/// (and Heroku's 5 s timeout for it) must not hang on a notification.
const PUBLISH_BUDGET: Duration = Duration::from_secs(2);

impl SyncContext {
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
    pub(super) async fn announce(
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

    /// Writes every `Write` decision while the lease has time left, `WRITES_AT_ONCE` at
    /// a time. After the first transient failure no new write starts; those in flight
    /// finish, and what was written stays written and is committed. Each write's secret
    /// version goes into `versions`, for its change event.
    pub(super) async fn write_values(
        &self,
        record: &AppRecord,
        plan: &Plan,
        lease: &Lease,
        versions: &mut BTreeMap<LinkKey, SecretVersion>,
    ) -> (WriteOutcome, Option<SyncError>) {
        let version = plan.version;
        let stop = AtomicBool::new(false);
        // Futures made up front by a method, not a closure over the iterator's borrows,
        // which the compiler cannot prove general enough for a `Send` handler.
        let writes: Vec<_> = plan
            .writes()
            .map(|(key, value, fingerprint)| {
                self.write_one(record, lease, version, key, value, fingerprint, &stop)
            })
            .collect();
        let attempts: Vec<(&LinkKey, Attempt)> = stream::iter(writes)
            .buffer_unordered(WRITES_AT_ONCE)
            .collect()
            .await;

        let mut outcome = WriteOutcome::default();
        let mut error = None;
        for (key, attempt) in attempts {
            let result = match attempt {
                Attempt::NotStarted => continue,
                Attempt::NoTime => {
                    error.get_or_insert(SyncError::transient(
                        "lease too close to expiry to write safely",
                    ));
                    continue;
                }
                Attempt::Done(result) => result,
            };
            match result {
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
                    error.get_or_insert(SyncError::transient("Secrets Manager did not answer"));
                }
                Err(VaultError::Unavailable(e)) => {
                    // Answered with an error (5xx, throttling): usually nothing was written,
                    // but a 5xx can follow a write that landed. Safe either way: the answer
                    // came, so nothing is still in flight, and the write-ahead
                    // `writing_version` stays until a commit, so no older value follows.
                    tracing::warn!(error = %e, "Secrets Manager unavailable");
                    error.get_or_insert(SyncError::transient(
                        "Secrets Manager is unavailable or throttling",
                    ));
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
        (outcome, error)
    }
}

impl SyncContext {
    /// One planned write, unless a transient failure came first or the lease is too
    /// short to start it; a transient failure stops the writes not yet started.
    #[allow(clippy::too_many_arguments)]
    async fn write_one<'a>(
        &self,
        record: &AppRecord,
        lease: &Lease,
        version: u64,
        key: &'a LinkKey,
        value: &SecretString,
        fingerprint: &Fingerprint,
        stop: &AtomicBool,
    ) -> (&'a LinkKey, Attempt) {
        if stop.load(Ordering::SeqCst) {
            return (key, Attempt::NotStarted);
        }
        // Checked as each write starts: one started later than the margin allows could
        // still be in flight when the lease runs out.
        let left = lease.until_ms - self.clock.now_ms();
        if left < self.settings.write_margin.as_millis() as i64 {
            stop.store(true, Ordering::SeqCst);
            return (key, Attempt::NoTime);
        }
        let link = &record.links[key];
        let token = idempotency_token(&lease.owner, key, version, fingerprint);
        let result = self
            .env
            .write_env_var(&link.project_id, &link.env_var, value, &token)
            .await;
        if matches!(
            result,
            Err(VaultError::InDoubt(_) | VaultError::Unavailable(_))
        ) {
            stop.store(true, Ordering::SeqCst);
        }
        (key, Attempt::Done(result))
    }
}

/// What became of one planned write.
enum Attempt {
    /// A transient failure of another write came first: left for the retry.
    NotStarted,
    /// Too little lease left to start it safely.
    NoTime,
    Done(Result<SecretVersion, VaultError>),
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
