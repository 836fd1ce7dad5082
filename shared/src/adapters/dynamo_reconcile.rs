//! The reconciler's part of the table: the sparse `reconcile` index it lists from, the
//! per-app check marks, and the per-account budget of Heroku calls (see `dynamo`'s
//! key table).

use super::dynamo::DynamoStore;
use super::dynamo_apps::HEADER_SK;
use super::dynamo_keys::{
    INTEGRATION_SK, LINK_PREFIX, RECON_APPS, RECON_CLEANUP, RECON_PENDING, TableKeys, app_pk,
    classify, n, s,
};
use crate::domain::{AppId, ProjectId, Timestamp};
use crate::ports::{RateBudget, ReconcileIndex, Reindexed, StoreError};
use async_trait::async_trait;
use time::format_description::well_known::Rfc3339;

/// How long a budget item outlives its hour before DynamoDB's TTL removes it.
const BUDGET_TTL_S: i64 = 2 * 3600;

impl DynamoStore {
    /// Every `recon_sk` under `recon_pk = partition`, in index order.
    async fn reconcile_keys(&self, partition: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(TableKeys::RECONCILE_INDEX)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", TableKeys::RECON_PK)
            .expression_attribute_values(":p", s(partition))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify(&e))?;
            if let Some(key) = item.get(TableKeys::RECON_SK).and_then(|v| v.as_s().ok()) {
                out.push(key.clone());
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ReconcileIndex for DynamoStore {
    async fn apps_with_active_links(&self) -> Result<Vec<AppId>, StoreError> {
        // `{project}#{app}`: the app id (a UUID, no '#') is after the last '#'.
        self.reconcile_keys(RECON_APPS)
            .await?
            .iter()
            .map(|k| {
                let app = k.rsplit('#').next().unwrap_or_default();
                AppId::parse(app).map_err(|e| StoreError::Corrupt(format!("{k}: {e}")))
            })
            .collect()
    }

    async fn projects_with_cleanup(&self) -> Result<Vec<ProjectId>, StoreError> {
        self.reconcile_keys(RECON_CLEANUP)
            .await?
            .iter()
            .map(|k| ProjectId::parse(k).map_err(|e| StoreError::Corrupt(format!("{k}: {e}"))))
            .collect()
    }

    async fn expired_pending_grants(&self, before_s: i64) -> Result<Vec<String>, StoreError> {
        // `{expires_at:020}#{hash}` sorts by expiry: everything below `{before:020}`
        // expired before `before_s`.
        let mut out = Vec::new();
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(TableKeys::RECONCILE_INDEX)
            .key_condition_expression("#p = :p AND #s < :before")
            .expression_attribute_names("#p", TableKeys::RECON_PK)
            .expression_attribute_names("#s", TableKeys::RECON_SK)
            .expression_attribute_values(":p", s(RECON_PENDING))
            .expression_attribute_values(
                ":before",
                s(super::dynamo_pending::recon_sk(before_s, "")),
            )
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify(&e))?;
            if let Some(key) = item.get(TableKeys::RECON_SK).and_then(|v| v.as_s().ok())
                && let Some((_, hash)) = key.split_once('#')
            {
                out.push(hash.to_owned());
            }
        }
        Ok(out)
    }

