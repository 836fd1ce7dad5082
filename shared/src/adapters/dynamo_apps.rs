//! App records in the table: a small header item (sk `APP`: generation, lease,
//! subscription) and one item per link (sk `LINK#{project}/{env_var}`), all in the app's
//! partition. One strongly consistent Query reads the whole record (and the reconciler's
//! `CHECK` mark beside it), and no item grows with the number of links: when every link
//! lived in the app's one item, ~100 links reached DynamoDB's 400 KB item limit.
//!
//! Every save is guarded by the header alone (its generation and lease), and writes the
//! links that changed since the record was read (`AppRecord::loaded`):
//! - up to 98 changed links: one transaction with the header (and a directory entry), as
//!   atomic as the single item was;
//! - more (a rotation writing 1,000 env vars of one app; `dynamo_fence`): the header is
//!   first *fenced* in
//!   one conditional update (the guard checked, the generation moved on, a lease of the
//!   save's own set), then the links go in transactions of 100, then the header as the
//!   caller meant it, on condition the fence is still ours. Meanwhile readers see a live
//!   lease and wait or conflict as for any lease, and every link item they read is one a
//!   save wrote whole. A save that dies midway leaves the fence until it expires
//!   ([`FENCE_MS`]); each link it wrote is what the caller meant (the sync commits a link
//!   only after its value was written).
//!
//! Records written before this layout hold their links in the header's `links`
//! attribute; they load as before, and their next save moves the links into items (the
//! fence is an update, so the old attribute stays until the final header replaces it).

use super::DynamoStore;
use super::dynamo::Sk;
use super::dynamo_keys::{
    GuardCondition, Item, LINK_PREFIX, RECON_APPS, TableKeys, app_pk, classify, decode, encode, n,
    s,
};
use crate::domain::{AppId, AppRecord, Link, LinkKey, LoadedLinks, ProjectId, Timestamp};
use crate::ports::{Guard, LinksOnApp, Saved, StoreError};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::Deserialize;
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;

pub(crate) const HEADER_SK: &str = "APP";
pub(crate) const CHECK_SK: &str = "CHECK";
/// Items one TransactWriteItems may hold (DynamoDB's limit).
pub(super) const TRANSACT_MAX: usize = 100;

fn link_sk(key: &LinkKey) -> String {
    format!("{LINK_PREFIX}{key}")
}

/// A change to one link item.
pub(super) enum Change {
    Put(Item),
    Delete(String),
}

/// Why a write did not happen: its condition failed, or the call did.
pub(super) enum Refused {
    Condition,
    Failed(StoreError),
}

/// The links of a header written before links had items of their own.
#[derive(Deserialize)]
struct Legacy {
    #[serde(default)]
    links: BTreeMap<LinkKey, Link>,
}

/// What one Query of an app's partition holds.
pub(crate) struct Partition {
    pub record: Option<AppRecord>,
    pub checked_at: Option<Timestamp>,
}

impl DynamoStore {
    /// Reads every item of the app's partition, strongly consistent (a page per MB).
    pub(crate) async fn load_partition(&self, app: &AppId) -> Result<Partition, StoreError> {
        partition_of(self.query_partition(app_pk(app), Sk::All, None).await?)
    }

    /// `project`'s links on `app` and the app's check mark: the header and check mark
    /// (`APP` to `CHECK`: no link key sorts between) and the project's link items, two
    /// Queries at once, so a status read costs the project's links, not the app's.
    pub(super) async fn project_links(
        &self,
        app: &AppId,
        project: &ProjectId,
    ) -> Result<LinksOnApp, StoreError> {
        let prefix = format!("{LINK_PREFIX}{}", LinkKey::project_prefix(project));
        let (head, links) = futures_util::try_join!(
            self.query_partition(app_pk(app), Sk::Between(HEADER_SK, CHECK_SK), None),
            self.query_partition(app_pk(app), Sk::Prefix(&prefix), None),
        )?;
        let p = partition_of(head.into_iter().chain(links).collect())?;
        Ok(LinksOnApp {
            // A legacy header holds every project's links: keep this one's.
            links: p
                .record
                .map(|r| r.into_project_links(project))
                .unwrap_or_default(),
            checked_at: p.checked_at,
        })
    }

