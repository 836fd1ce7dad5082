//! The store ports' contract, run against every adapter: each case is written once, generic
//! over the ports it needs, and instantiated for `MemoryStore` and for `DynamoStore` on moto.
//! The domain tests run on the memory store; this suite is what keeps it honest, so a guard,
//! lease or conditional write that behaves differently in the fake fails here first.

use crate::support::{env_var, project};
use shared::adapters::MemoryStore;
use shared::domain::{
    AppId, AppRecord, Cleanup, ConfigVarName, Fingerprint, HistoryEntry, HistoryKind, Integration,
    IntegrationStatus, Lease, Link, LinkStatus, Subscription, Timestamp,
};
use shared::ports::{
    AppStore, DirectoryEntry, Guard, IntegrationStore, LinksOnApp, OAuthState, ProjectItems,
    ReconcileIndex, Saved, StateStore, StoreError,
};

/// Instantiates each named case as `<case>::memory` and `<case>::dynamo` (a fresh table per
/// test). A case left out of every list is an unused function, which `-D warnings` refuses.
macro_rules! contract {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$case(&super::MemoryStore::default()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynamo() {
                super::$case(&crate::aws_adapters::store().await).await;
            }
        }
    )+};
}

// ---- Fixtures (also used by the DynamoDB-only tests) --------------------------------------

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s, &time::format_description::well_known::Rfc3339).expect("timestamp")
}

pub(crate) fn app_id() -> AppId {
    AppId::parse(uuid::Uuid::new_v4().to_string()).expect("app id")
}

pub(crate) fn entry(p: &str, env: &str, app: &AppId, cv: &str) -> DirectoryEntry {
    DirectoryEntry {
        project_id: project(p),
        env_var: env_var(env),
        app_id: app.clone(),
        config_var: ConfigVarName::parse(cv).expect("config var"),
    }
}

/// Saves a bare record for `app` as new and returns it as stored (generation 1).
pub(crate) async fn new_app<S: AppStore + ?Sized>(store: &S, app: &AppId) -> AppRecord {
    let r = AppRecord::new(app.clone(), "sample-app");
    assert_eq!(store.save_app(&r, Guard::New).await.unwrap(), saved(1));
    store.load_app(app).await.unwrap().expect("stored")
}

fn saved(generation: u64) -> Saved {
    Saved::Ok { generation }
}

fn unleased(generation: u64, now_ms: i64) -> Guard {
    Guard::Unleased { generation, now_ms }
}

fn holder(owner: &str, generation: u64) -> Guard {
    Guard::LeaseHolder {
        owner: owner.into(),
        generation,
    }
}

/// A new app whose lease `owner` took until `until_ms`; returned as stored (generation 2).
async fn leased_app<S: AppStore + ?Sized>(
    store: &S,
    app: &AppId,
    owner: &str,
    until_ms: i64,
) -> AppRecord {
    let mut r = new_app(store, app).await;
    r.set_lease(Some(Lease {
        owner: owner.into(),
        until_ms,
    }));
    assert_eq!(
        store.save_app(&r, unleased(1, 0)).await.unwrap(),
        saved(2),
        "lease taken"
    );
    store.load_app(app).await.unwrap().expect("stored")
}

/// Links a new record for `e.app_id` through `e`; returns the record as stored.
async fn linked<S: AppStore + ?Sized>(store: &S, e: &DirectoryEntry) -> AppRecord {
    let r = AppRecord::new(e.app_id.clone(), "sample-app");
    assert_eq!(
        store
            .save_app_with_entry(&r, Guard::New, e, None)
            .await
            .unwrap(),
        saved(1)
    );
    store.load_app(&e.app_id).await.unwrap().expect("stored")
}

fn link(app: &AppId, p: &str, env: &str) -> Link {
    Link {
        project_id: project(p),
        env_var: env_var(env),
        app_id: app.clone(),
        app_name: "sample-app".into(),
        config_var: ConfigVarName::parse("DATABASE_URL").unwrap(),
        status: LinkStatus::Active,
        fingerprint: None,
        last_release_version: None,
        writing_version: None,
        last_synced_at: None,
        last_checked_at: None,
        last_delivery_at: None,
        last_repair: None,
        last_error: None,
        linked_at: ts("2024-05-01T12:00:00Z"),
        linked_by: "user-1".into(),
        history: vec![],
    }
}

/// A record with every optional part filled, so a field an adapter drops shows up.
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
        created_by: project("p1"),
        created_at: ts("2024-05-01T12:00:00Z"),
        url: Some("https://sync.example.com/webhooks/heroku".into()),
        key_version: Some("a1b2c3d4-version".into()),
    });
    r.stale_subscription = Some(Subscription {
        webhook_id: uuid::Uuid::new_v4().to_string(),
        created_by: project("p2"),
        created_at: ts("2024-04-01T00:00:00Z"),
        url: None,
        key_version: None,
    });
    r.set_lease(Some(Lease {
        owner: "holder".into(),
        until_ms: 1_714_564_800_123,
    }));
    r
}

