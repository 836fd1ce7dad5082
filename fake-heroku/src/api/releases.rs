//! `/apps/{app}/releases`: list (rangeable by version) and info by id or version.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use super::{ApiError, ApiResult, Caller, ok, range_header};
use crate::paging::{Key, RangeSpec, page};
use crate::render;
use crate::state::{ReleaseRec, Shared};

pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    // Version order by default: what a client reading "the list of releases" expects.
    let spec = RangeSpec::parse(range_header(&headers), "version", &["id", "version"])?;
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    page(
        app.releases.iter().collect(),
        &spec,
        |r: &&ReleaseRec, f| {
            if f == "id" {
                Key::Str(r.id.clone())
            } else {
                Key::Num(r.version)
            }
        },
        |r| render::release(app, r),
        HeaderMap::new(),
    )
}

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path((app, release)): Path<(String, String)>,
) -> ApiResult {
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    let rel = app
        .release(&release)
        .ok_or_else(|| ApiError::not_found("release"))?;
    ok(render::release(app, rel))
}
