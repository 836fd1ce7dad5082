//! The fake's own controls: operations shared by the in-process handle and the `/_fake/` HTTP
//! routes a dev stack drives with curl.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api::{ApiError, json_object, opt_str};
use crate::faults::Fault;
use crate::state::{Actor, Shared, State as World};
use crate::types::{Addon, App, Release, Tokens, User};

fn app_id(st: &World, ident: &str) -> Result<String, ApiError> {
    st.app_by_ident(ident)
        .map(|a| a.id.clone())
        .ok_or_else(|| ApiError::not_found("app"))
}

fn owner(st: &World, app_id: &str) -> Actor {
    st.apps
        .get(app_id)
        .and_then(|a| st.user(&a.owner_id))
        .map(Actor::from)
        .unwrap_or_else(Actor::heroku_postgresql)
}

fn release_out(r: &crate::state::ReleaseRec) -> Release {
    Release {
        id: r.id.clone(),
        version: r.version,
    }
}

/// Operations the handle and the control routes both offer. Unknown ids are `ApiError`s; the
/// handle turns them into panics (a test bug), the routes into JSON errors.
impl Shared {
    pub(crate) fn op_create_user(&self, email: &str) -> User {
        let u = self.lock().create_user(email);
        User {
            id: u.id,
            email: u.email,
        }
    }

