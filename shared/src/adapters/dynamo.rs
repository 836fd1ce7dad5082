//! The one DynamoDB table. Keys (`pk`, `sk`, both strings):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | app record header (generation, lease, subscription) | `APP#{app_id}` | `APP` |
//! | one link of the app (status, fingerprint, history) | `APP#{app_id}` | `LINK#{project_id}/{env_var}` |
//! | integration | `PROJECT#{project_id}` | `INTEGRATION` |
//! | directory entry (env var → app) | `PROJECT#{project_id}` | `ENV#{env_var}` |
//! | OAuth state (expires by TTL on `ttl`) | `OAUTH#{sha256(state)}` | `STATE` |
//! | pending grant, awaiting its confirm step (TTL a week after expiry) | `CONFIRM#{sha256(confirmation)}` | `GRANT` |
//! | the reconciler's last check of an app | `APP#{app_id}` | `CHECK` |
//! | the reconciler's Heroku calls per account and hour (TTL) | `BUDGET#{account}` | `H#{hour}` |
//!
//! The sparse global secondary index `reconcile` (keys `recon_pk`, `recon_sk`, keys
//! only) lists what the reconciler visits: an app record carries them while it has an
//! active link (`APPS`, `{token project}#{app}`), an integration while it owes clean-up
//! (`CLEANUP`, `{project}`), a pending grant from the start (`PENDING`,
//! `{expires_at:020}#{hash}`, so `recon_sk < {now:020}` lists the expired ones). A save
//! that keeps them unchanged does not write the index.
//!
//! The webhook path is one strongly consistent Query of the app's partition (header, links
//! and check mark; `dynamo_apps`); a project's status reads only its own links there (and
//! the header and check mark, the sort keys `APP` to `CHECK`); every write is conditional
//! on the header's generation number or lease (optimistic concurrency).

use super::dynamo_keys::{
    ENV_PREFIX, INTEGRATION_SK, Item, RECON_CLEANUP, TableKeys, classify, decode, encode, env_sk,
    n, project_pk, s,
};
use crate::domain::{AppId, AppRecord, EnvVarName, Integration, Link, LinkKey, ProjectId};
use crate::ports::{
    AppStore, DirectoryEntry, Guard, IntegrationStore, LinksOnApp, OAuthState, ProjectItems, Saved,
    StateStore, StoreError,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::Put;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    pub(super) between_chunks: Option<ChunkPause>,
}

/// What a fenced save awaits after each chunk of links it wrote (given the chunk's
/// number): a seam for tests that must act while a save is half done. Unset in functions.
#[derive(Clone)]
pub struct ChunkPause(
    pub std::sync::Arc<dyn Fn(usize) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>,
);

impl std::fmt::Debug for ChunkPause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkPause")
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            between_chunks: None,
        }
    }

    /// The same store, pausing a fenced save after each chunk as `pause` says (tests).
    pub fn pausing_between_chunks(mut self, pause: ChunkPause) -> Self {
        self.between_chunks = Some(pause);
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A directory entry's put, conditional as `AppStore::save_app_with_entry` says.
    fn entry_put(
        &self,
        entry: &DirectoryEntry,
        replacing: Option<&DirectoryEntry>,
    ) -> Result<Put, StoreError> {
        let mut item = encode(entry)?;
        item.insert(TableKeys::PK.into(), s(project_pk(&entry.project_id)));
        item.insert(TableKeys::SK.into(), s(env_sk(&entry.env_var)));
        let put = Put::builder().table_name(self.table()).set_item(Some(item));
        let put = match replacing {
            // An env var synced from elsewhere is a conflict, the same link again is not.
            None => put
                .condition_expression(
                    "attribute_not_exists(pk) OR (app_id = :app AND config_var = :cv)",
                )
                .expression_attribute_values(":app", s(entry.app_id.as_str()))
                .expression_attribute_values(":cv", s(entry.config_var.as_str())),
            // Compare-and-swap: still the entry the caller read.
            Some(read) => put
                .condition_expression("app_id = :app AND config_var = :cv")
                .expression_attribute_values(":app", s(read.app_id.as_str()))
                .expression_attribute_values(":cv", s(read.config_var.as_str())),
        };
        put.build().map_err(|e| StoreError::Other(e.to_string()))
    }

    /// A strongly consistent GetItem of one item.
    pub(super) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(TableKeys::PK, s(pk))
            .key(TableKeys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.item)
    }

    /// The items of partition `pk` whose sort keys `sk` selects, strongly consistent,
    /// every page; `projection` names the attributes to read.
    pub(super) async fn query_partition(
        &self,
        pk: String,
        sk: Sk<'_>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let condition = match sk {
            Sk::All => "pk = :pk",
            Sk::Prefix(_) => "pk = :pk AND begins_with(sk, :prefix)",
            Sk::Between(..) => "pk = :pk AND sk BETWEEN :from AND :to",
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(condition)
            .expression_attribute_values(":pk", s(pk))
            .set_projection_expression(projection.map(str::to_owned))
            .consistent_read(true);
        match sk {
            Sk::All => {}
            Sk::Prefix(prefix) => query = query.expression_attribute_values(":prefix", s(prefix)),
            Sk::Between(from, to) => {
                query = query
                    .expression_attribute_values(":from", s(from))
                    .expression_attribute_values(":to", s(to));
            }
        }
        let mut pages = query.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(|e| classify(&e))?);
        }
        Ok(out)
    }
}

