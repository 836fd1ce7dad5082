//! The webhook signing key: the `secret` of every Heroku subscription we create and the
//! key every delivery is verified with. Read from Secrets Manager once per container.

use crate::ports::{SecretVault, VaultError};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// After a failed verification the key is re-read at most this often, so a rotated key is
/// picked up without a redeploy while bad signatures cannot hammer Secrets Manager.
const RECHECK: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("WEBHOOK_SIGNING_KEY_ID is not configured")]
    NotConfigured,
    #[error("the signing key secret {0} does not exist")]
    Missing(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

pub struct SigningKey {
    vault: Arc<dyn SecretVault>,
    id: Option<String>,
    slot: RwLock<Option<(Arc<SecretString>, Instant)>>,
}

impl SigningKey {
    pub fn new(vault: Arc<dyn SecretVault>, id: Option<String>) -> Self {
        SigningKey {
            vault,
            id,
            slot: RwLock::new(None),
        }
    }

    /// The key, fetched on first use.
    pub async fn get(&self) -> Result<Arc<SecretString>, KeyError> {
        if let Some((key, _)) = self.slot.read().await.as_ref() {
            return Ok(key.clone());
        }
        let mut slot = self.slot.write().await;
        match slot.as_ref() {
            Some((key, _)) => Ok(key.clone()),
            None => self.load(&mut slot).await,
        }
    }

    /// Re-reads the key unless it was read within the last minute (`None` then).
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
        let id = self.id.as_deref().ok_or(KeyError::NotConfigured)?;
        let key = Arc::new(
            self.vault
                .read(id)
                .await?
                .ok_or_else(|| KeyError::Missing(id.to_owned()))?,
        );
        *slot = Some((key.clone(), Instant::now()));
        Ok(key)
    }
}
