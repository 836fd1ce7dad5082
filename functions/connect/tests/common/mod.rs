//! A local stack with the connect and webhook handlers mounted, and an HTTP client that
//! speaks to it with the platform's JWTs.

#![allow(dead_code)]

use local::fixture::Stack;
use local::gateway::handler;
use serde_json::Value;
use shared::http::Function;
use std::sync::Arc;
use std::time::Duration;

pub async fn stack() -> Stack {
    Stack::start(Box::new(|svc, gw| {
        let connect = Arc::new(connect::Connect::new(svc.clone()));
        let hook = Arc::new(webhook::Webhook::new(svc));
        gw.mount(
            Function::Connect,
            handler(move |req| {
                let c = connect.clone();
                async move { c.handle(req).await }
            }),
        )
        .mount(
            Function::Webhook,
            handler(move |req| {
                let h = hook.clone();
                async move { h.handle(req).await }
            }),
        )
    }))
    .await
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub location: Option<String>,
    pub retry_after: Option<String>,
}

impl Client {
    pub fn new(stack: &Stack, sub: &str, project: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: stack.url(),
            token: Some(local::jwt::mint_for(
                &stack.jwt_secret,
                sub,
                project,
                &[],
                Duration::from_secs(600),
            )),
        }
    }

    pub fn anonymous(stack: &Stack) -> Client {
        Client {
            token: None,
            ..Client::new(stack, "x", "x")
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut req = self.http.request(method.parse().unwrap(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("answer");
        let status = resp.status().as_u16();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let retry_after = header("retry-after");
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            json,
            location,
            retry_after,
        }
    }
}

/// The query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Polls `check` until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
