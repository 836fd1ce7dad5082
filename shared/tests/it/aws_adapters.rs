//! What only the AWS adapters do, against moto over HTTP: an unreadable item and a missing
//! table, Secrets Manager's writes, idempotency tokens and deletion, and failures (through the
//! fault proxy) classified as transient. The store semantics every store adapter shares
//! (guards, leases, the directory transaction) are in `contract`.

use crate::contract::{app_id, entry, many_links, new_app};
use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::{ExposeSecret, SecretString};
use shared::adapters::{ChunkPause, DynamoStore, SecretsManagerVault};
use shared::ports::{AppStore, Guard, Saved, SecretVault, StoreError, VaultError};

fn moto() -> &'static str {
    local::moto::Moto::shared()
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    shared::aws::local(endpoint).await
}

/// A DynamoStore on a fresh table of its own.
pub(crate) async fn store_at(endpoint: &str) -> DynamoStore {
    let direct = aws_sdk_dynamodb::Client::new(&sdk(moto()).await);
    let table = format!("t-{}", uuid::Uuid::new_v4().simple());
    local::bootstrap::ensure_table(&direct, &table)
        .await
        .expect("table");
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk(endpoint).await), table)
}

pub(crate) async fn store() -> DynamoStore {
    store_at(moto()).await
}

async fn vault_at(endpoint: &str) -> SecretsManagerVault {
    SecretsManagerVault::new(aws_sdk_secretsmanager::Client::new(&sdk(endpoint).await))
}

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk(moto()).await)
}

fn secret_name(what: &str) -> String {
    format!("test/{}/{what}", uuid::Uuid::new_v4().simple())
}

// ---- DynamoStore ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_unreadable_item_then_corrupt_and_missing_table_then_not_transient() {
    let store = store().await;
    let app = app_id();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S(format!("APP#{app}")))
        .item("sk", AttributeValue::S("APP".into()))
        .item("generation", AttributeValue::S("not a number".into()))
        .send()
        .await
        .expect("raw put");
    let err = store.load_app(&app).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");

    let missing = DynamoStore::new(store.client().clone(), "no-such-table");
    let err = missing.load_app(&app).await.unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
}

/// Every item of an app's partition, raw.
async fn partition(
    store: &DynamoStore,
    app: &shared::domain::AppId,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("APP#{app}")))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("query")
}

/// Issue 9: links have items of their own, so no item grows with the links of an app, and
/// a link's item stays small whatever its history holds (details are clipped in bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_app_with_many_links_and_full_histories_then_no_item_passes_64_kib() {
    use shared::domain::{HISTORY_LEN, plan::note_error};
    let store = store().await;
    let app = app_id();
    let mut r = new_app(&store, &app).await;
    for mut l in many_links(&app, 150) {
        // Every line a different long error, as the sync records them.
        for v in 0..HISTORY_LEN as u64 * 2 {
            let why = format!("{v} {}", "é".repeat(5_000));
            note_error(&mut l, &why, time::OffsetDateTime::now_utc(), Some(v));
        }
        r.links.insert(l.key(), l);
    }
    let guard = Guard::Unleased {
        generation: 1,
        now_ms: 0,
    };
    // 150 links: more than one transaction holds, so fenced (generation + 2).
    assert_eq!(
        store.save_app(&r, guard).await.unwrap(),
        Saved::Ok { generation: 3 }
    );
    let items = partition(&store, &app).await;
    assert_eq!(items.len(), 151, "a header and an item per link");
    let largest = items.iter().map(shared::adapters::item_size).max().unwrap();
    assert!(largest <= 64 * 1024, "largest item {largest} B");
}

/// A link as versions before text histories stored it: the history a list of maps.
fn old_link_item(link: &shared::domain::Link) -> std::collections::HashMap<String, AttributeValue> {
    let mut item: std::collections::HashMap<String, AttributeValue> =
        serde_dynamo::to_item(link).unwrap();
    item.insert(
        "history".into(),
        serde_dynamo::to_attribute_value(&link.history).unwrap(),
    );
    item
}

