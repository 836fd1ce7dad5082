//! Heroku OAuth: the authorize redirect, code exchange, refresh rotation and revocation.

use std::collections::HashMap;

use crate::common::{Api, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, http};
use fake_heroku::{AuthorizeDecision, FakeHeroku, User};
use serde_json::Value;

async fn fake() -> (FakeHeroku, User) {
    let heroku = FakeHeroku::start().await;
    heroku.register_client(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
    let user = heroku.create_user("oauth@example.com");
    heroku.set_browser_user(&user);
    (heroku, user)
}

/// GET /oauth/authorize; returns the status and the redirect's query parameters.
async fn authorize(
    heroku: &FakeHeroku,
    client_id: &str,
    state: &str,
) -> (u16, HashMap<String, String>) {
    let url = url::Url::parse_with_params(
        &format!("{}/oauth/authorize", heroku.url()),
        [
            ("client_id", client_id),
            ("response_type", "code"),
            ("scope", "global"),
            ("state", state),
        ],
    )
    .unwrap();
    let resp = http().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let params = resp
        .headers()
        .get("location")
        .map(|l| {
            let url = url::Url::parse(l.to_str().unwrap()).unwrap();
            assert!(url.as_str().starts_with(REDIRECT_URI), "{url}");
            url.query_pairs().into_owned().collect()
        })
        .unwrap_or_default();
    (status, params)
}

async fn token(heroku: &FakeHeroku, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = http()
        .post(format!("{}/oauth/token", heroku.url()))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn exchange(heroku: &FakeHeroku, code: &str, secret: &str) -> (u16, Value) {
    token(
        heroku,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_secret", secret),
        ],
    )
    .await
}

async fn refresh(heroku: &FakeHeroku, refresh_token: &str) -> (u16, Value) {
    token(
        heroku,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await
}

async fn status_of(heroku: &FakeHeroku, access_token: &str) -> u16 {
    Api::new(heroku, access_token).get("/account").await.status
}

#[tokio::test]
async fn the_code_flow_yields_tokens_for_the_browser_user_and_codes_are_single_use() {
    let (heroku, user) = fake().await;
    let (status, q) = authorize(&heroku, CLIENT_ID, "st-1").await;
    assert_eq!(status, 302);
    assert_eq!(q["state"], "st-1");
    let code = q["code"].clone();

    let (status, body) = exchange(&heroku, &code, CLIENT_SECRET).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user_id"], user.id.as_str());
    assert_eq!(body["expires_in"], 8 * 3600);
    let access = body["access_token"].as_str().unwrap();
    let account = Api::new(&heroku, access).get("/account").await;
    assert_eq!(
        (account.status, account.body["email"].as_str()),
        (200, Some("oauth@example.com"))
    );

    // The client can find its own authorization by its access token.
    let auths = Api::new(&heroku, access).get("/oauth/authorizations").await;
    let mine = auths
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["access_token"]["token"] == access)
        .expect("own authorization");
    assert_eq!(mine["client"]["id"], CLIENT_ID);
    assert_eq!(heroku.authorizations(&user).len(), 1);

    let (status, body) = exchange(&heroku, &code, CLIENT_SECRET).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (400, Some("invalid_grant")),
        "a code works once"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_401_and_a_garbage_code_400() {
    let (heroku, _user) = fake().await;
    let (_, q) = authorize(&heroku, CLIENT_ID, "s").await;
    let (status, body) = exchange(&heroku, &q["code"], "wrong").await;
    assert_eq!((status, body["id"].as_str()), (401, Some("unauthorized")));
    let (status, _) = exchange(&heroku, "not-a-code", CLIENT_SECRET).await;
    assert_eq!(status, 400);
    // A failed secret does not burn the code.
    assert_eq!(exchange(&heroku, &q["code"], CLIENT_SECRET).await.0, 200);
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_unknown_clients_get_a_400_page() {
    let (heroku, _user) = fake().await;
    heroku.set_authorize_decision(AuthorizeDecision::Deny);
    let (status, q) = authorize(&heroku, CLIENT_ID, "st-2").await;
    assert_eq!(status, 302);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(q["state"], "st-2");
    assert!(!q.contains_key("code"));
    let (status, q) = authorize(&heroku, "00000000-0000-0000-0000-000000000000", "x").await;
    assert_eq!(status, 400);
    assert!(q.is_empty(), "no redirect for an unknown client");
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_retires_the_old_one() {
    let (heroku, user) = fake().await;
    let t = heroku.issue_tokens(&user, CLIENT_ID);
    heroku.expire_access_tokens(&user);
    assert_eq!(status_of(&heroku, &t.access_token).await, 401);

    let (status, body) = refresh(&heroku, &t.refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let (access, new_refresh) = (
        body["access_token"].as_str().unwrap(),
        body["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(new_refresh, t.refresh_token);
    assert_eq!(status_of(&heroku, access).await, 200);
    let (status, body) = refresh(&heroku, &t.refresh_token).await;
    assert_eq!(
        (status, body["id"].as_str()),
        (400, Some("invalid_grant")),
        "old refresh token retired"
    );
    assert_eq!(refresh(&heroku, new_refresh).await.0, 200);

    // The authorization keeps its id and shows the newest access token.
    let auth = Api::new(&heroku, access)
        .get(&format!("/oauth/authorizations/{}", t.authorization_id))
        .await;
    assert_eq!(auth.status, 200);
}

#[tokio::test]
async fn without_rotation_the_refresh_token_stays_the_same() {
    let (heroku, user) = fake().await;
    heroku.set_rotate_refresh_tokens(false);
    let t = heroku.issue_tokens(&user, CLIENT_ID);
    let (_, body) = refresh(&heroku, &t.refresh_token).await;
    assert_eq!(body["refresh_token"], t.refresh_token.as_str());
    assert_eq!(refresh(&heroku, &t.refresh_token).await.0, 200);
}

#[tokio::test]
async fn a_short_token_ttl_expires_by_itself() {
    let (heroku, user) = fake().await;
    heroku.set_token_ttl(std::time::Duration::from_secs(1));
    let t = heroku.issue_tokens(&user, CLIENT_ID);
    assert_eq!(t.expires_in, 1);
    assert_eq!(status_of(&heroku, &t.access_token).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(status_of(&heroku, &t.access_token).await, 401);
}

#[tokio::test]
async fn deleting_the_authorization_kills_both_tokens() {
    let (heroku, user) = fake().await;
    let t = heroku.issue_tokens(&user, CLIENT_ID);
    let api = Api::new(&heroku, &t.access_token);
    let del = api
        .delete(&format!("/oauth/authorizations/{}", t.authorization_id))
        .await;
    assert_eq!(del.status, 200);
    assert_eq!(del.body["id"], t.authorization_id.as_str());
    let after = api.get("/account").await;
    assert_eq!(
        (after.status, after.body["id"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(refresh(&heroku, &t.refresh_token).await.0, 400);
    assert!(heroku.authorizations(&user)[0].revoked);
}

#[tokio::test]
async fn revoke_all_is_the_user_removing_every_grant() {
    let (heroku, user) = fake().await;
    let (a, b) = (
        heroku.issue_tokens(&user, CLIENT_ID),
        heroku.issue_tokens(&user, CLIENT_ID),
    );
    let other = heroku.create_user("bystander@example.com");
    let c = heroku.issue_tokens(&other, CLIENT_ID);
    heroku.revoke_all(&user);
    assert_eq!(status_of(&heroku, &a.access_token).await, 401);
    assert_eq!(status_of(&heroku, &b.access_token).await, 401);
    assert_eq!(status_of(&heroku, &c.access_token).await, 200);
    assert!(heroku.authorizations(&user).iter().all(|a| a.revoked));
}
