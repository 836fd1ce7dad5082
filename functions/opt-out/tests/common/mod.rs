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
