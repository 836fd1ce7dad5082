//! A project's links as they stand, and catching them up to their apps' newest releases.

use super::LinkError;
use crate::domain::{Link, LinkKey, ProjectId};
use crate::ports::{AppStore, ReconcileIndex};
use crate::services::Services;
use crate::sync::{SyncRequest, Target};
use std::time::Duration;

/// Every link of a project as it stands (the directory, then each app's record). An
/// active link's `last_checked_at` includes the reconciler's last check of its app,
/// which is kept apart from the app record so a pass does not rewrite it.
pub async fn project_links(svc: &Services, project: &ProjectId) -> Result<Vec<Link>, LinkError> {
    let mut links = Vec::new();
    for entry in svc.store.directory(project).await? {
        let key = LinkKey::new(project, &entry.env_var);
        if let Some(mut link) = svc
            .store
            .load_app(&entry.app_id)
            .await?
            .and_then(|mut r| r.links.remove(&key))
        {
            if link.is_active()
                && let Some(checked) = svc.store.checked_at(&entry.app_id).await?
                && link.last_checked_at.is_none_or(|at| at < checked)
            {
                link.last_checked_at = Some(checked);
            }
            links.push(link);
        }
    }
    Ok(links)
}

/// How long a request spends catching links up: well inside API Gateway's 29 s, with
/// room for the rest of the request. What is left the reconciler's next pass catches up.
pub const CATCH_UP_BUDGET: Duration = Duration::from_secs(10);

/// Syncs every active link of the project to its app's newest release, best effort and
/// within [`CATCH_UP_BUDGET`]: what fails stays recorded on the link, and what is not
/// reached in time is behind its release, which the reconciler's next pass brings up.
pub async fn catch_up(svc: &Services, project: &ProjectId) {
    let links = match project_links(svc, project).await {
        Ok(links) => links,
        Err(e) => {
            tracing::warn!(project = %project, error = %e, "catch-up skipped");
            return;
        }
    };
    let started = tokio::time::Instant::now();
    for link in links.iter().filter(|l| l.is_active()) {
        if started.elapsed() >= CATCH_UP_BUDGET {
            tracing::info!(project = %project, "catch-up budget spent; the reconciler's next pass does the rest");
            return;
        }
        let request = SyncRequest {
            app_id: link.app_id.clone(),
            target: Target::Newest,
            only: Some(link.key()),
            released_at: None,
            delivery_id: None,
            repair: None,
        };
        match svc.sync.sync(&request).await {
            Ok(report) => {
                tracing::info!(link = %link.key(), written = report.written.len(), "caught up")
            }
            Err(e) => {
                tracing::warn!(link = %link.key(), error = %e, "catch-up failed; the next delivery or reconcile pass retries")
            }
        }
    }
}
