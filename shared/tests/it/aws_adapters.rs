//! The DynamoDB and Secrets Manager adapters against moto over HTTP: round trips, every
//! guard's conflict semantics, the directory transaction, idempotent secret writes, and
//! failures (through the fault proxy) classified as transient.

use aws_sdk_dynamodb::types::AttributeValue;
use secrecy::{ExposeSecret, SecretString};
use shared::adapters::{DynamoStore, SecretsManagerVault};
use shared::domain::{
    AppId, AppRecord, Cleanup, ConfigVarName, EnvVarName, Fingerprint, HistoryEntry, HistoryKind,
    Integration, IntegrationStatus, Lease, Link, LinkStatus, ProjectId, Subscription, Timestamp,
};
use shared::ports::{
    AppStore, DirectoryEntry, Guard, IntegrationStore, Saved, SecretVault, StoreError, VaultError,
};

fn moto() -> &'static str {
    local::moto::Moto::shared()
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    shared::aws::local(endpoint).await
}

/// A DynamoStore on a fresh table of its own.
async fn store_at(endpoint: &str) -> DynamoStore {
    let direct = aws_sdk_dynamodb::Client::new(&sdk(moto()).await);
    let table = format!("t-{}", uuid::Uuid::new_v4().simple());
    local::bootstrap::ensure_table(&direct, &table)
        .await
        .expect("table");
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk(endpoint).await), table)
}

async fn store() -> DynamoStore {
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

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s, &time::format_description::well_known::Rfc3339).expect("timestamp")
}

fn app_id() -> AppId {
    AppId::parse(uuid::Uuid::new_v4().to_string()).expect("app id")
}

fn link(app: &AppId, project: &str, env: &str) -> Link {
    Link {
        project_id: ProjectId::parse(project).unwrap(),
        env_var: EnvVarName::parse(env).unwrap(),
        app_id: app.clone(),
        app_name: "sample-app".into(),
        config_var: ConfigVarName::parse("DATABASE_URL").unwrap(),
        status: LinkStatus::Active,
        fingerprint: None,
        last_release_version: None,
        last_synced_at: None,
        last_checked_at: None,
        last_error: None,
        linked_at: ts("2024-05-01T12:00:00Z"),
        linked_by: "user-1".into(),
        history: vec![],
    }
}

fn full_record(app: &AppId) -> AppRecord {
    let mut r = AppRecord::new(app.clone(), "sample-app");
    let mut a = link(app, "p1", "PG_DATABASE_URL");
    a.fingerprint = Some(Fingerprint::of("p1/PG_DATABASE_URL", "postgres://x"));
    a.last_release_version = Some(42);
    // Sub-second precision must survive the round trip.
    a.last_synced_at = Some(ts("2024-05-01T12:00:01.123456789Z"));
    a.last_checked_at = Some(Timestamp::now_utc());
    a.last_error = Some("config var X is not set on app sample-app (yet)".into());
    a.history = vec![
        HistoryEntry {
            at: ts("2024-05-01T12:00:00Z"),
            kind: HistoryKind::Linked,
            release_version: None,
            detail: None,
        },
        HistoryEntry {
            at: ts("2024-05-01T12:00:01.5Z"),
            kind: HistoryKind::Synced,
            release_version: Some(42),
            detail: Some("ok".into()),
        },
    ];
    let mut b = link(app, "p2", "OTHER_URL");
    b.status = LinkStatus::OptedOut;
    r.links.insert(a.key(), a);
    r.links.insert(b.key(), b);
    r.subscription = Some(Subscription {
        webhook_id: uuid::Uuid::new_v4().to_string(),
        created_by: ProjectId::parse("p1").unwrap(),
        created_at: ts("2024-05-01T12:00:00Z"),
    });
    r.stale_subscription = Some(Subscription {
        webhook_id: uuid::Uuid::new_v4().to_string(),
        created_by: ProjectId::parse("p2").unwrap(),
        created_at: ts("2024-04-01T00:00:00Z"),
    });
    r
}

fn ok_gen(s: Saved) -> u64 {
    match s {
        Saved::Ok { generation } => generation,
        Saved::Conflict => panic!("expected the save to succeed"),
    }
}

