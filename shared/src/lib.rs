//! Heroku database URL sync: the domain, ports, adapters and sync core every function shares.
//!
//! Layout (ports and adapters): [`domain`] holds the types and rules, [`ports`] the small
//! traits the rules need, [`adapters`] their DynamoDB, Secrets Manager and in-memory
//! implementations, [`heroku`] the Platform API client, and [`sync`] the one place where a
//! Heroku config var becomes a project env var.

pub mod access;
pub mod adapters;
pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod heroku;
pub mod http;
pub mod lambda;
pub mod linking;
pub mod metrics;
pub mod optout;
pub mod pending;
pub mod ports;
pub mod reconcile;
mod rmw;
pub mod services;
pub mod signing;
pub mod sync;
pub mod telemetry;
pub mod tokens;
pub mod trials;
pub mod views;
