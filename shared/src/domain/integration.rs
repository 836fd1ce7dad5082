//! A project's Heroku integration: who connected it, with which Heroku account, and any
//! clean-up at Heroku still owed after an opt-out or disconnect.

use super::{AppId, ProjectId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationStatus {
    Connected,
    /// Heroku rejected our refresh token: the user revoked access, or it lapsed.
    NeedsReconnect,
    Disconnected,
}

/// Work at Heroku that failed when it was first tried and is retried later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cleanup {
    DeleteWebhook {
        app_id: AppId,
        webhook_id: String,
    },
    /// Revoke the authorization, then delete the token secret that revocation needs.
    RevokeAuthorization {
        authorization_id: Option<String>,
        token_secret: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub project_id: ProjectId,
    pub status: IntegrationStatus,
    /// The project owner as we last heard it (set on connect, changed by a transfer).
    /// An OAuth state minted by anyone else cannot connect this project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heroku_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heroku_email: Option<String>,
    /// Heroku's id for the OAuth authorization, needed to revoke it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_id: Option<String>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub connected_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_cleanup: Vec<Cleanup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Optimistic-concurrency token, bumped by every save.
    #[serde(default)]
    pub generation: u64,
    /// Lease serialising token refreshes across containers (see `tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_until_ms: Option<i64>,
    /// The trial databases of the last day: the daily quota counts them, and a repeat
    /// for the same env var continues the same one instead of making another app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<Trial>,
}

/// One trial database being made or made: reserved first, then its app and add-on
/// recorded as they are created, so a retry or a double submit continues it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub env_var: String,
    /// Unix seconds.
    pub started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addon_id: Option<String>,
}

impl Integration {
    pub fn new(project_id: ProjectId) -> Self {
        Integration {
            project_id,
            status: IntegrationStatus::Disconnected,
            owner_sub: None,
            heroku_user_id: None,
            heroku_email: None,
            authorization_id: None,
            connected_at: None,
            pending_cleanup: vec![],
            last_error: None,
            generation: 0,
            refresh_owner: None,
            refresh_until_ms: None,
            trials: vec![],
        }
    }

    pub fn is_connected(&self) -> bool {
        self.status == IntegrationStatus::Connected
    }
}
