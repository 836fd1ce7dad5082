//! Plain public types the in-process handle hands to tests (and the control API serialises).

use serde::Serialize;

/// A Heroku account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
}

/// What the token endpoint would have answered, issued without the browser dance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub authorization_id: String,
}

/// What the logged-in browser user answers at `/oauth/authorize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthorizeDecision {
    #[default]
    Approve,
    Deny,
}

/// One OAuth authorization (a grant of a client by a user), revoked or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuthorizationInfo {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: Vec<String>,
    pub revoked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct App {
    pub id: String,
    pub name: String,
}

/// A Postgres add-on; `config_var` is the variable it set on its owning app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Addon {
    pub id: String,
    pub name: String,
    pub config_var: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Release {
    pub id: String,
    pub version: u64,
}

/// A webhook subscription as stored, secret included (the API never shows it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookInfo {
    pub id: String,
    pub app_id: String,
    pub url: String,
    pub include: Vec<String>,
    pub level: String,
    pub secret: Option<String>,
    pub authorization: Option<String>,
}

/// Whether webhook deliveries are sent or queued for the test to take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeliveryMode {
    #[default]
    Auto,
    Hold,
}

/// A delivery that Hold mode queued instead of sending: exactly the first attempt Auto would send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldDelivery {
    pub url: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub delivery_id: String,
    pub webhook_id: String,
    pub app_id: String,
    pub version: u64,
}

impl HeldDelivery {
    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One webhook delivery and what became of its attempts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryInfo {
    pub delivery_id: String,
    pub webhook_id: String,
    pub app_id: String,
    pub version: u64,
    pub url: String,
    /// HTTP status of each attempt, 0 when there was no answer (refused, timed out).
    pub attempts: Vec<u16>,
    pub succeeded: bool,
    /// Succeeded or gave up; a held delivery is never done.
    pub done: bool,
    pub held: bool,
}

/// One request the fake answered on the API or OAuth endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub user_id: Option<String>,
    pub request_id: String,
}
