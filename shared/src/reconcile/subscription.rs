//! Checking an app's webhook subscription at Heroku and putting it right: deleted (by a
//! user, a Heroku incident), or changed (URL, level, events).

use super::Reconciler;
use crate::domain::{AppRecord, ProjectId, Subscription};
use crate::heroku::{Webhook, WebhookRequest};
use crate::sync::SyncError;
use secrecy::ExposeSecret;
use std::time::Duration;

/// What our subscriptions ask for (the same as when linking).
pub(crate) const INCLUDE: &[&str] = &["api:release"];
pub(crate) const LEVEL: &str = "sync";

/// A signing key read this long ago may have been rotated: subscriptions get a fresh one.
const KEY_MAX_AGE: Duration = Duration::from_secs(300);

fn matches(w: &Webhook, url: &str) -> bool {
    w.url == url
        && w.level.as_deref() == Some(LEVEL)
        && INCLUDE.iter().all(|e| w.include.iter().any(|i| i == e))
}

impl Reconciler<'_> {
    /// Where the app's subscription should deliver: the configured public URL, else the
    /// one it was created with.
    pub(super) fn subscription_url(&self, record: &AppRecord) -> Option<String> {
        self.webhook_url
            .clone()
            .or_else(|| record.subscription.as_ref().and_then(|s| s.url.clone()))
    }

    /// `None` when the recorded subscription is there as we made it; otherwise the
    /// subscription after the repair and what was repaired.
    pub(super) async fn check_subscription(
        &self,
        record: &AppRecord,
        project: &ProjectId,
    ) -> Result<Option<(Subscription, String)>, SyncError> {
        let Some(url) = self.subscription_url(record) else {
            return Ok(None);
        };
        let app = record.app_id.to_string();
        let recorded = match &record.subscription {
            Some(sub) => {
                let found = self
                    .sync
                    .with_token(project, |token| {
                        let (hooks, app, id) = (self.hooks, app.clone(), sub.webhook_id.clone());
                        async move { hooks.webhook(&token, &app, &id).await }
                    })
                    .await?;
                match found {
                    Ok(Some(w)) if matches(&w, &url) => return Ok(None),
                    Ok(found) => found,
                    Err(reason) => {
                        tracing::warn!(app_id = %app, reason, "cannot read the subscription");
                        return Ok(None);
                    }
                }
            }
            None => None,
        };
        let key = self
            .signing_key
            .get_fresh(KEY_MAX_AGE)
            .await
            .map_err(|e| SyncError::Internal(e.to_string()))?;
        let body = WebhookRequest {
            include: INCLUDE,
            level: LEVEL,
            url: &url,
            secret: key.expose_secret(),
        };
        let account = self.account(project).await?;
        if !self.take(&account, 2).await? {
            return Ok(None);
        }
        let (hook, what) = match recorded {
            // Ours, changed at Heroku: put it back.
            Some(w) => {
                let id = w.id.clone();
                let hook = self
                    .sync
                    .with_token(project, |token| {
                        let (hooks, app, id, body) =
                            (self.hooks, app.clone(), id.clone(), body.clone());
                        async move { hooks.update_webhook(&token, &app, &id, &body).await }
                    })
                    .await?;
                (
                    hook,
                    "the webhook subscription had been changed at Heroku; restored",
                )
            }
            // Gone: adopt one Heroku has for our URL, else subscribe again.
            None => {
                let existing = self
                    .sync
                    .with_token(project, |token| {
                        let (hooks, app) = (self.hooks, app.clone());
                        async move { hooks.list_webhooks(&token, &app).await }
                    })
                    .await?
                    .unwrap_or_default();
                let hook = match existing.iter().find(|w| w.url == url) {
                    Some(w) => {
                        let id = w.id.clone();
                        self.sync
                            .with_token(project, |token| {
                                let (hooks, app, id, body) =
                                    (self.hooks, app.clone(), id.clone(), body.clone());
                                async move { hooks.update_webhook(&token, &app, &id, &body).await }
                            })
                            .await?
                    }
                    None => {
                        self.sync
                            .with_token(project, |token| {
                                let (hooks, app, body) = (self.hooks, app.clone(), body.clone());
                                async move { hooks.create_webhook(&token, &app, &body).await }
                            })
                            .await?
                    }
                };
                (
                    hook,
                    "the webhook subscription was missing at Heroku; re-created",
                )
            }
        };
        match hook {
            Ok(w) => {
                tracing::info!(app_id = %app, webhook_id = %w.id, what, "subscription repaired");
                Ok(Some((
                    Subscription {
                        webhook_id: w.id,
                        created_by: project.clone(),
                        created_at: self.sync.clock.now(),
                        url: Some(url.clone()),
                    },
                    what.to_owned(),
                )))
            }
            Err(reason) => {
                tracing::warn!(app_id = %app, reason, "cannot repair the subscription");
                Ok(None)
            }
        }
    }
}
