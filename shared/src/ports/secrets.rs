//! Ports for secrets (tokens, keys, synced values), the env vars values are synced to,
//! and the change events that announce each write.

use crate::domain::{AppId, EnvVarName, ProjectId, Timestamp};
use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

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
