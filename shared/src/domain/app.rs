//! The app record: everything we keep about one Heroku app (every link, the lease, the
//! subscription), read whole by the webhook path in one strongly consistent read.

use super::{AppId, Link, LinkKey, ProjectId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Our Heroku webhook subscription on this app (one per app, shared by every link).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub webhook_id: String,
    /// The project whose Heroku token created it (any linked project's token may delete it).
    pub created_by: ProjectId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// Where it delivers, as we asked Heroku: the reconciler restores it when changed at
    /// Heroku (and uses it when `PUBLIC_BASE_URL` is not configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The signing key's version it was given; after a rotation the reconciler re-keys
    /// every subscription whose version is not the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<String>,
}

/// A short exclusive right to write this app's env var secrets.
///
/// Secrets Manager has no conditional write, so two deliveries racing could otherwise
/// land their values in either order. Whoever holds the lease is the only writer; the
/// lease outlives every write a holder can start (see `sync`), so an expired lease means
/// its holder can no longer write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub app_id: AppId,
    pub app_name: String,
    /// Bumped by every save: the optimistic-concurrency token for read-modify-write.
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until_ms: Option<i64>,
    /// The release a lease holder is syncing when it is a webhook delivery, which Heroku
    /// retries until it succeeds: a delivery of that release or an older one arriving
    /// meanwhile has nothing left to do (a redelivery storm costs one read each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_version: Option<u64>,
    /// That delivery's id: its own retry is not covered by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_delivery: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    /// A subscription we failed to delete at Heroku, to retry on the next touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_subscription: Option<Subscription>,
    /// Not serialized with the rest: a store keeps each link apart (in DynamoDB an item
    /// per link, so no item grows with the number of links).
    #[serde(skip)]
    pub links: BTreeMap<LinkKey, Link>,
    /// What the store read: lets it write only the links a save changed.
    #[serde(skip)]
    pub loaded: LoadedLinks,
}

/// The links a store read into a record, each as its [`Link::digest`]: a save writes the
/// links whose digest differs and removes those gone. A record not read from the store
/// has none (`None`), and the store then finds out what it holds. Never stored, and
/// ignored by equality: two records are equal when their contents are.
#[derive(Clone, Debug, Default)]
pub struct LoadedLinks(Option<Arc<BTreeMap<LinkKey, u64>>>);

impl LoadedLinks {
    pub fn new(digests: BTreeMap<LinkKey, u64>) -> Self {
        LoadedLinks(Some(Arc::new(digests)))
    }

    pub fn digests(&self) -> Option<&BTreeMap<LinkKey, u64>> {
        self.0.as_deref()
    }
}

impl PartialEq for LoadedLinks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LoadedLinks {}

impl AppRecord {
    pub fn new(app_id: AppId, app_name: impl Into<String>) -> Self {
        AppRecord {
            app_id,
            app_name: app_name.into(),
            generation: 0,
            lease_owner: None,
            lease_until_ms: None,
            lease_version: None,
            lease_delivery: None,
            subscription: None,
            stale_subscription: None,
            links: BTreeMap::new(),
            loaded: LoadedLinks::default(),
        }
    }

    /// The lease, if one is held and has not expired at `now_ms`.
    pub fn live_lease(&self, now_ms: i64) -> Option<Lease> {
        match (&self.lease_owner, self.lease_until_ms) {
            (Some(owner), Some(until_ms)) if until_ms > now_ms => Some(Lease {
                owner: owner.clone(),
                until_ms,
            }),
            _ => None,
        }
    }

    /// Sets or clears the lease; clearing it also forgets the release it was for.
    pub fn set_lease(&mut self, lease: Option<Lease>) {
        if lease.is_none() {
            self.lease_version = None;
            self.lease_delivery = None;
        }
        self.lease_owner = lease.as_ref().map(|l| l.owner.clone());
        self.lease_until_ms = lease.map(|l| l.until_ms);
    }

    /// Whether a live lease is held by another delivery (`delivery` is ours) of `version`
    /// or a newer release: that delivery, or Heroku's retry of it, brings every link at
    /// least that far. A holder that crashed leaves its lease until it expires; its own
    /// retry (same delivery id) is never covered, so it waits and syncs.
    pub fn covered_by_lease(&self, version: u64, delivery: &str, now_ms: i64) -> bool {
        self.live_lease(now_ms).is_some()
            && self.lease_version.is_some_and(|v| v >= version)
            && self
                .lease_delivery
                .as_deref()
                .is_some_and(|d| d != delivery)
    }

    /// Records that the store now holds this record as it is (a save of it succeeded), so
    /// the next save writes only what changes after this point.
    pub fn mark_stored(&mut self) {
        self.loaded = LoadedLinks::new(
            self.links
                .iter()
                .map(|(k, l)| (k.clone(), l.digest()))
                .collect(),
        );
    }

    pub fn active_links(&self) -> impl Iterator<Item = &Link> {
        self.links.values().filter(|l| l.is_active())
    }

    pub fn has_active_links(&self) -> bool {
        self.active_links().next().is_some()
    }

    /// `project`'s links, in key order (a project's status shows only its own).
    pub fn into_project_links(self, project: &ProjectId) -> Vec<Link> {
        self.links
            .into_values()
            .filter(|l| l.project_id == *project)
            .collect()
    }

    /// The project whose Heroku token reads the app's newest release: the first active
    /// link's (the same one every time, so the reconciler groups apps by it).
    pub fn token_project(&self) -> Option<&ProjectId> {
        self.active_links().next().map(|l| &l.project_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_live_only_before_its_deadline() {
        let mut r = AppRecord::new(
            AppId::parse("44dc9c7a-771c-4a9e-bfe9-a8dbc1c55f4d").unwrap(),
            "a",
        );
        assert!(r.live_lease(0).is_none());
        r.set_lease(Some(Lease {
            owner: "me".into(),
            until_ms: 100,
        }));
        assert_eq!(r.live_lease(99).unwrap().owner, "me");
        assert!(r.live_lease(100).is_none());
        r.set_lease(None);
        assert!(r.lease_owner.is_none() && r.lease_until_ms.is_none());
    }
}
