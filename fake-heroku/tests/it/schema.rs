//! Every Platform API route the fake serves is in Heroku's schema, and every response it gives
//! there validates against that link's target schema.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::schema::{Schema, normalise_href};
use crate::common::{Api, Resp, setup};
use fake_heroku::API_ROUTES;
use serde_json::{Value, json};

/// Calls a route and checks the answer against the schema, remembering which routes it covered.
struct Driver {
    api: Api,
    schema: Schema,
    covered: BTreeSet<(String, String)>,
}

impl Driver {
    async fn call(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let resp = self.api.send(method, path, body, None).await;
        assert!(
            (200..300).contains(&resp.status),
            "{method} {path} answered {}: {}",
            resp.status,
            resp.body
        );
        let target = self
            .schema
            .target_schema(method, template)
            .unwrap_or_else(|| panic!("no schema link for {method} {template}"));
        let errs = self.schema.errors(&target, &resp.body);
        assert!(
            errs.is_empty(),
            "{method} {path} body does not fit the schema:\n{}\n{:#}",
            errs.join("\n"),
            resp.body
        );
        for h in ["request-id", "ratelimit-remaining"] {
            assert!(resp.header(h).is_some(), "{method} {path} lacks {h}");
        }
        self.covered
            .insert((method.to_owned(), template.to_owned()));
        resp
    }
}

#[test]
fn every_served_route_is_a_schema_href() {
    let schema = Schema::load();
    let links: BTreeSet<(String, String)> =
        schema.links().into_iter().map(|(m, h, _)| (m, h)).collect();
    for (m, p) in API_ROUTES {
        assert!(
            links.contains(&(m.to_string(), normalise_href(p))),
            "{m} {p} is not in Heroku's schema"
        );
    }
}

#[tokio::test]
async fn every_response_fits_the_schema() {
    let (heroku, user, _tokens, api) = setup().await;
    heroku.set_provision_delay(Duration::from_millis(20));
    let mut d = Driver {
        api,
        schema: Schema::load(),
        covered: BTreeSet::new(),
    };

    let other = heroku.create_user("other@example.com");
    let theirs = heroku.create_app(&other, "their-app");
    heroku.add_collaborator(&theirs, &user);
    let shared_db = heroku.add_postgres(&theirs, "heroku-postgresql:essential-0");
    let mine = heroku.create_app(&user, "my-app");
    heroku.attach(&shared_db, &mine, "THEIR_DB");

    d.call("GET", "/account", "/account", None).await;
    d.call("GET", "/account/rate-limits", "/account/rate-limits", None)
        .await;
    let created = d.call("POST", "/apps", "/apps", Some(json!({}))).await;
    assert_eq!(created.status, 201);
    let new_name = created.body["name"].as_str().unwrap().to_owned();
    d.call(
        "POST",
        "/apps",
        "/apps",
        Some(json!({ "name": "named-app", "region": "eu", "stack": "heroku-22" })),
    )
    .await;
    let apps = d.call("GET", "/apps", "/apps", None).await;
    assert_eq!(apps.body.as_array().unwrap().len(), 4);
    let one = d
        .call("GET", "/apps/{app}", &format!("/apps/{new_name}"), None)
        .await;
    // The checker is strict on real answers: an app without `web_url` does not pass.
    let mut broken = one.body.clone();
    broken.as_object_mut().unwrap().remove("web_url");
    assert!(
        !d.schema
            .errors(&json!({ "$ref": "#/definitions/app" }), &broken)
            .is_empty()
    );
    d.call("GET", "/apps/{app}", &format!("/apps/{}", theirs.id), None)
        .await;

    let addon = d
        .call(
            "POST",
            "/apps/{app}/addons",
            "/apps/my-app/addons",
            Some(json!({ "plan": "heroku-postgresql:essential-0" })),
        )
        .await;
    assert_eq!(addon.status, 201);
    assert_eq!(addon.body["state"], "provisioning");
    let addon_id = addon.body["id"].as_str().unwrap().to_owned();
    let addon_path = format!("/addons/{addon_id}");
    let mut info = d.call("GET", "/addons/{addon}", &addon_path, None).await;
    for _ in 0..500 {
        if info.body["state"] == "provisioned" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        info = d.call("GET", "/addons/{addon}", &addon_path, None).await;
    }
    assert_eq!(info.body["state"], "provisioned");
    d.call(
        "GET",
        "/addons/{addon}",
        &format!("/addons/{}", shared_db.name),
        None,
    )
    .await;
    d.call("GET", "/addons", "/addons", None).await;
    d.call("GET", "/apps/{app}/addons", "/apps/my-app/addons", None)
        .await;
    d.call(
        "GET",
        "/apps/{app}/addons/{addon}",
        &format!("/apps/my-app/addons/{addon_id}"),
        None,
    )
    .await;

    let atts = d
        .call("GET", "/addon-attachments", "/addon-attachments", None)
        .await;
    let att_id = atts.body[0]["id"].as_str().unwrap().to_owned();
    d.call(
        "GET",
        "/addon-attachments/{attachment}",
        &format!("/addon-attachments/{att_id}"),
        None,
    )
    .await;
    d.call(
        "GET",
        "/addons/{addon}/addon-attachments",
        &format!("/addons/{}/addon-attachments", shared_db.id),
        None,
    )
    .await;
    d.call(
        "GET",
        "/apps/{app}/addon-attachments",
        "/apps/my-app/addon-attachments",
        None,
    )
    .await;

    d.call(
        "PATCH",
        "/apps/{app}/config-vars",
        "/apps/my-app/config-vars",
        Some(json!({ "FOO": "bar", "GONE": null })),
    )
    .await;
    let cfg = d
        .call(
            "GET",
            "/apps/{app}/config-vars",
            "/apps/my-app/config-vars",
            None,
        )
        .await;
    assert_eq!(cfg.body["FOO"], "bar");
    let rels = d
        .call("GET", "/apps/{app}/releases", "/apps/my-app/releases", None)
        .await;
    let last = rels.body.as_array().unwrap().last().unwrap().clone();
    let (rid, version) = (
        last["id"].as_str().unwrap().to_owned(),
        last["version"].as_u64().unwrap(),
    );
    d.call(
        "GET",
        "/apps/{app}/releases/{release}",
        &format!("/apps/my-app/releases/{rid}"),
        None,
    )
    .await;
    d.call(
        "GET",
        "/apps/{app}/releases/{release}",
        &format!("/apps/my-app/releases/{version}"),
        None,
    )
    .await;
    d.call(
        "GET",
        "/apps/{app}/releases/{release}/config-vars",
        &format!("/apps/my-app/releases/{version}/config-vars"),
        None,
    )
    .await;
    heroku.create_release(&mine, "failed");
    d.call("GET", "/apps/{app}/releases", "/apps/my-app/releases", None)
        .await;

    let hook = d
        .call(
            "POST",
            "/apps/{app}/webhooks",
            "/apps/my-app/webhooks",
            Some(json!({ "include": ["api:release"], "level": "sync", "url": "http://127.0.0.1:9/hook", "secret": "s3cret", "authorization": "Bearer x" })),
        )
        .await;
    assert_eq!(hook.status, 201);
    assert!(
        hook.body.get("secret").is_none(),
        "the secret is write-only"
    );
    // `app_webhook` lists no required fields; the resource's own definition does.
    for key in d.schema.root["definitions"]["app-webhook"]["required"]
        .as_array()
        .unwrap()
    {
        assert!(
            hook.body.get(key.as_str().unwrap()).is_some(),
            "webhook lacks {key}"
        );
    }
    let hid = hook.body["id"].as_str().unwrap().to_owned();
    d.call("GET", "/apps/{app}/webhooks", "/apps/my-app/webhooks", None)
        .await;
    d.call(
        "GET",
        "/apps/{app}/webhooks/{webhook}",
        &format!("/apps/my-app/webhooks/{hid}"),
        None,
    )
    .await;
    let patched = d
        .call(
            "PATCH",
            "/apps/{app}/webhooks/{webhook}",
            &format!("/apps/my-app/webhooks/{hid}"),
            Some(json!({ "level": "notify" })),
        )
        .await;
    assert_eq!(patched.body["level"], "notify");
    d.call(
        "DELETE",
        "/apps/{app}/webhooks/{webhook}",
        &format!("/apps/my-app/webhooks/{hid}"),
        None,
    )
    .await;

    let auths = d
        .call(
            "GET",
            "/oauth/authorizations",
            "/oauth/authorizations",
            None,
        )
        .await;
    let auth_id = auths.body[0]["id"].as_str().unwrap().to_owned();
    d.call(
        "GET",
        "/oauth/authorizations/{authorization}",
        &format!("/oauth/authorizations/{auth_id}"),
        None,
    )
    .await;
    d.call(
        "DELETE",
        "/oauth/authorizations/{authorization}",
        &format!("/oauth/authorizations/{auth_id}"),
        None,
    )
    .await;

    let served: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missed: Vec<_> = served.difference(&d.covered).collect();
    assert!(
        missed.is_empty(),
        "routes the test did not drive: {missed:?}"
    );
}

