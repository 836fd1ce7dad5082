//! Faults, latency, the Accept and auth gate, and the rate-limit pool.

use std::time::{Duration, Instant};

use crate::common::{ACCEPT, Api, http, setup};
use fake_heroku::Fault;
use serde_json::json;

#[tokio::test]
async fn a_status_fault_hits_matching_requests_the_given_number_of_times() {
    let (heroku, user, _t, api) = setup().await;
    heroku.create_app(&user, "faulty");
    heroku.inject(Fault::status("/apps", 503).method("GET").times(2));
    assert_eq!(api.get("/account").await.status, 200, "other paths pass");
    assert_eq!(
        api.post("/apps", json!({})).await.status,
        201,
        "other methods pass"
    );
    let r = api.get("/apps/faulty").await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (503, Some("unavailable"))
    );
    assert!(r.header("request-id").is_some() && r.header("ratelimit-remaining").is_some());
    assert_eq!(api.get("/apps").await.status, 503);
    assert_eq!(api.get("/apps").await.status, 200, "used up");
    assert_eq!(heroku.request_count("GET", "/apps"), 3);
    let logged: Vec<u16> = heroku
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/apps"))
        .map(|r| r.status)
        .collect();
    assert_eq!(logged, vec![503, 503, 200]);
}

#[tokio::test]
async fn a_429_fault_carries_retry_after_and_zero_remaining() {
    let (heroku, _user, _t, api) = setup().await;
    heroku.inject(
        Fault::status("/account", 429)
            .header("Retry-After", "1")
            .times(1),
    );
    let r = api.get("/account").await;
    assert_eq!((r.status, r.body["id"].as_str()), (429, Some("rate_limit")));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert_eq!(api.get("/account").await.status, 200);
}

#[tokio::test]
async fn custom_bodies_delays_and_clearing() {
    let (heroku, _user, _t, api) = setup().await;
    let id =
        heroku.inject(Fault::status("/account", 500).body(json!({ "id": "boom", "message": "x" })));
    assert_eq!(api.get("/account").await.body["id"], "boom");
    heroku.clear_fault(id);
    assert_eq!(api.get("/account").await.status, 200);

    heroku.inject(Fault::delay("/account", Duration::from_millis(150)).times(1));
    let t = Instant::now();
    assert_eq!(
        api.get("/account").await.status,
        200,
        "a delay-only fault passes through"
    );
    assert!(t.elapsed() >= Duration::from_millis(150));

    heroku.inject(Fault::status("/oauth/token", 500));
    let r = http()
        .post(format!("{}/oauth/token", heroku.url()))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        500,
        "faults reach the OAuth endpoints too"
    );
    heroku.clear_faults();
    assert_eq!(api.get("/account").await.status, 200);

    heroku.set_api_latency(Duration::from_millis(60));
    let t = Instant::now();
    api.get("/account").await;
    assert!(t.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn the_pool_runs_dry_then_every_request_is_429() {
    let (heroku, _user, _t, api) = setup().await;
    heroku.set_rate_limit(3);
    let remaining: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let r = api.get("/account").await;
            assert_eq!(r.status, 200);
            v.push(r.header("ratelimit-remaining").unwrap().to_owned());
        }
        v
    };
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = api.get("/apps").await;
    assert_eq!((r.status, r.body["id"].as_str()), (429, Some("rate_limit")));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    heroku.set_rate_limit(4500);
    assert_eq!(
        api.get("/account").await.header("ratelimit-remaining"),
        Some("4499")
    );
}

#[tokio::test]
async fn the_gate_wants_the_v3_accept_header_and_a_live_bearer_token() {
    let (heroku, user, t, api) = setup().await;
    let no_accept = http()
        .get(format!("{}/account", heroku.url()))
        .bearer_auth(&t.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status().as_u16(), 400);
    let body: serde_json::Value = no_accept.json().await.unwrap();
    assert_eq!(body["id"], "bad_request");

    let no_token = http()
        .get(format!("{}/account", heroku.url()))
        .header("Accept", ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    let body: serde_json::Value = no_token.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "id": "unauthorized", "message": "Invalid credentials provided.", "url": body["url"] })
    );
    assert_eq!(
        Api::new(&heroku, "HRKU-nonsense")
            .get("/account")
            .await
            .status,
        401
    );

    let r = api.get("/account").await;
    assert_eq!(r.status, 200);
    let rec = heroku.requests().into_iter().last().unwrap();
    assert_eq!(
        (rec.user_id.as_deref(), rec.status),
        (Some(user.id.as_str()), 200)
    );
    heroku.reset_request_log();
    assert!(heroku.requests().is_empty());
}
