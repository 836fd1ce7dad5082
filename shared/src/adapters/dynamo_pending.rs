//! Pending grants in the table (see `dynamo`'s key table): `CONFIRM#{sha256(confirmation)}`
//! / `GRANT`, listed by the reconciler through the sparse `reconcile` index under
//! `PENDING` until something deletes them.

use super::dynamo::DynamoStore;
use super::dynamo_keys::{RECON_PENDING, TableKeys, classify, decode, encode, n, s};
use crate::domain::ProjectId;
use crate::ports::{PendingGrant, PendingGrants, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

/// How long after its expiry DynamoDB's TTL may remove a pending grant's item. The
/// reconciler deletes it within an interval of expiry, after revoking the grant; the TTL
/// only sweeps what it never reached, and must not beat it (TTL deletes can come soon
/// after the time given), or the grant would never be revoked.
const ITEM_TTL_AFTER_EXPIRY_S: i64 = 7 * 24 * 3600;

fn pk(hash: &str) -> String {
    format!("CONFIRM#{hash}")
}

const SK: &str = "GRANT";

/// `recon_sk`: zero-padded expiry first, so string order is time order.
pub(crate) fn recon_sk(expires_at: i64, hash: &str) -> String {
    format!("{:020}#{hash}", expires_at.max(0))
}

#[async_trait]
impl PendingGrants for DynamoStore {
    async fn put_pending(&self, grant: &PendingGrant) -> Result<(), StoreError> {
        let mut item = encode(grant)?;
        item.insert(TableKeys::PK.into(), s(pk(&grant.confirmation_hash)));
        item.insert(TableKeys::SK.into(), s(SK));
        item.insert(TableKeys::RECON_PK.into(), s(RECON_PENDING));
        item.insert(
            TableKeys::RECON_SK.into(),
            s(recon_sk(grant.expires_at, &grant.confirmation_hash)),
        );
        item.insert(
            TableKeys::TTL.into(),
            n(grant.expires_at + ITEM_TTL_AFTER_EXPIRY_S),
        );
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn load_pending(&self, hash: &str) -> Result<Option<PendingGrant>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(TableKeys::PK, s(pk(hash)))
            .key(TableKeys::SK, s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.item.map(decode).transpose()
    }

    async fn take_pending(
        &self,
        hash: &str,
        project: &ProjectId,
        sub: &str,
        now_s: i64,
    ) -> Result<Option<PendingGrant>, StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key(TableKeys::PK, s(pk(hash)))
            .key(TableKeys::SK, s(SK))
            .condition_expression("project_id = :p AND #sub = :sub AND expires_at > :now")
            .expression_attribute_names("#sub", "sub")
            .expression_attribute_values(":p", s(project.as_str()))
            .expression_attribute_values(":sub", s(sub))
            .expression_attribute_values(":now", n(now_s))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.map(decode).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(&e)),
        }
    }

    async fn delete_pending(&self, hash: &str) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key(TableKeys::PK, s(pk(hash)))
            .key(TableKeys::SK, s(SK))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }
}
