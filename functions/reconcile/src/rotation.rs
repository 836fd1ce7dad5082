//! Secrets Manager's rotation of the webhook signing key (docs/contract.md, "Signing
//! key"): this function is the secret's rotation Lambda. Secrets Manager calls it four
//! times per rotation, each with the new version's token:
//!
//! - `createSecret`: a new random key as version `token`, staged `AWSPENDING` (once: a
//!   retry finds it);
//! - `setSecret`: nothing — Heroku learns the key from us, after it is current;
//! - `testSecret`: the pending key is well formed;
//! - `finishSecret`: `AWSCURRENT` moves to it, and Secrets Manager leaves the version it
//!   replaced as `AWSPREVIOUS`, which the webhook still accepts while the reconciler
//!   re-keys every subscription. `POST /webhook-signing-key/rotations` ends in the same
//!   state in one step.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use serde::Deserialize;

/// The event Secrets Manager sends a rotation Lambda.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub secret_id: String,
    pub client_request_token: String,
    pub step: String,
}

const PENDING: &str = "AWSPENDING";
const CURRENT: &str = "AWSCURRENT";

/// Runs one step. Only the configured signing key may be rotated here.
pub async fn run(
    client: &Client,
    signing_key_id: &str,
    event: &RotationEvent,
) -> Result<(), String> {
    let ours = arn_of(client, signing_key_id).await?;
    let theirs = arn_of(client, &event.secret_id).await?;
    if ours != theirs {
        return Err(format!(
            "this function rotates only the webhook signing key, not {}",
            event.secret_id
        ));
    }
    let token = event.client_request_token.as_str();
    let described = client
        .describe_secret()
        .secret_id(&ours)
        .send()
        .await
        .map_err(|e| error("DescribeSecret", &e))?;
    // Secrets Manager registers the new version (staged AWSPENDING) before the first
    // step; createSecret also accepts a token not yet registered (then it makes it).
    let stages = described
        .version_ids_to_stages()
        .and_then(|m| m.get(token).cloned());
    let stages = match stages {
        Some(stages) => stages,
        None if event.step == "createSecret" => Vec::new(),
        None => {
            return Err(format!(
                "version {token} is not a version of the signing key"
            ));
        }
    };
    if stages.iter().any(|s| s == CURRENT) && event.step != "finishSecret" {
        // Already current (a retried rotation): nothing left to do.
        return Ok(());
    }
    match event.step.as_str() {
        "createSecret" => create(client, &ours, token).await,
        "setSecret" => Ok(()),
        "testSecret" => {
            let pending = pending_value(client, &ours, token).await?;
            if pending.len() >= 32 && pending.chars().all(|c| c.is_ascii_alphanumeric()) {
                Ok(())
            } else {
                Err("the pending signing key is not a long alphanumeric key".into())
            }
        }
        "finishSecret" => finish(client, &ours, token, &described).await,
        other => Err(format!("unknown rotation step {other}")),
    }
}

async fn arn_of(client: &Client, id: &str) -> Result<String, String> {
    client
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| error("DescribeSecret", &e))?
        .arn
        .ok_or_else(|| format!("{id} has no ARN"))
}

async fn pending_value(client: &Client, arn: &str, token: &str) -> Result<String, String> {
    client
        .get_secret_value()
        .secret_id(arn)
        .version_id(token)
        .version_stage(PENDING)
        .send()
        .await
        .map_err(|e| error("GetSecretValue", &e))?
        .secret_string
        .ok_or_else(|| "the pending version has no string".into())
}

async fn create(client: &Client, arn: &str, token: &str) -> Result<(), String> {
    if pending_value(client, arn, token).await.is_ok() {
        return Ok(());
    }
    // The same shape as SigningKey::rotate makes: 64 alphanumeric characters.
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    client
        .put_secret_value()
        .secret_id(arn)
        .client_request_token(token)
        .secret_string(key)
        .version_stages(PENDING)
        .send()
        .await
        .map_err(|e| error("PutSecretValue", &e))?;
    Ok(())
}

async fn finish(
    client: &Client,
    arn: &str,
    token: &str,
    described: &aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput,
) -> Result<(), String> {
    let current = described.version_ids_to_stages().and_then(|m| {
        m.iter()
            .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
            .map(|(v, _)| v.clone())
    });
    if current.as_deref() == Some(token) {
        return Ok(());
    }
    client
        .update_secret_version_stage()
        .secret_id(arn)
        .version_stage(CURRENT)
        .move_to_version_id(token)
        .set_remove_from_version_id(current)
        .send()
        .await
        .map_err(|e| error("UpdateSecretVersionStage", &e))?;
    tracing::info!(
        version = token,
        "webhook signing key rotated by Secrets Manager"
    );
    Ok(())
}

/// The error code only: AWS's message can name the function's role and account.
fn error<E: ProvideErrorMetadata>(op: &str, e: &E) -> String {
    format!("{op} failed ({})", e.code().unwrap_or("no answer"))
}
