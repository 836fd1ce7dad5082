//! Connecting and linking, as the connect function does them: record a project's Heroku
//! connection, subscribe to an app's releases, link an env var and sync it at once.

mod connection;
mod link;
mod project;
mod subscription;

pub(crate) use connection::update_integration;
pub use connection::{GrantIdentity, connect_grant, identify_grant, record_connection};
pub use link::{LinkOutcome, LinkRequest, Linked, check_link_quota, link, save_link, synced_from};
pub use project::{
    CATCH_UP_BUDGET, ProjectStatus, catch_up, links_in, project_links, project_status,
};

use crate::domain::ProjectId;
use crate::heroku::{AccessToken, HerokuError};
use crate::ports::StoreError;
use crate::services::Services;
use crate::signing::KeyError;
use crate::sync::SyncError;
use crate::tokens::{CallError, TokenError};
use std::time::Duration;

/// Why connecting or linking failed, by what the caller should hear.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("Heroku is not connected for this project; connect it first")]
    NotConnected,
    #[error("the Heroku authorization was revoked or has lapsed; reconnect Heroku")]
    Reconnect,
    #[error("{0}")]
    Unprocessable(String),
    /// The config var is not set by one of the app's Postgres add-ons: only database
    /// credentials are synced, never an arbitrary config var (an API key, say).
    #[error("{0}")]
    NotAnAddonConfigVar(String),
    /// A stack quota (links per project, trial databases per day) is used up.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Heroku is rate limiting this account")]
    RateLimited(Duration),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for LinkError {
    fn from(e: StoreError) -> Self {
        match e {
            // AWS's text stays in the log; the caller learns what to do.
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "DynamoDB unavailable");
                LinkError::Unavailable(
                    "DynamoDB is unavailable or throttling; retry in a few seconds".into(),
                )
            }
            other => LinkError::Internal(other.to_string()),
        }
    }
}

impl From<TokenError> for LinkError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotConnected => LinkError::NotConnected,
            TokenError::Revoked(_) => LinkError::Reconnect,
            TokenError::Transient(m) => {
                tracing::warn!(error = %m, "the Heroku token could not be used");
                LinkError::Unavailable(
                    "the Heroku grant cannot be used right now (its token is being refreshed, \
                     or Secrets Manager or Heroku is unavailable); retry in a few seconds"
                        .into(),
                )
            }
            e @ TokenError::ClientRejected(_) => LinkError::Unavailable(e.to_string()),
            TokenError::Internal(m) => LinkError::Internal(m),
        }
    }
}

impl From<KeyError> for LinkError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Vault(v) => {
                tracing::warn!(error = %v, "signing key unavailable");
                LinkError::Unavailable(
                    "Secrets Manager is unavailable; retry in a few seconds".into(),
                )
            }
            other => LinkError::Internal(other.to_string()),
        }
    }
}

impl From<SyncError> for LinkError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Transient { reason, .. } => LinkError::Unavailable(reason),
            SyncError::Internal(m) => LinkError::Internal(m),
        }
    }
}

/// Maps a Heroku failure; `what` names the thing asked for, for 404/403 messages.
pub fn heroku_error(e: HerokuError, what: &str) -> LinkError {
    match e {
        HerokuError::Unauthorized => LinkError::Reconnect,
        HerokuError::NotFound(_) | HerokuError::Forbidden(_) => LinkError::Unprocessable(format!(
            "{what} does not exist or the connected Heroku account cannot see it"
        )),
        HerokuError::RateLimited { retry_after } => {
            LinkError::RateLimited(retry_after.unwrap_or(Duration::from_secs(60)))
        }
        HerokuError::Rejected { message, .. } => {
            LinkError::Unprocessable(format!("Heroku refused: {message}"))
        }
        e => LinkError::Unavailable(e.to_string()),
    }
}

/// Runs `call` with the project's Heroku token (`TokenManager::with_token`: refreshed on
/// a 401), its failure told as a linking error about `what`.
pub async fn with_token<T, F, Fut>(
    svc: &Services,
    project: &ProjectId,
    what: &str,
    call: F,
) -> Result<T, LinkError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, HerokuError>>,
{
    proven_token(svc, project, what, call).await.map(|(v, _)| v)
}

/// [`with_token`], also handing back the token that worked: a request's later calls use
/// it rather than each proving the cached one again.
pub async fn proven_token<T, F, Fut>(
    svc: &Services,
    project: &ProjectId,
    what: &str,
    call: F,
) -> Result<(T, AccessToken), LinkError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, HerokuError>>,
{
    match svc.tokens.with_token(project, call).await {
        Ok(done) => Ok(done),
        Err(CallError::Token(e)) => Err(e.into()),
        Err(CallError::Heroku(e)) => Err(heroku_error(e, what)),
        Err(CallError::Refused) => Err(LinkError::Reconnect),
    }
}
