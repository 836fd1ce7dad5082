//! A local stack with all three functions mounted, and a JWT-speaking HTTP client.

#![allow(dead_code)]

use local::fixture::Stack;
use local::gateway::handler;
use serde_json::Value;
use shared::http::Function;
use std::sync::Arc;
use std::time::Duration;

pub async fn stack() -> Stack {
    Stack::start(Box::new(|svc, gw| {
        let connect = Arc::new(connect::Connect::new(svc.clone()));
        let hook = Arc::new(webhook::Webhook::new(svc.clone()));
        let opt_out = Arc::new(opt_out::OptOut::new(svc));
        gw.mount(
            Function::Connect,
            handler(move |req| {
                let c = connect.clone();
                async move { c.handle(req).await }
            }),
        )
        .mount(
            Function::Webhook,
            handler(move |req| {
                let h = hook.clone();
                async move { h.handle(req).await }
            }),
        )
        .mount(
            Function::OptOut,
            handler(move |req| {
                let o = opt_out.clone();
                async move { o.handle(req).await }
            }),
        )
    }))
    .await
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub location: Option<String>,
}

impl Client {
    pub fn new(stack: &Stack, sub: &str, project: &str, scopes: &[&str]) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: stack.url(),
            token: Some(local::jwt::mint_for(
                &stack.jwt_secret,
                sub,
                project,
                scopes,
                Duration::from_secs(600),
            )),
        }
    }

    pub fn with_token(stack: &Stack, token: Option<String>) -> Client {
        Client {
            token,
            ..Client::new(stack, "x", "x", &[])
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut req = self.http.request(method.parse().unwrap(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("answer");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            location,
        }
    }

    /// The whole OAuth dance for this client's project, as `browser` at Heroku.
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
            .get(a.json["authorize_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let callback = at_heroku.headers()["location"].to_str().unwrap().to_owned();
        let back = self.call("GET", &callback, None).await.location.unwrap();
        reqwest::Url::parse(&back)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "heroku")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }

    pub async fn link(&self, project: &str, env_var: &str, app: &str) -> Answer {
        self.call(
            "PUT",
            &format!("/projects/{project}/env-vars/{env_var}/heroku-sync"),
            Some(&format!(r#"{{"app":"{app}","config_var":"DATABASE_URL"}}"#)),
        )
        .await
    }

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

pub fn link_status<'a>(status: &'a Value, env_var: &str) -> &'a Value {
    status["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["env_var"] == env_var)
        .unwrap_or_else(|| panic!("{env_var} in {status}"))
}
