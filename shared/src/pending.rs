//! The confirm step (docs/contract.md, the callback and `POST …/integrations/heroku/confirm`
//! routes). The OAuth callback trusts its state, which proves who *started* a connect but
//! not who approved it at Heroku: someone could start a connect on their project and get
//! another person to approve the consent screen. So the callback only holds the grant
//! *pending* ([`hold`]) and hands the browser a single-use confirmation; the grant becomes
//! the project's connection only when the user who started the connect presents it
//! ([`confirm`]) within ten minutes, with their own platform token (RFC 9700: the grant
//! is bound to the user who started the flow). A grant never confirmed is revoked at
//! Heroku and its tokens deleted by the reconciler ([`expire`]).
//!
//! Tokens are only ever in Secrets Manager (`{SECRET_PREFIX}/heroku-tokens/pending/…`);
//! the table holds the grant's account, authorization, owner and expiry under the SHA-256
//! of the confirmation, never the confirmation itself.

use crate::access::{Caller, Denied};
use crate::domain::{Integration, ProjectId};
use crate::heroku::{AccessToken, HerokuError, TokenGrant};
use crate::linking::{self, GrantIdentity, LinkError};
use crate::ports::{HerokuOAuth, PendingGrant};
use crate::services::Services;
use crate::tokens::StoredTokens;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// How long a confirmation stays valid (docs/contract.md: 10 minutes).
pub const CONFIRM_TTL_S: i64 = 600;

/// How long past its expiry the reconciler leaves a pending grant alone: a confirm whose
/// clock runs behind the reconciler's may still take it until then.
pub const EXPIRY_MARGIN_S: i64 = 60;

/// SHA-256 of a confirmation, hex: the pending grant's key.
pub fn hash(confirmation: &str) -> String {
    hex::encode(Sha256::digest(confirmation.as_bytes()))
}

/// 244 random bits (two v4 UUIDs), hex: unguessable and URL-safe, like the OAuth state.
fn new_confirmation() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Holds a freshly exchanged grant pending for `sub`, who started the connect of
/// `project`: its tokens into a secret of their own, its identity into the table.
/// Returns the confirmation the browser takes back to the console. Nothing of the
/// project changes. If it cannot be held, the grant is revoked at once (best effort).
pub async fn hold(
    svc: &Services,
    project: &ProjectId,
    sub: &str,
    grant: &TokenGrant,
) -> Result<String, LinkError> {
    let token = AccessToken::new(grant.access_token.expose_secret());
    let identity = linking::identify_grant(svc, &token).await?;
    let now = svc.clock.now().unix_timestamp();
    let mut tokens = StoredTokens::from_grant(grant, now, None);
    tokens.authorization_id = identity.authorization_id.clone();
    tokens.heroku_user_id = Some(identity.account_id.clone());
    let confirmation = new_confirmation();
    let pending = PendingGrant {
        confirmation_hash: hash(&confirmation),
        project_id: project.clone(),
        sub: sub.to_owned(),
        heroku_user_id: identity.account_id.clone(),
        heroku_email: identity.email.clone(),
        authorization_id: identity.authorization_id.clone(),
        token_secret: svc
            .names
            .pending_heroku_tokens(&uuid::Uuid::new_v4().simple().to_string()),
        expires_at: now + CONFIRM_TTL_S,
    };
    if let Err(e) = svc
        .vault
        .write(&pending.token_secret, &tokens.to_secret(), None)
        .await
    {
        revoke_now(svc, &token, pending.authorization_id.as_deref()).await;
        return Err(LinkError::Unavailable(e.to_string()));
    }
    if let Err(e) = svc.store.put_pending(&pending).await {
        revoke_now(svc, &token, pending.authorization_id.as_deref()).await;
        if let Err(e) = svc.vault.delete(&pending.token_secret).await {
            tracing::warn!(error = %e, "could not delete an unheld grant's tokens");
        }
        return Err(e.into());
    }
    tracing::info!(project = %project, "Heroku grant held until its owner confirms");
    Ok(confirmation)
}

