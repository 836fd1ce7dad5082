//! The webhook function end to end: the fake Heroku's signed deliveries over HTTP, through
//! the API Gateway emulator, into the real handler, against moto.

mod common;

use common::*;
use fake_heroku::{DeliveryMode, Fault};
use shared::domain::LinkStatus;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_linked_app_when_credentials_rotate_then_env_var_follows_and_status_records_release()
{
    let w = world().await;
    let before = w.env().await.expect("linking wrote the value at once");
    assert_eq!(before, w.heroku_url());

    let release = w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );

    let after = w.env().await.unwrap();
    assert_ne!(after, before, "the value changed");
    assert_eq!(after, w.heroku_url(), "the env var holds the new URL");
    let link = w.link_state().await;
    assert_eq!(link.last_release_version, Some(release.version));
    assert_eq!(link.status, LinkStatus::Active);
    assert!(link.last_synced_at.is_some() && link.last_checked_at.is_some());
    assert_eq!(link.last_error, None);
    assert!(
        link.history
            .iter()
            .any(|h| h.release_version == Some(release.version))
    );
    let deliveries = w.stack.heroku.deliveries();
    assert!(
        deliveries
            .iter()
            .all(|d| d.succeeded && d.attempts == vec![204]),
        "{deliveries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_bad_signatures_when_delivered_then_401_and_nothing_changes() {
    let w = world().await;
    let d = w.rotate_held();
    let tables = w.stack.table_snapshot().await;
    let secrets = w.stack.secrets_snapshot().await;
    w.stack.heroku.reset_request_log();

    let mut altered = d.body.clone();
    let i = altered.iter().position(|b| *b == b'3').unwrap_or(10);
    altered[i] ^= 0x01;
    let good_sig = d.header("heroku-webhook-hmac-sha256").unwrap().to_owned();
    let stale = webhook::signature::sign(b"whsec-the-previous-key", &d.body);
    let wrong = webhook::signature::sign(w.stack.signing_key.as_bytes(), b"another body");
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("missing", d.body.clone(), None),
        ("wrong", d.body.clone(), Some(wrong)),
        ("stale secret", d.body.clone(), Some(stale)),
        ("garbage", d.body.clone(), Some("not-base64!!".into())),
        ("altered body", altered, Some(good_sig)),
    ];
    for (name, body, sig) in cases {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(sig) = sig.as_deref() {
            headers.push(("heroku-webhook-hmac-sha256", sig));
        }
        let (status, _, text) = send(&w.http, &d.url, &body, headers).await;
        assert_eq!(status, 401, "{name}");
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON error body");
        assert_eq!(json["error"], "unauthorized", "{name}");
    }
    assert_eq!(w.stack.table_snapshot().await, tables, "DynamoDB unchanged");
    assert_eq!(
        w.stack.secrets_snapshot().await,
        secrets,
        "Secrets Manager unchanged"
    );
    assert_eq!(
        w.stack.heroku.requests().len(),
        0,
        "no Heroku call for an unsigned body"
    );

    // The genuine delivery still works afterwards.
    let (status, _, _) = replay(&w.http, &d).await;
    assert_eq!(status, 204);
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_base64_encoded_body_from_api_gateway_when_signed_then_verified_over_raw_bytes() {
    let stack = local::fixture::Stack::start_with(
        Box::new(|svc, gw| {
            let hook = std::sync::Arc::new(webhook::Webhook::new(svc));
            gw.mount(
                shared::http::Function::Webhook,
                local::gateway::handler(move |req| {
                    let hook = hook.clone();
                    async move { hook.handle(req).await }
                }),
            )
        }),
        |gw| gw.always_base64(true),
    )
    .await;
    let user = stack.heroku.create_user("b64@example.com");
    let app = stack.heroku.create_app(&user, "b64-app");
    stack
        .heroku
        .add_postgres(&app, "heroku-postgresql:essential-0");
    stack.connect(PROJECT, "user-1", &user).await;
    stack
        .link(PROJECT, ENV_VAR, &app.name, "DATABASE_URL")
        .await;
    stack.heroku.rotate_credentials(&app);
    assert!(
        stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    assert_eq!(
        stack.env_value(PROJECT, ENV_VAR).await,
        stack.heroku.config_var(&app, "DATABASE_URL")
    );
    assert!(stack.heroku.deliveries().iter().all(|d| d.succeeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_signed_but_unusable_bodies_then_2xx_and_ignored_without_heroku_calls() {
    let w = world().await;
    let key = w.stack.signing_key.clone();
    let url = format!("{}/webhooks/heroku", w.stack.url());
    w.stack.heroku.reset_request_log();
    let before = w.env().await;

    let post = |body: Vec<u8>| {
        let headers = signed(&key, &body);
        let http = w.http.clone();
        let url = url.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send(&http, &url, &body, headers).await
        }
    };

    // Signed, so from Heroku: a 4xx would be redelivered for 72 hours and never get
    // better. 202 says "received, nothing to do" (docs/contract.md).
    let (status, _, text) = post(b"{\"resource\": \"release\", ".to_vec()).await;
    assert_eq!(status, 202, "malformed JSON: {text}");
    let (status, _, text) =
        post(br#"{"resource":"release","data":{"status":"succeeded","app":{"id":"44dc9c7a-771c-4a9e-bfe9-a8dbc1c55f4d"}}}"#.to_vec()).await;
    assert_eq!(status, 202, "succeeded release without a version: {text}");

    let (status, _, _) =
        post(br#"{"resource":"dyno","action":"create","data":{"app":{"id":"x"}}}"#.to_vec()).await;
    assert_eq!(status, 204, "non-release event ignored");

    let (status, _, _) = post(
        format!(
            r#"{{"resource":"release","action":"create","data":{{"app":{{"id":"{}"}},"version":99,"status":"succeeded"}}}}"#,
            uuid::Uuid::new_v4()
        )
        .into_bytes(),
    )
    .await;
    assert_eq!(status, 204, "release of an app nobody linked");

    let (status, _, _) = post(br#"{"resource":"release","data":{"status":"succeeded","app":{"id":"not-a-uuid"},"version":1}}"#.to_vec()).await;
    assert_eq!(status, 202, "succeeded release without a usable app id");

    // Pending and failed releases of the linked app, as the fake delivers them.
    w.stack.heroku.set_delivery_mode(DeliveryMode::Hold);
    w.stack.heroku.create_release(&w.app, "pending");
    w.stack.heroku.create_release(&w.app, "failed");
    let held = w.stack.heroku.take_held();
    assert_eq!(held.len(), 2);
    for d in &held {
        let (status, _, _) = replay(&w.http, d).await;
        assert_eq!(status, 204);
    }
    assert_eq!(
        w.stack.heroku.requests().len(),
        0,
        "no Heroku call for anything ignored"
    );
    assert_eq!(w.env().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_the_same_delivery_twice_then_one_write() {
    let w = world().await;
    let d = w.rotate_held();
    let versions = w.stack.env_versions(PROJECT, ENV_VAR).await;
    w.stack.heroku.reset_request_log();

    assert_eq!(replay(&w.http, &d).await.0, 204);
    assert_eq!(replay(&w.http, &d).await.0, 204);
    // And a retry attempt of the same delivery (Heroku re-signs each attempt).
    let (status, _, _) = replay(&w.http, &d).await;
    assert_eq!(status, 204);

    assert_eq!(w.env().await.unwrap(), w.heroku_url());
    assert_eq!(
        w.stack.env_versions(PROJECT, ENV_VAR).await,
        versions + 1,
        "exactly one new secret version"
    );
    assert_eq!(
        w.stack
            .heroku
            .request_count("GET", &format!("/apps/{}/releases", w.app.id)),
        1,
        "duplicates cost no Heroku call"
    );
}

/// Twelve rounds of the deliveries for releases n and n+1 sent at once, in both orders
/// (every third round in sequence, newest first). Returns the contention the concurrent
/// rounds saw at moto: conditional writes refused, plus re-reads of the app record (a
/// delivery reads it once, and again only after waiting on the other's lease or losing a
/// conditional write to it).
async fn race_n_and_n_plus_1(w: &World) -> usize {
    w.stack.heroku.set_delivery_mode(DeliveryMode::Hold);
    let mut contention = 0;
    for round in 0..12 {
        w.stack.heroku.rotate_credentials(&w.app);
        w.stack.heroku.rotate_credentials(&w.app);
        let held = w.stack.heroku.take_held();
        assert_eq!(held.len(), 2);
        let (older, newer) = if held[0].version < held[1].version {
            (&held[0], &held[1])
        } else {
            (&held[1], &held[0])
        };
        let (first, second) = if round % 2 == 0 {
            (older, newer)
        } else {
            (newer, older)
        };
        if round % 3 == 2 {
            // Strictly sequential, newest first: the late old delivery must not regress it.
            assert_eq!(replay(&w.http, newer).await.0, 204);
            assert_eq!(replay(&w.http, older).await.0, 204);
        } else {
            let reads = |p: &local::proxy::FaultProxy| p.calls().get("GetItem").copied();
            let (reads_before, refused_before) = (
                reads(&w.stack.proxy).unwrap_or(0),
                w.stack.proxy.condition_failures(),
            );
            let (a, b) = tokio::join!(replay(&w.http, first), replay(&w.http, second));
            assert_eq!((a.0, b.0), (204, 204), "round {round}: {a:?} {b:?}");
            let rereads = (reads(&w.stack.proxy).unwrap_or(0) - reads_before).saturating_sub(2);
            contention += rereads + w.stack.proxy.condition_failures() - refused_before;
        }
        assert_eq!(w.env().await.unwrap(), w.heroku_url(), "round {round}");
        assert_eq!(
            w.link_state().await.last_release_version,
            Some(newer.version)
        );
    }
    contention
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_deliveries_for_n_and_n_plus_1_racing_in_both_orders_then_newest_value_wins() {
    let w = world().await;
    // The proxy's default: one request at moto at a time, DynamoDB's atomicity restored
    // (moto's conditional writes are not atomic), races interleave whole requests.
    w.stack.proxy.reset_calls();
    let contention = race_n_and_n_plus_1(&w).await;
    assert!(
        contention > 0,
        "the deliveries never met: the test exercised no race"
    );
    assert_eq!(
        w.stack.proxy.max_concurrent_at_moto(),
        1,
        "serialised at the proxy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn given_deliveries_for_n_and_n_plus_1_racing_with_truly_concurrent_aws_calls_then_newest_value_wins()
 {
    let w = world().await;
    // The run above never has two calls at moto at once. Here only writes to the same
    // item or secret wait for each other, which is all DynamoDB itself orders (and all
    // moto needs to keep conditional writes atomic): reads, and writes to different items
    // (the env var secret while the other delivery reads the record, say), overlap.
    w.stack
        .proxy
        .set_serialisation(local::proxy::Serialisation::CollidingWrites);
    w.stack.proxy.reset_calls();
    let contention = race_n_and_n_plus_1(&w).await;
    assert!(
        contention > 0,
        "the deliveries never met: the test exercised no race"
    );
    assert!(
        w.stack.proxy.max_concurrent_at_moto() >= 2,
        "no two AWS calls were ever at moto together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_503_then_503_with_retry_after_and_redelivery_syncs() {
    let w = world().await;
    let d = w.rotate_held();
    let before = w.env().await;
    let link_before = w.link_state().await;
    let fault = w
        .stack
        .heroku
        .inject(Fault::status(&format!("/apps/{}/releases", w.app.id), 503));

    let (status, retry, text) = replay(&w.http, &d).await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(
        retry.as_deref(),
        Some("5"),
        "Heroku named no wait: the sync core's default"
    );
    assert_eq!(w.env().await, before, "nothing written");
    let link = w.link_state().await;
    assert_eq!(link.last_release_version, link_before.last_release_version);
    assert!(
        w.stack
            .app_record(&w.app.id)
            .await
            .unwrap()
            .lease_owner
            .is_none()
    );

    w.stack.heroku.clear_fault(fault);
    assert_eq!(replay(&w.http, &d).await.0, 204);
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_heroku_429_then_5xx_with_retry_after_and_redelivery_syncs() {
    let w = world().await;
    let d = w.rotate_held();
    let before = w.env().await;
    w.stack.heroku.inject(
        Fault::status("/apps", 429)
            .header("Retry-After", "30")
            .header("RateLimit-Remaining", "0"),
    );
    let (status, retry, _) = replay(&w.http, &d).await;
    assert_eq!(status, 503);
    assert_eq!(
        retry.as_deref(),
        Some("30"),
        "Heroku's own wait is passed on"
    );
    assert_eq!(w.env().await, before);

    w.stack.heroku.clear_faults();
    assert_eq!(replay(&w.http, &d).await.0, 204);
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_short_429_then_the_client_waits_once_and_syncs() {
    let w = world().await;
    let d = w.rotate_held();
    w.stack.heroku.inject(
        Fault::status("/apps", 429)
            .header("Retry-After", "1")
            .times(1),
    );
    assert_eq!(replay(&w.http, &d).await.0, 204);
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_aws_unreachable_then_503_and_redelivery_after_recovery_syncs() {
    let w = world().await;
    let d = w.rotate_held();
    let before = w.env().await;

    w.stack.proxy.set_blackhole(true);
    let (status, retry, _) = replay(&w.http, &d).await;
    w.stack.proxy.set_blackhole(false);
    assert_eq!(status, 503);
    assert_eq!(
        retry.as_deref(),
        Some("5"),
        "AWS names no wait: the default"
    );
    assert_eq!(w.env().await, before, "nothing written");

    assert_eq!(replay(&w.http, &d).await.0, 204);
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_secrets_manager_failing_writes_then_503_lease_released_and_retry_syncs() {
    let w = world().await;
    let d = w.rotate_held();
    let before = w.env().await;
    let version_before = w.link_state().await.last_release_version;

    w.stack.proxy.fail("PutSecretValue", 500);
    let (status, retry, _) = replay(&w.http, &d).await;
    assert_eq!(status, 503);
    assert_eq!(
        retry.as_deref(),
        Some("5"),
        "AWS names no wait: the default"
    );
    assert_eq!(w.env().await, before);
    let record = w.stack.app_record(&w.app.id).await.unwrap();
    assert!(
        record.lease_owner.is_none(),
        "the lease is released on failure"
    );
    assert_eq!(
        w.link_state().await.last_release_version,
        version_before,
        "no version recorded for an unwritten value"
    );

    w.stack.proxy.clear();
    assert_eq!(replay(&w.http, &d).await.0, 204);
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_expired_access_token_then_one_refresh_new_tokens_stored_and_sync_succeeds() {
    let w = world().await;
    let tokens_name = w
        .stack
        .svc
        .names
        .heroku_tokens(&shared::domain::ProjectId::parse(PROJECT).unwrap());
    let read_tokens = || async {
        let v = w
            .stack
            .secrets
            .get_secret_value()
            .secret_id(&tokens_name)
            .send()
            .await
            .unwrap();
        serde_json::from_str::<serde_json::Value>(v.secret_string().unwrap()).unwrap()
    };
    let old = read_tokens().await;
    w.stack.heroku.expire_access_tokens(&w.user);
    w.stack.heroku.reset_request_log();

    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
    assert_eq!(
        w.stack.heroku.request_count("POST", "/oauth/token"),
        1,
        "exactly one refresh"
    );
    let new = read_tokens().await;
    assert_ne!(new["access_token"], old["access_token"]);
    assert_ne!(
        new["refresh_token"], old["refresh_token"],
        "the rotated refresh token is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_revoked_authorization_then_2xx_and_link_says_reconnect() {
    let w = world().await;
    let before = w.env().await;
    w.stack.heroku.revoke_all(&w.user);
    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    let deliveries = w.stack.heroku.deliveries();
    assert!(
        deliveries.iter().all(|d| d.attempts == vec![204]),
        "answered 2xx once: {deliveries:?}"
    );
    assert_eq!(w.env().await, before, "unchanged");
    let link = w.link_state().await;
    let error = link.last_error.expect("error recorded");
    assert!(error.to_lowercase().contains("reconnect"), "{error}");
    assert!(!error.contains(&w.heroku_url()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_one_app_linked_to_two_env_vars_and_two_projects_then_every_link_syncs() {
    let w = world().await;
    w.stack
        .link(PROJECT, "SECOND_URL", &w.app.id, "DATABASE_URL")
        .await;
    w.stack.connect("p2", "user-2", &w.user).await;
    w.stack
        .link("p2", "DATABASE_URL", &w.app.name, "DATABASE_URL")
        .await;
    assert_eq!(
        w.stack.heroku.webhooks(&w.app).len(),
        1,
        "one subscription serves every link"
    );

    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    let url = w.heroku_url();
    assert_eq!(w.env().await.unwrap(), url);
    assert_eq!(w.stack.env_value(PROJECT, "SECOND_URL").await.unwrap(), url);
    assert_eq!(w.stack.env_value("p2", "DATABASE_URL").await.unwrap(), url);
}

/// Change events (docs/contract.md, "Change events") through moto: a rule on the stack's
/// bus with a queue as its target receives `Env var synced` for the delivery's write,
/// naming the secret version now current, never the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_rule_on_the_bus_when_a_rotation_is_synced_then_the_change_event_arrives() {
    let w = world().await;
    let events = w.stack.watch_change_events().await;
    let release = w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    let url = w.heroku_url();
    assert_eq!(w.env().await.as_deref(), Some(url.as_str()));

    let got = events.receive(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(e["source"], "heroku-db-url-sync");
    assert_eq!(e["detail-type"], "Env var synced");
    let d = &e["detail"];
    assert_eq!(d["project_id"], PROJECT);
    assert_eq!(d["env_var"], ENV_VAR);
    assert_eq!(d["app_id"], w.app.id.as_str());
    assert_eq!(d["release_version"], release.version);
    // The secret and version the platform reads: what Secrets Manager says is current.
    let name = w
        .stack
        .svc
        .names
        .env_var(&shared::domain::ProjectId::parse(PROJECT).unwrap(), ENV_VAR);
    let current = w
        .stack
        .secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .expect("the env var secret");
    assert_eq!(d["secret_arn"].as_str(), current.arn());
    assert_eq!(d["secret_version_id"].as_str(), current.version_id());
    assert_eq!(e["resources"], serde_json::json!([current.arn()]));
    let link = w.link_state().await;
    let synced_at = time::OffsetDateTime::parse(
        d["synced_at"].as_str().expect("synced_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert_eq!(Some(synced_at), link.last_synced_at);
    assert!(!e.to_string().contains(&url), "never the value");

    // A delivery that writes nothing (a code deploy) announces nothing.
    w.stack.heroku.deploy(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    assert!(
        events
            .receive(1, Duration::from_millis(500))
            .await
            .is_empty(),
        "no write, no event"
    );
}

/// EventBridge failing never makes the env var wrong or the delivery fail: the write is
/// committed, the delivery answered 204 once, and the lost event counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_eventbridge_failing_then_the_delivery_still_syncs_and_the_lost_event_is_counted() {
    let w = world().await;
    let events = w.stack.watch_change_events().await;
    w.stack.proxy.fail("PutEvents", 500);
    let release = w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    assert_eq!(w.env().await, Some(w.heroku_url()));
    assert_eq!(
        w.link_state().await.last_release_version,
        Some(release.version)
    );
    let deliveries = w.stack.heroku.deliveries();
    assert!(
        deliveries
            .iter()
            .all(|d| d.succeeded && d.attempts == vec![204]),
        "{deliveries:?}"
    );
    let failed: u64 = w
        .stack
        .metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.change_events_failed)
        .sum();
    assert_eq!(failed, 1);
    w.stack.proxy.clear();
    assert!(
        events
            .receive(1, Duration::from_millis(500))
            .await
            .is_empty(),
        "not published later behind anyone's back"
    );
}
