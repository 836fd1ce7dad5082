//! `POST /webhook-signing-key/rotations` (docs/contract.md, "Signing key"): a platform
//! admin rotates the webhook signing key. The new key becomes current at once; the
//! previous one stays accepted by the webhook while the reconciler re-keys every
//! subscription (each carries the key version it was given), so no delivery fails.

use crate::Ctx;
use lambda_http::{Body, Response};
use shared::http::{self, ADMIN_SCOPE, ApiError};
use shared::ports::VaultError;
use shared::signing::KeyError;

pub async fn rotate(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let caller = http::caller(ctx.req)?;
    if !caller.is_admin() {
        return Err(ApiError::forbidden(format!(
            "the {ADMIN_SCOPE} scope is required"
        )));
    }
    let key = ctx.svc.signing_key.rotate().await.map_err(|e| match e {
        KeyError::Vault(VaultError::Unavailable(_) | VaultError::InDoubt(_)) => {
            ApiError::unavailable("Secrets Manager is unavailable; rotate again", 5)
        }
        other => {
            tracing::error!(error = %other, "signing key rotation failed");
            ApiError::internal("the signing key could not be rotated")
        }
    })?;
    Ok(http::json(
        202,
        &serde_json::json!({
            "key_version": key.version,
            "rekeying": "every webhook subscription gets the new key at the reconciler's next \
                         pass; until then deliveries signed with the previous key are accepted. \
                         A second rotation retires the previous key: wait for the pass first.",
        }),
    ))
}
