//! Config vars: releases keep snapshots, Postgres provisioning/attachment/rotation set URLs.

use crate::common;

use std::time::Duration;

use crate::common::{Api, setup};
use serde_json::json;

#[tokio::test]
async fn each_release_keeps_the_config_it_was_made_with() {
    let (heroku, user, _t, api) = setup().await;
    let app = heroku.create_app(&user, "snap");
    let patch = api
        .patch("/apps/snap/config-vars", json!({ "A": "1", "B": "2" }))
        .await;
    assert_eq!(patch.status, 200);
    assert_eq!(patch.body, json!({ "A": "1", "B": "2" }));
    let v3 = api.get("/apps/snap/releases/3").await;
    assert_eq!(v3.body["description"], "Set A, B config vars");
    assert_eq!(v3.body["user"]["email"], "owner@example.com");

    api.patch("/apps/snap/config-vars", json!({ "A": null, "C": "3" }))
        .await;
    assert_eq!(
        api.get("/apps/snap/config-vars").await.body,
        json!({ "B": "2", "C": "3" })
    );
    assert_eq!(
        api.get("/apps/snap/releases/3/config-vars").await.body,
        json!({ "A": "1", "B": "2" })
    );
    let v4_id = api.get("/apps/snap/releases/4").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.get(&format!("/apps/snap/releases/{v4_id}/config-vars"))
            .await
            .body,
        json!({ "B": "2", "C": "3" })
    );
    assert_eq!(
        api.get("/apps/snap/releases/1/config-vars").await.body,
        json!({})
    );

    // A PATCH that changes nothing makes no release.
    api.patch("/apps/snap/config-vars", json!({ "B": "2" }))
        .await;
    assert_eq!(
        api.get("/apps/snap/releases")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(heroku.config_var(&app, "C").as_deref(), Some("3"));

    let bad = api
        .patch("/apps/snap/config-vars", json!({ "NOT-OK": "x" }))
        .await;
    assert_eq!(
        (bad.status, bad.body["id"].as_str()),
        (422, Some("invalid_params"))
    );
}

