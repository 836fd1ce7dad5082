//! Secrets Manager: tokens, keys and the synced env var values (the public contract
//! `{SECRET_PREFIX}/projects/{P}/env/{NAME}`, whose SecretString is the URL itself).

use crate::domain::{EnvVarName, ProjectId};
use crate::ports::{EnvVarSink, SecretVault, SecretVersion, VaultError};
use crate::tokens::SecretNames;
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct SecretsManagerVault {
    client: Client,
}

fn code<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(err: &SdkError<E>) -> VaultError {
    match err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown");
            // Never include the request: it may carry the value. The error message from
            // AWS describes the failure, not the payload.
            let message = format!("{code}: {}", se.err().message().unwrap_or(""));
            if se.raw().status().as_u16() >= 500
                || matches!(
                    code,
                    "ThrottlingException" | "InternalServiceError" | "LimitExceededException"
                )
            {
                VaultError::Unavailable(message)
            } else if is_permanent(code) {
                VaultError::Refused(code.to_owned())
            } else {
                VaultError::Other(message)
            }
        }
        // No answer: the request may have been applied, and may still be.
        SdkError::TimeoutError(_) => VaultError::InDoubt("timed out".into()),
        SdkError::DispatchFailure(_) => {
            VaultError::InDoubt("could not reach Secrets Manager".into())
        }
        SdkError::ResponseError(_) => VaultError::InDoubt("unreadable response".into()),
        _ => VaultError::Other("request could not be built".into()),
    }
}

/// Errors that will be the same on every retry: permissions, the secret's KMS key, a
/// request Secrets Manager will never accept. (Deletion is handled on its own.)
fn is_permanent(code: &str) -> bool {
    matches!(
        code,
        "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "EncryptionFailure"
            | "DecryptionFailure"
            | "KMSAccessDeniedException"
            | "KMSDisabledException"
            | "KMSInvalidStateException"
            | "KMSNotFoundException"
            | "ValidationException"
            | "InvalidParameterException"
            | "MalformedPolicyDocumentException"
    )
}

fn marked_for_deletion<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    code(err) == Some("InvalidRequestException")
        && err
            .as_service_error()
            .and_then(|e| e.message())
            .is_some_and(|m| {
                m.contains("marked for deletion")
                    || m.contains("scheduled for deletion")
                    // moto's wording for the same state
                    || m.contains("marked deleted")
            })
}

impl SecretsManagerVault {
    pub fn new(client: Client) -> Self {
        SecretsManagerVault { client }
    }
}

#[async_trait]
impl SecretVault for SecretsManagerVault {
    async fn read(&self, id: &str) -> Result<Option<SecretString>, VaultError> {
        match self.client.get_secret_value().secret_id(id).send().await {
            Ok(out) => Ok(out.secret_string.map(SecretString::from)),
            Err(e) if code(&e) == Some("ResourceNotFoundException") || marked_for_deletion(&e) => {
                Ok(None)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn write(
        &self,
        name: &str,
        value: &SecretString,
        idempotency_token: Option<&str>,
    ) -> Result<SecretVersion, VaultError> {
        // Secrets Manager answers with the version it made current; should an answer lack
        // a field, the name (a secret id too) and the token (which becomes the VersionId)
        // still say which secret and version.
        let version = |arn: Option<&str>, id: Option<&str>| SecretVersion {
            arn: arn.unwrap_or(name).to_owned(),
            version_id: id.or(idempotency_token).unwrap_or_default().to_owned(),
        };
        // Most writes update an existing secret, so try that first: one call.
        for _ in 0..2 {
            let put = self
                .client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value.expose_secret())
                .set_client_request_token(idempotency_token.map(str::to_owned))
                .send()
                .await;
            match put {
                Ok(out) => return Ok(version(out.arn(), out.version_id())),
                Err(e) if marked_for_deletion(&e) => {
                    return Err(VaultError::PendingDeletion(name.to_owned()));
                }
                Err(e) if code(&e) == Some("ResourceNotFoundException") => {}
                Err(e) => return Err(classify(&e)),
            }
            let create = self
                .client
                .create_secret()
                .name(name)
                .description("Managed by heroku-db-url-sync")
                .secret_string(value.expose_secret())
                .set_client_request_token(idempotency_token.map(str::to_owned))
                .send()
                .await;
            match create {
                Ok(out) => return Ok(version(out.arn(), out.version_id())),
                // Someone created it between our two calls: put again.
                Err(e) if code(&e) == Some("ResourceExistsException") => continue,
                Err(e) if marked_for_deletion(&e) => {
                    return Err(VaultError::PendingDeletion(name.to_owned()));
                }
                Err(e) => return Err(classify(&e)),
            }
        }
        Err(VaultError::Unavailable(format!(
            "{name} kept changing while written"
        )))
    }

    async fn read_stage(
        &self,
        id: &str,
        stage: &str,
    ) -> Result<Option<(SecretString, Option<String>)>, VaultError> {
        let got = self
            .client
            .get_secret_value()
            .secret_id(id)
            .version_stage(stage)
            .send()
            .await;
        match got {
            Ok(out) => Ok(out
                .secret_string
                .map(|v| (SecretString::from(v), out.version_id))),
            Err(e) if code(&e) == Some("ResourceNotFoundException") || marked_for_deletion(&e) => {
                Ok(None)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// Env vars live in the vault under the public naming contract.
#[derive(Clone)]
pub struct SecretsEnvSink {
    vault: Arc<dyn SecretVault>,
    names: SecretNames,
}

impl SecretsEnvSink {
    pub fn new(vault: Arc<dyn SecretVault>, names: SecretNames) -> Self {
        SecretsEnvSink { vault, names }
    }
}

#[async_trait]
impl EnvVarSink for SecretsEnvSink {
    async fn write_env_var(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
        value: &SecretString,
        idempotency_token: &str,
    ) -> Result<SecretVersion, VaultError> {
        let name = self.names.env_var(project, env_var.as_str());
        self.vault
            .write(&name, value, Some(idempotency_token))
            .await
    }
}
