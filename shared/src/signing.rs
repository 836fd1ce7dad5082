//! Secrets read once and kept per container: the webhook signing key (the `secret` of
//! every Heroku subscription and the key every delivery is verified with) and the OAuth
//! client secret. Both can be rotated without a redeploy: a reader may ask for a copy no
//! older than some age, and the webhook re-reads the key (at most once a minute) when a
//! signature does not verify.
//!
//! The signing key rotates with an overlap (docs/contract.md, "Signing key"): a rotation
//! makes a new version `AWSCURRENT` and leaves the one before as `AWSPREVIOUS`, a delivery
//! verifies under either, and the reconciler re-keys each subscription still carrying an
//! older version. A second rotation retires the oldest key.

use crate::ports::{STAGE_CURRENT, STAGE_PREVIOUS, SecretVault, VaultError};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// After a failed verification the key is re-read at most this often, so a rotated key is
/// picked up promptly while bad signatures cannot hammer Secrets Manager.
const RECHECK: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    #[error("the secret {0} does not exist")]
    Missing(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// One secret, cached with the time it was read.
pub struct CachedSecret {
    vault: Arc<dyn SecretVault>,
    /// The configuration name that holds the id, for error messages.
    setting: &'static str,
    id: Option<String>,
    slot: RwLock<Option<(Arc<SecretString>, Instant)>>,
}

impl CachedSecret {
    pub fn new(vault: Arc<dyn SecretVault>, setting: &'static str, id: Option<String>) -> Self {
        CachedSecret {
            vault,
            setting,
            id,
            slot: RwLock::new(None),
        }
    }

    /// The secret, read on first use and then kept.
    pub async fn get(&self) -> Result<Arc<SecretString>, KeyError> {
        self.get_fresh(Duration::MAX).await
    }

    /// The secret as read no longer than `max_age` ago. Writers of the secret's value
    /// elsewhere (subscriptions, code exchanges) use this, so a rotation reaches them.
    pub async fn get_fresh(&self, max_age: Duration) -> Result<Arc<SecretString>, KeyError> {
        if let Some((value, at)) = self.slot.read().await.as_ref()
            && at.elapsed() <= max_age
        {
            return Ok(value.clone());
        }
        let mut slot = self.slot.write().await;
        match slot.as_ref() {
            Some((value, at)) if at.elapsed() <= max_age => Ok(value.clone()),
            _ => self.load(&mut slot).await,
        }
    }

    /// Re-reads the secret unless it was read within the last minute (`None` then).
    pub async fn refresh(&self) -> Result<Option<Arc<SecretString>>, KeyError> {
        let mut slot = self.slot.write().await;
        if slot.as_ref().is_some_and(|(_, at)| at.elapsed() < RECHECK) {
            return Ok(None);
        }
        self.load(&mut slot).await.map(Some)
    }

    async fn load(
        &self,
        slot: &mut Option<(Arc<SecretString>, Instant)>,
    ) -> Result<Arc<SecretString>, KeyError> {
        let id = self
            .id
            .as_deref()
            .ok_or(KeyError::NotConfigured(self.setting))?;
        let value = Arc::new(
            self.vault
                .read(id)
                .await?
                .ok_or_else(|| KeyError::Missing(id.to_owned()))?,
        );
        *slot = Some((value.clone(), Instant::now()));
        Ok(value)
    }
}

/// One version of the signing key: its value and Secrets Manager's version id (`None`
/// where the vault has no versions).
#[derive(Clone)]
pub struct Key {
    pub value: Arc<SecretString>,
    pub version: Option<String>,
}

/// The webhook signing key: the current version, and the previous one while
/// subscriptions are being re-keyed after a rotation.
pub struct SigningKey {
    vault: Arc<dyn SecretVault>,
    setting: &'static str,
    id: Option<String>,
    current: RwLock<Option<(Key, Instant)>>,
    /// Read only when a delivery does not verify under the current key.
    previous: RwLock<Option<(Option<Key>, Instant)>>,
}

impl SigningKey {
    pub fn new(vault: Arc<dyn SecretVault>, setting: &'static str, id: Option<String>) -> Self {
        SigningKey {
            vault,
            setting,
            id,
            current: RwLock::new(None),
            previous: RwLock::new(None),
        }
    }

    fn id(&self) -> Result<&str, KeyError> {
        self.id
            .as_deref()
            .ok_or(KeyError::NotConfigured(self.setting))
    }

    /// The current key, read on first use and then kept.
    pub async fn get(&self) -> Result<Arc<SecretString>, KeyError> {
        Ok(self.current(Duration::MAX).await?.value)
    }

    /// The current key's value as read no longer than `max_age` ago.
    pub async fn get_fresh(&self, max_age: Duration) -> Result<Arc<SecretString>, KeyError> {
        Ok(self.current(max_age).await?.value)
    }

    /// The current key (value and version) as read no longer than `max_age` ago.
    /// Subscriptions are created and re-keyed with this.
    pub async fn current(&self, max_age: Duration) -> Result<Key, KeyError> {
        if let Some((key, at)) = self.current.read().await.as_ref()
            && at.elapsed() <= max_age
        {
            return Ok(key.clone());
        }
        let mut slot = self.current.write().await;
        match slot.as_ref() {
            Some((key, at)) if at.elapsed() <= max_age => Ok(key.clone()),
            _ => self.load_current(&mut slot).await,
        }
    }

    async fn load_current(&self, slot: &mut Option<(Key, Instant)>) -> Result<Key, KeyError> {
        let id = self.id()?;
        let (value, version) = self
            .vault
            .read_stage(id, STAGE_CURRENT)
            .await?
            .ok_or_else(|| KeyError::Missing(id.to_owned()))?;
        let key = Key {
            value: Arc::new(value),
            version,
        };
        *slot = Some((key.clone(), Instant::now()));
        Ok(key)
    }

    /// Whether `check` accepts the current key, else the previous one, else (at most once
    /// a minute) a freshly read current key: a delivery signed before or during a
    /// rotation verifies, one signed with a retired or foreign key does not.
    pub async fn verify(&self, check: impl Fn(&[u8]) -> bool) -> Result<bool, KeyError> {
        use secrecy::ExposeSecret;
        let current = self.current(Duration::MAX).await?;
        if check(current.value.expose_secret().as_bytes()) {
            return Ok(true);
        }
        if let Some(previous) = self.previous().await?
            && check(previous.value.expose_secret().as_bytes())
        {
            return Ok(true);
        }
        // Perhaps rotated since this container read it: re-read both, once a minute.
        let mut slot = self.current.write().await;
        if slot.as_ref().is_some_and(|(_, at)| at.elapsed() < RECHECK) {
            return Ok(false);
        }
        let fresh = self.load_current(&mut slot).await?;
        drop(slot);
        *self.previous.write().await = None;
        if check(fresh.value.expose_secret().as_bytes()) {
            return Ok(true);
        }
        Ok(self
            .previous()
            .await?
            .is_some_and(|p| check(p.value.expose_secret().as_bytes())))
    }

    /// The previous key, read once per minute at most (it only changes on a rotation).
    async fn previous(&self) -> Result<Option<Key>, KeyError> {
        if let Some((key, at)) = self.previous.read().await.as_ref()
            && at.elapsed() < RECHECK
        {
            return Ok(key.clone());
        }
        let mut slot = self.previous.write().await;
        if let Some((key, at)) = slot.as_ref()
            && at.elapsed() < RECHECK
        {
            return Ok(key.clone());
        }
        let key = self
            .vault
            .read_stage(self.id()?, STAGE_PREVIOUS)
            .await?
            .map(|(value, version)| Key {
                value: Arc::new(value),
                version,
            });
        *slot = Some((key.clone(), Instant::now()));
        Ok(key)
    }

    /// Forgets both cached keys: the next use reads them afresh (after a rotation made
    /// elsewhere in this process, e.g. by Secrets Manager's rotation steps).
    pub async fn forget(&self) {
        *self.current.write().await = None;
        *self.previous.write().await = None;
    }

    /// Rotates: a new random key becomes current, the current one previous (the one
    /// before is retired). Returns the new current key. Subscriptions still carry the
    /// old key until the reconciler re-keys them; the webhook accepts both meanwhile.
    pub async fn rotate(&self) -> Result<Key, KeyError> {
        let id = self.id()?;
        // 64 characters from two v4 UUIDs: 244 random bits, alphanumeric, so the key
        // travels in Heroku's API and our header comparison without escaping.
        let fresh = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.vault
            .write(id, &SecretString::from(fresh), None)
            .await?;
        let mut slot = self.current.write().await;
        let key = self.load_current(&mut slot).await?;
        drop(slot);
        *self.previous.write().await = None;
        tracing::info!(
            version = key.version.as_deref().unwrap_or(""),
            "webhook signing key rotated"
        );
        Ok(key)
    }
}
