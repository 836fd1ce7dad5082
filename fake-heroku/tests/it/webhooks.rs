//! Webhook delivery: envelope, signature over the raw bytes, sync retries, Hold mode.

use crate::common;

use std::time::Duration;

use crate::common::{Api, Receiver, hmac_b64, setup};
use fake_heroku::{App, DeliveryMode, FakeHeroku};
use serde_json::{Value, json};

const SECRET: &str = "0123456789abcdef";

async fn subscribe(api: &Api, app: &App, url: &str, level: &str) -> String {
    let r = api
        .post(
            &format!("/apps/{}/webhooks", app.name),
            json!({ "include": ["api:release"], "level": level, "url": url, "secret": SECRET, "authorization": "Bearer hook-token" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn fast_retries(heroku: &FakeHeroku) {
    heroku.set_retry_schedule(vec![Duration::from_millis(20), Duration::from_millis(40)]);
}

#[tokio::test]
async fn a_rotation_is_delivered_signed_over_the_raw_body() {
    let (heroku, user, _t, api) = setup().await;
    let rx = Receiver::start().await;
    let app = heroku.create_app(&user, "hooked");
    let hook_id = subscribe(&api, &app, &rx.url, "sync").await;
    heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let rel = heroku.rotate_credentials(&app);
    assert!(heroku.wait_deliveries_settled(Duration::from_secs(5)).await);

    let got = rx.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 2, "provisioning and rotation, one each");
    let last = &got[1];
    assert_eq!(
        last.header("heroku-webhook-hmac-sha256").unwrap(),
        hmac_b64(SECRET, &last.body)
    );
    assert_eq!(last.header("authorization"), Some("Bearer hook-token"));
    assert_eq!(last.header("content-type"), Some("application/json"));
    let env = last.json();
    assert_eq!(
        last.header("heroku-webhook-id"),
        env["webhook_metadata"]["delivery"]["id"].as_str()
    );
    assert_eq!(env["action"], "create");
    assert_eq!(env["resource"], "release");
    assert_eq!(env["version"], "application/vnd.heroku+json; version=3");
    assert_eq!(env["id"], env["webhook_metadata"]["event"]["id"]);
    assert_eq!(env["webhook_metadata"]["event"]["include"], "api:release");
    assert_eq!(env["webhook_metadata"]["webhook"]["id"], hook_id.as_str());
    assert_eq!(env["actor"]["email"], "heroku-postgresql@addons.heroku.com");
    assert_eq!(env["previous_data"], json!({}));
    for null in ["published_at", "sequence"] {
        assert_eq!(env[null], Value::Null, "{null}");
    }
    let data = &env["data"];
    assert_eq!(data["id"], rel.id.as_str());
    assert_eq!(data["version"].as_u64(), Some(rel.version));
    assert_eq!(data["status"], "succeeded");
    assert_eq!(data["current"], true);
    assert_eq!(data["description"], "Update DATABASE by heroku-postgresql");
    assert_eq!(data["app"], json!({ "id": app.id, "name": "hooked" }));
    assert_eq!(
        data["addon_plan_names"],
        json!(["heroku-postgresql:essential-0"])
    );
    assert_eq!(data["slug"], Value::Null);

    // The example delivery in Heroku's docs has exactly these top-level keys.
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../events/heroku/example-api-release-create.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&env), keys(&example));
    for k in keys(&example["data"]) {
        assert!(data.get(&k).is_some(), "data lacks {k}");
    }
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_delivery_id_and_a_new_attempt() {
    let (heroku, user, _t, api) = setup().await;
    fast_retries(&heroku);
    let rx = Receiver::start().await;
    let app = heroku.create_app(&user, "retried");
    subscribe(&api, &app, &rx.url, "sync").await;
    rx.answer(&[500]);
    heroku.set_config_var(&app, "X", Some("1"));
    assert!(heroku.wait_deliveries_settled(Duration::from_secs(5)).await);

    let got = rx.received();
    assert_eq!(got.len(), 2);
    let (a, b) = (got[0].json(), got[1].json());
    assert_eq!(
        a["webhook_metadata"]["delivery"]["id"],
        b["webhook_metadata"]["delivery"]["id"]
    );
    assert_ne!(
        a["webhook_metadata"]["attempt"]["id"],
        b["webhook_metadata"]["attempt"]["id"]
    );
    assert_ne!(got[0].body, got[1].body);
    for g in &got {
        assert_eq!(
            g.header("heroku-webhook-hmac-sha256").unwrap(),
            hmac_b64(SECRET, &g.body)
        );
    }
    let d = heroku.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].attempts, vec![500, 204]);
    assert!(d[0].succeeded);
}

