//! What a sync asks Heroku, with the project's token, and how a failure that retrying
//! cannot fix is shown on the links.

use super::{SyncContext, SyncError, SyncRequest};
use crate::domain::plan::{Fetched, note_error};
use crate::domain::{AppId, AppRecord, Link, LinkKey, ProjectId};
use crate::heroku::HerokuError;
use crate::rmw::{self, Backoff, Edit, Updated};
use crate::tokens::{CallError, TokenError};
use std::time::Duration;

impl SyncContext {
    /// The newest release, asked with the token of a project whose link we sync.
    pub(super) async fn newest_version(
        &self,
        record: &AppRecord,
        req: &SyncRequest,
    ) -> Result<Option<u64>, SyncError> {
        let Some(link) = record
            .active_links()
            .find(|l| req.only.as_ref().is_none_or(|k| *k == l.key()))
        else {
            return Ok(None);
        };
        let project = link.project_id.clone();
        let result = self
            .with_token(&project, |token| {
                let heroku = self.heroku.clone();
                let app = record.app_id.to_string();
                async move { heroku.newest_release(&token, &app).await }
            })
            .await;
        match result {
            Ok(Ok(release)) => Ok(Some(release.map(|r| r.version).unwrap_or(0))),
            Ok(Err(reason)) => {
                // Permanent: record it on this project's links so the status page
                // explains (another project's grant says nothing about the others).
                self.record_failure(
                    record.app_id.clone(),
                    req.only.clone(),
                    Some(&project),
                    reason,
                )
                .await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Shows a permanent failure on the app's active links (`only` that one; `project`
    /// only that project's: another project's grant says nothing about this one).
    pub(crate) async fn record_failure(
        &self,
        app: AppId,
        only: Option<LinkKey>,
        project: Option<&ProjectId>,
        reason: String,
    ) -> Result<(), SyncError> {
        // At once and five times at most, then given up: this note rides on the
        // answer to a delivery, and the next sync that meets the failure notes it again.
        let updated = rmw::update_app(
            self.apps.as_ref(),
            self.clock.as_ref(),
            &app,
            Backoff::AtOnce(5),
            |record, now| {
                let keys: Vec<LinkKey> = record
                    .active_links()
                    .filter(|l| only.as_ref().is_none_or(|k| *k == l.key()))
                    .filter(|l| project.is_none_or(|p| *p == l.project_id))
                    .map(Link::key)
                    .collect();
                for key in keys {
                    if let Some(link) = record.links.get_mut(&key) {
                        note_error(link, &reason, now, None);
                    }
                }
                Edit::Save(())
            },
        )
        .await?;
        match updated {
            Updated::Done(()) | Updated::Exhausted => Ok(()),
            Updated::Absent => Err(SyncError::Internal(format!("app record {app} vanished"))),
        }
    }

    /// Runs `call` with the project's token (`TokenManager::with_token`). The outer
    /// `Err` is transient; `Ok(Err(reason))` is a permanent failure to record on the links.
    pub(crate) async fn with_token<T, F, Fut>(
        &self,
        project: &ProjectId,
        call: F,
    ) -> Result<Result<T, String>, SyncError>
    where
        F: Fn(crate::heroku::AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, HerokuError>>,
    {
        match self.tokens.with_token(project, call).await {
            Ok((v, _)) => Ok(Ok(v)),
            Err(CallError::Token(e)) => token_failure(e),
            Err(CallError::Heroku(e)) => heroku_failure(e),
            Err(CallError::Refused) => Ok(Err(
                "Heroku rejected a freshly refreshed token; reconnect Heroku".into(),
            )),
        }
    }

    pub(super) async fn fetch(
        &self,
        project: &ProjectId,
        app: &AppId,
        version: u64,
    ) -> Result<Fetched, SyncError> {
        let result = self
            .with_token(project, |token| {
                let heroku = self.heroku.clone();
                let app = app.to_string();
                async move { heroku.config_vars(&token, &app, Some(version)).await }
            })
            .await?;
        Ok(match result {
            Ok(vars) => Fetched::Vars(vars),
            Err(reason) => Fetched::Failed(reason),
        })
    }
}

fn token_failure<T>(e: TokenError) -> Result<Result<T, String>, SyncError> {
    match e {
        TokenError::Transient(m) => Err(SyncError::transient(m)),
        // The operator's to fix; Heroku's redeliveries sync once it is.
        e @ TokenError::ClientRejected(_) => Err(SyncError::Transient {
            reason: e.to_string(),
            retry_after: Duration::from_secs(60),
        }),
        TokenError::Internal(m) => Err(SyncError::Internal(m)),
        other => Ok(Err(other.to_string())),
    }
}

fn heroku_failure<T>(e: HerokuError) -> Result<Result<T, String>, SyncError> {
    if e.is_transient() {
        return Err(SyncError::Transient {
            retry_after: e.retry_after().unwrap_or(Duration::from_secs(5)),
            reason: e.to_string(),
        });
    }
    Ok(Err(match e {
        HerokuError::Forbidden(_) | HerokuError::NotFound(_) => {
            format!("the connected Heroku account cannot read this app's config vars ({e})")
        }
        other => other.to_string(),
    }))
}
