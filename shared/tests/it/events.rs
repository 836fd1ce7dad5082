//! Change events (docs/contract.md, "Change events"), over the in-memory world: one per env
//! var written, after the commit, naming the secret version and never the value; a bus
//! that is down never makes the env var wrong or the sync fail.

use crate::support::*;
use shared::ports::{EnvVarSynced, VaultError};
use shared::sync::{SyncRequest, Target};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const P: &str = "p1";
const Q: &str = "p2";
const ENV: &str = "PG_DATABASE_URL";

fn delivery(w: &World, version: u64) -> SyncRequest {
    SyncRequest {
        app_id: w.app.clone(),
        target: Target::Release(version),
        only: None,
        released_at: None,
        delivery_id: Some(format!("delivery-{version}")),
        repair: None,
    }
}

/// Two projects linked to the app's DATABASE_URL.
async fn two_projects() -> World {
    let w = World::new();
    w.connect(P).await;
    w.connect(Q).await;
    w.save_links(vec![
        w.link(P, ENV, "DATABASE_URL"),
        w.link(Q, "DB_URL", "DATABASE_URL"),
    ])
    .await;
    w
}

#[tokio::test]
async fn given_a_release_written_then_one_event_per_env_var_naming_the_secret_version_never_the_value()
 {
    let w = two_projects().await;
    w.heroku.release(5, &[("DATABASE_URL", &url(5))]);
    w.ctx().sync(&delivery(&w, 5)).await.expect("sync");

    let mut events = w.events.published();
    events.sort_by(|a, b| a.project_id.cmp(&b.project_id));
    assert_eq!(events.len(), 2, "{events:?}");
    let record = w.record().await;
    for (event, (p, e)) in events.iter().zip([(P, ENV), (Q, "DB_URL")]) {
        let link = &record.links[&key(p, e)];
        let name = w.names.env_var(&project(p), e);
        assert_eq!(event.project_id.as_str(), p);
        assert_eq!(event.env_var.as_str(), e);
        assert_eq!(event.app_id, w.app);
        assert_eq!(event.release_version, 5);
        assert!(
            event.secret_arn.ends_with(&format!(":secret:{name}")),
            "{event:?}"
        );
        assert!(!event.secret_version_id.is_empty());
        assert_eq!(
            Some(event.synced_at),
            link.last_synced_at,
            "as the status says"
        );
        assert_eq!(
            link.last_release_version,
            Some(5),
            "published after the commit"
        );

        // The detail as EventBridge carries it: exactly the contract's fields, no value.
        let detail = serde_json::to_value(event).expect("detail");
        let mut fields: Vec<&str> = detail
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "app_id",
                "env_var",
                "project_id",
                "release_version",
                "secret_arn",
                "secret_version_id",
                "synced_at"
            ]
        );
        assert_eq!(detail["synced_at"], "2024-05-01T12:00:00Z");
        let text = detail.to_string();
        assert!(
            !text.contains(&url(5)) && !text.contains("secret-5"),
            "{text}"
        );
        let back: EnvVarSynced = serde_json::from_value(detail).expect("round trip");
        assert_eq!(&back, event);
    }
    // Two writes, two different secret versions.
    assert_ne!(events[0].secret_version_id, events[1].secret_version_id);
}

#[tokio::test]
async fn given_nothing_written_then_no_event() {
    let w = World::new();
    w.one_link(P).await;
    w.heroku.release(5, &[("DATABASE_URL", &url(5))]);
    w.ctx().sync(&delivery(&w, 5)).await.expect("sync");
    assert_eq!(w.events.published().len(), 1);

    // The same delivery again, an older one, and a release that changed nothing else.
    w.ctx().sync(&delivery(&w, 5)).await.expect("duplicate");
    w.ctx().sync(&delivery(&w, 4)).await.expect("older");
    w.heroku
        .release(6, &[("DATABASE_URL", &url(5)), ("OTHER", "x")]);
    let r = w.ctx().sync(&delivery(&w, 6)).await.expect("unchanged");
    assert_eq!(r.unchanged.len(), 1);
    assert_eq!(
        w.events.published().len(),
        1,
        "a write, and only a write, is announced"
    );

    // A rotation is.
    w.heroku.release(7, &[("DATABASE_URL", &url(7))]);
    w.ctx().sync(&delivery(&w, 7)).await.expect("rotation");
    let events = w.events.published();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].release_version, 7);
}

#[tokio::test]
async fn given_the_bus_down_then_the_env_var_is_synced_and_committed_and_the_failure_counted() {
    let w = two_projects().await;
    w.events.down.store(true, Ordering::SeqCst);
    w.heroku.release(5, &[("DATABASE_URL", &url(5))]);

    let report = w
        .ctx()
        .sync(&delivery(&w, 5))
        .await
        .expect("the sync succeeds");
    assert_eq!(report.written.len(), 2);
    assert_eq!(w.env(P, ENV), Some(url(5)));
    assert_eq!(w.env(Q, "DB_URL"), Some(url(5)));
    let record = w.record().await;
    assert_eq!(record.lease_owner, None, "lease released");
    assert!(
        record
            .links
            .values()
            .all(|l| l.last_release_version == Some(5))
    );
    assert!(w.events.published().is_empty());

    let metrics = w.metrics.0.lock().unwrap().clone();
    let failed: u64 = metrics.iter().map(|m| m.change_events_failed).sum();
    assert_eq!(failed, 2, "{metrics:?}");
    assert_eq!(
        metrics.iter().map(|m| m.syncs_failed).sum::<u64>(),
        0,
        "a lost event is no failed sync"
    );
    // Not retried behind the caller's back: the next delivery is a duplicate.
    w.events.down.store(false, Ordering::SeqCst);
    w.ctx().sync(&delivery(&w, 5)).await.expect("duplicate");
    assert!(w.events.published().is_empty());
}

#[tokio::test]
async fn given_a_write_refused_then_only_the_written_env_vars_are_announced() {
    let w = two_projects().await;
    w.heroku.release(5, &[("DATABASE_URL", &url(5))]);
    struct RefusesP2(shared::adapters::SecretsEnvSink);
    #[async_trait::async_trait]
    impl shared::ports::EnvVarSink for RefusesP2 {
        async fn write_env_var(
            &self,
            p: &shared::domain::ProjectId,
            e: &shared::domain::EnvVarName,
            v: &secrecy::SecretString,
            t: &str,
        ) -> Result<shared::ports::SecretVersion, VaultError> {
            if p.as_str() == Q {
                return Err(VaultError::Refused("AccessDeniedException".into()));
            }
            self.0.write_env_var(p, e, v, t).await
        }
    }
    let sink = RefusesP2(shared::adapters::SecretsEnvSink::new(
        w.vault.clone(),
        w.names.clone(),
    ));
    w.ctx_with(Arc::new(sink))
        .sync(&delivery(&w, 5))
        .await
        .expect("sync");
    let events = w.events.published();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].project_id.as_str(), P);
}
