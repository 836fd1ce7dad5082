//! The reconciler's rules over the in-memory adapters and a manual clock: the grace
//! period, the rate-limit floor, the budget under concurrency, and the pass's messages.
//! (Repairs end to end, through moto and the fake Heroku, are in functions/reconcile.)

use crate::support::*;
use async_trait::async_trait;
use shared::adapters::{MemoryBudget, MemoryQueue};
use shared::clock::Clock;
use shared::domain::{AppId, AppRecord, Cleanup, Integration, Subscription, Timestamp};
use shared::heroku::{AccessToken, ConfigVars, HerokuError, Release, Webhook, WebhookRequest};
use shared::ports::{AppStore, Guard, HerokuApi, HerokuWebhooks, IntegrationStore, ReconcileIndex};
use shared::reconcile::fanout::{self, WorkMessage};
use shared::reconcile::{BatchOutcome, ReconcileSettings, Reconciler};
use shared::signing::SigningKey;
use shared::sync::SyncContext;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HOOK_URL: &str = "https://sync.example.com/webhooks/heroku";

/// The scripted Heroku plus what the reconciler reads beyond it: each release's
/// `created_at`, the account's rate-limit pool, and our webhooks.
struct Scripted {
    inner: Arc<FakeHeroku>,
    created_at: Mutex<Option<Timestamp>>,
    pool: Mutex<Option<u32>>,
    hooks: Mutex<Vec<Webhook>>,
    /// Runs when a webhook is created: a race scripted into the middle of a repair.
    on_create: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl Scripted {
    fn new(inner: Arc<FakeHeroku>) -> Arc<Scripted> {
        Arc::new(Scripted {
            inner,
            created_at: Mutex::new(None),
            pool: Mutex::new(None),
            hooks: Mutex::new(Vec::new()),
            on_create: Mutex::new(None),
        })
    }
}

#[async_trait]
impl HerokuApi for Scripted {
    async fn config_vars(
        &self,
        token: &AccessToken,
        app: &str,
        release: Option<u64>,
    ) -> Result<ConfigVars, HerokuError> {
        self.inner.config_vars(token, app, release).await
    }

    async fn newest_release(
        &self,
        token: &AccessToken,
        app: &str,
    ) -> Result<Option<Release>, HerokuError> {
        let mut r = self.inner.newest_release(token, app).await?;
        if let (Some(r), Some(at)) = (r.as_mut(), *lock(&self.created_at)) {
            r.created_at = at
                .format(&time::format_description::well_known::Rfc3339)
                .ok();
        }
        Ok(r)
    }

    fn rate_limit_remaining_for(&self, _token: &AccessToken) -> Option<u32> {
        *lock(&self.pool)
    }
}

#[async_trait]
impl HerokuWebhooks for Scripted {
    async fn webhook(
        &self,
        _token: &AccessToken,
        _app: &str,
        id: &str,
    ) -> Result<Option<Webhook>, HerokuError> {
        Ok(lock(&self.hooks).iter().find(|w| w.id == id).cloned())
    }

    async fn list_webhooks(
        &self,
        _token: &AccessToken,
        _app: &str,
    ) -> Result<Vec<Webhook>, HerokuError> {
        Ok(lock(&self.hooks).clone())
    }

    async fn create_webhook(
        &self,
        _token: &AccessToken,
        _app: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        let w = Webhook {
            id: uuid::Uuid::new_v4().to_string(),
            url: request.url.to_owned(),
            include: request.include.iter().map(|s| (*s).to_owned()).collect(),
            level: Some(request.level.to_owned()),
        };
        lock(&self.hooks).push(w.clone());
        if let Some(race) = lock(&self.on_create).as_ref() {
            race();
        }
        Ok(w)
    }

