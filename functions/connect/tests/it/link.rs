//! Linking, the database list, the trial database, and every bad request, over HTTP.

use crate::common::*;

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
use std::time::Duration;

async fn connected() -> (local::fixture::Stack, fake_heroku::User, Client) {
    let s = stack().await;
    let user = s.heroku.create_user("dev@example.com");
    s.connect("p1", "user-1", &user).await;
    let c = Client::new(&s, "user-1", "p1", &[]);
    (s, user, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_database_when_linked_then_value_written_at_once_one_subscription_and_rotation_follows()
 {
    let (s, user, c) = connected().await;
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");

    let a = c
        .call(
            "PUT",
            "/projects/p1/env-vars/PG_DATABASE_URL/heroku-sync",
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["env_var"], "PG_DATABASE_URL");
    assert_eq!(a.json["app"]["id"], app.id.as_str());
    assert_eq!(a.json["status"], "active");
    assert!(a.json["last_release_version"].as_u64().is_some());
    assert!(
        a.json.get("fingerprint").is_none(),
        "no fingerprint in views"
    );
    let url = s.heroku.config_var(&app, "DATABASE_URL").unwrap();
    assert_eq!(
        s.env_value("p1", "PG_DATABASE_URL").await.as_deref(),
        Some(url.as_str()),
        "written at once"
    );
    assert!(
        !a.json.to_string().contains(&url),
        "the value is never echoed"
    );

    let hooks = s.heroku.webhooks(&app);
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].url, format!("{}/webhooks/heroku", s.url()));
    assert_eq!(hooks[0].level, "sync");
    assert_eq!(hooks[0].include, vec!["api:release".to_owned()]);
    assert_eq!(hooks[0].secret.as_deref(), Some(s.signing_key.as_str()));

    // The same link again: 200, still one subscription (by id this time).
    let again = c
        .call(
            "PUT",
            "/projects/p1/env-vars/PG_DATABASE_URL/heroku-sync",
            Some(&format!(
                r#"{{"app":"{}","config_var":"DATABASE_URL"}}"#,
                app.id
            )),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.json);
    assert_eq!(s.heroku.webhooks(&app).len(), 1);

    s.heroku.rotate_credentials(&app);
    assert!(
        s.heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    let rotated = s.heroku.config_var(&app, "DATABASE_URL").unwrap();
    assert_ne!(rotated, url);
    assert_eq!(
        s.env_value("p1", "PG_DATABASE_URL").await.as_deref(),
        Some(rotated.as_str())
    );

    let status = c
        .call("GET", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(status.json["links"].as_array().unwrap().len(), 1);
    assert_eq!(status.json["links"][0]["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_subscription_left_at_heroku_when_linking_then_it_is_reused_not_duplicated() {
    let (s, user, c) = connected().await;
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    // Someone (an earlier deployment) left a subscription for our URL with another secret.
    let http = reqwest::Client::new();
    let tokens = s.heroku.issue_tokens(&user, local::fixture::CLIENT_ID);
    let made = http
        .post(format!("{}/apps/{}/webhooks", s.heroku.url(), app.id))
        .header("accept", "application/vnd.heroku+json; version=3")
        .bearer_auth(&tokens.access_token)
        .json(&serde_json::json!({"include": ["api:release"], "level": "notify", "url": format!("{}/webhooks/heroku", s.url()), "secret": "old"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);

    let a = c
        .call(
            "PUT",
            "/projects/p1/env-vars/DB/heroku-sync",
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(a.status, 201);
    let hooks = s.heroku.webhooks(&app);
    assert_eq!(hooks.len(), 1, "adopted, not duplicated");
    assert_eq!(
        hooks[0].secret.as_deref(),
        Some(s.signing_key.as_str()),
        "our secret now"
    );
    assert_eq!(hooks[0].level, "sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_env_var_synced_from_another_app_then_409() {
    let (s, user, c) = connected().await;
    for name in ["one", "two"] {
        let app = s.heroku.create_app(&user, name);
        s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    }
    let a = c
        .call(
            "PUT",
            "/projects/p1/env-vars/DB/heroku-sync",
            Some(r#"{"app":"one","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(a.status, 201);
    let value = s.env_value("p1", "DB").await;
    let b = c
        .call(
            "PUT",
            "/projects/p1/env-vars/DB/heroku-sync",
            Some(r#"{"app":"two","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(b.status, 409, "{}", b.json);
    assert_eq!(b.json["error"], "conflict");
    assert_eq!(s.env_value("p1", "DB").await, value, "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_more_than_a_page_of_addons_then_every_database_is_listed_in_few_calls() {
    let (s, user, c) = connected().await;
    let other = s.heroku.create_user("other@example.com");
    let mut first = None;
    for i in 0..1_050 {
        let app = s.heroku.create_app(&user, &format!("app-{i:04}"));
        let addon = s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
        if i == 0 {
            first = Some(addon);
        }
    }
    // A database attached from another app, and an app we cannot see.
    let consumer = s.heroku.create_app(&user, "consumer");
    s.heroku
        .attach(first.as_ref().unwrap(), &consumer, "SHARED_DB");
    let hidden = s.heroku.create_app(&other, "hidden");
    s.heroku
        .add_postgres(&hidden, "heroku-postgresql:essential-0");
    s.heroku.reset_request_log();

    let a = c
        .call("GET", "/projects/p1/integrations/heroku/databases", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let dbs = a.json["databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 1_051);
    let names: std::collections::BTreeSet<&str> = dbs
        .iter()
        .map(|d| d["app"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 1_051, "no duplicates");
    assert!(!names.contains("hidden"));
    let shared = dbs.iter().find(|d| d["app"]["name"] == "consumer").unwrap();
    assert_eq!(shared["attached"], true);
    assert_eq!(shared["config_vars"], serde_json::json!(["SHARED_DB_URL"]));
    let owned = dbs.iter().find(|d| d["app"]["name"] == "app-0000").unwrap();
    assert_eq!(owned["attached"], false);
    assert_eq!(owned["addon"]["plan"], "heroku-postgresql:essential-0");
    assert!(
        owned["config_vars"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("DATABASE_URL"))
    );
    // Two pages of add-ons and two of attachments (1,000 a page), for 1,052 apps.
    assert_eq!(s.heroku.request_count("GET", "/addons"), 2);
    assert_eq!(s.heroku.request_count("GET", "/addon-attachments"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_trial_database_then_created_linked_waiting_and_synced_once_ready() {
    let (s, _user, c) = connected().await;
    s.heroku.set_provision_delay(Duration::from_millis(300));
    let a = c
        .call(
            "POST",
            "/projects/p1/integrations/heroku/trial-database",
            Some(r#"{"env_var":"PG_DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["addon"]["plan"], "heroku-postgresql:essential-0");
    assert_eq!(a.json["link"]["config_var"], "DATABASE_URL");
    assert_eq!(a.json["link"]["status"], "active");
    assert!(
        a.json["link"]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("not set"),
        "waiting: {}",
        a.json
    );
    let app = fake_heroku::App {
        id: a.json["app"]["id"].as_str().unwrap().to_owned(),
        name: a.json["app"]["name"].as_str().unwrap().to_owned(),
    };
    assert_eq!(
        s.heroku.webhooks(&app).len(),
        1,
        "subscribed before the add-on existed"
    );

    let synced = eventually(Duration::from_secs(15), || async {
        s.heroku.config_var(&app, "DATABASE_URL").is_some()
            && s.env_value("p1", "PG_DATABASE_URL").await
                == s.heroku.config_var(&app, "DATABASE_URL")
    })
    .await;
    assert!(synced, "the env var follows once the add-on is ready");
    let status = c
        .call("GET", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(
        status.json["links"][0]["last_error"],
        serde_json::Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_bad_requests_then_the_right_status_and_json_error_and_nothing_written() {
    let (s, user, c) = connected().await;
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let before = (s.table_snapshot().await, s.secrets_snapshot().await);
    let link = "/projects/p1/env-vars/PG_URL/heroku-sync";
    let good = r#"{"app":"shop","config_var":"DATABASE_URL"}"#;

    let other_project = Client::new(&s, "user-1", "p2", &[]);
    let expired = Client {
        token: Some(local::jwt::mint(
            &s.jwt_secret,
            &serde_json::json!({"sub": "user-1", "project_id": "p1", "exp": 1}),
        )),
        ..Client::new(&s, "user-1", "p1", &[])
    };
    let forged = Client {
        token: Some(local::jwt::mint_for(
            "not-the-secret",
            "user-1",
            "p1",
            &[],
            Duration::from_secs(60),
        )),
        ..Client::new(&s, "user-1", "p1", &[])
    };
    let anonymous = Client::with_token(&s, None);
    let cases: Vec<Case> = vec![
        (
            "wrong project",
            &other_project,
            "PUT",
            link,
            Some(good),
            403,
            "forbidden",
        ),
        (
            "wrong project (status)",
            &other_project,
            "GET",
            "/projects/p1/integrations/heroku",
            None,
            403,
            "forbidden",
        ),
        (
            "wrong project (databases)",
            &other_project,
            "GET",
            "/projects/p1/integrations/heroku/databases",
            None,
            403,
            "forbidden",
        ),
        (
            "wrong project (authorize)",
            &other_project,
            "POST",
            "/projects/p1/integrations/heroku/authorize",
            None,
            403,
            "forbidden",
        ),
        (
            "wrong project (trial)",
            &other_project,
            "POST",
            "/projects/p1/integrations/heroku/trial-database",
            Some(r#"{"env_var":"X"}"#),
            403,
            "forbidden",
        ),
        (
            "bad env var",
            &c,
            "PUT",
            "/projects/p1/env-vars/1BAD/heroku-sync",
            Some(good),
            400,
            "bad_request",
        ),
        (
            "env var with a dash",
            &c,
            "PUT",
            "/projects/p1/env-vars/PG-URL/heroku-sync",
            Some(good),
            400,
            "bad_request",
        ),
        (
            "unknown app",
            &c,
            "PUT",
            link,
            Some(r#"{"app":"nope","config_var":"DATABASE_URL"}"#),
            422,
            "unprocessable",
        ),
        (
            "app not a name",
            &c,
            "PUT",
            link,
            Some(r#"{"app":"../etc","config_var":"DATABASE_URL"}"#),
            422,
            "unprocessable",
        ),
        (
            "unknown config var",
            &c,
            "PUT",
            link,
            Some(r#"{"app":"shop","config_var":"NOPE_URL"}"#),
            422,
            "not_an_addon_config_var",
        ),
        (
            "bad config var",
            &c,
            "PUT",
            link,
            Some(r#"{"app":"shop","config_var":"A-B"}"#),
            400,
            "bad_request",
        ),
        (
            "malformed JSON",
            &c,
            "PUT",
            link,
            Some(r#"{"app":"shop","#),
            400,
            "bad_request",
        ),
        (
            "missing field",
            &c,
            "PUT",
            link,
            Some(r#"{"app":"shop"}"#),
            400,
            "bad_request",
        ),
        ("no body", &c, "PUT", link, None, 400, "bad_request"),
        (
            "trial bad env var",
            &c,
            "POST",
            "/projects/p1/integrations/heroku/trial-database",
            Some(r#"{"env_var":"a b"}"#),
            400,
            "bad_request",
        ),
        (
            "trial malformed",
            &c,
            "POST",
            "/projects/p1/integrations/heroku/trial-database",
            Some("[]"),
            400,
            "bad_request",
        ),
    ];
    for (name, client, method, path, body, status, code) in cases {
        let a = client.call(method, path, body).await;
        assert_eq!(a.status, status, "{name}: {}", a.json);
        assert_eq!(a.json["error"], code, "{name}: {}", a.json);
        assert!(
            a.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    let big = format!(
        r#"{{"app":"shop","config_var":"DATABASE_URL","pad":"{}"}}"#,
        "x".repeat(20_000)
    );
    let a = c.call("PUT", link, Some(&big)).await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (413, Some("payload_too_large"))
    );

    // The API Gateway authorizer answers these before any function runs.
    for (name, client) in [
        ("missing token", &anonymous),
        ("expired token", &expired),
        ("forged token", &forged),
    ] {
        let a = client.call("PUT", link, Some(good)).await;
        assert_eq!(a.status, 401, "{name}");
    }
    assert_eq!(
        (s.table_snapshot().await, s.secrets_snapshot().await),
        before,
        "nothing written"
    );
    assert!(s.heroku.webhooks(&app).is_empty(), "nothing subscribed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_no_connection_then_linking_says_connect_first() {
    let s = stack().await;
    let c = Client::new(&s, "user-1", "p1", &[]);
    let a = c
        .call(
            "PUT",
            "/projects/p1/env-vars/DB/heroku-sync",
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(a.status, 409);
    assert!(a.json["message"].as_str().unwrap().contains("connect"));
    let a = c
        .call("GET", "/projects/p1/integrations/heroku/databases", None)
        .await;
    assert_eq!(a.status, 409);
    let a = c
        .call("GET", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("not_connected"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_limiting_or_down_then_429_or_503_with_retry_after() {
    let (s, _user, c) = connected().await;
    s.heroku
        .inject(fake_heroku::Fault::status("/addons", 429).header("Retry-After", "20"));
    let a = c
        .call("GET", "/projects/p1/integrations/heroku/databases", None)
        .await;
    assert_eq!(
        (a.status, a.retry_after.as_deref()),
        (429, Some("20")),
        "{}",
        a.json
    );
    s.heroku.clear_faults();
    s.heroku.inject(fake_heroku::Fault::status("/addon", 503));
    let a = c
        .call("GET", "/projects/p1/integrations/heroku/databases", None)
        .await;
    assert_eq!(
        (a.status, a.retry_after.as_deref()),
        (503, Some("5")),
        "Heroku named no wait: the default; {}",
        a.json
    );
}

/// Issue 10, item 8. Re-linking an opted-out env var to another config var of the *same*
/// app used to re-enable the link and then detach it from that same app as if it had
/// moved: the link was deleted and the PUT answered 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_opted_out_env_var_when_relinked_to_another_config_var_of_the_same_app_then_200() {
    let (s, user, c) = connected().await;
    let app = s.heroku.create_app(&user, "shop");
    let db = s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let path = "/projects/p1/env-vars/DB/heroku-sync";
    let a = c
        .call(
            "PUT",
            path,
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(c.call("DELETE", path, None).await.status, 204);
    // The same database attached again under another name: REPLICA_URL.
    s.heroku.attach(&db, &app, "REPLICA");
    let replica = s.heroku.config_var(&app, "REPLICA_URL");
    assert!(replica.is_some());

    let b = c
        .call(
            "PUT",
            path,
            Some(r#"{"app":"shop","config_var":"REPLICA_URL"}"#),
        )
        .await;

    assert_eq!(b.status, 200, "{}", b.json);
    assert_eq!(b.json["status"], "active");
    assert_eq!(b.json["config_var"], "REPLICA_URL");
    assert_eq!(s.env_value("p1", "DB").await.as_deref(), replica.as_deref());
    let record = s.app_record(&app.id).await.expect("app record");
    assert_eq!(record.links.len(), 1, "the link stays on its app");
    let status = c.status("p1").await;
    assert_eq!(status["links"][0]["config_var"], "REPLICA_URL", "{status}");
}

/// Issue 10, item 2. A rotation that lands while PUT link runs, after it read the newest
/// release but before the subscription exists, is delivered to nobody; the first sync used
/// to target the release read before, so the env var kept the old credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_rotation_while_linking_before_the_subscription_exists_then_the_new_value_is_written()
 {
    let (s, user, c) = connected().await;
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let before = s.heroku.config_var(&app, "DATABASE_URL");
    // Hold the subscription's creation so the rotation surely lands before it exists.
    s.heroku.inject(
        fake_heroku::Fault::delay(
            &format!("/apps/{}/webhooks", app.id),
            Duration::from_secs(3),
        )
        .method("POST")
        .times(1),
    );
    let put = c.call(
        "PUT",
        "/projects/p1/env-vars/DB/heroku-sync",
        Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
    );
    let rotate = async {
        // The subscription list was read: the POST that creates it is next, and held.
        let listed = format!("/apps/{}/webhooks", app.id);
        assert!(
            eventually(Duration::from_secs(20), || async {
                s.heroku.request_count("GET", &listed) > 0
            })
            .await,
            "PUT link never reached the subscription step"
        );
        s.heroku.rotate_credentials(&app);
        s.heroku.config_var(&app, "DATABASE_URL")
    };
    let (a, after) = tokio::join!(put, rotate);
    assert_ne!(before, after);

    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(
        s.env_value("p1", "DB").await,
        after,
        "the rotated value, not the one read first"
    );
}

/// Issue 10, item 10. A double submit made two Heroku apps, and a failure after the app
/// was made left it behind with a 409 on the retry. A repeat for the same env var now
/// continues the trial already started: the same app, one app in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_trial_database_submitted_twice_at_once_then_one_app_and_the_same_answer() {
    let (s, _user, c) = connected().await;
    let path = "/projects/p1/integrations/heroku/trial-database";
    let body = Some(r#"{"env_var":"TRIAL_URL"}"#);

    let (a, b) = tokio::join!(c.call("POST", path, body), c.call("POST", path, body));

    assert!(
        a.status == 201 || b.status == 201,
        "{} / {}",
        a.json,
        b.json
    );
    assert!(
        [a.status, b.status]
            .iter()
            .all(|st| *st == 201 || *st == 200),
        "{} / {}",
        a.json,
        b.json
    );
    assert_eq!(a.json["app"]["id"], b.json["app"]["id"], "the same app");
    let apps = s
        .heroku
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/apps")
        .count();
    assert_eq!(apps, 1, "one Heroku app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_trial_failing_after_its_app_was_made_then_the_retry_continues_with_that_app() {
    let (s, _user, c) = connected().await;
    let path = "/projects/p1/integrations/heroku/trial-database";
    let body = Some(r#"{"env_var":"TRIAL_URL"}"#);
    // Everything POSTed under /apps/{id}/ fails once: the subscription, after the app.
    s.heroku.inject(
        fake_heroku::Fault::status("/apps/", 503)
            .method("POST")
            .times(1),
    );

    let first = c.call("POST", path, body).await;
    assert_eq!(first.status, 503, "{}", first.json);
    let retry = c.call("POST", path, body).await;

    assert_eq!(retry.status, 200, "{}", retry.json);
    assert_eq!(retry.json["link"]["status"], "active");
    let apps: Vec<_> = s
        .heroku
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/apps")
        .collect();
    assert_eq!(apps.len(), 1, "no second app");
    let addons = s
        .heroku
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/addons") && r.status < 300)
        .count();
    assert_eq!(addons, 1, "its add-on made once");
}

/// Issue 10, item 4: an error a caller sees says what to do, and never carries AWS's own
/// text (an error code and message from the SDK, which can name ARNs and accounts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_aws_failing_then_callers_see_what_to_do_and_never_aws_text() {
    let (s, user, c) = connected().await;
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let link = || {
        c.call(
            "PUT",
            "/projects/p1/env-vars/PG_DATABASE_URL/heroku-sync",
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
    };
    let aws_text = [
        "injected by the fault proxy",
        "ServiceUnavailable",
        "arn:aws",
    ];

    for (operation, what) in [
        ("PutSecretValue", "Secrets Manager"),
        ("GetItem", "DynamoDB"),
        ("PutItem", "DynamoDB"),
    ] {
        s.proxy.fail(operation, 500);
        let a = link().await;
        s.proxy.clear();
        assert_eq!(a.status, 503, "{operation}: {}", a.json);
        let message = a.json["message"].as_str().unwrap_or_default();
        for text in aws_text {
            assert!(!message.contains(text), "{operation}: {message}");
        }
        assert!(
            message.contains(what) || message.contains("retry"),
            "{operation}: says what failed or what to do: {message}"
        );
        assert!(a.retry_after.is_some(), "{operation}: Retry-After");
    }
    assert!(
        matches!(link().await.status, 200 | 201),
        "works once AWS is back"
    );
}

/// A stored access token Heroku no longer accepts (expired sooner than it said, or
/// invalidated) is refreshed once by PUT link, not answered "reconnect".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_stale_access_token_when_linking_then_it_is_refreshed_and_the_link_made() {
    let (s, user, c) = connected().await;
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    s.heroku.expire_access_tokens(&user);

    let a = c
        .call(
            "PUT",
            "/projects/p1/env-vars/PG_DATABASE_URL/heroku-sync",
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
        .await;

    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(
        s.env_value("p1", "PG_DATABASE_URL").await,
        s.heroku.config_var(&app, "DATABASE_URL")
    );
}
