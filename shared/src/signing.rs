//! Secrets read once and kept per container: the webhook signing key (the `secret` of
//! every Heroku subscription and the key every delivery is verified with) and the OAuth
//! client secret. Both can be rotated without a redeploy: a reader may ask for a copy no
//! older than some age, and the webhook re-reads the key (at most once a minute) when a
//! signature does not verify.

use crate::ports::{SecretVault, VaultError};
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

/// The webhook signing key.
pub type SigningKey = CachedSecret;

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
