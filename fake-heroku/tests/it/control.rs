//! The `/_fake/` control routes and the `fake-heroku` binary, as a dev stack drives them.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::{Api, CLIENT_ID, http};
use fake_heroku::FakeHeroku;
use serde_json::{Value, json};

async fn call(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http().request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{base}/_fake{path}"),
    );
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// Everything a dev stack does with curl, in order.
async fn drive(base: &str) {
    assert_eq!(call(base, "DELETE", "/requests", None).await.0, 200);
    let (s, user) = call(
        base,
        "POST",
        "/users",
        Some(json!({ "email": "dev@example.com" })),
    )
    .await;
    assert_eq!(s, 201);
    let user_id = user["id"].as_str().unwrap();
    let (s, app) = call(
        base,
        "POST",
        "/apps",
        Some(json!({ "owner_id": user_id, "name": "dev-app" })),
    )
    .await;
    assert_eq!((s, app["name"].as_str()), (201, Some("dev-app")));
    let (s, db) = call(
        base,
        "POST",
        "/apps/dev-app/postgres",
        Some(json!({ "plan": "heroku-postgresql:essential-0" })),
    )
    .await;
    assert_eq!((s, db["config_var"].as_str()), (201, Some("DATABASE_URL")));
    let (_, before) = call(base, "GET", "/apps/dev-app/config-vars", None).await;
    let (s, rel) = call(base, "POST", "/apps/dev-app/rotate", None).await;
    assert_eq!(s, 200);
    assert!(rel["version"].as_u64().unwrap() >= 4);
    let (_, after) = call(base, "GET", "/apps/dev-app/config-vars", None).await;
    assert_ne!(before["DATABASE_URL"], after["DATABASE_URL"]);
    let (s, dep) = call(base, "POST", "/apps/dev-app/deploy", None).await;
    assert_eq!(
        (s, dep["version"].as_u64()),
        (200, Some(rel["version"].as_u64().unwrap() + 1))
    );

    let (s, _) = call(
        base,
        "POST",
        "/clients",
        Some(json!({ "id": CLIENT_ID, "secret": "sh", "redirect_uri": "http://localhost/cb" })),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = call(
        base,
        "POST",
        "/browser-user",
        Some(json!({ "user_id": user_id })),
    )
    .await;
    assert_eq!(s, 200);
    let (s, tokens) = call(
        base,
        "POST",
        "/tokens",
        Some(json!({ "user_id": user_id, "client_id": CLIENT_ID })),
    )
    .await;
    assert_eq!(s, 201);
    let api = Api {
        http: http(),
        base: base.to_owned(),
        token: tokens["access_token"].as_str().unwrap().to_owned(),
    };

    let (s, _) = call(base, "POST", "/faults", Some(json!({ "path_prefix": "/account", "status": 503, "times": 1, "headers": { "Retry-After": "2" } }))).await;
    assert_eq!(s, 201);
    let r = api.get("/account").await;
    assert_eq!((r.status, r.header("retry-after")), (503, Some("2")));
    call(
        base,
        "POST",
        "/faults",
        Some(json!({ "path_prefix": "/apps", "status": 500 })),
    )
    .await;
    call(base, "DELETE", "/faults", None).await;
    assert_eq!(api.get("/apps/dev-app").await.status, 200);

    let (_, log) = call(base, "GET", "/requests", None).await;
    let statuses: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![503, 200]);
    let (_, deliveries) = call(base, "GET", "/deliveries", None).await;
    assert!(
        deliveries.as_array().unwrap().is_empty(),
        "no webhooks, no deliveries"
    );

    let (s, err) = call(base, "POST", "/apps/no-such-app/rotate", None).await;
    assert_eq!((s, err["id"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn the_control_routes_do_what_the_handle_does() {
    let heroku = FakeHeroku::start().await;
    drive(&heroku.url()).await;
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-heroku"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            "s",
            "--redirect-uri",
            "http://localhost/cb",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("fake-heroku listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    let authorize = http()
        .get(format!(
            "{url}/oauth/authorize?client_id={CLIENT_ID}&response_type=code&state=x"
        ))
        .send()
        .await
        .unwrap();
    // Registered from the command line; nobody is logged in yet, so the login page shows.
    assert_eq!(authorize.status().as_u16(), 200);
    drive(&url).await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn keep_alive_requests_do_not_stall() {
    let (heroku, _user, _t, api) = common::setup().await;
    let before = heroku.connections();
    for _ in 0..60 {
        assert_eq!(api.get("/account").await.status, 200);
    }
    // A Nagle/delayed-ACK stall (~40 ms per request) needs a kept-alive connection whose
    // server side has TCP_NODELAY off. Rather than time 60 requests, check that both
    // halves of the set-up are what they should be: one reused connection, nodelay on.
    let after = heroku.connections();
    assert_eq!(
        after.accepted - before.accepted,
        1,
        "the 60 requests shared one kept-alive connection"
    );
    assert_eq!(
        after.nodelay, after.accepted,
        "TCP_NODELAY is on for every accepted connection"
    );
}
