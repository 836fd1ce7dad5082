//! The OAuth round trip against the fake Heroku over HTTP, and every way a state can be
//! wrong without connecting anything.

use crate::common::*;
use fake_heroku::AuthorizeDecision;
use local::client::query;
use shared::domain::ProjectId;

/// Follows an authorize URL at the fake Heroku; returns our callback URL it redirects to.
async fn approve(client: &Client, authorize_url: &str) -> String {
    let resp = client.http.get(authorize_url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302, "Heroku redirects back");
    resp.headers()["location"].to_str().unwrap().to_owned()
}

async fn authorize(client: &Client, project: &str) -> String {
    let a = client
        .call(
            "POST",
            &format!("/projects/{project}/integrations/heroku/authorize"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    a.json["authorize_url"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_user_when_they_connect_through_heroku_and_confirm_then_tokens_are_stored_and_connected()
 {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    s.heroku.set_browser_user(&user);
    let c = Client::new(&s, "user-1", "p1", &[]);

    let url = authorize(&c, "p1").await;
    let q = query(&url);
    assert_eq!(q["client_id"], local::fixture::CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "global");
    assert!(q["state"].len() >= 43, "an unguessable state");
    assert!(url.starts_with(&s.heroku.url()));

    let callback = approve(&c, &url).await;
    assert!(callback.starts_with(&format!("{}/integrations/heroku/callback?", s.url())));
    let done = c.call("GET", &callback, None).await;
    assert_eq!(done.status, 302);
    let back = done.location.unwrap();
    assert!(
        back.starts_with("https://console.example.com/projects?"),
        "{back}"
    );
    let q = query(&back);
    assert_eq!(q["project_id"], "p1");
    assert_eq!(q["heroku"], "confirm");
    let confirmed = c.confirm("p1", &q["confirmation"]).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.json);
    assert_eq!(confirmed.json["status"], "connected");

    let tokens = s.svc.names.heroku_tokens(&ProjectId::parse("p1").unwrap());
    let stored = s
        .secrets
        .get_secret_value()
        .secret_id(&tokens)
        .send()
        .await
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    assert!(
        stored["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(
        stored["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let auths = s.heroku.authorizations(&user);
    assert_eq!(
        stored["authorization_id"],
        auths[0].id.as_str(),
        "our authorization is known for revocation"
    );

    let status = c
        .call("GET", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json["status"], "connected");
    assert_eq!(status.json["heroku"]["email"], "dev@example.com");
    assert_eq!(status.json["heroku"]["user_id"], user.id.as_str());
    assert!(
        !status
            .json
            .to_string()
            .contains(stored["access_token"].as_str().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_used_or_tampered_state_then_nothing_connects() {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    s.heroku.set_browser_user(&user);
    let c = Client::new(&s, "user-1", "p1", &[]);
    let callback = approve(&c, &authorize(&c, "p1").await).await;

    // Tampered: one character of the state changed.
    let state = query(&callback)["state"].clone();
    let flipped = if state.ends_with('0') {
        format!("{}1", &state[..state.len() - 1])
    } else {
        format!("{}0", &state[..state.len() - 1])
    };
    let tampered = callback.replace(&state, &flipped);
    let before = (s.table_snapshot().await, s.secrets_snapshot().await);
    let a = c.call("GET", &tampered, None).await;
    assert_eq!(a.status, 302);
    let q = query(&a.location.unwrap());
    assert_eq!(
        (q["heroku"].as_str(), q["reason"].as_str()),
        ("error", "invalid_state")
    );
    assert!(
        !q.contains_key("project_id"),
        "an unknown state names no project"
    );
    assert_eq!(
        (s.table_snapshot().await, s.secrets_snapshot().await),
        before,
        "nothing written"
    );

    // The genuine one works once...
    let a = c.call("GET", &callback, None).await;
    assert_eq!(query(&a.location.unwrap())["heroku"], "confirm");
    // ...and a replay of it does not.
    let before = (s.table_snapshot().await, s.secrets_snapshot().await);
    let a = c.call("GET", &callback, None).await;
    assert_eq!(query(&a.location.unwrap())["reason"], "invalid_state");
    assert_eq!(
        (s.table_snapshot().await, s.secrets_snapshot().await),
        before
    );

    // No state at all.
    let a = c
        .call(
            "GET",
            &format!("{}/integrations/heroku/callback?code=abc", s.url()),
            None,
        )
        .await;
    assert_eq!(query(&a.location.unwrap())["reason"], "invalid_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_expired_state_then_nothing_connects() {
    let s = stack().await;
    let state = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    s.svc
        .store
        .put_state(&shared::ports::OAuthState {
            state_hash: hex_sha256(state),
            project_id: ProjectId::parse("p1").unwrap(),
            sub: "user-1".into(),
            expires_at: time::OffsetDateTime::now_utc().unix_timestamp() - 1,
        })
        .await
        .unwrap();
    let c = Client::with_token(&s, None);
    let a = c
        .call(
            "GET",
            &format!("/integrations/heroku/callback?code=whatever&state={state}"),
            None,
        )
        .await;
    let q = query(&a.location.unwrap());
    assert_eq!(
        (q["reason"].as_str(), q["project_id"].as_str()),
        ("expired_state", "p1")
    );
    assert_eq!(
        s.heroku.request_count("POST", "/oauth/token"),
        0,
        "no code exchanged"
    );
    let tokens = s.svc.names.heroku_tokens(&ProjectId::parse("p1").unwrap());
    assert!(
        s.secrets
            .get_secret_value()
            .secret_id(tokens)
            .send()
            .await
            .is_err()
    );
}

/// The table without pending OAuth states (a rejected state is still used up).
async fn durable(s: &local::fixture::Stack) -> Vec<String> {
    s.table_snapshot()
        .await
        .into_iter()
        .filter(|i| !i.contains("\"sk\":\"STATE\""))
        .collect()
}

fn hex_sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_another_users_state_for_an_owned_project_then_nothing_connects() {
    let s = stack().await;
    let alice = s.heroku.create_user("alice@example.com");
    let mallory = s.heroku.create_user("mallory@example.com");
    let a = Client::new(&s, "alice", "p1", &[]);
    let m = Client::new(&s, "mallory", "p1", &[]);
    // Both start before anyone is connected; Alice finishes first and owns the project.
    let url_a = authorize(&a, "p1").await;
    let url_m = authorize(&m, "p1").await;
    s.heroku.set_browser_user(&alice);
    let cb_a = approve(&a, &url_a).await;
    s.heroku.set_browser_user(&mallory);
    let cb_m = approve(&m, &url_m).await;
    let back = query(&a.call("GET", &cb_a, None).await.location.unwrap());
    assert_eq!(back["heroku"], "confirm");
    assert_eq!(a.confirm("p1", &back["confirmation"]).await.status, 200);

    let before = (durable(&s).await, s.secrets_snapshot().await);
    let q = query(&m.call("GET", &cb_m, None).await.location.unwrap());
    assert_eq!(q["reason"], "not_project_owner");
    assert_eq!(
        (durable(&s).await, s.secrets_snapshot().await),
        before,
        "Alice's connection stands"
    );
    assert_eq!(
        s.heroku.request_count("POST", "/oauth/token"),
        1,
        "Mallory's code was never exchanged"
    );
    // And Mallory cannot even start now.
    assert_eq!(
        m.call("POST", "/projects/p1/integrations/heroku/authorize", None)
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_access_denied_or_no_code_then_console_hears_why() {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    s.heroku.set_browser_user(&user);
    s.heroku.set_authorize_decision(AuthorizeDecision::Deny);
    let c = Client::new(&s, "user-1", "p1", &[]);
    let cb = approve(&c, &authorize(&c, "p1").await).await;
    assert_eq!(query(&cb)["error"], "access_denied");
    let q = query(&c.call("GET", &cb, None).await.location.unwrap());
    assert_eq!(
        (
            q["heroku"].as_str(),
            q["reason"].as_str(),
            q["project_id"].as_str()
        ),
        ("error", "access_denied", "p1")
    );

    s.heroku.set_authorize_decision(AuthorizeDecision::Approve);
    let cb = approve(&c, &authorize(&c, "p1").await).await;
    let state = query(&cb)["state"].clone();
    let no_code = format!("{}/integrations/heroku/callback?state={state}", s.url());
    assert_eq!(
        query(&c.call("GET", &no_code, None).await.location.unwrap())["reason"],
        "missing_code"
    );

    let cb = approve(&c, &authorize(&c, "p1").await).await;
    let bad_code = cb.replace(&query(&cb)["code"], "not-a-code");
    assert_eq!(
        query(&c.call("GET", &bad_code, None).await.location.unwrap())["reason"],
        "exchange_failed"
    );
    let status = c
        .call("GET", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(status.json["status"], "not_connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_down_at_the_callback_then_console_hears_unavailable_not_a_500() {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    s.heroku.set_browser_user(&user);
    let c = Client::new(&s, "user-1", "p1", &[]);
    let cb = approve(&c, &authorize(&c, "p1").await).await;
    s.heroku
        .inject(fake_heroku::Fault::status("/oauth/token", 503));
    let a = c.call("GET", &cb, None).await;
    assert_eq!(a.status, 302);
    assert_eq!(query(&a.location.unwrap())["reason"], "heroku_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_revoked_authorization_when_the_owner_reconnects_then_links_catch_up_at_once() {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let c = Client::new(&s, "user-1", "p1", &[]);
    assert_eq!(c.connect_via_oauth(&s, "p1", &user).await, "connected");
    assert_eq!(c.link("p1", "PG_URL", "shop").await.status, 201);
    let before = s.env_value("p1", "PG_URL").await;

    // The user revokes our access at Heroku; the next rotation cannot be synced.
    s.heroku.revoke_all(&user);
    s.heroku.rotate_credentials(&app);
    assert!(
        s.heroku
            .wait_deliveries_settled(std::time::Duration::from_secs(20))
            .await
    );
    assert_eq!(
        s.env_value("p1", "PG_URL").await,
        before,
        "stale while disconnected"
    );
    let status = c.status("p1").await;
    assert_eq!(status["status"], "needs_reconnect", "{status}");
    assert!(
        status["links"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("reconnect")
    );

    // Reconnecting syncs at once, without waiting for another release.
    assert_eq!(c.connect_via_oauth(&s, "p1", &user).await, "connected");
    assert_eq!(
        s.env_value("p1", "PG_URL").await,
        s.heroku.config_var(&app, "DATABASE_URL")
    );
    let status = c.status("p1").await;
    assert_eq!(status["status"], "connected");
    assert_eq!(
        status["links"][0]["last_error"],
        serde_json::Value::Null,
        "{status}"
    );
}
