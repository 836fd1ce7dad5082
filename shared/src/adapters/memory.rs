//! In-memory adapters with the same conditional semantics as DynamoDB and Secrets
//! Manager, for fast domain tests. They count calls and can be told to fail.

use crate::domain::{
    AppId, AppRecord, EnvVarName, Integration, Link, LinkKey, ProjectId, Timestamp,
};
use crate::ports::{
    AppStore, DirectoryEntry, Guard, IntegrationStore, LinksOnApp, OAuthState, PendingGrant,
    PendingGrants, ProjectItems, Saved, SecretVault, SecretVersion, StateStore, StoreError,
    VaultError,
};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Default)]
pub struct MemoryStore {
    pub(super) apps: Mutex<HashMap<AppId, AppRecord>>,
    pub(super) integrations: Mutex<HashMap<ProjectId, Integration>>,
    /// The reconciler's check marks (`ReconcileIndex::mark_checked`).
    pub(super) checks: Mutex<HashMap<AppId, (Timestamp, u64)>>,
    directory: Mutex<BTreeMap<(ProjectId, EnvVarName), DirectoryEntry>>,
    states: Mutex<HashMap<String, OAuthState>>,
    /// Pending grants by confirmation hash (the reconciler lists the expired ones).
    pub(super) pending: Mutex<HashMap<String, PendingGrant>>,
    /// When set, every call fails as if DynamoDB were unreachable.
    pub down: AtomicBool,
    pub calls: AtomicUsize,
    /// App record reads. A sync reads once, and again only after waiting on a live lease
    /// or losing a conditional write: race tests use it to prove contention happened.
    pub app_loads: AtomicUsize,
    /// Integration reads: a token refresher reads it once; any more is a container that
    /// found a refresh in progress or lost the refresh lease.
    pub integration_loads: AtomicUsize,
    /// Conditional writes (apps and integrations) refused because their guard failed.
    pub conflicts: AtomicUsize,
}

impl MemoryStore {
    pub(super) fn enter(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.down.load(Ordering::Relaxed) {
            Err(StoreError::Unavailable("injected outage".into()))
        } else {
            Ok(())
        }
    }

    fn conflict(&self) -> Result<Saved, StoreError> {
        self.conflicts.fetch_add(1, Ordering::SeqCst);
        Ok(Saved::Conflict)
    }

