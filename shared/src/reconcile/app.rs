//! One app's reconcile: its newest release, the links behind it, its subscription (and
//! its key after a rotation) and any subscription left to delete.

use super::subscription::Checked;
use super::{AppOutcome, Reconciler};
use crate::domain::{AppId, AppRecord, Link, ProjectId, Repair, Subscription, Timestamp};
use crate::heroku::Release;
use crate::rmw::{self, Backoff, Edit, Updated};
use crate::sync::{SyncError, SyncRequest, Target};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use time::format_description::well_known::Rfc3339;

/// The newest release, and whose token read it.
struct Newest {
    release: Release,
    project: ProjectId,
    account: String,
}

impl Reconciler<'_> {
    /// Reconciles one app. `Err` is transient (the next pass retries); permanent
    /// failures are recorded on the links and reported in the outcome.
    pub async fn reconcile_app(&self, app: &AppId, pass: u64) -> Result<AppOutcome, SyncError> {
        let mut out = AppOutcome::default();
        let Some(record) = self.sync.apps.load_app(app).await? else {
            return Ok(out);
        };
        let active: Vec<&Link> = record.active_links().collect();
        if active.is_empty() {
            return Ok(out);
        }
        let Some(newest) = self.newest(&record, &mut out).await? else {
            return Ok(out);
        };
        let Newest {
            release,
            project,
            account,
        } = newest;
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
        // A link whose last attempt failed is retried, but is not a lost delivery: the
        // drift alarm counts only links that were fine and fell behind.
        out.links_failing = behind.iter().filter(|l| l.last_error.is_some()).count() as u64;
        out.links_behind = behind.len() as u64 - out.links_failing;
        if out.links_behind > 0 {
            out.oldest_behind_s = age_s.or(Some(0.0));
        }

        if !behind.is_empty() {
            // Each project reads the config vars with its own token, from its account.
            let projects: BTreeSet<_> = behind.iter().map(|l| l.project_id.clone()).collect();
            let mut accounts = Vec::new();
            for p in &projects {
                accounts.push(self.account(p).await?);
            }
            if !self.take_each(&accounts).await? {
                out.deferred = true;
                return Ok(out);
            }
            out.heroku_calls += projects.len() as u32;
            let what = if out.links_behind == 0 {
                format!("retried the failed sync at release v{}", release.version)
            } else {
                format!(
                    "release v{} was not delivered; synced by the reconciler",
                    release.version
                )
            };
            tracing::info!(app_id = %app, version = release.version, behind = out.links_behind, failing = out.links_failing, "links behind the newest release");
            let report = self
                .sync
                .sync(&SyncRequest {
                    app_id: app.clone(),
                    target: Target::Release(release.version),
                    only: None,
                    released_at: None,
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
        let drift = out.links_behind > 0;
        let every = self.settings.subscription_check_every.max(1);
        let due = drift || record.subscription.is_none() || slot(app, every) == pass % every;
        let mut key_settled = false;
        if due && self.subscription_url(&record).is_some() {
            match self.check_subscription(&record, &project, &account).await? {
                Checked::Healthy => {}
                Checked::Deferred => {
                    out.deferred = true;
                    return Ok(out);
                }
                Checked::Repaired { subscription, what } => {
                    out.heroku_calls += 2;
                    key_settled = true;
                    if self
                        .record_subscription(&record, &project, subscription, &what)
                        .await?
                    {
                        out.subscription_repaired = true;
                    }
                }
            }
            out.heroku_calls += 1;
        }

        // The subscription's key: after a rotation every subscription gets the current
        // one (no Heroku call unless its recorded version is older); and when a release
        // went undelivered its secret is put again, since Heroku never shows it.
        if !key_settled && let Some(sub) = &record.subscription {
            match self.rekey(&record, sub, &project, &account, drift).await? {
                Checked::Healthy => {}
                Checked::Deferred => out.deferred = true,
                Checked::Repaired { subscription, .. } => {
                    out.heroku_calls += 1;
                    let seen = sub.clone();
                    self.update_record(app, |r, _| {
                        // Only over the subscription and version this was decided on.
                        if r.subscription.as_ref() == Some(&seen) {
                            r.subscription = Some(subscription.clone());
                        }
                    })
                    .await?;
                    out.subscriptions_rekeyed = true;
                }
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

    /// The app's newest succeeded release, asked with each linked project's token in
    /// turn: one project's revoked grant (recorded on its own links only) does not stop
    /// the others' reconcile. `None` when deferred or when no project can read the app.
    async fn newest(
        &self,
        record: &AppRecord,
        out: &mut AppOutcome,
    ) -> Result<Option<Newest>, SyncError> {
        let mut projects: Vec<ProjectId> = Vec::new();
        for l in record.active_links() {
            if !projects.contains(&l.project_id) {
                projects.push(l.project_id.clone());
            }
        }
        for project in projects {
            let account = self.account(&project).await?;
            if !self.take(&account, 1).await? {
                out.deferred = true;
                return Ok(None);
            }
            out.heroku_calls += 1;
            let answer = self
                .sync
                .with_token(&project, |token| {
                    let heroku = self.sync.heroku.clone();
                    let app = record.app_id.to_string();
                    async move { heroku.newest_release(&token, &app).await }
                })
                .await;
            // Whatever the answer: a low pool, or a transient failure (a 429 among
            // them), leaves the account alone for the rest of the batch.
            self.watch_pool(&project, &account).await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    self.exhaust(&account);
                    return Err(e);
                }
            };
            match answer {
                Ok(Some(release)) => {
                    return Ok(Some(Newest {
                        release,
                        project,
                        account,
                    }));
                }
                Ok(None) => {
                    // No succeeded release yet: nothing can be behind.
                    out.links_checked = record.active_links().count() as u64;
                    self.index
                        .mark_checked(&record.app_id, self.sync.clock.now(), 0)
                        .await?;
                    return Ok(None);
                }
                Err(reason) => {
                    // This project's grant is gone or cannot read the app: its links
                    // say so; the next project may still read it.
                    self.sync
                        .record_failure(record.app_id.clone(), None, Some(&project), reason.clone())
                        .await?;
                    out.error = Some(reason);
                }
            }
        }
        Ok(None)
    }

    /// Takes one call from each account (one per project read); all or nothing, as far
    /// as the budget allows: what was taken before a refusal is spent.
    async fn take_each(&self, accounts: &[String]) -> Result<bool, SyncError> {
        for account in accounts {
            if !self.take(account, 1).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// After a call with `project`'s token: an account whose pool runs low is left alone
    /// for the rest of the batch.
    async fn watch_pool(&self, project: &ProjectId, account: &str) {
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

    /// Records a repaired subscription and shows the repair on every active link, but
    /// only if the record still has active links and still names the subscription the
    /// check saw. Otherwise (an opt-out or a re-link meanwhile) the webhook just made is
    /// deleted again: nothing would ever delete it. `true` when recorded.
    async fn record_subscription(
        &self,
        seen: &AppRecord,
        project: &ProjectId,
        subscription: Subscription,
        what: &str,
    ) -> Result<bool, SyncError> {
        let seen_id = seen.subscription.as_ref().map(|s| s.webhook_id.clone());
        let recorded = AtomicBool::new(false);
        self.update_record(&seen.app_id, |r, now| {
            recorded.store(false, Ordering::Relaxed);
            let same = r.subscription.as_ref().map(|s| s.webhook_id.clone()) == seen_id;
            if !same || !r.has_active_links() {
                return;
            }
            r.subscription = Some(subscription.clone());
            for link in r.links.values_mut().filter(|l| l.is_active()) {
                link.last_repair = Some(Repair {
                    at: now,
                    what: what.to_owned(),
                });
            }
            recorded.store(true, Ordering::Relaxed);
        })
        .await?;
        if !recorded.load(Ordering::Relaxed)
            && seen_id.as_deref() != Some(subscription.webhook_id.as_str())
        {
            tracing::info!(app_id = %seen.app_id, "the app changed during the repair; deleting the new subscription");
            let app = seen.app_id.to_string();
            let id = subscription.webhook_id.clone();
            let _ = self
                .sync
                .with_token(project, |token| {
                    let (hooks, app, id) = (self.hooks, app.clone(), id.clone());
                    async move { hooks.delete_webhook(&token, &app, &id).await }
                })
                .await;
        }
        Ok(recorded.load(Ordering::Relaxed))
    }

    async fn delete_stale(
        &self,
        app: &AppId,
        project: &ProjectId,
        stale: &Subscription,
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

    /// Read-modify-write of the app record under the usual guard (no live lease); a
    /// change that changes nothing is not saved.
    pub(super) async fn update_record(
        &self,
        app: &AppId,
        change: impl Fn(&mut AppRecord, Timestamp),
    ) -> Result<(), SyncError> {
        let updated = rmw::update_app(
            self.sync.apps.as_ref(),
            self.sync.clock.as_ref(),
            app,
            Backoff::Tries(10),
            |record, now| {
                let before = record.clone();
                change(record, now);
                if *record == before {
                    Edit::Keep(())
                } else {
                    Edit::Save(())
                }
            },
        )
        .await?;
        match updated {
            Updated::Done(()) | Updated::Absent => Ok(()),
            Updated::Exhausted => Err(SyncError::Transient {
                reason: "the app's record kept changing".into(),
                retry_after: std::time::Duration::from_secs(5),
            }),
        }
    }
}

/// Which pass (mod `every`) checks this app's subscription: spread by a hash of its id.
fn slot(app: &AppId, every: u64) -> u64 {
    super::fnv(app.as_str().as_bytes(), 0) % every.max(1)
}
