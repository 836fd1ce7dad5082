//! Linking an env var to a config var: the quota, the checks at Heroku, the link saved
//! with its directory entry, and the first sync.

use super::subscription::ensure_subscription;
use super::{LinkError, heroku_error, proven_token};
use crate::domain::{
    AppId, AppRecord, ConfigVarName, EnvVarName, HistoryEntry, HistoryKind, Link, LinkKey,
    LinkStatus, ProjectId,
};
use crate::heroku::AccessToken;
use crate::ports::{DirectoryEntry, Guard, Saved};
use crate::rmw::{self, Backoff, Edit, Updated};
use crate::services::Services;
use crate::sync::{SyncReport, SyncRequest, Target};
use std::time::Duration;

/// Refuses a link that would make more than `LINKS_PER_PROJECT` of the project's env vars
/// sync (re-linking one that already syncs is not a new one).
pub async fn check_link_quota(
    svc: &Services,
    project: &ProjectId,
    env_var: &EnvVarName,
) -> Result<(), LinkError> {
    let quota = svc.config.links_per_project;
    let entries = svc.store.directory(project).await?;
    if entries.len() < quota {
        return Ok(());
    }
    // Past the cheap bound: count the links that really sync (each reads its app).
    let mut active = 0;
    for entry in &entries {
        if entry_is_active(svc, entry).await? {
            if entry.env_var == *env_var {
                return Ok(());
            }
            active += 1;
        }
    }
    if active >= quota {
        return Err(LinkError::QuotaExceeded(format!(
            "this project already syncs {active} env vars, its quota (LINKS_PER_PROJECT); \
             opt out of one first, or ask the operator to raise it"
        )));
    }
    Ok(())
}

/// Whether the link behind a directory entry is active (syncing).
async fn entry_is_active(svc: &Services, entry: &DirectoryEntry) -> Result<bool, LinkError> {
    let key = LinkKey::new(&entry.project_id, &entry.env_var);
    Ok(svc
        .store
        .load_app(&entry.app_id)
        .await?
        .and_then(|r| r.links.get(&key).map(Link::is_active))
        .unwrap_or(false))
}

/// Where `env_var` of `project` is synced from right now, if anywhere.
pub async fn synced_from(
    svc: &Services,
    project: &ProjectId,
    env_var: &EnvVarName,
) -> Result<Option<DirectoryEntry>, LinkError> {
    match svc.store.directory_entry(project, env_var).await? {
        Some(entry) if entry_is_active(svc, &entry).await? => Ok(Some(entry)),
        _ => Ok(None),
    }
}

/// What a link request asks for.
#[derive(Clone, Debug)]
pub struct LinkRequest {
    pub project: ProjectId,
    pub env_var: EnvVarName,
    /// App id or name.
    pub app: String,
    pub config_var: ConfigVarName,
    pub sub: String,
    /// Link even though the config var does not exist yet (a database still provisioning).
    pub allow_missing: bool,
    /// The API's base URL as seen by the request, used when `PUBLIC_BASE_URL` is unset.
    pub request_base: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    Created,
    Unchanged,
    Reenabled,
}

/// The result of linking: what happened, the link as it now stands, and the first sync.
#[derive(Debug)]
pub struct Linked {
    pub outcome: LinkOutcome,
    pub link: Link,
    pub sync: SyncReport,
}

/// How long to keep retrying a save while a sync holds the app's lease.
const SAVE_BUDGET: Duration = Duration::from_secs(8);

