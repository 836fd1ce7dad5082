//! Response and request shapes, lenient by design: every field we do not need is ignored,
//! and fields Heroku documents as nullable are `Option`.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;
use std::fmt;

/// An OAuth access token. Never printed.
pub struct AccessToken(SecretString);

impl AccessToken {
    pub fn new(token: impl Into<String>) -> Self {
        AccessToken(SecretString::from(token.into()))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl Clone for AccessToken {
    fn clone(&self) -> Self {
        AccessToken::new(self.expose())
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

/// An app's config vars: name to value. Values are secrets (they hold database URLs).
#[derive(Default)]
pub struct ConfigVars(HashMap<String, SecretString>);

impl ConfigVars {
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

impl FromIterator<(String, String)> for ConfigVars {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        ConfigVars(
            iter.into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        )
    }
}

impl fmt::Debug for ConfigVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl<'de> Deserialize<'de> for ConfigVars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A null value means "unset"; drop it rather than fail the whole response.
        let raw: HashMap<String, Option<String>> = HashMap::deserialize(d)?;
        Ok(raw
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct NamedRef {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct App {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Release {
    #[serde(default)]
    pub id: Option<String>,
    pub version: u64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServiceRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Addon {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub addon_service: Option<ServiceRef>,
    #[serde(default)]
    pub plan: Option<ServiceRef>,
    pub app: NamedRef,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config_vars: Vec<String>,
    #[serde(default)]
    pub state: Option<String>,
}

impl Addon {
    pub fn is_postgres(&self) -> bool {
        self.addon_service
            .as_ref()
            .and_then(|s| s.name.as_deref())
            .is_some_and(|n| n == "heroku-postgresql")
            || self
                .plan
                .as_ref()
                .and_then(|p| p.name.as_deref())
                .is_some_and(|n| n.starts_with("heroku-postgresql:"))
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct AttachmentAddon {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub app: Option<NamedRef>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Attachment {
    pub id: String,
    /// The attachment name; the config var it sets on `app` is `{name}_URL`.
    pub name: String,
    pub addon: AttachmentAddon,
    pub app: NamedRef,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub include: Vec<String>,
    #[serde(default)]
    pub level: Option<String>,
}

/// Body of `POST /apps/{app}/webhooks` and `PATCH` of one.
#[derive(Clone, Serialize)]
pub struct WebhookRequest<'a> {
    pub include: &'a [&'a str],
    pub level: &'a str,
    pub url: &'a str,
    pub secret: &'a str,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TokenRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ClientRef {
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Clone, Deserialize)]
pub struct Authorization {
    pub id: String,
    #[serde(default)]
    pub access_token: Option<TokenRef>,
    #[serde(default)]
    pub client: Option<ClientRef>,
    /// RFC 3339 (UTC): the newest of ours is the grant just made.
    #[serde(default)]
    pub created_at: Option<String>,
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What the OAuth token endpoint returns.
#[derive(Deserialize)]
pub struct TokenGrant {
    pub access_token: SecretString,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub user_id: Option<String>,
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field("expires_in", &self.expires_in)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Heroku's error body: `{"id": "not_found", "message": "..."}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
