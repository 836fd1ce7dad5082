//! Connecting and linking, as the connect function does them: record a project's Heroku
//! connection, subscribe to an app's releases, link an env var and sync it at once.

use crate::domain::{
    AppId, AppRecord, ConfigVarName, EnvVarName, HistoryEntry, HistoryKind, Integration,
    IntegrationStatus, Link, LinkKey, LinkStatus, ProjectId, Subscription,
};
use crate::heroku::{AccessToken, HerokuError, TokenGrant, WebhookRequest};
use crate::http::ApiError;
use crate::ports::{AppStore, DirectoryEntry, Guard, HerokuApi, ReconcileIndex, Saved, StoreError};
use crate::rmw::{self, Backoff, Edit, Updated};
use crate::services::Services;
use crate::signing::KeyError;
use crate::sync::{SyncError, SyncReport, SyncRequest, Target};
use crate::tokens::{StoredTokens, TokenError};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Why connecting or linking failed, by what the caller should hear.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("Heroku is not connected for this project; connect it first")]
    NotConnected,
    #[error("the Heroku authorization was revoked or has lapsed; reconnect Heroku")]
    Reconnect,
    #[error("{0}")]
    Unprocessable(String),
    /// The config var is not set by one of the app's Postgres add-ons: only database
    /// credentials are synced, never an arbitrary config var (an API key, say).
    #[error("{0}")]
    NotAnAddonConfigVar(String),
    /// A stack quota (links per project, trial databases per day) is used up.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Heroku is rate limiting this account")]
    RateLimited(Duration),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for LinkError {
    fn from(e: StoreError) -> Self {
        match e {
            // AWS's text stays in the log; the caller learns what to do.
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "DynamoDB unavailable");
                LinkError::Unavailable(
                    "DynamoDB is unavailable or throttling; retry in a few seconds".into(),
                )
            }
            other => LinkError::Internal(other.to_string()),
        }
    }
}

impl From<TokenError> for LinkError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::NotConnected => LinkError::NotConnected,
            TokenError::Revoked(_) => LinkError::Reconnect,
            TokenError::Transient(m) => {
                tracing::warn!(error = %m, "the Heroku token could not be used");
                LinkError::Unavailable(
                    "the Heroku grant cannot be used right now (its token is being refreshed, \
                     or Secrets Manager or Heroku is unavailable); retry in a few seconds"
                        .into(),
                )
            }
            e @ TokenError::ClientRejected(_) => LinkError::Unavailable(e.to_string()),
            TokenError::Internal(m) => LinkError::Internal(m),
        }
    }
}

impl From<KeyError> for LinkError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Vault(v) => {
                tracing::warn!(error = %v, "signing key unavailable");
                LinkError::Unavailable(
                    "Secrets Manager is unavailable; retry in a few seconds".into(),
                )
            }
            other => LinkError::Internal(other.to_string()),
        }
    }
}

impl From<SyncError> for LinkError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Transient { reason, .. } => LinkError::Unavailable(reason),
            SyncError::Internal(m) => LinkError::Internal(m),
        }
    }
}

/// Maps a Heroku failure; `what` names the thing asked for, for 404/403 messages.
pub fn heroku_error(e: HerokuError, what: &str) -> LinkError {
    match e {
        HerokuError::Unauthorized => LinkError::Reconnect,
        HerokuError::NotFound(_) | HerokuError::Forbidden(_) => LinkError::Unprocessable(format!(
            "{what} does not exist or the connected Heroku account cannot see it"
        )),
        HerokuError::RateLimited { retry_after } => {
            LinkError::RateLimited(retry_after.unwrap_or(Duration::from_secs(60)))
        }
        HerokuError::Rejected { message, .. } => {
            LinkError::Unprocessable(format!("Heroku refused: {message}"))
        }
        e => LinkError::Unavailable(e.to_string()),
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        let message = e.to_string();
        match e {
            LinkError::NotConnected | LinkError::Reconnect | LinkError::Conflict(_) => {
                ApiError::conflict(message)
            }
            LinkError::Unprocessable(_) => ApiError::unprocessable(message),
            LinkError::NotAnAddonConfigVar(_) => ApiError::not_an_addon_config_var(message),
            LinkError::QuotaExceeded(_) => ApiError::quota_exceeded(message),
            LinkError::RateLimited(wait) => ApiError::rate_limited(message, wait.as_secs()),
            LinkError::Unavailable(_) => ApiError::unavailable(message, 5),
            LinkError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::internal("internal error")
            }
        }
    }
}

