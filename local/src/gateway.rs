//! An emulator of API Gateway's HTTP API (payload format 2.0) for the local stack and
//! tests: matches the routes of docs/contract.md, plays the JWT authorizer, builds the exact
//! event Lambda would receive (request context and claims included), runs it through
//! `lambda_http`'s own deserialisation, calls the real handler, and maps the response.

use crate::jwt::Authorizer;
use crate::net::{self, Running};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use shared::http::{ADMIN_SCOPE, Auth, Function, ROUTES, Route};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

pub type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync>;

/// API Gateway's payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct Gateway {
    mounts: Vec<(Function, Handler)>,
    authorizer: Authorizer,
    always_base64: bool,
    log_requests: bool,
}

/// Wraps an async handler into a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

impl Gateway {
    pub fn new(authorizer: Authorizer) -> Self {
        Gateway {
            mounts: Vec::new(),
            authorizer,
            always_base64: false,
            log_requests: false,
        }
    }

    /// Serves every route of `function` with `handler`.
    pub fn mount(mut self, function: Function, handler: Handler) -> Self {
        self.mounts.push((function, handler));
        self
    }

    /// Serves every route of `function` with a function's real handler.
    pub fn mount_handler<H: shared::lambda::Handler + 'static>(
        self,
        function: Function,
        h: Arc<H>,
    ) -> Self {
        self.mount(
            function,
            handler(move |req| {
                let h = h.clone();
                async move { h.handle(req).await }
            }),
        )
    }

    /// Base64-encode every body, as API Gateway does for payloads it considers binary.
    pub fn always_base64(mut self, on: bool) -> Self {
        self.always_base64 = on;
        self
    }

    pub fn log_requests(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }

    pub fn router(self) -> Router {
        Router::new().fallback(serve).with_state(Arc::new(self))
    }

    pub async fn start(self, addr: SocketAddr) -> std::io::Result<Running> {
        let listener = net::bind(addr).await?;
        Ok(net::spawn(listener, self.router()))
    }
}

fn gateway_error(status: u16, message: &str) -> axum::response::Response {
    (
        axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

/// How API Gateway renders a claim value: strings as-is, lists as `[a b]`.
fn claim_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(claim_string).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

fn is_textual(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.starts_with("text/")
            || ct.contains("json")
            || ct.contains("x-www-form-urlencoded")
            || ct.contains("xml")
    })
}

async fn serve(
    State(gw): State<Arc<Gateway>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let resp = dispatch(&gw, req).await;
    if gw.log_requests {
        tracing::info!(
            target: "gateway",
            "{method} {path} -> {} ({} ms)",
            resp.status().as_u16(),
            started.elapsed().as_millis()
        );
    }
    resp
}

