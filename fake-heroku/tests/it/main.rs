//! The fake Heroku over HTTP: every route, paging, OAuth, faults, webhook delivery, and its shapes against Heroku's schema.
//!
//! One test binary for the crate (one link step instead of 7, which matters
//! with the AWS SDK on two cores); each file below was its own binary before.

mod common;

mod config_vars;
mod control;
mod faults;
mod oauth;
mod paging;
mod schema;
mod webhooks;
