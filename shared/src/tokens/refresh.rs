//! The refresh lease on a project's integration: one container at a time refreshes the
//! grant, and a new grant's tokens are stored under it, so no refresh token is lost.

use super::{StoredTokens, TokenError, TokenManager};
use crate::domain::{IntegrationStatus, ProjectId};
use crate::heroku::{AccessToken, HerokuError};
use crate::ports::Saved;
use crate::rmw::{self, Backoff, Edit, Updated};
use secrecy::SecretString;
use std::time::Duration;

/// How long one container may hold the refresh lease; longer than a refresh can take.
const REFRESH_LEASE: Duration = Duration::from_secs(15);
/// How long to wait for another container's refresh before giving up (transient).
const REFRESH_WAIT: Duration = Duration::from_secs(5);

impl TokenManager {
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
            // A disconnected project's clean-up may refresh too (Heroku answered its
            // last call 401): that stays disconnected, not "reconnect".
            Err(TokenError::Revoked(reason))
                if integration.status != IntegrationStatus::Disconnected =>
            {
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
