//! The sync decision, pure: the app's links, the release in hand and each project's view
//! of the config vars in; the secret writes and the link changes to make out. No I/O: the
//! orchestrator in `sync` loads, leases, writes and retries around it.
//!
//! Its rules (property-tested below): it never plans for a link at that release or newer
//! (so never an older value), never for a link that is not active, writes only a value
//! whose fingerprint differs from the one stored, and gives the same plan for the same
//! input.

use super::Timestamp;
use super::{AppRecord, Fingerprint, HistoryEntry, HistoryKind, Link, LinkKey, ProjectId};
use crate::heroku::ConfigVars;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, BTreeSet};

/// One project's view of the app's config vars at the release in hand (`Debug` shows
/// names only: `ConfigVars` never prints a value).
#[derive(Debug)]
pub enum Fetched {
    Vars(ConfigVars),
    /// Retrying will not help (revoked authorization, no access to the app).
    Failed(String),
}

/// What to do with one link.
#[derive(Debug)]
pub enum Step {
    Write {
        value: SecretString,
        fingerprint: Fingerprint,
    },
    Unchanged,
    /// The config var is not set at that release (a trial database still provisioning).
    Waiting(String),
    Failed(String),
}

/// The steps for one release, link by link (in key order).
#[derive(Debug)]
pub struct Plan {
    pub version: u64,
    pub steps: Vec<(LinkKey, Step)>,
}

/// Which planned writes happened, and which were refused for good.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    pub written: BTreeSet<LinkKey>,
    pub refused: BTreeMap<LinkKey, String>,
    /// A write failed in a way that does not say whether it landed (a timeout after
    /// sending): it may still arrive, so its lease must run out before anyone writes.
    pub in_doubt: bool,
}

/// What one sync did, link by link. Never holds a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The release version synced to, once known.
    pub version: Option<u64>,
    pub written: Vec<LinkKey>,
    pub unchanged: Vec<LinkKey>,
    /// The config var does not exist (yet) at that release.
    pub waiting: Vec<LinkKey>,
    /// Links that could not be synced for a reason retrying will not fix.
    pub failed: Vec<(LinkKey, String)>,
}

impl SyncReport {
    pub fn is_noop(&self) -> bool {
        self.written.is_empty()
            && self.unchanged.is_empty()
            && self.waiting.is_empty()
            && self.failed.is_empty()
    }
}

/// The links release `version` could still change, restricted to `only` when given.
pub fn wanted(record: &AppRecord, version: u64, only: Option<&LinkKey>) -> Vec<LinkKey> {
    record
        .links
        .values()
        .filter(|l| l.wants(version) && only.is_none_or(|k| *k == l.key()))
        .map(Link::key)
        .collect()
}

/// The projects whose config vars `keys` need (each reads with its own token).
pub fn projects(record: &AppRecord, keys: &[LinkKey]) -> BTreeSet<ProjectId> {
    keys.iter()
        .filter_map(|k| record.links.get(k))
        .map(|l| l.project_id.clone())
        .collect()
}

/// Decides every wanted link whose project's config vars are in `fetched`; a link whose
/// project could not be read (transiently) gets no step and is left for the retry.
pub fn plan(
    record: &AppRecord,
    version: u64,
    only: Option<&LinkKey>,
    fetched: &BTreeMap<ProjectId, Fetched>,
) -> Plan {
    let steps = wanted(record, version, only)
        .into_iter()
        .filter_map(|key| {
            let link = &record.links[&key];
            let f = fetched.get(&link.project_id)?;
            Some((key, decide(link, f)))
        })
        .collect();
    Plan { version, steps }
}

impl Plan {
    pub fn needs_write(&self) -> bool {
        self.steps
            .iter()
            .any(|(_, s)| matches!(s, Step::Write { .. }))
    }

    /// The writes to make: link, value, fingerprint.
    pub fn writes(&self) -> impl Iterator<Item = (&LinkKey, &SecretString, &Fingerprint)> {
        self.steps.iter().filter_map(|(k, s)| match s {
            Step::Write { value, fingerprint } => Some((k, value, fingerprint)),
            _ => None,
        })
    }
}

fn decide(link: &Link, fetched: &Fetched) -> Step {
    let vars = match fetched {
        Fetched::Failed(reason) => return Step::Failed(reason.clone()),
        Fetched::Vars(vars) => vars,
    };
    let Some(value) = vars.get(link.config_var.as_str()) else {
        return Step::Waiting(format!(
            "config var {} is not set on app {} (yet)",
            link.config_var, link.app_name
        ));
    };
    let fingerprint = Fingerprint::of(link.key().as_str(), value.expose_secret());
    // A write that may have landed makes the stored fingerprint unreliable: write.
    if link.fingerprint.as_ref() == Some(&fingerprint) && link.writing_version.is_none() {
        Step::Unchanged
    } else {
        Step::Write {
            value: SecretString::from(value.expose_secret().to_owned()),
            fingerprint,
        }
    }
}

/// Records the plan's outcome on the links: a write counts only if `outcome` says it
/// happened, so the record never claims a value the secret does not hold.
pub fn apply(
    record: &mut AppRecord,
    plan: &Plan,
    now: Timestamp,
    outcome: &WriteOutcome,
    report: &mut SyncReport,
) {
    let version = plan.version;
    for (key, step) in &plan.steps {
        let Some(link) = record.links.get_mut(key) else {
            continue;
        };
        match step {
            Step::Write { fingerprint, .. } => {
                if let Some(why) = outcome.refused.get(key) {
                    note_error(link, why, now, Some(version));
                    report.failed.push((key.clone(), why.clone()));
                    continue;
                }
                if !outcome.written.contains(key) {
                    // Not attempted (an earlier write failed): left for the retry.
                    continue;
                }
                link.fingerprint = Some(fingerprint.clone());
                link.writing_version = None;
                link.last_release_version = Some(version);
                link.last_synced_at = Some(now);
                link.last_checked_at = Some(now);
                link.last_error = None;
                link.record(entry(now, HistoryKind::Synced, Some(version), None));
                report.written.push(key.clone());
            }
            Step::Unchanged => {
                link.last_release_version = Some(version);
                link.last_checked_at = Some(now);
                link.last_error = None;
                report.unchanged.push(key.clone());
            }
            Step::Waiting(why) => {
                link.last_release_version = Some(version);
                link.last_checked_at = Some(now);
                let mut why = why.clone();
                super::link::clip(&mut why);
                if link.last_error.as_deref() != Some(why.as_str()) {
                    link.record(entry(now, HistoryKind::Waiting, Some(version), Some(&why)));
                }
                link.last_error = Some(why);
                report.waiting.push(key.clone());
            }
            Step::Failed(why) => {
                note_error(link, why, now, Some(version));
                report.failed.push((key.clone(), why.clone()));
            }
        }
    }
}

/// Shows `why` on the link; the history gets a line only when the error changes.
pub fn note_error(link: &mut Link, why: &str, now: Timestamp, version: Option<u64>) {
    link.last_checked_at = Some(now);
    // Clipped as history details are: a link's stored size stays bounded in bytes.
    let mut why = why.to_owned();
    super::link::clip(&mut why);
    if link.last_error.as_deref() != Some(why.as_str()) {
        link.record(entry(now, HistoryKind::Error, version, Some(&why)));
    }
    link.last_error = Some(why);
}

fn entry(at: Timestamp, kind: HistoryKind, v: Option<u64>, why: Option<&str>) -> HistoryEntry {
    HistoryEntry {
        at,
        kind,
        release_version: v,
        detail: why.map(str::to_owned),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