fn full_integration(p: &str) -> Integration {
    let mut i = Integration::new(project(p));
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
    i
}

fn oauth_state(hash: &str, sub: &str) -> OAuthState {
    OAuthState {
        state_hash: hash.into(),
        project_id: project("p1"),
        sub: sub.into(),
        expires_at: 1_714_565_400,
    }
}

// ---- App records: load, save as new ------------------------------------------------------

async fn given_no_app_record_when_loaded_then_none<S: AppStore + ?Sized>(store: &S) {
    assert_eq!(store.load_app(&app_id()).await.unwrap(), None);
}

async fn given_full_app_record_when_saved_as_new_then_it_loads_equal_at_the_next_generation<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let r = full_record(&app);

    assert_eq!(store.save_app(&r, Guard::New).await.unwrap(), saved(1));

    assert_eq!(
        store.load_app(&app).await.unwrap(),
        Some(AppRecord { generation: 1, ..r })
    );
}

async fn given_existing_app_when_saved_as_new_then_conflict_and_item_unchanged<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let stored = new_app(store, &app).await;

    assert_eq!(
        store
            .save_app(&full_record(&app), Guard::New)
            .await
            .unwrap(),
        Saved::Conflict
    );

    assert_eq!(store.load_app(&app).await.unwrap(), Some(stored));
}

async fn given_no_app_record_when_saved_under_an_existing_items_guard_then_conflict_and_nothing_written<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let r = AppRecord::new(app_id(), "absent");
    for guard in [unleased(0, 0), holder("a", 0)] {
        assert_eq!(
            store.save_app(&r, guard.clone()).await.unwrap(),
            Saved::Conflict,
            "{guard:?}"
        );
    }
    assert_eq!(store.load_app(&r.app_id).await.unwrap(), None);
}

contract![
    given_no_app_record_when_loaded_then_none,
    given_full_app_record_when_saved_as_new_then_it_loads_equal_at_the_next_generation,
    given_existing_app_when_saved_as_new_then_conflict_and_item_unchanged,
    given_no_app_record_when_saved_under_an_existing_items_guard_then_conflict_and_nothing_written,
];

// ---- Guard::Unleased ---------------------------------------------------------------------

async fn given_unleased_app_when_saved_unleased_at_its_generation_then_saved_at_the_next<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let mut r = new_app(store, &app).await;
    r.app_name = "renamed".into();

    assert_eq!(
        store.save_app(&r, unleased(1, 1_000)).await.unwrap(),
        saved(2)
    );

    assert_eq!(
        store.load_app(&app).await.unwrap(),
        Some(AppRecord { generation: 2, ..r })
    );
}

async fn given_app_at_another_generation_when_saved_unleased_then_conflict_and_item_unchanged<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let r = new_app(store, &app).await;
    assert_eq!(store.save_app(&r, unleased(1, 0)).await.unwrap(), saved(2));
    let stored = store.load_app(&app).await.unwrap();
    let mut late = r.clone();
    late.app_name = "from an old read".into();

    // Behind (someone saved since the read) and ahead (a generation never stored).
    for generation in [1, 3] {
        assert_eq!(
            store
                .save_app(&late, unleased(generation, 0))
                .await
                .unwrap(),
            Saved::Conflict,
            "generation {generation}"
        );
    }

    assert_eq!(store.load_app(&app).await.unwrap(), stored);
}

async fn given_live_lease_when_saved_unleased_then_conflict_up_to_its_deadline<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let stored = leased_app(store, &app, "a", 5_000).await;
    let mut r = stored.clone();
    r.set_lease(None);

    for now_ms in [0, 4_999] {
        assert_eq!(
            store.save_app(&r, unleased(2, now_ms)).await.unwrap(),
            Saved::Conflict,
            "the lease is live at {now_ms}"
        );
    }

    assert_eq!(store.load_app(&app).await.unwrap(), Some(stored));
}

async fn given_expired_lease_when_saved_unleased_then_saved_from_its_deadline_on<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let mut r = leased_app(store, &app, "a", 5_000).await;
    r.set_lease(Some(Lease {
        owner: "b".into(),
        until_ms: 9_000,
    }));

    assert_eq!(
        store.save_app(&r, unleased(2, 5_000)).await.unwrap(),
        saved(3),
        "a lease is over at its deadline"
    );

    assert_eq!(
        store.load_app(&app).await.unwrap(),
        Some(AppRecord { generation: 3, ..r })
    );
}

contract![
    given_unleased_app_when_saved_unleased_at_its_generation_then_saved_at_the_next,
    given_app_at_another_generation_when_saved_unleased_then_conflict_and_item_unchanged,
    given_live_lease_when_saved_unleased_then_conflict_up_to_its_deadline,
    given_expired_lease_when_saved_unleased_then_saved_from_its_deadline_on,
];

