//! The Platform API calls this service makes (account, apps, add-ons, webhooks,
//! authorizations, releases, config vars), each written once, as the port it implements.

use super::*;
use crate::ports::{HerokuApi, HerokuPlatform, HerokuWebhooks};
use async_trait::async_trait;
use reqwest::Method;

#[async_trait]
impl HerokuApi for HerokuClient {
    fn rate_limit_remaining_for(&self, token: &AccessToken) -> Option<u32> {
        let per_token = self.per_token.lock().unwrap_or_else(|p| p.into_inner());
        per_token.get(&token_key(token)).copied()
    }

    async fn config_vars(
        &self,
        token: &AccessToken,
        app: &str,
        release: Option<u64>,
    ) -> Result<ConfigVars, HerokuError> {
        let app = app_ref(app)?;
        let path = match release {
            Some(v) => format!("/apps/{app}/releases/{v}/config-vars"),
            None => format!("/apps/{app}/config-vars"),
        };
        self.get(token, &path).await
    }

    async fn newest_release(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Option<Release>, HerokuError> {
        let path = format!("/apps/{}/releases", app_ref(app)?);
        let resp = self
            .send(
                Method::GET,
                &path,
                token,
                Some("version ..; max=10, order=desc"),
                None,
            )
            .await?;
        // The newest release may still be pending (a release phase running) or have
        // failed: its config vars are not what the app runs. Ten is one page and more
        // failed releases in a row than anyone leaves unattended.
        let releases: Vec<Release> = decode(resp).await?;
        Ok(releases
            .into_iter()
            .find(|r| r.status.as_deref().is_none_or(|s| s == "succeeded")))
    }
}

#[async_trait]
impl HerokuWebhooks for HerokuClient {
    /// One webhook; `None` when Heroku no longer has it.
    async fn webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<Option<Webhook>, HerokuError> {
        let path = format!("/apps/{}/webhooks/{}", app_ref(app)?, app_ref(webhook_id)?);
        match self.get(token, &path).await {
            Ok(w) => Ok(Some(w)),
            Err(HerokuError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_webhooks(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Vec<Webhook>, HerokuError> {
        self.list(token, &format!("/apps/{}/webhooks", app_ref(app)?), "id")
            .await
    }

    async fn create_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        let path = format!("/apps/{}/webhooks", app_ref(app)?);
        decode(
            self.send(Method::POST, &path, token, None, Some(request))
                .await?,
        )
        .await
    }

    async fn update_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        let path = format!("/apps/{}/webhooks/{}", app_ref(app)?, app_ref(webhook_id)?);
        decode(
            self.send(Method::PATCH, &path, token, None, Some(request))
                .await?,
        )
        .await
    }

    /// Deletes a webhook; one that is already gone counts as deleted.
    async fn delete_webhook(
        &self,
        token: &AccessToken,
        app: &str,
        webhook_id: &str,
    ) -> Result<(), HerokuError> {
        let path = format!("/apps/{}/webhooks/{}", app_ref(app)?, app_ref(webhook_id)?);
        match self.send(Method::DELETE, &path, token, None, None).await {
            Ok(_) | Err(HerokuError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl HerokuPlatform for HerokuClient {
    async fn account(&self, token: &AccessToken) -> Result<Account, HerokuError> {
        self.get(token, "/account").await
    }

    async fn app(&self, token: &AccessToken, app: &str) -> Result<App, HerokuError> {
        self.get(token, &format!("/apps/{}", app_ref(app)?)).await
    }

    async fn addons(&self, token: &AccessToken) -> Result<Vec<Addon>, HerokuError> {
        self.list(token, "/addons", "id").await
    }

    async fn attachments(&self, token: &AccessToken) -> Result<Vec<Attachment>, HerokuError> {
        self.list(token, "/addon-attachments", "id").await
    }

    async fn create_app(
        &self,
        token: &AccessToken,
        name: Option<&str>,
    ) -> Result<App, HerokuError> {
        let body = serde_json::json!({ "name": name });
        let body = if name.is_some() {
            body
        } else {
            serde_json::json!({})
        };
        decode(
            self.send(Method::POST, "/apps", token, None, Some(&body))
                .await?,
        )
        .await
    }

    async fn create_addon(
        &self,
        token: &AccessToken,
        app: &str,
        plan: &str,
    ) -> Result<Addon, HerokuError> {
        let body = serde_json::json!({ "plan": plan });
        let path = format!("/apps/{}/addons", app_ref(app)?);
        decode(
            self.send(Method::POST, &path, token, None, Some(&body))
                .await?,
        )
        .await
    }

    async fn authorizations(&self, token: &AccessToken) -> Result<Vec<Authorization>, HerokuError> {
        self.list(token, "/oauth/authorizations", "id").await
    }

    /// Revokes an authorization; one already revoked counts as revoked.
    async fn delete_authorization(&self, token: &AccessToken, id: &str) -> Result<(), HerokuError> {
        let path = format!("/oauth/authorizations/{}", app_ref(id)?);
        match self.send(Method::DELETE, &path, token, None, None).await {
            Ok(_) | Err(HerokuError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
