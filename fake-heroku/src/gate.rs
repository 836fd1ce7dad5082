//! What every API and OAuth request passes through: latency, faults, the Accept check,
//! bearer auth, the rate limit, `Request-Id` / `RateLimit-Remaining`, and the request log.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::{ApiError, Caller, default_error_body};
use crate::faults::Fault;
use crate::names;
use crate::state::Shared;
use crate::types::RequestRecord;

/// The OAuth paths that belong to id.heroku.com: no Accept check, no bearer token, no rate limit.
fn is_identity_path(path: &str) -> bool {
    path == "/oauth/authorize" || path == "/oauth/token"
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `application/vnd.heroku+json; version=3` (variants such as `version=3.webhooks` included).
fn accepts_v3(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().any(|v| {
        let v: String = v
            .to_str()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        v.contains("application/vnd.heroku+json;version=3")
    })
}

fn fault_response(f: &Fault) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = f
        .body
        .clone()
        .unwrap_or_else(|| default_error_body(f.status));
    let mut resp = (status, axum::Json(body)).into_response();
    for (k, v) in &f.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

pub(crate) async fn gate(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let request_id = names::uuid();
    let identity = is_identity_path(&path);
    let (latency, fault, user_id) = {
        let mut st = s.lock();
        let user = bearer(req.headers())
            .and_then(|t| st.user_for_token(t))
            .map(str::to_owned);
        (
            st.settings.api_latency,
            st.faults.take(&method, &path),
            user,
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut faulted = None;
    if let Some(f) = fault {
        if !f.delay.is_zero() {
            tokio::time::sleep(f.delay).await;
        }
        if f.status != 0 {
            faulted = Some(fault_response(&f));
        }
    }
    let mut resp = match faulted {
        Some(r) => r,
        None if identity => next.run(req).await,
        None => {
            let admitted = if !accepts_v3(req.headers()) {
                Err(ApiError::bad_request(
                    "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
                ))
            } else if let Some(user) = &user_id {
                let mut st = s.lock();
                match st.rate_remaining(user) {
                    0 => Err(ApiError::rate_limit()),
                    n => {
                        st.rate_remaining.insert(user.clone(), n - 1);
                        Ok(())
                    }
                }
            } else {
                Err(ApiError::unauthorized())
            };
            match admitted {
                Ok(()) => {
                    req.extensions_mut().insert(Caller {
                        user_id: user_id.clone().unwrap_or_default(),
                    });
                    next.run(req).await
                }
                Err(e) => e.into_response(),
            }
        }
    };
    let status = resp.status();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", v);
    }
    let mut st = s.lock();
    if !identity && !headers.contains_key("ratelimit-remaining") {
        let remaining = if status == StatusCode::TOO_MANY_REQUESTS {
            0
        } else {
            user_id
                .as_deref()
                .map_or(st.settings.rate_pool, |u| st.rate_remaining(u))
        };
        headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    }
    tracing::info!(%method, %path, status = status.as_u16(), "request");
    st.requests.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        status: status.as_u16(),
        user_id,
        request_id,
    });
    resp
}
