//! The Heroku Platform API and OAuth client: the typed subset of
//! `platform-api-schema.json` this service uses, and the errors it maps to.

mod client;
mod error;
mod types;

pub use client::{HerokuClient, HerokuClientOptions, app_ref};
pub use error::HerokuError;
pub use types::*;
