//! An HTTP client for tests that speaks to the API Gateway emulator as the platform does:
//! with a project-scoped JWT, no redirects followed, answers read as JSON.

use crate::fixture::Stack;
use serde_json::Value;
use std::time::Duration;

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

/// What an answer held.
pub struct Answer {
    pub status: u16,
    /// The body as JSON (`Null` when empty or not JSON).
    pub json: Value,
    pub location: Option<String>,
    pub retry_after: Option<String>,
}

impl Client {
    /// A client whose token says `sub` on `project`, with `scopes`.
    pub fn new(stack: &Stack, sub: &str, project: &str, scopes: &[&str]) -> Client {
        let token = crate::jwt::mint_for(
            &stack.jwt_secret,
            sub,
            project,
            scopes,
            Duration::from_secs(600),
        );
        Client::with_token(stack, Some(token))
    }

    /// A client for `sub` with `project_role` = `role` on `project` (a collaborator's
    /// token when `role` is not `owner`).
    pub fn with_role(stack: &Stack, sub: &str, project: &str, role: &str) -> Client {
        let mut claims = serde_json::Map::new();
        claims.insert("project_role".into(), serde_json::json!(role));
        let token = crate::jwt::mint_with_claims(
            &stack.jwt_secret,
            sub,
            project,
            &[],
            &claims,
            Duration::from_secs(600),
        );
        Client::with_token(stack, Some(token))
    }

    /// A client with exactly this token (or none).
    pub fn with_token(stack: &Stack, token: Option<String>) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            base: stack.url(),
            token,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut req = self.http.request(method.parse().expect("method"), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("the gateway answers");
        let status = resp.status().as_u16();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let retry_after = header("retry-after");
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            location,
            retry_after,
        }
    }

    /// The whole OAuth dance for `project`, approved at the fake Heroku by `browser`, then
    /// the confirm step as the console does it: `connected` when the confirm answered 200,
    /// else the callback's `heroku=` outcome (`error`) or the confirm's error code.
    pub async fn connect_via_oauth(
        &self,
        stack: &Stack,
        project: &str,
        browser: &fake_heroku::User,
    ) -> String {
        stack.heroku.set_browser_user(browser);
        let a = self
            .call(
                "POST",
                &format!("/projects/{project}/integrations/heroku/authorize"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
        let at_heroku = self
            .http
            .get(a.json["authorize_url"].as_str().expect("authorize_url"))
            .send()
            .await
            .expect("the fake Heroku answers");
        let callback = at_heroku.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let back = self
            .call("GET", &callback, None)
            .await
            .location
            .unwrap_or_default();
        let mut q = query(&back);
        if q.get("heroku").map(String::as_str) != Some("confirm") {
            return q.remove("heroku").unwrap_or_default();
        }
        let confirmation = q.remove("confirmation").unwrap_or_default();
        let confirmed = self.confirm(project, &confirmation).await;
        if confirmed.status == 200 {
            "connected".to_owned()
        } else {
            confirmed.json["error"]
                .as_str()
                .unwrap_or("error")
                .to_owned()
        }
    }

    /// `POST …/integrations/heroku/confirm` with `confirmation`.
    pub async fn confirm(&self, project: &str, confirmation: &str) -> Answer {
        let body = serde_json::json!({ "confirmation": confirmation }).to_string();
        self.call(
            "POST",
            &format!("/projects/{project}/integrations/heroku/confirm"),
            Some(&body),
        )
        .await
    }

    /// `PUT …/heroku-sync` to `DATABASE_URL` of `app`.
    pub async fn link(&self, project: &str, env_var: &str, app: &str) -> Answer {
        self.call(
            "PUT",
            &format!("/projects/{project}/env-vars/{env_var}/heroku-sync"),
            Some(&format!(r#"{{"app":"{app}","config_var":"DATABASE_URL"}}"#)),
        )
        .await
    }

    /// `GET …/integrations/heroku`.
    pub async fn status(&self, project: &str) -> Value {
        self.call(
            "GET",
            &format!("/projects/{project}/integrations/heroku"),
            None,
        )
        .await
        .json
    }
}

/// The query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}
