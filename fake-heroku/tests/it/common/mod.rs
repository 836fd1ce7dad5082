//! Helpers the integration tests share: an API client, a webhook receiver, the schema checker.
#![allow(dead_code)] // each test binary uses a different subset

pub mod schema;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::serve::ListenerExt;
use fake_heroku::{FakeHeroku, Tokens, User};
use serde_json::Value;

pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A Platform API client acting as one user.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Api {
    pub fn new(heroku: &FakeHeroku, token: &str) -> Api {
        Api {
            http: http(),
            base: heroku.url(),
            token: token.to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        range: Option<&str>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Accept", ACCEPT)
            .bearer_auth(&self.token);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(body), None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send("PATCH", path, Some(body), None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None, None).await
    }
}

/// Heroku OAuth client ids are UUIDs (the schema says so).
pub const CLIENT_ID: &str = "3e7a6d4c-1b2f-4c8e-9a0d-5f6e7d8c9b0a";
pub const CLIENT_SECRET: &str = "client-secret-1";
pub const REDIRECT_URI: &str = "http://localhost:9999/callback";

/// A fake with one registered client and one user holding tokens for it.
pub async fn setup() -> (FakeHeroku, User, Tokens, Api) {
    let heroku = FakeHeroku::start().await;
    heroku.register_client(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
    let user = heroku.create_user("owner@example.com");
    let tokens = heroku.issue_tokens(&user, CLIENT_ID);
    let api = Api::new(&heroku, &tokens.access_token);
    (heroku, user, tokens, api)
}

/// One request a webhook receiver got: headers and the raw body bytes.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A tiny webhook receiver: records every request and answers with the queued statuses, then 204.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub statuses: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let statuses: Arc<Mutex<Vec<u16>>> = Arc::default();
        let (g, s) = (Arc::clone(&got), Arc::clone(&statuses));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (g, s) = (Arc::clone(&g), Arc::clone(&s));
                async move {
                    g.lock().unwrap().push(Received { headers, body });
                    let mut s = s.lock().unwrap();
                    let code = if s.is_empty() { 204 } else { s.remove(0) };
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, got, statuses }
    }

    /// The next answers, in order, before falling back to 204.
    pub fn answer(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend_from_slice(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// base64(HMAC-SHA256(secret, body)), computed here independently of the fake.
pub fn hmac_b64(secret: &str, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
