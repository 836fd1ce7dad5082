//! Heroku OAuth: `authorize` hands out Heroku's authorize URL with a single-use state
//! bound to the caller and project; `callback` checks that state, exchanges the code and
//! holds the grant pending, then sends the browser back to the console with a
//! confirmation that only the user who started the connect may redeem (`confirm`,
//! docs/contract.md: the callback and `POST …/integrations/heroku/confirm` routes). The
//! callback never shows an error page: every outcome is a redirect with a reason.

use crate::Ctx;
use lambda_http::{Body, RequestExt, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::heroku::HerokuError;
use shared::http::{self, ApiError};
use shared::linking::LinkError;
use shared::ports::OAuthState;
use time::format_description::well_known::Rfc3339;

/// How long a user has between "Connect Heroku" and coming back.
const STATE_TTL_S: i64 = 600;
/// Heroku scope: config vars need read-protected, webhooks and trial apps write, and
/// revoking our own grant an account-level write that only `global` is documented to
/// allow (docs/security.md, "The OAuth scope", maps every call).
const SCOPE: &str = "global";

pub(crate) fn hash_state(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// 244 random bits (two v4 UUIDs), hex: unguessable and URL-safe.
fn new_state() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub async fn authorize(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let svc = ctx.svc;
    shared::access::may_connect(svc.store.as_ref(), &project, &caller).await?;
    shared::optout::run_cleanup(svc, &project).await;
    let client_id = svc
        .config
        .oauth_client_id()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let state = new_state();
    let now = svc.clock.now();
    let expires_at = now.unix_timestamp() + STATE_TTL_S;
    svc.store
        .put_state(&OAuthState {
            state_hash: hash_state(&state),
            project_id: project.clone(),
            sub: caller.sub.clone(),
            expires_at,
        })
        .await?;
    let mut url = url::Url::parse(&format!("{}/oauth/authorize", svc.config.heroku_id_url))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", SCOPE)
        .append_pair("state", &state);
    let expires = time::OffsetDateTime::from_unix_timestamp(expires_at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok());
    tracing::info!("authorize URL issued");
    Ok(http::json(
        200,
        &json!({ "authorize_url": url.as_str(), "expires_at": expires }),
    ))
}

/// Where the browser goes back to: `CONSOLE_URL` with the outcome in the query: the
/// confirmation of a grant held pending, or why there is none.
fn back_to_console(
    ctx: &Ctx<'_>,
    project: Option<&str>,
    outcome: Result<&str, &str>,
) -> Response<Body> {
    let console = ctx.svc.config.console_url.as_deref().unwrap_or("/");
    let mut url = match url::Url::parse(console) {
        Ok(u) => u,
        Err(_) => return http::redirect(console),
    };
    {
        let mut q = url.query_pairs_mut();
        if let Some(p) = project {
            q.append_pair("project_id", p);
        }
        match outcome {
            Ok(confirmation) => q
                .append_pair("heroku", "confirm")
                .append_pair("confirmation", confirmation),
            Err(reason) => q
                .append_pair("heroku", "error")
                .append_pair("reason", reason),
        };
    }
    if let Err(reason) = outcome {
        tracing::warn!(reason, "Heroku connection refused");
    }
    http::redirect(url.as_str())
}

pub async fn callback(ctx: &Ctx<'_>) -> Response<Body> {
    let query = ctx.req.query_string_parameters();
    let Some(state) = query.first("state").filter(|s| !s.is_empty()) else {
        return back_to_console(ctx, None, Err("invalid_state"));
    };
    let svc = ctx.svc;
    // Taking the state deletes it: a replay finds nothing.
    let taken = match svc.store.take_state(&hash_state(state)).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot read OAuth state");
            return back_to_console(ctx, None, Err("temporarily_unavailable"));
        }
    };
    let Some(pending) = taken else {
        return back_to_console(ctx, None, Err("invalid_state"));
    };
    let project = pending.project_id.as_str();
    if pending.expires_at <= svc.clock.now().unix_timestamp() {
        return back_to_console(ctx, Some(project), Err("expired_state"));
    }
    if let Some(error) = query.first("error") {
        let reason = if error == "access_denied" {
            "access_denied"
        } else {
            "exchange_failed"
        };
        return back_to_console(ctx, Some(project), Err(reason));
    }
    let Some(code) = query.first("code").filter(|c| !c.is_empty()) else {
        return back_to_console(ctx, Some(project), Err("missing_code"));
    };
    match svc.store.load_integration(&pending.project_id).await {
        Ok(Some(i)) if i.owner_sub.as_deref().is_some_and(|o| o != pending.sub) => {
            return back_to_console(ctx, Some(project), Err("not_project_owner"));
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot read the integration");
            return back_to_console(ctx, Some(project), Err("temporarily_unavailable"));
        }
    }
    let client_secret = match svc.tokens.client_secret().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "OAuth client secret unavailable");
            return back_to_console(ctx, Some(project), Err("temporarily_unavailable"));
        }
    };
    let grant =
        match shared::ports::HerokuOAuth::exchange_code(&*svc.heroku, code, &client_secret).await {
            Ok(g) => g,
            Err(e) if e.is_transient() => {
                return back_to_console(ctx, Some(project), Err("heroku_unavailable"));
            }
            Err(e) => {
                let why = match &e {
                    HerokuError::Rejected { id, .. } => id.clone(),
                    other => other.to_string(),
                };
                tracing::warn!(reason = %why, "code exchange refused");
                return back_to_console(ctx, Some(project), Err("exchange_failed"));
            }
        };
    // Held, not connected: the state proves who started the connect, not who approved
    // it at Heroku. The grant becomes the connection when its starter confirms.
    match shared::pending::hold(svc, &pending.project_id, &pending.sub, &grant).await {
        Ok(confirmation) => back_to_console(ctx, Some(project), Ok(&confirmation)),
        Err(LinkError::Unavailable(_) | LinkError::RateLimited(_)) => {
            back_to_console(ctx, Some(project), Err("heroku_unavailable"))
        }
        Err(e) => {
            tracing::warn!(error = %e, "holding the grant failed");
            back_to_console(ctx, Some(project), Err("exchange_failed"))
        }
    }
}

#[derive(serde::Deserialize)]
struct ConfirmBody {
    confirmation: String,
}

/// `POST /projects/{project_id}/integrations/heroku/confirm`: the user who started the
/// connect makes the grant held pending the project's connection (docs/contract.md).
pub async fn confirm(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let body: ConfirmBody = http::json_body(ctx.req, crate::MAX_BODY)?;
    let svc = ctx.svc;
    let integration = shared::pending::confirm(svc, &project, &caller, &body.confirmation).await?;
    // A reconnect after a revoked or lapsed authorization: links that could not sync
    // meanwhile catch up now instead of at the next release.
    shared::linking::catch_up(svc, &project).await;
    let links = shared::linking::project_links(svc, &project).await?;
    // The caller is the connected owner now: the whole view.
    let view = shared::views::IntegrationView::new(project.as_str(), Some(&integration), &links);
    Ok(http::json(200, &view))
}
