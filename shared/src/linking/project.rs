//! A project's links as they stand, and catching them up to their apps' newest releases.

use super::LinkError;
use crate::domain::{AppId, Integration, Link, LinkKey, ProjectId, Timestamp};
use crate::ports::{AppStore, DirectoryEntry, LinksOnApp, StoreError};
use crate::services::Services;
use crate::sync::{SyncRequest, Target};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every link of a project as it stands (the directory, then each app's record). An
/// active link's `last_checked_at` includes the reconciler's last check of its app,
/// which is kept apart from the app record so a pass does not rewrite it.
pub async fn project_links(svc: &Services, project: &ProjectId) -> Result<Vec<Link>, LinkError> {
    links_in(svc.store.as_ref(), project).await
}

/// What the status route shows: the project's integration and every link as it stands.
#[derive(Debug, Clone)]
pub struct ProjectStatus {
    pub integration: Option<Integration>,
    pub links: Vec<Link>,
}

/// [`ProjectStatus`] from the project's partition (integration and directory, one read),
/// then the project's own links on each app its env vars follow. A link's status lives in
/// its app's partition, which the webhook reads in one Query; a copy kept with the
/// project would cost every sync a write.
pub async fn project_status<S>(store: &S, project: &ProjectId) -> Result<ProjectStatus, LinkError>
where
    S: AppStore + ?Sized,
{
    let items = store.load_project(project).await?;
    Ok(ProjectStatus {
        links: links_of(store, project, &items.directory).await?,
        integration: items.integration,
    })
}

/// Apps read at once for a project's status.
const APPS_AT_ONCE: usize = 8;

/// [`project_links`] over any store.
pub async fn links_in<S>(store: &S, project: &ProjectId) -> Result<Vec<Link>, LinkError>
where
    S: AppStore + ?Sized,
{
    let entries = store.directory(project).await?;
    links_of(store, project, &entries).await
}

/// The links `entries` point at: each app is read once however many of the project's
/// env vars follow it (a hundred preview env vars on one staging database were a hundred
/// reads of one item), for this project's links only, a few apps at a time.
async fn links_of<S>(
    store: &S,
    project: &ProjectId,
    entries: &[DirectoryEntry],
) -> Result<Vec<Link>, LinkError>
where
    S: AppStore + ?Sized,
{
    // Owned ids: a closure over borrowed ones is not general enough for a `Send` handler.
    let apps: BTreeSet<AppId> = entries.iter().map(|e| e.app_id.clone()).collect();
    let loaded: Vec<(AppId, LinksOnApp)> = stream::iter(apps)
        .map(|app| async move {
            Ok::<_, StoreError>((app.clone(), store.load_project_links(&app, project).await?))
        })
        .buffer_unordered(APPS_AT_ONCE)
        .try_collect()
        .await?;
    let mut by_key: BTreeMap<(AppId, LinkKey), (Link, Option<Timestamp>)> = BTreeMap::new();
    for (app, on_app) in loaded {
        for link in on_app.links {
            by_key.insert((app.clone(), link.key()), (link, on_app.checked_at));
        }
    }
    let mut links = Vec::new();
    for entry in entries {
        let key = (entry.app_id.clone(), LinkKey::new(project, &entry.env_var));
        let Some((mut link, checked)) = by_key.remove(&key) else {
            continue;
        };
        if link.is_active()
            && let Some(checked) = checked
            && link.last_checked_at.is_none_or(|at| at < checked)
        {
            link.last_checked_at = Some(checked);
        }
        links.push(link);
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
