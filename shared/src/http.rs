//! HTTP plumbing shared by the functions: the route table of DESIGN.md, the caller's
//! verified JWT claims from the API Gateway request context, and JSON responses.

use crate::domain::{ProjectId, ValidationError};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::collections::HashMap;

/// Which Lambda function serves a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    Webhook,
    Connect,
    OptOut,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Webhook => "webhook",
            Function::Connect => "connect",
            Function::OptOut => "opt-out",
        }
    }
}

/// How a route is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Heroku's HMAC signature, checked by the webhook function.
    Signature,
    /// The single-use OAuth `state`, checked by the callback.
    State,
    /// A JWT checked by API Gateway's authorizer; claims arrive in the request context.
    Jwt,
    /// A JWT that must also carry the `integrations/admin` scope.
    JwtAdmin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
    pub auth: Auth,
}

impl Route {
    /// API Gateway's route key, e.g. `POST /webhooks/heroku`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Matches a concrete path, returning the path parameters.
    pub fn matches(&self, method: &str, path: &str) -> Option<HashMap<String, String>> {
        if !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let mut params = HashMap::new();
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(params),
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {
                    let decoded = percent_decode(g)?;
                    params.insert(w[1..w.len() - 1].to_owned(), decoded);
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return None,
            }
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

pub const ADMIN_SCOPE: &str = "integrations/admin";

/// Every route of the HTTP API (DESIGN.md). The dev server, the template test and the
/// OpenAPI test all read this one table.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/webhooks/heroku",
        function: Function::Webhook,
        auth: Auth::Signature,
    },
    Route {
        method: "POST",
        path: "/projects/{project_id}/integrations/heroku/authorize",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        method: "GET",
        path: "/integrations/heroku/callback",
        function: Function::Connect,
        auth: Auth::State,
    },
    Route {
        method: "GET",
        path: "/projects/{project_id}/integrations/heroku",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        method: "GET",
        path: "/projects/{project_id}/integrations/heroku/databases",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        method: "PUT",
        path: "/projects/{project_id}/env-vars/{env_var}/heroku-sync",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        method: "POST",
        path: "/projects/{project_id}/integrations/heroku/trial-database",
        function: Function::Connect,
        auth: Auth::Jwt,
    },
    Route {
        method: "DELETE",
        path: "/projects/{project_id}/env-vars/{env_var}/heroku-sync",
        function: Function::OptOut,
        auth: Auth::Jwt,
    },
    Route {
        method: "DELETE",
        path: "/projects/{project_id}/integrations/heroku",
        function: Function::OptOut,
        auth: Auth::Jwt,
    },
    Route {
        method: "POST",
        path: "/projects/{project_id}/ownership-transfers",
        function: Function::OptOut,
        auth: Auth::JwtAdmin,
    },
];

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

/// The verified caller, from the JWT authorizer's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub project_id: Option<String>,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Reads the caller from `requestContext.authorizer.jwt`. Functions never parse the
/// token: API Gateway verified it, and only verified claims reach us.
pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    let jwt = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
        }
        _ => None,
    };
    let Some(jwt) = jwt else {
        return Err(ApiError::unauthorized("a bearer token is required"));
    };
    let sub = jwt
        .claims
        .get("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the token has no sub claim"))?
        .clone();
    let mut scopes: Vec<String> = jwt.scopes.clone().unwrap_or_default();
    for claim in ["scope", "scp"] {
        if let Some(v) = jwt.claims.get(claim) {
            // API Gateway renders list claims as "[a b]"; plain OAuth scope is "a b".
            scopes.extend(
                v.trim_matches(|c| c == '[' || c == ']')
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    Ok(Caller {
        sub,
        project_id: jwt.claims.get("project_id").cloned(),
        scopes,
    })
}

/// The caller, checked against the project in the path: 401 without claims, 400 for an
/// invalid project id, 403 when the token is for another project.
pub fn project_caller(
    req: &Request,
    params: &HashMap<String, String>,
) -> Result<(Caller, ProjectId), ApiError> {
    let caller = caller(req)?;
    let raw = params
        .get("project_id")
        .map(String::as_str)
        .unwrap_or_default();
    let project = ProjectId::parse(raw).map_err(ApiError::from)?;
    if caller.project_id.as_deref() != Some(project.as_str()) {
        return Err(ApiError::forbidden(
            "the token is not valid for this project",
        ));
    }
    Ok((caller, project))
}

/// An error answered to the caller as `{"error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(400, "bad_request", m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(403, "forbidden", m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(404, "not_found", m)
    }
    pub fn method_not_allowed(m: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(409, "conflict", m)
    }
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(413, "payload_too_large", m)
    }
    pub fn unprocessable(m: impl Into<String>) -> Self {
        Self::new(422, "unprocessable", m)
    }
    pub fn rate_limited(m: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(429, "rate_limited", m)
        }
    }
    pub fn unavailable(m: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(503, "unavailable", m)
        }
    }
    pub fn bad_gateway(m: impl Into<String>) -> Self {
        Self::new(502, "bad_gateway", m)
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(500, "internal", m)
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut resp = json(self.status, &body);
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(s));
        }
        resp
    }
}

impl From<crate::ports::StoreError> for ApiError {
    fn from(e: crate::ports::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        match e {
            crate::ports::StoreError::Unavailable(_) => {
                ApiError::unavailable("storage is unavailable; retry", 5)
            }
            _ => ApiError::internal("internal error"),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::bad_request(e.to_string())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_match_concrete_paths() {
        let r = ROUTES.iter().find(|r| r.method == "PUT").unwrap();
        let p = r
            .matches("PUT", "/projects/p1/env-vars/PG_URL/heroku-sync")
            .unwrap();
        assert_eq!(p["project_id"], "p1");
        assert_eq!(p["env_var"], "PG_URL");
        assert!(
            r.matches("GET", "/projects/p1/env-vars/PG_URL/heroku-sync")
                .is_none()
        );
        assert!(
            r.matches("PUT", "/projects//env-vars/PG_URL/heroku-sync")
                .is_none()
        );
        assert!(
            r.matches("PUT", "/projects/p1/env-vars/PG_URL/heroku-sync/x")
                .is_none()
        );
    }

    #[test]
    fn percent_encoded_segments_are_decoded() {
        let r = ROUTES.iter().find(|r| r.method == "PUT").unwrap();
        let p = r
            .matches("PUT", "/projects/p%2F1/env-vars/A%2BB/heroku-sync")
            .unwrap();
        assert_eq!(p["project_id"], "p/1");
        assert_eq!(p["env_var"], "A+B");
    }

    #[test]
    fn every_route_is_unique() {
        let mut keys: Vec<String> = ROUTES.iter().map(Route::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len());
    }
}
