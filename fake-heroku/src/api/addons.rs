//! `/addons` and `/apps/{app}/addons`: list, info and (Postgres-only) create.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::Value;

use super::{
    ApiError, ApiResult, Caller, caller_app, created, json_object, ok, opt_str, range_header,
};
use crate::paging::{Key, RangeSpec, page};
use crate::render;
use crate::state::{AddonRec, Shared};

fn key(a: &&AddonRec, field: &str) -> Key {
    Key::Str(if field == "name" {
        a.name.clone()
    } else {
        a.id.clone()
    })
}

pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = RangeSpec::parse(range_header(&headers), "id", &["id", "name"])?;
    let st = s.lock();
    page(
        st.visible_addons(&c.user_id),
        &spec,
        key,
        |a| render::addon(&st, a),
        HeaderMap::new(),
    )
}

pub(crate) async fn info(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(addon): Path<String>,
) -> ApiResult {
    let st = s.lock();
    let addon = st
        .addon_by_ident(&addon)
        .filter(|a| st.addon_visible(&c.user_id, a))
        .ok_or_else(|| ApiError::not_found("add-on"))?;
    ok(render::addon(&st, addon))
}

pub(crate) async fn list_by_app(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let spec = RangeSpec::parse(range_header(&headers), "id", &["id", "name"])?;
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    page(
        st.addons_of_app(&app.id),
        &spec,
        key,
        |a| render::addon(&st, a),
        HeaderMap::new(),
    )
}

pub(crate) async fn info_by_app(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path((app, addon)): Path<(String, String)>,
) -> ApiResult {
    let st = s.lock();
    let app = st.app_for(&c.user_id, &app)?;
    let addon = st
        .addons_of_app(&app.id)
        .into_iter()
        .find(|a| a.id == addon || a.name == addon)
        .ok_or_else(|| ApiError::not_found("add-on"))?;
    ok(render::addon(&st, addon))
}

/// Answers 201 "provisioning" at once; the database is ready (config var set, release made,
/// webhooks delivered) after the provision delay, as Heroku Postgres provisions asynchronously.
pub(crate) async fn create(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_object(&body)?;
    if let Some(k) = body
        .keys()
        .find(|k| !["attachment", "config", "confirm", "plan", "name"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid_params(format!("Unknown parameter {k}.")));
    }
    let plan = opt_str(&body, "plan")?
        .ok_or_else(|| ApiError::invalid_params("Missing required params: plan."))?;
    let attachment = match body.get("attachment") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => opt_str(a, "name")?,
        Some(_) => return Err(ApiError::invalid_params("attachment must be an object.")),
    };
    let name = opt_str(&body, "name")?;
    let (rendered, addon_id, actor, delay) = {
        let mut st = s.lock();
        let (app_id, actor) = caller_app(&st, &c, &app)?;
        let (addon, _) = st.create_postgres(&app_id, plan, attachment, name, &actor, false)?;
        (
            render::addon(&st, &addon),
            addon.id,
            actor,
            st.settings.provision_delay,
        )
    };
    let shared = Arc::clone(&s);
    s.rt.spawn(async move {
        tokio::time::sleep(delay).await;
        shared.mutate(|st| ((), st.provision(&addon_id, &actor)));
    });
    created(rendered)
}
