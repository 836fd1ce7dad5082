//! The domain: identifiers, links between a project env var and a Heroku config var,
//! integrations, and the rules that decide what a sync may write.

mod app;
mod fingerprint;
mod ids;
mod integration;
mod link;
pub mod plan;

pub use app::{AppRecord, Lease, LoadedLinks, Subscription};
pub use fingerprint::Fingerprint;
pub use ids::{AppId, ConfigVarName, EnvVarName, ProjectId, ValidationError};
pub use integration::{Cleanup, Integration, IntegrationStatus, Trial};
pub use link::{HISTORY_LEN, HistoryEntry, HistoryKind, Link, LinkKey, LinkStatus, Repair};

/// Timestamps are UTC, stored and shown as RFC 3339.
pub type Timestamp = time::OffsetDateTime;
