//! Opting out, deleting the integration and transferring ownership, over HTTP, with the
//! fake Heroku delivering real rotations afterwards.

mod common;

use common::*;

/// name, client, method, path, body, expected status, expected error code
type Case<'a> = (
    &'a str,
    &'a Client,
    &'a str,
    &'a str,
    Option<&'a str>,
    u16,
    &'a str,
);
use fake_heroku::Fault;
use std::time::Duration;

async fn settle(s: &local::fixture::Stack) {
    assert!(
        s.heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await,
        "deliveries settled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_two_env_vars_of_one_app_when_one_opts_out_then_only_the_other_follows() {
    let s = stack().await;
    let (_, app, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "A_URL", "shop").await.status, 201);
    assert_eq!(c.link("p1", "B_URL", "shop").await.status, 201);
    let first = s.env_value("p1", "A_URL").await.unwrap();

    let a = c
        .call("DELETE", "/projects/p1/env-vars/A_URL/heroku-sync", None)
        .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        c.call("DELETE", "/projects/p1/env-vars/A_URL/heroku-sync", None)
            .await
            .status,
        204,
        "idempotent"
    );
    assert_eq!(
        s.heroku.webhooks(&app).len(),
        1,
        "B still needs the subscription"
    );

    s.heroku.rotate_credentials(&app);
    settle(&s).await;
    let rotated = s.heroku.config_var(&app, "DATABASE_URL").unwrap();
    assert_eq!(
        s.env_value("p1", "A_URL").await.unwrap(),
        first,
        "opted out: unchanged"
    );
    assert_eq!(
        s.env_value("p1", "B_URL").await.unwrap(),
        rotated,
        "still synced"
    );
    let status = c.status("p1").await;
    assert_eq!(link_status(&status, "A_URL")["status"], "opted_out");
    assert_eq!(link_status(&status, "B_URL")["status"], "active");

    assert_eq!(
        c.call("DELETE", "/projects/p1/env-vars/B_URL/heroku-sync", None)
            .await
            .status,
        204
    );
    assert!(
        s.heroku.webhooks(&app).is_empty(),
        "unused subscription removed"
    );
    assert_eq!(
        s.env_value("p1", "B_URL").await.unwrap(),
        rotated,
        "opting out never deletes the value"
    );

    // Linking again re-enables and catches up at once.
    s.heroku.set_delivery_mode(fake_heroku::DeliveryMode::Hold);
    s.heroku.rotate_credentials(&app);
    let again = c.link("p1", "A_URL", "shop").await;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(again.json["status"], "active");
    assert_eq!(
        s.env_value("p1", "A_URL").await,
        s.heroku.config_var(&app, "DATABASE_URL"),
        "caught up"
    );
    assert_eq!(s.heroku.webhooks(&app).len(), 1, "subscribed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_connected_project_when_the_integration_is_deleted_then_everything_stops_and_reconnecting_works()
 {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let c = Client::new(&s, "alice", "p1", &[]);
    assert_eq!(c.connect_via_oauth(&s, "p1", &user).await, "connected");
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    assert_eq!(c.link("p1", "OTHER_URL", app.id.as_str()).await.status, 201);
    let value = s.env_value("p1", "PG_URL").await.unwrap();
    let tokens = s
        .svc
        .names
        .heroku_tokens(&shared::domain::ProjectId::parse("p1").unwrap());

    assert_eq!(
        c.call("DELETE", "/projects/p1/integrations/heroku", None)
            .await
            .status,
        204
    );
    let status = c.status("p1").await;
    assert_eq!(status["status"], "disconnected");
    assert_eq!(
        status["heroku"],
        serde_json::Value::Null,
        "the Heroku account is forgotten"
    );
    assert!(
        status["pending_cleanup"].as_array().unwrap().is_empty(),
        "{status}"
    );
    for l in status["links"].as_array().unwrap() {
        assert_eq!(l["status"], "disconnected");
    }
    assert!(
        s.heroku.authorizations(&user).iter().all(|a| a.revoked),
        "authorization revoked at Heroku"
    );
    // Gone, not merely unreadable: deleted without a recovery window, so AWS answers
    // ResourceNotFound (a secret scheduled for deletion would answer InvalidRequest).
    let read = s
        .secrets
        .get_secret_value()
        .secret_id(&tokens)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error());
    assert!(
        matches!(&read, Err(e) if e.is_resource_not_found_exception()),
        "token secret gone: {read:?}"
    );
    assert!(s.heroku.webhooks(&app).is_empty(), "subscription removed");
    assert_eq!(
        c.call("DELETE", "/projects/p1/integrations/heroku", None)
            .await
            .status,
        204,
        "idempotent"
    );

    s.heroku.rotate_credentials(&app);
    settle(&s).await;
    assert_eq!(
        s.env_value("p1", "PG_URL").await.unwrap(),
        value,
        "env var kept as it was"
    );

    // Connect again right away, link again: syncing resumes.
    assert_eq!(c.connect_via_oauth(&s, "p1", &user).await, "connected");
    let again = c.link("p1", "PG_URL", "shop").await;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(
        s.env_value("p1", "PG_URL").await,
        s.heroku.config_var(&app, "DATABASE_URL")
    );
    s.heroku.rotate_credentials(&app);
    settle(&s).await;
    assert_eq!(
        s.env_value("p1", "PG_URL").await,
        s.heroku.config_var(&app, "DATABASE_URL")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_transfer_then_the_sync_disconnects_and_the_new_owner_connects_their_own_heroku() {
    let s = stack().await;
    let alice_heroku = s.heroku.create_user("alice@example.com");
    let bob_heroku = s.heroku.create_user("bob@example.com");
    let alice_app = s.heroku.create_app(&alice_heroku, "alice-app");
    s.heroku
        .add_postgres(&alice_app, "heroku-postgresql:essential-0");
    let bob_app = s.heroku.create_app(&bob_heroku, "bob-app");
    s.heroku
        .add_postgres(&bob_app, "heroku-postgresql:essential-0");
    let alice = Client::new(&s, "alice", "p1", &[]);
    assert_eq!(
        alice.connect_via_oauth(&s, "p1", &alice_heroku).await,
        "connected"
    );
    assert_eq!(alice.link("p1", "PG_URL", "alice-app").await.status, 201);
    let alice_value = s.env_value("p1", "PG_URL").await.unwrap();

    let transfer = r#"{"new_owner":"bob"}"#;
    let not_admin = Client::new(&s, "platform", "p1", &[]);
    assert_eq!(
        not_admin
            .call("POST", "/projects/p1/ownership-transfers", Some(transfer))
            .await
            .status,
        403
    );
    assert_eq!(
        alice.status("p1").await["status"],
        "connected",
        "nothing happened"
    );

    let admin = Client::new(&s, "platform", "p1", &["integrations/admin"]);
    let a = admin
        .call("POST", "/projects/p1/ownership-transfers", Some(transfer))
        .await;
    assert_eq!(a.status, 204, "{}", a.json);
    let status = alice.status("p1").await;
    assert_eq!(status["status"], "disconnected");
    assert_eq!(link_status(&status, "PG_URL")["status"], "disconnected");
    assert!(
        s.heroku
            .authorizations(&alice_heroku)
            .iter()
            .all(|a| a.revoked)
    );
    assert_eq!(
        s.env_value("p1", "PG_URL").await.unwrap(),
        alice_value,
        "value kept"
    );

    // Alice can no longer connect the project; Bob connects his own Heroku account.
    assert_eq!(
        alice
            .call("POST", "/projects/p1/integrations/heroku/authorize", None)
            .await
            .status,
        403
    );
    let bob = Client::new(&s, "bob", "p1", &[]);
    assert_eq!(
        bob.connect_via_oauth(&s, "p1", &bob_heroku).await,
        "connected"
    );
    assert_eq!(bob.status("p1").await["heroku"]["email"], "bob@example.com");
    let relinked = bob.link("p1", "PG_URL", "bob-app").await;
    assert_eq!(relinked.status, 201, "{}", relinked.json);
    assert_eq!(
        s.env_value("p1", "PG_URL").await,
        s.heroku.config_var(&bob_app, "DATABASE_URL")
    );
    s.heroku.rotate_credentials(&bob_app);
    s.heroku.rotate_credentials(&alice_app);
    settle(&s).await;
    assert_eq!(
        s.env_value("p1", "PG_URL").await,
        s.heroku.config_var(&bob_app, "DATABASE_URL"),
        "follows Bob's app only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_failing_during_opt_out_then_204_no_later_write_and_cleanup_once_heroku_is_back()
 {
    let s = stack().await;
    let (_, app, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    let value = s.env_value("p1", "PG_URL").await.unwrap();

    let fault = s
        .heroku
        .inject(Fault::status(&format!("/apps/{}/webhooks", app.id), 503).method("DELETE"));
    let a = c
        .call("DELETE", "/projects/p1/env-vars/PG_URL/heroku-sync", None)
        .await;
    assert_eq!(a.status, 204, "{}", a.json);
    let status = c.status("p1").await;
    assert_eq!(link_status(&status, "PG_URL")["status"], "opted_out");
    let pending = status["pending_cleanup"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{status}");
    assert_eq!(pending[0]["kind"], "delete_webhook");
    assert!(status["last_error"].as_str().unwrap().contains("pending"));

    // The subscription still delivers, and nothing is written.
    s.heroku.rotate_credentials(&app);
    settle(&s).await;
    assert!(s.heroku.deliveries().iter().all(|d| d.succeeded));
    assert_eq!(s.env_value("p1", "PG_URL").await.unwrap(), value);

    // Heroku is back; the next call that touches the integration finishes the job.
    s.heroku.clear_fault(fault);
    assert_eq!(
        c.call("DELETE", "/projects/p1/env-vars/PG_URL/heroku-sync", None)
            .await
            .status,
        204
    );
    let status = c.status("p1").await;
    assert!(
        status["pending_cleanup"].as_array().unwrap().is_empty(),
        "{status}"
    );
    assert_eq!(status["last_error"], serde_json::Value::Null);
    assert!(s.heroku.webhooks(&app).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_down_during_disconnect_then_revocation_waits_and_finishes_later() {
    let s = stack().await;
    let (user, app, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    let tokens = s
        .svc
        .names
        .heroku_tokens(&shared::domain::ProjectId::parse("p1").unwrap());

    s.heroku.inject(Fault::status("/", 503));
    assert_eq!(
        c.call("DELETE", "/projects/p1/integrations/heroku", None)
            .await
            .status,
        204
    );
    let status = c.status("p1").await;
    assert_eq!(status["status"], "disconnected");
    assert_eq!(
        status["pending_cleanup"].as_array().unwrap().len(),
        2,
        "{status}"
    );
    assert!(
        s.secrets
            .get_secret_value()
            .secret_id(&tokens)
            .send()
            .await
            .is_ok(),
        "kept until revoked"
    );

    s.heroku.clear_faults();
    assert_eq!(
        c.call("DELETE", "/projects/p1/integrations/heroku", None)
            .await
            .status,
        204
    );
    let status = c.status("p1").await;
    assert!(
        status["pending_cleanup"].as_array().unwrap().is_empty(),
        "{status}"
    );
    assert!(s.heroku.authorizations(&user).iter().all(|a| a.revoked));
    assert!(s.heroku.webhooks(&app).is_empty());
    assert!(
        s.secrets
            .get_secret_value()
            .secret_id(&tokens)
            .send()
            .await
            .is_err()
    );
}

/// Issue 10, item 7. A revocation postponed by a Heroku outage used to survive a
/// reconnect and then, once Heroku was back, delete the *new* connection's token secret
/// (same name): the project looked connected and could not sync. The postponed revocation
/// now leaves a token secret that belongs to a newer authorization alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_revocation_postponed_then_a_reconnect_then_the_new_tokens_survive_the_cleanup() {
    let s = stack().await;
    let (user, _, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    let project = shared::domain::ProjectId::parse("p1").unwrap();

    s.heroku.inject(Fault::status("/", 503));
    let deleted = c
        .call("DELETE", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(deleted.status, 204);
    s.heroku.clear_faults();
    let old = s
        .svc
        .tokens
        .load(&project)
        .await
        .unwrap()
        .expect("old tokens");
    s.connect("p1", "alice", &user).await;
    let new = s
        .svc
        .tokens
        .load(&project)
        .await
        .unwrap()
        .expect("new tokens");
    assert_ne!(new.access_token, old.access_token);
    assert_ne!(new.authorization_id, old.authorization_id, "a new grant");

    // Any call that touches the integration retries the postponed clean-up.
    let again = c
        .call("POST", "/projects/p1/integrations/heroku/authorize", None)
        .await;
    assert_eq!(again.status, 200, "{}", again.json);

    let kept = s.svc.tokens.load(&project).await.unwrap();
    assert_eq!(
        kept.map(|t| t.access_token),
        Some(new.access_token.clone()),
        "the new connection's tokens are still there"
    );
    let dbs = c
        .call("GET", "/projects/p1/integrations/heroku/databases", None)
        .await;
    assert_eq!(dbs.status, 200, "the new grant still works: {}", dbs.json);
    let status = c.status("p1").await;
    assert_eq!(status["status"], "connected", "{status}");
    let auths = s.heroku.authorizations(&user);
    let by_id = |id: &Option<String>| auths.iter().find(|a| Some(&a.id) == id.as_ref()).cloned();
    assert!(
        by_id(&old.authorization_id).is_some_and(|a| a.revoked),
        "the old grant revoked"
    );
    assert!(
        by_id(&new.authorization_id).is_some_and(|a| !a.revoked),
        "the new grant kept"
    );
}

/// Issue 11, item 5. Our authorization was found by matching token values in
/// `GET /oauth/authorizations`; when the list shows none (the schema allows `null`),
/// nothing was ever revoked. It is now found by our OAuth client id (the newest of ours
/// for a fresh grant), so deleting one project's integration revokes that project's grant
/// and no other project's of the same Heroku user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_authorizations_listed_without_tokens_then_delete_revokes_exactly_the_projects_grant()
{
    let s = stack().await;
    s.heroku.set_hide_authorization_tokens(true);
    let user = s.heroku.create_user("dev@example.com");
    s.connect("p1", "alice", &user).await;
    // Heroku's created_at has second resolution; grants made in one second cannot be
    // told apart without tokens (the code then records none, on purpose).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.connect("p2", "alice", &user).await;
    let grant = |p: &str| {
        let project = shared::domain::ProjectId::parse(p).unwrap();
        let tokens = s.svc.tokens.clone();
        async move {
            tokens
                .load(&project)
                .await
                .unwrap()
                .unwrap()
                .authorization_id
        }
    };
    let (g1, g2) = (grant("p1").await, grant("p2").await);
    assert!(g1.is_some() && g2.is_some() && g1 != g2, "{g1:?} {g2:?}");

    let c = Client::new(&s, "alice", "p1", &[]);
    assert_eq!(
        c.call("DELETE", "/projects/p1/integrations/heroku", None)
            .await
            .status,
        204
    );

    let auths = s.heroku.authorizations(&user);
    let revoked = |g: &Option<String>| auths.iter().any(|a| Some(&a.id) == g.as_ref() && a.revoked);
    assert!(revoked(&g1), "p1's grant revoked");
    assert!(!revoked(&g2), "p2's grant untouched");
}

/// Issue 11, item 5. A reconnect with another Heroku account used to leave the previous
/// account's grant alive; it is revoked, with its own token, before the new one replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_reconnect_with_another_account_then_the_previous_grant_is_revoked() {
    let s = stack().await;
    let first = s.heroku.create_user("first@example.com");
    let second = s.heroku.create_user("second@example.com");
    s.connect("p1", "alice", &first).await;
    s.connect("p1", "alice", &second).await;
    assert!(
        s.heroku.authorizations(&first).iter().all(|a| a.revoked),
        "the first account's grant is revoked"
    );
    assert!(
        s.heroku.authorizations(&second).iter().all(|a| !a.revoked),
        "the new grant is live"
    );
    // Same account again: nothing is revoked but the grant being replaced stays usable.
    s.connect("p1", "alice", &second).await;
    assert!(s.heroku.authorizations(&second).iter().all(|a| !a.revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_bad_requests_then_the_right_status_and_json_error_and_nothing_changed() {
    let s = stack().await;
    let (_, _, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    let before = (s.table_snapshot().await, s.secrets_snapshot().await);

    let other = Client::new(&s, "alice", "p2", &[]);
    let admin_other = Client::new(&s, "platform", "p2", &["integrations/admin"]);
    let admin = Client::new(&s, "platform", "p1", &["integrations/admin"]);
    let cases: Vec<Case> = vec![
        (
            "wrong project",
            &other,
            "DELETE",
            "/projects/p1/env-vars/PG_URL/heroku-sync",
            None,
            403,
            "forbidden",
        ),
        (
            "wrong project",
            &other,
            "DELETE",
            "/projects/p1/integrations/heroku",
            None,
            403,
            "forbidden",
        ),
        (
            "admin of another project",
            &admin_other,
            "POST",
            "/projects/p1/ownership-transfers",
            Some(r#"{"new_owner":"x"}"#),
            403,
            "forbidden",
        ),
        (
            "never linked",
            &c,
            "DELETE",
            "/projects/p1/env-vars/NEVER/heroku-sync",
            None,
            404,
            "not_found",
        ),
        (
            "bad env var",
            &c,
            "DELETE",
            "/projects/p1/env-vars/1X/heroku-sync",
            None,
            400,
            "bad_request",
        ),
        (
            "malformed body",
            &admin,
            "POST",
            "/projects/p1/ownership-transfers",
            Some("{"),
            400,
            "bad_request",
        ),
        (
            "empty owner",
            &admin,
            "POST",
            "/projects/p1/ownership-transfers",
            Some(r#"{"new_owner":" "}"#),
            400,
            "bad_request",
        ),
        (
            "missing owner",
            &admin,
            "POST",
            "/projects/p1/ownership-transfers",
            Some(r#"{}"#),
            400,
            "bad_request",
        ),
    ];
    for (name, client, method, path, body, status, code) in cases {
        let a = client.call(method, path, body).await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (status, Some(code)),
            "{name}: {}",
            a.json
        );
    }
    let expired = Client::with_token(
        &s,
        Some(local::jwt::mint(
            &s.jwt_secret,
            &serde_json::json!({"sub": "alice", "project_id": "p1", "exp": 1}),
        )),
    );
    for (name, client) in [
        ("missing token", Client::with_token(&s, None)),
        ("expired token", expired),
    ] {
        for (method, path) in [
            ("DELETE", "/projects/p1/env-vars/PG_URL/heroku-sync"),
            ("DELETE", "/projects/p1/integrations/heroku"),
            ("POST", "/projects/p1/ownership-transfers"),
        ] {
            assert_eq!(
                client.call(method, path, Some("{}")).await.status,
                401,
                "{name} {method} {path}"
            );
        }
    }
    assert_eq!(
        (s.table_snapshot().await, s.secrets_snapshot().await),
        before,
        "nothing changed"
    );
}

/// Issue 10, item 9: an opt-out whose second write fails must not lose the subscription.
/// It used to save the app without its subscription first, then queue the deletion on
/// the integration: when that second write failed, the retry found the link already
/// opted out, and the webhook stayed at Heroku for good. The deletion is now queued
/// first; whichever write fails, the retry ends with no webhook left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_the_second_write_of_an_opt_out_failing_then_its_retry_still_deletes_the_subscription()
 {
    let s = stack().await;
    let (_, app, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    assert_eq!(s.heroku.webhooks(&app).len(), 1);

    // The second write fails (both of the SDK's attempts at it): the first is the
    // integration's PutItem, the second the app's header and link in one transaction.
    s.proxy.fail_once_after("TransactWriteItems", 0, 500, 2);
    let first = c
        .call("DELETE", "/projects/p1/env-vars/PG_URL/heroku-sync", None)
        .await;
    assert_eq!(first.status, 503, "{}", first.json);
    let retry = c
        .call("DELETE", "/projects/p1/env-vars/PG_URL/heroku-sync", None)
        .await;
    assert_eq!(retry.status, 204, "{}", retry.json);

    assert!(
        s.heroku.webhooks(&app).is_empty(),
        "no webhook left at Heroku"
    );
    let status = c.status("p1").await;
    assert_eq!(link_status(&status, "PG_URL")["status"], "opted_out");
    assert!(
        status["pending_cleanup"].as_array().unwrap().is_empty(),
        "{status}"
    );
}

/// Issue 9, item 3: clean-up calls Heroku through the one token helper. It used to take
/// the cached access token as it was: once that token had expired, Heroku's 401 read as
/// "cannot be done", the clean-up was dropped, and the subscription stayed at Heroku.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_expired_access_token_when_opting_out_then_it_is_refreshed_and_the_subscription_deleted()
 {
    let s = stack().await;
    let (user, app, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    assert_eq!(s.heroku.webhooks(&app).len(), 1);
    let refreshes = s.heroku.request_count("POST", "/oauth/token");

    s.heroku.expire_access_tokens(&user);
    let out = c
        .call("DELETE", "/projects/p1/env-vars/PG_URL/heroku-sync", None)
        .await;
    assert_eq!(out.status, 204, "{}", out.json);

    assert!(
        s.heroku.webhooks(&app).is_empty(),
        "no webhook left at Heroku"
    );
    assert_eq!(
        s.heroku.request_count("POST", "/oauth/token"),
        refreshes + 1,
        "one refresh"
    );
}

/// Found in review of the one token helper: clean-up now refreshes on a 401, and a
/// refresh Heroku refuses marks the integration "reconnect Heroku". For a project being
/// disconnected (the user had already revoked our access at Heroku) that turned a
/// finished disconnect into `needs_reconnect`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_access_revoked_at_heroku_when_disconnecting_then_it_stays_disconnected() {
    let s = stack().await;
    let (user, _, c) = connected_shop(&s).await;
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);

    s.heroku.revoke_all(&user);
    let out = c
        .call("DELETE", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(out.status, 204, "{}", out.json);

    let status = c.status("p1").await;
    assert_eq!(status["status"], "disconnected", "{status}");
    assert_eq!(link_status(&status, "PG_URL")["status"], "disconnected");
}
