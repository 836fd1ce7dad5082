//! What the logs of a whole sync hold: no database URL, no token, no key.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_whole_sync_then_logs_hold_no_url_and_no_token() {
    // The global subscriber, in a test binary of its own: every thread's events are seen.
    let (captured, subscriber) = local::logs::capture("trace,fake_heroku=off,local=off");
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
    let w = world().await;
    let old_url = w.heroku_url();
    w.stack.heroku.expire_access_tokens(&w.user);
    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    let new_url = w.heroku_url();
    assert_eq!(w.env().await.unwrap(), new_url);

    let logs = captured.text();
    assert!(logs.contains("env var updated"), "the capture saw the sync");
    let tokens_name = w
        .stack
        .svc
        .names
        .heroku_tokens(&shared::domain::ProjectId::parse(PROJECT).unwrap());
    let tokens: serde_json::Value = serde_json::from_str(
        w.stack
            .secrets
            .get_secret_value()
            .secret_id(&tokens_name)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    let mut secrets = vec![
        old_url.clone(),
        new_url.clone(),
        w.stack.signing_key.clone(),
        local::fixture::CLIENT_SECRET.to_owned(),
    ];
    for k in ["access_token", "refresh_token"] {
        secrets.push(tokens[k].as_str().unwrap().to_owned());
    }
    // The password part alone must not appear either.
    for url in [&old_url, &new_url] {
        let password = url
            .split(':')
            .nth(2)
            .and_then(|s| s.split('@').next())
            .unwrap();
        secrets.push(password.to_owned());
    }
    for s in secrets {
        assert!(!logs.contains(&s), "a secret leaked into the logs");
    }
}