// ---- Guard::LeaseHolder ------------------------------------------------------------------

async fn given_lease_holder_when_it_saves_at_its_generation_then_saved_and_lease_released<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let mut r = leased_app(store, &app, "a", 5_000).await;
    r.set_lease(None);
    r.app_name = "renamed".into();

    assert_eq!(store.save_app(&r, holder("a", 2)).await.unwrap(), saved(3));

    let after = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(after, AppRecord { generation: 3, ..r });
    assert_eq!((after.lease_owner, after.lease_until_ms), (None, None));
}

async fn given_lease_of_another_owner_when_saved_as_lease_holder_then_conflict_and_item_unchanged<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let stored = leased_app(store, &app, "a", 5_000).await;
    let mut r = stored.clone();
    r.set_lease(None);

    assert_eq!(
        store.save_app(&r, holder("b", 2)).await.unwrap(),
        Saved::Conflict
    );

    assert_eq!(store.load_app(&app).await.unwrap(), Some(stored));
}

async fn given_no_lease_when_saved_as_lease_holder_then_conflict<S: AppStore + ?Sized>(store: &S) {
    let app = app_id();
    let stored = new_app(store, &app).await;

    assert_eq!(
        store.save_app(&stored, holder("a", 1)).await.unwrap(),
        Saved::Conflict
    );

    assert_eq!(store.load_app(&app).await.unwrap(), Some(stored));
}

async fn given_expired_lease_saved_over_when_its_holder_saves_then_conflict_and_item_unchanged<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    // The port's promise: an expired lease's holder finds the generation moved on, even
    // when the saver after it left the lease fields naming the old holder.
    let app = app_id();
    let held = leased_app(store, &app, "a", 5_000).await;
    let mut since = held.clone();
    since.app_name = "saved since".into();
    assert_eq!(
        store.save_app(&since, unleased(2, 6_000)).await.unwrap(),
        saved(3)
    );
    let stored = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(
        stored.lease_owner.as_deref(),
        Some("a"),
        "lease fields kept"
    );
    let mut late = held.clone();
    late.set_lease(None);

    assert_eq!(
        store.save_app(&late, holder("a", 2)).await.unwrap(),
        Saved::Conflict
    );

    assert_eq!(store.load_app(&app).await.unwrap(), Some(stored));
}

contract![
    given_lease_holder_when_it_saves_at_its_generation_then_saved_and_lease_released,
    given_lease_of_another_owner_when_saved_as_lease_holder_then_conflict_and_item_unchanged,
    given_no_lease_when_saved_as_lease_holder_then_conflict,
    given_expired_lease_saved_over_when_its_holder_saves_then_conflict_and_item_unchanged,
];

// ---- save_app_with_entry: the app and its directory entry in one write --------------------

async fn given_no_entry_when_linking_then_app_and_entry_written<S: AppStore + ?Sized>(store: &S) {
    let app = app_id();
    let r = AppRecord::new(app.clone(), "sample-app");
    let e = entry("p1", "PG_DATABASE_URL", &app, "DATABASE_URL");

    assert_eq!(
        store
            .save_app_with_entry(&r, Guard::New, &e, None)
            .await
            .unwrap(),
        saved(1)
    );

    assert_eq!(
        store.load_app(&app).await.unwrap(),
        Some(AppRecord { generation: 1, ..r })
    );
    assert_eq!(
        store
            .directory_entry(&e.project_id, &e.env_var)
            .await
            .unwrap(),
        Some(e)
    );
}

async fn given_entry_for_another_app_when_linking_without_replace_then_conflict_and_nothing_written<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let (a, b) = (app_id(), app_id());
    let ea = entry("p1", "PG_DATABASE_URL", &a, "DATABASE_URL");
    linked(store, &ea).await;
    let eb = entry("p1", "PG_DATABASE_URL", &b, "DATABASE_URL");

    assert_eq!(
        store
            .save_app_with_entry(&AppRecord::new(b.clone(), "b"), Guard::New, &eb, None)
            .await
            .unwrap(),
        Saved::Conflict
    );

    assert_eq!(
        store.load_app(&b).await.unwrap(),
        None,
        "the app was not written either"
    );
    assert_eq!(
        store
            .directory_entry(&ea.project_id, &ea.env_var)
            .await
            .unwrap(),
        Some(ea)
    );
}

async fn given_entry_for_another_config_var_of_the_app_when_linking_without_replace_then_conflict_and_nothing_written<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let e = entry("p1", "PG_DATABASE_URL", &app, "DATABASE_URL");
    let stored = linked(store, &e).await;
    let other_cv = entry("p1", "PG_DATABASE_URL", &app, "HEROKU_POSTGRESQL_RED_URL");
    let mut changed = stored.clone();
    changed.app_name = "changed".into();

    assert_eq!(
        store
            .save_app_with_entry(&changed, unleased(1, 0), &other_cv, None)
            .await
            .unwrap(),
        Saved::Conflict
    );

    assert_eq!(store.load_app(&app).await.unwrap(), Some(stored));
    assert_eq!(
        store
            .directory_entry(&e.project_id, &e.env_var)
            .await
            .unwrap(),
        Some(e)
    );
}

