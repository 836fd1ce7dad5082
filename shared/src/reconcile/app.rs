//! One app's reconcile: its newest release, the links behind it, its subscription and
//! any subscription left to delete.

use super::{AppOutcome, Reconciler};
use crate::domain::{AppId, AppRecord, Link, Repair, Timestamp};
use crate::ports::{Guard, Saved};
use crate::sync::{SyncError, SyncRequest, Target};
use std::collections::BTreeSet;
use time::format_description::well_known::Rfc3339;

impl Reconciler<'_> {
    /// Reconciles one app. `Err` is transient (the next pass retries); permanent
    /// failures are recorded on the links and reported in the outcome.
    pub async fn reconcile_app(&self, app: &AppId, pass: u64) -> Result<AppOutcome, SyncError> {
        let mut out = AppOutcome::default();
        let Some(record) = self.sync.apps.load_app(app).await? else {
            return Ok(out);
        };
        let Some(project) = record.token_project().cloned() else {
            return Ok(out);
        };
        let active: Vec<&Link> = record.active_links().collect();
        let account = self.account(&project).await?;
        if !self.take(&account, 1).await? {
            out.deferred = true;
            return Ok(out);
        }

        out.heroku_calls += 1;
        let newest = self
            .sync
            .with_token(&project, |token| {
                let heroku = self.sync.heroku.clone();
                let app = app.to_string();
                async move { heroku.newest_release(&token, &app).await }
            })
            .await?;
        self.watch_pool(&project, &account).await;
        let release = match newest {
            Ok(Some(r)) => r,
            Ok(None) => {
                // No succeeded release yet: nothing can be behind.
                out.links_checked = active.len() as u64;
                self.index
                    .mark_checked(app, self.sync.clock.now(), 0)
                    .await?;
                return Ok(out);
            }
            Err(reason) => {
                // The grant is gone or cannot read the app: the links say so.
                self.sync
                    .record_failure(app.clone(), None, reason.clone())
                    .await?;
                out.error = Some(reason);
                return Ok(out);
            }
        };
        let now = self.sync.clock.now();
        self.index.mark_checked(app, now, release.version).await?;
        // Checked: compared with the app's newest release (a deferred app is not).
        out.links_checked = active.len() as u64;

        let created_at = release
            .created_at
            .as_deref()
            .and_then(|t| Timestamp::parse(t, &Rfc3339).ok());
        let age_s = created_at.map(|at| (now - at).as_seconds_f64().max(0.0));
        // A fresh release's delivery is likely on its way; the next pass looks again.
        let settled = age_s.is_none_or(|a| a >= self.settings.grace.as_secs_f64());
        let behind: Vec<&Link> = active
            .iter()
            .copied()
            .filter(|l| settled && l.wants(release.version))
            .collect();
        out.links_behind = behind.len() as u64;
        if !behind.is_empty() {
            out.oldest_behind_s = age_s.or(Some(0.0));
        }

        if !behind.is_empty() {
            // Each project reads the config vars with its own token, from its account.
            let projects: BTreeSet<_> = behind.iter().map(|l| l.project_id.clone()).collect();
            for p in &projects {
                let acct = self.account(p).await?;
                if !self.take(&acct, 1).await? {
                    out.deferred = true;
                    return Ok(out);
                }
                out.heroku_calls += 1;
            }
            let what = if behind.iter().all(|l| l.last_error.is_some()) {
                format!("retried the failed sync at release v{}", release.version)
            } else {
                format!(
                    "release v{} was not delivered; synced by the reconciler",
                    release.version
                )
            };
            tracing::info!(app_id = %app, version = release.version, behind = behind.len(), "links behind the newest release");
            let report = self
                .sync
                .sync(&SyncRequest {
                    app_id: app.clone(),
                    target: Target::Release(release.version),
                    only: None,
                    released_at: created_at,
                    delivery_id: None,
                    repair: Some(what),
                })
                .await?;
            out.links_written = report.written.len() as u64;
            if let Some((_, why)) = report.failed.first() {
                out.error = Some(why.clone());
            }
        }

        // Then the subscription: at once when a release went undelivered (it may be why),
        // else now and then. The env vars come first when the budget is short.
        let due = !behind.is_empty()
            || record.subscription.is_none()
            || slot(app, self.settings.subscription_check_every)
                == pass % self.settings.subscription_check_every.max(1);
        if due && self.subscription_url(&record).is_some() {
            if !self.take(&account, 1).await? {
                out.deferred = true;
                return Ok(out);
            }
            out.heroku_calls += 1;
            if let Some(repaired) = self.check_subscription(&record, &project).await? {
                out.heroku_calls += 1;
                self.record_subscription(app, repaired.0, &repaired.1)
                    .await?;
                out.subscription_repaired = true;
            }
        }

        if let Some(stale) = &record.stale_subscription {
            if self.take(&account, 1).await? {
                out.heroku_calls += 1;
                self.delete_stale(app, &project, stale).await?;
            } else {
                out.deferred = true;
            }
        }
        Ok(out)
    }

    /// After a call with `project`'s token: an account whose pool runs low is left alone
    /// for the rest of the batch.
    async fn watch_pool(&self, project: &crate::domain::ProjectId, account: &str) {
        let Ok(token) = self.sync.tokens.access_token(project).await else {
            return;
        };
        if let Some(left) = self.sync.heroku.rate_limit_remaining_for(&token)
            && left < self.settings.rate_floor
        {
            tracing::info!(
                account,
                left,
                "Heroku rate-limit pool low; deferring the account's apps"
            );
            self.exhaust(account);
        }
    }

    /// Saves a repaired subscription and shows the repair on every active link.
    async fn record_subscription(
        &self,
        app: &AppId,
        subscription: crate::domain::Subscription,
        what: &str,
    ) -> Result<(), SyncError> {
        self.update_record(app, |r, now| {
            r.subscription = Some(subscription.clone());
            for link in r.links.values_mut().filter(|l| l.is_active()) {
                link.last_repair = Some(Repair {
                    at: now,
                    what: what.to_owned(),
                });
            }
        })
        .await
    }

    async fn delete_stale(
        &self,
        app: &AppId,
        project: &crate::domain::ProjectId,
        stale: &crate::domain::Subscription,
    ) -> Result<(), SyncError> {
        let deleted = self
            .sync
            .with_token(project, |token| {
                let hooks = self.hooks;
                let app = app.to_string();
                let id = stale.webhook_id.clone();
                async move { hooks.delete_webhook(&token, &app, &id).await }
            })
            .await?;
        if deleted.is_ok() {
            let id = stale.webhook_id.clone();
            self.update_record(app, |r, _| {
                if r.stale_subscription
                    .as_ref()
                    .is_some_and(|s| s.webhook_id == id)
                {
                    r.stale_subscription = None;
                }
            })
            .await?;
        }
        Ok(())
    }

    /// Read-modify-write of the app record under the usual guard (no live lease).
    async fn update_record(
        &self,
        app: &AppId,
        change: impl Fn(&mut AppRecord, Timestamp),
    ) -> Result<(), SyncError> {
        for _ in 0..10 {
            let Some(mut record) = self.sync.apps.load_app(app).await? else {
                return Ok(());
            };
            let now_ms = self.sync.clock.now_ms();
            if record.live_lease(now_ms).is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            change(&mut record, self.sync.clock.now());
            record.set_lease(None);
            let guard = Guard::Unleased {
                generation: record.generation,
                now_ms,
            };
            if let Saved::Ok { .. } = self.sync.apps.save_app(&record, guard).await? {
                return Ok(());
            }
        }
        Err(SyncError::Transient {
            reason: "the app's record kept changing".into(),
            retry_after: std::time::Duration::from_secs(5),
        })
    }
}

/// Which pass (mod `every`) checks this app's subscription: spread by a hash of its id.
fn slot(app: &AppId, every: u64) -> u64 {
    let every = every.max(1);
    let h = app.as_str().bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    h % every
}
