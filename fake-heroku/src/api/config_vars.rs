//! Config vars: the app's current ones, an update (which makes a release), and per release.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::Value;

use super::{ApiError, ApiResult, Caller, caller_app, json_object, ok};
use crate::ops::valid_config_key;
use crate::state::Shared;

fn flat(config: &BTreeMap<String, String>) -> Value {
    serde_json::to_value(config).unwrap_or_default()
}

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
) -> ApiResult {
    let st = s.lock();
    ok(flat(&st.app_for(&c.user_id, &app)?.config))
}

pub(crate) async fn for_release(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path((app, release)): Path<(String, String)>,
) -> ApiResult {
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    let rel = app
        .release(&release)
        .ok_or_else(|| ApiError::not_found("release"))?;
    ok(flat(&rel.config))
}

/// `null` deletes a var; any change makes one release (and its webhook deliveries).
pub(crate) async fn update(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&body)?;
    let mut changes = Vec::with_capacity(body.len());
    for (k, v) in body {
        if !valid_config_key(&k) {
            return Err(ApiError::invalid_params(format!(
                "Invalid config var name {k:?}."
            )));
        }
        match v {
            Value::String(v) => changes.push((k, Some(v))),
            Value::Null => changes.push((k, None)),
            _ => {
                return Err(ApiError::invalid_params(format!(
                    "Config var {k} must be a string or null."
                )));
            }
        }
    }
    s.mutate(|st| match caller_app(st, &c, &app) {
        Err(e) => (Err(e), Vec::new()),
        Ok((app_id, actor)) => {
            let (_, jobs) = st.set_config(&app_id, &changes, &actor, false);
            (ok(flat(&st.apps[&app_id].config)), jobs)
        }
    })
}
