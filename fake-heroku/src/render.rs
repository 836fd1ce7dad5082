//! Resources as the Platform API shows them, shaped after Heroku's JSON schema.

use serde_json::{Value, json};

use crate::state::{
    AddonRec, AppRec, AttachmentRec, AuthorizationRec, ReleaseRec, State, UserRec, WebhookRec,
};

const POSTGRES_SERVICE_ID: &str = "6c67493d-8fc2-4cd4-9161-4f1ec11cbe69";

/// Heroku's region ids are fixed; these are the two Common Runtime regions.
fn region(name: &str) -> Value {
    let id = match name {
        "eu" => "ed30241c-ed8c-4bb6-9714-61953675d0b4",
        _ => "59accabd-516d-4f0e-83e6-6e3757701145",
    };
    json!({ "id": id, "name": name })
}

fn stack(name: &str) -> Value {
    // A stable id per stack name, so repeated reads agree.
    let id = match name {
        "heroku-22" => "3d8ab1d3-3ba7-4d8e-9f5e-0f7a5e9a3c22",
        "heroku-24" => "0a5e1e7e-7c5d-4b7b-8a8c-2f4b6e1d9c24",
        "container" => "8b2d6b0e-3c0c-4b8c-9e8d-6c1f4a2b7e01",
        _ => "5c5b0d5a-2a4c-4d9e-8f3e-1b2a3c4d5e6f",
    };
    json!({ "id": id, "name": name })
}

pub(crate) fn user_ref(u: &UserRec) -> Value {
    json!({ "email": u.email, "id": u.id })
}

pub(crate) fn app_ref(app: &AppRec) -> Value {
    json!({ "id": app.id, "name": app.name })
}

pub(crate) fn account(u: &UserRec) -> Value {
    json!({
        "allow_tracking": true,
        "beta": false,
        "created_at": u.created_at,
        "email": u.email,
        "federated": false,
        "id": u.id,
        "identity_provider": null,
        "last_login": u.created_at,
        "name": null,
        "sms_number": null,
        "suspended_at": null,
        "delinquent_at": null,
        "two_factor_authentication": false,
        "updated_at": u.created_at,
        "verified": true,
        "country_of_residence": null,
        "default_organization": null,
        "default_team": null,
    })
}

pub(crate) fn app(st: &State, app: &AppRec) -> Value {
    let owner = st.user(&app.owner_id).map(user_ref).unwrap_or(Value::Null);
    let released_at = app.releases.last().map(|r| r.created_at.clone());
    json!({
        "acm": false,
        "archived_at": null,
        "buildpack_provided_description": null,
        "build_stack": stack(&app.stack),
        "created_at": app.created_at,
        "generation": { "id": "2c4e5a0f-4f8b-4e4a-9f3e-6d5c7b8a9e10", "name": "cedar" },
        "git_url": format!("https://git.heroku.com/{}.git", app.name),
        "id": app.id,
        "internal_routing": null,
        "maintenance": false,
        "name": app.name,
        "owner": owner,
        "organization": null,
        "team": null,
        "region": region(&app.region),
        "released_at": released_at,
        "repo_size": null,
        "slug_size": null,
        "space": null,
        "stack": stack(&app.stack),
        "updated_at": app.updated_at,
        "web_url": format!("https://{}-{}.herokuapp.com/", app.name, app.web_suffix),
    })
}

pub(crate) fn addon(st: &State, addon: &AddonRec) -> Value {
    let owner = st.apps.get(&addon.app_id);
    let config_vars: Vec<String> = st
        .attachments_of_addon(&addon.id)
        .into_iter()
        .filter(|a| a.app_id == addon.app_id)
        .map(AttachmentRec::config_var)
        .collect();
    json!({
        "actions": [],
        "addon_service": { "id": POSTGRES_SERVICE_ID, "name": "heroku-postgresql" },
        "billing_entity": {
            "id": addon.app_id,
            "name": owner.map(|a| a.name.clone()),
            "type": "app",
        },
        "app": owner.map(app_ref).unwrap_or(Value::Null),
        "billed_price": { "cents": 500, "contract": false, "unit": "month" },
        "config_vars": config_vars,
        "created_at": addon.created_at,
        "id": addon.id,
        "name": addon.name,
        "plan": { "id": addon.plan_id, "name": addon.plan },
        "provider_id": addon.provider_id,
        "state": addon.state,
        "updated_at": addon.updated_at,
        "web_url": format!("https://data.heroku.com/datastores/{}", addon.id),
    })
}

