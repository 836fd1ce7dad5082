//! The sample events in `events/`: API Gateway HTTP API (payload 2.0) events for every
//! route, built by the same code the API Gateway emulator uses, the webhook ones signed
//! with the documented local key. `cargo run -p devserver --bin events` rewrites them;
//! a test checks the files on disk are exactly what this module renders, and another
//! runs each through its function and checks the status listed in `events/manifest.json`.

use local::gateway::{EventParts, authorizer_claims, build_event};
use serde_json::{Map, Value, json};
use shared::http::{ROUTES, Route};
use std::collections::HashMap;

/// The project, user and Heroku app the events name (the check creates them).
pub const PROJECT: &str = "proj-1";
pub const SUB: &str = "user-1";
pub const APP_ID: &str = "0d9b0a3e-5c1f-4f2e-9d8a-3c6b7e1f2a4b";
pub const APP_NAME: &str = "acme-shop";

/// One sample event and what its function must answer.
pub struct Sample {
    /// Path under `events/`.
    pub file: &'static str,
    pub function: &'static str,
    pub status: u16,
    pub what: &'static str,
    method: &'static str,
    path: String,
    query: &'static str,
    body: Option<String>,
    claims: Option<Value>,
    signature: Signature,
    base64: bool,
}

#[derive(Clone, Copy)]
enum Signature {
    None,
    Good,
    Wrong,
}

fn route(method: &str, path: &str) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| r.matches(method, path).is_some())
        .unwrap_or_else(|| panic!("no route for {method} {path}"))
}

fn release(version: u64, status: &str) -> String {
    let body = json!({
        "action": "create",
        "actor": {"email": "heroku-postgresql@addons.heroku.com", "id": "f87b5e7e-4631-46cc-9912-9fcdbbb6c985"},
        "created_at": "2026-11-01T12:00:00Z",
        "id": "b6a68e77-8c13-41c8-b30c-b50cca7a608a",
        "data": {
            "addon_plan_names": ["heroku-postgresql:essential-0"],
            "app": {"id": APP_ID, "name": APP_NAME},
            "created_at": "2026-11-01T12:00:00Z",
            "description": "Update DATABASE by heroku-postgresql",
            "status": status,
            "id": "5f1463a4-0210-43ba-b906-52599e246482",
            "slug": null,
            "updated_at": "2026-11-01T12:00:00Z",
            "user": {"email": "heroku-postgresql@addons.heroku.com", "id": "f87b5e7e-4631-46cc-9912-9fcdbbb6c985"},
            "version": version,
            "current": status == "succeeded"
        },
        "previous_data": {},
        "published_at": null,
        "resource": "release",
        "sequence": null,
        "updated_at": "2026-11-01T12:00:00Z",
        "version": "application/vnd.heroku+json; version=3",
        "webhook_metadata": {
            "attempt": {"id": "8a44f820-2354-489d-9a11-a793cbf49979"},
            "delivery": {"id": "d244009a-670f-4340-88e9-789a4f9002d5"},
            "event": {"id": "b6a68e77-8c13-41c8-b30c-b50cca7a608a", "include": "api:release"},
            "webhook": {"id": "b54e6a7e-d162-4bd7-ab42-1011582c19cc"}
        }
    });
    body.to_string()
}

fn claims(project: &str, scope: Option<&str>) -> Value {
    let mut c = json!({
        "sub": SUB,
        "project_id": project,
        "project_role": "owner",
        "iss": "https://auth.platform.example",
        "aud": "heroku-db-url-sync",
        "iat": 1_793_534_400,
        "exp": 1_793_538_000,
    });
    if let Some(s) = scope {
        c["scope"] = json!(s);
    }
    c
}

#[allow(clippy::too_many_arguments)]
fn sample(
    file: &'static str,
    function: &'static str,
    status: u16,
    what: &'static str,
    method: &'static str,
    path: String,
    body: Option<String>,
    claims: Option<Value>,
) -> Sample {
    Sample {
        file,
        function,
        status,
        what,
        method,
        path,
        query: "",
        body,
        claims,
        signature: Signature::None,
        base64: false,
    }
}