async fn given_entry_for_the_same_link_when_linking_again_without_replace_then_saved<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let e = entry("p1", "PG_DATABASE_URL", &app, "DATABASE_URL");
    let mut r = linked(store, &e).await;
    r.app_name = "renamed".into();

    assert_eq!(
        store
            .save_app_with_entry(&r, unleased(1, 0), &e, None)
            .await
            .unwrap(),
        saved(2)
    );

    assert_eq!(
        store.load_app(&app).await.unwrap(),
        Some(AppRecord { generation: 2, ..r })
    );
    assert_eq!(
        store
            .directory_entry(&e.project_id, &e.env_var)
            .await
            .unwrap(),
        Some(e)
    );
}

async fn given_entry_for_another_app_when_linking_with_replace_then_entry_points_at_the_new_link<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let (a, b) = (app_id(), app_id());
    let ea = entry("p1", "PG_DATABASE_URL", &a, "DATABASE_URL");
    let stored_a = linked(store, &ea).await;
    let rb = AppRecord::new(b.clone(), "b");
    let eb = entry("p1", "PG_DATABASE_URL", &b, "HEROKU_POSTGRESQL_RED_URL");

    assert_eq!(
        store
            .save_app_with_entry(&rb, Guard::New, &eb, Some(&ea))
            .await
            .unwrap(),
        saved(1)
    );

    assert_eq!(
        store
            .directory_entry(&eb.project_id, &eb.env_var)
            .await
            .unwrap(),
        Some(eb)
    );
    assert_eq!(
        store.load_app(&b).await.unwrap(),
        Some(AppRecord {
            generation: 1,
            ..rb
        })
    );
    assert_eq!(
        store.load_app(&a).await.unwrap(),
        Some(stored_a),
        "the old app's record is the caller's business, not the store's"
    );
}

/// Two callers re-pointing the same opted-out env var both read the entry; only the first
/// replacement may land, or the env var would be synced from two apps (issue 10, item 8).
async fn given_entry_changed_since_it_was_read_when_replacing_then_conflict_and_nothing_written<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let (a, b, c) = (app_id(), app_id(), app_id());
    let read = entry("p1", "PG_DATABASE_URL", &a, "DATABASE_URL");
    linked(store, &read).await;
    let eb = entry("p1", "PG_DATABASE_URL", &b, "DATABASE_URL");
    let ec = entry("p1", "PG_DATABASE_URL", &c, "DATABASE_URL");
    let first = store
        .save_app_with_entry(
            &AppRecord::new(b.clone(), "b"),
            Guard::New,
            &eb,
            Some(&read),
        )
        .await
        .unwrap();
    assert_eq!(first, saved(1));

    let second = store
        .save_app_with_entry(
            &AppRecord::new(c.clone(), "c"),
            Guard::New,
            &ec,
            Some(&read),
        )
        .await
        .unwrap();

    assert_eq!(second, Saved::Conflict);
    assert_eq!(
        store
            .directory_entry(&eb.project_id, &eb.env_var)
            .await
            .unwrap(),
        Some(eb)
    );
    assert_eq!(
        store.load_app(&c).await.unwrap(),
        None,
        "the app is not written either"
    );
}

async fn given_app_guard_failing_when_linking_then_directory_entry_not_written<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let stored = new_app(store, &app).await;
    let fresh = entry("p1", "NEW_URL", &app, "DATABASE_URL");
    let taken = entry("p1", "TAKEN_URL", &app_id(), "DATABASE_URL");
    linked(store, &taken).await;
    let moved = entry("p1", "TAKEN_URL", &app, "DATABASE_URL");

    // A stale generation: neither a new entry nor a replacement may land.
    for (e, replace) in [(&fresh, None), (&moved, Some(&taken))] {
        assert_eq!(
            store
                .save_app_with_entry(&stored, unleased(0, 0), e, replace)
                .await
                .unwrap(),
            Saved::Conflict,
            "{}",
            e.env_var
        );
    }

    assert_eq!(
        store
            .directory_entry(&fresh.project_id, &fresh.env_var)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .directory_entry(&taken.project_id, &taken.env_var)
            .await
            .unwrap(),
        Some(taken)
    );
    assert_eq!(store.load_app(&app).await.unwrap(), Some(stored));
}

contract![
    given_no_entry_when_linking_then_app_and_entry_written,
    given_entry_for_another_app_when_linking_without_replace_then_conflict_and_nothing_written,
    given_entry_for_another_config_var_of_the_app_when_linking_without_replace_then_conflict_and_nothing_written,
    given_entry_for_the_same_link_when_linking_again_without_replace_then_saved,
    given_entry_for_another_app_when_linking_with_replace_then_entry_points_at_the_new_link,
    given_entry_changed_since_it_was_read_when_replacing_then_conflict_and_nothing_written,
    given_app_guard_failing_when_linking_then_directory_entry_not_written,
];

