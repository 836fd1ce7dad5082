//! Our webhook subscription on an app: kept, adopted or created when a link is saved.

use super::link::LinkRequest;
use super::{LinkError, heroku_error};
use crate::domain::{AppId, Subscription};
use crate::heroku::{AccessToken, WebhookRequest};
use crate::services::Services;
use secrecy::ExposeSecret;
use std::time::Duration;

/// How old a cached signing key may be when a subscription is created with it.
const KEY_MAX_AGE: Duration = Duration::from_secs(300);

/// Our webhook subscription on the app: the recorded one if Heroku still has it, else one
/// Heroku has for our URL (adopted, its secret set to ours), else a new one.
pub(super) async fn ensure_subscription(
    svc: &Services,
    req: &LinkRequest,
    token: &AccessToken,
    app_id: &AppId,
    recorded: Option<Subscription>,
) -> Result<Subscription, LinkError> {
    let url = svc
        .webhook_url(req.request_base.as_deref())
        .ok_or_else(|| LinkError::Internal("PUBLIC_BASE_URL is not set".into()))?;
    let existing = svc
        .heroku
        .list_webhooks(token, app_id.as_str())
        .await
        .map_err(|e| heroku_error(e, "the Heroku app"))?;
    if let Some(recorded) = &recorded
        && existing
            .iter()
            .any(|w| w.id == recorded.webhook_id && w.url == url)
    {
        return Ok(recorded.clone());
    }
    // A key read minutes ago may have been rotated since; subscriptions get the current one.
    let key = svc.signing_key.current(KEY_MAX_AGE).await?;
    let body = WebhookRequest {
        include: &["api:release"],
        level: "sync",
        url: &url,
        secret: key.value.expose_secret(),
    };
    let hook = match existing.iter().find(|w| w.url == url) {
        Some(w) => {
            svc.heroku
                .update_webhook(token, app_id.as_str(), &w.id, &body)
                .await
        }
        None => {
            svc.heroku
                .create_webhook(token, app_id.as_str(), &body)
                .await
        }
    }
    .map_err(|e| heroku_error(e, "the Heroku app"))?;
    tracing::info!(app_id = %app_id, webhook_id = %hook.id, "subscribed to api:release");
    Ok(Subscription {
        webhook_id: hook.id,
        created_by: req.project.clone(),
        created_at: svc.clock.now(),
        url: Some(url),
        key_version: key.version,
    })
}