/// A grant that could not be held: revoked now, with its own token, best effort.
async fn revoke_now(svc: &Services, token: &AccessToken, authorization_id: Option<&str>) {
    let Some(id) = authorization_id else {
        tracing::warn!("an unheld grant has no known authorization id; it was not revoked");
        return;
    };
    match svc.heroku.delete_authorization(token, id).await {
        Ok(()) => tracing::info!("an unheld grant was revoked"),
        Err(e) => tracing::warn!(error = %e, "could not revoke an unheld grant"),
    }
}

/// Why a confirmation was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Unknown, already used, expired or another project's: HTTP 400 `invalid_confirmation`.
    #[error("this confirmation is unknown, already used or expired; connect Heroku again")]
    Invalid,
    /// Presented by someone other than the user who started the connect, or by someone
    /// who may no longer connect (HTTP 403 `not_project_owner`; a store failure while
    /// checking is `Denied::Store`).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The store failed: answered as every route answers a store failure.
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// The confirm step: `caller` presents `confirmation` for `project`. Only the user who
/// started the connect may (403 `not_project_owner` for anyone else, the grant staying
/// theirs to confirm); an unknown, used or expired one is 400 `invalid_confirmation`.
/// Taking the grant is one conditional delete, so it is used once; then it becomes the
/// project's connection exactly as a direct connect would make it.
pub async fn confirm(
    svc: &Services,
    project: &ProjectId,
    caller: &Caller,
    confirmation: &str,
) -> Result<Integration, ConfirmError> {
    let hash = hash(confirmation);
    let now = svc.clock.now().unix_timestamp();
    let Some(pending) = svc.store.load_pending(&hash).await? else {
        return Err(ConfirmError::Invalid);
    };
    // Another project's confirmation is as good as unknown here.
    if pending.project_id != *project || pending.expires_at <= now {
        return Err(ConfirmError::Invalid);
    }
    if pending.sub != caller.sub {
        tracing::warn!(project = %project, "a confirmation presented by someone other than the user who started the connect");
        return Err(Denied::NotProjectOwner(
            "only the user who started this connect may confirm it",
        )
        .into());
    }
    // Still the project's owner, and nobody else pinned meanwhile (a transfer).
    crate::access::may_connect(svc.store.as_ref(), project, caller).await?;
    let tokens = match svc.vault.read(&pending.token_secret).await {
        Ok(Some(secret)) => StoredTokens::parse(&secret).map_err(LinkError::from)?,
        Ok(None) => return Err(ConfirmError::Invalid),
        Err(e) => return Err(LinkError::Unavailable(e.to_string()).into()),
    };
    let Some(pending) = svc
        .store
        .take_pending(&hash, project, &caller.sub, now)
        .await?
    else {
        return Err(ConfirmError::Invalid);
    };
    // What a previous connection left to clean up is revoked with its own token before
    // the new tokens replace it.
    crate::optout::run_cleanup(svc, project).await;
    let identity = GrantIdentity {
        account_id: pending.heroku_user_id.clone(),
        email: pending.heroku_email.clone(),
        authorization_id: pending.authorization_id.clone(),
    };
    match linking::connect_grant(svc, project, &pending.sub, &tokens, &identity).await {
        Ok(integration) => {
            tracing::info!(project = %project, "Heroku connected (confirmed)");
            if let Err(e) = svc.vault.delete(&pending.token_secret).await {
                // The grant is the connection now; only the pending copy of its tokens is
                // left. Retired (expired now), the reconciler deletes it and, seeing the
                // grant in use, revokes nothing.
                tracing::warn!(error = %e, "the pending copy of the tokens is left to the reconciler");
                let retired = PendingGrant {
                    expires_at: now.min(pending.expires_at),
                    ..pending
                };
                if let Err(e) = svc.store.put_pending(&retired).await {
                    tracing::error!(error = %e, "a pending token secret was orphaned");
                }
            }
            Ok(integration)
        }
        Err(e) => {
            // Put back as it was: the owner may retry while it lasts, and after that the
            // reconciler revokes it.
            if let Err(e) = svc.store.put_pending(&pending).await {
                tracing::error!(error = %e, "a pending grant could not be put back; it will not be revoked");
            }
            Err(e.into())
        }
    }
}

/// What [`expire`] did with one pending grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expired {
    /// Revoked (unless in use), tokens and item deleted; or already gone.
    Done,
    /// Not expired yet (the index lags, or clocks differ): left alone.
    NotYet,
    /// A transient failure: left for the next pass.
    Later(String),
}