#[tokio::test]
async fn api_provisioning_is_asynchronous_then_sets_database_url_with_a_release() {
    let (heroku, user, _t, api) = setup().await;
    heroku.set_provision_delay(Duration::from_millis(150));
    let app = heroku.create_app(&user, "prov");
    let r = api
        .post(
            "/apps/prov/addons",
            json!({ "plan": "heroku-postgresql:essential-0" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (201, Some("provisioning"))
    );
    assert_eq!(r.body["config_vars"], json!(["DATABASE_URL"]));
    assert!(
        heroku.config_var(&app, "DATABASE_URL").is_none(),
        "not before provisioning ends"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let url = loop {
        if let Some(url) = heroku.config_var(&app, "DATABASE_URL") {
            break url;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "DATABASE_URL never appeared"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(url.starts_with("postgres://"));
    let newest = api
        .send(
            "GET",
            "/apps/prov/releases",
            None,
            Some("version ..; max=1, order=desc"),
        )
        .await;
    let rel = &newest.body[0];
    assert!(
        rel["description"]
            .as_str()
            .unwrap()
            .starts_with("Attach DATABASE"),
        "{rel}"
    );
    assert_eq!(
        rel["addon_plan_names"],
        json!(["heroku-postgresql:essential-0"])
    );

    let other = api
        .post("/apps/prov/addons", json!({ "plan": "heroku-redis:mini" }))
        .await;
    assert_eq!(other.status, 422);
}

#[tokio::test]
async fn a_second_database_gets_a_colour_and_attachments_set_name_url() {
    let (heroku, user, _t, api) = setup().await;
    let owner_app = heroku.create_app(&user, "owner-app");
    let web = heroku.create_app(&user, "web-app");
    let first = heroku.add_postgres(&owner_app, "heroku-postgresql:essential-0");
    let second = heroku.add_postgres(&owner_app, "heroku-postgresql:standard-0");
    assert_eq!(first.config_var, "DATABASE_URL");
    assert!(
        second.config_var.starts_with("HEROKU_POSTGRESQL_") && second.config_var.ends_with("_URL")
    );
    heroku.attach(&first, &web, "MAIN_DB");
    assert_eq!(
        heroku.config_var(&web, "MAIN_DB_URL"),
        heroku.config_var(&owner_app, "DATABASE_URL")
    );

    let atts = api.get("/apps/web-app/addon-attachments").await;
    assert_eq!(atts.body[0]["name"], "MAIN_DB");
    assert_eq!(atts.body[0]["addon"]["app"]["name"], "owner-app");
    // The attached add-on is listed on the app it is attached to, owned by the other one.
    let listed = api.get("/apps/web-app/addons").await;
    assert_eq!(listed.body[0]["app"]["name"], "owner-app");
    assert_eq!(listed.body[0]["config_vars"], json!(["DATABASE_URL"]));
}

#[tokio::test]
async fn rotation_changes_the_url_everywhere_with_heroku_postgresql_releases() {
    let (heroku, user, _t, api) = setup().await;
    let owner_app = heroku.create_app(&user, "db-owner");
    let web = heroku.create_app(&user, "db-user");
    let db = heroku.add_postgres(&owner_app, "heroku-postgresql:essential-0");
    heroku.attach(&db, &web, "SHARED");
    let before = heroku.config_var(&owner_app, "DATABASE_URL").unwrap();
    let rel = heroku.rotate_credentials(&owner_app);
    let after = heroku.config_var(&owner_app, "DATABASE_URL").unwrap();
    assert_ne!(before, after);
    assert_eq!(
        heroku.config_var(&web, "SHARED_URL").as_deref(),
        Some(after.as_str())
    );

    let r = api
        .get(&format!("/apps/db-owner/releases/{}", rel.version))
        .await;
    assert_eq!(
        r.body["description"],
        "Update DATABASE by heroku-postgresql"
    );
    assert_eq!(
        r.body["user"]["email"],
        "heroku-postgresql@addons.heroku.com"
    );
    assert_eq!(r.body["id"], rel.id.as_str());
    let w = api
        .send(
            "GET",
            "/apps/db-user/releases",
            None,
            Some("version ..; max=1, order=desc"),
        )
        .await;
    assert_eq!(
        w.body[0]["description"],
        "Update SHARED by heroku-postgresql"
    );
    assert_eq!(
        api.get(&format!(
            "/apps/db-owner/releases/{}/config-vars",
            rel.version
        ))
        .await
        .body["DATABASE_URL"],
        after.as_str()
    );
}

#[tokio::test]
async fn users_see_only_their_apps_and_addons_attached_to_them() {
    let (heroku, user, _t, api) = setup().await;
    let stranger = heroku.create_user("stranger@example.com");
    let secret = heroku.create_app(&stranger, "not-yours");
    let owned_elsewhere = heroku.add_postgres(&secret, "heroku-postgresql:essential-0");
    let r = api.get("/apps/not-yours").await;
    assert_eq!((r.status, r.body["id"].as_str()), (403, Some("forbidden")));
    assert_eq!(api.get("/apps/never-existed").await.status, 404);
    assert!(api.get("/addons").await.body.as_array().unwrap().is_empty());
    assert_eq!(
        api.get(&format!("/addons/{}", owned_elsewhere.id))
            .await
            .status,
        404
    );

    let mine = heroku.create_app(&user, "yours");
    heroku.attach(&owned_elsewhere, &mine, "THEIRS");
    let all = api.get("/addons").await;
    assert_eq!(
        all.body.as_array().unwrap().len(),
        1,
        "attached add-ons are visible"
    );
    assert_eq!(all.body[0]["app"]["name"], "not-yours");

    heroku.add_collaborator(&secret, &user);
    assert_eq!(api.get("/apps/not-yours").await.status, 200);
    let as_stranger = Api::new(
        &heroku,
        &heroku
            .issue_tokens(&stranger, common::CLIENT_ID)
            .access_token,
    );
    assert_eq!(as_stranger.get("/apps/yours").await.status, 403);
}

#[tokio::test]
async fn app_creation_names_and_rejects_like_heroku() {
    let (_heroku, _user, _t, api) = setup().await;
    let r = api.post("/apps", json!({})).await;
    assert_eq!(r.status, 201);
    let name = r.body["name"].as_str().unwrap();
    let parts: Vec<&str> = name.split('-').collect();
    assert_eq!(parts.len(), 3, "{name}");
    assert_eq!(parts[2].len(), 5);
    assert_eq!(
        api.post("/apps", json!({ "name": name })).await.status,
        422,
        "taken"
    );
    assert_eq!(
        api.post("/apps", json!({ "name": "Bad_Name" }))
            .await
            .status,
        422
    );
    let releases = api.get(&format!("/apps/{name}/releases")).await;
    assert_eq!(
        releases.body.as_array().unwrap().len(),
        2,
        "Initial release + Enable Logplex"
    );
}
