//! Rotating the webhook signing key (docs/contract.md, "Signing key"): the route, the
//! overlap (the previous key stays accepted), the re-keying by the reconciler's pass, and
//! a second rotation retiring the oldest key. No delivery fails on the way.

use crate::*;
use local::client::Client;
use shared::ports::{STAGE_CURRENT, SecretVault};

async fn current_key(w: &World) -> (String, Option<String>) {
    use secrecy::ExposeSecret;
    let vault = shared::adapters::SecretsManagerVault::new(w.stack.secrets.clone());
    let id = w.stack.config.webhook_signing_key_id.clone().unwrap();
    let (value, version) = vault
        .read_stage(&id, STAGE_CURRENT)
        .await
        .unwrap()
        .expect("a current key");
    (value.expose_secret().to_owned(), version)
}

fn hook_secret(w: &World) -> String {
    w.stack.heroku.webhooks(&w.app)[0]
        .secret
        .clone()
        .expect("the subscription's secret")
}

async fn rotate_and_settle(w: &World) {
    w.stack.heroku.rotate_credentials(&w.app);
    assert!(
        w.stack
            .heroku
            .wait_deliveries_settled(Duration::from_secs(20))
            .await
    );
    let deliveries = w.stack.heroku.deliveries();
    assert!(
        deliveries.iter().all(|d| d.succeeded),
        "no delivery fails: {deliveries:?}"
    );
    assert_eq!(w.env().await.unwrap(), w.heroku_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_rotation_then_deliveries_never_fail_and_the_pass_rekeys_every_subscription() {
    let w = world().await;
    let (k1, v1) = current_key(&w).await;
    assert_eq!(hook_secret(&w), k1);
    let r = reconciler(&w.stack, settings());
    let admin = Client::new(&w.stack, "platform", PROJECT, &["integrations/admin"]);

    // Only the platform rotates.
    let owner = Client::new(&w.stack, "user-1", PROJECT, &[]);
    let denied = owner
        .call("POST", "/webhook-signing-key/rotations", None)
        .await;
    assert_eq!(denied.status, 403, "{}", denied.json);
    assert_eq!(current_key(&w).await.0, k1, "nothing rotated");

    let a = admin
        .call("POST", "/webhook-signing-key/rotations", None)
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    let (k2, v2) = current_key(&w).await;
    assert_ne!(k2, k1);
    assert_eq!(a.json["key_version"].as_str(), v2.as_deref());

    // The subscription still signs with k1, now the previous key: accepted.
    assert_eq!(hook_secret(&w), k1);
    rotate_and_settle(&w).await;

    // The pass gives it k2 and records the version.
    pass(&r).await;
    assert_eq!(hook_secret(&w), k2, "re-keyed");
    let record = w.stack.app_record(&w.app.id).await.unwrap();
    assert_eq!(record.subscription.unwrap().key_version, v2);
    assert_ne!(v1, v2);
    rotate_and_settle(&w).await;

    // A second rotation: k3 current, k2 previous, k1 retired.
    assert_eq!(
        admin
            .call("POST", "/webhook-signing-key/rotations", None)
            .await
            .status,
        202
    );
    let (k3, _) = current_key(&w).await;
    rotate_and_settle(&w).await; // still signed with k2: accepted
    let body = br#"{"resource":"release","action":"update","data":{"app":{"id":"x"},"version":1,"status":"succeeded"}}"#;
    let stale = webhook::signature::sign(k1.as_bytes(), body);
    let refused = reqwest::Client::new()
        .post(format!("{}/webhooks/heroku", w.stack.url()))
        .header("heroku-webhook-hmac-sha256", stale)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401, "the retired key is refused");
    pass(&r).await;
    assert_eq!(hook_secret(&w), k3);
    rotate_and_settle(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_secrets_managers_rotation_then_its_four_steps_leave_the_same_overlap() {
    let w = world().await;
    let (k1, _) = current_key(&w).await;
    let r = reconciler(&w.stack, settings()).with_rotation(w.stack.secrets.clone());
    let arn = w
        .stack
        .secrets
        .describe_secret()
        .secret_id(w.stack.config.webhook_signing_key_id.clone().unwrap())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let token = uuid::Uuid::new_v4().to_string();
    for step in [
        "createSecret",
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
    ] {
        let event = serde_json::json!({"SecretId": arn, "ClientRequestToken": token, "Step": step});
        r.handle(event)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    let (k2, v2) = current_key(&w).await;
    assert_ne!(k2, k1, "a new key is current");
    assert_eq!(v2.as_deref(), Some(token.as_str()));
    // The subscription still signs with k1 (previous): accepted; then re-keyed.
    rotate_and_settle(&w).await;
    pass(&r).await;
    assert_eq!(hook_secret(&w), k2);
    rotate_and_settle(&w).await;

    // Another secret is not this function's to rotate.
    let other = serde_json::json!({"SecretId": "someone-elses-secret", "ClientRequestToken": token, "Step": "createSecret"});
    assert!(r.handle(other).await.is_err());
}