// ---- The directory -------------------------------------------------------------------------

async fn given_entries_of_several_projects_then_directory_lists_only_that_projects_env_vars<
    S: AppStore + IntegrationStore + ?Sized,
>(
    store: &S,
) {
    let (a, b) = (app_id(), app_id());
    // In DynamoDB an integration shares p1's partition; it is not a directory entry.
    assert_eq!(
        store
            .save_integration(&Integration::new(project("p1")), None)
            .await
            .unwrap(),
        saved(1)
    );
    let e1 = entry("p1", "A_URL", &a, "DATABASE_URL");
    let e2 = entry("p1", "B_URL", &b, "DATABASE_URL");
    let e3 = entry("p2", "A_URL", &a, "DATABASE_URL");
    let ra = linked(store, &e1).await;
    linked(store, &e2).await;
    assert_eq!(
        store
            .save_app_with_entry(&ra, unleased(1, 0), &e3, None)
            .await
            .unwrap(),
        saved(2)
    );

    // The port promises no order.
    let mut listed = store.directory(&project("p1")).await.unwrap();
    listed.sort_by(|x, y| x.env_var.cmp(&y.env_var));
    assert_eq!(listed, vec![e1, e2]);
    assert_eq!(
        store.directory(&project("p2")).await.unwrap(),
        vec![e3.clone()]
    );
    assert_eq!(store.directory(&project("p3")).await.unwrap(), vec![]);

    // The status's read: the integration and the same entries together (in DynamoDB one
    // Query of the partition both live in), and nothing of another project's.
    let mut p1 = store.load_project(&project("p1")).await.unwrap();
    p1.directory.sort_by(|x, y| x.env_var.cmp(&y.env_var));
    let integration = store.load_integration(&project("p1")).await.unwrap();
    assert!(integration.is_some());
    assert_eq!(p1.integration, integration);
    assert_eq!(p1.directory, listed);
    let p2 = store.load_project(&project("p2")).await.unwrap();
    assert_eq!((p2.integration, p2.directory), (None, vec![e3]));
    assert_eq!(
        store.load_project(&project("p3")).await.unwrap(),
        ProjectItems::default()
    );
}

async fn given_no_entry_for_an_env_var_when_looked_up_then_none<S: AppStore + ?Sized>(store: &S) {
    let e = entry("p1", "A_URL", &app_id(), "DATABASE_URL");
    linked(store, &e).await;

    // Neither another env var of the project nor the same env var of another project.
    for (p, env) in [("p1", "B_URL"), ("p2", "A_URL")] {
        assert_eq!(
            store
                .directory_entry(&project(p), &env_var(env))
                .await
                .unwrap(),
            None,
            "{p}/{env}"
        );
    }
}

contract![
    given_entries_of_several_projects_then_directory_lists_only_that_projects_env_vars,
    given_no_entry_for_an_env_var_when_looked_up_then_none,
];

// ---- Integrations --------------------------------------------------------------------------

async fn given_no_integration_when_loaded_then_none<S: IntegrationStore + ?Sized>(store: &S) {
    assert_eq!(store.load_integration(&project("p1")).await.unwrap(), None);
}

async fn given_full_integration_when_saved_as_new_then_it_loads_equal_at_generation_one<
    S: IntegrationStore + ?Sized,
>(
    store: &S,
) {
    let i = full_integration("proj-1.a_b");

    assert_eq!(store.save_integration(&i, None).await.unwrap(), saved(1));

    assert_eq!(
        store.load_integration(&i.project_id).await.unwrap(),
        Some(Integration { generation: 1, ..i })
    );
}

async fn given_existing_integration_when_saved_as_new_then_conflict_and_item_unchanged<
    S: IntegrationStore + ?Sized,
>(
    store: &S,
) {
    let first = Integration::new(project("p1"));
    assert_eq!(
        store.save_integration(&first, None).await.unwrap(),
        saved(1)
    );

    assert_eq!(
        store
            .save_integration(&full_integration("p1"), None)
            .await
            .unwrap(),
        Saved::Conflict
    );

    assert_eq!(
        store.load_integration(&first.project_id).await.unwrap(),
        Some(Integration {
            generation: 1,
            ..first
        })
    );
}

async fn given_no_integration_when_saved_expecting_a_generation_then_conflict_and_nothing_written<
    S: IntegrationStore + ?Sized,
>(
    store: &S,
) {
    let i = full_integration("p1");
    for expected in [0, 1] {
        assert_eq!(
            store.save_integration(&i, Some(expected)).await.unwrap(),
            Saved::Conflict,
            "expected generation {expected}"
        );
    }
    assert_eq!(store.load_integration(&i.project_id).await.unwrap(), None);
}