#[tokio::test]
async fn sync_gives_up_after_the_schedule_and_notify_tries_once() {
    let (heroku, user, _t, api) = setup().await;
    fast_retries(&heroku);
    let sync_rx = Receiver::start().await;
    let notify_rx = Receiver::start().await;
    let app = heroku.create_app(&user, "failing");
    subscribe(&api, &app, &sync_rx.url, "sync").await;
    subscribe(&api, &app, &notify_rx.url, "notify").await;
    sync_rx.answer(&[503, 503, 503]);
    notify_rx.answer(&[500]);
    heroku.deploy(&app);
    assert!(heroku.wait_deliveries_settled(Duration::from_secs(5)).await);
    let mut attempts: Vec<Vec<u16>> = heroku
        .deliveries()
        .into_iter()
        .map(|d| d.attempts)
        .collect();
    attempts.sort();
    assert_eq!(attempts, vec![vec![500], vec![503, 503, 503]]);
    assert!(heroku.deliveries().iter().all(|d| !d.succeeded && d.done));

    // No listener at all: attempts record 0.
    let dead = heroku.create_app(&user, "dead-end");
    subscribe(&api, &dead, "http://127.0.0.1:9/nothing", "sync").await;
    heroku.deploy(&dead);
    assert!(heroku.wait_deliveries_settled(Duration::from_secs(5)).await);
    let d = heroku
        .deliveries()
        .into_iter()
        .find(|d| d.app_id == dead.id)
        .unwrap();
    assert_eq!(d.attempts, vec![0, 0, 0]);
}

#[tokio::test]
async fn hold_mode_queues_exactly_what_would_be_sent() {
    let (heroku, user, _t, api) = setup().await;
    let rx = Receiver::start().await;
    let app = heroku.create_app(&user, "held");
    subscribe(&api, &app, &rx.url, "sync").await;
    heroku.set_delivery_mode(DeliveryMode::Hold);
    let pending = heroku.create_release(&app, "pending");
    let failed = heroku.create_release(&app, "failed");
    let held = heroku.take_held();
    assert!(heroku.take_held().is_empty(), "taking empties the queue");
    assert_eq!(held.len(), 2);
    assert_eq!(held[0].version, pending.version);
    assert_eq!(held[1].version, failed.version);
    assert_eq!(held[0].url, rx.url);
    let body: Value = serde_json::from_slice(&held[0].body).unwrap();
    assert_eq!(body["data"]["status"], "pending");
    assert_eq!(body["data"]["current"], false);
    assert_eq!(
        held[0].header("Heroku-Webhook-Hmac-SHA256").unwrap(),
        hmac_b64(SECRET, &held[0].body)
    );
    assert_eq!(
        held[0].header("heroku-webhook-id"),
        Some(held[0].delivery_id.as_str())
    );
    assert!(
        heroku
            .wait_deliveries_settled(Duration::from_millis(50))
            .await,
        "held ones do not count"
    );
    // Hold mode decides when the release is made: each delivery is logged as held and
    // never queued for sending. The fake's own log shows it; no sleep needed to find out.
    let deliveries: Vec<_> = heroku
        .deliveries()
        .into_iter()
        .filter(|d| d.app_id == app.id)
        .collect();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries.iter().all(|d| d.held && d.attempts.is_empty()),
        "{deliveries:?}"
    );
    assert!(rx.received().is_empty(), "nothing sent in Hold mode");

    // Replaying a held delivery by hand is what a test of the receiver does.
    let mut req = common::http().post(&held[1].url).body(held[1].body.clone());
    for (k, v) in &held[1].headers {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 204);
    let got = rx.received();
    assert_eq!(got[0].body.as_ref(), held[1].body.as_slice());

    // One worker sends a subscription's deliveries in release order, so once a later,
    // sent delivery has arrived, a held one sent by mistake would have arrived before it:
    // event-based proof that nothing held was sent, where a sleep could only make it
    // likely.
    heroku.set_delivery_mode(DeliveryMode::Auto);
    let marker = heroku.create_release(&app, "succeeded");
    let got = rx.wait_for(2, Duration::from_secs(20)).await;
    let versions: Vec<u64> = got
        .iter()
        .map(|r| r.json()["data"]["version"].as_u64().expect("version"))
        .collect();
    assert_eq!(
        versions,
        vec![failed.version, marker.version],
        "the hand replay, then the first delivery ever sent"
    );
}