    pub(crate) fn op_create_app(
        &self,
        owner_id: &str,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<App, ApiError> {
        let app = self.lock().create_app(owner_id, name, None, None, id)?;
        Ok(App {
            id: app.id,
            name: app.name,
        })
    }

    pub(crate) fn op_add_collaborator(&self, app: &str, user: &str) -> Result<(), ApiError> {
        let mut st = self.lock();
        let app_id = app_id(&st, app)?;
        let user_id = st
            .user_by_ident(user)
            .map(|u| u.id.clone())
            .ok_or_else(|| ApiError::not_found("user"))?;
        st.add_collaborator(&app_id, &user_id);
        Ok(())
    }

    pub(crate) fn op_add_postgres(
        self: &Arc<Self>,
        app: &str,
        plan: &str,
    ) -> Result<Addon, ApiError> {
        self.mutate(|st| {
            let result = app_id(st, app).and_then(|id| {
                let actor = owner(st, &id);
                st.create_postgres(&id, plan, None, None, &actor, true)
            });
            match result {
                Ok((addon, jobs)) => {
                    let config_var = st
                        .attachments_of_addon(&addon.id)
                        .first()
                        .map(|a| a.config_var())
                        .unwrap_or_default();
                    (
                        Ok(Addon {
                            id: addon.id,
                            name: addon.name,
                            config_var,
                        }),
                        jobs,
                    )
                }
                Err(e) => (Err(e), Vec::new()),
            }
        })
    }

    pub(crate) fn op_attach(
        self: &Arc<Self>,
        addon: &str,
        app: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        self.mutate(|st| {
            let result = app_id(st, app).and_then(|app_id| {
                let addon_id = st
                    .addon_by_ident(addon)
                    .map(|a| a.id.clone())
                    .ok_or_else(|| ApiError::not_found("add-on"))?;
                let actor = owner(st, &app_id);
                st.attach(&addon_id, &app_id, name, &actor)
            });
            match result {
                Ok(jobs) => (Ok(()), jobs),
                Err(e) => (Err(e), Vec::new()),
            }
        })
    }

    pub(crate) fn op_rotate(self: &Arc<Self>, app: &str) -> Result<Release, ApiError> {
        self.mutate(|st| {
            let id = match app_id(st, app) {
                Ok(id) => id,
                Err(e) => return (Err(e), Vec::new()),
            };
            match st.rotate(&id) {
                (Some(rel), jobs) => (Ok(release_out(&rel)), jobs),
                (None, jobs) => (
                    Err(ApiError::invalid_params(
                        "The app owns no provisioned database.",
                    )),
                    jobs,
                ),
            }
        })
    }

    pub(crate) fn op_set_config(
        self: &Arc<Self>,
        app: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<Release, ApiError> {
        self.mutate(|st| {
            let id = match app_id(st, app) {
                Ok(id) => id,
                Err(e) => return (Err(e), Vec::new()),
            };
            let actor = owner(st, &id);
            let (rel, jobs) = st.set_config(&id, changes, &actor, true);
            (
                rel.as_ref()
                    .map(release_out)
                    .ok_or_else(|| ApiError::not_found("app")),
                jobs,
            )
        })
    }

    /// A release that changes no config, like a code push; or one with another status.
    pub(crate) fn op_release(
        self: &Arc<Self>,
        app: &str,
        status: &str,
    ) -> Result<Release, ApiError> {
        if !["succeeded", "pending", "failed", "expired"].contains(&status) {
            return Err(ApiError::invalid_params(format!(
                "Unknown release status {status:?}."
            )));
        }
        self.mutate(|st| {
            let id = match app_id(st, app) {
                Ok(id) => id,
                Err(e) => return (Err(e), Vec::new()),
            };
            let actor = owner(st, &id);
            let slug = crate::names::uuid();
            let desc = format!("Deploy {}", &slug[..8]);
            let (rel, jobs) = st.make_release(&id, &desc, status, &actor, Some(slug));
            (Ok(release_out(&rel)), jobs)
        })
    }

    pub(crate) fn op_config_vars(&self, app: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let st = self.lock();
        let id = app_id(&st, app)?;
        Ok(st.apps[&id].config.clone())
    }

    pub(crate) fn op_issue_tokens(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Tokens, ApiError> {
        let mut st = self.lock();
        if st.user(user_id).is_none() {
            return Err(ApiError::not_found("user"));
        }
        if !st.clients.contains_key(client_id) {
            return Err(ApiError::not_found("OAuth client (register it first)"));
        }
        Ok(st.issue_authorization(user_id, client_id, vec!["global".to_owned()]))
    }
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/users", post(create_user))
        .route("/apps", post(create_app))
        .route("/apps/{app}/collaborators", post(add_collaborator))
        .route("/apps/{app}/postgres", post(add_postgres))
        .route("/apps/{app}/attachments", post(attach))
        .route("/apps/{app}/rotate", post(rotate))
        .route("/apps/{app}/deploy", post(deploy))
        .route("/apps/{app}/releases", post(create_release))
        .route(
            "/apps/{app}/config-vars",
            get(config_vars).patch(set_config_vars),
        )
        .route("/clients", post(register_client))
        .route("/tokens", post(issue_tokens))
        .route("/browser-user", post(browser_user))
        .route("/faults", post(inject).delete(clear_faults))
        .route("/requests", get(requests).delete(reset_requests))
        .route("/deliveries", get(deliveries))
}

type Out = Result<Response, ApiError>;

fn out<T: serde::Serialize>(status: StatusCode, v: T) -> Out {
    Ok((status, axum::Json(v)).into_response())
}

fn required<'a>(body: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a str, ApiError> {
    opt_str(body, key)?
        .ok_or_else(|| ApiError::invalid_params(format!("Missing required param {key}.")))
}

async fn create_user(State(s): State<Arc<Shared>>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    out(
        StatusCode::CREATED,
        s.op_create_user(required(&body, "email")?),
    )
}

async fn create_app(State(s): State<Arc<Shared>>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    let owner = required(&body, "owner_id")?;
    let owner_id = s
        .lock()
        .user_by_ident(owner)
        .map(|u| u.id.clone())
        .ok_or_else(|| ApiError::not_found("user"))?;
    out(
        StatusCode::CREATED,
        s.op_create_app(&owner_id, opt_str(&body, "name")?, opt_str(&body, "id")?)?,
    )
}

async fn add_collaborator(
    State(s): State<Arc<Shared>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Out {
    let body = json_object(&body)?;
    s.op_add_collaborator(&app, required(&body, "user_id")?)?;
    out(StatusCode::OK, json!({}))
}

async fn add_postgres(State(s): State<Arc<Shared>>, Path(app): Path<String>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    let plan = opt_str(&body, "plan")?.unwrap_or("heroku-postgresql:essential-0");
    out(StatusCode::CREATED, s.op_add_postgres(&app, plan)?)
}

async fn attach(State(s): State<Arc<Shared>>, Path(app): Path<String>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    s.op_attach(required(&body, "addon")?, &app, required(&body, "name")?)?;
    out(StatusCode::OK, json!({}))
}

async fn rotate(State(s): State<Arc<Shared>>, Path(app): Path<String>) -> Out {
    out(StatusCode::OK, s.op_rotate(&app)?)
}

async fn deploy(State(s): State<Arc<Shared>>, Path(app): Path<String>) -> Out {
    out(StatusCode::OK, s.op_release(&app, "succeeded")?)
}

async fn create_release(State(s): State<Arc<Shared>>, Path(app): Path<String>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    let status = opt_str(&body, "status")?.unwrap_or("succeeded");
    out(StatusCode::OK, s.op_release(&app, status)?)
}

async fn config_vars(State(s): State<Arc<Shared>>, Path(app): Path<String>) -> Out {
    out(StatusCode::OK, s.op_config_vars(&app)?)
}

async fn set_config_vars(
    State(s): State<Arc<Shared>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Out {
    let body = json_object(&body)?;
    let mut changes = Vec::with_capacity(body.len());
    for (k, v) in body {
        match v {
            Value::String(v) => changes.push((k, Some(v))),
            Value::Null => changes.push((k, None)),
            _ => {
                let msg = format!("{k} must be a string or null.");
                return Err(ApiError::invalid_params(msg));
            }
        }
    }
    out(StatusCode::OK, s.op_set_config(&app, &changes)?)
}

async fn register_client(State(s): State<Arc<Shared>>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    let (id, secret, uri) = (
        required(&body, "id")?,
        required(&body, "secret")?,
        required(&body, "redirect_uri")?,
    );
    s.lock().register_client(id, secret, uri);
    out(
        StatusCode::CREATED,
        json!({ "id": id, "redirect_uri": uri }),
    )
}

async fn issue_tokens(State(s): State<Arc<Shared>>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    out(
        StatusCode::CREATED,
        s.op_issue_tokens(required(&body, "user_id")?, required(&body, "client_id")?)?,
    )
}

async fn browser_user(State(s): State<Arc<Shared>>, body: Bytes) -> Out {
    let body = json_object(&body)?;
    let mut st = s.lock();
    let user = match opt_str(&body, "user_id")? {
        Some(u) => Some(
            st.user_by_ident(u)
                .map(|u| u.id.clone())
                .ok_or_else(|| ApiError::not_found("user"))?,
        ),
        None => None,
    };
    st.settings.browser_user = user.clone();
    out(StatusCode::OK, json!({ "user_id": user }))
}

/// A fault as JSON: `{"method"?, "path_prefix", "status"?, "body"?, "headers"?: {name: value},
/// "delay_ms"?, "times"?}`.
fn fault_from_json(body: &serde_json::Map<String, Value>) -> Result<Fault, ApiError> {
    let bad = |m: &str| ApiError::invalid_params(m.to_owned());
    let mut f = Fault::status(required(body, "path_prefix")?, 0);
    if let Some(m) = opt_str(body, "method")? {
        f.method = Some(
            axum::http::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| bad("invalid method"))?,
        );
    }
    if let Some(v) = body.get("status").filter(|v| !v.is_null()) {
        f.status = v
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| bad("status must be a number"))?;
    }
    f.body = body.get("body").filter(|v| !v.is_null()).cloned();
    match body.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                f.headers.push((
                    k.clone(),
                    v.as_str()
                        .ok_or_else(|| bad("header values are strings"))?
                        .to_owned(),
                ));
            }
        }
        Some(_) => return Err(bad("headers must be an object")),
    }
    if let Some(v) = body.get("delay_ms").filter(|v| !v.is_null()) {
        f.delay =
            Duration::from_millis(v.as_u64().ok_or_else(|| bad("delay_ms must be a number"))?);
    }
    if let Some(v) = body.get("rate").filter(|v| !v.is_null()) {
        let share = v
            .as_f64()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| bad("rate must be a number from 0 to 1"))?;
        let seed = match body.get("seed").filter(|v| !v.is_null()) {
            None => 0,
            Some(v) => v.as_u64().ok_or_else(|| bad("seed must be a number"))?,
        };
        f = f.rate(share, seed);
    }
    if let Some(v) = body.get("times").filter(|v| !v.is_null()) {
        f.times = Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad("times must be a number"))?,
        );
    }
    Ok(f)
}

async fn inject(State(s): State<Arc<Shared>>, body: Bytes) -> Out {
    let f = fault_from_json(&json_object(&body)?)?;
    let id = s.lock().faults.add(f);
    out(StatusCode::CREATED, json!({ "id": id.0 }))
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> Out {
    s.lock().faults.clear();
    out(StatusCode::OK, json!({}))
}

async fn requests(State(s): State<Arc<Shared>>) -> Out {
    out(StatusCode::OK, s.lock().requests.clone())
}

async fn reset_requests(State(s): State<Arc<Shared>>) -> Out {
    s.lock().requests.clear();
    out(StatusCode::OK, json!({}))
}

async fn deliveries(State(s): State<Arc<Shared>>) -> Out {
    out(StatusCode::OK, s.lock().deliveries.clone())
}
