//! The Heroku clean-up an opt-out or disconnect owes (delete a subscription, revoke an
//! authorization), tried at once and retried by the next call that touches the
//! integration; every call goes through the project's token helper.

use crate::domain::{AppId, Cleanup, ProjectId};
use crate::heroku::HerokuError;
use crate::linking::update_integration;
use crate::services::Services;

/// What happened to one clean-up item.
enum Step {
    Done,
    /// Heroku is down or slow: keep it for later.
    Later(String),
}

/// Tries every pending clean-up of the project once; keeps what failed for a transient
/// reason. Never fails the caller: the work is recorded, and shown by the status route.
pub async fn run_cleanup(svc: &Services, project: &ProjectId) {
    let Ok(Some(integration)) = svc.store.load_integration(project).await else {
        return;
    };
    if integration.pending_cleanup.is_empty() {
        return;
    }
    let mut done: Vec<Cleanup> = Vec::new();
    let mut last_error = None;
    // Webhooks first: deleting them needs the token that revocation destroys.
    let mut work = integration.pending_cleanup.clone();
    work.sort_by_key(|c| matches!(c, Cleanup::RevokeAuthorization { .. }));
    for item in work {
        let step = match &item {
            Cleanup::DeleteWebhook { app_id, webhook_id } => {
                delete_webhook(svc, project, app_id, webhook_id).await
            }
            Cleanup::RevokeAuthorization {
                authorization_id,
                token_secret,
            } => revoke(svc, project, authorization_id.as_deref(), token_secret).await,
        };
        match step {
            Step::Done => done.push(item),
            Step::Later(why) => {
                tracing::warn!(project = %project, reason = %why, "Heroku clean-up postponed");
                last_error = Some(why);
                // Revocation must wait for the webhooks that need its token.
                if matches!(item, Cleanup::DeleteWebhook { .. }) {
                    break;
                }
            }
        }
    }
    let result = update_integration(svc, project, |i| {
        i.pending_cleanup.retain(|c| !done.contains(c));
        i.last_error = last_error
            .as_ref()
            .filter(|_| !i.pending_cleanup.is_empty())
            .map(|why| format!("clean-up at Heroku pending: {why}"));
    })
    .await;
    if let Err(e) = result {
        tracing::warn!(project = %project, error = %e, "could not record clean-up progress");
    }
}

fn step_for(e: HerokuError) -> Step {
    if e.is_transient() {
        Step::Later(e.to_string())
    } else {
        // 401/403/404: the token or the thing is gone; nothing left we can do.
        tracing::info!(error = %e, "clean-up dropped: Heroku says it cannot be done");
        Step::Done
    }
}

async fn delete_webhook(
    svc: &Services,
    project: &ProjectId,
    app: &AppId,
    webhook_id: &str,
) -> Step {
    // A link re-created since may have adopted this subscription: then it stays.
    if let Ok(Some(record)) = svc.store.load_app(app).await
        && record
            .subscription
            .as_ref()
            .is_some_and(|s| s.webhook_id == webhook_id)
    {
        return Step::Done;
    }
    let heroku = svc.heroku.clone();
    let call = |token| {
        let (heroku, app, id) = (heroku.clone(), app.to_string(), webhook_id.to_owned());
        async move { heroku.delete_webhook(&token, &app, &id).await }
    };
    match clean_up_call(svc, project, call).await {
        Ok(true) => {
            tracing::info!(app_id = %app, webhook_id, "subscription deleted at Heroku");
            Step::Done
        }
        Ok(false) => Step::Done,
        Err(later) => later,
    }
}

/// A clean-up call with the project's token (refreshed on a 401): `Ok(true)` done,
/// `Ok(false)` nothing left to do (no grant to call with, or Heroku says it cannot be
/// done), `Err(Later)` worth another try.
async fn clean_up_call<F, Fut>(svc: &Services, project: &ProjectId, call: F) -> Result<bool, Step>
where
    F: Fn(crate::heroku::AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), HerokuError>>,
{
    use crate::tokens::{CallError, TokenError};
    match svc.tokens.with_token(project, call).await {
        Ok(((), _)) => Ok(true),
        Err(CallError::Token(TokenError::Transient(m))) => Err(Step::Later(m)),
        // Our OAuth client is broken, not the grant: retry once the operator fixed it.
        Err(CallError::Token(e @ TokenError::ClientRejected(_))) => Err(Step::Later(e.to_string())),
        Err(CallError::Token(_) | CallError::Refused) => Ok(false),
        Err(CallError::Heroku(e)) => match step_for(e) {
            Step::Done => Ok(false),
            later => Err(later),
        },
    }
}

async fn revoke(
    svc: &Services,
    project: &ProjectId,
    authorization_id: Option<&str>,
    token_secret: &str,
) -> Step {
    // A reconnect since this was queued stored a newer grant's tokens under the same
    // secret name: those are not ours to revoke or delete. The old grant could only be
    // revoked with its own token, which that reconnect replaced.
    match svc.tokens.load(project).await {
        Ok(Some(stored))
            if stored.authorization_id.is_some()
                && stored.authorization_id.as_deref() != authorization_id =>
        {
            tracing::warn!(project = %project, "a newer Heroku grant replaced the one to revoke; its tokens are kept");
            return revoke_replaced(svc, project, authorization_id).await;
        }
        Ok(_) => {}
        Err(e) => return Step::Later(e.to_string()),
    }
    if let Some(id) = authorization_id {
        let revoked = clean_up_call(svc, project, |token| revoke_call(svc, token, id)).await;
        match revoked {
            Ok(true) => tracing::info!(project = %project, "Heroku authorization revoked"),
            Ok(false) => {}
            // Not revoked yet, so the tokens must stay to revoke with later.
            Err(later) => return later,
        }
    }
    if let Err(e) = svc.vault.delete(token_secret).await {
        return Step::Later(e.to_string());
    }
    svc.tokens.forget(project);
    Step::Done
}

/// The grant queued for revocation was replaced by a newer one of the same project: try
/// to revoke the old one with the new token (it works when both are the same Heroku
/// account's), and never touch the new tokens.
async fn revoke_replaced(svc: &Services, project: &ProjectId, old: Option<&str>) -> Step {
    let Some(id) = old else {
        return Step::Done;
    };
    match clean_up_call(svc, project, |token| revoke_call(svc, token, id)).await {
        Ok(true) => {
            tracing::info!(project = %project, "replaced Heroku authorization revoked");
            Step::Done
        }
        Ok(false) => Step::Done,
        Err(later) => later,
    }
}

fn revoke_call(
    svc: &Services,
    token: crate::heroku::AccessToken,
    id: &str,
) -> impl std::future::Future<Output = Result<(), HerokuError>> + use<> {
    let (heroku, id) = (svc.heroku.clone(), id.to_owned());
    async move { heroku.delete_authorization(&token, &id).await }
}