#[tokio::test]
async fn webhook_crud_validates_and_generates_a_secret_when_none_is_given() {
    let (heroku, user, _t, api) = setup().await;
    let app = heroku.create_app(&user, "crud");
    let r = api
        .post(
            "/apps/crud/webhooks",
            json!({ "include": ["api:release"], "level": "sync", "url": "https://example.com/h" }),
        )
        .await;
    assert_eq!(r.status, 201);
    let generated = r
        .header("heroku-webhook-secret")
        .expect("generated secret header")
        .to_owned();
    assert_eq!(generated.len(), 60);
    assert_eq!(
        heroku.webhooks(&app)[0].secret.as_deref(),
        Some(generated.as_str())
    );
    let dup = api
        .post(
            "/apps/crud/webhooks",
            json!({ "include": ["api:release"], "level": "sync", "url": "https://example.com/h" }),
        )
        .await;
    assert_eq!(dup.status, 409);

    for bad in [
        json!({ "include": [], "level": "sync", "url": "https://example.com/a" }),
        json!({ "include": ["api:nonsense"], "level": "sync", "url": "https://example.com/a" }),
        json!({ "include": ["api:release"], "level": "loud", "url": "https://example.com/a" }),
        json!({ "include": ["api:release"], "level": "sync", "url": "ftp://example.com/a" }),
        json!({ "include": ["api:release"], "level": "sync" }),
        json!({ "include": ["api:release"], "level": "sync", "url": "https://example.com/a", "extra": 1 }),
    ] {
        let r = api.post("/apps/crud/webhooks", bad.clone()).await;
        assert_eq!(
            (r.status, r.body["id"].as_str()),
            (422, Some("invalid_params")),
            "{bad}"
        );
    }

    let id = r.body["id"].as_str().unwrap();
    let with_secret = api
        .patch(
            &format!("/apps/crud/webhooks/{id}"),
            json!({ "secret": "new" }),
        )
        .await;
    assert_eq!(with_secret.status, 200);
    assert!(with_secret.header("heroku-webhook-secret").is_none());
    assert_eq!(heroku.webhooks(&app)[0].secret.as_deref(), Some("new"));
    assert_eq!(
        api.delete(&format!("/apps/crud/webhooks/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/apps/crud/webhooks/{id}")).await.status,
        404
    );
    assert!(heroku.webhooks(&app).is_empty());
}

#[tokio::test]
async fn deliveries_to_one_subscription_arrive_in_release_order() {
    let (heroku, user, _t, api) = setup().await;
    heroku.set_retry_schedule(vec![Duration::from_millis(50)]);
    let rx = Receiver::start().await;
    let app = heroku.create_app(&user, "ordered");
    subscribe(&api, &app, &rx.url, "sync").await;
    rx.answer(&[500]);
    let versions: Vec<u64> = (0..5)
        .map(|i| {
            heroku
                .set_config_var(&app, "N", Some(&i.to_string()))
                .version
        })
        .collect();
    assert!(heroku.wait_deliveries_settled(Duration::from_secs(5)).await);
    let seen: Vec<u64> = rx
        .received()
        .iter()
        .map(|r| r.json()["data"]["version"].as_u64().unwrap())
        .collect();
    // The first is retried before the rest go out.
    let mut expected = vec![versions[0]];
    expected.extend(&versions);
    assert_eq!(seen, expected);
}
