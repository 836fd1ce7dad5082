//! Linking an env var to a Heroku config var (`PUT …/heroku-sync`) and the trial
//! database (`POST …/trial-database`): both subscribe to the app's releases and sync at once.

use crate::{Ctx, MAX_BODY};
use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::json;
use shared::access::Also;
use shared::domain::{ConfigVarName, EnvVarName, ProjectId};
use shared::heroku::app_ref;
use shared::http::{self, ApiError};
use shared::linking::{self, LinkError, LinkOutcome, LinkRequest, with_token};
use shared::trials;
use shared::views::LinkView;

/// The plan of the trial database (Heroku's smallest Postgres).
pub const TRIAL_PLAN: &str = "heroku-postgresql:essential-0";
const TRIAL_CONFIG_VAR: &str = "DATABASE_URL";

#[derive(Deserialize)]
struct LinkBody {
    app: String,
    config_var: String,
}

#[derive(Deserialize)]
struct TrialBody {
    env_var: String,
}

fn env_var_param(ctx: &Ctx<'_>) -> Result<EnvVarName, ApiError> {
    Ok(EnvVarName::parse(
        ctx.params.get("env_var").cloned().unwrap_or_default(),
    )?)
}

/// May a sync write this env var of this project? Not a reserved name, and its secret's
/// name within Secrets Manager's limit: refused up front (400) rather than late, after a
/// subscription was made.
fn assignable(ctx: &Ctx<'_>, project: &ProjectId, env_var: &EnvVarName) -> Result<(), ApiError> {
    env_var.check_assignable()?;
    ctx.svc.names.env_var_fits(project, env_var)?;
    Ok(())
}

pub async fn put(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let env_var = env_var_param(ctx)?;
    let body: LinkBody = http::json_body(ctx.req, MAX_BODY)?;
    if body.app.trim().is_empty() {
        return Err(ApiError::bad_request(
            "app: must be a Heroku app id or name",
        ));
    }
    if app_ref(&body.app).is_err() {
        return Err(ApiError::unprocessable(format!(
            "app {:?} is not a Heroku app id or name",
            body.app
        )));
    }
    let config_var = ConfigVarName::parse(body.config_var)?;
    assignable(ctx, &project, &env_var)?;
    shared::access::connected_owner(ctx.svc.store.as_ref(), &project, &caller, Also::Nobody)
        .await?;
    linking::check_link_quota(ctx.svc, &project, &env_var).await?;
    shared::optout::run_cleanup(ctx.svc, &project).await;
    let linked = linking::link(
        ctx.svc,
        &LinkRequest {
            project,
            env_var,
            app: body.app,
            config_var,
            sub: caller.sub,
            allow_missing: false,
            request_base: ctx.request_base(),
        },
    )
    .await?;
    let status = if linked.outcome == LinkOutcome::Created {
        201
    } else {
        200
    };
    Ok(http::json(status, &LinkView::from(&linked.link)))
}

pub async fn trial(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let (caller, project) = http::project_caller(ctx.req, ctx.params)?;
    let body: TrialBody = http::json_body(ctx.req, MAX_BODY)?;
    let env_var = EnvVarName::parse(body.env_var)?;
    assignable(ctx, &project, &env_var)?;
    let svc = ctx.svc;
    shared::access::connected_owner(svc.store.as_ref(), &project, &caller, Also::Nobody).await?;
    match svc.store.load_integration(&project).await? {
        Some(i) if i.is_connected() => {}
        _ => return Err(LinkError::NotConnected.into()),
    }
    // A repeat for this env var (a double submit, a retry after a failure) continues the
    // trial already started today instead of making another app.
    let existing = trials::trial_for(svc, &project, &env_var).await?;
    if existing.is_none() {
        // Fail with 409 before anything is created at Heroku.
        if linking::synced_from(svc, &project, &env_var)
            .await?
            .is_some()
        {
            return Err(ApiError::conflict(format!(
                "{env_var} is already synced from another app; opt out of that sync first"
            )));
        }
        linking::check_link_quota(svc, &project, &env_var).await?;
    }
    let mut trial = match trials::reserve_trial_database(svc, &project, &env_var).await? {
        trials::TrialSlot::New => None,
        trials::TrialSlot::Existing(t) => Some(t),
    };
    let repeat = trial.is_some();
    // Another call is creating this one's app right now: wait a little for it.
    for _ in 0..40 {
        match &trial {
            Some(t) if t.app_id.is_none() => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                trial = trials::trial_for(svc, &project, &env_var).await?;
            }
            _ => break,
        }
    }
    let (app_id, app_name) = match trial.as_ref().and_then(|t| t.app_id.clone()) {
        Some(id) => (
            id,
            trial
                .as_ref()
                .and_then(|t| t.app_name.clone())
                .unwrap_or_default(),
        ),
        None if repeat => {
            return Err(ApiError::unavailable(
                format!("a trial database for {env_var} is being created; retry shortly"),
                5,
            ));
        }
        None => {
            let created = with_token(svc, &project, "a new Heroku app", |token| async move {
                svc.heroku.create_app(&token, None).await
            })
            .await;
            let app = match created {
                Ok(app) => app,
                Err(e) => {
                    trials::cancel_trial(svc, &project, &env_var).await?;
                    return Err(e.into());
                }
            };
            tracing::info!(app_id = %app.id, "trial app created");
            let (id, name) = (app.id.clone(), app.name.clone());
            trials::record_trial(svc, &project, &env_var, |t| {
                t.app_id = Some(id.clone());
                t.app_name = Some(name.clone());
            })
            .await?;
            (app.id, app.name)
        }
    };
    // Subscribe and link before the add-on exists, so the release that adds its config
    // var is delivered to us and writes the env var. Linking again is idempotent.
    let linked = linking::link(
        svc,
        &LinkRequest {
            project: project.clone(),
            env_var: env_var.clone(),
            app: app_id.clone(),
            config_var: ConfigVarName::parse(TRIAL_CONFIG_VAR).map_err(ApiError::from)?,
            sub: caller.sub,
            allow_missing: true,
            request_base: ctx.request_base(),
        },
    )
    .await?;
    let addon = match trial.as_ref().and_then(|t| t.addon_id.clone()) {
        Some(id) => json!({ "id": id, "plan": TRIAL_PLAN }),
        None => {
            let addon = with_token(svc, &project, "the trial app", |token| {
                let app_id = app_id.clone();
                async move { svc.heroku.create_addon(&token, &app_id, TRIAL_PLAN).await }
            })
            .await?;
            tracing::info!(app_id = %app_id, addon_id = %addon.id, "trial database provisioning");
            let id = addon.id.clone();
            trials::record_trial(svc, &project, &env_var, |t| t.addon_id = Some(id.clone()))
                .await?;
            json!({
                "id": addon.id,
                "name": addon.name,
                "plan": addon.plan.as_ref().and_then(|p| p.name.clone()).unwrap_or_else(|| TRIAL_PLAN.to_owned()),
                "state": addon.state,
            })
        }
    };
    Ok(http::json(
        if repeat { 200 } else { 201 },
        &json!({
            "app": { "id": app_id, "name": app_name },
            "addon": addon,
            "link": LinkView::from(&linked.link),
        }),
    ))
}
