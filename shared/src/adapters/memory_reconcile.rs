//! The reconciler's ports in memory: the index over [`MemoryStore`], a budget and a
//! queue, for domain tests and the reconcile benchmark.

use super::memory::{MemoryStore, lock};
use crate::domain::{AppId, ProjectId, Timestamp};
use crate::ports::{RateBudget, ReconcileIndex, Reindexed, StoreError, WorkQueue};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[async_trait]
impl ReconcileIndex for MemoryStore {
    async fn apps_with_active_links(&self) -> Result<Vec<AppId>, StoreError> {
        self.enter()?;
        // The index's order: token project, then app.
        let mut keys: Vec<(ProjectId, AppId)> = lock(&self.apps)
            .values()
            .filter_map(|r| Some((r.token_project()?.clone(), r.app_id.clone())))
            .collect();
        keys.sort();
        Ok(keys.into_iter().map(|(_, a)| a).collect())
    }

    async fn projects_with_cleanup(&self) -> Result<Vec<ProjectId>, StoreError> {
        self.enter()?;
        let mut out: Vec<ProjectId> = lock(&self.integrations)
            .values()
            .filter(|i| !i.pending_cleanup.is_empty())
            .map(|i| i.project_id.clone())
            .collect();
        out.sort();
        Ok(out)
    }

    async fn expired_pending_grants(&self, before_s: i64) -> Result<Vec<String>, StoreError> {
        self.enter()?;
        // The index's order: expiry, then hash.
        let mut keys: Vec<(i64, String)> = lock(&self.pending)
            .values()
            .filter(|g| g.expires_at < before_s)
            .map(|g| (g.expires_at, g.confirmation_hash.clone()))
            .collect();
        keys.sort();
        Ok(keys.into_iter().map(|(_, h)| h).collect())
    }

    async fn mark_checked(
        &self,
        app: &AppId,
        at: Timestamp,
        release: u64,
    ) -> Result<(), StoreError> {
        self.enter()?;
        lock(&self.checks).insert(app.clone(), (at, release));
        Ok(())
    }

    async fn checked_at(&self, app: &AppId) -> Result<Option<Timestamp>, StoreError> {
        self.enter()?;
        Ok(lock(&self.checks).get(app).map(|(at, _)| *at))
    }

    /// Nothing to move: this store only ever holds the current layout.
    async fn reindex(&self, _now_ms: i64) -> Result<Reindexed, StoreError> {
        self.enter()?;
        Ok(Reindexed::default())
    }
}

/// Per-account, per-hour call counts, as the DynamoDB budget keeps them.
#[derive(Default)]
pub struct MemoryBudget {
    used: Mutex<HashMap<(String, i64), u32>>,
    /// Budget writes, to compare with the Heroku calls they cover.
    pub takes: AtomicUsize,
}

impl MemoryBudget {
    /// Calls taken by `account` in the hour containing `now_s`.
    pub fn used(&self, account: &str, now_s: i64) -> u32 {
        lock(&self.used)
            .get(&(account.to_owned(), now_s.div_euclid(3600)))
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl RateBudget for MemoryBudget {
    async fn take(
        &self,
        account: &str,
        n: u32,
        limit: u32,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        self.takes.fetch_add(1, Ordering::Relaxed);
        let mut used = lock(&self.used);
        let slot = used
            .entry((account.to_owned(), now_s.div_euclid(3600)))
            .or_default();
        if *slot + n > limit {
            return Ok(false);
        }
        *slot += n;
        Ok(true)
    }
}

/// A FIFO of message bodies.
#[derive(Default)]
pub struct MemoryQueue {
    bodies: Mutex<VecDeque<String>>,
}

impl MemoryQueue {
    /// Takes up to `n` messages off the front.
    pub fn receive(&self, n: usize) -> Vec<String> {
        let mut q = lock(&self.bodies);
        let n = n.min(q.len());
        q.drain(..n).collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.bodies).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), StoreError> {
        lock(&self.bodies).extend(bodies.iter().cloned());
        Ok(())
    }
}