    fn guard_holds(current: Option<&AppRecord>, guard: &Guard) -> bool {
        match (guard, current) {
            (Guard::New, None) => true,
            (Guard::New, Some(_)) => false,
            (_, None) => false,
            (Guard::Unleased { generation, now_ms }, Some(c)) => {
                c.generation == *generation && c.lease_until_ms.is_none_or(|u| u <= *now_ms)
            }
            (Guard::LeaseHolder { owner, generation }, Some(c)) => {
                c.lease_owner.as_deref() == Some(owner.as_str()) && c.generation == *generation
            }
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl AppStore for MemoryStore {
    async fn load_app(&self, app: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.enter()?;
        self.app_loads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.apps).get(app).cloned())
    }

    async fn load_project_links(
        &self,
        app: &AppId,
        project: &ProjectId,
    ) -> Result<LinksOnApp, StoreError> {
        let links = self
            .load_app(app)
            .await?
            .map(|r| r.into_project_links(project))
            .unwrap_or_default();
        let checked_at = lock(&self.checks).get(app).map(|(at, _)| *at);
        Ok(LinksOnApp { links, checked_at })
    }

    async fn load_link(&self, app: &AppId, key: &LinkKey) -> Result<Option<Link>, StoreError> {
        Ok(self
            .load_app(app)
            .await?
            .and_then(|r| r.links.get(key).cloned()))
    }

    async fn save_app(&self, record: &AppRecord, guard: Guard) -> Result<Saved, StoreError> {
        self.enter()?;
        let mut apps = lock(&self.apps);
        if !Self::guard_holds(apps.get(&record.app_id), &guard) {
            return self.conflict();
        }
        let mut next = record.clone();
        next.generation += 1;
        let generation = next.generation;
        apps.insert(record.app_id.clone(), next);
        Ok(Saved::Ok { generation })
    }

    async fn save_app_with_entry(
        &self,
        record: &AppRecord,
        guard: Guard,
        entry: &DirectoryEntry,
        replacing: Option<&DirectoryEntry>,
    ) -> Result<Saved, StoreError> {
        self.enter()?;
        let mut apps = lock(&self.apps);
        let mut dir = lock(&self.directory);
        let key = (entry.project_id.clone(), entry.env_var.clone());
        let entry_ok = match replacing {
            Some(read) => dir.get(&key) == Some(read),
            None => dir
                .get(&key)
                .is_none_or(|e| e.app_id == entry.app_id && e.config_var == entry.config_var),
        };
        if !entry_ok || !Self::guard_holds(apps.get(&record.app_id), &guard) {
            return self.conflict();
        }
        let mut next = record.clone();
        next.generation += 1;
        let generation = next.generation;
        apps.insert(record.app_id.clone(), next);
        dir.insert(key, entry.clone());
        Ok(Saved::Ok { generation })
    }

    async fn directory_entry(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        self.enter()?;
        Ok(lock(&self.directory)
            .get(&(project.clone(), env_var.clone()))
            .cloned())
    }

    async fn directory(&self, project: &ProjectId) -> Result<Vec<DirectoryEntry>, StoreError> {
        self.enter()?;
        Ok(self.entries_of(project))
    }

    async fn load_project(&self, project: &ProjectId) -> Result<ProjectItems, StoreError> {
        // One call, as DynamoDB's one Query of the project's partition.
        self.enter()?;
        Ok(ProjectItems {
            integration: lock(&self.integrations).get(project).cloned(),
            directory: self.entries_of(project),
        })
    }
}

impl MemoryStore {
    /// The project's directory entries (no call counted: its callers count theirs).
    fn entries_of(&self, project: &ProjectId) -> Vec<DirectoryEntry> {
        lock(&self.directory)
            .iter()
            .filter(|((p, _), _)| p == project)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

#[async_trait]
impl IntegrationStore for MemoryStore {
    async fn load_integration(
        &self,
        project: &ProjectId,
    ) -> Result<Option<Integration>, StoreError> {
        self.enter()?;
        self.integration_loads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.integrations).get(project).cloned())
    }

    async fn save_integration(
        &self,
        integration: &Integration,
        expected_generation: Option<u64>,
    ) -> Result<Saved, StoreError> {
        self.enter()?;
        let mut all = lock(&self.integrations);
        let current = all.get(&integration.project_id).map(|i| i.generation);
        if current != expected_generation {
            return self.conflict();
        }
        let mut next = integration.clone();
        next.generation = expected_generation.map_or(1, |g| g + 1);
        let generation = next.generation;
        all.insert(integration.project_id.clone(), next);
        Ok(Saved::Ok { generation })
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn put_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        self.enter()?;
        // Like DynamoDB's conditional put: a state is never overwritten, and the refusal is
        // not transient.
        match lock(&self.states).entry(state.state_hash.clone()) {
            Entry::Occupied(_) => Err(StoreError::Other(
                "ConditionalCheckFailedException: the OAuth state already exists".into(),
            )),
            Entry::Vacant(slot) => {
                slot.insert(state.clone());
                Ok(())
            }
        }
    }

    async fn take_state(&self, state_hash: &str) -> Result<Option<OAuthState>, StoreError> {
        self.enter()?;
        Ok(lock(&self.states).remove(state_hash))
    }
}

#[async_trait]
impl PendingGrants for MemoryStore {
    async fn put_pending(&self, grant: &PendingGrant) -> Result<(), StoreError> {
        self.enter()?;
        match lock(&self.pending).entry(grant.confirmation_hash.clone()) {
            Entry::Occupied(_) => Err(StoreError::Other(
                "ConditionalCheckFailedException: the pending grant already exists".into(),
            )),
            Entry::Vacant(slot) => {
                slot.insert(grant.clone());
                Ok(())
            }
        }
    }