/// Writes `item` into the app's partition at `sk` as it is, past the store: an item as an
/// older version wrote it.
async fn raw_put(
    store: &DynamoStore,
    mut item: std::collections::HashMap<String, AttributeValue>,
    app: &shared::domain::AppId,
    sk: String,
) {
    item.insert("pk".into(), AttributeValue::S(format!("APP#{app}")));
    item.insert("sk".into(), AttributeValue::S(sk));
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .expect("raw put");
}

/// Records written before links had items of their own keep them in the header's `links`
/// attribute (histories as lists of maps, as those versions wrote them): they load as they
/// were, and the backfill moves the links into items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_record_with_its_links_in_one_item_then_it_loads_and_the_backfill_moves_them() {
    let store = store().await;
    let app = app_id();
    let mut r = shared::domain::AppRecord::new(app.clone(), "sample-app");
    r.generation = 7;
    for l in many_links(&app, 120) {
        r.links.insert(l.key(), l);
    }
    let mut item: std::collections::HashMap<String, AttributeValue> =
        serde_dynamo::to_item(&r).unwrap();
    let links = r
        .links
        .iter()
        .map(|(k, l)| (k.to_string(), AttributeValue::M(old_link_item(l))))
        .collect();
    item.insert("links".into(), AttributeValue::M(links));
    raw_put(&store, item, &app, "APP".into()).await;
    assert_eq!(store.load_app(&app).await.unwrap(), Some(r.clone()));
    // A project's status reads the header too: its links there are found, no one else's.
    let p3 = crate::support::project("p3");
    let on_app = store.load_project_links(&app, &p3).await.unwrap();
    let of_p3: Vec<_> = r
        .links
        .values()
        .filter(|l| l.project_id == p3)
        .cloned()
        .collect();
    assert_eq!((on_app.links.len(), on_app.links), (12, of_p3));

    let done = store.reindex(0).await.unwrap();
    assert_eq!(done.apps, 1);
    let moved = store.load_app(&app).await.unwrap().expect("stored");
    // 120 links moved: a fenced save (generation + 2).
    r.generation = 9;
    assert_eq!(moved, r);
    let items = partition(&store, &app).await;
    assert_eq!(items.len(), 121, "a header and an item per link");
    assert!(
        items.iter().all(|i| !i.contains_key("links")),
        "the header no longer holds the links"
    );
}

