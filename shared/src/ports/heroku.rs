//! Ports for Heroku: the Platform API calls the sync core makes, our app webhooks, and
//! the OAuth token endpoint.

use crate::heroku::{
    AccessToken, ConfigVars, HerokuError, Release, TokenGrant, Webhook, WebhookRequest,
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
