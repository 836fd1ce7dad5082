//! The reqwest Heroku client against the fake Heroku over HTTP: headers, error mapping,
//! 429 handling, Range paging, releases and config vars, OAuth, the rate-limit header,
//! and transport failures.

use fake_heroku::{FakeHeroku, Fault, User};
use secrecy::{ExposeSecret, SecretString};
use shared::heroku::{AccessToken, HerokuClient, HerokuClientOptions, HerokuError};
use shared::ports::{HerokuApi, HerokuOAuth, HerokuPlatform};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "test-oauth-client";
const CLIENT_SECRET: &str = "test-oauth-secret";
const REDIRECT: &str = "http://localhost/cb";
const ACCEPT_V3: &str = "application/vnd.heroku+json; version=3";

struct World {
    heroku: FakeHeroku,
    user: User,
    token: AccessToken,
    refresh_token: String,
    client: HerokuClient,
}

async fn world() -> World {
    world_with(HerokuClientOptions::default()).await
}

async fn world_with(opts: HerokuClientOptions) -> World {
    let heroku = FakeHeroku::start().await;
    heroku.register_client(CLIENT_ID, CLIENT_SECRET, REDIRECT);
    let user = heroku.create_user("dev@example.com");
    let tokens = heroku.issue_tokens(&user, CLIENT_ID);
    let client = HerokuClient::new(&heroku.url(), &heroku.url(), opts).expect("client");
    World {
        token: AccessToken::new(tokens.access_token),
        refresh_token: tokens.refresh_token,
        heroku,
        user,
        client,
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_client_when_calling_the_api_then_it_sends_the_v3_accept_and_the_bearer_token() {
    let w = world().await;
    let app = w.heroku.create_app(&w.user, "my-app");

    let got = w.client.app(&w.token, "my-app").await.expect("app");

    assert_eq!(
        (got.id.as_str(), got.name.as_str()),
        (app.id.as_str(), "my-app")
    );
    let last = w.heroku.requests().pop().expect("logged");
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("GET", "/apps/my-app")
    );
    assert_eq!(last.status, 200);
    assert_eq!(
        last.user_id.as_deref(),
        Some(w.user.id.as_str()),
        "authenticated"
    );

    // The fake does check both headers: without them the same call fails.
    let http = reqwest::Client::new();
    let url = format!("{}/apps/my-app", w.heroku.url());
    let no_accept = http
        .get(&url)
        .bearer_auth(w.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), 400);
    let no_auth = http
        .get(&url)
        .header("accept", ACCEPT_V3)
        .send()
        .await
        .unwrap();
    assert_eq!(no_auth.status(), 401);
    let err = w
        .client
        .app(&AccessToken::new("not-a-token"), "my-app")
        .await
        .unwrap_err();
    assert!(matches!(err, HerokuError::Unauthorized), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_error_statuses_then_each_maps_to_its_variant_and_transience() {
    let w = world().await;
    w.heroku.create_app(&w.user, "my-app");
    let other = w.heroku.create_user("other@example.com");
    w.heroku.create_app(&other, "not-mine");

    let err = w.client.app(&w.token, "no-such-app").await.unwrap_err();
    assert!(matches!(err, HerokuError::NotFound(_)), "real 404: {err:?}");
    let err = w.client.app(&w.token, "not-mine").await.unwrap_err();
    assert!(
        matches!(err, HerokuError::Forbidden(_)),
        "real 403: {err:?}"
    );

    type Case = (Fault, fn(&HerokuError) -> bool, bool);
    let cases: Vec<Case> = vec![
        (
            Fault::status("/apps/my-app", 401),
            |e| matches!(e, HerokuError::Unauthorized),
            false,
        ),
        (
            Fault::status("/apps/my-app", 403),
            |e| matches!(e, HerokuError::Forbidden(_)),
            false,
        ),
        (
            Fault::status("/apps/my-app", 404),
            |e| matches!(e, HerokuError::NotFound(_)),
            false,
        ),
        (
            Fault::status("/apps/my-app", 422),
            |e| matches!(e, HerokuError::Rejected { status: 422, id, .. } if id == "invalid_params"),
            false,
        ),
        (
            Fault::status("/apps/my-app", 429).header("Retry-After", "30"),
            |e| matches!(e, HerokuError::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(30)),
            true,
        ),
        (
            Fault::status("/apps/my-app", 500),
            |e| {
                matches!(
                    e,
                    HerokuError::Unavailable {
                        retry_after: None,
                        ..
                    }
                )
            },
            true,
        ),
        (
            Fault::status("/apps/my-app", 503).header("Retry-After", "7"),
            |e| matches!(e, HerokuError::Unavailable { retry_after: Some(d), .. } if *d == Duration::from_secs(7)),
            true,
        ),
        (
            Fault::status("/apps/my-app", 200).body(serde_json::json!({"unexpected": true})),
            |e| matches!(e, HerokuError::Decode(_)),
            true,
        ),
    ];
    for (fault, is_expected, transient) in cases {
        let status = fault.status;
        w.heroku.inject(fault.times(1));
        let err = w.client.app(&w.token, "my-app").await.unwrap_err();
        assert!(is_expected(&err), "{status}: {err:?}");
        assert_eq!(err.is_transient(), transient, "{status}: {err:?}");
        assert!(
            !format!("{err} {err:?}").contains(w.token.expose()),
            "{status}: no token in errors"
        );
    }
    // The faults were one-shot: the app is still there.
    w.client
        .app(&w.token, "my-app")
        .await
        .expect("healthy again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_429_with_short_retry_after_then_waited_out_once_and_retried() {
    let w = world().await;
    w.heroku.create_app(&w.user, "my-app");
    w.heroku.inject(
        Fault::status("/apps/my-app", 429)
            .header("Retry-After", "1")
            .times(1),
    );
    w.heroku.reset_request_log();

    let started = Instant::now();
    let app = w.client.app(&w.token, "my-app").await.expect("retried");

    assert_eq!(app.name, "my-app");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(w.heroku.request_count("GET", "/apps/my-app"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_429_twice_with_short_retry_after_then_only_one_retry() {
    let w = world().await;
    w.heroku.create_app(&w.user, "my-app");
    w.heroku.inject(
        Fault::status("/apps/my-app", 429)
            .header("Retry-After", "1")
            .times(2),
    );
    w.heroku.reset_request_log();

    let err = w.client.app(&w.token, "my-app").await.unwrap_err();

    assert!(
        matches!(err, HerokuError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(w.heroku.request_count("GET", "/apps/my-app"), 2);
}

/// Far longer than any machine needs for one request to the local fake: a call that has
/// not returned by then hangs. A liveness guard, not a speed requirement.
const HANG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_429_with_long_or_no_retry_after_then_not_waited_for() {
    let w = world().await;
    w.heroku.create_app(&w.user, "my-app");
    // An hour: waiting it out in-line would be a hang, which `HANG` turns into a failure
    // without timing anything that load could stretch.
    for (retry_after, want) in [
        (Some("3600"), Some(Duration::from_secs(3600))),
        (None, None),
    ] {
        let mut fault = Fault::status("/apps/my-app", 429).times(1);
        if let Some(ra) = retry_after {
            fault = fault.header("Retry-After", ra);
        }
        w.heroku.inject(fault);
        w.heroku.reset_request_log();

        let err = tokio::time::timeout(HANG, w.client.app(&w.token, "my-app"))
            .await
            .expect("answered without waiting Retry-After in-line")
            .unwrap_err();

        assert!(
            matches!(&err, HerokuError::RateLimited { retry_after } if *retry_after == want),
            "{err:?}"
        );
        assert_eq!(err.retry_after(), want);
        assert_eq!(
            w.heroku.request_count("GET", "/apps/my-app"),
            1,
            "not retried in-line"
        );
    }
}

/// `apps` apps with `per_app` Postgres add-ons each; returns every add-on id.
fn addons(w: &World, apps: usize, per_app: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for _ in 0..apps {
        let name = format!("app-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let app = w.heroku.create_app(&w.user, &name);
        for _ in 0..per_app {
            ids.insert(
                w.heroku
                    .add_postgres(&app, "heroku-postgresql:essential-0")
                    .id,
            );
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_250_addons_and_pages_of_200_then_next_range_is_followed_without_gaps_or_repeats() {
    let w = world_with(HerokuClientOptions {
        page_size: 200,
        ..HerokuClientOptions::default()
    })
    .await;
    let expected = addons(&w, 50, 5);
    assert_eq!(expected.len(), 250);
    w.heroku.reset_request_log();

    let listed = w.client.addons(&w.token).await.expect("addons");

    let ids: Vec<String> = listed.iter().map(|a| a.id.clone()).collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 250, "no duplicates");
    assert_eq!(unique, expected, "none missing, none foreign");
    assert!(listed.iter().all(|a| a.is_postgres()));
    assert_eq!(w.heroku.request_count("GET", "/addons"), 2, "two pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_default_page_size_then_1000_addons_take_one_call_and_1100_take_two() {
    let w = world().await;
    let mut expected = addons(&w, 100, 10);
    w.heroku.reset_request_log();
    let listed = w.client.addons(&w.token).await.expect("addons");
    assert_eq!(listed.len(), 1000);
    assert_eq!(w.heroku.request_count("GET", "/addons"), 1);

    expected.extend(addons(&w, 10, 10));
    w.heroku.reset_request_log();
    let listed = w.client.addons(&w.token).await.expect("addons");
    let unique: BTreeSet<String> = listed.iter().map(|a| a.id.clone()).collect();
    assert_eq!(listed.len(), 1100);
    assert_eq!(unique, expected);
    assert_eq!(w.heroku.request_count("GET", "/addons"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_failure_on_a_later_page_then_the_whole_list_fails() {
    let w = world_with(HerokuClientOptions {
        page_size: 5,
        ..HerokuClientOptions::default()
    })
    .await;
    addons(&w, 3, 3);
    // The first page passes (a no-op fault uses up the first match), the second fails.
    w.heroku
        .inject(Fault::delay("/addons", Duration::ZERO).times(1));
    w.heroku.inject(Fault::status("/addons", 503));

    let err = w.client.addons(&w.token).await.unwrap_err();

    assert!(matches!(err, HerokuError::Unavailable { .. }), "{err:?}");
    assert_eq!(w.heroku.request_count("GET", "/addons"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_app_with_releases_then_newest_release_is_the_highest_version() {
    let w = world().await;
    let app = w.heroku.create_app(&w.user, "my-app");
    w.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let mut last = w.heroku.rotate_credentials(&app);
    for i in 0..3 {
        last = w.heroku.set_config_var(&app, "N", Some(&i.to_string()));
    }
    w.heroku.reset_request_log();

    let newest = w
        .client
        .newest_release(&w.token, &app.id)
        .await
        .expect("newest")
        .expect("some release");

    assert_eq!(newest.version, last.version);
    assert_eq!(newest.id.as_deref(), Some(last.id.as_str()));
    assert_eq!(newest.status.as_deref(), Some("succeeded"));
    assert_eq!(
        w.heroku.request_count("GET", "/apps/"),
        1,
        "one small request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_config_var_changes_then_config_vars_are_read_as_of_each_release_or_current() {
    let w = world().await;
    let app = w.heroku.create_app(&w.user, "my-app");
    let db = w.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let url1 = w.heroku.config_var(&app, &db.config_var).expect("url");
    let r1 = w.heroku.set_config_var(&app, "X", Some("one"));
    let r2 = w.heroku.rotate_credentials(&app);
    let url2 = w.heroku.config_var(&app, &db.config_var).expect("url");
    let r3 = w.heroku.set_config_var(&app, "X", None);
    assert_ne!(url1, url2);

    let value = |vars: &shared::heroku::ConfigVars, k: &str| {
        vars.get(k).map(|s| s.expose_secret().to_owned())
    };
    for app_ref in [app.id.as_str(), app.name.as_str()] {
        let at1 = w
            .client
            .config_vars(&w.token, app_ref, Some(r1.version))
            .await
            .expect("r1");
        assert_eq!(value(&at1, "X").as_deref(), Some("one"));
        assert_eq!(value(&at1, &db.config_var), Some(url1.clone()));
        let at2 = w
            .client
            .config_vars(&w.token, app_ref, Some(r2.version))
            .await
            .expect("r2");
        assert_eq!(value(&at2, &db.config_var), Some(url2.clone()));
        assert_eq!(value(&at2, "X").as_deref(), Some("one"));
        let at3 = w
            .client
            .config_vars(&w.token, app_ref, Some(r3.version))
            .await
            .expect("r3");
        assert!(!at3.contains("X"));
        let now = w
            .client
            .config_vars(&w.token, app_ref, None)
            .await
            .expect("current");
        assert!(!now.contains("X"));
        assert_eq!(value(&now, &db.config_var), Some(url2.clone()));
        assert!(
            !format!("{now:?}").contains(&url2),
            "Debug shows names, never values"
        );
    }

    let err = w
        .client
        .config_vars(&w.token, &app.id, Some(r3.version + 100))
        .await
        .unwrap_err();
    assert!(matches!(err, HerokuError::NotFound(_)), "{err:?}");

    w.heroku.reset_request_log();
    let err = w
        .client
        .config_vars(&w.token, "../account", None)
        .await
        .unwrap_err();
    assert!(matches!(err, HerokuError::NotFound(_)), "{err:?}");
    assert!(
        w.heroku.requests().is_empty(),
        "a bad app name never reaches a URL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_refresh_token_then_refresh_returns_fresh_tokens_and_the_old_one_is_rejected() {
    let w = world().await;
    w.heroku.create_app(&w.user, "my-app");

    let grant = w
        .client
        .refresh(&secret(&w.refresh_token), &secret(CLIENT_SECRET))
        .await
        .expect("refresh");

    assert_ne!(grant.access_token.expose_secret(), w.token.expose());
    let rotated = grant.refresh_token.as_ref().expect("rotated refresh token");
    assert_ne!(rotated.expose_secret(), w.refresh_token);
    assert!(grant.expires_in.is_some_and(|s| s > 0));
    assert_eq!(grant.user_id.as_deref(), Some(w.user.id.as_str()));
    let fresh = AccessToken::new(grant.access_token.expose_secret());
    w.client
        .app(&fresh, "my-app")
        .await
        .expect("the new token works");

    let err = w
        .client
        .refresh(&secret(&w.refresh_token), &secret(CLIENT_SECRET))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HerokuError::Rejected { status: 400, id, .. } if id == "invalid_grant"),
        "{err:?}"
    );
    assert!(!err.is_transient());

    let err = w
        .client
        .refresh(rotated, &secret("wrong-client-secret"))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");

    w.heroku.revoke_all(&w.user);
    let err = w
        .client
        .refresh(rotated, &secret(CLIENT_SECRET))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HerokuError::Rejected { id, .. } if id == "invalid_grant"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_authorization_code_then_exchange_returns_tokens_once() {
    let w = world().await;
    w.heroku.set_browser_user(&w.user);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http
        .get(format!(
            "{}/oauth/authorize?client_id={CLIENT_ID}&response_type=code&scope=global&state=s1",
            w.heroku.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");

    let grant = w
        .client
        .exchange_code(&code, &secret(CLIENT_SECRET))
        .await
        .expect("exchange");

    assert_eq!(grant.user_id.as_deref(), Some(w.user.id.as_str()));
    assert!(grant.refresh_token.is_some());
    let token = AccessToken::new(grant.access_token.expose_secret());
    let account = w.client.account(&token).await.expect("account");
    assert_eq!(account.id, w.user.id);

    let err = w
        .client
        .exchange_code(&code, &secret(CLIENT_SECRET))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HerokuError::Rejected { id, .. } if id == "invalid_grant"),
        "codes are single-use: {err:?}"
    );
    assert!(!format!("{err:?}").contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_ratelimit_remaining_header_then_the_client_reports_it() {
    let w = world().await;
    w.heroku.create_app(&w.user, "my-app");
    assert_eq!(w.client.rate_limit_remaining(), None, "nothing seen yet");

    w.heroku.set_rate_limit(3);
    w.client.app(&w.token, "my-app").await.expect("1");
    assert_eq!(w.client.rate_limit_remaining(), Some(2));
    w.client.app(&w.token, "my-app").await.expect("2");
    w.client.app(&w.token, "my-app").await.expect("3");
    assert_eq!(w.client.rate_limit_remaining(), Some(0));

    let err = w.client.app(&w.token, "my-app").await.unwrap_err();
    assert!(matches!(err, HerokuError::RateLimited { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(w.client.rate_limit_remaining(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_unreachable_or_too_slow_then_unavailable() {
    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = HerokuClient::new(&url, &url, HerokuClientOptions::default()).unwrap();
    let token = AccessToken::new("t");
    let err = client
        .config_vars(&token, "my-app", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HerokuError::Unavailable { .. }) && err.is_transient(),
        "{err:?}"
    );
    let err = client
        .refresh(&secret("rt"), &secret(CLIENT_SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, HerokuError::Unavailable { .. }), "{err:?}");

    // A server that stopped: same answer.
    let heroku = FakeHeroku::start().await;
    let url = heroku.url();
    drop(heroku);
    let client = HerokuClient::new(&url, &url, HerokuClientOptions::default()).unwrap();
    let err = client.newest_release(&token, "my-app").await.unwrap_err();
    assert!(matches!(err, HerokuError::Unavailable { .. }), "{err:?}");

    // A slow answer is cut off at the request timeout.
    let w = world_with(HerokuClientOptions {
        request_timeout: Duration::from_millis(300),
        ..HerokuClientOptions::default()
    })
    .await;
    w.heroku.create_app(&w.user, "my-app");
    // Held for longer than `HANG`: only the client's own request timeout can end the call,
    // and the error says that is what did.
    w.heroku
        .inject(Fault::delay("/apps/my-app", 2 * HANG).times(1));
    let err = tokio::time::timeout(HANG, w.client.app(&w.token, "my-app"))
        .await
        .expect("cut off by the request timeout")
        .unwrap_err();
    assert!(
        matches!(&err, HerokuError::Unavailable { reason, .. } if reason.contains("timeout")),
        "{err:?}"
    );
}
