//! template.yaml and docs/openapi.yaml against the route table and the IAM rules.
//!
//! One test binary for the crate (one link step instead of 2, which matters
//! with the AWS SDK on two cores); each file below was its own binary before.

mod openapi;
mod template;