#[tokio::test]
async fn error_bodies_have_herokus_shape() {
    let (_heroku, _user, _tokens, api) = setup().await;
    for (status, path) in [(404, "/apps/no-such-app"), (404, "/no/such/endpoint")] {
        let r = api.get(path).await;
        assert_eq!(r.status, status);
        assert_eq!(r.body["id"], "not_found");
        assert!(r.body["message"].is_string() && r.body["url"].is_string());
    }
}
#[test]
fn the_checker_rejects_what_it_should() {
    let s = Schema {
        root: serde_json::json!({ "definitions": { "id": { "type": ["string"], "format": "uuid" } } }),
    };
    let obj = serde_json::json!({
        "type": ["object"], "strictProperties": true,
        "properties": { "id": { "$ref": "#/definitions/id" }, "n": { "type": ["integer", "null"] } }
    });
    let good = serde_json::json!({ "id": "01234567-89ab-cdef-0123-456789abcdef", "n": null });
    assert!(s.errors(&obj, &good).is_empty());
    assert_eq!(
        s.errors(&obj, &serde_json::json!({ "id": "x", "n": 1 }))
            .len(),
        1,
        "bad uuid"
    );
    assert_eq!(
        s.errors(&obj, &serde_json::json!({ "n": 1 })).len(),
        1,
        "missing id"
    );
    assert_eq!(
        s.errors(
            &obj,
            &serde_json::json!({ "id": "01234567-89ab-cdef-0123-456789abcdef", "n": "1" })
        )
        .len(),
        1
    );
    let extra = serde_json::json!({ "id": "01234567-89ab-cdef-0123-456789abcdef", "n": 1, "x": 1 });
    assert_eq!(s.errors(&obj, &extra).len(), 1, "extra property");
    // Patterns and enums of the real schema apply.
    let real = Schema::load();
    let name = json!({ "$ref": "#/definitions/app/definitions/name" });
    assert!(real.errors(&name, &json!("fine-name")).is_empty());
    assert!(!real.errors(&name, &json!("Bad_Name")).is_empty());
    let level = json!({ "$ref": "#/definitions/app-webhook/definitions/level" });
    assert!(!real.errors(&level, &json!("loud")).is_empty());
}
