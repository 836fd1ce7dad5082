//! Webhook delivery: the `api:release` envelope, its HMAC signature, sending and sync retries.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::names;
use crate::render;
use crate::state::{ReleaseRec, Shared, State};
use crate::types::{DeliveryInfo, DeliveryMode, HeldDelivery};

/// One delivery owed to one subscription; every attempt re-renders it with a new attempt id.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryJob {
    pub(crate) delivery_id: String,
    pub(crate) webhook_id: String,
    pub(crate) url: String,
    pub(crate) secret: Option<String>,
    pub(crate) authorization: Option<String>,
    /// `sync` subscriptions are retried; `notify` ones get a single attempt.
    pub(crate) sync: bool,
    pub(crate) envelope: Value,
}

/// base64(HMAC-SHA256(secret, body)), the `Heroku-Webhook-Hmac-SHA256` header value.
pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The deliveries a new release owes; in Hold mode they are queued for the test instead.
pub(crate) fn jobs_for_release(st: &mut State, app_id: &str, rel: &ReleaseRec) -> Vec<DeliveryJob> {
    let Some(app) = st.apps.get(app_id) else {
        return Vec::new();
    };
    let data = render::release(app, rel);
    // One event per release, shared by every subscription's delivery (as `id` and `event.id`).
    let event_id = names::uuid();
    let subscribers: Vec<_> = st
        .webhooks
        .values()
        .filter(|w| w.app_id == app_id && w.include.iter().any(|i| i == "api:release"))
        .cloned()
        .collect();
    let mut jobs = Vec::new();
    for wh in subscribers {
        let delivery_id = names::uuid();
        let envelope = json!({
            "action": "create",
            "actor": { "email": rel.actor.email, "id": rel.actor.id },
            "created_at": rel.created_at,
            "id": event_id,
            "data": data,
            "previous_data": {},
            "published_at": null,
            "resource": "release",
            "sequence": null,
            "updated_at": rel.created_at,
            "version": "application/vnd.heroku+json; version=3",
            "webhook_metadata": {
                "attempt": { "id": null },
                "delivery": { "id": delivery_id },
                "event": { "id": event_id, "include": "api:release" },
                "webhook": { "id": wh.id },
            },
        });
        let job = DeliveryJob {
            delivery_id: delivery_id.clone(),
            webhook_id: wh.id.clone(),
            url: wh.url.clone(),
            secret: wh.secret.clone(),
            authorization: wh.authorization.clone(),
            sync: wh.level == "sync",
            envelope,
        };
        let held = st.settings.delivery_mode == DeliveryMode::Hold;
        st.deliveries.push(DeliveryInfo {
            delivery_id: delivery_id.clone(),
            webhook_id: wh.id.clone(),
            app_id: app_id.to_owned(),
            version: rel.version,
            url: wh.url.clone(),
            attempts: Vec::new(),
            succeeded: false,
            done: false,
            held,
        });
        if held {
            let (body, headers) = render_attempt(&job);
            st.held.push(HeldDelivery {
                url: wh.url.clone(),
                body,
                headers,
                delivery_id,
                webhook_id: wh.id.clone(),
                app_id: app_id.to_owned(),
                version: rel.version,
            });
        } else {
            jobs.push(job);
        }
    }
    jobs
}

/// One attempt's body and headers: a fresh attempt id, so a fresh body and signature.
pub(crate) fn render_attempt(job: &DeliveryJob) -> (Vec<u8>, Vec<(String, String)>) {
    let mut envelope = job.envelope.clone();
    envelope["webhook_metadata"]["attempt"]["id"] = Value::String(names::uuid());
    let body = serde_json::to_vec(&envelope).expect("a JSON value serialises");
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(secret) = &job.secret {
        headers.push(("Heroku-Webhook-Hmac-SHA256".to_owned(), sign(secret, &body)));
    }
    headers.push(("Heroku-Webhook-Id".to_owned(), job.delivery_id.clone()));
    if let Some(auth) = &job.authorization {
        headers.push(("Authorization".to_owned(), auth.clone()));
    }
    (body, headers)
}

/// One subscription's deliveries, one after another. It holds the fake only weakly while
/// idle, so dropping the fake ends it.
pub(crate) async fn worker(shared: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<DeliveryJob>) {
    while let Some(job) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        run(shared, job).await;
    }
}

/// Sends a delivery, retrying a `sync` one per the retry schedule until a 2xx or the end.
async fn run(shared: Arc<Shared>, job: DeliveryJob) {
    let schedule = shared.lock().settings.retry_schedule.clone();
    let tries = if job.sync { 1 + schedule.len() } else { 1 };
    for i in 0..tries {
        if i > 0 {
            tokio::time::sleep(schedule[i - 1]).await;
        }
        let (body, headers) = render_attempt(&job);
        let status = send(&shared.http, &job.url, body, &headers).await;
        let ok = (200..300).contains(&status);
        tracing::info!(delivery_id = %job.delivery_id, url = %job.url, attempt = i + 1, status, "webhook delivery attempt");
        let mut st = shared.lock();
        if let Some(d) = st
            .deliveries
            .iter_mut()
            .find(|d| d.delivery_id == job.delivery_id)
        {
            d.attempts.push(status);
            d.succeeded = ok;
            d.done = ok || i + 1 == tries;
        }
        if ok {
            return;
        }
    }
    tracing::info!(delivery_id = %job.delivery_id, url = %job.url, "webhook delivery gave up");
}

/// The response status, or 0 when there was none (refused, reset, timed out).
async fn send(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(String, String)],
) -> u16 {
    let mut req = http.post(url).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            // Drain the body so the connection can be reused.
            let _ = resp.bytes().await;
            status
        }
        Err(e) => {
            tracing::debug!(%url, error = %e, "webhook delivery got no answer");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_sha256() {
        // RFC 4231 test case 2.
        let sig = sign("Jefe", b"what do ya want for nothing?");
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .unwrap();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }
}
