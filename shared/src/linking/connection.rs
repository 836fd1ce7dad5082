//! Recording a project's Heroku connection: who a fresh grant is, revoking the grant it
//! replaces, and the integration that records it.

use super::{LinkError, heroku_error};
use crate::domain::{Integration, IntegrationStatus, ProjectId};
use crate::heroku::{AccessToken, TokenGrant};
use crate::rmw::{self, Backoff, Edit, Updated};
use crate::services::Services;
use crate::tokens::StoredTokens;
use secrecy::ExposeSecret;

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