    async fn update_webhook(
        &self,
        _token: &AccessToken,
        _app: &str,
        id: &str,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, HerokuError> {
        let mut hooks = lock(&self.hooks);
        let w = hooks
            .iter_mut()
            .find(|w| w.id == id)
            .ok_or_else(|| HerokuError::NotFound("webhook".into()))?;
        w.url = request.url.to_owned();
        w.level = Some(request.level.to_owned());
        Ok(w.clone())
    }

    async fn delete_webhook(
        &self,
        _token: &AccessToken,
        _app: &str,
        id: &str,
    ) -> Result<(), HerokuError> {
        lock(&self.hooks).retain(|w| w.id != id);
        Ok(())
    }
}

struct Rig {
    w: World,
    heroku: Arc<Scripted>,
    ctx: SyncContext,
    budget: MemoryBudget,
    key: SigningKey,
}

impl Rig {
    fn new() -> Rig {
        let w = World::new();
        w.vault.insert("test/signing-key", "whsec-test");
        let heroku = Scripted::new(w.heroku.clone());
        let mut ctx = w.ctx();
        ctx.heroku = heroku.clone();
        let key = SigningKey::new(
            w.vault.clone(),
            "WEBHOOK_SIGNING_KEY_ID",
            Some("test/signing-key".into()),
        );
        Rig {
            w,
            heroku,
            ctx,
            budget: MemoryBudget::default(),
            key,
        }
    }

    fn reconciler(&self, settings: ReconcileSettings) -> Reconciler<'_> {
        Reconciler::new(
            &self.ctx,
            self.w.store.as_ref(),
            self.w.store.as_ref(),
            self.heroku.as_ref(),
            &self.budget,
            &self.key,
            Some(HOOK_URL.into()),
            settings,
        )
    }