/// A link's history is stored as one JSON string (decoding twenty nested maps per link was
/// the largest part of reading an app's partition). Link items written before, with the
/// history as a list of maps, load as they were; any save of their app rewrites them as
/// text, and the `reindex` backfill rewrites those of apps nobody saves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_link_items_with_their_history_as_a_list_then_they_load_and_saves_or_the_backfill_rewrite_them()
 {
    let store = store().await;
    // (history shape of each link item: true when text)
    let shapes = |app: shared::domain::AppId| {
        let store = store.clone();
        async move {
            partition(&store, &app)
                .await
                .into_iter()
                .filter(|i| {
                    i.get("sk")
                        .and_then(|s| s.as_s().ok())
                        .is_some_and(|s| s.starts_with("LINK#"))
                })
                .map(|i| matches!(i.get("history"), Some(AttributeValue::S(_))))
                .collect::<Vec<bool>>()
        }
    };
    let (saved_app, idle_app) = (app_id(), app_id());
    let mut records = Vec::new();
    for app in [&saved_app, &idle_app] {
        let mut r = shared::domain::AppRecord::new(app.clone(), "sample-app");
        for l in many_links(app, 3) {
            r.links.insert(l.key(), l);
        }
        assert_eq!(
            store.save_app(&r, Guard::New).await.unwrap(),
            Saved::Ok { generation: 1 }
        );
        assert_eq!(shapes(app.clone()).await, [true; 3], "written as text");
        // The same links as an older version wrote them: the history a list of maps.
        for l in r.links.values() {
            raw_put(&store, old_link_item(l), app, format!("LINK#{}", l.key())).await;
        }
        assert_eq!(shapes(app.clone()).await, [false; 3]);
        let loaded = store.load_app(app).await.unwrap().expect("stored");
        assert_eq!(loaded.links, r.links, "the old shape loads as it was");
        records.push(loaded);
    }

    // A save that changes one link rewrites the other two as well.
    let mut loaded = records.remove(0);
    let key = loaded.links.keys().next().unwrap().clone();
    loaded.links.get_mut(&key).unwrap().last_error = Some("changed".into());
    let guard = Guard::Unleased {
        generation: 1,
        now_ms: 0,
    };
    assert_eq!(
        store.save_app(&loaded, guard).await.unwrap(),
        Saved::Ok { generation: 2 }
    );
    assert_eq!(shapes(saved_app.clone()).await, [true; 3]);
    let reloaded = store.load_app(&saved_app).await.unwrap().expect("stored");
    assert_eq!(reloaded.links, loaded.links);

    // The app nobody saves: the backfill finds it by its links and rewrites them.
    let done = store.reindex(0).await.unwrap();
    assert_eq!(done.apps, 1, "only the app with links in the older shape");
    assert_eq!(shapes(idle_app.clone()).await, [true; 3]);
    let idle = store.load_app(&idle_app).await.unwrap().expect("stored");
    assert_eq!(idle.links, records[0].links);
    assert_eq!(
        store.reindex(0).await.unwrap().apps,
        0,
        "nothing left to rewrite"
    );
}

/// A store whose first fenced save pauses after its first chunk of links: `paused` is
/// notified then, and the save goes on once `resume` is. Later saves do not pause.
async fn pausing_store() -> (
    DynamoStore,
    std::sync::Arc<tokio::sync::Notify>,
    std::sync::Arc<tokio::sync::Notify>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (paused, resume) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let once = Arc::new(AtomicBool::new(false));
    let (p, r) = (paused.clone(), resume.clone());
    let pause = ChunkPause(Arc::new(move |chunk| {
        let first = chunk == 1 && !once.swap(true, Ordering::SeqCst);
        let (p, r) = (p.clone(), r.clone());
        Box::pin(async move {
            if first {
                p.notify_one();
                r.notified().await;
            }
        })
    }));
    (store().await.pausing_between_chunks(pause), paused, resume)
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A large save (250 new links on a fresh app) started in the background and paused
/// after its first chunk: the store, the app, the record being saved, the save, and what
/// resumes it.
async fn half_done_large_save() -> (
    DynamoStore,
    shared::domain::AppId,
    shared::domain::AppRecord,
    tokio::task::JoinHandle<Result<Saved, StoreError>>,
    std::sync::Arc<tokio::sync::Notify>,
) {
    let (store, paused, resume) = pausing_store().await;
    let app = app_id();
    let mut r = new_app(&store, &app).await;
    for l in many_links(&app, 250) {
        r.links.insert(l.key(), l);
    }
    let saver = tokio::spawn({
        let (store, r) = (store.clone(), r.clone());
        async move {
            let guard = Guard::Unleased {
                generation: 1,
                now_ms: now_ms(),
            };
            store.save_app(&r, guard).await
        }
    });
    paused.notified().await;
    (store, app, r, saver, resume)
}

/// A record read while a large save's fence stood has half its links written; once the
/// save finishes, saving that record must conflict (the finished header is at generation
/// + 2, past the fence's + 1), whenever its reader saves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_record_read_while_a_large_save_was_half_done_when_saved_after_it_then_conflict() {
    let (store, app, r, saver, resume) = half_done_large_save().await;
    let half = store.load_app(&app).await.unwrap().expect("stored");
    assert!(half.links.len() < 250, "read while half written");
    resume.notify_one();
    let Saved::Ok { generation } = saver.await.unwrap().unwrap() else {
        panic!("the large save was refused");
    };

    let mut late = half.clone();
    late.set_lease(None);
    for l in late.links.values_mut() {
        l.last_error = Some("late".into());
    }
    // Past the fence's expiry, as a reader waiting out the lease it saw would be.
    let after = now_ms() + shared::adapters::FENCE_MS + 1;
    let guard = Guard::Unleased {
        generation: half.generation,
        now_ms: after,
    };
    assert_eq!(store.save_app(&late, guard).await.unwrap(), Saved::Conflict);
    let held = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(held, shared::domain::AppRecord { generation, ..r });
}

