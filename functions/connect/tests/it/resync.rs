//! `POST …/env-vars/{env_var}/heroku-sync/resync` (docs/contract.md): one link synced now
//! against its app's newest release, over HTTP through the local stack.

use crate::common::*;
use fake_heroku::{App, DeliveryMode, Fault};

const LINK: &str = "/projects/p1/env-vars/PG_DATABASE_URL/heroku-sync";
const RESYNC: &str = "/projects/p1/env-vars/PG_DATABASE_URL/heroku-sync/resync";

/// Project p1 connected by user-1, PG_DATABASE_URL linked to a fresh app's DATABASE_URL.
async fn linked() -> (local::fixture::Stack, App, Client) {
    let s = stack().await;
    let user = s.heroku.create_user("owner@example.com");
    s.connect("p1", "user-1", &user).await;
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let owner = Client::new(&s, "user-1", "p1", &[]);
    let a = owner
        .call(
            "PUT",
            LINK,
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    (s, app, owner)
}

/// A rotation whose webhook delivery (if any subscription is left) never arrives: returns
/// the new release's version and how many deliveries were lost.
fn rotate_and_lose_the_delivery(s: &local::fixture::Stack, app: &App) -> (u64, usize) {
    s.heroku.set_delivery_mode(DeliveryMode::Hold);
    let release = s.heroku.rotate_credentials(app);
    (release.version, s.heroku.take_held().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_rotation_whose_delivery_was_lost_when_resynced_then_the_env_var_gets_the_new_value()
 {
    let (s, app, owner) = linked().await;
    let before = s.env_value("p1", "PG_DATABASE_URL").await.expect("synced");
    let (version, lost) = rotate_and_lose_the_delivery(&s, &app);
    assert_eq!(lost, 1, "one subscription, one delivery, lost");
    let rotated = s.heroku.config_var(&app, "DATABASE_URL").expect("rotated");
    assert_ne!(rotated, before);
    assert_eq!(
        s.env_value("p1", "PG_DATABASE_URL").await.as_deref(),
        Some(before.as_str()),
        "no delivery, no sync: the env var still holds the old credentials"
    );

    let a = owner.call("POST", RESYNC, None).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["env_var"], "PG_DATABASE_URL");
    assert_eq!(a.json["app"]["id"], app.id.as_str());
    assert_eq!(a.json["status"], "active");
    assert_eq!(a.json["last_release_version"], version);
    assert!(a.json["last_error"].is_null(), "{}", a.json);
    assert!(!a.json.to_string().contains(&rotated), "never the value");
    assert_eq!(
        s.env_value("p1", "PG_DATABASE_URL").await.as_deref(),
        Some(rotated.as_str())
    );
    // The status says the same as the answer.
    let status = owner.status("p1").await;
    assert_eq!(status["links"][0]["last_release_version"], version);

    // Again: already at the newest release, so nothing is written.
    let versions = s.env_versions("p1", "PG_DATABASE_URL").await;
    let again = owner.call("POST", RESYNC, None).await;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(again.json["last_release_version"], version);
    assert_eq!(s.env_versions("p1", "PG_DATABASE_URL").await, versions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_env_var_never_linked_then_404() {
    let (s, _app, owner) = linked().await;
    let a = owner
        .call(
            "POST",
            "/projects/p1/env-vars/OTHER_URL/heroku-sync/resync",
            None,
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.json);
    assert_eq!(a.json["error"], "not_found");
    assert_eq!(s.env_value("p1", "OTHER_URL").await, None);
    // A project that never connected at all: the same.
    let stranger = Client::new(&s, "user-9", "p9", &[]);
    let b = stranger
        .call(
            "POST",
            "/projects/p9/env-vars/PG_DATABASE_URL/heroku-sync/resync",
            None,
        )
        .await;
    assert_eq!(b.status, 404, "{}", b.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_opted_out_link_then_409_link_not_active_and_nothing_written() {
    let (s, app, owner) = linked().await;
    let opted = owner.call("DELETE", LINK, None).await;
    assert_eq!(opted.status, 204, "{}", opted.json);
    let before = s.env_value("p1", "PG_DATABASE_URL").await;
    rotate_and_lose_the_delivery(&s, &app);

    let a = owner.call("POST", RESYNC, None).await;
    assert_eq!(a.status, 409, "{}", a.json);
    assert_eq!(a.json["error"], "link_not_active");
    assert_eq!(
        s.env_value("p1", "PG_DATABASE_URL").await,
        before,
        "an opted-out env var keeps its value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_collaborator_then_403_and_nothing_written() {
    let (s, app, _owner) = linked().await;
    let before = s.env_value("p1", "PG_DATABASE_URL").await;
    rotate_and_lose_the_delivery(&s, &app);
    for collaborator in [
        Client::with_role(&s, "user-2", "p1", "member"),
        // An owner-role user who is not the connected owner: a transfer comes first.
        Client::new(&s, "user-3", "p1", &[]),
    ] {
        let a = collaborator.call("POST", RESYNC, None).await;
        assert_eq!(a.status, 403, "{}", a.json);
        assert_eq!(a.json["error"], "not_project_owner");
    }
    assert_eq!(s.env_value("p1", "PG_DATABASE_URL").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_unavailable_then_503_with_retry_after_and_the_next_resync_syncs() {
    let (s, app, owner) = linked().await;
    let (version, _) = rotate_and_lose_the_delivery(&s, &app);
    let fault = s.heroku.inject(Fault::status("/apps", 503));
    let a = owner.call("POST", RESYNC, None).await;
    assert_eq!(a.status, 503, "{}", a.json);
    assert_eq!(a.json["error"], "unavailable");
    assert!(a.retry_after.is_some(), "Retry-After");

    s.heroku.clear_fault(fault);
    let b = owner.call("POST", RESYNC, None).await;
    assert_eq!(b.status, 200, "{}", b.json);
    assert_eq!(b.json["last_release_version"], version);
    assert_eq!(
        s.env_value("p1", "PG_DATABASE_URL").await,
        s.heroku.config_var(&app, "DATABASE_URL")
    );
}