    /// Another app of project `p1` with one link to `env`, at release 1, subscribed.
    async fn another_app(&self, env: &str) -> AppId {
        let app = AppId::parse(uuid::Uuid::new_v4().to_string()).unwrap();
        let mut record = AppRecord::new(app.clone(), "other-app");
        record.subscription = Some(Subscription {
            webhook_id: "hook-1".into(),
            created_by: project("p1"),
            created_at: self.w.clock.now(),
            url: Some(HOOK_URL.into()),
            // The memory vault's version of the one signing key: nothing to re-key.
            key_version: Some("v1".into()),
        });
        let mut l = self.w.link("p1", env, "DATABASE_URL");
        l.app_id = app.clone();
        l.last_release_version = Some(1);
        record.links.insert(l.key(), l);
        self.w.store.save_app(&record, Guard::New).await.unwrap();
        app
    }
}

/// Subscriptions are never due unless a release went undelivered.
fn settings() -> ReconcileSettings {
    ReconcileSettings {
        subscription_check_every: 1_000_003,
        ..ReconcileSettings::default()
    }
}

#[tokio::test]
async fn a_release_younger_than_the_grace_period_is_left_to_its_delivery_then_caught_up() {
    let r = Rig::new();
    let k = r.w.one_link("p1").await;
    r.w.heroku.release(7, &[("DATABASE_URL", &url(7))]);
    *lock(&r.heroku.created_at) = Some(r.w.clock.now());

    let o = r
        .reconciler(settings())
        .run(1, std::slice::from_ref(&r.w.app))
        .await;
    assert_eq!(
        (o.links_checked, o.links_behind, o.links_written),
        (1, 0, 0)
    );
    assert_eq!(
        r.w.env("p1", "PG_DATABASE_URL"),
        None,
        "its delivery may be on its way"
    );

    r.w.clock.advance(Duration::from_secs(121));
    let o = r
        .reconciler(settings())
        .run(2, std::slice::from_ref(&r.w.app))
        .await;
    assert_eq!((o.links_behind, o.links_written), (1, 1));
    assert!(o.oldest_behind_s.unwrap() >= 121.0);
    assert_eq!(r.w.env("p1", "PG_DATABASE_URL"), Some(url(7)));
    let link = r.w.link_state(&k).await;
    assert!(link.last_repair.unwrap().what.contains("v7"));
    assert_eq!(link.last_delivery_at, None, "no delivery brought it");
}

#[tokio::test]
async fn an_account_whose_pool_runs_low_is_left_for_the_next_pass() {
    let r = Rig::new();
    r.w.connect("p1").await;
    let first = r.another_app("FIRST_URL").await;
    let other = r.another_app("OTHER_URL").await;
    r.w.heroku.release(1, &[("DATABASE_URL", &url(1))]);
    // Someone else (the owner's CI, say) has used most of the account's pool.
    *lock(&r.heroku.pool) = Some(400);

    let o = r
        .reconciler(ReconcileSettings {
            concurrency: 1,
            ..settings()
        })
        .run(1, &[first, other])
        .await;

    assert_eq!(o.apps_deferred, 1, "{o:?}");
    assert_eq!(
        r.w.heroku.calls().len(),
        1,
        "one call at Heroku, then the account is left alone"
    );
}

#[tokio::test]
async fn the_budget_holds_when_many_apps_of_one_account_run_at_once() {
    let r = Rig::new();
    r.w.connect("p1").await;
    let mut apps = Vec::new();
    for i in 0..20 {
        apps.push(r.another_app(&format!("URL_{i}")).await);
    }
    r.w.heroku.release(1, &[("DATABASE_URL", &url(1))]);
    r.w.heroku.reset_calls();

    let o: BatchOutcome = r
        .reconciler(ReconcileSettings {
            calls_per_hour: 5,
            concurrency: 20,
            ..settings()
        })
        .run(1, &apps)
        .await;

    assert_eq!(
        r.w.heroku.calls().len(),
        5,
        "exactly the budget, not one more"
    );
    assert_eq!(o.apps_deferred, 15);
    assert_eq!(
        r.budget
            .used("project:p1", r.w.clock.now().unix_timestamp()),
        5
    );
}

#[tokio::test]
async fn a_pass_queues_apps_in_batches_and_clean_ups_apart() {
    let r = Rig::new();
    r.w.one_link("p1").await;
    for i in 0..4 {
        r.another_app(&format!("URL_{i}")).await;
    }
    // An integration owing clean-up at Heroku.
    let mut owing = Integration::new(project("p9"));
    owing.pending_cleanup.push(Cleanup::DeleteWebhook {
        app_id: AppId::parse(uuid::Uuid::new_v4().to_string()).unwrap(),
        webhook_id: "y".into(),
    });
    r.w.store.save_integration(&owing, None).await.unwrap();
    let queue = MemoryQueue::default();
    let s = ReconcileSettings {
        apps_per_message: 2,
        ..settings()
    };

    let planned = fanout::plan_pass(r.w.store.as_ref(), &queue, &s, r.w.clock.now())
        .await
        .unwrap();

    assert_eq!(
        (planned.apps, planned.cleanups, planned.messages),
        (5, 1, 4)
    );
    let messages: Vec<WorkMessage> = queue
        .receive(10)
        .iter()
        .map(|b| WorkMessage::parse(b).unwrap())
        .collect();
    let sizes: Vec<usize> = messages
        .iter()
        .map(|m| match m {
            WorkMessage::Apps { apps, pass } => {
                assert_eq!(*pass, fanout::pass_number(r.w.clock.now(), &s));
                apps.len()
            }
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, vec![2, 2, 1, 0]);
    assert_eq!(
        messages[3],
        WorkMessage::Cleanup {
            projects: vec![project("p9")]
        }
    );
    // An app whose last link is opted out leaves the index.
    let mut record = r.w.record().await;
    for l in record.links.values_mut() {
        l.status = shared::domain::LinkStatus::OptedOut;
    }
    let guard = Guard::Unleased {
        generation: record.generation,
        now_ms: r.w.clock.now_ms(),
    };
    r.w.store.save_app(&record, guard).await.unwrap();
    assert_eq!(r.w.store.apps_with_active_links().await.unwrap().len(), 4);
}

#[tokio::test]
async fn an_opt_out_during_a_subscription_repair_leaves_no_webhook_at_heroku() {
    let r = Rig::new();
    r.w.connect("p1").await;
    let app = r.another_app("ONLY_URL").await;
    r.w.heroku.release(1, &[("DATABASE_URL", &url(1))]);
    // The recorded subscription is gone at Heroku; while we re-create it, the owner
    // opts out of the app's only link (its record then owes Heroku nothing).
    let store = r.w.store.clone();
    let opted = app.clone();
    *lock(&r.heroku.on_create) = Some(Box::new(move || {
        use futures_util::FutureExt;
        let mut record = store
            .load_app(&opted)
            .now_or_never()
            .unwrap()
            .unwrap()
            .unwrap();
        for l in record.links.values_mut() {
            l.status = shared::domain::LinkStatus::OptedOut;
        }
        record.subscription = None;
        let guard = Guard::Unleased {
            generation: record.generation,
            now_ms: 0,
        };
        store
            .save_app(&record, guard)
            .now_or_never()
            .unwrap()
            .unwrap();
    }));

    let o = r
        .reconciler(ReconcileSettings {
            subscription_check_every: 1,
            ..settings()
        })
        .run(1, std::slice::from_ref(&app))
        .await;

    assert_eq!(o.subscriptions_repaired, 0, "{o:?}");
    assert!(
        lock(&r.heroku.hooks).is_empty(),
        "the webhook made during the opt-out was deleted again"
    );
    assert!(
        r.w.store
            .load_app(&app)
            .await
            .unwrap()
            .unwrap()
            .subscription
            .is_none()
    );
}

#[tokio::test]
async fn one_projects_dead_grant_does_not_stop_another_projects_catch_up_on_the_same_app() {
    let r = Rig::new();
    r.w.connect("p1").await;
    r.w.connect("p2").await;
    // p1's grant was revoked at Heroku: its token and its refresh are refused.
    *lock(&r.w.heroku.accepted_tokens) = Some(["at-p2".to_owned()].into());
    lock(&r.w.heroku.refresh_tokens).remove("rt-p1");
    let mut a = r.w.link("p1", "A_URL", "DATABASE_URL");
    let mut b = r.w.link("p2", "B_URL", "DATABASE_URL");
    a.last_release_version = Some(1);
    b.last_release_version = Some(1);
    let (ka, kb) = (a.key(), b.key());
    r.w.save_links(vec![a, b]).await;
    r.w.heroku.release(1, &[("DATABASE_URL", &url(1))]);
    r.w.heroku.release(2, &[("DATABASE_URL", &url(2))]);

    let o = r
        .reconciler(settings())
        .run(1, std::slice::from_ref(&r.w.app))
        .await;

    assert_eq!(r.w.env("p2", "B_URL"), Some(url(2)), "{o:?}");
    assert_eq!(r.w.env("p1", "A_URL"), None);
    assert!(r.w.link_state(&ka).await.last_error.is_some());
    assert_eq!(
        r.w.link_state(&kb).await.last_error,
        None,
        "p1's grant is not p2's problem"
    );
}

#[tokio::test]
async fn near_the_invocations_deadline_no_app_is_started_and_all_wait_for_the_next_pass() {
    let r = Rig::new();
    r.w.connect("p1").await;
    let apps = vec![r.another_app("A_URL").await, r.another_app("B_URL").await];
    r.w.heroku.release(1, &[("DATABASE_URL", &url(1))]);

    let o = r
        .reconciler(ReconcileSettings {
            deadline: Some(tokio::time::Instant::now() + Duration::from_secs(10)),
            ..settings()
        })
        .run(1, &apps)
        .await;

    assert_eq!(
        (o.apps, o.apps_deferred, o.links_checked),
        (2, 2, 0),
        "{o:?}"
    );
    assert!(r.w.heroku.calls().is_empty());
}
