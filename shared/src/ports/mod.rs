//! Ports: the small traits the domain needs from the outside world. Adapters implement
//! them for DynamoDB, Secrets Manager and Heroku, and in memory for fast tests.

mod heroku;
mod secrets;

pub use heroku::{Heroku, HerokuApi, HerokuOAuth, HerokuPlatform, HerokuWebhooks};
pub use secrets::{
    EnvVarSink, EnvVarSynced, EventPublisher, PublishError, STAGE_CURRENT, STAGE_PREVIOUS,
    SecretVault, SecretVersion, VaultError,
};

use crate::domain::{
    AppId, AppRecord, ConfigVarName, EnvVarName, Integration, Link, LinkKey, ProjectId, Timestamp,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A failure of a store. `Unavailable` is transient (throttling, network, timeout): the
/// caller may retry later; anything else will not get better by retrying.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is not readable: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Other(String),
}

/// The condition a save is made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The item must not exist yet.
    New,
    /// The item must still be at `generation` and hold no live lease at `now_ms`.
    Unleased { generation: u64, now_ms: i64 },
    /// The caller must still hold the lease it took, and nobody may have saved since: an
    /// expired lease's holder then finds `generation` moved on and conflicts, whatever
    /// the saver after it did with the lease fields.
    LeaseHolder { owner: String, generation: u64 },
}

/// Outcome of a conditional save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written; the stored generation is now this.
    Ok { generation: u64 },
    /// The condition failed: someone else changed the item. Reload and decide again.
    Conflict,
}

/// Where a project's env var is synced from: the project-side index of its links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub project_id: ProjectId,
    pub env_var: EnvVarName,
    pub app_id: AppId,
    pub config_var: ConfigVarName,
}

/// A project's links on one app, and when the reconciler last checked the app.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinksOnApp {
    pub links: Vec<Link>,
    pub checked_at: Option<Timestamp>,
}

/// What a project's status starts from: its integration, if any, and its directory of
/// links (which app each env var follows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectItems {
    pub integration: Option<Integration>,
    pub directory: Vec<DirectoryEntry>,
}

/// App records (links, leases, subscriptions) and the per-project directory of links.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// A strongly consistent read of one app's record.
    async fn load_app(&self, app: &AppId) -> Result<Option<AppRecord>, StoreError>;

    /// `project`'s links on `app` and when the reconciler last checked the app (what a
    /// project's status shows), strongly consistent. In DynamoDB two Queries of the app's
    /// partition at once, one for the header and check mark, one for the project's links
    /// only: an app shared by many projects is not read whole for one project's status.
    async fn load_project_links(
        &self,
        app: &AppId,
        project: &ProjectId,
    ) -> Result<LinksOnApp, StoreError>;

    /// One link as stored, strongly consistent: what a caller shows after changing it. In
    /// DynamoDB the link's own item, not its app's whole partition.
    async fn load_link(&self, app: &AppId, key: &LinkKey) -> Result<Option<Link>, StoreError>;

    /// Writes `record` if `guard` still holds, at generation `record.generation + 1`, or
    /// `+ 2` for a save DynamoDB takes in several transactions (`Saved::Ok` says which):
    /// anyone who read the record meanwhile conflicts.
    async fn save_app(&self, record: &AppRecord, guard: Guard) -> Result<Saved, StoreError>;

    /// Like [`AppStore::save_app`], and atomically points the project's directory entry
    /// for `entry.env_var` at this app. With `replacing: None` the entry must be absent or
    /// already this link (another app or config var conflicts); with `Some(read)` it must
    /// still be exactly the entry the caller read and means to overwrite, so two callers
    /// re-pointing the same env var cannot both succeed.
    async fn save_app_with_entry(
        &self,
        record: &AppRecord,
        guard: Guard,
        entry: &DirectoryEntry,
        replacing: Option<&DirectoryEntry>,
    ) -> Result<Saved, StoreError>;

    async fn directory_entry(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
    ) -> Result<Option<DirectoryEntry>, StoreError>;

    async fn directory(&self, project: &ProjectId) -> Result<Vec<DirectoryEntry>, StoreError>;

    /// The project's integration and directory together, strongly consistent: in
    /// DynamoDB both are in the project's partition, read by one Query (the status route
    /// reads this, then each linked app's partition).
    async fn load_project(&self, project: &ProjectId) -> Result<ProjectItems, StoreError>;
}

#[async_trait]
pub trait IntegrationStore: Send + Sync {
    async fn load_integration(
        &self,
        project: &ProjectId,
    ) -> Result<Option<Integration>, StoreError>;

    /// Writes `integration` with generation + 1 if the stored generation still matches
    /// (`None`: the item must not exist).
    async fn save_integration(
        &self,
        integration: &Integration,
        expected_generation: Option<u64>,
    ) -> Result<Saved, StoreError>;
}

