//! HTTP plumbing shared by the functions: finding a request's route, serving it inside a
//! span, JSON bodies and responses. The route table, the caller and the error type live in
//! their own modules and are re-exported here.

mod caller;
mod errors;
mod routes;

pub use crate::access::{ADMIN_SCOPE, Caller, OWNER_ROLE};
pub use caller::{caller, project_caller};
pub use errors::ApiError;
pub use routes::{Auth, FUNCTIONS, Function, ROUTES, Route, RouteId};

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::collections::HashMap;

/// Finds the route a request was sent to: by API Gateway's route key when present,
/// else by matching method and path. Returns the route and its path parameters.
pub fn resolve(
    req: &Request,
    function: Function,
) -> Option<(&'static Route, HashMap<String, String>)> {
    let candidates = ROUTES.iter().filter(|r| r.function == function);
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(key) = ctx.route_key.as_deref().filter(|k| *k != "$default")
    {
        let route = candidates.clone().find(|r| r.key() == key)?;
        let params = req
            .path_parameters_ref()
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        return Some((route, params));
    }
    let path = req.raw_http_path();
    let path = if path.is_empty() {
        req.uri().path()
    } else {
        path
    };
    let method = req.method().as_str();
    candidates
        .into_iter()
        .find_map(|r| r.matches(method, path).map(|p| (r, p)))
}

/// Serves one request to `function`: a span carrying the request id, route and project
/// (the webhook adds app, version and delivery), 404 for routes that are not this
/// function's, and errors answered as JSON.
pub async fn serve<F, Fut>(req: &Request, function: Function, dispatch: F) -> Response<Body>
where
    F: FnOnce(&'static Route, HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = Result<Response<Body>, ApiError>>,
{
    use tracing::Instrument;
    let request_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let span = tracing::info_span!(
        "request",
        function = function.name(),
        request_id = request_id.as_deref().unwrap_or(""),
        route = tracing::field::Empty,
        project_id = tracing::field::Empty,
        app_id = tracing::field::Empty,
        version = tracing::field::Empty,
        delivery_id = tracing::field::Empty,
    );
    async {
        let Some((route, params)) = resolve(req, function) else {
            return ApiError::not_found("no such route").into_response();
        };
        let span = tracing::Span::current();
        span.record("route", route.key().as_str());
        if let Some(p) = params.get("project_id") {
            span.record("project_id", p.as_str());
        }
        let resp = dispatch(route, params)
            .await
            .unwrap_or_else(ApiError::into_response);
        // Successes are in API Gateway's access log already; a log line each would cost
        // ingestion on every delivery (BENCHMARKS.md counts the bytes).
        let status = resp.status().as_u16();
        match status {
            500.. => tracing::warn!(status, "answered"),
            400..=499 => tracing::info!(status, "answered"),
            _ => tracing::debug!(status, "answered"),
        }
        resp
    }
    .instrument(span)
    .await
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    let bytes = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::Text(bytes))
        .unwrap_or_default()
}

pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .unwrap_or_default()
}

pub fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(302)
        .header(http::header::LOCATION, location)
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .unwrap_or_default()
}

/// Parses a JSON request body into `T`: 413 past `limit` bytes, 400 for malformed JSON
/// or a missing field, with serde's message (it never quotes the input).
pub fn json_body<T: serde::de::DeserializeOwned>(
    req: &Request,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > limit {
        return Err(ApiError::too_large(format!(
            "the body may be at most {limit} bytes"
        )));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}
