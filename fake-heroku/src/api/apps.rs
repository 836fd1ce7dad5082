//! `/apps`: list, info and create.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use super::{ApiError, ApiResult, Caller, created, json_object, ok, opt_str, range_header};
use crate::paging::{Key, RangeSpec, page};
use crate::render;
use crate::state::{AppRec, Shared};

pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = RangeSpec::parse(range_header(&headers), "id", &["id", "name"])?;
    let st = s.lock();
    let apps = st.accessible_apps(&c.user_id);
    page(
        apps,
        &spec,
        |a: &&AppRec, f| {
            Key::Str(if f == "name" {
                a.name.clone()
            } else {
                a.id.clone()
            })
        },
        |a| render::app(&st, a),
        HeaderMap::new(),
    )
}

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
) -> ApiResult {
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    ok(render::app(&st, app))
}

pub(crate) async fn create(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&body)?;
    if let Some(k) = body
        .keys()
        .find(|k| !["name", "region", "stack", "feature_flags"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid_params(format!("Unknown parameter {k}.")));
    }
    let (name, region, stack) = (
        opt_str(&body, "name")?,
        opt_str(&body, "region")?,
        opt_str(&body, "stack")?,
    );
    let mut st = s.lock();
    let app = st.create_app(&c.user_id, name, region, stack, None)?;
    created(render::app(&st, &app))
}
