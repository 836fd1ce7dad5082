//! The shared crate's integration tests: the store contract against every store adapter, the AWS adapters against moto, the Heroku client against the fake, the sync core and token refresh.
//!
//! One test binary for the crate (one link step instead of 4, which matters
//! with the AWS SDK on two cores); each file below but `contract` was its own binary before.

mod support;

mod aws_adapters;
mod contract;
mod events;
mod heroku_client;
mod reconcile;
mod simulation;
mod sync;
mod tokens;
mod use_cases;