    /// The header item of `record` at `generation`, with the reconcile index's keys while
    /// it has an active link. Links are not part of it (`AppRecord` skips them).
    pub(super) fn header_item(record: &AppRecord, generation: u64) -> Result<Item, StoreError> {
        let mut item = encode(record)?;
        item.insert("generation".into(), n(generation));
        item.insert(TableKeys::PK.into(), s(app_pk(&record.app_id)));
        item.insert(TableKeys::SK.into(), s(HEADER_SK));
        if let Some(project) = record.token_project() {
            item.insert(TableKeys::RECON_PK.into(), s(RECON_APPS));
            item.insert(
                TableKeys::RECON_SK.into(),
                s(format!("{project}#{}", record.app_id)),
            );
        }
        Ok(item)
    }

    fn link_item(app: &AppId, link: &Link) -> Result<Item, StoreError> {
        let mut item = encode(link)?;
        item.insert(TableKeys::PK.into(), s(app_pk(app)));
        item.insert(TableKeys::SK.into(), s(link_sk(&link.key())));
        Ok(item)
    }

    /// The header put under `guard`'s condition.
    pub(super) fn guarded_put(&self, item: Item, guard: &Guard) -> Result<Put, StoreError> {
        let c = GuardCondition::of(guard);
        let mut put = Put::builder()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(c.expression);
        for (k, v) in c.names {
            put = put.expression_attribute_names(k, v);
        }
        for (k, v) in c.values {
            put = put.expression_attribute_values(k, v);
        }
        put.build().map_err(|e| StoreError::Other(e.to_string()))
    }

    /// The link items to write or remove so the stored links become `record.links`.
    async fn link_changes(
        &self,
        record: &AppRecord,
        guard: &Guard,
    ) -> Result<Vec<Change>, StoreError> {
        // sk → digest of the stored link, where known.
        let stored: BTreeMap<String, Option<u64>> = match (record.loaded.digests(), guard) {
            (Some(d), _) => d.iter().map(|(k, v)| (link_sk(k), Some(*v))).collect(),
            (None, Guard::New) => BTreeMap::new(),
            (None, _) => self.stored_link_keys(&record.app_id).await?,
        };
        let mut changes = Vec::new();
        for link in record.links.values() {
            let sk = link_sk(&link.key());
            if stored.get(&sk).copied().flatten() != Some(link.digest()) {
                changes.push(Change::Put(Self::link_item(&record.app_id, link)?));
            }
        }
        for sk in stored.keys() {
            let gone = sk
                .strip_prefix(LINK_PREFIX)
                .is_some_and(|k| !record.links.keys().any(|key| key.as_str() == k));
            if gone {
                changes.push(Change::Delete(sk.clone()));
            }
        }
        Ok(changes)
    }

