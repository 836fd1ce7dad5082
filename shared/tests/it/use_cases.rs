//! The use cases on ports alone (issue 9, item 2): connect, link, a rotation, opt-out,
//! disconnect and transfer wired by `Services::assemble` from the memory store and vault
//! and a Heroku in memory, no HTTP and no moto. The same flows against DynamoDB, Secrets
//! Manager and the fake Heroku server are the functions' tests.

use crate::support::platform::{MemoryHeroku, OAUTH_CLIENT_ID};
use crate::support::{CLIENT_SECRET, CLIENT_SECRET_ID, PREFIX, project, start_time};
use shared::adapters::{MemoryEvents, MemoryStore, MemoryVault};
use shared::clock::ManualClock;
use shared::config::{Config, Needs};
use shared::domain::{
    AppId, ConfigVarName, EnvVarName, IntegrationStatus, LinkKey, LinkStatus, ProjectId,
};
use shared::linking::{self, LinkError, LinkOutcome, LinkRequest};
use shared::metrics::NoMetrics;
use shared::optout::{self, OptOut};
use shared::services::{Adapters, Services};
use shared::sync::{SyncRequest, Target};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const BASE: &str = "https://api.example.com";
const SIGNING_KEY_ID: &str = "test/webhook-signing-key";
const URL_1: &str = "postgres://u:one@db.example.com:5432/d";
const URL_2: &str = "postgres://u:two@db.example.com:5432/d";

struct World {
    svc: Services,
    store: Arc<MemoryStore>,
    vault: Arc<MemoryVault>,
    heroku: Arc<MemoryHeroku>,
    project: ProjectId,
}

fn world() -> World {
    let vars = [
        ("TABLE_NAME", "unused"),
        ("SECRET_PREFIX", PREFIX),
        ("PUBLIC_BASE_URL", BASE),
        ("HEROKU_OAUTH_CLIENT_ID", OAUTH_CLIENT_ID),
        ("HEROKU_OAUTH_CLIENT_SECRET_ID", CLIENT_SECRET_ID),
        ("WEBHOOK_SIGNING_KEY_ID", SIGNING_KEY_ID),
    ];
    let needs = Needs {
        oauth_client: true,
        signing_key: true,
        ..Needs::default()
    };
    let lookup = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    let config = Config::from_lookup(lookup, needs).expect("config");
    let (store, vault, heroku) = (
        Arc::new(MemoryStore::default()),
        Arc::new(MemoryVault::default()),
        Arc::new(MemoryHeroku::default()),
    );
    vault.insert(CLIENT_SECRET_ID, CLIENT_SECRET);
    vault.insert(SIGNING_KEY_ID, "whsec-test");
    let svc = Services::assemble(
        config,
        Adapters {
            store: store.clone(),
            budget: Arc::new(shared::adapters::MemoryBudget::default()),
            vault: vault.clone(),
            heroku: heroku.clone(),
            events: Arc::new(MemoryEvents::default()),
            clock: Arc::new(ManualClock::new(start_time())),
            metrics: Arc::new(NoMetrics),
        },
    );
    World {
        svc,
        store,
        vault,
        heroku,
        project: project(&format!("p{}", uuid::Uuid::new_v4().simple())),
    }
}

impl World {
    /// The owner approves at Heroku and the grant becomes the project's connection.
    async fn connect(&self) {
        let grant = self.heroku.approve();
        linking::record_connection(&self.svc, &self.project, "owner", &grant)
            .await
            .expect("connected");
    }

    /// An app `shop` with a database, connected, `DATABASE_URL` linked to it: its id.
    async fn linked(&self) -> String {
        let app = self.heroku.add_app("shop", URL_1);
        self.connect().await;
        linking::link(
            &self.svc,
            &self.request("shop", "DATABASE_URL", "DATABASE_URL"),
        )
        .await
        .expect("linked");
        app
    }

    fn request(&self, app: &str, env_var: &str, config_var: &str) -> LinkRequest {
        LinkRequest {
            project: self.project.clone(),
            env_var: EnvVarName::parse(env_var).expect("env var"),
            app: app.to_owned(),
            config_var: ConfigVarName::parse(config_var).expect("config var"),
            sub: "owner".into(),
            allow_missing: false,
            request_base: None,
        }
    }

