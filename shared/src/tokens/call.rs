//! The one way a Heroku call is made with a project's token: the container's copy first,
//! and on a 401 a refresh (serialised across containers by the integration's refresh
//! lease) and the call again. Sync, linking, the reconciler and clean-up map its outcome
//! to their own errors; none of them refreshes on its own.

use super::{TokenError, TokenManager};
use crate::domain::ProjectId;
use crate::heroku::{AccessToken, HerokuError};
use std::future::Future;

/// Why a call made with a project's token failed.
#[derive(Debug)]
pub enum CallError {
    /// No token could be had: not connected, revoked, or the refresh failed.
    Token(TokenError),
    /// Heroku answered the call with this (never a 401: that refreshes).
    Heroku(HerokuError),
    /// Heroku refused freshly refreshed tokens too: the grant is no longer honoured.
    Refused,
}

impl TokenManager {
    /// Runs `call` with `project`'s token, refreshing on a 401. Returns what it answered
    /// and the token that worked, for the request's later calls.
    ///
    /// A refresh is tried twice at most: the first may hand back a token another
    /// container stored meanwhile, which Heroku may have stopped accepting too; the second
    /// then refreshes that one itself (the simulation found it, seed 1848).
    pub async fn with_token<T, F, Fut>(
        &self,
        project: &ProjectId,
        call: F,
    ) -> Result<(T, AccessToken), CallError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, HerokuError>>,
    {
        let token = self.access_token(project).await.map_err(CallError::Token)?;
        let mut failed = match call(token.clone()).await {
            Ok(v) => return Ok((v, token)),
            Err(HerokuError::Unauthorized) => token,
            Err(e) => return Err(CallError::Heroku(e)),
        };
        for _ in 0..2 {
            let token = self
                .refresh(project, &failed)
                .await
                .map_err(CallError::Token)?;
            match call(token.clone()).await {
                Ok(v) => return Ok((v, token)),
                Err(HerokuError::Unauthorized) => failed = token,
                Err(e) => return Err(CallError::Heroku(e)),
            }
        }
        Err(CallError::Refused)
    }
}
