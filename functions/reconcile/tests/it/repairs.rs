//! What a pass repairs: a lost delivery, a failed delivery Heroku stopped retrying, a
//! deleted or altered subscription, clean-up left pending; and what it costs.

use crate::*;
use fake_heroku::{DeliveryMode, Fault};
use shared::domain::{AppId, ProjectId};
use shared::metrics::ReconcileMetrics;

fn reconcile_metrics(stack: &Stack) -> Vec<ReconcileMetrics> {
    stack
        .metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|m| m.reconcile.clone())
        .collect()
}

fn sum(ms: &[ReconcileMetrics], f: impl Fn(&ReconcileMetrics) -> u64) -> u64 {
    ms.iter().map(f).sum()
}

/// Settings under which no pass checks a subscription unless it must.
fn steady() -> ReconcileSettings {
    ReconcileSettings {
        subscription_check_every: 1_000_003,
        ..settings()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_lost_delivery_when_a_pass_runs_then_the_env_var_catches_up_and_shows_the_repair() {
    let w = world().await;
    w.stack.heroku.set_delivery_mode(DeliveryMode::Hold);
    let release = w.stack.heroku.rotate_credentials(&w.app);
    assert_eq!(w.stack.heroku.take_held().len(), 1, "the delivery is lost");
    assert_ne!(
        w.env().await.unwrap(),
        w.heroku_url(),
        "stale before the pass"
    );

    let r = reconciler(&w.stack, steady());
    pass(&r).await;

    assert_eq!(w.env().await.unwrap(), w.heroku_url(), "caught up");
    let link = w.link().await;
    assert_eq!(link.last_release_version, Some(release.version));
    let repair = link.last_repair.expect("the repair is shown");
    assert!(
        repair.what.contains(&format!("v{}", release.version))
            && repair.what.contains("not delivered"),
        "{}",
        repair.what
    );
    let checked = w
        .stack
        .svc
        .store
        .checked_at(&AppId::parse(&w.app.id).unwrap())
        .await
        .unwrap();
    assert!(checked.is_some(), "the pass marked the app checked");
    let m = reconcile_metrics(&w.stack);
    assert_eq!(sum(&m, |m| m.links_behind), 1, "{m:?}");
    assert_eq!(sum(&m, |m| m.links_checked), 1);
    // Drift means a delivery went missing: the subscription was checked (a GET of
    // it at Heroku), found fine, and given our key again (Heroku never shows it).
    assert_eq!(sum(&m, |m| m.subscriptions_repaired), 0);
    let hook = &w.stack.heroku.webhooks(&w.app)[0];
    let checks: Vec<_> = w
        .stack
        .heroku
        .requests()
        .into_iter()
        .filter(|q| q.path.ends_with(&format!("/webhooks/{}", hook.id)))
        .map(|q| q.method)
        .collect();
    assert_eq!(
        checks,
        vec!["GET".to_owned(), "PATCH".to_owned()],
        "{checks:?}"
    );

    // Nothing changed since: the next pass costs one Heroku call and writes nothing.
    let versions = w.stack.env_versions(PROJECT, ENV_VAR).await;
    w.stack.heroku.reset_request_log();
    pass(&r).await;
    let calls = w.stack.heroku.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].path.ends_with("/releases"), "{calls:?}");
    assert_eq!(w.stack.env_versions(PROJECT, ENV_VAR).await, versions);
    let m = reconcile_metrics(&w.stack);
    assert_eq!(m.last().unwrap().links_behind, 0);
    // The status shows the pass's check, though the pass did not rewrite the link.
    let checked = w
        .stack
        .svc
        .store
        .checked_at(&AppId::parse(&w.app.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(w.link().await.last_checked_at.unwrap() < checked);
    let shown = shared::linking::project_links(&w.stack.svc, &ProjectId::parse(PROJECT).unwrap())
        .await
        .unwrap();
    assert_eq!(shown[0].last_checked_at, Some(checked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_delivery_that_failed_and_was_never_retried_when_a_pass_runs_then_it_is_retried() {
    let w = world().await;
    // Heroku gives up after the first attempt (its 72 h of retries, compressed).
    w.stack.heroku.set_retry_schedule(vec![]);
    w.stack.proxy.fail("PutSecretValue", 500);
    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    assert!(
        w.stack.heroku.deliveries().iter().all(|d| !d.succeeded),
        "the delivery failed"
    );
    w.stack.proxy.clear();
    assert_ne!(w.env().await.unwrap(), w.heroku_url());

    pass(&reconciler(&w.stack, steady())).await;

    assert_eq!(w.env().await.unwrap(), w.heroku_url());
    assert!(w.link().await.last_repair.is_some());
}

async fn our_token(w: &World) -> shared::heroku::AccessToken {
    w.stack
        .svc
        .tokens
        .access_token(&ProjectId::parse(PROJECT).unwrap())
        .await
        .expect("token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_deleted_subscription_when_a_pass_runs_then_it_is_recreated_and_deliveries_resume()
{
    let w = world().await;
    let hooks = w.stack.heroku.webhooks(&w.app);
    assert_eq!(hooks.len(), 1);
    w.stack
        .svc
        .heroku
        .delete_webhook(&our_token(&w).await, &w.app.id, &hooks[0].id)
        .await
        .expect("deleted at Heroku");
    assert!(w.stack.heroku.webhooks(&w.app).is_empty());

    pass(&reconciler(&w.stack, settings())).await;

    let hooks = w.stack.heroku.webhooks(&w.app);
    assert_eq!(hooks.len(), 1, "subscribed again");
    assert_eq!(hooks[0].url, format!("{}/webhooks/heroku", w.stack.url()));
    let record = w.stack.app_record(&w.app.id).await.unwrap();
    assert_eq!(record.subscription.unwrap().webhook_id, hooks[0].id);
    let link = w.link().await;
    assert!(
        link.last_repair.unwrap().what.contains("missing"),
        "the repair is shown"
    );
    assert_eq!(
        sum(&reconcile_metrics(&w.stack), |m| m.subscriptions_repaired),
        1
    );

    // And the new subscription delivers, signed with our key.
    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    assert!(w.stack.heroku.deliveries().iter().all(|d| d.succeeded));
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_subscription_changed_at_heroku_when_a_pass_runs_then_it_is_restored() {
    let w = world().await;
    let hook = w.stack.heroku.webhooks(&w.app).remove(0);
    let body = shared::heroku::WebhookRequest {
        include: &["api:release"],
        level: "notify",
        url: "https://elsewhere.example.com/hook",
        secret: "not-ours",
    };
    w.stack
        .svc
        .heroku
        .update_webhook(&our_token(&w).await, &w.app.id, &hook.id, &body)
        .await
        .expect("changed at Heroku");

    pass(&reconciler(&w.stack, settings())).await;

    let hooks = w.stack.heroku.webhooks(&w.app);
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].id, hook.id, "the same subscription, put back");
    assert_eq!(hooks[0].url, format!("{}/webhooks/heroku", w.stack.url()));
    assert_eq!(hooks[0].level, "sync");
    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    assert!(
        w.stack.heroku.deliveries().iter().all(|d| d.succeeded),
        "delivered and verified with our key again"
    );
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_cleanup_left_pending_when_a_pass_runs_then_it_is_finished() {
    let w = world().await;
    let fault = w
        .stack
        .heroku
        .inject(Fault::status(&format!("/apps/{}/webhooks", w.app.id), 503).method("DELETE"));
    let c = local::client::Client::new(&w.stack, "user-1", PROJECT, &[]);
    let a = c
        .call(
            "DELETE",
            &format!("/projects/{PROJECT}/env-vars/{ENV_VAR}/heroku-sync"),
            None,
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.json);
    let project = ProjectId::parse(PROJECT).unwrap();
    let pending = |s: &Stack| {
        let store = s.svc.store.clone();
        let project = project.clone();
        async move {
            store
                .load_integration(&project)
                .await
                .unwrap()
                .unwrap()
                .pending_cleanup
                .len()
        }
    };
    assert_eq!(pending(&w.stack).await, 1);
    w.stack.heroku.clear_fault(fault);

    pass(&reconciler(&w.stack, settings())).await;

    assert_eq!(pending(&w.stack).await, 0, "clean-up finished");
    assert!(w.stack.heroku.webhooks(&w.app).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_account_out_of_budget_when_a_pass_runs_then_its_other_apps_wait() {
    let w = world().await;
    let mut apps = vec![w.app.clone()];
    for (i, name) in ["second-app", "third-app"].iter().enumerate() {
        let app = w.stack.heroku.create_app(&w.user, name);
        w.stack
            .heroku
            .add_postgres(&app, "heroku-postgresql:essential-0");
        w.stack
            .link(PROJECT, &format!("PG_URL_{i}"), &app.name, "DATABASE_URL")
            .await;
        apps.push(app);
    }
    w.stack.heroku.set_delivery_mode(DeliveryMode::Hold);
    for app in &apps {
        w.stack.heroku.rotate_credentials(app);
    }
    w.stack.heroku.take_held();
    w.stack.heroku.reset_request_log();

    // Two calls an hour: the first app's release check and its config vars. Its
    // subscription check (due after drift) waits too, so all three count as deferred.
    let r = reconciler(
        &w.stack,
        ReconcileSettings {
            calls_per_hour: 2,
            concurrency: 1,
            ..steady()
        },
    );
    pass(&r).await;

    assert!(
        w.stack.heroku.requests().len() <= 2,
        "{:?}",
        w.stack.heroku.requests()
    );
    let m = reconcile_metrics(&w.stack);
    assert_eq!(sum(&m, |m| m.apps_deferred), 3, "{m:?}");
    assert_eq!(
        sum(&m, |m| m.links_behind),
        1,
        "only the first app got its release checked"
    );
    let mut current = 0;
    for (app, env) in apps.iter().zip([ENV_VAR, "PG_URL_0", "PG_URL_1"]) {
        let heroku = w.stack.heroku.config_var(app, "DATABASE_URL").unwrap();
        if w.stack.env_value(PROJECT, env).await.unwrap() == heroku {
            current += 1;
        }
    }
    assert_eq!(current, 1, "one app caught up, two wait for the next hour");
}

/// Issue 10, item 12: catching a project's links up inside a request (a reconnect, a
/// confirm) stops within its budget, well inside API Gateway's 29 s; the reconciler's
/// next pass brings up the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_slow_heroku_then_a_catch_up_stops_within_its_budget_and_the_pass_does_the_rest() {
    let w = world().await;
    let mut apps = vec![w.app.clone()];
    for i in 0..5 {
        let app = w.stack.heroku.create_app(&w.user, &format!("slow-app-{i}"));
        w.stack
            .heroku
            .add_postgres(&app, "heroku-postgresql:essential-0");
        w.stack
            .link(PROJECT, &format!("SLOW_URL_{i}"), &app.name, "DATABASE_URL")
            .await;
        apps.push(app);
    }
    w.stack.heroku.set_delivery_mode(DeliveryMode::Hold);
    for app in &apps {
        w.stack.heroku.rotate_credentials(app);
    }
    w.stack.heroku.take_held();
    w.stack.heroku.set_api_latency(Duration::from_millis(2_500));

    let started = std::time::Instant::now();
    shared::linking::catch_up(&w.stack.svc, &ProjectId::parse(PROJECT).unwrap()).await;
    let took = started.elapsed();

    // The budget, plus the one sync under way when it ran out.
    assert!(
        took < shared::linking::CATCH_UP_BUDGET + Duration::from_secs(9),
        "{took:?}"
    );
    let envs: Vec<String> = std::iter::once(ENV_VAR.to_owned())
        .chain((0..5).map(|i| format!("SLOW_URL_{i}")))
        .collect();
    let caught_up = current(&w, &apps, &envs).await;
    assert!(caught_up < apps.len(), "some links are left for the pass");

    w.stack.heroku.set_api_latency(Duration::ZERO);
    pass(&reconciler(&w.stack, steady())).await;
    assert_eq!(
        current(&w, &apps, &envs).await,
        apps.len(),
        "the pass did the rest"
    );
}

/// How many of `apps` have their env var (`envs`, in the same order) at Heroku's value.
async fn current(w: &World, apps: &[App], envs: &[String]) -> usize {
    let mut n = 0;
    for (app, env) in apps.iter().zip(envs) {
        if w.stack.env_value(PROJECT, env).await == w.stack.heroku.config_var(app, "DATABASE_URL") {
            n += 1;
        }
    }
    n
}

/// Found by the simulation (seed 87), through the real routes: opt out, link again while
/// DynamoDB fails (the link is saved, its first sync is not), then a late delivery of a
/// release older than the one synced before the opt-out. The secret must not move back
/// to it: the re-link keeps the release synced before as its floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_relink_whose_first_sync_failed_then_a_late_older_delivery_never_moves_the_secret_back()
 {
    let w = world().await;
    w.stack.heroku.set_delivery_mode(DeliveryMode::Hold);
    w.stack.heroku.rotate_credentials(&w.app);
    let late = w.stack.heroku.take_held().remove(0);
    w.stack.heroku.rotate_credentials(&w.app);
    let newer = w.stack.heroku.take_held().remove(0);
    assert!(late.version < newer.version);
    let send = |d: &fake_heroku::HeldDelivery| {
        let mut req = reqwest::Client::new().post(&d.url).body(d.body.clone());
        for (k, v) in &d.headers {
            if !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("host") {
                req = req.header(k, v);
            }
        }
        req.send()
    };
    assert_eq!(send(&newer).await.unwrap().status().as_u16(), 204);
    let synced = w.env().await.unwrap();
    assert_eq!(synced, w.heroku_url());

    let c = local::client::Client::new(&w.stack, "user-1", PROJECT, &[]);
    let path = format!("/projects/{PROJECT}/env-vars/{ENV_VAR}/heroku-sync");
    assert_eq!(c.call("DELETE", &path, None).await.status, 204);
    // The re-link's first sync fails taking the app's lease (DynamoDB, both of the SDK's
    // attempts): after the link is saved, before any write could start.
    w.stack.proxy.fail_once_after("PutItem", 0, 500, 2);
    let relinked = c
        .call(
            "PUT",
            &path,
            Some(r#"{"app":"sample-app","config_var":"DATABASE_URL"}"#),
        )
        .await;
    w.stack.proxy.clear();
    assert_eq!(relinked.status, 503, "{}", relinked.json);
    assert!(
        w.link().await.is_active(),
        "the link was saved: {}",
        relinked.json
    );

    // Heroku redelivers the older release at last.
    let answer = send(&late).await.unwrap().status().as_u16();
    assert!(answer < 300, "{answer}");
    assert_eq!(
        w.env().await.unwrap(),
        synced,
        "never the older release's value"
    );
}