/// Runs `call` with the project's Heroku token, refreshing it once if Heroku answers 401.
pub async fn with_token<T, F, Fut>(
    svc: &Services,
    project: &ProjectId,
    what: &str,
    call: F,
) -> Result<T, LinkError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, HerokuError>>,
{
    let token = svc.tokens.access_token(project).await?;
    match call(token.clone()).await {
        Ok(v) => Ok(v),
        Err(HerokuError::Unauthorized) => {
            let fresh = svc.tokens.refresh(project, &token).await?;
            call(fresh).await.map_err(|e| heroku_error(e, what))
        }
        Err(e) => Err(heroku_error(e, what)),
    }
}

/// A reconnect with *another* Heroku account leaves the previous account's grant alive
/// unless we revoke it now, with its own token, before the new tokens replace it. Best
/// effort: a failure is logged (the old grant then lapses only when its owner revokes it).
async fn revoke_replaced_account(svc: &Services, project: &ProjectId, new_account: &str) {
    let Ok(Some(old)) = svc.tokens.load(project).await else {
        return;
    };
    if old.heroku_user_id.as_deref() == Some(new_account) {
        return;
    }
    let Some(id) = old.authorization_id.as_deref() else {
        return;
    };
    let token = AccessToken::new(&old.access_token);
    match svc.heroku.delete_authorization(&token, id).await {
        Ok(()) => {
            tracing::info!(project = %project, "the previous account's Heroku authorization revoked")
        }
        Err(e) => {
            tracing::warn!(project = %project, error = %e, "could not revoke the previous account's Heroku authorization")
        }
    }
}

/// Who a fresh grant is: the Heroku account that approved it, and our authorization of
/// it (what revocation needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantIdentity {
    pub account_id: String,
    pub email: Option<String>,
    /// `None` when it could not be told apart; the grant then cannot be revoked.
    pub authorization_id: Option<String>,
}

/// Asks Heroku who a fresh grant's `token` belongs to, and which authorization it is.
pub async fn identify_grant(
    svc: &Services,
    token: &AccessToken,
) -> Result<GrantIdentity, LinkError> {
    let account = svc
        .heroku
        .account(token)
        .await
        .map_err(|e| heroku_error(e, "the Heroku account"))?;
    // The authorization's id is what revocation needs. Ours are the ones of our OAuth
    // client: the one holding this token when the list shows tokens (it need not), else
    // the newest, the grant just made (one Heroku user may have connected several projects).
    let client_id = svc.config.oauth_client_id().ok();
    let authorization_id = match svc.heroku.authorizations(token).await {
        Ok(list) => {
            let ours: Vec<_> = list
                .into_iter()
                .filter(|a| a.client.as_ref().and_then(|c| c.id.as_deref()) == client_id)
                .collect();
            let by_token = ours.iter().find(|a| {
                a.access_token.as_ref().and_then(|t| t.token.as_deref()) == Some(token.expose())
            });
            let newest = ours.iter().map(|a| &a.created_at).max();
            let mut newest_ones = ours.iter().filter(|a| Some(&a.created_at) == newest);
            // Two of ours made in the same second (created_at has second resolution) are
            // indistinguishable without tokens: better no id than another project's.
            let unique_newest = match (newest_ones.next(), newest_ones.next()) {
                (Some(a), None) => Some(a),
                _ => None,
            };
            let found = by_token.or(unique_newest).map(|a| a.id.clone());
            if found.is_none() {
                tracing::warn!(
                    "could not tell our authorization apart; revocation will not be possible"
                );
            }
            found
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not list authorizations; revocation will not be possible");
            None
        }
    };
    Ok(GrantIdentity {
        account_id: account.id,
        email: account.email,
        authorization_id,
    })
}

/// Makes a grant the project's connection: revokes a replaced account's grant, stores the
/// tokens under the project's token secret and records the account and authorization on
/// the integration, `owner_sub` pinned as the connected owner. The confirm step
/// (`crate::pending::confirm`) calls this; so does [`record_connection`].
pub async fn connect_grant(
    svc: &Services,
    project: &ProjectId,
    owner_sub: &str,
    tokens: &StoredTokens,
    identity: &GrantIdentity,
) -> Result<Integration, LinkError> {
    revoke_replaced_account(svc, project, &identity.account_id).await;
    let mut tokens = tokens.clone();
    tokens.authorization_id = identity.authorization_id.clone();
    tokens.heroku_user_id = Some(identity.account_id.clone());
    // Under the refresh lease: a refresh of the replaced grant cannot land after these.
    svc.tokens.store_replacing(project, &tokens).await?;
    let now = svc.clock.now();
    update_integration(svc, project, |integration| {
        integration.status = IntegrationStatus::Connected;
        integration.owner_sub = Some(owner_sub.to_owned());
        integration.heroku_user_id = Some(identity.account_id.clone());
        integration.heroku_email = identity.email.clone();
        integration.authorization_id = identity.authorization_id.clone();
        integration.connected_at = Some(now);
        integration.last_error = None;
        integration.refresh_owner = None;
        integration.refresh_until_ms = None;
    })
    .await
}