async fn new_app(store: &DynamoStore, app: &AppId) -> AppRecord {
    let r = AppRecord::new(app.clone(), "sample-app");
    assert_eq!(ok_gen(store.save_app(&r, Guard::New).await.unwrap()), 1);
    store.load_app(app).await.unwrap().unwrap()
}

fn entry(project: &str, env: &str, app: &AppId, cv: &str) -> DirectoryEntry {
    DirectoryEntry {
        project_id: ProjectId::parse(project).unwrap(),
        env_var: EnvVarName::parse(env).unwrap(),
        app_id: app.clone(),
        config_var: ConfigVarName::parse(cv).unwrap(),
    }
}

// ---- DynamoStore ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_full_app_record_when_saved_and_loaded_then_it_round_trips_with_next_generation() {
    let store = store().await;
    let app = app_id();
    assert_eq!(store.load_app(&app).await.unwrap(), None);
    let mut r = full_record(&app);
    r.set_lease(Some(Lease {
        owner: "holder".into(),
        until_ms: 1_714_564_800_123,
    }));

    let generation = ok_gen(store.save_app(&r, Guard::New).await.unwrap());

    let loaded = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(generation, 1);
    assert_eq!(loaded.generation, 1);
    assert_eq!(loaded, AppRecord { generation: 1, ..r });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_integration_when_saved_and_loaded_then_it_round_trips_under_generation_checks() {
    let store = store().await;
    let project = ProjectId::parse("proj-1.a_b").unwrap();
    assert_eq!(store.load_integration(&project).await.unwrap(), None);
    let mut i = Integration::new(project.clone());
    i.status = IntegrationStatus::NeedsReconnect;
    i.owner_sub = Some("user-1".into());
    i.heroku_user_id = Some("h-1".into());
    i.heroku_email = Some("dev@example.com".into());
    i.authorization_id = Some("auth-1".into());
    i.connected_at = Some(ts("2024-05-01T12:00:00.25Z"));
    i.pending_cleanup = vec![
        Cleanup::DeleteWebhook {
            app_id: app_id(),
            webhook_id: "wh-1".into(),
        },
        Cleanup::RevokeAuthorization {
            authorization_id: None,
            token_secret: "test/heroku-tokens/p".into(),
        },
    ];
    i.last_error = Some("refresh rejected".into());
    i.refresh_owner = Some("c-1".into());
    i.refresh_until_ms = Some(123);

    assert_eq!(ok_gen(store.save_integration(&i, None).await.unwrap()), 1);
    let loaded = store.load_integration(&project).await.unwrap().unwrap();
    assert_eq!(
        loaded,
        Integration {
            generation: 1,
            ..i.clone()
        }
    );

    assert_eq!(
        store.save_integration(&i, None).await.unwrap(),
        Saved::Conflict,
        "must-not-exist on an existing integration"
    );
    assert_eq!(
        store.save_integration(&loaded, Some(0)).await.unwrap(),
        Saved::Conflict,
        "stale generation"
    );
    assert_eq!(
        ok_gen(store.save_integration(&loaded, Some(1)).await.unwrap()),
        2
    );
    assert_eq!(
        store.save_integration(&loaded, Some(1)).await.unwrap(),
        Saved::Conflict,
        "the same generation twice"
    );
    assert_eq!(
        store
            .load_integration(&project)
            .await
            .unwrap()
            .unwrap()
            .generation,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_existing_app_when_saved_as_new_then_conflict_and_item_unchanged() {
    let store = store().await;
    let app = app_id();
    let stored = new_app(&store, &app).await;
    let mut other = full_record(&app);
    other.generation = 0;

    assert_eq!(
        store.save_app(&other, Guard::New).await.unwrap(),
        Saved::Conflict
    );
    assert_eq!(store.load_app(&app).await.unwrap().unwrap(), stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_unleased_guard_then_stale_generation_or_live_lease_conflicts_and_expired_lease_does_not()
 {
    let store = store().await;
    let app = app_id();
    let absent = AppRecord::new(app_id(), "absent");
    assert_eq!(
        store
            .save_app(
                &absent,
                Guard::Unleased {
                    generation: 0,
                    now_ms: 0
                }
            )
            .await
            .unwrap(),
        Saved::Conflict,
        "no item: nothing to be unleased"
    );

    let mut r = new_app(&store, &app).await;
    assert_eq!(r.generation, 1);
    let stale = Guard::Unleased {
        generation: 0,
        now_ms: 1_000,
    };
    assert_eq!(store.save_app(&r, stale).await.unwrap(), Saved::Conflict);

    // Take a lease until t=5000.
    r.set_lease(Some(Lease {
        owner: "a".into(),
        until_ms: 5_000,
    }));
    let generation = ok_gen(
        store
            .save_app(
                &r,
                Guard::Unleased {
                    generation: 1,
                    now_ms: 1_000,
                },
            )
            .await
            .unwrap(),
    );
    assert_eq!(generation, 2);
    let mut r = store.load_app(&app).await.unwrap().unwrap();
    assert_eq!(r.live_lease(1_000).map(|l| l.owner), Some("a".into()));

    r.set_lease(None);
    for now_ms in [1_000, 4_999] {
        assert_eq!(
            store
                .save_app(
                    &r,
                    Guard::Unleased {
                        generation: 2,
                        now_ms
                    }
                )
                .await
                .unwrap(),
            Saved::Conflict,
            "live lease at {now_ms}"
        );
    }
    assert_eq!(
        ok_gen(
            store
                .save_app(
                    &r,
                    Guard::Unleased {
                        generation: 2,
                        now_ms: 5_000
                    }
                )
                .await
                .unwrap()
        ),
        3,
        "a lease is over at its deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_lease_holder_guard_then_only_the_owner_saves() {
    let store = store().await;
    let app = app_id();
    let absent = AppRecord::new(app_id(), "absent");
    assert_eq!(
        store
            .save_app(
                &absent,
                Guard::LeaseHolder {
                    owner: "a".into(),
                    generation: 0
                }
            )
            .await
            .unwrap(),
        Saved::Conflict
    );

    let mut r = new_app(&store, &app).await;
    assert_eq!(
        store
            .save_app(
                &r,
                Guard::LeaseHolder {
                    owner: "a".into(),
                    generation: r.generation
                }
            )
            .await
            .unwrap(),
        Saved::Conflict,
        "no lease held at all"
    );
    r.set_lease(Some(Lease {
        owner: "a".into(),
        until_ms: 5_000,
    }));
    ok_gen(
        store
            .save_app(
                &r,
                Guard::Unleased {
                    generation: 1,
                    now_ms: 0,
                },
            )
            .await
            .unwrap(),
    );
    let mut r = store.load_app(&app).await.unwrap().unwrap();
    r.set_lease(None);
    r.app_name = "renamed".into();

    assert_eq!(
        store
            .save_app(
                &r,
                Guard::LeaseHolder {
                    owner: "b".into(),
                    generation: r.generation
                }
            )
            .await
            .unwrap(),
        Saved::Conflict,
        "wrong owner"
    );
    assert_eq!(
        store
            .save_app(
                &r,
                Guard::LeaseHolder {
                    owner: "a".into(),
                    generation: r.generation - 1
                }
            )
            .await
            .unwrap(),
        Saved::Conflict,
        "right owner, but someone saved since the lease was taken"
    );
    assert_eq!(
        store.load_app(&app).await.unwrap().unwrap().app_name,
        "sample-app"
    );
    assert_eq!(
        ok_gen(
            store
                .save_app(
                    &r,
                    Guard::LeaseHolder {
                        owner: "a".into(),
                        generation: r.generation
                    }
                )
                .await
                .unwrap()
        ),
        3
    );
    let after = store.load_app(&app).await.unwrap().unwrap();
    assert_eq!(after.app_name, "renamed");
    assert_eq!(
        (after.lease_owner, after.lease_until_ms),
        (None, None),
        "released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_directory_entry_pointing_elsewhere_when_linking_then_conflict_and_nothing_written() {
    let store = store().await;
    let (app_a, app_b) = (app_id(), app_id());
    let ra = AppRecord::new(app_a.clone(), "a");
    let e = entry("p1", "PG_DATABASE_URL", &app_a, "DATABASE_URL");
    assert_eq!(
        ok_gen(
            store
                .save_app_with_entry(&ra, Guard::New, &e, false)
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        store
            .directory_entry(&e.project_id, &e.env_var)
            .await
            .unwrap(),
        Some(e.clone())
    );

    // Another app for the same env var.
    let rb = AppRecord::new(app_b.clone(), "b");
    let eb = entry("p1", "PG_DATABASE_URL", &app_b, "DATABASE_URL");
    assert_eq!(
        store
            .save_app_with_entry(&rb, Guard::New, &eb, false)
            .await
            .unwrap(),
        Saved::Conflict
    );
    assert_eq!(
        store.load_app(&app_b).await.unwrap(),
        None,
        "the transaction wrote neither item"
    );

    // The same app, another config var.
    let loaded = store.load_app(&app_a).await.unwrap().unwrap();
    let unleased = Guard::Unleased {
        generation: 1,
        now_ms: 0,
    };
    let e_other_cv = entry("p1", "PG_DATABASE_URL", &app_a, "HEROKU_POSTGRESQL_RED_URL");
    assert_eq!(
        store
            .save_app_with_entry(&loaded, unleased.clone(), &e_other_cv, false)
            .await
            .unwrap(),
        Saved::Conflict
    );
    assert_eq!(store.load_app(&app_a).await.unwrap().unwrap().generation, 1);

    // The same link again is fine.
    assert_eq!(
        ok_gen(
            store
                .save_app_with_entry(&loaded, unleased, &e, false)
                .await
                .unwrap()
        ),
        2
    );

    // Replacing on purpose moves the entry.
    assert_eq!(
        ok_gen(
            store
                .save_app_with_entry(&rb, Guard::New, &eb, true)
                .await
                .unwrap()
        ),
        1
    );
    assert_eq!(
        store
            .directory_entry(&e.project_id, &e.env_var)
            .await
            .unwrap(),
        Some(eb)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_app_guard_failing_when_linking_then_directory_entry_is_not_written() {
    let store = store().await;
    let app = app_id();
    let r = new_app(&store, &app).await;
    let e = entry("p1", "NEW_URL", &app, "DATABASE_URL");
    let stale = Guard::Unleased {
        generation: 0,
        now_ms: 0,
    };
    assert_eq!(
        store
            .save_app_with_entry(&r, stale, &e, false)
            .await
            .unwrap(),
        Saved::Conflict
    );
    assert_eq!(
        store
            .directory_entry(&e.project_id, &e.env_var)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_entries_of_several_projects_then_directory_lists_only_that_projects_env_vars() {
    let store = store().await;
    let (a, b) = (app_id(), app_id());
    let p1 = ProjectId::parse("p1").unwrap();
    // An integration shares p1's partition; it is not a directory entry.
    ok_gen(
        store
            .save_integration(&Integration::new(p1.clone()), None)
            .await
            .unwrap(),
    );
    let e1 = entry("p1", "A_URL", &a, "DATABASE_URL");
    let e2 = entry("p1", "B_URL", &b, "DATABASE_URL");
    let e3 = entry("p2", "A_URL", &a, "DATABASE_URL");
    ok_gen(
        store
            .save_app_with_entry(&AppRecord::new(a.clone(), "a"), Guard::New, &e1, false)
            .await
            .unwrap(),
    );
    ok_gen(
        store
            .save_app_with_entry(&AppRecord::new(b.clone(), "b"), Guard::New, &e2, false)
            .await
            .unwrap(),
    );
    let ra = store.load_app(&a).await.unwrap().unwrap();
    ok_gen(
        store
            .save_app_with_entry(
                &ra,
                Guard::Unleased {
                    generation: 1,
                    now_ms: 0,
                },
                &e3,
                false,
            )
            .await
            .unwrap(),
    );

    let mut listed = store.directory(&p1).await.unwrap();
    listed.sort_by(|x, y| x.env_var.cmp(&y.env_var));
    assert_eq!(listed, vec![e1, e2]);
    assert_eq!(
        store
            .directory(&ProjectId::parse("p2").unwrap())
            .await
            .unwrap(),
        vec![e3]
    );
    assert!(
        store
            .directory(&ProjectId::parse("p3").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

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

    proxy.fail("GetItem", 500);
    let err = store.load_app(&app).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(proxy.calls()["GetItem"] >= 1);

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
        .save_app_with_entry(&r, guard.clone(), &e, false)
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
    assert_eq!(ok_gen(store.save_app(&r, guard).await.unwrap()), 2);
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
        calls.get("GetItem") >= Some(&1) && calls.get("GetSecretValue") >= Some(&1),
        "both calls reached the black hole: {calls:?}"
    );
}