    fn env_value(&self, env_var: &str) -> Option<String> {
        self.vault
            .current(&self.svc.names.env_var(&self.project, env_var))
    }

    async fn link_status(&self, app: &str, env_var: &str) -> LinkStatus {
        use shared::ports::AppStore;
        let app = AppId::parse(app).expect("app id");
        let key = LinkKey::new(&self.project, &EnvVarName::parse(env_var).unwrap());
        self.store
            .load_link(&app, &key)
            .await
            .unwrap()
            .expect("link")
            .status
    }
}

#[tokio::test]
async fn given_a_connected_project_when_linked_and_rotated_then_subscribed_and_each_value_written()
{
    let w = world();
    let app = w.heroku.add_app("shop", URL_1);
    w.connect().await;

    let linked = linking::link(&w.svc, &w.request("shop", "DATABASE_URL", "DATABASE_URL"))
        .await
        .expect("linked");
    assert_eq!(linked.outcome, LinkOutcome::Created);
    assert_eq!(w.env_value("DATABASE_URL").as_deref(), Some(URL_1));
    let hooks = w.heroku.stored_app(&app).webhooks;
    assert_eq!(hooks.len(), 1, "one subscription");
    assert_eq!(hooks[0].url, format!("{BASE}/webhooks/heroku"));
    assert_eq!(hooks[0].include, ["api:release"]);

    let version = w.heroku.rotate(&app, URL_2);
    w.svc
        .sync
        .sync(&SyncRequest {
            app_id: AppId::parse(&app).unwrap(),
            target: Target::Release(version),
            only: None,
            released_at: None,
            delivery_id: Some("d-1".into()),
            repair: None,
        })
        .await
        .expect("synced");
    assert_eq!(w.env_value("DATABASE_URL").as_deref(), Some(URL_2));
    assert_eq!(
        w.link_status(&app, "DATABASE_URL").await,
        LinkStatus::Active
    );
}

#[tokio::test]
async fn given_a_config_var_no_postgres_add_on_sets_when_linking_then_refused_and_nothing_stored() {
    use shared::ports::AppStore;
    let w = world();
    let app = w.heroku.add_app("shop", URL_1);
    w.connect().await;

    let err = linking::link(&w.svc, &w.request("shop", "DATABASE_URL", "REDIS_URL"))
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::NotAnAddonConfigVar(_)), "{err:?}");
    assert!(w.store.directory(&w.project).await.unwrap().is_empty());
    assert!(
        w.heroku.stored_app(&app).webhooks.is_empty(),
        "not subscribed"
    );
    assert_eq!(w.env_value("DATABASE_URL"), None);
}

#[tokio::test]
async fn given_an_access_token_expired_early_when_linking_then_refreshed_once_and_linked() {
    let w = world();
    w.heroku.add_app("shop", URL_1);
    w.connect().await;
    w.heroku.expire_access_tokens();

    linking::link(&w.svc, &w.request("shop", "DATABASE_URL", "DATABASE_URL"))
        .await
        .expect("linked after a refresh");
    let refreshes = w.heroku.calls().iter().filter(|c| *c == "refresh").count();
    assert_eq!(refreshes, 1);
    assert_eq!(w.env_value("DATABASE_URL").as_deref(), Some(URL_1));
}

#[tokio::test]
async fn given_the_last_link_of_an_app_opted_out_then_its_subscription_is_deleted_and_the_value_kept()
 {
    let w = world();
    let app = w.linked().await;
    let env = EnvVarName::parse("DATABASE_URL").unwrap();

    let out = optout::opt_out(&w.svc, &w.project, &env).await.unwrap();
    assert_eq!(out, Some(OptOut::Stopped));
    assert_eq!(
        w.link_status(&app, "DATABASE_URL").await,
        LinkStatus::OptedOut
    );
    assert!(
        w.heroku.stored_app(&app).webhooks.is_empty(),
        "unsubscribed"
    );
    // The env var stays as it was: opting out stops the sync, it deletes nothing.
    assert_eq!(w.env_value("DATABASE_URL").as_deref(), Some(URL_1));
    let again = optout::opt_out(&w.svc, &w.project, &env).await.unwrap();
    assert_eq!(again, Some(OptOut::AlreadyStopped));
}

