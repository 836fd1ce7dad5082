//! A local stack with every function mounted, and helpers shared by the opt-out tests.

#![allow(dead_code)]

pub use local::client::Client;
use local::fixture::Stack;
use serde_json::Value;

pub async fn stack() -> Stack {
    Stack::start(Box::new(devserver::mount_all)).await
}

/// One link's entry in the status route's answer.
pub fn link_status<'a>(status: &'a Value, env_var: &str) -> &'a Value {
    status["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["env_var"] == env_var)
        .unwrap_or_else(|| panic!("{env_var} in {status}"))
}

/// The opt-out tests' usual start: a Heroku user with an app `shop` holding a Postgres
/// add-on, connected to project `p1` by `alice`; the user, the app and her client.
pub async fn connected_shop(s: &Stack) -> (fake_heroku::User, fake_heroku::App, Client) {
    let user = s.heroku.create_user("dev@example.com");
    let app = s.heroku.create_app(&user, "shop");
    s.heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    s.connect("p1", "alice", &user).await;
    let c = Client::new(s, "alice", "p1", &[]);
    (user, app, c)
}
