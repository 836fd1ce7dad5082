//! Ports: the small traits the domain needs from the outside world. Adapters implement
//! them for DynamoDB, Secrets Manager and Heroku, and in memory for fast tests.

use crate::domain::{
    AppId, AppRecord, ConfigVarName, EnvVarName, Integration, ProjectId, Timestamp,
};
use crate::heroku::{
    AccessToken, ConfigVars, HerokuError, Release, TokenGrant, Webhook, WebhookRequest,
};
use async_trait::async_trait;
use secrecy::SecretString;
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

#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    #[error("secrets store unavailable: {0}")]
    Unavailable(String),
    /// No answer (a timeout, a broken connection): a write may or may not have been
    /// applied, and may still be. Transient, like `Unavailable`.
    #[error("secrets store did not answer: {0}")]
    InDoubt(String),
    #[error("secret {0} is scheduled for deletion")]
    PendingDeletion(String),
    /// Refused for a reason retrying will not fix (access denied, the KMS key disabled
    /// or denied, a validation error). Carries the error code only, never AWS's message
    /// (it can name the caller's ARN and account).
    #[error("secrets store refused the request ({0})")]
    Refused(String),
    #[error("secrets store error: {0}")]
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

/// App records (links, leases, subscriptions) and the per-project directory of links.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// A strongly consistent read of one app's record.
    async fn load_app(&self, app: &AppId) -> Result<Option<AppRecord>, StoreError>;

    /// Writes `record` with generation `record.generation + 1` if `guard` still holds.
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

/// Secrets by name: tokens, keys, and (through [`EnvVarSink`]) synced values.
#[async_trait]
pub trait SecretVault: Send + Sync {
    /// The secret's current string value; `None` if there is no such secret.
    async fn read(&self, id: &str) -> Result<Option<SecretString>, VaultError>;

    /// Creates the secret or puts a new current value, and says which version that is.
    /// `idempotency_token` (32 to 64 characters) makes a retried write of the same value a
    /// no-op.
    async fn write(
        &self,
        name: &str,
        value: &SecretString,
        idempotency_token: Option<&str>,
    ) -> Result<SecretVersion, VaultError>;

    /// Deletes the secret at once (no recovery window); absent is fine.
    async fn delete(&self, name: &str) -> Result<(), VaultError>;

    /// The value and version id a staging label (`AWSCURRENT`, `AWSPREVIOUS`) points at;
    /// `None` when the secret or the label does not exist. A stage-less vault has only
    /// a current value of unknown version.
    async fn read_stage(
        &self,
        id: &str,
        stage: &str,
    ) -> Result<Option<(SecretString, Option<String>)>, VaultError> {
        if stage == STAGE_CURRENT {
            Ok(self.read(id).await?.map(|v| (v, None)))
        } else {
            Ok(None)
        }
    }
}

/// Secrets Manager's staging labels: a `PutSecretValue` moves `AWSCURRENT` to the new
/// version and `AWSPREVIOUS` to the one it replaced.
pub const STAGE_CURRENT: &str = "AWSCURRENT";
pub const STAGE_PREVIOUS: &str = "AWSPREVIOUS";

/// The secret version a write made current (Secrets Manager's `ARN` and `VersionId`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretVersion {
    pub arn: String,
    pub version_id: String,
}

/// Where a synced value goes: the project's env var.
#[async_trait]
pub trait EnvVarSink: Send + Sync {
    async fn write_env_var(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
        value: &SecretString,
        idempotency_token: &str,
    ) -> Result<SecretVersion, VaultError>;
}

/// A change event (docs/contract.md, "Change events"): env var `env_var` of `project_id`
/// now holds the value of release `release_version` of `app_id`, in secret version
/// `secret_version_id` of `secret_arn`. Published as EventBridge's `detail`, field for
/// field. It names the secret and never holds its value: an event may reach any rule's
/// target (a queue, a log group, another account).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVarSynced {
    pub project_id: ProjectId,
    pub env_var: EnvVarName,
    pub secret_arn: String,
    pub secret_version_id: String,
    pub app_id: AppId,
    pub release_version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub synced_at: Timestamp,
}

/// Some change events were not published: `failed` of them, for `reason` (an error code,
/// never a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{failed} change event(s) not published: {reason}")]
pub struct PublishError {
    pub failed: usize,
    pub reason: String,
}

/// Where change events go (EventBridge in AWS). Best effort by design: a failure is
/// reported, never retried forever, and never undoes or blocks the write it announces.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[EnvVarSynced]) -> Result<(), PublishError>;
}

/// The part of the Heroku Platform API the sync core needs.
#[async_trait]
pub trait HerokuApi: Send + Sync {
    /// Config vars of `app` (id or name), as of `release` when given, else current.
    async fn config_vars(
        &self,
        token: &AccessToken,
        app: &str,
        release: Option<u64>,
    ) -> Result<ConfigVars, HerokuError>;

    /// The app's newest succeeded release, in one call.
    async fn newest_release(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Option<Release>, HerokuError>;

    /// What Heroku last said is left of the rate-limit pool of `token`'s account
    /// (`RateLimit-Remaining`), if any call with it has been answered.
    fn rate_limit_remaining_for(&self, _token: &AccessToken) -> Option<u32> {
        None
    }
}

/// Heroku's app webhooks: our subscription to an app's releases.
#[async_trait]
pub trait HerokuWebhooks: Send + Sync {
    /// One webhook; `None` when Heroku no longer has it.
    async fn webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, HerokuError>;

    async fn list_webhooks(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Vec<Webhook>, HerokuError>;

    async fn create_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError>;

    async fn update_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError>;

    /// Deletes a webhook; one already gone counts as deleted.
    async fn delete_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<(), HerokuError>;
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
}

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

/// Heroku's OAuth token endpoint.
#[async_trait]
pub trait HerokuOAuth: Send + Sync {
    async fn exchange_code(
        &self,
        code: &str,
        client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError>;

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError>;
}
