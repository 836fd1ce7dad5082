//! Ports for Heroku: the Platform API calls the sync core makes, our app webhooks, the
//! calls linking and connecting make (apps, add-ons, authorizations), and the OAuth token
//! endpoint. [`Heroku`] is all of them: what a use case holds.

use crate::heroku::{
    AccessToken, Account, Addon, App, Attachment, Authorization, ConfigVars, HerokuError, Release,
    TokenGrant, Webhook, WebhookRequest,
};
use async_trait::async_trait;
use secrecy::SecretString;

/// The part of the Heroku Platform API the sync core needs.
#[async_trait]
pub trait HerokuApi: Send + Sync {
    /// Config vars of `app` (id or name), as of `release` when given, else current.
    async fn config_vars(
        &self,
        token: &AccessToken,
        app: &str,
        release: Option<u64>,
    ) -> Result<ConfigVars, HerokuError>;

    /// The app's newest succeeded release, in one call.
    async fn newest_release(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Option<Release>, HerokuError>;

    /// What Heroku last said is left of the rate-limit pool of `token`'s account
    /// (`RateLimit-Remaining`), if any call with it has been answered.
    fn rate_limit_remaining_for(&self, _token: &AccessToken) -> Option<u32> {
        None
    }
}

/// Heroku's app webhooks: our subscription to an app's releases.
#[async_trait]
pub trait HerokuWebhooks: Send + Sync {
    /// One webhook; `None` when Heroku no longer has it.
    async fn webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, HerokuError>;

    async fn list_webhooks(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Vec<Webhook>, HerokuError>;

    async fn create_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError>;

    async fn update_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError>;

    /// Deletes a webhook; one already gone counts as deleted.
    async fn delete_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<(), HerokuError>;
}

/// Heroku's OAuth token endpoint.
#[async_trait]
pub trait HerokuOAuth: Send + Sync {
    async fn exchange_code(
        &self,
        code: &str,
        client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError>;

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError>;
}

/// The Platform API calls linking, connecting and disconnecting make: finding an app and
/// its databases, creating a trial database, and our OAuth authorizations.
#[async_trait]
pub trait HerokuPlatform: Send + Sync {
    /// The token's account (who approved the grant).
    async fn account(&self, token: &AccessToken) -> Result<Account, HerokuError>;

    /// One app, by id or name.
    async fn app(&self, token: &AccessToken, app: &str) -> Result<App, HerokuError>;

    /// Every add-on the token's account can see.
    async fn addons(&self, token: &AccessToken) -> Result<Vec<Addon>, HerokuError>;

    /// Every add-on attachment the token's account can see (a database's config vars).
    async fn attachments(&self, token: &AccessToken) -> Result<Vec<Attachment>, HerokuError>;

    /// A new app, named by Heroku when `name` is `None`.
    async fn create_app(&self, token: &AccessToken, name: Option<&str>)
    -> Result<App, HerokuError>;

    /// A new add-on of `plan` on `app`.
    async fn create_addon(
        &self,
        token: &AccessToken,
        app: &str,
        plan: &str,
    ) -> Result<Addon, HerokuError>;

    /// The OAuth authorizations of the token's account.
    async fn authorizations(&self, token: &AccessToken) -> Result<Vec<Authorization>, HerokuError>;

    /// Revokes an authorization; one already revoked counts as revoked.
    async fn delete_authorization(&self, token: &AccessToken, id: &str) -> Result<(), HerokuError>;
}

/// Every Heroku call a use case makes: what `Services` holds.
pub trait Heroku: HerokuApi + HerokuWebhooks + HerokuOAuth + HerokuPlatform {}

impl<T: HerokuApi + HerokuWebhooks + HerokuOAuth + HerokuPlatform> Heroku for T {}
