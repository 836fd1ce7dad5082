//! Checking an app's webhook subscription at Heroku and putting it right: deleted (by a
//! user, a Heroku incident), changed (URL, level, events), or carrying an older signing
//! key after a rotation.

use super::Reconciler;
use crate::domain::{AppRecord, ProjectId, Subscription};
use crate::heroku::{Webhook, WebhookRequest};
use crate::signing::{Key, KeyError};
use crate::sync::SyncError;
use secrecy::ExposeSecret;
use std::time::Duration;

/// What our subscriptions ask for (the same as when linking).
pub(crate) const INCLUDE: &[&str] = &["api:release"];
pub(crate) const LEVEL: &str = "sync";

/// A signing key read this long ago may have been rotated: subscriptions get a fresh one.
const KEY_MAX_AGE: Duration = Duration::from_secs(300);

/// What a check found and did.
pub(super) enum Checked {
    /// As we made it (or nothing to do).
    Healthy,
    /// The account's budget ran out before the fix: the next pass does it.
    Deferred,
    /// Put right; `subscription` is what to record.
    Repaired {
        subscription: Subscription,
        what: String,
    },
}

fn matches(w: &Webhook, url: &str) -> bool {
    w.url == url
        && w.level.as_deref() == Some(LEVEL)
        && INCLUDE.iter().all(|e| w.include.iter().any(|i| i == e))
}

fn key_error(e: KeyError) -> SyncError {
    match e {
        KeyError::Vault(v) => SyncError::Transient {
            reason: format!("signing key: {v}"),
            retry_after: Duration::from_secs(5),
        },
        other => SyncError::Internal(other.to_string()),
    }
}

impl Reconciler<'_> {
    /// Where the app's subscription should deliver: the configured public URL, else the
    /// one it was created with.
    pub(super) fn subscription_url(&self, record: &AppRecord) -> Option<String> {
        self.webhook_url
            .clone()
            .or_else(|| record.subscription.as_ref().and_then(|s| s.url.clone()))
    }

    /// PATCHes one webhook with `body` under `project`'s token (refreshed once on a 401).
    /// The outer `Err` is transient; `Ok(Err(reason))` is Heroku refusing for good.
    async fn patch_webhook(
        &self,
        project: &ProjectId,
        app: &str,
        webhook_id: &str,
        body: &WebhookRequest<'_>,
    ) -> Result<Result<Webhook, String>, SyncError> {
        self.sync
            .with_token(project, |token| {
                let hooks = self.hooks;
                async move { hooks.update_webhook(&token, app, webhook_id, body).await }
            })
            .await
    }

    /// The current signing key, at most a few minutes old (`fresh`: read now).
    async fn key(&self, fresh: bool) -> Result<Key, SyncError> {
        let max_age = if fresh { Duration::ZERO } else { KEY_MAX_AGE };
        self.signing_key.current(max_age).await.map_err(key_error)
    }

    /// Checks the recorded subscription at Heroku (one GET, budgeted by the caller's
    /// pass) and repairs it when gone or changed (one or two calls more, budgeted here).
    pub(super) async fn check_subscription(
        &self,
        record: &AppRecord,
        project: &ProjectId,
        account: &str,
    ) -> Result<Checked, SyncError> {
        let Some(url) = self.subscription_url(record) else {
            return Ok(Checked::Healthy);
        };
        let app = record.app_id.to_string();
        let recorded = match &record.subscription {
            Some(sub) => {
                if !self.take(account, 1).await? {
                    return Ok(Checked::Deferred);
                }
                let found = self
                    .sync
                    .with_token(project, |token| {
                        let (hooks, app, id) = (self.hooks, app.clone(), sub.webhook_id.clone());
                        async move { hooks.webhook(&token, &app, &id).await }
                    })
                    .await?;
                match found {
                    Ok(Some(w)) if matches(&w, &url) => return Ok(Checked::Healthy),
                    Ok(found) => found,
                    Err(reason) => {
                        tracing::warn!(app_id = %app, reason, "cannot read the subscription");
                        return Ok(Checked::Healthy);
                    }
                }
            }
            None => None,
        };
        if !self.take(account, 2).await? {
            return Ok(Checked::Deferred);
        }
        let key = self.key(false).await?;
        let body = WebhookRequest {
            include: INCLUDE,
            level: LEVEL,
            url: &url,
            secret: key.value.expose_secret(),
        };
        let (hook, what) = match recorded {
            // Ours, changed at Heroku: put it back.
            Some(w) => {
                let hook = self.patch_webhook(project, &app, &w.id, &body).await?;
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
                    Some(w) => self.patch_webhook(project, &app, &w.id, &body).await?,
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
                Ok(Checked::Repaired {
                    subscription: Subscription {
                        webhook_id: w.id,
                        created_by: project.clone(),
                        created_at: self.sync.clock.now(),
                        url: Some(url.clone()),
                        key_version: key.version.clone(),
                    },
                    what: what.to_owned(),
                })
            }
            Err(reason) => {
                tracing::warn!(app_id = %app, reason, "cannot repair the subscription");
                Ok(Checked::Healthy)
            }
        }
    }

    /// Gives the subscription the current signing key (one PATCH) when it carries
    /// another version, or always when `force` (a release went undelivered: Heroku never
    /// shows the secret, so a wrong one can only be put right by putting ours again).
    /// The key is re-read before re-keying: a worker's cached older key must never
    /// undo a rotation.
    pub(super) async fn rekey(
        &self,
        record: &AppRecord,
        sub: &Subscription,
        project: &ProjectId,
        account: &str,
        force: bool,
    ) -> Result<Checked, SyncError> {
        if !force && sub.key_version == self.key(false).await?.version {
            return Ok(Checked::Healthy);
        }
        let key = self.key(true).await?;
        if !force && sub.key_version == key.version {
            return Ok(Checked::Healthy);
        }
        let Some(url) = self.subscription_url(record) else {
            return Ok(Checked::Healthy);
        };
        if !self.take(account, 1).await? {
            return Ok(Checked::Deferred);
        }
        let body = WebhookRequest {
            include: INCLUDE,
            level: LEVEL,
            url: &url,
            secret: key.value.expose_secret(),
        };
        let app = record.app_id.to_string();
        let patched = self
            .patch_webhook(project, &app, &sub.webhook_id, &body)
            .await?;
        match patched {
            Ok(_) => {
                tracing::info!(app_id = %app, version = key.version.as_deref().unwrap_or(""), "subscription re-keyed");
                Ok(Checked::Repaired {
                    subscription: Subscription {
                        key_version: key.version,
                        ..sub.clone()
                    },
                    what: "re-keyed".into(),
                })
            }
            // Gone at Heroku: the next check re-creates it with the current key.
            Err(reason) => {
                tracing::warn!(app_id = %app, reason, "cannot re-key the subscription");
                Ok(Checked::Healthy)
            }
        }
    }
}
