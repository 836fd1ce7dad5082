//! Heroku access tokens per project: cached per warm container, refreshed when expired or
//! refused, with refreshes serialised across containers so no refresh token is lost.

mod call;
mod names;
mod refresh;

pub use call::CallError;
pub use names::SecretNames;

use crate::clock::Clock;
use crate::domain::ProjectId;
use crate::heroku::{AccessToken, TokenGrant};
use crate::ports::{HerokuOAuth, IntegrationStore, SecretVault, StoreError, VaultError};
use crate::signing::{CachedSecret, KeyError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Secrets Manager's limit on a secret's name.
pub const SECRET_NAME_MAX: usize = 512;
/// How long a container trusts its copy of the OAuth client secret.
const CLIENT_SECRET_MAX_AGE: Duration = Duration::from_secs(300);
/// Refresh this long before the stated expiry, so a token never dies mid-sync.
const EXPIRY_MARGIN_S: i64 = 60;
/// How long a warm container trusts its copy of a project's tokens. A reconnect (perhaps
/// with another Heroku account) or a transfer in another container replaces the stored
/// tokens; without a bound, this container would keep using the old ones for hours.
pub const TOKEN_CACHE_MAX_AGE: Duration = Duration::from_secs(300);

/// What we store in the project's token secret (as JSON).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredTokens {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub authorization_id: Option<String>,
    #[serde(default)]
    pub heroku_user_id: Option<String>,
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("expires_at", &self.expires_at)
            .field("authorization_id", &self.authorization_id)
            .finish_non_exhaustive()
    }
}

impl StoredTokens {
    pub fn from_grant(grant: &TokenGrant, now_s: i64, previous_refresh: Option<&str>) -> Self {
        StoredTokens {
            access_token: grant.access_token.expose_secret().to_owned(),
            // Heroku may or may not rotate the refresh token: keep whichever is newest.
            refresh_token: grant
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned())
                .or_else(|| previous_refresh.map(str::to_owned)),
            expires_at: grant.expires_in.map(|s| now_s + s),
            authorization_id: None,
            heroku_user_id: grant.user_id.clone(),
        }
    }

    pub fn to_secret(&self) -> SecretString {
        SecretString::from(serde_json::to_string(self).unwrap_or_default())
    }

    pub(crate) fn parse(secret: &SecretString) -> Result<Self, TokenError> {
        serde_json::from_str(secret.expose_secret())
            .map_err(|_| TokenError::Internal("token secret is not valid JSON".into()))
    }

    fn fresh_at(&self, now_s: i64) -> bool {
        self.expires_at
            .is_none_or(|at| at - EXPIRY_MARGIN_S > now_s)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("the project has no Heroku connection")]
    NotConnected,
    #[error("Heroku authorization was revoked or has lapsed; reconnect Heroku ({0})")]
    Revoked(String),
    #[error("{0}")]
    Transient(String),
    /// Heroku refused *our OAuth client* (`invalid_client`: the client secret rotated
    /// without updating ours, a wrong `HEROKU_OAUTH_CLIENT_ID` or `HEROKU_ID_URL`). Not the
    /// user's grant: nobody must reconnect, and syncing resumes once the operator fixes it.
    #[error(
        "Heroku refused this service's OAuth client ({0}); the operator must check the client id and secret"
    )]
    ClientRejected(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => TokenError::Transient(m),
            other => TokenError::Internal(other.to_string()),
        }
    }
}

impl From<VaultError> for TokenError {
    fn from(e: VaultError) -> Self {
        TokenError::Transient(e.to_string())
    }
}

pub struct TokenManager {
    vault: Arc<dyn SecretVault>,
    integrations: Arc<dyn IntegrationStore>,
    oauth: Arc<dyn HerokuOAuth>,
    clock: Arc<dyn Clock>,
    names: SecretNames,
    client_secret: CachedSecret,
    /// The tokens and when (clock ms) they were read from the vault.
    cache: Mutex<HashMap<ProjectId, (StoredTokens, i64)>>,
}

impl TokenManager {
    pub fn new(
        vault: Arc<dyn SecretVault>,
        integrations: Arc<dyn IntegrationStore>,
        oauth: Arc<dyn HerokuOAuth>,
        clock: Arc<dyn Clock>,
        names: SecretNames,
        client_secret_id: Option<String>,
    ) -> Self {
        let client_secret = CachedSecret::new(
            vault.clone(),
            "HEROKU_OAUTH_CLIENT_SECRET_ID",
            client_secret_id,
        );
        TokenManager {
            vault,
            integrations,
            oauth,
            clock,
            names,
            client_secret,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn now_s(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn cached(&self, project: &ProjectId) -> Option<StoredTokens> {
        let now_ms = self.clock.now_ms();
        let c = self.cache.lock().ok()?;
        let (tokens, read_at) = c.get(project)?;
        (now_ms - read_at < TOKEN_CACHE_MAX_AGE.as_millis() as i64).then(|| tokens.clone())
    }

    fn remember(&self, project: &ProjectId, tokens: &StoredTokens) {
        let now_ms = self.clock.now_ms();
        if let Ok(mut c) = self.cache.lock() {
            c.insert(project.clone(), (tokens.clone(), now_ms));
        }
    }

    /// Forgets the cached tokens of a project (after disconnect or reconnect).
    pub fn forget(&self, project: &ProjectId) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(project);
        }
    }

    /// The OAuth client secret from Secrets Manager, cached per container.
    pub async fn client_secret(&self) -> Result<Arc<SecretString>, TokenError> {
        // Re-read every few minutes, so setting or rotating it needs no redeploy.
        self.client_secret
            .get_fresh(CLIENT_SECRET_MAX_AGE)
            .await
            .map_err(|e| match e {
                KeyError::Vault(v) => TokenError::Transient(v.to_string()),
                other => TokenError::Internal(other.to_string()),
            })
    }

    /// Stores freshly granted tokens for a project (the OAuth callback uses this).
    pub async fn store(
        &self,
        project: &ProjectId,
        tokens: &StoredTokens,
    ) -> Result<(), TokenError> {
        let name = self.names.heroku_tokens(project);
        let secret = tokens.to_secret();
        // A token secret force-deleted by a disconnect moments ago can take Secrets
        // Manager a few seconds to release its name.
        let mut attempt = 0;
        loop {
            match self.vault.write(&name, &secret, None).await {
                Err(VaultError::PendingDeletion(_)) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e.into()),
                Ok(_) => break,
            }
        }
        self.remember(project, tokens);
        Ok(())
    }

    /// The stored tokens as they are now in Secrets Manager.
    pub async fn load(&self, project: &ProjectId) -> Result<Option<StoredTokens>, TokenError> {
        match self.vault.read(&self.names.heroku_tokens(project)).await? {
            Some(secret) => Ok(Some(StoredTokens::parse(&secret)?)),
            None => Ok(None),
        }
    }

    /// A usable access token for the project's Heroku connection.
    pub async fn access_token(&self, project: &ProjectId) -> Result<AccessToken, TokenError> {
        let now = self.now_s();
        if let Some(t) = self.cached(project).filter(|t| t.fresh_at(now)) {
            return Ok(AccessToken::new(t.access_token));
        }
        let stored = self.load(project).await?.ok_or(TokenError::NotConnected)?;
        if stored.fresh_at(now) {
            self.remember(project, &stored);
            return Ok(AccessToken::new(stored.access_token));
        }
        self.refresh(project, &AccessToken::new(stored.access_token))
            .await
    }
}