async fn given_integration_when_saved_at_its_generation_then_the_next_and_only_once<
    S: IntegrationStore + ?Sized,
>(
    store: &S,
) {
    let p = project("p1");
    assert_eq!(
        store
            .save_integration(&Integration::new(p.clone()), None)
            .await
            .unwrap(),
        saved(1)
    );
    let i = full_integration("p1");

    assert_eq!(store.save_integration(&i, Some(1)).await.unwrap(), saved(2));

    let mut late = i.clone();
    late.last_error = Some("from an old read".into());
    // Again at 1 (the race's loser), behind and ahead.
    for expected in [1, 0, 3] {
        assert_eq!(
            store.save_integration(&late, Some(expected)).await.unwrap(),
            Saved::Conflict,
            "expected generation {expected}"
        );
    }
    assert_eq!(
        store.load_integration(&p).await.unwrap(),
        Some(Integration { generation: 2, ..i })
    );
}

contract![
    given_no_integration_when_loaded_then_none,
    given_full_integration_when_saved_as_new_then_it_loads_equal_at_generation_one,
    given_existing_integration_when_saved_as_new_then_conflict_and_item_unchanged,
    given_no_integration_when_saved_expecting_a_generation_then_conflict_and_nothing_written,
    given_integration_when_saved_at_its_generation_then_the_next_and_only_once,
];

// ---- OAuth states ----------------------------------------------------------------------------

async fn given_state_when_taken_then_returned_once<S: StateStore + ?Sized>(store: &S) {
    let state = oauth_state(&"a1".repeat(32), "user-1");
    store.put_state(&state).await.unwrap();

    assert_eq!(
        store.take_state(&state.state_hash).await.unwrap(),
        Some(state.clone())
    );
    assert_eq!(
        store.take_state(&state.state_hash).await.unwrap(),
        None,
        "a state is single use"
    );
}

async fn given_no_state_when_taken_then_none<S: StateStore + ?Sized>(store: &S) {
    store
        .put_state(&oauth_state(&"a1".repeat(32), "user-1"))
        .await
        .unwrap();

    assert_eq!(store.take_state(&"b2".repeat(32)).await.unwrap(), None);
}

async fn given_existing_state_hash_when_put_again_then_refused_and_the_first_state_kept<
    S: StateStore + ?Sized,
>(
    store: &S,
) {
    // DynamoDB's put is conditional on the hash being new: a state is never overwritten,
    // so whoever minted it is the only caller who can finish that authorization.
    let first = oauth_state(&"a1".repeat(32), "user-1");
    store.put_state(&first).await.unwrap();

    let err = store
        .put_state(&oauth_state(&first.state_hash, "user-2"))
        .await
        .unwrap_err();

    assert!(
        matches!(err, StoreError::Other(_)),
        "not transient: {err:?}"
    );
    assert_eq!(
        store.take_state(&first.state_hash).await.unwrap(),
        Some(first)
    );
}

contract![
    given_state_when_taken_then_returned_once,
    given_no_state_when_taken_then_none,
    given_existing_state_hash_when_put_again_then_refused_and_the_first_state_kept,
];

// ---- The reconciler's index (ReconcileIndex) -----------------------------------------------

/// Saves `links` as a new app record, or over the stored one.
async fn put_links<S: AppStore + ?Sized>(store: &S, app: &AppId, links: Vec<Link>) {
    let current = store.load_app(app).await.unwrap();
    let guard = match &current {
        None => Guard::New,
        Some(r) => Guard::Unleased {
            generation: r.generation,
            now_ms: 0,
        },
    };
    let mut r = current.unwrap_or_else(|| AppRecord::new(app.clone(), "sample-app"));
    r.links = links.into_iter().map(|l| (l.key(), l)).collect();
    assert!(matches!(
        store.save_app(&r, guard).await.unwrap(),
        Saved::Ok { .. }
    ));
}

async fn given_apps_saved_with_and_without_active_links_then_the_index_lists_exactly_those_with<
    S: AppStore + ReconcileIndex + ?Sized,
>(
    store: &S,
) {
    let (a, b, c, d) = (app_id(), app_id(), app_id(), app_id());
    put_links(store, &a, vec![link(&a, "p1", "A_URL")]).await;
    let mut off = link(&b, "p1", "B_URL");
    off.status = LinkStatus::OptedOut;
    put_links(store, &b, vec![off.clone()]).await;
    // Active, then its only link opted out: it leaves the index.
    put_links(store, &c, vec![link(&c, "p2", "C_URL")]).await;
    let mut c_off = link(&c, "p2", "C_URL");
    c_off.status = LinkStatus::OptedOut;
    put_links(store, &c, vec![c_off]).await;
    // Opted out, then re-enabled, and its token project changing: listed once.
    put_links(store, &d, vec![off.clone()]).await;
    put_links(
        store,
        &d,
        vec![link(&d, "p9", "D_URL"), link(&d, "p3", "D_URL")],
    )
    .await;
    put_links(store, &d, vec![link(&d, "p9", "D_URL")]).await;

    let mut listed = store.apps_with_active_links().await.unwrap();
    listed.sort();
    let mut want = vec![a, d];
    want.sort();
    assert_eq!(listed, want);
}