/// A large save slower than its fence (throttled, say): whoever saves after the fence
/// expired keeps their links; the slow save's remaining chunks are refused, not written
/// over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_large_save_outlived_by_its_fence_when_another_saved_meanwhile_then_its_links_stay()
{
    let (store, app, r, slow, resume) = half_done_large_save().await;

    // Another saver, once the fence has expired, writes every link its own way.
    let read = store.load_app(&app).await.unwrap().expect("stored");
    let mut theirs = r.clone();
    theirs.generation = read.generation;
    for l in theirs.links.values_mut() {
        l.last_error = Some("theirs".into());
    }
    let after = now_ms() + shared::adapters::FENCE_MS + 1;
    let guard = Guard::Unleased {
        generation: read.generation,
        now_ms: after,
    };
    let Saved::Ok { generation } = store.save_app(&theirs, guard).await.unwrap() else {
        panic!("the expired fence refused a save");
    };

    resume.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), Saved::Conflict);
    let held = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(
        held,
        shared::domain::AppRecord {
            generation,
            ..theirs
        }
    );
}

// ---- Secrets Manager ------------------------------------------------------------------

async fn versions(client: &aws_sdk_secretsmanager::Client, name: &str) -> usize {
    client
        .list_secret_version_ids()
        .secret_id(name)
        .include_deprecated(true)
        .send()
        .await
        .expect("list versions")
        .versions()
        .len()
}

fn secret(v: &str) -> SecretString {
    SecretString::from(v.to_owned())
}