/// A pending OAuth authorization: created by `authorize`, consumed once by the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// SHA-256 of the state string; the string itself is never stored.
    pub state_hash: String,
    pub project_id: ProjectId,
    /// The caller who asked; only they can finish connecting.
    pub sub: String,
    /// Unix seconds.
    pub expires_at: i64,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    async fn put_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Removes and returns the state: a second take of the same state finds nothing.
    async fn take_state(&self, state_hash: &str) -> Result<Option<OAuthState>, StoreError>;
}

/// A Heroku grant held *pending* between the OAuth callback and the confirm step
/// (docs/contract.md, the callback and `POST …/integrations/heroku/confirm` routes). Its
/// tokens are in Secrets Manager under `token_secret`, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingGrant {
    /// SHA-256 of the confirmation string; the string itself is never stored.
    pub confirmation_hash: String,
    pub project_id: ProjectId,
    /// The caller who started the connect; only they can confirm it.
    pub sub: String,
    /// The Heroku account that approved, and our authorization of it (what revocation
    /// needs; `None` when it could not be told apart).
    pub heroku_user_id: String,
    #[serde(default)]
    pub heroku_email: Option<String>,
    #[serde(default)]
    pub authorization_id: Option<String>,
    /// The secret holding the grant's tokens (`{SECRET_PREFIX}/heroku-tokens/pending/…`).
    pub token_secret: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Pending grants by the hash of their confirmation.
#[async_trait]
pub trait PendingGrants: Send + Sync {
    /// Stores a grant; an existing one of the same hash is never overwritten.
    async fn put_pending(&self, grant: &PendingGrant) -> Result<(), StoreError>;

    /// A strongly consistent read.
    async fn load_pending(&self, hash: &str) -> Result<Option<PendingGrant>, StoreError>;

    /// Removes and returns the grant if it is `project`'s, was started by `sub` and is
    /// unexpired at `now_s`, in one conditional write: of two takers one wins, and the
    /// other (or a take of a used, expired or someone else's grant) gets `None`.
    async fn take_pending(
        &self,
        hash: &str,
        project: &ProjectId,
        sub: &str,
        now_s: i64,
    ) -> Result<Option<PendingGrant>, StoreError>;

    /// Deletes the grant's item; absent is fine.
    async fn delete_pending(&self, hash: &str) -> Result<(), StoreError>;
}

/// What the reconciler needs from the table beyond app records: which apps and projects
/// to visit, and a cheap mark of each visit.
#[async_trait]
pub trait ReconcileIndex: Send + Sync {
    /// Every app with at least one active link.
    async fn apps_with_active_links(&self) -> Result<Vec<AppId>, StoreError>;

    /// Every project whose integration still owes clean-up at Heroku.
    async fn projects_with_cleanup(&self) -> Result<Vec<ProjectId>, StoreError>;

    /// The hashes of pending grants that expired before `before_s` (unix seconds),
    /// confirmed or not: each is revoked unless in use, and its tokens deleted.
    async fn expired_pending_grants(&self, before_s: i64) -> Result<Vec<String>, StoreError>;

    /// Records that the app was checked against Heroku at `at` (its newest release was
    /// `release`). A small item of its own: the app record is not rewritten each pass.
    async fn mark_checked(
        &self,
        app: &AppId,
        at: Timestamp,
        release: u64,
    ) -> Result<(), StoreError>;

    /// When the app was last checked by the reconciler.
    async fn checked_at(&self, app: &AppId) -> Result<Option<Timestamp>, StoreError>;

    /// Brings every item written by an older version to the current layout (the index's
    /// keys, links in items of their own; docs/deploy.md): once after an upgrade.
    async fn reindex(&self, now_ms: i64) -> Result<Reindexed, StoreError>;
}

/// What [`ReconcileIndex::reindex`] found and fixed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reindexed {
    pub scanned: usize,
    pub apps: usize,
    pub integrations: usize,
}

/// Every store a use case reads or writes, in one table: what `Services` holds.
pub trait Store: AppStore + IntegrationStore + StateStore + PendingGrants + ReconcileIndex {}

impl<T: AppStore + IntegrationStore + StateStore + PendingGrants + ReconcileIndex> Store for T {}

/// A shared count of the Heroku calls the reconciler makes per account and hour.
#[async_trait]
pub trait RateBudget: Send + Sync {
    /// Takes `n` calls from `account`'s budget for the hour containing `now_s`, unless
    /// that would pass `limit`: `false` then, and nothing is taken.
    async fn take(&self, account: &str, n: u32, limit: u32, now_s: i64)
    -> Result<bool, StoreError>;
}

/// The reconciler's work queue (SQS in AWS): messages are JSON bodies.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, bodies: &[String]) -> Result<(), StoreError>;
}
