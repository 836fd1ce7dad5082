//! A local stack with every function mounted, and helpers shared by the connect tests.

#![allow(dead_code)]

pub use local::client::Client;
use local::fixture::Stack;
use std::time::Duration;

pub async fn stack() -> Stack {
    Stack::start(Box::new(devserver::mount_all)).await
}

/// Polls `check` until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