/// Connects `project` with a fresh grant at once, without the confirm step: for fixtures
/// and benches that need a connected project. The HTTP flow never does this: its callback
/// holds the grant pending until the user who started it confirms (docs/contract.md, the
/// callback and confirm routes; `crate::pending`).
pub async fn record_connection(
    svc: &Services,
    project: &ProjectId,
    owner_sub: &str,
    grant: &TokenGrant,
) -> Result<Integration, LinkError> {
    let token = AccessToken::new(grant.access_token.expose_secret());
    let identity = identify_grant(svc, &token).await?;
    let tokens = StoredTokens::from_grant(grant, svc.clock.now().unix_timestamp(), None);
    connect_grant(svc, project, owner_sub, &tokens, &identity).await
}

/// Read-modify-write of the integration (creating it if absent); returns it as saved.
pub(crate) async fn update_integration(
    svc: &Services,
    project: &ProjectId,
    mut change: impl FnMut(&mut Integration),
) -> Result<Integration, LinkError> {
    let updated =
        rmw::update_integration(svc.store.as_ref(), project, Backoff::Tries(20), |current| {
            change(current.get_or_insert_with(|| Integration::new(project.clone())));
            Edit::Save(())
        })
        .await?;
    match updated {
        Updated::Done((_, Some(saved))) => Ok(saved),
        Updated::Done((_, None)) | Updated::Absent => {
            Err(LinkError::Internal("the integration was not saved".into()))
        }
        Updated::Exhausted => Err(LinkError::Unavailable(
            "the integration kept changing; retry".into(),
        )),
    }
}

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

/// How old a cached signing key may be when a subscription is created with it.
const KEY_MAX_AGE: Duration = Duration::from_secs(300);

/// How long to keep retrying a save while a sync holds the app's lease.
const SAVE_BUDGET: Duration = Duration::from_secs(8);

/// Links `req.env_var` to `req.config_var` of `req.app`, subscribes to the app's
/// releases, and writes the current value at once.
pub async fn link(svc: &Services, req: &LinkRequest) -> Result<Linked, LinkError> {
    // The first call proves the token: a 401 (revoked early, or expired sooner than it
    // said) refreshes it once, and every later call of this request uses the one that
    // worked. Without this a stale token answered "reconnect" to a grant still good.
    let cached = svc.tokens.access_token(&req.project).await?;
    let (app, token) = match svc.heroku.app(&cached, &req.app).await {
        Ok(app) => (app, cached),
        Err(HerokuError::Unauthorized) => {
            let fresh = svc.tokens.refresh(&req.project, &cached).await?;
            let app = svc
                .heroku
                .app(&fresh, &req.app)
                .await
                .map_err(|e| heroku_error(e, "the Heroku app"))?;
            (app, fresh)
        }
        Err(e) => return Err(heroku_error(e, "the Heroku app")),
    };
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
    let record = svc
        .store
        .load_app(&app_id)
        .await?
        .ok_or_else(|| LinkError::Internal("app record vanished".into()))?;
    let link = record
        .links
        .get(&LinkKey::new(&req.project, &req.env_var))
        .cloned()
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

    let existing_sub = svc
        .store
        .load_app(app_id)
        .await?
        .and_then(|r| r.subscription);
    let subscription = ensure_subscription(svc, req, token, app_id, existing_sub).await?;

    // Not `rmw::update_app`: the record may not exist yet (it is created under
    // `Guard::New`), it is saved together with the directory entry, and a conflict may mean
    // the env var was linked elsewhere meanwhile, which is an answer rather than a retry.
    let mut retry = Backoff::Within(SAVE_BUDGET).start();
    let outcome = loop {
        let now = svc.clock.now();
        let current = svc.store.load_app(app_id).await?;
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

/// Our webhook subscription on the app: the recorded one if Heroku still has it, else one
/// Heroku has for our URL (adopted, its secret set to ours), else a new one.
async fn ensure_subscription(
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
        .webhooks(token, app_id.as_str())
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