    /// The sort keys of the app's link items (for a record not read from this store).
    async fn stored_link_keys(
        &self,
        app: &AppId,
    ) -> Result<BTreeMap<String, Option<u64>>, StoreError> {
        let items = self
            .query_partition(app_pk(app), Sk::Prefix(LINK_PREFIX), Some(TableKeys::SK))
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|item| {
                let sk = item.get(TableKeys::SK)?.as_s().ok()?;
                Some((sk.clone(), None))
            })
            .collect())
    }

    pub(super) fn change_item(
        &self,
        app: &AppId,
        change: Change,
    ) -> Result<TransactWriteItem, StoreError> {
        let other = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(e.to_string());
        Ok(match change {
            Change::Put(item) => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(item))
                        .build()
                        .map_err(other)?,
                )
                .build(),
            Change::Delete(sk) => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(self.table())
                        .key(TableKeys::PK, s(app_pk(app)))
                        .key(TableKeys::SK, s(sk))
                        .build()
                        .map_err(other)?,
                )
                .build(),
        })
    }

    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), Refused> {
        match self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if cancelled_by_condition(&e) => Err(Refused::Condition),
            Err(e) => Err(Refused::Failed(classify(&e))),
        }
    }

    /// One link's item; a record still in the old form (links in its header) is read
    /// whole instead.
    pub(crate) async fn link(
        &self,
        app: &AppId,
        key: &LinkKey,
    ) -> Result<Option<Link>, StoreError> {
        match self.get(app_pk(app), &link_sk(key)).await? {
            Some(item) => Ok(Some(decode(item)?)),
            None => Ok(self
                .load_partition(app)
                .await?
                .record
                .and_then(|r| r.links.get(key).cloned())),
        }
    }

    /// The header alone, strongly consistent: how a save whose answer was lost finds
    /// out whether it landed.
    pub(super) async fn header(&self, app: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.get(app_pk(app), HEADER_SK)
            .await?
            .map(decode)
            .transpose()
    }

    /// Saves `record` under `guard` (at generation + 1, or + 2 when fenced), with `entry`
    /// (a directory entry's conditional put) in the same transaction as the guard's check.
    pub(crate) async fn save_record(
        &self,
        record: &AppRecord,
        guard: Guard,
        entry: Option<Put>,
    ) -> Result<Saved, StoreError> {
        let generation = record.generation + 1;
        let saved = Saved::Ok { generation };
        let changes = self.link_changes(record, &guard).await?;
        let room = TRANSACT_MAX - 1 - usize::from(entry.is_some());
        if changes.is_empty() && entry.is_none() {
            // A lease taken or released: one PutItem, half a transaction's write units.
            let put = self.guarded_put(Self::header_item(record, generation)?, &guard)?;
            let result = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_names(put.expression_attribute_names)
                .set_expression_attribute_values(put.expression_attribute_values)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(saved),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(Saved::Conflict)
                }
                Err(e) => Err(classify(&e)),
            };
        }
        if changes.len() <= room {
            let header = self.guarded_put(Self::header_item(record, generation)?, &guard)?;
            let mut items = vec![TransactWriteItem::builder().put(header).build()];
            items.extend(entry.map(|p| TransactWriteItem::builder().put(p).build()));
            for change in changes {
                items.push(self.change_item(&record.app_id, change)?);
            }
            return match self.transact(items).await {
                Ok(()) => Ok(saved),
                Err(Refused::Condition) => Ok(Saved::Conflict),
                Err(Refused::Failed(e)) => Err(e),
            };
        }
        self.save_fenced(record, guard, entry, changes).await
    }
}

/// A transaction cancelled because a condition failed, or because another transaction was
/// writing the same item at once (DynamoDB's `TransactionConflict`): either way the
/// caller reloads and decides again.
fn cancelled_by_condition(e: &SdkError<TransactWriteItemsError>) -> bool {
    e.as_service_error()
        .and_then(|se| match se {
            TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
            _ => None,
        })
        .is_some_and(|c| {
            c.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        })
}

/// An app's record and check mark from (some of) its partition's items.
fn partition_of(items: Vec<Item>) -> Result<Partition, StoreError> {
    let mut header: Option<Item> = None;
    let mut links = BTreeMap::new();
    let mut digests = BTreeMap::new();
    let mut checked_at = None;
    for item in items {
        let sk = item.get(TableKeys::SK).and_then(|v| v.as_s().ok());
        match sk.map(String::as_str) {
            Some(HEADER_SK) => header = Some(item),
            Some(CHECK_SK) => {
                if let Some(at) = item.get("checked_at").and_then(|v| v.as_s().ok()) {
                    checked_at = Some(
                        Timestamp::parse(at, &Rfc3339)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    );
                }
            }
            Some(sk) if sk.starts_with(LINK_PREFIX) => {
                let older = matches!(item.get("history"), Some(AttributeValue::L(_)));
                let link: Link = decode(item)?;
                // A link stored in an older shape (its history a list of maps) gets a
                // digest its own cannot match: the next save of the app rewrites it.
                let digest = link.digest() ^ u64::from(older);
                digests.insert(link.key(), digest);
                links.insert(link.key(), link);
            }
            _ => {}
        }
    }
    let Some(header) = header else {
        return Ok(Partition {
            record: None,
            checked_at,
        });
    };
    let legacy = header.contains_key("links");
    let mut record: AppRecord = if legacy {
        let old: Legacy = decode(header.clone())?;
        for (key, link) in old.links {
            // A link item is newer than the attribute: a move that died midway.
            links.entry(key).or_insert(link);
        }
        decode(header)?
    } else {
        decode(header)?
    };
    record.links = links;
    // A legacy record's links are not all items yet: its save finds out what is.
    record.loaded = if legacy {
        LoadedLinks::default()
    } else {
        LoadedLinks::new(digests)
    };
    Ok(Partition {
        record: Some(record),
        checked_at,
    })
}