async fn dispatch(gw: &Gateway, req: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();

    let found = gw.mounts.iter().find_map(|(function, handler)| {
        ROUTES
            .iter()
            .filter(|r| r.function == *function)
            .find_map(|r| {
                r.matches(&method, &path)
                    .map(|params| (r, params, handler.clone()))
            })
    });
    let Some((route, params, handler)) = found else {
        return gateway_error(404, "Not Found");
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_PAYLOAD).await else {
        return gateway_error(413, "Request Entity Too Large");
    };

    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }

    let mut jwt: Option<(Map<String, Value>, Vec<String>)> = None;
    if matches!(route.auth, Auth::Jwt | Auth::JwtAdmin) {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let Some(Ok(claims)) = token.map(|t| gw.authorizer.verify(t.trim())) else {
            return gateway_error(401, "Unauthorized");
        };
        let (claims, scopes) = authorizer_claims(&claims);
        if route.auth == Auth::JwtAdmin && !scopes.iter().any(|s| s == ADMIN_SCOPE) {
            return gateway_error(403, "Forbidden");
        }
        jwt = Some((claims, scopes));
    }

    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let event = build_event(EventParts {
        route,
        path: &path,
        query: &query,
        headers,
        cookies,
        params,
        jwt,
        body: &body,
        base64: gw.always_base64
            || !is_textual(content_type)
            || std::str::from_utf8(&body).is_err(),
        request_id: uuid::Uuid::new_v4().to_string(),
        time: time::OffsetDateTime::now_utc(),
    });
    // Through lambda_http's own parser: what a handler sees here is what it sees in AWS.
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "event did not parse");
            return gateway_error(500, "Internal Server Error");
        }
    };
    to_axum(handler(request).await)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    // API Gateway decodes query parameters; rawQueryString keeps the original.
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn to_axum(resp: Response<Body>) -> axum::response::Response {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let mut out = axum::response::Response::new(axum::body::Body::from(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

/// The JWT authorizer's context from verified claims: every claim as a string (API
/// Gateway renders lists as `[a b]`), and the scopes from `scope`/`scp`.
pub fn authorizer_claims(claims: &Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let scopes: Vec<String> = ["scope", "scp"]
        .iter()
        .filter_map(|c| claims.get(*c))
        .flat_map(|v| match v {
            Value::Array(a) => a.iter().map(claim_string).collect::<Vec<_>>(),
            other => claim_string(other).split(' ').map(str::to_owned).collect(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    let claims = claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(claim_string(v))))
        .collect();
    (claims, scopes)
}

/// Everything API Gateway puts into an HTTP API (payload format 2.0) event.
pub struct EventParts<'a> {
    pub route: &'a Route,
    pub path: &'a str,
    pub query: &'a str,
    /// Lower-case names; repeated headers joined with commas.
    pub headers: Map<String, Value>,
    pub cookies: Vec<Value>,
    pub params: HashMap<String, String>,
    /// Stringified claims and scopes, for routes behind the JWT authorizer.
    pub jwt: Option<(Map<String, Value>, Vec<String>)>,
    pub body: &'a [u8],
    /// Base64-encode the body (API Gateway does for payloads it considers binary).
    pub base64: bool,
    pub request_id: String,
    pub time: time::OffsetDateTime,
}

/// The event exactly as API Gateway would hand it to Lambda.
pub fn build_event(p: EventParts<'_>) -> Value {
    let body = match (p.body.is_empty(), p.base64, std::str::from_utf8(p.body)) {
        (true, _, _) => Value::Null,
        (false, false, Ok(text)) => Value::String(text.to_owned()),
        _ => Value::String(STANDARD.encode(p.body)),
    };
    let is_base64 = !p.body.is_empty() && (p.base64 || std::str::from_utf8(p.body).is_err());
    let mut query_params: Map<String, Value> = Map::new();
    for (k, v) in url_pairs(p.query) {
        match query_params.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query_params.insert(k, Value::String(v));
            }
        }
    }
    let host = p
        .headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_owned();
    let user_agent = p
        .headers
        .get("user-agent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let authorizer = match p.jwt {
        Some((claims, scopes)) => json!({ "jwt": {
            "claims": claims,
            "scopes": if scopes.is_empty() { Value::Null } else { json!(scopes) },
        }}),
        None => Value::Null,
    };
    let mut params: Vec<(String, String)> = p.params.into_iter().collect();
    params.sort();
    let params: Map<String, Value> = params
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": p.route.key(),
        "rawPath": p.path,
        "rawQueryString": p.query,
        "cookies": if p.cookies.is_empty() { Value::Null } else { Value::Array(p.cookies) },
        "headers": p.headers,
        "queryStringParameters": if query_params.is_empty() { Value::Null } else { Value::Object(query_params) },
        "pathParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "authorizer": authorizer,
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or("localhost"),
            "http": {
                "method": p.route.method,
                "path": p.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": p.request_id,
            "routeKey": p.route.key(),
            "stage": "$default",
            "time": p.time.format(time::macros::format_description!(
                "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
            )).unwrap_or_default(),
            "timeEpoch": p.time.unix_timestamp() * 1000,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}
