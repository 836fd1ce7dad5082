//! `/addon-attachments`, by app and by add-on.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use super::{ApiError, ApiResult, Caller, ok, range_header};
use crate::paging::{Key, RangeSpec, page};
use crate::render;
use crate::state::{AttachmentRec, Shared};

fn key(a: &&AttachmentRec, field: &str) -> Key {
    Key::Str(if field == "name" {
        a.name.clone()
    } else {
        a.id.clone()
    })
}

fn spec(headers: &HeaderMap) -> Result<RangeSpec, ApiError> {
    RangeSpec::parse(range_header(headers), "id", &["id", "name"])
}

/// Attachments on every app the user can access.
pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = spec(&headers)?;
    let st = s.lock();
    let atts: Vec<&AttachmentRec> = st
        .attachments
        .values()
        .filter(|a| {
            st.apps
                .get(&a.app_id)
                .is_some_and(|app| st.can_access(&c.user_id, app))
        })
        .collect();
    page(
        atts,
        &spec,
        key,
        |a| render::attachment(&st, a),
        HeaderMap::new(),
    )
}

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let st = s.lock();
    let att = st
        .attachments
        .get(&id)
        .filter(|a| {
            st.apps
                .get(&a.app_id)
                .is_some_and(|app| st.can_access(&c.user_id, app))
        })
        .ok_or_else(|| ApiError::not_found("add-on attachment"))?;
    ok(render::attachment(&st, att))
}

pub(crate) async fn list_by_app(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = spec(&headers)?;
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    page(
        st.attachments_of_app(&app.id),
        &spec,
        key,
        |a| render::attachment(&st, a),
        HeaderMap::new(),
    )
}

pub(crate) async fn list_by_addon(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(addon): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = spec(&headers)?;
    let st = s.lock();
    let addon = st
        .addon_by_ident(&addon)
        .filter(|a| st.addon_visible(&c.user_id, a))
        .ok_or_else(|| ApiError::not_found("add-on"))?;
    page(
        st.attachments_of_addon(&addon.id),
        &spec,
        key,
        |a| render::attachment(&st, a),
        HeaderMap::new(),
    )
}
