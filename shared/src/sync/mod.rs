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
use crate::domain::{AppId, LinkKey, Timestamp};
use crate::metrics::MetricsSink;
use crate::ports::{AppStore, EnvVarSink, EventPublisher, HerokuApi, StoreError};
use crate::tokens::TokenManager;
use std::sync::Arc;
use std::time::Duration;

mod heroku;
mod run;
mod write;

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