    async fn load_pending(&self, hash: &str) -> Result<Option<PendingGrant>, StoreError> {
        self.enter()?;
        Ok(lock(&self.pending).get(hash).cloned())
    }

    async fn take_pending(
        &self,
        hash: &str,
        project: &ProjectId,
        sub: &str,
        now_s: i64,
    ) -> Result<Option<PendingGrant>, StoreError> {
        self.enter()?;
        let mut pending = lock(&self.pending);
        let takes = pending
            .get(hash)
            .is_some_and(|g| g.project_id == *project && g.sub == sub && g.expires_at > now_s);
        Ok(if takes { pending.remove(hash) } else { None })
    }

    async fn delete_pending(&self, hash: &str) -> Result<(), StoreError> {
        self.enter()?;
        lock(&self.pending).remove(hash);
        Ok(())
    }
}

/// Secrets in memory: each name keeps its value history, so tests can count writes.
#[derive(Default)]
pub struct MemoryVault {
    secrets: Mutex<HashMap<String, Vec<String>>>,
    tokens: Mutex<HashMap<String, String>>,
    /// Fail this many upcoming writes as if Secrets Manager were unreachable.
    pub fail_writes: AtomicUsize,
    pub writes: AtomicUsize,
}

impl MemoryVault {
    pub fn insert(&self, name: &str, value: &str) {
        lock(&self.secrets)
            .entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
    }

    /// The current value, for assertions.
    pub fn current(&self, name: &str) -> Option<String> {
        lock(&self.secrets)
            .get(name)
            .and_then(|v| v.last().cloned())
    }

    /// Every value the secret has held, oldest first (the simulation checks that a
    /// secret never moves back to an older release's value).
    pub fn history(&self, name: &str) -> Vec<String> {
        lock(&self.secrets).get(name).cloned().unwrap_or_default()
    }

    /// How many distinct versions a secret has had.
    pub fn versions(&self, name: &str) -> usize {
        lock(&self.secrets).get(name).map_or(0, Vec::len)
    }
}

#[async_trait]
impl SecretVault for MemoryVault {
    async fn read(&self, id: &str) -> Result<Option<SecretString>, VaultError> {
        Ok(self.current(id).map(SecretString::from))
    }

    async fn write(
        &self,
        name: &str,
        value: &SecretString,
        token: Option<&str>,
    ) -> Result<SecretVersion, VaultError> {
        if self
            .fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(VaultError::Unavailable("injected outage".into()));
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        // Like Secrets Manager: the request token is the version id (one is made up when
        // none is given), and the same token again is the same version.
        let version = |id: String| SecretVersion {
            arn: format!("arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}"),
            version_id: id,
        };
        if let Some(token) = token {
            let mut tokens = lock(&self.tokens);
            let key = format!("{name}\0{token}");
            if tokens.contains_key(&key) {
                return Ok(version(token.to_owned()));
            }
            tokens.insert(key, String::new());
        }
        self.insert(name, value.expose_secret());
        Ok(version(token.map_or_else(
            || format!("v{}", self.versions(name)),
            str::to_owned,
        )))
    }

    async fn read_stage(
        &self,
        id: &str,
        stage: &str,
    ) -> Result<Option<(SecretString, Option<String>)>, VaultError> {
        // Versions are numbered by position: the last value is current, the one before
        // it previous, as Secrets Manager labels them after each put.
        let history = self.history(id);
        let back = match stage {
            crate::ports::STAGE_CURRENT => 1,
            crate::ports::STAGE_PREVIOUS => 2,
            _ => return Ok(None),
        };
        Ok(history.len().checked_sub(back).map(|i| {
            (
                SecretString::from(history[i].clone()),
                Some(format!("v{}", i + 1)),
            )
        }))
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        lock(&self.secrets).remove(name);
        Ok(())
    }
}
