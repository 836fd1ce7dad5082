//! Shared set-up for the webhook tests: a local stack with the webhook handler mounted,
//! one Heroku user with one Postgres app, and project `p1` linked to it.

#![allow(dead_code)]

use fake_heroku::{Addon, App, DeliveryMode, HeldDelivery, User};
use local::fixture::Stack;
use local::gateway::handler;
use shared::http::Function;
use std::sync::Arc;
use webhook::Webhook;

pub const PROJECT: &str = "p1";
pub const ENV_VAR: &str = "PG_DATABASE_URL";

pub struct World {
    pub stack: Stack,
    pub user: User,
    pub app: App,
    pub addon: Addon,
    pub http: reqwest::Client,
}

pub async fn stack() -> Stack {
    Stack::start(Box::new(|svc, gw| {
        let hook = Arc::new(Webhook::new(svc));
        gw.mount(
            Function::Webhook,
            handler(move |req| {
                let hook = hook.clone();
                async move { hook.handle(req).await }
            }),
        )
    }))
    .await
}

/// A stack with `p1/PG_DATABASE_URL` linked to DATABASE_URL of a fresh app.
pub async fn world() -> World {
    let stack = stack().await;
    let user = stack.heroku.create_user("owner@example.com");
    let app = stack.heroku.create_app(&user, "sample-app");
    let addon = stack
        .heroku
        .add_postgres(&app, "heroku-postgresql:essential-0");
    stack.connect(PROJECT, "user-1", &user).await;
    stack
        .link(PROJECT, ENV_VAR, &app.name, "DATABASE_URL")
        .await;
    World {
        stack,
        user,
        app,
        addon,
        http: reqwest::Client::new(),
    }
}

impl World {
    /// The app's current DATABASE_URL at the fake Heroku.
    pub fn heroku_url(&self) -> String {
        self.stack
            .heroku
            .config_var(&self.app, "DATABASE_URL")
            .expect("DATABASE_URL")
    }

    pub async fn env(&self) -> Option<String> {
        self.stack.env_value(PROJECT, ENV_VAR).await
    }

    /// Rotates with delivery held, returning the delivery Heroku would have sent.
    pub fn rotate_held(&self) -> HeldDelivery {
        self.stack.heroku.set_delivery_mode(DeliveryMode::Hold);
        self.stack.heroku.rotate_credentials(&self.app);
        let mut held = self.stack.heroku.take_held();
        assert_eq!(held.len(), 1, "one subscription, one delivery");
        held.remove(0)
    }

    pub async fn link_state(&self) -> shared::domain::Link {
        let record = self
            .stack
            .app_record(&self.app.id)
            .await
            .expect("app record");
        record
            .links
            .values()
            .find(|l| l.project_id.as_str() == PROJECT && l.env_var.as_str() == ENV_VAR)
            .cloned()
            .expect("link")
    }
}

/// Sends a held delivery as Heroku would (same body, same headers).
pub async fn replay(http: &reqwest::Client, d: &HeldDelivery) -> (u16, Option<String>, String) {
    send(
        http,
        &d.url,
        &d.body,
        d.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    )
    .await
}

/// POSTs `body` with `headers`; returns status, Retry-After and body text.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: Vec<(&str, &str)>,
) -> (u16, Option<String>, String) {
    let mut req = http.post(url).body(body.to_vec());
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("host") {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.expect("gateway answers");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, retry, resp.text().await.unwrap_or_default())
}

pub fn signed(key: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_owned()),
        (
            "heroku-webhook-hmac-sha256",
            webhook::signature::sign(key.as_bytes(), body),
        ),
    ]
}
