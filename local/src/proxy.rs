//! A fault-injecting HTTP proxy in front of moto: adds a fixed delay per call (benches),
//! fails chosen AWS operations with a status (tests), or black-holes every call so the
//! SDK times out as if the service were unreachable. Counts calls per operation.
//!
//! It also forwards one request at a time. moto_server handles requests on threads and
//! does not lock around a conditional write's check and put, so two racing conditional
//! `PutItem`s can both succeed — which DynamoDB never allows, and which the sync's lease
//! relies on. Serialising restores DynamoDB's atomicity for everything behind the proxy.

use crate::net::{self, Running};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug, Default)]
struct Rules {
    delay: Duration,
    blackhole: bool,
    /// Operation (X-Amz-Target suffix, e.g. `PutSecretValue`) → status to answer.
    fail: BTreeMap<String, u16>,
}

#[derive(Default)]
struct Inner {
    rules: Mutex<Rules>,
    calls: Mutex<BTreeMap<String, usize>>,
    /// Held while a request is at moto (see the module comment).
    upstream: tokio::sync::Mutex<()>,
}

/// A running proxy. Cloning shares it.
#[derive(Clone)]
pub struct FaultProxy {
    inner: Arc<Inner>,
    upstream: String,
    http: reqwest::Client,
    url: String,
    _server: Arc<Running>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The AWS JSON-protocol operation name, from `X-Amz-Target: DynamoDB_20120810.GetItem`.
fn operation(headers: &HeaderMap) -> String {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("other")
        .to_owned()
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let listener = net::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let inner = Arc::new(Inner::default());
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .map_err(std::io::Error::other)?;
        let state = ProxyState {
            inner: inner.clone(),
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: http.clone(),
        };
        let router = Router::new().fallback(forward).with_state(state);
        let running = net::spawn(listener, router);
        Ok(FaultProxy {
            url: running.url(),
            inner,
            upstream: upstream.to_owned(),
            http,
            _server: Arc::new(running),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    pub fn set_delay(&self, d: Duration) {
        lock(&self.inner.rules).delay = d;
    }

    /// While on, requests are held until the client gives up (an unreachable service).
    pub fn set_blackhole(&self, on: bool) {
        lock(&self.inner.rules).blackhole = on;
    }

    /// Answers `operation` with `status` (and an AWS-style error body) until cleared.
    pub fn fail(&self, operation: &str, status: u16) {
        lock(&self.inner.rules)
            .fail
            .insert(operation.to_owned(), status);
    }

    pub fn clear(&self) {
        *lock(&self.inner.rules) = Rules::default();
    }

    /// Calls seen per operation since the last reset.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        lock(&self.inner.calls).clone()
    }

    pub fn total_calls(&self) -> usize {
        lock(&self.inner.calls).values().sum()
    }

    pub fn reset_calls(&self) {
        lock(&self.inner.calls).clear();
    }

    #[doc(hidden)]
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }
}

#[derive(Clone)]
struct ProxyState {
    inner: Arc<Inner>,
    upstream: String,
    http: reqwest::Client,
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&headers);
    *lock(&state.inner.calls).entry(op.clone()).or_default() += 1;
    let rules = lock(&state.inner.rules).clone();
    if rules.blackhole {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    if !rules.delay.is_zero() {
        tokio::time::sleep(rules.delay).await;
    }
    if let Some(status) = rules.fail.get(&op) {
        let code = if *status == 400 {
            "ThrottlingException"
        } else {
            "ServiceUnavailable"
        };
        return (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            [("content-type", "application/x-amz-json-1.0")],
            format!(r#"{{"__type":"{code}","message":"injected by the fault proxy"}}"#),
        )
            .into_response();
    }
    let url = format!(
        "{}{}",
        state.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut req = state.http.request(method, &url).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let at_moto = state.inner.upstream.lock().await;
    let answer = match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            Ok((status, headers, resp.bytes().await.unwrap_or_default()))
        }
        Err(e) => Err(e),
    };
    drop(at_moto);
    match answer {
        Ok((status, headers, bytes)) => {
            let mut out = Response::new(axum::body::Body::from(bytes));
            *out.status_mut() = status;
            for (name, value) in &headers {
                if name != "transfer-encoding" && name != "content-length" && name != "connection" {
                    out.headers_mut().insert(name, value.clone());
                }
            }
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    }
}
