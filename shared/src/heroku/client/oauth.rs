//! Heroku's OAuth token endpoint (id.heroku.com): exchanging a code, refreshing a grant.

use super::*;
use crate::ports::HerokuOAuth;
use async_trait::async_trait;
use reqwest::header;
use secrecy::{ExposeSecret, SecretString};

impl HerokuClient {
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenGrant, HerokuError> {
        let url = format!("{}/oauth/token", self.id_url);
        let resp = self
            .http
            .post(&url)
            .header(header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(transport_error)?;
        tracing::debug!(target: "heroku", status = resp.status().as_u16(), "oauth token call");
        if !resp.status().is_success() {
            return Err(error_from(resp).await);
        }
        decode(resp).await
    }
}

#[async_trait]
impl HerokuOAuth for HerokuClient {
    async fn exchange_code(
        &self,
        code: &str,
        client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_secret", client_secret.expose_secret()),
        ])
        .await
    }

    async fn refresh(
        &self,
        refresh_token: &SecretString,
        client_secret: &SecretString,
    ) -> Result<TokenGrant, HerokuError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_secret", client_secret.expose_secret()),
        ])
        .await
    }
}