/// Links `req.env_var` to `req.config_var` of `req.app`, subscribes to the app's
/// releases, and writes the current value at once.
pub async fn link(svc: &Services, req: &LinkRequest) -> Result<Linked, LinkError> {
    // The first call proves the token: a 401 (revoked early, or expired sooner than it
    // said) refreshes it once, and every later call of this request uses the one that
    // worked. Without this a stale token answered "reconnect" to a grant still good.
    let (app, token) = proven_token(svc, &req.project, "the Heroku app", |token| {
        let heroku = svc.heroku.clone();
        let name = req.app.clone();
        async move { heroku.app(&token, &name).await }
    })
    .await?;
    let app_id = AppId::parse(&app.id).map_err(|e| LinkError::Internal(e.to_string()))?;
    let newest = svc
        .heroku
        .newest_release(&token, app_id.as_str())
        .await
        .map_err(|e| heroku_error(e, "the Heroku app"))?
        .map(|r| r.version);
    if !req.allow_missing {
        // Only what one of the app's Postgres add-ons provides (what GET …/databases
        // lists for it). The trial database (allow_missing) links the add-on it creates.
        let (addons, attachments) =
            tokio::join!(svc.heroku.addons(&token), svc.heroku.attachments(&token));
        let addons = addons.map_err(|e| heroku_error(e, "the Heroku account"))?;
        let attachments = attachments.map_err(|e| heroku_error(e, "the Heroku account"))?;
        let provided = crate::heroku::databases(&addons, &attachments)
            .into_iter()
            .filter(|d| d.app.id == app.id)
            .any(|d| d.config_vars.iter().any(|v| v == req.config_var.as_str()));
        if !provided {
            return Err(LinkError::NotAnAddonConfigVar(format!(
                "config var {} of app {} is not set by one of its Heroku Postgres add-ons; \
                 only database credentials can be synced (GET …/databases lists them)",
                req.config_var, app.name
            )));
        }
        let vars = svc
            .heroku
            .config_vars(&token, app_id.as_str(), newest)
            .await
            .map_err(|e| heroku_error(e, "the Heroku app"))?;
        if !vars.contains(req.config_var.as_str()) {
            return Err(LinkError::Unprocessable(format!(
                "config var {} does not exist on app {}",
                req.config_var, app.name
            )));
        }
    }
    let linked = save_link(svc, req, &token, &app_id, &app.name).await?;
    // The newest release is read again now that the subscription and the link exist: a
    // rotation after the read above but before the subscription was delivered to nobody,
    // and syncing to the release read above would miss it (one more Heroku call).
    let target = Target::Newest;
    let report = svc
        .sync
        .sync(&SyncRequest {
            app_id: app_id.clone(),
            target,
            only: Some(LinkKey::new(&req.project, &req.env_var)),
            released_at: None,
            delivery_id: None,
            repair: None,
        })
        .await?;
    let link = svc
        .store
        .load_link(&app_id, &LinkKey::new(&req.project, &req.env_var))
        .await?
        .ok_or_else(|| LinkError::Internal("link vanished".into()))?;
    Ok(Linked {
        outcome: linked,
        link,
        sync: report,
    })
}

