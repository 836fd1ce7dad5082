//! The connect function through its handler: OAuth, linking, databases, status, trial database.
//!
//! One test binary for the crate (one link step instead of 2, which matters
//! with the AWS SDK on two cores); each file below was its own binary before.

mod common;

mod confirm;
mod link;
mod oauth;
mod resync;
mod roles;
