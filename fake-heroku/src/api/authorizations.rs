//! `/oauth/authorizations`: the caller's OAuth grants; DELETE revokes one.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use super::{ApiError, ApiResult, Caller, ok, range_header};
use crate::paging::{Key, RangeSpec, page};
use crate::render;
use crate::state::{AuthorizationRec, Shared, State as World};

fn find<'a>(st: &'a World, user_id: &str, id: &str) -> Result<&'a AuthorizationRec, ApiError> {
    st.authorizations
        .get(id)
        .filter(|a| a.user_id == user_id && !a.revoked)
        .ok_or_else(|| ApiError::not_found("authorization"))
}

pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = RangeSpec::parse(range_header(&headers), "id", &["id"])?;
    let st = s.lock();
    let auths: Vec<&AuthorizationRec> = st
        .authorizations
        .values()
        .filter(|a| a.user_id == c.user_id && !a.revoked)
        .collect();
    page(
        auths,
        &spec,
        |a, _| Key::Str(a.id.clone()),
        |a| render::authorization(&st, a),
        HeaderMap::new(),
    )
}

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let st = s.lock();
    ok(render::authorization(&st, find(&st, &c.user_id, &id)?))
}

/// Revokes the authorization: its access and refresh tokens stop working at once.
pub(crate) async fn delete(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult {
    let mut st = s.lock();
    let body = render::authorization(&st, find(&st, &c.user_id, &id)?);
    st.revoke_authorization(&id);
    ok(body)
}
