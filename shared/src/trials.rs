//! The trial database's bookkeeping on the integration: reserved before anything is made
//! at Heroku, its app and add-on recorded as they are created, so a retry or a double
//! submit continues the same trial, and the daily quota counts them.

use crate::domain::{EnvVarName, ProjectId, Trial};
use crate::linking::{LinkError, update_integration};
use crate::services::Services;

/// What reserving a trial database found.
pub enum TrialSlot {
    /// Nothing for this env var today: reserved (counted against the daily quota).
    New,
    /// One for this env var already started today: continue it (a retry after a failure,
    /// or a double submit) instead of making another app.
    Existing(Trial),
}

/// How long a reservation without an app stays another call's to finish.
const TRIAL_CREATING_S: i64 = 120;
const DAY_S: i64 = 86_400;

/// The trial database of `env_var` started today, if any.
pub async fn trial_for(
    svc: &Services,
    project: &ProjectId,
    env_var: &EnvVarName,
) -> Result<Option<Trial>, LinkError> {
    let now = svc.clock.now().unix_timestamp();
    Ok(svc.store.load_integration(project).await?.and_then(|i| {
        i.trials
            .into_iter()
            .find(|t| t.env_var == env_var.as_str() && now - t.started_at < DAY_S)
    }))
}

/// Reserves a trial database for `env_var` under the integration's read-modify-write, or
/// finds the one already started for it; refuses past the daily quota
/// (`TRIAL_DATABASES_PER_DAY`: each makes a Heroku app and a paid add-on on the owner's
/// account).
pub async fn reserve_trial_database(
    svc: &Services,
    project: &ProjectId,
    env_var: &EnvVarName,
) -> Result<TrialSlot, LinkError> {
    let now = svc.clock.now().unix_timestamp();
    let quota = svc.config.trial_databases_per_day;
    let mut slot = TrialSlot::New;
    let mut over = false;
    update_integration(svc, project, |i| {
        slot = TrialSlot::New;
        over = false;
        i.trials.retain(|t| now - t.started_at < DAY_S);
        if let Some(t) = i.trials.iter_mut().find(|t| t.env_var == env_var.as_str()) {
            if t.app_id.is_some() || now - t.started_at < TRIAL_CREATING_S {
                slot = TrialSlot::Existing(t.clone());
            } else {
                // A reservation whose maker died before creating the app: take it over.
                t.started_at = now;
            }
            return;
        }
        over = i.trials.len() >= quota;
        if !over {
            i.trials.push(Trial {
                env_var: env_var.as_str().to_owned(),
                started_at: now,
                app_id: None,
                app_name: None,
                addon_id: None,
            });
        }
    })
    .await?;
    if over {
        return Err(LinkError::QuotaExceeded(format!(
            "this project created {quota} trial databases in the last 24 hours, its quota \
             (TRIAL_DATABASES_PER_DAY); try again tomorrow"
        )));
    }
    Ok(slot)
}

/// Drops a reservation whose app could not be created, so a retry starts afresh at once.
pub async fn cancel_trial(
    svc: &Services,
    project: &ProjectId,
    env_var: &EnvVarName,
) -> Result<(), LinkError> {
    update_integration(svc, project, |i| {
        i.trials
            .retain(|t| t.env_var != env_var.as_str() || t.app_id.is_some());
    })
    .await
    .map(drop)
}

/// Records what a trial database has so far (its app, then its add-on).
pub async fn record_trial(
    svc: &Services,
    project: &ProjectId,
    env_var: &EnvVarName,
    record: impl Fn(&mut Trial),
) -> Result<(), LinkError> {
    update_integration(svc, project, |i| {
        if let Some(t) = i.trials.iter_mut().find(|t| t.env_var == env_var.as_str()) {
            record(t);
        }
    })
    .await
    .map(drop)
}
