//! Who may do what, through the HTTP routes (docs/contract.md, "Who may do what"): only a
//! `project_role: owner` starts a connect; only the connected owner uses the grant; an
//! admin may stop it; every member reads the status, without the owner's Heroku email.

use crate::common::*;

const LINK: &str = "/projects/p1/env-vars/PG_DATABASE_URL/heroku-sync";

fn refused(a: &local::client::Answer, what: &str) {
    assert_eq!(a.status, 403, "{what}: {}", a.json);
    assert_eq!(a.json["error"], "not_project_owner", "{what}: {}", a.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_collaborator_then_no_connect_and_no_use_of_the_owners_grant() {
    let s = stack().await;
    let user = s.heroku.create_user("owner@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    let collaborator = Client::with_role(&s, "user-2", "p1", "member");

    // Before anyone connected: a collaborator cannot start a connect.
    refused(
        &collaborator
            .call("POST", "/projects/p1/integrations/heroku/authorize", None)
            .await,
        "authorize",
    );

    s.connect("p1", "user-1", &user).await;
    let owner = Client::new(&s, "user-1", "p1", &[]);
    let linked = owner
        .call(
            "PUT",
            LINK,
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.json);
    let value = s.env_value("p1", "PG_DATABASE_URL").await;
    let before = owner.status("p1").await;

    for (method, path, body, what) in [
        (
            "GET",
            "/projects/p1/integrations/heroku/databases",
            None,
            "databases",
        ),
        (
            "PUT",
            "/projects/p1/env-vars/STRIPE_KEY/heroku-sync",
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
            "link another env var",
        ),
        (
            "PUT",
            LINK,
            Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
            "re-point the env var",
        ),
        (
            "POST",
            "/projects/p1/integrations/heroku/trial-database",
            Some(r#"{"env_var":"TRIAL_URL"}"#),
            "trial database",
        ),
        ("DELETE", LINK, None, "opt out"),
        (
            "DELETE",
            "/projects/p1/integrations/heroku",
            None,
            "delete the integration",
        ),
        (
            "POST",
            "/projects/p1/integrations/heroku/authorize",
            None,
            "authorize",
        ),
    ] {
        refused(&collaborator.call(method, path, body).await, what);
    }

    // Nothing they asked for happened.
    assert_eq!(s.env_value("p1", "PG_DATABASE_URL").await, value);
    assert_eq!(s.env_value("p1", "STRIPE_KEY").await, None);
    assert!(
        !s.heroku
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/apps"),
        "no trial app created"
    );
    let after = owner.status("p1").await;
    assert_eq!(after["status"], "connected");
    assert_eq!(after["links"], before["links"]);

    // The status is every member's to read, without the owner's Heroku account.
    let seen = collaborator
        .call("GET", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(seen.status, 200, "{}", seen.json);
    assert_eq!(seen.json["status"], "connected");
    assert_eq!(seen.json["links"].as_array().map(Vec::len), Some(1));
    assert_eq!(after["heroku"]["email"], "owner@example.com");
    assert!(seen.json["heroku"]["email"].is_null(), "{}", seen.json);
    assert!(!seen.json.to_string().contains("owner@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_another_owner_role_user_then_the_connected_owners_grant_stays_theirs() {
    let s = stack().await;
    let user = s.heroku.create_user("owner@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    s.connect("p1", "user-1", &user).await;
    // The platform now says user-3 owns the project, but no transfer was made.
    let other_owner = Client::new(&s, "user-3", "p1", &[]);

    refused(
        &other_owner
            .call(
                "PUT",
                LINK,
                Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
            )
            .await,
        "link",
    );
    refused(
        &other_owner
            .call("POST", "/projects/p1/integrations/heroku/authorize", None)
            .await,
        "authorize: a transfer comes first",
    );
    refused(
        &other_owner
            .call("GET", "/projects/p1/integrations/heroku/databases", None)
            .await,
        "databases",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_an_admin_then_opt_out_and_delete_are_allowed_as_an_emergency_stop() {
    let s = stack().await;
    let user = s.heroku.create_user("owner@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    s.connect("p1", "user-1", &user).await;
    s.link("p1", "PG_DATABASE_URL", "shop", "DATABASE_URL")
        .await;
    // An admin token: the integrations/admin scope, not the project's owner.
    let mut claims = serde_json::Map::new();
    claims.insert("project_role".into(), serde_json::json!("none"));
    let admin = Client::with_token(
        &s,
        Some(local::jwt::mint_with_claims(
            &s.jwt_secret,
            "platform",
            "p1",
            &["integrations/admin"],
            &claims,
            std::time::Duration::from_secs(600),
        )),
    );

    let a = admin.call("DELETE", LINK, None).await;
    assert_eq!(a.status, 204, "{}", a.json);
    let d = admin
        .call("DELETE", "/projects/p1/integrations/heroku", None)
        .await;
    assert_eq!(d.status, 204, "{}", d.json);
    let status = Client::new(&s, "user-1", "p1", &[]).status("p1").await;
    assert_eq!(status["status"], "disconnected", "{status}");
    // An admin cannot use the grant, though.
    refused(
        &admin
            .call("GET", "/projects/p1/integrations/heroku/databases", None)
            .await,
        "databases",
    );
}

/// Issue 11, item 3: only add-on credentials. A config var no Postgres add-on of the app
/// provides (an API key, say) is 422 not_an_addon_config_var, even for the owner, and
/// nothing is written; an attached database's config var is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_config_var_no_postgres_addon_provides_then_422_and_nothing_written() {
    let s = stack().await;
    let user = s.heroku.create_user("owner@example.com");
    let app = s.heroku.create_app(&user, "shop");
    let db = s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    s.heroku
        .set_config_var(&app, "STRIPE_SECRET_KEY", Some("sk_live_not_a_database"));
    let other = s.heroku.create_app(&user, "reports");
    s.heroku.attach(&db, &other, "SHOP_DB");
    s.connect("p1", "user-1", &user).await;
    let owner = Client::new(&s, "user-1", "p1", &[]);

    let a = owner
        .call(
            "PUT",
            "/projects/p1/env-vars/STRIPE_KEY/heroku-sync",
            Some(r#"{"app":"shop","config_var":"STRIPE_SECRET_KEY"}"#),
        )
        .await;

    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(a.json["error"], "not_an_addon_config_var");
    assert_eq!(s.env_value("p1", "STRIPE_KEY").await, None);
    assert!(s.heroku.webhooks(&app).is_empty(), "no subscription either");
    let attached = owner
        .call(
            "PUT",
            "/projects/p1/env-vars/REPORTS_DB/heroku-sync",
            Some(r#"{"app":"reports","config_var":"SHOP_DB_URL"}"#),
        )
        .await;
    assert_eq!(attached.status, 201, "{}", attached.json);
}

/// Issue 11, item 7: env vars the runtime or the platform reads (`PATH`, `LD_PRELOAD`,
/// `NODE_OPTIONS`, any `AWS_*`...) are refused up front with 400, whatever the case, and
/// nothing is subscribed or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_reserved_env_var_name_then_400_and_nothing_written() {
    let s = stack().await;
    let user = s.heroku.create_user("owner@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    s.connect("p1", "user-1", &user).await;
    let owner = Client::new(&s, "user-1", "p1", &[]);
    for name in [
        "PATH",
        "LD_PRELOAD",
        "NODE_OPTIONS",
        "AWS_SECRET_ACCESS_KEY",
        "aws_region",
    ] {
        let a = owner
            .call(
                "PUT",
                &format!("/projects/p1/env-vars/{name}/heroku-sync"),
                Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
            )
            .await;
        assert_eq!(a.status, 400, "{name}: {}", a.json);
        assert!(
            a.json["message"]
                .as_str()
                .is_some_and(|m| m.contains("reserved")),
            "{name}: {}",
            a.json
        );
        assert_eq!(s.env_value("p1", name).await, None);
    }
    let trial = owner
        .call(
            "POST",
            "/projects/p1/integrations/heroku/trial-database",
            Some(r#"{"env_var":"LD_PRELOAD"}"#),
        )
        .await;
    assert_eq!(trial.status, 400, "{}", trial.json);
    assert!(s.heroku.webhooks(&app).is_empty(), "nothing subscribed");
}

/// Issue 11, item 7: quotas. Past LINKS_PER_PROJECT env vars, or TRIAL_DATABASES_PER_DAY
/// trial databases in 24 hours, the answer is 409 quota_exceeded and nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_quota_used_up_then_409_quota_exceeded_and_nothing_created() {
    let s = local::fixture::Stack::start_configured(Box::new(devserver::mount_all), |c| {
        c.links_per_project = 2;
        c.trial_databases_per_day = 1;
    })
    .await;
    let user = s.heroku.create_user("owner@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    s.connect("p1", "user-1", &user).await;
    let owner = Client::new(&s, "user-1", "p1", &[]);
    let link = |name: &'static str| {
        let owner = &owner;
        async move {
            owner
                .call(
                    "PUT",
                    &format!("/projects/p1/env-vars/{name}/heroku-sync"),
                    Some(r#"{"app":"shop","config_var":"DATABASE_URL"}"#),
                )
                .await
        }
    };
    assert_eq!(link("ONE_URL").await.status, 201);
    assert_eq!(link("TWO_URL").await.status, 201);

    let third = link("THREE_URL").await;
    assert_eq!(third.status, 409, "{}", third.json);
    assert_eq!(third.json["error"], "quota_exceeded");
    assert_eq!(s.env_value("p1", "THREE_URL").await, None);
    assert_eq!(
        link("ONE_URL").await.status,
        200,
        "re-linking one that syncs is no new one"
    );
    assert_eq!(
        owner
            .call("DELETE", "/projects/p1/env-vars/TWO_URL/heroku-sync", None)
            .await
            .status,
        204
    );
    assert_eq!(
        link("THREE_URL").await.status,
        201,
        "room again after an opt-out"
    );

    // One trial database a day (its link needs room under the links quota too).
    assert_eq!(
        owner
            .call(
                "DELETE",
                "/projects/p1/env-vars/THREE_URL/heroku-sync",
                None
            )
            .await
            .status,
        204
    );
    let trial = |name: &str| {
        let (owner, body) = (&owner, format!(r#"{{"env_var":"{name}"}}"#));
        async move {
            owner
                .call(
                    "POST",
                    "/projects/p1/integrations/heroku/trial-database",
                    Some(&body),
                )
                .await
        }
    };
    let first = trial("TRIAL_URL").await;
    assert_eq!(first.status, 201, "{}", first.json);
    let apps_before = s
        .heroku
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/apps")
        .count();
    assert_eq!(
        owner
            .call(
                "DELETE",
                "/projects/p1/env-vars/TRIAL_URL/heroku-sync",
                None
            )
            .await
            .status,
        204
    );
    let second = trial("TRIAL2_URL").await;
    assert_eq!(second.status, 409, "{}", second.json);
    assert_eq!(second.json["error"], "quota_exceeded");
    let apps_after = s
        .heroku
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/apps")
        .count();
    assert_eq!(apps_after, apps_before, "no second Heroku app");
}
