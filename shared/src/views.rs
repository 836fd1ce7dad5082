//! The JSON shapes the management API answers with (see `docs/openapi.yaml`). Views
//! copy what a caller may see and nothing else: no fingerprint, no token, no value.

use crate::domain::{
    HistoryEntry, Integration, IntegrationStatus, Link, LinkStatus, Repair, Timestamp,
};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    pub env_var: String,
    pub app: AppView,
    pub config_var: String,
    pub status: LinkStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_synced_at: Option<Timestamp>,
    pub last_release_version: Option<u64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_checked_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// When a webhook delivery last reached this link.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_delivery_at: Option<Timestamp>,
    /// The reconciler's last repair for this link (a missed release, a subscription).
    pub last_repair: Option<Repair>,
    #[serde(with = "time::serde::rfc3339")]
    pub linked_at: Timestamp,
    pub history: Vec<HistoryEntry>,
}

impl From<&Link> for LinkView {
    fn from(l: &Link) -> Self {
        LinkView {
            env_var: l.env_var.to_string(),
            app: AppView {
                id: l.app_id.to_string(),
                name: l.app_name.clone(),
            },
            config_var: l.config_var.to_string(),
            status: l.status,
            last_synced_at: l.last_synced_at,
            last_release_version: l.last_release_version,
            last_checked_at: l.last_checked_at,
            last_error: l.last_error.clone(),
            last_delivery_at: l.last_delivery_at,
            last_repair: l.last_repair.clone(),
            linked_at: l.linked_at,
            history: l.history.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HerokuAccountView {
    pub user_id: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegrationView {
    pub project_id: String,
    /// `connected`, `needs_reconnect`, `disconnected`, or `not_connected` (never connected).
    pub status: String,
    pub heroku: Option<HerokuAccountView>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub connected_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Clean-up at Heroku that failed and will be retried (webhook deletions, revocation).
    pub pending_cleanup: Vec<serde_json::Value>,
    pub links: Vec<LinkView>,
}

impl IntegrationView {
    pub fn new(project_id: &str, integration: Option<&Integration>, links: &[Link]) -> Self {
        let status = match integration.map(|i| i.status) {
            None => "not_connected",
            Some(IntegrationStatus::Connected) => "connected",
            Some(IntegrationStatus::NeedsReconnect) => "needs_reconnect",
            Some(IntegrationStatus::Disconnected) => "disconnected",
        };
        let heroku =
            integration
                .filter(|i| i.heroku_user_id.is_some())
                .map(|i| HerokuAccountView {
                    user_id: i.heroku_user_id.clone(),
                    email: i.heroku_email.clone(),
                });
        IntegrationView {
            project_id: project_id.to_owned(),
            status: status.to_owned(),
            heroku,
            connected_at: integration.and_then(|i| i.connected_at),
            last_error: integration.and_then(|i| i.last_error.clone()),
            pending_cleanup: integration
                .map(|i| {
                    i.pending_cleanup
                        .iter()
                        .filter_map(|c| serde_json::to_value(c).ok())
                        .collect()
                })
                .unwrap_or_default(),
            links: links.iter().map(LinkView::from).collect(),
        }
    }
}

impl IntegrationView {
    /// What a project member who is not the connected owner sees: no Heroku account
    /// email or id, and how much clean-up is pending but not what.
    pub fn redact_for_member(&mut self) {
        if let Some(h) = self.heroku.as_mut() {
            h.email = None;
            h.user_id = None;
        }
        let pending = self.pending_cleanup.len();
        self.pending_cleanup = (0..pending)
            .map(|_| serde_json::json!({"kind": "pending"}))
            .collect();
    }
}
