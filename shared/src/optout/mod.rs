//! Stopping syncs: opting one env var out, disconnecting a whole project (integration
//! deleted, or ownership transferred), and the Heroku clean-up those owe.
//!
//! Our own state changes first and at once: a link leaves `active` under the same guard a
//! sync's lease uses, so once the call returns no delivery can write that env var. What
//! must happen at Heroku (delete the subscription, revoke the authorization) is recorded
//! as pending clean-up on the integration, tried at once, and retried by the next call
//! that touches the integration if Heroku was down. Env var secrets are never touched.

use crate::domain::{
    AppId, Cleanup, EnvVarName, HistoryEntry, HistoryKind, IntegrationStatus, LinkKey, LinkStatus,
    ProjectId, Subscription,
};
use crate::linking::{LinkError, update_integration};
use crate::rmw::{self, Backoff, Edit, Updated};
use crate::services::Services;
use std::time::Duration;

mod cleanup;
pub use cleanup::run_cleanup;

/// How long to wait for a running sync's lease before answering "try again".
const LEASE_WAIT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOut {
    /// The link was active and is now opted out.
    Stopped,
    /// It was already opted out or disconnected.
    AlreadyStopped,
}

/// What stopping one link did.
enum Stop {
    NotLinked,
    AlreadyStopped,
    /// Now stopped; carries the app's subscription if no active link needs it any more.
    Now(Option<Subscription>),
}

/// Sets one link's status (unless it is already not active), waiting out a sync's lease.
/// When no active link is left, the subscription's deletion is queued on `project`'s
/// integration *before* the app is saved without it (a write-ahead): if the save then
/// fails, the queued deletion finds the app still recording the subscription and drops
/// itself; the other order lost the subscription's id when the second write failed, and
/// left the webhook at Heroku for good.
async fn stop_link(
    svc: &Services,
    project: &ProjectId,
    app: &AppId,
    key: &LinkKey,
    status: LinkStatus,
    detail: &str,
) -> Result<Stop, LinkError> {
    let updated = rmw::update_app_then(
        svc.store.as_ref(),
        svc.clock.as_ref(),
        app,
        Backoff::Within(LEASE_WAIT),
        |record, now| {
            let Some(link) = record.links.get_mut(key) else {
                return Edit::Keep(Stop::NotLinked);
            };
            if link.status != LinkStatus::Active {
                return Edit::Keep(Stop::AlreadyStopped);
            }
            link.status = status;
            link.record(HistoryEntry {
                at: now,
                kind: if status == LinkStatus::OptedOut {
                    HistoryKind::OptedOut
                } else {
                    HistoryKind::Disconnected
                },
                release_version: link.last_release_version,
                detail: Some(detail.to_owned()),
            });
            // No active link left: nobody needs the subscription any more.
            Edit::Save(Stop::Now(if record.has_active_links() {
                None
            } else {
                record.subscription.take()
            }))
        },
        |stop| {
            let work = match stop {
                Stop::Now(Some(sub)) => vec![Cleanup::DeleteWebhook {
                    app_id: app.clone(),
                    webhook_id: sub.webhook_id.clone(),
                }],
                _ => vec![],
            };
            add_cleanup(svc, project, work)
        },
    )
    .await?;
    match updated {
        Updated::Done(stop) => Ok(stop),
        Updated::Absent => Ok(Stop::NotLinked),
        Updated::Exhausted => Err(LinkError::Unavailable(
            "a sync of this app is still running; retry".into(),
        )),
    }
}

/// Adds clean-up work to the integration (creating a minimal one if needed).
async fn add_cleanup(
    svc: &Services,
    project: &ProjectId,
    work: Vec<Cleanup>,
) -> Result<(), LinkError> {
    if work.is_empty() {
        return Ok(());
    }
    update_integration(svc, project, |i| {
        for w in &work {
            if !i.pending_cleanup.contains(w) {
                i.pending_cleanup.push(w.clone());
            }
        }
    })
    .await
    .map(drop)
}

/// Opts `env_var` of `project` out of its sync. `Ok(None)`: it was never linked.
pub async fn opt_out(
    svc: &Services,
    project: &ProjectId,
    env_var: &EnvVarName,
) -> Result<Option<OptOut>, LinkError> {
    let Some(entry) = svc.store.directory_entry(project, env_var).await? else {
        return Ok(None);
    };
    let key = LinkKey::new(project, env_var);
    let outcome = match stop_link(
        svc,
        project,
        &entry.app_id,
        &key,
        LinkStatus::OptedOut,
        "opted out by the owner",
    )
    .await?
    {
        Stop::NotLinked => return Ok(None),
        Stop::AlreadyStopped => OptOut::AlreadyStopped,
        Stop::Now(_) => {
            // The subscription's deletion, if due, was queued by `stop_link`.
            tracing::info!(app_id = %entry.app_id, link = %key, "link opted out");
            OptOut::Stopped
        }
    };
    run_cleanup(svc, project).await;
    Ok(Some(outcome))
}

/// Disconnects every link of the project, forgets its Heroku account, and queues the
/// subscription deletions and the revocation. `new_owner` also re-pins the owner (an
/// ownership transfer).
pub async fn disconnect(
    svc: &Services,
    project: &ProjectId,
    new_owner: Option<&str>,
) -> Result<(), LinkError> {
    let mut work = Vec::new();
    for entry in svc.store.directory(project).await? {
        let key = LinkKey::new(project, &entry.env_var);
        let detail = if new_owner.is_some() {
            "project ownership transferred"
        } else {
            "Heroku integration deleted"
        };
        if let Stop::Now(Some(sub)) = stop_link(
            svc,
            project,
            &entry.app_id,
            &key,
            LinkStatus::Disconnected,
            detail,
        )
        .await?
        {
            work.push(Cleanup::DeleteWebhook {
                app_id: entry.app_id.clone(),
                webhook_id: sub.webhook_id,
            });
        }
    }
    let token_secret = svc.names.heroku_tokens(project);
    let has_tokens = svc
        .vault
        .read(&token_secret)
        .await
        .map_err(|e| LinkError::Unavailable(e.to_string()))?
        .is_some();
    update_integration(svc, project, |i| {
        for w in &work {
            if !i.pending_cleanup.contains(w) {
                i.pending_cleanup.push(w.clone());
            }
        }
        if has_tokens {
            let revoke = Cleanup::RevokeAuthorization {
                authorization_id: i.authorization_id.clone(),
                token_secret: token_secret.clone(),
            };
            if !i.pending_cleanup.contains(&revoke) {
                i.pending_cleanup.push(revoke);
            }
        }
        i.status = IntegrationStatus::Disconnected;
        i.heroku_user_id = None;
        i.heroku_email = None;
        i.authorization_id = None;
        i.connected_at = None;
        i.last_error = None;
        if let Some(owner) = new_owner {
            i.owner_sub = Some(owner.to_owned());
        }
    })
    .await?;
    tracing::info!(project = %project, transfer = new_owner.is_some(), "project disconnected");
    run_cleanup(svc, project).await;
    Ok(())
}
