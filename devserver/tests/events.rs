//! The sample events in `events/`: exactly what `devserver::events` renders, and each one,
//! run through its function against the local stack, gets the status the manifest lists.

use devserver::events::{self, APP_ID, APP_NAME, PROJECT, SUB};
use lambda_http::{Body, Request, Response};
use local::fixture::Stack;
use std::path::PathBuf;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

#[test]
fn the_event_files_are_what_the_generator_renders() {
    for sample in events::samples() {
        let on_disk = std::fs::read_to_string(events_dir().join(sample.file)).unwrap_or_default();
        assert_eq!(
            on_disk,
            sample.render(),
            "events/{} is stale: run `cargo run -p devserver --bin events`",
            sample.file
        );
    }
    let manifest = std::fs::read_to_string(events_dir().join("manifest.json")).unwrap_or_default();
    assert_eq!(
        manifest,
        events::manifest(),
        "events/manifest.json is stale"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_gets_its_expected_status_from_its_function() {
    let stack = Stack::start(Box::new(devserver::mount_all)).await;
    let user = stack.heroku.create_user("owner@example.com");
    let app = stack.heroku.create_app_with_id(&user, APP_NAME, APP_ID);
    stack
        .heroku
        .add_postgres(&app, "heroku-postgresql:essential-0");
    stack.connect(PROJECT, SUB, &user).await;

    let hook = webhook::Webhook::new(stack.svc.clone());
    let connect = connect::Connect::new(stack.svc.clone());
    let opt_out = opt_out::OptOut::new(stack.svc.clone());
    let manifest: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(events_dir().join("manifest.json")).unwrap())
            .unwrap();
    assert!(manifest.len() >= 15);
    for entry in manifest {
        let file = entry["file"].as_str().unwrap();
        let text = std::fs::read_to_string(events_dir().join(file)).unwrap();
        // The same parse `cargo lambda invoke --data-file` and Lambda itself do.
        let req: Request =
            lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let resp: Response<Body> = match entry["function"].as_str().unwrap() {
            "webhook" => hook.handle(req).await,
            "connect" => connect.handle(req).await,
            "opt-out" => opt_out.handle(req).await,
            other => panic!("{file}: unknown function {other}"),
        };
        let body = String::from_utf8_lossy(resp.body().as_ref()).into_owned();
        assert_eq!(
            resp.status().as_u16() as u64,
            entry["status"].as_u64().unwrap(),
            "{file}: {body}"
        );
        if resp.status().as_u16() >= 400 {
            let json: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{file}: error body is JSON"));
            assert!(
                json["error"].is_string() && json["message"].is_string(),
                "{file}: {body}"
            );
        }
    }
    // The story the events tell happened: linked, then opted out, value kept.
    let value = stack.env_value(PROJECT, "PG_DATABASE_URL").await;
    assert_eq!(value, stack.heroku.config_var(&app, "DATABASE_URL"));
}
