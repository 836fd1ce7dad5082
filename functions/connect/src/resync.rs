//! `POST /projects/{project_id}/env-vars/{env_var}/heroku-sync/resync` (docs/contract.md):
//! sync one link now against its app's newest release, without waiting for a delivery
//! (one lost, a subscription disabled at Heroku, a write the operator just fixed).

use crate::Ctx;
use lambda_http::{Body, Response};
use shared::access::Also;
use shared::domain::{EnvVarName, LinkKey, LinkStatus};
use shared::http::{self, ApiError};
use shared::sync::{SyncError, SyncRequest};
use shared::views::LinkView;

pub async fn post(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let env_var = EnvVarName::parse(ctx.params.get("env_var").cloned().unwrap_or_default())?;
    let svc = ctx.svc;
    // Only the connected owner uses the Heroku grant, as for linking; checked before
    // anything else, so nobody else learns whether the env var is linked.
    shared::access::connected_owner(svc.store.as_ref(), &project, &caller, Also::Nobody).await?;
    let never_linked = || {
        ApiError::not_found(format!(
            "{env_var} has never been linked to a Heroku config var"
        ))
    };
    let Some(entry) = svc.store.directory_entry(&project, &env_var).await? else {
        return Err(never_linked());
    };
    let key = LinkKey::new(&project, &env_var);
    let link = svc
        .store
        .load_app(&entry.app_id)
        .await?
        .and_then(|mut r| r.links.remove(&key))
        .ok_or_else(never_linked)?;
    if !link.is_active() {
        let why = match link.status {
            LinkStatus::OptedOut => "its sync was opted out of",
            _ => "Heroku was disconnected from the project (deleted or ownership transferred)",
        };
        return Err(ApiError::link_not_active(format!(
            "{env_var} is not synced: {why}; link it again to resume the sync"
        )));
    }
    // The sync core decides under the app's lease, as for a delivery: an opt-out that
    // lands meanwhile wins, and a link already at the newest release is not rewritten.
    let request = SyncRequest::newest_for_link(entry.app_id.clone(), key.clone());
    match svc.sync.sync(&request).await {
        Ok(report) => {
            tracing::info!(
                link = %key,
                version = report.version,
                written = report.written.len(),
                "resynced"
            );
        }
        Err(SyncError::Transient {
            reason,
            retry_after,
        }) => {
            tracing::warn!(link = %key, reason = %reason, "resync failed; retry");
            return Err(ApiError::unavailable(
                "an upstream service is unavailable; retry later",
                retry_after.as_secs(),
            ));
        }
        Err(SyncError::Internal(reason)) => {
            tracing::error!(link = %key, reason = %reason, "resync failed");
            return Err(ApiError::internal("internal error"));
        }
    }
    // The link as the sync left it: its status never claims more than the secret holds.
    let link = svc
        .store
        .load_app(&entry.app_id)
        .await?
        .and_then(|mut r| r.links.remove(&key))
        .ok_or_else(never_linked)?;
    Ok(http::json(200, &LinkView::from(&link)))
}