/// Every sample, in the order the check plays them (later ones rely on earlier ones).
pub fn samples() -> Vec<Sample> {
    let p = PROJECT;
    let jwt = || Some(claims(p, None));
    let link_body = Some(json!({"app": APP_NAME, "config_var": "DATABASE_URL"}).to_string());
    vec![
        sample(
            "connect/authorize.json",
            "connect",
            200,
            "start connecting Heroku",
            "POST",
            format!("/projects/{p}/integrations/heroku/authorize"),
            None,
            jwt(),
        ),
        sample(
            "connect/status.json",
            "connect",
            200,
            "the integration and its links",
            "GET",
            format!("/projects/{p}/integrations/heroku"),
            None,
            jwt(),
        ),
        sample(
            "connect/databases.json",
            "connect",
            200,
            "the user's Heroku Postgres databases",
            "GET",
            format!("/projects/{p}/integrations/heroku/databases"),
            None,
            jwt(),
        ),
        sample(
            "connect/link.json",
            "connect",
            201,
            "link PG_DATABASE_URL to DATABASE_URL of acme-shop",
            "PUT",
            format!("/projects/{p}/env-vars/PG_DATABASE_URL/heroku-sync"),
            link_body.clone(),
            jwt(),
        ),
        sample(
            "connect/link-again.json",
            "connect",
            200,
            "the same link again",
            "PUT",
            format!("/projects/{p}/env-vars/PG_DATABASE_URL/heroku-sync"),
            link_body.clone(),
            jwt(),
        ),
        sample(
            "connect/resync.json",
            "connect",
            200,
            "sync PG_DATABASE_URL now against acme-shop's newest release",
            "POST",
            format!("/projects/{p}/env-vars/PG_DATABASE_URL/heroku-sync/resync"),
            None,
            jwt(),
        ),
        sample(
            "connect/link-wrong-project.json",
            "connect",
            403,
            "a token for another project",
            "PUT",
            format!("/projects/{p}/env-vars/PG_DATABASE_URL/heroku-sync"),
            link_body.clone(),
            Some(claims("proj-2", None)),
        ),
        sample(
            "connect/link-no-claims.json",
            "connect",
            401,
            "no authorizer context (never happens behind the authorizer)",
            "PUT",
            format!("/projects/{p}/env-vars/PG_DATABASE_URL/heroku-sync"),
            link_body,
            None,
        ),
        sample(
            "connect/link-bad-env-var.json",
            "connect",
            400,
            "an invalid env var name",
            "PUT",
            format!("/projects/{p}/env-vars/1-BAD/heroku-sync"),
            Some(r#"{"app":"acme-shop","config_var":"DATABASE_URL"}"#.into()),
            jwt(),
        ),
        sample(
            "connect/trial-database.json",
            "connect",
            201,
            "a new Heroku app with a Postgres add-on, linked",
            "POST",
            format!("/projects/{p}/integrations/heroku/trial-database"),
            Some(json!({"env_var": "TRIAL_DATABASE_URL"}).to_string()),
            jwt(),
        ),
        Sample {
            query: "code=3f1a0c&state=not-a-state-we-issued",
            ..sample(
                "connect/callback-unknown-state.json",
                "connect",
                302,
                "Heroku's redirect with a state we never issued",
                "GET",
                "/integrations/heroku/callback".into(),
                None,
                None,
            )
        },
        // A real confirmation comes from a callback and is single-use: a sample file
        // cannot hold one that works.
        sample(
            "connect/confirm-unknown.json",
            "connect",
            400,
            "a confirmation the callback never issued (invalid_confirmation)",
            "POST",
            format!("/projects/{p}/integrations/heroku/confirm"),
            Some(json!({"confirmation": "not-a-confirmation-we-issued"}).to_string()),
            jwt(),
        ),
        Sample {
            signature: Signature::Good,
            ..sample(
                "webhook/release-succeeded.json",
                "webhook",
                204,
                "a signed succeeded release of acme-shop",
                "POST",
                "/webhooks/heroku".into(),
                Some(release(3, "succeeded")),
                None,
            )
        },
        Sample {
            signature: Signature::Good,
            base64: true,
            ..sample(
                "webhook/release-succeeded-base64.json",
                "webhook",
                204,
                "the same, body base64-encoded by API Gateway",
                "POST",
                "/webhooks/heroku".into(),
                Some(release(3, "succeeded")),
                None,
            )
        },
        Sample {
            signature: Signature::Good,
            ..sample(
                "webhook/release-pending.json",
                "webhook",
                204,
                "a pending release: ignored",
                "POST",
                "/webhooks/heroku".into(),
                Some(release(4, "pending")),
                None,
            )
        },
        Sample {
            signature: Signature::Wrong,
            ..sample(
                "webhook/release-bad-signature.json",
                "webhook",
                401,
                "a signature made with another key",
                "POST",
                "/webhooks/heroku".into(),
                Some(release(3, "succeeded")),
                None,
            )
        },
        Sample {
            signature: Signature::Good,
            ..sample(
                "webhook/malformed.json",
                "webhook",
                202,
                "a signed body that is not JSON (answered 2xx: Heroku would retry a 4xx for 72 hours)",
                "POST",
                "/webhooks/heroku".into(),
                Some("{\"resource\": \"release\",".into()),
                None,
            )
        },
        sample(
            "opt-out/opt-out.json",
            "opt-out",
            204,
            "stop syncing PG_DATABASE_URL",
            "DELETE",
            format!("/projects/{p}/env-vars/PG_DATABASE_URL/heroku-sync"),
            None,
            jwt(),
        ),
        sample(
            "opt-out/opt-out-never-linked.json",
            "opt-out",
            404,
            "an env var that was never linked",
            "DELETE",
            format!("/projects/{p}/env-vars/NEVER_LINKED/heroku-sync"),
            None,
            jwt(),
        ),
        sample(
            "opt-out/ownership-transfer-no-scope.json",
            "opt-out",
            403,
            "a transfer without the integrations/admin scope",
            "POST",
            format!("/projects/{p}/ownership-transfers"),
            Some(json!({"new_owner": "user-2"}).to_string()),
            jwt(),
        ),
        sample(
            "opt-out/delete-integration.json",
            "opt-out",
            204,
            "delete the Heroku integration",
            "DELETE",
            format!("/projects/{p}/integrations/heroku"),
            None,
            jwt(),
        ),
        sample(
            "opt-out/ownership-transfer.json",
            "opt-out",
            204,
            "the platform transfers the project to user-2",
            "POST",
            format!("/projects/{p}/ownership-transfers"),
            Some(json!({"new_owner": "user-2"}).to_string()),
            Some(claims(p, Some("integrations/admin"))),
        ),
    ]
}

impl Sample {
    /// The event as a pretty-printed JSON file.
    pub fn render(&self) -> String {
        let route = route(self.method, &self.path);
        let params = route.matches(self.method, &self.path).unwrap_or_default();
        let body = self.body.clone().unwrap_or_default();
        let mut headers = Map::new();
        headers.insert(
            "host".into(),
            json!("abc123.execute-api.us-east-1.amazonaws.com"),
        );
        headers.insert("user-agent".into(), json!("sample-event"));
        if self.body.is_some() {
            headers.insert("content-type".into(), json!("application/json"));
        }
        let key = match self.signature {
            Signature::None => None,
            Signature::Good => Some(local::LOCAL_SIGNING_KEY),
            Signature::Wrong => Some("some-other-key"),
        };
        if let Some(key) = key {
            headers.insert(
                "heroku-webhook-hmac-sha256".into(),
                json!(webhook::signature::sign(key.as_bytes(), body.as_bytes())),
            );
            headers.insert(
                "heroku-webhook-id".into(),
                json!("d244009a-670f-4340-88e9-789a4f9002d5"),
            );
            headers.insert("user-agent".into(), json!("heroku-webhooks/1.0"));
        }
        let jwt = self
            .claims
            .as_ref()
            .and_then(Value::as_object)
            .map(authorizer_claims);
        let event = build_event(EventParts {
            route,
            path: &self.path,
            query: self.query,
            headers,
            cookies: vec![],
            params: params.into_iter().collect::<HashMap<_, _>>(),
            jwt,
            body: body.as_bytes(),
            base64: self.base64,
            request_id: format!("sample-{}", self.file.replace(['/', '.'], "-")),
            time: time::OffsetDateTime::from_unix_timestamp(1_793_534_400)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        });
        let mut text = serde_json::to_string_pretty(&event).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// `events/manifest.json`: file, function, expected status, what it shows.
pub fn manifest() -> String {
    let entries: Vec<Value> = samples()
        .iter()
        .map(
            |s| json!({"file": s.file, "function": s.function, "status": s.status, "what": s.what}),
        )
        .collect();
    let mut text = serde_json::to_string_pretty(&entries).unwrap_or_default();
    text.push('\n');
    text
}