/// Which items of a partition a Query reads, by sort key.
#[derive(Clone, Copy)]
pub(super) enum Sk<'a> {
    All,
    Prefix(&'a str),
    /// From the first to the second, both included.
    Between(&'a str, &'a str),
}

#[async_trait]
impl AppStore for DynamoStore {
    async fn load_app(&self, app: &AppId) -> Result<Option<AppRecord>, StoreError> {
        Ok(self.load_partition(app).await?.record)
    }

    async fn load_project_links(
        &self,
        app: &AppId,
        project: &ProjectId,
    ) -> Result<LinksOnApp, StoreError> {
        self.project_links(app, project).await
    }

    async fn load_link(&self, app: &AppId, key: &LinkKey) -> Result<Option<Link>, StoreError> {
        self.link(app, key).await
    }

    async fn save_app(&self, record: &AppRecord, guard: Guard) -> Result<Saved, StoreError> {
        self.save_record(record, guard, None).await
    }

    async fn save_app_with_entry(
        &self,
        record: &AppRecord,
        guard: Guard,
        entry: &DirectoryEntry,
        replacing: Option<&DirectoryEntry>,
    ) -> Result<Saved, StoreError> {
        let put = self.entry_put(entry, replacing)?;
        self.save_record(record, guard, Some(put)).await
    }

    async fn directory_entry(
        &self,
        project: &ProjectId,
        env_var: &EnvVarName,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        self.get(project_pk(project), &env_sk(env_var))
            .await?
            .map(decode)
            .transpose()
    }

    async fn directory(&self, project: &ProjectId) -> Result<Vec<DirectoryEntry>, StoreError> {
        self.query_partition(project_pk(project), Sk::Prefix(ENV_PREFIX), None)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn load_project(&self, project: &ProjectId) -> Result<ProjectItems, StoreError> {
        let mut out = ProjectItems::default();
        for item in self
            .query_partition(project_pk(project), Sk::All, None)
            .await?
        {
            match item.get(TableKeys::SK).and_then(|v| v.as_s().ok()) {
                Some(sk) if sk == INTEGRATION_SK => out.integration = Some(decode(item)?),
                Some(sk) if sk.starts_with(ENV_PREFIX) => out.directory.push(decode(item)?),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl IntegrationStore for DynamoStore {
    async fn load_integration(
        &self,
        project: &ProjectId,
    ) -> Result<Option<Integration>, StoreError> {
        self.get(project_pk(project), INTEGRATION_SK)
            .await?
            .map(decode)
            .transpose()
    }

    async fn save_integration(
        &self,
        integration: &Integration,
        expected_generation: Option<u64>,
    ) -> Result<Saved, StoreError> {
        let mut next = integration.clone();
        next.generation = expected_generation.map_or(1, |g| g + 1);
        let mut item = encode(&next)?;
        item.insert(TableKeys::PK.into(), s(project_pk(&integration.project_id)));
        item.insert(TableKeys::SK.into(), s(INTEGRATION_SK));
        if !integration.pending_cleanup.is_empty() {
            item.insert(TableKeys::RECON_PK.into(), s(RECON_CLEANUP));
            item.insert(
                TableKeys::RECON_SK.into(),
                s(integration.project_id.as_str()),
            );
        }
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        req = match expected_generation {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(g) => req
                .condition_expression("#g = :g")
                .expression_attribute_names("#g", "generation")
                .expression_attribute_values(":g", n(g)),
        };
        match req.send().await {
            Ok(_) => Ok(Saved::Ok {
                generation: next.generation,
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(Saved::Conflict)
            }
            Err(e) => Err(classify(&e)),
        }
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn put_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        let mut item = encode(state)?;
        item.insert(
            TableKeys::PK.into(),
            s(format!("OAUTH#{}", state.state_hash)),
        );
        item.insert(TableKeys::SK.into(), s("STATE"));
        // DynamoDB's TTL deletes it some time after expiry; the callback checks expiry itself.
        item.insert(TableKeys::TTL.into(), n(state.expires_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn take_state(&self, state_hash: &str) -> Result<Option<OAuthState>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(TableKeys::PK, s(format!("OAUTH#{state_hash}")))
            .key(TableKeys::SK, s("STATE"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.attributes.map(decode).transpose()
    }
}
