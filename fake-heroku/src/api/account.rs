//! `GET /account` and `GET /account/rate-limits`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use serde_json::json;

use super::{ApiError, ApiResult, Caller, ok};
use crate::render;
use crate::state::Shared;

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
) -> ApiResult {
    let st = s.lock();
    let user = st.user(&c.user_id).ok_or_else(ApiError::unauthorized)?;
    ok(render::account(user))
}

pub(crate) async fn rate_limits(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
) -> ApiResult {
    let remaining = s.lock().rate_remaining(&c.user_id);
    ok(json!({ "remaining": remaining }))
}