async fn read(vault: &SecretsManagerVault, name: &str) -> Option<String> {
    vault
        .read(name)
        .await
        .expect("read")
        .map(|s| s.expose_secret().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_missing_secret_then_read_is_none_and_write_creates_then_updates() {
    let vault = vault_at(moto()).await;
    let client = secrets_client().await;
    let name = secret_name("projects/p1/env/PG_DATABASE_URL");

    assert_eq!(read(&vault, &name).await, None);
    vault
        .write(&name, &secret("v1"), None)
        .await
        .expect("create");
    assert_eq!(read(&vault, &name).await.as_deref(), Some("v1"));
    vault
        .write(&name, &secret("v2"), None)
        .await
        .expect("update");
    assert_eq!(read(&vault, &name).await.as_deref(), Some("v2"));
    assert_eq!(versions(&client, &name).await, 2);
    let current = client
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        current.secret_string(),
        Some("v2"),
        "the SecretString is the value itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_same_idempotency_token_twice_then_one_version() {
    let vault = vault_at(moto()).await;
    let client = secrets_client().await;
    let t1 = "a".repeat(48);
    let t2 = "b".repeat(48);

    // First write creates the secret with the token.
    let name = secret_name("created");
    vault
        .write(&name, &secret("v1"), Some(&t1))
        .await
        .expect("1");
    vault
        .write(&name, &secret("v1"), Some(&t1))
        .await
        .expect("retry");
    assert_eq!(
        versions(&client, &name).await,
        1,
        "a retried create is no new version"
    );
    assert_eq!(read(&vault, &name).await.as_deref(), Some("v1"));

    // Later writes update it with theirs.
    vault
        .write(&name, &secret("v2"), Some(&t2))
        .await
        .expect("2");
    vault
        .write(&name, &secret("v2"), Some(&t2))
        .await
        .expect("retry");
    assert_eq!(
        versions(&client, &name).await,
        2,
        "a retried put is no new version"
    );
    assert_eq!(read(&vault, &name).await.as_deref(), Some("v2"));

    // A token already used for another value is refused, never a silent overwrite.
    let err = vault
        .write(&name, &secret("v3"), Some(&t2))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Other(_)), "{err:?}");
    assert_eq!(read(&vault, &name).await.as_deref(), Some("v2"));
    assert_eq!(versions(&client, &name).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_secret_when_deleted_then_gone_and_deleting_again_is_fine() {
    let vault = vault_at(moto()).await;
    let name = secret_name("heroku-tokens/p1");
    vault.delete(&name).await.expect("absent is fine");
    vault
        .write(&name, &secret("v1"), None)
        .await
        .expect("create");

    vault.delete(&name).await.expect("delete");
    assert_eq!(read(&vault, &name).await, None);
    vault.delete(&name).await.expect("again");

    // Deleted at once, without a recovery window: the name can be used again.
    vault
        .write(&name, &secret("v2"), None)
        .await
        .expect("recreate");
    assert_eq!(read(&vault, &name).await.as_deref(), Some("v2"));
}

/// Answers every Secrets Manager call as AWS does for a secret scheduled for deletion
/// (moto 5.2 words the read differently and lets a put through; see the report).
async fn pending_deletion_stub() -> local::net::Running {
    use axum::http::HeaderMap;
    async fn answer(headers: HeaderMap) -> (axum::http::StatusCode, HeaderMap, String) {
        let op = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let message = if op.ends_with("CreateSecret") {
            "You can't create this secret because a secret with this name is already scheduled for deletion."
        } else {
            "You can't perform this operation on the secret because it was marked for deletion."
        };
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/x-amz-json-1.1".parse().expect("header"),
        );
        (
            axum::http::StatusCode::BAD_REQUEST,
            h,
            serde_json::json!({"__type": "InvalidRequestException", "message": message})
                .to_string(),
        )
    }
    let listener = local::net::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    local::net::spawn(listener, axum::Router::new().fallback(answer))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_secret_scheduled_for_deletion_then_read_is_none_and_write_is_refused() {
    let stub = pending_deletion_stub().await;
    let vault = vault_at(&stub.url()).await;

    assert_eq!(
        vault.read("test/p/env/X").await.expect("read").map(|_| ()),
        None
    );
    let err = vault
        .write("test/p/env/X", &secret("v"), Some(&"c".repeat(40)))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::PendingDeletion(_)), "{err:?}");
}

