//! The confirm step (docs/contract.md, the callback and `POST …/integrations/heroku/confirm`
//! routes): the callback only holds the grant pending; the user who started the connect
//! makes it the connection, once, within 10 minutes; nobody else can.

use crate::common::*;
use local::client::query;
use local::fixture::Stack;
use shared::domain::ProjectId;
use std::time::Duration;

const CONFIRM: &str = "/projects/p1/integrations/heroku/confirm";

/// Authorize as `c`, approve at the fake Heroku as `user`, follow the callback: the
/// console URL's query (`heroku=confirm&confirmation=…` when held).
async fn callback(
    s: &Stack,
    c: &Client,
    user: &fake_heroku::User,
) -> std::collections::HashMap<String, String> {
    s.heroku.set_browser_user(user);
    let a = c
        .call("POST", "/projects/p1/integrations/heroku/authorize", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let at_heroku = c
        .http
        .get(a.json["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let cb = at_heroku.headers()["location"].to_str().unwrap().to_owned();
    let back = c.call("GET", &cb, None).await;
    assert_eq!(back.status, 302);
    query(&back.location.unwrap())
}

/// The project's token secret, if any (the connection's tokens).
async fn project_tokens(s: &Stack) -> Option<serde_json::Value> {
    let name = s.svc.names.heroku_tokens(&ProjectId::parse("p1").unwrap());
    let out = s
        .secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .ok()?;
    serde_json::from_str(out.secret_string()?).ok()
}

async fn secret_exists(s: &Stack, name: &str) -> bool {
    s.secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .is_ok()
}

fn invalid(a: &local::client::Answer, what: &str) {
    assert_eq!(a.status, 400, "{what}: {}", a.json);
    assert_eq!(
        a.json["error"], "invalid_confirmation",
        "{what}: {}",
        a.json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_callback_then_nothing_connects_until_its_starter_confirms_and_only_once() {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    let c = Client::new(&s, "user-1", "p1", &[]);

    let q = callback(&s, &c, &user).await;
    assert_eq!(
        (q["heroku"].as_str(), q["project_id"].as_str()),
        ("confirm", "p1"),
        "{q:?}"
    );
    let confirmation = q["confirmation"].clone();
    assert!(confirmation.len() >= 43, "an unguessable confirmation");

    // Held, not connected: no connection, no project tokens, the grant's tokens in a
    // pending secret of their own, and the table holding no token and no confirmation.
    let status = c.status("p1").await;
    assert_eq!(status["status"], "not_connected", "{status}");
    assert!(project_tokens(&s).await.is_none(), "no project tokens yet");
    let held = s
        .svc
        .store
        .load_pending(&shared::pending::hash(&confirmation))
        .await
        .unwrap()
        .expect("the pending grant");
    assert_eq!(
        (held.project_id.as_str(), held.sub.as_str()),
        ("p1", "user-1")
    );
    assert_eq!(held.heroku_user_id, user.id);
    let auths = s.heroku.authorizations(&user);
    assert_eq!(held.authorization_id.as_deref(), Some(auths[0].id.as_str()));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now + 590..=now + 610).contains(&held.expires_at),
        "10 minutes"
    );
    assert!(
        held.token_secret.starts_with(&format!(
            "{}/heroku-tokens/pending/",
            s.config.secret_prefix
        )),
        "{}",
        held.token_secret
    );
    let pending: serde_json::Value = serde_json::from_str(
        s.secrets
            .get_secret_value()
            .secret_id(&held.token_secret)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    let access = pending["access_token"].as_str().unwrap().to_owned();
    let table = s.table_snapshot().await.join("\n");
    assert!(!table.contains(&access), "no token in DynamoDB");
    assert!(
        !table.contains(&confirmation),
        "no confirmation in DynamoDB"
    );

    // Confirmed by its starter: 200 with the integration view, connected.
    let confirmed = c.confirm("p1", &confirmation).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.json);
    assert_eq!(confirmed.json["status"], "connected");
    assert_eq!(confirmed.json["project_id"], "p1");
    assert_eq!(confirmed.json["heroku"]["email"], "dev@example.com");
    assert!(!confirmed.json.to_string().contains(&access));
    assert_eq!(c.status("p1").await["status"], "connected");
    let stored = project_tokens(&s).await.expect("the project's tokens");
    assert_eq!(stored["access_token"], access.as_str());
    assert_eq!(stored["authorization_id"], auths[0].id.as_str());
    assert!(
        !secret_exists(&s, &held.token_secret).await,
        "the pending copy is deleted"
    );
    assert!(
        s.heroku.authorizations(&user).iter().all(|a| !a.revoked),
        "the confirmed grant lives"
    );

    // Single use: the same confirmation again is 400 and changes nothing.
    let before = (s.table_snapshot().await, s.secrets_snapshot().await);
    invalid(&c.confirm("p1", &confirmation).await, "reused");
    assert_eq!(
        (s.table_snapshot().await, s.secrets_snapshot().await),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_someone_else_presents_the_confirmation_then_403_and_its_starter_still_confirms() {
    let s = stack().await;
    let alice_heroku = s.heroku.create_user("alice@example.com");
    let alice = Client::new(&s, "alice", "p1", &[]);
    let q = callback(&s, &alice, &alice_heroku).await;
    let confirmation = q["confirmation"].clone();

    // Another owner-role user of the project (nobody is connected, so they could start a
    // connect of their own), and a collaborator: both 403, nothing taken.
    let mallory = Client::new(&s, "mallory", "p1", &[]);
    let collaborator = Client::with_role(&s, "kim", "p1", "member");
    let before = (s.table_snapshot().await, s.secrets_snapshot().await);
    for (who, c) in [
        ("another owner", &mallory),
        ("a collaborator", &collaborator),
    ] {
        let a = c.confirm("p1", &confirmation).await;
        assert_eq!(a.status, 403, "{who}: {}", a.json);
        assert_eq!(a.json["error"], "not_project_owner", "{who}: {}", a.json);
    }
    assert_eq!(
        (s.table_snapshot().await, s.secrets_snapshot().await),
        before,
        "nothing changed"
    );
    assert_eq!(alice.status("p1").await["status"], "not_connected");

    // The starter's own token, but on another project: as good as unknown there.
    let elsewhere = Client::new(&s, "alice", "p2", &[]);
    let body = serde_json::json!({ "confirmation": confirmation }).to_string();
    invalid(
        &elsewhere
            .call(
                "POST",
                "/projects/p2/integrations/heroku/confirm",
                Some(&body),
            )
            .await,
        "another project",
    );

    // The grant stayed Alice's to confirm.
    let a = alice.confirm("p1", &confirmation).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let status = alice.status("p1").await;
    assert_eq!(status["status"], "connected");
    assert_eq!(status["heroku"]["email"], "alice@example.com");
    // And now Mallory is not the connected owner: the grant is not theirs to use.
    assert_eq!(
        mallory
            .call("GET", "/projects/p1/integrations/heroku/databases", None)
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_unknown_confirmation_or_a_malformed_body_then_400_and_nothing_connects() {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    let c = Client::new(&s, "user-1", "p1", &[]);
    let q = callback(&s, &c, &user).await;
    let genuine = q["confirmation"].clone();

    let flipped = if genuine.ends_with('0') {
        format!("{}1", &genuine[..genuine.len() - 1])
    } else {
        format!("{}0", &genuine[..genuine.len() - 1])
    };
    let before = (s.table_snapshot().await, s.secrets_snapshot().await);
    invalid(&c.confirm("p1", &flipped).await, "tampered");
    invalid(&c.confirm("p1", "").await, "empty");
    for (body, what) in [
        (None, "no body"),
        (Some("not json"), "not JSON"),
        (Some("{}"), "no confirmation"),
        (Some(r#"{"confirmation": 42}"#), "not a string"),
    ] {
        let a = c.call("POST", CONFIRM, body).await;
        assert_eq!(a.status, 400, "{what}: {}", a.json);
        assert_eq!(a.json["error"], "bad_request", "{what}: {}", a.json);
        assert!(a.json["message"].is_string(), "{what}");
    }
    assert_eq!(
        (s.table_snapshot().await, s.secrets_snapshot().await),
        before,
        "nothing changed"
    );
    assert_eq!(c.status("p1").await["status"], "not_connected");
    // The genuine one still works.
    assert_eq!(c.confirm("p1", &genuine).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_confirmation_older_than_10_minutes_then_400_and_nothing_connects() {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    let c = Client::new(&s, "user-1", "p1", &[]);
    let q = callback(&s, &c, &user).await;
    let confirmation = q["confirmation"].clone();

    s.clock.advance(Duration::from_secs(601));
    invalid(&c.confirm("p1", &confirmation).await, "expired");
    assert_eq!(c.status("p1").await["status"], "not_connected");
    assert!(project_tokens(&s).await.is_none());
    assert!(
        s.heroku.authorizations(&user).iter().all(|a| !a.revoked),
        "revoking is the reconciler's (functions/reconcile/tests/it/pending.rs)"
    );
}
