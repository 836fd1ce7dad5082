//! Heroku access tokens per project: cached per warm container, refreshed when expired or
//! refused, with refreshes serialised across containers so no refresh token is lost.

use crate::clock::Clock;
use crate::domain::{IntegrationStatus, ProjectId};
use crate::heroku::{AccessToken, HerokuError, TokenGrant};
use crate::ports::{HerokuOAuth, IntegrationStore, Saved, SecretVault, StoreError, VaultError};
use crate::rmw::{self, Backoff, Edit, Updated};
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
/// How long one container may hold the refresh lease; longer than a refresh can take.
const REFRESH_LEASE: Duration = Duration::from_secs(15);
/// How long to wait for another container's refresh before giving up (transient).
const REFRESH_WAIT: Duration = Duration::from_secs(5);
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

/// Names of the secrets this service owns.
#[derive(Clone, Debug)]
pub struct SecretNames {
    prefix: String,
}

impl SecretNames {
    pub fn new(prefix: &str) -> Self {
        SecretNames {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }
    /// The public contract: `{prefix}/projects/{P}/env/{NAME}`.
    pub fn env_var(&self, project: &ProjectId, env_var: &str) -> String {
        format!("{}/projects/{project}/env/{env_var}", self.prefix)
    }

    /// Whether the env var's secret name fits Secrets Manager's 512 characters: checked
    /// up front, so a too-long name is a 400 and not a failure after subscribing.
    pub fn env_var_fits(
        &self,
        project: &ProjectId,
        env_var: &crate::domain::EnvVarName,
    ) -> Result<(), crate::domain::ValidationError> {
        let len = self.env_var(project, env_var.as_str()).len();
        if len > SECRET_NAME_MAX {
            return Err(crate::domain::ValidationError {
                field: "env_var",
                message: format!(
                    "its secret's name ({}/projects/{project}/env/NAME) would be {len} \
                     characters, over Secrets Manager's {SECRET_NAME_MAX}; choose a shorter name",
                    self.prefix
                ),
            });
        }
        Ok(())
    }
    /// A project's Heroku OAuth tokens, deliberately outside `projects/` so a platform
    /// policy granting `projects/*` cannot read them.
    pub fn heroku_tokens(&self, project: &ProjectId) -> String {
        format!("{}/heroku-tokens/{project}", self.prefix)
    }

    /// The tokens of a grant held pending until its confirm step (`id`: random, its own).
    /// Under `heroku-tokens/` like every token, in a folder no project id can name (a
    /// project id has no `/`).
    pub fn pending_heroku_tokens(&self, id: &str) -> String {
        format!("{}/heroku-tokens/pending/{id}", self.prefix)
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

    /// Stores a new grant's tokens over a connected project's (a reconnect, a confirm)
    /// under the integration's refresh lease: a refresh of the previous grant running
    /// meanwhile either finished before (these overwrite its tokens) or starts after
    /// (and finds these fresh). Without the lease it could write the old grant's
    /// refreshed tokens over these. The caller releases the lease with its integration
    /// update (connecting clears `refresh_owner`); else it expires.
    pub async fn store_replacing(
        &self,
        project: &ProjectId,
        tokens: &StoredTokens,
    ) -> Result<(), TokenError> {
        let taken = rmw::update_integration(
            self.integrations.as_ref(),
            project,
            Backoff::Within(REFRESH_WAIT),
            |current| {
                // Never connected: no refresh can be running.
                let Some(integration) = current else {
                    return Edit::Keep(false);
                };
                let now_ms = self.clock.now_ms();
                if integration
                    .refresh_until_ms
                    .is_some_and(|until| until > now_ms)
                {
                    return Edit::Wait;
                }
                integration.refresh_owner = Some(uuid::Uuid::new_v4().to_string());
                integration.refresh_until_ms = Some(now_ms + REFRESH_LEASE.as_millis() as i64);
                Edit::Save(true)
            },
        )
        .await?;
        match taken {
            Updated::Done((true, _)) => {
                self.forget(project);
                self.store(project, tokens).await
            }
            Updated::Done((false, _)) | Updated::Absent => self.store(project, tokens).await,
            Updated::Exhausted => Err(TokenError::Transient(
                "a token refresh is still running; retry".into(),
            )),
        }
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

    /// Called when Heroku answered 401 to `failed`: returns a different, fresh token,
    /// refreshing unless another container already did.
    pub async fn refresh(
        &self,
        project: &ProjectId,
        failed: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        self.forget(project);
        // Not `rmw::update_integration`: each round first re-reads the tokens, since
        // another container's refresh may have finished and then no lease is needed.
        let mut retry = Backoff::Within(REFRESH_WAIT).start();
        loop {
            // Someone else may have refreshed already: their token is as good as ours.
            let stored = self.load(project).await?.ok_or(TokenError::NotConnected)?;
            if stored.access_token != failed.expose() && stored.fresh_at(self.now_s()) {
                self.remember(project, &stored);
                return Ok(AccessToken::new(stored.access_token));
            }
            let Some(mut integration) = self.integrations.load_integration(project).await? else {
                return Err(TokenError::NotConnected);
            };
            if integration.status == IntegrationStatus::NeedsReconnect {
                return Err(TokenError::Revoked("refresh was rejected earlier".into()));
            }
            let now_ms = self.clock.now_ms();
            let busy = integration
                .refresh_until_ms
                .is_some_and(|until| until > now_ms);
            if !busy {
                let owner = uuid::Uuid::new_v4().to_string();
                let expected = integration.generation;
                integration.refresh_owner = Some(owner.clone());
                integration.refresh_until_ms = Some(now_ms + REFRESH_LEASE.as_millis() as i64);
                if let Saved::Ok { generation } = self
                    .integrations
                    .save_integration(&integration, Some(expected))
                    .await?
                {
                    integration.generation = generation;
                    return self
                        .refresh_holding_lease(project, integration, failed)
                        .await;
                }
            }
            if !retry.again().await {
                return Err(TokenError::Transient(
                    "another token refresh is still running".into(),
                ));
            }
        }
    }

    async fn refresh_holding_lease(
        &self,
        project: &ProjectId,
        mut integration: crate::domain::Integration,
        failed: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        let outcome = self.refresh_once(project, failed).await;
        // Release the lease whatever happened; record a rejected refresh for the status page.
        integration.refresh_owner = None;
        integration.refresh_until_ms = None;
        match &outcome {
            Err(TokenError::Revoked(reason)) => {
                integration.status = IntegrationStatus::NeedsReconnect;
                integration.last_error = Some(format!(
                    "Heroku rejected the refresh token ({reason}); reconnect Heroku"
                ));
            }
            // Shown, but the grant stays usable: the next refresh after the fix works.
            Err(e @ TokenError::ClientRejected(_)) => integration.last_error = Some(e.to_string()),
            Ok(_)
                if integration
                    .last_error
                    .as_deref()
                    .is_some_and(|m| m.contains("OAuth client")) =>
            {
                integration.last_error = None;
            }
            _ => {}
        }
        let expected = integration.generation;
        if let Err(e) = self
            .integrations
            .save_integration(&integration, Some(expected))
            .await
        {
            // The lease expires on its own; the refresh itself is already stored.
            tracing::warn!(error = %e, "could not release the token refresh lease");
        }
        outcome
    }

    async fn refresh_once(
        &self,
        project: &ProjectId,
        failed: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        // Re-read under the lease: a refresh may have finished just before we took it.
        let stored = self.load(project).await?.ok_or(TokenError::NotConnected)?;
        if stored.access_token != failed.expose() && stored.fresh_at(self.now_s()) {
            self.remember(project, &stored);
            return Ok(AccessToken::new(stored.access_token));
        }
        let Some(refresh) = stored.refresh_token.as_deref() else {
            return Err(TokenError::Revoked("no refresh token stored".into()));
        };
        let client_secret = self.client_secret().await?;
        let grant = match self
            .oauth
            .refresh(&SecretString::from(refresh.to_owned()), &client_secret)
            .await
        {
            Ok(grant) => grant,
            Err(e) if e.is_transient() => return Err(TokenError::Transient(e.to_string())),
            // Only a refused refresh token means the user's grant is gone (RFC 6749 5.2).
            Err(HerokuError::Rejected { id, .. }) if id == "invalid_grant" => {
                return Err(TokenError::Revoked(id));
            }
            Err(HerokuError::Rejected { id, .. }) => return Err(TokenError::ClientRejected(id)),
            Err(HerokuError::Unauthorized) => {
                return Err(TokenError::ClientRejected("invalid_client".into()));
            }
            Err(e) => return Err(TokenError::Transient(e.to_string())),
        };
        let mut fresh = StoredTokens::from_grant(&grant, self.now_s(), Some(refresh));
        fresh.authorization_id = stored.authorization_id.clone();
        fresh.heroku_user_id = fresh.heroku_user_id.or(stored.heroku_user_id.clone());
        // Written before the lease is released, so the next refresher reads it.
        self.store(project, &fresh).await?;
        tracing::info!(project = %project, "Heroku access token refreshed");
        Ok(AccessToken::new(fresh.access_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EnvVarName;

    #[test]
    fn an_env_var_whose_secret_name_passes_512_characters_is_refused_up_front() {
        let project = ProjectId::parse("p".repeat(128)).unwrap();
        let name = |n: usize| EnvVarName::parse("E".repeat(n)).unwrap();
        let short = SecretNames::new("heroku-db-url-sync");
        assert!(short.env_var_fits(&project, &name(255)).is_ok());
        // A long stack prefix: 512 - "/projects/" - 128 - "/env/" - 100 = 269 characters.
        let long = SecretNames::new(&"x".repeat(269));
        assert_eq!(long.env_var(&project, &"E".repeat(100)).len(), 512);
        assert!(long.env_var_fits(&project, &name(100)).is_ok(), "512 fits");
        let e = long.env_var_fits(&project, &name(101)).unwrap_err();
        assert_eq!(e.field, "env_var");
        assert!(e.message.contains("513 characters"), "{}", e.message);
    }
}