async fn given_integrations_with_and_without_pending_cleanup_then_the_index_lists_the_owing_ones<
    S: IntegrationStore + ReconcileIndex + ?Sized,
>(
    store: &S,
) {
    let owing = |p: &str| {
        let mut i = Integration::new(project(p));
        i.pending_cleanup.push(Cleanup::DeleteWebhook {
            app_id: app_id(),
            webhook_id: "hook".into(),
        });
        i
    };
    store.save_integration(&owing("p1"), None).await.unwrap();
    store
        .save_integration(&Integration::new(project("p2")), None)
        .await
        .unwrap();
    store.save_integration(&owing("p3"), None).await.unwrap();
    // p3 finishes its clean-up: it leaves the index.
    let mut done = store
        .load_integration(&project("p3"))
        .await
        .unwrap()
        .unwrap();
    let generation = done.generation;
    done.pending_cleanup.clear();
    store
        .save_integration(&done, Some(generation))
        .await
        .unwrap();

    assert_eq!(
        store.projects_with_cleanup().await.unwrap(),
        vec![project("p1")]
    );
}

async fn given_a_check_mark_then_it_reads_back_and_the_app_record_is_untouched<
    S: AppStore + ReconcileIndex + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    put_links(store, &app, vec![link(&app, "p1", "A_URL")]).await;
    let before = store.load_app(&app).await.unwrap();
    assert_eq!(store.checked_at(&app).await.unwrap(), None);
    let at = ts("2024-05-01T12:15:00Z");
    store.mark_checked(&app, at, 7).await.unwrap();
    assert_eq!(store.checked_at(&app).await.unwrap(), Some(at));
    assert_eq!(store.load_app(&app).await.unwrap(), before);
}

/// What a project's status reads of an app several projects share: that project's links
/// only (not one whose id merely begins with it), with the app's check mark.
async fn given_an_app_shared_by_projects_then_a_projects_links_are_its_own_with_the_check_mark<
    S: AppStore + ReconcileIndex + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let app = &app;
    let on_app = |p: &str| {
        let p = project(p);
        async move { store.load_project_links(app, &p).await.unwrap() }
    };
    assert_eq!(on_app("p1").await, LinksOnApp::default(), "no record");
    let mut links = vec![
        link(app, "p1", "A_URL"),
        link(app, "p1", "B_URL"),
        link(app, "p12", "A_URL"),
        link(app, "p2", "A_URL"),
    ];
    links[1].status = LinkStatus::OptedOut;
    put_links(store, app, links.clone()).await;
    let got = on_app("p1").await;
    assert_eq!(got.links, links[..2].to_vec());
    assert_eq!(got.checked_at, None);
    let at = ts("2024-05-01T12:15:00Z");
    store.mark_checked(app, at, 7).await.unwrap();
    assert_eq!(
        on_app("p12").await,
        LinksOnApp {
            links: vec![links[2].clone()],
            checked_at: Some(at),
        }
    );
    assert_eq!(on_app("p3").await.links, vec![]);
}

contract![
    given_apps_saved_with_and_without_active_links_then_the_index_lists_exactly_those_with,
    given_integrations_with_and_without_pending_cleanup_then_the_index_lists_the_owing_ones,
    given_a_check_mark_then_it_reads_back_and_the_app_record_is_untouched,
    given_an_app_shared_by_projects_then_a_projects_links_are_its_own_with_the_check_mark,
];

// ---- Many links on one app ----------------------------------------------------------------
// More changed links than one DynamoDB transaction holds: the adapter writes them in several
// (dynamo_apps), and must still read back exactly what was saved, refuse stale savers, and
// write nothing when the guard fails.

/// Links for `app`, `n` of them, each with a few history lines.
pub(crate) fn many_links(app: &AppId, n: usize) -> Vec<Link> {
    (0..n)
        .map(|i| {
            let mut l = link(app, &format!("p{}", i % 10), &format!("DB_{i:04}_URL"));
            l.fingerprint = Some(Fingerprint::of(&format!("{i}"), "postgres://x"));
            l.last_release_version = Some(3);
            l.history = (0..3)
                .map(|v| HistoryEntry {
                    at: ts("2024-05-01T12:00:00Z"),
                    kind: HistoryKind::Synced,
                    release_version: Some(v),
                    detail: Some(format!("synced {i} at {v}")),
                })
                .collect();
            l
        })
        .collect()
}

