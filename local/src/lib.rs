//! The local stack and test support: `moto_server` as a child process, an API Gateway
//! (HTTP API, payload v2) emulator with a JWT authorizer that mounts the real handlers,
//! a fault-injecting proxy, table and secret bootstrap, and fixtures for tests.

pub mod bootstrap;
pub mod change_events;
pub mod client;
pub mod fixture;
pub mod gateway;
pub mod jwt;
pub mod logs;
pub mod moto;
pub mod net;
pub mod proxy;

/// The documented local webhook signing key: the dev stack and the tests use it, and the
/// sample events in `events/webhook/` are signed with it. Never use it in AWS (the stack
/// generates its own).
pub const LOCAL_SIGNING_KEY: &str = "local-test-signing-key-not-for-production";