// ---- Failures through the fault proxy ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_aws_answering_5xx_or_throttling_then_unavailable() {
    let proxy = local::proxy::FaultProxy::start(moto())
        .await
        .expect("proxy");
    let store = store_at(proxy.url()).await;
    let vault = vault_at(proxy.url()).await;
    let app = app_id();
    let r = new_app(&store, &app).await;
    let name = secret_name("x");
    vault
        .write(&name, &secret("v1"), None)
        .await
        .expect("create");

    // An app record is read by one Query of its partition.
    proxy.fail("Query", 500);
    let err = store.load_app(&app).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(proxy.calls()["Query"] >= 1);

    proxy.fail("PutItem", 400); // ThrottlingException
    let guard = Guard::Unleased {
        generation: 1,
        now_ms: 0,
    };
    let err = store.save_app(&r, guard.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    proxy.fail("TransactWriteItems", 503);
    let e = entry("p1", "A_URL", &app, "DATABASE_URL");
    let err = store
        .save_app_with_entry(&r, guard.clone(), &e, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    proxy.fail("GetSecretValue", 500);
    let err = vault.read(&name).await.unwrap_err();
    assert!(matches!(err, VaultError::Unavailable(_)), "{err:?}");

    proxy.fail("PutSecretValue", 400);
    let err = vault.write(&name, &secret("v2"), None).await.unwrap_err();
    assert!(matches!(err, VaultError::Unavailable(_)), "{err:?}");

    proxy.clear();
    assert_eq!(
        store.save_app(&r, guard).await.unwrap(),
        Saved::Ok { generation: 2 }
    );
    assert_eq!(
        read(&vault, &name).await.as_deref(),
        Some("v1"),
        "the failed put wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_aws_unreachable_then_unavailable_within_the_operation_timeout() {
    let proxy = local::proxy::FaultProxy::start(moto())
        .await
        .expect("proxy");
    let store = store_at(proxy.url()).await;
    let vault = vault_at(proxy.url()).await;
    let app = app_id();
    proxy.set_blackhole(true);

    let (dynamo, secrets) = tokio::join!(store.load_app(&app), vault.read("test/any"));

    // The black hole holds each call for two minutes and then lets it through, so only
    // the SDK's own timeout can produce "timed out" here; no stopwatch needed.
    assert!(
        matches!(&dynamo, Err(StoreError::Unavailable(m)) if m == "timed out"),
        "{dynamo:?}"
    );
    assert!(
        matches!(&secrets, Err(VaultError::InDoubt(m)) if m == "timed out"),
        "{:?}",
        secrets.map(|s| s.is_some())
    );
    let calls = proxy.calls();
    assert!(
        calls.get("Query") >= Some(&1) && calls.get("GetSecretValue") >= Some(&1),
        "both calls reached the black hole: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_flaky_aws_then_failed_calls_either_never_landed_or_landed_and_are_recorded() {
    let proxy = local::proxy::FaultProxy::start(moto())
        .await
        .expect("proxy");
    let vault = vault_at(proxy.url()).await;
    let name = secret_name("flaky");
    vault
        .write(&name, &secret("v1"), None)
        .await
        .expect("create");
    proxy.record("PutSecretValue");
    proxy.reset_calls();

    // Every call fails before moto: the write is refused and nothing lands.
    proxy.set_flaky(Some(local::proxy::Flaky {
        share: 1.0,
        landed: 0.0,
        seed: 1,
    }));
    let err = vault.write(&name, &secret("v2"), None).await.unwrap_err();
    assert!(matches!(err, VaultError::Unavailable(_)), "{err:?}");
    let counts = proxy.flaky_counts();
    assert!(counts.refused >= 1 && counts.landed == 0, "{counts:?}");
    assert!(proxy.applied().is_empty());

    // Every call lands, then its answer is lost: the caller sees a failure, moto has v3.
    proxy.set_flaky(Some(local::proxy::Flaky {
        share: 1.0,
        landed: 1.0,
        seed: 1,
    }));
    let err = vault.write(&name, &secret("v3"), None).await.unwrap_err();
    assert!(matches!(err, VaultError::Unavailable(_)), "{err:?}");
    proxy.set_flaky(None);
    assert_eq!(read(&vault, &name).await.as_deref(), Some("v3"));
    let applied = proxy.applied();
    assert!(!applied.is_empty(), "the landed write is recorded");
    assert!(
        applied.iter().all(
            |(op, body)| op == "PutSecretValue" && String::from_utf8_lossy(body).contains("v3")
        ),
        "{applied:?}"
    );
    assert!(proxy.flaky_counts().landed >= 1);

    // A share: about that many of many calls fail.
    proxy.reset_calls();
    proxy.set_flaky(Some(local::proxy::Flaky {
        share: 0.3,
        landed: 0.0,
        seed: 7,
    }));
    for _ in 0..40 {
        let _ = vault.read(&name).await;
    }
    proxy.set_flaky(None);
    let counts = proxy.flaky_counts();
    let calls = proxy.total_calls();
    assert!(
        counts.refused > 0 && counts.refused < calls,
        "{counts:?} of {calls}"
    );
}
