//! What the logs hold over a project's whole life — connecting (the OAuth code exchange),
//! linking, a token refresh, syncs, failures, opting out and disconnecting (revocation) —
//! as the production telemetry writes them: no database URL, no token, no key, ever.

use fake_heroku::{DeliveryMode, Fault, HeldDelivery};
use local::client::Client;
use local::fixture::Stack;
use local::logs::Captured;
use shared::http::Function;
use std::sync::Arc;
use std::time::Duration;

const PROJECT: &str = "p1";
const ENV_VAR: &str = "PG_URL";

/// Sends a held delivery as Heroku would, signed with `key` (Heroku's signature when
/// `None`); returns the status.
async fn deliver(http: &reqwest::Client, d: &HeldDelivery, key: Option<&str>) -> u16 {
    let mut req = http.post(&d.url).body(d.body.clone());
    for (k, v) in &d.headers {
        if k.eq_ignore_ascii_case("heroku-webhook-hmac-sha256") && key.is_some() {
            continue;
        }
        req = req.header(k, v);
    }
    if let Some(key) = key {
        req = req.header(
            "heroku-webhook-hmac-sha256",
            webhook::signature::sign(key.as_bytes(), &d.body),
        );
    }
    req.send().await.expect("gateway answers").status().as_u16()
}

/// The app's DATABASE_URL at the fake Heroku right now.
fn url(s: &Stack, app: &fake_heroku::App) -> String {
    s.heroku
        .config_var(app, "DATABASE_URL")
        .expect("DATABASE_URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_projects_whole_life_then_logs_hold_no_url_token_or_key() {
    // The production subscriber (shared::telemetry, what every function's main installs)
    // writing into a buffer instead of stdout. Global, so every thread's events are seen,
    // hence a test binary of its own. Every level: a leak at debug is a leak once someone
    // turns debug on. The fake Heroku and the local stack are test scaffolding, not
    // production code, and log what they like.
    let captured = Captured::default();
    assert!(
        shared::telemetry::install("trace,fake_heroku=off,local=off", captured.clone()),
        "the first subscriber of this process"
    );
    let s = Stack::start(Box::new(|svc, gw| {
        gw.mount_handler(
            Function::Webhook,
            Arc::new(webhook::Webhook::new(svc.clone())),
        )
        .mount_handler(
            Function::Connect,
            Arc::new(connect::Connect::new(svc.clone())),
        )
        .mount_handler(Function::OptOut, Arc::new(opt_out::OptOut::new(svc)))
    }))
    .await;
    let http = reqwest::Client::new();
    let user = s.heroku.create_user("owner@example.com");
    let app = s.heroku.create_app(&user, "sample-app");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let mut urls = vec![url(&s, &app)];
    let c = Client::new(&s, "user-1", PROJECT, &[]);

    // Connect: the code exchange. Link: the subscription and the first sync.
    assert_eq!(c.connect_via_oauth(&s, PROJECT, &user).await, "connected");
    let linked = c.link(PROJECT, ENV_VAR, &app.name).await;
    assert_eq!(linked.status, 201, "{}", linked.json);
    let webhook_secrets: Vec<String> = s
        .heroku
        .webhooks(&app)
        .into_iter()
        .filter_map(|w| w.secret)
        .collect();

    // Refresh: the access token expires, the delivery's sync gets a 401 and refreshes.
    s.heroku.expire_access_tokens(&user);
    s.heroku.rotate_credentials(&app);
    assert!(
        s.heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    urls.push(url(&s, &app));
    assert_eq!(s.env_value(PROJECT, ENV_VAR).await.as_ref(), urls.last());
    assert_eq!(
        s.heroku.request_count("POST", "/oauth/token"),
        2,
        "the code exchange and one refresh"
    );

    // Errors: Heroku down, Secrets Manager refusing writes, a forged delivery; then the
    // redelivery succeeds.
    s.heroku.set_delivery_mode(DeliveryMode::Hold);
    s.heroku.rotate_credentials(&app);
    urls.push(url(&s, &app));
    let held = s.heroku.take_held();
    assert_eq!(held.len(), 1);
    let d = &held[0];
    let fault = s
        .heroku
        .inject(Fault::status(&format!("/apps/{}/releases", app.id), 503));
    assert_eq!(deliver(&http, d, None).await, 503);
    s.heroku.clear_fault(fault);
    s.proxy.fail("PutSecretValue", 500);
    assert_eq!(deliver(&http, d, None).await, 503);
    s.proxy.clear();
    assert_eq!(deliver(&http, d, Some("not-the-signing-key")).await, 401);
    assert_eq!(deliver(&http, d, None).await, 204);
    assert_eq!(s.env_value(PROJECT, ENV_VAR).await.as_ref(), urls.last());

    // Opt out of the env var, then disconnect: the authorization is revoked at Heroku.
    let opted = c
        .call(
            "DELETE",
            &format!("/projects/{PROJECT}/env-vars/{ENV_VAR}/heroku-sync"),
            None,
        )
        .await;
    assert_eq!(opted.status, 204, "{}", opted.json);
    let gone = c
        .call(
            "DELETE",
            &format!("/projects/{PROJECT}/integrations/heroku"),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.json);
    assert!(s.heroku.authorizations(&user).iter().all(|a| a.revoked));

    let logs = captured.text();
    // The capture saw every phase, or "nothing leaked" would mean nothing.
    for phase in [
        "Heroku connected",
        "subscribed to api:release",
        "Heroku access token refreshed",
        "env var updated",
        "transient failure; Heroku will redeliver",
        "delivery with a bad signature",
        "link opted out",
        "Heroku authorization revoked",
    ] {
        assert!(logs.contains(phase), "the capture missed {phase:?}");
    }

    // Everything secret that existed at any point: every code and token the fake Heroku
    // ever issued (the expired access token and the spent refresh token too), the keys,
    // the caller's JWT, and every value the database URL had, with its password alone.
    let issued = s.heroku.issued_credentials();
    assert!(
        issued.len() >= 5,
        "a code, two access and two refresh tokens at least: {}",
        issued.len()
    );
    let mut secrets: Vec<(&str, String)> = issued
        .into_iter()
        .map(|t| ("Heroku credential", t))
        .collect();
    secrets.push(("webhook signing key", s.signing_key.clone()));
    secrets.push((
        "OAuth client secret",
        local::fixture::CLIENT_SECRET.to_owned(),
    ));
    secrets.extend(webhook_secrets.into_iter().map(|k| ("webhook secret", k)));
    secrets.push(("caller's JWT", c.token.clone().expect("token")));
    for u in &urls {
        let password = u
            .split(':')
            .nth(2)
            .and_then(|s| s.split('@').next())
            .expect("password");
        secrets.push(("database URL", u.clone()));
        secrets.push(("database password", password.to_owned()));
    }
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what} too short to search for");
        assert!(
            !logs.contains(secret.as_str()),
            "a {what} leaked into the logs"
        );
    }
}