/// Whether a pending grant expiring at `expires_at` may be expired at `now_s`.
pub fn is_expired(expires_at: i64, now_s: i64) -> bool {
    expires_at + EXPIRY_MARGIN_S <= now_s
}

/// Ends a pending grant past its expiry (the reconciler's part): revokes it at Heroku with
/// its own token unless it is the project's connection (a confirm whose last step failed
/// hands such grants over), deletes its token secret, then its item. Idempotent: each
/// step is safe to repeat, and a transient failure leaves the item for the next pass.
pub async fn expire(svc: &Services, hash: &str) -> Expired {
    let now = svc.clock.now().unix_timestamp();
    let pending = match svc.store.load_pending(hash).await {
        Ok(Some(p)) => p,
        Ok(None) => return Expired::Done,
        Err(e) => return Expired::Later(e.to_string()),
    };
    if !is_expired(pending.expires_at, now) {
        return Expired::NotYet;
    }
    let project = &pending.project_id;
    match pending.authorization_id.as_deref() {
        Some(id) => {
            let in_use = match svc.store.load_integration(project).await {
                Ok(i) => i.is_some_and(|i| i.authorization_id.as_deref() == Some(id)),
                Err(e) => return Expired::Later(e.to_string()),
            };
            if !in_use {
                match svc.vault.read(&pending.token_secret).await {
                    Ok(Some(secret)) => {
                        let tokens = match StoredTokens::parse(&secret) {
                            Ok(t) => t,
                            Err(e) => return Expired::Later(e.to_string()),
                        };
                        if let Err(why) = revoke(svc, &tokens, id).await {
                            return Expired::Later(why);
                        }
                        tracing::info!(project = %project, "a grant never confirmed was revoked");
                    }
                    // Deleted by an earlier attempt, which revoked first.
                    Ok(None) => {}
                    Err(e) => return Expired::Later(e.to_string()),
                }
            }
        }
        None => {
            tracing::warn!(project = %project, "a grant never confirmed has no known authorization id; its tokens are deleted unrevoked")
        }
    }
    if let Err(e) = svc.vault.delete(&pending.token_secret).await {
        return Expired::Later(e.to_string());
    }
    if let Err(e) = svc.store.delete_pending(hash).await {
        return Expired::Later(e.to_string());
    }
    Expired::Done
}

/// Revokes authorization `id` with the grant's own tokens: its access token, or, when that
/// has expired (the reconciler was down for hours), a fresh one from its refresh token.
/// `Err` only for a transient failure; a grant Heroku says is gone counts as revoked.
async fn revoke(svc: &Services, tokens: &StoredTokens, id: &str) -> Result<(), String> {
    let token = AccessToken::new(&tokens.access_token);
    let refused = match svc.heroku.delete_authorization(&token, id).await {
        Ok(()) => return Ok(()),
        Err(HerokuError::Unauthorized) => HerokuError::Unauthorized,
        Err(e) if e.is_transient() => return Err(e.to_string()),
        // 403/404: not ours to revoke any more, or gone.
        Err(_) => return Ok(()),
    };
    let Some(refresh) = tokens.refresh_token.as_deref() else {
        tracing::info!(error = %refused, "a pending grant's token is refused and there is no refresh token: taken as revoked");
        return Ok(());
    };
    let client_secret = svc
        .tokens
        .client_secret()
        .await
        .map_err(|e| e.to_string())?;
    let fresh = match HerokuOAuth::refresh(
        &*svc.heroku,
        &SecretString::from(refresh.to_owned()),
        &client_secret,
    )
    .await
    {
        Ok(g) => g,
        // The refresh token is refused: the grant is gone already (RFC 6749 5.2).
        Err(HerokuError::Rejected { id, .. }) if id == "invalid_grant" => {
            tracing::info!("a pending grant's refresh token is refused: taken as revoked");
            return Ok(());
        }
        // A transient failure, or our OAuth client refused (the operator must fix it):
        // the grant may be alive, so its tokens stay until it can be revoked.
        Err(e) => return Err(e.to_string()),
    };
    let token = AccessToken::new(fresh.access_token.expose_secret());
    match svc.heroku.delete_authorization(&token, id).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_transient() => Err(e.to_string()),
        Err(_) => Ok(()),
    }
}
