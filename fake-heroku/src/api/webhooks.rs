//! `/apps/{app}/webhooks`: app webhook subscriptions (create, list, info, update, delete).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;

use super::{ApiError, ApiResult, Caller, json_object, ok, range_header};
use crate::names;
use crate::paging::{Key, RangeSpec, page};
use crate::render;
use crate::state::{Shared, WebhookRec};

/// The entities an app webhook can include (Heroku's webhook docs).
const ENTITIES: &[&str] = &[
    "api:addon-attachment",
    "api:addon",
    "api:app",
    "api:build",
    "api:collaborator",
    "api:domain",
    "api:dyno",
    "api:formation",
    "api:release",
    "api:sni-endpoint",
    "api:ssl-endpoint",
    "dyno",
];

const FIELDS: &[&str] = &["authorization", "include", "level", "secret", "url"];

/// The fields of a create or update body; `Some(None)` is an explicit null.
#[derive(Default)]
struct Params {
    include: Option<Vec<String>>,
    level: Option<String>,
    url: Option<String>,
    secret: Option<Option<String>>,
    authorization: Option<Option<String>>,
}

fn nullable_str(v: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ApiError::invalid_params(format!(
            "{key} must be a string or null."
        ))),
    }
}

fn parse(body: &Bytes) -> Result<Params, ApiError> {
    let body = json_object(body)?;
    let mut p = Params::default();
    for (k, v) in &body {
        match k.as_str() {
            "include" => {
                let items = v.as_array().ok_or_else(|| {
                    ApiError::invalid_params("include must be an array of strings.")
                })?;
                let mut include = Vec::new();
                for i in items {
                    let i = i.as_str().ok_or_else(|| {
                        ApiError::invalid_params("include must be an array of strings.")
                    })?;
                    if !ENTITIES.contains(&i) {
                        return Err(ApiError::invalid_params(format!(
                            "Include {i:?} is not a valid entity; valid: {}.",
                            ENTITIES.join(", ")
                        )));
                    }
                    include.push(i.to_owned());
                }
                if include.is_empty() {
                    return Err(ApiError::invalid_params("Include can't be empty."));
                }
                p.include = Some(include);
            }
            "level" => match v.as_str() {
                Some(l @ ("notify" | "sync")) => p.level = Some(l.to_owned()),
                _ => {
                    return Err(ApiError::invalid_params(
                        "Level must be one of notify, sync.",
                    ));
                }
            },
            "url" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| ApiError::invalid_params("url must be a string."))?;
                let ok = url::Url::parse(s).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https") && u.host_str().is_some()
                });
                if !ok {
                    return Err(ApiError::invalid_params(format!(
                        "Url {s:?} is not a valid http(s) URL."
                    )));
                }
                p.url = Some(s.to_owned());
            }
            "secret" => p.secret = Some(nullable_str(v, k)?),
            "authorization" => p.authorization = Some(nullable_str(v, k)?),
            other => {
                return Err(ApiError::invalid_params(format!(
                    "Unknown parameter {other}; allowed: {}.",
                    FIELDS.join(", ")
                )));
            }
        }
    }
    Ok(p)
}

fn find<'a>(
    st: &'a crate::state::State,
    app_id: &str,
    id: &str,
) -> Result<&'a WebhookRec, ApiError> {
    st.webhooks
        .get(id)
        .filter(|w| w.app_id == app_id)
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// 201; when no secret is given Heroku generates one and returns it, once, in the
/// `Heroku-Webhook-Secret` response header (never in a body).
pub(crate) async fn create(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = parse(&body)?;
    let (Some(include), Some(level), Some(url)) = (p.include, p.level, p.url) else {
        return Err(ApiError::invalid_params(
            "Missing required params: include, level, url.",
        ));
    };
    let mut st = s.lock();
    let app_id = st.app_for(&c.user_id, &app)?.id.clone();
    if st
        .webhooks
        .values()
        .any(|w| w.app_id == app_id && w.url == url)
    {
        return Err(ApiError::conflict(
            "A webhook with this URL already exists for this app.",
        ));
    }
    let given = p.secret.flatten();
    let generated = given.is_none().then(|| names::random_hex(60));
    let now = names::now();
    let wh = WebhookRec {
        id: names::uuid(),
        app_id,
        include,
        level,
        url,
        secret: given.or_else(|| generated.clone()),
        authorization: p.authorization.flatten(),
        created_at: now.clone(),
        updated_at: now,
    };
    st.webhooks.insert(wh.id.clone(), wh.clone());
    let mut headers = HeaderMap::new();
    if let Some(secret) = generated.and_then(|g| HeaderValue::from_str(&g).ok()) {
        headers.insert("heroku-webhook-secret", secret);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(render::webhook(&st, &wh)),
    )
        .into_response())
}

pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = RangeSpec::parse(range_header(&headers), "id", &["id"])?;
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    let hooks: Vec<&WebhookRec> = st
        .webhooks
        .values()
        .filter(|w| w.app_id == app.id)
        .collect();
    page(
        hooks,
        &spec,
        |w, _| Key::Str(w.id.clone()),
        |w| render::webhook(&st, w),
        HeaderMap::new(),
    )
}

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult {
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    ok(render::webhook(&st, find(&st, &app.id, &id)?))
}

pub(crate) async fn update(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let p = parse(&body)?;
    let mut st = s.lock();
    let app_id = st.app_for(&c.user_id, &app)?.id.clone();
    find(&st, &app_id, &id)?;
    let wh = st
        .webhooks
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    if let Some(v) = p.include {
        wh.include = v;
    }
    if let Some(v) = p.level {
        wh.level = v;
    }
    if let Some(v) = p.url {
        wh.url = v;
    }
    if let Some(v) = p.secret {
        wh.secret = v;
    }
    if let Some(v) = p.authorization {
        wh.authorization = v;
    }
    wh.updated_at = names::now();
    let wh = wh.clone();
    ok(render::webhook(&st, &wh))
}

pub(crate) async fn delete(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult {
    let mut st = s.lock();
    let app_id = st.app_for(&c.user_id, &app)?.id.clone();
    find(&st, &app_id, &id)?;
    let body = render::webhook(&st, &st.webhooks[&id]);
    st.webhooks.remove(&id);
    ok(body)
}