pub(crate) fn attachment(st: &State, att: &AttachmentRec) -> Value {
    let addon = st.addons.get(&att.addon_id);
    let addon_app = addon.and_then(|a| st.apps.get(&a.app_id));
    json!({
        "addon": {
            "id": att.addon_id,
            "name": addon.map(|a| a.name.clone()),
            "app": addon_app.map(app_ref).unwrap_or(Value::Null),
        },
        "app": st.apps.get(&att.app_id).map(app_ref).unwrap_or(Value::Null),
        "created_at": att.created_at,
        "id": att.id,
        "name": att.name,
        "namespace": null,
        "updated_at": att.updated_at,
        "web_url": format!("https://data.heroku.com/datastores/{}", att.addon_id),
        "log_input_url": null,
    })
}

pub(crate) fn release(app: &AppRec, rel: &ReleaseRec) -> Value {
    let current = app.current_version() == Some(rel.version);
    let artifacts: Vec<Value> = rel
        .slug_id
        .iter()
        .map(|id| json!({ "type": "slug", "id": id }))
        .collect();
    json!({
        "addon_plan_names": rel.addon_plan_names,
        "artifacts": artifacts,
        "app": app_ref(app),
        "created_at": rel.created_at,
        "description": rel.description,
        "id": rel.id,
        "updated_at": rel.created_at,
        "slug": rel.slug_id.as_ref().map(|id| json!({ "id": id })),
        "status": rel.status,
        "user": { "email": rel.actor.email, "id": rel.actor.id },
        "version": rel.version,
        "current": current,
        "output_stream_url": null,
        "eligible_for_rollback": rel.status == "succeeded",
    })
}

pub(crate) fn webhook(st: &State, wh: &WebhookRec) -> Value {
    // The secret and authorization are write-only: the schema's `app_webhook` omits them.
    json!({
        "app": st.apps.get(&wh.app_id).map(app_ref).unwrap_or(Value::Null),
        "created_at": wh.created_at,
        "id": wh.id,
        "include": wh.include,
        "level": wh.level,
        "updated_at": wh.updated_at,
        "url": wh.url,
    })
}

pub(crate) fn authorization(st: &State, auth: &AuthorizationRec) -> Value {
    let client = st.clients.get(&auth.client_id);
    let user = st.user(&auth.user_id);
    let hide = st.settings.hide_authorization_tokens;
    let expires_in = st.access_tokens.get(&auth.access_token).map(|t| {
        t.expires_at
            .saturating_duration_since(std::time::Instant::now())
            .as_secs()
    });
    json!({
        "access_token": {
            "expires_in": expires_in,
            "id": auth.access_token_id,
            "token": (!hide).then_some(&auth.access_token),
        },
        "client": client.map(|c| json!({
            "id": c.id,
            "name": c.name,
            "redirect_uri": c.redirect_uri,
        })),
        "created_at": auth.created_at,
        "description": client.map_or_else(|| "Long-lived user authorization".to_owned(), |c| c.name.clone()),
        "grant": null,
        "id": auth.id,
        "refresh_token": {
            "expires_in": null,
            "id": auth.refresh_token_id,
            "token": (!hide).then_some(&auth.refresh_token),
        },
        "scope": auth.scope,
        "session": null,
        "updated_at": auth.updated_at,
        "user": {
            "id": auth.user_id,
            "email": user.map(|u| u.email.clone()),
            "full_name": null,
        },
    })
}
