//! The Platform API (api.heroku.com): routes, errors and the helpers handlers share.

mod account;
mod addons;
mod apps;
mod attachments;
mod authorizations;
mod config_vars;
mod releases;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use serde_json::{Value, json};

use crate::state::{Actor, Shared, State};

/// Every Platform API route the fake serves, as (method, path template). The router is built
/// from this table, and the schema test checks each entry against the schema's hrefs.
pub const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/account"),
    ("GET", "/account/rate-limits"),
    ("GET", "/apps"),
    ("POST", "/apps"),
    ("GET", "/apps/{app}"),
    ("GET", "/addons"),
    ("GET", "/addons/{addon}"),
    ("GET", "/apps/{app}/addons"),
    ("POST", "/apps/{app}/addons"),
    ("GET", "/apps/{app}/addons/{addon}"),
    ("GET", "/addon-attachments"),
    ("GET", "/addon-attachments/{attachment}"),
    ("GET", "/addons/{addon}/addon-attachments"),
    ("GET", "/apps/{app}/addon-attachments"),
    ("GET", "/apps/{app}/config-vars"),
    ("PATCH", "/apps/{app}/config-vars"),
    ("GET", "/apps/{app}/releases"),
    ("GET", "/apps/{app}/releases/{release}"),
    ("GET", "/apps/{app}/releases/{release}/config-vars"),
    ("GET", "/apps/{app}/webhooks"),
    ("POST", "/apps/{app}/webhooks"),
    ("GET", "/apps/{app}/webhooks/{webhook}"),
    ("PATCH", "/apps/{app}/webhooks/{webhook}"),
    ("DELETE", "/apps/{app}/webhooks/{webhook}"),
    ("GET", "/oauth/authorizations"),
    ("GET", "/oauth/authorizations/{authorization}"),
    ("DELETE", "/oauth/authorizations/{authorization}"),
];

fn handler(method: &str, path: &str) -> MethodRouter<Arc<Shared>> {
    match (method, path) {
        ("GET", "/account") => get(account::info),
        ("GET", "/account/rate-limits") => get(account::rate_limits),
        ("GET", "/apps") => get(apps::list),
        ("POST", "/apps") => post(apps::create),
        ("GET", "/apps/{app}") => get(apps::info),
        ("GET", "/addons") => get(addons::list),
        ("GET", "/addons/{addon}") => get(addons::info),
        ("GET", "/apps/{app}/addons") => get(addons::list_by_app),
        ("POST", "/apps/{app}/addons") => post(addons::create),
        ("GET", "/apps/{app}/addons/{addon}") => get(addons::info_by_app),
        ("GET", "/addon-attachments") => get(attachments::list),
        ("GET", "/addon-attachments/{attachment}") => get(attachments::info),
        ("GET", "/addons/{addon}/addon-attachments") => get(attachments::list_by_addon),
        ("GET", "/apps/{app}/addon-attachments") => get(attachments::list_by_app),
        ("GET", "/apps/{app}/config-vars") => get(config_vars::info),
        ("PATCH", "/apps/{app}/config-vars") => patch(config_vars::update),
        ("GET", "/apps/{app}/releases") => get(releases::list),
        ("GET", "/apps/{app}/releases/{release}") => get(releases::info),
        ("GET", "/apps/{app}/releases/{release}/config-vars") => get(config_vars::for_release),
        ("GET", "/apps/{app}/webhooks") => get(webhooks::list),
        ("POST", "/apps/{app}/webhooks") => post(webhooks::create),
        ("GET", "/apps/{app}/webhooks/{webhook}") => get(webhooks::info),
        ("PATCH", "/apps/{app}/webhooks/{webhook}") => patch(webhooks::update),
        ("DELETE", "/apps/{app}/webhooks/{webhook}") => delete(webhooks::delete),
        ("GET", "/oauth/authorizations") => get(authorizations::list),
        ("GET", "/oauth/authorizations/{authorization}") => get(authorizations::info),
        ("DELETE", "/oauth/authorizations/{authorization}") => delete(authorizations::delete),
        _ => unreachable!("API_ROUTES entry without a handler: {method} {path}"),
    }
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    API_ROUTES
        .iter()
        .fold(Router::new(), |r, (m, p)| r.route(p, handler(m, p)))
        .fallback(unknown_endpoint)
}

async fn unknown_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?",
    )
}

/// The authenticated user of an API request, put there by the gate.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) user_id: String,
}

/// A Heroku error answer: `{"id", "message", "url"}` with its status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) id: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        id: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            id,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid credentials provided.",
        )
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("Couldn't find that {what}."),
        )
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_params", message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub(crate) fn rate_limit() -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit",
            "Your account reached the API rate limit\nPlease wait a few minutes before making new requests",
        )
    }

    pub(crate) fn body(&self) -> Value {
        json!({
            "id": self.id,
            "message": self.message,
            "url": "https://devcenter.heroku.com/articles/platform-api-reference#clients",
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// The error body Heroku sends with a status, for faults that give none of their own.
pub(crate) fn default_error_body(status: u16) -> Value {
    let (id, message) = match status {
        400 => ("bad_request", "Invalid request."),
        401 => ("unauthorized", "Invalid credentials provided."),
        402 => ("delinquent", "This account is delinquent."),
        403 => ("forbidden", "You do not have access to this resource."),
        404 => ("not_found", "Couldn't find that resource."),
        409 => (
            "conflict",
            "The request conflicts with the current state of the resource.",
        ),
        422 => ("invalid_params", "Invalid parameters."),
        423 => ("locked", "This resource is locked."),
        429 => (
            "rate_limit",
            "Your account reached the API rate limit\nPlease wait a few minutes before making new requests",
        ),
        503 => ("unavailable", "The API is temporarily unavailable."),
        s if s >= 500 => ("internal_server_error", "Internal server error."),
        _ => ("error", "Request failed."),
    };
    ApiError::new(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        id,
        message,
    )
    .body()
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn ok(value: Value) -> ApiResult {
    Ok(axum::Json(value).into_response())
}

pub(crate) fn created(value: Value) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(value)).into_response())
}

/// A JSON object request body; an empty body is `{}`. Bad JSON is Heroku's 400.
pub(crate) fn json_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object.")),
        Err(_) => Err(ApiError::bad_request("Invalid JSON in request body.")),
    }
}

/// An optional string field; present but not a string (or null) is 422.
pub(crate) fn opt_str<'a>(
    body: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid_params(format!("{key} must be a string."))),
    }
}

/// The id of `{app}` as the caller may see it, and the caller as the actor of what they change.
pub(crate) fn caller_app(
    st: &State,
    caller: &Caller,
    ident: &str,
) -> Result<(String, Actor), ApiError> {
    let app_id = st.app_for(&caller.user_id, ident)?.id.clone();
    let user = st
        .user(&caller.user_id)
        .ok_or_else(ApiError::unauthorized)?;
    Ok((app_id, Actor::from(user)))
}

pub(crate) fn range_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("range").and_then(|v| v.to_str().ok())
}
