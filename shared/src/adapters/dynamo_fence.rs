//! An app record's save too large for one transaction (more than 98 changed links): the
//! header fenced, the links in transactions of 100, the header last (the protocol is in
//! `dynamo_apps`' docs).

use super::DynamoStore;
use super::dynamo_apps::{Change, HEADER_SK, Refused, TRANSACT_MAX};
use super::dynamo_keys::{GuardCondition, TableKeys, app_pk, classify, n, s};
use crate::domain::AppRecord;
use crate::ports::{Guard, Saved, StoreError};
use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};

/// How long a save made in several transactions fences its app: longer than a function
/// runs (15 s), so only a save that died leaves a fence behind, and not for long.
pub const FENCE_MS: i64 = 20_000;

impl DynamoStore {
    /// A save too large for one transaction (see the module docs).
    pub(super) async fn save_fenced(
        &self,
        record: &AppRecord,
        guard: Guard,
        entry: Option<Put>,
        changes: Vec<Change>,
    ) -> Result<Saved, StoreError> {
        let app = &record.app_id;
        // The fence stands at generation + 1, the finished record at + 2.
        let fenced_at = record.generation + 1;
        let generation = record.generation + 2;
        let fence = format!("save:{}", uuid::Uuid::new_v4());
        let now_ms = match guard {
            Guard::Unleased { now_ms, .. } => now_ms,
            _ => system_now_ms(),
        };
        // A lease the caller keeps (a write in doubt) must not end earlier for the fence.
        let until = (now_ms + FENCE_MS).max(record.lease_until_ms.unwrap_or(0));
        let fenced = self.fence_update(record, &guard, &fence, until)?;
        let mut items = vec![TransactWriteItem::builder().update(fenced).build()];
        items.extend(entry.map(|p| TransactWriteItem::builder().put(p).build()));
        match self.transact(items).await {
            Ok(()) => {}
            // Refused, or every attempt failed though one landed: ours if it holds our fence.
            Err(refused) => {
                let ours = self.header(app).await.ok().flatten().is_some_and(|h| {
                    h.lease_owner.as_deref() == Some(fence.as_str()) && h.generation == fenced_at
                });
                if !ours {
                    return match refused {
                        Refused::Condition => Ok(Saved::Conflict),
                        Refused::Failed(e) => Err(e),
                    };
                }
            }
        }
        // Each chunk checks the fence is still ours: one whose fence expired (a save
        // slower than the fence, throttled on a hot partition) must not write over the
        // links of whoever saved after it.
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .key(TableKeys::PK, s(app_pk(app)))
            .key(TableKeys::SK, s(HEADER_SK))
            .condition_expression("lease_owner = :fence AND #g = :g")
            .expression_attribute_names("#g", "generation")
            .expression_attribute_values(":fence", s(fence.clone()))
            .expression_attribute_values(":g", n(fenced_at))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let mut changes = changes.into_iter().peekable();
        let mut chunks = 0;
        while changes.peek().is_some() {
            let mut chunk = vec![
                TransactWriteItem::builder()
                    .condition_check(check.clone())
                    .build(),
            ];
            for c in changes.by_ref().take(TRANSACT_MAX - 1) {
                chunk.push(self.change_item(app, c)?);
            }
            // Retrying a chunk is harmless (its writes are whole links). A failure leaves
            // the fence to expire; every link written so far is whole and as meant.
            match self.transact(chunk).await {
                Ok(()) => {}
                Err(Refused::Failed(e)) => return Err(e),
                Err(Refused::Condition) => {
                    tracing::error!(app_id = %app, "a large save's fence expired before it finished");
                    return Ok(Saved::Conflict);
                }
            }
            chunks += 1;
            if let Some(pause) = &self.between_chunks {
                (pause.0)(chunks).await;
            }
        }
        // The final header moves the generation on again: a record read while the fence
        // stood (its links half written) must not be saved over the finished one.
        let header = Self::header_item(record, generation)?;
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(header))
            .condition_expression("lease_owner = :fence AND #g = :g")
            .expression_attribute_names("#g", "generation")
            .expression_attribute_values(":fence", s(fence))
            .expression_attribute_values(":g", n(fenced_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Saved::Ok { generation }),
            Err(e) => {
                // Landed with its answer lost, if the header is exactly what we wrote.
                let mut meant = record.clone();
                meant.generation = generation;
                meant.links.clear();
                if let Ok(Some(h)) = self.header(app).await
                    && h == meant
                {
                    return Ok(Saved::Ok { generation });
                }
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception())
                {
                    tracing::error!(app_id = %app, "a large save's fence expired before it finished");
                    Ok(Saved::Conflict)
                } else {
                    Err(classify(&e))
                }
            }
        }
    }

    /// The fence: `guard`'s condition, the generation moved on and a lease of the save's
    /// own, leaving the rest of the header (a legacy `links` attribute too) as it was.
    fn fence_update(
        &self,
        record: &AppRecord,
        guard: &Guard,
        fence: &str,
        until: i64,
    ) -> Result<Update, StoreError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(TableKeys::PK, s(app_pk(&record.app_id)))
            .key(TableKeys::SK, s(HEADER_SK))
            .update_expression(
                "SET app_id = :app, app_name = :name, #g = :next, lease_owner = :fence, \
                 lease_until_ms = :until REMOVE lease_version, lease_delivery",
            )
            .expression_attribute_names("#g", "generation")
            .expression_attribute_values(":app", s(record.app_id.as_str()))
            .expression_attribute_values(":name", s(record.app_name.clone()))
            .expression_attribute_values(":next", n(record.generation + 1))
            .expression_attribute_values(":fence", s(fence))
            .expression_attribute_values(":until", n(until));
        let c = GuardCondition::of(guard);
        let mut update = update.condition_expression(c.expression);
        for (k, v) in c.names {
            update = update.expression_attribute_names(k, v);
        }
        for (k, v) in c.values {
            update = update.expression_attribute_values(k, v);
        }
        update.build().map_err(|e| StoreError::Other(e.to_string()))
    }
}

fn system_now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
