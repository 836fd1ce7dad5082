//! The pass: list what to visit from the sparse index and spread it over queue messages
//! (one SQS message per `apps_per_message` apps, in an order that changes every pass);
//! and the message format workers read.

use super::ReconcileSettings;
use crate::domain::{AppId, ProjectId, Timestamp};
use crate::ports::{ReconcileIndex, StoreError, WorkQueue};
use serde::{Deserialize, Serialize};

/// One queue message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkMessage {
    /// Reconcile these apps; `pass` numbers the interval (subscription checks rotate on it).
    Apps { pass: u64, apps: Vec<AppId> },
    /// Retry these integrations' pending clean-up at Heroku.
    Cleanup { projects: Vec<ProjectId> },
    /// End these pending grants, expired unconfirmed (by the SHA-256 of their
    /// confirmation; `crate::pending::expire`).
    ExpiredGrants { grants: Vec<String> },
}

impl WorkMessage {
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a work message serialises")
    }

    pub fn parse(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| format!("not a reconcile message: {e}"))
    }
}

/// What planning a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    pub pass: u64,
    pub apps: usize,
    pub cleanups: usize,
    pub expired_grants: usize,
    pub messages: usize,
}

/// The interval `now` falls in: consecutive passes get consecutive numbers.
pub fn pass_number(now: Timestamp, settings: &ReconcileSettings) -> u64 {
    let interval = settings.interval.as_secs().max(1) as i64;
    now.unix_timestamp().div_euclid(interval).max(0) as u64
}

/// Lists every app with an active link, every integration owing clean-up and every
/// pending grant past its expiry, and queues them. SQS takes at most 10 messages per
/// batch call.
pub async fn plan_pass(
    index: &dyn ReconcileIndex,
    queue: &dyn WorkQueue,
    settings: &ReconcileSettings,
    now: Timestamp,
) -> Result<Planned, StoreError> {
    let pass = pass_number(now, settings);
    let mut apps = index.apps_with_active_links().await?;
    // A different order each pass: when an account's budget runs out, the apps it
    // defers are not the same ones every hour.
    apps.sort_by_key(|a| super::fnv(a.as_str().as_bytes(), pass));
    let cleanups = index.projects_with_cleanup().await?;
    // Past the margin a confirm with a slower clock may still use (docs/contract.md:
    // grants left pending are revoked).
    let expired = index
        .expired_pending_grants(now.unix_timestamp() - crate::pending::EXPIRY_MARGIN_S + 1)
        .await?;
    let mut bodies: Vec<String> = apps
        .chunks(settings.apps_per_message.max(1))
        .map(|chunk| {
            WorkMessage::Apps {
                pass,
                apps: chunk.to_vec(),
            }
            .to_body()
        })
        .collect();
    bodies.extend(
        cleanups
            .chunks(settings.apps_per_message.max(1))
            .map(|chunk| {
                WorkMessage::Cleanup {
                    projects: chunk.to_vec(),
                }
                .to_body()
            }),
    );
    bodies.extend(
        expired
            .chunks(settings.apps_per_message.max(1))
            .map(|chunk| {
                WorkMessage::ExpiredGrants {
                    grants: chunk.to_vec(),
                }
                .to_body()
            }),
    );
    for batch in bodies.chunks(10) {
        queue.send(batch).await?;
    }
    tracing::info!(
        pass,
        apps = apps.len(),
        cleanups = cleanups.len(),
        expired_grants = expired.len(),
        messages = bodies.len(),
        "reconcile pass planned"
    );
    Ok(Planned {
        pass,
        apps: apps.len(),
        cleanups: cleanups.len(),
        expired_grants: expired.len(),
        messages: bodies.len(),
    })
}
