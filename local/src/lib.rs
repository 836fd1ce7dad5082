//! The local stack and test support: `moto_server` as a child process, an API Gateway
//! (HTTP API, payload v2) emulator with a JWT authorizer that mounts the real handlers,
//! a fault-injecting proxy, table and secret bootstrap, and fixtures for tests.

pub mod bootstrap;
pub mod fixture;
pub mod gateway;
pub mod jwt;
pub mod logs;
pub mod moto;
pub mod net;
pub mod proxy;