async fn given_many_links_when_added_changed_and_removed_then_each_save_loads_equal<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let mut r = new_app(store, &app).await;
    for l in many_links(&app, 250) {
        r.links.insert(l.key(), l);
    }
    let g = saved_at(store, &r, unleased(1, 0)).await;
    let mut stored = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(stored, AppRecord { generation: g, ..r });

    // A sync's shape: take the lease marking every link, then commit and release it.
    stored.set_lease(Some(Lease {
        owner: "w".into(),
        until_ms: i64::MAX,
    }));
    for l in stored.links.values_mut() {
        l.writing_version = Some(4);
    }
    let g = saved_at(store, &stored, unleased(g, 0)).await;
    let stale = store.load_app(&app).await.unwrap().expect("stored");
    let mut leased = stale.clone();
    for l in leased.links.values_mut().take(150) {
        l.writing_version = None;
        l.last_release_version = Some(4);
        l.history.push(HistoryEntry {
            at: ts("2024-05-02T12:00:00Z"),
            kind: HistoryKind::Synced,
            release_version: Some(4),
            detail: None,
        });
    }
    let gone: Vec<_> = leased.links.keys().rev().take(10).cloned().collect();
    for k in &gone {
        leased.links.remove(k);
    }
    leased.set_lease(None);
    let g_now = saved_at(store, &leased, holder("w", g)).await;
    let now = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(
        now,
        AppRecord {
            generation: g_now,
            ..leased
        }
    );
    assert_eq!(now.links.len(), 240);

    // Whoever read the record before is refused, however many links it changed.
    let mut late = stale;
    for l in late.links.values_mut() {
        l.last_error = Some("late".into());
    }
    late.set_lease(None);
    assert_eq!(
        store.save_app(&late, unleased(g, 0)).await.unwrap(),
        Saved::Conflict
    );
    assert_eq!(store.load_app(&app).await.unwrap().expect("stored"), now);
}

/// Saves under `guard` and returns the generation the store reports: past the record's
/// (by one, or by two for a save DynamoDB takes in several transactions) and what it holds.
async fn saved_at<S: AppStore + ?Sized>(store: &S, r: &AppRecord, guard: Guard) -> u64 {
    match store.save_app(r, guard).await.unwrap() {
        Saved::Ok { generation } => {
            assert!(
                (r.generation + 1..=r.generation + 2).contains(&generation),
                "{generation} after {}",
                r.generation
            );
            let held = store.load_app(&r.app_id).await.unwrap().expect("stored");
            assert_eq!(held.generation, generation);
            generation
        }
        other => panic!("not saved: {other:?}"),
    }
}

async fn given_a_live_lease_when_many_links_are_saved_unleased_then_conflict_and_no_link_written<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let before = leased_app(store, &app, "other", i64::MAX).await;
    let mut r = before.clone();
    r.set_lease(None);
    for l in many_links(&app, 150) {
        r.links.insert(l.key(), l);
    }
    assert_eq!(
        store.save_app(&r, unleased(2, 0)).await.unwrap(),
        Saved::Conflict
    );
    assert_eq!(store.load_app(&app).await.unwrap().expect("stored"), before);
}

async fn given_a_record_not_read_from_the_store_when_saved_over_then_the_links_it_lacks_are_gone<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let mut r = AppRecord::new(app.clone(), "sample-app");
    let links = many_links(&app, 3);
    for l in &links {
        r.links.insert(l.key(), l.clone());
    }
    assert_eq!(store.save_app(&r, Guard::New).await.unwrap(), saved(1));
    // Built afresh (not loaded): the store cannot know what it holds from the record.
    let mut other = AppRecord::new(app.clone(), "sample-app");
    other.generation = 1;
    other.links.insert(links[1].key(), links[1].clone());
    assert_eq!(
        store.save_app(&other, unleased(1, 0)).await.unwrap(),
        saved(2)
    );
    let got = store.load_app(&app).await.unwrap().expect("stored");
    assert_eq!(got.links.keys().collect::<Vec<_>>(), vec![&links[1].key()]);
}

async fn given_a_saved_link_when_loaded_alone_then_equal_and_a_missing_one_none<
    S: AppStore + ?Sized,
>(
    store: &S,
) {
    let app = app_id();
    let r = full_record(&app);
    assert_eq!(store.save_app(&r, Guard::New).await.unwrap(), saved(1));
    for (key, link) in &r.links {
        assert_eq!(
            store.load_link(&app, key).await.unwrap().as_ref(),
            Some(link)
        );
    }
    let missing = shared::domain::LinkKey::new(&project("p9"), &env_var("NOPE_URL"));
    assert_eq!(store.load_link(&app, &missing).await.unwrap(), None);
    assert_eq!(store.load_link(&app_id(), &missing).await.unwrap(), None);
}

contract![
    given_a_saved_link_when_loaded_alone_then_equal_and_a_missing_one_none,
    given_many_links_when_added_changed_and_removed_then_each_save_loads_equal,
    given_a_live_lease_when_many_links_are_saved_unleased_then_conflict_and_no_link_written,
    given_a_record_not_read_from_the_store_when_saved_over_then_the_links_it_lacks_are_gone,
];
