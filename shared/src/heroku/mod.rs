//! The Heroku Platform API and OAuth client: the typed subset of
//! `platform-api-schema.json` this service uses, and the errors it maps to.

mod client;
pub mod databases;
mod error;
mod types;

pub use client::{HerokuClient, HerokuClientOptions, app_ref};
pub use databases::{Database, databases};
pub use error::HerokuError;
pub use types::*;