/// Creates or re-enables the link and makes sure the app has our subscription.
pub async fn save_link(
    svc: &Services,
    req: &LinkRequest,
    token: &AccessToken,
    app_id: &AppId,
    app_name: &str,
) -> Result<LinkOutcome, LinkError> {
    let key = LinkKey::new(&req.project, &req.env_var);
    let entry = DirectoryEntry {
        project_id: req.project.clone(),
        env_var: req.env_var.clone(),
        app_id: app_id.clone(),
        config_var: req.config_var.clone(),
    };
    // An env var synced from another source is a conflict unless that sync is off.
    // `replaces`: the directory entry must be overwritten; `moves_from`: the link also
    // leaves another app's record (never when only the config var changes).
    let mut replaces: Option<DirectoryEntry> = None;
    let mut moves_from: Option<AppId> = None;
    if let Some(existing) = svc
        .store
        .directory_entry(&req.project, &req.env_var)
        .await?
        && (existing.app_id != *app_id || existing.config_var != req.config_var)
    {
        if entry_is_active(svc, &existing).await? {
            return Err(LinkError::Conflict(format!(
                "{} is already synced from {} of another app; opt out of that sync first",
                req.env_var, existing.config_var
            )));
        }
        if existing.app_id != *app_id {
            moves_from = Some(existing.app_id.clone());
        }
        replaces = Some(existing);
    }

    // Read once for the subscription and reused by the first save below: an app with a
    // thousand links is a partition of a thousand items, and a conflict reloads anyway.
    let mut read = Some(svc.store.load_app(app_id).await?);
    let existing_sub = read
        .as_ref()
        .and_then(|r| r.as_ref())
        .and_then(|r| r.subscription.clone());
    let subscription = ensure_subscription(svc, req, token, app_id, existing_sub).await?;

    // Not `rmw::update_app`: the record may not exist yet (it is created under
    // `Guard::New`), it is saved together with the directory entry, and a conflict may mean
    // the env var was linked elsewhere meanwhile, which is an answer rather than a retry.
    let mut retry = Backoff::Within(SAVE_BUDGET).start();
    let outcome = loop {
        let now = svc.clock.now();
        let current = match read.take() {
            Some(current) => current,
            None => svc.store.load_app(app_id).await?,
        };
        let guard = match &current {
            None => Guard::New,
            Some(r) => Guard::Unleased {
                generation: r.generation,
                now_ms: svc.clock.now_ms(),
            },
        };
        let mut record = current.unwrap_or_else(|| AppRecord::new(app_id.clone(), app_name));
        record.app_name = app_name.to_owned();
        record.subscription = Some(subscription.clone());
        // The guard below proves any lease left on the record has expired.
        record.set_lease(None);
        let outcome = match record.links.get(&key) {
            Some(l) if l.is_active() && l.config_var == req.config_var => LinkOutcome::Unchanged,
            Some(_) => LinkOutcome::Reenabled,
            None => LinkOutcome::Created,
        };
        if outcome != LinkOutcome::Unchanged {
            let mut link = record.links.remove(&key).unwrap_or_else(|| Link {
                project_id: req.project.clone(),
                env_var: req.env_var.clone(),
                app_id: app_id.clone(),
                app_name: app_name.to_owned(),
                config_var: req.config_var.clone(),
                status: LinkStatus::Active,
                fingerprint: None,
                last_release_version: None,
                writing_version: None,
                last_synced_at: None,
                last_checked_at: None,
                last_delivery_at: None,
                last_repair: None,
                last_error: None,
                linked_at: now,
                linked_by: req.sub.clone(),
                history: vec![],
            });
            // Forget what was synced before: re-enabling writes the newest value even if
            // the secret was edited meanwhile. But the secret may still hold the release
            // synced before the opt-out: keep it as the floor (the write-ahead's
            // `writing_version`), so a late delivery of an older release can never write
            // over it (the simulation found that: seed 87). Versions are the app's, and a
            // link only comes back in its own app's record.
            link.status = LinkStatus::Active;
            link.config_var = req.config_var.clone();
            link.app_name = app_name.to_owned();
            link.fingerprint = None;
            link.writing_version = link.writing_version.max(link.last_release_version);
            link.last_release_version = None;
            link.last_error = None;
            link.linked_at = now;
            link.linked_by = req.sub.clone();
            link.record(HistoryEntry {
                at: now,
                kind: HistoryKind::Linked,
                release_version: None,
                detail: Some(format!("linked to {} of {}", req.config_var, app_name)),
            });
            record.links.insert(key.clone(), link);
        }
        match svc
            .store
            .save_app_with_entry(&record, guard, &entry, replaces.as_ref())
            .await?
        {
            Saved::Ok { .. } => break outcome,
            Saved::Conflict => {
                // Either a sync holds the lease, or someone linked this env var meanwhile.
                if let Some(e) = svc
                    .store
                    .directory_entry(&req.project, &req.env_var)
                    .await?
                    && (e.app_id != *app_id || e.config_var != req.config_var)
                    && replaces.as_ref() != Some(&e)
                {
                    return Err(LinkError::Conflict(format!(
                        "{} was just linked elsewhere",
                        req.env_var
                    )));
                }
                if !retry.again().await {
                    return Err(LinkError::Unavailable(
                        "the app is busy syncing; try again".into(),
                    ));
                }
            }
        }
    };
    if let Some(old_app) = moves_from {
        detach(svc, &old_app, &key).await?;
    }
    Ok(outcome)
}

/// Removes a link that moved to another app from its old app's record.
async fn detach(svc: &Services, app: &AppId, key: &LinkKey) -> Result<(), LinkError> {
    let updated = rmw::update_app(
        svc.store.as_ref(),
        svc.clock.as_ref(),
        app,
        Backoff::Tries(20),
        |record, _| match record.links.remove(key) {
            Some(_) => Edit::Save(()),
            None => Edit::Keep(()),
        },
    )
    .await?;
    match updated {
        Updated::Done(()) | Updated::Absent => Ok(()),
        Updated::Exhausted => Err(LinkError::Unavailable(
            "could not detach the old link; try again".into(),
        )),
    }
}