    async fn mark_checked(
        &self,
        app: &AppId,
        at: Timestamp,
        release: u64,
    ) -> Result<(), StoreError> {
        let at = at
            .format(&Rfc3339)
            .map_err(|e| StoreError::Other(e.to_string()))?;
        self.client()
            .put_item()
            .table_name(self.table())
            .item(TableKeys::PK, s(app_pk(app)))
            .item(TableKeys::SK, s("CHECK"))
            .item("checked_at", s(at))
            .item("release_version", n(release))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn checked_at(&self, app: &AppId) -> Result<Option<Timestamp>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(TableKeys::PK, s(app_pk(app)))
            .key(TableKeys::SK, s("CHECK"))
            .projection_expression("checked_at")
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.item
            .and_then(|i| i.get("checked_at").and_then(|v| v.as_s().ok()).cloned())
            .map(|at| {
                Timestamp::parse(&at, &Rfc3339).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    async fn reindex(&self, now_ms: i64) -> Result<Reindexed, StoreError> {
        DynamoStore::reindex(self, now_ms).await
    }
}

#[async_trait]
impl RateBudget for DynamoStore {
    async fn take(
        &self,
        account: &str,
        n_calls: u32,
        limit: u32,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        if n_calls > limit {
            return Ok(false);
        }
        let hour = now_s.div_euclid(3600);
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(TableKeys::PK, s(format!("BUDGET#{account}")))
            .key(TableKeys::SK, s(format!("H#{hour}")))
            .update_expression("ADD used :n SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(used) OR used <= :room")
            .expression_attribute_names("#ttl", TableKeys::TTL)
            .expression_attribute_values(":n", n(n_calls))
            .expression_attribute_values(":room", n(limit - n_calls))
            .expression_attribute_values(":ttl", n(hour * 3600 + BUDGET_TTL_S))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(&e)),
        }
    }
}

impl DynamoStore {
    /// Puts the reconcile index's keys on items that should carry them and do not:
    /// items written before the index existed (an upgrade), and moves the links of app
    /// records written before links had items of their own into items, and rewrites link
    /// items whose history is still a list as text. An app whose deliveries are lost is
    /// exactly one nobody saves, so it would never be listed otherwise. Each item
    /// is re-saved under its usual guard (the save adds the keys); one changed meanwhile
    /// got them from that change. One Scan of the table: run it once after upgrading.
    pub async fn reindex(&self, now_ms: i64) -> Result<Reindexed, StoreError> {
        use crate::ports::{AppStore, Guard, IntegrationStore};
        let mut out = Reindexed::default();
        let mut pages = self
            .client()
            .scan()
            .table_name(self.table())
            .filter_expression(
                "(sk = :app AND (attribute_not_exists(#p) OR attribute_exists(#links))) \
                 OR (sk = :integration AND attribute_not_exists(#p)) \
                 OR (begins_with(sk, :link) AND attribute_type(#history, :list))",
            )
            .projection_expression("pk, sk")
            .expression_attribute_names("#p", TableKeys::RECON_PK)
            .expression_attribute_names("#links", "links")
            .expression_attribute_names("#history", "history")
            .expression_attribute_values(":app", s(HEADER_SK))
            .expression_attribute_values(":integration", s(INTEGRATION_SK))
            .expression_attribute_values(":link", s(LINK_PREFIX))
            .expression_attribute_values(":list", s("L"))
            .into_paginator()
            .items()
            .send();
        let mut keys = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify(&e))?;
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            if let (Some(pk), Some(sk)) = (text(TableKeys::PK), text(TableKeys::SK)) {
                keys.push((pk, sk));
            }
        }
        out.scanned = keys.len();
        // An app is re-saved once, however many of its items the scan matched.
        let mut saved_apps = std::collections::BTreeSet::new();
        for (pk, sk) in keys {
            if sk == HEADER_SK || sk.starts_with(LINK_PREFIX) {
                if !saved_apps.insert(pk.clone()) {
                    continue;
                }
                let Some(app) = pk.strip_prefix("APP#").and_then(|a| AppId::parse(a).ok()) else {
                    continue;
                };
                let Some(record) = self.load_app(&app).await? else {
                    continue;
                };
                // Unindexed, keeping its links in the header (written before links had
                // items of their own), or with links whose history is still a list: the
                // save indexes it, moves them out, rewrites them as text.
                let guard = Guard::Unleased {
                    generation: record.generation,
                    now_ms,
                };
                self.save_app(&record, guard).await?;
                out.apps += 1;
            } else if let Some(project) = pk
                .strip_prefix("PROJECT#")
                .and_then(|p| ProjectId::parse(p).ok())
                && let Some(integration) = self.load_integration(&project).await?
                && !integration.pending_cleanup.is_empty()
            {
                self.save_integration(&integration, Some(integration.generation))
                    .await?;
                out.integrations += 1;
            }
        }
        tracing::info!(
            scanned = out.scanned,
            apps = out.apps,
            integrations = out.integrations,
            "reconcile index backfilled"
        );
        Ok(out)
    }
}