#[tokio::test]
async fn given_a_transfer_then_links_stop_the_grant_is_revoked_and_the_new_owner_pinned() {
    use shared::ports::IntegrationStore;
    let w = world();
    let app = w.linked().await;
    assert_eq!(w.heroku.live_authorizations().len(), 1);

    optout::disconnect(&w.svc, &w.project, Some("new-owner"))
        .await
        .expect("transferred");
    let i = w
        .store
        .load_integration(&w.project)
        .await
        .unwrap()
        .expect("integration");
    assert_eq!(i.status, IntegrationStatus::Disconnected);
    assert_eq!(i.owner_sub.as_deref(), Some("new-owner"));
    assert!(i.pending_cleanup.is_empty(), "{:?}", i.pending_cleanup);
    assert!(w.heroku.live_authorizations().is_empty(), "revoked");
    assert!(
        w.heroku.stored_app(&app).webhooks.is_empty(),
        "unsubscribed"
    );
    assert_eq!(
        w.link_status(&app, "DATABASE_URL").await,
        LinkStatus::Disconnected
    );
}

/// Who may do what, on ports alone: only the project's owner connects, only the user who
/// connected uses the grant, and an admin may stop it (docs/contract.md).
#[tokio::test]
async fn given_a_connected_owner_then_collaborators_and_other_owners_are_refused_and_admins_may_stop()
 {
    use shared::access::{Also, Caller, Denied, connected_owner, may_connect};
    let w = world();
    w.heroku.add_app("shop", URL_1);
    w.connect().await;
    let caller = |sub: &str, role: &str, scopes: &[&str]| Caller {
        sub: sub.into(),
        project_id: Some(w.project.to_string()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        role: Some(role.into()),
    };
    let store = w.store.as_ref();
    let owner = caller("owner", "owner", &[]);
    let collaborator = caller("colleague", "member", &[]);
    let other_owner = caller("someone-else", "owner", &[]);
    let admin = caller("platform", "member", &["integrations/admin"]);

    assert!(
        connected_owner(store, &w.project, &owner, Also::Nobody)
            .await
            .is_ok()
    );
    assert!(may_connect(store, &w.project, &owner).await.is_ok());
    for (who, c) in [
        ("collaborator", &collaborator),
        ("other owner", &other_owner),
    ] {
        let refused = connected_owner(store, &w.project, c, Also::Nobody).await;
        assert!(matches!(refused, Err(Denied::NotProjectOwner(_))), "{who}");
        let refused = may_connect(store, &w.project, c).await;
        assert!(matches!(refused, Err(Denied::NotProjectOwner(_))), "{who}");
    }
    assert!(matches!(
        connected_owner(store, &w.project, &admin, Also::Nobody).await,
        Err(Denied::NotProjectOwner(_))
    ));
    assert!(
        connected_owner(store, &w.project, &admin, Also::Admin)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn given_many_links_on_two_apps_when_the_status_is_read_then_one_read_of_the_project_and_one_per_app()
 {
    let w = world();
    w.heroku.add_app("shop", URL_1);
    w.heroku.add_app("staging", URL_2);
    w.connect().await;
    for i in 0..30 {
        let env = format!("PREVIEW_{i}_URL");
        linking::link(&w.svc, &w.request("shop", &env, "DATABASE_URL"))
            .await
            .expect("linked");
    }
    linking::link(
        &w.svc,
        &w.request("staging", "DATABASE_URL", "DATABASE_URL"),
    )
    .await
    .expect("linked");

    let before = w.store.calls.load(Ordering::Relaxed);
    let status = linking::project_status(w.store.as_ref(), &w.project)
        .await
        .expect("status");
    let reads = w.store.calls.load(Ordering::Relaxed) - before;

    assert_eq!(reads, 3, "the project's items, then each app's record once");
    assert_eq!(status.links.len(), 31);
    assert!(status.links.iter().all(|l| l.status == LinkStatus::Active));
    let integration = status
        .integration
        .expect("the integration, read with the directory");
    assert_eq!(integration.project_id, w.project);
}
